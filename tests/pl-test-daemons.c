#include "config.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "pl-test-checker.h"
#include "pl-test-daemons.h"
#include "pl-test-util.h"

/* how long a daemon may take to start, or to answer a status call */
#define START_TIMEOUT_MS 10000
#define ANSWER_MS        5000

static gboolean
tcp_port_answers(guint port)
{
	g_autoptr(GSocket) socket = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
	                                         G_SOCKET_PROTOCOL_TCP, NULL);
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) address = g_inet_socket_address_new(loopback, port);

	return g_socket_connect(socket, address, NULL, NULL);
}

/* A failed assertion skips the teardown: the children must not outlive the test. */
static void
die_with_parent(gpointer user_data)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* a process started again (a restart) appends to the log of its earlier runs;
 * it runs under the test's checker (valgrind, sanitizers), which reports to report_dir */
static GSubprocess *
spawn_logged(const gchar *const *argv, gchar **env, const gchar *log_path, const gchar *report_dir)
{
	g_autoptr(GSubprocessLauncher) launcher =
	        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDERR_MERGE);
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) checked_argv = pl_test_checker_argv(argv);
	g_auto(GStrv) checked_env = pl_test_checker_environ(g_strdupv(env), report_dir);
	GSubprocess *process;
	gint log_fd = g_open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	g_assert_cmpint(log_fd, >=, 0);
	g_subprocess_launcher_set_environ(launcher, checked_env);
	g_subprocess_launcher_take_stdout_fd(launcher, log_fd);
	g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
	process =
	        g_subprocess_launcher_spawnv(launcher, (const gchar *const *)checked_argv, &error);
	g_assert_no_error(error);
	return process;
}

static void
print_log(const gchar *what, const gchar *path)
{
	g_autofree gchar *text = NULL;

	if (path != NULL && g_file_get_contents(path, &text, NULL, NULL))
		g_printerr("--- %s (%s):\n%s--- end of %s\n", what, path, text, what);
}

void
pl_test_net_dump_logs(PlTestNet *net)
{
	print_log("peerlink-rendezvous", net->log_path);
	for (guint i = 0; i < net->agents->len; i++) {
		PlTestAgent *agent = g_ptr_array_index(net->agents, i);
		print_log(agent->name, agent->log_path);
	}
}

static void
kill_process(GSubprocess **process, gint signal_number)
{
	if (*process == NULL)
		return;
	g_subprocess_send_signal(*process, signal_number);
	g_subprocess_wait(*process, NULL, NULL);
	g_clear_object(process);
}

static void
stop_process(GSubprocess **process)
{
	kill_process(process, SIGTERM);
}

static void
pl_test_agent_free(PlTestAgent *agent)
{
	stop_process(&agent->process);
	g_free(agent->name);
	g_free(agent->dir);
	g_free(agent->socket_path);
	g_free(agent->log_path);
	g_free(agent->peer_id);
	g_free(agent->state_dir);
	g_free(agent->config_path);
	g_free(agent);
}

/* while we wait for a process to be ready: it must not exit, nor take too long */
static void
check_starting(PlTestNet *net,
               GSubprocess *process,
               const gchar *what,
               const gchar *ready,
               gint64 deadline)
{
	if (g_subprocess_get_identifier(process) != NULL && g_get_monotonic_time() <= deadline)
		return;
	pl_test_net_dump_logs(net);
	if (g_subprocess_get_identifier(process) == NULL)
		g_error("%s exited before it was %s", what, ready);
	g_error("%s was not %s in time", what, ready);
}

PlTestNet *
pl_test_net_new_stopped(void)
{
	PlTestNet *net = g_new0(PlTestNet, 1);
	g_autoptr(GError) error = NULL;

	net->dir = g_dir_make_tmp("peerlink-test-XXXXXX", &error);
	g_assert_no_error(error);
	net->agents = g_ptr_array_new_with_free_func((GDestroyNotify)pl_test_agent_free);
	net->port = pl_test_pick_free_port();
	net->url = g_strdup_printf("http://127.0.0.1:%u", net->port);
	net->log_path = g_build_filename(net->dir, "rendezvous.log", NULL);
	return net;
}

