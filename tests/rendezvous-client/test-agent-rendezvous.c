/*
 * The real peerlink-rendezvous and real peerlinkd agents in a temporary
 * directory: agents sign in, reach each other through the service, survive
 * its restart, wait for it when it is down, and use it over HTTPS.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <gio/gunixsocketaddress.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "pl-client.h"
#include "pl-identity.h"
#include "pl-test-util.h"

#define START_TIMEOUT_US   (10 * G_USEC_PER_SEC)
#define CONNECT_TIMEOUT_US (15 * G_USEC_PER_SEC)
#define FAIL_FAST_US       (2 * G_USEC_PER_SEC)

typedef struct {
	gchar *name;
	gchar *dir;
	gchar *socket_path;
	gchar *log_path;
	gchar *peer_id;
	GSubprocess *process;
} Agent;

typedef struct {
	gchar *dir;
	guint port;
	gchar *url;
	gchar *log_path;
	gchar *cert_path; /* HTTPS: self-signed certificate and key, else NULL */
	gchar *key_path;
	GSubprocess *service;
	GPtrArray *agents;
} Fixture;

/* processes */

static gboolean
tcp_port_answers(guint port)
{
	g_autoptr(GSocket) socket = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
	                                         G_SOCKET_PROTOCOL_TCP, NULL);
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) address = g_inet_socket_address_new(loopback, port);

	return g_socket_connect(socket, address, NULL, NULL);
}

static gboolean
unix_socket_answers(const gchar *path)
{
	g_autoptr(GSocket) socket = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
	                                         G_SOCKET_PROTOCOL_DEFAULT, NULL);
	g_autoptr(GSocketAddress) address = g_unix_socket_address_new(path);

	return g_socket_connect(socket, address, NULL, NULL);
}

static void
print_log(const gchar *what, const gchar *path)
{
	g_autofree gchar *text = NULL;

	if (path != NULL && g_file_get_contents(path, &text, NULL, NULL))
		g_printerr("--- %s (%s):\n%s--- end of %s\n", what, path, text, what);
}

static void
fixture_dump_logs(Fixture *fx)
{
	print_log("peerlink-rendezvous", fx->log_path);
	for (guint i = 0; i < fx->agents->len; i++) {
		Agent *agent = fx->agents->pdata[i];
		print_log(agent->name, agent->log_path);
	}
}

/* g_error() after the logs: what the processes said is the best clue */
#define fail(fx, ...)                                                                              \
	G_STMT_START                                                                               \
	{                                                                                          \
		fixture_dump_logs(fx);                                                             \
		g_error(__VA_ARGS__);                                                              \
	}                                                                                          \
	G_STMT_END

/* A failed assertion skips the teardown: the children must not outlive the test. */
static void
die_with_parent(gpointer user_data)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static GSubprocess *
spawn_logged(const gchar *const *argv, gchar **env, const gchar *log_path)
{
	g_autoptr(GSubprocessLauncher) launcher =
	        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDERR_MERGE);
	g_autoptr(GError) error = NULL;
	GSubprocess *process;

	if (env != NULL)
		g_subprocess_launcher_set_environ(launcher, env);
	g_subprocess_launcher_set_stdout_file_path(launcher, log_path);
	g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
	process = g_subprocess_launcher_spawnv(launcher, argv, &error);
	g_assert_no_error(error);
	return process;
}

static void
stop_process(GSubprocess **process)
{
	if (*process == NULL)
		return;
	g_subprocess_send_signal(*process, SIGTERM);
	g_subprocess_wait(*process, NULL, NULL);
	g_clear_object(process);
}

