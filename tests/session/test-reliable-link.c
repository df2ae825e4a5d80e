/*
 * The reliable link (session/pl-reliable-link.h), two instances in one
 * process and no network: A and B are wired by an in-memory wire that loses,
 * duplicates, delays and reorders datagrams as a seeded GRand decides, and
 * can go dark for a while. On each end a small app writes a byte pattern and
 * checks every byte it reads, in order. Every wait is bounded.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "pl-reliable-link.h"
#include "pl-test-util.h"

#define KIB          1024
#define MIB          (1024 * 1024)
#define CONVERSATION 0x7e570001u
#define BUFFER_SIZE  (256 * KIB)
#define APP_CHUNK    (16 * KIB)
#define MS           G_GINT64_CONSTANT(1000)
#define S            G_GINT64_CONSTANT(1000000)

/* how the wire treats the datagrams it carries, in both directions */
typedef struct {
	guint32 seed;
	gdouble drop;      /* probability that a datagram is lost */
	gdouble duplicate; /* ... that it arrives twice */
	gdouble reorder;   /* ... that it is held back and arrives late */
	guint delay_ms;    /* one way, for every datagram */
	guint late_ms;     /* the most a late datagram is held back, on top */
} WireConfig;

typedef struct {
	gint64 deliver_at; /* monotonic µs */
	gsize len;
	guint8 data[];
} Datagram;

typedef struct _Pair Pair;
typedef struct _Side Side;

/* one end: its link, the wire toward it, and the app above it */
struct _Side {
	Pair *pair;
	Side *peer;
	const gchar *name;
	guint32 stream; /* selects the byte pattern this side writes */
	PlReliableLink *link;

	/* the wire toward this side: datagrams by delivery time */
	GQueue inbound;
	GSource *delivery;
	gboolean dark;       /* loses every datagram, those in flight too */
	guint64 last_pn;     /* of the datagrams this side sent */
	guint64 packets_out; /* datagrams this side handed to the wire */
	guint8 last_packet[PL_RELIABLE_LINK_MAX_PACKET]; /* the newest of them */
	gsize last_packet_len;
	guint64 packets_in; /* datagrams the wire delivered to this side */
	guint64 n_garbage;  /* of them, garbage a case made */

	/* what the link reported */
	guint n_opened;
	guint64 packets_in_at_open;
	guint n_closed;
	gint close_error;
	guint64 unannounced; /* bytes, and 1 for the FIN, "readable" never announced */

	/* the app: writes to_send bytes of its pattern, reads the peer's */
	guint64 to_send;
	guint64 sent;
	gboolean blocked; /* the last send took less than offered */
	gint write_error; /* an errno other than EWOULDBLOCK */
	gboolean reading; /* FALSE: the app leaves what arrives in the link */
	guint64 received;
	gboolean eof;
	gint read_error;
	gboolean close_when_sent; /* close once every byte is queued... */
	gboolean close_after_eof; /* ...and, if set, the peer's FIN read */
	gboolean close_called;
};

struct _Pair {
	WireConfig wire;
	GRand *rand;
	Side a; /* the active side */
	Side b;
	/* the cases' hooks: a side's app read something, or is about to close */
	void (*on_progress)(Pair *pair, Side *side);
	void (*on_closing)(Pair *pair, Side *side);
	gpointer case_data;
	guint case_timer; /* a source of the case's, removed with the pair */
};

/* the byte pattern: a hash of the offset, so a byte out of place shows */
static void
pattern_fill(guint32 stream, guint64 offset, guint8 *buf, gsize len)
{
	for (gsize i = 0; i < len; i++) {
		guint64 x = ((offset + i) >> 3) ^ ((guint64)stream << 48);

		x = (x ^ (x >> 30)) * G_GUINT64_CONSTANT(0xbf58476d1ce4e5b9);
		x = (x ^ (x >> 27)) * G_GUINT64_CONSTANT(0x94d049bb133111eb);
		x ^= x >> 31;
		buf[i] = (guint8)(x >> (8 * ((offset + i) & 7)));
	}
}

/*
 * The link's wire format (session/pl-reliable-link.c), big-endian: the wire
 * checks that packet numbers are never reused, the garbage cases forge
 * headers. 0 u8 version, 1 u8 flags, 2 u8 SACK blocks, 3 u8 0,
 * 4 u32 conversation, 8 u64 packet number, 16 u64 cumulative ack,
 * 24 u64 window, 32 u64 largest packet number received, 40 u32 ack delay,
 * 44 u64 stream offset, 52 SACK blocks (u32 start, u32 end), payload.
 */
#define WIRE_VERSION     1
#define WIRE_HEADER_SIZE 52
#define WIRE_BLOCK_SIZE  8
#define WIRE_MAX_BLOCKS  16
#define WIRE_FLAG_FIN    0x02
#define WIRE_FLAG_PING   0x08

typedef struct {
	guint8 version;
	guint8 flags;
	guint8 n_blocks;
	guint32 conversation;
	guint64 pn;
	guint64 ack;
	guint64 window;
	guint64 largest;
	guint32 ack_delay;
	guint64 offset;
} WireHeader;

static guint64
get_u64(const guint8 *p)
{
	guint64 value;

	memcpy(&value, p, sizeof(value));
	return GUINT64_FROM_BE(value);
}

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

