#include "config.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <string.h>

#include "pl-tls-channel.h"

#define BULK_SIZE (4 * 1024 * 1024)

/* identities and channels */

static PlIdentity *
new_identity(void)
{
	g_autoptr(GError) error = NULL;
	PlIdentity *identity = pl_identity_generate(&error);

	g_assert_no_error(error);
	g_assert_nonnull(identity);
	return identity;
}

static PlTlsChannel *
new_channel(PlIdentity *own, gboolean is_client, PlIdentity *expected)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlTlsCredentials) credentials = pl_tls_credentials_new(own, &error);
	PlTlsChannel *channel;

	g_assert_no_error(error);
	g_assert_nonnull(credentials);
	/* the channel keeps its own reference */
	channel = pl_tls_channel_new(credentials, is_client, pl_identity_get_peer_id(expected),
	                             &error);
	g_assert_no_error(error);
	g_assert_nonnull(channel);
	return channel;
}

typedef struct {
	PlIdentity *client_id;
	PlIdentity *server_id;
	PlIdentity *stranger_id; /* expected by a side that should refuse the other */
	PlTlsChannel *client;
	PlTlsChannel *server;
} Pair;

static void
pair_init(Pair *pair, gboolean client_expects_stranger, gboolean server_expects_stranger)
{
	pair->client_id = new_identity();
	pair->server_id = new_identity();
	pair->stranger_id = new_identity();
	pair->client = new_channel(pair->client_id, TRUE,
	                           client_expects_stranger ? pair->stranger_id : pair->server_id);
	pair->server = new_channel(pair->server_id, FALSE,
	                           server_expects_stranger ? pair->stranger_id : pair->client_id);
}

static void
pair_clear(Pair *pair)
{
	g_clear_pointer(&pair->client, pl_tls_channel_free);
	g_clear_pointer(&pair->server, pl_tls_channel_free);
	g_clear_object(&pair->client_id);
	g_clear_object(&pair->server_id);
	g_clear_object(&pair->stranger_id);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Pair, pair_clear)

/* moving ciphertext */

/* moves up to max_piece bytes (0: all) of from's output to to; returns how many */
static gsize
transfer(PlTlsChannel *from, PlTlsChannel *to, gsize max_piece)
{
	gsize len = 0;
	const guint8 *data = pl_tls_channel_peek_outgoing(from, &len);

	g_assert_cmpuint(len, ==, pl_tls_channel_get_outgoing_size(from));
	if (max_piece > 0)
		len = MIN(len, max_piece);
	if (len == 0)
		return 0;
	pl_tls_channel_push_incoming(to, data, len);
	pl_tls_channel_consume_outgoing(from, len);
	return len;
}

static void
step_handshake(PlTlsChannel *channel, GError **error)
{
	if (*error != NULL)
		return;
	if (!pl_tls_channel_handshake(channel, error))
		g_assert_nonnull(*error);
}

/*
 * Runs both handshakes and moves max_piece bytes (0: all) each way per round,
 * until nothing moves; keeps the first error of each side.
 */
static void
pump(PlTlsChannel *a, PlTlsChannel *b, gsize max_piece, GError **error_a, GError **error_b)
{
	gsize moved;

	do {
		step_handshake(a, error_a);
		step_handshake(b, error_b);
		moved = transfer(a, b, max_piece);
		moved += transfer(b, a, max_piece);
	} while (moved > 0);
}

static void
pump_ok(Pair *pair, gsize max_piece)
{
	g_autoptr(GError) error_client = NULL;
	g_autoptr(GError) error_server = NULL;

	pump(pair->client, pair->server, max_piece, &error_client, &error_server);
	g_assert_no_error(error_client);
	g_assert_no_error(error_server);
	g_assert_true(pl_tls_channel_is_established(pair->client));
	g_assert_true(pl_tls_channel_is_established(pair->server));
}

/* reads all decrypted data into out; returns 0 at the peer's close_notify, -1 when it would block
 */
static gssize
drain(PlTlsChannel *channel, GByteArray *out, gsize buf_size)
{
	g_autofree guint8 *buf = g_malloc(buf_size);

	for (;;) {
		g_autoptr(GError) error = NULL;
		gssize n = pl_tls_channel_read(channel, buf, buf_size, &error);

		if (n > 0) {
			g_assert_cmpint(n, <=, (gssize)buf_size);
			g_byte_array_append(out, buf, (guint)n);
			continue;
		}
		if (n == 0) {
			g_assert_no_error(error);
			return 0;
		}
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
		return -1;
	}
}

