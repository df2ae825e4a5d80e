#include "config.h"

#include <string.h>

#include "pl-stun-transport.h"

#define PL_STUN_FIRST_RTO_MS 100
#define PL_STUN_MAX_RTO_MS   1600
#define PL_STUN_READ_SIZE    4096

typedef struct {
	PlStunTransport *self; /* borrowed: the task holds a reference */
	GTask *task;
	PlStunTransactionId id;
	guint16 method_type; /* the request's type */
	GBytes *request;
	GInetSocketAddress *to;
	gint64 last_sent_us;
	guint rto_ms;
	guint timeout_ms;
	GSource *retransmit_source;
	GSource *timeout_source;
	GSource *cancel_source;
	GError *garbage; /* the last thing that came back and was not the answer */
} PlStunPending;

struct _PlStunTransport {
	GObject parent_instance;
	GCancellable *cancellable; /* the TCP reads and writes; cancelled in dispose */
	GPtrArray *pending;        /* PlStunPending*, owned */
	GInetSocketAddress *local;

	/* UDP */
	GSocket *socket;
	GSource *socket_source;

	/* TCP */
	GSocketConnection *connection;
	GInetSocketAddress *remote;
	GByteArray *inbox;
	GQueue *outbox; /* GBytes* waiting for the stream */
	gboolean writing;
	GError *broken; /* once the stream failed, every request fails with it */
};

G_DEFINE_TYPE(PlStunTransport, pl_stun_transport, G_TYPE_OBJECT)

void
pl_stun_response_free(PlStunResponse *self)
{
	if (self == NULL)
		return;
	pl_stun_message_free(self->message);
	g_clear_pointer(&self->raw, g_bytes_unref);
	g_clear_object(&self->from);
	g_free(self);
}

static void
pl_stun_pending_free(PlStunPending *pending)
{
	if (pending->retransmit_source != NULL) {
		g_source_destroy(pending->retransmit_source);
		g_source_unref(pending->retransmit_source);
	}
	if (pending->timeout_source != NULL) {
		g_source_destroy(pending->timeout_source);
		g_source_unref(pending->timeout_source);
	}
	if (pending->cancel_source != NULL) {
		g_source_destroy(pending->cancel_source);
		g_source_unref(pending->cancel_source);
	}
	g_clear_pointer(&pending->request, g_bytes_unref);
	g_clear_object(&pending->to);
	g_clear_error(&pending->garbage);
	g_clear_object(&pending->task);
	g_free(pending);
}

/* ends the transaction: out of the list first, then the task returns (its
 * callback may start the next transaction or drop the last reference) */
static void
pl_stun_pending_finish(PlStunPending *pending, PlStunResponse *response, GError *error)
{
	g_autoptr(GTask) task = g_steal_pointer(&pending->task);

	g_ptr_array_remove(pending->self->pending, pending);
	pl_stun_pending_free(pending);
	if (error != NULL)
		g_task_return_error(task, error);
	else
		g_task_return_pointer(task, response, (GDestroyNotify)pl_stun_response_free);
}

static gchar *
pl_stun_address_to_string(GInetSocketAddress *address)
{
	if (address == NULL)
		return g_strdup("the server");
	return g_socket_connectable_to_string(G_SOCKET_CONNECTABLE(address));
}

static void
pl_stun_transport_fail_all(PlStunTransport *self, const GError *error)
{
	g_autoptr(PlStunTransport) keep = g_object_ref(self);

	while (self->pending->len > 0) {
		PlStunPending *pending = g_ptr_array_index(self->pending, 0);
		pl_stun_pending_finish(pending, NULL, g_error_copy(error));
	}
}

/* -------------------------------------------------------------------------- */
/* what came back */

static void
pl_stun_transport_note_garbage(PlStunTransport *self, GInetSocketAddress *from, const GError *why)
{
	g_autofree gchar *from_text = pl_stun_address_to_string(from);

	g_debug("ignoring %s from %s", why->message, from_text);
	for (guint i = 0; i < self->pending->len; i++) {
		PlStunPending *pending = g_ptr_array_index(self->pending, i);
		g_clear_error(&pending->garbage);
		pending->garbage = g_error_new(G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
		                               "%s answered with something that is not a STUN "
		                               "response (%s)",
		                               from_text, why->message);
	}
}

