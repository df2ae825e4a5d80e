/*
 * Two peerlink-rendezvous processes on one redis-server act as one service
 * (docs/rendezvous-api.md, "Storage and scale-out"): peer A on instance 1 and
 * peer B on instance 2 reach each other, see each other online, and what was
 * pending survives the loss of an instance; a Redis restart is survived too
 * (its data are lost without persistence: the instances must serve again).
 */
#include "config.h"

#include <signal.h>

#include <libsoup/soup.h>

#include "pl-identity.h"
#include "pl-redis-test-util.h"
#include "pl-rendezvous-protocol.h"
#include "pl-test-checker.h"
#include "pl-test-util.h"

#ifndef REDIS_SERVER
#define REDIS_SERVER ""
#endif
#ifndef PEERLINK_RENDEZVOUS
#define PEERLINK_RENDEZVOUS ""
#endif

/* stretched when the instances run under valgrind */
#define WAIT_MS pl_test_checker_scale(PL_TEST_WAIT_MS)

static SoupSession *session;

/* ---- HTTP ---- */

typedef struct {
	gboolean done;
	GBytes *body;
	GError *error;
} HttpReply;

static void
http_reply_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HttpReply *reply = user_data;
	reply->body = soup_session_send_and_read_finish(SOUP_SESSION(source), res, &reply->error);
	reply->done = TRUE;
}

static gboolean
http_reply_done(gpointer data)
{
	return ((HttpReply *)data)->done;
}

/* the HTTP status, 0 for a transport error; *body_out the body as a string */
static guint
http_request(const gchar *method,
             const gchar *base,
             const gchar *path,
             const gchar *token,
             const gchar *json,
             gchar **body_out)
{
	g_autofree gchar *url = g_strconcat(base, path, NULL);
	g_autoptr(SoupMessage) msg = soup_message_new(method, url);
	HttpReply reply = {FALSE, NULL, NULL};
	guint status;

	g_assert_nonnull(msg);
	if (token != NULL) {
		g_autofree gchar *value = g_strdup_printf("Bearer %s", token);
		soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization",
		                             value);
	}
	if (json != NULL) {
		g_autoptr(GBytes) bytes = g_bytes_new(json, strlen(json));
		soup_message_set_request_body_from_bytes(msg, "application/json", bytes);
	}
	soup_session_send_and_read_async(session, msg, G_PRIORITY_DEFAULT, NULL, http_reply_cb,
	                                 &reply);
	g_assert_true(pl_test_wait_until(http_reply_done, &reply, WAIT_MS));
	if (reply.error != NULL) {
		g_test_message("%s %s: %s", method, url, reply.error->message);
		g_clear_error(&reply.error);
		if (body_out != NULL)
			*body_out = NULL;
		return 0;
	}
	status = soup_message_get_status(msg);
	if (body_out != NULL) {
		gsize len = 0;
		const gchar *data = g_bytes_get_data(reply.body, &len);
		*body_out = g_strndup(data != NULL ? data : "", len);
	}
	g_bytes_unref(reply.body);
	return status;
}

/* the error code of an error reply, as on the wire */
static gchar *
http_error_code(guint status, const gchar *body)
{
	g_autoptr(GError) error = pl_rendezvous_parse_error_reply(status, body, strlen(body));
	if (error == NULL || error->domain != PL_RENDEZVOUS_ERROR)
		return g_strdup("?");
	return g_strdup(pl_rendezvous_error_to_string(error->code));
}

/* ---- instances of peerlink-rendezvous ---- */

typedef struct {
	guint16 port;
	gchar *url; /* http://127.0.0.1:PORT */
	GSubprocess *process;
	gchar *report_dir; /* the checker's (valgrind, sanitizers) */
} Instance;

typedef struct {
	Instance *instance;
	guint status;
} HealthWait;

