#include "config.h"

#include <glib/gi18n.h>

#include "pl-ctl-format.h"
#include "pl-ctl.h"
#include "pl-ipc-params.h"

#define NETCHECK_MAX_TIMEOUT_S 30

static const gchar *
string_or(JsonObject *object, const gchar *key, const gchar *fallback)
{
	const gchar *value = pl_ipc_json_get_string(object, key);

	return value != NULL ? value : fallback;
}

static gboolean
get_boolean(JsonObject *object, const gchar *key)
{
	JsonNode *node = object != NULL ? json_object_get_member(object, key) : NULL;

	return node != NULL && JSON_NODE_HOLDS_VALUE(node) &&
	       json_node_get_value_type(node) == G_TYPE_BOOLEAN && json_node_get_boolean(node);
}

/* "available, external 198.51.100.1" or "not found" */
static gchar *
describe_gateway(JsonObject *gateway)
{
	if (!get_boolean(gateway, "available"))
		return g_strdup(_("not found"));
	return g_strdup_printf(_("available, external address %s"),
	                       string_or(gateway, "external_address", "?"));
}

static gchar *
describe_turn(JsonObject *turn)
{
	gdouble rtt_ms = 0;

	if (!get_boolean(turn, "reachable"))
		return g_strdup_printf(_("%s: unreachable (%s)"), string_or(turn, "server", "?"),
		                       string_or(turn, "error", _("no answer")));
	pl_ctl_json_get_number(turn, "rtt_ms", &rtt_ms);
	return g_strdup_printf(_("%s: reachable in %.2f ms, relay %s"),
	                       string_or(turn, "server", "?"), rtt_ms,
	                       string_or(turn, "relayed_address", "?"));
}

static void
print_report(JsonObject *report, gpointer user_data)
{
	g_autoptr(PlCtlTable) table = pl_ctl_table_new();
	g_autofree gchar *udp = NULL;
	g_autofree gchar *upnp = describe_gateway(pl_ctl_json_get_object(report, "upnp"));
	g_autofree gchar *natpmp = describe_gateway(pl_ctl_json_get_object(report, "natpmp"));
	g_autofree gchar *text = NULL;
	JsonArray *turn = pl_ctl_json_get_array(report, "turn");
	guint n_turn = turn != NULL ? json_array_get_length(turn) : 0;

	if (get_boolean(report, "udp"))
		udp = g_strdup_printf(_("works (STUN server %s)"),
		                      string_or(report, "stun_server", _("none")));
	else
		udp = g_strdup(_("no answer over UDP"));
	pl_ctl_table_add(table, _("UDP"), udp);
	pl_ctl_table_add(table, _("Public IPv4"), string_or(report, "public_ipv4", "—"));
	pl_ctl_table_add(table, _("Public IPv6"), string_or(report, "public_ipv6", "—"));
	pl_ctl_table_add(table, _("NAT mapping"), string_or(report, "mapping", "unknown"));
	pl_ctl_table_add(table, _("NAT filtering"), string_or(report, "filtering", "unknown"));
	pl_ctl_table_add(table, _("UPnP-IGD"), upnp);
	pl_ctl_table_add(table, _("NAT-PMP"), natpmp);
	for (guint i = 0; i < n_turn; i++) {
		g_autofree gchar *line = describe_turn(json_array_get_object_element(turn, i));
		pl_ctl_table_add(table, i == 0 ? _("TURN") : "", line);
	}
	if (n_turn == 0)
		pl_ctl_table_add(table, _("TURN"), _("no TURN server configured"));
	pl_ctl_table_add(table, _("Verdict"), string_or(report, "verdict", "?"));
	text = pl_ctl_table_render(table);
	g_print("%s", text);
}

gint
pl_ctl_netcheck(PlCtl *ctl, const PlCtlCommand *command, gint argc, gchar **argv)
{
	gint timeout_s = 3;
	const GOptionEntry entries[] = {
	        {"timeout", 't', G_OPTION_FLAG_NONE, G_OPTION_ARG_INT, &timeout_s,
	         N_("Give each probe SECONDS to answer (1 to 30, default 3)"), N_("SECONDS")},
	        {NULL},
	};
	g_autoptr(JsonObject) params = json_object_new();
	gint exit_code = PL_CTL_EXIT_OK;

	if (!pl_ctl_parse_command_options(ctl, command, entries, 0, &argc, &argv, &exit_code))
		return exit_code;
	if (timeout_s < 1 || timeout_s > NETCHECK_MAX_TIMEOUT_S) {
		g_printerr(_("peerlinkctl %s: --timeout must be between 1 and %d\n"), command->name,
		           NETCHECK_MAX_TIMEOUT_S);
		return PL_CTL_EXIT_USAGE;
	}
	json_object_set_int_member(params, "timeout_ms", (gint64)timeout_s * 1000);
	return pl_ctl_request(ctl, "netcheck", params, print_report, NULL);
}