static void
pl_stun_transport_receive(PlStunTransport *self,
                          const guint8 *data,
                          gsize len,
                          GInetSocketAddress *from)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStunMessage) message = pl_stun_message_parse(data, len, &error);
	PlStunResponse *response;
	PlStunPending *pending = NULL;
	guint16 method;

	if (message == NULL) {
		pl_stun_transport_note_garbage(self, from, error);
		return;
	}
	for (guint i = 0; i < self->pending->len; i++) {
		PlStunPending *candidate = g_ptr_array_index(self->pending, i);
		if (pl_stun_transaction_id_equal(&candidate->id, &message->transaction_id)) {
			pending = candidate;
			break;
		}
	}
	if (pending == NULL) {
		g_debug("ignoring a STUN message of no pending transaction (a late answer?)");
		return;
	}
	/* the same method, class success or error */
	method = (guint16)(message->type & ~0x0110);
	if (method != pending->method_type || (message->type & 0x0100) == 0) {
		g_autoptr(GError) why = g_error_new(G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
		                                    "a message of type 0x%04x", message->type);
		pl_stun_transport_note_garbage(self, from, why);
		return;
	}
	response = g_new0(PlStunResponse, 1);
	response->message = g_steal_pointer(&message);
	response->raw = g_bytes_new(data, len);
	response->from = from != NULL ? g_object_ref(from) : NULL;
	response->rtt_ms = (guint)((g_get_monotonic_time() - pending->last_sent_us) / 1000);
	pl_stun_pending_finish(pending, response, NULL);
}

/* -------------------------------------------------------------------------- */
/* UDP */

static gboolean
pl_stun_transport_socket_cb(GSocket *socket, GIOCondition condition, gpointer user_data)
{
	g_autoptr(PlStunTransport) self = g_object_ref(PL_STUN_TRANSPORT(user_data));
	guint8 buf[PL_STUN_MAX_MESSAGE_SIZE + 1];

	/* at most a few datagrams per wake-up, so that a flood cannot starve the loop */
	for (guint n = 0; n < 16 && self->socket != NULL; n++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GSocketAddress) from = NULL;
		gssize received = g_socket_receive_from(socket, &from, (gchar *)buf, sizeof(buf),
		                                        NULL, &error);

		if (received < 0) {
			if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
				g_debug("UDP receive: %s", error->message);
			break;
		}
		if (!G_IS_INET_SOCKET_ADDRESS(from))
			continue;
		if ((gsize)received > PL_STUN_MAX_MESSAGE_SIZE) {
			g_autoptr(GError) why =
			        g_error_new_literal(G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			                            "a datagram larger than a STUN message");
			pl_stun_transport_note_garbage(self, G_INET_SOCKET_ADDRESS(from), why);
			continue;
		}
		pl_stun_transport_receive(self, buf, (gsize)received, G_INET_SOCKET_ADDRESS(from));
	}
	return G_SOURCE_CONTINUE;
}

static void
pl_stun_transport_send_udp(PlStunPending *pending)
{
	g_autoptr(GError) error = NULL;
	gsize size = 0;
	const gchar *data = g_bytes_get_data(pending->request, &size);

	pending->last_sent_us = g_get_monotonic_time();
	if (g_socket_send_to(pending->self->socket, G_SOCKET_ADDRESS(pending->to), data, size, NULL,
	                     &error) < 0) {
		/* a full buffer or a passing ICMP error: the next retransmission may do */
		g_debug("UDP send: %s", error->message);
	}
}

static gboolean
pl_stun_pending_retransmit_cb(gpointer user_data)
{
	PlStunPending *pending = user_data;

	pl_stun_transport_send_udp(pending);
	pending->rto_ms = MIN(pending->rto_ms * 2, PL_STUN_MAX_RTO_MS);
	g_source_destroy(pending->retransmit_source);
	g_source_unref(pending->retransmit_source);
	pending->retransmit_source = g_timeout_source_new(pending->rto_ms);
	g_source_set_callback(pending->retransmit_source, pl_stun_pending_retransmit_cb, pending,
	                      NULL);
	g_source_attach(pending->retransmit_source, g_task_get_context(pending->task));
	return G_SOURCE_REMOVE;
}

PlStunTransport *
pl_stun_transport_new_udp(GSocketFamily family, GError **error)
{
	g_autoptr(PlStunTransport) self = g_object_new(PL_TYPE_STUN_TRANSPORT, NULL);
	g_autoptr(GInetAddress) any = g_inet_address_new_any(family);
	g_autoptr(GSocketAddress) bind_address = g_inet_socket_address_new(any, 0);
	g_autoptr(GSocketAddress) local = NULL;

	self->socket = g_socket_new(family, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, error);
	if (self->socket == NULL)
		return NULL;
	g_socket_set_blocking(self->socket, FALSE);
	if (!g_socket_bind(self->socket, bind_address, FALSE, error))
		return NULL;
	local = g_socket_get_local_address(self->socket, error);
	if (local == NULL)
		return NULL;
	self->local = G_INET_SOCKET_ADDRESS(g_steal_pointer(&local));
	self->socket_source = g_socket_create_source(self->socket, G_IO_IN, NULL);
	g_source_set_callback(self->socket_source,
	                      (GSourceFunc)(GCallback)pl_stun_transport_socket_cb, self, NULL);
	g_source_attach(self->socket_source, g_main_context_get_thread_default());
	return g_steal_pointer(&self);
}

