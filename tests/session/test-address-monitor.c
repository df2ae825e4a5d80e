/*
 * The local address list and the rtnetlink address monitor. The list is
 * checked on this host as it is; everything that adds or removes addresses
 * runs in a child process inside a network namespace of its own
 * (unshare(CLONE_NEWNET)), so the host's interfaces are never touched. Those
 * parts need root (CAP_NET_ADMIN) and iproute2's ip, and are skipped without.
 */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <sched.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pl-address-monitor.h"

/* every wait of this test ends by then */
#define WAIT_MS (10 * PL_ADDRESS_MONITOR_SETTLE_MS)

/* Each entry a numeric address (the scope stripped), sorted, unique. */
static void
check_addresses(GPtrArray *addresses, gboolean include_loopback, gboolean include_link_local)
{
	g_assert_nonnull(addresses);
	for (guint i = 0; i < addresses->len; i++) {
		const gchar *text = addresses->pdata[i];
		const gchar *percent = strchr(text, '%');
		g_autofree gchar *bare =
		        g_strndup(text, percent != NULL ? (gsize)(percent - text) : strlen(text));
		g_autoptr(GInetAddress) address = g_inet_address_new_from_string(bare);

		g_assert_nonnull(address);
		if (percent != NULL) {
			/* only IPv6 link-local addresses carry a scope, and never an empty one */
			g_assert_cmpint(g_inet_address_get_family(address), ==,
			                G_SOCKET_FAMILY_IPV6);
			g_assert_true(g_inet_address_get_is_link_local(address));
			g_assert_cmpstr(percent + 1, !=, "");
		} else if (g_inet_address_get_family(address) == G_SOCKET_FAMILY_IPV6) {
			g_assert_false(g_inet_address_get_is_link_local(address));
		}
		if (!include_loopback)
			g_assert_false(g_inet_address_get_is_loopback(address));
		if (!include_link_local)
			g_assert_false(g_inet_address_get_is_link_local(address));
		if (i > 0)
			g_assert_cmpint(strcmp(addresses->pdata[i - 1], text), <, 0);
	}
}

static gboolean
has_address(GPtrArray *addresses, const gchar *text)
{
	return g_ptr_array_find_with_equal_func(addresses, text, g_str_equal, NULL);
}

static void
test_list_host(void)
{
	g_autoptr(GPtrArray) all = pl_local_addresses_get(TRUE, TRUE);

	for (guint flags = 0; flags < 4; flags++) {
		gboolean loopback = (flags & 1) != 0;
		gboolean link_local = (flags & 2) != 0;
		g_autoptr(GPtrArray) addresses = pl_local_addresses_get(loopback, link_local);

		check_addresses(addresses, loopback, link_local);
		/* a narrower list is part of the widest one */
		for (guint i = 0; i < addresses->len; i++)
			g_assert_true(has_address(all, addresses->pdata[i]));
	}
}