PlTestNet *
pl_test_net_new(void)
{
	PlTestNet *net = pl_test_net_new_stopped();

	pl_test_net_start_service(net);
	return net;
}

void
pl_test_net_start_service(PlTestNet *net)
{
	g_autofree gchar *listen = g_strdup_printf("127.0.0.1:%u", net->port);
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_auto(GStrv) env = g_environ_unsetenv(g_get_environ(), "G_DEBUG");
	gint64 deadline =
	        g_get_monotonic_time() + (gint64)pl_test_checker_scale(START_TIMEOUT_MS) * 1000;

	g_assert_null(net->service);
	g_ptr_array_add(argv, (gpointer)g_getenv("PEERLINK_RENDEZVOUS"));
	g_ptr_array_add(argv, "--listen");
	g_ptr_array_add(argv, listen);
	if (net->cert_path != NULL) {
		g_ptr_array_add(argv, "--tls-cert");
		g_ptr_array_add(argv, net->cert_path);
		g_ptr_array_add(argv, "--tls-key");
		g_ptr_array_add(argv, net->key_path);
	}
	for (guint i = 0; net->service_args != NULL && net->service_args[i] != NULL; i++)
		g_ptr_array_add(argv, net->service_args[i]);
	g_ptr_array_add(argv, NULL);
	net->service =
	        spawn_logged((const gchar *const *)argv->pdata, env, net->log_path, net->dir);
	while (!tcp_port_answers(net->port)) {
		check_starting(net, net->service, "peerlink-rendezvous", "listening", deadline);
		g_usleep(10000);
	}
}

void
pl_test_net_stop_service(PlTestNet *net)
{
	stop_process(&net->service);
	pl_test_checker_check(net->dir, "peerlink-rendezvous");
}

void
pl_test_net_kill_service(PlTestNet *net, gint signal_number)
{
	kill_process(&net->service, signal_number);
	pl_test_checker_check(net->dir, "peerlink-rendezvous");
}

static void
run_quietly(const gchar *const *argv)
{
	g_autoptr(GError) error = NULL;
	gint wait_status = 0;

	g_spawn_sync(NULL, (gchar **)argv, NULL,
	             G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL,
	             NULL, &wait_status, &error);
	g_assert_no_error(error);
	g_assert_true(g_spawn_check_wait_status(wait_status, NULL));
}

gboolean
pl_test_net_use_https(PlTestNet *net)
{
	g_autofree gchar *certtool = g_find_program_in_path("certtool");
	g_autofree gchar *template_path = g_build_filename(net->dir, "cert.template", NULL);
	const gchar *template = "cn = \"127.0.0.1\"\n"
	                        "ip_address = \"127.0.0.1\"\n"
	                        "dns_name = \"localhost\"\n"
	                        "expiration_days = 2\n"
	                        "ca\n"
	                        "cert_signing_key\n"
	                        "signing_key\n"
	                        "tls_www_server\n";

	g_assert_null(net->service);
	if (certtool == NULL)
		return FALSE;
	net->cert_path = g_build_filename(net->dir, "cert.pem", NULL);
	net->key_path = g_build_filename(net->dir, "key.pem", NULL);
	g_assert_true(g_file_set_contents(template_path, template, -1, NULL));
	run_quietly((const gchar *[]){certtool, "--generate-privkey", "--key-type=ecdsa",
	                              "--outfile", net->key_path, NULL});
	run_quietly((const gchar *[]){certtool, "--generate-self-signed", "--load-privkey",
	                              net->key_path, "--template", template_path, "--outfile",
	                              net->cert_path, NULL});
	g_free(net->url);
	net->url = g_strdup_printf("https://127.0.0.1:%u", net->port);
	return TRUE;
}

