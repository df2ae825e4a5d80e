/*
 * The real peerlink-rendezvous and real peerlinkd agents in a temporary
 * directory: agents sign in, reach each other through the service, survive
 * its restart, wait for it when it is down, use it over HTTPS, and keep working
 * when a fake service in its place answers garbage.
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

/* A fake rendezvous service in this process, on its own thread (peerlinkctl blocks ours):
 * it reads each request and answers with @body after an HTTP 200 header, or, without
 * @body, with random bytes that are not HTTP at all; then it closes the connection. */
typedef struct {
	const gchar *body;
	guint16 port;
	gint connections; /* atomic */
	GMainContext *context;
	GMainLoop *loop;
	GSocketService *service;
	GThread *thread;
} FakeService;

/* reads the request line, the headers and a Content-Length body, so that the answer
 * is not lost in a reset; gives up at a timeout, EOF or 64 KiB */
static void
fake_read_request(GInputStream *in)
{
	g_autoptr(GString) request = g_string_new(NULL);
	g_autofree gchar *headers = NULL;
	const gchar *end;
	const gchar *length;
	gsize body_len = 0;
	gchar buffer[4096];
	gssize n;

	while ((end = strstr(request->str, "\r\n\r\n")) == NULL) {
		n = g_input_stream_read(in, buffer, sizeof(buffer), NULL, NULL);
		if (n <= 0 || request->len > 65536)
			return;
		g_string_append_len(request, buffer, n);
	}
	headers = g_ascii_strdown(request->str, end - request->str);
	length = strstr(headers, "\ncontent-length:");
	if (length != NULL)
		body_len = g_ascii_strtoull(length + strlen("\ncontent-length:"), NULL, 10);
	for (gsize have = request->len - (end + 4 - request->str); have < body_len; have += n) {
		n = g_input_stream_read(in, buffer, sizeof(buffer), NULL, NULL);
		if (n <= 0)
			return;
	}
}

static gboolean
on_fake_incoming(GSocketService *service,
                 GSocketConnection *connection,
                 GObject *source_object,
                 gpointer user_data)
{
	FakeService *fake = user_data;
	GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(connection));
	g_autofree gchar *answer = NULL;
	gsize answer_len;

	g_atomic_int_inc(&fake->connections);
	g_socket_set_timeout(g_socket_connection_get_socket(connection), 5);
	fake_read_request(g_io_stream_get_input_stream(G_IO_STREAM(connection)));
	if (fake->body != NULL) {
		answer = g_strdup_printf("HTTP/1.1 200 OK\r\n"
		                         "Content-Type: application/json\r\n"
		                         "Content-Length: %" G_GSIZE_FORMAT "\r\n"
		                         "Connection: close\r\n"
		                         "\r\n"
		                         "%s",
		                         strlen(fake->body), fake->body);
		answer_len = strlen(answer);
	} else {
		answer_len = 512;
		answer = g_malloc(answer_len);
		for (gsize i = 0; i < answer_len; i++)
			answer[i] = (gchar)g_random_int_range(0, 256);
		answer[0] = '\x01'; /* never "HTTP/", even by chance */
	}
	/* the agent may have given up already: that is its business */
	g_output_stream_write_all(out, answer, answer_len, NULL, NULL, NULL);
	g_io_stream_close(G_IO_STREAM(connection), NULL, NULL);
	return TRUE;
}

static gpointer
fake_thread(gpointer user_data)
{
	FakeService *fake = user_data;

	g_main_context_push_thread_default(fake->context);
	g_main_loop_run(fake->loop);
	g_main_context_pop_thread_default(fake->context);
	return NULL;
}

static FakeService *
fake_service_new(const gchar *body)
{
	FakeService *fake = g_new0(FakeService, 1);
	g_autoptr(GSocketAddress) address = NULL;
	g_autoptr(GError) error = NULL;

	fake->body = body;
	fake->port = pl_test_pick_free_port();
	fake->context = g_main_context_new();
	fake->loop = g_main_loop_new(fake->context, FALSE);
	/* the service accepts on the thread-default context of its creation: the fake's */
	g_main_context_push_thread_default(fake->context);
	fake->service = g_socket_service_new();
	address = g_inet_socket_address_new_from_string("127.0.0.1", fake->port);
	g_socket_listener_add_address(G_SOCKET_LISTENER(fake->service), address,
	                              G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL, NULL,
	                              &error);
	g_assert_no_error(error);
	g_signal_connect(fake->service, "incoming", G_CALLBACK(on_fake_incoming), fake);
	g_socket_service_start(fake->service);
	g_main_context_pop_thread_default(fake->context);
	fake->thread = g_thread_new("fake-rendezvous", fake_thread, fake);
	return fake;
}

static void
fake_service_free(FakeService *fake)
{
	g_main_loop_quit(fake->loop);
	g_thread_join(fake->thread);
	g_main_context_push_thread_default(fake->context);
	g_socket_service_stop(fake->service);
	g_socket_listener_close(G_SOCKET_LISTENER(fake->service));
	g_clear_object(&fake->service);
	while (g_main_context_iteration(fake->context, FALSE))
		; /* the cancelled accept lets go of the service */
	g_main_context_pop_thread_default(fake->context);
	g_main_loop_unref(fake->loop);
	g_main_context_unref(fake->context);
	g_free(fake);
}

