/*
 * The real peerlinkd in a temporary directory, driven by peerlinkctl, by the
 * client library and by raw sockets that send every kind of bad input.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <gio/gunixfdmessage.h>
#include <gio/gunixsocketaddress.h>
#include <json-glib/json-glib.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pl-client.h"
#include "pl-peer-id.h"
#include "pl-test-checker.h"
#include "pl-test-daemons.h"
#include "pl-test-util.h"

/* for the daemon to start, answer or let go; longer under valgrind */
#define WAIT_TIMEOUT_US ((gint64)pl_test_checker_scale(10000) * 1000)

typedef struct {
	gchar *dir;
	gchar *socket_path;
	gchar *state_dir;
	gchar *config_path;
	gchar **env; /* of the daemon and of peerlinkctl */
	GSubprocess *daemon;
} Fixture;

/* helpers: processes */

/* under the test's checker (valgrind, sanitizers), which reports to fx->dir */
static GSubprocess *
spawn_daemon(Fixture *fx, const gchar *const *extra_args, GError **error)
{
	g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
	        G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE);
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_auto(GStrv) checked_argv = NULL;
	g_auto(GStrv) env = pl_test_checker_environ(g_strdupv(fx->env), fx->dir);

	g_subprocess_launcher_set_environ(launcher, env);
	g_ptr_array_add(argv, (gpointer)g_getenv("PEERLINKD"));
	g_ptr_array_add(argv, "--config");
	g_ptr_array_add(argv, fx->config_path);
	g_ptr_array_add(argv, "--socket");
	g_ptr_array_add(argv, fx->socket_path);
	g_ptr_array_add(argv, "--state-dir");
	g_ptr_array_add(argv, fx->state_dir);
	for (guint i = 0; extra_args != NULL && extra_args[i] != NULL; i++)
		g_ptr_array_add(argv, (gpointer)extra_args[i]);
	g_ptr_array_add(argv, NULL);
	checked_argv = pl_test_checker_argv((const gchar *const *)argv->pdata);
	return g_subprocess_launcher_spawnv(launcher, (const gchar *const *)checked_argv, error);
}

static gboolean
socket_answers(const gchar *path)
{
	g_autoptr(GSocket) socket = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
	                                         G_SOCKET_PROTOCOL_DEFAULT, NULL);
	g_autoptr(GSocketAddress) address = g_unix_socket_address_new(path);

	return g_socket_connect(socket, address, NULL, NULL);
}

static void assert_status_reply(GSocket *socket, gint64 id);
static GSocket *raw_connect(Fixture *fx);
static GPid daemon_pid(Fixture *fx);
static void assert_fds_return_to(Fixture *fx, guint baseline);

/* Ready means answering status: by then start-up (identity, state, signals) is over. */
static void
start_daemon(Fixture *fx)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocket) socket = NULL;
	gint64 deadline = g_get_monotonic_time() + WAIT_TIMEOUT_US;
	guint n_fds;

	fx->daemon = spawn_daemon(fx, NULL, &error);
	g_assert_no_error(error);
	while (!socket_answers(fx->socket_path)) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_assert_nonnull(g_subprocess_get_identifier(fx->daemon)); /* still running */
		g_usleep(10000);
	}
	socket = raw_connect(fx);
	assert_status_reply(socket, 0);
	n_fds = pl_test_count_fds(daemon_pid(fx));
	g_clear_object(&socket);
	assert_fds_return_to(fx, n_fds - 1); /* the probe's connection is gone again */
}

/* Collects the output of a process that is exiting, and its exit status;
 * what the checker found fails the test first. */
static gint
wait_exit(Fixture *fx, GSubprocess *process, gchar **output)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *text = NULL;

	g_subprocess_communicate_utf8(process, NULL, NULL, &text, NULL, &error);
	g_assert_no_error(error);
	g_subprocess_wait(process, NULL, &error);
	g_assert_no_error(error);
	pl_test_checker_check(fx->dir, "peerlinkd");
	if (output != NULL)
		*output = g_steal_pointer(&text);
	g_assert_true(g_subprocess_get_if_exited(process));
	return g_subprocess_get_exit_status(process);
}

static gint
stop_daemon(Fixture *fx, gchar **output)
{
	gint status;

	g_subprocess_send_signal(fx->daemon, SIGTERM);
	status = wait_exit(fx, fx->daemon, output);
	g_clear_object(&fx->daemon);
	return status;
}

