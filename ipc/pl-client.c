#include "config.h"

#include <gio/gunixsocketaddress.h>
#include <glib/gi18n-lib.h>

#include "pl-client.h"
#include "pl-ipc-connection.h"
#include "pl-ipc-params.h"

typedef struct {
	PlClient *client;
	gint64 id;
	GTask *task;
	gulong cancelled_id;
} PlPendingCall;

struct _PlClient {
	GObject parent_instance;
	gchar *socket_path;
	GSocketConnection *socket_connection;
	PlIpcConnection *connection;
	gint64 next_id;
	GHashTable *pending; /* id → PlPendingCall */
	GError *fatal_error; /* why the daemon dropped us, if it said so */
};

enum { SIGNAL_EVENT, SIGNAL_CLOSED, SIGNAL_LAST };
static guint signals[SIGNAL_LAST] = {0};

G_DEFINE_TYPE(PlClient, pl_client, G_TYPE_OBJECT)

static void
pl_pending_call_free(PlPendingCall *call)
{
	if (call->cancelled_id != 0)
		g_cancellable_disconnect(g_task_get_cancellable(call->task), call->cancelled_id);
	g_clear_object(&call->task);
	g_free(call);
}

static void
fail_pending_calls(PlClient *self, const GError *error)
{
	g_autoptr(GList) calls = g_hash_table_get_values(self->pending);

	g_hash_table_steal_all(self->pending);
	for (GList *l = calls; l != NULL; l = l->next) {
		PlPendingCall *call = l->data;
		g_task_return_error(call->task, g_error_copy(error));
		pl_pending_call_free(call);
	}
}

static void
drop_connection(PlClient *self)
{
	if (self->connection != NULL) {
		g_signal_handlers_disconnect_by_data(self->connection, self);
		pl_ipc_connection_close(self->connection, NULL);
		g_clear_object(&self->connection);
	}
	g_clear_object(&self->socket_connection);
}

static void
pl_client_dispose(GObject *object)
{
	PlClient *self = PL_CLIENT(object);

	drop_connection(self);
	if (self->pending != NULL) {
		g_autoptr(GError) error = g_error_new_literal(
		        PL_IPC_ERROR, PL_IPC_ERROR_DISCONNECTED, _("the client was closed"));
		fail_pending_calls(self, error);
	}
	G_OBJECT_CLASS(pl_client_parent_class)->dispose(object);
}

static void
pl_client_finalize(GObject *object)
{
	PlClient *self = PL_CLIENT(object);

	g_hash_table_unref(self->pending);
	g_clear_error(&self->fatal_error);
	g_free(self->socket_path);
	G_OBJECT_CLASS(pl_client_parent_class)->finalize(object);
}