static void
write_ok(PlTlsChannel *channel, const gchar *text)
{
	g_autoptr(GError) error = NULL;

	g_assert_true(pl_tls_channel_write(channel, (const guint8 *)text, strlen(text), &error));
	g_assert_no_error(error);
}

/* moves everything from -> to and checks that to reads exactly text */
static void
expect_text(PlTlsChannel *from, PlTlsChannel *to, const gchar *text)
{
	g_autoptr(GByteArray) got = g_byte_array_new();

	transfer(from, to, 0);
	g_assert_cmpint(drain(to, got, 4096), ==, -1);
	g_assert_cmpmem(got->data, got->len, text, strlen(text));
}

static void
expect_eof(PlTlsChannel *from, PlTlsChannel *to)
{
	g_autoptr(GByteArray) got = g_byte_array_new();

	transfer(from, to, 0);
	g_assert_cmpint(drain(to, got, 4096), ==, 0);
	g_assert_cmpuint(got->len, ==, 0);
	/* and it stays at the end */
	g_assert_cmpint(drain(to, got, 4096), ==, 0);
}

static void
expect_read_error(PlTlsChannel *channel, gint code)
{
	g_autoptr(GError) error = NULL;
	guint8 buf[64];

	g_assert_cmpint(pl_tls_channel_read(channel, buf, sizeof(buf), &error), ==, -1);
	g_assert_error(error, PL_TLS_ERROR, code);
}

static void
expect_closed(PlTlsChannel *channel)
{
	g_autoptr(GError) error_handshake = NULL;
	g_autoptr(GError) error_write = NULL;
	g_autoptr(GError) error_shutdown = NULL;

	expect_read_error(channel, PL_TLS_ERROR_CLOSED);
	g_assert_false(pl_tls_channel_handshake(channel, &error_handshake));
	g_assert_error(error_handshake, PL_TLS_ERROR, PL_TLS_ERROR_CLOSED);
	g_assert_false(pl_tls_channel_write(channel, (const guint8 *)"x", 1, &error_write));
	g_assert_error(error_write, PL_TLS_ERROR, PL_TLS_ERROR_CLOSED);
	g_assert_false(pl_tls_channel_shutdown_write(channel, &error_shutdown));
	g_assert_error(error_shutdown, PL_TLS_ERROR, PL_TLS_ERROR_CLOSED);
}

/* a plain GnuTLS client, for what our channel never does itself */

typedef struct {
	gnutls_session_t session;
	gnutls_certificate_credentials_t credentials;
	GByteArray *in;  /* from the channel, not yet pulled */
	GByteArray *out; /* for the channel */
} RawClient;

static ssize_t
raw_pull(gnutls_transport_ptr_t transport, void *data, size_t len)
{
	RawClient *raw = transport;
	gsize n = MIN(len, raw->in->len);

	if (n == 0) {
		gnutls_transport_set_errno(raw->session, EAGAIN);
		return -1;
	}
	memcpy(data, raw->in->data, n);
	g_byte_array_remove_range(raw->in, 0, (guint)n);
	return (ssize_t)n;
}

static ssize_t
raw_push(gnutls_transport_ptr_t transport, const void *data, size_t len)
{
	RawClient *raw = transport;

	g_byte_array_append(raw->out, data, (guint)len);
	return (ssize_t)len;
}

static int
raw_pull_timeout(gnutls_transport_ptr_t transport, unsigned int ms)
{
	RawClient *raw = transport;

	return raw->in->len > 0 ? 1 : 0;
}

