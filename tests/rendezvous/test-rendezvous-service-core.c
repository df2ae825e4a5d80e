/*
 * PlRendezvousService without HTTP: over the memory store, and over a store
 * that is unreachable (as Redis can be).
 */
#include "config.h"

#include <string.h>

#include "pl-memory-store.h"
#include "pl-rendezvous-service.h"

/* ---------------------------------------------------------------------------------------- */
/* a store that cannot be reached */

#define TEST_TYPE_DOWN_STORE (test_down_store_get_type())
G_DECLARE_FINAL_TYPE(TestDownStore, test_down_store, TEST, DOWN_STORE, GObject)

struct _TestDownStore {
	GObject parent_instance;
};

static void test_down_store_iface_init(PlStoreInterface *iface);

G_DEFINE_TYPE_WITH_CODE(TestDownStore,
                        test_down_store,
                        G_TYPE_OBJECT,
                        G_IMPLEMENT_INTERFACE(PL_TYPE_STORE, test_down_store_iface_init))

static void
down_fail(PlStore *store, GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(store, NULL, callback, user_data);
	g_task_return_new_error(task, PL_STORE_ERROR, PL_STORE_ERROR_UNAVAILABLE,
	                        "connection refused");
}

static void
down_set_async(PlStore *store,
               const gchar *key,
               const gchar *value,
               guint ttl_ms,
               GCancellable *cancellable,
               GAsyncReadyCallback callback,
               gpointer user_data)
{
	down_fail(store, callback, user_data);
}

static void
down_get_async(PlStore *store,
               const gchar *key,
               gboolean delete_after,
               GCancellable *cancellable,
               GAsyncReadyCallback callback,
               gpointer user_data)
{
	down_fail(store, callback, user_data);
}

static gboolean
down_boolean_finish(PlStore *store, GAsyncResult *result, GError **error)
{
	return g_task_propagate_boolean(G_TASK(result), error);
}

static gchar *
down_get_finish(PlStore *store, GAsyncResult *result, GError **error)
{
	return g_task_propagate_pointer(G_TASK(result), error);
}

static void
down_subscribe(PlStore *store, const gchar *channel)
{
}

static gboolean
down_is_available(PlStore *store)
{
	return FALSE;
}

static const gchar *
down_get_backend_name(PlStore *store)
{
	return "down";
}

static void
test_down_store_iface_init(PlStoreInterface *iface)
{
	iface->set_async = down_set_async;
	iface->set_finish = down_boolean_finish;
	iface->get_async = down_get_async;
	iface->get_finish = down_get_finish;
	iface->subscribe = down_subscribe;
	iface->unsubscribe = down_subscribe;
	iface->is_available = down_is_available;
	iface->get_backend_name = down_get_backend_name;
}

static void
test_down_store_class_init(TestDownStoreClass *klass)
{
}

static void
test_down_store_init(TestDownStore *self)
{
}

/* ---------------------------------------------------------------------------------------- */
/* helpers */

typedef struct {
	GAsyncResult *result;
} Wait;

static void
wait_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Wait *wait = user_data;
	wait->result = g_object_ref(result);
}

static GAsyncResult *
wait_result(Wait *wait)
{
	while (wait->result == NULL)
		g_main_context_iteration(NULL, TRUE);
	return wait->result;
}

static void
drain(void)
{
	while (g_main_context_iteration(NULL, FALSE))
		;
}

static PlRendezvousService *
service_new(PlStore *store, guint burst, guint max_inbox)
{
	PlRendezvousServiceConfig config;
	const gchar *turn[] = {"turn:198.51.100.10:3478", NULL};
	PlRendezvousService *service;

	pl_rendezvous_service_config_init(&config);
	config.burst = burst;
	config.rate = 1;
	config.max_inbox = max_inbox;
	config.max_message_size = 64;
	config.turn_secret = (gchar *)"secret";
	config.turn_uris = (GStrv)turn;
	service = pl_rendezvous_service_new(store, &config); /* copied */
	return service;
}

static gchar *
get_challenge(PlRendezvousService *service, PlIdentity *identity, const gchar *audience)
{
	Wait wait = {0};
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	gchar *challenge = NULL;

	pl_rendezvous_service_challenge_async(service, pl_identity_get_peer_id(identity), audience,
	                                      NULL, wait_cb, &wait);
	reply = pl_rendezvous_service_challenge_finish(service, wait_result(&wait), &error);
	g_object_unref(wait.result);
	g_assert_no_error(error);
	g_assert_true(
	        pl_rendezvous_parse_challenge_reply(reply, strlen(reply), &challenge, NULL, NULL));
	return challenge;
}