/* In a forked child, so that this process keeps its namespace whatever happens. */
static gboolean
can_unshare_network(void)
{
	gint status = 0;
	pid_t pid = fork();

	g_assert_cmpint(pid, >=, 0);
	if (pid == 0)
		_exit(unshare(CLONE_NEWNET) == 0 ? 0 : 1);
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Runs the test in a child process in a network namespace of its own. */
static gboolean
enter_private_namespace(void)
{
	g_autofree gchar *ip = NULL;

	if (g_test_subprocess()) {
		g_assert_cmpint(unshare(CLONE_NEWNET), ==, 0);
		return TRUE;
	}
	ip = g_find_program_in_path("ip");
	if (geteuid() != 0) {
		g_test_skip("needs root for a network namespace of its own");
		return FALSE;
	}
	if (ip == NULL) {
		g_test_skip("needs ip (iproute2)");
		return FALSE;
	}
	if (!can_unshare_network()) {
		g_test_skip("cannot create a network namespace (no CAP_NET_ADMIN?)");
		return FALSE;
	}
	g_test_trap_subprocess(NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
	g_test_trap_assert_passed();
	return FALSE;
}

static gboolean
have_ipv6(void)
{
	return g_file_test("/proc/sys/net/ipv6/conf/lo", G_FILE_TEST_IS_DIR);
}

/* "ip ARGS": the namespace's own interfaces only, since we are inside it */
static void
run_ip(const gchar *args)
{
	g_autofree gchar *command = g_strdup_printf("ip %s", args);
	g_autofree gchar *err = NULL;
	g_auto(GStrv) argv = NULL;
	g_autoptr(GError) error = NULL;
	gint status = 0;

	g_assert_true(g_shell_parse_argv(command, NULL, &argv, &error));
	g_assert_true(g_spawn_sync(NULL, argv, NULL,
	                           G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
	                           NULL, &err, &status, &error));
	g_assert_no_error(error);
	if (!g_spawn_check_wait_status(status, NULL))
		g_error("%s failed: %s", command, err);
}

/* "ip -batch" with the lines of text: many changes in one quick burst */
static void
run_ip_batch(const gchar *text)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *args = NULL;
	gint fd = g_file_open_tmp("test-address-monitor-XXXXXX", &path, &error);

	g_assert_no_error(error);
	close(fd);
	g_assert_true(g_file_set_contents(path, text, -1, &error));
	args = g_strdup_printf("-batch %s", path);
	run_ip(args);
	g_unlink(path);
}

static void
test_list_namespace(void)
{
	g_autoptr(GPtrArray) addresses = NULL;

	if (!enter_private_namespace())
		return;

	/* loopback is down in a new namespace: nothing at all */
	addresses = pl_local_addresses_get(TRUE, TRUE);
	g_assert_cmpuint(addresses->len, ==, 0);
	g_clear_pointer(&addresses, g_ptr_array_unref);

	run_ip("link set lo up");
	addresses = pl_local_addresses_get(TRUE, FALSE);
	check_addresses(addresses, TRUE, FALSE);
	g_assert_true(has_address(addresses, "127.0.0.1"));
	if (have_ipv6())
		g_assert_true(has_address(addresses, "::1"));
	g_clear_pointer(&addresses, g_ptr_array_unref);
	/* loopback only when asked */
	addresses = pl_local_addresses_get(FALSE, TRUE);
	g_assert_cmpuint(addresses->len, ==, 0);
	g_clear_pointer(&addresses, g_ptr_array_unref);

	/* an interface that is down does not count */
	run_ip("link add plmon0 type veth peer name plmon1");
	run_ip("addr add 192.0.2.10/24 dev plmon0");
	addresses = pl_local_addresses_get(TRUE, TRUE);
	g_assert_false(has_address(addresses, "192.0.2.10"));
	g_clear_pointer(&addresses, g_ptr_array_unref);

	run_ip("link set plmon0 up");
	run_ip("link set plmon1 up");
	run_ip("addr add 169.254.7.7/16 dev plmon0");
	/* one address on two interfaces is listed once */
	run_ip("addr add 198.51.100.5/32 dev plmon0");
	run_ip("addr add 198.51.100.5/32 dev plmon1");
	if (have_ipv6()) {
		run_ip("addr add 2001:db8::10/64 dev plmon0 nodad");
		run_ip("addr add fe80::10/64 dev plmon0 nodad");
		/* duplicate address detection takes a second: tentative until then */
		run_ip("addr add 2001:db8::20/64 dev plmon0");
		run_ip("addr add 2001:db8::30/64 dev plmon0 nodad preferred_lft 0");
	}
	addresses = pl_local_addresses_get(FALSE, FALSE);
	check_addresses(addresses, FALSE, FALSE);
	g_assert_true(has_address(addresses, "192.0.2.10"));
	g_assert_true(has_address(addresses, "198.51.100.5"));
	g_assert_false(has_address(addresses, "169.254.7.7"));
	if (have_ipv6()) {
		g_assert_true(has_address(addresses, "2001:db8::10"));
		g_assert_false(has_address(addresses, "2001:db8::20")); /* tentative */
		g_assert_false(has_address(addresses, "2001:db8::30")); /* deprecated */
		g_assert_false(has_address(addresses, "fe80::10%plmon0"));
	}
	g_clear_pointer(&addresses, g_ptr_array_unref);

	addresses = pl_local_addresses_get(FALSE, TRUE);
	check_addresses(addresses, FALSE, TRUE);
	g_assert_true(has_address(addresses, "169.254.7.7"));
	if (have_ipv6())
		g_assert_true(has_address(addresses, "fe80::10%plmon0"));
	g_assert_false(has_address(addresses, "127.0.0.1"));
}

/* the open sockets of this process (the monitor's is a netlink socket) */
static guint
count_sockets(void)
{
	g_autoptr(GDir) dir = g_dir_open("/proc/self/fd", 0, NULL);
	const gchar *name;
	guint n = 0;

	g_assert_nonnull(dir);
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *path = g_build_filename("/proc/self/fd", name, NULL);
		g_autofree gchar *target = g_file_read_link(path, NULL);
		if (target != NULL && g_str_has_prefix(target, "socket:"))
			n++;
	}
	return n;
}

typedef struct {
	guint changes;
	gint64 last_change_us;
} Counter;

static void
changed_cb(PlAddressMonitor *monitor, gpointer user_data)
{
	Counter *counter = user_data;

	counter->changes++;
	counter->last_change_us = g_get_monotonic_time();
}

static gboolean
flag_cb(gpointer user_data)
{
	gboolean *flag = user_data;

	*flag = TRUE;
	return G_SOURCE_REMOVE;
}

/* Iterates context until counter reaches changes or ms pass; the count reached. */
static guint
wait_for_changes(GMainContext *context, Counter *counter, guint changes, guint ms)
{
	gboolean timed_out = FALSE;
	g_autoptr(GSource) timeout = g_timeout_source_new(ms);

	g_source_set_callback(timeout, flag_cb, &timed_out, NULL);
	g_source_attach(timeout, context);
	while (!timed_out && counter->changes < changes)
		g_main_context_iteration(context, TRUE);
	g_source_destroy(timeout);
	return counter->changes;
}

