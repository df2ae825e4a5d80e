/*
 * The agent's rendezvous client: its pure helpers, and the client itself
 * against a small fake service in this process (a SoupServer that speaks the
 * contract of docs/rendezvous-api.md), with shortened timings.
 */
#include "config.h"

#include <libsoup/soup.h>

#include "pl-rendezvous-client-private.h"
#include "pl-rendezvous-protocol.h"

#define WAIT_TIMEOUT_US (5 * G_USEC_PER_SEC)

/* pure helpers */

static void
test_state_names(void)
{
	g_autoptr(GEnumClass) klass = g_type_class_ref(PL_TYPE_RENDEZVOUS_CLIENT_STATE);

	g_assert_cmpstr(pl_rendezvous_client_state_to_string(PL_RENDEZVOUS_CLIENT_STATE_DISABLED),
	                ==, "disabled");
	g_assert_cmpstr(pl_rendezvous_client_state_to_string(PL_RENDEZVOUS_CLIENT_STATE_CONNECTING),
	                ==, "connecting");
	g_assert_cmpstr(pl_rendezvous_client_state_to_string(PL_RENDEZVOUS_CLIENT_STATE_CONNECTED),
	                ==, "connected");
	g_assert_cmpstr(
	        pl_rendezvous_client_state_to_string(PL_RENDEZVOUS_CLIENT_STATE_BACKING_OFF), ==,
	        "backing-off");
	/* the GType's nicks are the same names */
	for (guint i = 0; i < klass->n_values; i++)
		g_assert_cmpstr(klass->values[i].value_nick, ==,
		                pl_rendezvous_client_state_to_string(klass->values[i].value));
}

static void
test_recent_ids(void)
{
	g_autoptr(PlRendezvousRecentIds) ids = pl_rendezvous_recent_ids_new(3);

	g_assert_true(pl_rendezvous_recent_ids_add(ids, "a"));
	g_assert_true(pl_rendezvous_recent_ids_add(ids, "b"));
	g_assert_false(pl_rendezvous_recent_ids_add(ids, "a"));
	g_assert_true(pl_rendezvous_recent_ids_add(ids, "c"));
	g_assert_cmpuint(pl_rendezvous_recent_ids_get_size(ids), ==, 3);
	/* full: "d" pushes out the oldest, "a" */
	g_assert_true(pl_rendezvous_recent_ids_add(ids, "d"));
	g_assert_cmpuint(pl_rendezvous_recent_ids_get_size(ids), ==, 3);
	g_assert_false(pl_rendezvous_recent_ids_add(ids, "b"));
	g_assert_false(pl_rendezvous_recent_ids_add(ids, "d"));
	g_assert_true(pl_rendezvous_recent_ids_add(ids, "a"));
	g_assert_false(pl_rendezvous_recent_ids_add(ids, "c"));
	for (guint i = 0; i < 10000; i++) {
		g_autofree gchar *id = g_strdup_printf("%u", i);
		g_assert_true(pl_rendezvous_recent_ids_add(ids, id));
	}
	g_assert_cmpuint(pl_rendezvous_recent_ids_get_size(ids), ==, 3);
}

static void
assert_endpoint(const gchar *base, const gchar *path, const gchar *expected)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GUri) uri = pl_rendezvous_client_parse_url(base, &error);
	g_autofree gchar *endpoint = NULL;

	g_assert_no_error(error);
	endpoint = pl_rendezvous_client_build_endpoint(uri, path);
	g_assert_cmpstr(endpoint, ==, expected);
}

static void
test_endpoints(void)
{
	assert_endpoint("http://127.0.0.1:8480", "/v1/ws", "http://127.0.0.1:8480/v1/ws");
	assert_endpoint("http://127.0.0.1:8480/", "/v1/auth/challenge",
	                "http://127.0.0.1:8480/v1/auth/challenge");
	assert_endpoint("https://rv.example.org/peerlink//", "/v1/ws",
	                "https://rv.example.org/peerlink/v1/ws");
	assert_endpoint("http://[::1]:8480", "/v1/peers/ABC", "http://[::1]:8480/v1/peers/ABC");
	assert_endpoint("https://rv.example.org/a%20b", "/v1/ws",
	                "https://rv.example.org/a%20b/v1/ws");
}

static void
assert_bad_url(const gchar *url, const gchar *needle)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GUri) uri = pl_rendezvous_client_parse_url(url, &error);

	g_assert_null(uri);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	if (strstr(error->message, needle) == NULL)
		g_error("\"%s\" does not mention \"%s\"", error->message, needle);
}

static void
test_parse_url(void)
{
	assert_bad_url("", "not a valid URL");
	assert_bad_url("rv.example.org:8480", "http or https");
	assert_bad_url("ws://rv.example.org", "http or https");
	assert_bad_url("http://", "no host");
	assert_bad_url("https://rv.example.org/?a=b", "query");
	assert_bad_url("https://rv.example.org/#top", "fragment");
	assert_bad_url("https://me@rv.example.org/", "user");
	assert_bad_url("http://rv.example.org:99999/", "not a valid URL");
}