/* the daemons run without fatal warnings (their messages are not the test's),
 * so their logs are checked afterwards: a warning or critical fails the test */
static void
check_log(const gchar *what, const gchar *path)
{
	g_autofree gchar *text = NULL;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return;
	if (strstr(text, "-WARNING **") != NULL || strstr(text, "-CRITICAL **") != NULL) {
		print_log(what, path);
		g_error("%s logged a warning or a critical", what);
	}
}

void
pl_test_net_free(PlTestNet *net)
{
	for (guint i = 0; i < net->agents->len; i++) {
		PlTestAgent *agent = g_ptr_array_index(net->agents, i);
		stop_process(&agent->process);
		check_log(agent->name, agent->log_path);
		pl_test_checker_check(agent->dir, agent->name);
	}
	stop_process(&net->service);
	check_log("peerlink-rendezvous", net->log_path);
	pl_test_checker_check(net->dir, "peerlink-rendezvous");
	g_ptr_array_unref(net->agents);
	pl_test_remove_tree(net->dir);
	g_free(net->dir);
	g_free(net->url);
	g_free(net->log_path);
	g_free(net->cert_path);
	g_free(net->key_path);
	g_strfreev(net->service_args);
	g_free(net);
}

/* FALSE if the agent does not answer; else its peer ID, and whether it is online at the
 * rendezvous, so that peers can reach it */
static gboolean
agent_answers(PlTestAgent *agent, gboolean *online)
{
	g_autoptr(PlClient) client = pl_client_new(agent->socket_path);
	g_autoptr(JsonObject) status =
	        pl_test_call(client, "status", NULL, NULL, pl_test_checker_scale(ANSWER_MS), NULL);
	JsonObject *rendezvous;

	if (status == NULL)
		return FALSE;
	g_free(agent->peer_id);
	agent->peer_id = g_strdup(json_object_get_string_member(status, "peer_id"));
	rendezvous = json_object_get_object_member(status, "rendezvous");
	*online = g_strcmp0(json_object_get_string_member(rendezvous, "state"), "connected") == 0;
	return TRUE;
}

gchar **
pl_test_daemon_env(const gchar *dir)
{
	gchar **env = g_get_environ();

	env = g_environ_setenv(env, "XDG_RUNTIME_DIR", dir, TRUE);
	env = g_environ_setenv(env, "XDG_CONFIG_HOME", dir, TRUE);
	env = g_environ_setenv(env, "XDG_STATE_HOME", dir, TRUE);
	env = g_environ_unsetenv(env, "DBUS_SESSION_BUS_ADDRESS");
	return g_environ_unsetenv(env, "G_DEBUG");
}

static void
spawn_agent(PlTestAgent *agent)
{
	g_auto(GStrv) env = pl_test_daemon_env(agent->dir);
	const gchar *argv[] = {g_getenv("PEERLINKD"), "--verbose",      "--config",
	                       agent->config_path,    "--socket",       agent->socket_path,
	                       "--state-dir",         agent->state_dir, NULL};

	g_assert_null(agent->process);
	agent->process = spawn_logged(argv, env, agent->log_path, agent->dir);
}

PlTestAgent *
pl_test_net_launch_agent(PlTestNet *net, const gchar *name, const gchar *extra_config)
{
	PlTestAgent *agent = g_new0(PlTestAgent, 1);
	g_autofree gchar *config = NULL;

	agent->name = g_strdup(name);
	agent->dir = g_build_filename(net->dir, name, NULL);
	g_assert_cmpint(g_mkdir_with_parents(agent->dir, 0700), ==, 0);
	agent->socket_path = g_build_filename(agent->dir, "agent.sock", NULL);
	agent->log_path = g_build_filename(agent->dir, "peerlinkd.log", NULL);
	agent->state_dir = g_build_filename(agent->dir, "state", NULL);
	agent->config_path = g_build_filename(agent->dir, "peerlink.conf", NULL);
	config = g_strdup_printf("[agent]\nrendezvous=%s\n%s", net->url,
	                         extra_config != NULL ? extra_config : "");
	g_assert_true(g_file_set_contents(agent->config_path, config, -1, NULL));
	spawn_agent(agent);
	g_ptr_array_add(net->agents, agent);
	return agent;
}