static gboolean
instance_health_is(gpointer data)
{
	HealthWait *wait = data;
	return http_request("GET", wait->instance->url, "/v1/health", NULL, NULL, NULL) ==
	       wait->status;
}

/* waits until GET /v1/health answers status (200 ok, 503 unavailable) */
static void
instance_wait_health(Instance *instance, guint status)
{
	HealthWait wait = {instance, status};
	g_assert_true(pl_test_wait_until(instance_health_is, &wait, WAIT_MS));
}

static void
instance_start(Instance *instance, PlTestRedis *redis)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSubprocessLauncher) launcher = pl_test_launcher_new();
	g_autofree gchar *listen = NULL;
	g_autofree gchar *redis_url = pl_test_redis_get_url(redis, "127.0.0.1", 0);
	g_autofree gchar *body = NULL;
	g_auto(GStrv) argv = NULL;
	g_auto(GStrv) env = NULL;

	g_assert_null(instance->process);
	if (instance->port == 0) {
		instance->port = pl_test_pick_free_port();
		instance->url = g_strdup_printf("http://127.0.0.1:%u", instance->port);
		instance->report_dir = g_dir_make_tmp("peerlink-rv-report-XXXXXX", &error);
		g_assert_no_error(error);
	}
	listen = g_strdup_printf("127.0.0.1:%u", instance->port);
	/* under the test's checker (valgrind, sanitizers) */
	argv = pl_test_checker_argv((const gchar *[]){PEERLINK_RENDEZVOUS, "--listen", listen,
	                                              "--redis", redis_url, NULL});
	env = pl_test_checker_environ(g_get_environ(), instance->report_dir);
	g_subprocess_launcher_set_environ(launcher, env);
	instance->process =
	        g_subprocess_launcher_spawnv(launcher, (const gchar *const *)argv, &error);
	g_assert_no_error(error);
	instance_wait_health(instance, SOUP_STATUS_OK);
	g_assert_cmpuint(http_request("GET", instance->url, "/v1/health", NULL, NULL, &body), ==,
	                 SOUP_STATUS_OK);
	g_assert_nonnull(strstr(body, "\"redis\""));
}

static void
instance_kill(Instance *instance)
{
	g_autoptr(GError) error = NULL;

	g_subprocess_force_exit(instance->process);
	g_subprocess_wait(instance->process, NULL, &error);
	g_assert_no_error(error);
	g_clear_object(&instance->process);
	pl_test_checker_check(instance->report_dir, "peerlink-rendezvous");
}

/* SIGTERM: a clean exit */
static void
instance_stop(Instance *instance)
{
	g_autoptr(GError) error = NULL;

	g_subprocess_send_signal(instance->process, SIGTERM);
	g_subprocess_wait(instance->process, NULL, &error);
	g_assert_no_error(error);
	/* what the checker found first: it also makes the exit status fail */
	pl_test_checker_check(instance->report_dir, "peerlink-rendezvous");
	g_assert_true(g_subprocess_get_if_exited(instance->process));
	g_assert_cmpint(g_subprocess_get_exit_status(instance->process), ==, 0);
	g_clear_object(&instance->process);
}

static void
instance_clear(Instance *instance)
{
	if (instance->process != NULL)
		instance_kill(instance);
	g_clear_pointer(&instance->url, g_free);
	if (instance->report_dir != NULL)
		pl_test_remove_tree(instance->report_dir);
	g_clear_pointer(&instance->report_dir, g_free);
}

/* ---- peers ---- */

typedef struct {
	PlIdentity *identity;
	const gchar *id;
	gchar *token;
	SoupWebsocketConnection *ws;
	gboolean connecting;
	gboolean ack;        /* ack each message as it comes */
	GPtrArray *received; /* "kind:text" in order, since the last peer_forget_received() */
	GPtrArray *ids;      /* the id of each of them, to drop duplicates */
	GHashTable *sent;    /* ref → message id, from "sent" frames */
	GHashTable *refused; /* ref → error code, from "error" frames */
	gint64 next_ref;
} Peer;