/* the 52 bytes of a header; the blocks and payload follow */
static gsize
wire_header_write(const WireHeader *header, guint8 *packet)
{
	packet[0] = header->version;
	packet[1] = header->flags;
	packet[2] = header->n_blocks;
	packet[3] = 0;
	put_u32(packet + 4, header->conversation);
	put_u64(packet + 8, header->pn);
	put_u64(packet + 16, header->ack);
	put_u64(packet + 24, header->window);
	put_u64(packet + 32, header->largest);
	put_u32(packet + 40, header->ack_delay);
	put_u64(packet + 44, header->offset);
	return WIRE_HEADER_SIZE;
}

/* the wire */

static gint64
now_us(void)
{
	return g_get_monotonic_time();
}

static void
wire_rearm(Side *to)
{
	Datagram *next = g_queue_peek_head(&to->inbound);

	g_source_set_ready_time(to->delivery, next != NULL ? next->deliver_at : -1);
}

static void
wire_enqueue(Side *to, const guint8 *data, gsize len, gint64 deliver_at)
{
	Datagram *datagram = g_malloc(sizeof(Datagram) + len);
	GList *after;

	datagram->deliver_at = deliver_at;
	datagram->len = len;
	memcpy(datagram->data, data, len);
	/* after every datagram due at the same time or earlier: FIFO unless held back */
	for (after = to->inbound.tail; after != NULL; after = after->prev) {
		if (((Datagram *)after->data)->deliver_at <= deliver_at)
			break;
	}
	if (after != NULL)
		g_queue_insert_after(&to->inbound, after, datagram);
	else
		g_queue_push_head(&to->inbound, datagram);
	wire_rearm(to);
}

/* what the wire does with one datagram toward to */
static void
wire_carry(Pair *pair, Side *to, const guint8 *data, gsize len)
{
	guint copies = 1;

	if (to->dark || g_rand_double(pair->rand) < pair->wire.drop)
		return;
	if (g_rand_double(pair->rand) < pair->wire.duplicate)
		copies = 2;
	for (guint i = 0; i < copies; i++) {
		gint64 at = now_us() + pair->wire.delay_ms * MS;

		if (pair->wire.late_ms > 0 && g_rand_double(pair->rand) < pair->wire.reorder)
			at += g_rand_int_range(pair->rand, 1, (gint32)pair->wire.late_ms + 1) * MS;
		wire_enqueue(to, data, len, at);
	}
}

static gboolean
wire_deliver_cb(gpointer user_data)
{
	Side *to = user_data;
	gint64 now = now_us();
	Datagram *datagram;

	while ((datagram = g_queue_peek_head(&to->inbound)) != NULL &&
	       datagram->deliver_at <= now) {
		g_queue_pop_head(&to->inbound);
		if (!to->dark) {
			to->packets_in++;
			pl_reliable_link_receive_packet(to->link, datagram->data, datagram->len);
		}
		g_free(datagram);
	}
	wire_rearm(to);
	return G_SOURCE_CONTINUE;
}

static gboolean
wire_source_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
	return callback(user_data);
}

static GSourceFuncs wire_source_funcs = {
        .dispatch = wire_source_dispatch,
};

/* an outage: the wire loses everything both ways */
static void
wire_set_outage(Pair *pair, gboolean outage)
{
	pair->a.dark = outage;
	pair->b.dark = outage;
}

/* the app */

static void
app_maybe_close(Side *side)
{
	if (side->close_called || !side->close_when_sent || side->sent < side->to_send)
		return;
	if (side->close_after_eof && !side->eof)
		return;
	side->close_called = TRUE;
	if (side->pair->on_closing != NULL)
		side->pair->on_closing(side->pair, side);
	pl_reliable_link_close(side->link);
}

/* writes the pattern until the link takes less than offered */
static void
app_write(Side *side)
{
	guint8 buf[APP_CHUNK];

	side->blocked = FALSE;
	while (side->sent < side->to_send && side->write_error == 0) {
		gsize len = (gsize)MIN(sizeof(buf), side->to_send - side->sent);
		gssize n;

		pattern_fill(side->stream, side->sent, buf, len);
		n = pl_reliable_link_send(side->link, buf, len);
		if (n < 0 && errno == EWOULDBLOCK) {
			side->blocked = TRUE;
			return;
		}
		if (n < 0) {
			side->write_error = errno;
			return;
		}
		g_assert_cmpint(n, <=, (gssize)len);
		side->sent += (guint64)n;
		if ((gsize)n < len) {
			side->blocked = TRUE;
			return;
		}
	}
	app_maybe_close(side);
}

/* reads everything the link has and checks it against the peer's pattern */
static void
app_read(Side *side)
{
	guint8 buf[APP_CHUNK];
	guint8 expected[APP_CHUNK];

	while (side->reading && !side->eof && side->read_error == 0) {
		gssize n = pl_reliable_link_recv(side->link, buf, sizeof(buf));

		if (n < 0 && errno == EWOULDBLOCK)
			return;
		if (n < 0) {
			side->read_error = errno;
			return;
		}
		if (n == 0) {
			side->eof = TRUE;
			app_maybe_close(side);
			return;
		}
		pattern_fill(side->peer->stream, side->received, expected, (gsize)n);
		if (memcmp(buf, expected, (gsize)n) != 0) {
			g_test_message("%s: wrong bytes at stream offset %" G_GUINT64_FORMAT
			               " (a read of %" G_GSSIZE_FORMAT ")",
			               side->name, side->received, n);
			g_assert_cmpmem(buf, (gsize)n, expected, (gsize)n);
		}
		side->received += (guint64)n;
		g_assert_cmpuint(side->received, <=, side->peer->to_send);
		if (side->pair->on_progress != NULL)
			side->pair->on_progress(side->pair, side);
	}
}