/* peerlinkctl ARGS…, NULL-terminated, with the daemon's environment: its exit status */
#define run_ctl(fx, out, err, ...) pl_test_run_ctl((fx)->env, (out), (err), __VA_ARGS__)

static JsonObject *
ctl_json_status(Fixture *fx)
{
	g_autofree gchar *out = NULL;

	g_assert_cmpint(
	        run_ctl(fx, &out, NULL, "--socket", fx->socket_path, "--json", "status", NULL), ==,
	        0);
	return pl_test_parse_object(out);
}

static GPid
daemon_pid(Fixture *fx)
{
	return (GPid)g_ascii_strtoll(g_subprocess_get_identifier(fx->daemon), NULL, 10);
}

/* The daemon closes what a client leaves behind: wait until it has. */
static void
assert_fds_return_to(Fixture *fx, guint baseline)
{
	gint64 deadline = g_get_monotonic_time() + WAIT_TIMEOUT_US;

	while (pl_test_count_fds(daemon_pid(fx)) > baseline) {
		if (g_get_monotonic_time() > deadline)
			g_error("daemon holds %u fds, expected %u",
			        pl_test_count_fds(daemon_pid(fx)), baseline);
		g_usleep(20000);
	}
}

/* helpers: raw clients */

static GSocket *
raw_connect(Fixture *fx)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocket) socket = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
	                                         G_SOCKET_PROTOCOL_DEFAULT, &error);
	g_autoptr(GSocketAddress) address = g_unix_socket_address_new(fx->socket_path);

	g_assert_no_error(error);
	g_assert_true(g_socket_connect(socket, address, NULL, &error));
	g_assert_no_error(error);
	g_socket_set_timeout(socket, pl_test_checker_scale(10000) / 1000);
	return g_steal_pointer(&socket);
}

static void
raw_send(GSocket *socket, const gchar *data, gsize len)
{
	g_autoptr(GError) error = NULL;
	gsize sent = 0;

	while (sent < len) {
		gssize n = g_socket_send(socket, data + sent, len - sent, NULL, &error);
		g_assert_no_error(error);
		sent += (gsize)n;
	}
}

/* One line from the daemon, or NULL at end of stream. */
static gchar *
raw_read_line(GSocket *socket)
{
	g_autoptr(GString) line = g_string_new(NULL);
	g_autoptr(GError) error = NULL;

	for (;;) {
		gchar c;
		gssize n = g_socket_receive(socket, &c, 1, NULL, &error);
		g_assert_no_error(error);
		if (n == 0)
			return line->len > 0 ? g_strdup(line->str) : NULL;
		if (c == '\n')
			return g_strdup(line->str);
		g_string_append_c(line, c);
	}
}

static void
assert_error_reply(GSocket *socket, const gchar *code, gint64 id)
{
	g_autofree gchar *line = raw_read_line(socket);
	g_autoptr(JsonObject) reply = NULL;
	JsonObject *error;

	if (line == NULL)
		g_error("expected a \"%s\" error, got end of stream", code);
	reply = pl_test_parse_object(line);
	g_assert_true(json_object_has_member(reply, "error"));
	error = json_object_get_object_member(reply, "error");
	g_assert_cmpstr(json_object_get_string_member(error, "code"), ==, code);
	g_assert_cmpstr(json_object_get_string_member(error, "message"), !=, "");
	if (id < 0)
		g_assert_true(json_object_get_null_member(reply, "id"));
	else
		g_assert_cmpint(json_object_get_int_member(reply, "id"), ==, id);
}

static void
assert_status_reply(GSocket *socket, gint64 id)
{
	g_autoptr(JsonObject) reply = NULL;
	g_autofree gchar *request = g_strdup_printf(
	        "{\"v\":1,\"id\":%" G_GINT64_FORMAT ",\"method\":\"status\"}\n", id);
	g_autofree gchar *line = NULL;

	raw_send(socket, request, strlen(request));
	line = raw_read_line(socket);
	reply = pl_test_parse_object(line);
	g_assert_cmpint(json_object_get_int_member(reply, "id"), ==, id);
	g_assert_true(json_object_has_member(reply, "result"));
}

static void
assert_end_of_stream(GSocket *socket)
{
	g_autofree gchar *line = raw_read_line(socket);
	g_assert_null(line);
}

/* fixture */

