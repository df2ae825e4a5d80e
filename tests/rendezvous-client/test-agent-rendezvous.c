/*
 * The real peerlink-rendezvous and real peerlinkd agents in a temporary
 * directory: agents sign in, reach each other through the service, survive
 * its restart, wait for it when it is down, and use it over HTTPS.
 */
#include "config.h"

#include <json-glib/json-glib.h>
#include <locale.h>
#include <signal.h>
#include <sys/wait.h>

#include "pl-identity.h"
#include "pl-test-checker.h"
#include "pl-test-daemons.h"
#include "pl-test-util.h"

/* stretched when the daemons run under valgrind */
#define SCALED_US(ms)      ((gint64)pl_test_checker_scale(ms) * 1000)
#define CONNECT_TIMEOUT_US SCALED_US(15000)
#define FAIL_FAST_US       SCALED_US(2000)
#define STATE_TIMEOUT_US   SCALED_US(5000)

typedef struct {
	PlTestNet *net; /* the service is started by each test */
} Fixture;

/* g_error() after the logs: what the processes said is the best clue */
#define fail(fx, ...)                                                                              \
	G_STMT_START                                                                               \
	{                                                                                          \
		pl_test_net_dump_logs((fx)->net);                                                  \
		g_error(__VA_ARGS__);                                                              \
	}                                                                                          \
	G_STMT_END

/* peerlinkctl */

static JsonObject *
agent_rendezvous(PlTestAgent *agent)
{
	g_autofree gchar *out = NULL;
	g_autoptr(JsonObject) status = NULL;

	g_assert_cmpint(pl_test_agent_ctl(agent, &out, NULL, "--json", "status", NULL), ==, 0);
	status = pl_test_parse_object(out);
	return json_object_ref(json_object_get_object_member(status, "rendezvous"));
}

static const gchar *
rendezvous_state(JsonObject *rendezvous)
{
	return json_object_get_string_member(rendezvous, "state");
}

/* Waits until the agent reports one of @states (separated by '|'); returns its rendezvous. */
static JsonObject *
wait_for_state(Fixture *fx, PlTestAgent *agent, const gchar *states, gint64 timeout_us)
{
	g_auto(GStrv) wanted = g_strsplit(states, "|", -1);
	gint64 deadline = g_get_monotonic_time() + timeout_us;

	for (;;) {
		g_autoptr(JsonObject) rendezvous = agent_rendezvous(agent);
		const gchar *state = rendezvous_state(rendezvous);
		if (g_strv_contains((const gchar *const *)wanted, state))
			return g_steal_pointer(&rendezvous);
		if (g_get_monotonic_time() > deadline)
			fail(fx, "%s is \"%s\", not %s, after %" G_GINT64_FORMAT " s", agent->name,
			     state, states, timeout_us / G_USEC_PER_SEC);
		g_usleep(20000);
	}
}

/* rendezvous-ping through peerlinkctl: the result object, or NULL with the error object */
static JsonObject *
ctl_ping(PlTestAgent *from,
         const gchar *peer,
         const gchar *count,
         gint *exit_status,
         JsonObject **error)
{
	g_autofree gchar *out = NULL;
	g_autoptr(JsonObject) reply = NULL;

	*exit_status = pl_test_agent_ctl(from, &out, NULL, "--json", "rendezvous-ping", peer,
	                                 "--count", count, NULL);
	reply = pl_test_parse_object(out);
	if (json_object_has_member(reply, "error")) {
		*error = json_object_ref(json_object_get_object_member(reply, "error"));
		return NULL;
	}
	*error = NULL;
	return g_steal_pointer(&reply);
}

static gdouble
assert_ping_works(Fixture *fx, PlTestAgent *from, PlTestAgent *to, guint count)
{
	g_autofree gchar *count_text = g_strdup_printf("%u", count);
	g_autoptr(JsonObject) error = NULL;
	g_autoptr(JsonObject) result = NULL;
	JsonArray *rtt;
	gdouble avg;
	gint status = -1;

	result = ctl_ping(from, to->peer_id, count_text, &status, &error);
	if (result == NULL)
		fail(fx, "%s cannot ping %s: %s (%s)", from->name, to->name,
		     json_object_get_string_member(error, "message"),
		     json_object_get_string_member(error, "code"));
	g_assert_cmpint(status, ==, 0);
	g_assert_cmpstr(json_object_get_string_member(result, "peer"), ==, to->peer_id);
	g_assert_cmpstr(json_object_get_string_member(result, "path"), ==, "rendezvous");
	rtt = json_object_get_array_member(result, "rtt_ms");
	g_assert_cmpuint(json_array_get_length(rtt), ==, count);
	for (guint i = 0; i < count; i++) {
		gdouble value = json_array_get_double_element(rtt, i);
		g_assert_cmpfloat(value, >, 0.0);
		g_assert_cmpfloat(value, <, 5000.0);
	}
	avg = json_object_get_double_member(result, "rtt_ms_avg");
	g_assert_cmpfloat(avg, >, 0.0);
	return avg;
}

