#include "config.h"

#include <errno.h>
#include <string.h>

#include "pl-reliable-link.h"

/*
 * The wire format (docs/transport.md), big-endian:
 *
 *   0  u8   version (1)
 *   1  u8   flags: HELLO, FIN, RST, PING
 *   2  u8   number of SACK blocks
 *   3  u8   0
 *   4  u32  conversation
 *   8  u64  packet number: from 1, never reused (a retransmission is a new packet)
 *  16  u64  cumulative ack: the next stream offset expected, +1 once the FIN arrived
 *  24  u64  window: the stream offset up to which the receiver takes data
 *  32  u64  the largest packet number received that asked for an ack (0: none)
 *  40  u32  microseconds between its arrival and this packet's sending
 *  44  u64  stream offset of the payload (of the FIN when there is none)
 *  52  SACK blocks: u32 start, u32 end, relative to the cumulative ack
 *      payload
 */
#define VERSION       1
#define HEADER_SIZE   52
#define BLOCK_SIZE    8
#define MAX_BLOCKS    16
#define FLAG_HELLO    0x01
#define FLAG_FIN      0x02
#define FLAG_RST      0x04
#define FLAG_PING     0x08 /* asks for an immediate ack */
#define ACK_ELICITING (FLAG_HELLO | FLAG_FIN | FLAG_PING)

#define MSS                        (PL_RELIABLE_LINK_MAX_PACKET - HEADER_SIZE)
#define INITIAL_CWND               (10 * MSS)
#define MIN_CWND                   (2 * MSS)
#define MAX_OUT_OF_ORDER           512 /* ranges held beyond a gap */
#define PACKET_THRESHOLD           3   /* RFC 9002 kPacketThreshold */
#define INITIAL_RTT_US             (100 * 1000)
#define FIRST_PTO_US               (25 * 1000)
#define GRANULARITY_US             1000
#define MAX_PTO_US                 (2 * G_USEC_PER_SEC) /* a path that comes back is probed soon */
#define PERSISTENT_CONGESTION_PTOS 3
#define PERSIST_US                 G_USEC_PER_SEC        /* probe of a closed window */
#define SILENCE_LIMIT_US           (60 * G_USEC_PER_SEC) /* nothing heard while waiting: give up */
#define FINAL_ACKS                 2
#define FIN_LINGER_US              (2 * G_USEC_PER_SEC) /* for the ack of our FIN */
#define MAX_PN_JUMP                (G_GUINT64_CONSTANT(1) << 24)

typedef struct {
	guint64 start;
	guint64 end;
} PlRange;

/* a packet in flight that asked for an ack; a HELLO has len 0 and no fin */
typedef struct {
	guint64 pn;
	guint64 offset;
	guint32 len;
	gboolean fin;
	gboolean hello;
	gint64 sent_at;
} PlSentPacket;

/* stream data still to be sent again */
typedef struct {
	guint64 offset;
	guint64 len;
	gboolean fin;
} PlChunk;

/*
 * The bytes of a stream window, at offset % capacity, in segments allocated
 * on first use and all given back whenever the ring is empty: bytes are placed
 * by their absolute offset, so nothing has to move, and an idle link holds none.
 */
#define RING_SEGMENT        (64 * 1024)
#define RING_SPARE_SEGMENTS 64 /* one full ring of the default size */

typedef struct {
	guint8 **segments; /* NULL while empty */
	gsize capacity;
} PlRing;

struct _PlReliableLink {
	PlReliableLinkCallbacks callbacks;
	gpointer user_data;
	guint32 conversation;
	GSource *clock; /* one source for every timer, re-armed by ready time */
	guint flush_id; /* acks go out once a burst of packets is processed */
	gboolean opened;
	gboolean closed;
	gboolean close_reported;
	gint close_error;
	gint64 last_heard;
	PlReliableLinkStats stats;

	/* sending: [snd_una, snd_end) in sbuf, [snd_una, snd_nxt) sent once */
	PlRing sbuf;
	guint64 snd_una;
	guint64 snd_nxt;
	guint64 snd_end;
	guint64 peer_window;
	gboolean fin_queued; /* at snd_end, once close was called */
	gboolean fin_sent;
	gboolean fin_acked;
	gboolean hello_wanted;
	gboolean want_writable;
	guint64 next_pn;
	GArray *in_flight; /* PlSentPacket by packet number, from in_flight_head */
	guint in_flight_head;
	gsize bytes_in_flight;
	gint64 last_eliciting_sent_at;
	GArray *retransmit; /* PlChunk, in the order they were found lost */
	PlRange peer_sacks[MAX_BLOCKS];
	guint n_peer_sacks;
	guint64 largest_acked;
	gint64 srtt;
	gint64 rttvar;
	gint64 min_rtt;
	gint64 latest_rtt;
	gboolean has_rtt;
	gsize cwnd;
	gsize ssthresh;
	gint64 recovery_start;
	guint pto_count;
	gint64 loss_at;   /* 0: no packet waits for the time threshold */
	gint64 finish_by; /* everything arrived: done by then, even without our FIN's ack */
	gint64 last_ping_at;