/* -------------------------------------------------------------------------- */
/* TCP */

/* a read or write in flight holds only a weak reference: the transport may go
 * away meanwhile (dispose cancels the operation) */
typedef struct {
	GWeakRef self;
	guint8 buf[PL_STUN_READ_SIZE];
	GBytes *bytes;
} PlStunStreamOp;

static PlStunStreamOp *
pl_stun_stream_op_new(PlStunTransport *self)
{
	PlStunStreamOp *op = g_new0(PlStunStreamOp, 1);

	g_weak_ref_init(&op->self, self);
	return op;
}

static void
pl_stun_stream_op_free(PlStunStreamOp *op)
{
	g_weak_ref_clear(&op->self);
	g_clear_pointer(&op->bytes, g_bytes_unref);
	g_free(op);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlStunStreamOp, pl_stun_stream_op_free)

/* stops the reads and writes in flight, then closes the socket */
static void
pl_stun_transport_close_connection(PlStunTransport *self)
{
	g_cancellable_cancel(self->cancellable);
	if (self->connection != NULL && !g_io_stream_is_closed(G_IO_STREAM(self->connection)))
		g_io_stream_close(G_IO_STREAM(self->connection), NULL, NULL);
}

static void
pl_stun_transport_break(PlStunTransport *self, GError *error)
{
	if (self->broken == NULL) {
		self->broken = error;
		pl_stun_transport_close_connection(self);
	} else {
		g_error_free(error);
	}
	pl_stun_transport_fail_all(self, self->broken);
}

static void pl_stun_transport_read(PlStunTransport *self);

/* every whole message in the inbox */
static void
pl_stun_transport_drain_inbox(PlStunTransport *self)
{
	while (self->broken == NULL) {
		gssize total = pl_stun_message_peek_length(self->inbox->data, self->inbox->len);
		g_autofree guint8 *frame = NULL;

		if (total < 0) {
			g_autofree gchar *remote = pl_stun_address_to_string(self->remote);
			pl_stun_transport_break(self,
			                        g_error_new(G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			                                    "%s sent something that is not "
			                                    "STUN over TCP",
			                                    remote));
			return;
		}
		if (total == 0 || (gsize)total > self->inbox->len)
			return;
		frame = g_memdup2(self->inbox->data, (gsize)total);
		g_byte_array_remove_range(self->inbox, 0, (guint)total);
		pl_stun_transport_receive(self, frame, (gsize)total, self->remote);
	}
}

static void
pl_stun_transport_read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(PlStunStreamOp) op = user_data;
	g_autoptr(PlStunTransport) self = g_weak_ref_get(&op->self);
	g_autoptr(GError) error = NULL;
	gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, &error);

	if (self == NULL || self->broken != NULL)
		return;
	if (n < 0) {
		g_autofree gchar *remote = pl_stun_address_to_string(self->remote);
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			return;
		pl_stun_transport_break(self, g_error_new(G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
		                                          "The TCP connection to %s failed: %s",
		                                          remote, error->message));
		return;
	}
	if (n == 0) {
		g_autofree gchar *remote = pl_stun_address_to_string(self->remote);
		pl_stun_transport_break(self, g_error_new(G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
		                                          "%s closed the TCP connection", remote));
		return;
	}
	g_byte_array_append(self->inbox, op->buf, (guint)n);
	if (self->inbox->len > 2 * PL_STUN_MAX_MESSAGE_SIZE) {
		/* cannot happen with valid framing; bounded all the same */
		pl_stun_transport_break(self,
		                        g_error_new_literal(G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
		                                            "Too much data over TCP"));
		return;
	}
	pl_stun_transport_drain_inbox(self);
	if (self->broken == NULL)
		pl_stun_transport_read(self);
}

static void
pl_stun_transport_read(PlStunTransport *self)
{
	PlStunStreamOp *op = pl_stun_stream_op_new(self);
	GInputStream *input = g_io_stream_get_input_stream(G_IO_STREAM(self->connection));

	g_input_stream_read_async(input, op->buf, sizeof(op->buf), G_PRIORITY_DEFAULT,
	                          self->cancellable, pl_stun_transport_read_cb, op);
}

