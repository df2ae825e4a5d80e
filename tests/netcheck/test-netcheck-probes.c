/*
 * The probes against servers of the test's own making on 127.0.0.1/127.0.0.2:
 * retransmission and TCP framing, servers that answer garbage or nothing
 * (clear errors, no crash, no leak), a scripted TURN server (401, 438, a
 * forged signature) and a fake RFC 5780 server that plays NATs of every
 * behaviour. No coturn needed.
 */
#include "config.h"

#include <string.h>

#include "netcheck-test-responder.h"
#include "pl-nat-probe.h"
#include "pl-netcheck.h"
#include "pl-stun-transport.h"
#include "pl-turn-probe.h"

#define WAIT_US (20 * G_USEC_PER_SEC)

static gboolean
wake_cb(gpointer user_data)
{
	return G_SOURCE_CONTINUE;
}

static void
wait_for(GAsyncResult **result)
{
	gint64 deadline = g_get_monotonic_time() + WAIT_US;
	guint tick = g_timeout_add(20, wake_cb, NULL);

	while (*result == NULL && g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, TRUE);
	g_source_remove(tick);
	g_assert_nonnull(*result);
}

/* lets the callbacks of cancelled operations run, so that nothing is left */
static void
drain(void)
{
	gint64 until = g_get_monotonic_time() + 100 * 1000;
	guint tick = g_timeout_add(10, wake_cb, NULL);

	while (g_get_monotonic_time() < until)
		g_main_context_iteration(NULL, TRUE);
	g_source_remove(tick);
}

static void
store_result_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	GAsyncResult **out = user_data;

	*out = g_object_ref(result);
}

static GInetSocketAddress *
address(const gchar *ip, guint16 port)
{
	g_autoptr(GInetAddress) inet = g_inet_address_new_from_string(ip);

	return G_INET_SOCKET_ADDRESS(g_inet_socket_address_new(inet, port));
}

static void
assert_error_mentions(const GError *error, const gchar *needle)
{
	g_assert_nonnull(error);
	g_test_message("error: %s", error->message);
	if (strstr(error->message, needle) == NULL)
		g_error("\"%s\" does not mention \"%s\"", error->message, needle);
}

/* -------------------------------------------------------------------------- */
/* STUN responses, made by hand */

static GByteArray *
reply_new(const guint8 *request, guint16 type)
{
	GByteArray *buf = g_byte_array_new();
	guint8 header[20];

	header[0] = type >> 8;
	header[1] = type & 0xff;
	header[2] = 0;
	header[3] = 0;
	memcpy(header + 4, request + 4, 16);
	g_byte_array_append(buf, header, sizeof(header));
	return buf;
}

static void
reply_add(GByteArray *buf, guint16 type, const void *value, guint16 len)
{
	guint8 header[4] = {type >> 8, type & 0xff, len >> 8, len & 0xff};
	static const guint8 pad[3] = {0, 0, 0};

	g_byte_array_append(buf, header, 4);
	g_byte_array_append(buf, value, len);
	if (len % 4 != 0)
		g_byte_array_append(buf, pad, 4 - len % 4);
	buf->data[2] = (buf->len - 20) >> 8;
	buf->data[3] = (buf->len - 20) & 0xff;
}

/* an IPv4 address attribute, XOR-ed with the cookie or not */
static void
reply_add_address(GByteArray *buf, guint16 type, const gchar *ip, guint16 port, gboolean xored)
{
	g_autoptr(GInetAddress) inet = g_inet_address_new_from_string(ip);
	const guint8 *bytes = g_inet_address_to_bytes(inet);
	guint8 value[8] = {0, 1, port >> 8, port & 0xff, bytes[0], bytes[1], bytes[2], bytes[3]};

	if (xored) {
		static const guint8 cookie[4] = {0x21, 0x12, 0xa4, 0x42};
		for (guint i = 0; i < 6; i++)
			value[2 + i] ^= cookie[i < 2 ? i : i - 2];
	}
	reply_add(buf, type, value, sizeof(value));
}

static void
reply_add_error(GByteArray *buf, guint code, const gchar *reason)
{
	g_autoptr(GByteArray) value = g_byte_array_new();
	guint8 head[4] = {0, 0, code / 100, code % 100};

	g_byte_array_append(value, head, 4);
	g_byte_array_append(value, (const guint8 *)reason, strlen(reason));
	reply_add(buf, 0x0009, value->data, value->len);
}

static GBytes *
reply_finish(GByteArray *buf)
{
	return g_byte_array_free_to_bytes(buf);
}

static guint16
request_type(const guint8 *request, gsize len)
{
	return len >= 2 ? (guint16)((request[0] << 8) | request[1]) : 0;
}

/* -------------------------------------------------------------------------- */
/* the transport */

typedef struct {
	guint answer_from; /* answer the Nth request and later */
	guint seen;
} Lossy;

static GBytes *
lossy_binding_reply(const guint8 *request, gsize len, gpointer user_data)
{
	Lossy *lossy = user_data;
	GByteArray *buf;

	if (++lossy->seen < lossy->answer_from)
		return NULL;
	buf = reply_new(request, PL_STUN_BINDING_RESPONSE);
	reply_add_address(buf, 0x0020, "192.0.2.1", 32853, TRUE);
	return reply_finish(buf);
}

