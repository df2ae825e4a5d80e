/*
 * Datagrams to one destination on one UDP socket, sent in batches: the
 * datagrams queued while the main loop dispatches one event go out at its
 * end in as few sendmsg() calls as the kernel's segmentation offload
 * (UDP_SEGMENT) allows. A direct ICE pair carries a stream this way at a
 * fraction of the cost of a syscall per packet.
 */
#pragma once

#include <gio/gio.h>
#include <sys/socket.h>

G_BEGIN_DECLS

#define PL_UDP_BATCH_MAX_SEGMENTS 32

typedef struct _PlUdpBatch PlUdpBatch;

/* socket: kept by reference; to: copied */
PlUdpBatch *pl_udp_batch_new(GSocket *socket, const struct sockaddr *to, socklen_t to_len);
void pl_udp_batch_free(PlUdpBatch *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlUdpBatch, pl_udp_batch_free)

/* queues one datagram (copied); FALSE if it is larger than a segment may be */
gboolean pl_udp_batch_add(PlUdpBatch *self, const guint8 *data, gsize len);
/* sends what is queued now */
void pl_udp_batch_flush(PlUdpBatch *self);

G_END_DECLS
