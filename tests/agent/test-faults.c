/*
 * Faults injected into real agents and a real rendezvous on loopback: the
 * rendezvous killed during a connect and during a session, a peer agent
 * killed while data flows, an app that stops reading, a state dir that is
 * read-only or full, and the agent restarted under its apps. Every wait is
 * bounded; timings are printed.
 *
 * As root the program runs in a mount namespace of its own (made first thing
 * in main), so that it can put read-only bind mounts and tiny tmpfs over a
 * state dir; they vanish with the process. Root ignores file modes, so
 * without that namespace the state-dir cases are skipped; as another user a
 * read-only dir is a chmod 0500 and the full-disk cases are skipped.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pl-test-checker.h"
#include "pl-test-daemons.h"
#include "pl-test-util.h"

#define CALL_TIMEOUT_MS  20000
#define CHUNK            (64 * 1024)
#define ONLINE_TIMEOUT_S 30
/* libnice's consent freshness gives up on a silent peer after 30 s at most */
#define CONSENT_TIMEOUT_S 35

static gboolean have_mounts; /* a private mount namespace: we may mount */
/* under valgrind or the sanitizers (tests/pl-test-checker.h) every wait is stretched and
 * figures of speed, CPU and memory are printed but not judged */
static gboolean slow;

static guint
ms(guint milliseconds)
{
	return pl_test_checker_scale(milliseconds);
}

static gint64
us(guint seconds)
{
	return (gint64)ms(seconds * 1000) * 1000;
}

typedef struct {
	PlClient *client;
	gchar *name;
	JsonObject *params;
} PlEvent;

static void
pl_event_free(PlEvent *event)
{
	g_free(event->name);
	json_object_unref(event->params);
	g_free(event);
}

typedef struct {
	PlTestNet *net;
	PlTestAgent *alice;
	PlTestAgent *bob;
	PlClient *a;       /* alice's app */
	PlClient *b;       /* bob's app */
	GQueue incoming;   /* fds handed to either app, as GINT_TO_POINTER */
	GPtrArray *events; /* PlEvent*, both apps */
	GError *a_closed;  /* why alice's app lost its connection, once it did */
	GPtrArray *mounts; /* paths to unmount in teardown */
	GPtrArray *chmods; /* paths to give 0700 back in teardown */
} Fixture;

/* set-up and teardown */

static void
on_event(PlClient *client,
         const gchar *name,
         JsonObject *params,
         GUnixFDList *fd_list,
         gpointer user_data)
{
	Fixture *fx = user_data;
	PlEvent *event = g_new0(PlEvent, 1);

	event->client = client;
	event->name = g_strdup(name);
	event->params = json_object_ref(params);
	g_ptr_array_add(fx->events, event);
}

static void
on_a_closed(PlClient *client, GError *error, gpointer user_data)
{
	Fixture *fx = user_data;

	g_clear_error(&fx->a_closed);
	fx->a_closed = g_error_copy(error);
}

static void
fixture_set_up_net(Fixture *fx, gconstpointer data)
{
	fx->net = pl_test_net_new();
	fx->events = g_ptr_array_new_with_free_func((GDestroyNotify)pl_event_free);
	fx->mounts = g_ptr_array_new_with_free_func(g_free);
	fx->chmods = g_ptr_array_new_with_free_func(g_free);
}

static void
watch_app(Fixture *fx, PlClient *client)
{
	g_signal_connect(client, "event", G_CALLBACK(on_event), fx);
	pl_test_collect_incoming(client, &fx->incoming);
}

/* alice and bob online, an app connected to each */
static void
fixture_set_up(Fixture *fx, gconstpointer data)
{
	fixture_set_up_net(fx, data);
	fx->alice = pl_test_net_start_agent(fx->net, "alice", PL_TEST_LOOPBACK_CONFIG);
	fx->bob = pl_test_net_start_agent(fx->net, "bob", PL_TEST_LOOPBACK_CONFIG);
	fx->a = pl_test_agent_client(fx->alice);
	fx->b = pl_test_agent_client(fx->bob);
	watch_app(fx, fx->a);
	watch_app(fx, fx->b);
	g_signal_connect(fx->a, "closed", G_CALLBACK(on_a_closed), fx);
}

static void
fixture_tear_down(Fixture *fx, gconstpointer data)
{
	gpointer fd;

	if (g_test_failed())
		pl_test_net_dump_logs(fx->net);
	while ((fd = g_queue_pop_head(&fx->incoming)) != NULL)
		close(GPOINTER_TO_INT(fd));
	g_clear_object(&fx->a);
	g_clear_object(&fx->b);
	/* the agents save their state as they stop: before the mounts go */
	for (guint i = 0; i < fx->net->agents->len; i++)
		pl_test_agent_kill(g_ptr_array_index(fx->net->agents, i), SIGTERM);
	for (guint i = 0; i < fx->mounts->len; i++)
		g_assert_cmpint(umount2(g_ptr_array_index(fx->mounts, i), MNT_DETACH), ==, 0);
	for (guint i = 0; i < fx->chmods->len; i++)
		g_assert_cmpint(g_chmod(g_ptr_array_index(fx->chmods, i), 0700), ==, 0);
	g_ptr_array_unref(fx->mounts);
	g_ptr_array_unref(fx->chmods);
	g_ptr_array_unref(fx->events);
	g_clear_error(&fx->a_closed);
	pl_test_net_free(fx->net);
}

/* IPC */

static JsonObject *
call_ok(PlClient *client, const gchar *method, JsonObject *params, GUnixFDList **fd_list)
{
	g_autoptr(GError) error = NULL;
	JsonObject *result =
	        pl_test_call(client, method, params, fd_list, ms(CALL_TIMEOUT_MS), &error);

	g_assert_no_error(error);
	return result;
}

static void
listen_on(PlClient *client, const gchar *service)
{
	g_autoptr(JsonObject) params = json_object_new();
	g_autoptr(JsonObject) result = NULL;

	json_object_set_string_member(params, "service", service);
	result = call_ok(client, "listen", params, NULL);
	g_assert_cmpstr(json_object_get_string_member(result, "service"), ==, service);
}

static JsonObject *
connect_params(const gchar *peer, const gchar *service, guint timeout_ms)
{
	JsonObject *params = json_object_new();

	json_object_set_string_member(params, "peer", peer);
	json_object_set_string_member(params, "service", service);
	if (timeout_ms > 0)
		json_object_set_int_member(params, "timeout_ms", timeout_ms);
	return params;
}