static PlStunResponse *
transact(PlStunTransport *transport, guint16 port, guint timeout_ms, GError **error)
{
	PlStunTransactionId id;
	g_autoptr(GBytes) request = NULL;
	g_autoptr(GInetSocketAddress) to = address("127.0.0.1", port);
	g_autoptr(GAsyncResult) result = NULL;

	pl_stun_transaction_id_generate(&id);
	request = pl_stun_build_binding_request(&id, 0);
	pl_stun_transport_request_async(transport, to, request, timeout_ms, NULL, store_result_cb,
	                                &result);
	wait_for(&result);
	return pl_stun_transport_request_finish(transport, result, error);
}

static void
test_transport_udp_retransmit(void)
{
	Lossy lossy = {3, 0};
	g_autoptr(NetcheckTestResponder) responder =
	        netcheck_test_responder_new_udp(lossy_binding_reply, &lossy);
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStunTransport) transport =
	        pl_stun_transport_new_udp(G_SOCKET_FAMILY_IPV4, &error);
	gint64 start = g_get_monotonic_time();
	g_autoptr(PlStunResponse) response = NULL;
	gint64 elapsed_ms;
	g_autofree gchar *mapped = NULL;

	g_assert_no_error(error);
	g_assert_false(pl_stun_transport_is_tcp(transport));
	response = transact(transport, netcheck_test_responder_get_port(responder), 3000, &error);
	elapsed_ms = (g_get_monotonic_time() - start) / 1000;
	g_assert_no_error(error);
	/* sent at 0, 100 and 300 ms; answered the third time */
	g_assert_cmpuint(netcheck_test_responder_get_requests(responder), ==, 3);
	g_assert_cmpint(elapsed_ms, >=, 290);
	g_assert_cmpint(elapsed_ms, <, 2000);
	g_assert_cmpuint(response->rtt_ms, <, 200);
	mapped = g_socket_connectable_to_string(G_SOCKET_CONNECTABLE(response->message->mapped));
	g_assert_cmpstr(mapped, ==, "192.0.2.1:32853");
	g_assert_cmpuint(g_inet_socket_address_get_port(response->from), ==,
	                 netcheck_test_responder_get_port(responder));
	g_assert_cmpuint(
	        g_inet_socket_address_get_port(pl_stun_transport_get_local_address(transport)), ==,
	        netcheck_test_responder_get_last_peer_port(responder));
}

static void
test_transport_udp_garbage(void)
{
	g_autoptr(NetcheckTestResponder) responder =
	        netcheck_test_responder_new_udp(netcheck_test_reply_garbage, NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStunTransport) transport =
	        pl_stun_transport_new_udp(G_SOCKET_FAMILY_IPV4, &error);
	g_autoptr(PlStunResponse) response = NULL;

	g_assert_no_error(error);
	response = transact(transport, netcheck_test_responder_get_port(responder), 400, &error);
	g_assert_null(response);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	assert_error_mentions(error, "not a STUN response");
}

static void
test_transport_udp_silent(void)
{
	g_autoptr(NetcheckTestResponder) responder = netcheck_test_responder_new_udp(NULL, NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStunTransport) transport =
	        pl_stun_transport_new_udp(G_SOCKET_FAMILY_IPV4, &error);
	g_autoptr(PlStunResponse) response = NULL;
	gint64 start = g_get_monotonic_time();

	g_assert_no_error(error);
	response = transact(transport, netcheck_test_responder_get_port(responder), 400, &error);
	g_assert_null(response);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
	assert_error_mentions(error, "within 400 ms");
	g_assert_cmpint(g_get_monotonic_time() - start, >=, 390 * 1000);
	/* 0, 100, 300 ms */
	g_assert_cmpuint(netcheck_test_responder_get_requests(responder), ==, 3);
}

/* an answer of another transaction first, then ours, in one reply split in two */
static GBytes *
tcp_two_messages_reply(const guint8 *request, gsize len, gpointer user_data)
{
	g_autoptr(GByteArray) other = reply_new(request, PL_STUN_BINDING_RESPONSE);
	GByteArray *ours = reply_new(request, PL_STUN_BINDING_RESPONSE);
	g_autoptr(GBytes) ours_bytes = NULL;
	GByteArray *both = g_byte_array_new();

	other->data[19] ^= 0xff;
	reply_add_address(other, 0x0020, "198.51.100.1", 1, TRUE);
	reply_add_address(ours, 0x0020, "192.0.2.1", 32853, TRUE);
	ours_bytes = reply_finish(ours);
	g_byte_array_append(both, other->data, other->len);
	g_byte_array_append(both, g_bytes_get_data(ours_bytes, NULL), g_bytes_get_size(ours_bytes));
	return g_byte_array_free_to_bytes(both);
}

static PlStunTransport *
connect_tcp(guint16 port, GError **error)
{
	g_autoptr(GInetSocketAddress) to = address("127.0.0.1", port);
	g_autoptr(GAsyncResult) result = NULL;

	pl_stun_transport_new_tcp_async(to, NULL, store_result_cb, &result);
	wait_for(&result);
	return pl_stun_transport_new_tcp_finish(result, error);
}

static void
test_transport_tcp_framing(void)
{
	g_autoptr(NetcheckTestResponder) responder =
	        netcheck_test_responder_new_tcp(tcp_two_messages_reply, NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStunTransport) transport = NULL;

	netcheck_test_responder_set_split_writes(responder, TRUE);
	transport = connect_tcp(netcheck_test_responder_get_port(responder), &error);
	g_assert_no_error(error);
	g_assert_true(pl_stun_transport_is_tcp(transport));
	for (guint i = 0; i < 3; i++) {
		g_autoptr(PlStunResponse) response = transact(
		        transport, netcheck_test_responder_get_port(responder), 2000, &error);
		g_autofree gchar *mapped = NULL;

		g_assert_no_error(error);
		mapped = g_socket_connectable_to_string(
		        G_SOCKET_CONNECTABLE(response->message->mapped));
		g_assert_cmpstr(mapped, ==, "192.0.2.1:32853");
	}
	g_assert_cmpuint(netcheck_test_responder_get_requests(responder), ==, 3);
	g_clear_object(&transport);
	g_clear_pointer(&responder, netcheck_test_responder_free);
	drain();
}