static void
fixture_set_up(Fixture *fx, gconstpointer data)
{
	fx->dir = g_dir_make_tmp("pl-daemon-XXXXXX", NULL);
	g_assert_nonnull(fx->dir);
	fx->socket_path = g_build_filename(fx->dir, "run", "agent.sock", NULL);
	fx->state_dir = g_build_filename(fx->dir, "state", NULL);
	fx->config_path = g_build_filename(fx->dir, "peerlink.conf", NULL);
	g_assert_true(g_file_set_contents(fx->config_path, "[agent]\n", -1, NULL));
	fx->env = pl_test_daemon_env(fx->dir);
}

static void
fixture_tear_down(Fixture *fx, gconstpointer data)
{
	if (fx->daemon != NULL) {
		g_subprocess_force_exit(fx->daemon);
		g_subprocess_wait(fx->daemon, NULL, NULL);
		g_clear_object(&fx->daemon);
	}
	pl_test_checker_check(fx->dir, "peerlinkd");
	pl_test_remove_tree(fx->dir);
	g_free(fx->dir);
	g_free(fx->socket_path);
	g_free(fx->state_dir);
	g_free(fx->config_path);
	g_strfreev(fx->env);
}

/* tests */

static void
test_status(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonObject) status = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *id_out = NULL;
	g_autofree gchar *human = NULL;
	g_autofree gchar *key_path = g_build_filename(fx->state_dir, "identity.pem", NULL);
	g_autofree gchar *run_dir = g_path_get_dirname(fx->socket_path);
	JsonObject *rendezvous;
	PlPeerId peer_id;
	GStatBuf st;

	start_daemon(fx);
	status = ctl_json_status(fx);
	g_assert_cmpstr(json_object_get_string_member(status, "version"), ==, PACKAGE_VERSION);
	g_assert_true(pl_peer_id_parse(json_object_get_string_member(status, "peer_id"), &peer_id,
	                               &error));
	g_assert_no_error(error);
	g_assert_cmpint(json_object_get_int_member(status, "uptime_s"), >=, 0);
	rendezvous = json_object_get_object_member(status, "rendezvous");
	g_assert_true(json_object_has_member(rendezvous, "url"));
	g_assert_nonnull(json_object_get_string_member(rendezvous, "state"));
	g_assert_cmpuint(json_array_get_length(json_object_get_array_member(status, "sessions")),
	                 ==, 0);

	g_assert_cmpint(run_ctl(fx, &id_out, NULL, "--socket", fx->socket_path, "id", NULL), ==, 0);
	g_assert_cmpstr(g_strstrip(id_out), ==, json_object_get_string_member(status, "peer_id"));
	g_assert_cmpint(run_ctl(fx, &human, NULL, "-s", fx->socket_path, "status", NULL), ==, 0);
	g_assert_nonnull(strstr(human, id_out));

	g_assert_cmpint(g_stat(key_path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);
	g_assert_cmpint(g_stat(fx->socket_path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);
	g_assert_cmpint(g_stat(run_dir, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0700);
	g_assert_cmpint(stop_daemon(fx, NULL), ==, 0);
}

static void
test_not_running(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *err = NULL;
	g_autofree gchar *out = NULL;
	g_autoptr(JsonObject) reply = NULL;

	g_assert_cmpint(run_ctl(fx, NULL, &err, "--socket", fx->socket_path, "status", NULL), ==,
	                3);
	g_assert_nonnull(strstr(err, fx->socket_path));
	g_assert_cmpstr(strchr(err, '\n'), ==, "\n"); /* exactly one line */
	g_assert_cmpint(run_ctl(fx, &out, NULL, "--socket", fx->socket_path, "--json", "id", NULL),
	                ==, 3);
	reply = pl_test_parse_object(g_strdelimit(out, "\n", ' '));
	g_assert_cmpstr(json_object_get_string_member(json_object_get_object_member(reply, "error"),
	                                              "code"),
	                ==, "not-running");
}

static const struct {
	const gchar *input;
	const gchar *code;
	gint64 id;
} bad_inputs[] = {
        {"{not json\n", "invalid-json", -1},
        {"[1,2,3]\n", "not-an-object", -1},
        {"\"hello\"\n", "not-an-object", -1},
        {"\xff\xfe\n", "invalid-json", -1},
        {"{\"id\":1,\"method\":\"status\"}\n", "invalid-request", 1},
        {"{\"v\":2,\"id\":2,\"method\":\"status\"}\n", "unsupported-version", 2},
        {"{\"v\":\"1\",\"id\":3,\"method\":\"status\"}\n", "invalid-request", 3},
        {"{\"v\":1,\"id\":\"four\",\"method\":\"status\"}\n", "invalid-request", -1},
        {"{\"v\":1,\"id\":5,\"method\":7}\n", "invalid-request", 5},
        {"{\"v\":1,\"id\":6,\"method\":\"status\",\"params\":[]}\n", "invalid-request", 6},
        {"{\"v\":1,\"id\":7,\"method\":\"no-such-method\"}\n", "unknown-method", 7},
        {"{\"v\":1,\"id\":8,\"result\":{}}\n", "invalid-request", 8},
        {"{\"v\":1,\"id\":9,\"method\":\"subscribe\",\"params\":{\"events\":\"all\"}}\n",
         "invalid-params", 9},
        {"{\"v\":1,\"id\":10,\"method\":\"status\",\"fds\":\"x\"}\n", "invalid-request", 10},
        {"{\"v\":1,\"event\":\"shutdown\"}\n", "invalid-request", -1},
};

static void
test_bad_input(Fixture *fx, gconstpointer data)
{
	g_autoptr(GSocket) socket = NULL;
	g_autofree gchar *deep = NULL;
	guint baseline;

	start_daemon(fx);
	baseline = pl_test_count_fds(daemon_pid(fx));
	socket = raw_connect(fx);
	for (guint i = 0; i < G_N_ELEMENTS(bad_inputs); i++) {
		g_autofree gchar *shown = g_strescape(bad_inputs[i].input, NULL);
		g_test_message("bad input %u: %s", i, shown);
		raw_send(socket, bad_inputs[i].input, strlen(bad_inputs[i].input));
		assert_error_reply(socket, bad_inputs[i].code, bad_inputs[i].id);
	}
	deep = g_strnfill(10000, '[');
	raw_send(socket, deep, strlen(deep));
	raw_send(socket, "\n", 1);
	assert_error_reply(socket, "invalid-json", -1);
	/* the same connection still works after all of that */
	assert_status_reply(socket, 100);
	g_clear_object(&socket);
	assert_fds_return_to(fx, baseline);
	g_assert_cmpint(stop_daemon(fx, NULL), ==, 0);
}

static void
test_oversize(Fixture *fx, gconstpointer data)
{
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GSocket) other = NULL;
	g_autofree gchar *huge = g_strnfill(200 * 1024, 'x');

	start_daemon(fx);
	other = raw_connect(fx);
	socket = raw_connect(fx);
	raw_send(socket, huge, 80 * 1024);
	assert_error_reply(socket, "message-too-large", -1);
	assert_end_of_stream(socket);
	assert_status_reply(other, 1);
	g_assert_cmpint(stop_daemon(fx, NULL), ==, 0);
}

static void
test_stalled_client(Fixture *fx, gconstpointer data)
{
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GSocket) other = NULL;
	const gchar *half = "{\"v\":1,\"id\":1,\"met";

	start_daemon(fx);
	socket = raw_connect(fx);
	other = raw_connect(fx);
	raw_send(socket, half, strlen(half));
	assert_status_reply(other, 1); /* served while the other one stalls */
	assert_error_reply(socket, "timed-out", -1);
	assert_end_of_stream(socket);
	assert_status_reply(other, 2);
	g_assert_cmpint(stop_daemon(fx, NULL), ==, 0);
}