static void
raw_client_free(RawClient *raw)
{
	gnutls_deinit(raw->session);
	gnutls_certificate_free_credentials(raw->credentials);
	g_byte_array_unref(raw->in);
	g_byte_array_unref(raw->out);
	g_free(raw);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(RawClient, raw_client_free)

static void
raw_client_set_identity(RawClient *raw, PlIdentity *identity)
{
	g_autoptr(GError) error_cert = NULL;
	g_autoptr(GError) error_key = NULL;
	g_autofree gchar *cert = pl_identity_create_certificate_pem(identity, &error_cert);
	g_autofree gchar *key = pl_identity_export_private_key_pem(identity, &error_key);
	gnutls_datum_t cert_datum;
	gnutls_datum_t key_datum;

	g_assert_no_error(error_cert);
	g_assert_no_error(error_key);
	cert_datum = (gnutls_datum_t){(guint8 *)cert, (guint)strlen(cert)};
	key_datum = (gnutls_datum_t){(guint8 *)key, (guint)strlen(key)};
	g_assert_cmpint(gnutls_certificate_set_x509_key_mem2(raw->credentials, &cert_datum,
	                                                     &key_datum, GNUTLS_X509_FMT_PEM, NULL,
	                                                     0),
	                >=, 0);
}

/* identity NULL: certificate credentials without any certificate */
static RawClient *
raw_client_new(PlIdentity *identity)
{
	RawClient *raw = g_new0(RawClient, 1);

	raw->in = g_byte_array_new();
	raw->out = g_byte_array_new();
	g_assert_cmpint(gnutls_certificate_allocate_credentials(&raw->credentials), ==, 0);
	if (identity != NULL)
		raw_client_set_identity(raw, identity);
	g_assert_cmpint(gnutls_init(&raw->session, GNUTLS_CLIENT | GNUTLS_NONBLOCK), ==, 0);
	g_assert_cmpint(
	        gnutls_priority_set_direct(raw->session, "NORMAL:-VERS-ALL:+VERS-TLS1.3", NULL), ==,
	        0);
	g_assert_cmpint(
	        gnutls_credentials_set(raw->session, GNUTLS_CRD_CERTIFICATE, raw->credentials), ==,
	        0);
	gnutls_transport_set_ptr(raw->session, raw);
	gnutls_transport_set_pull_function(raw->session, raw_pull);
	gnutls_transport_set_push_function(raw->session, raw_push);
	gnutls_transport_set_pull_timeout_function(raw->session, raw_pull_timeout);
	return raw;
}

static gsize
raw_exchange(RawClient *raw, PlTlsChannel *channel)
{
	gsize len = 0;
	const guint8 *data = pl_tls_channel_peek_outgoing(channel, &len);
	gsize moved = len + raw->out->len;

	g_byte_array_append(raw->in, data, (guint)len);
	pl_tls_channel_consume_outgoing(channel, len);
	pl_tls_channel_push_incoming(channel, raw->out->data, raw->out->len);
	g_byte_array_set_size(raw->out, 0);
	return moved;
}

/* handshakes until nothing moves; returns the raw client's last handshake result */
static gint
raw_pump(RawClient *raw, PlTlsChannel *server, GError **server_error)
{
	gint rc = GNUTLS_E_AGAIN;
	gsize moved;

	do {
		if (rc == GNUTLS_E_AGAIN)
			rc = gnutls_handshake(raw->session);
		step_handshake(server, server_error);
		moved = raw_exchange(raw, server);
	} while (moved > 0);
	return rc;
}

/* the raw client's next record: data, or the error that ended it */
static gssize
raw_recv(RawClient *raw, guint8 *buf, gsize len)
{
	gssize rc;

	do {
		rc = gnutls_record_recv(raw->session, buf, len);
	} while (rc == GNUTLS_E_AGAIN && raw->in->len > 0);
	return rc;
}

/* tests */

static void
test_handshake(void)
{
	g_auto(Pair) pair = {NULL};
	g_autoptr(GError) error = NULL;
	guint8 buf[16];

	pair_init(&pair, FALSE, FALSE);
	g_assert_false(pl_tls_channel_is_established(pair.client));
	g_assert_null(pl_tls_channel_get_description(pair.client));
	pump_ok(&pair, 0);

	g_assert_cmpstr(pl_tls_channel_get_description(pair.client), ==,
	                pl_tls_channel_get_description(pair.server));
	g_test_message("negotiated %s", pl_tls_channel_get_description(pair.client));

	/* nothing sent yet */
	g_assert_cmpint(pl_tls_channel_read(pair.server, buf, sizeof(buf), &error), ==, -1);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);

	write_ok(pair.client, "hello server");
	expect_text(pair.client, pair.server, "hello server");
	write_ok(pair.server, "hello client");
	expect_text(pair.server, pair.client, "hello client");

	/* a second handshake call changes nothing */
	g_assert_true(pl_tls_channel_handshake(pair.client, NULL));
	g_assert_cmpuint(pl_tls_channel_get_outgoing_size(pair.client), ==, 0);
}