/* the stream's fd; *session (may be NULL) gets the session's id */
static gint
connect_to(PlClient *client, const gchar *peer, const gchar *service, gint64 *session)
{
	g_autoptr(JsonObject) params = connect_params(peer, service, 0);
	g_autoptr(GUnixFDList) fd_list = NULL;
	g_autoptr(JsonObject) result = call_ok(client, "connect", params, &fd_list);

	g_assert_nonnull(fd_list);
	if (session != NULL)
		*session = json_object_get_int_member(
		        json_object_get_object_member(result, "session"), "id");
	return g_unix_fd_list_get(fd_list, 0, NULL);
}

static gint
next_incoming(Fixture *fx)
{
	gint fd = pl_test_pop_incoming(&fx->incoming, ms(10000));

	g_assert_cmpint(fd, >=, 0);
	return fd;
}

static guint
count_sessions(PlClient *client)
{
	g_autoptr(JsonObject) result = call_ok(client, "sessions", NULL, NULL);

	return json_array_get_length(json_object_get_array_member(result, "sessions"));
}

static const gchar *
rendezvous_state(PlTestAgent *agent)
{
	g_autoptr(PlClient) client = pl_client_new(agent->socket_path);
	g_autoptr(JsonObject) status = call_ok(client, "status", NULL, NULL);

	/* interned: the answer outlives the reply */
	return g_intern_string(json_object_get_string_member(
	        json_object_get_object_member(status, "rendezvous"), "state"));
}

/* seconds until the agent's rendezvous state is (or, with negate, is not) state */
static gdouble
wait_rendezvous_state(PlTestAgent *agent, const gchar *state, gboolean negate, guint timeout_s)
{
	gint64 start = g_get_monotonic_time();

	while ((g_strcmp0(rendezvous_state(agent), state) == 0) == negate) {
		if (g_get_monotonic_time() - start > us(timeout_s))
			g_error("%s: the rendezvous state is still %s%s after %u s", agent->name,
			        negate ? "" : "not ", state, timeout_s);
		g_usleep(20000);
	}
	return (g_get_monotonic_time() - start) / 1e6;
}

/* the session-closed event of session id for client, waiting for it */
static JsonObject *
wait_closed_event(Fixture *fx, PlClient *client, gint64 session, guint timeout_s)
{
	gint64 deadline = g_get_monotonic_time() + us(timeout_s);

	while (g_get_monotonic_time() < deadline) {
		for (guint i = 0; i < fx->events->len; i++) {
			PlEvent *event = g_ptr_array_index(fx->events, i);
			if (event->client == client &&
			    g_strcmp0(event->name, "session-closed") == 0 &&
			    json_object_get_int_member(event->params, "session") == session)
				return event->params;
		}
		g_main_context_iteration(NULL, FALSE);
		g_usleep(1000);
	}
	g_error("no session-closed event for session %" G_GINT64_FORMAT " within %u s", session,
	        timeout_s);
}

/* data on plain blocking sockets, in threads */

/* byte i of a stream: cheap to make, and a lost or repeated block shows */
static void
fill_pattern(guint8 *buf, guint64 offset, gsize len)
{
	for (gsize i = 0; i < len; i++) {
		guint64 o = offset + i;
		buf[i] = (guint8)((o >> 12) * 31 + o);
	}
}

typedef struct {
	gint fd;
	guint64 len;    /* to send, or to read; G_MAXUINT64: until an error or EOF */
	guintptr moved; /* bytes sent or received so far (atomic) */
	gboolean check; /* the receiver checks the pattern */
	gboolean mismatch;
	gint error;      /* errno of the failed call, 0 */
	gint64 ended_at; /* monotonic µs of the failure or EOF */
} PlPump;

static gpointer
send_thread(gpointer user_data)
{
	PlPump *pump = user_data;
	g_autofree guint8 *buf = g_malloc(CHUNK);
	guint64 sent = 0;

	while (sent < pump->len) {
		gsize len = (gsize)MIN(CHUNK, pump->len - sent);
		gssize n;

		fill_pattern(buf, sent, len);
		n = send(pump->fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			pump->error = errno;
			pump->ended_at = g_get_monotonic_time();
			return NULL;
		}
		/* the rest of a short write goes again, with its pattern */
		sent += (guint64)n;
		g_atomic_pointer_set(&pump->moved, (guintptr)sent);
	}
	return NULL;
}

static gpointer
receive_thread(gpointer user_data)
{
	PlPump *pump = user_data;
	g_autofree guint8 *buf = g_malloc(CHUNK);
	g_autofree guint8 *expected = g_malloc(CHUNK);
	guint64 received = 0;

	while (received < pump->len) {
		gssize n = recv(pump->fd, buf, CHUNK, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || n == 0) {
			pump->error = n < 0 ? errno : 0;
			pump->ended_at = g_get_monotonic_time();
			break;
		}
		if (pump->check) {
			fill_pattern(expected, received, (gsize)n);
			if (memcmp(buf, expected, (gsize)n) != 0)
				pump->mismatch = TRUE;
		}
		received += (guint64)n;
		g_atomic_pointer_set(&pump->moved, (guintptr)received);
	}
	return NULL;
}

/* len bytes from one fd to the other, checked, the stream left open; MB/s */
static gdouble
transfer(gint from, gint to, guint64 len)
{
	PlPump sender = {.fd = from, .len = len};
	PlPump receiver = {.fd = to, .len = len, .check = TRUE};
	gint64 start = g_get_monotonic_time();
	GThread *threads[2];
	gdouble seconds;

	threads[0] = g_thread_new("send", send_thread, &sender);
	threads[1] = g_thread_new("receive", receive_thread, &receiver);
	g_thread_join(threads[0]);
	g_thread_join(threads[1]);
	seconds = (g_get_monotonic_time() - start) / 1e6;
	g_assert_cmpint(sender.error, ==, 0);
	g_assert_cmpint(receiver.error, ==, 0);
	g_assert_cmpuint(receiver.moved, ==, len);
	g_assert_false(receiver.mismatch);
	return len / seconds / 1e6;
}