static gchar *
open_session(PlRendezvousService *service,
             PlIdentity *signer,
             const gchar *challenge,
             const gchar *audience,
             GError **error)
{
	Wait wait = {0};
	g_autofree gchar *body =
	        pl_rendezvous_build_session_request(signer, challenge, audience, NULL);
	g_autoptr(PlRendezvousSessionRequest) request =
	        pl_rendezvous_parse_session_request(body, strlen(body), NULL);
	g_autofree gchar *reply = NULL;
	g_autoptr(PlRendezvousSession) session = NULL;

	pl_rendezvous_service_session_async(service, request, "rv.test:8480", NULL, wait_cb, &wait);
	reply = pl_rendezvous_service_session_finish(service, wait_result(&wait), error);
	g_object_unref(wait.result);
	if (reply == NULL)
		return NULL;
	session = pl_rendezvous_parse_session_reply(reply, strlen(reply), NULL);
	g_assert_nonnull(session);
	g_assert_cmpuint(json_array_get_length(json_object_get_array_member(session->ice, "turn")),
	                 ==, 1);
	return g_strdup(session->token);
}

static gchar *
send_message(PlRendezvousService *service,
             const gchar *from,
             const gchar *to,
             const gchar *body_json,
             guint *retry_after,
             GError **error)
{
	Wait wait = {0};
	g_autoptr(PlRendezvousSend) send = g_new0(PlRendezvousSend, 1);
	gchar *id;

	send->ref = -1;
	send->to = g_strdup(to);
	send->kind = g_strdup("offer");
	send->body = pl_rendezvous_parse_object(body_json, strlen(body_json), NULL);
	pl_rendezvous_service_send_async(service, from, send, NULL, wait_cb, &wait);
	id = pl_rendezvous_service_send_finish(service, wait_result(&wait), retry_after, error);
	g_object_unref(wait.result);
	return id;
}

typedef struct {
	GPtrArray *frames; /* "conn-id text" */
	GPtrArray *closes; /* "conn-id code" */
} Recorder;

static void
frame_cb(PlRendezvousService *service, const gchar *conn_id, const gchar *text, Recorder *r)
{
	g_ptr_array_add(r->frames, g_strdup_printf("%s %s", conn_id, text));
}

static void
close_cb(PlRendezvousService *service,
         const gchar *conn_id,
         gint code,
         const gchar *reason,
         Recorder *r)
{
	g_ptr_array_add(r->closes, g_strdup_printf("%s %d", conn_id, code));
}

static gchar *
connect_peer(PlRendezvousService *service, const gchar *peer_id)
{
	Wait wait = {0};
	g_autoptr(GError) error = NULL;
	gchar *conn_id = pl_rendezvous_service_connection_new(service, peer_id);

	pl_rendezvous_service_connect_async(service, conn_id, NULL, wait_cb, &wait);
	g_assert_true(pl_rendezvous_service_connect_finish(service, wait_result(&wait), &error));
	g_assert_no_error(error);
	g_object_unref(wait.result);
	drain();
	return conn_id;
}

/* ---------------------------------------------------------------------------------------- */
/* tests */