static void
pl_client_class_init(PlClientClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = pl_client_dispose;
	object_class->finalize = pl_client_finalize;

	/* name, params, file descriptors (or NULL) */
	signals[SIGNAL_EVENT] = g_signal_new("event", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
	                                     0, NULL, NULL, NULL, G_TYPE_NONE, 3, G_TYPE_STRING,
	                                     JSON_TYPE_OBJECT, G_TYPE_UNIX_FD_LIST);
	/* the connection to the agent is gone; the error says why */
	signals[SIGNAL_CLOSED] = g_signal_new("closed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
	                                      0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
pl_client_init(PlClient *self)
{
	self->next_id = 1;
	self->pending = g_hash_table_new(g_int64_hash, g_int64_equal);
}

gchar *
pl_client_get_default_socket_path(void)
{
	return g_build_filename(g_get_user_runtime_dir(), "peerlink", "agent.sock", NULL);
}

PlClient *
pl_client_new(const gchar *socket_path)
{
	PlClient *self = g_object_new(PL_TYPE_CLIENT, NULL);

	self->socket_path =
	        socket_path != NULL ? g_strdup(socket_path) : pl_client_get_default_socket_path();
	return self;
}

const gchar *
pl_client_get_socket_path(PlClient *self)
{
	return self->socket_path;
}

gboolean
pl_client_is_connected(PlClient *self)
{
	return self->connection != NULL;
}

/* incoming */

static void
complete_call(PlClient *self, PlIpcMessage *message)
{
	gint64 id = pl_ipc_message_get_id(message);
	PlPendingCall *call = g_hash_table_lookup(self->pending, &id);

	if (call == NULL) {
		g_debug("reply to unknown call %" G_GINT64_FORMAT, id);
		return;
	}
	g_hash_table_steal(self->pending, &id);
	if (pl_ipc_message_get_kind(message) == PL_IPC_MESSAGE_KIND_ERROR)
		g_task_return_error(call->task, pl_ipc_message_to_gerror(message));
	else
		g_task_return_pointer(call->task, g_object_ref(message), g_object_unref);
	pl_pending_call_free(call);
}

static void
remember_fatal_error(PlClient *self, GError *error)
{
	if (self->fatal_error == NULL)
		self->fatal_error = error;
	else
		g_error_free(error);
}

static void
on_message(PlIpcConnection *connection, PlIpcMessage *message, gpointer user_data)
{
	PlClient *self = PL_CLIENT(user_data);
	g_autoptr(PlClient) keep = g_object_ref(self);

	switch (pl_ipc_message_get_kind(message)) {
	case PL_IPC_MESSAGE_KIND_EVENT:
		if (g_strcmp0(pl_ipc_message_get_name(message), "shutdown") == 0) {
			const gchar *reason =
			        pl_ipc_json_get_string(pl_ipc_message_get_body(message), "reason");
			remember_fatal_error(self,
			                     g_error_new(PL_IPC_ERROR, PL_IPC_ERROR_SHUTTING_DOWN,
			                                 _("the agent is shutting down (%s)"),
			                                 reason != NULL ? reason : "?"));
		}
		g_signal_emit(self, signals[SIGNAL_EVENT], 0, pl_ipc_message_get_name(message),
		              pl_ipc_message_get_body(message),
		              pl_ipc_message_get_fd_list(message));
		break;
	case PL_IPC_MESSAGE_KIND_ERROR:
		if (pl_ipc_message_get_id(message) == PL_IPC_ID_NONE) {
			remember_fatal_error(self, pl_ipc_message_to_gerror(message));
			break;
		}
		complete_call(self, message);
		break;
	case PL_IPC_MESSAGE_KIND_RESPONSE:
		complete_call(self, message);
		break;
	case PL_IPC_MESSAGE_KIND_REQUEST:
	default:
		g_debug("ignoring a request from the agent");
		break;
	}
}

static void
on_invalid_message(PlIpcConnection *connection, gint64 id, GError *error, gpointer user_data)
{
	PlClient *self = PL_CLIENT(user_data);

	g_debug("invalid message from the agent: %s", error->message);
	remember_fatal_error(self, g_error_copy(error));
	pl_ipc_connection_close(connection, error);
}

static void
on_closed(PlIpcConnection *connection, GError *error, gpointer user_data)
{
	PlClient *self = PL_CLIENT(user_data);
	g_autoptr(PlClient) keep = g_object_ref(self);
	g_autoptr(GError) reason = NULL;

	if (self->fatal_error != NULL)
		reason = g_error_copy(self->fatal_error);
	else if (error != NULL)
		reason = g_error_new(PL_IPC_ERROR, PL_IPC_ERROR_DISCONNECTED,
		                     _("lost the connection to the agent: %s"), error->message);
	else
		reason = g_error_new_literal(PL_IPC_ERROR, PL_IPC_ERROR_DISCONNECTED,
		                             _("the agent closed the connection"));
	drop_connection(self);
	fail_pending_calls(self, reason);
	g_signal_emit(self, signals[SIGNAL_CLOSED], 0, reason);
}

/* connecting */

static GError *
explain_connect_error(PlClient *self, const GError *error)
{
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND) ||
	    g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED))
		return g_error_new(PL_IPC_ERROR, PL_IPC_ERROR_NOT_RUNNING,
		                   _("the agent is not running (nothing listens on %s)"),
		                   self->socket_path);
	return g_error_new(PL_IPC_ERROR, PL_IPC_ERROR_FAILED, _("cannot connect to %s: %s"),
	                   self->socket_path, error->message);
}

static void
connect_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	PlClient *self = g_task_get_source_object(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocketConnection) socket_connection = NULL;

	socket_connection = g_socket_client_connect_finish(G_SOCKET_CLIENT(source), result, &error);
	if (socket_connection == NULL) {
		g_task_return_error(task, explain_connect_error(self, error));
		return;
	}
	drop_connection(self);
	g_clear_error(&self->fatal_error);
	self->socket_connection = g_steal_pointer(&socket_connection);
	self->connection =
	        pl_ipc_connection_new(g_socket_connection_get_socket(self->socket_connection));
	pl_ipc_connection_set_max_message_size(self->connection, PL_CLIENT_MAX_MESSAGE_SIZE);
	g_signal_connect(self->connection, "message", G_CALLBACK(on_message), self);
	g_signal_connect(self->connection, "invalid-message", G_CALLBACK(on_invalid_message), self);
	g_signal_connect(self->connection, "closed", G_CALLBACK(on_closed), self);
	pl_ipc_connection_start(self->connection);
	g_task_return_boolean(task, TRUE);
}

void
pl_client_connect_async(PlClient *self,
                        GCancellable *cancellable,
                        GAsyncReadyCallback callback,
                        gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	g_autoptr(GSocketClient) socket_client = g_socket_client_new();
	g_autoptr(GSocketAddress) address = g_unix_socket_address_new(self->socket_path);

	g_task_set_source_tag(task, pl_client_connect_async);
	g_socket_client_connect_async(socket_client, G_SOCKET_CONNECTABLE(address), cancellable,
	                              connect_cb, g_steal_pointer(&task));
}

