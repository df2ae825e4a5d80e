/*
 * The TURN credentials against a real coturn on loopback ("use-auth-secret"):
 * turnutils_uclient allocates with our username and password, and fails with
 * a wrong password or an expired username. Skipped without coturn.
 */
#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sys/prctl.h>
#include <string.h>

#include "pl-turn-credentials.h"

#define SECRET "north-sea-7"
#define PEER   "UHURKYC-U4BH2ZC-M25HZHK-EZM3QD2-LW6E5IW-CVU5B77-DOBUSTN-AP2OCX5"

static guint16
free_udp_port(void)
{
	g_autoptr(GSocket) socket =
	        g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, 0, NULL);
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) any = g_inet_socket_address_new(loopback, 0);
	g_autoptr(GSocketAddress) bound = NULL;

	g_assert_true(g_socket_bind(socket, any, FALSE, NULL));
	bound = g_socket_get_local_address(socket, NULL);
	return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

static void
die_with_parent(gpointer user_data)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM);
}

static gboolean
allocate(const gchar *uclient, guint16 port, const gchar *username, const gchar *password)
{
	g_autofree gchar *port_text = g_strdup_printf("%u", port);
	/* a client that never gives up must not hang the test */
	const gchar *argv[] = {"timeout", "20", uclient, "-p", port_text, "-u", username,    "-w",
	                       password,  "-n", "1",     "-m", "1",       "-y", "127.0.0.1", NULL};
	g_autoptr(GError) error = NULL;
	gint status = -1;

	g_spawn_sync(NULL, (gchar **)argv, NULL,
	             G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
	             NULL, NULL, NULL, NULL, &status, &error);
	g_assert_no_error(error);
	return g_spawn_check_wait_status(status, NULL);
}

static void
remove_dir(const gchar *dir)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const gchar *name;

	while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
		g_autofree gchar *path = g_build_filename(dir, name, NULL);
		g_remove(path);
	}
	g_rmdir(dir);
}

static void
test_coturn(void)
{
	g_autofree gchar *turnserver = g_find_program_in_path("turnserver");
	g_autofree gchar *uclient = g_find_program_in_path("turnutils_uclient");
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = NULL;
	g_autofree gchar *log = NULL;
	g_autofree gchar *port_option = NULL;
	g_autofree gchar *userdb_option = NULL;
	g_autofree gchar *log_option = NULL;
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GSubprocess) process = NULL;
	g_autofree gchar *username = NULL;
	g_autofree gchar *password = NULL;
	g_autofree gchar *expired = NULL;
	g_autofree gchar *expired_password = NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	gint64 deadline;
	guint16 port;

	if (turnserver == NULL || uclient == NULL) {
		g_test_skip("coturn (turnserver, turnutils_uclient) is not installed");
		return;
	}
	dir = g_dir_make_tmp("peerlink-coturn-XXXXXX", &error);
	g_assert_no_error(error);
	log = g_build_filename(dir, "turn.log", NULL);
	port = free_udp_port();
	port_option = g_strdup_printf("--listening-port=%u", port);
	userdb_option = g_strdup_printf("--userdb=%s/turndb", dir);
	log_option = g_strdup_printf("--log-file=%s", log);
	/* the log goes to a file: a pipe nobody reads would stall the server */
	launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
	                                     G_SUBPROCESS_FLAGS_STDERR_SILENCE);
	/* gone with the test, even when an assertion aborts it */
	g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
	process = g_subprocess_launcher_spawn(
	        launcher, &error, turnserver, "-n", "--listening-ip=127.0.0.1", port_option,
	        "--relay-ip=127.0.0.1", "--use-auth-secret", "--static-auth-secret=" SECRET,
	        "--realm=peerlink.test", "--no-tls", "--no-dtls", "--no-tcp", "--no-tcp-relay",
	        "--no-rfc5780", "--no-cli", "--relay-threads=1", "--allow-loopback-peers",
	        userdb_option, log_option, "--simple-log", NULL);
	g_assert_no_error(error);
	deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	for (;;) {
		g_autofree gchar *text = NULL;
		if (g_file_get_contents(log, &text, NULL, NULL) &&
		    strstr(text, "Total General servers") != NULL)
			break;
		if (g_get_monotonic_time() > deadline)
			g_error("turnserver did not start:\n%s", text != NULL ? text : "");
		g_usleep(20000);
	}

	username = pl_turn_credentials_username(now + 600, PEER);
	password = pl_turn_credentials_password(SECRET, username);
	expired = pl_turn_credentials_username(now - 10, PEER);
	expired_password = pl_turn_credentials_password(SECRET, expired);
	g_assert_true(allocate(uclient, port, username, password));
	g_assert_false(allocate(uclient, port, username, "d3JvbmcgcGFzc3dvcmQ="));
	g_assert_false(allocate(uclient, port, expired, expired_password));

	g_subprocess_send_signal(process, SIGTERM);
	g_subprocess_wait(process, NULL, NULL);
	remove_dir(dir);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerlink/rendezvous/turn/coturn", test_coturn);
	return g_test_run();
}