/* fixture */

static void
fixture_set_up(Fixture *fx, gconstpointer data)
{
	fx->net = pl_test_net_new_stopped();
}

static void
fixture_tear_down(Fixture *fx, gconstpointer data)
{
	pl_test_net_free(fx->net);
}

/* tests */

static void
test_ping(Fixture *fx, gconstpointer data)
{
	g_autoptr(PlIdentity) stranger = pl_identity_generate(NULL);
	g_autoptr(JsonObject) error = NULL;
	g_autoptr(JsonObject) result = NULL;
	g_autofree gchar *human = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *expected = NULL;
	g_autofree gchar *short_id = NULL;
	g_autoptr(JsonObject) rendezvous_a = NULL;
	PlTestAgent *a, *b;
	gdouble avg;
	gint64 started;
	gint status = -1;

	pl_test_net_start_service(fx->net);
	a = pl_test_net_spawn_agent(fx->net, "A", NULL);
	b = pl_test_net_spawn_agent(fx->net, "B", NULL);
	rendezvous_a = wait_for_state(fx, a, "connected", CONNECT_TIMEOUT_US);
	json_object_unref(wait_for_state(fx, b, "connected", CONNECT_TIMEOUT_US));
	g_assert_cmpstr(json_object_get_string_member(rendezvous_a, "url"), ==, fx->net->url);
	g_assert_false(json_object_has_member(rendezvous_a, "last_error"));
	g_assert_false(json_object_has_member(rendezvous_a, "next_attempt_s"));

	g_assert_cmpint(pl_test_agent_ctl(a, &human, NULL, "status", NULL), ==, 0);
	expected = g_strdup_printf("%s (connected)", fx->net->url);
	g_assert_nonnull(strstr(human, expected));
	g_clear_pointer(&human, g_free);

	avg = assert_ping_works(fx, a, b, 3);
	g_test_message("rendezvous round trip A→B: %.2f ms (average of 3)", avg);
	avg = assert_ping_works(fx, b, a, 3);
	g_test_message("rendezvous round trip B→A: %.2f ms (average of 3)", avg);

	/* the human form: one line per round trip and a summary */
	g_assert_cmpint(pl_test_agent_ctl(a, &human, NULL, "rendezvous-ping", b->peer_id, "--count",
	                                  "2", NULL),
	                ==, 0);
	short_id = g_strndup(b->peer_id, 7);
	g_free(expected);
	expected = g_strdup_printf("2 replies from %s… via rendezvous: min/avg/max ", short_id);
	if (strstr(human, expected) == NULL)
		g_error("no summary \"%s\" in:\n%s", expected, human);
	g_assert_nonnull(strstr(human, "seq=2"));
	g_clear_pointer(&human, g_free);

	/* a valid peer ID that never connected: fails fast and says why */
	started = g_get_monotonic_time();
	result = ctl_ping(a, pl_identity_get_peer_id_string(stranger), "1", &status, &error);
	g_assert_null(result);
	g_assert_cmpint(status, ==, 1);
	g_assert_cmpint(g_get_monotonic_time() - started, <, FAIL_FAST_US);
	g_assert_cmpstr(json_object_get_string_member(error, "code"), ==, "peer-offline");
	g_assert_nonnull(strstr(json_object_get_string_member(error, "message"), "not connected"));
	g_clear_pointer(&error, json_object_unref);
	g_assert_cmpint(pl_test_agent_ctl(a, NULL, &err, "rendezvous-ping",
	                                  pl_identity_get_peer_id_string(stranger), NULL),
	                ==, 1);
	g_assert_cmpstr(strchr(err, '\n'), ==, "\n"); /* one line */
	g_clear_pointer(&err, g_free);

	/* not a peer ID: the caller's mistake */
	result = ctl_ping(a, "AXPI7DZ-NR6OTI5-KDMGBLG", "1", &status, &error);
	g_assert_null(result);
	g_assert_cmpint(status, ==, 2);
	g_assert_cmpstr(json_object_get_string_member(error, "code"), ==, "invalid-params");
	g_assert_nonnull(strstr(json_object_get_string_member(error, "message"), "peer ID"));
	g_clear_pointer(&error, json_object_unref);
	g_assert_cmpint(pl_test_agent_ctl(a, NULL, &err, "rendezvous-ping", b->peer_id, "--count",
	                                  "0", NULL),
	                ==, 2);
	g_assert_nonnull(strstr(err, "--count"));
	g_clear_pointer(&err, g_free);
	g_assert_cmpint(pl_test_agent_ctl(a, NULL, &err, "rendezvous-ping", NULL), ==, 2);
}

