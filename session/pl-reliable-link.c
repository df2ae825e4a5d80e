#include "config.h"

#include <errno.h>
#include <nice/pseudotcp.h>
#include <string.h>

#include "pl-reliable-link.h"

/* PseudoTcp finds the segment it splits for sending by walking every segment
 * in flight: its cost per packet grows with the send buffer (28 % of the
 * sender's CPU at 4 MiB). 1 MiB still fills 50 MB/s at 20 ms of round trip. */
#define PL_RELIABLE_LINK_MAX_SEND_BUFFER (1024 * 1024)

struct _PlReliableLink {
	PseudoTcpSocket *tcp;
	PlReliableLinkCallbacks callbacks;
	gpointer user_data;
	GSource *clock;   /* one source, re-armed with g_source_set_ready_time */
	gboolean closing; /* we sent our FIN: a close from here on is orderly */
	gboolean closed;
	gboolean close_reported;
	gint close_error;
	gboolean sent_data;     /* a data packet left during the current send */
	gboolean backlogged;    /* the last send stopped at a closed window */
	guint8 pending_ack[24]; /* a pure ACK held back until the burst ends */
	gboolean has_pending_ack;
	guint ack_flush_id;
	guint8 last_header[24]; /* of the last packet sent */
	guint32 last_data_end;  /* seq after the last data sent */
	guint probe_id;         /* while the peer advertises a closed window */
};

typedef struct {
	GSource source;
	PlReliableLink *link;
} PlClockSource;

static void schedule_clock(PlReliableLink *self);

static void
tcp_opened(PseudoTcpSocket *tcp, gpointer data)
{
	PlReliableLink *self = data;

	if (self->callbacks.opened != NULL)
		self->callbacks.opened(self->user_data);
}

static void
tcp_readable(PseudoTcpSocket *tcp, gpointer data)
{
	PlReliableLink *self = data;

	self->callbacks.readable(self->user_data);
}

static void
tcp_writable(PseudoTcpSocket *tcp, gpointer data)
{
	PlReliableLink *self = data;

	self->callbacks.writable(self->user_data);
}

/* reported from the clock source, never from inside a PseudoTcp call,
 * so that the owner may free the link in its callback */
static void
report_closed(PlReliableLink *self, gint error)
{
	if (self->closed)
		return;
	self->closed = TRUE;
	self->close_error = error;
	g_source_set_ready_time(self->clock, 0);
}

static void
tcp_closed(PseudoTcpSocket *tcp, guint32 error, gpointer data)
{
	PlReliableLink *self = data;

	report_closed(self, error != 0 ? (gint)error : ECONNRESET);
}

/* PseudoTCP's header: conversation, seq, ack (bytes 8-11), flags (byte 13) */
#define HEADER_SIZE      24
#define ACK_OFFSET       8
#define FLAGS_BYTE       13
#define WND_OFFSET       14
#define WINDOW_REFRESH_S 3
/* the payload of one packet: PseudoTCP's MSS at our MTU (its overhead is 116) */
#define SEGMENT_SIZE (PL_RELIABLE_LINK_MTU - 116)

static guint32
header_ack(const guint8 *packet)
{
	return GUINT32_FROM_BE(*(const guint32 *)(const void *)(packet + ACK_OFFSET));
}

static void
flush_pending_ack(PlReliableLink *self)
{
	g_clear_handle_id(&self->ack_flush_id, g_source_remove);
	if (!self->has_pending_ack)
		return;
	self->has_pending_ack = FALSE;
	self->callbacks.send_packet(self->pending_ack, HEADER_SIZE, self->user_data);
}

static gboolean
ack_flush_cb(gpointer user_data)
{
	PlReliableLink *self = user_data;

	self->ack_flush_id = 0;
	flush_pending_ack(self);
	return G_SOURCE_REMOVE;
}

/*
 * PseudoTCP acknowledges every second segment. A pure ACK that a later one
 * makes redundant (a higher cumulative ack, from the same burst of incoming
 * packets) is dropped: it halves the packets and syscalls on both sides at
 * full speed. Duplicate ACKs (the same ack number) all go out, so that fast
 * retransmit still sees them.
 */
static gboolean
coalesce_ack(PlReliableLink *self, const guint8 *packet, gsize len)
{
	if (len != HEADER_SIZE || packet[FLAGS_BYTE] != 0)
		return FALSE;
	if (self->has_pending_ack &&
	    (gint32)(header_ack(packet) - header_ack(self->pending_ack)) <= 0)
		flush_pending_ack(self); /* a duplicate: keep both */
	memcpy(self->pending_ack, packet, HEADER_SIZE);
	self->has_pending_ack = TRUE;
	if (self->ack_flush_id == 0)
		self->ack_flush_id = g_idle_add_full(G_PRIORITY_HIGH, ack_flush_cb, self, NULL);
	return TRUE;
}