	/* receiving: [rd_off, rcv_nxt) readable, out_of_order beyond a gap */
	PlRing rbuf;
	guint64 rd_off;
	guint64 rcv_nxt;
	GArray *out_of_order; /* PlRange, sorted, disjoint, above rcv_nxt */
	gboolean peer_fin_known;
	guint64 peer_fin;
	guint64 largest_received; /* that asked for an ack */
	gint64 largest_received_at;
	guint64 largest_pn_seen;
	gboolean ack_wanted;
	guint64 advertised_window;
};

typedef struct {
	GSource source;
	PlReliableLink *link;
} PlClockSource;

static void send_pending(PlReliableLink *self);
static void arm_clock(PlReliableLink *self);

/* byte order */

static void
put_u32(guint8 *p, guint32 value)
{
	value = GUINT32_TO_BE(value);
	memcpy(p, &value, sizeof(value));
}

static void
put_u64(guint8 *p, guint64 value)
{
	value = GUINT64_TO_BE(value);
	memcpy(p, &value, sizeof(value));
}

static guint32
get_u32(const guint8 *p)
{
	guint32 value;

	memcpy(&value, p, sizeof(value));
	return GUINT32_FROM_BE(value);
}

static guint64
get_u64(const guint8 *p)
{
	guint64 value;

	memcpy(&value, p, sizeof(value));
	return GUINT64_FROM_BE(value);
}

/* rings */

/*
 * Segments of emptied rings, for the next ones: a busy link empties its rings
 * again and again, and handing the segments back to malloc each time makes it
 * trim the top of the heap and fault it back in (up to 0.8 s of CPU per GB).
 */
static guint8 *ring_spares[RING_SPARE_SEGMENTS];
static guint ring_n_spares;
G_LOCK_DEFINE_STATIC(ring_spares);

static guint8 *
ring_segment_new(void)
{
	guint8 *segment = NULL;

	G_LOCK(ring_spares);
	if (ring_n_spares > 0)
		segment = ring_spares[--ring_n_spares];
	G_UNLOCK(ring_spares);
	return segment != NULL ? segment : g_malloc(RING_SEGMENT);
}

static void
ring_segment_free(guint8 *segment)
{
	G_LOCK(ring_spares);
	if (ring_n_spares < RING_SPARE_SEGMENTS)
		ring_spares[ring_n_spares++] = g_steal_pointer(&segment);
	G_UNLOCK(ring_spares);
	g_free(segment);
}

static gsize
ring_n_segments(PlRing *ring)
{
	return (ring->capacity + RING_SEGMENT - 1) / RING_SEGMENT;
}

/* where the byte at offset lies, and how many of len fit from there on */
static guint8 *
ring_at(PlRing *ring, guint64 offset, gsize len, gsize *n)
{
	gsize pos = offset % ring->capacity;
	gsize index = pos / RING_SEGMENT;
	gsize start = index * RING_SEGMENT;
	gsize end = MIN(start + RING_SEGMENT, ring->capacity);

	if (ring->segments == NULL)
		ring->segments = g_new0(guint8 *, ring_n_segments(ring));
	if (ring->segments[index] == NULL)
		ring->segments[index] = ring_segment_new();
	*n = MIN(len, end - pos);
	return ring->segments[index] + (pos - start);
}

static void
ring_write(PlRing *ring, guint64 offset, const guint8 *src, gsize len)
{
	while (len > 0) {
		gsize n;
		guint8 *dst = ring_at(ring, offset, len, &n);

		memcpy(dst, src, n);
		offset += n;
		src += n;
		len -= n;
	}
}

/* only bytes written before and not released since */
static void
ring_read(PlRing *ring, guint64 offset, guint8 *dst, gsize len)
{
	while (len > 0) {
		gsize n;
		const guint8 *src = ring_at(ring, offset, len, &n);

		memcpy(dst, src, n);
		offset += n;
		dst += n;
		len -= n;
	}
}

/* once nothing in it will be read again */
static void
ring_release(PlRing *ring)
{
	if (ring->segments == NULL)
		return;
	for (gsize i = 0; i < ring_n_segments(ring); i++) {
		if (ring->segments[i] != NULL)
			ring_segment_free(ring->segments[i]);
	}
	g_clear_pointer(&ring->segments, g_free);
}

/* closing */

/* reported from the clock, never from inside a call of the owner's, so
 * that the owner may free the link in its callback */
static void
report_closed(PlReliableLink *self, gint error)
{
	if (self->closed)
		return;
	self->closed = TRUE;
	self->close_error = error;
	g_clear_handle_id(&self->flush_id, g_source_remove);
	g_source_set_ready_time(self->clock, 0);
}

/* packets out */

static guint64
ack_value(PlReliableLink *self)
{
	return self->rcv_nxt + (self->peer_fin_known && self->rcv_nxt == self->peer_fin ? 1 : 0);
}