static void
test_lookup_reply(void)
{
	g_autoptr(PlIdentity) identity = pl_identity_generate(NULL);
	g_autofree gchar *online_body =
	        pl_rendezvous_build_peer_reply(pl_identity_get_peer_id_string(identity), TRUE);
	const gchar *offline_body = "{\"error\":{\"code\":\"peer-offline\",\"message\":\"gone\"}}";
	const gchar *unauthorized_body =
	        "{\"error\":{\"code\":\"unauthorized\",\"message\":\"no token\"}}";
	g_autoptr(GError) error = NULL;
	gboolean online = FALSE;

	g_assert_true(pl_rendezvous_client_parse_lookup_reply(200, online_body, strlen(online_body),
	                                                      &online, &error));
	g_assert_no_error(error);
	g_assert_true(online);
	g_assert_true(pl_rendezvous_client_parse_lookup_reply(
	        404, offline_body, strlen(offline_body), &online, &error));
	g_assert_no_error(error);
	g_assert_false(online);

	g_assert_false(pl_rendezvous_client_parse_lookup_reply(
	        401, unauthorized_body, strlen(unauthorized_body), &online, &error));
	g_assert_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_UNAUTHORIZED);
	g_assert_true(pl_rendezvous_client_error_needs_auth(error));
	g_clear_error(&error);

	/* a proxy's HTML page: judged by the status */
	g_assert_false(pl_rendezvous_client_parse_lookup_reply(503, "<html>", 6, &online, &error));
	g_assert_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_UNAVAILABLE);
	g_assert_false(pl_rendezvous_client_error_needs_auth(error));
	g_clear_error(&error);
	g_assert_false(pl_rendezvous_client_parse_lookup_reply(200, "{\"online\":\"yes\"}", 16,
	                                                       &online, &error));
	g_assert_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_PROTOCOL);
	g_clear_error(&error);
	g_assert_false(pl_rendezvous_client_parse_lookup_reply(200, "", 0, &online, &error));
	g_assert_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_PROTOCOL);
}

static void
test_describe_error(void)
{
	g_autoptr(GError) tls = g_error_new_literal(G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE,
	                                            "Unacceptable TLS certificate");
	g_autoptr(GError) service = g_error_new_literal(
	        PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_UNAVAILABLE, "redis down");
	g_autoptr(GError) io = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED,
	                                           "Connection refused");
	g_autofree gchar *tls_text = pl_rendezvous_client_describe_error(tls);
	g_autofree gchar *service_text = pl_rendezvous_client_describe_error(service);
	g_autofree gchar *io_text = pl_rendezvous_client_describe_error(io);

	g_assert_cmpstr(tls_text, ==, "TLS error: Unacceptable TLS certificate");
	g_assert_cmpstr(service_text, ==, "redis down (unavailable)");
	g_assert_cmpstr(io_text, ==, "Connection refused");
}

static void
test_seconds_until(void)
{
	g_assert_cmpint(pl_rendezvous_client_seconds_until(100, 100), ==, 0);
	g_assert_cmpint(pl_rendezvous_client_seconds_until(100, 200), ==, 0);
	g_assert_cmpint(pl_rendezvous_client_seconds_until(101, 100), ==, 1);
	g_assert_cmpint(pl_rendezvous_client_seconds_until(G_USEC_PER_SEC, 0), ==, 1);
	g_assert_cmpint(pl_rendezvous_client_seconds_until(G_USEC_PER_SEC + 1, 0), ==, 2);
	g_assert_cmpint(pl_rendezvous_client_seconds_until(30 * G_USEC_PER_SEC, 0), ==, 30);
}

static void
test_new_errors(void)
{
	g_autoptr(PlIdentity) identity = pl_identity_generate(NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(PlRendezvousClient) bad_url = NULL;
	g_autoptr(PlRendezvousClient) bad_ca = NULL;
	g_autoptr(PlRendezvousClient) good = NULL;

	bad_url = pl_rendezvous_client_new(identity, "ftp://x", NULL, &error);
	g_assert_null(bad_url);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	bad_ca = pl_rendezvous_client_new(identity, "https://127.0.0.1:1",
	                                  "/nonexistent/peerlink-ca.pem", &error);
	g_assert_null(bad_ca);
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error->message, "/nonexistent/peerlink-ca.pem"));
	g_clear_error(&error);
	good = pl_rendezvous_client_new(identity, "http://127.0.0.1:1", NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpint(pl_rendezvous_client_get_state(good), ==,
	                PL_RENDEZVOUS_CLIENT_STATE_DISABLED);
	g_assert_null(pl_rendezvous_client_get_last_error(good));
	g_assert_cmpint(pl_rendezvous_client_get_next_attempt_seconds(good), ==, -1);
	g_assert_null(pl_rendezvous_client_get_ice(good));
}

/* a fake service */

typedef struct {
	SoupServer *server;
	gchar *url;
	guint port;
	GHashTable *tokens; /* token → peer ID */
	GPtrArray *sockets; /* server sides of the WebSockets */
	GPtrArray *frames;  /* every text frame received, in order */
	guint n_challenges;
	guint n_sessions;
	guint n_websockets;
	guint n_pings;
	gboolean silent;           /* answer nothing on the WebSocket */
	gboolean answer_sends;     /* "sent" for every "send" */
	gchar *send_error;         /* else an "error" frame with this code, if set */
	guint challenge_status;    /* 0: normal */
	gushort last_close_code;   /* of a socket the client closed */
	gchar *last_authorization; /* of the last WebSocket request */
	gchar *last_protocol;      /* offered subprotocols of the last WebSocket request */
	gchar *online_peer;        /* of the open socket */
} FakeService;

