/*
 * D-Bus activation: on a private session bus whose service directory holds
 * org.peerlink.Agent1.service (Exec= pointing at the built peerlinkd), reading
 * a property of org.peerlink.Agent1 starts the agent, which then tells where
 * its IPC socket is and which peer ID it speaks for.
 *
 * PL_TEST_DBUS_SERVICE_FILE names the configured service file.
 */
#include "config.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "pl-peer-id.h"
#include "pl-test-checker.h"
#include "pl-test-util.h"

/* stretched when the agent runs under valgrind */
#define PL_TEST_CALL_TIMEOUT_MS   pl_test_checker_scale(30000)
#define PL_TEST_STOP_TIMEOUT_USEC ((gint64)pl_test_checker_scale(10000) * 1000)

static gchar *
pl_test_make_dir(const gchar *parent, const gchar *name)
{
	g_autofree gchar *path = g_build_filename(parent, name, NULL);

	g_assert_cmpint(g_mkdir(path, 0700), ==, 0);
	return g_steal_pointer(&path);
}

static gboolean
pl_test_get_string_property(GDBusConnection *connection,
                            const gchar *property,
                            gchar **value,
                            GError **error)
{
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GVariant) inner = NULL;

	reply = g_dbus_connection_call_sync(
	        connection, "org.peerlink.Agent1", "/org/peerlink/Agent1",
	        "org.freedesktop.DBus.Properties", "Get",
	        g_variant_new("(ss)", "org.peerlink.Agent1", property), G_VARIANT_TYPE("(v)"),
	        G_DBUS_CALL_FLAGS_NONE, PL_TEST_CALL_TIMEOUT_MS, NULL, error);
	if (reply == NULL) {
		g_prefix_error(error, "cannot read %s: ", property);
		return FALSE;
	}
	g_variant_get(reply, "(v)", &inner);
	if (!g_variant_is_of_type(inner, G_VARIANT_TYPE_STRING)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
		            "%s has type %s, expected s", property,
		            g_variant_get_type_string(inner));
		return FALSE;
	}
	*value = g_variant_dup_string(inner, NULL);
	return TRUE;
}

/* the same property through the gdbus command-line tool */
static gboolean
pl_test_gdbus_get_peer_id(gchar **value, GError **error)
{
	const gchar *argv[] = {"gdbus",
	                       "call",
	                       "--session",
	                       "--dest",
	                       "org.peerlink.Agent1",
	                       "--object-path",
	                       "/org/peerlink/Agent1",
	                       "--method",
	                       "org.freedesktop.DBus.Properties.Get",
	                       "org.peerlink.Agent1",
	                       "PeerId",
	                       NULL};
	g_autofree gchar *standard_output = NULL;
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GVariant) inner = NULL;
	gint wait_status = 0;

	if (!g_spawn_sync(NULL, (gchar **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
	                  &standard_output, NULL, &wait_status, error))
		return FALSE;
	if (!g_spawn_check_wait_status(wait_status, error)) {
		g_prefix_error(error, "gdbus call: ");
		return FALSE;
	}
	/* gdbus prints the reply in GVariant text format, e.g. (<'ABC…'>,) */
	reply = g_variant_parse(G_VARIANT_TYPE("(v)"), standard_output, NULL, NULL, error);
	if (reply == NULL) {
		g_prefix_error(error, "cannot parse gdbus output '%s': ", standard_output);
		return FALSE;
	}
	g_variant_get(reply, "(v)", &inner);
	if (!g_variant_is_of_type(inner, G_VARIANT_TYPE_STRING)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
		            "gdbus printed a %s, expected a string",
		            g_variant_get_type_string(inner));
		return FALSE;
	}
	*value = g_variant_dup_string(inner, NULL);
	return TRUE;
}

