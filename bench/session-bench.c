/*
 * Benchmark of peer sessions between two real agents: the time from
 * `connect` to the first echoed byte, and app-to-app stream throughput
 * against the UDP ceiling iperf3 measures on the same path in the same run,
 * with the agents' CPU time per GB. Prints figures, judges none of them.
 *
 * As root it runs in a network namespace of its own whose loopback has a
 * 1500-byte MTU, so the path is like Ethernet; otherwise on the host's
 * loopback, and it says so.
 */
#include "config.h"

#include <errno.h>
#include <locale.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pl-test-daemons.h"
#include "pl-test-util.h"

static gboolean quick = FALSE;
static gint size_mb = 1024;
static gint n_connects = 200;
static gint loss_percent = 0;

static const GOptionEntry entries[] = {
        {"quick", 0, 0, G_OPTION_ARG_NONE, &quick, "A short run (smoke test)", NULL},
        {"size", 0, 0, G_OPTION_ARG_INT, &size_mb, "MiB moved in the throughput phase", "MB"},
        {"connects", 0, 0, G_OPTION_ARG_INT, &n_connects, "Connects timed", "N"},
        {"loss", 0, 0, G_OPTION_ARG_INT, &loss_percent,
         "Drop this share of UDP packets during the throughput phase (as root)", "PERCENT"},
        {NULL},
};

/* a private network namespace with a 1500-byte loopback, when we may */
static const gchar *
enter_bench_network(void)
{
	const gchar *argv[] = {"ip", "link", "set", "lo", "mtu", "1500", "up", NULL};
	gint status = 0;

	if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0)
		return "the host's loopback (not root: no private namespace)";
	if (!g_spawn_sync(NULL, (gchar **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
	                  &status, NULL) ||
	    !g_spawn_check_wait_status(status, NULL))
		g_error("cannot set up the loopback of the bench namespace");
	return "a private namespace's loopback with a 1500-byte MTU";
}

/* random loss of UDP packets on the namespace's loopback (nftables) */
static void
set_udp_loss(gint percent)
{
	g_autofree gchar *rule = g_strdup_printf(
	        "add table inet plbench\n"
	        "add chain inet plbench out { type filter hook output priority 0; }\n"
	        "add rule inet plbench out meta l4proto udp numgen random mod 100 < %d drop\n",
	        percent);
	g_autofree gchar *path = NULL;
	g_autoptr(GError) error = NULL;
	gint fd = g_file_open_tmp("plbench-XXXXXX.nft", &path, &error);
	const gchar *argv[] = {"nft", "-f", NULL, NULL};
	gint status = 0;

	g_assert_no_error(error);
	close(fd);
	if (!g_file_set_contents(path, rule, -1, &error))
		g_error("%s", error->message);
	argv[2] = path;
	if (!g_spawn_sync(NULL, (gchar **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
	                  &status, NULL) ||
	    !g_spawn_check_wait_status(status, NULL))
		g_error("nft could not set up the loss rule");
	unlink(path);
}

/* iperf3's UDP ceiling in MB/s (received), or 0 when iperf3 is missing */
static gdouble
measure_iperf3_ceiling(void)
{
	g_autofree gchar *iperf3 = g_find_program_in_path("iperf3");
	g_autofree gchar *port = g_strdup_printf("%u", pl_test_pick_free_port());
	g_autofree gchar *out = NULL;
	g_autoptr(GSubprocess) server = NULL;
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	JsonObject *sum;
	gint status = 0;
	const gchar *client[] = {iperf3, "-u",        "-b", "0",  "-l", "1400",
	                         "-c",   "127.0.0.1", "-p", port, "-t", quick ? "1" : "5",
	                         "-J",   NULL};

	if (iperf3 == NULL)
		return 0;
	server = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error, iperf3, "-s", "-1",
	                          "-p", port, NULL);
	g_assert_no_error(error);
	g_usleep(300000);
	if (!g_spawn_sync(NULL, (gchar **)client, NULL, 0, NULL, NULL, &out, NULL, &status,
	                  &error) ||
	    !json_parser_load_from_data(parser, out, -1, &error))
		g_error("iperf3 failed: %s", error->message);
	g_subprocess_wait(server, NULL, NULL);
	sum = json_object_get_object_member(
	        json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)),
	                                      "end"),
	        "sum");
	return json_object_get_double_member(sum, "bytes") *
	       (1.0 - json_object_get_double_member(sum, "lost_percent") / 100.0) /
	       json_object_get_double_member(sum, "seconds") / 1e6;
}