/* A client that asks and asks but never reads is cut off; memory stays bounded. */
static void
test_client_never_reads(Fixture *fx, gconstpointer data)
{
	g_autoptr(GSocket) greedy = NULL;
	g_autoptr(GSocket) other = NULL;
	g_autoptr(GString) batch = g_string_new(NULL);
	gboolean cut_off = FALSE;

	start_daemon(fx);
	greedy = raw_connect(fx);
	other = raw_connect(fx);
	for (guint i = 0; i < 1000; i++)
		g_string_append(batch, "{\"v\":1,\"id\":1,\"method\":\"status\"}\n");
	/* about 400 bytes of reply per request: 4 MiB of replies is ~10,000 requests */
	for (guint round = 0; round < 500 && !cut_off; round++) {
		g_autoptr(GError) error = NULL;
		if (g_socket_send(greedy, batch->str, batch->len, NULL, &error) < 0)
			cut_off = !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
	}
	g_assert_true(cut_off);
	assert_status_reply(other, 1);
	g_assert_cmpint(stop_daemon(fx, NULL), ==, 0);
}

static void
send_with_fds(GSocket *socket, const gchar *text, gint n_fds)
{
	g_autoptr(GUnixFDList) fd_list = g_unix_fd_list_new();
	g_autoptr(GSocketControlMessage) message = NULL;
	g_autoptr(GError) error = NULL;
	GOutputVector vector = {text, strlen(text)};

	for (gint i = 0; i < n_fds; i++) {
		gint fds[2];
		g_assert_cmpint(pipe(fds), ==, 0);
		g_unix_fd_list_append(fd_list, fds[0], &error);
		g_assert_no_error(error);
		close(fds[0]);
		close(fds[1]);
	}
	message = g_unix_fd_message_new_with_fd_list(fd_list);
	g_assert_cmpint(
	        g_socket_send_message(socket, NULL, &vector, 1, &message, 1, 0, NULL, &error), ==,
	        (gssize)vector.size);
	g_assert_no_error(error);
}