static void
start_service(Fixture *fx)
{
	g_autofree gchar *listen = g_strdup_printf("127.0.0.1:%u", fx->port);
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_auto(GStrv) env = g_environ_unsetenv(g_get_environ(), "G_DEBUG");
	gint64 deadline = g_get_monotonic_time() + START_TIMEOUT_US;

	g_assert_null(fx->service);
	g_ptr_array_add(argv, (gpointer)g_getenv("PEERLINK_RENDEZVOUS"));
	g_ptr_array_add(argv, "--listen");
	g_ptr_array_add(argv, listen);
	if (fx->cert_path != NULL) {
		g_ptr_array_add(argv, "--tls-cert");
		g_ptr_array_add(argv, fx->cert_path);
		g_ptr_array_add(argv, "--tls-key");
		g_ptr_array_add(argv, fx->key_path);
	}
	g_ptr_array_add(argv, NULL);
	fx->service = spawn_logged((const gchar *const *)argv->pdata, env, fx->log_path);
	while (!tcp_port_answers(fx->port)) {
		if (g_subprocess_get_identifier(fx->service) == NULL)
			fail(fx, "peerlink-rendezvous exited at start");
		if (g_get_monotonic_time() > deadline)
			fail(fx, "peerlink-rendezvous does not listen on port %u", fx->port);
		g_usleep(10000);
	}
}

static Agent *
start_agent(Fixture *fx, const gchar *name, const gchar *ca_file)
{
	Agent *agent = g_new0(Agent, 1);
	g_autofree gchar *state_dir = NULL;
	g_autofree gchar *config_path = NULL;
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_auto(GStrv) env = g_get_environ();
	gint64 deadline = g_get_monotonic_time() + START_TIMEOUT_US;

	agent->name = g_strdup(name);
	agent->dir = g_build_filename(fx->dir, name, NULL);
	g_assert_cmpint(g_mkdir_with_parents(agent->dir, 0700), ==, 0);
	agent->socket_path = g_build_filename(agent->dir, "agent.sock", NULL);
	agent->log_path = g_build_filename(agent->dir, "peerlinkd.log", NULL);
	state_dir = g_build_filename(agent->dir, "state", NULL);
	config_path = g_build_filename(agent->dir, "peerlink.conf", NULL);
	g_assert_true(g_file_set_contents(config_path, "[agent]\n", -1, NULL));

	env = g_environ_setenv(env, "XDG_RUNTIME_DIR", agent->dir, TRUE);
	env = g_environ_setenv(env, "XDG_CONFIG_HOME", agent->dir, TRUE);
	env = g_environ_setenv(env, "XDG_STATE_HOME", agent->dir, TRUE);
	env = g_environ_unsetenv(env, "DBUS_SESSION_BUS_ADDRESS");
	env = g_environ_unsetenv(env, "G_DEBUG"); /* the agent's messages are not our warnings */
	g_ptr_array_add(argv, (gpointer)g_getenv("PEERLINKD"));
	g_ptr_array_add(argv, "--verbose");
	g_ptr_array_add(argv, "--config");
	g_ptr_array_add(argv, config_path);
	g_ptr_array_add(argv, "--socket");
	g_ptr_array_add(argv, agent->socket_path);
	g_ptr_array_add(argv, "--state-dir");
	g_ptr_array_add(argv, state_dir);
	g_ptr_array_add(argv, "--rendezvous");
	g_ptr_array_add(argv, fx->url);
	if (ca_file != NULL) {
		g_ptr_array_add(argv, "--rendezvous-ca");
		g_ptr_array_add(argv, (gpointer)ca_file);
	}
	g_ptr_array_add(argv, NULL);
	agent->process = spawn_logged((const gchar *const *)argv->pdata, env, agent->log_path);
	g_ptr_array_add(fx->agents, agent);
	while (!unix_socket_answers(agent->socket_path)) {
		if (g_subprocess_get_identifier(agent->process) == NULL)
			fail(fx, "%s exited at start", name);
		if (g_get_monotonic_time() > deadline)
			fail(fx, "%s does not answer on %s", name, agent->socket_path);
		g_usleep(10000);
	}
	return agent;
}

static void
agent_free(Agent *agent)
{
	if (agent->process != NULL) {
		g_subprocess_force_exit(agent->process);
		g_subprocess_wait(agent->process, NULL, NULL);
		g_clear_object(&agent->process);
	}
	g_free(agent->name);
	g_free(agent->dir);
	g_free(agent->socket_path);
	g_free(agent->log_path);
	g_free(agent->peer_id);
	g_free(agent);
}

/* peerlinkctl */