static Peer *
peer_new(void)
{
	g_autoptr(GError) error = NULL;
	Peer *peer = g_new0(Peer, 1);

	peer->identity = pl_identity_generate(&error);
	g_assert_no_error(error);
	peer->id = pl_identity_get_peer_id_string(peer->identity);
	peer->ack = TRUE;
	peer->received = g_ptr_array_new_with_free_func(g_free);
	peer->ids = g_ptr_array_new_with_free_func(g_free);
	peer->sent = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
	peer->refused = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
	return peer;
}

static gboolean
peer_ws_gone(gpointer data)
{
	Peer *peer = data;
	return peer->ws == NULL ||
	       soup_websocket_connection_get_state(peer->ws) == SOUP_WEBSOCKET_STATE_CLOSED;
}

static void
peer_ws_close(Peer *peer)
{
	if (peer->ws == NULL)
		return;
	g_signal_handlers_disconnect_by_data(peer->ws, peer);
	if (soup_websocket_connection_get_state(peer->ws) == SOUP_WEBSOCKET_STATE_OPEN)
		soup_websocket_connection_close(peer->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
	g_assert_true(pl_test_wait_until(peer_ws_gone, peer, WAIT_MS));
	g_clear_object(&peer->ws);
}

static void
peer_free(Peer *peer)
{
	peer_ws_close(peer);
	g_object_unref(peer->identity);
	g_free(peer->token);
	g_ptr_array_unref(peer->received);
	g_ptr_array_unref(peer->ids);
	g_hash_table_unref(peer->sent);
	g_hash_table_unref(peer->refused);
	g_free(peer);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Peer, peer_free)

/* POST /v1/auth/challenge, sign, POST /v1/auth/session */
static void
peer_sign_in(Peer *peer, Instance *instance)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GUri) uri = g_uri_parse(instance->url, G_URI_FLAGS_NONE, &error);
	g_autofree gchar *audience = NULL;
	g_autofree gchar *request = NULL;
	g_autofree gchar *body = NULL;
	g_autofree gchar *challenge = NULL;
	g_autofree gchar *their_audience = NULL;
	g_autoptr(PlRendezvousSession) reply = NULL;

	g_assert_no_error(error);
	audience = pl_rendezvous_audience_from_uri(uri);
	request = pl_rendezvous_build_challenge_request(peer->id);
	g_assert_cmpuint(
	        http_request("POST", instance->url, "/v1/auth/challenge", NULL, request, &body), ==,
	        SOUP_STATUS_OK);
	g_assert_true(pl_rendezvous_parse_challenge_reply(body, strlen(body), &challenge,
	                                                  &their_audience, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(their_audience, ==, audience);
	g_clear_pointer(&request, g_free);
	g_clear_pointer(&body, g_free);

	request = pl_rendezvous_build_session_request(peer->identity, challenge, audience, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(
	        http_request("POST", instance->url, "/v1/auth/session", NULL, request, &body), ==,
	        SOUP_STATUS_OK);
	reply = pl_rendezvous_parse_session_reply(body, strlen(body), &error);
	g_assert_no_error(error);
	g_assert_cmpstr(reply->peer_id, ==, peer->id);
	g_free(peer->token);
	peer->token = g_strdup(reply->token);
}

static void
peer_send_frame(Peer *peer, const gchar *text)
{
	g_assert_nonnull(peer->ws);
	soup_websocket_connection_send_text(peer->ws, text);
}

static void
peer_ws_message_cb(SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer user_data)
{
	Peer *peer = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(PlRendezvousFrame) frame = NULL;
	gsize len = 0;
	const gchar *data = g_bytes_get_data(message, &len);

	g_assert_cmpint(type, ==, SOUP_WEBSOCKET_DATA_TEXT);
	frame = pl_rendezvous_frame_parse(data, len, 0, &error);
	g_assert_no_error(error);
	switch (frame->type) {
	case PL_RENDEZVOUS_FRAME_MESSAGE: {
		PlRendezvousMessage *m = frame->message;
		const gchar *text = json_object_get_string_member_with_default(m->body, "text", "");
		g_test_message("%.7s... got %s:%s from %.7s... (%s)", peer->id, m->kind, text,
		               m->from, m->id);
		/* at least once: a client drops duplicates by id */
		if (!g_ptr_array_find_with_equal_func(peer->ids, m->id, g_str_equal, NULL)) {
			g_ptr_array_add(peer->received, g_strdup_printf("%s:%s", m->kind, text));
			g_ptr_array_add(peer->ids, g_strdup(m->id));
		}
		if (peer->ack) {
			g_autofree gchar *ack = pl_rendezvous_frame_build_ack(m->id);
			peer_send_frame(peer, ack);
		}
		break;
	}
	case PL_RENDEZVOUS_FRAME_SENT:
		g_hash_table_replace(peer->sent, g_memdup2(&frame->ref, sizeof(gint64)),
		                     g_strdup(frame->id));
		break;
	case PL_RENDEZVOUS_FRAME_ERROR:
		g_hash_table_replace(
		        peer->refused, g_memdup2(&frame->ref, sizeof(gint64)),
		        g_strdup(frame->error->domain == PL_RENDEZVOUS_ERROR
		                         ? pl_rendezvous_error_to_string(frame->error->code)
		                         : frame->error->message));
		break;
	default:
		break;
	}
}

static void
peer_ws_connect_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	Peer *peer = user_data;
	g_autoptr(GError) error = NULL;

	peer->ws = soup_session_websocket_connect_finish(SOUP_SESSION(source), res, &error);
	g_assert_no_error(error);
	g_signal_connect(peer->ws, "message", G_CALLBACK(peer_ws_message_cb), peer);
	peer->connecting = FALSE;
}

static gboolean
peer_ws_connected(gpointer data)
{
	return !((Peer *)data)->connecting;
}

/* GET /v1/ws with the bearer token: online */
static void
peer_connect(Peer *peer, Instance *instance)
{
	g_autofree gchar *url = g_strconcat(instance->url, "/v1/ws", NULL);
	g_autoptr(SoupMessage) msg = soup_message_new("GET", url);
	g_autofree gchar *authorization = g_strdup_printf("Bearer %s", peer->token);
	const gchar *protocols[] = {PL_RENDEZVOUS_WS_PROTOCOL, NULL};

	peer_ws_close(peer);
	soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization",
	                             authorization);
	peer->connecting = TRUE;
	soup_session_websocket_connect_async(session, msg, NULL, (gchar **)protocols,
	                                     G_PRIORITY_DEFAULT, NULL, peer_ws_connect_cb, peer);
	g_assert_true(pl_test_wait_until(peer_ws_connected, peer, WAIT_MS));
	g_assert_cmpstr(soup_websocket_connection_get_protocol(peer->ws), ==,
	                PL_RENDEZVOUS_WS_PROTOCOL);
}

