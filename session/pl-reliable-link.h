/*
 * A reliable, ordered byte stream over the datagrams of an ICE path: our own
 * transport (docs/transport.md), because libnice's PseudoTCP recovers from
 * loss one segment per round trip or per timeout of 250 ms or more, which
 * left 1 % of random loss at 0.1 MB/s. Every transmission is a new packet
 * number (no retransmission ambiguity), acknowledgements carry the
 * cumulative offset plus SACK blocks, losses are found by packet and time
 * thresholds (RFC 9002), a probe timeout backs off to at most 2 s, and
 * congestion control is AIMD on bytes in flight. The datagram path below can
 * be swapped (ICE restart) without the stream noticing.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* the largest datagram the link sends: fits a 1500-byte path with IPv6,
 * UDP and a TURN channel header or send indication around it */
#define PL_RELIABLE_LINK_MAX_PACKET 1408

typedef struct _PlReliableLink PlReliableLink;

typedef struct {
	/* hand one datagram to the path below; FALSE if it could not be sent */
	gboolean (*send_packet)(const guint8 *data, gsize len, gpointer user_data);
	void (*opened)(gpointer user_data);   /* the first packet from the peer arrived */
	void (*readable)(gpointer user_data); /* recv until it would block */
	void (*writable)(gpointer user_data); /* send space became available */
	/* the stream ended: 0 after an orderly close of both sides, or an errno
	 * (ECONNRESET: the peer aborted; ETIMEDOUT: nothing heard for too long) */
	void (*closed)(gint error, gpointer user_data);
} PlReliableLinkCallbacks;

typedef struct {
	guint64 packets_sent;
	guint64 packets_received;
	guint64 packets_lost;       /* declared lost and sent again */
	guint64 probes;             /* probe timeouts that fired */
	guint64 bytes_retransmitted;
	gint64 srtt_us;             /* smoothed round trip, 0 before the first sample */
	gsize cwnd;                 /* congestion window, bytes */
} PlReliableLinkStats;

/* both sides use the same conversation (packets of another are dropped);
 * buffer_size bounds each direction's buffer and the receive window */
PlReliableLink *pl_reliable_link_new(guint32 conversation,
                                     gsize buffer_size,
                                     const PlReliableLinkCallbacks *callbacks,
                                     gpointer user_data);
void pl_reliable_link_free(PlReliableLink *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlReliableLink, pl_reliable_link_free)

/* the active side says hello (repeated until answered); the other side
 * opens when the hello arrives */
void pl_reliable_link_connect(PlReliableLink *self);
void pl_reliable_link_receive_packet(PlReliableLink *self, const guint8 *data, gsize len);
/* the path below changed (ICE restart): forget its round trip and probe at once */
void pl_reliable_link_path_changed(PlReliableLink *self);

/* bytes read, 0 at the peer's FIN, -1 with errno EWOULDBLOCK or another errno */
gssize pl_reliable_link_recv(PlReliableLink *self, guint8 *buf, gsize len);
/* bytes queued (maybe fewer than len), -1 with errno EWOULDBLOCK or another;
 * after a short or blocked send, "writable" says when there is room again */
gssize pl_reliable_link_send(PlReliableLink *self, const guint8 *data, gsize len);

/* sends a FIN after the queued data; "closed" with 0 comes once every byte
 * arrived both ways (ours acknowledged, the peer's FIN and all before it here) */
void pl_reliable_link_close(PlReliableLink *self);
/* sends a reset; no "closed" callback follows */
void pl_reliable_link_abort(PlReliableLink *self);
/* not closed (also before it opened) */
gboolean pl_reliable_link_is_open(PlReliableLink *self);
void pl_reliable_link_get_stats(PlReliableLink *self, PlReliableLinkStats *stats);

G_END_DECLS