static guint
n_blocks_to_send(PlReliableLink *self)
{
	return MIN(self->out_of_order->len, MAX_BLOCKS);
}

static gsize
write_header(PlReliableLink *self, guint8 *packet, guint8 flags, guint64 offset)
{
	guint n_blocks = n_blocks_to_send(self);
	guint64 ack = ack_value(self);
	gint64 delay = g_get_monotonic_time() - self->largest_received_at;

	packet[0] = VERSION;
	packet[1] = flags;
	packet[2] = (guint8)n_blocks;
	packet[3] = 0;
	put_u32(packet + 4, self->conversation);
	put_u64(packet + 8, self->next_pn++);
	put_u64(packet + 16, ack);
	self->advertised_window = self->rd_off + self->rbuf.capacity;
	put_u64(packet + 24, self->advertised_window);
	put_u64(packet + 32, self->largest_received);
	put_u32(packet + 40, (guint32)CLAMP(delay, 0, G_MAXUINT32));
	put_u64(packet + 44, offset);
	for (guint i = 0; i < n_blocks; i++) {
		PlRange *range = &g_array_index(self->out_of_order, PlRange, i);
		put_u32(packet + HEADER_SIZE + i * BLOCK_SIZE, (guint32)(range->start - ack));
		put_u32(packet + HEADER_SIZE + i * BLOCK_SIZE + 4, (guint32)(range->end - ack));
	}
	return HEADER_SIZE + n_blocks * BLOCK_SIZE;
}

static void
emit(PlReliableLink *self, const guint8 *packet, gsize len)
{
	self->stats.packets_sent++;
	self->ack_wanted = FALSE; /* every packet carries the newest ack */
	/* a datagram the path could not send is lost like any other */
	self->callbacks.send_packet(packet, len, self->user_data);
}

static void
send_control(PlReliableLink *self, guint8 flags)
{
	guint8 packet[PL_RELIABLE_LINK_MAX_PACKET];
	guint64 offset = self->fin_queued ? self->snd_end : 0;

	if (self->fin_queued && self->fin_sent)
		flags |= FLAG_FIN; /* the final acks repeat it */
	emit(self, packet, write_header(self, packet, flags, offset));
}

static void
record_sent(PlReliableLink *self, const PlSentPacket *sent)
{
	g_array_append_val(self->in_flight, *sent);
	self->bytes_in_flight += sent->len;
	self->last_eliciting_sent_at = sent->sent_at;
}

static void
send_hello(PlReliableLink *self)
{
	guint8 packet[PL_RELIABLE_LINK_MAX_PACKET];
	PlSentPacket sent = {.pn = self->next_pn, .hello = TRUE};

	emit(self, packet, write_header(self, packet, FLAG_HELLO, 0));
	sent.sent_at = g_get_monotonic_time();
	record_sent(self, &sent);
}

static void
send_chunk(PlReliableLink *self, guint64 offset, gsize len, gboolean fin)
{
	guint8 packet[PL_RELIABLE_LINK_MAX_PACKET];
	PlSentPacket sent = {
	        .pn = self->next_pn, .offset = offset, .len = (guint32)len, .fin = fin};
	gsize header = write_header(self, packet, fin ? FLAG_FIN : 0, offset);

	g_assert(header + len <= sizeof(packet));
	if (len > 0)
		ring_read(&self->sbuf, offset, packet + header, len);
	emit(self, packet, header + len);
	sent.sent_at = g_get_monotonic_time();
	record_sent(self, &sent);
}

static gsize
max_payload(PlReliableLink *self)
{
	return PL_RELIABLE_LINK_MAX_PACKET - HEADER_SIZE - n_blocks_to_send(self) * BLOCK_SIZE;
}

/* [start, end) less what the peer acknowledged: the first part it lacks */
static gboolean
first_unacked(PlReliableLink *self, guint64 *start, guint64 *end)
{
	*start = MAX(*start, self->snd_una + (self->fin_acked ? 1 : 0));
	for (guint i = 0; i < self->n_peer_sacks && *start < *end; i++) {
		const PlRange *sack = &self->peer_sacks[i];
		if (sack->start <= *start && *start < sack->end)
			*start = sack->end;
		else if (*start < sack->start && sack->start < *end)
			*end = sack->start;
	}
	return *start < *end;
}

/* the next lost range to send again, FALSE when there is none */
static gboolean
take_retransmit(PlReliableLink *self, gsize room, PlChunk *out)
{
	while (self->retransmit->len > 0) {
		PlChunk *head = &g_array_index(self->retransmit, PlChunk, 0);
		guint64 data_end = head->offset + head->len;
		guint64 start = head->offset;
		guint64 end = data_end + (head->fin ? 1 : 0); /* the FIN counts as a byte */

		if (!first_unacked(self, &start, &end)) {
			g_array_remove_index(self->retransmit, 0);
			continue;
		}
		out->offset = start; /* at most data_end: only the FIN lies beyond */
		out->len = MIN(MIN(end, data_end) - start, room);
		out->fin = head->fin && start + out->len == data_end;
		if (out->fin || start + out->len >= data_end) {
			g_array_remove_index(self->retransmit, 0);
		} else {
			head->len = data_end - (start + out->len);
			head->offset = start + out->len;
		}
		self->stats.bytes_retransmitted += out->len;
		return TRUE;
	}
	return FALSE;
}

