/*
 * peerlinkctl's stream and session commands against a fake agent: a real
 * PlIpcServer that answers connect, listen, unlisten, sessions, close, ping
 * and status as docs/ipc.md ("Sessions and streams") says the agent will,
 * with socketpairs for the streams and plain threads as the far peers. The
 * real binary ($PEERLINKCTL) runs as a subprocess.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pl-ipc-params.h"
#include "pl-ipc-server.h"
#include "pl-test-util.h"

#define FAKE_PEER_ID  "KGWHMXT-3IPK4FC-INQRVTS-AMDUWRE-GNHUWE6-KXIZ2IT-FSC2YHU-FULZ6LJ"
#define OTHER_PEER_ID "UHURKYC-U4BH2ZC-M25HZHK-EZM3QD2-LW6E5IW-CVU5B77-DOBUSTN-AP2OCX5"
#define MIB           (1024 * 1024)

#define WAIT_TIMEOUT_US (30 * G_USEC_PER_SEC)

#define WAIT_FOR(cond) PL_TEST_WAIT_UNTIL(cond, WAIT_TIMEOUT_US)

/* the far peer of a stream: a blocking thread */

typedef struct {
	gint fd;
	gchar *greeting; /* written first, then the stream is half-closed */
	gboolean echo;   /* else: read until the end */
	GByteArray *received;
	GThread *thread;
	gint finished; /* atomic */
} Remote;

static gpointer
remote_thread(gpointer user_data)
{
	Remote *remote = user_data;
	guint8 buffer[16384];

	if (remote->greeting != NULL) {
		/* short and into an empty buffer: one write; it fails only if the app declined */
		if (write(remote->fd, remote->greeting, strlen(remote->greeting)) < 0)
			g_debug("greeting: %s", g_strerror(errno));
		shutdown(remote->fd, SHUT_WR);
	}
	for (;;) {
		gssize n = read(remote->fd, buffer, sizeof(buffer));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		g_byte_array_append(remote->received, buffer, (guint)n);
		for (gssize done = 0; remote->echo && done < n;) {
			gssize written = write(remote->fd, buffer + done, (gsize)(n - done));
			if (written < 0 && errno == EINTR)
				continue;
			if (written < 0)
				break;
			done += written;
		}
	}
	shutdown(remote->fd, SHUT_WR); /* closed in the teardown, after the join */
	g_atomic_int_set(&remote->finished, 1);
	return NULL;
}

static void
remote_free(Remote *remote)
{
	shutdown(remote->fd, SHUT_RDWR);
	g_thread_join(remote->thread);
	close(remote->fd);
	g_byte_array_unref(remote->received);
	g_free(remote->greeting);
	g_free(remote);
}

/* the fake agent */

typedef struct {
	gchar *tmpdir;
	gchar *socket_path;
	PlIpcServer *server;
	GPtrArray *calls;   /* JsonObject {"method", "params"}, in order */
	GPtrArray *remotes; /* Remote */
	guint n_incoming;   /* listen: how many streams to offer */
	gint64 next_session;
} Fixture;

/* what the fake agent does on a connection a while after a request: offer streams to a
 * listener, or break a stream */
typedef struct {
	Fixture *fixture;
	PlIpcConnection *connection;
	gchar *service;
	/* breaking a stream */
	gint64 session;
	gint fd;
	gboolean tell;  /* send session-closed before the reset */
	gboolean clean; /* read what came and end the stream plainly, a while after telling */
} Pending;

static Pending *
pending_new(Fixture *fixture, PlIpcRequest *request, const gchar *service)
{
	Pending *pending = g_new0(Pending, 1);

	pending->fixture = fixture;
	pending->connection = g_object_ref(pl_ipc_request_get_connection(request));
	pending->service = g_strdup(service);
	return pending;
}

static void
pending_free(Pending *pending)
{
	g_object_unref(pending->connection);
	g_free(pending->service);
	g_free(pending);
}

static JsonObject *
candidate_object(const gchar *type, const gchar *address, gint64 port)
{
	JsonObject *candidate = json_object_new();

	json_object_set_string_member(candidate, "type", type);
	json_object_set_string_member(candidate, "address", address);
	json_object_set_int_member(candidate, "port", port);
	json_object_set_string_member(candidate, "transport", "udp");
	return candidate;
}