static void pl_stun_transport_write_next(PlStunTransport *self);

static void
pl_stun_transport_write_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(PlStunStreamOp) op = user_data;
	g_autoptr(PlStunTransport) self = g_weak_ref_get(&op->self);
	g_autoptr(GError) error = NULL;
	gboolean ok =
	        g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, &error);

	if (self == NULL)
		return;
	self->writing = FALSE;
	if (self->broken != NULL)
		return;
	if (!ok) {
		g_autofree gchar *remote = pl_stun_address_to_string(self->remote);
		pl_stun_transport_break(self, g_error_new(G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
		                                          "Cannot send to %s over TCP: %s", remote,
		                                          error->message));
		return;
	}
	pl_stun_transport_write_next(self);
}

static void
pl_stun_transport_write_next(PlStunTransport *self)
{
	PlStunStreamOp *op;
	GOutputStream *output;
	gsize size = 0;
	const guint8 *data;

	if (self->writing || self->broken != NULL || g_queue_is_empty(self->outbox))
		return;
	op = pl_stun_stream_op_new(self);
	op->bytes = g_queue_pop_head(self->outbox);
	data = g_bytes_get_data(op->bytes, &size);
	output = g_io_stream_get_output_stream(G_IO_STREAM(self->connection));
	self->writing = TRUE;
	g_output_stream_write_all_async(output, data, size, G_PRIORITY_DEFAULT, self->cancellable,
	                                pl_stun_transport_write_cb, op);
}

static void
pl_stun_transport_connect_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocketConnection) connection =
	        g_socket_client_connect_finish(G_SOCKET_CLIENT(source), result, &error);
	g_autoptr(PlStunTransport) self = NULL;
	g_autoptr(GSocketAddress) local = NULL;
	g_autoptr(GSocketAddress) remote = NULL;

	if (connection == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	local = g_socket_connection_get_local_address(connection, &error);
	if (local != NULL)
		remote = g_socket_connection_get_remote_address(connection, &error);
	if (remote == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	self = g_object_new(PL_TYPE_STUN_TRANSPORT, NULL);
	self->connection = g_steal_pointer(&connection);
	self->local = G_INET_SOCKET_ADDRESS(g_steal_pointer(&local));
	self->remote = G_INET_SOCKET_ADDRESS(g_steal_pointer(&remote));
	self->inbox = g_byte_array_new();
	self->outbox = g_queue_new();
	pl_stun_transport_read(self);
	g_task_return_pointer(task, g_steal_pointer(&self), g_object_unref);
}

void
pl_stun_transport_new_tcp_async(GInetSocketAddress *server,
                                GCancellable *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
	g_autoptr(GSocketClient) client = g_socket_client_new();

	g_return_if_fail(G_IS_INET_SOCKET_ADDRESS(server));

	g_task_set_source_tag(task, pl_stun_transport_new_tcp_async);
	g_socket_client_set_enable_proxy(client, FALSE);
	g_socket_client_connect_async(client, G_SOCKET_CONNECTABLE(server), cancellable,
	                              pl_stun_transport_connect_cb, g_steal_pointer(&task));
}

PlStunTransport *
pl_stun_transport_new_tcp_finish(GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}

/* -------------------------------------------------------------------------- */
/* transactions */

gboolean
pl_stun_transport_is_tcp(PlStunTransport *self)
{
	g_return_val_if_fail(PL_IS_STUN_TRANSPORT(self), FALSE);
	return self->connection != NULL;
}

GInetSocketAddress *
pl_stun_transport_get_local_address(PlStunTransport *self)
{
	g_return_val_if_fail(PL_IS_STUN_TRANSPORT(self), NULL);
	return self->local;
}

static gboolean
pl_stun_pending_timeout_cb(gpointer user_data)
{
	PlStunPending *pending = user_data;
	g_autoptr(PlStunTransport) keep = g_object_ref(pending->self);
	GError *error;

	if (pending->garbage != NULL) {
		error = g_steal_pointer(&pending->garbage);
	} else {
		g_autofree gchar *to =
		        pl_stun_address_to_string(pending->to != NULL ? pending->to : keep->remote);
		error = g_error_new(G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
		                    "No answer from %s within %u ms", to, pending->timeout_ms);
	}
	pl_stun_pending_finish(pending, NULL, error);
	return G_SOURCE_REMOVE;
}

static gboolean
pl_stun_pending_cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
	PlStunPending *pending = user_data;
	g_autoptr(PlStunTransport) keep = g_object_ref(pending->self);

	pl_stun_pending_finish(
	        pending, NULL,
	        g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled"));
	return G_SOURCE_REMOVE;
}

void
pl_stun_transport_request_async(PlStunTransport *self,
                                GInetSocketAddress *to,
                                GBytes *request,
                                guint timeout_ms,
                                GCancellable *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	PlStunPending *pending;
	gsize size = 0;
	const guint8 *data;

	g_return_if_fail(PL_IS_STUN_TRANSPORT(self));
	g_return_if_fail(request != NULL);
	g_return_if_fail(self->connection != NULL || G_IS_INET_SOCKET_ADDRESS(to));

	data = g_bytes_get_data(request, &size);
	g_return_if_fail(size >= PL_STUN_HEADER_SIZE);

	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, pl_stun_transport_request_async);
	if (g_task_return_error_if_cancelled(task))
		return;
	if (self->broken != NULL) {
		g_task_return_error(task, g_error_copy(self->broken));
		return;
	}

	pending = g_new0(PlStunPending, 1);
	pending->self = self;
	pending->task = g_steal_pointer(&task);
	memcpy(pending->id.id, data + 8, PL_STUN_TRANSACTION_ID_SIZE);
	pending->method_type = (guint16)((data[0] << 8) | data[1]);
	pending->request = g_bytes_ref(request);
	pending->to = to != NULL && self->connection == NULL ? g_object_ref(to) : NULL;
	pending->timeout_ms = timeout_ms;
	pending->rto_ms = PL_STUN_FIRST_RTO_MS;
	g_ptr_array_add(self->pending, pending);

	pending->timeout_source = g_timeout_source_new(timeout_ms);
	g_source_set_callback(pending->timeout_source, pl_stun_pending_timeout_cb, pending, NULL);
	g_source_attach(pending->timeout_source, g_task_get_context(pending->task));
	if (cancellable != NULL) {
		pending->cancel_source = g_cancellable_source_new(cancellable);
		g_source_set_callback(pending->cancel_source,
		                      (GSourceFunc)(GCallback)pl_stun_pending_cancelled_cb, pending,
		                      NULL);
		g_source_attach(pending->cancel_source, g_task_get_context(pending->task));
	}

	if (self->connection != NULL) {
		pending->last_sent_us = g_get_monotonic_time();
		g_queue_push_tail(self->outbox, g_bytes_ref(request));
		pl_stun_transport_write_next(self);
		return;
	}
	pl_stun_transport_send_udp(pending);
	pending->retransmit_source = g_timeout_source_new(pending->rto_ms);
	g_source_set_callback(pending->retransmit_source, pl_stun_pending_retransmit_cb, pending,
	                      NULL);
	g_source_attach(pending->retransmit_source, g_task_get_context(pending->task));
}

