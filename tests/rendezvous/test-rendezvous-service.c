/*
 * The real peerlink-rendezvous binary on a free loopback port, driven by a
 * small libsoup client: authentication, delivery over WebSockets, limits,
 * bad requests, HTTPS and the state file.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <string.h>

#include "pl-rendezvous-protocol.h"
#include "pl-test-checker.h"
#include "pl-test-util.h"

#ifndef PEERLINK_RENDEZVOUS_BIN
#error "PEERLINK_RENDEZVOUS_BIN must be defined"
#endif

/* stretched when the service runs under valgrind */
#define TIMEOUT_MS pl_test_checker_scale(5000)

/* ---------------------------------------------------------------------------------------- */
/* the service */

typedef struct {
	GSubprocess *process;
	gchar *report_dir; /* the checker's (valgrind, sanitizers) */
	GDataInputStream *output;
	GString *log;
	gchar *base;     /* "http://127.0.0.1:PORT" */
	gchar *audience; /* "127.0.0.1:PORT" */
	gboolean reading;
	gboolean exited;
	SoupSession *session;
} Rv;

static gboolean
spin_until(gboolean *flag, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	while (!*flag) {
		if (g_get_monotonic_time() > deadline)
			return FALSE;
		g_main_context_iteration(NULL, FALSE);
		if (!*flag)
			g_usleep(200);
	}
	return TRUE;
}

static void
rv_read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Rv *rv = user_data;
	g_autofree gchar *line = g_data_input_stream_read_line_finish_utf8(
	        G_DATA_INPUT_STREAM(source), result, NULL, NULL);
	if (line == NULL) {
		rv->reading = FALSE;
		return;
	}
	g_string_append_printf(rv->log, "%s\n", line);
	g_data_input_stream_read_line_async(G_DATA_INPUT_STREAM(source), G_PRIORITY_DEFAULT, NULL,
	                                    rv_read_cb, rv);
}

static void
rv_wait_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Rv *rv = user_data;
	g_subprocess_wait_finish(G_SUBPROCESS(source), result, NULL);
	rv->exited = TRUE;
}

static void
die_with_parent(gpointer user_data)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* what the checker found fails the test; the directory goes */
static void
rv_check_reports(Rv *rv)
{
	pl_test_checker_check(rv->report_dir, "peerlink-rendezvous");
	pl_test_remove_tree(rv->report_dir);
	g_free(rv->report_dir);
}

/* starts the service with these options; NULL on failure with the output in *output */
static Rv *
rv_start_full(const gchar *const *options, GTlsDatabase *trust, gchar **output)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) checked_argv = NULL;
	g_auto(GStrv) env = NULL;
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	Rv *rv = g_new0(Rv, 1);

	g_ptr_array_add(argv, (gpointer)PEERLINK_RENDEZVOUS_BIN);
	g_ptr_array_add(argv, (gpointer) "--listen");
	g_ptr_array_add(argv, (gpointer) "127.0.0.1:0");
	for (guint i = 0; options != NULL && options[i] != NULL; i++)
		g_ptr_array_add(argv, (gpointer)options[i]);
	g_ptr_array_add(argv, NULL);
	/* under the test's checker (valgrind, sanitizers) */
	checked_argv = pl_test_checker_argv((const gchar *const *)argv->pdata);
	rv->report_dir = g_dir_make_tmp("peerlink-rv-report-XXXXXX", &error);
	g_assert_no_error(error);
	env = pl_test_checker_environ(g_get_environ(), rv->report_dir);

	rv->log = g_string_new(NULL);
	launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE |
	                                     G_SUBPROCESS_FLAGS_STDERR_MERGE);
	g_subprocess_launcher_set_environ(launcher, env);
	/* gone with the test, even when an assertion aborts it */
	g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
	rv->process =
	        g_subprocess_launcher_spawnv(launcher, (const gchar *const *)checked_argv, &error);
	g_assert_no_error(error);
	rv->output = g_data_input_stream_new(g_subprocess_get_stdout_pipe(rv->process));
	g_subprocess_wait_async(rv->process, NULL, rv_wait_cb, rv);

	/* the first lines say where it listens */
	for (;;) {
		g_autofree gchar *line =
		        g_data_input_stream_read_line_utf8(rv->output, NULL, NULL, NULL);
		const gchar *at;
		if (line == NULL) {
			if (output != NULL)
				*output = g_strdup(rv->log->str);
			else
				g_error("the service did not start:\n%s", rv->log->str);
			g_object_unref(rv->output);
			spin_until(&rv->exited, TIMEOUT_MS);
			g_object_unref(rv->process);
			g_string_free(rv->log, TRUE);
			rv_check_reports(rv);
			g_free(rv);
			return NULL;
		}
		g_string_append_printf(rv->log, "%s\n", line);
		at = strstr(line, "listening on ");
		if (at != NULL) {
			rv->base = g_strdup(at + strlen("listening on "));
			break;
		}
	}
	rv->audience = g_strdup(strstr(rv->base, "://") + 3);
	rv->reading = TRUE;
	g_data_input_stream_read_line_async(rv->output, G_PRIORITY_DEFAULT, NULL, rv_read_cb, rv);
	rv->session =
	        soup_session_new_with_options("timeout", pl_test_checker_scale(10000) / 1000, NULL);
	if (trust != NULL)
		soup_session_set_tls_database(rv->session, trust);
	return rv;
}

static Rv *
rv_start(const gchar *const *options)
{
	return rv_start_full(options, NULL, NULL);
}

/* SIGTERM, and the exit status */
static gint
rv_stop(Rv *rv)
{
	gint status;

	soup_session_abort(rv->session);
	g_subprocess_send_signal(rv->process, SIGTERM);
	g_assert_true(spin_until(&rv->exited, TIMEOUT_MS));
	while (rv->reading)
		g_main_context_iteration(NULL, TRUE);
	status = g_subprocess_get_if_exited(rv->process) ? g_subprocess_get_exit_status(rv->process)
	                                                 : -1;
	if (status != 0)
		g_test_message("service output:\n%s", rv->log->str);
	rv_check_reports(rv);
	g_object_unref(rv->session);
	g_object_unref(rv->output);
	g_object_unref(rv->process);
	g_string_free(rv->log, TRUE);
	g_free(rv->base);
	g_free(rv->audience);
	g_free(rv);
	return status;
}

/* ---------------------------------------------------------------------------------------- */
/* HTTP */

typedef struct {
	guint status;
	gchar *body;
	gsize len;
	SoupMessageHeaders *headers;
	JsonObject *json; /* when the body is a JSON object */
} Reply;

static void
reply_free(Reply *reply)
{
	g_free(reply->body);
	if (reply->headers != NULL)
		soup_message_headers_unref(reply->headers);
	if (reply->json != NULL)
		json_object_unref(reply->json);
	g_free(reply);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Reply, reply_free)

