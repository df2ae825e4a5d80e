#include "config.h"

#include <glib/gstdio.h>
#include <sys/stat.h>

#include "pl-test-util.h"

void
pl_test_remove_tree(const gchar *path)
{
	GStatBuf st;

	if (g_lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
		const gchar *name;

		g_assert_nonnull(dir);
		while ((name = g_dir_read_name(dir)) != NULL) {
			g_autofree gchar *child = g_build_filename(path, name, NULL);
			pl_test_remove_tree(child);
		}
		g_assert_cmpint(g_rmdir(path), ==, 0);
		return;
	}
	g_assert_cmpint(g_unlink(path), ==, 0);
}

guint
pl_test_count_fds(GPid pid)
{
	g_autofree gchar *path =
	        pid == 0 ? g_strdup("/proc/self/fd") : g_strdup_printf("/proc/%d/fd", (gint)pid);
	g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
	guint n = 0;

	g_assert_nonnull(dir);
	while (g_dir_read_name(dir) != NULL)
		n++;
	return n;
}

guint16
pl_test_pick_free_port(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) address = g_inet_socket_address_new(loopback, 0);
	g_autoptr(GSocketAddress) local = NULL;

	socket = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
	                      &error);
	g_assert_no_error(error);
	g_assert_true(g_socket_bind(socket, address, TRUE, &error));
	g_assert_no_error(error);
	local = g_socket_get_local_address(socket, &error);
	g_assert_no_error(error);
	return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
}

JsonObject *
pl_test_parse_object(const gchar *text)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;

	g_assert_nonnull(text);
	if (!json_parser_load_from_data(parser, text, -1, &error))
		g_error("not JSON (%s): %s", error->message, text);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)));
	return json_object_ref(json_node_get_object(json_parser_get_root(parser)));
}

static gint
compare_doubles(gconstpointer a, gconstpointer b)
{
	gdouble x = *(const gdouble *)a;
	gdouble y = *(const gdouble *)b;

	return x < y ? -1 : x > y;
}

gdouble
pl_test_percentile(GArray *values, gdouble p)
{
	if (values->len == 0)
		return 0;
	g_array_sort(values, compare_doubles);
	return g_array_index(values, gdouble, MIN(values->len - 1, (guint)(p * values->len)));
}

gboolean
pl_test_wake_cb(gpointer user_data)
{
	return G_SOURCE_CONTINUE;
}
