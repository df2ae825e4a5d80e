#include "config.h"

#include <glib/gi18n-lib.h>

#include "pl-ipc-error.h"
#include "pl-ipc-params.h"

static gboolean
node_holds(JsonNode *node, GType type)
{
	return node != NULL && JSON_NODE_HOLDS_VALUE(node) &&
	       json_node_get_value_type(node) == type;
}

const gchar *
pl_ipc_json_get_string(JsonObject *obj, const gchar *key)
{
	JsonNode *node = json_object_get_member(obj, key);

	return node_holds(node, G_TYPE_STRING) ? json_node_get_string(node) : NULL;
}

gboolean
pl_ipc_json_get_int(JsonObject *obj, const gchar *key, gint64 *value)
{
	JsonNode *node = json_object_get_member(obj, key);

	if (!node_holds(node, G_TYPE_INT64))
		return FALSE;
	*value = json_node_get_int(node);
	return TRUE;
}

static gboolean
member_absent(JsonObject *params, const gchar *key)
{
	JsonNode *node = json_object_get_member(params, key);

	return node == NULL || JSON_NODE_HOLDS_NULL(node);
}

gboolean
pl_ipc_params_get_string(JsonObject *params,
                         const gchar *key,
                         gboolean required,
                         const gchar **value,
                         GError **error)
{
	if (member_absent(params, key)) {
		if (!required) {
			*value = NULL;
			return TRUE;
		}
		g_set_error(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_PARAMS,
		            _("parameter \"%s\" is required"), key);
		return FALSE;
	}
	*value = pl_ipc_json_get_string(params, key);
	if (*value == NULL) {
		g_set_error(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_PARAMS,
		            _("parameter \"%s\" must be a string"), key);
		return FALSE;
	}
	return TRUE;
}

/* *value keeps its default when the member is absent. */
gboolean
pl_ipc_params_get_int(
        JsonObject *params, const gchar *key, gint64 min, gint64 max, gint64 *value, GError **error)
{
	gint64 tmp = 0;

	if (member_absent(params, key))
		return TRUE;
	if (!pl_ipc_json_get_int(params, key, &tmp) || tmp < min || tmp > max) {
		g_set_error(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_PARAMS,
		            _("parameter \"%s\" must be an integer from %lld to %lld"), key,
		            (long long)min, (long long)max);
		return FALSE;
	}
	*value = tmp;
	return TRUE;
}

gboolean
pl_ipc_params_get_boolean(JsonObject *params, const gchar *key, gboolean *value, GError **error)
{
	JsonNode *node = json_object_get_member(params, key);

	if (member_absent(params, key))
		return TRUE;
	if (!node_holds(node, G_TYPE_BOOLEAN)) {
		g_set_error(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_PARAMS,
		            _("parameter \"%s\" must be true or false"), key);
		return FALSE;
	}
	*value = json_node_get_boolean(node);
	return TRUE;
}

gboolean
pl_ipc_params_get_strv(JsonObject *params, const gchar *key, gchar ***value, GError **error)
{
	JsonNode *node = json_object_get_member(params, key);
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
	JsonArray *array;

	*value = NULL;
	if (member_absent(params, key))
		return TRUE;
	if (!JSON_NODE_HOLDS_ARRAY(node)) {
		g_set_error(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_PARAMS,
		            _("parameter \"%s\" must be an array of strings"), key);
		return FALSE;
	}
	array = json_node_get_array(node);
	for (guint i = 0; i < json_array_get_length(array); i++) {
		JsonNode *element = json_array_get_element(array, i);
		if (!node_holds(element, G_TYPE_STRING)) {
			g_set_error(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_PARAMS,
			            _("parameter \"%s\" must be an array of strings"), key);
			return FALSE;
		}
		g_strv_builder_add(builder, json_node_get_string(element));
	}
	*value = g_strv_builder_end(builder);
	return TRUE;
}
