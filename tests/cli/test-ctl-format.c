#include "config.h"

#include <glib.h>

#include "pl-ctl-format.h"

static void
test_duration(void)
{
	const struct {
		gint64 seconds;
		const gchar *text;
	} cases[] = {
	        {0, "0 s"},          {59, "59 s"},
	        {60, "1 min 0 s"},   {3599, "59 min 59 s"},
	        {3600, "1 h 0 min"}, {86399, "23 h 59 min"},
	        {86400, "1 d 0 h"},  {90061, "1 d 1 h"},
	        {-5, "?"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *text = pl_ctl_format_duration(cases[i].seconds);
		g_assert_cmpstr(text, ==, cases[i].text);
	}
}

static void
test_table_alignment(void)
{
	g_autoptr(PlCtlTable) table = pl_ctl_table_new();
	g_autofree gchar *text = NULL;

	pl_ctl_table_add(table, "ID", "x");
	pl_ctl_table_add(table, "Rendezvous", "y");
	pl_ctl_table_add(table, "Größe", "z"); /* widths count characters, not bytes */
	text = pl_ctl_table_render(table);
	g_assert_cmpstr(text, ==,
	                "ID          x\n"
	                "Rendezvous  y\n"
	                "Größe       z\n");
}

static void
test_table_empty(void)
{
	g_autoptr(PlCtlTable) table = pl_ctl_table_new();
	g_autofree gchar *text = pl_ctl_table_render(table);

	g_assert_cmpstr(text, ==, "");
}

static void
test_size(void)
{
	const struct {
		guint64 bytes;
		const gchar *text;
	} cases[] = {
	        {0, "0 B"},
	        {1023, "1023 B"},
	        {1024, "1.0 KiB"},
	        {1536, "1.5 KiB"},
	        {10188, "9.9 KiB"},
	        {10189, "10 KiB"}, /* 9.95 KiB: no "10.0" */
	        {65536, "64 KiB"},
	        {1047552, "1023 KiB"},
	        {1048064, "1.0 MiB"}, /* 1023.5 KiB rounds up a unit, not to "1024 KiB" */
	        {1048576, "1.0 MiB"},
	        {3 * 1048576 + 209715, "3.2 MiB"},
	        {G_GUINT64_CONSTANT(5) << 30, "5.0 GiB"},
	        {G_MAXUINT64, "16 EiB"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *text = pl_ctl_format_size(cases[i].bytes);
		g_assert_cmpstr(text, ==, cases[i].text);
	}
}

static void
test_ms(void)
{
	const struct {
		gdouble ms;
		const gchar *text;
	} cases[] = {
	        {0.42, "0.42 ms"},  {0.0, "0 ms"},     {23, "23 ms"},     {23.44, "23.4 ms"},
	        {9.999, "10.0 ms"}, {150.6, "151 ms"}, {1500, "1500 ms"}, {-1, "?"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *text = pl_ctl_format_ms(cases[i].ms);
		g_assert_cmpstr(text, ==, cases[i].text);
	}
}

static void
test_short_peer(void)
{
	const struct {
		const gchar *peer;
		const gchar *text;
	} cases[] = {
	        {"KGWHMXT-3IPK4FC-INQRVTS-AMDUWRE-GNHUWE6-KXIZ2IT-FSC2YHU-FULZ6LJ", "KGWHMXT…"},
	        {"ABCDEFGHIJ", "ABCDEFG…"},
	        {"ABC", "ABC"},
	        {"", "?"},
	        {NULL, "?"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *text = pl_ctl_format_short_peer(cases[i].peer);
		g_assert_cmpstr(text, ==, cases[i].text);
	}
}

static void
test_candidate(void)
{
	g_autofree gchar *host = pl_ctl_format_candidate("host", "10.0.0.2", 40000, "udp", FALSE);
	g_autofree gchar *srflx =
	        pl_ctl_format_candidate("srflx", "203.0.113.5", 51000, "udp", TRUE);
	g_autofree gchar *v6 = pl_ctl_format_candidate("relay", "2001:db8::1", 3478, "tcp", TRUE);
	g_autofree gchar *unknown = pl_ctl_format_candidate(NULL, NULL, 0, NULL, FALSE);

	g_assert_cmpstr(host, ==, "host 10.0.0.2:40000 udp");
	g_assert_cmpstr(srflx, ==, "srflx 203.0.113.5:51000/udp");
	g_assert_cmpstr(v6, ==, "relay [2001:db8::1]:3478/tcp");
	g_assert_cmpstr(unknown, ==, "? ? ?");
}

static void
test_grid(void)
{
	g_autoptr(PlCtlGrid) grid = pl_ctl_grid_new(4);
	g_autofree gchar *text = NULL;

	pl_ctl_grid_set_right_aligned(grid, 0, TRUE);
	pl_ctl_grid_set_right_aligned(grid, 2, TRUE);
	pl_ctl_grid_add_row(grid, (const gchar *[]){"ID", "PEER", "SENT", "AGE"});
	pl_ctl_grid_add_row(grid, (const gchar *[]){"1", "KGWHMXT…", "1.5 KiB", "3 s"});
	pl_ctl_grid_add_row(grid, (const gchar *[]){"12", "Ä", "0 B", NULL});
	g_assert_cmpuint(pl_ctl_grid_get_n_rows(grid), ==, 3);
	text = pl_ctl_grid_render(grid);
	/* widths in characters; no blanks at the ends of lines */
	g_assert_cmpstr(text, ==,
	                "ID  PEER         SENT  AGE\n"
	                " 1  KGWHMXT…  1.5 KiB  3 s\n"
	                "12  Ä             0 B\n");
}

int
main(int argc, char *argv[])
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerlink/ctl/format/duration", test_duration);
	g_test_add_func("/peerlink/ctl/format/table-alignment", test_table_alignment);
	g_test_add_func("/peerlink/ctl/format/table-empty", test_table_empty);
	g_test_add_func("/peerlink/ctl/format/size", test_size);
	g_test_add_func("/peerlink/ctl/format/ms", test_ms);
	g_test_add_func("/peerlink/ctl/format/short-peer", test_short_peer);
	g_test_add_func("/peerlink/ctl/format/candidate", test_candidate);
	g_test_add_func("/peerlink/ctl/format/grid", test_grid);
	return g_test_run();
}
