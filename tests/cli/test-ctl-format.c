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

int
main(int argc, char *argv[])
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerlink/ctl/format/duration", test_duration);
	g_test_add_func("/peerlink/ctl/format/table-alignment", test_table_alignment);
	g_test_add_func("/peerlink/ctl/format/table-empty", test_table_empty);
	return g_test_run();
}
