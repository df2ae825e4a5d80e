#include "config.h"

#include <glib/gi18n.h>

#include "pl-ctl-format.h"
#include "pl-ctl.h"
#include "pl-ipc-params.h"

static const gchar *
member_string(JsonObject *object, const gchar *key, const gchar *fallback)
{
	JsonNode *node = object != NULL ? json_object_get_member(object, key) : NULL;

	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING)
		return fallback;
	return json_node_get_string(node);
}

static JsonObject *
member_object(JsonObject *object, const gchar *key)
{
	JsonNode *node = json_object_get_member(object, key);

	return node != NULL && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
}

static gchar *
describe_rendezvous(JsonObject *status)
{
	JsonObject *rendezvous = member_object(status, "rendezvous");
	const gchar *state = member_string(rendezvous, "state", "?");
	const gchar *url = member_string(rendezvous, "url", NULL);

	const gchar *last_error = member_string(rendezvous, "last_error", NULL);
	gint64 next_attempt_s = -1;

	if (url == NULL)
		return g_strdup(_("not configured"));
	if (g_strcmp0(state, "connected") == 0)
		return g_strdup_printf(_("%s (connected)"), url);
	if (g_strcmp0(state, "connecting") == 0)
		return g_strdup_printf(_("%s (connecting)"), url);
	if (g_strcmp0(state, "backing-off") == 0) {
		g_autofree gchar *when = NULL;
		if (rendezvous != NULL)
			pl_ipc_json_get_int(rendezvous, "next_attempt_s", &next_attempt_s);
		when = pl_ctl_format_duration(MAX(next_attempt_s, 0));
		if (last_error != NULL)
			/* TRANSLATORS: "https://… (backing off, next try in 4 s: <error>)" */
			return g_strdup_printf(_("%s (backing off, next try in %s: %s)"), url, when,
			                       last_error);
		return g_strdup_printf(_("%s (backing off, next try in %s)"), url, when);
	}
	return g_strdup_printf("%s (%s)", url, state);
}

static gchar *
describe_sessions(JsonObject *status)
{
	JsonNode *node = json_object_get_member(status, "sessions");
	guint n = node != NULL && JSON_NODE_HOLDS_ARRAY(node)
	                  ? json_array_get_length(json_node_get_array(node))
	                  : 0;

	if (n == 0)
		return g_strdup(_("none"));
	return g_strdup_printf(g_dngettext(GETTEXT_PACKAGE, "%u session", "%u sessions", n), n);
}

static void
print_status(JsonObject *status)
{
	g_autoptr(PlCtlTable) table = pl_ctl_table_new();
	g_autofree gchar *uptime = NULL;
	g_autofree gchar *rendezvous = describe_rendezvous(status);
	g_autofree gchar *sessions = describe_sessions(status);
	JsonArray *list = pl_ctl_json_get_array(status, "sessions");
	g_autofree gchar *text = NULL;
	const gchar *nat = member_string(member_object(status, "nat"), "summary", "unknown");
	gint64 uptime_s = -1;

	pl_ipc_json_get_int(status, "uptime_s", &uptime_s);
	uptime = pl_ctl_format_duration(uptime_s);
	pl_ctl_table_add(table, _("Version"), member_string(status, "version", "?"));
	pl_ctl_table_add(table, _("Peer ID"), member_string(status, "peer_id", "?"));
	pl_ctl_table_add(table, _("Uptime"), uptime);
	pl_ctl_table_add(table, _("Socket"), member_string(status, "socket", "?"));
	pl_ctl_table_add(table, _("Rendezvous"), rendezvous);
	pl_ctl_table_add(table, _("NAT"),
	                 g_strcmp0(nat, "unknown") == 0 ? _("not checked yet") : nat);
	pl_ctl_table_add(table, _("Sessions"), sessions);
	text = pl_ctl_table_render(table);
	g_print("%s", text);
	if (list != NULL && json_array_get_length(list) > 0) {
		g_print("\n");
		pl_ctl_print_sessions(list);
	}
}

gint
pl_ctl_status(PlCtl *ctl, const PlCtlCommand *command, gint argc, gchar **argv)
{
	g_autoptr(JsonObject) status = NULL;
	g_autoptr(GError) error = NULL;
	gint exit_code = PL_CTL_EXIT_OK;

	if (!pl_ctl_parse_command_options(ctl, command, NULL, 0, &argc, &argv, &exit_code))
		return exit_code;
	status = pl_ctl_call(ctl, "status", NULL, NULL, &error);
	if (status == NULL)
		return pl_ctl_fail(ctl, error);
	if (ctl->json)
		pl_ctl_print_json(status);
	else
		print_status(status);
	return PL_CTL_EXIT_OK;
}

gint
pl_ctl_id(PlCtl *ctl, const PlCtlCommand *command, gint argc, gchar **argv)
{
	g_autoptr(JsonObject) status = NULL;
	g_autoptr(JsonObject) result = json_object_new();
	g_autoptr(GError) error = NULL;
	gint exit_code = PL_CTL_EXIT_OK;
	const gchar *peer_id;

	if (!pl_ctl_parse_command_options(ctl, command, NULL, 0, &argc, &argv, &exit_code))
		return exit_code;
	status = pl_ctl_call(ctl, "status", NULL, NULL, &error);
	if (status == NULL)
		return pl_ctl_fail(ctl, error);
	peer_id = member_string(status, "peer_id", NULL);
	if (peer_id == NULL) {
		g_set_error_literal(&error, PL_IPC_ERROR, PL_IPC_ERROR_FAILED,
		                    _("the agent did not report a peer ID"));
		return pl_ctl_fail(ctl, error);
	}
	if (ctl->json) {
		json_object_set_string_member(result, "peer_id", peer_id);
		pl_ctl_print_json(result);
	} else {
		g_print("%s\n", peer_id);
	}
	return PL_CTL_EXIT_OK;
}