typedef struct {
	GPtrArray *states;
	GAsyncResult *result;
} EventLog;

static void
on_event(PlClient *client,
         const gchar *name,
         JsonObject *params,
         GUnixFDList *fds,
         gpointer user_data)
{
	EventLog *log = user_data;

	if (g_strcmp0(name, "rendezvous-state") == 0)
		g_ptr_array_add(log->states,
		                g_strdup(json_object_get_string_member(params, "state")));
}

static void
store_result_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	EventLog *log = user_data;

	log->result = g_object_ref(result);
}

static PlClient *
subscribe(PlTestAgent *agent, EventLog *log)
{
	g_autoptr(PlClient) client = pl_test_agent_client(agent);
	g_autoptr(GError) error = NULL;
	const gchar *events[] = {"rendezvous-state", NULL};

	g_signal_connect(client, "event", G_CALLBACK(on_event), log);
	pl_client_subscribe_async(client, events, NULL, store_result_cb, log);
	while (log->result == NULL)
		g_main_context_iteration(NULL, TRUE);
	g_assert_true(pl_client_subscribe_finish(client, log->result, &error));
	g_assert_no_error(error);
	g_clear_object(&log->result);
	return g_steal_pointer(&client);
}

static void
test_service_restart(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonObject) rendezvous = NULL;
	g_autoptr(PlClient) client = NULL;
	EventLog log = {g_ptr_array_new_with_free_func(g_free), NULL};
	PlTestAgent *a, *b;
	gint64 stopped_at;

	pl_test_net_start_service(fx->net);
	a = pl_test_net_spawn_agent(fx->net, "A", NULL);
	b = pl_test_net_spawn_agent(fx->net, "B", NULL);
	json_object_unref(wait_for_state(fx, a, "connected", CONNECT_TIMEOUT_US));
	json_object_unref(wait_for_state(fx, b, "connected", CONNECT_TIMEOUT_US));
	assert_ping_works(fx, a, b, 1);
	client = subscribe(a, &log);

	/* the service goes away: the agents notice at once and keep trying */
	pl_test_net_stop_service(fx->net);
	stopped_at = g_get_monotonic_time();
	rendezvous = wait_for_state(fx, a, "backing-off|connecting", STATE_TIMEOUT_US);
	json_object_unref(wait_for_state(fx, b, "backing-off|connecting", STATE_TIMEOUT_US));
	g_test_message("the agent noticed the service stop after %.0f ms",
	               (g_get_monotonic_time() - stopped_at) / 1000.0);

	/* it comes back on the same port: they sign in again by themselves */
	pl_test_net_start_service(fx->net);
	json_object_unref(wait_for_state(fx, a, "connected", CONNECT_TIMEOUT_US));
	json_object_unref(wait_for_state(fx, b, "connected", CONNECT_TIMEOUT_US));
	g_test_message("both agents connected again %.1f s after the service stopped",
	               (g_get_monotonic_time() - stopped_at) / 1e6);
	assert_ping_works(fx, a, b, 1);
	assert_ping_works(fx, b, a, 1);

	/* A told its subscribers about every change */
	while (g_main_context_iteration(NULL, FALSE))
		;
	g_assert_cmpuint(log.states->len, >=, 2);
	g_assert_true(g_strcmp0(log.states->pdata[0], "backing-off") == 0 ||
	              g_strcmp0(log.states->pdata[0], "connecting") == 0);
	g_assert_cmpstr(log.states->pdata[log.states->len - 1], ==, "connected");
	g_ptr_array_unref(log.states);
}

