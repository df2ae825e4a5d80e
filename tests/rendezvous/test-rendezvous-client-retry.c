/*
 * The agent's rendezvous client against the real peerlink-rendezvous on
 * loopback, when the connection goes away under pending sends: a send that may
 * wait (pl_rendezvous_client_send_with_retry_async) goes out, in order, once
 * the client is connected again; a plain send still fails at once; a send whose
 * bound passes fails with a clear error; peer-offline is never waited for. And
 * pl_rendezvous_client_network_changed(): a connection over an address the host
 * still has stays, a client that backs off tries again at once. And a client
 * that stays connected renews its sign-in and TURN credentials in time.
 */
#include "config.h"

#include <signal.h>

#include "pl-identity.h"
#include "pl-rendezvous-client-private.h"
#include "pl-test-daemons.h"
#include "pl-test-util.h"

#define WAIT_US (60 * G_USEC_PER_SEC) /* generous: the tests also run under valgrind */

typedef struct {
	PlTestNet *net;
	PlIdentity *identity;
	PlRendezvousClient *client;
	GPtrArray *received; /* "kind n" of each message to ourselves, in order */
} Fixture;

/* one send and its outcome */
typedef struct {
	gboolean done;
	gchar *id;
	GError *error;
	gint64 started_at;
	gint64 finished_at;
} Send;

static void
send_clear(Send *send)
{
	g_free(send->id);
	g_clear_error(&send->error);
}

static void
send_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Send *send = user_data;

	send->id = pl_rendezvous_client_send_finish(PL_RENDEZVOUS_CLIENT(source), result,
	                                            &send->error);
	send->finished_at = g_get_monotonic_time();
	send->done = TRUE;
}

/* a message numbered @n to @to (NULL: to ourselves), that may wait @retry_ms */
static void
start_send(Fixture *fx, const gchar *to, guint n, guint retry_ms, Send *send)
{
	g_autoptr(JsonObject) body = json_object_new();

	json_object_set_int_member(body, "n", n);
	send->started_at = g_get_monotonic_time();
	pl_rendezvous_client_send_with_retry_async(
	        fx->client, to != NULL ? to : pl_identity_get_peer_id_string(fx->identity), "test",
	        body, retry_ms, NULL, send_cb, send);
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

	g_ptr_array_add(fx->received,
	                g_strdup_printf("%s %" G_GINT64_FORMAT, kind,
	                                json_object_get_int_member_with_default(body, "n", -1)));
}

static gboolean
is_connected(Fixture *fx)
{
	return pl_rendezvous_client_get_state(fx->client) == PL_RENDEZVOUS_CLIENT_STATE_CONNECTED;
}

/* data: more arguments for the service, or NULL */
static void
fixture_setup(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	fx->net = pl_test_net_new_stopped();
	fx->net->service_args = g_strdupv((gchar **)data);
	pl_test_net_start_service(fx->net);
	fx->identity = pl_identity_generate(&error);
	g_assert_no_error(error);
	fx->client = pl_rendezvous_client_new(fx->identity, fx->net->url, NULL, &error);
	g_assert_no_error(error);
	/* ping 1 s, dead after 5 s, plain sends time out after 5 s, backoff 50 ms … 400 ms */
	pl_rendezvous_client_set_timing(fx->client, 1000, 5000, 5000, 50, 400);
	fx->received = g_ptr_array_new_with_free_func(g_free);
	g_signal_connect(fx->client, "message", G_CALLBACK(on_message), fx);
	pl_rendezvous_client_start(fx->client);
	PL_TEST_WAIT_UNTIL(is_connected(fx), WAIT_US);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
	pl_rendezvous_client_stop(fx->client);
	/* the close handshake */
	for (guint i = 0; i < 20; i++) {
		g_main_context_iteration(NULL, FALSE);
		g_usleep(5000);
	}
	g_clear_object(&fx->client);
	g_clear_object(&fx->identity);
	g_ptr_array_unref(fx->received);
	pl_test_net_free(fx->net);
}