static Reply *
http_full(Rv *rv,
          const gchar *method,
          const gchar *path,
          const gchar *token,
          const gchar *content_type,
          const gchar *body,
          gssize len)
{
	g_autofree gchar *uri = g_strconcat(rv->base, path, NULL);
	g_autoptr(SoupMessage) msg = soup_message_new(method, uri);
	g_autoptr(GBytes) reply_body = NULL;
	g_autoptr(GError) error = NULL;
	Reply *reply = g_new0(Reply, 1);

	g_assert_nonnull(msg);
	if (token != NULL) {
		g_autofree gchar *value = g_strdup_printf("Bearer %s", token);
		soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization",
		                             value);
	}
	if (body != NULL) {
		g_autoptr(GBytes) bytes = g_bytes_new(body, len < 0 ? strlen(body) : (gsize)len);
		soup_message_set_request_body_from_bytes(msg, content_type, bytes);
	}
	reply_body = soup_session_send_and_read(rv->session, msg, NULL, &error);
	if (error != NULL) {
		gint64 deadline = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;
		while (rv->reading && g_get_monotonic_time() < deadline)
			g_main_context_iteration(NULL, FALSE);
		g_error("%s %s: %s\nservice output:\n%s", method, path, error->message,
		        rv->log->str);
	}
	reply->status = soup_message_get_status(msg);
	reply->body = g_strndup(g_bytes_get_data(reply_body, NULL), g_bytes_get_size(reply_body));
	reply->len = g_bytes_get_size(reply_body);
	reply->headers = soup_message_headers_ref(soup_message_get_response_headers(msg));
	reply->json = pl_rendezvous_parse_object(reply->body, reply->len, NULL);
	return reply;
}

static Reply *
http(Rv *rv, const gchar *method, const gchar *path, const gchar *token, const gchar *json)
{
	return http_full(rv, method, path, token, json != NULL ? "application/json" : NULL, json,
	                 -1);
}

static const gchar *
reply_error_code(Reply *reply)
{
	JsonObject *error;
	g_assert_nonnull(reply->json);
	error = json_object_get_object_member(reply->json, "error");
	g_assert_nonnull(error);
	return json_object_get_string_member(error, "code");
}

static void
assert_error_reply(Reply *reply, guint status, const gchar *code)
{
	if (reply->status != status || reply->json == NULL ||
	    g_strcmp0(reply_error_code(reply), code) != 0)
		g_error("expected %u %s, got %u %s", status, code, reply->status, reply->body);
	g_assert_cmpstr(soup_message_headers_get_content_type(reply->headers, NULL), ==,
	                "application/json");
}

static void
assert_healthy(Rv *rv)
{
	g_autoptr(Reply) reply = http(rv, "GET", "/v1/health", NULL, NULL);
	g_assert_cmpuint(reply->status, ==, 200);
	g_assert_cmpstr(json_object_get_string_member(reply->json, "status"), ==, "ok");
}

