#include "config.h"

#include <glib/gi18n.h>

#include "pl-ctl-format.h"
#include "pl-ctl.h"
#include "pl-ipc-params.h"

enum {
	COLUMN_ID,
	COLUMN_PEER,
	COLUMN_SERVICE,
	COLUMN_DIRECTION,
	COLUMN_STATE,
	COLUMN_PATH,
	COLUMN_LOCAL,
	COLUMN_REMOTE,
	COLUMN_SENT,
	COLUMN_RECEIVED,
	COLUMN_AGE,
	N_COLUMNS,
};

#define HEADER_CONTEXT "sessions column"

/* the headers, short as ps(1) has them; the context keeps them apart from the option
 * arguments "DIR", "PATH" and "PEER" */
static const gchar *const headers[N_COLUMNS] = {
        NC_("sessions column", "ID"),      NC_("sessions column", "PEER"),
        NC_("sessions column", "SERVICE"), NC_("sessions column", "DIR"),
        NC_("sessions column", "STATE"),   NC_("sessions column", "PATH"),
        NC_("sessions column", "LOCAL"),   NC_("sessions column", "REMOTE"),
        NC_("sessions column", "SENT"),    NC_("sessions column", "RECEIVED"),
        NC_("sessions column", "AGE"),
};

static gchar *
describe_size(JsonObject *session, const gchar *key)
{
	gint64 bytes;

	if (!pl_ipc_json_get_int(session, key, &bytes) || bytes < 0)
		return g_strdup("?");
	return pl_ctl_format_size((guint64)bytes);
}

static const gchar *
describe_direction(const gchar *direction)
{
	if (g_strcmp0(direction, "outgoing") == 0)
		return "out";
	if (g_strcmp0(direction, "incoming") == 0)
		return "in";
	return direction != NULL ? direction : "?";
}

static void
add_session(PlCtlGrid *grid, JsonObject *session)
{
	gint64 id = -1, age_s = -1;
	g_autofree gchar *id_text = NULL;
	g_autofree gchar *peer = pl_ctl_format_short_peer(pl_ipc_json_get_string(session, "peer"));
	g_autofree gchar *local =
	        pl_ctl_json_describe_candidate(session, "local_candidate", "-", TRUE);
	g_autofree gchar *remote =
	        pl_ctl_json_describe_candidate(session, "remote_candidate", "-", TRUE);
	g_autofree gchar *sent = describe_size(session, "bytes_sent");
	g_autofree gchar *received = describe_size(session, "bytes_received");
	g_autofree gchar *age = NULL;
	const gchar *service = pl_ipc_json_get_string(session, "service");
	const gchar *state = pl_ipc_json_get_string(session, "state");
	const gchar *path = pl_ipc_json_get_string(session, "path");
	const gchar *cells[N_COLUMNS];

	id_text = pl_ipc_json_get_int(session, "id", &id) ? g_strdup_printf("%" G_GINT64_FORMAT, id)
	                                                  : g_strdup("?");
	pl_ipc_json_get_int(session, "age_s", &age_s);
	age = pl_ctl_format_duration(age_s);
	cells[COLUMN_ID] = id_text;
	cells[COLUMN_PEER] = peer;
	cells[COLUMN_SERVICE] = service != NULL ? service : "?";
	cells[COLUMN_DIRECTION] = describe_direction(pl_ipc_json_get_string(session, "direction"));
	cells[COLUMN_STATE] = state != NULL ? state : "?";
	cells[COLUMN_PATH] = path != NULL ? path : "-";
	cells[COLUMN_LOCAL] = local;
	cells[COLUMN_REMOTE] = remote;
	cells[COLUMN_SENT] = sent;
	cells[COLUMN_RECEIVED] = received;
	cells[COLUMN_AGE] = age;
	pl_ctl_grid_add_row(grid, cells);
}