void
pl_test_agent_relaunch(PlTestAgent *agent)
{
	if (agent->process != NULL && g_subprocess_get_identifier(agent->process) == NULL)
		g_clear_object(&agent->process); /* it exited by itself */
	spawn_agent(agent);
}

gboolean
pl_test_agent_wait_ready(PlTestNet *net, PlTestAgent *agent, gboolean online, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)pl_test_checker_scale(timeout_ms) * 1000;
	gboolean is_online = FALSE;

	while (!agent_answers(agent, &is_online) || (online && !is_online)) {
		if (g_subprocess_get_identifier(agent->process) == NULL) {
			g_subprocess_wait(agent->process, NULL, NULL);
			return FALSE;
		}
		check_starting(net, agent->process, agent->name, online ? "online" : "answering",
		               deadline);
		g_usleep(20000);
	}
	return TRUE;
}

static PlTestAgent *
start_agent(PlTestNet *net, const gchar *name, const gchar *extra_config, gboolean wait_online)
{
	PlTestAgent *agent = pl_test_net_launch_agent(net, name, extra_config);
	gint64 deadline =
	        g_get_monotonic_time() + (gint64)pl_test_checker_scale(START_TIMEOUT_MS) * 1000;
	gboolean online = FALSE;

	while (!agent_answers(agent, &online) || (wait_online && !online)) {
		check_starting(net, agent->process, name, wait_online ? "online" : "answering",
		               deadline);
		g_usleep(20000);
	}
	return agent;
}

PlTestAgent *
pl_test_net_start_agent(PlTestNet *net, const gchar *name, const gchar *extra_config)
{
	return start_agent(net, name, extra_config, TRUE);
}

PlTestAgent *
pl_test_net_spawn_agent(PlTestNet *net, const gchar *name, const gchar *extra_config)
{
	return start_agent(net, name, extra_config, FALSE);
}

void
pl_test_agent_kill(PlTestAgent *agent, gint signal_number)
{
	kill_process(&agent->process, signal_number);
	pl_test_checker_check(agent->dir, agent->name);
}

gchar *
pl_test_agent_get_log(PlTestAgent *agent)
{
	gchar *text = NULL;

	if (!g_file_get_contents(agent->log_path, &text, NULL, NULL))
		return g_strdup("");
	return text;
}

guint64
pl_test_process_rss_kib(GSubprocess *process)
{
	const gchar *pid = process != NULL ? g_subprocess_get_identifier(process) : NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *text = NULL;
	const gchar *line;

	if (pid == NULL)
		return 0;
	path = g_strdup_printf("/proc/%s/status", pid);
	if (!g_file_get_contents(path, &text, NULL, NULL))
		return 0;
	line = strstr(text, "\nVmRSS:");
	return line != NULL ? g_ascii_strtoull(line + strlen("\nVmRSS:"), NULL, 10) : 0;
}

/* peerlinkctl */

static gint
run_ctl_va(gchar **env, const gchar *socket_path, gchar **out, gchar **err, va_list args)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_auto(GStrv) our_env = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *out_local = NULL;
	g_autofree gchar *err_local = NULL;
	gint wait_status = 0;
	const gchar *arg;

	if (env == NULL)
		env = our_env = g_environ_unsetenv(g_get_environ(), "G_DEBUG");
	g_ptr_array_add(argv, (gpointer)g_getenv("PEERLINKCTL"));
	if (socket_path != NULL) {
		g_ptr_array_add(argv, "--socket");
		g_ptr_array_add(argv, (gpointer)socket_path);
	}
	while ((arg = va_arg(args, const gchar *)) != NULL)
		g_ptr_array_add(argv, (gpointer)arg);
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