static JsonObject *
session_object(gint64 id, const gchar *peer, const gchar *service, const gchar *direction)
{
	JsonObject *session = json_object_new();

	json_object_set_int_member(session, "id", id);
	json_object_set_string_member(session, "peer", peer);
	json_object_set_string_member(session, "service", service);
	json_object_set_string_member(session, "direction", direction);
	json_object_set_string_member(session, "state", "established");
	json_object_set_string_member(session, "path", "direct");
	json_object_set_object_member(session, "local_candidate",
	                              candidate_object("host", "10.0.0.2", 40000));
	json_object_set_object_member(session, "remote_candidate",
	                              candidate_object("srflx", "203.0.113.5", 51000));
	json_object_set_double_member(session, "setup_ms", 23);
	json_object_set_int_member(session, "bytes_sent", 1536);
	json_object_set_int_member(session, "bytes_received", 3 * MIB + 209715);
	json_object_set_int_member(session, "age_s", 125);
	json_object_set_int_member(session, "restarts", 0);
	return session;
}

static void
record_call(Fixture *fixture, PlIpcRequest *request)
{
	JsonObject *call = json_object_new();

	json_object_set_string_member(call, "method", pl_ipc_request_get_method(request));
	json_object_set_object_member(call, "params",
	                              json_object_ref(pl_ipc_request_get_params(request)));
	g_ptr_array_add(fixture->calls, call);
}

/* the params of the only call of method */
static JsonObject *
find_call(Fixture *fixture, const gchar *method)
{
	JsonObject *found = NULL;

	for (guint i = 0; i < fixture->calls->len; i++) {
		JsonObject *call = fixture->calls->pdata[i];
		if (g_strcmp0(json_object_get_string_member(call, "method"), method) == 0) {
			g_assert_null(found);
			found = json_object_get_object_member(call, "params");
		}
	}
	return found;
}

/* a stream: one end for the app (in the list), the other for a Remote */
static GUnixFDList *
new_stream(Fixture *fixture, const gchar *greeting, gboolean echo, gint *remote_fd)
{
	g_autoptr(GUnixFDList) fd_list = g_unix_fd_list_new();
	g_autoptr(GError) error = NULL;
	gint fds[2];

	g_assert_no_errno(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds));
	g_unix_fd_list_append(fd_list, fds[0], &error);
	g_assert_no_error(error);
	close(fds[0]);
	if (remote_fd != NULL) {
		*remote_fd = fds[1];
	} else {
		Remote *remote = g_new0(Remote, 1);
		remote->fd = fds[1];
		remote->greeting = g_strdup(greeting);
		remote->echo = echo;
		remote->received = g_byte_array_new();
		remote->thread = g_thread_new("remote", remote_thread, remote);
		g_ptr_array_add(fixture->remotes, remote);
	}
	return g_steal_pointer(&fd_list);
}

static void
send_event(PlIpcConnection *connection, const gchar *name, JsonObject *params, GUnixFDList *fd_list)
{
	g_autoptr(PlIpcMessage) message = pl_ipc_message_new_event(name, params);

	pl_ipc_message_set_fd_list(message, fd_list);
	g_assert_true(pl_ipc_connection_send(connection, message, NULL));
}

static gboolean
close_later_cb(gpointer user_data)
{
	close(GPOINTER_TO_INT(user_data));
	return G_SOURCE_REMOVE;
}

/* The app sent something: break the session as the agent does, unread data and all. */
static gboolean
reset_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	Pending *reset = user_data;

	if (reset->tell) {
		g_autoptr(JsonObject) params = json_object_new();
		json_object_set_int_member(params, "session", reset->session);
		json_object_set_string_member(params, "code", "session-failed");
		json_object_set_string_member(params, "message", "the path to the peer was lost");
		send_event(reset->connection, "session-closed", params, NULL);
	}
	if (reset->clean) {
		gchar buffer[256];
		while (recv(reset->fd, buffer, sizeof(buffer), MSG_DONTWAIT) > 0)
			;
		/* the event first, well ahead of the end */
		g_timeout_add(100, close_later_cb, GINT_TO_POINTER(reset->fd));
		return G_SOURCE_REMOVE;
	}
	close(reset->fd); /* with the app's bytes unread: ECONNRESET for the app */
	return G_SOURCE_REMOVE;
}

static gboolean
vanish_cb(gpointer user_data)
{
	pl_ipc_connection_close(PL_IPC_CONNECTION(user_data), NULL);
	return G_SOURCE_REMOVE;
}

