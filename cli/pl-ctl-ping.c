#include "config.h"

#include <glib/gi18n.h>

#include "pl-ctl.h"
#include "pl-ipc-params.h"

#define PING_MAX_COUNT 100

/* "AXPI7DZ…": enough of a peer ID to recognize it in a summary */
static gchar *
short_peer(const gchar *peer)
{
	if (g_utf8_strlen(peer, -1) <= 7)
		return g_strdup(peer);
	return g_strdup_printf("%.7s…", peer);
}

static void
print_result(JsonObject *result, const gchar *requested_peer)
{
	const gchar *peer = pl_ipc_json_get_string(result, "peer");
	const gchar *path = pl_ipc_json_get_string(result, "path");
	JsonNode *node = json_object_get_member(result, "rtt_ms");
	JsonArray *rtt =
	        node != NULL && JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
	guint n = rtt != NULL ? json_array_get_length(rtt) : 0;
	g_autofree gchar *shown = short_peer(peer != NULL ? peer : requested_peer);
	gdouble min = G_MAXDOUBLE, max = 0, sum = 0;

	if (path == NULL)
		path = "?";
	for (guint i = 0; i < n; i++) {
		gdouble value = json_array_get_double_element(rtt, i);
		/* TRANSLATORS: one round trip: the peer, the sequence number, the time */
		g_print(_("reply from %s: seq=%u time=%.3f ms\n"), shown, i + 1, value);
		min = MIN(min, value);
		max = MAX(max, value);
		sum += value;
	}
	if (n == 0) {
		g_print(_("no replies from %s via %s\n"), shown, path);
		return;
	}
	/* TRANSLATORS: "3 replies from AXPI7DZ… via rendezvous: min/avg/max 0.4/0.5/0.7 ms" */
	g_print(g_dngettext(GETTEXT_PACKAGE,
	                    "%u reply from %s via %s: min/avg/max %.1f/%.1f/%.1f ms\n",
	                    "%u replies from %s via %s: min/avg/max %.1f/%.1f/%.1f ms\n", n),
	        n, shown, path, min, sum / n, max);
}

gint
pl_ctl_ping(PlCtl *ctl, const PlCtlCommand *command, gint argc, gchar **argv)
{
	gint count = 1;
	const GOptionEntry entries[] = {
	        {"count", 'c', G_OPTION_FLAG_NONE, G_OPTION_ARG_INT, &count,
	         N_("Send N pings, one after the other (1 to 100, default 1)"), N_("N")},
	        {NULL},
	};
	g_autoptr(JsonObject) params = json_object_new();
	g_autoptr(JsonObject) result = NULL;
	g_autoptr(GError) error = NULL;
	gint exit_code = PL_CTL_EXIT_OK;

	if (!pl_ctl_parse_command_options(ctl, command, entries, 1, &argc, &argv, &exit_code))
		return exit_code;
	if (count < 1 || count > PING_MAX_COUNT) {
		g_printerr(_("peerlinkctl %s: --count must be between 1 and %d\n"), command->name,
		           PING_MAX_COUNT);
		return PL_CTL_EXIT_USAGE;
	}
	json_object_set_string_member(params, "peer", argv[1]);
	json_object_set_int_member(params, "count", count);
	result = pl_ctl_call(ctl, "rendezvous-ping", params, NULL, &error);
	if (result == NULL) {
		gint status = pl_ctl_fail(ctl, error);
		/* a peer ID that is not one is the caller's mistake */
		if (g_error_matches(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_PARAMS))
			return PL_CTL_EXIT_USAGE;
		return status;
	}
	if (ctl->json)
		pl_ctl_print_json(result);
	else
		print_result(result, argv[1]);
	return PL_CTL_EXIT_OK;
}
