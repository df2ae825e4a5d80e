/*
 * A request being served: handlers answer it now or later, exactly once.
 */
#pragma once

#include "pl-ipc-connection.h"

G_BEGIN_DECLS

#define PL_TYPE_IPC_REQUEST (pl_ipc_request_get_type())
G_DECLARE_FINAL_TYPE(PlIpcRequest, pl_ipc_request, PL, IPC_REQUEST, GObject)

PlIpcRequest *pl_ipc_request_new(PlIpcConnection *connection, PlIpcMessage *message);

const gchar *pl_ipc_request_get_method(PlIpcRequest *self);
JsonObject *pl_ipc_request_get_params(PlIpcRequest *self);
GUnixFDList *pl_ipc_request_get_fd_list(PlIpcRequest *self);
PlIpcConnection *pl_ipc_request_get_connection(PlIpcRequest *self);

void pl_ipc_request_return(PlIpcRequest *self, JsonObject *result, GUnixFDList *fd_list);
void pl_ipc_request_return_error(PlIpcRequest *self, const GError *error);

G_END_DECLS