static void
test_transport_tcp_garbage(void)
{
	g_autoptr(NetcheckTestResponder) responder =
	        netcheck_test_responder_new_tcp(netcheck_test_reply_garbage, NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStunTransport) transport = NULL;
	g_autoptr(PlStunResponse) response = NULL;

	transport = connect_tcp(netcheck_test_responder_get_port(responder), &error);
	g_assert_no_error(error);
	response = transact(transport, 0, 2000, &error);
	g_assert_null(response);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	assert_error_mentions(error, "not STUN over TCP");
	/* the stream is lost for good */
	g_clear_error(&error);
	response = transact(transport, 0, 2000, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	g_clear_object(&transport);
	g_clear_pointer(&responder, netcheck_test_responder_free);
	drain();
}

static void
test_transport_tcp_silent(void)
{
	g_autoptr(NetcheckTestResponder) responder = netcheck_test_responder_new_tcp(NULL, NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStunTransport) transport = NULL;
	g_autoptr(PlStunResponse) response = NULL;

	transport = connect_tcp(netcheck_test_responder_get_port(responder), &error);
	g_assert_no_error(error);
	response = transact(transport, 0, 300, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
	assert_error_mentions(error, "within 300 ms");
	g_clear_object(&transport);
	g_clear_pointer(&responder, netcheck_test_responder_free);
	drain();
}

/* -------------------------------------------------------------------------- */
/* TURN against bad servers */

static PlTurnProbeResult *
run_turn_probe(const gchar *uri, guint timeout_ms, GError **error)
{
	g_autoptr(GError) parse_error = NULL;
	g_autoptr(PlTurnServer) server = pl_turn_server_parse(uri, &parse_error);
	g_autoptr(PlTurnProbe) probe = NULL;
	g_autoptr(GAsyncResult) result = NULL;

	g_assert_no_error(parse_error);
	probe = pl_turn_probe_new(server, timeout_ms);
	pl_turn_probe_run_async(probe, NULL, store_result_cb, &result);
	wait_for(&result);
	return pl_turn_probe_run_finish(probe, result, error);
}

static void
test_turn_bad_servers(void)
{
	g_autoptr(NetcheckTestResponder) udp_garbage =
	        netcheck_test_responder_new_udp(netcheck_test_reply_garbage, NULL);
	g_autoptr(NetcheckTestResponder) udp_silent = netcheck_test_responder_new_udp(NULL, NULL);
	g_autoptr(NetcheckTestResponder) tcp_garbage =
	        netcheck_test_responder_new_tcp(netcheck_test_reply_garbage, NULL);
	g_autoptr(NetcheckTestResponder) tcp_silent = netcheck_test_responder_new_tcp(NULL, NULL);
	guint16 refused_port;
	struct {
		const gchar *transport;
		guint16 port;
		gint code;
		const gchar *needle;
	} cases[] = {
	        {"udp", netcheck_test_responder_get_port(udp_garbage), G_IO_ERROR_INVALID_DATA,
	         "not a STUN response"},
	        {"udp", netcheck_test_responder_get_port(udp_silent), G_IO_ERROR_TIMED_OUT,
	         "no answer from 127.0.0.1"},
	        {"tcp", netcheck_test_responder_get_port(tcp_garbage), G_IO_ERROR_INVALID_DATA,
	         "not STUN over TCP"},
	        {"tcp", netcheck_test_responder_get_port(tcp_silent), G_IO_ERROR_TIMED_OUT,
	         "within 500 ms"},
	        {"tcp", 0, G_IO_ERROR_CONNECTION_REFUSED, "cannot connect"},
	};

	/* a port nobody listens on: a TCP listener that is gone */
	{
		g_autoptr(NetcheckTestResponder) gone = netcheck_test_responder_new_tcp(NULL, NULL);
		refused_port = netcheck_test_responder_get_port(gone);
	}
	cases[4].port = refused_port;
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *uri = g_strdup_printf("turn:u:p@127.0.0.1:%u?transport=%s",
		                                        cases[i].port, cases[i].transport);
		g_autoptr(GError) error = NULL;
		g_autoptr(PlTurnProbeResult) result = run_turn_probe(uri, 500, &error);

		g_test_message("%s", uri);
		g_assert_null(result);
		g_assert_error(error, G_IO_ERROR, cases[i].code);
		assert_error_mentions(error, cases[i].needle);
		/* the name of the server, never the password */
		assert_error_mentions(error, "turn:127.0.0.1:");
		g_assert_null(strstr(error->message, "u:p@"));
	}
	g_clear_pointer(&tcp_garbage, netcheck_test_responder_free);
	g_clear_pointer(&tcp_silent, netcheck_test_responder_free);
	drain();
}

/* -------------------------------------------------------------------------- */
/* a scripted TURN server: 401, then 438, then success */

typedef struct {
	guint allocates;
	guint refreshes;
	gboolean forge_signature;
	gboolean wrong_password; /* 401 to signed requests too */
	gboolean signed_ok;      /* the third request was signed with our key */
} ScriptedTurn;

#define SCRIPT_USER "1700000000:alice"
/* in a URI the username's colon is percent-encoded (the first colon ends it) */
#define SCRIPT_USER_URI "1700000000%3Aalice"
#define SCRIPT_PASSWORD "c2VjcmV0"
#define SCRIPT_REALM    "scripted.test"

static GBytes *
scripted_turn_reply(const guint8 *request, gsize len, gpointer user_data)
{
	ScriptedTurn *script = user_data;
	g_autoptr(PlStunMessage) parsed = pl_stun_message_parse(request, len, NULL);
	guint8 key[PL_STUN_LONG_TERM_KEY_SIZE];
	GByteArray *buf;

	g_assert_nonnull(parsed);
	pl_stun_long_term_key(SCRIPT_USER, SCRIPT_REALM, SCRIPT_PASSWORD, key);
	if (request_type(request, len) == PL_STUN_REFRESH_REQUEST) {
		script->refreshes++;
		g_assert_true(
		        pl_stun_message_check_integrity(request, len, key, sizeof(key), NULL));
		g_assert_cmpstr(parsed->nonce, ==, "nonce-2");
		buf = reply_new(request, PL_STUN_REFRESH_RESPONSE);
		return reply_finish(buf);
	}
	g_assert_cmpuint(request_type(request, len), ==, PL_STUN_ALLOCATE_REQUEST);
	script->allocates++;
	if (script->allocates == 1 || (script->wrong_password && script->allocates < 5)) {
		g_assert_true(script->wrong_password || parsed->nonce == NULL);
		buf = reply_new(request, PL_STUN_ALLOCATE_ERROR);
		reply_add_error(buf, 401, "Unauthorized");
		reply_add(buf, 0x0014, SCRIPT_REALM, strlen(SCRIPT_REALM));
		reply_add(buf, 0x0015, "nonce-1", 7);
		return reply_finish(buf);
	}
	if (script->allocates == 2) {
		g_assert_cmpstr(parsed->nonce, ==, "nonce-1");
		buf = reply_new(request, PL_STUN_ALLOCATE_ERROR);
		reply_add_error(buf, 438, "Stale Nonce");
		reply_add(buf, 0x0015, "nonce-2", 7);
		return reply_finish(buf);
	}
	g_assert_cmpstr(parsed->nonce, ==, "nonce-2");
	g_assert_cmpstr(parsed->realm, ==, SCRIPT_REALM);
	script->signed_ok = pl_stun_message_check_integrity(request, len, key, sizeof(key), NULL);
	buf = reply_new(request, PL_STUN_ALLOCATE_RESPONSE);
	reply_add_address(buf, 0x0016, "203.0.113.10", 50000, TRUE);
	reply_add_address(buf, 0x0020, "198.51.100.7", 40000, TRUE);
	{
		static const guint8 lifetime[4] = {0, 0, 0x02, 0x58};
		reply_add(buf, 0x000d, lifetime, sizeof(lifetime));
	}
	if (script->forge_signature) {
		static const guint8 zeros[20] = {0};
		reply_add(buf, 0x0008, zeros, sizeof(zeros));
	}
	return reply_finish(buf);
}

static void
test_turn_scripted(gconstpointer data)
{
	const gchar *transport = data;
	ScriptedTurn script = {0};
	g_autoptr(NetcheckTestResponder) responder =
	        g_str_equal(transport, "udp")
	                ? netcheck_test_responder_new_udp(scripted_turn_reply, &script)
	                : netcheck_test_responder_new_tcp(scripted_turn_reply, &script);
	g_autofree gchar *uri = g_strdup_printf(
	        "turn:%s:%s@127.0.0.1:%u?transport=%s", SCRIPT_USER_URI, SCRIPT_PASSWORD,
	        netcheck_test_responder_get_port(responder), transport);
	g_autoptr(GError) error = NULL;
	g_autoptr(PlTurnProbeResult) result = run_turn_probe(uri, 3000, &error);
	g_autofree gchar *relayed = NULL;
	g_autofree gchar *mapped = NULL;

	g_assert_no_error(error);
	g_assert_cmpuint(script.allocates, ==, 3);
	g_assert_true(script.signed_ok);
	g_assert_cmpuint(script.refreshes, ==, 1);
	relayed = g_socket_connectable_to_string(G_SOCKET_CONNECTABLE(result->relayed));
	mapped = g_socket_connectable_to_string(G_SOCKET_CONNECTABLE(result->mapped));
	g_assert_cmpstr(relayed, ==, "203.0.113.10:50000");
	g_assert_cmpstr(mapped, ==, "198.51.100.7:40000");
	g_assert_cmpuint(result->lifetime_s, ==, 600);
	g_assert_true(result->released);
	g_assert_cmpuint(result->rtt_ms, <, 1000);
	g_clear_pointer(&responder, netcheck_test_responder_free);
	drain();
}

static void
test_turn_scripted_forged(void)
{
	ScriptedTurn script = {.forge_signature = TRUE};
	g_autoptr(NetcheckTestResponder) responder =
	        netcheck_test_responder_new_udp(scripted_turn_reply, &script);
	g_autofree gchar *uri =
	        g_strdup_printf("turn:%s:%s@127.0.0.1:%u", SCRIPT_USER_URI, SCRIPT_PASSWORD,
	                        netcheck_test_responder_get_port(responder));
	g_autoptr(GError) error = NULL;
	g_autoptr(PlTurnProbeResult) result = run_turn_probe(uri, 3000, &error);

	g_assert_null(result);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	assert_error_mentions(error, "MESSAGE-INTEGRITY");
}

static void
test_turn_scripted_refused(void)
{
	ScriptedTurn script = {.wrong_password = TRUE};
	g_autoptr(NetcheckTestResponder) responder =
	        netcheck_test_responder_new_udp(scripted_turn_reply, &script);
	g_autofree gchar *uri =
	        g_strdup_printf("turn:%s:%s@127.0.0.1:%u", SCRIPT_USER_URI,
	                        "d3Jvbmc=", netcheck_test_responder_get_port(responder));
	g_autofree gchar *anonymous =
	        g_strdup_printf("turn:127.0.0.1:%u", netcheck_test_responder_get_port(responder));
	g_autoptr(GError) error = NULL;
	g_autoptr(PlTurnProbeResult) result = run_turn_probe(uri, 3000, &error);

	g_assert_null(result);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
	assert_error_mentions(error, "refused the credentials (401 Unauthorized)");
	g_assert_null(strstr(error->message, "d3Jvbmc"));
	g_assert_cmpuint(script.allocates, ==, 2);
	g_clear_error(&error);

	/* no credentials at all */
	result = run_turn_probe(anonymous, 3000, &error);
	g_assert_null(result);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
	assert_error_mentions(error, "needs credentials");
}

/* -------------------------------------------------------------------------- */
/* a fake RFC 5780 server that plays a NAT: four sockets, 127.0.0.1 and
 * 127.0.0.2 with ports P and Q; the mapped addresses it reports and the change
 * requests it answers depend on the behaviour it plays */

typedef struct {
	PlNatBehaviour mapping;
	PlNatBehaviour filtering;
	GSocket *sockets[4]; /* (1,P) (1,Q) (2,P) (2,Q) */
	GSource *sources[4];
	guint16 ports[2];
	guint change_requests;
} FakeNat;

typedef struct {
	FakeNat *nat;
	guint index;
} FakeNatSocket;

static GSocket *
fake_nat_bind(const gchar *ip, guint16 port)
{
	g_autoptr(GInetSocketAddress) where = address(ip, port);
	g_autoptr(GSocket) socket = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
	                                         G_SOCKET_PROTOCOL_UDP, NULL);

	if (!g_socket_bind(socket, G_SOCKET_ADDRESS(where), FALSE, NULL))
		return NULL;
	return g_steal_pointer(&socket);
}