/* the link's callbacks */

static gboolean
link_send_packet_cb(const guint8 *data, gsize len, gpointer user_data)
{
	Side *side = user_data;
	guint64 pn;

	g_assert_cmpuint(len, >=, WIRE_HEADER_SIZE);
	g_assert_cmpuint(len, <=, PL_RELIABLE_LINK_MAX_PACKET);
	g_assert_cmpuint(data[0], ==, WIRE_VERSION);
	/* every datagram has a new packet number, a retransmission too */
	pn = get_u64(data + 8);
	g_assert_cmpuint(pn, >, side->last_pn);
	side->last_pn = pn;
	memcpy(side->last_packet, data, len);
	side->last_packet_len = len;
	side->packets_out++;
	wire_carry(side->pair, side->peer, data, len);
	return TRUE;
}

static void
link_opened_cb(gpointer user_data)
{
	Side *side = user_data;

	if (side->n_opened++ == 0)
		side->packets_in_at_open = side->packets_in;
	app_write(side);
}

static void
link_readable_cb(gpointer user_data)
{
	app_read(user_data);
}

static void
link_writable_cb(gpointer user_data)
{
	app_write(user_data);
}

static void
link_closed_cb(gint error, gpointer user_data)
{
	Side *side = user_data;
	guint64 received = side->received;
	gboolean eof = side->eof;

	side->n_closed++;
	side->close_error = error;
	if (error != 0)
		return;
	/* what arrived before an orderly close is there to read; "readable"
	 * should have said so */
	app_read(side);
	side->unannounced = side->received - received + (side->eof && !eof ? 1 : 0);
}

static const PlReliableLinkCallbacks link_callbacks = {
        .send_packet = link_send_packet_cb,
        .opened = link_opened_cb,
        .readable = link_readable_cb,
        .writable = link_writable_cb,
        .closed = link_closed_cb,
};

/* a pair of links and the wire between them */

static void
side_init(Side *side, Pair *pair, Side *peer, const gchar *name, guint32 stream)
{
	side->pair = pair;
	side->peer = peer;
	side->name = name;
	side->stream = stream;
	side->reading = TRUE;
	g_queue_init(&side->inbound);
	side->delivery = g_source_new(&wire_source_funcs, sizeof(GSource));
	g_source_set_callback(side->delivery, wire_deliver_cb, side, NULL);
	g_source_set_ready_time(side->delivery, -1);
	g_source_attach(side->delivery, NULL);
	side->link = pl_reliable_link_new(CONVERSATION, BUFFER_SIZE, &link_callbacks, side);
}

static void
side_clear(Side *side)
{
	g_clear_pointer(&side->link, pl_reliable_link_free);
	g_source_destroy(side->delivery);
	g_clear_pointer(&side->delivery, g_source_unref);
	g_queue_clear_full(&side->inbound, g_free);
}

static Pair *
pair_new(const WireConfig *wire)
{
	Pair *pair = g_new0(Pair, 1);

	pair->wire = *wire;
	pair->rand = g_rand_new_with_seed(wire->seed);
	g_test_message("wire: seed %u, %.0f %% lost, %.0f %% twice, %.0f %% up to %u ms late, "
	               "%u ms one way",
	               wire->seed, wire->drop * 100, wire->duplicate * 100, wire->reorder * 100,
	               wire->late_ms, wire->delay_ms);
	side_init(&pair->a, pair, &pair->b, "A", 0xa);
	side_init(&pair->b, pair, &pair->a, "B", 0xb);
	return pair;
}

static void
pair_free(Pair *pair)
{
	g_clear_handle_id(&pair->case_timer, g_source_remove);
	side_clear(&pair->a);
	side_clear(&pair->b);
	/* a source the links left behind would run on freed memory here */
	while (g_main_context_iteration(NULL, FALSE))
		;
	g_rand_free(pair->rand);
	g_free(pair);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Pair, pair_free)

static gboolean
set_flag_cb(gpointer user_data)
{
	*(gboolean *)user_data = TRUE;
	return G_SOURCE_REMOVE;
}

/* runs the main context for a while, whatever happens */
static void
run_for(gint64 duration_us)
{
	gboolean done = FALSE;

	g_timeout_add((guint)(duration_us / MS), set_flag_cb, &done);
	while (!done)
		g_main_context_iteration(NULL, TRUE);
}

static void
pair_open(Pair *pair)
{
	pl_reliable_link_connect(pair->a.link);
	PL_TEST_WAIT_UNTIL(pair->a.n_opened > 0 && pair->b.n_opened > 0, 10 * S);
}

