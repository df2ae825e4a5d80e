/*
 * Scale of one agent: a hub agent holds many concurrent sessions to the
 * built-in echo service of many peer agents (the per-peer limit of 64
 * sessions is why there are several), all on loopback through a real
 * rendezvous. It measures what each idle session costs the hub (RSS, file
 * descriptors, CPU, wakeups, packets), then soaks it with sessions opening
 * and closing continuously beside the idle ones and checks that its RSS stays
 * flat and that it leaks no descriptor. Prints figures; fails only when a
 * session cannot be opened or a descriptor leaks.
 *
 * As root it runs in a network namespace of its own, so that the UDP
 * counters of /proc/net/snmp count only its own traffic.
 */
#include "config.h"

#include <errno.h>
#include <locale.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pl-test-daemons.h"
#include "pl-test-util.h"

/* the agent refuses more sessions from one peer (PL_SESSION_MANAGER_MAX_SESSIONS_PER_PEER) */
#define MAX_PER_PEER 64

static gboolean quick = FALSE;
static gint n_peers = 20;
static gint per_peer = 50;
static gint window = 16;
static gint idle_seconds = 20;
static gint soak_seconds = 180;
static gint soak_window = 4;
static gboolean use_perf = FALSE;

static const GOptionEntry entries[] = {
        {"quick", 0, 0, G_OPTION_ARG_NONE, &quick,
         "A short run (smoke test): 2 peers × 20 sessions, 2 s idle, 5 s soak", NULL},
        {"peers", 0, 0, G_OPTION_ARG_INT, &n_peers, "Peer agents (default 20)", "P"},
        {"per-peer", 0, 0, G_OPTION_ARG_INT, &per_peer,
         "Idle sessions to each peer (default 50; at most 64 with the soak's)", "K"},
        {"window", 0, 0, G_OPTION_ARG_INT, &window, "Connects in flight (default 16)", "W"},
        {"idle-seconds", 0, 0, G_OPTION_ARG_INT, &idle_seconds,
         "Length of the idle measurement (default 20)", "S"},
        {"soak-seconds", 0, 0, G_OPTION_ARG_INT, &soak_seconds,
         "Length of the soak (default 180; 0 skips it)", "S"},
        {"soak-window", 0, 0, G_OPTION_ARG_INT, &soak_window,
         "Sessions opening and closing at a time during the soak (default 4)", "N"},
        {"perf", 0, 0, G_OPTION_ARG_NONE, &use_perf,
         "Count the hub's syscalls at idle with perf stat (needs perf and tracepoints)", NULL},
        {NULL},
};

/* as much of RLIMIT_NOFILE as we may have: the bench holds every app's end */
static void
raise_fd_limit(void)
{
	struct rlimit limit;

	if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
		limit.rlim_cur = limit.rlim_max;
		setrlimit(RLIMIT_NOFILE, &limit);
	}
}

/* a private network namespace with its loopback up, when we may */
static gboolean
enter_bench_network(void)
{
	const gchar *argv[] = {"ip", "link", "set", "lo", "mtu", "1500", "up", NULL};
	gint status = 0;

	if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0)
		return FALSE;
	if (!g_spawn_sync(NULL, (gchar **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
	                  &status, NULL) ||
	    !g_spawn_check_wait_status(status, NULL))
		g_error("cannot set up the loopback of the bench namespace");
	return TRUE;
}

/* /proc */

static const gchar *
pid_of(PlTestAgent *agent)
{
	return g_subprocess_get_identifier(agent->process);
}

/* a "Name:   value kB" line of /proc/PID/status or smaps_rollup, in KiB */
static guint64
proc_kib(const gchar *pid, const gchar *file, const gchar *name)
{
	g_autofree gchar *path = g_strdup_printf("/proc/%s/%s", pid, file);
	g_autofree gchar *text = NULL;
	g_autofree gchar *key = g_strdup_printf("\n%s:", name);
	const gchar *line;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return 0;
	line = strstr(text, key);
	return line != NULL ? g_ascii_strtoull(line + strlen(key), NULL, 10) : 0;
}

static guint64
rss_kib(PlTestAgent *agent)
{
	return proc_kib(pid_of(agent), "status", "VmRSS");
}