static void
connect_cb(PlIpcRequest *request, gpointer user_data)
{
	Fixture *fixture = user_data;
	JsonObject *params = pl_ipc_request_get_params(request);
	const gchar *peer = pl_ipc_json_get_string(params, "peer");
	const gchar *service = pl_ipc_json_get_string(params, "service");
	g_autoptr(JsonObject) result = json_object_new();
	g_autoptr(GUnixFDList) fd_list = NULL;
	g_autoptr(GError) error = NULL;
	gint64 id = fixture->next_session++;

	record_call(fixture, request);
	if (g_strcmp0(peer, "not-a-peer-id") == 0) {
		error = g_error_new(PL_IPC_ERROR, PL_IPC_ERROR_INVALID_PARAMS,
		                    "\"%s\" is not a peer ID", peer);
	} else if (g_strcmp0(service, "offline") == 0) {
		error = g_error_new(PL_IPC_ERROR, PL_IPC_ERROR_PEER_OFFLINE,
		                    "peer %s is not online", peer);
	} else if (g_strcmp0(service, "vanish") == 0) {
		/* the stream says its last words, then the agent goes away */
		fd_list = new_stream(fixture, "last words\n", FALSE, NULL);
		g_timeout_add_full(G_PRIORITY_DEFAULT, 200, vanish_cb,
		                   g_object_ref(pl_ipc_request_get_connection(request)),
		                   g_object_unref);
	} else if (g_str_has_prefix(service, "reset")) {
		Pending *reset = pending_new(fixture, request, service);
		reset->session = id;
		reset->tell = g_strcmp0(service, "reset-silent") != 0;
		reset->clean = g_strcmp0(service, "reset-clean") == 0;
		fd_list = new_stream(fixture, NULL, FALSE, &reset->fd);
		g_unix_fd_add_full(G_PRIORITY_DEFAULT, reset->fd, G_IO_IN, reset_cb, reset,
		                   (GDestroyNotify)pending_free);
	} else {
		fd_list = new_stream(fixture, NULL, TRUE, NULL);
	}
	if (error != NULL) {
		pl_ipc_request_return_error(request, error);
		return;
	}
	json_object_set_object_member(result, "session",
	                              session_object(id, peer, service, "outgoing"));
	pl_ipc_request_return(request, result, fd_list);
}

/* Streams arrive a moment after the listen reply, as they would from a peer. */
static gboolean
offer_streams_cb(gpointer user_data)
{
	Pending *pending = user_data;
	Fixture *fixture = pending->fixture;

	for (guint i = 0; i < fixture->n_incoming; i++) {
		g_autoptr(JsonObject) params = json_object_new();
		g_autoptr(GUnixFDList) fd_list =
		        new_stream(fixture, "hello from the peer\n", FALSE, NULL);
		json_object_set_string_member(params, "service", pending->service);
		json_object_set_object_member(params, "session",
		                              session_object(fixture->next_session++, OTHER_PEER_ID,
		                                             pending->service, "incoming"));
		send_event(pending->connection, "incoming", params, fd_list);
	}
	return G_SOURCE_REMOVE;
}

static void
listen_cb(PlIpcRequest *request, gpointer user_data)
{
	Fixture *fixture = user_data;
	const gchar *service =
	        pl_ipc_json_get_string(pl_ipc_request_get_params(request), "service");
	g_autoptr(JsonObject) result = json_object_new();
	Pending *pending = pending_new(fixture, request, service);

	record_call(fixture, request);
	json_object_set_string_member(result, "service", service);
	pl_ipc_request_return(request, result, NULL);
	g_timeout_add_full(G_PRIORITY_DEFAULT, 50, offer_streams_cb, pending,
	                   (GDestroyNotify)pending_free);
}

static void
empty_cb(PlIpcRequest *request, gpointer user_data)
{
	g_autoptr(JsonObject) result = json_object_new();

	record_call(user_data, request);
	pl_ipc_request_return(request, result, NULL);
}

static JsonArray *
two_sessions(void)
{
	JsonArray *sessions = json_array_new();

	json_array_add_object_element(sessions,
	                              session_object(3, OTHER_PEER_ID, "ssh", "outgoing"));
	json_array_add_object_element(sessions,
	                              session_object(12, OTHER_PEER_ID, "web-proxy", "incoming"));
	return sessions;
}

static void
sessions_cb(PlIpcRequest *request, gpointer user_data)
{
	g_autoptr(JsonObject) result = json_object_new();

	record_call(user_data, request);
	json_object_set_array_member(result, "sessions", two_sessions());
	pl_ipc_request_return(request, result, NULL);
}

