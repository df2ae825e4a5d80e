/*
 * The reliable link's datagrams (pl_reliable_link_receive_packet()), the
 * only input of the link that comes from the network. The input is a mode
 * byte, then datagrams, each a length byte and that many bytes (a last one
 * cut short is sent as it is).
 *
 * Mode bit 0 clear: the link is the active side and has already opened, sent
 * a flight of data, had part of it acknowledged (with a SACK block and a
 * packet waiting for the loss timer) and received data from its peer beyond
 * a gap, so acks, SACK blocks, windows, FINs and data all meet real state.
 * The peer's packets in that setup are numbered 1 to 4; the conversation is
 * 0x7e570001 (fuzz/make-reliable-link-corpus.py writes such datagrams).
 * Set: a passive link that has heard nothing yet.
 * Bit 1: the path changes after the datagrams; bit 2: the app closed before
 * them (its FIN waits behind the data); bit 3: the app aborts at the end.
 *
 * Besides no crash, leak or warning: recv and send keep their promises, the
 * stream ends at most once, "closed" comes at most once and never after an
 * abort, every datagram the link sends is well-formed and has a packet
 * number it never used before.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "pl-fuzz.h"
#include "pl-reliable-link.h"

#define CONVERSATION 0x7e570001u
#define BUFFER_SIZE  (64 * 1024)
#define HEADER_SIZE  52
#define MSS          (PL_RELIABLE_LINK_MAX_PACKET - HEADER_SIZE)

#define MODE_PASSIVE      0x01
#define MODE_PATH_CHANGED 0x02
#define MODE_CLOSE        0x04
#define MODE_ABORT        0x08

typedef struct {
	PlReliableLink *link;
	guint64 packets_out;
	guint64 last_pn;
	guint n_opened;
	guint n_closed;
	gboolean aborted;
	gboolean eof;
	guint64 received;
} PlFuzzLink;

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

static guint64
get_u64(const guint8 *p)
{
	guint64 value;

	memcpy(&value, p, sizeof(value));
	return GUINT64_FROM_BE(value);
}

static gboolean
pl_fuzz_send_packet(const guint8 *data, gsize len, gpointer user_data)
{
	PlFuzzLink *fuzz = user_data;
	guint64 pn;

	g_assert_cmpuint(len, >=, HEADER_SIZE);
	g_assert_cmpuint(len, <=, PL_RELIABLE_LINK_MAX_PACKET);
	g_assert_cmpuint(data[0], ==, 1);
	g_assert_cmpuint(data[2], <=, 16);
	g_assert_cmpuint(len, >=, HEADER_SIZE + data[2] * 8u);
	pn = get_u64(data + 8);
	g_assert_cmpuint(pn, >, fuzz->last_pn);
	fuzz->last_pn = pn;
	fuzz->packets_out++;
	return TRUE;
}

static void
pl_fuzz_opened(gpointer user_data)
{
	PlFuzzLink *fuzz = user_data;

	fuzz->n_opened++;
	g_assert_cmpuint(fuzz->n_opened, ==, 1);
}

/* recv until it would block, as the session does */
static void
pl_fuzz_readable(gpointer user_data)
{
	PlFuzzLink *fuzz = user_data;
	guint8 buf[4096];

	for (;;) {
		gssize n = pl_reliable_link_recv(fuzz->link, buf, sizeof(buf));

		if (n < 0) {
			g_assert_cmpint(errno, !=, 0);
			return;
		}
		g_assert_cmpint(n, <=, (gssize)sizeof(buf));
		if (n == 0) {
			fuzz->eof = TRUE;
			return;
		}
		/* no byte after the end of the stream */
		g_assert_false(fuzz->eof);
		fuzz->received += (guint64)n;
	}
}

static void
pl_fuzz_writable(gpointer user_data)
{
}

static void
pl_fuzz_closed(gint error, gpointer user_data)
{
	PlFuzzLink *fuzz = user_data;

	g_assert_false(fuzz->aborted);
	fuzz->n_closed++;
	g_assert_cmpuint(fuzz->n_closed, ==, 1);
	g_assert_true(error == 0 || error == ECONNRESET || error == ETIMEDOUT);
}

static const PlReliableLinkCallbacks pl_fuzz_callbacks = {
        .send_packet = pl_fuzz_send_packet,
        .opened = pl_fuzz_opened,
        .readable = pl_fuzz_readable,
        .writable = pl_fuzz_writable,
        .closed = pl_fuzz_closed,
};

/* the idle acks and whatever timers are due; never waits */
static void
pl_fuzz_run_pending(void)
{
	for (guint i = 0; i < 64 && g_main_context_iteration(NULL, FALSE); i++)
		;
}

