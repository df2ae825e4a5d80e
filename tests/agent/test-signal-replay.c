/*
 * Signaling through a real rendezvous to a real agent, from a peer the test
 * plays with its own identity and the agent's rendezvous client: a valid
 * signed offer is answered once; the same message sent again (what a
 * rendezvous operator or anyone who recorded it could replay) and an old
 * one (a timestamp outside the window) are ignored: no answer to them, the
 * reason in the agent's log. docs/security.md.
 */
#include "config.h"

#include <string.h>

#include "pl-rendezvous-client.h"
#include "pl-signal.h"
#include "pl-test-checker.h"
#include "pl-test-daemons.h"
#include "pl-test-util.h"

#define ONLINE_MS 10000
#define ANSWER_MS 10000
#define ICE_PWD   "0123456789abcdefghijklmnop"
#define STALE_MS  (10 * 60 * 1000) /* far outside the ±120 s window */

typedef struct {
	PlTestNet *net;
	PlTestAgent *bob;
	PlIdentity *mallory; /* the peer the test plays: a key of its own, online */
	PlRendezvousClient *rendezvous;
	GPtrArray *answers; /* session IDs of the answers bob sent us */
	gboolean sent;
	GError *send_error;
} Fixture;

static void
on_message(PlRendezvousClient *client,
           const gchar *from,
           const gchar *kind,
           JsonObject *body,
           const gchar *id,
           gpointer user_data)
{
	Fixture *fx = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(PlSignal) signal = NULL;

	if (g_strcmp0(kind, PL_SIGNAL_KIND) != 0)
		return;
	signal = pl_signal_open(body, from, pl_identity_get_peer_id_string(fx->mallory),
	                        g_get_real_time() / 1000, &error);
	g_assert_no_error(error);
	g_test_message("bob sends %s", pl_signal_type_to_string(signal->type));
	if (signal->type == PL_SIGNAL_TYPE_ANSWER)
		g_ptr_array_add(fx->answers, g_strdup(signal->session_id));
}

static gboolean
is_online(Fixture *fx)
{
	return pl_rendezvous_client_get_state(fx->rendezvous) ==
	       PL_RENDEZVOUS_CLIENT_STATE_CONNECTED;
}

static void
fixture_set_up(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	fx->net = pl_test_net_new();
	fx->bob = pl_test_net_start_agent(fx->net, "bob", PL_TEST_LOOPBACK_CONFIG);
	fx->mallory = pl_identity_generate(&error);
	g_assert_no_error(error);
	fx->rendezvous = pl_rendezvous_client_new(fx->mallory, fx->net->url, NULL, &error);
	g_assert_no_error(error);
	fx->answers = g_ptr_array_new_with_free_func(g_free);
	g_signal_connect(fx->rendezvous, "message", G_CALLBACK(on_message), fx);
	pl_rendezvous_client_start(fx->rendezvous);
	PL_TEST_WAIT_UNTIL(is_online(fx), (gint64)pl_test_checker_scale(ONLINE_MS) * 1000);
}

static void
fixture_tear_down(Fixture *fx, gconstpointer data)
{
	if (g_test_failed())
		pl_test_net_dump_logs(fx->net);
	pl_rendezvous_client_stop(fx->rendezvous);
	g_signal_handlers_disconnect_by_data(fx->rendezvous, fx);
	g_clear_object(&fx->rendezvous);
	g_clear_object(&fx->mallory);
	g_ptr_array_unref(fx->answers);
	g_clear_error(&fx->send_error);
	pl_test_net_free(fx->net);
}

/* an offer of a new session to bob's echo service, signed by the test's key */
static JsonObject *
sealed_offer(Fixture *fx, gint64 timestamp_ms, gchar **session_id)
{
	g_autoptr(PlSignal) offer = pl_signal_new(PL_SIGNAL_TYPE_OFFER);
	g_autoptr(GError) error = NULL;
	JsonObject *body;

	offer->from = g_strdup(pl_identity_get_peer_id_string(fx->mallory));
	offer->to = g_strdup(fx->bob->peer_id);
	offer->session_id = pl_signal_new_session_id();
	offer->seq = 1;
	offer->timestamp_ms = timestamp_ms;
	offer->generation = 0;
	offer->service = g_strdup("peerlink.echo");
	offer->ufrag = g_strdup("mall");
	offer->pwd = g_strdup(ICE_PWD);
	body = pl_signal_seal(offer, fx->mallory, &error);
	g_assert_no_error(error);
	*session_id = g_strdup(offer->session_id);
	return body;
}

