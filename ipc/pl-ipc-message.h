/*
 * One IPC message: a request, a response, an error reply or an event, with
 * the file descriptors that travel with it. Encoding and decoding are pure.
 */
#pragma once

#include <gio/gunixfdlist.h>
#include <json-glib/json-glib.h>

#include "pl-ipc-error.h"

G_BEGIN_DECLS

#define PL_IPC_PROTOCOL_VERSION    1
#define PL_IPC_MAX_FDS_PER_MESSAGE 16
#define PL_IPC_MAX_NAME_LEN        64
#define PL_IPC_ID_NONE             ((gint64)-1)
#define PL_IPC_ID_MAX              ((gint64)9007199254740991) /* 2^53 - 1 */

typedef enum {
	PL_IPC_MESSAGE_KIND_REQUEST,
	PL_IPC_MESSAGE_KIND_RESPONSE,
	PL_IPC_MESSAGE_KIND_ERROR,
	PL_IPC_MESSAGE_KIND_EVENT,
} PlIpcMessageKind;

#define PL_TYPE_IPC_MESSAGE (pl_ipc_message_get_type())
G_DECLARE_FINAL_TYPE(PlIpcMessage, pl_ipc_message, PL, IPC_MESSAGE, GObject)

PlIpcMessage *pl_ipc_message_new_request(gint64 id, const gchar *method, JsonObject *params);
PlIpcMessage *pl_ipc_message_new_response(gint64 id, JsonObject *result);
PlIpcMessage *pl_ipc_message_new_error(gint64 id, PlIpcErrorCode code, const gchar *message);
PlIpcMessage *pl_ipc_message_new_error_from_gerror(gint64 id, const GError *error);
PlIpcMessage *pl_ipc_message_new_event(const gchar *name, JsonObject *params);

PlIpcMessageKind pl_ipc_message_get_kind(PlIpcMessage *self);
gint64 pl_ipc_message_get_id(PlIpcMessage *self);
const gchar *pl_ipc_message_get_name(PlIpcMessage *self);
JsonObject *pl_ipc_message_get_body(PlIpcMessage *self);
const gchar *pl_ipc_message_get_error_code(PlIpcMessage *self);
const gchar *pl_ipc_message_get_error_message(PlIpcMessage *self);
GError *pl_ipc_message_to_gerror(PlIpcMessage *self);

guint pl_ipc_message_get_n_fds(PlIpcMessage *self);
GUnixFDList *pl_ipc_message_get_fd_list(PlIpcMessage *self);
void pl_ipc_message_set_fd_list(PlIpcMessage *self, GUnixFDList *fd_list);

GBytes *pl_ipc_message_encode(PlIpcMessage *self);
PlIpcMessage *pl_ipc_message_decode(const gchar *data, gsize len, gint64 *id_out, GError **error);

G_END_DECLS