static gchar *
message_request(const gchar *to, const gchar *kind, const gchar *text)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonGenerator) generator = json_generator_new();
	g_autoptr(JsonNode) root = NULL;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "to");
	json_builder_add_string_value(builder, to);
	json_builder_set_member_name(builder, "kind");
	json_builder_add_string_value(builder, kind);
	json_builder_set_member_name(builder, "body");
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "text");
	json_builder_add_string_value(builder, text);
	json_builder_end_object(builder);
	json_builder_end_object(builder);
	root = json_builder_get_root(builder);
	json_generator_set_root(generator, root);
	return json_generator_to_data(generator, NULL);
}

/* POST /v1/messages: the status; *code the error code when it is not 202 */
static guint
peer_post(Peer *peer,
          Instance *instance,
          Peer *to,
          const gchar *kind,
          const gchar *text,
          gchar **code)
{
	g_autofree gchar *request = message_request(to->id, kind, text);
	g_autofree gchar *body = NULL;
	guint status =
	        http_request("POST", instance->url, "/v1/messages", peer->token, request, &body);

	if (status == SOUP_STATUS_ACCEPTED) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *id =
		        pl_rendezvous_parse_message_reply(body, strlen(body), &error);
		g_assert_no_error(error);
		g_assert_true(pl_rendezvous_message_id_is_valid(id));
	} else if (code != NULL && body != NULL) {
		*code = http_error_code(status, body);
	}
	return status;
}