/* "why am I relayed?": the agent's explanation under the table */
static void
explain_relayed(JsonArray *sessions)
{
	for (guint i = 0; i < json_array_get_length(sessions); i++) {
		JsonNode *node = json_array_get_element(sessions, i);
		JsonObject *session =
		        JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
		JsonObject *candidates = pl_ctl_json_get_object(session, "candidates");
		const gchar *explanation = NULL;
		gint64 id = 0;

		if (candidates == NULL ||
		    g_strcmp0(pl_ipc_json_get_string(session, "path"), "relay") != 0)
			continue;
		explanation = pl_ipc_json_get_string(candidates, "explanation");
		if (explanation == NULL)
			continue;
		pl_ipc_json_get_int(session, "id", &id);
		/* TRANSLATORS: "session 3: relayed: the peer sent no public (srflx) candidate …" */
		g_print(_("session %d: %s\n"), (gint)id, explanation);
	}
}

/* One line per session under a header; nothing for no sessions. */
void
pl_ctl_print_sessions(JsonArray *sessions)
{
	g_autoptr(PlCtlGrid) grid = pl_ctl_grid_new(N_COLUMNS);
	g_autofree gchar *text = NULL;
	const gchar *header[N_COLUMNS];

	for (guint i = 0; i < N_COLUMNS; i++)
		header[i] = g_dpgettext2(GETTEXT_PACKAGE, HEADER_CONTEXT, headers[i]);
	pl_ctl_grid_add_row(grid, header);
	pl_ctl_grid_set_right_aligned(grid, COLUMN_ID, TRUE);
	pl_ctl_grid_set_right_aligned(grid, COLUMN_SENT, TRUE);
	pl_ctl_grid_set_right_aligned(grid, COLUMN_RECEIVED, TRUE);
	pl_ctl_grid_set_right_aligned(grid, COLUMN_AGE, TRUE);
	for (guint i = 0; sessions != NULL && i < json_array_get_length(sessions); i++) {
		JsonNode *node = json_array_get_element(sessions, i);
		if (JSON_NODE_HOLDS_OBJECT(node))
			add_session(grid, json_node_get_object(node));
	}
	if (pl_ctl_grid_get_n_rows(grid) < 2)
		return;
	text = pl_ctl_grid_render(grid);
	g_print("%s", text);
	explain_relayed(sessions);
}

gint
pl_ctl_sessions(PlCtl *ctl, const PlCtlCommand *command, gint argc, gchar **argv)
{
	g_autoptr(JsonObject) result = NULL;
	g_autoptr(GError) error = NULL;
	gint exit_code = PL_CTL_EXIT_OK;
	JsonArray *sessions;

	if (!pl_ctl_parse_command_options(ctl, command, NULL, 0, &argc, &argv, &exit_code))
		return exit_code;
	result = pl_ctl_call(ctl, "sessions", NULL, NULL, &error);
	if (result == NULL)
		return pl_ctl_fail(ctl, error);
	if (ctl->json) {
		pl_ctl_print_json(result);
		return PL_CTL_EXIT_OK;
	}
	sessions = pl_ctl_json_get_array(result, "sessions");
	if (sessions == NULL || json_array_get_length(sessions) == 0)
		g_print(_("No sessions.\n"));
	else
		pl_ctl_print_sessions(sessions);
	return PL_CTL_EXIT_OK;
}

gint
pl_ctl_close(PlCtl *ctl, const PlCtlCommand *command, gint argc, gchar **argv)
{
	g_autoptr(JsonObject) params = json_object_new();
	gint exit_code = PL_CTL_EXIT_OK;
	guint64 id;

	if (!pl_ctl_parse_command_options(ctl, command, NULL, 1, &argc, &argv, &exit_code))
		return exit_code;
	if (!g_ascii_string_to_unsigned(argv[1], 10, 0, G_MAXINT64, &id, NULL)) {
		g_printerr(
		        _("peerlinkctl %s: “%s” is not a session ID (see peerlinkctl sessions)\n"),
		        command->name, argv[1]);
		return PL_CTL_EXIT_USAGE;
	}
	json_object_set_int_member(params, "session", (gint64)id);
	return pl_ctl_request(ctl, "close", params, NULL, NULL);
}