static void
test_description(void)
{
	g_auto(Pair) pair = {NULL};
	const gchar *description;

	pair_init(&pair, FALSE, FALSE);
	pump_ok(&pair, 0);
	description = pl_tls_channel_get_description(pair.server);
	g_assert_nonnull(description);
	g_assert_true(g_str_has_prefix(description, "TLS1.3/"));
	g_assert_cmpuint(strlen(description), >, strlen("TLS1.3/"));
}

static void
fill_random(guint8 *data, gsize len)
{
	for (gsize i = 0; i < len; i++)
		data[i] = (guint8)g_test_rand_int_range(0, 256);
}

/* sends BULK_SIZE bytes from -> to in varied writes, deliveries and reads */
static void
send_bulk(PlTlsChannel *from, PlTlsChannel *to)
{
	static const gsize write_sizes[] = {1,     13,    512,   4096,   16383,
	                                    16384, 16385, 65536, 100000, 1 << 20};
	static const gsize piece_sizes[] = {0, 1, 5, 1000, 16406, 70000};
	static const gsize read_sizes[] = {1, 100, 4096, 16384, 65536};
	g_autofree guint8 *data = g_malloc(BULK_SIZE);
	g_autoptr(GByteArray) got = g_byte_array_new();
	gsize offset = 0;

	fill_random(data, BULK_SIZE);
	for (guint i = 0; offset < BULK_SIZE; i++) {
		gsize n = MIN(write_sizes[i % G_N_ELEMENTS(write_sizes)], BULK_SIZE - offset);
		gsize piece = piece_sizes[i % G_N_ELEMENTS(piece_sizes)];
		g_autoptr(GError) error = NULL;

		g_assert_true(pl_tls_channel_write(from, data + offset, n, &error));
		g_assert_no_error(error);
		offset += n;
		/* sometimes leave the output queued, sometimes deliver part of it */
		if (i % 3 != 2) {
			transfer(from, to, piece);
			drain(to, got, read_sizes[i % G_N_ELEMENTS(read_sizes)]);
		}
	}
	transfer(from, to, 0);
	g_assert_cmpint(drain(to, got, 3000), ==, -1);
	g_assert_cmpuint(got->len, ==, BULK_SIZE);
	g_assert_true(memcmp(got->data, data, BULK_SIZE) == 0);
}

static void
test_bulk(void)
{
	g_auto(Pair) pair = {NULL};

	pair_init(&pair, FALSE, FALSE);
	pump_ok(&pair, 0);
	send_bulk(pair.client, pair.server);
	send_bulk(pair.server, pair.client);
}

/* delivers from's output to to one byte at a time, reading after each */
static void
trickle(PlTlsChannel *from, PlTlsChannel *to, GByteArray *got)
{
	while (transfer(from, to, 1) > 0)
		g_assert_cmpint(drain(to, got, 7), ==, -1);
}

static void
test_fragmented(void)
{
	g_auto(Pair) pair = {NULL};
	g_autoptr(GByteArray) got = g_byte_array_new();
	g_autofree guint8 *data = g_malloc(40000);
	g_autoptr(GError) error = NULL;

	pair_init(&pair, FALSE, FALSE);
	pump_ok(&pair, 1);

	fill_random(data, 40000);
	g_assert_true(pl_tls_channel_write(pair.client, data, 40000, &error));
	g_assert_no_error(error);
	trickle(pair.client, pair.server, got);
	g_assert_cmpmem(got->data, got->len, data, 40000);

	g_byte_array_set_size(got, 0);
	write_ok(pair.server, "short");
	write_ok(pair.server, " answer");
	trickle(pair.server, pair.client, got);
	g_assert_cmpmem(got->data, got->len, "short answer", 12);
}

static void
assert_mismatch_message(const GError *error, PlIdentity *expected, PlIdentity *presented)
{
	g_assert_nonnull(strstr(error->message, pl_identity_get_peer_id_string(expected)));
	if (presented != NULL)
		g_assert_nonnull(strstr(error->message, pl_identity_get_peer_id_string(presented)));
	g_test_message("mismatch: %s", error->message);
}