static void
send_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Fixture *fx = user_data;
	g_autofree gchar *id = pl_rendezvous_client_send_finish(PL_RENDEZVOUS_CLIENT(source),
	                                                        result, &fx->send_error);

	fx->sent = TRUE;
}

/* through the rendezvous, as a message of kind "signal" */
static void
send_body(Fixture *fx, JsonObject *body)
{
	fx->sent = FALSE;
	pl_rendezvous_client_send_async(fx->rendezvous, fx->bob->peer_id, PL_SIGNAL_KIND, body,
	                                NULL, send_cb, fx);
	PL_TEST_WAIT_UNTIL(fx->sent, (gint64)pl_test_checker_scale(ANSWER_MS) * 1000);
	g_assert_no_error(fx->send_error);
}

static guint
count_answers(Fixture *fx, const gchar *session_id)
{
	guint n = 0;

	for (guint i = 0; i < fx->answers->len; i++)
		n += g_strcmp0(g_ptr_array_index(fx->answers, i), session_id) == 0;
	return n;
}

/* bob has handled what we sent so far: the rendezvous delivers in order and bob
 * handles signals in order, so once a fresh offer sent after them is answered,
 * any answer to them would have come first */
static void
wait_processed(Fixture *fx)
{
	g_autofree gchar *session_id = NULL;
	g_autoptr(JsonObject) body = sealed_offer(fx, g_get_real_time() / 1000, &session_id);

	send_body(fx, body);
	PL_TEST_WAIT_UNTIL(count_answers(fx, session_id) > 0,
	                   (gint64)pl_test_checker_scale(ANSWER_MS) * 1000);
}

/* lines of bob's log that say a signal from us was ignored */
static guint
count_ignored(Fixture *fx, const gchar *reason)
{
	g_autofree gchar *log = pl_test_agent_get_log(fx->bob);
	g_autofree gchar *prefix = g_strdup_printf("ignoring a signal from %.7s",
	                                           pl_identity_get_peer_id_string(fx->mallory));
	g_auto(GStrv) lines = g_strsplit(log, "\n", -1);
	guint n = 0;

	for (guint i = 0; lines[i] != NULL; i++)
		n += strstr(lines[i], prefix) != NULL && strstr(lines[i], reason) != NULL;
	return n;
}

static void
test_replayed(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *session_id = NULL;
	g_autoptr(JsonObject) body = sealed_offer(fx, g_get_real_time() / 1000, &session_id);

	send_body(fx, body);
	PL_TEST_WAIT_UNTIL(count_answers(fx, session_id) > 0,
	                   (gint64)pl_test_checker_scale(ANSWER_MS) * 1000);

	/* the very same message again: a replay */
	send_body(fx, body);
	wait_processed(fx);
	g_assert_cmpuint(count_answers(fx, session_id), ==, 1);
	g_assert_cmpuint(count_ignored(fx, "was replayed"), ==, 1);
}

static void
test_stale(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *session_id = NULL;
	g_autoptr(JsonObject) body =
	        sealed_offer(fx, g_get_real_time() / 1000 - STALE_MS, &session_id);

	/* a signal recorded ten minutes ago, never seen here: still refused */
	send_body(fx, body);
	wait_processed(fx);
	g_assert_cmpuint(count_answers(fx, session_id), ==, 0);
	g_assert_cmpuint(count_ignored(fx, "away from our clock"), ==, 1);
}

int
main(int argc, char *argv[])
{
	g_test_init(&argc, &argv, NULL);
	g_test_add("/peerlink/signal-replay/replayed", Fixture, NULL, fixture_set_up, test_replayed,
	           fixture_tear_down);
	g_test_add("/peerlink/signal-replay/stale", Fixture, NULL, fixture_set_up, test_stale,
	           fixture_tear_down);
	return g_test_run();
}