static void
print_stats(Side *side)
{
	PlReliableLinkStats stats;

	pl_reliable_link_get_stats(side->link, &stats);
	g_test_message("%s: %" G_GUINT64_FORMAT " packets sent, %" G_GUINT64_FORMAT
	               " received, %" G_GUINT64_FORMAT " lost, %" G_GUINT64_FORMAT
	               " probes, %" G_GUINT64_FORMAT " bytes again, srtt %" G_GINT64_FORMAT
	               " us, cwnd %" G_GSIZE_FORMAT,
	               side->name, stats.packets_sent, stats.packets_received, stats.packets_lost,
	               stats.probes, stats.bytes_retransmitted, stats.srtt_us, stats.cwnd);
	/* what the link counts is what went through the wire's hands */
	g_assert_cmpuint(stats.packets_sent, ==, side->packets_out);
	g_assert_cmpuint(stats.packets_received, <=, side->packets_in);
}

/* both links reported "closed"; on a timeout, says how far each side got */
static void
pair_wait_closed(Pair *pair, gint64 limit_us)
{
	Side *sides[] = {&pair->a, &pair->b};
	gint64 deadline = now_us() + limit_us;
	guint tick = g_timeout_add(10, pl_test_wake_cb, NULL);

	while ((pair->a.n_closed == 0 || pair->b.n_closed == 0) && now_us() < deadline)
		g_main_context_iteration(NULL, TRUE);
	g_source_remove(tick);
	if (pair->a.n_closed > 0 && pair->b.n_closed > 0)
		return;
	for (guint i = 0; i < G_N_ELEMENTS(sides); i++) {
		Side *side = sides[i];

		g_test_message("%s after %.1f s: sent %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
		               ", received %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
		               ", eof %d, closed %u (%s)",
		               side->name, limit_us / 1e6, side->sent, side->to_send,
		               side->received, side->peer->to_send, side->eof, side->n_closed,
		               g_strerror(side->close_error));
		print_stats(side);
	}
	g_assert_cmpuint(pair->a.n_closed, >, 0);
	g_assert_cmpuint(pair->b.n_closed, >, 0);
}

/* every byte arrived both ways and both links closed in order */
static void
assert_orderly_end(Pair *pair)
{
	Side *sides[] = {&pair->a, &pair->b};

	for (guint i = 0; i < G_N_ELEMENTS(sides); i++) {
		Side *side = sides[i];
		guint8 byte;

		g_assert_cmpint(side->write_error, ==, 0);
		g_assert_cmpint(side->read_error, ==, 0);
		g_assert_cmpuint(side->sent, ==, side->to_send);
		g_assert_cmpuint(side->received, ==, side->peer->to_send);
		g_assert_true(side->eof);
		g_assert_cmpuint(side->n_closed, ==, 1);
		g_assert_cmpint(side->close_error, ==, 0);
		g_assert_false(pl_reliable_link_is_open(side->link));
		/* the end of the stream stays the end */
		g_assert_cmpint(pl_reliable_link_recv(side->link, &byte, 1), ==, 0);
	}
	for (guint i = 0; i < G_N_ELEMENTS(sides); i++) {
		if (sides[i]->unannounced > 0)
			g_test_message("%s: \"readable\" never came for the last %" G_GUINT64_FORMAT
			               " bytes (FIN included) before \"closed\"",
			               sides[i]->name, sides[i]->unannounced);
		g_assert_cmpuint(sides[i]->unannounced, ==, 0);
	}
}

/* 1. handshake */

static void
test_handshake(void)
{
	WireConfig wire = {.seed = 1, .delay_ms = 5};
	g_autoptr(Pair) pair = pair_new(&wire);

	/* the hello is lost for a while: it is repeated until answered */
	wire_set_outage(pair, TRUE);
	pl_reliable_link_connect(pair->a.link);
	run_for(300 * MS);
	g_assert_cmpuint(pair->a.packets_out, >=, 1);
	g_assert_cmpuint(pair->a.n_opened, ==, 0);
	g_assert_cmpuint(pair->b.n_opened, ==, 0);
	/* the passive side has nothing to say before it heard anything */
	g_assert_cmpuint(pair->b.packets_out, ==, 0);

	wire_set_outage(pair, FALSE);
	PL_TEST_WAIT_UNTIL(pair->a.n_opened > 0 && pair->b.n_opened > 0, 10 * S);
	/* each side opened on a packet of the other, not before */
	g_assert_cmpuint(pair->b.packets_in_at_open, >=, 1);
	g_assert_cmpuint(pair->a.packets_in_at_open, >=, 1);
	g_assert_true(pl_reliable_link_is_open(pair->a.link));
	g_assert_true(pl_reliable_link_is_open(pair->b.link));

	/* late hellos and their answers do not open anything twice */
	run_for(500 * MS);
	g_assert_cmpuint(pair->a.n_opened, ==, 1);
	g_assert_cmpuint(pair->b.n_opened, ==, 1);
	g_assert_cmpuint(pair->a.n_closed + pair->b.n_closed, ==, 0);
}

/* 2, 3, 4: transfers that end with an orderly close */

typedef struct {
	const gchar *path;
	WireConfig wire;
	guint64 a_to_b;
	guint64 b_to_a;
	gint64 limit_us; /* open to closed */
} TransferCase;

