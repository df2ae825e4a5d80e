/*
 * Type-checked access to the members of a request's "params": a wrong type is
 * a PL_IPC_ERROR_INVALID_PARAMS error naming the field, never a critical.
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

const gchar *pl_ipc_json_get_string(JsonObject *obj, const gchar *key);
gboolean pl_ipc_json_get_int(JsonObject *obj, const gchar *key, gint64 *value);

gboolean pl_ipc_params_get_string(JsonObject *params,
                                  const gchar *key,
                                  gboolean required,
                                  const gchar **value,
                                  GError **error);
gboolean pl_ipc_params_get_int(JsonObject *params,
                               const gchar *key,
                               gint64 min,
                               gint64 max,
                               gint64 *value,
                               GError **error);
gboolean
pl_ipc_params_get_boolean(JsonObject *params, const gchar *key, gboolean *value, GError **error);
gboolean
pl_ipc_params_get_strv(JsonObject *params, const gchar *key, gchar ***value, GError **error);

G_END_DECLS