/* a few bytes there and back over a stream to an app or (to: -1) the echo service */
static void
assert_stream_works(gint from, gint to)
{
	struct timeval tv = {.tv_sec = ms(10000) / 1000};
	gchar buf[4];

	setsockopt(from, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	g_assert_cmpint(send(from, "ping", 4, MSG_NOSIGNAL), ==, 4);
	if (to >= 0) {
		setsockopt(to, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		g_assert_cmpint(recv(to, buf, sizeof(buf), MSG_WAITALL), ==, 4);
		g_assert_cmpmem(buf, 4, "ping", 4);
		g_assert_cmpint(send(to, "pong", 4, MSG_NOSIGNAL), ==, 4);
	}
	g_assert_cmpint(recv(from, buf, sizeof(buf), MSG_WAITALL), ==, 4);
	g_assert_cmpmem(buf, 4, to >= 0 ? "pong" : "ping", 4);
}

/* the read fails with ECONNRESET within timeout_s; the seconds it took */
static gdouble
assert_reset(gint fd, guint timeout_s)
{
	struct timeval tv = {.tv_sec = ms(timeout_s * 1000) / 1000};
	gint64 start = g_get_monotonic_time();
	gchar buf[CHUNK];
	gssize n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	do
		n = recv(fd, buf, sizeof(buf), 0);
	while (n > 0);
	if (n == 0)
		g_error("the stream ended cleanly instead of with a reset");
	g_assert_cmpint(errno, ==, ECONNRESET);
	return (g_get_monotonic_time() - start) / 1e6;
}

static gdouble
cpu_seconds(GSubprocess *process)
{
	g_autofree gchar *path =
	        g_strdup_printf("/proc/%s/stat", g_subprocess_get_identifier(process));
	g_autofree gchar *text = NULL;
	g_auto(GStrv) fields = NULL;

	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	fields = g_strsplit(strrchr(text, ')') + 2, " ", 0);
	/* utime and stime, fields 14 and 15 of stat, counted from the state (field 3) */
	return (g_ascii_strtod(fields[11], NULL) + g_ascii_strtod(fields[12], NULL)) /
	       sysconf(_SC_CLK_TCK);
}

static GPid
pid_of(PlTestAgent *agent)
{
	return (GPid)g_ascii_strtoll(g_subprocess_get_identifier(agent->process), NULL, 10);
}

/* a call that runs while the test does other things */
typedef struct {
	gboolean done;
	JsonObject *result;
	GUnixFDList *fd_list;
	GError *error;
	gint64 started_at;
	gint64 finished_at;
} PlAsyncCall;

static void
pl_async_call_clear(PlAsyncCall *call)
{
	g_clear_pointer(&call->result, json_object_unref);
	g_clear_object(&call->fd_list);
	g_clear_error(&call->error);
}

static void
async_call_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	PlAsyncCall *call = user_data;

	call->result =
	        pl_client_call_finish(PL_CLIENT(source), result, &call->fd_list, &call->error);
	call->finished_at = g_get_monotonic_time();
	call->done = TRUE;
}

static void
start_call(PlClient *client, const gchar *method, JsonObject *params, PlAsyncCall *call)
{
	g_assert_true(pl_client_is_connected(client));
	call->started_at = g_get_monotonic_time();
	pl_client_call_async(client, method, params, NULL, NULL, async_call_cb, call);
}

/* runs the main context for a while */
static void
spin(guint milliseconds)
{
	gint64 end = g_get_monotonic_time() + (gint64)milliseconds * 1000;

	while (g_get_monotonic_time() < end) {
		g_main_context_iteration(NULL, FALSE);
		g_usleep(500);
	}
}

/* the rendezvous */

static void
restart_rendezvous(Fixture *fx, gint64 killed_at)
{
	gdouble alice_s;
	gdouble bob_s;

	pl_test_net_start_service(fx->net);
	alice_s = wait_rendezvous_state(fx->alice, "connected", FALSE, ONLINE_TIMEOUT_S);
	bob_s = wait_rendezvous_state(fx->bob, "connected", FALSE, ONLINE_TIMEOUT_S);
	g_test_message("rendezvous back: alice online again %.2f s after the restart, bob "
	               "%.2f s (%.2f s after the kill)",
	               alice_s, alice_s + bob_s, (g_get_monotonic_time() - killed_at) / 1e6);
}

/*
 * SIGKILL while a connect's offer is on its way. The service is frozen
 * (SIGSTOP) first so that it never reads the offer, then killed: alice's
 * WebSocket breaks, the unacknowledged offer fails and so does the connect,
 * at once, with not-connected. A connect is never retried behind the app's
 * back. Once the service is back on the same port the agents sign in again by
 * themselves and the same connect works.
 */
static void
test_rendezvous_killed_mid_handshake(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonObject) params =
	        connect_params(fx->bob->peer_id, "peerlink.echo", MIN(ms(10000), 300000));
	g_autoptr(PlClient) observer = pl_test_agent_client(fx->alice);
	PlAsyncCall call = {0};
	gint64 killed_at;
	gint fd;

	g_subprocess_send_signal(fx->net->service, SIGSTOP);
	start_call(fx->a, "connect", params, &call);
	/* the session exists: its offer is written, or about to be */
	while (count_sessions(observer) == 0)
		g_assert_cmpint(g_get_monotonic_time() - call.started_at, <, us(5));
	spin(200);
	g_assert_false(call.done); /* nobody relays: it cannot have finished */
	pl_test_net_kill_service(fx->net, SIGKILL);
	killed_at = g_get_monotonic_time();
	g_assert_true(pl_test_wait_for(&call.done, ms(15000)));
	g_assert_error(call.error, PL_IPC_ERROR, PL_IPC_ERROR_NOT_CONNECTED);
	g_test_message("the connect failed %.0f ms after the kill: %s",
	               (call.finished_at - killed_at) / 1000.0, call.error->message);
	g_assert_cmpint(call.finished_at - killed_at, <, us(5));
	pl_async_call_clear(&call);
	g_assert_cmpuint(count_sessions(observer), ==, 0);

	restart_rendezvous(fx, killed_at);
	fd = connect_to(fx->a, fx->bob->peer_id, "peerlink.echo", NULL);
	assert_stream_works(fd, -1);
	close(fd);
}

#define N_RACING 8

/*
 * SIGKILL at arbitrary moments of several handshakes at once (a few ms after
 * the connects start, when signals are in flight both ways). Each connect
 * either works (its stream echoes) or fails with not-connected, timed-out or
 * session-failed within its timeout: a message the service had accepted but
 * not delivered dies with it, and a session waiting for it can only time out.
 */