/* Descriptors a client pushes at the daemon never pile up there. */
static void
test_stray_fds(Fixture *fx, gconstpointer data)
{
	g_autoptr(GSocket) socket = NULL;
	guint baseline;

	start_daemon(fx);
	baseline = pl_test_count_fds(daemon_pid(fx));
	socket = raw_connect(fx);
	for (guint i = 0; i < 20; i++) {
		send_with_fds(socket, "{\"v\":1,\"id\":1,\"method\":\"status\",\"fds\":2}\n", 2);
		g_free(raw_read_line(socket));
		send_with_fds(socket, "{\"v\":1,\"id\":2,\"method\":\"status\"}\n", 3);
		g_free(raw_read_line(socket));
		send_with_fds(socket, "\n", 4);
	}
	assert_status_reply(socket, 3);
	assert_fds_return_to(fx, baseline + 1);
	send_with_fds(socket, "{\"v\":1,\"id\":4,\"method\":\"status\",\"fds\":5}\n", 1);
	assert_error_reply(socket, "invalid-request", -1);
	assert_end_of_stream(socket);
	g_clear_object(&socket);
	assert_fds_return_to(fx, baseline);
	g_assert_cmpint(stop_daemon(fx, NULL), ==, 0);
}

static void
test_too_many_clients(Fixture *fx, gconstpointer data)
{
	g_autoptr(GPtrArray) clients = g_ptr_array_new_with_free_func(g_object_unref);
	g_autoptr(GSocket) extra = NULL;
	guint baseline;

	start_daemon(fx);
	baseline = pl_test_count_fds(daemon_pid(fx));
	for (guint i = 0; i < 128; i++) {
		GSocket *socket = raw_connect(fx);
		g_ptr_array_add(clients, socket);
		assert_status_reply(socket, i);
	}
	extra = raw_connect(fx);
	assert_error_reply(extra, "too-many-clients", -1);
	assert_end_of_stream(extra);
	g_ptr_array_set_size(clients, 0);
	assert_fds_return_to(fx, baseline);
	g_assert_cmpint(run_ctl(fx, NULL, NULL, "-s", fx->socket_path, "status", NULL), ==, 0);
	g_assert_cmpint(stop_daemon(fx, NULL), ==, 0);
}

/* peerlinkctl --json status as user nobody (setpriv): the error code it prints, and its exit
 * status; NULL (the test skipped) if nobody cannot run it here */
static gchar *
ctl_status_as_nobody(Fixture *fx, gint *exit_status)
{
	g_autofree gchar *setpriv = g_find_program_in_path("setpriv");
	struct passwd *nobody = getpwnam("nobody");
	g_autofree gchar *reuid = NULL;
	g_autofree gchar *regid = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) reply = NULL;
	JsonObject *reply_error;
	gint wait_status = 0;

	g_assert_nonnull(setpriv);
	g_assert_nonnull(nobody);
	reuid = g_strdup_printf("--reuid=%u", (guint)nobody->pw_uid);
	regid = g_strdup_printf("--regid=%u", (guint)nobody->pw_gid);
	{
		const gchar *argv[] = {setpriv,    reuid,
		                       regid,      "--clear-groups",
		                       "--",       g_getenv("PEERLINKCTL"),
		                       "--socket", fx->socket_path,
		                       "--json",   "status",
		                       NULL};
		g_spawn_sync(NULL, (gchar **)argv, fx->env, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
		             &wait_status, &error);
	}
	g_assert_no_error(error);
	g_assert_true(WIFEXITED(wait_status));
	*exit_status = WEXITSTATUS(wait_status);
	if (*exit_status == 126 || *exit_status == 127) {
		g_test_skip_printf("user nobody cannot run %s: %s", g_getenv("PEERLINKCTL"), err);
		return NULL;
	}
	reply = pl_test_parse_object(out);
	g_assert_true(json_object_has_member(reply, "error"));
	reply_error = json_object_get_object_member(reply, "error");
	g_test_message("as nobody: %s (%s)", json_object_get_string_member(reply_error, "message"),
	               json_object_get_string_member(reply_error, "code"));
	return g_strdup(json_object_get_string_member(reply_error, "code"));
}