static gboolean
pl_test_check_agent(GDBusConnection *connection, const gchar *runtime_dir, GError **error)
{
	g_autofree gchar *peer_id = NULL;
	g_autofree gchar *socket_path = NULL;
	g_autofree gchar *expected_socket_path = NULL;
	g_autofree gchar *gdbus_peer_id = NULL;
	PlPeerId id;
	GStatBuf st;

	/* this first call starts the agent */
	if (!pl_test_get_string_property(connection, "PeerId", &peer_id, error))
		return FALSE;
	g_test_message("PeerId: %s", peer_id);
	if (strlen(peer_id) != PL_PEER_ID_STRING_LEN) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
		            "PeerId '%s' has %zu characters, expected %d", peer_id, strlen(peer_id),
		            PL_PEER_ID_STRING_LEN);
		return FALSE;
	}
	if (!pl_peer_id_parse(peer_id, &id, error)) {
		g_prefix_error(error, "PeerId '%s': ", peer_id);
		return FALSE;
	}

	if (!pl_test_get_string_property(connection, "SocketPath", &socket_path, error))
		return FALSE;
	g_test_message("SocketPath: %s", socket_path);
	expected_socket_path = g_build_filename(runtime_dir, "peerlink", "agent.sock", NULL);
	if (g_strcmp0(socket_path, expected_socket_path) != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "SocketPath is %s, expected %s",
		            socket_path, expected_socket_path);
		return FALSE;
	}
	/* the agent announces itself only once it listens */
	if (g_lstat(socket_path, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
		            "no socket at %s once the agent owns its bus name", socket_path);
		return FALSE;
	}

	if (!pl_test_gdbus_get_peer_id(&gdbus_peer_id, error))
		return FALSE;
	if (g_strcmp0(gdbus_peer_id, peer_id) != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
		            "gdbus read PeerId %s, GDBus read %s", gdbus_peer_id, peer_id);
		return FALSE;
	}
	return TRUE;
}

static gboolean
pl_test_name_has_owner(GDBusConnection *connection, gboolean *has_owner, GError **error)
{
	g_autoptr(GVariant) reply = NULL;

	reply = g_dbus_connection_call_sync(
	        connection, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
	        "NameHasOwner", g_variant_new("(s)", "org.peerlink.Agent1"), G_VARIANT_TYPE("(b)"),
	        G_DBUS_CALL_FLAGS_NONE, PL_TEST_CALL_TIMEOUT_MS, NULL, error);
	if (reply == NULL)
		return FALSE;
	g_variant_get(reply, "(b)", has_owner);
	return TRUE;
}

/* stops the activated agent, if any: runs whatever happened before, so that a
 * failed check does not leave a daemon behind */
static gboolean
pl_test_stop_agent(GDBusConnection *connection, GError **error)
{
	g_autoptr(GVariant) reply = NULL;
	gboolean has_owner = FALSE;
	gint64 deadline;
	guint32 pid = 0;

	if (!pl_test_name_has_owner(connection, &has_owner, error))
		return FALSE;
	if (!has_owner)
		return TRUE;
	reply = g_dbus_connection_call_sync(
	        connection, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
	        "GetConnectionUnixProcessID", g_variant_new("(s)", "org.peerlink.Agent1"),
	        G_VARIANT_TYPE("(u)"), G_DBUS_CALL_FLAGS_NONE, PL_TEST_CALL_TIMEOUT_MS, NULL,
	        error);
	if (reply == NULL)
		return FALSE;
	g_variant_get(reply, "(u)", &pid);
	g_test_message("stopping the agent, pid %u", pid);
	if (pid <= 1 || kill((pid_t)pid, SIGTERM) != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot signal pid %u: %s", pid,
		            g_strerror(errno));
		return FALSE;
	}

	deadline = g_get_monotonic_time() + PL_TEST_STOP_TIMEOUT_USEC;
	for (;;) {
		if (!pl_test_name_has_owner(connection, &has_owner, error))
			return FALSE;
		if (!has_owner)
			break;
		if (g_get_monotonic_time() > deadline) {
			kill((pid_t)pid, SIGKILL);
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
			            "the agent kept its bus name 10 s after SIGTERM");
			return FALSE;
		}
		g_usleep(50 * 1000);
	}

	/* give it the time to finish exiting before its directories go away */
	while (kill((pid_t)pid, 0) == 0 && g_get_monotonic_time() < deadline)
		g_usleep(50 * 1000);
	return TRUE;
}

/* the service file with Exec= under the test's checker (valgrind, sanitizers) */
static gchar *
checked_service(gchar *contents)
{
	g_auto(GStrv) lines = g_strsplit(contents, "\n", -1);

	g_free(contents);
	for (guint i = 0; lines[i] != NULL; i++) {
		if (g_str_has_prefix(lines[i], "Exec=")) {
			gchar *exec = pl_test_checker_command_line(lines[i] + strlen("Exec="));
			g_free(lines[i]);
			lines[i] = g_strconcat("Exec=", exec, NULL);
			g_free(exec);
		}
	}
	return g_strjoinv("\n", lines);
}