gboolean
pl_client_connect_finish(PlClient *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
	return g_task_propagate_boolean(G_TASK(result), error);
}

/* calls */

typedef struct {
	PlClient *client;
	gint64 id;
} PlCancelledCall;

static void
pl_cancelled_call_free(PlCancelledCall *cancelled)
{
	g_object_unref(cancelled->client);
	g_free(cancelled);
}

static gboolean
cancel_call_idle(gpointer user_data)
{
	PlCancelledCall *cancelled = user_data;
	PlPendingCall *call = g_hash_table_lookup(cancelled->client->pending, &cancelled->id);

	if (call == NULL) /* answered in the meantime */
		return G_SOURCE_REMOVE;
	g_hash_table_steal(cancelled->client->pending, &cancelled->id);
	g_task_return_new_error(call->task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
	                        _("the call was cancelled"));
	pl_pending_call_free(call);
	return G_SOURCE_REMOVE;
}

/* GCancellable handlers run with its lock held: finish the call from the main loop. */
static void
on_call_cancelled(GCancellable *cancellable, gpointer user_data)
{
	PlPendingCall *call = user_data;
	PlCancelledCall *cancelled = g_new0(PlCancelledCall, 1);
	g_autoptr(GSource) source = g_idle_source_new();

	cancelled->client = g_object_ref(call->client);
	cancelled->id = call->id;
	g_source_set_callback(source, cancel_call_idle, cancelled,
	                      (GDestroyNotify)pl_cancelled_call_free);
	g_source_attach(source, g_task_get_context(call->task));
}

void
pl_client_call_async(PlClient *self,
                     const gchar *method,
                     JsonObject *params,
                     GUnixFDList *fd_list,
                     GCancellable *cancellable,
                     GAsyncReadyCallback callback,
                     gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	g_autoptr(PlIpcMessage) message = NULL;
	g_autoptr(GError) error = NULL;
	PlPendingCall *call;

	g_task_set_source_tag(task, pl_client_call_async);
	if (self->connection == NULL) {
		g_task_return_new_error(task, PL_IPC_ERROR, PL_IPC_ERROR_DISCONNECTED,
		                        _("not connected to the agent"));
		return;
	}
	message = pl_ipc_message_new_request(self->next_id, method, params);
	pl_ipc_message_set_fd_list(message, fd_list);
	call = g_new0(PlPendingCall, 1);
	call->client = self;
	call->id = self->next_id++;
	call->task = g_steal_pointer(&task);
	g_hash_table_insert(self->pending, &call->id, call);
	if (cancellable != NULL)
		call->cancelled_id = g_cancellable_connect(
		        cancellable, G_CALLBACK(on_call_cancelled), call, NULL);
	if (!pl_ipc_connection_send(self->connection, message, &error) &&
	    g_hash_table_steal(self->pending, &call->id)) {
		g_task_return_error(call->task, g_steal_pointer(&error));
		pl_pending_call_free(call);
	}
}

JsonObject *
pl_client_call_finish(PlClient *self,
                      GAsyncResult *result,
                      GUnixFDList **out_fd_list,
                      GError **error)
{
	g_autoptr(PlIpcMessage) message = NULL;

	g_return_val_if_fail(g_task_is_valid(result, self), NULL);
	message = g_task_propagate_pointer(G_TASK(result), error);
	if (message == NULL)
		return NULL;
	if (out_fd_list != NULL)
		*out_fd_list = pl_ipc_message_get_fd_list(message) != NULL
		                       ? g_object_ref(pl_ipc_message_get_fd_list(message))
		                       : NULL;
	return json_object_ref(pl_ipc_message_get_body(message));
}

static void
subscribe_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) reply = NULL;

	reply = pl_client_call_finish(PL_CLIENT(source), result, NULL, &error);
	if (reply == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	g_task_return_boolean(task, TRUE);
}

void
pl_client_subscribe_async(PlClient *self,
                          const gchar *const *events,
                          GCancellable *cancellable,
                          GAsyncReadyCallback callback,
                          gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	g_autoptr(JsonObject) params = json_object_new();
	JsonArray *array = json_array_new();

	for (guint i = 0; events != NULL && events[i] != NULL; i++)
		json_array_add_string_element(array, events[i]);
	json_object_set_array_member(params, "events", array);
	pl_client_call_async(self, "subscribe", params, NULL, cancellable, subscribe_cb,
	                     g_steal_pointer(&task));
}

gboolean
pl_client_subscribe_finish(PlClient *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
	return g_task_propagate_boolean(G_TASK(result), error);
}

void
pl_client_close(PlClient *self)
{
	g_autoptr(GError) error = g_error_new_literal(PL_IPC_ERROR, PL_IPC_ERROR_DISCONNECTED,
	                                              _("the client was closed"));

	drop_connection(self);
	fail_pending_calls(self, error);
}