/*
 * While the peer advertises a closed window, PseudoTCP probes it with a
 * back-off that doubles to 60 s, gives up when it has heard nothing for 15 s
 * (which it does once the back-off passes 15 s, answered or not), and the
 * peer's PseudoTCP may never announce that its window opened again (it does
 * only when its unscaled window was exactly 0). A probe of ours every few
 * seconds gets an immediate ACK with the peer's real window.
 */
static gboolean
probe_cb(gpointer user_data)
{
	PlReliableLink *self = user_data;
	guint8 probe[HEADER_SIZE];

	memcpy(probe, self->last_header, HEADER_SIZE);
	*(guint32 *)(void *)(probe + 4) = GUINT32_TO_BE(self->last_data_end - 1);
	probe[FLAGS_BYTE] = 0;
	self->callbacks.send_packet(probe, HEADER_SIZE, self->user_data);
	return G_SOURCE_CONTINUE;
}

static void
note_peer_window(PlReliableLink *self, const guint8 *packet, gsize len)
{
	gboolean closed;

	if (len < HEADER_SIZE || self->last_data_end == 0)
		return;
	closed = packet[WND_OFFSET] == 0 && packet[WND_OFFSET + 1] == 0;
	if (closed && self->probe_id == 0)
		self->probe_id = g_timeout_add_seconds(WINDOW_REFRESH_S, probe_cb, self);
	else if (!closed)
		g_clear_handle_id(&self->probe_id, g_source_remove);
}

static void
note_sent(PlReliableLink *self, const guint8 *packet, gsize len)
{
	memcpy(self->last_header, packet, HEADER_SIZE);
	if (len > HEADER_SIZE)
		self->last_data_end =
		        GUINT32_FROM_BE(*(const guint32 *)(const void *)(packet + 4)) +
		        (guint32)(len - HEADER_SIZE);
}

static PseudoTcpWriteResult
tcp_write_packet(PseudoTcpSocket *tcp, const gchar *buffer, guint32 len, gpointer data)
{
	PlReliableLink *self = data;

	note_sent(self, (const guint8 *)buffer, len);
	if (coalesce_ack(self, (const guint8 *)buffer, len))
		return WR_SUCCESS;
	/* data carries the newest ack itself */
	self->sent_data = TRUE;
	self->has_pending_ack = FALSE;
	g_clear_handle_id(&self->ack_flush_id, g_source_remove);
	/* a lost datagram is no failure: PseudoTCP retransmits */
	self->callbacks.send_packet((const guint8 *)buffer, len, self->user_data);
	return WR_SUCCESS;
}

static gboolean
clock_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
	PlReliableLink *self = ((PlClockSource *)source)->link;

	g_source_set_ready_time(source, -1);
	if (self->closed) {
		if (!self->close_reported) {
			self->close_reported = TRUE;
			self->callbacks.closed(self->close_error, self->user_data);
		}
		return G_SOURCE_CONTINUE;
	}
	pseudo_tcp_socket_notify_clock(self->tcp);
	schedule_clock(self);
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs clock_funcs = {
        .dispatch = clock_dispatch,
};

/* PseudoTCP says when it next needs the clock; FALSE once it is fully closed */
static void
schedule_clock(PlReliableLink *self)
{
	guint64 deadline_ms = 0;
	gint64 armed;

	if (self->closed)
		return;
	/* both FINs sent and acknowledged: every byte arrived both ways (the
	 * error left from an earlier recv that would have blocked means nothing) */
	if (self->closing && pseudo_tcp_socket_is_closed(self->tcp)) {
		gint error = pseudo_tcp_socket_get_error(self->tcp);
		report_closed(self, error == EWOULDBLOCK ? 0 : error);
		return;
	}
	if (!pseudo_tcp_socket_get_next_clock(self->tcp, &deadline_ms)) {
		gint error = pseudo_tcp_socket_get_error(self->tcp);
		g_source_set_ready_time(self->clock, -1);
		if (error == 0 || error == EWOULDBLOCK)
			error = ECONNRESET;
		report_closed(self, error);
		return;
	}
	/* a later deadline can wait: the clock recomputes it when it fires, and
	 * every re-arm costs a main-loop wakeup (a syscall) per packet */
	armed = g_source_get_ready_time(self->clock);
	if (armed >= 0 && armed <= (gint64)deadline_ms * 1000)
		return;
	g_source_set_ready_time(self->clock, (gint64)deadline_ms * 1000);
}