static void
test_memory(void)
{
	g_autoptr(PlMemoryStore) store = pl_memory_store_new();
	g_autoptr(PlRendezvousService) service = service_new(PL_STORE(store), 4, 2);
	g_autoptr(GError) error = NULL;
	g_autoptr(PlIdentity) alice = pl_identity_generate(NULL);
	g_autoptr(PlIdentity) bob = pl_identity_generate(NULL);
	g_autoptr(GPtrArray) frames = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) closes = g_ptr_array_new_with_free_func(g_free);
	Recorder recorder = {frames, closes};
	const gchar *a = pl_identity_get_peer_id_string(alice);
	const gchar *b = pl_identity_get_peer_id_string(bob);
	g_autofree gchar *token = NULL;
	g_autofree gchar *conn1 = NULL;
	g_autofree gchar *conn2 = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *metrics = NULL;
	g_autofree gchar *expected_close = NULL;
	guint retry_after = 0;

	g_signal_connect(service, "connection-frame", G_CALLBACK(frame_cb), &recorder);
	g_signal_connect(service, "connection-close", G_CALLBACK(close_cb), &recorder);

	/* auth: the audience is part of the challenge, challenges are single-use */
	{
		g_autofree gchar *challenge = get_challenge(service, alice, "rv.test:8480");
		g_autofree gchar *other = get_challenge(service, alice, "evil.test:8480");
		g_autofree gchar *none = NULL;
		token = open_session(service, alice, challenge, "rv.test:8480", &error);
		g_assert_no_error(error);
		none = open_session(service, alice, challenge, "rv.test:8480", &error);
		g_assert_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_CHALLENGE_INVALID);
		g_clear_error(&error);
		/* issued for evil.test, presented to rv.test */
		none = open_session(service, alice, other, "evil.test:8480", &error);
		g_assert_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_CHALLENGE_INVALID);
		g_clear_error(&error);
	}
	{
		Wait wait = {0};
		g_autofree gchar *peer = NULL;
		pl_rendezvous_service_authenticate_async(service, token, NULL, wait_cb, &wait);
		peer = pl_rendezvous_service_authenticate_finish(service, wait_result(&wait),
		                                                 &error);
		g_object_unref(wait.result);
		g_assert_no_error(error);
		g_assert_cmpstr(peer, ==, a);
	}

	/* bob offline: fast failure */
	g_assert_null(send_message(service, a, b, "{}", &retry_after, &error));
	g_assert_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_PEER_OFFLINE);
	g_clear_error(&error);

	/* bob online: delivered as a frame on his connection */
	conn1 = connect_peer(service, b);
	id = send_message(service, a, b, "{\"n\":1}", &retry_after, &error);
	g_assert_no_error(error);
	drain();
	g_assert_cmpuint(frames->len, ==, 1);
	g_assert_true(g_str_has_prefix(g_ptr_array_index(frames, 0), conn1));
	g_assert_nonnull(strstr(g_ptr_array_index(frames, 0), id));

	/* too large for max_message_size 64 */
	g_free(send_message(
	        service, a, b,
	        "{\"x\":\"0123456789012345678901234567890123456789012345678901234567890\"}",
	        &retry_after, &error));
	g_assert_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_TOO_LARGE);
	g_clear_error(&error);

	/* inbox of 2: the second fits, the third does not */
	g_free(send_message(service, a, b, "{\"n\":2}", &retry_after, &error));
	g_assert_no_error(error);
	g_free(send_message(service, a, b, "{\"n\":3}", &retry_after, &error));
	g_assert_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_INBOX_FULL);
	g_assert_cmpuint(retry_after, ==, 1);
	g_clear_error(&error);

	/* burst 4 at 1/s, all used (offline, sent, sent, full): rate-limited */
	g_free(send_message(service, a, b, "{}", &retry_after, &error));
	g_assert_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_RATE_LIMITED);
	g_assert_cmpuint(retry_after, >=, 1);
	g_clear_error(&error);

	/* a frame from the client: ping, garbage */
	drain();
	g_assert_cmpuint(frames->len, ==, 2); /* n:1 and n:2 */
	g_ptr_array_set_size(frames, 0);
	pl_rendezvous_service_connection_receive(service, conn1, "{\"type\":\"ping\"}", 15);
	pl_rendezvous_service_connection_receive(service, conn1, "nonsense", 8);
	drain();
	g_assert_cmpuint(frames->len, ==, 2);
	g_assert_nonnull(strstr(g_ptr_array_index(frames, 0), "\"pong\""));
	g_assert_nonnull(strstr(g_ptr_array_index(frames, 1), "\"ref\":null"));

	/* a newer connection replaces conn1 (4000) and gets the inbox again */
	g_ptr_array_set_size(frames, 0);
	conn2 = connect_peer(service, b);
	g_assert_cmpuint(closes->len, ==, 1);
	expected_close = g_strdup_printf("%s %d", conn1, PL_RENDEZVOUS_CLOSE_REPLACED);
	g_assert_cmpstr(g_ptr_array_index(closes, 0), ==, expected_close);
	for (guint i = 0; i < frames->len; i++)
		g_test_message("frame: %s", (const gchar *)g_ptr_array_index(frames, i));
	g_assert_cmpuint(frames->len, ==, 2);
	pl_rendezvous_service_disconnect(service, conn1);

	metrics = pl_rendezvous_service_build_metrics(service);
	g_assert_nonnull(strstr(metrics, "peerlink_rendezvous_peers_online 1\n"));
	g_assert_nonnull(strstr(metrics, "peerlink_rendezvous_messages_relayed_total 2\n"));
	g_assert_nonnull(strstr(metrics, "peerlink_rendezvous_auth_total{result=\"ok\"} 1\n"));
	g_assert_nonnull(strstr(metrics, "peerlink_rendezvous_auth_total{result=\"failed\"} 2\n"));
	g_assert_nonnull(
	        strstr(metrics, "peerlink_rendezvous_errors_total{kind=\"bad-request\"} 1\n"));
	pl_rendezvous_service_disconnect(service, conn2);
	pl_rendezvous_service_disconnect(service, "no-such-connection");
	drain();
}