static void
test_service_down_at_start(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonObject) rendezvous = NULL;
	g_autofree gchar *human = NULL;
	g_autofree gchar *expected = NULL;
	PlTestAgent *a;

	a = pl_test_net_spawn_agent(fx->net, "A", NULL);
	rendezvous = wait_for_state(fx, a, "backing-off", STATE_TIMEOUT_US);
	g_assert_true(json_object_has_member(rendezvous, "next_attempt_s"));
	g_assert_cmpint(json_object_get_int_member(rendezvous, "next_attempt_s"), >=, 0);
	g_assert_cmpint(json_object_get_int_member(rendezvous, "next_attempt_s"), <=, 30);
	g_assert_cmpstr(json_object_get_string_member(rendezvous, "last_error"), !=, "");
	g_test_message("while the service is down: %s",
	               json_object_get_string_member(rendezvous, "last_error"));
	g_assert_cmpint(pl_test_agent_ctl(a, &human, NULL, "status", NULL), ==, 0);
	expected = g_strdup_printf("%s (backing off, next try in ", fx->net->url);
	if (strstr(human, expected) == NULL)
		g_error("no \"%s\" in:\n%s", expected, human);

	pl_test_net_start_service(fx->net);
	json_object_unref(wait_for_state(fx, a, "connected", CONNECT_TIMEOUT_US));
}

static void
test_bad_settings(Fixture *fx, gconstpointer data)
{
	const gchar *cases[][3] = {
	        {"ftp://127.0.0.1", NULL, "http or https"},
	        {"http://127.0.0.1:1", "relative/ca.pem", "absolute"},
	        {"https://127.0.0.1:1", "/nonexistent/ca.pem", "/nonexistent/ca.pem"},
	};
	const gchar *dir = fx->net->dir;
	g_autofree gchar *config_path = g_build_filename(dir, "peerlink.conf", NULL);
	g_autofree gchar *socket_path = g_build_filename(dir, "agent.sock", NULL);

	g_assert_true(g_file_set_contents(config_path, "[agent]\n", -1, NULL));
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		const gchar *argv[] = {g_getenv("PEERLINKD"),
		                       "--config",
		                       config_path,
		                       "--socket",
		                       socket_path,
		                       "--state-dir",
		                       dir,
		                       "--rendezvous",
		                       cases[i][0],
		                       cases[i][1] != NULL ? "--rendezvous-ca" : NULL,
		                       cases[i][1],
		                       NULL};
		g_auto(GStrv) env = g_environ_unsetenv(g_get_environ(), "G_DEBUG");
		g_auto(GStrv) checked_argv = pl_test_checker_argv(argv);
		g_autofree gchar *err = NULL;
		g_autoptr(GError) error = NULL;
		gint wait_status = 0;

		env = g_environ_unsetenv(env, "DBUS_SESSION_BUS_ADDRESS");
		env = pl_test_checker_environ(env, dir);
		g_spawn_sync(NULL, checked_argv, env, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
		             &err, &wait_status, &error);
		g_assert_no_error(error);
		pl_test_checker_check(dir, "peerlinkd");
		g_assert_true(WIFEXITED(wait_status));
		g_assert_cmpint(WEXITSTATUS(wait_status), ==, 1);
		if (strstr(err, cases[i][2]) == NULL)
			g_error("\"%s\" does not mention \"%s\"", err, cases[i][2]);
	}
}

static void
test_https(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonObject) rendezvous = NULL;
	g_autofree gchar *trust = NULL;
	const gchar *last_error;
	PlTestAgent *trusting, *doubting;

	if (!pl_test_net_use_https(fx->net)) {
		g_test_skip("certtool (gnutls-bin) is not installed");
		return;
	}
	pl_test_net_start_service(fx->net);
	trust = g_strdup_printf("rendezvous-ca=%s\n", fx->net->cert_path);
	trusting = pl_test_net_spawn_agent(fx->net, "trusting", trust);
	doubting = pl_test_net_spawn_agent(fx->net, "doubting", NULL);
	json_object_unref(wait_for_state(fx, trusting, "connected", CONNECT_TIMEOUT_US));
	rendezvous = wait_for_state(fx, doubting, "backing-off", CONNECT_TIMEOUT_US);
	last_error = json_object_get_string_member(rendezvous, "last_error");
	g_test_message("without the certificate: %s", last_error);
	g_assert_nonnull(strstr(last_error, "TLS"));
	/* the trusting agent reaches itself through the service over TLS */
	assert_ping_works(fx, trusting, trusting, 1);
}

int
main(int argc, char *argv[])
{
	setlocale(LC_ALL, ""); /* for the "→" in the messages */
	g_test_init(&argc, &argv, NULL);
	signal(SIGPIPE, SIG_IGN);
#define ADD(path, func) g_test_add(path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
	ADD("/peerlink/agent-rendezvous/ping", test_ping);
	ADD("/peerlink/agent-rendezvous/service-restart", test_service_restart);
	ADD("/peerlink/agent-rendezvous/service-down-at-start", test_service_down_at_start);
	ADD("/peerlink/agent-rendezvous/bad-settings", test_bad_settings);
	ADD("/peerlink/agent-rendezvous/https", test_https);
#undef ADD
	return g_test_run();
}