static void
status_cb(PlIpcRequest *request, gpointer user_data)
{
	g_autoptr(JsonObject) result = json_object_new();
	JsonObject *rendezvous = json_object_new();
	JsonObject *nat = json_object_new();

	json_object_set_string_member(result, "version", "0.1.0");
	json_object_set_int_member(result, "protocol", 1);
	json_object_set_string_member(result, "peer_id", FAKE_PEER_ID);
	json_object_set_int_member(result, "uptime_s", 4);
	json_object_set_string_member(result, "socket", "/run/agent.sock");
	json_object_set_null_member(rendezvous, "url");
	json_object_set_string_member(rendezvous, "state", "disabled");
	json_object_set_object_member(result, "rendezvous", rendezvous);
	json_object_set_string_member(nat, "summary", "unknown");
	json_object_set_object_member(result, "nat", nat);
	json_object_set_array_member(result, "sessions", two_sessions());
	pl_ipc_request_return(request, result, NULL);
}

static void
close_cb(PlIpcRequest *request, gpointer user_data)
{
	gint64 id = -1;
	g_autoptr(JsonObject) result = json_object_new();
	g_autoptr(GError) error = NULL;

	record_call(user_data, request);
	pl_ipc_json_get_int(pl_ipc_request_get_params(request), "session", &id);
	if (id != 3) {
		error = g_error_new(PL_IPC_ERROR, PL_IPC_ERROR_UNKNOWN_SESSION,
		                    "no session %" G_GINT64_FORMAT, id);
		pl_ipc_request_return_error(request, error);
		return;
	}
	pl_ipc_request_return(request, result, NULL);
}

/* what the agent says of the pairs it had: counts per type and why */
static JsonObject *
candidate_counts(void)
{
	JsonObject *candidates = json_object_new();
	JsonObject *local = json_object_new();
	JsonObject *remote = json_object_new();

	json_object_set_int_member(local, "host", 1);
	json_object_set_int_member(local, "srflx", 1);
	json_object_set_int_member(remote, "host", 2);
	json_object_set_int_member(remote, "relay", 1);
	json_object_set_object_member(candidates, "local", local);
	json_object_set_object_member(candidates, "remote", remote);
	json_object_set_string_member(candidates, "explanation",
	                              "direct: a host candidate here reached a srflx candidate");
	return candidates;
}

static void
ping_cb(PlIpcRequest *request, gpointer user_data)
{
	const gchar *peer = pl_ipc_json_get_string(pl_ipc_request_get_params(request), "peer");
	g_autoptr(JsonObject) result = json_object_new();
	JsonArray *samples;
	const gdouble values[] = {0.51, 0.40, 0.42, 0.44};
	g_autoptr(GError) error = NULL;

	record_call(user_data, request);
	if (g_strcmp0(peer, OTHER_PEER_ID) != 0) {
		error = g_error_new(PL_IPC_ERROR, PL_IPC_ERROR_PEER_OFFLINE,
		                    "peer %s is not online", peer);
		pl_ipc_request_return_error(request, error);
		return;
	}
	samples = json_array_new();
	for (guint i = 0; i < G_N_ELEMENTS(values); i++)
		json_array_add_double_element(samples, values[i]);
	json_object_set_string_member(result, "peer", peer);
	json_object_set_string_member(result, "path", "direct");
	json_object_set_double_member(result, "rtt_ms", 0.42);
	json_object_set_array_member(result, "rtt_ms_samples", samples);
	json_object_set_double_member(result, "setup_ms", 23);
	json_object_set_object_member(result, "local_candidate",
	                              candidate_object("host", "10.0.0.2", 40000));
	json_object_set_object_member(result, "remote_candidate",
	                              candidate_object("srflx", "203.0.113.5", 51000));
	json_object_set_object_member(result, "candidates", candidate_counts());
	json_object_set_string_member(result, "extra", "passed through");
	pl_ipc_request_return(request, result, NULL);
}

static void
fixture_setup(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;

	fixture->tmpdir = g_dir_make_tmp("peerlink-test-ctl-XXXXXX", &error);
	g_assert_no_error(error);
	fixture->socket_path = g_build_filename(fixture->tmpdir, "agent.sock", NULL);
	fixture->calls = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
	fixture->remotes = g_ptr_array_new_with_free_func((GDestroyNotify)remote_free);
	fixture->next_session = 11;
	fixture->n_incoming = 1;
	fixture->server = pl_ipc_server_new();
	pl_ipc_server_add_method(fixture->server, "status", status_cb, fixture);
	pl_ipc_server_add_method(fixture->server, "connect", connect_cb, fixture);
	pl_ipc_server_add_method(fixture->server, "listen", listen_cb, fixture);
	pl_ipc_server_add_method(fixture->server, "unlisten", empty_cb, fixture);
	pl_ipc_server_add_method(fixture->server, "sessions", sessions_cb, fixture);
	pl_ipc_server_add_method(fixture->server, "close", close_cb, fixture);
	pl_ipc_server_add_method(fixture->server, "ping", ping_cb, fixture);
	g_assert_true(pl_ipc_server_listen_path(fixture->server, fixture->socket_path, &error));
	g_assert_no_error(error);
}