static void
reply_json(SoupServerMessage *msg, guint status, const gchar *text)
{
	soup_server_message_set_status(msg, status, NULL);
	soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, text,
	                                 strlen(text));
}

static void
reply_error(SoupServerMessage *msg, PlRendezvousErrorCode code, const gchar *text)
{
	g_autoptr(GError) error = g_error_new_literal(PL_RENDEZVOUS_ERROR, code, text);
	g_autofree gchar *body = pl_rendezvous_build_error(error);

	reply_json(msg, pl_rendezvous_error_to_http_status(code), body);
}

static const gchar *
request_host(SoupServerMessage *msg)
{
	return soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Host");
}

static gchar *
random_token(void)
{
	guint8 bytes[32];

	for (guint i = 0; i < sizeof(bytes); i++)
		bytes[i] = (guint8)g_random_int_range(0, 256);
	return pl_rendezvous_base64url_encode(bytes, sizeof(bytes));
}

static void
challenge_handler(SoupServer *server,
                  SoupServerMessage *msg,
                  const char *path,
                  GHashTable *query,
                  gpointer user_data)
{
	FakeService *fake = user_data;
	g_autoptr(GBytes) body =
	        soup_message_body_flatten(soup_server_message_get_request_body(msg));
	g_autoptr(GError) error = NULL;
	g_autofree gchar *challenge = random_token();
	g_autofree gchar *reply = NULL;
	PlPeerId peer_id;

	fake->n_challenges++;
	if (fake->challenge_status != 0) {
		reply_error(msg, PL_RENDEZVOUS_ERROR_UNAVAILABLE, "the store is unreachable");
		return;
	}
	if (!pl_rendezvous_parse_challenge_request(g_bytes_get_data(body, NULL),
	                                           g_bytes_get_size(body), &peer_id, &error)) {
		reply_error(msg, PL_RENDEZVOUS_ERROR_BAD_REQUEST, error->message);
		return;
	}
	reply = pl_rendezvous_build_challenge_reply(challenge, request_host(msg), 30);
	reply_json(msg, 200, reply);
}

static void
session_handler(SoupServer *server,
                SoupServerMessage *msg,
                const char *path,
                GHashTable *query,
                gpointer user_data)
{
	FakeService *fake = user_data;
	g_autoptr(GBytes) body =
	        soup_message_body_flatten(soup_server_message_get_request_body(msg));
	g_autoptr(PlRendezvousSessionRequest) request = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) ice = json_object_new();
	g_autofree gchar *token = random_token();
	g_autofree gchar *peer_id = NULL;
	g_autofree gchar *reply = NULL;

	request = pl_rendezvous_parse_session_request(g_bytes_get_data(body, NULL),
	                                              g_bytes_get_size(body), &error);
	if (request == NULL) {
		reply_error(msg, PL_RENDEZVOUS_ERROR_BAD_REQUEST, error->message);
		return;
	}
	/* the client must sign for the authority it used, which is the Host it sent */
	if (!pl_rendezvous_verify_session_request(request, request_host(msg), &error)) {
		reply_error(msg, PL_RENDEZVOUS_ERROR_AUTH_FAILED, error->message);
		return;
	}
	fake->n_sessions++;
	peer_id = pl_peer_id_to_string(&request->peer_id);
	g_hash_table_insert(fake->tokens, g_strdup(token), g_strdup(peer_id));
	json_object_set_array_member(ice, "stun", json_array_new());
	json_object_set_array_member(ice, "turn", json_array_new());
	json_array_add_string_element(json_object_get_array_member(ice, "stun"),
	                              "stun:198.51.100.10:3478");
	reply = pl_rendezvous_build_session_reply(token, peer_id, 3600, ice);
	reply_json(msg, 200, reply);
}

static const gchar *
bearer_peer(FakeService *fake, SoupServerMessage *msg)
{
	const gchar *authorization = soup_message_headers_get_one(
	        soup_server_message_get_request_headers(msg), "Authorization");

	if (authorization == NULL || !g_str_has_prefix(authorization, "Bearer "))
		return NULL;
	return g_hash_table_lookup(fake->tokens, authorization + strlen("Bearer "));
}

static void
peers_handler(SoupServer *server,
              SoupServerMessage *msg,
              const char *path,
              GHashTable *query,
              gpointer user_data)
{
	FakeService *fake = user_data;
	const gchar *peer = path + strlen("/v1/peers/");
	gboolean online = FALSE;
	g_autofree gchar *reply = NULL;

	if (bearer_peer(fake, msg) == NULL) {
		reply_error(msg, PL_RENDEZVOUS_ERROR_UNAUTHORIZED, "unknown token");
		return;
	}
	online = fake->online_peer != NULL && g_strcmp0(fake->online_peer, peer) == 0;
	if (!online) {
		reply_error(msg, PL_RENDEZVOUS_ERROR_PEER_OFFLINE, "peer is not connected");
		return;
	}
	reply = pl_rendezvous_build_peer_reply(peer, TRUE);
	reply_json(msg, 200, reply);
}

static void
ws_check_handler(SoupServer *server,
                 SoupServerMessage *msg,
                 const char *path,
                 GHashTable *query,
                 gpointer user_data)
{
	FakeService *fake = user_data;
	SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);

	g_free(fake->last_authorization);
	fake->last_authorization = g_strdup(soup_message_headers_get_one(headers, "Authorization"));
	g_free(fake->last_protocol);
	fake->last_protocol =
	        g_strdup(soup_message_headers_get_one(headers, "Sec-WebSocket-Protocol"));
	if (bearer_peer(fake, msg) == NULL)
		reply_error(msg, PL_RENDEZVOUS_ERROR_UNAUTHORIZED, "unknown token");
}