static const TransferCase transfer_cases[] = {
        {"/peerlink/reliable-link/transfer/clean", {.seed = 2, .delay_ms = 2}, 4 * MIB, 0, 30 * S},
        {"/peerlink/reliable-link/transfer/loss-5",
         {.seed = 3, .drop = 0.05, .delay_ms = 2},
         2 * MIB,
         0,
         60 * S},
        {"/peerlink/reliable-link/transfer/loss-20-reordered-duplicated",
         {.seed = 4,
          .drop = 0.20,
          .duplicate = 0.05,
          .reorder = 0.10,
          .delay_ms = 3,
          .late_ms = 20},
         1 * MIB,
         0,
         90 * S},
        {"/peerlink/reliable-link/transfer/both-ways",
         {.seed = 5, .drop = 0.02, .delay_ms = 2},
         3 * MIB / 2,
         3 * MIB / 2,
         60 * S},
};

static void
test_transfer(gconstpointer user_data)
{
	const TransferCase *tc = user_data;
	g_autoptr(Pair) pair = pair_new(&tc->wire);
	gint64 start = now_us();

	pair->a.to_send = tc->a_to_b;
	pair->b.to_send = tc->b_to_a;
	/* a side with nothing to send closes once it read the peer's FIN; the
	 * others close when their last byte is queued (a half close) */
	pair->a.close_when_sent = TRUE;
	pair->a.close_after_eof = tc->a_to_b == 0;
	pair->b.close_when_sent = TRUE;
	pair->b.close_after_eof = tc->b_to_a == 0;
	pair_open(pair);
	pair_wait_closed(pair, tc->limit_us);
	g_test_message("%" G_GUINT64_FORMAT " + %" G_GUINT64_FORMAT " bytes in %.2f s", tc->a_to_b,
	               tc->b_to_a, (now_us() - start) / 1e6);
	print_stats(&pair->a);
	print_stats(&pair->b);
	assert_orderly_end(pair);

	/* nothing more comes after the end */
	run_for(200 * MS);
	g_assert_cmpuint(pair->a.n_closed, ==, 1);
	g_assert_cmpuint(pair->b.n_closed, ==, 1);
	if (tc->wire.drop > 0) {
		PlReliableLinkStats stats;

		pl_reliable_link_get_stats(pair->a.link, &stats);
		g_assert_cmpuint(stats.packets_lost, >, 0);
		g_assert_cmpint(stats.srtt_us, >, 0);
	}
}

/* the close survives the loss of the last packets: B's FIN and what follows */

static gboolean
light_toward_a_cb(gpointer user_data)
{
	Pair *pair = user_data;

	pair->case_timer = 0;
	pair->a.dark = FALSE;
	return G_SOURCE_REMOVE;
}

static void
darken_toward_a(Pair *pair, Side *side)
{
	if (side != &pair->b)
		return;
	pair->a.dark = TRUE;
	pair->case_timer = g_timeout_add(500, light_toward_a_cb, pair);
}

static void
test_close_last_lost(void)
{
	WireConfig wire = {.seed = 11, .delay_ms = 2};
	g_autoptr(Pair) pair = pair_new(&wire);

	pair->on_closing = darken_toward_a;
	pair->a.to_send = 256 * KIB;
	pair->a.close_when_sent = TRUE;
	pair->b.close_when_sent = TRUE;
	pair->b.close_after_eof = TRUE;
	pair_open(pair);
	/* A probes its FIN at least every 2 s: B must still answer it */
	pair_wait_closed(pair, 10 * S);
	print_stats(&pair->a);
	assert_orderly_end(pair);
}

/* 5. flow control */

static void
test_flow_control(void)
{
	WireConfig wire = {.seed = 6, .delay_ms = 2};
	g_autoptr(Pair) pair = pair_new(&wire);
	guint64 held;

	pair->a.to_send = 2 * MIB;
	pair->a.close_when_sent = TRUE;
	pair->b.close_when_sent = TRUE;
	pair->b.close_after_eof = TRUE;
	pair->b.reading = FALSE;
	pair_open(pair);

	/* B's app reads nothing: A fills B's window and its own buffer, then blocks */
	PL_TEST_WAIT_UNTIL(pair->a.blocked && pair->a.sent >= BUFFER_SIZE, 10 * S);
	run_for(3 * S);
	held = pair->a.sent;
	g_test_message("A queued %" G_GUINT64_FORMAT " bytes while B read none", held);
	g_assert_true(pair->a.blocked);
	g_assert_cmpuint(pair->b.received, ==, 0);
	/* B's receive buffer and A's send buffer, each bounded by buffer_size */
	g_assert_cmpuint(held, <=, 2 * BUFFER_SIZE + 2 * PL_RELIABLE_LINK_MAX_PACKET);
	g_assert_cmpuint(pair->a.n_closed + pair->b.n_closed, ==, 0);
	/* and stays there: the link takes nothing more, and gives nothing up */
	run_for(1 * S);
	g_assert_cmpuint(pair->a.sent, ==, held);

	/* B's app reads again (it was told "readable" long ago) */
	pair->b.reading = TRUE;
	app_read(&pair->b);
	pair_wait_closed(pair, 30 * S);
	print_stats(&pair->a);
	assert_orderly_end(pair);
}

/* 6. outage */

typedef struct {
	guint64 start_after; /* bytes at B before the wire goes dark */
	gint64 outage_us;
	gint64 ended_at; /* 0 until the wire is back */
	guint64 received_at_end;
	gint64 resumed_at; /* the first new byte at B after the outage */
} OutageCase;

