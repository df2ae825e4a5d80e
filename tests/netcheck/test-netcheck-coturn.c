/*
 * netcheck against a real coturn on loopback, listening on 127.0.0.1 and
 * 127.0.0.2 with a primary and an alternate port (RFC 5780) and REST
 * credentials (use-auth-secret): no NAT and open filtering found, TURN over
 * UDP and TCP allocated and released, wrong or expired credentials refused
 * with a clear error. Skipped without turnserver.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#include "pl-nat-probe.h"
#include "pl-netcheck.h"
#include "pl-stun-transport.h"
#include "pl-turn-credentials.h"
#include "pl-turn-probe.h"

#define SECRET "north-sea-7"
#define REALM  "netcheck.test"

static struct {
	GSubprocess *process;
	gchar *dir;
	gchar *log;
	guint16 port; /* the alternate port is port + 1 */
} coturn;

static gboolean
wake_cb(gpointer user_data)
{
	return G_SOURCE_CONTINUE;
}

static void
wait_for(GAsyncResult **result)
{
	gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
	guint tick = g_timeout_add(20, wake_cb, NULL);

	while (*result == NULL && g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, TRUE);
	g_source_remove(tick);
	g_assert_nonnull(*result);
}

static void
store_result_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	GAsyncResult **out = user_data;

	*out = g_object_ref(result);
}

static GInetSocketAddress *
address(const gchar *ip, guint16 port)
{
	g_autoptr(GInetAddress) inet = g_inet_address_new_from_string(ip);

	return G_INET_SOCKET_ADDRESS(g_inet_socket_address_new(inet, port));
}

/* -------------------------------------------------------------------------- */
/* coturn */

static gboolean
port_is_free(const gchar *ip, guint16 port, GSocketType type)
{
	g_autoptr(GInetSocketAddress) where = address(ip, port);
	g_autoptr(GSocket) socket = g_socket_new(G_SOCKET_FAMILY_IPV4, type, 0, NULL);

	return socket != NULL && g_socket_bind(socket, G_SOCKET_ADDRESS(where), FALSE, NULL);
}

/* P and P + 1, UDP and TCP, on both addresses */
static guint16
pick_port_pair(void)
{
	for (guint attempt = 0; attempt < 200; attempt++) {
		guint16 port = (guint16)(g_random_int_range(20000, 30000) * 2);
		gboolean free = TRUE;

		for (guint i = 0; i < 8 && free; i++)
			free = port_is_free(i & 1 ? "127.0.0.2" : "127.0.0.1",
			                    port + ((i >> 1) & 1),
			                    i & 4 ? G_SOCKET_TYPE_STREAM : G_SOCKET_TYPE_DATAGRAM);
		if (free)
			return port;
	}
	g_error("no free pair of ports on 127.0.0.1 and 127.0.0.2");
	return 0;
}

static void
die_with_parent(gpointer user_data)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM);
}

/* a Binding request answered: the listener is up */
static gboolean
coturn_answers(void)
{
	g_autoptr(PlStunTransport) transport =
	        pl_stun_transport_new_udp(G_SOCKET_FAMILY_IPV4, NULL);
	g_autoptr(GInetSocketAddress) server = address("127.0.0.1", coturn.port);
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(PlStunResponse) response = NULL;
	g_autoptr(GBytes) request = NULL;
	PlStunTransactionId id;

	pl_stun_transaction_id_generate(&id);
	request = pl_stun_build_binding_request(&id, 0);
	pl_stun_transport_request_async(transport, server, request, 300, NULL, store_result_cb,
	                                &result);
	wait_for(&result);
	response = pl_stun_transport_request_finish(transport, result, NULL);
	return response != NULL;
}