/*
 * Another uid on the same machine: first the file modes keep it from the
 * socket (directory 0700, socket 0600); with both loosened, the agent's own
 * check (SO_PEERCRED) refuses it with permission-denied, and goes on serving
 * its own uid. docs/security.md.
 */
static void
test_other_uid(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *run_dir = g_path_get_dirname(fx->socket_path);
	g_autofree gchar *code = NULL;
	GStatBuf st;
	guint baseline;
	gint status = -1;

	if (geteuid() != 0) {
		g_test_skip("needs root, to run a client as user nobody");
		return;
	}
	start_daemon(fx);
	baseline = pl_test_count_fds(daemon_pid(fx));
	g_assert_cmpint(g_stat(run_dir, &st), ==, 0);
	g_assert_cmpuint(st.st_mode & 07777, ==, 0700);
	g_assert_cmpint(g_stat(fx->socket_path, &st), ==, 0);
	g_assert_cmpuint(st.st_mode & 07777, ==, 0600);

	/* as set up: the connect itself fails (EACCES), before the agent sees anything */
	code = ctl_status_as_nobody(fx, &status);
	if (code == NULL)
		return;
	g_assert_cmpstr(code, ==, "failed");
	g_assert_cmpint(status, ==, 1);
	g_clear_pointer(&code, g_free);

	/* with the modes loosened the agent refuses the uid itself */
	g_assert_cmpint(g_chmod(fx->dir, 0711), ==, 0);
	g_assert_cmpint(g_chmod(run_dir, 0711), ==, 0);
	g_assert_cmpint(g_chmod(fx->socket_path, 0666), ==, 0);
	code = ctl_status_as_nobody(fx, &status);
	if (code == NULL)
		return;
	/* the refusal line, never a reset that hides it */
	g_assert_cmpstr(code, ==, "permission-denied");
	g_assert_cmpint(status, ==, 1);

	/* and still serves its own uid, holding nothing of the refused client */
	g_assert_cmpint(run_ctl(fx, NULL, NULL, "-s", fx->socket_path, "status", NULL), ==, 0);
	assert_fds_return_to(fx, baseline);
	g_assert_cmpint(stop_daemon(fx, NULL), ==, 0);
}

static void
test_second_daemon(Fixture *fx, gconstpointer data)
{
	g_autoptr(GSubprocess) second = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *output = NULL;

	start_daemon(fx);
	second = spawn_daemon(fx, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpint(wait_exit(fx, second, &output), ==, 1);
	g_assert_nonnull(strstr(output, "already running"));
	g_assert_cmpint(run_ctl(fx, NULL, NULL, "-s", fx->socket_path, "status", NULL), ==, 0);
	g_assert_cmpint(stop_daemon(fx, NULL), ==, 0);
}

static void
test_stale_socket(Fixture *fx, gconstpointer data)
{
	g_autoptr(GSocket) dead = NULL;
	g_autoptr(GSocketAddress) address = g_unix_socket_address_new(fx->socket_path);
	g_autofree gchar *run_dir = g_path_get_dirname(fx->socket_path);
	g_autoptr(GError) error = NULL;

	g_assert_cmpint(g_mkdir_with_parents(run_dir, 0700), ==, 0);
	dead = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
	                    &error);
	g_assert_true(g_socket_bind(dead, address, FALSE, &error));
	g_assert_no_error(error);
	g_socket_close(dead, NULL); /* the path stays: what a crashed agent leaves */
	g_assert_true(g_file_test(fx->socket_path, G_FILE_TEST_EXISTS));
	start_daemon(fx);
	g_assert_cmpint(run_ctl(fx, NULL, NULL, "-s", fx->socket_path, "status", NULL), ==, 0);
	g_assert_cmpint(stop_daemon(fx, NULL), ==, 0);
	g_assert_false(g_file_test(fx->socket_path, G_FILE_TEST_EXISTS));
}