static guint
fds_of(PlTestAgent *agent)
{
	return pl_test_count_fds((GPid)g_ascii_strtoll(pid_of(agent), NULL, 10));
}

static gdouble
cpu_seconds(PlTestAgent *agent)
{
	g_autofree gchar *path = g_strdup_printf("/proc/%s/stat", pid_of(agent));
	g_autofree gchar *text = NULL;
	g_auto(GStrv) fields = NULL;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return 0;
	fields = g_strsplit(strrchr(text, ')') + 2, " ", 0);
	/* utime and stime, fields 14 and 15 of stat, counted from the state (field 3) */
	return (g_ascii_strtod(fields[11], NULL) + g_ascii_strtod(fields[12], NULL)) /
	       sysconf(_SC_CLK_TCK);
}

/* how often the agent's threads were put on a CPU (schedstat's third field): its wakeups */
static guint64
wakeups(PlTestAgent *agent)
{
	g_autofree gchar *tasks = g_strdup_printf("/proc/%s/task", pid_of(agent));
	g_autoptr(GDir) dir = g_dir_open(tasks, 0, NULL);
	const gchar *name;
	guint64 total = 0;

	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *path = g_build_filename(tasks, name, "schedstat", NULL);
		g_autofree gchar *text = NULL;
		g_auto(GStrv) fields = NULL;

		if (!g_file_get_contents(path, &text, NULL, NULL))
			continue;
		fields = g_strsplit(text, " ", 0);
		if (g_strv_length(fields) >= 3)
			total += g_ascii_strtoull(fields[2], NULL, 10);
	}
	return total;
}

/* UDP datagrams received and sent in this network namespace */
static void
udp_datagrams(guint64 *in, guint64 *out)
{
	g_autofree gchar *text = NULL;
	g_auto(GStrv) lines = NULL;

	*in = *out = 0;
	if (!g_file_get_contents("/proc/net/snmp", &text, NULL, NULL))
		return;
	lines = g_strsplit(text, "\n", 0);
	for (guint i = 0; lines[i] != NULL && lines[i + 1] != NULL; i++) {
		if (g_str_has_prefix(lines[i], "Udp: InDatagrams") &&
		    g_str_has_prefix(lines[i + 1], "Udp: ")) {
			g_auto(GStrv) values = g_strsplit(lines[i + 1] + 5, " ", 0);
			*in = g_ascii_strtoull(values[0], NULL, 10);
			*out = g_ascii_strtoull(values[3], NULL, 10);
			return;
		}
	}
}

/* opening sessions */

typedef enum {
	PL_OPEN_HOLD,  /* keep the stream for later */
	PL_OPEN_CHURN, /* echo a few bytes, close at once */
} PlOpenMode;

typedef struct {
	PlClient *client;
	GPtrArray *peers; /* PlTestAgent*, borrowed */
	PlOpenMode mode;
	guint next_peer;
	guint in_flight;
	guint started;
	guint opened;
	guint failed;
	GArray *held;     /* gint fds */
	GArray *setup_ms; /* gdouble, as the agent measured */
} PlOpener;

static void open_one(PlOpener *opener);

/* one round trip over an echo stream */
static gboolean
echo_once(gint fd)
{
	struct timeval tv = {.tv_sec = 10};
	gchar buf[8];

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return send(fd, "peerlink", 8, MSG_NOSIGNAL) == 8 && recv(fd, buf, 8, MSG_WAITALL) == 8 &&
	       memcmp(buf, "peerlink", 8) == 0;
}

static void
connect_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	PlOpener *opener = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GUnixFDList) fd_list = NULL;
	g_autoptr(JsonObject) reply =
	        pl_client_call_finish(PL_CLIENT(source), result, &fd_list, &error);
	gdouble setup_ms;
	gint fd;

	opener->in_flight--;
	if (reply == NULL) {
		if (opener->failed++ < 5)
			g_printerr("session-scale: a connect failed: %s\n", error->message);
		return;
	}
	fd = g_unix_fd_list_get(fd_list, 0, NULL);
	setup_ms = json_object_get_double_member(json_object_get_object_member(reply, "session"),
	                                         "setup_ms");
	g_array_append_val(opener->setup_ms, setup_ms);
	opener->opened++;
	if (opener->mode == PL_OPEN_HOLD) {
		g_array_append_val(opener->held, fd);
		return;
	}
	if (!echo_once(fd) && opener->failed++ < 5)
		g_printerr("session-scale: a stream did not echo: %s\n", g_strerror(errno));
	close(fd);
}