static gdouble
seconds(gint64 us)
{
	return us / (gdouble)G_USEC_PER_SEC;
}

/*
 * The service is frozen, so it confirms nothing, and killed: the messages
 * written to it die with the connection. The plain send fails at once with
 * not-connected; the two that may wait stay queued, a third is queued while the
 * service is down, and once it is back all three go out in order and arrive.
 */
static void
test_service_restart(Fixture *fx, gconstpointer data)
{
	Send first = {0};
	Send plain = {0};
	Send second = {0};
	Send third = {0};
	gint64 killed_at;
	gint64 back_at;

	g_subprocess_send_signal(fx->net->service, SIGSTOP);
	start_send(fx, NULL, 1, 30000, &first);
	start_send(fx, NULL, 2, 0, &plain);
	start_send(fx, NULL, 3, 30000, &second);
	for (guint i = 0; i < 20; i++) {
		g_main_context_iteration(NULL, FALSE);
		g_usleep(10000);
	}
	g_assert_false(first.done);
	g_assert_false(plain.done);
	pl_test_net_kill_service(fx->net, SIGKILL);
	killed_at = g_get_monotonic_time();

	PL_TEST_WAIT_UNTIL(plain.done, WAIT_US);
	g_assert_error(plain.error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_NOT_CONNECTED);
	g_test_message("the plain send failed %.2f s after the kill: %s",
	               seconds(plain.finished_at - killed_at), plain.error->message);
	g_assert_false(is_connected(fx));
	g_assert_false(first.done);
	g_assert_false(second.done);

	/* queued while there is no connection at all */
	start_send(fx, NULL, 4, 30000, &third);
	for (guint i = 0; i < 50; i++) {
		g_main_context_iteration(NULL, FALSE);
		g_usleep(10000);
	}
	g_assert_false(third.done);
	g_assert_cmpuint(fx->received->len, ==, 0);

	pl_test_net_start_service(fx->net);
	back_at = g_get_monotonic_time();
	PL_TEST_WAIT_UNTIL(first.done && second.done && third.done, WAIT_US);
	g_assert_no_error(first.error);
	g_assert_no_error(second.error);
	g_assert_no_error(third.error);
	g_assert_nonnull(first.id);
	g_test_message("the queued sends were confirmed %.2f, %.2f and %.2f s after the service "
	               "came back",
	               seconds(first.finished_at - back_at), seconds(second.finished_at - back_at),
	               seconds(third.finished_at - back_at));
	PL_TEST_WAIT_UNTIL(fx->received->len >= 3, WAIT_US);
	/* each once, in the order they were sent */
	g_assert_cmpuint(fx->received->len, ==, 3);
	g_assert_cmpstr(g_ptr_array_index(fx->received, 0), ==, "test 1");
	g_assert_cmpstr(g_ptr_array_index(fx->received, 1), ==, "test 3");
	g_assert_cmpstr(g_ptr_array_index(fx->received, 2), ==, "test 4");

	send_clear(&first);
	send_clear(&plain);
	send_clear(&second);
	send_clear(&third);
}