static guint16
socket_port(GSocket *socket)
{
	g_autoptr(GSocketAddress) local = g_socket_get_local_address(socket, NULL);

	return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
}

static gboolean
fake_nat_cb(GSocket *socket, GIOCondition condition, gpointer user_data)
{
	FakeNatSocket *me = user_data;
	FakeNat *nat = me->nat;
	guint8 buf[1500];
	g_autoptr(GSocketAddress) from = NULL;
	gssize n = g_socket_receive_from(socket, &from, (gchar *)buf, sizeof(buf), NULL, NULL);
	GByteArray *reply;
	g_autoptr(GBytes) bytes = NULL;
	guint8 change = 0;
	guint answer_index = me->index;
	guint mapped_port;

	if (n < 20)
		return G_SOURCE_CONTINUE;
	/* CHANGE-REQUEST right after the header, as we build it */
	if (n >= 28 && buf[20] == 0x00 && buf[21] == 0x03)
		change = buf[27];
	if (change != 0) {
		nat->change_requests++;
		/* what the NAT's filter lets through */
		if ((change & PL_STUN_CHANGE_IP) &&
		    nat->filtering != PL_NAT_BEHAVIOUR_ENDPOINT_INDEPENDENT)
			return G_SOURCE_CONTINUE;
		if (nat->filtering == PL_NAT_BEHAVIOUR_ADDRESS_AND_PORT_DEPENDENT)
			return G_SOURCE_CONTINUE;
		answer_index = me->index ^ ((change & PL_STUN_CHANGE_IP) ? 2 : 0) ^
		               ((change & PL_STUN_CHANGE_PORT) ? 1 : 0);
	}
	/* the public port the NAT would have used towards this server address */
	switch (nat->mapping) {
	case PL_NAT_BEHAVIOUR_ADDRESS_DEPENDENT:
		mapped_port = 40000 + (me->index >> 1);
		break;
	case PL_NAT_BEHAVIOUR_ADDRESS_AND_PORT_DEPENDENT:
		mapped_port = 40000 + me->index;
		break;
	default:
		mapped_port = 40000;
		break;
	}
	reply = reply_new(buf, PL_STUN_BINDING_RESPONSE);
	reply_add_address(reply, 0x0020, "198.51.100.7", mapped_port, TRUE);
	reply_add_address(reply, 0x802c, "127.0.0.2", nat->ports[1], FALSE);
	bytes = reply_finish(reply);
	g_socket_send_to(nat->sockets[answer_index], from, g_bytes_get_data(bytes, NULL),
	                 g_bytes_get_size(bytes), NULL, NULL);
	return G_SOURCE_CONTINUE;
}