static gboolean
outage_end_cb(gpointer user_data)
{
	Pair *pair = user_data;
	OutageCase *oc = pair->case_data;

	pair->case_timer = 0;
	wire_set_outage(pair, FALSE);
	oc->ended_at = now_us();
	oc->received_at_end = pair->b.received;
	/* as the session does once an ICE restart found a new path */
	pl_reliable_link_path_changed(pair->a.link);
	pl_reliable_link_path_changed(pair->b.link);
	return G_SOURCE_REMOVE;
}

static void
outage_progress(Pair *pair, Side *side)
{
	OutageCase *oc = pair->case_data;

	if (side != &pair->b)
		return;
	if (oc->ended_at == 0 && !side->dark && side->received >= oc->start_after) {
		g_test_message("the wire goes dark at %" G_GUINT64_FORMAT " bytes", side->received);
		wire_set_outage(pair, TRUE);
		pair->case_timer = g_timeout_add((guint)(oc->outage_us / MS), outage_end_cb, pair);
	} else if (oc->ended_at != 0 && oc->resumed_at == 0 &&
	           side->received > oc->received_at_end) {
		oc->resumed_at = now_us();
	}
}

static void
test_outage(void)
{
	WireConfig wire = {.seed = 7, .drop = 0.01, .delay_ms = 3};
	OutageCase oc = {.start_after = 512 * KIB, .outage_us = 3 * S};
	g_autoptr(Pair) pair = pair_new(&wire);

	pair->case_data = &oc;
	pair->on_progress = outage_progress;
	pair->a.to_send = 3 * MIB;
	pair->a.close_when_sent = TRUE;
	pair->b.close_when_sent = TRUE;
	pair->b.close_after_eof = TRUE;
	pair_open(pair);
	PL_TEST_WAIT_UNTIL(oc.resumed_at != 0 || pair->b.n_closed > 0, 30 * S);
	g_assert_cmpint(oc.ended_at, >, 0);
	g_assert_cmpint(oc.resumed_at, >, 0);
	g_test_message("the stream resumed %.3f s after the wire came back",
	               (oc.resumed_at - oc.ended_at) / 1e6);
	/* path_changed probes at once: within a round trip or so, 1 s at most */
	g_assert_cmpint(oc.resumed_at - oc.ended_at, <, 2500 * MS);
	g_assert_cmpuint(pair->a.n_closed + pair->b.n_closed, ==, 0);

	pair_wait_closed(pair, 30 * S);
	print_stats(&pair->a);
	assert_orderly_end(pair);
}

/* 7. abort */

static void
test_abort(void)
{
	WireConfig wire = {.seed = 8, .delay_ms = 2};
	g_autoptr(Pair) pair = pair_new(&wire);
	guint8 byte = 0;

	pair->a.to_send = 2 * MIB;
	pair_open(pair);
	PL_TEST_WAIT_UNTIL(pair->b.received >= 128 * KIB, 10 * S);

	pl_reliable_link_abort(pair->a.link);
	pair->a.to_send = pair->a.sent; /* the app stops writing */
	PL_TEST_WAIT_UNTIL(pair->b.n_closed > 0, 5 * S);
	g_assert_cmpint(pair->b.close_error, ==, ECONNRESET);
	g_assert_false(pl_reliable_link_is_open(pair->b.link));
	g_assert_false(pl_reliable_link_is_open(pair->a.link));
	/* the aborted link takes nothing more */
	g_assert_cmpint(pl_reliable_link_send(pair->a.link, &byte, 1), ==, -1);

	run_for(500 * MS);
	g_assert_cmpuint(pair->a.n_closed, ==, 0);
	g_assert_cmpuint(pair->b.n_closed, ==, 1);
	g_assert_false(pair->b.eof); /* a reset is not an end of stream */
}

/* 8. garbage */

typedef enum {
	GARBAGE_RANDOM,       /* random bytes of a random length */
	GARBAGE_SHORT,        /* a real header cut short, in its SACK blocks or before */
	GARBAGE_VERSION,      /* a real packet of another version */
	GARBAGE_CONVERSATION, /* a real packet of another conversation */
	GARBAGE_BLOCKS,       /* more SACK blocks than allowed, or than the datagram holds */
	GARBAGE_PN_ZERO,      /* packet numbers start at 1 */
	GARBAGE_ACK,          /* an ack of bytes never sent */
	/* refused up to here: nothing of the above opens a link */
	GARBAGE_N_REFUSED,
	/* an ack of a packet number never sent: the field is ignored, not the
	 * packet (a peer fooled by a forged number must still be heard) */
	GARBAGE_LARGEST = GARBAGE_N_REFUSED,
	GARBAGE_SACK,     /* blocks backwards, empty, beyond what was sent */
	GARBAGE_WINDOW,   /* a window of 0 or 2^64 - 1 */
	GARBAGE_DELAY,    /* the longest ack delay */
	GARBAGE_FAR_DATA, /* data far beyond the window, its end past 2^64 */
	GARBAGE_N_HARMLESS,
	/* well-formed, with an absurd value the link must not believe */
	GARBAGE_FUTURE_PN = GARBAGE_N_HARMLESS, /* a packet number far ahead */
	GARBAGE_FAR_FIN,                        /* a FIN far beyond the window */
} GarbageKind;

/* a datagram toward to, made of the peer's newest real packet or a header
 * that would pass; nothing in it may change the stream */