static void
on_server_ws_message(SoupWebsocketConnection *ws, gint type, GBytes *bytes, gpointer user_data)
{
	FakeService *fake = user_data;
	g_autofree gchar *text = g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
	g_autoptr(PlRendezvousFrame) frame = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *answer = NULL;

	g_ptr_array_add(fake->frames, g_strdup(text));
	frame = pl_rendezvous_frame_parse(text, strlen(text), 16384, &error);
	g_assert_no_error(error);
	if (frame->type == PL_RENDEZVOUS_FRAME_PING)
		fake->n_pings++;
	if (fake->silent)
		return;
	if (frame->type == PL_RENDEZVOUS_FRAME_PING) {
		answer = pl_rendezvous_frame_build_simple(PL_RENDEZVOUS_FRAME_PONG);
	} else if (frame->type == PL_RENDEZVOUS_FRAME_SEND && fake->send_error != NULL) {
		g_autoptr(GError) send_error = g_error_new(
		        PL_RENDEZVOUS_ERROR, pl_rendezvous_error_from_string(fake->send_error),
		        "refused: %s", fake->send_error);
		answer = pl_rendezvous_frame_build_error(frame->ref, send_error);
	} else if (frame->type == PL_RENDEZVOUS_FRAME_SEND && fake->answer_sends) {
		g_autofree gchar *id = pl_rendezvous_message_id_new();
		answer = pl_rendezvous_frame_build_sent(frame->ref, id);
	}
	if (answer != NULL)
		soup_websocket_connection_send_text(ws, answer);
}

static void
on_server_ws_closed(SoupWebsocketConnection *ws, gpointer user_data)
{
	FakeService *fake = user_data;

	fake->last_close_code = soup_websocket_connection_get_close_code(ws);
	g_clear_pointer(&fake->online_peer, g_free);
	g_signal_handlers_disconnect_by_data(ws, fake);
	g_ptr_array_remove(fake->sockets, ws);
}

static void
ws_handler(SoupServer *server,
           SoupServerMessage *msg,
           const char *path,
           SoupWebsocketConnection *connection,
           gpointer user_data)
{
	FakeService *fake = user_data;

	fake->n_websockets++;
	g_free(fake->online_peer);
	fake->online_peer = g_strdup(bearer_peer(fake, msg));
	g_ptr_array_add(fake->sockets, g_object_ref(connection));
	g_signal_connect(connection, "message", G_CALLBACK(on_server_ws_message), fake);
	g_signal_connect(connection, "closed", G_CALLBACK(on_server_ws_closed), fake);
}

static FakeService *
fake_service_new(guint port)
{
	FakeService *fake = g_new0(FakeService, 1);
	g_autoptr(GError) error = NULL;
	GSList *uris;
	gchar *protocols[] = {(gchar *)PL_RENDEZVOUS_WS_PROTOCOL, NULL};

	fake->server = soup_server_new(NULL, NULL);
	fake->tokens = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	fake->sockets = g_ptr_array_new_with_free_func(g_object_unref);
	fake->frames = g_ptr_array_new_with_free_func(g_free);
	fake->answer_sends = TRUE;
	soup_server_add_handler(fake->server, "/v1/auth/challenge", challenge_handler, fake, NULL);
	soup_server_add_handler(fake->server, "/v1/auth/session", session_handler, fake, NULL);
	soup_server_add_handler(fake->server, "/v1/peers", peers_handler, fake, NULL);
	soup_server_add_handler(fake->server, "/v1/ws", ws_check_handler, fake, NULL);
	soup_server_add_websocket_handler(fake->server, "/v1/ws", NULL, protocols, ws_handler, fake,
	                                  NULL);
	soup_server_listen_local(fake->server, port, SOUP_SERVER_LISTEN_IPV4_ONLY, &error);
	g_assert_no_error(error);
	uris = soup_server_get_uris(fake->server);
	g_assert_nonnull(uris);
	fake->port = g_uri_get_port(uris->data);
	fake->url = g_strdup_printf("http://127.0.0.1:%u", fake->port);
	g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
	return fake;
}

static void
fake_service_close_sockets(FakeService *fake, gushort code)
{
	g_autoptr(GPtrArray) sockets = g_ptr_array_new_with_free_func(g_object_unref);

	/* closing may drop a socket from the list */
	for (guint i = 0; i < fake->sockets->len; i++)
		g_ptr_array_add(sockets, g_object_ref(fake->sockets->pdata[i]));
	for (guint i = 0; i < sockets->len; i++) {
		SoupWebsocketConnection *ws = sockets->pdata[i];
		if (soup_websocket_connection_get_state(ws) == SOUP_WEBSOCKET_STATE_OPEN)
			soup_websocket_connection_close(ws, code, NULL);
	}
}

static void
fake_service_free(FakeService *fake)
{
	for (guint i = 0; i < fake->sockets->len; i++)
		g_signal_handlers_disconnect_by_data(fake->sockets->pdata[i], fake);
	soup_server_disconnect(fake->server);
	g_object_unref(fake->server);
	g_hash_table_unref(fake->tokens);
	g_ptr_array_unref(fake->sockets);
	g_ptr_array_unref(fake->frames);
	g_free(fake->url);
	g_free(fake->send_error);
	g_free(fake->last_authorization);
	g_free(fake->last_protocol);
	g_free(fake->online_peer);
	g_free(fake);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FakeService, fake_service_free)