static void
test_rendezvous_killed_during_connects(Fixture *fx, gconstpointer data)
{
	const guint delays_ms[] = {2, 10, 20, 40};
	g_autoptr(GHashTable) outcomes = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(PlClient) observer = pl_test_agent_client(fx->alice);
	gint64 slowest = 0;

	for (guint round = 0; round < G_N_ELEMENTS(delays_ms); round++) {
		PlAsyncCall calls[N_RACING] = {{0}};
		gint64 killed_at;

		for (guint i = 0; i < N_RACING; i++) {
			g_autoptr(JsonObject) params = connect_params(
			        fx->bob->peer_id, "peerlink.echo", MIN(ms(5000), 300000));
			start_call(fx->a, "connect", params, &calls[i]);
		}
		spin(delays_ms[round]);
		pl_test_net_kill_service(fx->net, SIGKILL);
		killed_at = g_get_monotonic_time();
		for (guint i = 0; i < N_RACING; i++) {
			const gchar *outcome;

			g_assert_true(pl_test_wait_for(&calls[i].done, ms(10000)));
			slowest = MAX(slowest, calls[i].finished_at - calls[i].started_at);
			if (calls[i].result != NULL) {
				gint fd = g_unix_fd_list_get(calls[i].fd_list, 0, NULL);
				assert_stream_works(fd, -1);
				close(fd);
				outcome = "established";
			} else {
				g_assert_true(calls[i].error->domain == PL_IPC_ERROR);
				outcome = pl_ipc_error_to_string(calls[i].error->code);
				if (!g_str_equal(outcome, "not-connected") &&
				    !g_str_equal(outcome, "timed-out") &&
				    !g_str_equal(outcome, "session-failed"))
					g_error("connect failed with %s: %s", outcome,
					        calls[i].error->message);
			}
			g_hash_table_insert(outcomes, (gpointer)outcome,
			                    GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(
			                                             outcomes, outcome)) +
			                                     1));
			pl_async_call_clear(&calls[i]);
		}
		restart_rendezvous(fx, killed_at);
	}
	{
		GHashTableIter iter;
		gpointer key;
		gpointer value;
		g_autoptr(GString) text = g_string_new(NULL);

		g_hash_table_iter_init(&iter, outcomes);
		while (g_hash_table_iter_next(&iter, &key, &value))
			g_string_append_printf(text, " %s=%u", (const gchar *)key,
			                       GPOINTER_TO_UINT(value));
		g_test_message("%u connects with the service killed 2-40 ms in:%s; the slowest "
		               "answer took %.2f s",
		               N_RACING * (guint)G_N_ELEMENTS(delays_ms), text->str, slowest / 1e6);
	}
	g_assert_cmpint(slowest, <, us(8));
	/* no session of alice's is left behind */
	PL_TEST_WAIT_UNTIL(count_sessions(observer) == 0, us(10));
}

/*
 * SIGKILL during an established session: the data never went through the
 * service, so the stream carries on both ways while it is down; a new connect
 * fails at once with not-connected; when the service is back the agents sign
 * in again by themselves, and the old stream and new ones work.
 */
static void
test_rendezvous_killed_mid_session(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonObject) params = connect_params(fx->bob->peer_id, "peerlink.echo", 0);
	g_autoptr(JsonObject) sessions = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) refused = NULL;
	JsonObject *session;
	gint64 killed_at;
	gdouble noticed_s;
	gint a_fd;
	gint b_fd;
	gint fd;

	listen_on(fx->b, "chat");
	a_fd = connect_to(fx->a, fx->bob->peer_id, "chat", NULL);
	b_fd = next_incoming(fx);
	transfer(a_fd, b_fd, 1024 * 1024);

	pl_test_net_kill_service(fx->net, SIGKILL);
	killed_at = g_get_monotonic_time();
	noticed_s = wait_rendezvous_state(fx->alice, "connected", TRUE, 10);
	g_test_message("alice noticed the service was gone after %.0f ms", noticed_s * 1000);

	/* both ways, for longer than a consent check interval (5 s) */
	for (guint i = 0; i < 2; i++) {
		gdouble there = transfer(a_fd, b_fd, 4 * 1024 * 1024);
		gdouble back = transfer(b_fd, a_fd, 4 * 1024 * 1024);
		g_test_message("with the service down: 4 MiB each way at %.0f and %.0f MB/s", there,
		               back);
		spin(2500);
	}
	refused = pl_test_call(fx->a, "connect", params, NULL, ms(CALL_TIMEOUT_MS), &error);
	g_assert_null(refused);
	g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_NOT_CONNECTED);

	restart_rendezvous(fx, killed_at);
	/* the old stream, after the restart */
	transfer(a_fd, b_fd, 1024 * 1024);
	assert_stream_works(a_fd, b_fd);
	sessions = call_ok(fx->a, "sessions", NULL, NULL);
	session = json_array_get_object_element(json_object_get_array_member(sessions, "sessions"),
	                                        0);
	g_assert_cmpstr(json_object_get_string_member(session, "state"), ==, "established");
	g_assert_cmpint(json_object_get_int_member(session, "restarts"), ==, 0);
	/* and a new one */
	fd = connect_to(fx->a, fx->bob->peer_id, "peerlink.echo", NULL);
	assert_stream_works(fd, -1);
	close(fd);
	close(a_fd);
	close(b_fd);
}

/* a peer agent dies */

/*
 * SIGKILL of the peer agent while data flows both ways (test-sessions kills
 * it with one byte sent): the local app's reads and writes fail with
 * ECONNRESET (or EPIPE) within the consent timeout, its owner gets
 * session-failed, and the local agent releases the session's descriptors.
 */