PlStunResponse *
pl_stun_transport_request_finish(PlStunTransport *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, self), NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}

/* -------------------------------------------------------------------------- */

static void
pl_stun_transport_dispose(GObject *object)
{
	PlStunTransport *self = PL_STUN_TRANSPORT(object);

	pl_stun_transport_close_connection(self);
	if (self->socket_source != NULL) {
		g_source_destroy(self->socket_source);
		g_clear_pointer(&self->socket_source, g_source_unref);
	}
	if (self->socket != NULL)
		g_socket_close(self->socket, NULL);
	g_clear_object(&self->socket);
	g_clear_object(&self->connection);
	G_OBJECT_CLASS(pl_stun_transport_parent_class)->dispose(object);
}

static void
pl_stun_transport_finalize(GObject *object)
{
	PlStunTransport *self = PL_STUN_TRANSPORT(object);

	/* every pending transaction holds a reference: none is left */
	g_ptr_array_unref(self->pending);
	g_clear_object(&self->cancellable);
	g_clear_object(&self->local);
	g_clear_object(&self->remote);
	g_clear_pointer(&self->inbox, g_byte_array_unref);
	if (self->outbox != NULL)
		g_queue_free_full(self->outbox, (GDestroyNotify)g_bytes_unref);
	g_clear_error(&self->broken);
	G_OBJECT_CLASS(pl_stun_transport_parent_class)->finalize(object);
}

static void
pl_stun_transport_class_init(PlStunTransportClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = pl_stun_transport_dispose;
	object_class->finalize = pl_stun_transport_finalize;
}

static void
pl_stun_transport_init(PlStunTransport *self)
{
	self->cancellable = g_cancellable_new();
	self->pending = g_ptr_array_new();
}
