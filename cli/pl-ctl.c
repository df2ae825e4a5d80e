#include "config.h"

#include <glib/gi18n.h>

#include "pl-ctl-format.h"
#include "pl-ctl.h"
#include "pl-ipc-params.h"

void
pl_ctl_clear(PlCtl *ctl)
{
	g_clear_object(&ctl->client);
	g_clear_object(&ctl->cancellable);
	g_clear_pointer(&ctl->socket_path, g_free);
}

/* A CLI waits for one answer at a time: spin the default context until it comes. */
void
pl_ctl_store_result_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	GAsyncResult **out = user_data;

	*out = g_object_ref(result);
	g_main_context_wakeup(NULL);
}

GAsyncResult *
pl_ctl_wait_for_result(GAsyncResult **slot)
{
	while (*slot == NULL)
		g_main_context_iteration(NULL, TRUE);
	return *slot;
}

gboolean
pl_ctl_connect(PlCtl *ctl, GError **error)
{
	g_autoptr(GAsyncResult) result = NULL;

	ctl->client = pl_client_new(ctl->socket_path);
	pl_client_connect_async(ctl->client, ctl->cancellable, pl_ctl_store_result_cb, &result);
	return pl_client_connect_finish(ctl->client, pl_ctl_wait_for_result(&result), error);
}

JsonObject *
pl_ctl_call(PlCtl *ctl,
            const gchar *method,
            JsonObject *params,
            GUnixFDList **out_fd_list,
            GError **error)
{
	g_autoptr(GAsyncResult) result = NULL;

	if (ctl->client == NULL && !pl_ctl_connect(ctl, error))
		return NULL;
	pl_client_call_async(ctl->client, method, params, NULL, ctl->cancellable,
	                     pl_ctl_store_result_cb, &result);
	return pl_client_call_finish(ctl->client, pl_ctl_wait_for_result(&result), out_fd_list,
	                             error);
}

void
pl_ctl_print_json(JsonObject *object)
{
	g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
	g_autoptr(JsonGenerator) generator = json_generator_new();
	g_autofree gchar *text = NULL;

	json_node_set_object(node, object);
	json_generator_set_root(generator, node);
	json_generator_set_pretty(generator, TRUE);
	text = json_generator_to_data(generator, NULL);
	g_print("%s\n", text);
}

gint
pl_ctl_request(PlCtl *ctl,
               const gchar *method,
               JsonObject *params,
               PlCtlPrintFunc print,
               gpointer user_data)
{
	g_autoptr(JsonObject) result = NULL;
	g_autoptr(GError) error = NULL;

	result = pl_ctl_call(ctl, method, params, NULL, &error);
	if (result == NULL)
		return pl_ctl_fail_request(ctl, error);
	if (ctl->json)
		pl_ctl_print_json(result);
	else if (print != NULL)
		print(result, user_data);
	return PL_CTL_EXIT_OK;
}

/* One compact line on stderr: for notices while stdout carries a stream. */
void
pl_ctl_print_json_notice(JsonObject *object)
{
	g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
	g_autofree gchar *text = NULL;

	json_node_set_object(node, object);
	text = json_to_string(node, FALSE);
	g_printerr("%s\n", text);
}

JsonObject *
pl_ctl_json_get_object(JsonObject *object, const gchar *key)
{
	JsonNode *node = object != NULL ? json_object_get_member(object, key) : NULL;

	return node != NULL && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
}

JsonArray *
pl_ctl_json_get_array(JsonObject *object, const gchar *key)
{
	JsonNode *node = object != NULL ? json_object_get_member(object, key) : NULL;

	return node != NULL && JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
}

/* an integer or a fraction */
gboolean
pl_ctl_json_get_number(JsonObject *object, const gchar *key, gdouble *value)
{
	JsonNode *node = object != NULL ? json_object_get_member(object, key) : NULL;
	GType type = node != NULL && JSON_NODE_HOLDS_VALUE(node) ? json_node_get_value_type(node)
	                                                         : G_TYPE_INVALID;

	if (type == G_TYPE_DOUBLE)
		*value = json_node_get_double(node);
	else if (type == G_TYPE_INT64)
		*value = (gdouble)json_node_get_int(node);
	else
		return FALSE;
	return TRUE;
}