/* the frames of one connection that carry a message: its ids, in order */
static GPtrArray *
message_ids(GPtrArray *frames, const gchar *conn_id)
{
	GPtrArray *ids = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; i < frames->len; i++) {
		const gchar *frame = g_ptr_array_index(frames, i);
		g_autoptr(PlRendezvousMessage) message = NULL;
		gsize prefix = strlen(conn_id);

		if (strncmp(frame, conn_id, prefix) != 0 || frame[prefix] != ' ')
			continue;
		message = pl_rendezvous_message_from_json(frame + prefix + 1,
		                                          strlen(frame + prefix + 1), NULL);
		if (message != NULL)
			g_ptr_array_add(ids, g_strdup(message->id));
	}
	return ids;
}

static void
assert_ids(GPtrArray *ids, const gchar *const *expected)
{
	for (guint i = 0; i < ids->len; i++)
		g_test_message("id %u: %s", i, (const gchar *)g_ptr_array_index(ids, i));
	g_assert_cmpuint(ids->len, ==, g_strv_length((GStrv)expected));
	for (guint i = 0; i < ids->len; i++)
		g_assert_cmpstr(g_ptr_array_index(ids, i), ==, expected[i]);
}

static guint
inbox_length(PlStore *store, const gchar *peer_id)
{
	Wait wait = {0};
	g_autoptr(GError) error = NULL;
	g_autofree gchar *key = g_strconcat("pl:inbox:", peer_id, NULL);
	g_autoptr(GPtrArray) items = NULL;

	pl_store_list_range_async(store, key, NULL, wait_cb, &wait);
	items = pl_store_list_range_finish(store, wait_result(&wait), &error);
	g_object_unref(wait.result);
	g_assert_no_error(error);
	return items->len;
}

static void
ack(PlRendezvousService *service, const gchar *conn_id, const gchar *id)
{
	g_autofree gchar *frame = g_strdup_printf("{\"type\":\"ack\",\"id\":\"%s\"}", id);
	pl_rendezvous_service_connection_receive(service, conn_id, frame, strlen(frame));
}