static guint
fake_service_count_frames(FakeService *fake, const gchar *type)
{
	g_autofree gchar *needle = g_strdup_printf("\"type\":\"%s\"", type);
	guint n = 0;

	for (guint i = 0; i < fake->frames->len; i++) {
		if (strstr(fake->frames->pdata[i], needle) != NULL)
			n++;
	}
	return n;
}

static void
fake_service_send_message(FakeService *fake, const gchar *id, const gchar *from, const gchar *kind)
{
	g_autoptr(PlRendezvousMessage) message = g_new0(PlRendezvousMessage, 1);
	g_autofree gchar *text = NULL;

	message->id = g_strdup(id);
	message->from = g_strdup(from);
	message->kind = g_strdup(kind);
	message->body = json_object_new();
	json_object_set_string_member(message->body, "sdp", "v=0");
	message->sent_at = g_get_real_time() / 1000;
	text = pl_rendezvous_message_to_json(message);
	g_assert_cmpuint(fake->sockets->len, ==, 1);
	soup_websocket_connection_send_text(fake->sockets->pdata[0], text);
}

/* the client under test */

typedef struct {
	PlIdentity *identity;
	FakeService *fake;
	PlRendezvousClient *client;
	GPtrArray *states;   /* PlRendezvousClientState as pointers, each change */
	GPtrArray *messages; /* "from kind id" */
} Fixture;

static void
on_state_changed(PlRendezvousClient *client, PlRendezvousClientState state, gpointer user_data)
{
	Fixture *fx = user_data;

	g_assert_cmpint(state, ==, pl_rendezvous_client_get_state(client));
	g_ptr_array_add(fx->states, GINT_TO_POINTER(state));
}

static void
on_message(PlRendezvousClient *client,
           const gchar *from,
           const gchar *kind,
           JsonObject *body,
           const gchar *id,
           gpointer user_data)
{
	Fixture *fx = user_data;

	g_assert_cmpstr(json_object_get_string_member(body, "sdp"), ==, "v=0");
	g_ptr_array_add(fx->messages, g_strdup_printf("%s %s %s", from, kind, id));
}

static PlRendezvousClient *
new_client(Fixture *fx, const gchar *url)
{
	g_autoptr(GError) error = NULL;
	PlRendezvousClient *client = pl_rendezvous_client_new(fx->identity, url, NULL, &error);

	g_assert_no_error(error);
	/* ping 50 ms, dead after 400 ms, sends time out after 300 ms, backoff 10…80 ms */
	pl_rendezvous_client_set_timing(client, 50, 400, 300, 10, 80);
	g_signal_connect(client, "state-changed", G_CALLBACK(on_state_changed), fx);
	g_signal_connect(client, "message", G_CALLBACK(on_message), fx);
	return client;
}

/* lets the main loop run for @ms */
static void
run_for(guint ms)
{
	gint64 end = g_get_monotonic_time() + ms * 1000;

	while (g_get_monotonic_time() < end) {
		g_main_context_iteration(NULL, FALSE);
		g_usleep(500);
	}
}

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	fx->identity = pl_identity_generate(&error);
	g_assert_no_error(error);
	fx->fake = fake_service_new(0);
	fx->client = new_client(fx, fx->fake->url);
	fx->states = g_ptr_array_new();
	fx->messages = g_ptr_array_new_with_free_func(g_free);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
	if (fx->client != NULL)
		pl_rendezvous_client_stop(fx->client);
	/* let the close handshake finish, so nothing is left behind */
	for (guint i = 0; i < 100 && fx->fake->sockets->len > 0; i++) {
		g_main_context_iteration(NULL, FALSE);
		g_usleep(1000);
	}
	g_clear_object(&fx->client);
	/* the server notices the client's HTTP connections close, and frees them */
	run_for(50);
	g_clear_pointer(&fx->fake, fake_service_free);
	run_for(20);
	g_clear_object(&fx->identity);
	g_ptr_array_unref(fx->states);
	g_ptr_array_unref(fx->messages);
}

typedef gboolean (*Condition)(Fixture *fx);

static void
wait_for(Fixture *fx, Condition condition, const gchar *what)
{
	gint64 deadline = g_get_monotonic_time() + WAIT_TIMEOUT_US;

	while (!condition(fx)) {
		if (g_get_monotonic_time() > deadline)
			g_error("timed out waiting for %s (state %s, last error %s)", what,
			        pl_rendezvous_client_state_to_string(
			                pl_rendezvous_client_get_state(fx->client)),
			        pl_rendezvous_client_get_last_error(fx->client));
		g_main_context_iteration(NULL, FALSE);
		g_usleep(500);
	}
}

static gboolean
is_connected(Fixture *fx)
{
	return pl_rendezvous_client_get_state(fx->client) == PL_RENDEZVOUS_CLIENT_STATE_CONNECTED;
}

static gboolean
is_backing_off(Fixture *fx)
{
	return pl_rendezvous_client_get_state(fx->client) == PL_RENDEZVOUS_CLIENT_STATE_BACKING_OFF;
}