static JsonObject *
call(PlClient *client, const gchar *method, JsonObject *params, GUnixFDList **fds)
{
	g_autoptr(GError) error = NULL;
	JsonObject *result = pl_test_call(client, method, params, fds, 30000, &error);

	if (result == NULL)
		g_error("%s: %s", method, error->message);
	return result;
}

static gint
connect_stream(PlClient *client, const gchar *peer, const gchar *service)
{
	g_autoptr(JsonObject) params = json_object_new();
	g_autoptr(GUnixFDList) fds = NULL;
	g_autoptr(JsonObject) result = NULL;

	json_object_set_string_member(params, "peer", peer);
	json_object_set_string_member(params, "service", service);
	result = call(client, "connect", params, &fds);
	return g_unix_fd_list_get(fds, 0, NULL);
}

/* connect to the peer's echo service, send a byte, wait for it back */
static void
bench_connect(PlClient *alice, PlTestAgent *bob)
{
	g_autoptr(GArray) times = g_array_new(FALSE, FALSE, sizeof(gdouble));
	guint n = quick ? 10 : (guint)n_connects;

	for (guint i = 0; i < n; i++) {
		gint64 start = g_get_monotonic_time();
		gint fd = connect_stream(alice, bob->peer_id, "peerlink.echo");
		gchar byte = 'x';
		gdouble ms;

		if (send(fd, &byte, 1, MSG_NOSIGNAL) != 1 || recv(fd, &byte, 1, 0) != 1)
			g_error("the echo failed: %s", g_strerror(errno));
		ms = (g_get_monotonic_time() - start) / 1000.0;
		g_array_append_val(times, ms);
		close(fd);
		/* let the session end before the next, as a user's would */
		for (guint j = 0; j < 20; j++)
			g_main_context_iteration(NULL, FALSE);
	}
	g_print("connect → first echoed byte (%u connects, agents already online):\n"
	        "  p50 %.1f ms   p90 %.1f ms   p99 %.1f ms   max %.1f ms\n",
	        n, pl_test_percentile(times, 0.5), pl_test_percentile(times, 0.9),
	        pl_test_percentile(times, 0.99), pl_test_percentile(times, 1));
}

/* user + system CPU seconds of a process so far */
static gdouble
cpu_seconds(GSubprocess *process)
{
	g_autofree gchar *path =
	        g_strdup_printf("/proc/%s/stat", g_subprocess_get_identifier(process));
	g_autofree gchar *text = NULL;
	g_auto(GStrv) fields = NULL;
	const gchar *after_name;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return 0;
	after_name = strrchr(text, ')') + 2;
	fields = g_strsplit(after_name, " ", 0);
	/* fields 14 and 15 of stat, counted from the state (field 3) */
	return (g_ascii_strtod(fields[11], NULL) + g_ascii_strtod(fields[12], NULL)) /
	       sysconf(_SC_CLK_TCK);
}

typedef struct {
	gint fd;
	gsize len;
	gsize moved;
} PlBulk;

static gpointer
bulk_send(gpointer user_data)
{
	PlBulk *bulk = user_data;
	g_autofree guint8 *buf = g_malloc0(1024 * 1024);

	while (bulk->moved < bulk->len) {
		gssize n = send(bulk->fd, buf, MIN(1024 * 1024, bulk->len - bulk->moved),
		                MSG_NOSIGNAL);
		if (n < 0)
			g_error("send: %s", g_strerror(errno));
		bulk->moved += (gsize)n;
	}
	shutdown(bulk->fd, SHUT_WR);
	return NULL;
}

static gpointer
bulk_receive(gpointer user_data)
{
	PlBulk *bulk = user_data;
	g_autofree guint8 *buf = g_malloc(1024 * 1024);
	gssize n;

	while ((n = recv(bulk->fd, buf, 1024 * 1024, 0)) > 0)
		bulk->moved += (gsize)n;
	if (n < 0)
		g_error("recv: %s", g_strerror(errno));
	return NULL;
}

