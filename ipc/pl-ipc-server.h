/*
 * The daemon's side of the IPC socket: listens (on a path it owns, or on a
 * socket handed over by systemd), admits only its own uid and root, routes
 * requests to method handlers and pushes events to subscribers.
 */
#pragma once

#include "pl-ipc-request.h"

G_BEGIN_DECLS

#define PL_IPC_DEFAULT_MAX_CLIENTS 128

#define PL_TYPE_IPC_SERVER (pl_ipc_server_get_type())
G_DECLARE_FINAL_TYPE(PlIpcServer, pl_ipc_server, PL, IPC_SERVER, GObject)

typedef void (*PlIpcMethodFunc)(PlIpcRequest *request, gpointer user_data);

PlIpcServer *pl_ipc_server_new(void);
void pl_ipc_server_set_max_clients(PlIpcServer *self, guint max_clients);
void pl_ipc_server_set_stall_timeout(PlIpcServer *self, guint timeout_ms);

gboolean pl_ipc_server_listen_path(PlIpcServer *self, const gchar *path, GError **error);
gboolean pl_ipc_server_listen_fd(PlIpcServer *self, gint fd, GError **error);
const gchar *pl_ipc_server_get_socket_path(PlIpcServer *self);

void pl_ipc_server_add_method(PlIpcServer *self,
                              const gchar *method,
                              PlIpcMethodFunc func,
                              gpointer user_data);
void pl_ipc_server_emit_event(PlIpcServer *self, const gchar *event, JsonObject *params);
guint pl_ipc_server_get_n_clients(PlIpcServer *self);
void pl_ipc_server_shutdown(PlIpcServer *self, const gchar *reason);

G_END_DECLS