gint
pl_test_run_ctl(gchar **env, gchar **out, gchar **err, ...)
{
	va_list args;
	gint status;

	va_start(args, err);
	status = run_ctl_va(env, NULL, out, err, args);
	va_end(args);
	return status;
}

gint
pl_test_agent_ctl(PlTestAgent *agent, gchar **out, gchar **err, ...)
{
	va_list args;
	gint status;

	va_start(args, err);
	status = run_ctl_va(NULL, agent->socket_path, out, err, args);
	va_end(args);
	return status;
}

/* IPC */

typedef struct {
	gboolean done;
	GAsyncResult *result;
} PlWait;

static void
wait_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	PlWait *wait = user_data;

	wait->result = g_object_ref(result);
	wait->done = TRUE;
}

gboolean
pl_test_wait_for(gboolean *flag, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	GMainContext *context = g_main_context_get_thread_default();

	while (!*flag && g_get_monotonic_time() < deadline) {
		g_main_context_iteration(context, FALSE);
		g_usleep(200);
	}
	return *flag;
}

PlClient *
pl_test_agent_client(PlTestAgent *agent)
{
	PlClient *client = pl_client_new(agent->socket_path);
	g_autoptr(GError) error = NULL;
	PlWait wait = {0};

	pl_client_connect_async(client, NULL, wait_cb, &wait);
	g_assert_true(pl_test_wait_for(&wait.done, 5000));
	g_assert_true(pl_client_connect_finish(client, wait.result, &error));
	g_assert_no_error(error);
	g_object_unref(wait.result);
	return client;
}

JsonObject *
pl_test_call(PlClient *client,
             const gchar *method,
             JsonObject *params,
             GUnixFDList **out_fd_list,
             guint timeout_ms,
             GError **error)
{
	PlWait wait = {0};
	JsonObject *result;

	if (!pl_client_is_connected(client)) {
		pl_client_connect_async(client, NULL, wait_cb, &wait);
		if (!pl_test_wait_for(&wait.done, timeout_ms)) {
			g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
			                    "no connection");
			return NULL;
		}
		if (!pl_client_connect_finish(client, wait.result, error)) {
			g_object_unref(wait.result);
			return NULL;
		}
		g_clear_object(&wait.result);
		wait.done = FALSE;
	}
	pl_client_call_async(client, method, params, NULL, NULL, wait_cb, &wait);
	if (!pl_test_wait_for(&wait.done, timeout_ms)) {
		/* the reply may still come: it must not find a dead PlWait */
		pl_client_close(client);
		pl_test_wait_for(&wait.done, 1000);
		g_clear_object(&wait.result);
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "%s: no answer within %u ms",
		            method, timeout_ms);
		return NULL;
	}
	result = pl_client_call_finish(client, wait.result, out_fd_list, error);
	g_object_unref(wait.result);
	return result;
}

static void
on_incoming_event(PlClient *client,
                  const gchar *name,
                  JsonObject *params,
                  GUnixFDList *fd_list,
                  gpointer user_data)
{
	if (g_strcmp0(name, "incoming") == 0 && fd_list != NULL)
		g_queue_push_tail(user_data, GINT_TO_POINTER(g_unix_fd_list_get(fd_list, 0, NULL)));
}

void
pl_test_collect_incoming(PlClient *client, GQueue *fds)
{
	g_signal_connect(client, "event", G_CALLBACK(on_incoming_event), fds);
}

gint
pl_test_pop_incoming(GQueue *fds, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	while (g_queue_is_empty(fds) && g_get_monotonic_time() < deadline) {
		g_main_context_iteration(NULL, FALSE);
		g_usleep(200);
	}
	return g_queue_is_empty(fds) ? -1 : GPOINTER_TO_INT(g_queue_pop_head(fds));
}