static gboolean
coturn_start(void)
{
	g_autofree gchar *turnserver = g_find_program_in_path("turnserver");
	g_autoptr(GError) error = NULL;
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autofree gchar *port_option = NULL;
	g_autofree gchar *alt_port_option = NULL;
	g_autofree gchar *userdb_option = NULL;
	g_autofree gchar *pidfile_option = NULL;
	gint64 deadline;

	if (turnserver == NULL)
		return FALSE;
	coturn.dir = g_dir_make_tmp("peerlink-netcheck-XXXXXX", &error);
	g_assert_no_error(error);
	coturn.log = g_build_filename(coturn.dir, "turnserver.log", NULL);
	coturn.port = pick_port_pair();
	port_option = g_strdup_printf("--listening-port=%u", coturn.port);
	alt_port_option = g_strdup_printf("--alt-listening-port=%u", coturn.port + 1);
	userdb_option = g_strdup_printf("--userdb=%s/turndb", coturn.dir);
	pidfile_option = g_strdup_printf("--pidfile=%s/turnserver.pid", coturn.dir);
	launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDERR_MERGE);
	/* the log goes to a file: a pipe nobody reads would stall the server */
	g_subprocess_launcher_set_stdout_file_path(launcher, coturn.log);
	/* gone with the test, even when an assertion aborts it */
	g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
	coturn.process = g_subprocess_launcher_spawn(
	        launcher, &error, turnserver, "-n", "--listening-ip=127.0.0.1",
	        "--listening-ip=127.0.0.2", port_option, alt_port_option, "--relay-ip=127.0.0.1",
	        "--use-auth-secret", "--static-auth-secret=" SECRET, "--realm=" REALM, "--no-tls",
	        "--no-dtls", "--no-cli", "--log-file=stdout", "--simple-log", "--relay-threads=1",
	        userdb_option, pidfile_option, NULL);
	g_assert_no_error(error);

	deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	for (;;) {
		g_autofree gchar *text = NULL;
		if (g_file_get_contents(coturn.log, &text, NULL, NULL) &&
		    strstr(text, "Total General servers") != NULL && coturn_answers())
			break;
		if (g_get_monotonic_time() > deadline)
			g_error("turnserver did not start:\n%s", text != NULL ? text : "");
		g_usleep(50 * 1000);
	}
	return TRUE;
}

static void
coturn_stop(void)
{
	g_autoptr(GDir) dir = NULL;
	const gchar *name;

	if (coturn.process == NULL)
		return;
	g_subprocess_send_signal(coturn.process, SIGTERM);
	g_subprocess_wait(coturn.process, NULL, NULL);
	g_clear_object(&coturn.process);
	dir = g_dir_open(coturn.dir, 0, NULL);
	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *path = g_build_filename(coturn.dir, name, NULL);
		g_remove(path);
	}
	g_rmdir(coturn.dir);
	g_free(coturn.dir);
	g_free(coturn.log);
}

static gboolean
need_coturn(void)
{
	if (coturn.process != NULL)
		return TRUE;
	g_test_skip("coturn (turnserver) is not installed");
	return FALSE;
}

/* -------------------------------------------------------------------------- */
/* RFC 5780 */

static PlNatProbeResult *
run_nat_probe(const gchar *const *locals, GError **error)
{
	g_autoptr(GInetSocketAddress) server = address("127.0.0.1", coturn.port);
	g_autoptr(PlNatProbe) probe = pl_nat_probe_new(server, locals, 3000);
	g_autoptr(GAsyncResult) result = NULL;

	pl_nat_probe_run_async(probe, NULL, store_result_cb, &result);
	wait_for(&result);
	return pl_nat_probe_run_finish(probe, result, error);
}