static void
fixture_teardown(Fixture *fixture, gconstpointer user_data)
{
	g_clear_object(&fixture->server);
	g_clear_pointer(&fixture->remotes, g_ptr_array_unref);
	g_clear_pointer(&fixture->calls, g_ptr_array_unref);
	for (guint i = 0; i < 100 && g_main_context_iteration(NULL, FALSE); i++)
		;
	pl_test_remove_tree(fixture->tmpdir);
	g_free(fixture->tmpdir);
	g_free(fixture->socket_path);
}

/* running peerlinkctl */

typedef struct {
	GSubprocess *process;
	gboolean done;
	gint status;
	GBytes *out;
	GBytes *err;
	gchar *out_text;
	gchar *err_text;
	gint stdin_fd; /* the write end of a stdin held open, or 0 */
} CtlRun;

static void
ctl_run_free(CtlRun *run)
{
	g_clear_object(&run->process);
	g_clear_pointer(&run->out, g_bytes_unref);
	g_clear_pointer(&run->err, g_bytes_unref);
	g_free(run->out_text);
	g_free(run->err_text);
	if (run->stdin_fd > 0)
		close(run->stdin_fd);
	g_free(run);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CtlRun, ctl_run_free)

static void
communicated_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	CtlRun *run = user_data;
	g_autoptr(GError) error = NULL;

	g_subprocess_communicate_finish(G_SUBPROCESS(source), result, &run->out, &run->err, &error);
	g_assert_no_error(error);
	run->done = TRUE;
}

/* peerlinkctl --socket PATH ARGS…, with input on its stdin (NULL: a stdin that stays open) */
static CtlRun *
ctl_start(Fixture *fixture, GBytes *input, ...)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GError) error = NULL;
	CtlRun *run = g_new0(CtlRun, 1);
	const gchar *arg;
	va_list args;

	g_ptr_array_add(argv, (gpointer)g_getenv("PEERLINKCTL"));
	g_ptr_array_add(argv, "--socket");
	g_ptr_array_add(argv, fixture->socket_path);
	va_start(args, input);
	while ((arg = va_arg(args, const gchar *)) != NULL)
		g_ptr_array_add(argv, (gpointer)arg);
	va_end(args);
	g_ptr_array_add(argv, NULL);
	launcher = g_subprocess_launcher_new(
	        (input != NULL ? G_SUBPROCESS_FLAGS_STDIN_PIPE : G_SUBPROCESS_FLAGS_NONE) |
	        G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
	if (input == NULL) { /* stdin stays open, silent, until the run is freed */
		gint fds[2];
		g_assert_no_errno(pipe2(fds, O_CLOEXEC));
		g_subprocess_launcher_take_stdin_fd(launcher, fds[0]);
		run->stdin_fd = fds[1];
	}
	run->process =
	        g_subprocess_launcher_spawnv(launcher, (const gchar *const *)argv->pdata, &error);
	g_assert_no_error(error);
	g_subprocess_communicate_async(run->process, input, NULL, communicated_cb, run);
	return run;
}

static gchar *
bytes_to_text(GBytes *bytes)
{
	gsize len = 0;
	const gchar *data = g_bytes_get_data(bytes, &len);

	return len > 0 ? g_strndup(data, len) : g_strdup("");
}

static void
ctl_wait(CtlRun *run)
{
	WAIT_FOR(run->done);
	run->status = g_subprocess_get_if_exited(run->process)
	                      ? g_subprocess_get_exit_status(run->process)
	                      : 128 + g_subprocess_get_term_sig(run->process);
	run->out_text = bytes_to_text(run->out);
	run->err_text = bytes_to_text(run->err);
	g_test_message("exit %d\nstdout: %s\nstderr: %s", run->status,
	               g_bytes_get_size(run->out) < 4096 ? run->out_text : "(long)", run->err_text);
}

#define CTL_RUN(fixture, input, ...)                                                               \
	({                                                                                         \
		CtlRun *run_ = ctl_start(fixture, input, __VA_ARGS__, NULL);                       \
		ctl_wait(run_);                                                                    \
		run_;                                                                              \
	})

static GBytes *
text_bytes(const gchar *text)
{
	return g_bytes_new(text, strlen(text));
}

/* tests */