typedef struct {
	Peer *peer;
	gint64 ref;
} RefWait;

static gboolean
peer_ref_answered(gpointer data)
{
	RefWait *wait = data;
	return g_hash_table_contains(wait->peer->sent, &wait->ref) ||
	       g_hash_table_contains(wait->peer->refused, &wait->ref);
}

/* a "send" frame on the WebSocket, answered by "sent" */
static void
peer_ws_send(Peer *peer, Peer *to, const gchar *kind, const gchar *text)
{
	g_autoptr(JsonObject) body = json_object_new();
	g_autofree gchar *frame = NULL;
	RefWait wait = {peer, ++peer->next_ref};

	json_object_set_string_member(body, "text", text);
	frame = pl_rendezvous_build_send(wait.ref, to->id, kind, body);
	peer_send_frame(peer, frame);
	g_assert_true(pl_test_wait_until(peer_ref_answered, &wait, WAIT_MS));
	g_assert_cmpstr(g_hash_table_lookup(peer->refused, &wait.ref), ==, NULL);
	g_assert_true(
	        pl_rendezvous_message_id_is_valid(g_hash_table_lookup(peer->sent, &wait.ref)));
}

/* GET /v1/peers/<id>: TRUE online, FALSE offline (404 peer-offline) */
static gboolean
peer_lookup(Peer *peer, Instance *instance, Peer *other)
{
	g_autofree gchar *path = g_strconcat("/v1/peers/", other->id, NULL);
	g_autofree gchar *body = NULL;
	g_autoptr(GError) error = NULL;
	guint status = http_request("GET", instance->url, path, peer->token, NULL, &body);
	gboolean online = FALSE;

	if (status == SOUP_STATUS_NOT_FOUND) {
		g_autofree gchar *code = http_error_code(status, body);
		g_assert_cmpstr(code, ==, "peer-offline");
		return FALSE;
	}
	g_assert_cmpuint(status, ==, SOUP_STATUS_OK);
	g_assert_true(pl_rendezvous_parse_peer_reply(body, strlen(body), &online, &error));
	g_assert_no_error(error);
	return online;
}

typedef struct {
	Peer *peer;
	Instance *instance;
	Peer *other;
} LookupWait;

static gboolean
peer_sees_online(gpointer data)
{
	LookupWait *wait = data;
	return peer_lookup(wait->peer, wait->instance, wait->other);
}

static void
peer_wait_online(Peer *peer, Instance *instance, Peer *other)
{
	LookupWait wait = {peer, instance, other};
	g_assert_true(pl_test_wait_until(peer_sees_online, &wait, WAIT_MS));
}

typedef struct {
	Peer *peer;
	guint count;
} CountWait;

static gboolean
peer_has_received(gpointer data)
{
	CountWait *wait = data;
	return wait->peer->received->len >= wait->count;
}

/* waits for count messages in all, then gives them as "kind:text,kind:text" */
static gchar *
peer_wait_received(Peer *peer, guint count)
{
	CountWait wait = {peer, count};
	g_autoptr(GPtrArray) copy = g_ptr_array_new();

	g_assert_true(pl_test_wait_until(peer_has_received, &wait, WAIT_MS));
	for (guint i = 0; i < peer->received->len; i++)
		g_ptr_array_add(copy, g_ptr_array_index(peer->received, i));
	g_ptr_array_add(copy, NULL);
	return g_strjoinv(",", (gchar **)copy->pdata);
}