/* new data within the peer's window, or the FIN once all is sent */
static gboolean
take_new(PlReliableLink *self, gsize room, PlChunk *out)
{
	guint64 limit = MIN(self->snd_end, self->peer_window);

	if (self->snd_nxt < limit) {
		out->offset = self->snd_nxt;
		out->len = MIN(limit - self->snd_nxt, room);
		self->snd_nxt += out->len;
		out->fin = self->fin_queued && self->snd_nxt == self->snd_end;
		self->fin_sent |= out->fin;
		return TRUE;
	}
	if (self->fin_queued && !self->fin_sent && self->snd_nxt == self->snd_end) {
		*out = (PlChunk){.offset = self->snd_end, .len = 0, .fin = TRUE};
		self->fin_sent = TRUE;
		return TRUE;
	}
	return FALSE;
}

/* everything the windows allow; pure acks wait for the end of the burst */
static void
send_pending(PlReliableLink *self)
{
	PlChunk chunk;

	if (self->closed)
		return;
	if (self->hello_wanted) {
		self->hello_wanted = FALSE;
		send_hello(self);
	}
	while (self->opened && (self->bytes_in_flight == 0 ||
	                        self->bytes_in_flight + max_payload(self) <= self->cwnd)) {
		gsize room = max_payload(self);
		if (!take_retransmit(self, room, &chunk) && !take_new(self, room, &chunk))
			break;
		send_chunk(self, chunk.offset, chunk.len, chunk.fin);
	}
	arm_clock(self);
}

static gboolean
flush_cb(gpointer user_data)
{
	PlReliableLink *self = user_data;

	self->flush_id = 0;
	send_pending(self);
	if (self->ack_wanted && !self->closed)
		send_control(self, 0); /* nothing carried it */
	return G_SOURCE_REMOVE;
}

/* many packets often arrive in one go: one ack for all of them */
static void
schedule_ack(PlReliableLink *self)
{
	self->ack_wanted = TRUE;
	if (self->flush_id == 0)
		self->flush_id = g_idle_add_full(G_PRIORITY_HIGH, flush_cb, self, NULL);
}

/* round trips, losses, congestion */

static void
update_rtt(PlReliableLink *self, gint64 sample, gint64 ack_delay)
{
	self->latest_rtt = MAX(sample, 1);
	if (!self->has_rtt) {
		self->has_rtt = TRUE;
		self->min_rtt = self->srtt = self->latest_rtt;
		self->rttvar = self->latest_rtt / 2;
		return;
	}
	self->min_rtt = MIN(self->min_rtt, self->latest_rtt);
	if (self->latest_rtt >= self->min_rtt + ack_delay)
		sample = self->latest_rtt - ack_delay;
	else
		sample = self->latest_rtt;
	self->rttvar = (3 * self->rttvar + ABS(self->srtt - sample)) / 4;
	self->srtt = (7 * self->srtt + sample) / 8;
}

static gint64
loss_delay(PlReliableLink *self)
{
	gint64 rtt = self->has_rtt ? MAX(self->srtt, self->latest_rtt) : INITIAL_RTT_US;

	return MAX(rtt * 9 / 8, GRANULARITY_US);
}

/*
 * Before a round trip was measured (the hello, the first probe on a new
 * path) the timeout starts short and doubles: ICE has just shown the path
 * works, and a hello lost while the peer's side of the pair settles would
 * otherwise cost the full initial timeout of RFC 9002 in every such setup.
 */
static gint64
pto_interval(PlReliableLink *self)
{
	gint64 pto = FIRST_PTO_US;

	if (self->has_rtt)
		pto = self->srtt + MAX(4 * self->rttvar, GRANULARITY_US);
	return MIN(pto << MIN(self->pto_count, 8), MAX_PTO_US);
}

static void
on_packet_acked(PlReliableLink *self, const PlSentPacket *sent)
{
	self->pto_count = 0;
	if (sent->sent_at <= self->recovery_start)
		return;
	if (self->cwnd < self->ssthresh)
		self->cwnd += sent->len;
	else
		self->cwnd += MAX((gsize)MSS * sent->len / self->cwnd, 1);
	self->cwnd = MIN(self->cwnd, 2 * self->rbuf.capacity); /* the peer's window bounds it */
}

static void
on_packet_lost(PlReliableLink *self, const PlSentPacket *sent)
{
	PlChunk chunk = {.offset = sent->offset, .len = sent->len, .fin = sent->fin};

	self->stats.packets_lost++;
	if (sent->hello)
		self->hello_wanted = !self->opened;
	else
		g_array_append_val(self->retransmit, chunk);
	if (sent->sent_at <= self->recovery_start)
		return; /* one reduction per round trip */
	self->recovery_start = g_get_monotonic_time();
	self->cwnd = MAX(self->cwnd * 7 / 10, MIN_CWND);
	self->ssthresh = self->cwnd;
}