/* one line, not empty, not the state "connected" */
static const gchar *
assert_clear_error(Fixture *fx, PlTestAgent *agent, JsonObject *rendezvous)
{
	const gchar *last_error =
	        json_object_get_string_member_with_default(rendezvous, "last_error", NULL);

	g_assert_cmpstr(rendezvous_state(rendezvous), !=, "connected");
	if (last_error == NULL || *last_error == '\0' || strchr(last_error, '\n') != NULL)
		fail(fx, "%s has no clear one-line last_error: \"%s\"", agent->name,
		     last_error != NULL ? last_error : "(none)");
	return last_error;
}

static void
test_garbage_service(Fixture *fx, gconstpointer data)
{
	const struct {
		const gchar *name;
		const gchar *body;     /* NULL: random bytes, not HTTP */
		const gchar *names_it; /* what the agent's error must mention */
	} replies[] = {
	        {"random-bytes", NULL, "HTTP"},
	        {"wrong-json", "{\"challenge\": 42}", "challenge with nonsense"},
	        {"not-json", "not json at all", "nonsense: the body is not JSON"},
	};
	g_autoptr(PlIdentity) stranger = pl_identity_generate(NULL);

	for (guint i = 0; i < G_N_ELEMENTS(replies); i++) {
		FakeService *fake = fake_service_new(replies[i].body);
		g_autoptr(JsonObject) rendezvous = NULL;
		g_autoptr(JsonObject) params = json_object_new();
		g_autoptr(JsonObject) result = NULL;
		g_autoptr(JsonObject) ping_error = NULL;
		g_autoptr(PlClient) client = NULL;
		g_autoptr(GError) error = NULL;
		g_autofree gchar *human = NULL;
		const gchar *last_error;
		PlTestAgent *agent;
		gint64 deadline, started;
		guint answers = 0;
		gint seen;
		gint status = -1;

		g_free(fx->net->url);
		fx->net->url = g_strdup_printf("http://127.0.0.1:%u", fake->port);
		agent = pl_test_net_spawn_agent(fx->net, replies[i].name, PL_TEST_LOOPBACK_CONFIG);

		/* the first answer fails the attempt, with a reason */
		deadline = g_get_monotonic_time() + CONNECT_TIMEOUT_US;
		for (;;) {
			rendezvous = agent_rendezvous(agent);
			g_assert_cmpstr(rendezvous_state(rendezvous), !=, "connected");
			if (json_object_has_member(rendezvous, "last_error"))
				break;
			if (g_get_monotonic_time() > deadline)
				fail(fx, "%s: no last_error after %" G_GINT64_FORMAT " s",
				     agent->name, CONNECT_TIMEOUT_US / G_USEC_PER_SEC);
			g_clear_pointer(&rendezvous, json_object_unref);
			g_usleep(20000);
		}
		g_clear_pointer(&rendezvous, json_object_unref);

		/* it keeps answering while it retries, never connected, always saying why */
		seen = g_atomic_int_get(&fake->connections);
		started = g_get_monotonic_time();
		deadline = started + CONNECT_TIMEOUT_US;
		while (g_atomic_int_get(&fake->connections) < seen + 2 || answers < 5 ||
		       g_get_monotonic_time() - started < 2 * G_USEC_PER_SEC) {
			rendezvous = agent_rendezvous(agent);
			assert_clear_error(fx, agent, rendezvous);
			g_clear_pointer(&rendezvous, json_object_unref);
			answers++;
			if (g_get_monotonic_time() > deadline)
				fail(fx, "%s: %d attempts in %" G_GINT64_FORMAT " s", agent->name,
				     g_atomic_int_get(&fake->connections) - seen,
				     CONNECT_TIMEOUT_US / G_USEC_PER_SEC);
			g_usleep(200000);
		}
		rendezvous = agent_rendezvous(agent);
		last_error = assert_clear_error(fx, agent, rendezvous);
		g_test_message("%s: %u status answers, %d connections; last_error: %s",
		               replies[i].name, answers, g_atomic_int_get(&fake->connections),
		               last_error);
		if (strstr(last_error, replies[i].names_it) == NULL)
			fail(fx, "%s: \"%s\" does not mention \"%s\"", agent->name, last_error,
			     replies[i].names_it);
		g_assert_cmpint(pl_test_agent_ctl(agent, &human, NULL, "status", NULL), ==, 0);
		g_assert_nonnull(strstr(human, fx->net->url));

		/* connect fails at once, with the right code and a clear message */
		client = pl_test_agent_client(agent);
		json_object_set_string_member(params, "peer",
		                              pl_identity_get_peer_id_string(stranger));
		json_object_set_string_member(params, "service", "peerlink.echo");
		result = pl_test_call(client, "connect", params, NULL, pl_test_checker_scale(5000),
		                      &error);
		g_assert_null(result);
		g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_NOT_CONNECTED);
		g_assert_nonnull(strstr(error->message, "not connected"));
		g_test_message("%s: connect: %s", replies[i].name, error->message);
		/* and so does peerlinkctl's rendezvous-ping */
		result = ctl_ping(agent, pl_identity_get_peer_id_string(stranger), "1", &status,
		                  &ping_error);
		g_assert_null(result);
		g_assert_cmpint(status, ==, 1);
		g_assert_cmpstr(json_object_get_string_member(ping_error, "code"), ==,
		                "not-connected");
		g_test_message("%s: rendezvous-ping: %s", replies[i].name,
		               json_object_get_string_member(ping_error, "message"));

		/* still alive, still answering */
		g_assert_nonnull(g_subprocess_get_identifier(agent->process));
		json_object_unref(agent_rendezvous(agent));
		fake_service_free(fake);
	}
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
	ADD("/peerlink/agent-rendezvous/garbage-service", test_garbage_service);
#undef ADD
	return g_test_run();
}