/* where the activated agent's checker reports go, through dbus-daemon's environment */
static void
set_checker_environ(const gchar *report_dir)
{
	const gchar *const names[] = {"PEERLINK_TEST_REPORT_DIR", "ASAN_OPTIONS", "UBSAN_OPTIONS"};
	g_auto(GStrv) env = pl_test_checker_environ(g_get_environ(), report_dir);

	for (guint i = 0; i < G_N_ELEMENTS(names); i++)
		g_setenv(names[i], g_environ_getenv(env, names[i]), TRUE);
}

static void
pl_test_dbus_activation(void)
{
	const gchar *service_file = g_getenv("PL_TEST_DBUS_SERVICE_FILE");
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) error_check = NULL;
	g_autoptr(GError) error_stop = NULL;
	g_autoptr(GTestDBus) bus = NULL;
	g_autoptr(GDBusConnection) connection = NULL;
	g_autofree gchar *tmpdir = NULL;
	g_autofree gchar *runtime_dir = NULL;
	g_autofree gchar *state_dir = NULL;
	g_autofree gchar *config_dir = NULL;
	g_autofree gchar *service_dir = NULL;
	g_autofree gchar *report_dir = NULL;
	g_autofree gchar *service_contents = NULL;
	g_autofree gchar *service_copy = NULL;
	g_autofree gchar *gdbus = g_find_program_in_path("gdbus");
	g_autofree gchar *dbus_daemon = g_find_program_in_path("dbus-daemon");
	gsize service_len = 0;

	if (service_file == NULL) {
		g_test_skip("PL_TEST_DBUS_SERVICE_FILE is not set");
		return;
	}
	if (dbus_daemon == NULL || gdbus == NULL) {
		g_test_skip("dbus-daemon or gdbus not found");
		return;
	}

	tmpdir = g_dir_make_tmp("peerlink-dbus-XXXXXX", &error);
	g_assert_no_error(error);
	runtime_dir = pl_test_make_dir(tmpdir, "runtime");
	state_dir = pl_test_make_dir(tmpdir, "state");
	config_dir = pl_test_make_dir(tmpdir, "config");
	service_dir = pl_test_make_dir(tmpdir, "services");
	report_dir = pl_test_make_dir(tmpdir, "reports");

	/* dbus-daemon only reads files named *.service */
	g_file_get_contents(service_file, &service_contents, &service_len, &error);
	g_assert_no_error(error);
	service_contents = checked_service(service_contents);
	service_copy = g_build_filename(service_dir, "org.peerlink.Agent1.service", NULL);
	g_file_set_contents(service_copy, service_contents, -1, &error);
	g_assert_no_error(error);

	/* inherited by dbus-daemon, hence by the agent it activates */
	g_setenv("XDG_RUNTIME_DIR", runtime_dir, TRUE);
	g_setenv("XDG_STATE_HOME", state_dir, TRUE);
	g_setenv("XDG_CONFIG_HOME", config_dir, TRUE);
	g_unsetenv("DBUS_SESSION_BUS_ADDRESS");
	set_checker_environ(report_dir);

	bus = g_test_dbus_new(G_TEST_DBUS_NONE);
	g_test_dbus_add_service_dir(bus, service_dir);
	g_test_dbus_up(bus);

	connection = g_dbus_connection_new_for_address_sync(
	        g_test_dbus_get_bus_address(bus),
	        G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
	                G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
	        NULL, NULL, &error);
	g_assert_no_error(error);

	/* always stop the agent, then report what went wrong */
	pl_test_check_agent(connection, runtime_dir, &error_check);
	pl_test_stop_agent(connection, &error_stop);
	g_dbus_connection_close_sync(connection, NULL, NULL);
	g_clear_object(&connection);
	g_test_dbus_down(bus);
	pl_test_checker_check(report_dir, "peerlinkd (activated)");
	pl_test_remove_tree(tmpdir);

	g_assert_no_error(error_check);
	g_assert_no_error(error_stop);
	g_assert_no_error(error);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerlink/activation/dbus", pl_test_dbus_activation);
	return g_test_run();
}