static gboolean
is_acked(PlReliableLink *self, const PlSentPacket *sent)
{
	guint64 end = sent->offset + sent->len + (sent->fin ? 1 : 0);

	if (sent->hello)
		return self->opened;
	if (end <= self->snd_una + (self->fin_acked ? 1 : 0))
		return TRUE;
	for (guint i = 0; i < self->n_peer_sacks; i++) {
		if (self->peer_sacks[i].start <= sent->offset && end <= self->peer_sacks[i].end)
			return TRUE;
	}
	return FALSE;
}

static PlSentPacket *
oldest_in_flight(PlReliableLink *self)
{
	if (self->in_flight_head >= self->in_flight->len)
		return NULL;
	return &g_array_index(self->in_flight, PlSentPacket, self->in_flight_head);
}

/* the oldest packet in flight leaves */
static void
pop_in_flight(PlReliableLink *self, const PlSentPacket *oldest)
{
	self->bytes_in_flight -= oldest->len;
	self->in_flight_head++;
	if (self->in_flight_head == self->in_flight->len) {
		g_array_set_size(self->in_flight, 0);
		self->in_flight_head = 0;
	} else if (self->in_flight_head >= 1024 &&
	           self->in_flight_head * 2 >= self->in_flight->len) {
		g_array_remove_range(self->in_flight, 0, self->in_flight_head);
		self->in_flight_head = 0;
	}
}

/*
 * From the oldest packet in flight on: acknowledged ones leave, and so do
 * the lost ones (RFC 9002: three packets sent later were acknowledged, or
 * it is older than 9/8 of a round trip than the newest acknowledged); the
 * first packet that is neither stops the walk, so at most a few packets
 * behind it wait for a later ack.
 */
static void
detect_acked_and_lost(PlReliableLink *self)
{
	gint64 now = g_get_monotonic_time();
	gint64 delay = loss_delay(self);
	PlSentPacket *sent;

	self->loss_at = 0;
	while ((sent = oldest_in_flight(self)) != NULL) {
		PlSentPacket copy = *sent;

		if (is_acked(self, sent)) {
			pop_in_flight(self, &copy);
			on_packet_acked(self, &copy);
			continue;
		}
		if (sent->pn >= self->largest_acked)
			break;
		if (self->largest_acked - sent->pn < PACKET_THRESHOLD &&
		    sent->sent_at > now - delay) {
			self->loss_at = sent->sent_at + delay;
			break;
		}
		pop_in_flight(self, &copy);
		on_packet_lost(self, &copy);
	}
}

static PlSentPacket *
find_in_flight(PlReliableLink *self, guint64 pn)
{
	guint low = self->in_flight_head;
	guint high = self->in_flight->len;

	while (low < high) {
		guint mid = low + (high - low) / 2;
		PlSentPacket *sent = &g_array_index(self->in_flight, PlSentPacket, mid);
		if (sent->pn == pn)
			return sent;
		if (sent->pn < pn)
			low = mid + 1;
		else
			high = mid;
	}
	return NULL;
}

/* packets in */

/* FALSE when the packet contradicts what we sent: it is dropped */
static gboolean
parse_ack(PlReliableLink *self, const guint8 *packet, guint n_blocks)
{
	guint64 ack = get_u64(packet + 16);
	guint64 window = get_u64(packet + 24);
	guint64 largest = get_u64(packet + 32);
	guint64 sent_limit = self->snd_nxt + (self->fin_sent ? 1 : 0);
	guint n_sacks = 0;

	if (ack > sent_limit)
		return FALSE;
	for (guint i = 0; i < n_blocks; i++) {
		const guint8 *block = packet + HEADER_SIZE + i * BLOCK_SIZE;
		PlRange range = {ack + get_u32(block), ack + get_u32(block + 4)};
		if (range.start < range.end && range.end <= sent_limit)
			self->peer_sacks[n_sacks++] = range;
	}
	self->n_peer_sacks = n_sacks;
	if (ack > self->snd_una)
		self->snd_una = MIN(ack, self->snd_end);
	if (self->snd_una == self->snd_end)
		ring_release(&self->sbuf);
	self->fin_acked |= self->fin_sent && ack == self->snd_end + 1;
	if (window > self->peer_window)
		self->peer_window = window;
	/* a packet number we never sent: the peer saw a forged one; the rest holds */
	if (largest > self->largest_acked && largest < self->next_pn) {
		PlSentPacket *sent = find_in_flight(self, largest);
		if (sent != NULL)
			update_rtt(self, g_get_monotonic_time() - sent->sent_at,
			           (gint64)get_u32(packet + 40));
		self->largest_acked = largest;
	}
	return TRUE;
}