static void
peer_forget_received(Peer *peer)
{
	g_ptr_array_set_size(peer->received, 0);
	g_ptr_array_set_size(peer->ids, 0);
}

/* ---- the test ---- */

static void
test_multi_instance(void)
{
	g_autoptr(PlTestRedis) redis = pl_test_redis_new(REDIS_SERVER);
	Instance one = {0};
	Instance two = {0};
	g_autoptr(Peer) a = NULL;
	g_autoptr(Peer) b = NULL;
	g_autofree gchar *received = NULL;
	g_autofree gchar *code = NULL;
	g_autofree gchar *pending_id = NULL;
	g_autofree gchar *path = NULL;
	guint status;

	if (redis == NULL) {
		g_test_skip("redis-server is not installed");
		return;
	}
	if (!g_file_test(PEERLINK_RENDEZVOUS, G_FILE_TEST_IS_EXECUTABLE)) {
		g_test_skip("peerlink-rendezvous is not built");
		return;
	}
	pl_test_redis_start(redis);
	instance_start(&one, redis);
	instance_start(&two, redis);
	a = peer_new();
	b = peer_new();

	/* sessions live in Redis: signed in on one instance, known to the other */
	peer_sign_in(a, &one);
	peer_sign_in(b, &two);
	path = g_strconcat("/v1/peers/", b->id, NULL);
	g_assert_cmpuint(http_request("GET", two.url, path, a->token, NULL, NULL), ==,
	                 SOUP_STATUS_NOT_FOUND);
	g_assert_cmpuint(http_request("GET", two.url, path, "not-a-token", NULL, NULL), ==,
	                 SOUP_STATUS_UNAUTHORIZED);

	/* A online on instance 1, B on instance 2: presence is seen on both */
	peer_connect(a, &one);
	peer_connect(b, &two);
	peer_wait_online(b, &two, a);
	peer_wait_online(b, &one, a);
	peer_wait_online(a, &one, b);
	peer_wait_online(a, &two, b);

	/* B posts to instance 2, A gets it on instance 1, and back */
	g_assert_cmpuint(peer_post(b, &two, a, "offer", "b1", NULL), ==, SOUP_STATUS_ACCEPTED);
	received = peer_wait_received(a, 1);
	g_assert_cmpstr(received, ==, "offer:b1");
	g_clear_pointer(&received, g_free);
	g_assert_cmpuint(peer_post(a, &one, b, "answer", "a1", NULL), ==, SOUP_STATUS_ACCEPTED);
	peer_ws_send(a, b, "candidate", "a2");
	received = peer_wait_received(b, 2);
	g_assert_cmpstr(received, ==, "answer:a1,candidate:a2");
	g_clear_pointer(&received, g_free);
	peer_ws_send(b, a, "candidate", "b2");
	received = peer_wait_received(a, 2);
	g_assert_cmpstr(received, ==, "offer:b1,candidate:b2");
	g_clear_pointer(&received, g_free);
	peer_forget_received(a);
	peer_forget_received(b);

	/* A gets a message and does not ack it; instance 1 dies under A */
	a->ack = FALSE;
	g_assert_cmpuint(peer_post(b, &two, a, "offer", "unacked", NULL), ==, SOUP_STATUS_ACCEPTED);
	received = peer_wait_received(a, 1);
	g_assert_cmpstr(received, ==, "offer:unacked");
	g_clear_pointer(&received, g_free);
	pending_id = g_strdup(g_ptr_array_index(a->ids, 0));
	instance_kill(&one);
	g_assert_true(pl_test_wait_until(peer_ws_gone, a, WAIT_MS));
	g_clear_object(&a->ws);
	peer_forget_received(a);

	/* A is connected nowhere now; what the service accepts for it meanwhile waits
	 * (its presence may outlive instance 1 for the presence timeout) */
	status = peer_post(b, &two, a, "offer", "while-away", &code);
	g_test_message("a message to A while A is connected nowhere: %u %s", status,
	               code != NULL ? code : "");
	g_assert_true(status == SOUP_STATUS_ACCEPTED ||
	              (status == SOUP_STATUS_NOT_FOUND && g_strcmp0(code, "peer-offline") == 0));

	/* A comes back on instance 2, with the same token: everything pending arrives */
	a->ack = TRUE;
	peer_connect(a, &two);
	if (status == SOUP_STATUS_ACCEPTED) {
		received = peer_wait_received(a, 2);
		g_assert_cmpstr(received, ==, "offer:unacked,offer:while-away");
	} else {
		received = peer_wait_received(a, 1);
		g_assert_cmpstr(received, ==, "offer:unacked");
	}
	g_clear_pointer(&received, g_free);
	g_assert_cmpstr(g_ptr_array_index(a->ids, 0), ==, pending_id);
	peer_wait_online(b, &two, a);
	peer_forget_received(a);

	/* instance 1 again, and A back on it: the acks above emptied A's inbox */
	instance_start(&one, redis);
	peer_connect(a, &one);
	peer_wait_online(b, &two, a);
	g_assert_cmpuint(peer_post(b, &two, a, "offer", "b3", NULL), ==, SOUP_STATUS_ACCEPTED);
	received = peer_wait_received(a, 1);
	g_assert_cmpstr(received, ==, "offer:b3");
	g_clear_pointer(&received, g_free);
	peer_forget_received(a);

	/* Redis goes away: both instances say so, and fail fast */
	pl_test_redis_kill(redis);
	instance_wait_health(&one, SOUP_STATUS_SERVICE_UNAVAILABLE);
	instance_wait_health(&two, SOUP_STATUS_SERVICE_UNAVAILABLE);
	g_clear_pointer(&code, g_free);
	status = peer_post(b, &two, a, "offer", "no-redis", &code);
	g_assert_cmpuint(status, ==, SOUP_STATUS_SERVICE_UNAVAILABLE);
	g_assert_cmpstr(code, ==, "unavailable");

	/* Redis is back, empty (no persistence): the instances serve again once the
	 * peers sign in and connect again */
	pl_test_redis_start(redis);
	instance_wait_health(&one, SOUP_STATUS_OK);
	instance_wait_health(&two, SOUP_STATUS_OK);
	peer_ws_close(a);
	peer_ws_close(b);
	peer_sign_in(a, &two);
	peer_sign_in(b, &one);
	peer_connect(a, &one);
	peer_connect(b, &two);
	peer_wait_online(b, &two, a);
	peer_wait_online(a, &one, b);
	g_assert_cmpuint(peer_post(b, &two, a, "offer", "after-restart", NULL), ==,
	                 SOUP_STATUS_ACCEPTED);
	peer_ws_send(a, b, "answer", "after-restart");
	received = peer_wait_received(a, 1);
	g_assert_cmpstr(received, ==, "offer:after-restart");
	g_clear_pointer(&received, g_free);
	received = peer_wait_received(b, 1);
	g_assert_cmpstr(received, ==, "answer:after-restart");

	peer_ws_close(a);
	peer_ws_close(b);
	instance_stop(&one);
	instance_stop(&two);
	instance_clear(&one);
	instance_clear(&two);
}

int
main(int argc, char **argv)
{
	int rc;

	g_test_init(&argc, &argv, NULL);
	session = soup_session_new();
	g_test_add_func("/peerlink/rendezvous/redis/multi-instance", test_multi_instance);
	rc = g_test_run();
	g_clear_object(&session);
	return rc;
}