static gboolean
server_has_socket(Fixture *fx)
{
	return fx->fake->sockets->len == 1;
}

static gboolean
server_lost_socket(Fixture *fx)
{
	return fx->fake->sockets->len == 0;
}

static void
connect_client(Fixture *fx)
{
	pl_rendezvous_client_start(fx->client);
	wait_for(fx, is_connected, "connected");
	wait_for(fx, server_has_socket, "the server's side of the socket");
}

static void
test_connect(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *expected_authorization = NULL;
	JsonObject *ice;

	g_assert_cmpint(pl_rendezvous_client_get_state(fx->client), ==,
	                PL_RENDEZVOUS_CLIENT_STATE_DISABLED);
	connect_client(fx);
	g_assert_cmpuint(fx->fake->n_challenges, ==, 1);
	g_assert_cmpuint(fx->fake->n_sessions, ==, 1);
	g_assert_cmpuint(fx->fake->n_websockets, ==, 1);
	g_assert_cmpuint(fx->states->len, ==, 2);
	g_assert_cmpint(GPOINTER_TO_INT(fx->states->pdata[0]), ==,
	                PL_RENDEZVOUS_CLIENT_STATE_CONNECTING);
	g_assert_cmpint(GPOINTER_TO_INT(fx->states->pdata[1]), ==,
	                PL_RENDEZVOUS_CLIENT_STATE_CONNECTED);
	g_assert_null(pl_rendezvous_client_get_last_error(fx->client));
	g_assert_cmpint(pl_rendezvous_client_get_next_attempt(fx->client), ==, 0);
	g_assert_cmpstr(fx->fake->last_protocol, ==, PL_RENDEZVOUS_WS_PROTOCOL);
	g_assert_true(g_str_has_prefix(fx->fake->last_authorization, "Bearer "));
	g_assert_true(g_hash_table_contains(fx->fake->tokens,
	                                    fx->fake->last_authorization + strlen("Bearer ")));
	ice = pl_rendezvous_client_get_ice(fx->client);
	g_assert_nonnull(ice);
	g_assert_cmpstr(json_array_get_string_element(json_object_get_array_member(ice, "stun"), 0),
	                ==, "stun:198.51.100.10:3478");

	/* the heartbeat: a ping every 50 ms, answered: stays connected past the 400 ms limit */
	run_for(600);
	g_assert_true(is_connected(fx));
	g_assert_cmpuint(fx->fake->n_pings, >=, 5);

	/* stop closes the socket normally */
	pl_rendezvous_client_stop(fx->client);
	g_assert_cmpint(pl_rendezvous_client_get_state(fx->client), ==,
	                PL_RENDEZVOUS_CLIENT_STATE_DISABLED);
	wait_for(fx, server_lost_socket, "the server to see the socket close");
	g_assert_cmpuint(fx->fake->last_close_code, ==, SOUP_WEBSOCKET_CLOSE_NORMAL);

	/* and start signs in again with the token it has */
	connect_client(fx);
	g_assert_cmpuint(fx->fake->n_sessions, ==, 1);
	g_assert_cmpuint(fx->fake->n_websockets, ==, 2);
}

/* sending */

static void
store_result_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	GAsyncResult **out = user_data;

	g_assert_null(*out);
	*out = g_object_ref(result);
}

static gchar *
send_sync(Fixture *fx, const gchar *kind, GCancellable *cancellable, GError **error)
{
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(JsonObject) body = json_object_new();

	json_object_set_string_member(body, "sdp", "v=0");
	pl_rendezvous_client_send_async(fx->client, pl_identity_get_peer_id_string(fx->identity),
	                                kind, body, cancellable, store_result_cb, &result);
	while (result == NULL)
		g_main_context_iteration(NULL, TRUE);
	return pl_rendezvous_client_send_finish(fx->client, result, error);
}

static gboolean
cancel_cb(gpointer user_data)
{
	g_cancellable_cancel(user_data);
	return G_SOURCE_REMOVE;
}

static gboolean
close_sockets_cb(gpointer user_data)
{
	fake_service_close_sockets(user_data, SOUP_WEBSOCKET_CLOSE_GOING_AWAY);
	return G_SOURCE_REMOVE;
}