static gint
run_ctl(Agent *agent, gchar **out, gchar **err, ...)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) env = g_environ_unsetenv(g_get_environ(), "G_DEBUG");
	g_autofree gchar *out_local = NULL;
	g_autofree gchar *err_local = NULL;
	gint wait_status = 0;
	const gchar *arg;
	va_list args;

	g_ptr_array_add(argv, (gpointer)g_getenv("PEERLINKCTL"));
	g_ptr_array_add(argv, "--socket");
	g_ptr_array_add(argv, agent->socket_path);
	va_start(args, err);
	while ((arg = va_arg(args, const gchar *)) != NULL)
		g_ptr_array_add(argv, (gpointer)arg);
	va_end(args);
	g_ptr_array_add(argv, NULL);
	g_spawn_sync(NULL, (gchar **)argv->pdata, env, G_SPAWN_DEFAULT, NULL, NULL, &out_local,
	             &err_local, &wait_status, &error);
	g_assert_no_error(error);
	g_assert_true(WIFEXITED(wait_status));
	if (out != NULL)
		*out = g_steal_pointer(&out_local);
	if (err != NULL)
		*err = g_steal_pointer(&err_local);
	return WEXITSTATUS(wait_status);
}

static JsonObject *
parse_object(const gchar *text)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;

	if (!json_parser_load_from_data(parser, text, -1, &error))
		g_error("not JSON (%s): %s", error->message, text);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)));
	return json_object_ref(json_node_get_object(json_parser_get_root(parser)));
}

static JsonObject *
agent_status(Agent *agent)
{
	g_autofree gchar *out = NULL;

	g_assert_cmpint(run_ctl(agent, &out, NULL, "--json", "status", NULL), ==, 0);
	return parse_object(out);
}

static JsonObject *
agent_rendezvous(Agent *agent)
{
	g_autoptr(JsonObject) status = agent_status(agent);

	if (agent->peer_id == NULL)
		agent->peer_id = g_strdup(json_object_get_string_member(status, "peer_id"));
	return json_object_ref(json_object_get_object_member(status, "rendezvous"));
}

static const gchar *
rendezvous_state(JsonObject *rendezvous)
{
	return json_object_get_string_member(rendezvous, "state");
}

/* Waits until the agent reports one of @states (separated by '|'); returns its rendezvous. */
static JsonObject *
wait_for_state(Fixture *fx, Agent *agent, const gchar *states, gint64 timeout_us)
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
ctl_ping(Agent *from, const gchar *peer, const gchar *count, gint *exit_status, JsonObject **error)
{
	g_autofree gchar *out = NULL;
	g_autoptr(JsonObject) reply = NULL;

	*exit_status = run_ctl(from, &out, NULL, "--json", "rendezvous-ping", peer, "--count",
	                       count, NULL);
	reply = parse_object(out);
	if (json_object_has_member(reply, "error")) {
		*error = json_object_ref(json_object_get_object_member(reply, "error"));
		return NULL;
	}
	*error = NULL;
	return g_steal_pointer(&reply);
}

static gdouble
assert_ping_works(Fixture *fx, Agent *from, Agent *to, guint count)
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
	fx->dir = g_dir_make_tmp("pl-agent-rv-XXXXXX", NULL);
	g_assert_nonnull(fx->dir);
	fx->port = pl_test_pick_free_port();
	fx->url = g_strdup_printf("http://127.0.0.1:%u", fx->port);
	fx->log_path = g_build_filename(fx->dir, "rendezvous.log", NULL);
	fx->agents = g_ptr_array_new_with_free_func((GDestroyNotify)agent_free);
}