static void
test_wrong_peer_client_side(void)
{
	g_auto(Pair) pair = {NULL};
	g_autoptr(GError) error_client = NULL;
	g_autoptr(GError) error_server = NULL;

	pair_init(&pair, TRUE, FALSE);
	pump(pair.client, pair.server, 0, &error_client, &error_server);

	g_assert_error(error_client, PL_TLS_ERROR, PL_TLS_ERROR_PEER_MISMATCH);
	assert_mismatch_message(error_client, pair.stranger_id, pair.server_id);
	/* the server got the client's alert instead of its Finished */
	g_assert_error(error_server, PL_TLS_ERROR, PL_TLS_ERROR_FAILED);
	g_test_message("server: %s", error_server->message);
	g_assert_false(pl_tls_channel_is_established(pair.client));
	g_assert_false(pl_tls_channel_is_established(pair.server));
	expect_closed(pair.client);
	expect_closed(pair.server);
}

static void
test_wrong_peer_server_side(void)
{
	g_auto(Pair) pair = {NULL};
	g_autoptr(GError) error_client = NULL;
	g_autoptr(GError) error_server = NULL;

	pair_init(&pair, FALSE, TRUE);
	pump(pair.client, pair.server, 0, &error_client, &error_server);

	g_assert_error(error_server, PL_TLS_ERROR, PL_TLS_ERROR_PEER_MISMATCH);
	assert_mismatch_message(error_server, pair.stranger_id, pair.client_id);
	g_assert_false(pl_tls_channel_is_established(pair.server));
	/*
	 * In TLS 1.3 the client finishes first; the server's verdict reaches it
	 * as an alert on its next read.
	 */
	g_assert_no_error(error_client);
	expect_read_error(pair.client, PL_TLS_ERROR_FAILED);
	expect_closed(pair.client);
	expect_closed(pair.server);
}

static void
test_no_client_certificate(void)
{
	g_autoptr(PlIdentity) server_id = new_identity();
	g_autoptr(PlIdentity) client_id = new_identity();
	g_autoptr(PlTlsChannel) server = new_channel(server_id, FALSE, client_id);
	g_autoptr(RawClient) raw = raw_client_new(NULL);
	g_autoptr(GError) error = NULL;
	guint8 buf[16];
	gint rc;

	rc = raw_pump(raw, server, &error);
	g_assert_error(error, PL_TLS_ERROR, PL_TLS_ERROR_PEER_MISMATCH);
	assert_mismatch_message(error, client_id, NULL);
	g_assert_nonnull(strstr(error->message, "no certificate"));
	expect_closed(server);

	/* the client learns it from the alert, during or right after its handshake */
	if (rc == 0)
		rc = (gint)raw_recv(raw, buf, sizeof(buf));
	g_test_message("raw client: %s", gnutls_strerror(rc));
	g_assert_cmpint(rc, ==, GNUTLS_E_FATAL_ALERT_RECEIVED);
}

/* a peer that sends KeyUpdate (and asks for one back) before its data */
static void
test_key_update(void)
{
	g_autoptr(PlIdentity) server_id = new_identity();
	g_autoptr(PlIdentity) client_id = new_identity();
	g_autoptr(PlTlsChannel) server = new_channel(server_id, FALSE, client_id);
	g_autoptr(RawClient) raw = raw_client_new(client_id);
	g_autoptr(GError) error = NULL;
	g_autoptr(GByteArray) got = g_byte_array_new();
	guint8 buf[64];
	gssize n;

	g_assert_cmpint(raw_pump(raw, server, &error), ==, 0);
	g_assert_no_error(error);
	g_assert_true(pl_tls_channel_is_established(server));

	for (guint round = 0; round < 3; round++) {
		g_byte_array_set_size(got, 0);
		g_assert_cmpint(gnutls_session_key_update(raw->session, GNUTLS_KU_PEER), ==, 0);
		g_assert_cmpint(gnutls_record_send(raw->session, "after update", 12), ==, 12);
		raw_exchange(raw, server);
		g_assert_cmpint(drain(server, got, sizeof(buf)), ==, -1);
		g_assert_cmpmem(got->data, got->len, "after update", 12);

		write_ok(server, "reply");
		raw_exchange(raw, server);
		n = raw_recv(raw, buf, sizeof(buf));
		g_assert_cmpmem(buf, n, "reply", 5);
	}
}

/*
 * No session ticket reaches the client, so nothing can be resumed. GnuTLS 3.7
 * sends none unless a server enables them; GNUTLS_NO_TICKETS keeps it so.
 */