static gchar *
get_challenge(Rv *rv, const gchar *peer_id)
{
	g_autofree gchar *body = pl_rendezvous_build_challenge_request(peer_id);
	g_autoptr(Reply) reply = http(rv, "POST", "/v1/auth/challenge", NULL, body);
	g_autofree gchar *challenge = NULL;
	g_autofree gchar *audience = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_cmpuint(reply->status, ==, 200);
	g_assert_true(pl_rendezvous_parse_challenge_reply(reply->body, reply->len, &challenge,
	                                                  &audience, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(audience, ==, rv->audience);
	return g_steal_pointer(&challenge);
}

/* the audience as the client computes it from its URL */
static gchar *
client_audience(Rv *rv)
{
	g_autoptr(GUri) uri = g_uri_parse(rv->base, G_URI_FLAGS_NONE, NULL);
	return pl_rendezvous_audience_from_uri(uri);
}

static Reply *
open_session(Rv *rv, PlIdentity *identity, const gchar *challenge)
{
	g_autofree gchar *audience = client_audience(rv);
	g_autofree gchar *body =
	        pl_rendezvous_build_session_request(identity, challenge, audience, NULL);
	return http(rv, "POST", "/v1/auth/session", NULL, body);
}

static gchar *
authenticate(Rv *rv, PlIdentity *identity)
{
	g_autofree gchar *challenge = get_challenge(rv, pl_identity_get_peer_id_string(identity));
	g_autoptr(Reply) reply = open_session(rv, identity, challenge);
	g_autoptr(PlRendezvousSession) session = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_cmpuint(reply->status, ==, 200);
	session = pl_rendezvous_parse_session_reply(reply->body, reply->len, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(session->peer_id, ==, pl_identity_get_peer_id_string(identity));
	return g_strdup(session->token);
}

static PlIdentity *
identity_new(void)
{
	g_autoptr(GError) error = NULL;
	PlIdentity *identity = pl_identity_generate(&error);
	g_assert_no_error(error);
	return identity;
}

static gchar *
send_body(const gchar *to, const gchar *kind, const gchar *body_json)
{
	return g_strdup_printf("{\"to\":\"%s\",\"kind\":\"%s\",\"body\":%s}", to, kind, body_json);
}

/* ---------------------------------------------------------------------------------------- */
/* WebSocket client */

typedef struct {
	SoupWebsocketConnection *ws;
	GQueue *frames; /* gchar * */
	gboolean done;  /* connect finished */
	gboolean closed;
	gushort close_code;
	guint status; /* of a refused handshake */
	GError *error;
} Ws;

static void
ws_message_cb(SoupWebsocketConnection *ws, gint type, GBytes *data, gpointer user_data)
{
	Ws *self = user_data;
	g_queue_push_tail(self->frames,
	                  g_strndup(g_bytes_get_data(data, NULL), g_bytes_get_size(data)));
}

static void
ws_closed_cb(SoupWebsocketConnection *ws, gpointer user_data)
{
	Ws *self = user_data;
	self->closed = TRUE;
	self->close_code = soup_websocket_connection_get_close_code(ws);
}

static void
ws_connect_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Ws *self = user_data;
	self->ws =
	        soup_session_websocket_connect_finish(SOUP_SESSION(source), result, &self->error);
	if (self->ws != NULL) {
		g_signal_connect(self->ws, "message", G_CALLBACK(ws_message_cb), self);
		g_signal_connect(self->ws, "closed", G_CALLBACK(ws_closed_cb), self);
	}
	self->done = TRUE;
}

static void
ws_free(Ws *self)
{
	if (self->ws != NULL) {
		g_signal_handlers_disconnect_by_data(self->ws, self);
		if (soup_websocket_connection_get_state(self->ws) == SOUP_WEBSOCKET_STATE_OPEN)
			soup_websocket_connection_close(self->ws, SOUP_WEBSOCKET_CLOSE_NORMAL,
			                                NULL);
		g_object_unref(self->ws);
	}
	g_queue_free_full(self->frames, g_free);
	g_clear_error(&self->error);
	g_free(self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Ws, ws_free)

static Ws *
ws_connect_full(Rv *rv, const gchar *token)
{
	g_autofree gchar *uri = g_strconcat(rv->base, "/v1/ws", NULL);
	g_autoptr(SoupMessage) msg = soup_message_new("GET", uri);
	const gchar *protocols[] = {PL_RENDEZVOUS_WS_PROTOCOL, NULL};
	Ws *self = g_new0(Ws, 1);

	self->frames = g_queue_new();
	if (token != NULL) {
		g_autofree gchar *value = g_strdup_printf("Bearer %s", token);
		soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization",
		                             value);
	}
	soup_session_websocket_connect_async(rv->session, msg, NULL, (gchar **)protocols,
	                                     G_PRIORITY_DEFAULT, NULL, ws_connect_cb, self);
	g_assert_true(spin_until(&self->done, TIMEOUT_MS));
	self->status = soup_message_get_status(msg);
	return self;
}

static Ws *
ws_connect(Rv *rv, const gchar *token)
{
	Ws *self = ws_connect_full(rv, token);
	g_assert_no_error(self->error);
	g_assert_cmpstr(soup_websocket_connection_get_protocol(self->ws), ==,
	                PL_RENDEZVOUS_WS_PROTOCOL);
	return self;
}

static void
ws_send(Ws *self, const gchar *text)
{
	soup_websocket_connection_send_text(self->ws, text);
}

/* the next frame of this type (others stay queued); NULL on timeout */
static JsonObject *
ws_wait_frame(Ws *self, const gchar *type, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	for (;;) {
		for (GList *l = self->frames->head; l != NULL; l = l->next) {
			const gchar *text = l->data;
			JsonObject *object = pl_rendezvous_parse_object(text, strlen(text), NULL);
			g_assert_nonnull(object);
			if (g_strcmp0(json_object_get_string_member(object, "type"), type) == 0) {
				g_free(l->data);
				g_queue_delete_link(self->frames, l);
				return object;
			}
			json_object_unref(object);
		}
		if (g_get_monotonic_time() > deadline || self->closed)
			return NULL;
		g_main_context_iteration(NULL, FALSE);
		g_usleep(50);
	}
}

static void
ws_wait_closed(Ws *self, guint timeout_ms)
{
	g_assert_true(spin_until(&self->closed, timeout_ms));
}

/* a peer online with its token and socket */
typedef struct {
	PlIdentity *identity;
	gchar *token;
	Ws *ws;
} Peer;

static Peer *
peer_new(Rv *rv, gboolean connect)
{
	Peer *peer = g_new0(Peer, 1);
	peer->identity = identity_new();
	peer->token = authenticate(rv, peer->identity);
	if (connect)
		peer->ws = ws_connect(rv, peer->token);
	return peer;
}

static void
peer_free(Peer *peer)
{
	g_clear_pointer(&peer->ws, ws_free);
	g_object_unref(peer->identity);
	g_free(peer->token);
	g_free(peer);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Peer, peer_free)

static const gchar *
peer_id(Peer *peer)
{
	return pl_identity_get_peer_id_string(peer->identity);
}

/* online as seen by the service: GET /v1/peers/<id> */
static gboolean
peer_is_online(Rv *rv, const gchar *token, const gchar *id)
{
	g_autofree gchar *path = g_strconcat("/v1/peers/", id, NULL);
	g_autoptr(Reply) reply = http(rv, "GET", path, token, NULL);
	if (reply->status == 200) {
		g_assert_true(json_object_get_boolean_member(reply->json, "online"));
		return TRUE;
	}
	assert_error_reply(reply, 404, "peer-offline");
	return FALSE;
}

static gboolean
wait_online(Rv *rv, const gchar *token, const gchar *id, gboolean online)
{
	for (guint i = 0; i < 200; i++) {
		if (peer_is_online(rv, token, id) == online)
			return TRUE;
		g_main_context_iteration(NULL, FALSE);
		g_usleep(10000);
	}
	return FALSE;
}

/* ---------------------------------------------------------------------------------------- */
/* tests */

static void
test_auth(void)
{
	const gchar *options[] = {"--turn-secret",
	                          "north-sea-7",
	                          "--turn-uri",
	                          "turn:198.51.100.10:3478?transport=udp",
	                          "--turn-uri",
	                          "turn:198.51.100.10:3478?transport=tcp",
	                          NULL};
	Rv *rv = rv_start(options);
	g_autoptr(PlIdentity) alice = identity_new();
	g_autoptr(PlIdentity) mallory = identity_new();
	g_autofree gchar *token = authenticate(rv, alice);

	/* the token works, and the ice object has coturn credentials */
	{
		g_autoptr(Reply) reply = http(rv, "GET", "/v1/ice", token, NULL);
		g_autoptr(JsonObject) ice = NULL;
		JsonObject *turn;
		const gchar *username;
		g_autofree gchar *expected_suffix =
		        g_strconcat(":", pl_identity_get_peer_id_string(alice), NULL);
		g_autoptr(GError) error = NULL;

		g_assert_cmpuint(reply->status, ==, 200);
		ice = pl_rendezvous_parse_ice_reply(reply->body, reply->len, &error);
		g_assert_no_error(error);
		g_assert_cmpstr(
		        json_array_get_string_element(json_object_get_array_member(ice, "stun"), 0),
		        ==, "stun:198.51.100.10:3478");
		turn = json_array_get_object_element(json_object_get_array_member(ice, "turn"), 0);
		username = json_object_get_string_member(turn, "username");
		g_assert_true(g_str_has_suffix(username, expected_suffix));
		g_assert_cmpint(json_object_get_int_member(turn, "ttl"), ==, 43200);
		g_assert_cmpuint(json_array_get_length(json_object_get_array_member(turn, "urls")),
		                 ==, 2);
	}

	/* the public key of another identity: auth-failed */
	{
		g_autofree gchar *challenge =
		        get_challenge(rv, pl_identity_get_peer_id_string(alice));
		g_autofree gchar *audience = client_audience(rv);
		g_autofree gchar *body =
		        pl_rendezvous_build_session_request(alice, challenge, audience, NULL);
		g_autoptr(JsonObject) object = pl_rendezvous_parse_object(body, strlen(body), NULL);
		g_autoptr(GBytes) key = pl_identity_get_public_key(mallory);
		g_autofree gchar *key_text = pl_rendezvous_base64url_encode(
		        g_bytes_get_data(key, NULL), g_bytes_get_size(key));
		g_autofree gchar *forged = NULL;
		g_autoptr(Reply) reply = NULL;

		json_object_set_string_member(object, "public_key", key_text);
		forged = pl_rendezvous_object_to_string(object);
		reply = http(rv, "POST", "/v1/auth/session", NULL, forged);
		assert_error_reply(reply, 401, "auth-failed");
	}

	/* a signature for another audience: auth-failed */
	{
		g_autofree gchar *challenge =
		        get_challenge(rv, pl_identity_get_peer_id_string(alice));
		g_autofree gchar *body = pl_rendezvous_build_session_request(
		        alice, challenge, "evil.example:8480", NULL);
		g_autoptr(Reply) reply = http(rv, "POST", "/v1/auth/session", NULL, body);
		assert_error_reply(reply, 401, "auth-failed");
	}

	/* a replayed challenge: challenge-invalid */
	{
		g_autofree gchar *challenge =
		        get_challenge(rv, pl_identity_get_peer_id_string(alice));
		g_autoptr(Reply) first = open_session(rv, alice, challenge);
		g_autoptr(Reply) second = open_session(rv, alice, challenge);
		g_assert_cmpuint(first->status, ==, 200);
		assert_error_reply(second, 401, "challenge-invalid");
	}

	/* a challenge issued for another peer: challenge-invalid */
	{
		g_autofree gchar *challenge =
		        get_challenge(rv, pl_identity_get_peer_id_string(alice));
		g_autoptr(Reply) reply = open_session(rv, mallory, challenge);
		assert_error_reply(reply, 401, "challenge-invalid");
	}

	/* an unknown challenge */
	{
		g_autoptr(Reply) reply =
		        open_session(rv, alice, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
		assert_error_reply(reply, 401, "challenge-invalid");
	}

	/* revoking: the token stops working */
	{
		g_autoptr(Reply) revoke = http(rv, "DELETE", "/v1/auth/session", token, NULL);
		g_autoptr(Reply) after = http(rv, "GET", "/v1/ice", token, NULL);
		g_autoptr(Reply) garbage = http(rv, "GET", "/v1/ice", "not a token", NULL);
		g_assert_cmpuint(revoke->status, ==, 204);
		assert_error_reply(after, 401, "unauthorized");
		assert_error_reply(garbage, 401, "unauthorized");
	}

	/* metrics counted it all */
	{
		g_autoptr(Reply) reply = http(rv, "GET", "/metrics", NULL, NULL);
		g_assert_cmpuint(reply->status, ==, 200);
		g_assert_cmpstr(soup_message_headers_get_one(reply->headers, "Content-Type"), ==,
		                "text/plain; version=0.0.4");
		g_assert_nonnull(
		        strstr(reply->body, "peerlink_rendezvous_auth_total{result=\"ok\"} 2\n"));
		g_assert_nonnull(strstr(reply->body,
		                        "peerlink_rendezvous_auth_total{result=\"failed\"} 5\n"));
		g_assert_nonnull(
		        strstr(reply->body,
		               "peerlink_rendezvous_errors_total{kind=\"challenge-invalid\"} 3\n"));
	}
	g_assert_cmpint(rv_stop(rv), ==, 0);
}

static void
test_delivery(void)
{
	Rv *rv = rv_start(NULL);
	g_autoptr(Peer) alice = peer_new(rv, TRUE);
	g_autoptr(Peer) bob = peer_new(rv, TRUE);
	g_autoptr(GArray) latencies = g_array_new(FALSE, FALSE, sizeof(gdouble));
	g_autofree gchar *first_id = NULL;

	g_assert_true(wait_online(rv, alice->token, peer_id(bob), TRUE));
	g_assert_true(wait_online(rv, bob->token, peer_id(alice), TRUE));

	/* alice → bob over the socket; a "from" in the frame is ignored */
	{
		g_autofree gchar *frame = g_strdup_printf("{\"type\":\"send\",\"ref\":7,\"to\":\"%"
		                                          "s\",\"kind\":\"offer\",\"from\":\"%s\","
		                                          "\"body\":{\"sdp\":\"v=0\"}}",
		                                          peer_id(bob), peer_id(bob));
		g_autoptr(JsonObject) sent = NULL;
		g_autoptr(JsonObject) message = NULL;

		ws_send(alice->ws, frame);
		sent = ws_wait_frame(alice->ws, "sent", TIMEOUT_MS);
		g_assert_nonnull(sent);
		g_assert_cmpint(json_object_get_int_member(sent, "ref"), ==, 7);
		message = ws_wait_frame(bob->ws, "message", TIMEOUT_MS);
		g_assert_nonnull(message);
		g_assert_cmpstr(json_object_get_string_member(message, "from"), ==, peer_id(alice));
		g_assert_cmpstr(json_object_get_string_member(message, "id"), ==,
		                json_object_get_string_member(sent, "id"));
		g_assert_cmpstr(json_object_get_string_member(message, "kind"), ==, "offer");
		g_assert_cmpstr(json_object_get_string_member(
		                        json_object_get_object_member(message, "body"), "sdp"),
		                ==, "v=0");
		first_id = g_strdup(json_object_get_string_member(message, "id"));
	}

	/* bob → alice over HTTP, spoofing "from": still from bob */
	{
		g_autofree gchar *body = g_strdup_printf(
		        "{\"to\":\"%s\",\"kind\":\"answer\",\"from\":\"%s\",\"body\":{}}",
		        peer_id(alice), peer_id(alice));
		g_autoptr(Reply) reply = http(rv, "POST", "/v1/messages", bob->token, body);
		g_autoptr(JsonObject) message = NULL;

		g_assert_cmpuint(reply->status, ==, 202);
		g_assert_true(pl_rendezvous_message_id_is_valid(
		        json_object_get_string_member(reply->json, "id")));
		message = ws_wait_frame(alice->ws, "message", TIMEOUT_MS);
		g_assert_nonnull(message);
		g_assert_cmpstr(json_object_get_string_member(message, "from"), ==, peer_id(bob));
		g_assert_cmpstr(json_object_get_string_member(message, "id"), ==,
		                json_object_get_string_member(reply->json, "id"));
		{
			g_autofree gchar *ack = pl_rendezvous_frame_build_ack(
			        json_object_get_string_member(message, "id"));
			ws_send(alice->ws, ack);
		}
	}

	/* latency: from alice's send to bob's message frame */
	for (guint i = 0; i < 25; i++) {
		g_autofree gchar *frame = g_strdup_printf(
		        "{\"type\":\"send\",\"ref\":%u,\"to\":\"%s\",\"kind\":\"candidate\","
		        "\"body\":{\"n\":%u}}",
		        100 + i, peer_id(bob), i);
		g_autoptr(JsonObject) message = NULL;
		g_autoptr(JsonObject) sent = NULL;
		gint64 start = g_get_monotonic_time();
		gdouble ms;

		ws_send(alice->ws, frame);
		message = ws_wait_frame(bob->ws, "message", TIMEOUT_MS);
		ms = (gdouble)(g_get_monotonic_time() - start) / 1000.0;
		g_assert_nonnull(message);
		g_assert_cmpint(json_object_get_int_member(
		                        json_object_get_object_member(message, "body"), "n"),
		                ==, i);
		g_array_append_val(latencies, ms);
		sent = ws_wait_frame(alice->ws, "sent", TIMEOUT_MS);
		g_assert_nonnull(sent);
		{
			g_autofree gchar *ack = pl_rendezvous_frame_build_ack(
			        json_object_get_string_member(message, "id"));
			ws_send(bob->ws, ack);
		}
	}
	g_test_message("delivery latency: %.2f ms (median of %u; min %.2f ms, max %.2f ms)",
	               pl_test_percentile(latencies, 0.5), latencies->len,
	               pl_test_percentile(latencies, 0), pl_test_percentile(latencies, 1));

	/* ping → pong; a malformed frame gets an error with ref null, the socket stays */
	{
		g_autoptr(JsonObject) pong = NULL;
		g_autoptr(JsonObject) error = NULL;
		g_autoptr(JsonObject) error2 = NULL;
		g_autoptr(JsonObject) pong2 = NULL;

		ws_send(alice->ws, "{\"type\":\"ping\"}");
		pong = ws_wait_frame(alice->ws, "pong", TIMEOUT_MS);
		g_assert_nonnull(pong);
		ws_send(alice->ws, "{this is not json");
		error = ws_wait_frame(alice->ws, "error", TIMEOUT_MS);
		g_assert_nonnull(error);
		g_assert_true(JSON_NODE_HOLDS_NULL(json_object_get_member(error, "ref")));
		g_assert_cmpstr(json_object_get_string_member(
		                        json_object_get_object_member(error, "error"), "code"),
		                ==, "bad-request");
		/* a send with a bad recipient: error with its ref */
		ws_send(alice->ws,
		        "{\"type\":\"send\",\"ref\":9,\"to\":\"nobody\",\"kind\":\"offer\","
		        "\"body\":{}}");
		error2 = ws_wait_frame(alice->ws, "error", TIMEOUT_MS);
		g_assert_nonnull(error2);
		g_assert_cmpint(json_object_get_int_member(error2, "ref"), ==, 9);
		ws_send(alice->ws, "{\"type\":\"ping\"}");
		pong2 = ws_wait_frame(alice->ws, "pong", TIMEOUT_MS);
		g_assert_nonnull(pong2);
	}

	/* ack semantics: bob acks the first message only, reconnects, gets the rest again */
	{
		g_autoptr(JsonObject) again = NULL;
		g_autofree gchar *ack = pl_rendezvous_frame_build_ack(first_id);
		g_autoptr(JsonObject) pong = NULL;
		g_autofree gchar *body = send_body(peer_id(bob), "bye", "{\"last\":true}");
		g_autoptr(Reply) reply = http(rv, "POST", "/v1/messages", alice->token, body);
		g_autoptr(JsonObject) bye = NULL;
		g_autofree gchar *bye_id = NULL;

		g_assert_cmpuint(reply->status, ==, 202);
		bye = ws_wait_frame(bob->ws, "message", TIMEOUT_MS);
		g_assert_nonnull(bye);
		bye_id = g_strdup(json_object_get_string_member(bye, "id"));
		ws_send(bob->ws, ack);
		ws_send(bob->ws, "{\"type\":\"ping\"}");
		pong = ws_wait_frame(bob->ws, "pong", TIMEOUT_MS);
		g_assert_nonnull(pong);
		g_clear_pointer(&bob->ws, ws_free);
		g_assert_true(wait_online(rv, alice->token, peer_id(bob), FALSE));

		bob->ws = ws_connect(rv, bob->token);
		again = ws_wait_frame(bob->ws, "message", TIMEOUT_MS);
		g_assert_nonnull(again);
		/* not the acked one: the unacked "bye" */
		g_assert_cmpstr(json_object_get_string_member(again, "id"), ==, bye_id);
		g_assert_cmpstr(json_object_get_string_member(again, "kind"), ==, "bye");
		{
			g_autoptr(JsonObject) more = ws_wait_frame(bob->ws, "message", 200);
			g_assert_null(more);
		}
	}

	/* a peer that is not connected: 404 peer-offline, at once */
	{
		g_autoptr(PlIdentity) carol = identity_new();
		g_autofree gchar *body =
		        send_body(pl_identity_get_peer_id_string(carol), "offer", "{}");
		gint64 start = g_get_monotonic_time();
		g_autoptr(Reply) reply = http(rv, "POST", "/v1/messages", alice->token, body);
		gdouble ms = (gdouble)(g_get_monotonic_time() - start) / 1000.0;

		assert_error_reply(reply, 404, "peer-offline");
		g_test_message("peer-offline answered in %.2f ms", ms);
		g_assert_cmpfloat(ms, <, 1000);
		g_assert_false(
		        peer_is_online(rv, alice->token, pl_identity_get_peer_id_string(carol)));
	}

	/* a newer connection replaces the older one: code 4000 */
	{
		g_autoptr(Ws) newer = ws_connect(rv, bob->token);
		g_autofree gchar *body =
		        send_body(peer_id(bob), "offer", "{\"after\":\"replace\"}");
		g_autoptr(Reply) reply = NULL;
		g_autoptr(JsonObject) message = NULL;

		ws_wait_closed(bob->ws, TIMEOUT_MS);
		g_assert_cmpuint(bob->ws->close_code, ==, 4000);
		g_assert_true(peer_is_online(rv, alice->token, peer_id(bob)));
		reply = http(rv, "POST", "/v1/messages", alice->token, body);
		g_assert_cmpuint(reply->status, ==, 202);
		/* the newer socket got the backlog and the new message */
		for (;;) {
			g_autoptr(JsonObject) m = ws_wait_frame(newer, "message", TIMEOUT_MS);
			g_assert_nonnull(m);
			if (json_object_has_member(json_object_get_object_member(m, "body"),
			                           "after"))
				break;
		}
		/* metrics, while alice and bob are connected */
		{
			g_autoptr(Reply) metrics = http(rv, "GET", "/metrics", NULL, NULL);
			g_assert_nonnull(
			        strstr(metrics->body, "peerlink_rendezvous_peers_online 2\n"));
			g_assert_null(strstr(metrics->body,
			                     "peerlink_rendezvous_messages_relayed_total 0\n"));
		}
	}

	assert_healthy(rv);
	g_assert_cmpint(rv_stop(rv), ==, 0);
}

static void
test_limits(void)
{
	const gchar *options[] = {"--max-inbox",
	                          "2",
	                          "--rate",
	                          "1",
	                          "--burst",
	                          "4",
	                          "--presence-timeout",
	                          "2",
	                          "--max-message-size",
	                          "1024",
	                          NULL};
	Rv *rv = rv_start(options);
	g_autoptr(Peer) alice = peer_new(rv, FALSE);
	g_autoptr(Peer) bob = peer_new(rv, TRUE);
	g_autoptr(Peer) carol = peer_new(rv, FALSE);
	g_autoptr(Peer) dave = peer_new(rv, TRUE);
	g_autofree gchar *big = NULL;

	g_assert_true(wait_online(rv, alice->token, peer_id(bob), TRUE));

	/* a body over --max-message-size: 413 over HTTP, error too-large over the socket */
	{
		g_autofree gchar *filler = g_strnfill(1100, 'x');
		g_autofree gchar *body_json = g_strdup_printf("{\"x\":\"%s\"}", filler);
		g_autofree gchar *body = send_body(peer_id(bob), "offer", body_json);
		g_autofree gchar *frame = g_strdup_printf("{\"type\":\"send\",\"ref\":3,\"to\":\"%"
		                                          "s\",\"kind\":\"offer\",\"body\":%s}",
		                                          peer_id(alice), body_json);
		g_autoptr(Reply) reply = http(rv, "POST", "/v1/messages", alice->token, body);
		g_autoptr(JsonObject) error = NULL;

		assert_error_reply(reply, 413, "too-large");
		ws_send(dave->ws, frame);
		error = ws_wait_frame(dave->ws, "error", TIMEOUT_MS);
		g_assert_nonnull(error);
		g_assert_cmpint(json_object_get_int_member(error, "ref"), ==, 3);
		g_assert_cmpstr(json_object_get_string_member(
		                        json_object_get_object_member(error, "error"), "code"),
		                ==, "too-large");
	}

	/* the inbox holds 2: the third is inbox-full with Retry-After (bob never acks) */
	for (guint i = 0; i < 3; i++) {
		g_autofree gchar *body = send_body(peer_id(bob), "candidate", "{}");
		g_autoptr(Reply) reply = http(rv, "POST", "/v1/messages", alice->token, body);
		if (i < 2) {
			g_assert_cmpuint(reply->status, ==, 202);
		} else {
			assert_error_reply(reply, 429, "inbox-full");
			g_assert_nonnull(
			        soup_message_headers_get_one(reply->headers, "Retry-After"));
		}
	}

	/* a flood: burst 4 at 1/s, then rate-limited with Retry-After */
	for (guint i = 0; i < 6; i++) {
		g_autofree gchar *body = send_body(peer_id(alice), "candidate", "{}");
		g_autoptr(Reply) reply = http(rv, "POST", "/v1/messages", carol->token, body);
		if (i < 4) {
			assert_error_reply(reply, 404, "peer-offline");
		} else {
			const gchar *retry;
			assert_error_reply(reply, 429, "rate-limited");
			retry = soup_message_headers_get_one(reply->headers, "Retry-After");
			g_assert_nonnull(retry);
			g_assert_cmpint(atoi(retry), >=, 1);
		}
	}

	/* a frame over the limit closes the socket with 1009 */
	{
		g_autofree gchar *filler = g_strnfill(1024 + 4096 + 10, 'x');
		g_autofree gchar *frame = g_strdup_printf("{\"type\":\"send\",\"ref\":4,\"to\":\"%"
		                                          "s\",\"kind\":\"offer\",\"body\":{\"x\":"
		                                          "\"%s\"}}",
		                                          peer_id(alice), filler);
		ws_send(dave->ws, frame);
		ws_wait_closed(dave->ws, TIMEOUT_MS);
		g_assert_cmpuint(dave->ws->close_code, ==, 1009);
	}

	/* silence: bob's socket is closed after the presence timeout, and he is offline */
	{
		gint64 start = g_get_monotonic_time();
		ws_wait_closed(bob->ws, 4000);
		g_test_message("silent socket closed after %.1f s with %u",
		               (gdouble)(g_get_monotonic_time() - start) / G_USEC_PER_SEC,
		               bob->ws->close_code);
		g_assert_cmpuint(bob->ws->close_code, ==, 4001);
		g_assert_true(wait_online(rv, alice->token, peer_id(bob), FALSE));
	}

	/* a socket that pings stays */
	{
		g_autoptr(Ws) ws = ws_connect(rv, carol->token);
		for (guint i = 0; i < 6; i++) {
			g_autoptr(JsonObject) pong = NULL;
			ws_send(ws, "{\"type\":\"ping\"}");
			pong = ws_wait_frame(ws, "pong", TIMEOUT_MS);
			g_assert_nonnull(pong);
			spin_until(&ws->closed, 500);
		}
		g_assert_false(ws->closed);
	}
	{
		g_autoptr(Reply) reply = http(rv, "GET", "/metrics", NULL, NULL);
		g_assert_nonnull(
		        strstr(reply->body,
		               "peerlink_rendezvous_errors_total{kind=\"rate-limited\"} 2\n"));
		g_assert_nonnull(strstr(
		        reply->body, "peerlink_rendezvous_errors_total{kind=\"inbox-full\"} 1\n"));
	}
	(void)big;
	assert_healthy(rv);
	g_assert_cmpint(rv_stop(rv), ==, 0);
}

/* a WebSocket handshake by hand: the status of the answer */
static guint
raw_handshake(Rv *rv, const gchar *token, const gchar *protocol)
{
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketConnection) connection = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) request = g_string_new(NULL);
	g_autoptr(GDataInputStream) input = NULL;
	g_autofree gchar *line = NULL;
	guint64 status = 0;

	connection = g_socket_client_connect_to_host(client, rv->audience, 0, NULL, &error);
	g_assert_no_error(error);
	g_string_append_printf(request,
	                       "GET /v1/ws HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
	                       "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	                       "Sec-WebSocket-Version: 13\r\n"
	                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
	                       rv->audience, token);
	if (protocol != NULL)
		g_string_append_printf(request, "Sec-WebSocket-Protocol: %s\r\n", protocol);
	g_string_append(request, "\r\n");
	g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(connection)),
	                          request->str, request->len, NULL, NULL, &error);
	g_assert_no_error(error);
	input = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(connection)));
	line = g_data_input_stream_read_line_utf8(input, NULL, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(line);
	g_assert_true(g_str_has_prefix(line, "HTTP/1.1 "));
	status = g_ascii_strtoull(line + 9, NULL, 10);
	return (guint)status;
}