static void
test_monitor(void)
{
	g_autoptr(GMainContext) context = g_main_context_new();
	g_autoptr(PlAddressMonitor) monitor = NULL;
	g_autoptr(GPtrArray) addresses = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) batch = g_string_new(NULL);
	Counter counter = {0};
	guint sockets_before;
	gint64 start;

	if (!enter_private_namespace())
		return;
	run_ip("link set lo up");
	sockets_before = count_sockets();

	/* the monitor lives on the thread-default context of its creator */
	g_main_context_push_thread_default(context);
	monitor = pl_address_monitor_new(&error);
	g_main_context_pop_thread_default(context);
	g_assert_no_error(error);
	g_assert_nonnull(monitor);
	g_assert_cmpuint(count_sockets(), ==, sockets_before + 1);
	g_signal_connect(monitor, "changed", G_CALLBACK(changed_cb), &counter);

	/* nothing happens: nothing reported */
	g_assert_cmpuint(wait_for_changes(context, &counter, 1, 2 * PL_ADDRESS_MONITOR_SETTLE_MS),
	                 ==, 0);

	/* one address: one report, once the change settled */
	start = g_get_monotonic_time();
	run_ip("addr add 192.0.2.1/32 dev lo");
	g_assert_cmpuint(wait_for_changes(context, &counter, 1, WAIT_MS), ==, 1);
	g_assert_cmpint(counter.last_change_us - start, >=, PL_ADDRESS_MONITOR_SETTLE_MS * 1000);
	addresses = pl_local_addresses_get(TRUE, FALSE);
	g_assert_true(has_address(addresses, "192.0.2.1"));
	g_clear_pointer(&addresses, g_ptr_array_unref);

	/* a burst of twenty: one report */
	for (guint i = 2; i < 22; i++)
		g_string_append_printf(batch, "addr add 192.0.2.%u/32 dev lo\n", i);
	run_ip_batch(batch->str);
	g_assert_cmpuint(wait_for_changes(context, &counter, 2, WAIT_MS), ==, 2);
	g_assert_cmpuint(wait_for_changes(context, &counter, 3, 2 * PL_ADDRESS_MONITOR_SETTLE_MS),
	                 ==, 2);

	/* a removal */
	run_ip("addr del 192.0.2.1/32 dev lo");
	g_assert_cmpuint(wait_for_changes(context, &counter, 3, WAIT_MS), ==, 3);
	addresses = pl_local_addresses_get(TRUE, FALSE);
	g_assert_false(has_address(addresses, "192.0.2.1"));
	g_clear_pointer(&addresses, g_ptr_array_unref);

	/* the kernel announces a refreshed address, but nothing changed */
	run_ip("addr replace 192.0.2.2/32 dev lo");
	g_assert_cmpuint(wait_for_changes(context, &counter, 4, 3 * PL_ADDRESS_MONITOR_SETTLE_MS),
	                 ==, 3);

	/* far more notifications than the socket buffer holds (ENOBUFS): one report */
	g_string_truncate(batch, 0);
	for (guint i = 0; i < 2000; i++)
		g_string_append_printf(batch, "addr add 198.18.%u.%u/32 dev lo\n", i / 250,
		                       i % 250 + 1);
	run_ip_batch(batch->str);
	g_assert_cmpuint(wait_for_changes(context, &counter, 4, WAIT_MS), ==, 4);
	g_assert_cmpuint(wait_for_changes(context, &counter, 5, 2 * PL_ADDRESS_MONITOR_SETTLE_MS),
	                 ==, 4);

	/* a change pending at dispose: no report, no source, no descriptor left */
	run_ip("addr add 192.0.2.100/32 dev lo");
	g_main_context_iteration(context, FALSE);
	g_clear_object(&monitor);
	g_assert_cmpuint(count_sockets(), ==, sockets_before);
	g_assert_cmpuint(wait_for_changes(context, &counter, 5, 2 * PL_ADDRESS_MONITOR_SETTLE_MS),
	                 ==, 4);
	g_assert_false(g_main_context_pending(context));
}

static void
test_monitor_default_context(void)
{
	g_autoptr(PlAddressMonitor) monitor = NULL;
	g_autoptr(GError) error = NULL;
	Counter counter = {0};

	if (!enter_private_namespace())
		return;
	run_ip("link set lo up");
	monitor = pl_address_monitor_new(&error);
	g_assert_no_error(error);
	g_signal_connect(monitor, "changed", G_CALLBACK(changed_cb), &counter);
	if (have_ipv6())
		run_ip("addr add 2001:db8::1/128 dev lo");
	else
		run_ip("addr add 192.0.2.1/32 dev lo");
	g_assert_cmpuint(wait_for_changes(NULL, &counter, 1, WAIT_MS), ==, 1);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerlink/session/address-monitor/list-host", test_list_host);
	g_test_add_func("/peerlink/session/address-monitor/list-namespace", test_list_namespace);
	g_test_add_func("/peerlink/session/address-monitor/monitor", test_monitor);
	g_test_add_func("/peerlink/session/address-monitor/default-context",
	                test_monitor_default_context);
	return g_test_run();
}