static gsize
garbage_make(const Side *to, GRand *rand, GarbageKind kind, guint8 *buf, gsize size)
{
	const Side *from = to->peer;
	WireHeader header = {
	        .version = WIRE_VERSION,
	        .conversation = CONVERSATION,
	        .pn = MAX(from->last_pn, 1),
	        .flags = WIRE_FLAG_PING,
	};
	gsize len;

	g_assert_cmpuint(size, >=, PL_RELIABLE_LINK_MAX_PACKET + 256);
	if (from->last_packet_len > 0) {
		len = from->last_packet_len;
		memcpy(buf, from->last_packet, len);
	} else {
		len = wire_header_write(&header, buf);
	}
	switch (kind) {
	case GARBAGE_RANDOM:
		len = (gsize)g_rand_int_range(rand, 0, PL_RELIABLE_LINK_MAX_PACKET + 256);
		for (gsize i = 0; i < len; i++)
			buf[i] = (guint8)g_rand_int(rand);
		return len;
	case GARBAGE_SHORT:
		return (gsize)g_rand_int_range(rand, 0,
		                               WIRE_HEADER_SIZE + buf[2] * WIRE_BLOCK_SIZE);
	case GARBAGE_VERSION:
		buf[0] = (guint8)g_rand_int_range(rand, WIRE_VERSION + 1, 256);
		return len;
	case GARBAGE_CONVERSATION:
		put_u32(buf + 4, CONVERSATION + (guint32)g_rand_int_range(rand, 1, 1000));
		return len;
	case GARBAGE_BLOCKS:
		header.n_blocks = (guint8)g_rand_int_range(rand, 1, 256);
		len = wire_header_write(&header, buf);
		if (header.n_blocks <= WIRE_MAX_BLOCKS)
			len += (header.n_blocks - 1) * WIRE_BLOCK_SIZE; /* one short */
		memset(buf + WIRE_HEADER_SIZE, 0, len - WIRE_HEADER_SIZE);
		return len;
	case GARBAGE_PN_ZERO:
		header.pn = 0;
		break;
	case GARBAGE_ACK:
		header.ack = g_rand_boolean(rand) ? G_MAXUINT64 : G_GUINT64_CONSTANT(1) << 40;
		break;
	case GARBAGE_LARGEST:
		header.largest = g_rand_boolean(rand) ? G_MAXUINT64 : to->last_pn + 1000000;
		break;
	case GARBAGE_SACK: {
		static const guint32 blocks[][2] = {{0xfffffff0, 0xffffffff}, {100, 50}, {7, 7}};

		header.flags = 0;
		header.n_blocks = G_N_ELEMENTS(blocks);
		len = wire_header_write(&header, buf);
		for (guint i = 0; i < G_N_ELEMENTS(blocks); i++) {
			put_u32(buf + len, blocks[i][0]);
			put_u32(buf + len + 4, blocks[i][1]);
			len += WIRE_BLOCK_SIZE;
		}
		return len;
	}
	case GARBAGE_WINDOW:
		header.flags = 0;
		header.window = g_rand_boolean(rand) ? 0 : G_MAXUINT64;
		break;
	case GARBAGE_DELAY:
		header.flags = 0;
		header.largest = to->last_pn;
		header.ack_delay = G_MAXUINT32;
		break;
	case GARBAGE_FAR_DATA:
		header.flags = 0;
		header.offset =
		        g_rand_boolean(rand) ? G_MAXUINT64 - 10 : G_GUINT64_CONSTANT(1) << 62;
		len = wire_header_write(&header, buf);
		memset(buf + len, 0x55, 100);
		return len + 100;
	case GARBAGE_FUTURE_PN:
		header.pn = G_GUINT64_CONSTANT(1) << 62;
		break;
	case GARBAGE_FAR_FIN:
		header.flags = WIRE_FLAG_FIN;
		header.offset = G_GUINT64_CONSTANT(1) << 62;
		break;
	default:
		g_assert_not_reached();
	}
	return wire_header_write(&header, buf);
}

static void
garbage_inject(Side *to, GRand *rand, GarbageKind kind)
{
	guint8 buf[PL_RELIABLE_LINK_MAX_PACKET + 256];
	gsize len = garbage_make(to, rand, kind, buf, sizeof(buf));

	to->packets_in++;
	to->n_garbage++;
	pl_reliable_link_receive_packet(to->link, buf, len);
}

typedef struct {
	Pair *pair;
	GRand *rand;
} GarbageSource;

/* a few datagrams of harmless garbage toward either side, every few ms */
static gboolean
garbage_tick_cb(gpointer user_data)
{
	GarbageSource *garbage = user_data;

	for (guint i = 0; i < 4; i++) {
		Side *to = g_rand_boolean(garbage->rand) ? &garbage->pair->a : &garbage->pair->b;
		garbage_inject(to, garbage->rand,
		               g_rand_int_range(garbage->rand, 0, GARBAGE_N_HARMLESS));
	}
	return G_SOURCE_CONTINUE;
}

