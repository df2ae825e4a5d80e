#include "config.h"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "pl-redis-test-util.h"

struct _PlTestRedis {
	gchar *server_path;
	guint16 port;
	gchar *dir;
	gchar *logfile;
	GSubprocess *process;
};

static void
pl_test_child_setup(gpointer user_data)
{
	/* dies with the test, also when an assertion aborts it */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

GSubprocessLauncher *
pl_test_launcher_new(void)
{
	GSubprocessLauncher *launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
	gint fd = dup(STDERR_FILENO);

	g_assert_cmpint(fd, >=, 0);
	g_subprocess_launcher_take_stdout_fd(launcher, fd);
	g_subprocess_launcher_set_child_setup(launcher, pl_test_child_setup, NULL, NULL);
	return launcher;
}

gboolean
pl_test_port_accepts(guint16 port)
{
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketConnection) connection = NULL;

	connection = g_socket_client_connect_to_host(client, "127.0.0.1", port, NULL, NULL);
	return connection != NULL;
}

PlTestRedis *
pl_test_redis_new(const gchar *server_path)
{
	g_autoptr(GError) error = NULL;
	PlTestRedis *self;

	if (server_path == NULL || server_path[0] == '\0' ||
	    !g_file_test(server_path, G_FILE_TEST_IS_EXECUTABLE))
		return NULL;
	self = g_new0(PlTestRedis, 1);
	self->server_path = g_strdup(server_path);
	self->dir = g_dir_make_tmp("peerlink-test-redis-XXXXXX", &error);
	g_assert_no_error(error);
	self->logfile = g_build_filename(self->dir, "redis.log", NULL);
	self->port = pl_test_pick_free_port();
	return self;
}

void
pl_test_redis_start(PlTestRedis *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSubprocessLauncher) launcher = pl_test_launcher_new();
	g_autofree gchar *port = g_strdup_printf("%u", self->port);
	gint64 deadline = g_get_monotonic_time() + 5 * G_TIME_SPAN_SECOND;

	g_assert_null(self->process);
	g_subprocess_launcher_set_cwd(launcher, self->dir);
	self->process = g_subprocess_launcher_spawn(
	        launcher, &error, self->server_path, "--port", port, "--bind", "127.0.0.1",
	        "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", self->dir,
	        "--logfile", self->logfile, NULL);
	g_assert_no_error(error);
	while (!pl_test_port_accepts(self->port)) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		/* NULL once it exited, e.g. because the port was taken meanwhile */
		g_assert_nonnull(g_subprocess_get_identifier(self->process));
		g_usleep(20 * G_TIME_SPAN_MILLISECOND);
	}
}

void
pl_test_redis_signal(PlTestRedis *self, gint signum)
{
	const gchar *pid;

	g_assert_nonnull(self->process);
	pid = g_subprocess_get_identifier(self->process);
	g_assert_nonnull(pid);
	g_assert_cmpint(kill((pid_t)g_ascii_strtoll(pid, NULL, 10), signum), ==, 0);
}

void
pl_test_redis_kill(PlTestRedis *self)
{
	g_autoptr(GError) error = NULL;

	g_assert_nonnull(self->process);
	g_subprocess_force_exit(self->process);
	g_subprocess_wait(self->process, NULL, &error);
	g_assert_no_error(error);
	g_clear_object(&self->process);
}

gboolean
pl_test_redis_is_running(PlTestRedis *self)
{
	return self->process != NULL;
}

gchar *
pl_test_redis_get_url(PlTestRedis *self, const gchar *host, guint db)
{
	return g_strdup_printf("redis://%s:%u/%u", host, self->port, db);
}

void
pl_test_redis_free(PlTestRedis *self)
{
	if (self->process != NULL)
		pl_test_redis_kill(self);
	g_unlink(self->logfile);
	g_rmdir(self->dir);
	g_free(self->logfile);
	g_free(self->dir);
	g_free(self->server_path);
	g_free(self);
}

static gboolean
pl_test_tick_cb(gpointer user_data)
{
	return G_SOURCE_CONTINUE;
}

gboolean
pl_test_wait_until(gboolean (*done)(gpointer), gpointer data, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * G_TIME_SPAN_MILLISECOND;
	GSource *tick = g_timeout_source_new(10);

	g_source_set_callback(tick, pl_test_tick_cb, NULL, NULL);
	g_source_attach(tick, NULL);
	while (!done(data) && g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, TRUE);
	g_source_destroy(tick);
	g_source_unref(tick);
	return done(data);
}

static gboolean
pl_test_never(gpointer data)
{
	return FALSE;
}

void
pl_test_spin(guint ms)
{
	pl_test_wait_until(pl_test_never, NULL, ms);
}