static void
fixture_tear_down(Fixture *fx, gconstpointer data)
{
	g_ptr_array_unref(fx->agents);
	if (fx->service != NULL) {
		g_subprocess_force_exit(fx->service);
		g_subprocess_wait(fx->service, NULL, NULL);
		g_clear_object(&fx->service);
	}
	pl_test_remove_tree(fx->dir);
	g_free(fx->dir);
	g_free(fx->url);
	g_free(fx->log_path);
	g_free(fx->cert_path);
	g_free(fx->key_path);
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
	Agent *a, *b;
	gdouble avg;
	gint64 started;
	gint status = -1;

	start_service(fx);
	a = start_agent(fx, "A", NULL);
	b = start_agent(fx, "B", NULL);
	rendezvous_a = wait_for_state(fx, a, "connected", CONNECT_TIMEOUT_US);
	json_object_unref(wait_for_state(fx, b, "connected", CONNECT_TIMEOUT_US));
	g_assert_cmpstr(json_object_get_string_member(rendezvous_a, "url"), ==, fx->url);
	g_assert_false(json_object_has_member(rendezvous_a, "last_error"));
	g_assert_false(json_object_has_member(rendezvous_a, "next_attempt_s"));

	g_assert_cmpint(run_ctl(a, &human, NULL, "status", NULL), ==, 0);
	expected = g_strdup_printf("%s (connected)", fx->url);
	g_assert_nonnull(strstr(human, expected));
	g_clear_pointer(&human, g_free);

	avg = assert_ping_works(fx, a, b, 3);
	g_test_message("rendezvous round trip A→B: %.2f ms (average of 3)", avg);
	avg = assert_ping_works(fx, b, a, 3);
	g_test_message("rendezvous round trip B→A: %.2f ms (average of 3)", avg);

	/* the human form: one line per round trip and a summary */
	g_assert_cmpint(
	        run_ctl(a, &human, NULL, "rendezvous-ping", b->peer_id, "--count", "2", NULL), ==,
	        0);
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
	g_assert_cmpint(run_ctl(a, NULL, &err, "rendezvous-ping",
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
	g_assert_cmpint(run_ctl(a, NULL, &err, "rendezvous-ping", b->peer_id, "--count", "0", NULL),
	                ==, 2);
	g_assert_nonnull(strstr(err, "--count"));
	g_clear_pointer(&err, g_free);
	g_assert_cmpint(run_ctl(a, NULL, &err, "rendezvous-ping", NULL), ==, 2);
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
subscribe(Agent *agent, EventLog *log)
{
	g_autoptr(PlClient) client = pl_client_new(agent->socket_path);
	g_autoptr(GError) error = NULL;
	const gchar *events[] = {"rendezvous-state", NULL};

	pl_client_connect_async(client, NULL, store_result_cb, log);
	while (log->result == NULL)
		g_main_context_iteration(NULL, TRUE);
	g_assert_true(pl_client_connect_finish(client, log->result, &error));
	g_assert_no_error(error);
	g_clear_object(&log->result);
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
	Agent *a, *b;
	gint64 stopped_at;

	start_service(fx);
	a = start_agent(fx, "A", NULL);
	b = start_agent(fx, "B", NULL);
	json_object_unref(wait_for_state(fx, a, "connected", CONNECT_TIMEOUT_US));
	json_object_unref(wait_for_state(fx, b, "connected", CONNECT_TIMEOUT_US));
	assert_ping_works(fx, a, b, 1);
	client = subscribe(a, &log);

	/* the service goes away: the agents notice at once and keep trying */
	stop_process(&fx->service);
	stopped_at = g_get_monotonic_time();
	rendezvous = wait_for_state(fx, a, "backing-off|connecting", 5 * G_USEC_PER_SEC);
	json_object_unref(wait_for_state(fx, b, "backing-off|connecting", 5 * G_USEC_PER_SEC));
	g_test_message("the agent noticed the service stop after %.0f ms",
	               (g_get_monotonic_time() - stopped_at) / 1000.0);

	/* it comes back on the same port: they sign in again by themselves */
	start_service(fx);
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
	Agent *a;

	a = start_agent(fx, "A", NULL);
	rendezvous = wait_for_state(fx, a, "backing-off", 5 * G_USEC_PER_SEC);
	g_assert_true(json_object_has_member(rendezvous, "next_attempt_s"));
	g_assert_cmpint(json_object_get_int_member(rendezvous, "next_attempt_s"), >=, 0);
	g_assert_cmpint(json_object_get_int_member(rendezvous, "next_attempt_s"), <=, 30);
	g_assert_cmpstr(json_object_get_string_member(rendezvous, "last_error"), !=, "");
	g_test_message("while the service is down: %s",
	               json_object_get_string_member(rendezvous, "last_error"));
	g_assert_cmpint(run_ctl(a, &human, NULL, "status", NULL), ==, 0);
	expected = g_strdup_printf("%s (backing off, next try in ", fx->url);
	if (strstr(human, expected) == NULL)
		g_error("no \"%s\" in:\n%s", expected, human);

	start_service(fx);
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
	g_autofree gchar *config_path = g_build_filename(fx->dir, "peerlink.conf", NULL);
	g_autofree gchar *socket_path = g_build_filename(fx->dir, "agent.sock", NULL);

	g_assert_true(g_file_set_contents(config_path, "[agent]\n", -1, NULL));
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		const gchar *argv[] = {g_getenv("PEERLINKD"),
		                       "--config",
		                       config_path,
		                       "--socket",
		                       socket_path,
		                       "--state-dir",
		                       fx->dir,
		                       "--rendezvous",
		                       cases[i][0],
		                       cases[i][1] != NULL ? "--rendezvous-ca" : NULL,
		                       cases[i][1],
		                       NULL};
		g_auto(GStrv) env = g_environ_unsetenv(g_get_environ(), "G_DEBUG");
		g_autofree gchar *err = NULL;
		g_autoptr(GError) error = NULL;
		gint wait_status = 0;

		env = g_environ_unsetenv(env, "DBUS_SESSION_BUS_ADDRESS");
		g_spawn_sync(NULL, (gchar **)argv, env, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
		             NULL, &err, &wait_status, &error);
		g_assert_no_error(error);
		g_assert_true(WIFEXITED(wait_status));
		g_assert_cmpint(WEXITSTATUS(wait_status), ==, 1);
		if (strstr(err, cases[i][2]) == NULL)
			g_error("\"%s\" does not mention \"%s\"", err, cases[i][2]);
	}
}

static gboolean
make_certificate(Fixture *fx)
{
	g_autofree gchar *template_path = g_build_filename(fx->dir, "cert.template", NULL);
	g_autofree gchar *certtool = g_find_program_in_path("certtool");
	const gchar *template = "cn = \"127.0.0.1\"\n"
	                        "ip_address = \"127.0.0.1\"\n"
	                        "dns_name = \"localhost\"\n"
	                        "expiration_days = 2\n"
	                        "ca\n"
	                        "cert_signing_key\n"
	                        "signing_key\n"
	                        "tls_www_server\n";
	g_autoptr(GError) error = NULL;
	gint wait_status = 0;

	if (certtool == NULL)
		return FALSE;
	fx->cert_path = g_build_filename(fx->dir, "cert.pem", NULL);
	fx->key_path = g_build_filename(fx->dir, "key.pem", NULL);
	g_assert_true(g_file_set_contents(template_path, template, -1, NULL));
	{
		const gchar *argv[] = {certtool,    "--generate-privkey", "--key-type=ecdsa",
		                       "--outfile", fx->key_path,         NULL};
		g_spawn_sync(NULL, (gchar **)argv, NULL,
		             G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
		             NULL, NULL, &wait_status, &error);
		g_assert_no_error(error);
		g_assert_true(g_spawn_check_wait_status(wait_status, NULL));
	}
	{
		const gchar *argv[] = {certtool,
		                       "--generate-self-signed",
		                       "--load-privkey",
		                       fx->key_path,
		                       "--template",
		                       template_path,
		                       "--outfile",
		                       fx->cert_path,
		                       NULL};
		g_spawn_sync(NULL, (gchar **)argv, NULL,
		             G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
		             NULL, NULL, &wait_status, &error);
		g_assert_no_error(error);
		g_assert_true(g_spawn_check_wait_status(wait_status, NULL));
	}
	return TRUE;
}

static void
test_https(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonObject) rendezvous = NULL;
	const gchar *last_error;
	Agent *trusting, *doubting;

	if (!make_certificate(fx)) {
		g_test_skip("certtool (gnutls-bin) is not installed");
		return;
	}
	g_free(fx->url);
	fx->url = g_strdup_printf("https://127.0.0.1:%u", fx->port);
	start_service(fx);
	trusting = start_agent(fx, "trusting", fx->cert_path);
	doubting = start_agent(fx, "doubting", NULL);
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