/* a packet of the peer's, in the format of session/pl-reliable-link.c */
static void
pl_fuzz_peer_packet(PlFuzzLink *fuzz,
                    guint64 pn,
                    guint64 ack,
                    guint64 largest,
                    guint64 offset,
                    const guint32 *block,
                    gsize payload_len)
{
	guint8 packet[PL_RELIABLE_LINK_MAX_PACKET] = {1, 0, block != NULL ? 1 : 0, 0};
	gsize len = HEADER_SIZE;

	put_u32(packet + 4, CONVERSATION);
	put_u64(packet + 8, pn);
	put_u64(packet + 16, ack);
	put_u64(packet + 24, BUFFER_SIZE);
	put_u64(packet + 32, largest);
	put_u32(packet + 40, 100);
	put_u64(packet + 44, offset);
	if (block != NULL) {
		put_u32(packet + len, block[0]);
		put_u32(packet + len + 4, block[1]);
		len += 8;
	}
	memset(packet + len, 'p', payload_len);
	pl_reliable_link_receive_packet(fuzz->link, packet, len + payload_len);
}

/* the active side, opened, with data in flight, acknowledged in part */
static void
pl_fuzz_setup_sender(PlFuzzLink *fuzz)
{
	static const guint8 data[16 * 1024];
	static const guint32 sack[] = {MSS, 2 * MSS}; /* its 4th data packet, after the ack */
	gssize n;

	pl_reliable_link_connect(fuzz->link);
	g_assert_cmpuint(fuzz->last_pn, ==, 1); /* the hello */
	/* the answer to the hello: the link opens */
	pl_fuzz_peer_packet(fuzz, 1, 0, 1, 0, NULL, 0);
	g_assert_cmpuint(fuzz->n_opened, ==, 1);
	/* a first flight: the initial window, 10 packets numbered 2 to 11 */
	n = pl_reliable_link_send(fuzz->link, data, sizeof(data));
	g_assert_cmpint(n, ==, sizeof(data));
	/* data from the peer, in order and then beyond a gap */
	pl_fuzz_peer_packet(fuzz, 2, 0, 1, 0, NULL, 500);
	pl_fuzz_peer_packet(fuzz, 3, 0, 1, 1000, NULL, 500);
	/* the first two data packets acknowledged, the 4th by a SACK block */
	pl_fuzz_peer_packet(fuzz, 4, 2 * MSS, 5, 0, sack, 0);
	pl_fuzz_run_pending();
	g_assert_cmpuint(fuzz->received, ==, 500);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	PlFuzzLink fuzz = {0};
	PlReliableLinkStats stats;
	guint8 mode = size > 0 ? data[0] : 0;
	static const guint8 more[4096];
	guint8 byte;
	gsize pos = 1;

	fuzz.link = pl_reliable_link_new(CONVERSATION, BUFFER_SIZE, &pl_fuzz_callbacks, &fuzz);
	if ((mode & MODE_PASSIVE) == 0)
		pl_fuzz_setup_sender(&fuzz);

	if (mode & MODE_CLOSE)
		pl_reliable_link_close(fuzz.link);
	while (pos < size) {
		gsize len = MIN(data[pos], size - pos - 1);

		/* the acks of the last datagrams and their callbacks wait: what
		 * the app does next meets them pending */
		if (pos > 1)
			pl_fuzz_run_pending();
		pl_reliable_link_receive_packet(fuzz.link, data + pos + 1, len);
		pos += 1 + len;
	}

	if (mode & MODE_PATH_CHANGED)
		pl_reliable_link_path_changed(fuzz.link);
	/* the app goes on: writes, reads, ends */
	if (pl_reliable_link_send(fuzz.link, more, sizeof(more)) < 0)
		g_assert_cmpint(errno, !=, 0);
	pl_fuzz_readable(&fuzz);
	if (mode & MODE_ABORT) {
		pl_reliable_link_abort(fuzz.link);
		fuzz.aborted = fuzz.n_closed == 0;
		g_assert_false(pl_reliable_link_is_open(fuzz.link));
	}
	pl_fuzz_run_pending();
	if (fuzz.eof)
		g_assert_cmpint(pl_reliable_link_recv(fuzz.link, &byte, 1), ==, 0);

	pl_reliable_link_get_stats(fuzz.link, &stats);
	if (g_getenv("PL_FUZZ_VERBOSE") != NULL) {
		g_autofree gchar *what = g_strdup_printf(
		        "opened %u, %" G_GUINT64_FORMAT
		        " bytes read, eof %d, closed %u, %" G_GUINT64_FORMAT
		        " packets in, %" G_GUINT64_FORMAT " out, %" G_GUINT64_FORMAT " lost",
		        fuzz.n_opened, fuzz.received, fuzz.eof, fuzz.n_closed,
		        stats.packets_received, stats.packets_sent, stats.packets_lost);
		pl_fuzz_note(what, NULL);
	}
	g_assert_cmpuint(stats.packets_sent, ==, fuzz.packets_out);
	g_assert_cmpint(stats.srtt_us, >=, 0);
	g_assert_cmpuint(stats.cwnd, >, 0);
	pl_reliable_link_free(fuzz.link);
	/* nothing of the link's may run after it is gone */
	pl_fuzz_run_pending();
	return 0;
}