PlReliableLink *
pl_reliable_link_new(guint32 conversation,
                     gsize buffer_size,
                     const PlReliableLinkCallbacks *callbacks,
                     gpointer user_data)
{
	PlReliableLink *self = g_new0(PlReliableLink, 1);
	PseudoTcpCallbacks tcp_callbacks = {
	        .user_data = self,
	        .PseudoTcpOpened = tcp_opened,
	        .PseudoTcpReadable = tcp_readable,
	        .PseudoTcpWritable = tcp_writable,
	        .PseudoTcpClosed = tcp_closed,
	        .WritePacket = tcp_write_packet,
	};

	self->callbacks = *callbacks;
	self->user_data = user_data;
	/* FIN support is construct-only; both sides must have it */
	self->tcp = g_object_new(PSEUDO_TCP_SOCKET_TYPE, "conversation", conversation, "callbacks",
	                         &tcp_callbacks, "support-fin-ack", TRUE, NULL);
	g_object_set(self->tcp, "rcv-buf", (guint)buffer_size, "snd-buf",
	             (guint)MIN(buffer_size, PL_RELIABLE_LINK_MAX_SEND_BUFFER), "no-delay", TRUE,
	             "ack-delay", 10, NULL);
	pseudo_tcp_socket_notify_mtu(self->tcp, PL_RELIABLE_LINK_MTU);
	self->clock = g_source_new(&clock_funcs, sizeof(PlClockSource));
	((PlClockSource *)self->clock)->link = self;
	g_source_set_name(self->clock, "[peerlink] pseudotcp clock");
	g_source_attach(self->clock, g_main_context_get_thread_default());
	return self;
}

void
pl_reliable_link_free(PlReliableLink *self)
{
	g_clear_handle_id(&self->ack_flush_id, g_source_remove);
	g_clear_handle_id(&self->probe_id, g_source_remove);
	if (self->clock != NULL) {
		g_source_destroy(self->clock);
		g_source_unref(self->clock);
	}
	g_object_unref(self->tcp);
	g_free(self);
}

void
pl_reliable_link_connect(PlReliableLink *self)
{
	pseudo_tcp_socket_connect(self->tcp);
	schedule_clock(self);
}

void
pl_reliable_link_receive_packet(PlReliableLink *self, const guint8 *data, gsize len)
{
	if (self->closed)
		return;
	/*
	 * PseudoTCP answers any segment with data that arrives after its own FIN
	 * with a reset, as for a full close. We send our FIN only once the
	 * peer's stream has ended, so such data can only be a retransmission of
	 * what arrived already: its header alone still acknowledges and is
	 * acknowledged, and the peer stops resending.
	 */
	if (self->closing && len > HEADER_SIZE)
		len = HEADER_SIZE;
	note_peer_window(self, data, len);
	pseudo_tcp_socket_notify_packet(self->tcp, (const gchar *)data, (guint32)len);
	schedule_clock(self);
}

gssize
pl_reliable_link_recv(PlReliableLink *self, guint8 *buf, gsize len)
{
	gint n = pseudo_tcp_socket_recv(self->tcp, (gchar *)buf, len);

	if (n < 0)
		errno = pseudo_tcp_socket_get_error(self->tcp);
	schedule_clock(self);
	return n;
}

/*
 * Data goes in one segment's worth at a time, and only while PseudoTCP sends
 * it at once: a backlog would sit in one large unsent segment that PseudoTCP
 * splits for every packet, each split a walk over all segments in flight.
 * What is held back goes in when acknowledgements open the window
 * (pl_reliable_link_has_room).
 */
gssize
pl_reliable_link_send(PlReliableLink *self, const guint8 *data, gsize len)
{
	gssize total = 0;

	self->backlogged = FALSE;
	while ((gsize)total < len) {
		gint n;

		self->sent_data = FALSE;
		n = pseudo_tcp_socket_send(self->tcp, (const gchar *)data + total,
		                           (guint32)MIN(len - (gsize)total, SEGMENT_SIZE));
		if (n < 0) {
			errno = pseudo_tcp_socket_get_error(self->tcp);
			if (total == 0) {
				schedule_clock(self);
				return -1;
			}
			break;
		}
		total += n;
		if (!self->sent_data) {
			self->backlogged = TRUE;
			break;
		}
	}
	schedule_clock(self);
	return total;
}

gboolean
pl_reliable_link_is_backlogged(PlReliableLink *self)
{
	return self->backlogged;
}

/* A FIN after the queued data, retransmitted like data: the link closes
 * only when the peer has acknowledged everything and sent its own FIN. */
void
pl_reliable_link_close(PlReliableLink *self)
{
	self->closing = TRUE;
	pseudo_tcp_socket_shutdown(self->tcp, PSEUDO_TCP_SHUTDOWN_WR);
	schedule_clock(self);
}

void
pl_reliable_link_abort(PlReliableLink *self)
{
	self->closed = TRUE; /* the caller knows: no callback */
	self->close_reported = TRUE;
	pseudo_tcp_socket_close(self->tcp, TRUE);
	g_source_set_ready_time(self->clock, -1);
}

gboolean
pl_reliable_link_is_open(PlReliableLink *self)
{
	return !self->closed;
}