/* TRUE when the in-order stream grew */
static gboolean
accept_data(PlReliableLink *self, guint64 offset, const guint8 *data, gsize len)
{
	guint64 end = MIN(offset + len, self->rd_off + self->rbuf.capacity);
	guint i;

	if (self->peer_fin_known)
		end = MIN(end, self->peer_fin);
	if (offset < self->rcv_nxt) {
		if (offset + len <= self->rcv_nxt)
			return FALSE; /* a duplicate: the ack tells the sender */
		data += self->rcv_nxt - offset;
		offset = self->rcv_nxt;
	}
	if (offset >= end)
		return FALSE;
	if (offset > self->rcv_nxt) {
		/* beyond a gap: kept in order, merged with its neighbours */
		for (i = self->out_of_order->len; i > 0; i--) {
			if (g_array_index(self->out_of_order, PlRange, i - 1).start <= offset)
				break;
		}
		if (i > 0 && g_array_index(self->out_of_order, PlRange, i - 1).end >= offset) {
			PlRange *prev = &g_array_index(self->out_of_order, PlRange, i - 1);
			if (end <= prev->end)
				return FALSE;
			ring_write(&self->rbuf, prev->end, data + (prev->end - offset),
			           end - prev->end);
			prev->end = end;
		} else {
			PlRange range = {offset, end};
			if (self->out_of_order->len >= MAX_OUT_OF_ORDER)
				return FALSE; /* sent again later */
			ring_write(&self->rbuf, offset, data, end - offset);
			g_array_insert_val(self->out_of_order, i, range);
			i++;
		}
		/* the grown range may now reach the next ones */
		while (i < self->out_of_order->len &&
		       g_array_index(self->out_of_order, PlRange, i).start <=
		               g_array_index(self->out_of_order, PlRange, i - 1).end) {
			PlRange *prev = &g_array_index(self->out_of_order, PlRange, i - 1);
			prev->end =
			        MAX(prev->end, g_array_index(self->out_of_order, PlRange, i).end);
			g_array_remove_index(self->out_of_order, i);
		}
		return FALSE;
	}
	ring_write(&self->rbuf, offset, data, end - offset);
	self->rcv_nxt = end;
	while (self->out_of_order->len > 0 &&
	       g_array_index(self->out_of_order, PlRange, 0).start <= self->rcv_nxt) {
		self->rcv_nxt =
		        MAX(self->rcv_nxt, g_array_index(self->out_of_order, PlRange, 0).end);
		g_array_remove_index(self->out_of_order, 0);
	}
	return TRUE;
}

/*
 * Both sides sent everything and have everything: done once the peer
 * acknowledged our FIN too, or FIN_LINGER_US later (its ack was lost and the
 * peer, done itself, no longer answers), so that a FIN that was lost is
 * sent again while the peer may still wait for it.
 */
static void
check_finished(PlReliableLink *self)
{
	if (self->closed || !self->fin_sent || !self->peer_fin_known ||
	    self->snd_una < self->snd_end || self->rcv_nxt < self->peer_fin)
		return;
	if (!self->fin_acked) {
		if (self->finish_by == 0)
			self->finish_by = g_get_monotonic_time() + FIN_LINGER_US;
		if (g_get_monotonic_time() < self->finish_by)
			return;
	}
	/* the peer may still wait for the ack of its FIN */
	for (guint i = 0; i < FINAL_ACKS; i++)
		send_control(self, 0);
	report_closed(self, 0);
}

static gboolean
valid_packet(PlReliableLink *self, const guint8 *data, gsize len)
{
	return len >= HEADER_SIZE && data[0] == VERSION &&
	       get_u32(data + 4) == self->conversation && data[2] <= MAX_BLOCKS &&
	       len >= HEADER_SIZE + (gsize)data[2] * BLOCK_SIZE && get_u64(data + 8) != 0;
}

/* the peer's FIN, unless it contradicts an earlier one, the data or the window */
static void
note_peer_fin(PlReliableLink *self, guint64 fin)
{
	if (self->peer_fin_known || fin > self->rd_off + self->rbuf.capacity ||
	    fin < self->rcv_nxt ||
	    (self->out_of_order->len > 0 &&
	     fin < g_array_index(self->out_of_order, PlRange, self->out_of_order->len - 1).end))
		return;
	self->peer_fin_known = TRUE;
	self->peer_fin = fin;
}

/* tells the owner; it may not free the link from these callbacks. What
 * arrived is readable also when it completed an orderly close. */
static void
notify(PlReliableLink *self, gboolean newly_opened, gboolean readable)
{
	gsize queued = self->snd_end - self->snd_una;

	if (newly_opened && self->callbacks.opened != NULL)
		self->callbacks.opened(self->user_data);
	if (readable)
		self->callbacks.readable(self->user_data);
	if (self->want_writable && !self->closed && queued <= self->sbuf.capacity / 2) {
		self->want_writable = FALSE;
		self->callbacks.writable(self->user_data);
	}
}