/* the service stays down: the send fails when its bound passes, saying why */
static void
test_bound_expires(Fixture *fx, gconstpointer data)
{
	Send send = {0};
	Send late = {0};
	gdouble took;

	pl_test_net_stop_service(fx->net);
	PL_TEST_WAIT_UNTIL(!is_connected(fx), WAIT_US);
	start_send(fx, NULL, 1, 1500, &send);
	PL_TEST_WAIT_UNTIL(send.done, WAIT_US);
	took = seconds(send.finished_at - send.started_at);
	g_test_message("failed after %.2f s: %s", took, send.error->message);
	g_assert_error(send.error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
	g_assert_nonnull(strstr(send.error->message, "within 2 s"));
	g_assert_nonnull(strstr(send.error->message, "not connected to the rendezvous service"));
	g_assert_cmpfloat(took, >=, 1.4);
	g_assert_cmpfloat(took, <, 15);

	/* a stopped client does not queue */
	pl_rendezvous_client_stop(fx->client);
	start_send(fx, NULL, 2, 30000, &late);
	PL_TEST_WAIT_UNTIL(late.done, WAIT_US);
	g_assert_error(late.error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_NOT_CONNECTED);
	send_clear(&send);
	send_clear(&late);
}

/* an answer of the service is final: peer-offline is not waited for */
static void
test_peer_offline(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlIdentity) nobody = pl_identity_generate(&error);
	Send send = {0};

	g_assert_no_error(error);
	start_send(fx, pl_identity_get_peer_id_string(nobody), 1, 30000, &send);
	PL_TEST_WAIT_UNTIL(send.done, WAIT_US);
	g_assert_error(send.error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_PEER_OFFLINE);
	g_test_message("peer-offline after %.3f s", seconds(send.finished_at - send.started_at));
	g_assert_cmpfloat(seconds(send.finished_at - send.started_at), <, 10);
	send_clear(&send);
}

/* the first TURN server's username: "<expiry>:<peer id>" */
static gchar *
turn_username(Fixture *fx)
{
	JsonObject *ice = pl_rendezvous_client_get_ice(fx->client);
	JsonArray *turn;

	g_assert_nonnull(ice);
	turn = json_object_get_array_member(ice, "turn");
	g_assert_cmpuint(json_array_get_length(turn), >, 0);
	return g_strdup(
	        json_object_get_string_member(json_array_get_object_element(turn, 0), "username"));
}

static gboolean
turn_username_is_not(Fixture *fx, const gchar *old)
{
	g_autofree gchar *now = turn_username(fx);

	return g_strcmp0(now, old) != 0;
}

static void
count_state_changes(PlRendezvousClient *client, PlRendezvousClientState state, gpointer user_data);

/*
 * TURN credentials that live 20 s (the agent hands them to libnice for every
 * new session): the connected client signs in again in the background after
 * half of that, its connection untouched, and has fresh ones before the old
 * expire. Without it an agent connected for longer than --turn-ttl (12 h)
 * got no relay any more (found in the NAT lab).
 */
static void
test_credentials_renewed(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *first = turn_username(fx);
	g_autofree gchar *renewed = NULL;
	gint64 start = g_get_monotonic_time();
	guint changes = 0;
	Send send = {0};

	g_signal_connect(fx->client, "state-changed", G_CALLBACK(count_state_changes), &changes);
	PL_TEST_WAIT_UNTIL(turn_username_is_not(fx, first), WAIT_US);
	renewed = turn_username(fx);
	g_test_message("renewed after %.1f s: %s → %s", seconds(g_get_monotonic_time() - start),
	               first, renewed);
	g_assert_cmpint(g_ascii_strtoll(renewed, NULL, 10), >, g_ascii_strtoll(first, NULL, 10));
	/* before the old credentials expired, and without a reconnect */
	g_assert_cmpfloat(seconds(g_get_monotonic_time() - start), <, 20);
	g_assert_cmpuint(changes, ==, 0);
	start_send(fx, NULL, 1, 0, &send);
	PL_TEST_WAIT_UNTIL(send.done, WAIT_US);
	g_assert_no_error(send.error);
	send_clear(&send);
	g_signal_handlers_disconnect_by_func(fx->client, count_state_changes, &changes);
}

static void
count_state_changes(PlRendezvousClient *client, PlRendezvousClientState state, gpointer user_data)
{
	(*(guint *)user_data)++;
}

/*
 * The network changed, but the connection's address (127.0.0.1) is still
 * there and the service answers: the connection stays. While backing off, the
 * client tries again at once instead of waiting out its backoff.
 */
