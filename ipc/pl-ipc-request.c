#include "config.h"

#include "pl-ipc-request.h"

struct _PlIpcRequest {
	GObject parent_instance;
	PlIpcConnection *connection;
	PlIpcMessage *message;
	gboolean answered;
};

G_DEFINE_TYPE(PlIpcRequest, pl_ipc_request, G_TYPE_OBJECT)

static void
pl_ipc_request_send(PlIpcRequest *self, PlIpcMessage *reply)
{
	g_autoptr(GError) error = NULL;

	g_return_if_fail(!self->answered);
	self->answered = TRUE;
	if (pl_ipc_connection_is_closed(self->connection))
		return;
	if (!pl_ipc_connection_send(self->connection, reply, &error))
		g_debug("reply to %s not sent: %s", pl_ipc_request_get_method(self),
		        error->message);
}

static void
pl_ipc_request_dispose(GObject *object)
{
	PlIpcRequest *self = PL_IPC_REQUEST(object);

	/* a handler that drops a request must not leave the client waiting forever */
	if (!self->answered && self->connection != NULL) {
		g_autoptr(GError) error = g_error_new(PL_IPC_ERROR, PL_IPC_ERROR_INTERNAL,
		                                      "request \"%s\" was dropped unanswered",
		                                      pl_ipc_request_get_method(self));
		pl_ipc_request_return_error(self, error);
	}
	g_clear_object(&self->connection);
	g_clear_object(&self->message);
	G_OBJECT_CLASS(pl_ipc_request_parent_class)->dispose(object);
}

static void
pl_ipc_request_class_init(PlIpcRequestClass *klass)
{
	G_OBJECT_CLASS(klass)->dispose = pl_ipc_request_dispose;
}

static void
pl_ipc_request_init(PlIpcRequest *self)
{
}

PlIpcRequest *
pl_ipc_request_new(PlIpcConnection *connection, PlIpcMessage *message)
{
	PlIpcRequest *self = g_object_new(PL_TYPE_IPC_REQUEST, NULL);

	self->connection = g_object_ref(connection);
	self->message = g_object_ref(message);
	return self;
}

const gchar *
pl_ipc_request_get_method(PlIpcRequest *self)
{
	return pl_ipc_message_get_name(self->message);
}

JsonObject *
pl_ipc_request_get_params(PlIpcRequest *self)
{
	return pl_ipc_message_get_body(self->message);
}

GUnixFDList *
pl_ipc_request_get_fd_list(PlIpcRequest *self)
{
	return pl_ipc_message_get_fd_list(self->message);
}

PlIpcConnection *
pl_ipc_request_get_connection(PlIpcRequest *self)
{
	return self->connection;
}

void
pl_ipc_request_return(PlIpcRequest *self, JsonObject *result, GUnixFDList *fd_list)
{
	gint64 id = pl_ipc_message_get_id(self->message);
	g_autoptr(PlIpcMessage) reply = pl_ipc_message_new_response(id, result);

	pl_ipc_message_set_fd_list(reply, fd_list);
	pl_ipc_request_send(self, reply);
}

void
pl_ipc_request_return_error(PlIpcRequest *self, const GError *error)
{
	gint64 id = pl_ipc_message_get_id(self->message);
	g_autoptr(PlIpcMessage) reply = pl_ipc_message_new_error_from_gerror(id, error);

	pl_ipc_request_send(self, reply);
}