static void
open_one(PlOpener *opener)
{
	PlTestAgent *peer = g_ptr_array_index(opener->peers, opener->next_peer);
	g_autoptr(JsonObject) params = json_object_new();

	opener->next_peer = (opener->next_peer + 1) % opener->peers->len;
	json_object_set_string_member(params, "peer", peer->peer_id);
	json_object_set_string_member(params, "service", "peerlink.echo");
	opener->in_flight++;
	opener->started++;
	pl_client_call_async(opener->client, "connect", params, NULL, NULL, connect_cb, opener);
}

static PlOpener *
pl_opener_new(PlClient *client, GPtrArray *peers, PlOpenMode mode)
{
	PlOpener *opener = g_new0(PlOpener, 1);

	opener->client = client;
	opener->peers = peers;
	opener->mode = mode;
	opener->held = g_array_new(FALSE, FALSE, sizeof(gint));
	opener->setup_ms = g_array_new(FALSE, FALSE, sizeof(gdouble));
	return opener;
}

static void
pl_opener_free(PlOpener *opener)
{
	for (guint i = 0; i < opener->held->len; i++)
		close(g_array_index(opener->held, gint, i));
	g_array_unref(opener->held);
	g_array_unref(opener->setup_ms);
	g_free(opener);
}

/* keeps up to max_in_flight connects going until total have started (0: until
 * deadline), then waits for them; the main context runs meanwhile */
static void
run_opener(PlOpener *opener, guint total, guint max_in_flight, gint64 deadline)
{
	for (;;) {
		gboolean more =
		        total > 0 ? opener->started < total : g_get_monotonic_time() < deadline;
		while (more && opener->in_flight < max_in_flight &&
		       (total == 0 || opener->started < total))
			open_one(opener);
		if (!more && opener->in_flight == 0)
			return;
		g_main_context_iteration(NULL, TRUE);
	}
}

static gint
compare_doubles(gconstpointer a, gconstpointer b)
{
	gdouble x = *(const gdouble *)a;
	gdouble y = *(const gdouble *)b;

	return x < y ? -1 : x > y;
}

static gdouble
percentile(GArray *values, gdouble p)
{
	g_array_sort(values, compare_doubles);
	return values->len == 0 ? 0
	                        : g_array_index(values, gdouble,
	                                        MIN(values->len - 1, (guint)(p * values->len)));
}

/* the hub's session count, from its own list */
static guint
count_sessions(PlClient *client)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) result = pl_test_call(client, "sessions", NULL, NULL, 30000, &error);

	if (result == NULL)
		g_error("sessions: %s", error->message);
	return json_array_get_length(json_object_get_array_member(result, "sessions"));
}

/* waits (up to 30 s) until the hub holds n sessions and at most max_fds descriptors */
static gboolean
wait_settled(PlClient *client, PlTestAgent *hub, guint n, guint max_fds)
{
	gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

	while (count_sessions(client) != n || fds_of(hub) > max_fds) {
		if (g_get_monotonic_time() > deadline)
			return FALSE;
		g_usleep(200000);
	}
	return TRUE;
}