gchar *
pl_ctl_json_describe_candidate(JsonObject *object,
                               const gchar *key,
                               const gchar *missing,
                               gboolean compact)
{
	JsonObject *candidate = pl_ctl_json_get_object(object, key);
	gint64 port = 0;

	if (candidate == NULL)
		return g_strdup(missing);
	pl_ipc_json_get_int(candidate, "port", &port);
	return pl_ctl_format_candidate(pl_ipc_json_get_string(candidate, "type"),
	                               pl_ipc_json_get_string(candidate, "address"), port,
	                               pl_ipc_json_get_string(candidate, "transport"), compact);
}

static void
print_json_error(PlCtl *ctl, const GError *error)
{
	g_autoptr(JsonObject) root = json_object_new();
	JsonObject *inner = json_object_new();
	PlIpcErrorCode code =
	        error->domain == PL_IPC_ERROR ? (PlIpcErrorCode)error->code : PL_IPC_ERROR_FAILED;

	json_object_set_string_member(inner, "code", pl_ipc_error_to_string(code));
	json_object_set_string_member(inner, "message", error->message);
	json_object_set_object_member(root, "error", inner);
	if (ctl->data_on_stdout)
		pl_ctl_print_json_notice(root);
	else
		pl_ctl_print_json(root);
}

/* One line, never a stack of errors; scripts get the code with --json. */
gint
pl_ctl_fail(PlCtl *ctl, const GError *error)
{
	gboolean not_running = g_error_matches(error, PL_IPC_ERROR, PL_IPC_ERROR_NOT_RUNNING);

	if (ctl->json)
		print_json_error(ctl, error);
	else if (not_running)
		g_printerr(_("peerlinkctl: %s; start it with “systemctl --user start "
		             "peerlinkd.socket” or run “peerlinkd”\n"),
		           error->message);
	else
		g_printerr("peerlinkctl: %s\n", error->message);
	return not_running ? PL_CTL_EXIT_NOT_RUNNING : PL_CTL_EXIT_FAILURE;
}

/* The same, for a failed request: parameters the agent rejects are a usage error. */
gint
pl_ctl_fail_request(PlCtl *ctl, const GError *error)
{
	gint status = pl_ctl_fail(ctl, error);

	if (g_error_matches(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_PARAMS))
		return PL_CTL_EXIT_USAGE;
	return status;
}

gboolean
pl_ctl_parse_command_options(PlCtl *ctl,
                             const PlCtlCommand *command,
                             const GOptionEntry *entries,
                             gint n_args,
                             gint *argc,
                             gchar ***argv,
                             gint *exit_code)
{
	g_autofree gchar *parameters =
	        g_strstrip(g_strdup_printf("%s %s", command->name, command->parameters));
	g_autoptr(GOptionContext) context = g_option_context_new(parameters);
	g_autoptr(GError) error = NULL;

	g_option_context_set_summary(context, _(command->summary));
	g_option_context_set_translation_domain(context, GETTEXT_PACKAGE);
	if (entries != NULL)
		g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
	if (!g_option_context_parse(context, argc, argv, &error)) {
		g_printerr("peerlinkctl %s: %s\n", command->name, error->message);
		*exit_code = PL_CTL_EXIT_USAGE;
		return FALSE;
	}
	if (n_args >= 0 && *argc - 1 != n_args) {
		g_printerr(
		        g_dngettext(GETTEXT_PACKAGE,
		                    "peerlinkctl %s: expected %d argument, got %d (see --help)\n",
		                    "peerlinkctl %s: expected %d arguments, got %d (see --help)\n",
		                    (gulong)n_args),
		        command->name, n_args, *argc - 1);
		*exit_code = PL_CTL_EXIT_USAGE;
		return FALSE;
	}
	return TRUE;
}
