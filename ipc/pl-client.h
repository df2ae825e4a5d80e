/*
 * The client side of the agent's IPC socket: connect, call methods
 * asynchronously, receive events and file descriptors.
 */
#pragma once

#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <json-glib/json-glib.h>

#include "pl-ipc-error.h"

G_BEGIN_DECLS

#define PL_CLIENT_MAX_MESSAGE_SIZE (16 * 1024 * 1024)

#define PL_TYPE_CLIENT (pl_client_get_type())
G_DECLARE_FINAL_TYPE(PlClient, pl_client, PL, CLIENT, GObject)

gchar *pl_client_get_default_socket_path(void);

PlClient *pl_client_new(const gchar *socket_path);
const gchar *pl_client_get_socket_path(PlClient *self);
gboolean pl_client_is_connected(PlClient *self);

void pl_client_connect_async(PlClient *self,
                             GCancellable *cancellable,
                             GAsyncReadyCallback callback,
                             gpointer user_data);
gboolean pl_client_connect_finish(PlClient *self, GAsyncResult *result, GError **error);

void pl_client_call_async(PlClient *self,
                          const gchar *method,
                          JsonObject *params,
                          GUnixFDList *fd_list,
                          GCancellable *cancellable,
                          GAsyncReadyCallback callback,
                          gpointer user_data);
JsonObject *pl_client_call_finish(PlClient *self,
                                  GAsyncResult *result,
                                  GUnixFDList **out_fd_list,
                                  GError **error);

void pl_client_subscribe_async(PlClient *self,
                               const gchar *const *events,
                               GCancellable *cancellable,
                               GAsyncReadyCallback callback,
                               gpointer user_data);
gboolean pl_client_subscribe_finish(PlClient *self, GAsyncResult *result, GError **error);

void pl_client_close(PlClient *self);

G_END_DECLS