static void
test_peer_killed_with_data(Fixture *fx, gconstpointer data)
{
	PlPump a_send = {.len = G_MAXUINT64};
	PlPump a_receive = {.len = G_MAXUINT64};
	PlPump b_send = {.len = G_MAXUINT64};
	PlPump b_receive = {.len = G_MAXUINT64};
	GThread *threads[4];
	JsonObject *closed;
	gint64 session = 0;
	gint64 killed_at;
	guint fds_before;

	listen_on(fx->b, "flow");
	fds_before = pl_test_count_fds(pid_of(fx->alice));
	a_send.fd = a_receive.fd = connect_to(fx->a, fx->bob->peer_id, "flow", &session);
	b_send.fd = b_receive.fd = next_incoming(fx);
	threads[0] = g_thread_new("a-send", send_thread, &a_send);
	threads[1] = g_thread_new("a-receive", receive_thread, &a_receive);
	threads[2] = g_thread_new("b-send", send_thread, &b_send);
	threads[3] = g_thread_new("b-receive", receive_thread, &b_receive);
	spin(1000);
	g_assert_cmpuint(g_atomic_pointer_get(&a_receive.moved), >, 0);
	g_assert_cmpuint(g_atomic_pointer_get(&b_receive.moved), >, 0);

	pl_test_agent_kill(fx->bob, SIGKILL);
	killed_at = g_get_monotonic_time();
	/* bob's app sees its agent's socket close; it stops */
	shutdown(b_send.fd, SHUT_RDWR);
	g_thread_join(threads[2]);
	g_thread_join(threads[3]);
	/* alice's app must not hang: the reset reaches its reads and writes (the kernel
	 * reports a socket's error to one call only, the other thread sees EOF or EPIPE) */
	g_thread_join(threads[1]);
	g_thread_join(threads[0]);
	g_test_message("moved %.1f MiB to bob and %.1f MiB back; alice's app: write %s, read %s, "
	               "%.1f s after bob's agent died",
	               a_send.moved / 1048576.0, a_receive.moved / 1048576.0,
	               g_strerror(a_send.error),
	               a_receive.error != 0 ? g_strerror(a_receive.error) : "EOF",
	               (MIN(a_send.ended_at, a_receive.ended_at) - killed_at) / 1e6);
	g_assert_true(a_send.error == ECONNRESET || a_receive.error == ECONNRESET);
	g_assert_true(a_send.error == ECONNRESET || a_send.error == EPIPE);
	g_assert_cmpint(MIN(a_send.ended_at, a_receive.ended_at) - killed_at, <,
	                us(CONSENT_TIMEOUT_S));
	/* session-failed, or peer-offline when the ICE restart's offer found the peer gone
	 * from the rendezvous (docs/ipc.md lists only the first) */
	closed = wait_closed_event(fx, fx->a, session, 5);
	g_test_message("session-closed: %s: %s", json_object_get_string_member(closed, "code"),
	               json_object_get_string_member(closed, "message"));
	g_assert_true(
	        g_strcmp0(json_object_get_string_member(closed, "code"), "session-failed") == 0 ||
	        g_strcmp0(json_object_get_string_member(closed, "code"), "peer-offline") == 0);
	close(a_send.fd);
	close(b_send.fd);
	g_assert_cmpuint(count_sessions(fx->a), ==, 0);
	PL_TEST_WAIT_UNTIL(pl_test_count_fds(pid_of(fx->alice)) <= fds_before, us(5));
}

/* an app that stops reading */

/* slowed (valgrind): 32 MiB pushed and 4 MiB bulk transfers */
#define STALL_PUSH     (slow ? 32 * 1024 * 1024 : 200 * 1024 * 1024)
#define STALL_MAX      (64 * 1024 * 1024) /* what may be buffered between the apps */
#define RSS_GROWTH_MAX (24 * 1024)        /* KiB per agent */
#define BULK           (slow ? 4 * 1024 * 1024 : 32 * 1024 * 1024)

/*
 * Bob's app takes a stream and never reads it; alice's app pushes 200 MiB at
 * it. The stream fills its bounded buffers (the app sockets, HIGH_WATER in
 * the session, the link's windows), then the sender blocks: neither agent's
 * memory grows with what is pushed, neither spins, and another session
 * between the same agents keeps its speed. When the app reads again, every
 * byte arrives, in order. data: how long the app stalls, in seconds.
 */
