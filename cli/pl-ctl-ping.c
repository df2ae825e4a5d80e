#include "config.h"

#include <glib/gi18n.h>

#include "pl-ctl-format.h"
#include "pl-ctl.h"
#include "pl-ipc-params.h"

#define PING_MAX_COUNT       100
#define PING_DEFAULT_COUNT   4 /* as the agent's default */
#define PING_MAX_TIMEOUT_S   300
#define PING_DEFAULT_TIMEOUT 30

/* what both pings send: the peer and --count, checked; NULL after a usage message */
static JsonObject *
ping_params(const PlCtlCommand *command, const gchar *peer, gint count)
{
	JsonObject *params;

	if (count < 1 || count > PING_MAX_COUNT) {
		g_printerr(_("peerlinkctl %s: --count must be between 1 and %d\n"), command->name,
		           PING_MAX_COUNT);
		return NULL;
	}
	params = json_object_new();
	json_object_set_string_member(params, "peer", peer);
	json_object_set_int_member(params, "count", count);
	return params;
}

/* rendezvous-ping: the round trip through the rendezvous service */

static void
print_rendezvous_result(JsonObject *result, gpointer user_data)
{
	const gchar *requested_peer = user_data;
	const gchar *peer = pl_ipc_json_get_string(result, "peer");
	const gchar *path = pl_ipc_json_get_string(result, "path");
	JsonNode *node = json_object_get_member(result, "rtt_ms");
	JsonArray *rtt =
	        node != NULL && JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
	guint n = rtt != NULL ? json_array_get_length(rtt) : 0;
	g_autofree gchar *shown = pl_ctl_format_short_peer(peer != NULL ? peer : requested_peer);
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
pl_ctl_rendezvous_ping(PlCtl *ctl, const PlCtlCommand *command, gint argc, gchar **argv)
{
	gint count = 1;
	const GOptionEntry entries[] = {
	        {"count", 'c', G_OPTION_FLAG_NONE, G_OPTION_ARG_INT, &count,
	         N_("Send N pings, one after the other (1 to 100, default 1)"), N_("N")},
	        {NULL},
	};
	g_autoptr(JsonObject) params = NULL;
	gint exit_code = PL_CTL_EXIT_OK;

	if (!pl_ctl_parse_command_options(ctl, command, entries, 1, &argc, &argv, &exit_code))
		return exit_code;
	params = ping_params(command, argv[1], count);
	if (params == NULL)
		return PL_CTL_EXIT_USAGE;
	/* a peer ID that is not one is the caller's mistake */
	return pl_ctl_request(ctl, "rendezvous-ping", params, print_rendezvous_result, argv[1]);
}

/* ping: the round trip over a session, on the path ICE chose */

/* "rtt 0.42 ms (min/median/max 0.40/0.42/0.51 ms)" from rtt_ms (the median) and its samples */
static gchar *
describe_rtt(JsonObject *result)
{
	JsonArray *samples = pl_ctl_json_get_array(result, "rtt_ms_samples");
	g_autofree gchar *rtt = NULL;
	gdouble median = -1;
	gdouble min = G_MAXDOUBLE;
	gdouble max = -G_MAXDOUBLE;
	guint n = 0;

	for (guint i = 0; samples != NULL && i < json_array_get_length(samples); i++) {
		JsonNode *node = json_array_get_element(samples, i);
		gdouble value;
		if (!JSON_NODE_HOLDS_VALUE(node) ||
		    (json_node_get_value_type(node) != G_TYPE_DOUBLE &&
		     json_node_get_value_type(node) != G_TYPE_INT64))
			continue;
		value = json_node_get_double(node);
		min = MIN(min, value);
		max = MAX(max, value);
		n++;
	}
	pl_ctl_json_get_number(result, "rtt_ms", &median);
	rtt = pl_ctl_format_ms(median);
	if (n < 2)
		/* TRANSLATORS: "rtt 0.42 ms" */
		return g_strdup_printf(_("rtt %s"), rtt);
	/* TRANSLATORS: "rtt 0.42 ms (min/median/max 0.40/0.42/0.51 ms)" */
	return g_strdup_printf(_("rtt %s (min/median/max %.2f/%.2f/%.2f ms)"), rtt, min, median,
	                       max);
}

/* "why: relayed: the peer sent no public (srflx) candidate …" and what each side had */
static void
print_explanation(JsonObject *candidates)
{
	const gchar *explanation =
	        candidates != NULL ? pl_ipc_json_get_string(candidates, "explanation") : NULL;
	const gchar *sides[] = {"local", "remote"};

	if (explanation == NULL)
		return;
	/* TRANSLATORS: why the path is direct or relayed, in the agent's words */
	g_print(_("  why: %s\n"), explanation);
	for (guint i = 0; i < G_N_ELEMENTS(sides); i++) {
		JsonObject *counts = pl_ctl_json_get_object(candidates, sides[i]);
		gint64 host = 0, srflx = 0, prflx = 0, relay = 0;

		if (counts == NULL)
			continue;
		pl_ipc_json_get_int(counts, "host", &host);
		pl_ipc_json_get_int(counts, "srflx", &srflx);
		pl_ipc_json_get_int(counts, "prflx", &prflx);
		pl_ipc_json_get_int(counts, "relay", &relay);
		g_print(i == 0 ? _("  candidates here: %d host, %d srflx, %d prflx, %d relay\n")
		               : _("  candidates of the peer: %d host, %d srflx, %d prflx, %d "
		                   "relay\n"),
		        (gint)host, (gint)srflx, (gint)prflx, (gint)relay);
	}
}

static void
print_result(JsonObject *result, gpointer user_data)
{
	const gchar *requested_peer = user_data;
	const gchar *peer = pl_ipc_json_get_string(result, "peer");
	const gchar *path = pl_ipc_json_get_string(result, "path");
	g_autofree gchar *shown = pl_ctl_format_short_peer(peer != NULL ? peer : requested_peer);
	g_autofree gchar *local =
	        pl_ctl_json_describe_candidate(result, "local_candidate", "?", FALSE);
	g_autofree gchar *remote =
	        pl_ctl_json_describe_candidate(result, "remote_candidate", "?", FALSE);
	g_autofree gchar *rtt = describe_rtt(result);
	g_autofree gchar *head = NULL;
	gdouble setup_ms;

	/* TRANSLATORS: "KGWHMXT… via direct path (host 10.0.0.2:40000 udp ↔ srflx
	 * 203.0.113.5:51000 udp)"; the path is "direct" or "relay" */
	head = g_strdup_printf(_("%s via %s path (%s ↔ %s)"), shown, path != NULL ? path : "?",
	                       local, remote);
	if (pl_ctl_json_get_number(result, "setup_ms", &setup_ms)) {
		g_autofree gchar *setup = pl_ctl_format_ms(setup_ms);
		g_autofree gchar *setup_text = NULL;
		/* TRANSLATORS: how long the session took to set up: "setup 23 ms" */
		setup_text = g_strdup_printf(_("setup %s"), setup);
		g_print("%s: %s, %s\n", head, rtt, setup_text);
	} else {
		g_print("%s: %s\n", head, rtt);
	}
	print_explanation(pl_ctl_json_get_object(result, "candidates"));
}

gint
pl_ctl_ping(PlCtl *ctl, const PlCtlCommand *command, gint argc, gchar **argv)
{
	gint count = PING_DEFAULT_COUNT;
	gint timeout_s = PING_DEFAULT_TIMEOUT;
	const GOptionEntry entries[] = {
	        {"count", 'c', G_OPTION_FLAG_NONE, G_OPTION_ARG_INT, &count,
	         N_("Measure N round trips (1 to 100, default 4)"), N_("N")},
	        {"timeout", 't', G_OPTION_FLAG_NONE, G_OPTION_ARG_INT, &timeout_s,
	         N_("Give up if no session is set up within SECONDS (1 to 300, default 30)"),
	         N_("SECONDS")},
	        {NULL},
	};
	g_autoptr(JsonObject) params = NULL;
	gint exit_code = PL_CTL_EXIT_OK;

	if (!pl_ctl_parse_command_options(ctl, command, entries, 1, &argc, &argv, &exit_code))
		return exit_code;
	params = ping_params(command, argv[1], count);
	if (params == NULL)
		return PL_CTL_EXIT_USAGE;
	if (timeout_s < 1 || timeout_s > PING_MAX_TIMEOUT_S) {
		g_printerr(_("peerlinkctl %s: --timeout must be between 1 and %d\n"), command->name,
		           PING_MAX_TIMEOUT_S);
		return PL_CTL_EXIT_USAGE;
	}
	json_object_set_int_member(params, "timeout_ms", (gint64)timeout_s * 1000);
	return pl_ctl_request(ctl, "ping", params, print_result, argv[1]);
}