/* the syscalls of the hub over seconds, counted by perf stat; NULL if it cannot */
static gchar *
perf_syscalls(PlTestAgent *hub, guint seconds)
{
	g_autofree gchar *perf = g_find_program_in_path("perf");
	g_autofree gchar *duration = g_strdup_printf("%u", seconds);
	g_autofree gchar *err = NULL;
	gint status = 0;
	const gchar *argv[] = {perf,
	                       "stat",
	                       "-x",
	                       ",",
	                       "-e",
	                       "syscalls:sys_enter_poll,syscalls:sys_enter_recvmsg,syscalls:"
	                       "sys_enter_sendmsg,syscalls:sys_enter_sendto,syscalls:sys_enter_"
	                       "sendmmsg,raw_syscalls:sys_enter",
	                       "-p",
	                       pid_of(hub),
	                       "--",
	                       "sleep",
	                       duration,
	                       NULL};

	if (perf == NULL ||
	    !g_spawn_sync(NULL, (gchar **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
	                  &err, &status, NULL) ||
	    !g_spawn_check_wait_status(status, NULL))
		return NULL;
	return g_steal_pointer(&err);
}

/* the idle hub, over seconds */
static void
measure_idle(PlTestAgent *hub, guint n_sessions, guint seconds, gboolean in_namespace)
{
	g_autofree gchar *perf = NULL;
	gdouble cpu = cpu_seconds(hub);
	guint64 runs = wakeups(hub);
	guint64 udp_in;
	guint64 udp_out;
	guint64 udp_in_end;
	guint64 udp_out_end;
	gint64 start = g_get_monotonic_time();
	gdouble elapsed;

	udp_datagrams(&udp_in, &udp_out);
	if (use_perf)
		perf = perf_syscalls(hub, seconds);
	else
		g_usleep((gulong)seconds * G_USEC_PER_SEC);
	elapsed = (g_get_monotonic_time() - start) / 1e6;
	cpu = cpu_seconds(hub) - cpu;
	runs = wakeups(hub) - runs;
	udp_datagrams(&udp_in_end, &udp_out_end);
	g_print("idle, %u sessions, over %.1f s:\n"
	        "  hub CPU %.2f %% of a core (%.1f µs per session per second)\n"
	        "  hub wakeups %.0f/s = %.3f per session per second\n",
	        n_sessions, elapsed, 100 * cpu / elapsed, 1e6 * cpu / elapsed / n_sessions,
	        runs / elapsed, runs / elapsed / n_sessions);
	if (in_namespace)
		g_print("  UDP datagrams in the namespace (both ends of every session): %.0f/s = "
		        "%.2f per session per second\n",
		        (udp_in_end - udp_in) / elapsed,
		        (udp_in_end - udp_in) / elapsed / n_sessions);
	if (perf != NULL) {
		g_auto(GStrv) lines = g_strsplit(perf, "\n", 0);

		g_print("  hub syscalls (perf stat), per second and per session per second:\n");
		for (guint i = 0; lines[i] != NULL; i++) {
			g_auto(GStrv) fields = g_strsplit(lines[i], ",", 0);
			gdouble count;

			if (g_strv_length(fields) < 3 || !g_ascii_isdigit(fields[0][0]))
				continue;
			count = g_ascii_strtod(fields[0], NULL);
			g_print("    %-32s %9.0f/s %8.3f\n", fields[2], count / elapsed,
			        count / elapsed / n_sessions);
		}
	}
	g_print("session-scale: idle_cpu_pct=%.2f wakeups_per_s=%.0f "
	        "wakeups_per_session_s=%.3f udp_per_session_s=%.2f\n",
	        100 * cpu / elapsed, runs / elapsed, runs / elapsed / n_sessions,
	        in_namespace ? (udp_in_end - udp_in) / elapsed / n_sessions : -1.0);
}

/* sessions opening and closing beside the idle ones; FALSE on a leak */
static gboolean
soak(PlClient *client, PlTestAgent *hub, GPtrArray *peers, guint held, guint seconds)
{
	g_autoptr(GArray) rss = g_array_new(FALSE, FALSE, sizeof(gdouble));
	PlOpener *opener = pl_opener_new(client, peers, PL_OPEN_CHURN);
	guint step = quick ? 1 : 15;
	guint fds_start = fds_of(hub);
	guint64 rss_start = rss_kib(hub);
	guint fds_end;
	guint64 rss_end;
	gint64 start = g_get_monotonic_time();
	gboolean settled;
	gdouble samples_min = G_MAXDOUBLE;
	gdouble samples_max = 0;

	g_print("soak: %u s of sessions opening and closing (%u at a time, each echoes 8 bytes "
	        "and closes) beside the %u idle ones\n",
	        seconds, soak_window, held);
	for (guint t = 0; t < seconds; t += step) {
		gdouble mib;

		run_opener(opener, 0, (guint)soak_window,
		           start + (gint64)MIN(t + step, seconds) * G_USEC_PER_SEC);
		mib = rss_kib(hub) / 1024.0;
		g_array_append_val(rss, mib);
		samples_min = MIN(samples_min, mib);
		samples_max = MAX(samples_max, mib);
		g_print("  %4u s: %6u sessions opened and closed, hub RSS %.1f MiB, %u fds\n",
		        MIN(t + step, seconds), opener->opened, mib, fds_of(hub));
	}
	settled = wait_settled(client, hub, held, fds_start);
	fds_end = fds_of(hub);
	rss_end = rss_kib(hub);
	g_print("  %u sessions in %.0f s (%.1f/s), %u failed; setup p50 %.1f ms, p99 %.1f ms\n"
	        "  hub RSS %.1f MiB at the start, %.1f MiB at the end (samples %.1f–%.1f MiB); "
	        "%u fds at the start, %u at the end\n",
	        opener->opened, (g_get_monotonic_time() - start) / 1e6,
	        opener->opened / ((g_get_monotonic_time() - start) / 1e6), opener->failed,
	        percentile(opener->setup_ms, 0.5), percentile(opener->setup_ms, 0.99),
	        rss_start / 1024.0, rss_end / 1024.0, samples_min, samples_max, fds_start, fds_end);
	g_print("session-scale: soak_s=%u soak_sessions=%u soak_failed=%u soak_rss_start_mib=%.1f "
	        "soak_rss_end_mib=%.1f soak_fds_start=%u soak_fds_end=%u\n",
	        seconds, opener->opened, opener->failed, rss_start / 1024.0, rss_end / 1024.0,
	        fds_start, fds_end);
	if (!settled)
		g_printerr("session-scale: the hub did not come back to %u sessions and %u fds "
		           "(%u fds)\n",
		           held, fds_start, fds_end);
	settled = settled && opener->failed == 0;
	pl_opener_free(opener);
	return settled;
}

static GPtrArray *
start_peers(PlTestNet *net)
{
	GPtrArray *peers = g_ptr_array_new();

	for (gint i = 0; i < n_peers; i++) {
		g_autofree gchar *name = g_strdup_printf("peer%02d", i);
		g_ptr_array_add(peers, pl_test_net_start_agent(net, name, PL_TEST_LOOPBACK_CONFIG));
	}
	return peers;
}

static guint64
peers_rss_kib(GPtrArray *peers)
{
	guint64 total = 0;

	for (guint i = 0; i < peers->len; i++)
		total += rss_kib(g_ptr_array_index(peers, i));
	return total;
}

int
main(int argc, char *argv[])
{
	g_autoptr(GOptionContext) context = g_option_context_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(PlClient) client = NULL;
	g_autoptr(GPtrArray) peers = NULL;
	PlOpener *opener;
	PlTestNet *net;
	PlTestAgent *hub;
	gboolean in_namespace;
	gboolean ok = TRUE;
	guint n_sessions;
	guint64 rss_base;
	guint64 vm_base;
	guint64 peers_base;
	guint fds_base;
	gint64 start;
	gdouble connect_s;

	setlocale(LC_ALL, "");
	g_option_context_add_main_entries(context, entries, NULL);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		g_printerr("session-scale: %s\n", error->message);
		return 2;
	}
	if (quick) {
		n_peers = 2;
		per_peer = 20;
		idle_seconds = 2;
		soak_seconds = 5;
	}
	if (n_peers < 1 || per_peer < 1 || window < 1 || soak_window < 1 ||
	    per_peer + soak_window > MAX_PER_PEER) {
		g_printerr("session-scale: each peer takes at most %u sessions from the hub: "
		           "--per-peer + --soak-window must not exceed it\n",
		           MAX_PER_PEER);
		return 2;
	}
	n_sessions = (guint)(n_peers * per_peer);
	raise_fd_limit();
	in_namespace = enter_bench_network();
	g_print("peerlink session scale bench: %u sessions from one hub agent to %d peer agents' "
	        "echo service, on %s\n",
	        n_sessions, n_peers,
	        in_namespace ? "the loopback of a private network namespace"
	                     : "the host's loopback (not root: no private namespace)");

	/* the signaling of a thousand sessions is far above the default 50 messages/s of
	 * one sender: this bench measures agents, not the rate limiter */
	net = pl_test_net_new_stopped();
	net->service_args = g_strsplit("--rate 100000 --burst 100000 --max-inbox 4096", " ", 0);
	pl_test_net_start_service(net);
	g_print("rendezvous: peerlink-rendezvous --listen 127.0.0.1:%u --rate 100000 --burst "
	        "100000 --max-inbox 4096\n",
	        net->port);
	hub = pl_test_net_start_agent(net, "hub", PL_TEST_LOOPBACK_CONFIG);
	peers = start_peers(net);
	client = pl_test_agent_client(hub);
	g_usleep(G_USEC_PER_SEC); /* let the agents settle after their start */
	rss_base = rss_kib(hub);
	vm_base = proc_kib(pid_of(hub), "status", "VmSize");
	fds_base = fds_of(hub);
	peers_base = peers_rss_kib(peers);
	g_print("hub before: RSS %.1f MiB, %u fds; %d peers %.1f MiB RSS in all\n\n",
	        rss_base / 1024.0, fds_base, n_peers, peers_base / 1024.0);

	/* the idle sessions */
	opener = pl_opener_new(client, peers, PL_OPEN_HOLD);
	start = g_get_monotonic_time();
	run_opener(opener, n_sessions, (guint)window, 0);
	connect_s = (g_get_monotonic_time() - start) / 1e6;
	g_print("opened %u sessions in %.1f s (%.0f/s, %d in flight), %u failed; setup p50 %.1f "
	        "ms, p99 %.1f ms\n",
	        opener->opened, connect_s, opener->opened / connect_s, window, opener->failed,
	        percentile(opener->setup_ms, 0.5), percentile(opener->setup_ms, 0.99));
	if (opener->failed > 0) {
		pl_test_net_dump_logs(net);
		g_error("%u of %u sessions could not be opened", opener->failed, n_sessions);
	}
	for (guint i = 0; i < opener->held->len; i++) {
		if (!echo_once(g_array_index(opener->held, gint, i)))
			g_error("session %u does not echo: %s", i, g_strerror(errno));
	}
	g_print("every stream echoes\n");
	g_usleep(5 * G_USEC_PER_SEC); /* idle: handshakes, nomination, acks all done */
	{
		guint64 rss = rss_kib(hub);
		guint64 vm = proc_kib(pid_of(hub), "status", "VmSize");
		guint fds = fds_of(hub);
		guint64 peers_now = peers_rss_kib(peers);
		gdouble per_session = (gdouble)(rss - rss_base) / n_sessions;

		g_print("hub with %u idle sessions: RSS %.1f MiB (+%.1f KiB per session), VmSize "
		        "+%.0f KiB per session, %u fds (+%.2f per session); peers +%.1f KiB RSS "
		        "per session\n",
		        n_sessions, rss / 1024.0, per_session, (gdouble)(vm - vm_base) / n_sessions,
		        fds, (gdouble)(fds - fds_base) / n_sessions,
		        (gdouble)(peers_now - peers_base) / n_sessions);
		g_print("session-scale: sessions=%u peers=%d connect_s=%.1f rss_base_mib=%.1f "
		        "rss_mib=%.1f rss_per_session_kib=%.1f vm_per_session_kib=%.0f "
		        "fds_per_session=%.2f peer_rss_per_session_kib=%.1f\n\n",
		        n_sessions, n_peers, connect_s, rss_base / 1024.0, rss / 1024.0,
		        per_session, (gdouble)(vm - vm_base) / n_sessions,
		        (gdouble)(fds - fds_base) / n_sessions,
		        (gdouble)(peers_now - peers_base) / n_sessions);
	}
	measure_idle(hub, n_sessions, (guint)idle_seconds, in_namespace);
	g_print("\n");
	if (soak_seconds > 0)
		ok = soak(client, hub, peers, n_sessions, (guint)soak_seconds) && ok;

	/* every idle session closed: back to where the hub started */
	pl_opener_free(opener);
	if (!wait_settled(client, hub, 0, fds_base)) {
		g_printerr("session-scale: the hub still holds sessions or fds after all closed\n");
		ok = FALSE;
	}
	g_print("\nall closed: hub RSS %.1f MiB, %u fds (%u before the first session)\n",
	        rss_kib(hub) / 1024.0, fds_of(hub), fds_base);
	g_clear_object(&client);
	pl_test_net_free(net);
	return ok ? 0 : 1;
}