static void
test_send(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GCancellable) cancellable = g_cancellable_new();
	g_autofree gchar *id = NULL;
	gchar *none;
	gint64 started;

	/* not connected: fails at once */
	none = send_sync(fx, "offer", NULL, &error);
	g_assert_null(none);
	g_assert_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_NOT_CONNECTED);
	g_clear_error(&error);

	connect_client(fx);
	id = send_sync(fx, "offer", NULL, &error);
	g_assert_no_error(error);
	g_assert_true(pl_rendezvous_message_id_is_valid(id));
	g_assert_cmpuint(fake_service_count_frames(fx->fake, "send"), ==, 1);
	g_assert_nonnull(
	        strstr(fx->fake->frames->pdata[fx->fake->frames->len - 1], "\"kind\":\"offer\""));

	/* the service's error, with its code */
	fx->fake->send_error = g_strdup("peer-offline");
	none = send_sync(fx, "offer", NULL, &error);
	g_assert_null(none);
	g_assert_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_PEER_OFFLINE);
	g_clear_error(&error);
	g_clear_pointer(&fx->fake->send_error, g_free);

	/* a kind the contract does not allow never leaves */
	none = send_sync(fx, "Offer!", NULL, &error);
	g_assert_null(none);
	g_assert_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST);
	g_clear_error(&error);
	g_assert_cmpuint(fake_service_count_frames(fx->fake, "send"), ==, 2);

	/* no answer: times out */
	fx->fake->answer_sends = FALSE;
	started = g_get_monotonic_time();
	none = send_sync(fx, "offer", NULL, &error);
	g_assert_null(none);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
	g_assert_cmpint(g_get_monotonic_time() - started, >=, 300 * 1000);
	g_clear_error(&error);

	/* cancelled */
	g_timeout_add(20, cancel_cb, cancellable);
	none = send_sync(fx, "offer", cancellable, &error);
	g_assert_null(none);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_clear_error(&error);

	/* the connection drops while waiting: fails at once, and the client reconnects */
	g_timeout_add(20, close_sockets_cb, fx->fake);
	started = g_get_monotonic_time();
	none = send_sync(fx, "offer", NULL, &error);
	g_assert_null(none);
	g_assert_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_NOT_CONNECTED);
	g_assert_cmpint(g_get_monotonic_time() - started, <, 250 * 1000);
	g_clear_error(&error);
	wait_for(fx, is_connected, "connected again");
	g_assert_cmpuint(fx->fake->n_sessions, ==, 1); /* the token is still good */

	/* the service no longer knows the token: sign in again */
	fx->fake->send_error = g_strdup("unauthorized");
	none = send_sync(fx, "offer", NULL, &error);
	g_assert_null(none);
	g_assert_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_UNAUTHORIZED);
	g_clear_error(&error);
	g_clear_pointer(&fx->fake->send_error, g_free);
	wait_for(fx, is_connected, "connected with a new token");
	g_assert_cmpuint(fx->fake->n_sessions, ==, 2);
}

/* receiving */

static gboolean
three_acks(Fixture *fx)
{
	return fake_service_count_frames(fx->fake, "ack") == 3;
}

static void
test_messages(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *id1 = pl_rendezvous_message_id_new();
	g_autofree gchar *id2 = pl_rendezvous_message_id_new();
	g_autofree gchar *expected = NULL;
	const gchar *from = "AXPI7DZ-NR6OTI5-KDMGBLG-J7URQHN-TMF2REO-V2OXETE-PGO3WG3-LJLUJJK";
	g_autoptr(PlIdentity) other = pl_identity_generate(NULL);

	from = pl_identity_get_peer_id_string(other);
	connect_client(fx);
	fake_service_send_message(fx->fake, id1, from, "offer");
	fake_service_send_message(fx->fake, id1, from, "offer"); /* delivered again */
	fake_service_send_message(fx->fake, id2, from, "answer");
	wait_for(fx, three_acks, "three acks");
	/* every delivery is acknowledged, but each message reported once, in order */
	g_assert_cmpuint(fx->messages->len, ==, 2);
	expected = g_strdup_printf("%s offer %s", from, id1);
	g_assert_cmpstr(fx->messages->pdata[0], ==, expected);
	g_free(expected);
	expected = g_strdup_printf("%s answer %s", from, id2);
	g_assert_cmpstr(fx->messages->pdata[1], ==, expected);
	g_assert_true(is_connected(fx));
}

/* failures and recovery */

static void
test_heartbeat_timeout(Fixture *fx, gconstpointer data)
{
	connect_client(fx);
	fx->fake->silent = TRUE;
	wait_for(fx, is_backing_off, "the silent connection to be given up");
	g_assert_nonnull(strstr(pl_rendezvous_client_get_last_error(fx->client), "sent nothing"));
	g_assert_cmpint(pl_rendezvous_client_get_next_attempt(fx->client), >, 0);
	fx->fake->silent = FALSE;
	wait_for(fx, is_connected, "connected again");
	g_assert_null(pl_rendezvous_client_get_last_error(fx->client));
	g_assert_cmpuint(fx->fake->n_websockets, ==, 2);
	g_assert_cmpuint(fx->fake->n_sessions, ==, 1);
}

static void
test_reauth(Fixture *fx, gconstpointer data)
{
	connect_client(fx);
	/* a restarted service: the token is gone and so is the socket */
	g_hash_table_remove_all(fx->fake->tokens);
	fake_service_close_sockets(fx->fake, SOUP_WEBSOCKET_CLOSE_GOING_AWAY);
	wait_for(fx, is_backing_off, "the closed socket to be noticed");
	g_assert_nonnull(strstr(pl_rendezvous_client_get_last_error(fx->client), "closed"));
	wait_for(fx, is_connected, "connected again");
	/* the WebSocket said 401, the client signed in again by itself */
	g_assert_cmpuint(fx->fake->n_sessions, ==, 2);
	g_assert_cmpuint(fx->fake->n_websockets, ==, 2);
}

static gboolean
retried_three_times(Fixture *fx)
{
	guint n = 0;

	for (guint i = 0; i < fx->states->len; i++) {
		if (GPOINTER_TO_INT(fx->states->pdata[i]) == PL_RENDEZVOUS_CLIENT_STATE_CONNECTING)
			n++;
	}
	return n >= 3;
}