void
pl_reliable_link_receive_packet(PlReliableLink *self, const guint8 *data, gsize len)
{
	gsize header;
	guint8 flags;
	guint64 pn;
	guint64 offset;
	gboolean newly_opened = FALSE;
	gboolean readable = FALSE;

	if (self->closed || !valid_packet(self, data, len))
		return;
	flags = data[1];
	pn = get_u64(data + 8);
	/* numbers grow by one per packet: a leap no silence allows is forged */
	if (pn > self->largest_pn_seen + MAX_PN_JUMP)
		return;
	self->largest_pn_seen = MAX(self->largest_pn_seen, pn);
	header = HEADER_SIZE + data[2] * BLOCK_SIZE;
	offset = get_u64(data + 44);
	if (flags & FLAG_RST) {
		report_closed(self, ECONNRESET);
		return;
	}
	if (!parse_ack(self, data, data[2]))
		return;
	self->stats.packets_received++;
	self->last_heard = g_get_monotonic_time();
	if (!self->opened) {
		self->opened = newly_opened = TRUE;
		self->peer_window = MAX(self->peer_window, get_u64(data + 24));
	}
	if (flags & FLAG_FIN)
		note_peer_fin(self, offset + (len - header));
	if (len > header)
		readable = accept_data(self, offset, data + header, len - header);
	if (self->peer_fin_known && self->rcv_nxt == self->peer_fin &&
	    self->rd_off == self->rcv_nxt)
		readable = TRUE; /* recv says 0 */
	if (len > header || (flags & ACK_ELICITING)) {
		if (pn > self->largest_received) {
			self->largest_received = pn;
			self->largest_received_at = self->last_heard;
		}
		schedule_ack(self);
	}
	detect_acked_and_lost(self);
	check_finished(self);
	send_pending(self);
	notify(self, newly_opened, readable);
}

/* timers */

static gint64
pto_deadline(PlReliableLink *self)
{
	if (oldest_in_flight(self) == NULL)
		return 0;
	return self->last_eliciting_sent_at + pto_interval(self);
}

/* data waits behind a window the peer closed, with nothing in flight to
 * bring the ack that opens it */
static gboolean
window_blocked(PlReliableLink *self)
{
	return self->opened && self->snd_nxt < self->snd_end &&
	       self->snd_nxt >= self->peer_window && oldest_in_flight(self) == NULL;
}

static gint64
persist_deadline(PlReliableLink *self)
{
	return MAX(self->last_heard, self->last_ping_at) + PERSIST_US;
}

static void
arm_clock(PlReliableLink *self)
{
	gint64 deadline = G_MAXINT64;
	gint64 pto = pto_deadline(self);

	if (self->closed)
		return;
	if (self->loss_at > 0)
		deadline = self->loss_at;
	if (pto > 0)
		deadline = MIN(deadline, pto);
	if (window_blocked(self))
		deadline = MIN(deadline, persist_deadline(self));
	if (self->finish_by > 0)
		deadline = MIN(deadline, self->finish_by);
	g_source_set_ready_time(self->clock, deadline == G_MAXINT64 ? -1 : deadline);
}

/* nothing came back in time: send the oldest data again (or the hello),
 * outside the congestion window, with a doubled timeout */
static void
send_probe(PlReliableLink *self)
{
	PlSentPacket *oldest = oldest_in_flight(self);
	guint64 data_end;
	guint64 start;
	gsize len;

	if (oldest == NULL)
		return;
	self->stats.probes++;
	if (oldest->hello) {
		send_hello(self);
		return;
	}
	data_end = oldest->offset + oldest->len;
	start = CLAMP(self->snd_una, oldest->offset, data_end);
	len = MIN(data_end - start, max_payload(self));
	send_chunk(self, start, len, oldest->fin && start + len == data_end);
}

static gboolean
peer_silent_too_long(PlReliableLink *self)
{
	if (g_get_monotonic_time() - self->last_heard <= SILENCE_LIMIT_US)
		return FALSE;
	report_closed(self, ETIMEDOUT);
	return TRUE;
}

static void
on_probe_timeout(PlReliableLink *self)
{
	if (peer_silent_too_long(self))
		return;
	self->pto_count++;
	if (self->pto_count >= PERSISTENT_CONGESTION_PTOS)
		self->cwnd = MIN_CWND;
	send_probe(self);
}

static gboolean
clock_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
	PlReliableLink *self = ((PlClockSource *)source)->link;
	gint64 now = g_get_monotonic_time();

	g_source_set_ready_time(source, -1);
	if (self->closed) {
		if (!self->close_reported) {
			self->close_reported = TRUE;
			self->callbacks.closed(self->close_error, self->user_data);
		}
		return G_SOURCE_CONTINUE;
	}
	if (self->loss_at > 0 && now >= self->loss_at) {
		detect_acked_and_lost(self);
	} else if (pto_deadline(self) > 0 && now >= pto_deadline(self)) {
		on_probe_timeout(self);
	} else if (window_blocked(self) && now >= persist_deadline(self) &&
	           !peer_silent_too_long(self)) {
		send_control(self, FLAG_PING);
		self->last_ping_at = now;
	}
	check_finished(self);
	send_pending(self);
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs clock_funcs = {
        .dispatch = clock_dispatch,
};

/* the owner's side */