static void
test_connect_echo(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(GRand) rand = g_rand_new_with_seed(7);
	g_autofree guint8 *data = g_malloc(MIB);
	g_autoptr(GBytes) input = NULL;
	g_autoptr(CtlRun) run = NULL;
	JsonObject *params;

	for (gsize i = 0; i < MIB; i++)
		data[i] = (guint8)g_rand_int(rand);
	input = g_bytes_new(data, MIB);
	run = CTL_RUN(fixture, input, "connect", "--timeout", "7", OTHER_PEER_ID, "echo");
	g_assert_cmpint(run->status, ==, 0);
	g_assert_true(g_bytes_equal(run->out, input));
	g_assert_cmpstr(run->err_text, ==, "");
	params = find_call(fixture, "connect");
	g_assert_cmpstr(json_object_get_string_member(params, "peer"), ==, OTHER_PEER_ID);
	g_assert_cmpstr(json_object_get_string_member(params, "service"), ==, "echo");
	g_assert_cmpint(json_object_get_int_member(params, "timeout_ms"), ==, 7000);
}

/* stdout carries data only, even with --json; the default timeout is 30 s */
static void
test_connect_json(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(GBytes) input = text_bytes("hello\n");
	g_autoptr(CtlRun) run = NULL;

	run = CTL_RUN(fixture, input, "--json", "connect", OTHER_PEER_ID, "echo");
	g_assert_cmpint(run->status, ==, 0);
	g_assert_cmpstr(run->out_text, ==, "hello\n");
	g_assert_nonnull(strstr(run->err_text, "\"event\":\"connected\""));
	g_assert_cmpint(json_object_get_int_member(find_call(fixture, "connect"), "timeout_ms"), ==,
	                30000);
}

static void
test_connect_errors(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(GBytes) input = text_bytes("");
	g_autoptr(CtlRun) offline = NULL;
	g_autoptr(CtlRun) invalid = NULL;
	g_autoptr(CtlRun) usage = NULL;
	g_autoptr(CtlRun) json = NULL;

	offline = CTL_RUN(fixture, input, "connect", OTHER_PEER_ID, "offline");
	g_assert_cmpint(offline->status, ==, 1);
	g_assert_cmpstr(offline->err_text, ==,
	                "peerlinkctl: peer " OTHER_PEER_ID " is not online\n");
	g_assert_cmpstr(offline->out_text, ==, "");
	invalid = CTL_RUN(fixture, input, "connect", "not-a-peer-id", "echo");
	g_assert_cmpint(invalid->status, ==, 2);
	usage = CTL_RUN(fixture, input, "connect", OTHER_PEER_ID);
	g_assert_cmpint(usage->status, ==, 2);
	/* errors stay off stdout in --json mode too */
	json = CTL_RUN(fixture, input, "--json", "connect", OTHER_PEER_ID, "offline");
	g_assert_cmpint(json->status, ==, 1);
	g_assert_cmpstr(json->out_text, ==, "");
	g_assert_nonnull(strstr(json->err_text, "\"code\":\"peer-offline\""));
}

/* A reset is a failure; the reason is the agent's, or failing that the errno's. A stream
 * that just ends after the agent said the session failed is a failure too. */
static void
test_connect_reset(Fixture *fixture, gconstpointer user_data)
{
	const gchar *service = user_data;
	gboolean told = g_strcmp0(service, "reset-silent") != 0;
	g_autoptr(GBytes) input = text_bytes("some data\n");
	g_autoptr(CtlRun) run = NULL;

	run = CTL_RUN(fixture, input, "connect", OTHER_PEER_ID, service);
	g_assert_cmpint(run->status, ==, 1);
	if (told)
		g_assert_cmpstr(
		        run->err_text, ==,
		        "peerlinkctl: the stream was reset: the path to the peer was lost\n");
	else
		g_assert_cmpstr(run->err_text, ==,
		                "peerlinkctl: the stream was reset: Connection reset by peer\n");
}

/* The agent goes away while stdin is still open: what came is written out, then a failure,
 * without waiting for stdin to end. */
static void
test_connect_agent_gone(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(CtlRun) run = NULL;

	run = CTL_RUN(fixture, NULL, "connect", OTHER_PEER_ID, "vanish");
	g_assert_cmpint(run->status, ==, 1);
	g_assert_cmpstr(run->out_text, ==, "last words\n");
	g_assert_cmpstr(run->err_text, ==, "peerlinkctl: the agent closed the connection\n");
}

static void
test_connect_not_running(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(GBytes) input = text_bytes("");
	g_autoptr(CtlRun) run = NULL;

	g_clear_object(&fixture->server);
	run = CTL_RUN(fixture, input, "connect", OTHER_PEER_ID, "echo");
	g_assert_cmpint(run->status, ==, 3);
}