static void
assert_daemon_refuses(Fixture *fx, const gchar *const *args, const gchar *needle)
{
	g_autoptr(GSubprocess) daemon = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *output = NULL;

	daemon = spawn_daemon(fx, args, &error);
	g_assert_no_error(error);
	g_assert_cmpint(wait_exit(fx, daemon, &output), ==, 1);
	if (strstr(output, needle) == NULL)
		g_error("expected \"%s\" in: %s", needle, output);
	g_assert_cmpstr(strchr(output, '\n'), ==, "\n"); /* one clear line, not a cascade */
}

static void
test_bad_setup(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *blocker = g_build_filename(fx->dir, "file", NULL);
	g_autofree gchar *under_file = g_build_filename(blocker, "agent.sock", NULL);
	g_autofree gchar *long_path = g_strnfill(150, 'a');
	g_autofree gchar *too_long = g_build_filename(fx->dir, long_path, NULL);
	g_autofree gchar *bad_config = g_build_filename(fx->dir, "bad.conf", NULL);
	g_autofree gchar *run_dir = g_path_get_dirname(fx->socket_path);
	g_autofree gchar *version = NULL;
	g_autoptr(GSubprocess) daemon = NULL;

	g_assert_true(g_file_set_contents(blocker, "not a directory", -1, NULL));
	g_assert_true(g_file_set_contents(bad_config, "[agent]\nverbose=maybe\n", -1, NULL));

	assert_daemon_refuses(fx, (const gchar *[]){"--bogus", NULL}, "--bogus");
	assert_daemon_refuses(fx, (const gchar *[]){"stray-argument", NULL}, "stray-argument");
	assert_daemon_refuses(fx, (const gchar *[]){"--socket", under_file, NULL}, blocker);
	assert_daemon_refuses(fx, (const gchar *[]){"--socket", too_long, NULL}, "too long");
	assert_daemon_refuses(fx, (const gchar *[]){"--socket", "relative.sock", NULL}, "absolute");
	assert_daemon_refuses(fx, (const gchar *[]){"--config", bad_config, NULL}, "verbose");
	assert_daemon_refuses(fx, (const gchar *[]){"--config", "/nonexistent/peerlink.conf", NULL},
	                      "/nonexistent/peerlink.conf");

	/* a regular file where the socket should be is not ours to replace */
	g_assert_cmpint(g_mkdir_with_parents(run_dir, 0700), ==, 0);
	g_assert_true(g_file_set_contents(fx->socket_path, "precious", -1, NULL));
	assert_daemon_refuses(fx, NULL, "not a socket");
	g_assert_true(g_file_get_contents(fx->socket_path, &version, NULL, NULL));
	g_assert_cmpstr(version, ==, "precious");
	g_clear_pointer(&version, g_free);

	daemon = spawn_daemon(fx, (const gchar *[]){"--version", NULL}, NULL);
	g_assert_cmpint(wait_exit(fx, daemon, &version), ==, 0);
	g_assert_cmpstr(g_strstrip(version), ==, "peerlinkd " PACKAGE_VERSION);
}

static void
test_corrupt_identity(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *key_path = g_build_filename(fx->state_dir, "identity.pem", NULL);
	g_autofree gchar *content = NULL;

	g_assert_cmpint(g_mkdir_with_parents(fx->state_dir, 0700), ==, 0);
	g_assert_true(g_file_set_contents_full(key_path, "-----BEGIN PRIVATE KEY-----\nAAAA\n", -1,
	                                       G_FILE_SET_CONTENTS_NONE, 0600, NULL));
	assert_daemon_refuses(fx, NULL, "identity");
	g_assert_true(g_file_get_contents(key_path, &content, NULL, NULL));
	g_assert_cmpstr(content, ==, "-----BEGIN PRIVATE KEY-----\nAAAA\n");
	g_assert_false(g_file_test(fx->socket_path, G_FILE_TEST_EXISTS));
}

static void
on_event(PlClient *client, const gchar *name, JsonObject *params, GUnixFDList *fds, gpointer data)
{
	gchar **out = data;

	g_free(*out);
	*out = g_strdup(name);
}

static void
on_closed(PlClient *client, GError *error, gpointer data)
{
	gboolean *closed = data;
	*closed = TRUE;
}

static void
store_result(GObject *source, GAsyncResult *result, gpointer data)
{
	*(GAsyncResult **)data = g_object_ref(result);
}