static void
test_no_resumption(void)
{
	g_autoptr(PlIdentity) server_id = new_identity();
	g_autoptr(PlIdentity) client_id = new_identity();
	g_autoptr(PlTlsChannel) server = new_channel(server_id, FALSE, client_id);
	g_autoptr(RawClient) raw = raw_client_new(client_id);
	g_autoptr(GError) error = NULL;
	guint8 buf[16];

	g_assert_cmpint(raw_pump(raw, server, &error), ==, 0);
	g_assert_no_error(error);
	g_assert_true(pl_tls_channel_is_established(server));
	g_assert_cmpint(raw_recv(raw, buf, sizeof(buf)), ==, GNUTLS_E_AGAIN);
	g_assert_cmpuint(gnutls_session_get_flags(raw->session) & GNUTLS_SFLAGS_SESSION_TICKET, ==,
	                 0);
	g_assert_false(gnutls_session_is_resumed(raw->session));
}

/* first shuts down its writing side, second keeps talking, then closes too */
static void
check_half_close(PlTlsChannel *first, PlTlsChannel *second)
{
	g_autoptr(GError) error = NULL;

	write_ok(first, "last words");
	g_assert_true(pl_tls_channel_shutdown_write(first, &error));
	g_assert_no_error(error);
	g_assert_true(pl_tls_channel_shutdown_write(first, &error));
	g_assert_no_error(error);
	g_assert_false(pl_tls_channel_write(first, (const guint8 *)"x", 1, &error));
	g_assert_error(error, PL_TLS_ERROR, PL_TLS_ERROR_CLOSED);
	g_clear_error(&error);

	{
		g_autoptr(GByteArray) got = g_byte_array_new();

		transfer(first, second, 0);
		g_assert_cmpint(drain(second, got, 100), ==, 0);
		g_assert_cmpmem(got->data, got->len, "last words", 10);
	}

	/* the other direction still works, more than one record of it */
	write_ok(second, "still talking");
	expect_text(second, first, "still talking");
	write_ok(second, "and more");
	expect_text(second, first, "and more");

	g_assert_true(pl_tls_channel_shutdown_write(second, &error));
	g_assert_no_error(error);
	expect_eof(second, first);
	expect_eof(first, second);
}

static void
test_half_close_client_first(void)
{
	g_auto(Pair) pair = {NULL};

	pair_init(&pair, FALSE, FALSE);
	pump_ok(&pair, 0);
	check_half_close(pair.client, pair.server);
}

static void
test_half_close_server_first(void)
{
	g_auto(Pair) pair = {NULL};

	pair_init(&pair, FALSE, FALSE);
	pump_ok(&pair, 0);
	check_half_close(pair.server, pair.client);
}

/* moves from's output to to with one byte flipped at offset (from the end if negative) */
static void
transfer_corrupted(PlTlsChannel *from, PlTlsChannel *to, gssize offset)
{
	gsize len = 0;
	const guint8 *data = pl_tls_channel_peek_outgoing(from, &len);
	g_autofree guint8 *copy = g_memdup2(data, len);
	gsize at = offset >= 0 ? (gsize)offset : len - (gsize)-offset;

	g_assert_cmpuint(at, <, len);
	copy[at] ^= 0x40;
	pl_tls_channel_push_incoming(to, copy, len);
	pl_tls_channel_consume_outgoing(from, len);
}

static void
test_corrupted_record(void)
{
	g_auto(Pair) pair = {NULL};

	pair_init(&pair, FALSE, FALSE);
	pump_ok(&pair, 0);

	write_ok(pair.client, "a message that will not survive");
	/* past the 5-byte record header: in the encrypted payload */
	transfer_corrupted(pair.client, pair.server, 10);
	expect_read_error(pair.server, PL_TLS_ERROR_FAILED);
	expect_closed(pair.server);

	/* the server's alert tells the client */
	transfer(pair.server, pair.client, 0);
	expect_read_error(pair.client, PL_TLS_ERROR_FAILED);
	expect_closed(pair.client);
}

static void
test_corrupted_handshake(void)
{
	g_auto(Pair) pair = {NULL};
	g_autoptr(GError) error_client = NULL;
	g_autoptr(GError) error_server = NULL;

	pair_init(&pair, FALSE, FALSE);
	g_assert_true(pl_tls_channel_handshake(pair.client, NULL));
	transfer(pair.client, pair.server, 0);
	g_assert_true(pl_tls_channel_handshake(pair.server, NULL));
	/* the end of the server's flight is its encrypted Finished */
	transfer_corrupted(pair.server, pair.client, -3);

	pump(pair.client, pair.server, 0, &error_client, &error_server);
	g_assert_error(error_client, PL_TLS_ERROR, PL_TLS_ERROR_FAILED);
	g_assert_error(error_server, PL_TLS_ERROR, PL_TLS_ERROR_FAILED);
	expect_closed(pair.client);
	expect_closed(pair.server);
}