static void
test_backoff(Fixture *fx, gconstpointer data)
{
	guint port = fx->fake->port;
	g_autofree gchar *url = g_strdup(fx->fake->url);

	/* nothing listens */
	g_clear_pointer(&fx->fake, fake_service_free);
	pl_rendezvous_client_start(fx->client);
	wait_for(fx, is_backing_off, "backing off");
	g_assert_nonnull(pl_rendezvous_client_get_last_error(fx->client));
	g_assert_cmpint(pl_rendezvous_client_get_next_attempt(fx->client), >, 0);
	g_assert_cmpint(pl_rendezvous_client_get_next_attempt_seconds(fx->client), <=, 1);
	wait_for(fx, retried_three_times, "three attempts");

	/* the service comes up */
	fx->fake = fake_service_new(port);
	wait_for(fx, is_connected, "connected");
	wait_for(fx, server_has_socket, "the server's side of the socket");
	g_assert_cmpint(pl_rendezvous_client_get_next_attempt_seconds(fx->client), ==, -1);

	/* a service error while signing in is a failure like any other */
	fx->fake->challenge_status = 503;
	g_ptr_array_set_size(fx->states, 0);
	g_hash_table_remove_all(fx->fake->tokens);
	fake_service_close_sockets(fx->fake, SOUP_WEBSOCKET_CLOSE_GOING_AWAY);
	wait_for(fx, is_backing_off, "backing off");
	wait_for(fx, retried_three_times, "more attempts");
	g_assert_nonnull(strstr(pl_rendezvous_client_get_last_error(fx->client), "unavailable"));
	fx->fake->challenge_status = 0;
	wait_for(fx, is_connected, "connected");
}

static void
test_lookup(Fixture *fx, gconstpointer data)
{
	g_autoptr(PlIdentity) other = pl_identity_generate(NULL);
	const gchar *peers[] = {pl_identity_get_peer_id_string(fx->identity),
	                        pl_identity_get_peer_id_string(other)};

	connect_client(fx);
	for (guint i = 0; i < G_N_ELEMENTS(peers); i++) {
		g_autoptr(GAsyncResult) result = NULL;
		g_autoptr(GError) error = NULL;
		gboolean online = FALSE;

		pl_rendezvous_client_lookup_async(fx->client, peers[i], NULL, store_result_cb,
		                                  &result);
		while (result == NULL)
			g_main_context_iteration(NULL, TRUE);
		g_assert_true(
		        pl_rendezvous_client_lookup_finish(fx->client, result, &online, &error));
		g_assert_no_error(error);
		g_assert_cmpint(online, ==, i == 0);
	}

	/* the token is no good any more: an error, and a new sign-in */
	g_hash_table_remove_all(fx->fake->tokens);
	{
		g_autoptr(GAsyncResult) result = NULL;
		g_autoptr(GError) error = NULL;

		pl_rendezvous_client_lookup_async(fx->client, peers[1], NULL, store_result_cb,
		                                  &result);
		while (result == NULL)
			g_main_context_iteration(NULL, TRUE);
		g_assert_false(
		        pl_rendezvous_client_lookup_finish(fx->client, result, NULL, &error));
		g_assert_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_UNAUTHORIZED);
	}
	wait_for(fx, is_connected, "connected again");
	g_assert_cmpuint(fx->fake->n_sessions, ==, 2);
}

/* dropping the client in the middle of signing in leaves nothing behind */
static void
test_dispose_while_connecting(Fixture *fx, gconstpointer data)
{
	pl_rendezvous_client_start(fx->client);
	for (guint i = 0; i < 3; i++)
		g_main_context_iteration(NULL, FALSE);
	g_clear_object(&fx->client);
	run_for(100);
}

int
main(int argc, char *argv[])
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerlink/rendezvous-client/state-names", test_state_names);
	g_test_add_func("/peerlink/rendezvous-client/recent-ids", test_recent_ids);
	g_test_add_func("/peerlink/rendezvous-client/endpoints", test_endpoints);
	g_test_add_func("/peerlink/rendezvous-client/parse-url", test_parse_url);
	g_test_add_func("/peerlink/rendezvous-client/lookup-reply", test_lookup_reply);
	g_test_add_func("/peerlink/rendezvous-client/describe-error", test_describe_error);
	g_test_add_func("/peerlink/rendezvous-client/seconds-until", test_seconds_until);
	g_test_add_func("/peerlink/rendezvous-client/new-errors", test_new_errors);
	g_test_add("/peerlink/rendezvous-client/connect", Fixture, NULL, fixture_setup,
	           test_connect, fixture_teardown);
	g_test_add("/peerlink/rendezvous-client/send", Fixture, NULL, fixture_setup, test_send,
	           fixture_teardown);
	g_test_add("/peerlink/rendezvous-client/messages", Fixture, NULL, fixture_setup,
	           test_messages, fixture_teardown);
	g_test_add("/peerlink/rendezvous-client/heartbeat-timeout", Fixture, NULL, fixture_setup,
	           test_heartbeat_timeout, fixture_teardown);
	g_test_add("/peerlink/rendezvous-client/reauth", Fixture, NULL, fixture_setup, test_reauth,
	           fixture_teardown);
	g_test_add("/peerlink/rendezvous-client/backoff", Fixture, NULL, fixture_setup,
	           test_backoff, fixture_teardown);
	g_test_add("/peerlink/rendezvous-client/lookup", Fixture, NULL, fixture_setup, test_lookup,
	           fixture_teardown);
	g_test_add("/peerlink/rendezvous-client/dispose-while-connecting", Fixture, NULL,
	           fixture_setup, test_dispose_while_connecting, fixture_teardown);
	return g_test_run();
}