static void
test_coturn_nat(void)
{
	const gchar *locals[] = {"127.0.0.1", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(PlNatProbeResult) nat = NULL;
	g_autofree gchar *mapped_ip = NULL;
	g_autofree gchar *other = NULL;

	if (!need_coturn())
		return;
	nat = run_nat_probe(locals, &error);
	g_assert_no_error(error);
	/* loopback: we are not behind a NAT, and nothing filters */
	g_assert_cmpint(nat->mapping, ==, PL_NAT_BEHAVIOUR_NONE);
	g_assert_cmpint(nat->filtering, ==, PL_NAT_BEHAVIOUR_ENDPOINT_INDEPENDENT);
	mapped_ip = g_inet_address_to_string(g_inet_socket_address_get_address(nat->mapped));
	g_assert_cmpstr(mapped_ip, ==, "127.0.0.1");
	other = g_socket_connectable_to_string(G_SOCKET_CONNECTABLE(nat->other));
	g_assert_cmpuint(g_inet_socket_address_get_port(nat->other), ==, coturn.port + 1);
	g_assert_true(g_str_has_prefix(other, "127.0.0.2:"));
}

/* a host that does not know its own address runs tests II and III: the
 * mapping is the same for every destination */
static void
test_coturn_nat_unaware(void)
{
	const gchar *locals[] = {"192.0.2.99", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(PlNatProbeResult) nat = NULL;

	if (!need_coturn())
		return;
	nat = run_nat_probe(locals, &error);
	g_assert_no_error(error);
	g_assert_cmpint(nat->mapping, ==, PL_NAT_BEHAVIOUR_ENDPOINT_INDEPENDENT);
	g_assert_cmpint(nat->filtering, ==, PL_NAT_BEHAVIOUR_ENDPOINT_INDEPENDENT);
}

/* -------------------------------------------------------------------------- */
/* TURN */

static PlTurnServer *
turn_server(PlIceTransport transport, gint64 expiry, const gchar *password)
{
	PlTurnServer *server = g_new0(PlTurnServer, 1);

	server->host = g_strdup("127.0.0.1");
	server->port = coturn.port;
	server->transport = transport;
	server->username = pl_turn_credentials_username(expiry, "netcheck");
	server->password = password != NULL
	                           ? g_strdup(password)
	                           : pl_turn_credentials_password(SECRET, server->username);
	return server;
}

static gint64
now_s(void)
{
	return g_get_real_time() / G_USEC_PER_SEC;
}

static PlTurnProbeResult *
run_turn_probe(const PlTurnServer *server, GError **error)
{
	g_autoptr(PlTurnProbe) probe = pl_turn_probe_new(server, 3000);
	g_autoptr(GAsyncResult) result = NULL;

	pl_turn_probe_run_async(probe, NULL, store_result_cb, &result);
	wait_for(&result);
	return pl_turn_probe_run_finish(probe, result, error);
}

static void
test_coturn_turn(gconstpointer data)
{
	PlIceTransport transport = GPOINTER_TO_INT(data);
	g_autoptr(PlTurnServer) server = turn_server(transport, now_s() + 600, NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(PlTurnProbeResult) result = NULL;
	g_autofree gchar *relayed_ip = NULL;

	if (!need_coturn())
		return;
	/* twice: the first allocation was released, the second is a new one */
	for (guint i = 0; i < 2; i++) {
		g_clear_pointer(&result, pl_turn_probe_result_free);
		g_clear_pointer(&relayed_ip, g_free);
		result = run_turn_probe(server, &error);
		g_assert_no_error(error);
		relayed_ip = g_inet_address_to_string(
		        g_inet_socket_address_get_address(result->relayed));
		g_test_message("relayed %s:%u, rtt %u ms, lifetime %u s", relayed_ip,
		               g_inet_socket_address_get_port(result->relayed), result->rtt_ms,
		               result->lifetime_s);
		g_assert_cmpstr(relayed_ip, ==, "127.0.0.1");
		g_assert_nonnull(result->mapped);
		g_assert_cmpuint(result->lifetime_s, >, 0);
		g_assert_true(result->released);
		g_assert_cmpuint(result->rtt_ms, <, 1000);
	}
}

static void
test_coturn_turn_refused(gconstpointer data)
{
	PlIceTransport transport = GPOINTER_TO_INT(data);
	g_autoptr(PlTurnServer) wrong =
	        turn_server(transport, now_s() + 600, "d3JvbmcgcGFzc3dvcmQ=");
	g_autoptr(PlTurnServer) expired = turn_server(transport, now_s() - 10, NULL);
	g_autoptr(PlTurnServer) anonymous = turn_server(transport, now_s() + 600, NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(PlTurnProbeResult) result = NULL;

	if (!need_coturn())
		return;
	result = run_turn_probe(wrong, &error);
	g_assert_null(result);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
	g_test_message("wrong password: %s", error->message);
	g_assert_nonnull(strstr(error->message, "refused the credentials"));
	g_assert_null(strstr(error->message, wrong->password));
	g_clear_error(&error);

	result = run_turn_probe(expired, &error);
	g_assert_null(result);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
	g_test_message("expired: %s", error->message);
	g_clear_error(&error);

	g_clear_pointer(&anonymous->username, g_free);
	g_clear_pointer(&anonymous->password, g_free);
	result = run_turn_probe(anonymous, &error);
	g_assert_null(result);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
	g_test_message("no credentials: %s", error->message);
	g_assert_nonnull(strstr(error->message, "needs credentials"));
}

/* -------------------------------------------------------------------------- */
/* the whole check */

static void
test_coturn_netcheck(void)
{
	g_autoptr(GPtrArray) stun =
	        g_ptr_array_new_with_free_func((GDestroyNotify)pl_stun_server_free);
	g_autoptr(GPtrArray) turns =
	        g_ptr_array_new_with_free_func((GDestroyNotify)pl_turn_server_free);
	g_autoptr(GPtrArray) locals = g_ptr_array_new();
	PlNetcheckConfig config = {stun, turns, locals, FALSE, 0};
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) json = NULL;
	g_autoptr(JsonNode) node = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *stun_text = NULL;
	PlStunServer *stun_server;
	JsonArray *turn;

	if (!need_coturn())
		return;
	stun_server = g_new0(PlStunServer, 1);
	stun_server->host = g_strdup("127.0.0.1");
	stun_server->port = coturn.port;
	g_ptr_array_add(stun, stun_server);
	g_ptr_array_add(turns, turn_server(PL_ICE_TRANSPORT_UDP, now_s() + 600, NULL));
	g_ptr_array_add(turns, turn_server(PL_ICE_TRANSPORT_TCP, now_s() + 600, NULL));
	g_ptr_array_add(turns, turn_server(PL_ICE_TRANSPORT_TCP, now_s() + 600, "bm9wZQ=="));
	g_ptr_array_add(locals, (gpointer) "127.0.0.1");

	pl_netcheck_run_async(&config, NULL, store_result_cb, &result);
	wait_for(&result);
	json = pl_netcheck_run_finish(result, &error);
	g_assert_no_error(error);
	node = json_node_init_object(json_node_alloc(), json);
	text = json_to_string(node, TRUE);
	g_test_message("%s", text);

	stun_text = g_strdup_printf("127.0.0.1:%u", coturn.port);
	g_assert_true(json_object_get_boolean_member(json, "udp"));
	g_assert_cmpstr(json_object_get_string_member(json, "stun_server"), ==, stun_text);
	g_assert_cmpstr(json_object_get_string_member(json, "public_ipv4"), ==, "127.0.0.1");
	g_assert_cmpstr(json_object_get_string_member(json, "mapping"), ==, "none");
	g_assert_cmpstr(json_object_get_string_member(json, "filtering"), ==,
	                "endpoint-independent");
	turn = json_object_get_array_member(json, "turn");
	g_assert_cmpuint(json_array_get_length(turn), ==, 3);
	for (guint i = 0; i < 2; i++) {
		JsonObject *entry = json_array_get_object_element(turn, i);
		g_assert_true(json_object_get_boolean_member(entry, "reachable"));
		g_assert_true(json_object_get_null_member(entry, "error"));
		g_assert_true(g_str_has_prefix(
		        json_object_get_string_member(entry, "relayed_address"), "127.0.0.1:"));
		g_assert_cmpint(json_object_get_int_member(entry, "rtt_ms"), <, 1000);
	}
	g_assert_false(json_object_get_boolean_member(json_array_get_object_element(turn, 2),
	                                              "reachable"));
	g_assert_nonnull(strstr(
	        json_object_get_string_member(json_array_get_object_element(turn, 2), "error"),
	        "refused the credentials"));
	g_assert_cmpstr(json_object_get_string_member(json, "verdict"), ==,
	                PL_NETCHECK_VERDICT_DIRECT);
}

int
main(int argc, char **argv)
{
	int status;

	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerlink/netcheck/coturn/nat", test_coturn_nat);
	g_test_add_func("/peerlink/netcheck/coturn/nat-unaware", test_coturn_nat_unaware);
	g_test_add_data_func("/peerlink/netcheck/coturn/turn/udp",
	                     GINT_TO_POINTER(PL_ICE_TRANSPORT_UDP), test_coturn_turn);
	g_test_add_data_func("/peerlink/netcheck/coturn/turn/tcp",
	                     GINT_TO_POINTER(PL_ICE_TRANSPORT_TCP), test_coturn_turn);
	g_test_add_data_func("/peerlink/netcheck/coturn/turn/refused-udp",
	                     GINT_TO_POINTER(PL_ICE_TRANSPORT_UDP), test_coturn_turn_refused);
	g_test_add_data_func("/peerlink/netcheck/coturn/turn/refused-tcp",
	                     GINT_TO_POINTER(PL_ICE_TRANSPORT_TCP), test_coturn_turn_refused);
	g_test_add_func("/peerlink/netcheck/coturn/netcheck", test_coturn_netcheck);

	coturn_start();
	status = g_test_run();
	coturn_stop();
	return status;
}