static void
test_before_established(void)
{
	g_auto(Pair) pair = {NULL};
	g_autoptr(GError) error_write = NULL;
	g_autoptr(GError) error_read = NULL;
	g_autoptr(GError) error_shutdown = NULL;
	guint8 buf[8];

	pair_init(&pair, FALSE, FALSE);
	g_assert_cmpuint(pl_tls_channel_get_outgoing_size(pair.client), ==, 0);
	g_assert_false(pl_tls_channel_write(pair.client, (const guint8 *)"early", 5, &error_write));
	g_assert_error(error_write, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
	g_assert_cmpint(pl_tls_channel_read(pair.server, buf, sizeof(buf), &error_read), ==, -1);
	g_assert_error(error_read, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
	g_assert_false(pl_tls_channel_shutdown_write(pair.client, &error_shutdown));
	g_assert_error(error_shutdown, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
	g_assert_null(pl_tls_channel_get_description(pair.client));

	/* the refused calls did not disturb the handshake */
	g_assert_true(pl_tls_channel_handshake(pair.client, NULL));
	g_assert_cmpuint(pl_tls_channel_get_outgoing_size(pair.client), >, 0);
	g_assert_false(pl_tls_channel_is_established(pair.client));
	pump_ok(&pair, 0);
	write_ok(pair.client, "now");
	expect_text(pair.client, pair.server, "now");
}

static void
test_shared_credentials(void)
{
	g_autoptr(PlIdentity) server_id = new_identity();
	g_autoptr(PlIdentity) client_id = new_identity();
	g_autoptr(PlTlsCredentials) server_creds = pl_tls_credentials_new(server_id, NULL);
	g_autoptr(PlTlsCredentials) client_creds = pl_tls_credentials_new(client_id, NULL);

	g_assert_nonnull(server_creds);
	g_assert_nonnull(client_creds);
	for (guint i = 0; i < 3; i++) {
		g_autoptr(PlTlsChannel) client = pl_tls_channel_new(
		        client_creds, TRUE, pl_identity_get_peer_id(server_id), NULL);
		g_autoptr(PlTlsChannel) server = pl_tls_channel_new(
		        server_creds, FALSE, pl_identity_get_peer_id(client_id), NULL);
		g_autoptr(GError) error_client = NULL;
		g_autoptr(GError) error_server = NULL;

		g_assert_nonnull(client);
		g_assert_nonnull(server);
		pump(client, server, 0, &error_client, &error_server);
		g_assert_no_error(error_client);
		g_assert_no_error(error_server);
		write_ok(client, "ping");
		expect_text(client, server, "ping");
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

	g_test_add_func("/peerlink/tls-channel/handshake", test_handshake);
	g_test_add_func("/peerlink/tls-channel/description", test_description);
	g_test_add_func("/peerlink/tls-channel/bulk", test_bulk);
	g_test_add_func("/peerlink/tls-channel/fragmented", test_fragmented);
	g_test_add_func("/peerlink/tls-channel/wrong-peer-client-side",
	                test_wrong_peer_client_side);
	g_test_add_func("/peerlink/tls-channel/wrong-peer-server-side",
	                test_wrong_peer_server_side);
	g_test_add_func("/peerlink/tls-channel/no-client-certificate", test_no_client_certificate);
	g_test_add_func("/peerlink/tls-channel/key-update", test_key_update);
	g_test_add_func("/peerlink/tls-channel/no-resumption", test_no_resumption);
	g_test_add_func("/peerlink/tls-channel/half-close-client-first",
	                test_half_close_client_first);
	g_test_add_func("/peerlink/tls-channel/half-close-server-first",
	                test_half_close_server_first);
	g_test_add_func("/peerlink/tls-channel/corrupted-record", test_corrupted_record);
	g_test_add_func("/peerlink/tls-channel/corrupted-handshake", test_corrupted_handshake);
	g_test_add_func("/peerlink/tls-channel/before-established", test_before_established);
	g_test_add_func("/peerlink/tls-channel/shared-credentials", test_shared_credentials);

	return g_test_run();
}