static void
test_stalled_app(Fixture *fx, gconstpointer data)
{
	guint stall_s = GPOINTER_TO_UINT(data);
	/* a long stall is the point of the long case: real seconds, even when slowed */
	gint64 stall_us = stall_s > 2 ? (gint64)stall_s * G_USEC_PER_SEC : us(stall_s);
	PlPump pusher = {.len = STALL_PUSH};
	PlPump reader = {.len = STALL_PUSH, .check = TRUE};
	GThread *push_thread;
	GThread *read_thread;
	guint64 alice_rss[3];
	guint64 bob_rss[3];
	gdouble alice_cpu;
	gdouble bob_cpu;
	gdouble before;
	gdouble during;
	guintptr stalled_at = 0;
	gint64 last_change;
	gint a_bulk;
	gint b_bulk;

	listen_on(fx->b, "bulk");
	listen_on(fx->b, "sink");
	a_bulk = connect_to(fx->a, fx->bob->peer_id, "bulk", NULL);
	b_bulk = next_incoming(fx);
	pusher.fd = connect_to(fx->a, fx->bob->peer_id, "sink", NULL);
	reader.fd = next_incoming(fx);
	/* the baseline, and every buffer of the bulk session touched once */
	transfer(a_bulk, b_bulk, BULK);
	before = transfer(a_bulk, b_bulk, BULK);
	alice_rss[0] = pl_test_process_rss_kib(fx->alice->process);
	bob_rss[0] = pl_test_process_rss_kib(fx->bob->process);

	push_thread = g_thread_new("push", send_thread, &pusher);
	last_change = g_get_monotonic_time();
	while (g_get_monotonic_time() - last_change < stall_us && pusher.error == 0) {
		guintptr moved = g_atomic_pointer_get(&pusher.moved);
		if (moved != stalled_at) {
			stalled_at = moved;
			last_change = g_get_monotonic_time();
		}
		g_assert_cmpuint(moved, <, STALL_PUSH);
		g_usleep(50000);
	}
	g_assert_cmpint(pusher.error, ==, 0);
	g_assert_cmpuint(stalled_at, <, STALL_MAX);
	alice_cpu = cpu_seconds(fx->alice->process);
	bob_cpu = cpu_seconds(fx->bob->process);
	g_usleep(2 * G_USEC_PER_SEC);
	alice_cpu = cpu_seconds(fx->alice->process) - alice_cpu;
	bob_cpu = cpu_seconds(fx->bob->process) - bob_cpu;
	alice_rss[1] = pl_test_process_rss_kib(fx->alice->process);
	bob_rss[1] = pl_test_process_rss_kib(fx->bob->process);
	g_test_message("the sender blocked after %.1f MiB of %u MiB; agents' CPU while stalled: "
	               "alice %.0f %%, bob %.0f %% of a core",
	               stalled_at / 1048576.0, (guint)STALL_PUSH / 1048576, alice_cpu * 50,
	               bob_cpu * 50);
	if (!slow)
		g_assert_cmpfloat(alice_cpu + bob_cpu, <, 0.2);

	during = transfer(a_bulk, b_bulk, BULK);
	g_test_message("another session of the same agents: %.0f MB/s before, %.0f MB/s while "
	               "the stream is stalled",
	               before, during);
	if (!slow)
		g_assert_cmpfloat(during, >, before / 3);
	alice_rss[2] = pl_test_process_rss_kib(fx->alice->process);
	bob_rss[2] = pl_test_process_rss_kib(fx->bob->process);
	g_test_message(
	        "RSS before / stalled / after the other transfer: alice %" G_GUINT64_FORMAT
	        " / %" G_GUINT64_FORMAT " / %" G_GUINT64_FORMAT " KiB, bob %" G_GUINT64_FORMAT
	        " / %" G_GUINT64_FORMAT " / %" G_GUINT64_FORMAT " KiB",
	        alice_rss[0], alice_rss[1], alice_rss[2], bob_rss[0], bob_rss[1], bob_rss[2]);
	if (!slow) {
		g_assert_cmpuint(alice_rss[2], <, alice_rss[0] + RSS_GROWTH_MAX);
		g_assert_cmpuint(bob_rss[2], <, bob_rss[0] + RSS_GROWTH_MAX);
	}

	/* the app reads again: everything arrives */
	{
		struct timeval tv = {.tv_sec = ms(30000) / 1000};
		gint64 start = g_get_monotonic_time();

		setsockopt(reader.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		read_thread = g_thread_new("read", receive_thread, &reader);
		g_thread_join(push_thread);
		g_thread_join(read_thread);
		g_test_message("the app read again: %.1f MiB arrived in %.1f s",
		               reader.moved / 1048576.0, (g_get_monotonic_time() - start) / 1e6);
	}
	g_assert_cmpint(pusher.error, ==, 0);
	g_assert_cmpint(reader.error, ==, 0);
	g_assert_cmpuint(reader.moved, ==, STALL_PUSH);
	g_assert_false(reader.mismatch);
	close(pusher.fd);
	close(reader.fd);
	close(a_bulk);
	close(b_bulk);
}

/* the state dir */

static void
assert_one_error_line(const gchar *log, const gchar *what)
{
	g_auto(GStrv) lines = g_strsplit(log, "\n", -1);
	guint n = 0;

	for (guint i = 0; lines[i] != NULL; i++) {
		if (g_str_has_prefix(lines[i], "peerlinkd: ")) {
			g_test_message("%s: %s", what, lines[i]);
			n++;
		}
	}
	g_assert_cmpuint(n, ==, 1);
	g_assert_null(strstr(log, "-CRITICAL **"));
	g_assert_null(strstr(log, "-WARNING **"));
}

/* the line of log that holds needle */
static gchar *
line_with(const gchar *log, const gchar *needle)
{
	const gchar *found = strstr(log, needle);
	const gchar *start = found;
	const gchar *end;

	g_assert_nonnull(found);
	while (start > log && start[-1] != '\n')
		start--;
	end = strchr(found, '\n');
	return g_strndup(start, end != NULL ? (gsize)(end - start) : strlen(start));
}

static guint
count_occurrences(const gchar *text, const gchar *needle)
{
	guint n = 0;

	for (const gchar *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void
print_line_with(const gchar *log, const gchar *needle)
{
	g_autofree gchar *line = line_with(log, needle);

	g_test_message("%s", line);
}

/* path read-only from now on; FALSE (the test skipped) if we cannot */
static gboolean
make_read_only(Fixture *fx, const gchar *path)
{
	if (have_mounts) {
		g_assert_cmpint(mount(path, path, "none", MS_BIND, NULL), ==, 0);
		g_ptr_array_add(fx->mounts, g_strdup(path));
		g_assert_cmpint(mount("none", path, "none", MS_REMOUNT | MS_BIND | MS_RDONLY, NULL),
		                ==, 0);
		return TRUE;
	}
	if (geteuid() != 0) {
		g_assert_cmpint(g_chmod(path, 0500), ==, 0);
		g_ptr_array_add(fx->chmods, g_strdup(path));
		return TRUE;
	}
	g_test_skip("root ignores file modes and no private mount namespace is available");
	return FALSE;
}

/* a small tmpfs on path (which must exist); FALSE (skipped) if we cannot */
static gboolean
mount_tmpfs(Fixture *fx, const gchar *path)
{
	if (!have_mounts) {
		g_test_skip("a full disk needs a tmpfs: not root, or no private mount namespace");
		return FALSE;
	}
	g_assert_cmpint(mount("tmpfs", path, "tmpfs", 0, "size=256k,mode=0700"), ==, 0);
	g_ptr_array_add(fx->mounts, g_strdup(path));
	return TRUE;
}

/* fills the filesystem of dir to the last byte */
static void
fill_up(const gchar *dir)
{
	g_autofree gchar *path = g_build_filename(dir, "filler", NULL);
	gint fd = g_open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	gchar block[4096] = {0};
	gssize n;

	g_assert_cmpint(fd, >=, 0);
	while ((n = write(fd, block, sizeof(block))) > 0)
		continue;
	g_assert_cmpint(errno, ==, ENOSPC);
	/* and the last partial block */
	while ((n = write(fd, block, 1)) > 0)
		continue;
	close(fd);
}

static PlTestAgent *
start_carol(Fixture *fx)
{
	PlTestAgent *carol = pl_test_net_launch_agent(fx->net, "carol", PL_TEST_LOOPBACK_CONFIG);

	g_assert_true(pl_test_agent_wait_ready(fx->net, carol, TRUE, ms(10000)));
	return carol;
}

/* SIGTERM: the agent stops with exit status 0 */
static void
stop_cleanly(PlTestAgent *agent)
{
	GSubprocess *process = g_object_ref(agent->process);

	pl_test_agent_kill(agent, SIGTERM);
	g_assert_true(g_subprocess_get_if_exited(process));
	g_assert_cmpint(g_subprocess_get_exit_status(process), ==, 0);
	g_object_unref(process);
}

/* carol works: bob reaches her echo service */
static void
assert_carol_works(Fixture *fx, PlTestAgent *carol)
{
	gint fd = connect_to(fx->b, carol->peer_id, "peerlink.echo", NULL);

	assert_stream_works(fd, -1);
	close(fd);
}

/* the agent cannot start: exit status 1, one line that says why, no socket left */
static void
assert_fails_to_start(Fixture *fx, PlTestAgent *agent, const gchar *what, const gchar *reason)
{
	g_autofree gchar *log = NULL;

	g_assert_false(pl_test_agent_wait_ready(fx->net, agent, FALSE, ms(10000)));
	g_assert_true(g_subprocess_get_if_exited(agent->process));
	g_assert_cmpint(g_subprocess_get_exit_status(agent->process), ==, 1);
	log = pl_test_agent_get_log(agent);
	assert_one_error_line(log, what);
	g_assert_nonnull(strstr(log, reason));
	g_assert_false(g_file_test(agent->socket_path, G_FILE_TEST_EXISTS));
	g_clear_object(&agent->process);
}

/*
 * A read-only state dir that holds an identity: the agent starts with it
 * and says, in one line, that it cannot save its state (at start and at
 * stop); it works and stops cleanly.
 */
static void
test_state_read_only(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *log = NULL;
	g_autofree gchar *peer_id = NULL;
	PlTestAgent *carol = start_carol(fx);

	peer_id = g_strdup(carol->peer_id);
	stop_cleanly(carol);
	if (!make_read_only(fx, carol->state_dir))
		return;
	pl_test_agent_relaunch(carol);
	g_assert_true(pl_test_agent_wait_ready(fx->net, carol, TRUE, ms(10000)));
	g_assert_cmpstr(carol->peer_id, ==, peer_id);
	assert_carol_works(fx, carol);
	stop_cleanly(carol);
	log = pl_test_agent_get_log(carol);
	g_assert_cmpuint(count_occurrences(log, "cannot save state:"), ==, 2);
	print_line_with(log, "cannot save state:");
}

/* A read-only state dir without an identity: the agent cannot make one. */
static void
test_state_read_only_fresh(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *dir = g_build_filename(fx->net->dir, "carol", "state", NULL);
	PlTestAgent *carol;

	g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
	if (!make_read_only(fx, dir))
		return;
	carol = pl_test_net_launch_agent(fx->net, "carol", PL_TEST_LOOPBACK_CONFIG);
	assert_fails_to_start(fx, carol, "read-only, no identity",
	                      have_mounts ? "Read-only file system" : "Permission denied");
}

/* A full disk without an identity: the same. */
static void
test_state_full_fresh(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *dir = g_build_filename(fx->net->dir, "carol", "state", NULL);
	PlTestAgent *carol;

	g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
	if (!mount_tmpfs(fx, dir))
		return;
	fill_up(dir);
	carol = pl_test_net_launch_agent(fx->net, "carol", PL_TEST_LOOPBACK_CONFIG);
	assert_fails_to_start(fx, carol, "full disk, no identity", "No space left on device");
}

/* A full disk with an identity: it starts, says it cannot save state, works. */
static void
test_state_full(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *dir = g_build_filename(fx->net->dir, "carol", "state", NULL);
	g_autofree gchar *log = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *state_path = NULL;
	PlTestAgent *carol;

	g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
	if (!mount_tmpfs(fx, dir))
		return;
	carol = start_carol(fx);
	stop_cleanly(carol);
	fill_up(dir);
	pl_test_agent_relaunch(carol);
	g_assert_true(pl_test_agent_wait_ready(fx->net, carol, TRUE, ms(10000)));
	assert_carol_works(fx, carol);
	stop_cleanly(carol);
	log = pl_test_agent_get_log(carol);
	g_assert_cmpuint(count_occurrences(log, "cannot save state:"), ==, 2);
	print_line_with(log, "cannot save state:");
	/* the state of the first run is intact, not truncated */
	state_path = g_build_filename(dir, "state.ini", NULL);
	g_assert_true(g_file_get_contents(state_path, &state, NULL, NULL));
	g_assert_nonnull(strstr(state, "starts=1\n"));
}

/*
 * The state dir turns read-only (data: NULL) or full (data: non-NULL) while
 * the agent runs: it keeps working, and at its stop it says it cannot save
 * its state, exits 0, and leaves the old state file intact.
 */
static void
test_state_lost_while_running(Fixture *fx, gconstpointer data)
{
	gboolean full = data != NULL;
	g_autofree gchar *dir = g_build_filename(fx->net->dir, "carol", "state", NULL);
	g_autofree gchar *log = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *state_path = g_build_filename(dir, "state.ini", NULL);
	PlTestAgent *carol;

	g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
	if (full && !mount_tmpfs(fx, dir))
		return;
	if (!full && !have_mounts && geteuid() == 0) {
		g_test_skip("root ignores file modes and no private mount namespace is available");
		return;
	}
	carol = start_carol(fx);
	if (full)
		fill_up(dir);
	else
		g_assert_true(make_read_only(fx, dir));
	assert_carol_works(fx, carol);
	stop_cleanly(carol);
	log = pl_test_agent_get_log(carol);
	g_assert_cmpuint(count_occurrences(log, "cannot save state:"), ==, 1);
	print_line_with(log, "cannot save state:");
	g_assert_true(g_file_get_contents(state_path, &state, NULL, NULL));
	g_assert_nonnull(strstr(state, "starts=1\n"));
	g_assert_nonnull(strstr(state, "clean-shutdown=false\n"));
}

/* the agent restarts under its apps */

static void
wait_app_closed(Fixture *fx, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	while (fx->a_closed == NULL && g_get_monotonic_time() < deadline) {
		g_main_context_iteration(NULL, FALSE);
		g_usleep(1000);
	}
	g_assert_nonnull(fx->a_closed);
}

/* how a stream ends: "EOF" or the error of the read, within 5 s */
static const gchar *
stream_end(gint fd)
{
	struct timeval tv = {.tv_sec = ms(5000) / 1000};
	gchar buf[CHUNK];
	gssize n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	do
		n = recv(fd, buf, sizeof(buf), 0);
	while (n > 0);
	g_assert_true(n == 0 || errno != EAGAIN);
	return n == 0 ? "EOF" : g_strerror(errno);
}

static gboolean
saw_event(Fixture *fx, PlClient *client, const gchar *name)
{
	for (guint i = 0; i < fx->events->len; i++) {
		PlEvent *event = g_ptr_array_index(fx->events, i);
		if (event->client == client && g_strcmp0(event->name, name) == 0)
			return TRUE;
	}
	return FALSE;
}

/*
 * Alice's agent restarts (data: NULL, SIGTERM; non-NULL, SIGKILL) while her
 * app listens and has streams both ways. SIGTERM: the app gets the shutdown
 * event and its connection closes with shutting-down; both apps' streams are
 * reset and bob's app hears session-closed. SIGKILL: the connection just
 * breaks (disconnected). The app then connects again, listens again, and
 * streams work both ways with the same peer ID.
 */
static void
test_agent_restart(Fixture *fx, gconstpointer data)
{
	gboolean crash = data != NULL;
	g_autofree gchar *peer_id = g_strdup(fx->alice->peer_id);
	g_autofree gchar *log = NULL;
	gint64 to_alice = 0;
	gint64 stopped_at;
	gdouble reset_s;
	gint a_in, b_out, a_out, b_in;

	listen_on(fx->a, "svc");
	listen_on(fx->b, "back");
	b_out = connect_to(fx->b, fx->alice->peer_id, "svc", &to_alice);
	a_in = next_incoming(fx);
	a_out = connect_to(fx->a, fx->bob->peer_id, "back", NULL);
	b_in = next_incoming(fx);
	assert_stream_works(b_out, a_in);
	assert_stream_works(a_out, b_in);

	pl_test_agent_kill(fx->alice, crash ? SIGKILL : SIGTERM);
	stopped_at = g_get_monotonic_time();
	wait_app_closed(fx, ms(5000));
	g_test_message("alice's app: %s (after %.0f ms)", fx->a_closed->message,
	               (g_get_monotonic_time() - stopped_at) / 1000.0);
	if (crash) {
		g_assert_error(fx->a_closed, PL_IPC_ERROR, PL_IPC_ERROR_DISCONNECTED);
		/* the kernel closes the agent's end of each stream with a reset (SO_LINGER 0):
		 * the app never mistakes the crash for a clean end */
		g_assert_cmpstr(stream_end(a_in), ==, g_strerror(ECONNRESET));
		g_assert_cmpstr(stream_end(a_out), ==, g_strerror(ECONNRESET));
	} else {
		g_assert_error(fx->a_closed, PL_IPC_ERROR, PL_IPC_ERROR_SHUTTING_DOWN);
		g_assert_true(saw_event(fx, fx->a, "shutdown"));
		/* every stream reset, here and at the peer, at once */
		assert_reset(a_in, 5);
		assert_reset(a_out, 5);
		reset_s = assert_reset(b_out, 5);
		g_test_message(
		        "bob's app saw the reset of its outgoing stream %.0f ms after alice's "
		        "agent stopped",
		        (g_get_monotonic_time() - stopped_at) / 1000.0);
		g_assert_cmpfloat(reset_s, <, ms(5000) / 1000.0);
		assert_reset(b_in, 5);
		g_assert_cmpstr(json_object_get_string_member(
		                        wait_closed_event(fx, fx->b, to_alice, 5), "code"),
		                ==, "shutting-down");
	}
	close(a_in);
	close(a_out);
	close(b_out);
	close(b_in);

	/* back on the same socket, with the same identity; the app comes back */
	pl_test_agent_relaunch(fx->alice);
	g_assert_true(pl_test_agent_wait_ready(fx->net, fx->alice, TRUE, ms(10000)));
	g_assert_cmpstr(fx->alice->peer_id, ==, peer_id);
	g_test_message("alice's agent online again %.2f s after it stopped",
	               (g_get_monotonic_time() - stopped_at) / 1e6);
	listen_on(fx->a, "svc");
	b_out = connect_to(fx->b, fx->alice->peer_id, "svc", NULL);
	a_in = next_incoming(fx);
	transfer(b_out, a_in, 1024 * 1024);
	a_out = connect_to(fx->a, fx->bob->peer_id, "back", NULL);
	b_in = next_incoming(fx);
	transfer(a_out, b_in, 1024 * 1024);
	close(a_in);
	close(a_out);
	close(b_out);
	close(b_in);
	log = pl_test_agent_get_log(fx->alice);
	if (crash)
		g_assert_nonnull(strstr(log, "the previous run did not shut down cleanly"));
}

/* a mount namespace of our own, while we are the only thread */
static gboolean
enter_private_mounts(void)
{
	if (geteuid() != 0 || unshare(CLONE_NEWNS) != 0)
		return FALSE;
	/* the type is ignored here, but valgrind wants a string */
	return mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0;
}

int
main(int argc, char *argv[])
{
	have_mounts = enter_private_mounts();
	g_test_init(&argc, &argv, NULL);
	slow = pl_test_checker_scale(1000) > 1000;
	g_test_add("/peerlink/faults/rendezvous-killed-mid-handshake", Fixture, NULL,
	           fixture_set_up, test_rendezvous_killed_mid_handshake, fixture_tear_down);
	g_test_add("/peerlink/faults/rendezvous-killed-during-connects", Fixture, NULL,
	           fixture_set_up, test_rendezvous_killed_during_connects, fixture_tear_down);
	g_test_add("/peerlink/faults/rendezvous-killed-mid-session", Fixture, NULL, fixture_set_up,
	           test_rendezvous_killed_mid_session, fixture_tear_down);
	g_test_add("/peerlink/faults/peer-killed-with-data", Fixture, NULL, fixture_set_up,
	           test_peer_killed_with_data, fixture_tear_down);
	g_test_add("/peerlink/faults/stalled-app", Fixture, GUINT_TO_POINTER(2), fixture_set_up,
	           test_stalled_app, fixture_tear_down);
	g_test_add("/peerlink/faults/stalled-app-40s", Fixture, GUINT_TO_POINTER(40),
	           fixture_set_up, test_stalled_app, fixture_tear_down);
	g_test_add("/peerlink/faults/state/read-only", Fixture, NULL, fixture_set_up,
	           test_state_read_only, fixture_tear_down);
	g_test_add("/peerlink/faults/state/read-only-fresh", Fixture, NULL, fixture_set_up_net,
	           test_state_read_only_fresh, fixture_tear_down);
	g_test_add("/peerlink/faults/state/full-fresh", Fixture, NULL, fixture_set_up_net,
	           test_state_full_fresh, fixture_tear_down);
	g_test_add("/peerlink/faults/state/full", Fixture, NULL, fixture_set_up, test_state_full,
	           fixture_tear_down);
	g_test_add("/peerlink/faults/state/read-only-while-running", Fixture, NULL, fixture_set_up,
	           test_state_lost_while_running, fixture_tear_down);
	g_test_add("/peerlink/faults/state/full-while-running", Fixture, "full", fixture_set_up,
	           test_state_lost_while_running, fixture_tear_down);
	g_test_add("/peerlink/faults/agent-restart", Fixture, NULL, fixture_set_up,
	           test_agent_restart, fixture_tear_down);
	g_test_add("/peerlink/faults/agent-crash-restart", Fixture, "crash", fixture_set_up,
	           test_agent_restart, fixture_tear_down);
	return g_test_run();
}
