/*
 * Newline-delimited JSON messages with SCM_RIGHTS file descriptors over a
 * connected Unix stream socket, driven by the thread-default main context.
 * The same transport serves the daemon's clients and the client library.
 */
#pragma once

#include <gio/gio.h>

#include "pl-ipc-message.h"

G_BEGIN_DECLS

#define PL_IPC_DEFAULT_MAX_MESSAGE_SIZE (64 * 1024)
#define PL_IPC_DEFAULT_MAX_OUTPUT       (4 * 1024 * 1024)
#define PL_IPC_DEFAULT_STALL_TIMEOUT_MS 5000
#define PL_IPC_MAX_PENDING_FDS          64

#define PL_TYPE_IPC_CONNECTION (pl_ipc_connection_get_type())
G_DECLARE_FINAL_TYPE(PlIpcConnection, pl_ipc_connection, PL, IPC_CONNECTION, GObject)

PlIpcConnection *pl_ipc_connection_new(GSocket *socket);
void pl_ipc_connection_set_max_message_size(PlIpcConnection *self, gsize max_message_size);
void pl_ipc_connection_set_max_output(PlIpcConnection *self, gsize max_output);
void pl_ipc_connection_set_stall_timeout(PlIpcConnection *self, guint timeout_ms);
void pl_ipc_connection_start(PlIpcConnection *self);

gboolean pl_ipc_connection_send(PlIpcConnection *self, PlIpcMessage *message, GError **error);
void pl_ipc_connection_close(PlIpcConnection *self, const GError *reason);
void pl_ipc_connection_close_after_flush(PlIpcConnection *self, const GError *reason);
gboolean pl_ipc_connection_is_closed(PlIpcConnection *self);

guint64 pl_ipc_connection_get_serial(PlIpcConnection *self);
gboolean pl_ipc_connection_get_peer_credentials(PlIpcConnection *self, uid_t *uid, pid_t *pid);
gsize pl_ipc_connection_get_queued_output(PlIpcConnection *self);

G_END_DECLS