static void
test_listen_one(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(GBytes) input = text_bytes("reply\n");
	g_autoptr(CtlRun) run = NULL;
	JsonObject *params;
	JsonArray *allow;
	Remote *remote;

	fixture->n_incoming = 2; /* the second one is declined */
	run = CTL_RUN(fixture, input, "listen", "--allow", OTHER_PEER_ID, "--allow", FAKE_PEER_ID,
	              "chat");
	g_assert_cmpint(run->status, ==, 0);
	g_assert_cmpstr(run->out_text, ==, "hello from the peer\n");
	g_assert_nonnull(strstr(run->err_text, "listening on chat as " FAKE_PEER_ID "\n"));
	g_assert_nonnull(strstr(run->err_text, "connection from " OTHER_PEER_ID " (session 11)\n"));
	params = find_call(fixture, "listen");
	g_assert_cmpstr(json_object_get_string_member(params, "service"), ==, "chat");
	allow = json_object_get_array_member(params, "allow");
	g_assert_cmpuint(json_array_get_length(allow), ==, 2);
	g_assert_cmpstr(json_array_get_string_element(allow, 0), ==, OTHER_PEER_ID);
	g_assert_cmpstr(json_object_get_string_member(find_call(fixture, "unlisten"), "service"),
	                ==, "chat");
	g_assert_cmpuint(fixture->remotes->len, ==, 2);
	remote = fixture->remotes->pdata[0];
	WAIT_FOR(g_atomic_int_get(&remote->finished));
	g_assert_cmpmem(remote->received->data, remote->received->len, "reply\n", 6);
	/* the declined stream was closed at once */
	remote = fixture->remotes->pdata[1];
	WAIT_FOR(g_atomic_int_get(&remote->finished));
	g_assert_cmpuint(remote->received->len, ==, 0);
}

static void
test_listen_exec(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(GBytes) input = text_bytes("");
	g_autoptr(CtlRun) run = NULL;

	fixture->n_incoming = 2;
	run = ctl_start(fixture, input, "listen", "--exec",
	                "echo \"$PEERLINK_PEER $PEERLINK_SERVICE $PEERLINK_SESSION\"; cat", "svc",
	                NULL);
	WAIT_FOR(fixture->remotes->len == 2);
	for (guint i = 0; i < 2; i++) {
		Remote *remote = fixture->remotes->pdata[i];
		g_autofree gchar *expected =
		        g_strdup_printf(OTHER_PEER_ID " svc %u\nhello from the peer\n", 11 + i);
		WAIT_FOR(g_atomic_int_get(&remote->finished));
		g_assert_cmpmem(remote->received->data, remote->received->len, expected,
		                strlen(expected));
	}
	g_assert_null(find_call(fixture, "unlisten")); /* it keeps listening */
	g_subprocess_send_signal(run->process, SIGTERM);
	ctl_wait(run);
	g_assert_cmpint(run->status, ==, 0);
	g_assert_cmpstr(run->out_text, ==, "");
	g_assert_nonnull(strstr(run->err_text, "listening on svc as " FAKE_PEER_ID "\n"));
}

static void
test_sessions(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(GBytes) input = text_bytes("");
	g_autoptr(CtlRun) table = NULL;
	g_autoptr(CtlRun) json = NULL;
	g_autoptr(CtlRun) status = NULL;
	g_autoptr(JsonObject) result = NULL;

	table = CTL_RUN(fixture, input, "sessions");
	g_assert_cmpint(table->status, ==, 0);
	g_assert_cmpstr(
	        table->out_text, ==,
	        "ID  PEER      SERVICE    DIR  STATE        PATH    LOCAL                    "
	        "REMOTE                          SENT  RECEIVED        AGE\n"
	        " 3  UHURKYC…  ssh        out  established  direct  host 10.0.0.2:40000/udp  "
	        "srflx 203.0.113.5:51000/udp  1.5 KiB   3.2 MiB  2 min 5 s\n"
	        "12  UHURKYC…  web-proxy  in   established  direct  host 10.0.0.2:40000/udp  "
	        "srflx 203.0.113.5:51000/udp  1.5 KiB   3.2 MiB  2 min 5 s\n");

	json = CTL_RUN(fixture, input, "--json", "sessions");
	g_assert_cmpint(json->status, ==, 0);
	result = pl_test_parse_object(json->out_text);
	g_assert_cmpuint(json_array_get_length(json_object_get_array_member(result, "sessions")),
	                 ==, 2);

	status = CTL_RUN(fixture, input, "status");
	g_assert_cmpint(status->status, ==, 0);
	g_assert_nonnull(strstr(status->out_text, "Sessions    2 sessions\n\nID  PEER "));
	g_assert_nonnull(strstr(status->out_text, "12  UHURKYC…  web-proxy  in "));
}