static void
test_network_changed(Fixture *fx, gconstpointer data)
{
	g_autoptr(GInetAddress) gone = g_inet_address_new_from_string("192.0.2.77");
	GInetAddress *local = pl_rendezvous_client_get_local_address(fx->client);
	guint changes = 0;
	gint64 until;
	gint64 changed_at = g_get_monotonic_time();
	g_autofree gchar *text = NULL;
	Send send = {0};

	g_assert_nonnull(local);
	text = g_inet_address_to_string(local);
	g_assert_cmpstr(text, ==, "127.0.0.1");
	g_assert_true(pl_rendezvous_client_address_is_local(local));
	g_assert_false(pl_rendezvous_client_address_is_local(gone));

	g_signal_connect(fx->client, "state-changed", G_CALLBACK(count_state_changes), &changes);
	pl_rendezvous_client_network_changed(fx->client);
	/* past the probe's deadline */
	until = g_get_monotonic_time() + (PL_RENDEZVOUS_CLIENT_PROBE_MS + 1000) * 1000;
	while (g_get_monotonic_time() < until) {
		g_main_context_iteration(NULL, FALSE);
		g_usleep(10000);
	}
	g_assert_cmpuint(changes, ==, 0);
	g_assert_true(is_connected(fx));

	/* a long backoff, then the network changes */
	pl_rendezvous_client_stop(fx->client);
	pl_rendezvous_client_set_timing(fx->client, 1000, 5000, 5000, 600000, 600000);
	pl_test_net_stop_service(fx->net);
	pl_rendezvous_client_start(fx->client);
	PL_TEST_WAIT_UNTIL(pl_rendezvous_client_get_state(fx->client) ==
	                           PL_RENDEZVOUS_CLIENT_STATE_BACKING_OFF,
	                   WAIT_US);
	start_send(fx, NULL, 1, 60000, &send);
	pl_test_net_start_service(fx->net);
	/* a delay of up to 600 s was drawn: below 5 s in less than one run in a hundred */
	if (pl_rendezvous_client_get_next_attempt_seconds(fx->client) < 5) {
		g_test_message("the backoff drew a short delay: the change shows nothing");
	} else {
		g_test_message("next attempt in %" G_GINT64_FORMAT " s; the network changes",
		               pl_rendezvous_client_get_next_attempt_seconds(fx->client));
		changed_at = g_get_monotonic_time();
		pl_rendezvous_client_network_changed(fx->client);
		g_assert_cmpint(pl_rendezvous_client_get_state(fx->client), ==,
		                PL_RENDEZVOUS_CLIENT_STATE_CONNECTING);
	}
	PL_TEST_WAIT_UNTIL(is_connected(fx), WAIT_US);
	g_test_message("connected %.2f s after the change",
	               seconds(g_get_monotonic_time() - changed_at));
	PL_TEST_WAIT_UNTIL(send.done, WAIT_US);
	g_assert_no_error(send.error);
	g_signal_handlers_disconnect_by_func(fx->client, count_state_changes, &changes);
	send_clear(&send);
}

int
main(int argc, char **argv)
{
	const gchar *turn_ttl_args[] = {
	        "--turn-secret", "test-secret", "--turn-uri", "turn:127.0.0.1:3478?transport=udp",
	        "--turn-ttl",    "20",          NULL};

	g_test_init(&argc, &argv, NULL);
	g_test_add("/peerlink/rendezvous/client-retry/service-restart", Fixture, NULL,
	           fixture_setup, test_service_restart, fixture_teardown);
	g_test_add("/peerlink/rendezvous/client-retry/bound-expires", Fixture, NULL, fixture_setup,
	           test_bound_expires, fixture_teardown);
	g_test_add("/peerlink/rendezvous/client-retry/peer-offline", Fixture, NULL, fixture_setup,
	           test_peer_offline, fixture_teardown);
	g_test_add("/peerlink/rendezvous/client-retry/network-changed", Fixture, NULL,
	           fixture_setup, test_network_changed, fixture_teardown);
	g_test_add("/peerlink/rendezvous/client-retry/credentials-renewed", Fixture, turn_ttl_args,
	           fixture_setup, test_credentials_renewed, fixture_teardown);
	return g_test_run();
}