static FakeNat *
fake_nat_new(PlNatBehaviour mapping, PlNatBehaviour filtering)
{
	FakeNat *nat = g_new0(FakeNat, 1);

	nat->mapping = mapping;
	nat->filtering = filtering;
	/* two ports free on both addresses */
	for (guint attempt = 0; attempt < 50; attempt++) {
		for (guint i = 0; i < 4; i++)
			g_clear_object(&nat->sockets[i]);
		nat->sockets[0] = fake_nat_bind("127.0.0.1", 0);
		nat->sockets[1] = fake_nat_bind("127.0.0.1", 0);
		nat->ports[0] = socket_port(nat->sockets[0]);
		nat->ports[1] = socket_port(nat->sockets[1]);
		nat->sockets[2] = fake_nat_bind("127.0.0.2", nat->ports[0]);
		nat->sockets[3] = fake_nat_bind("127.0.0.2", nat->ports[1]);
		if (nat->sockets[2] != NULL && nat->sockets[3] != NULL)
			break;
	}
	g_assert_nonnull(nat->sockets[2]);
	g_assert_nonnull(nat->sockets[3]);
	for (guint i = 0; i < 4; i++) {
		FakeNatSocket *me = g_new0(FakeNatSocket, 1);
		me->nat = nat;
		me->index = i;
		nat->sources[i] = g_socket_create_source(nat->sockets[i], G_IO_IN, NULL);
		g_source_set_callback(nat->sources[i], (GSourceFunc)(GCallback)fake_nat_cb, me,
		                      g_free);
		g_source_attach(nat->sources[i], NULL);
	}
	return nat;
}