static void
test_close(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(GBytes) input = text_bytes("");
	g_autoptr(CtlRun) ok = NULL;
	g_autoptr(CtlRun) unknown = NULL;
	g_autoptr(CtlRun) bad = NULL;

	ok = CTL_RUN(fixture, input, "close", "3");
	g_assert_cmpint(ok->status, ==, 0);
	g_assert_cmpstr(ok->out_text, ==, "");
	g_assert_cmpint(json_object_get_int_member(find_call(fixture, "close"), "session"), ==, 3);
	unknown = CTL_RUN(fixture, input, "close", "99");
	g_assert_cmpint(unknown->status, ==, 1);
	g_assert_cmpstr(unknown->err_text, ==, "peerlinkctl: no session 99\n");
	bad = CTL_RUN(fixture, input, "close", "x3");
	g_assert_cmpint(bad->status, ==, 2);
}

static void
test_ping(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(GBytes) input = text_bytes("");
	g_autoptr(CtlRun) human = NULL;
	g_autoptr(CtlRun) json = NULL;
	g_autoptr(CtlRun) offline = NULL;
	g_autoptr(JsonObject) result = NULL;
	const gchar *members[] = {"peer",
	                          "path",
	                          "rtt_ms",
	                          "setup_ms",
	                          "local_candidate",
	                          "remote_candidate",
	                          "rtt_ms_samples",
	                          "extra"};
	JsonObject *params;

	human = CTL_RUN(fixture, input, "ping", OTHER_PEER_ID);
	g_assert_cmpint(human->status, ==, 0);
	g_assert_cmpstr(human->out_text, ==,
	                "UHURKYC… via direct path (host 10.0.0.2:40000 udp ↔ srflx "
	                "203.0.113.5:51000 udp): rtt 0.42 ms (min/median/max 0.40/0.42/0.51 ms), "
	                "setup 23 ms\n"
	                "  why: direct: a host candidate here reached a srflx candidate\n"
	                "  candidates here: 1 host, 1 srflx, 0 prflx, 0 relay\n"
	                "  candidates of the peer: 2 host, 0 srflx, 0 prflx, 1 relay\n");
	params = find_call(fixture, "ping");
	g_assert_cmpint(json_object_get_int_member(params, "count"), ==, 4);
	g_assert_cmpint(json_object_get_int_member(params, "timeout_ms"), ==, 30000);

	json = CTL_RUN(fixture, input, "--json", "ping", "--count", "10", OTHER_PEER_ID);
	g_assert_cmpint(json->status, ==, 0);
	result = pl_test_parse_object(json->out_text);
	for (guint i = 0; i < G_N_ELEMENTS(members); i++)
		g_assert_true(json_object_has_member(result, members[i]));

	offline = CTL_RUN(fixture, input, "ping", FAKE_PEER_ID);
	g_assert_cmpint(offline->status, ==, 1);
	g_assert_cmpstr(offline->err_text, ==,
	                "peerlinkctl: peer " FAKE_PEER_ID " is not online\n");
}

int
main(int argc, char *argv[])
{
	signal(SIGPIPE, SIG_IGN);
	g_test_init(&argc, &argv, NULL);
	if (g_getenv("PEERLINKCTL") == NULL) {
		g_test_skip("PEERLINKCTL is not set (run through meson test)");
		return g_test_run();
	}
#define ADD(path, func, data)                                                                      \
	g_test_add("/peerlink/ctl/commands/" path, Fixture, data, fixture_setup, func,             \
	           fixture_teardown)
	ADD("connect-echo", test_connect_echo, NULL);
	ADD("connect-json", test_connect_json, NULL);
	ADD("connect-errors", test_connect_errors, NULL);
	ADD("connect-reset", test_connect_reset, "reset");
	ADD("connect-reset-silent", test_connect_reset, "reset-silent");
	ADD("connect-failed-then-eof", test_connect_reset, "reset-clean");
	ADD("connect-agent-gone", test_connect_agent_gone, NULL);
	ADD("connect-not-running", test_connect_not_running, NULL);
	ADD("listen-one", test_listen_one, NULL);
	ADD("listen-exec", test_listen_exec, NULL);
	ADD("sessions", test_sessions, NULL);
	ADD("close", test_close, NULL);
	ADD("ping", test_ping, NULL);
#undef ADD
	return g_test_run();
}
