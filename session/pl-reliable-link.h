/*
 * A reliable, ordered byte stream over the datagrams of an ICE path:
 * libnice's PseudoTcpSocket (TCP-like: windows, retransmission, congestion
 * control, FIN) driven on the main loop, with buffers sized for throughput
 * rather than the small defaults of libnice's reliable agent. The datagram
 * path below it can be swapped (ICE restart) without the stream noticing.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define PL_RELIABLE_LINK_MTU 1500 /* pseudotcp subtracts its own overhead */

typedef struct _PlReliableLink PlReliableLink;

typedef struct {
	/* hand one datagram to the path below; FALSE if it could not be sent */
	gboolean (*send_packet)(const guint8 *data, gsize len, gpointer user_data);
	void (*opened)(gpointer user_data);
	void (*readable)(gpointer user_data); /* recv until it would block */
	void (*writable)(gpointer user_data); /* send space became available */
	/* the stream ended: 0 after an orderly close of both sides, or an errno */
	void (*closed)(gint error, gpointer user_data);
} PlReliableLinkCallbacks;

PlReliableLink *pl_reliable_link_new(guint32 conversation,
                                     gsize buffer_size,
                                     const PlReliableLinkCallbacks *callbacks,
                                     gpointer user_data);
void pl_reliable_link_free(PlReliableLink *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlReliableLink, pl_reliable_link_free)

/* the active side sends the SYN; the other waits for it */
void pl_reliable_link_connect(PlReliableLink *self);
void pl_reliable_link_receive_packet(PlReliableLink *self, const guint8 *data, gsize len);

/* bytes read, 0 at the peer's FIN, -1 with errno EWOULDBLOCK or another errno */
gssize pl_reliable_link_recv(PlReliableLink *self, guint8 *buf, gsize len);
/* bytes queued (maybe fewer than len), -1 with errno EWOULDBLOCK or another */
gssize pl_reliable_link_send(PlReliableLink *self, const guint8 *data, gsize len);
/* the last send stopped because the window is full: send again after packets arrive */
gboolean pl_reliable_link_is_backlogged(PlReliableLink *self);

/* sends a FIN after the queued data; "closed" with 0 comes once both sides'
 * FINs are acknowledged, so every byte arrived both ways */
void pl_reliable_link_close(PlReliableLink *self);
void pl_reliable_link_abort(PlReliableLink *self);
gboolean pl_reliable_link_is_open(PlReliableLink *self);

G_END_DECLS
