#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "pl-config.h"
#include "pl-state.h"
#include "pl-systemd.h"

static void
test_config_defaults(void)
{
	g_autoptr(PlConfig) config = pl_config_new();
	g_autofree gchar *socket =
	        g_build_filename(g_get_user_runtime_dir(), "peerlink", "agent.sock", NULL);
	g_autofree gchar *state = g_build_filename(g_get_user_state_dir(), "peerlink", NULL);

	g_assert_cmpstr(config->socket_path, ==, socket);
	g_assert_cmpstr(config->state_dir, ==, state);
	g_assert_false(config->verbose);
	g_assert_null(config->rendezvous_url);
	g_assert_null(config->rendezvous_ca);
	g_assert_cmpuint(config->max_incoming_sessions, ==,
	                 PL_CONFIG_DEFAULT_MAX_INCOMING_SESSIONS);
}

/* The shipped file documents the defaults: loading it must change nothing. */
static void
test_config_shipped_file(void)
{
	g_autoptr(PlConfig) defaults = pl_config_new();
	g_autoptr(PlConfig) config = pl_config_new();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path =
	        g_build_filename(g_getenv("PEERLINK_SOURCE_DIR"), "data", "peerlink.conf", NULL);

	g_assert_true(pl_config_load_file(config, path, TRUE, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(config->socket_path, ==, defaults->socket_path);
	g_assert_cmpstr(config->state_dir, ==, defaults->state_dir);
	g_assert_cmpint(config->verbose, ==, defaults->verbose);
	g_assert_cmpstr(config->rendezvous_url, ==, defaults->rendezvous_url);
	g_assert_cmpstr(config->rendezvous_ca, ==, defaults->rendezvous_ca);
	g_assert_cmpuint(config->max_incoming_sessions, ==, defaults->max_incoming_sessions);
}

static void
test_config_values(void)
{
	g_autoptr(PlConfig) config = pl_config_new();
	g_autoptr(GError) error = NULL;
	const gchar *data = "# comment\n[agent]\nsocket=/run/x/../y/agent.sock\n"
	                    "state-dir=/var/lib/pl\nverbose=true\nmax-incoming-sessions=16\n";

	g_assert_true(pl_config_load_data(config, data, strlen(data), "test.conf", &error));
	g_assert_no_error(error);
	g_assert_cmpstr(config->socket_path, ==, "/run/y/agent.sock");
	g_assert_cmpstr(config->state_dir, ==, "/var/lib/pl");
	g_assert_true(config->verbose);
	g_assert_cmpuint(config->max_incoming_sessions, ==, 16);
	g_assert_true(pl_config_set(config, "verbose", "false", "command line", &error));
	g_assert_false(config->verbose);
}

static void
test_config_rendezvous(void)
{
	g_autoptr(PlConfig) config = pl_config_new();
	g_autoptr(GError) error = NULL;
	const gchar *data = "[agent]\nrendezvous=https://rv.example.org:8443/base\n"
	                    "rendezvous-ca=/etc/peerlink/../peerlink/ca.pem\n";
	const gchar *valid[] = {"http://127.0.0.1:8480", "https://rv.example.org",
	                        "http://[::1]:8480/", "HTTPS://Rv.Example.Org/prefix/"};

	g_assert_true(pl_config_load_data(config, data, strlen(data), "test.conf", &error));
	g_assert_no_error(error);
	g_assert_cmpstr(config->rendezvous_url, ==, "https://rv.example.org:8443/base");
	g_assert_cmpstr(config->rendezvous_ca, ==, "/etc/peerlink/ca.pem");
	for (guint i = 0; i < G_N_ELEMENTS(valid); i++) {
		g_assert_true(
		        pl_config_set(config, "rendezvous", valid[i], "command line", &error));
		g_assert_no_error(error);
		g_assert_cmpstr(config->rendezvous_url, ==, valid[i]);
	}
	/* empty: none */
	g_assert_true(pl_config_set(config, "rendezvous", "", "command line", &error));
	g_assert_null(config->rendezvous_url);
	g_assert_true(pl_config_set(config, "rendezvous-ca", "", "command line", &error));
	g_assert_null(config->rendezvous_ca);
	g_assert_no_error(error);

	/* the command line reports its errors the same way */
	g_assert_false(pl_config_set(config, "rendezvous-ca", "ca.pem", "command line", &error));
	g_assert_error(error, PL_CONFIG_ERROR, PL_CONFIG_ERROR_INVALID_VALUE);
	g_assert_nonnull(strstr(error->message, "command line"));
	g_assert_nonnull(strstr(error->message, "absolute"));
	g_clear_error(&error);
	g_assert_false(
	        pl_config_set(config, "rendezvous", "rv.example.org", "command line", &error));
	g_assert_error(error, PL_CONFIG_ERROR, PL_CONFIG_ERROR_INVALID_VALUE);
	g_assert_nonnull(strstr(error->message, "rv.example.org"));
	g_assert_null(config->rendezvous_url);
}

static void
assert_config_error(const gchar *data, gint code, const gchar *needle)
{
	g_autoptr(PlConfig) config = pl_config_new();
	g_autoptr(GError) error = NULL;

	g_assert_false(pl_config_load_data(config, data, strlen(data), "bad.conf", &error));
	g_assert_error(error, PL_CONFIG_ERROR, code);
	g_assert_nonnull(strstr(error->message, "bad.conf"));
	if (strstr(error->message, needle) == NULL)
		g_error("\"%s\" does not mention \"%s\"", error->message, needle);
}

static void
test_config_errors(void)
{
	assert_config_error("[agent\nsocket=/x\n", PL_CONFIG_ERROR_PARSE, "bad.conf");
	assert_config_error("[agent]\nsockett=/x\n", PL_CONFIG_ERROR_UNKNOWN_KEY, "sockett");
	assert_config_error("[other]\nx=1\n", PL_CONFIG_ERROR_UNKNOWN_KEY, "[other]");
	assert_config_error("[agent]\nverbose=yes please\n", PL_CONFIG_ERROR_INVALID_VALUE,
	                    "verbose");
	assert_config_error("[agent]\nsocket=relative/agent.sock\n", PL_CONFIG_ERROR_INVALID_VALUE,
	                    "absolute");
	assert_config_error("[agent]\nstate-dir=\n", PL_CONFIG_ERROR_INVALID_VALUE, "state-dir");
	assert_config_error("\xff\xfe[agent]\n", PL_CONFIG_ERROR_PARSE, "bad.conf");
	assert_config_error("[agent]\nrendezvous=ftp://rv.example.org\n",
	                    PL_CONFIG_ERROR_INVALID_VALUE, "http or https");
	assert_config_error("[agent]\nrendezvous=not a url\n", PL_CONFIG_ERROR_INVALID_VALUE,
	                    "rendezvous");
	assert_config_error("[agent]\nrendezvous=https://\n", PL_CONFIG_ERROR_INVALID_VALUE,
	                    "no host");
	assert_config_error("[agent]\nrendezvous=https://rv.example.org/?x=1\n",
	                    PL_CONFIG_ERROR_INVALID_VALUE, "query");
	assert_config_error("[agent]\nrendezvous=https://user:pw@rv.example.org\n",
	                    PL_CONFIG_ERROR_INVALID_VALUE, "user");
	assert_config_error("[agent]\nrendezvous-ca=certs/ca.pem\n", PL_CONFIG_ERROR_INVALID_VALUE,
	                    "absolute");
	/* GKeyFile returns a value along with the error for a bad escape: it was taken, and the
	 * error left set for the next key, a GLib warning (found by fuzz/fuzz-config) */
	assert_config_error("[agent]\nsocket=/tmp/a\\xb\n", PL_CONFIG_ERROR_INVALID_VALUE,
	                    "socket");
	assert_config_error("[agent]\nstate-dir=/tmp/a\\\nturn=\xff\n",
	                    PL_CONFIG_ERROR_INVALID_VALUE, "state-dir");
	/* ... and with a '\' at the end too, GKeyFile set its own error twice, a GLib warning */
	assert_config_error("[agent]\nsocket=/a\\x\\\n", PL_CONFIG_ERROR_INVALID_VALUE, "socket");
	assert_config_error("[agent]\nverbose=true\\;\n", PL_CONFIG_ERROR_INVALID_VALUE, "verbose");
	assert_config_error("[agent]\nmax-incoming-sessions=0\n", PL_CONFIG_ERROR_INVALID_VALUE,
	                    "1 to 100000");
	assert_config_error("[agent]\nmax-incoming-sessions=100001\n",
	                    PL_CONFIG_ERROR_INVALID_VALUE, "max-incoming-sessions");
	assert_config_error("[agent]\nmax-incoming-sessions=-1\n", PL_CONFIG_ERROR_INVALID_VALUE,
	                    "\"-1\"");
	assert_config_error("[agent]\nmax-incoming-sessions=ten\n", PL_CONFIG_ERROR_INVALID_VALUE,
	                    "\"ten\"");
}

static void
test_config_files(void)
{
	g_autoptr(PlConfig) config = pl_config_new();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("pl-config-XXXXXX", NULL);
	g_autofree gchar *missing = g_build_filename(dir, "missing.conf", NULL);
	g_autofree gchar *long_socket = NULL;

	g_assert_true(pl_config_load_file(config, missing, FALSE, &error));
	g_assert_no_error(error);
	g_assert_false(pl_config_load_file(config, missing, TRUE, &error));
	g_assert_error(error, PL_CONFIG_ERROR, PL_CONFIG_ERROR_PARSE);
	g_assert_nonnull(strstr(error->message, missing));
	g_clear_error(&error);

	long_socket = g_strnfill(120, 'a');
	long_socket[0] = '/';
	g_assert_true(pl_config_set(config, "socket", long_socket, "test", &error));
	g_assert_false(pl_config_validate(config, &error));
	g_assert_error(error, PL_CONFIG_ERROR, PL_CONFIG_ERROR_INVALID_VALUE);
	g_rmdir(dir);
}

static void
test_state_round_trip(void)
{
	g_autoptr(PlState) state = pl_state_new("/nonexistent");
	g_autoptr(PlState) copy = pl_state_new("/nonexistent");
	g_autoptr(GError) error = NULL;
	g_autofree gchar *data = NULL;

	state->starts = 7;
	state->last_start = 1700000000;
	state->last_stop = 1700000100;
	state->clean_shutdown = FALSE;
	data = pl_state_to_data(state);
	g_assert_true(pl_state_parse(copy, data, strlen(data), &error));
	g_assert_no_error(error);
	g_assert_cmpuint(copy->starts, ==, 7);
	g_assert_cmpint(copy->last_start, ==, 1700000000);
	g_assert_cmpint(copy->last_stop, ==, 1700000100);
	g_assert_false(copy->clean_shutdown);

	g_assert_false(pl_state_parse(copy, "[agent]\nstarts=many\n", -1, &error));
	g_assert_nonnull(error);
}

static void
test_state_files(void)
{
	g_autofree gchar *dir = g_dir_make_tmp("pl-state-XXXXXX", NULL);
	g_autoptr(PlState) state = pl_state_new(dir);
	g_autoptr(PlState) fresh = pl_state_new(dir);
	g_autoptr(GError) error = NULL;
	GStatBuf st;

	g_assert_true(pl_state_load(state, &error)); /* first start: no file */
	g_assert_cmpuint(state->starts, ==, 0);
	state->starts = 3;
	g_assert_true(pl_state_save(state, &error));
	g_assert_no_error(error);
	g_assert_cmpint(g_stat(state->path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);
	g_assert_true(pl_state_load(fresh, &error));
	g_assert_cmpuint(fresh->starts, ==, 3);

	g_assert_true(g_file_set_contents(state->path, "garbage[", -1, NULL));
	g_assert_false(pl_state_load(fresh, &error));
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL);
	g_unlink(state->path);
	g_rmdir(dir);
}

static void
test_systemd_listen_env(void)
{
	g_autoptr(GError) error = NULL;
	guint n_fds = 99;

	g_assert_false(pl_systemd_parse_listen_env(NULL, NULL, 42, &n_fds, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(n_fds, ==, 0);
	/* meant for another process (e.g. inherited): ignored */
	g_assert_false(pl_systemd_parse_listen_env("41", "1", 42, &n_fds, &error));
	g_assert_no_error(error);
	g_assert_false(pl_systemd_parse_listen_env("garbage", "1", 42, &n_fds, &error));
	g_assert_no_error(error);
	g_assert_true(pl_systemd_parse_listen_env("42", "1", 42, &n_fds, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(n_fds, ==, 1);
	g_assert_false(pl_systemd_parse_listen_env("42", "2", 42, &n_fds, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_false(pl_systemd_parse_listen_env("42", "x", 42, &n_fds, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

int
main(int argc, char *argv[])
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerlink/agent/config/defaults", test_config_defaults);
	g_test_add_func("/peerlink/agent/config/shipped-file", test_config_shipped_file);
	g_test_add_func("/peerlink/agent/config/values", test_config_values);
	g_test_add_func("/peerlink/agent/config/rendezvous", test_config_rendezvous);
	g_test_add_func("/peerlink/agent/config/errors", test_config_errors);
	g_test_add_func("/peerlink/agent/config/files", test_config_files);
	g_test_add_func("/peerlink/agent/state/round-trip", test_state_round_trip);
	g_test_add_func("/peerlink/agent/state/files", test_state_files);
	g_test_add_func("/peerlink/agent/systemd/listen-env", test_systemd_listen_env);
	return g_test_run();
}