static void
fake_nat_free(FakeNat *nat)
{
	for (guint i = 0; i < 4; i++) {
		g_source_destroy(nat->sources[i]);
		g_source_unref(nat->sources[i]);
		g_object_unref(nat->sockets[i]);
	}
	g_free(nat);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FakeNat, fake_nat_free)

static void
test_nat_fake(void)
{
	const PlNatBehaviour behaviours[] = {PL_NAT_BEHAVIOUR_ENDPOINT_INDEPENDENT,
	                                     PL_NAT_BEHAVIOUR_ADDRESS_DEPENDENT,
	                                     PL_NAT_BEHAVIOUR_ADDRESS_AND_PORT_DEPENDENT};
	const gchar *locals[] = {"127.0.0.1", NULL};

	for (guint m = 0; m < G_N_ELEMENTS(behaviours); m++) {
		for (guint f = 0; f < G_N_ELEMENTS(behaviours); f++) {
			g_autoptr(FakeNat) nat = fake_nat_new(behaviours[m], behaviours[f]);
			g_autoptr(GInetSocketAddress) server = address("127.0.0.1", nat->ports[0]);
			g_autoptr(PlNatProbe) probe = pl_nat_probe_new(server, locals, 1000);
			g_autoptr(GAsyncResult) result = NULL;
			g_autoptr(GError) error = NULL;
			g_autoptr(PlNatProbeResult) nat_result = NULL;
			g_autofree gchar *mapped = NULL;
			g_autofree gchar *other = NULL;

			pl_nat_probe_run_async(probe, NULL, store_result_cb, &result);
			wait_for(&result);
			nat_result = pl_nat_probe_run_finish(probe, result, &error);
			g_assert_no_error(error);
			g_test_message("plays %s/%s, found %s/%s",
			               pl_nat_behaviour_to_string(behaviours[m]),
			               pl_nat_behaviour_to_string(behaviours[f]),
			               pl_nat_behaviour_to_string(nat_result->mapping),
			               pl_nat_behaviour_to_string(nat_result->filtering));
			g_assert_cmpint(nat_result->mapping, ==, behaviours[m]);
			g_assert_cmpint(nat_result->filtering, ==, behaviours[f]);
			g_assert_cmpuint(nat->change_requests, >=, 2);
			mapped = g_socket_connectable_to_string(
			        G_SOCKET_CONNECTABLE(nat_result->mapped));
			g_assert_cmpstr(mapped, ==, "198.51.100.7:40000");
			other = g_socket_connectable_to_string(
			        G_SOCKET_CONNECTABLE(nat_result->other));
			g_assert_true(g_str_has_prefix(other, "127.0.0.2:"));
		}
	}
}

/* a STUN server without RFC 5780: the mapping is unknown, UDP works */
static GBytes *
plain_stun_reply(const guint8 *request, gsize len, gpointer user_data)
{
	GByteArray *buf = reply_new(request, PL_STUN_BINDING_RESPONSE);

	reply_add_address(buf, 0x0020, "198.51.100.7", 40000, TRUE);
	return reply_finish(buf);
}

static void
test_nat_plain_server(void)
{
	g_autoptr(NetcheckTestResponder) responder =
	        netcheck_test_responder_new_udp(plain_stun_reply, NULL);
	g_autoptr(GInetSocketAddress) server =
	        address("127.0.0.1", netcheck_test_responder_get_port(responder));
	g_autoptr(PlNatProbe) probe = pl_nat_probe_new(server, NULL, 1000);
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(PlNatProbeResult) nat = NULL;

	pl_nat_probe_run_async(probe, NULL, store_result_cb, &result);
	wait_for(&result);
	nat = pl_nat_probe_run_finish(probe, result, &error);
	g_assert_no_error(error);
	g_assert_cmpint(nat->mapping, ==, PL_NAT_BEHAVIOUR_UNKNOWN);
	g_assert_cmpint(nat->filtering, ==, PL_NAT_BEHAVIOUR_UNKNOWN);
	g_assert_null(nat->other);
	/* only test I */
	g_assert_cmpuint(netcheck_test_responder_get_requests(responder), ==, 1);
}

static void
test_nat_garbage(void)
{
	g_autoptr(NetcheckTestResponder) responder =
	        netcheck_test_responder_new_udp(netcheck_test_reply_garbage, NULL);
	g_autoptr(GInetSocketAddress) server =
	        address("127.0.0.1", netcheck_test_responder_get_port(responder));
	g_autoptr(PlNatProbe) probe = pl_nat_probe_new(server, NULL, 400);
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(PlNatProbeResult) nat = NULL;

	pl_nat_probe_run_async(probe, NULL, store_result_cb, &result);
	wait_for(&result);
	nat = pl_nat_probe_run_finish(probe, result, &error);
	g_assert_null(nat);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	assert_error_mentions(error, "not a STUN response");
}

/* -------------------------------------------------------------------------- */
/* the whole check */