PlReliableLink *
pl_reliable_link_new(guint32 conversation,
                     gsize buffer_size,
                     const PlReliableLinkCallbacks *callbacks,
                     gpointer user_data)
{
	PlReliableLink *self;

	g_return_val_if_fail(buffer_size >= 4 * MSS, NULL);
	self = g_new0(PlReliableLink, 1);
	self->callbacks = *callbacks;
	self->user_data = user_data;
	self->conversation = conversation;
	self->sbuf.capacity = buffer_size;
	self->rbuf.capacity = buffer_size;
	self->next_pn = 1;
	self->in_flight = g_array_new(FALSE, FALSE, sizeof(PlSentPacket));
	self->retransmit = g_array_new(FALSE, FALSE, sizeof(PlChunk));
	self->out_of_order = g_array_new(FALSE, FALSE, sizeof(PlRange));
	self->cwnd = INITIAL_CWND;
	self->ssthresh = G_MAXSIZE;
	self->last_heard = g_get_monotonic_time();
	self->clock = g_source_new(&clock_funcs, sizeof(PlClockSource));
	((PlClockSource *)self->clock)->link = self;
	g_source_set_name(self->clock, "[peerlink] reliable link clock");
	g_source_attach(self->clock, g_main_context_get_thread_default());
	return self;
}

void
pl_reliable_link_free(PlReliableLink *self)
{
	g_debug("link %08x: %" G_GUINT64_FORMAT " packets sent, %" G_GUINT64_FORMAT
	        " received, %" G_GUINT64_FORMAT " lost, %" G_GUINT64_FORMAT " probes, srtt %.2f ms",
	        self->conversation, self->stats.packets_sent, self->stats.packets_received,
	        self->stats.packets_lost, self->stats.probes, self->srtt / 1000.0);
	g_clear_handle_id(&self->flush_id, g_source_remove);
	g_source_destroy(self->clock);
	g_source_unref(self->clock);
	g_array_unref(self->in_flight);
	g_array_unref(self->retransmit);
	g_array_unref(self->out_of_order);
	ring_release(&self->sbuf);
	ring_release(&self->rbuf);
	g_free(self);
}

void
pl_reliable_link_connect(PlReliableLink *self)
{
	self->last_heard = g_get_monotonic_time();
	self->hello_wanted = TRUE;
	send_pending(self);
}

void
pl_reliable_link_path_changed(PlReliableLink *self)
{
	if (self->closed)
		return;
	self->has_rtt = FALSE;
	self->pto_count = 0;
	self->cwnd = INITIAL_CWND;
	self->last_heard = g_get_monotonic_time();
	send_probe(self);
	send_pending(self);
}

gssize
pl_reliable_link_recv(PlReliableLink *self, guint8 *buf, gsize len)
{
	gsize n = MIN(len, self->rcv_nxt - self->rd_off);

	if (n == 0) {
		if (self->peer_fin_known && self->rd_off == self->peer_fin)
			return 0;
		errno = self->closed && self->close_error != 0 ? self->close_error : EWOULDBLOCK;
		return -1;
	}
	ring_read(&self->rbuf, self->rd_off, buf, n);
	self->rd_off += n;
	if (self->rd_off == self->rcv_nxt && self->out_of_order->len == 0)
		ring_release(&self->rbuf);
	/* a window that grew by a quarter is worth telling a sender that waits */
	if (self->rd_off + self->rbuf.capacity - self->advertised_window >= self->rbuf.capacity / 4)
		schedule_ack(self);
	return (gssize)n;
}

gssize
pl_reliable_link_send(PlReliableLink *self, const guint8 *data, gsize len)
{
	gsize room = self->sbuf.capacity - (gsize)(self->snd_end - self->snd_una);
	gsize n = MIN(len, room);

	if (self->closed) {
		errno = self->close_error != 0 ? self->close_error : EPIPE;
		return -1;
	}
	if (self->fin_queued) {
		errno = EPIPE;
		return -1;
	}
	if (n < len)
		self->want_writable = TRUE;
	if (n == 0) {
		errno = EWOULDBLOCK;
		return -1;
	}
	ring_write(&self->sbuf, self->snd_end, data, n);
	self->snd_end += n;
	send_pending(self);
	return (gssize)n;
}

void
pl_reliable_link_close(PlReliableLink *self)
{
	if (self->closed || self->fin_queued)
		return;
	self->fin_queued = TRUE;
	send_pending(self);
	check_finished(self);
}

void
pl_reliable_link_abort(PlReliableLink *self)
{
	if (!self->closed)
		send_control(self, FLAG_RST);
	report_closed(self, ECONNRESET);
	self->close_reported = TRUE; /* the caller knows: no callback, even one pending */
}

gboolean
pl_reliable_link_is_open(PlReliableLink *self)
{
	return !self->closed;
}

void
pl_reliable_link_get_stats(PlReliableLink *self, PlReliableLinkStats *stats)
{
	*stats = self->stats;
	stats->srtt_us = self->has_rtt ? self->srtt : 0;
	stats->cwnd = self->cwnd;
}