static void
test_garbage(void)
{
	WireConfig wire = {.seed = 9, .drop = 0.02, .delay_ms = 2};
	g_autoptr(Pair) pair = pair_new(&wire);
	g_autoptr(GRand) rand = g_rand_new_with_seed(90);
	GarbageSource garbage = {pair, rand};

	/* before the hello: none of it opens B or makes it speak */
	for (GarbageKind kind = 0; kind < GARBAGE_N_REFUSED; kind++) {
		for (guint i = 0; i < 50; i++)
			garbage_inject(&pair->b, rand, kind);
	}
	run_for(50 * MS);
	g_assert_cmpuint(pair->b.n_opened, ==, 0);
	g_assert_cmpuint(pair->b.packets_out, ==, 0);

	/* during a transfer both ways, toward both sides */
	pair->a.to_send = 1 * MIB;
	pair->b.to_send = 256 * KIB;
	pair->a.close_when_sent = TRUE;
	pair->b.close_when_sent = TRUE;
	pair->case_timer = g_timeout_add(5, garbage_tick_cb, &garbage);
	pair_open(pair);
	pair_wait_closed(pair, 60 * S);
	g_test_message("%" G_GUINT64_FORMAT " datagrams of garbage to A, %" G_GUINT64_FORMAT
	               " to B",
	               pair->a.n_garbage, pair->b.n_garbage);
	print_stats(&pair->a);
	print_stats(&pair->b);
	assert_orderly_end(pair);
}

/* one well-formed datagram with an absurd value, once B has some of the stream */

static void
forged_progress(Pair *pair, Side *side)
{
	const GarbageKind *kind = pair->case_data;

	if (side == &pair->b && side->n_garbage == 0 && side->received >= 128 * KIB) {
		g_autoptr(GRand) rand = g_rand_new_with_seed(91);

		garbage_inject(side, rand, *kind);
	}
}

typedef struct {
	const gchar *path;
	GarbageKind kind;
} ForgedCase;

static const ForgedCase forged_cases[] = {
        {"/peerlink/reliable-link/garbage/future-packet-number", GARBAGE_FUTURE_PN},
        {"/peerlink/reliable-link/garbage/fin-beyond-window", GARBAGE_FAR_FIN},
};

static void
test_forged(gconstpointer user_data)
{
	const ForgedCase *fc = user_data;
	WireConfig wire = {.seed = 12, .delay_ms = 2};
	g_autoptr(Pair) pair = pair_new(&wire);

	pair->case_data = (gpointer)&fc->kind;
	pair->on_progress = forged_progress;
	pair->a.to_send = 1 * MIB;
	pair->a.close_when_sent = TRUE;
	pair->b.close_when_sent = TRUE;
	pair->b.close_after_eof = TRUE;
	pair_open(pair);
	pair_wait_closed(pair, 20 * S);
	g_assert_cmpuint(pair->b.n_garbage, ==, 1);
	assert_orderly_end(pair);
}

/* 9. nothing heard */

static void
test_silence(void)
{
	WireConfig wire = {.seed = 10, .delay_ms = 2};
	g_autoptr(Pair) pair = pair_new(&wire);
	gint64 last_out_at;
	guint64 sent_before;
	gint64 longest_gap = 0;
	gint64 start;

	pair_open(pair);
	/* the wire goes dark for good, then A's app writes: a first flight leaves */
	wire_set_outage(pair, TRUE);
	pair->a.to_send = 64 * KIB;
	app_write(&pair->a);
	g_assert_cmpuint(pair->a.sent, ==, 64 * KIB);
	g_test_message("first flight: %" G_GUINT64_FORMAT " packets", pair->a.packets_out);
	sent_before = pair->a.packets_out;

	/* then A probes, backing off to 2 s between probes: about a dozen in 10 s */
	start = last_out_at = now_us();
	while (now_us() - start < 10 * S) {
		guint64 before = pair->a.packets_out;

		g_main_context_iteration(NULL, TRUE);
		if (pair->a.packets_out != before) {
			longest_gap = MAX(longest_gap, now_us() - last_out_at);
			last_out_at = now_us();
		}
	}
	print_stats(&pair->a);
	g_test_message("then %" G_GUINT64_FORMAT
	               " packets in 10 s of silence, at most %.2f s apart",
	               pair->a.packets_out - sent_before, longest_gap / 1e6);
	g_assert_cmpuint(pair->a.packets_out - sent_before, <=, 20);
	/* the probe timeout is capped at 2 s: A keeps trying */
	g_assert_cmpint(longest_gap, <=, 2500 * MS);
	/* and gives up only after about 60 s */
	g_assert_cmpuint(pair->a.n_closed, ==, 0);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerlink/reliable-link/handshake", test_handshake);
	for (guint i = 0; i < G_N_ELEMENTS(transfer_cases); i++)
		g_test_add_data_func(transfer_cases[i].path, &transfer_cases[i], test_transfer);
	g_test_add_func("/peerlink/reliable-link/close-last-packets-lost", test_close_last_lost);
	g_test_add_func("/peerlink/reliable-link/flow-control", test_flow_control);
	g_test_add_func("/peerlink/reliable-link/outage", test_outage);
	g_test_add_func("/peerlink/reliable-link/abort", test_abort);
	g_test_add_func("/peerlink/reliable-link/garbage", test_garbage);
	for (guint i = 0; i < G_N_ELEMENTS(forged_cases); i++)
		g_test_add_data_func(forged_cases[i].path, &forged_cases[i], test_forged);
	g_test_add_func("/peerlink/reliable-link/silence", test_silence);
	return g_test_run();
}