/* messages go out with their notice; the inbox is read when a connection starts */
static void
test_delivery(void)
{
	g_autoptr(PlMemoryStore) store = pl_memory_store_new();
	g_autoptr(PlRendezvousService) service = service_new(PL_STORE(store), 100, 8);
	g_autoptr(GError) error = NULL;
	g_autoptr(PlIdentity) alice = pl_identity_generate(NULL);
	g_autoptr(PlIdentity) bob = pl_identity_generate(NULL);
	g_autoptr(GPtrArray) frames = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) closes = g_ptr_array_new_with_free_func(g_free);
	Recorder recorder = {frames, closes};
	const gchar *a = pl_identity_get_peer_id_string(alice);
	const gchar *b = pl_identity_get_peer_id_string(bob);
	g_autofree gchar *conn1 = NULL;
	g_autofree gchar *conn2 = NULL;
	g_autofree gchar *conn3 = NULL;
	g_autofree gchar *n1 = NULL;
	g_autofree gchar *n2 = NULL;
	g_autofree gchar *n3 = NULL;
	g_autofree gchar *n4 = NULL;

	g_signal_connect(service, "connection-frame", G_CALLBACK(frame_cb), &recorder);
	g_signal_connect(service, "connection-close", G_CALLBACK(close_cb), &recorder);

	/* in order, once each */
	conn1 = connect_peer(service, b);
	n1 = send_message(service, a, b, "{\"n\":1}", NULL, &error);
	g_assert_no_error(error);
	n2 = send_message(service, a, b, "{\"n\":2}", NULL, &error);
	g_assert_no_error(error);
	drain();
	{
		g_autoptr(GPtrArray) ids = message_ids(frames, conn1);
		const gchar *expected[] = {n1, n2, NULL};
		assert_ids(ids, expected);
	}

	/* an ack takes the message out of the inbox; an unknown or second ack does nothing */
	ack(service, conn1, n1);
	ack(service, conn1, n1);
	ack(service, conn1, "0123456789abcdef0123456789abcdef");
	drain();
	g_assert_cmpuint(inbox_length(PL_STORE(store), b), ==, 1);

	/* a newer connection gets what was not acknowledged, then the new ones */
	conn2 = connect_peer(service, b);
	n3 = send_message(service, a, b, "{\"n\":3}", NULL, &error);
	g_assert_no_error(error);
	drain();
	{
		g_autoptr(GPtrArray) ids = message_ids(frames, conn2);
		const gchar *expected[] = {n2, n3, NULL};
		assert_ids(ids, expected);
	}

	/* notified before the inbox was read: after the inbox, not twice */
	conn3 = pl_rendezvous_service_connection_new(service, b);
	n4 = send_message(service, a, b, "{\"n\":4}", NULL, &error);
	g_assert_no_error(error);
	drain();
	{
		Wait wait = {0};
		pl_rendezvous_service_connect_async(service, conn3, NULL, wait_cb, &wait);
		g_assert_true(
		        pl_rendezvous_service_connect_finish(service, wait_result(&wait), &error));
		g_assert_no_error(error);
		g_object_unref(wait.result);
		drain();
	}
	{
		g_autoptr(GPtrArray) ids2 = message_ids(frames, conn2);
		g_autoptr(GPtrArray) ids3 = message_ids(frames, conn3);
		const gchar *expected2[] = {n2, n3, n4, NULL};
		const gchar *expected3[] = {n2, n3, n4, NULL};
		assert_ids(ids2, expected2);
		assert_ids(ids3, expected3);
	}

	/* acknowledged on the newest connection: the inbox is empty */
	ack(service, conn3, n2);
	ack(service, conn3, n3);
	ack(service, conn3, n4);
	drain();
	g_assert_cmpuint(inbox_length(PL_STORE(store), b), ==, 0);

	pl_rendezvous_service_disconnect(service, conn1);
	pl_rendezvous_service_disconnect(service, conn2);
	pl_rendezvous_service_disconnect(service, conn3);
	drain();
}

static void
test_unavailable(void)
{
	g_autoptr(TestDownStore) store = g_object_new(TEST_TYPE_DOWN_STORE, NULL);
	g_autoptr(PlRendezvousService) service = service_new(PL_STORE(store), 10, 10);
	g_autoptr(PlIdentity) alice = pl_identity_generate(NULL);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *id = NULL;
	Wait wait = {0};

	g_assert_false(pl_rendezvous_service_is_available(service));
	pl_rendezvous_service_challenge_async(service, pl_identity_get_peer_id(alice), "a", NULL,
	                                      wait_cb, &wait);
	g_assert_null(pl_rendezvous_service_challenge_finish(service, wait_result(&wait), &error));
	g_assert_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_UNAVAILABLE);
	g_clear_error(&error);
	g_clear_object(&wait.result);

	pl_rendezvous_service_authenticate_async(
	        service, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL, wait_cb, &wait);
	g_assert_null(
	        pl_rendezvous_service_authenticate_finish(service, wait_result(&wait), &error));
	g_assert_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_UNAVAILABLE);
	g_clear_error(&error);
	g_clear_object(&wait.result);

	id = send_message(service, pl_identity_get_peer_id_string(alice),
	                  pl_identity_get_peer_id_string(alice), "{}", NULL, &error);
	g_assert_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_UNAVAILABLE);
	g_clear_error(&error);

	/* and a store error from the backend itself maps the same way */
	{
		g_autoptr(GError) store_error = g_error_new_literal(
		        PL_STORE_ERROR, PL_STORE_ERROR_UNAVAILABLE, "connection refused");
		g_autoptr(GError) mapped = pl_rendezvous_service_error_from_store(store_error);
		g_assert_error(mapped, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_UNAVAILABLE);
	}
	{
		g_autoptr(GError) store_error =
		        g_error_new_literal(PL_STORE_ERROR, PL_STORE_ERROR_FAILED, "WRONGTYPE");
		g_autoptr(GError) mapped = pl_rendezvous_service_error_from_store(store_error);
		g_assert_error(mapped, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_FAILED);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerlink/rendezvous/service-core/memory", test_memory);
	g_test_add_func("/peerlink/rendezvous/service-core/delivery", test_delivery);
	g_test_add_func("/peerlink/rendezvous/service-core/unavailable", test_unavailable);
	return g_test_run();
}