static void
test_bad_requests(void)
{
	Rv *rv = rv_start(NULL);
	g_autoptr(Peer) alice = peer_new(rv, FALSE);
	g_autofree gchar *huge = g_strnfill(100 * 1024, ' ');
	g_autofree gchar *deep = NULL;
	struct {
		const gchar *method;
		const gchar *path;
		gboolean auth;
		const gchar *content_type;
		const gchar *body;
		guint status;
		const gchar *code;
	} cases[] = {
	        {"POST", "/v1/auth/challenge", FALSE, "application/json", "{", 400, "bad-request"},
	        {"POST", "/v1/auth/challenge", FALSE, "application/json", "", 400, "bad-request"},
	        {"POST", "/v1/auth/challenge", FALSE, "application/json", "[1,2]", 400,
	         "bad-request"},
	        {"POST", "/v1/auth/challenge", FALSE, "application/json", "{\"peer_id\":1}", 400,
	         "bad-request"},
	        {"POST", "/v1/auth/challenge", FALSE, "application/json", "{}", 400, "bad-request"},
	        {"POST", "/v1/auth/challenge", FALSE, "application/json",
	         "{\"peer_id\":\"AAAAAAA-BBBBBBB\"}", 400, "bad-request"},
	        {"POST", "/v1/auth/challenge", FALSE, "text/plain", "{}", 415,
	         "unsupported-media-type"},
	        {"POST", "/v1/auth/challenge", FALSE, NULL, NULL, 415, "unsupported-media-type"},
	        {"POST", "/v1/auth/session", FALSE, "application/json", "{\"peer_id\":[]}", 400,
	         "bad-request"},
	        {"POST", "/v1/auth/session", FALSE, "application/json", "\xff\xfe", 400,
	         "bad-request"},
	        {"POST", "/v1/messages", TRUE, "application/json", "{\"to\":5}", 400,
	         "bad-request"},
	        {"POST", "/v1/messages", TRUE, "application/json",
	         "{\"to\":\"x\",\"kind\":\"offer\",\"body\":{}}", 400, "bad-request"},
	        {"POST", "/v1/messages", TRUE, "application/json", "{\"kind\":\"offer\"}", 400,
	         "bad-request"},
	        {"POST", "/v1/messages", FALSE, "application/json", "{}", 401, "unauthorized"},
	        {"GET", "/v1/peers/not-a-peer", TRUE, NULL, NULL, 400, "bad-request"},
	        {"GET", "/v1/peers/", TRUE, NULL, NULL, 404, "not-found"},
	        {"GET", "/v1/peers/a/b", TRUE, NULL, NULL, 404, "not-found"},
	        {"GET", "/v1/ice", FALSE, NULL, NULL, 401, "unauthorized"},
	        {"GET", "/v1/auth/challenge", FALSE, NULL, NULL, 405, "method-not-allowed"},
	        {"PUT", "/v1/auth/session", FALSE, NULL, NULL, 405, "method-not-allowed"},
	        {"POST", "/v1/health", FALSE, "application/json", "{}", 405, "method-not-allowed"},
	        {"DELETE", "/metrics", FALSE, NULL, NULL, 405, "method-not-allowed"},
	        {"POST", "/v1/ws", FALSE, "application/json", "{}", 405, "method-not-allowed"},
	        {"GET", "/v1/ws", FALSE, NULL, NULL, 401, "unauthorized"},
	        {"GET", "/v1/ws", TRUE, NULL, NULL, 400, "bad-request"},
	        {"GET", "/v1/ws/more", TRUE, NULL, NULL, 404, "not-found"},
	        {"GET", "/", FALSE, NULL, NULL, 404, "not-found"},
	        {"GET", "/v2/health", FALSE, NULL, NULL, 404, "not-found"},
	        {"GET", "/v1/health/", FALSE, NULL, NULL, 404, "not-found"},
	        {"POST", "/v1/messages", TRUE, "application/json", huge, 413, "too-large"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(Reply) reply = http_full(rv, cases[i].method, cases[i].path,
		                                   cases[i].auth ? alice->token : NULL,
		                                   cases[i].content_type, cases[i].body, -1);
		g_test_message("%s %s → %u %s", cases[i].method, cases[i].path, reply->status,
		               reply->body);
		assert_error_reply(reply, cases[i].status, cases[i].code);
		if (cases[i].status == 405)
			g_assert_nonnull(soup_message_headers_get_one(reply->headers, "Allow"));
		assert_healthy(rv);
	}
	{
		g_autoptr(Reply) reply = http(rv, "PUT", "/v1/auth/session", NULL, NULL);
		g_assert_cmpstr(soup_message_headers_get_one(reply->headers, "Allow"), ==,
		                "POST, DELETE");
	}

	/* nesting deep enough to hurt a recursive parser */
	{
		GString *s = g_string_new("{\"to\":\"x\",\"kind\":\"a\",\"body\":{\"a\":");
		for (guint i = 0; i < 20000; i++)
			g_string_append_c(s, '[');
		for (guint i = 0; i < 20000; i++)
			g_string_append_c(s, ']');
		g_string_append(s, "}}");
		deep = g_string_free(s, FALSE);
	}
	{
		g_autoptr(Reply) reply = http(rv, "POST", "/v1/messages", alice->token, deep);
		g_assert_cmpuint(reply->status, >=, 400);
		g_assert_cmpuint(reply->status, <, 500);
		assert_healthy(rv);
	}

	/* the subprotocol is required */
	g_assert_cmpuint(raw_handshake(rv, alice->token, NULL), ==, 400);
	g_assert_cmpuint(raw_handshake(rv, alice->token, "chat, superchat"), ==, 400);
	g_assert_cmpuint(raw_handshake(rv, alice->token, "chat, " PL_RENDEZVOUS_WS_PROTOCOL), ==,
	                 101);
	assert_healthy(rv);

	/* a refused WebSocket is a JSON 401, not an upgrade */
	{
		g_autoptr(Ws) ws =
		        ws_connect_full(rv, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
		g_assert_nonnull(ws->error);
		g_assert_null(ws->ws);
		g_assert_cmpuint(ws->status, ==, 401);
	}
	{
		g_autoptr(Ws) ws = ws_connect_full(rv, NULL);
		g_assert_nonnull(ws->error);
		g_assert_cmpuint(ws->status, ==, 401);
	}
	assert_healthy(rv);
	g_assert_cmpint(rv_stop(rv), ==, 0);
}

static void
test_options(void)
{
	const gchar *bad[][4] = {
	        {"--turn-ttl", "86401", NULL},
	        {"--turn-ttl", "0", NULL},
	        {"--max-inbox", "0", NULL},
	        {"--rate", "0", NULL},
	        {"--rate", "fast", NULL},
	        {"--listen", "nowhere", NULL},
	        {"--listen", "1.2.3.4:99999", NULL},
	        {"--tls-cert", "/nonexistent.pem", NULL},
	        {"--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"},
	        {"--redis", "redis://127.0.0.1:1", "--state-file", "/tmp/x"},
	        {"--redis", "nonsense", NULL},
	        {"--turn-uri", "http://x", NULL},
	        {"--turn-secret", "s", NULL},
	        {"--presence-timeout", "-5", NULL},
	};

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree gchar *output = NULL;
		Rv *rv = rv_start_full(bad[i], NULL, &output);
		g_assert_null(rv);
		g_test_message("%s %s: %s", bad[i][0], bad[i][1], output);
		g_assert_true(g_str_has_prefix(output, "peerlink-rendezvous: "));
		/* one line */
		g_assert_cmpint(strchr(output, '\n') - output, ==, strlen(output) - 1);
	}
}

static void
test_ipv6(void)
{
	const gchar *options[] = {"--listen", "[::1]:0", NULL};
	g_autofree gchar *output = NULL;
	Rv *rv = rv_start_full(options, NULL, &output);
	gint64 deadline = g_get_monotonic_time() + TIMEOUT_MS * 1000;

	if (rv == NULL) {
		g_test_message("%s", output);
		g_assert_nonnull(strstr(output, "cannot listen on [::1]:0"));
		g_test_skip("no IPv6 loopback here");
		return;
	}
	while (strstr(rv->log->str, "listening on http://[::1]:") == NULL &&
	       g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, FALSE);
	g_assert_nonnull(strstr(rv->log->str, "listening on http://[::1]:"));
	/* the second listener serves the same service */
	{
		const gchar *at = strstr(rv->log->str, "listening on http://[::1]:");
		g_autofree gchar *uri = g_strndup(at + strlen("listening on "),
		                                  strcspn(at + strlen("listening on "), "\n"));
		g_autofree gchar *health = g_strconcat(uri, "/v1/health", NULL);
		g_autoptr(SoupMessage) msg = soup_message_new("GET", health);
		g_autoptr(GError) error = NULL;
		g_autoptr(GBytes) body = soup_session_send_and_read(rv->session, msg, NULL, &error);
		g_assert_no_error(error);
		g_assert_cmpuint(soup_message_get_status(msg), ==, 200);
	}
	assert_healthy(rv);
	g_assert_cmpint(rv_stop(rv), ==, 0);
}

static gchar *
make_certificate(const gchar *dir)
{
	g_autofree gchar *certtool = g_find_program_in_path("certtool");
	g_autofree gchar *key = g_build_filename(dir, "key.pem", NULL);
	g_autofree gchar *cert = g_build_filename(dir, "cert.pem", NULL);
	g_autofree gchar *template = g_build_filename(dir, "cert.cfg", NULL);
	g_autoptr(GError) error = NULL;
	gint status = 0;

	if (certtool == NULL)
		return NULL;
	g_file_set_contents(template,
	                    "cn = 127.0.0.1\nip_address = 127.0.0.1\ndns_name = localhost\n"
	                    "expiration_days = 2\ntls_www_server\nsigning_key\n",
	                    -1, &error);
	g_assert_no_error(error);
	{
		const gchar *argv[] = {certtool, "--generate-privkey", "--key-type",
		                       "ecdsa",  "--outfile",          key,
		                       NULL};
		g_spawn_sync(NULL, (gchar **)argv, NULL,
		             G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
		             NULL, NULL, &status, &error);
		g_assert_no_error(error);
		g_assert_true(g_spawn_check_wait_status(status, NULL));
	}
	{
		const gchar *argv[] = {certtool,
		                       "--generate-self-signed",
		                       "--load-privkey",
		                       key,
		                       "--template",
		                       template,
		                       "--outfile",
		                       cert,
		                       NULL};
		g_spawn_sync(NULL, (gchar **)argv, NULL,
		             G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
		             NULL, NULL, &status, &error);
		g_assert_no_error(error);
		g_assert_true(g_spawn_check_wait_status(status, NULL));
	}
	return g_steal_pointer(&cert);
}

static void
test_https(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("peerlink-rendezvous-XXXXXX", &error);
	g_autofree gchar *cert = NULL;
	g_autofree gchar *key = NULL;
	g_autoptr(GTlsDatabase) trust = NULL;
	Rv *rv;

	g_assert_no_error(error);
	cert = make_certificate(dir);
	if (cert == NULL) {
		g_test_skip("certtool (gnutls-bin) is not installed");
		return;
	}
	key = g_build_filename(dir, "key.pem", NULL);
	trust = g_tls_file_database_new(cert, &error);
	g_assert_no_error(error);
	{
		const gchar *options[] = {"--tls-cert", cert, "--tls-key", key, NULL};
		rv = rv_start_full(options, trust, NULL);
	}
	g_assert_true(g_str_has_prefix(rv->base, "https://127.0.0.1:"));

	/* the whole flow over TLS, trusting exactly that certificate */
	{
		g_autoptr(Peer) alice = peer_new(rv, TRUE);
		g_autoptr(Peer) bob = peer_new(rv, TRUE);
		g_autofree gchar *body = send_body(peer_id(bob), "offer", "{\"tls\":true}");
		g_autoptr(Reply) reply = NULL;
		g_autoptr(JsonObject) message = NULL;

		g_assert_true(wait_online(rv, alice->token, peer_id(bob), TRUE));
		reply = http(rv, "POST", "/v1/messages", alice->token, body);
		g_assert_cmpuint(reply->status, ==, 202);
		message = ws_wait_frame(bob->ws, "message", TIMEOUT_MS);
		g_assert_nonnull(message);
		g_assert_cmpstr(json_object_get_string_member(message, "from"), ==, peer_id(alice));
	}

	/* a client without that trust refuses the service */
	{
		g_autoptr(SoupSession) session = soup_session_new();
		g_autofree gchar *uri = g_strconcat(rv->base, "/v1/health", NULL);
		g_autoptr(SoupMessage) msg = soup_message_new("GET", uri);
		g_autoptr(GBytes) body = soup_session_send_and_read(session, msg, NULL, &error);
		g_assert_null(body);
		g_assert_nonnull(error);
		g_test_message("untrusting client: %s", error->message);
		g_clear_error(&error);
	}
	/* plain HTTP on the HTTPS port is not served */
	{
		g_autoptr(SoupSession) session = soup_session_new_with_options("timeout", 3, NULL);
		g_autofree gchar *uri = g_strconcat("http://", rv->audience, "/v1/health", NULL);
		g_autoptr(SoupMessage) msg = soup_message_new("GET", uri);
		g_autoptr(GBytes) body = soup_session_send_and_read(session, msg, NULL, &error);
		g_assert_true(body == NULL || soup_message_get_status(msg) != 200);
		g_clear_error(&error);
	}
	g_assert_cmpint(rv_stop(rv), ==, 0);
	g_unlink(cert);
	g_unlink(key);
	{
		g_autofree gchar *template = g_build_filename(dir, "cert.cfg", NULL);
		g_unlink(template);
	}
	g_rmdir(dir);
}

static void
test_state_file(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("peerlink-rendezvous-XXXXXX", &error);
	g_autofree gchar *path = g_build_filename(dir, "state.json", NULL);
	const gchar *options[] = {"--state-file", path, NULL};
	g_autoptr(PlIdentity) alice = identity_new();
	g_autoptr(PlIdentity) bob = identity_new();
	g_autofree gchar *alice_token = NULL;
	g_autofree gchar *bob_token = NULL;
	g_autofree gchar *id = NULL;
	GStatBuf st;
	Rv *rv;

	g_assert_no_error(error);
	rv = rv_start(options);
	alice_token = authenticate(rv, alice);
	bob_token = authenticate(rv, bob);
	{
		g_autoptr(Ws) ws = ws_connect(rv, bob_token);
		g_autofree gchar *body = send_body(pl_identity_get_peer_id_string(bob), "offer",
		                                   "{\"kept\":\"across restarts\"}");
		g_autoptr(Reply) reply = NULL;

		g_assert_true(
		        wait_online(rv, alice_token, pl_identity_get_peer_id_string(bob), TRUE));
		reply = http(rv, "POST", "/v1/messages", alice_token, body);
		g_assert_cmpuint(reply->status, ==, 202);
		id = g_strdup(json_object_get_string_member(reply->json, "id"));

		/* SIGTERM while bob is connected: he gets 1001 */
		g_assert_cmpint(rv_stop(rv), ==, 0);
		ws_wait_closed(ws, TIMEOUT_MS);
		g_assert_cmpuint(ws->close_code, ==, 1001);
	}
	g_assert_cmpint(g_stat(path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);

	/* restarted: bob's token still works and the message is delivered */
	rv = rv_start(options);
	{
		g_autoptr(Ws) ws = ws_connect(rv, bob_token);
		g_autoptr(JsonObject) message = ws_wait_frame(ws, "message", TIMEOUT_MS);
		g_assert_nonnull(message);
		g_assert_cmpstr(json_object_get_string_member(message, "id"), ==, id);
		g_assert_cmpstr(json_object_get_string_member(message, "from"), ==,
		                pl_identity_get_peer_id_string(alice));
	}
	g_assert_cmpint(rv_stop(rv), ==, 0);

	/* a corrupt state file is an error, not a silent loss */
	g_file_set_contents(path, "{not json", -1, &error);
	g_assert_no_error(error);
	{
		g_autofree gchar *output = NULL;
		rv = rv_start_full(options, NULL, &output);
		g_assert_null(rv);
		g_assert_true(g_str_has_prefix(output, "peerlink-rendezvous: "));
	}
	g_unlink(path);
	g_rmdir(dir);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerlink/rendezvous/service/auth", test_auth);
	g_test_add_func("/peerlink/rendezvous/service/delivery", test_delivery);
	g_test_add_func("/peerlink/rendezvous/service/limits", test_limits);
	g_test_add_func("/peerlink/rendezvous/service/bad-requests", test_bad_requests);
	g_test_add_func("/peerlink/rendezvous/service/options", test_options);
	g_test_add_func("/peerlink/rendezvous/service/ipv6", test_ipv6);
	g_test_add_func("/peerlink/rendezvous/service/https", test_https);
	g_test_add_func("/peerlink/rendezvous/service/state-file", test_state_file);
	return g_test_run();
}