static GAsyncResult *
iterate_until_result(GAsyncResult **slot)
{
	gint64 deadline = g_get_monotonic_time() + WAIT_TIMEOUT_US;

	while (*slot == NULL) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_main_context_iteration(NULL, FALSE);
		g_usleep(1000);
	}
	return *slot;
}

/* SIGTERM: clients are told, the socket goes, the state is saved; a restart keeps the ID. */
static void
test_shutdown_and_restart(Fixture *fx, gconstpointer data)
{
	g_autoptr(PlClient) client = pl_client_new(fx->socket_path);
	g_autoptr(GAsyncResult) connected = NULL;
	g_autoptr(GAsyncResult) subscribed = NULL;
	g_autoptr(GSocket) raw = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) first = NULL;
	g_autoptr(JsonObject) second = NULL;
	g_autoptr(JsonObject) event = NULL;
	g_autofree gchar *event_name = NULL;
	g_autofree gchar *line = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *state_path = g_build_filename(fx->state_dir, "state.ini", NULL);
	gboolean closed = FALSE;
	gint64 deadline;

	start_daemon(fx);
	first = ctl_json_status(fx);
	raw = raw_connect(fx);
	assert_status_reply(raw, 1);
	pl_client_connect_async(client, NULL, store_result, &connected);
	g_assert_true(pl_client_connect_finish(client, iterate_until_result(&connected), &error));
	g_assert_no_error(error);
	g_signal_connect(client, "event", G_CALLBACK(on_event), &event_name);
	g_signal_connect(client, "closed", G_CALLBACK(on_closed), &closed);
	pl_client_subscribe_async(client, NULL, NULL, store_result, &subscribed);
	g_assert_true(
	        pl_client_subscribe_finish(client, iterate_until_result(&subscribed), &error));

	g_assert_cmpint(stop_daemon(fx, NULL), ==, 0);
	line = raw_read_line(raw);
	event = pl_test_parse_object(line);
	g_assert_cmpstr(json_object_get_string_member(event, "event"), ==, "shutdown");
	assert_end_of_stream(raw);
	deadline = g_get_monotonic_time() + WAIT_TIMEOUT_US;
	while (!closed && g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, FALSE);
	g_assert_true(closed);
	g_assert_cmpstr(event_name, ==, "shutdown");
	g_assert_false(g_file_test(fx->socket_path, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_get_contents(state_path, &state, NULL, NULL));
	g_assert_nonnull(strstr(state, "clean-shutdown=true"));
	g_assert_nonnull(strstr(state, "starts=1"));

	start_daemon(fx);
	second = ctl_json_status(fx);
	g_assert_cmpstr(json_object_get_string_member(first, "peer_id"), ==,
	                json_object_get_string_member(second, "peer_id"));
	g_assert_cmpint(stop_daemon(fx, NULL), ==, 0);
	g_clear_pointer(&state, g_free);
	g_assert_true(g_file_get_contents(state_path, &state, NULL, NULL));
	g_assert_nonnull(strstr(state, "starts=2"));
}

int
main(int argc, char *argv[])
{
	g_test_init(&argc, &argv, NULL);
	if (g_getenv("PEERLINKD") == NULL || g_getenv("PEERLINKCTL") == NULL) {
		g_test_skip("PEERLINKD and PEERLINKCTL must name the built binaries");
		return g_test_run();
	}
#define ADD(path, func) g_test_add(path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
	ADD("/peerlink/daemon/status", test_status);
	ADD("/peerlink/daemon/not-running", test_not_running);
	ADD("/peerlink/daemon/bad-input", test_bad_input);
	ADD("/peerlink/daemon/oversize", test_oversize);
	ADD("/peerlink/daemon/stalled-client", test_stalled_client);
	ADD("/peerlink/daemon/client-never-reads", test_client_never_reads);
	ADD("/peerlink/daemon/stray-fds", test_stray_fds);
	ADD("/peerlink/daemon/too-many-clients", test_too_many_clients);
	ADD("/peerlink/daemon/other-uid", test_other_uid);
	ADD("/peerlink/daemon/second-daemon", test_second_daemon);
	ADD("/peerlink/daemon/stale-socket", test_stale_socket);
	ADD("/peerlink/daemon/bad-setup", test_bad_setup);
	ADD("/peerlink/daemon/corrupt-identity", test_corrupt_identity);
	ADD("/peerlink/daemon/shutdown-and-restart", test_shutdown_and_restart);
#undef ADD
	return g_test_run();
}