static gdouble
bench_throughput(PlTestNet *net, PlClient *alice, PlClient *bob_app, PlTestAgent *bob)
{
	g_autoptr(JsonObject) params = json_object_new();
	g_autoptr(JsonObject) listening = NULL;
	PlTestAgent *alice_agent = g_ptr_array_index(net->agents, 0);
	gsize len = (gsize)(quick ? 32 : size_mb) * 1024 * 1024;
	PlBulk sender = {.len = len};
	PlBulk receiver = {0};
	GQueue incoming = G_QUEUE_INIT;
	gdouble cpu_alice;
	gdouble cpu_bob;
	gdouble seconds;
	gint64 start;
	GThread *threads[2];

	json_object_set_string_member(params, "service", "bulk");
	listening = call(bob_app, "listen", params, NULL);
	pl_test_collect_incoming(bob_app, &incoming);
	sender.fd = connect_stream(alice, bob->peer_id, "bulk");
	receiver.fd = pl_test_pop_incoming(&incoming, 10000);
	if (receiver.fd < 0)
		g_error("the stream did not arrive at bob's app");
	cpu_alice = cpu_seconds(alice_agent->process);
	cpu_bob = cpu_seconds(bob->process);
	start = g_get_monotonic_time();
	threads[0] = g_thread_new("send", bulk_send, &sender);
	threads[1] = g_thread_new("receive", bulk_receive, &receiver);
	g_thread_join(threads[0]);
	g_thread_join(threads[1]);
	seconds = (g_get_monotonic_time() - start) / 1e6;
	cpu_alice = cpu_seconds(alice_agent->process) - cpu_alice;
	cpu_bob = cpu_seconds(bob->process) - cpu_bob;
	if (receiver.moved != len)
		g_error("received %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " bytes", receiver.moved,
		        len);
	close(sender.fd);
	close(receiver.fd);
	g_print("stream throughput, app to app (%.0f MiB, TLS 1.3 over the reliable link over "
	        "UDP):\n"
	        "  %.1f MB/s (%.2f Gbit/s)\n"
	        "  CPU per GB moved: sender's agent %.2f s, receiver's agent %.2f s\n",
	        len / 1048576.0, len / seconds / 1e6, len * 8 / seconds / 1e9,
	        cpu_alice / (len / 1e9), cpu_bob / (len / 1e9));
	return len / seconds / 1e6;
}

int
main(int argc, char *argv[])
{
	g_autoptr(GOptionContext) context = g_option_context_new(NULL);
	g_autoptr(GError) error = NULL;
	const gchar *network;
	PlTestNet *net;
	PlTestAgent *bob;
	g_autoptr(PlClient) alice_app = NULL;
	g_autoptr(PlClient) bob_app = NULL;
	gdouble ceiling;
	gdouble throughput;

	setlocale(LC_ALL, "");
	g_option_context_add_main_entries(context, entries, NULL);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		g_printerr("session-bench: %s\n", error->message);
		return 2;
	}
	network = enter_bench_network();
	g_print("peerlink session bench on %s\n\n", network);
	ceiling = measure_iperf3_ceiling();
	if (ceiling > 0)
		g_print("iperf3 UDP ceiling (1400-byte datagrams, as received): %.1f MB/s (%.2f "
		        "Gbit/s)\n\n",
		        ceiling, ceiling * 8 / 1000);
	else
		g_print("iperf3 is not installed: no UDP ceiling to compare with\n\n");
	net = pl_test_net_new();
	pl_test_net_start_agent(net, "alice", PL_TEST_LOOPBACK_CONFIG);
	bob = pl_test_net_start_agent(net, "bob", PL_TEST_LOOPBACK_CONFIG);
	alice_app = pl_test_agent_client(g_ptr_array_index(net->agents, 0));
	bob_app = pl_test_agent_client(bob);
	bench_connect(alice_app, bob);
	g_print("\n");
	if (loss_percent > 0) {
		if (geteuid() != 0)
			g_error("--loss needs root (a private namespace)");
		set_udp_loss(loss_percent);
		g_print("dropping %d %% of UDP packets each way from here on\n", loss_percent);
	}
	throughput = bench_throughput(net, alice_app, bob_app, bob);
	if (ceiling > 0)
		g_print("  = %.0f %% of the iperf3 UDP ceiling\n", 100 * throughput / ceiling);
	g_clear_object(&alice_app);
	g_clear_object(&bob_app);
	pl_test_net_free(net);
	return 0;
}