static JsonObject *
run_netcheck(const PlNetcheckConfig *config, GCancellable *cancellable, GError **error)
{
	g_autoptr(GAsyncResult) result = NULL;

	pl_netcheck_run_async(config, cancellable, store_result_cb, &result);
	wait_for(&result);
	return pl_netcheck_run_finish(result, error);
}

static void
log_json(JsonObject *json)
{
	g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), json);
	g_autofree gchar *text = json_to_string(node, TRUE);

	g_test_message("%s", text);
}

static void
test_netcheck_symmetric(void)
{
	g_autoptr(FakeNat) nat = fake_nat_new(PL_NAT_BEHAVIOUR_ADDRESS_AND_PORT_DEPENDENT,
	                                      PL_NAT_BEHAVIOUR_ADDRESS_AND_PORT_DEPENDENT);
	ScriptedTurn script = {0};
	g_autoptr(NetcheckTestResponder) turn =
	        netcheck_test_responder_new_udp(scripted_turn_reply, &script);
	g_autoptr(GPtrArray) stun =
	        g_ptr_array_new_with_free_func((GDestroyNotify)pl_stun_server_free);
	g_autoptr(GPtrArray) turns =
	        g_ptr_array_new_with_free_func((GDestroyNotify)pl_turn_server_free);
	g_autoptr(GPtrArray) locals = g_ptr_array_new();
	g_autofree gchar *stun_text = g_strdup_printf("127.0.0.1:%u", nat->ports[0]);
	g_autofree gchar *turn_uri =
	        g_strdup_printf("turn:%s:%s@127.0.0.1:%u", SCRIPT_USER_URI, SCRIPT_PASSWORD,
	                        netcheck_test_responder_get_port(turn));
	PlNetcheckConfig config = {stun, turns, locals, FALSE, 2000};
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) json = NULL;
	JsonObject *entry;

	g_ptr_array_add(stun, pl_stun_server_parse(stun_text, NULL));
	g_ptr_array_add(turns, pl_turn_server_parse(turn_uri, NULL));
	g_ptr_array_add(locals, (gpointer) "127.0.0.1");
	json = run_netcheck(&config, NULL, &error);
	g_assert_no_error(error);
	log_json(json);
	g_assert_true(json_object_get_boolean_member(json, "udp"));
	g_assert_cmpstr(json_object_get_string_member(json, "stun_server"), ==, stun_text);
	g_assert_cmpstr(json_object_get_string_member(json, "public_ipv4"), ==, "198.51.100.7");
	g_assert_cmpstr(json_object_get_string_member(json, "mapping"), ==,
	                "address-and-port-dependent");
	g_assert_cmpstr(json_object_get_string_member(json, "filtering"), ==,
	                "address-and-port-dependent");
	entry = json_array_get_object_element(json_object_get_array_member(json, "turn"), 0);
	g_assert_true(json_object_get_boolean_member(entry, "reachable"));
	g_assert_cmpstr(json_object_get_string_member(entry, "relayed_address"), ==,
	                "203.0.113.10:50000");
	g_assert_cmpstr(json_object_get_string_member(json, "verdict"), ==,
	                PL_NETCHECK_VERDICT_SYMMETRIC_RELAY);
	g_assert_false(json_object_get_boolean_member(json_object_get_object_member(json, "upnp"),
	                                              "available"));
}

static void
test_netcheck_nothing_answers(void)
{
	g_autoptr(NetcheckTestResponder) silent = netcheck_test_responder_new_udp(NULL, NULL);
	g_autoptr(NetcheckTestResponder) garbage =
	        netcheck_test_responder_new_udp(netcheck_test_reply_garbage, NULL);
	g_autoptr(NetcheckTestResponder) tcp_silent = netcheck_test_responder_new_tcp(NULL, NULL);
	g_autoptr(GPtrArray) stun =
	        g_ptr_array_new_with_free_func((GDestroyNotify)pl_stun_server_free);
	g_autoptr(GPtrArray) turns =
	        g_ptr_array_new_with_free_func((GDestroyNotify)pl_turn_server_free);
	g_autofree gchar *stun_silent =
	        g_strdup_printf("127.0.0.1:%u", netcheck_test_responder_get_port(silent));
	g_autofree gchar *stun_garbage =
	        g_strdup_printf("stun:127.0.0.1:%u", netcheck_test_responder_get_port(garbage));
	g_autofree gchar *turn_udp =
	        g_strdup_printf("turn:u:p@127.0.0.1:%u", netcheck_test_responder_get_port(garbage));
	g_autofree gchar *turn_tcp = g_strdup_printf("turn:u:p@127.0.0.1:%u?transport=tcp",
	                                             netcheck_test_responder_get_port(tcp_silent));
	PlNetcheckConfig config = {stun, turns, NULL, FALSE, 500};
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) json = NULL;
	JsonArray *turn;
	gint64 start = g_get_monotonic_time();

	g_ptr_array_add(stun, pl_stun_server_parse(stun_silent, NULL));
	g_ptr_array_add(stun, pl_stun_server_parse(stun_garbage, NULL));
	g_ptr_array_add(turns, pl_turn_server_parse(turn_udp, NULL));
	g_ptr_array_add(turns, pl_turn_server_parse(turn_tcp, NULL));
	json = run_netcheck(&config, NULL, &error);
	g_assert_no_error(error);
	log_json(json);
	/* both STUN servers one after the other, the TURN servers meanwhile */
	g_assert_cmpint(g_get_monotonic_time() - start, <, 5 * G_USEC_PER_SEC);
	g_assert_false(json_object_get_boolean_member(json, "udp"));
	g_assert_true(json_object_get_null_member(json, "stun_server"));
	g_assert_true(json_object_get_null_member(json, "public_ipv4"));
	g_assert_cmpstr(json_object_get_string_member(json, "mapping"), ==, "unknown");
	turn = json_object_get_array_member(json, "turn");
	g_assert_cmpuint(json_array_get_length(turn), ==, 2);
	for (guint i = 0; i < 2; i++) {
		JsonObject *entry = json_array_get_object_element(turn, i);
		g_assert_false(json_object_get_boolean_member(entry, "reachable"));
		g_assert_true(json_object_get_null_member(entry, "rtt_ms"));
		g_assert_nonnull(json_object_get_string_member(entry, "error"));
	}
	g_assert_nonnull(strstr(
	        json_object_get_string_member(json_array_get_object_element(turn, 0), "error"),
	        "not a STUN response"));
	g_assert_cmpstr(json_object_get_string_member(json, "verdict"), ==,
	                PL_NETCHECK_VERDICT_OFFLINE);
	g_clear_pointer(&tcp_silent, netcheck_test_responder_free);
	drain();
}

static void
test_netcheck_nothing_configured(void)
{
	PlNetcheckConfig config = {NULL, NULL, NULL, FALSE, 0};
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) json = run_netcheck(&config, NULL, &error);

	g_assert_no_error(error);
	g_assert_false(json_object_get_boolean_member(json, "udp"));
	g_assert_cmpuint(json_array_get_length(json_object_get_array_member(json, "turn")), ==, 0);
	g_assert_cmpstr(json_object_get_string_member(json, "verdict"), ==,
	                PL_NETCHECK_VERDICT_NOTHING_CHECKED);
}

static gboolean
cancel_cb(gpointer user_data)
{
	g_cancellable_cancel(user_data);
	return G_SOURCE_REMOVE;
}

static void
test_netcheck_cancel(void)
{
	g_autoptr(NetcheckTestResponder) silent = netcheck_test_responder_new_udp(NULL, NULL);
	g_autoptr(NetcheckTestResponder) tcp_silent = netcheck_test_responder_new_tcp(NULL, NULL);
	g_autoptr(GPtrArray) stun =
	        g_ptr_array_new_with_free_func((GDestroyNotify)pl_stun_server_free);
	g_autoptr(GPtrArray) turns =
	        g_ptr_array_new_with_free_func((GDestroyNotify)pl_turn_server_free);
	g_autofree gchar *stun_text =
	        g_strdup_printf("127.0.0.1:%u", netcheck_test_responder_get_port(silent));
	g_autofree gchar *turn_udp =
	        g_strdup_printf("turn:u:p@127.0.0.1:%u", netcheck_test_responder_get_port(silent));
	g_autofree gchar *turn_tcp = g_strdup_printf("turn:u:p@127.0.0.1:%u?transport=tcp",
	                                             netcheck_test_responder_get_port(tcp_silent));
	PlNetcheckConfig config = {stun, turns, NULL, FALSE, 10000};
	g_autoptr(GCancellable) cancellable = g_cancellable_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) json = NULL;
	gint64 start = g_get_monotonic_time();

	g_ptr_array_add(stun, pl_stun_server_parse(stun_text, NULL));
	g_ptr_array_add(turns, pl_turn_server_parse(turn_udp, NULL));
	g_ptr_array_add(turns, pl_turn_server_parse(turn_tcp, NULL));
	g_timeout_add(100, cancel_cb, cancellable);
	json = run_netcheck(&config, cancellable, &error);
	g_assert_null(json);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_cmpint(g_get_monotonic_time() - start, <, 5 * G_USEC_PER_SEC);
	g_clear_pointer(&tcp_silent, netcheck_test_responder_free);
	drain();
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerlink/netcheck/transport/udp/retransmit",
	                test_transport_udp_retransmit);
	g_test_add_func("/peerlink/netcheck/transport/udp/garbage", test_transport_udp_garbage);
	g_test_add_func("/peerlink/netcheck/transport/udp/silent", test_transport_udp_silent);
	g_test_add_func("/peerlink/netcheck/transport/tcp/framing", test_transport_tcp_framing);
	g_test_add_func("/peerlink/netcheck/transport/tcp/garbage", test_transport_tcp_garbage);
	g_test_add_func("/peerlink/netcheck/transport/tcp/silent", test_transport_tcp_silent);
	g_test_add_func("/peerlink/netcheck/turn/bad-servers", test_turn_bad_servers);
	g_test_add_data_func("/peerlink/netcheck/turn/scripted/udp", "udp", test_turn_scripted);
	g_test_add_data_func("/peerlink/netcheck/turn/scripted/tcp", "tcp", test_turn_scripted);
	g_test_add_func("/peerlink/netcheck/turn/scripted/forged", test_turn_scripted_forged);
	g_test_add_func("/peerlink/netcheck/turn/scripted/refused", test_turn_scripted_refused);
	g_test_add_func("/peerlink/netcheck/nat/fake", test_nat_fake);
	g_test_add_func("/peerlink/netcheck/nat/plain-server", test_nat_plain_server);
	g_test_add_func("/peerlink/netcheck/nat/garbage", test_nat_garbage);
	g_test_add_func("/peerlink/netcheck/run/symmetric", test_netcheck_symmetric);
	g_test_add_func("/peerlink/netcheck/run/nothing-answers", test_netcheck_nothing_answers);
	g_test_add_func("/peerlink/netcheck/run/nothing-configured",
	                test_netcheck_nothing_configured);
	g_test_add_func("/peerlink/netcheck/run/cancel", test_netcheck_cancel);
	return g_test_run();
}
