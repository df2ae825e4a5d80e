#include "config.h"

#include <string.h>

#include "netcheck-test-responder.h"
#include "pl-stun-message.h"

struct _NetcheckTestResponder {
	NetcheckTestReplyFunc reply;
	gpointer user_data;
	guint16 port;
	guint requests;
	guint16 last_peer_port;
	gboolean split;

	/* UDP */
	GSocket *socket;
	GSource *source;

	/* TCP */
	GSocketService *service;
	GPtrArray *connections; /* NetcheckTestConnection* */
};

typedef struct {
	NetcheckTestResponder *responder; /* NULL once the responder is gone */
	GSocketConnection *connection;
	GCancellable *cancellable;
	GByteArray *inbox;
	guint8 buf[2048];
	GPtrArray *timers; /* GSource* of split writes */
	gboolean reading;  /* a read in flight: it frees a dead connection */
	gboolean dead;
} NetcheckTestConnection;

GBytes *
netcheck_test_reply_garbage(const guint8 *request, gsize len, gpointer user_data)
{
	gsize size = (gsize)g_random_int_range(1, 201);
	guint8 *bytes = g_malloc(size);

	for (gsize i = 0; i < size; i++)
		bytes[i] = (guint8)g_random_int_range(0, 256);
	bytes[0] |= 0xc0;
	return g_bytes_new_take(bytes, size);
}

/* -------------------------------------------------------------------------- */
/* UDP */

static gboolean
netcheck_test_udp_cb(GSocket *socket, GIOCondition condition, gpointer user_data)
{
	NetcheckTestResponder *self = user_data;
	guint8 buf[2048];
	g_autoptr(GSocketAddress) from = NULL;
	g_autoptr(GBytes) reply = NULL;
	gssize n = g_socket_receive_from(socket, &from, (gchar *)buf, sizeof(buf), NULL, NULL);

	if (n < 0)
		return G_SOURCE_CONTINUE;
	self->requests++;
	self->last_peer_port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(from));
	if (self->reply != NULL)
		reply = self->reply(buf, (gsize)n, self->user_data);
	if (reply != NULL)
		g_socket_send_to(socket, from, g_bytes_get_data(reply, NULL),
		                 g_bytes_get_size(reply), NULL, NULL);
	return G_SOURCE_CONTINUE;
}

NetcheckTestResponder *
netcheck_test_responder_new_udp(NetcheckTestReplyFunc reply, gpointer user_data)
{
	NetcheckTestResponder *self = g_new0(NetcheckTestResponder, 1);
	g_autoptr(GError) error = NULL;
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) address = g_inet_socket_address_new(loopback, 0);
	g_autoptr(GSocketAddress) local = NULL;

	self->reply = reply;
	self->user_data = user_data;
	self->socket = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
	                            G_SOCKET_PROTOCOL_UDP, &error);
	g_assert_no_error(error);
	g_assert_true(g_socket_bind(self->socket, address, FALSE, &error));
	g_assert_no_error(error);
	local = g_socket_get_local_address(self->socket, &error);
	g_assert_no_error(error);
	self->port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
	self->source = g_socket_create_source(self->socket, G_IO_IN, NULL);
	g_source_set_callback(self->source, (GSourceFunc)(GCallback)netcheck_test_udp_cb, self,
	                      NULL);
	g_source_attach(self->source, NULL);
	return self;
}

/* -------------------------------------------------------------------------- */
/* TCP */

/* the buffer of a read in flight stays until its callback */
static void
netcheck_test_connection_free(NetcheckTestConnection *conn)
{
	if (!conn->dead) {
		conn->dead = TRUE;
		conn->responder = NULL;
		g_cancellable_cancel(conn->cancellable);
		for (guint i = 0; i < conn->timers->len; i++)
			g_source_destroy(g_ptr_array_index(conn->timers, i));
		g_ptr_array_unref(conn->timers);
		g_io_stream_close(G_IO_STREAM(conn->connection), NULL, NULL);
		g_clear_object(&conn->connection);
		g_clear_object(&conn->cancellable);
		g_byte_array_unref(conn->inbox);
	}
	if (!conn->reading)
		g_free(conn);
}

static void
netcheck_test_write(NetcheckTestConnection *conn, GBytes *bytes)
{
	GOutputStream *output = g_io_stream_get_output_stream(G_IO_STREAM(conn->connection));

	g_output_stream_write_all(output, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes),
	                          NULL, NULL, NULL);
}

typedef struct {
	NetcheckTestConnection *conn;
	GBytes *rest;
	GSource *source;
} NetcheckTestSplit;

static void
netcheck_test_split_free(gpointer data)
{
	NetcheckTestSplit *split = data;

	g_bytes_unref(split->rest);
	g_free(split);
}

static gboolean
netcheck_test_split_cb(gpointer user_data)
{
	NetcheckTestSplit *split = user_data;

	netcheck_test_write(split->conn, split->rest);
	g_ptr_array_remove(split->conn->timers, split->source);
	return G_SOURCE_REMOVE;
}

static void
netcheck_test_reply(NetcheckTestConnection *conn, GBytes *reply)
{
	gsize size = g_bytes_get_size(reply);
	NetcheckTestSplit *split;
	g_autoptr(GBytes) first = NULL;

	if (!conn->responder->split || size < 2) {
		netcheck_test_write(conn, reply);
		return;
	}
	first = g_bytes_new_from_bytes(reply, 0, size / 2);
	netcheck_test_write(conn, first);
	split = g_new0(NetcheckTestSplit, 1);
	split->conn = conn;
	split->rest = g_bytes_new_from_bytes(reply, size / 2, size - size / 2);
	split->source = g_timeout_source_new(50);
	g_source_set_callback(split->source, netcheck_test_split_cb, split,
	                      netcheck_test_split_free);
	g_ptr_array_add(conn->timers, split->source);
	g_source_attach(split->source, NULL);
}

static void netcheck_test_read(NetcheckTestConnection *conn);

static void
netcheck_test_read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	NetcheckTestConnection *conn = user_data;
	gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, NULL);

	conn->reading = FALSE;
	if (conn->dead) {
		netcheck_test_connection_free(conn);
		return;
	}
	if (n <= 0)
		return;
	g_byte_array_append(conn->inbox, conn->buf, (guint)n);
	for (;;) {
		gssize total = pl_stun_message_peek_length(conn->inbox->data, conn->inbox->len);
		g_autoptr(GBytes) reply = NULL;

		if (total <= 0 || (gsize)total > conn->inbox->len) {
			if (total < 0)
				g_byte_array_set_size(conn->inbox, 0);
			break;
		}
		conn->responder->requests++;
		if (conn->responder->reply != NULL)
			reply = conn->responder->reply(conn->inbox->data, (gsize)total,
			                               conn->responder->user_data);
		g_byte_array_remove_range(conn->inbox, 0, (guint)total);
		if (reply != NULL)
			netcheck_test_reply(conn, reply);
	}
	netcheck_test_read(conn);
}

static void
netcheck_test_read(NetcheckTestConnection *conn)
{
	GInputStream *input = g_io_stream_get_input_stream(G_IO_STREAM(conn->connection));

	conn->reading = TRUE;
	g_input_stream_read_async(input, conn->buf, sizeof(conn->buf), G_PRIORITY_DEFAULT,
	                          conn->cancellable, netcheck_test_read_cb, conn);
}

static gboolean
netcheck_test_incoming_cb(GSocketService *service,
                          GSocketConnection *connection,
                          GObject *source_object,
                          gpointer user_data)
{
	NetcheckTestResponder *self = user_data;
	NetcheckTestConnection *conn = g_new0(NetcheckTestConnection, 1);

	conn->responder = self;
	conn->connection = g_object_ref(connection);
	conn->cancellable = g_cancellable_new();
	conn->inbox = g_byte_array_new();
	conn->timers = g_ptr_array_new_with_free_func((GDestroyNotify)g_source_unref);
	g_ptr_array_add(self->connections, conn);
	if (self->reply == netcheck_test_reply_garbage) {
		/* garbage right away, and again for every request */
		g_autoptr(GBytes) garbage = netcheck_test_reply_garbage(NULL, 0, NULL);
		netcheck_test_write(conn, garbage);
	}
	netcheck_test_read(conn);
	return TRUE;
}

NetcheckTestResponder *
netcheck_test_responder_new_tcp(NetcheckTestReplyFunc reply, gpointer user_data)
{
	NetcheckTestResponder *self = g_new0(NetcheckTestResponder, 1);
	g_autoptr(GError) error = NULL;
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) address = g_inet_socket_address_new(loopback, 0);
	g_autoptr(GSocketAddress) effective = NULL;

	self->reply = reply;
	self->user_data = user_data;
	self->connections = g_ptr_array_new();
	self->service = g_socket_service_new();
	g_assert_true(g_socket_listener_add_address(G_SOCKET_LISTENER(self->service), address,
	                                            G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
	                                            NULL, &effective, &error));
	g_assert_no_error(error);
	self->port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(effective));
	g_signal_connect(self->service, "incoming", G_CALLBACK(netcheck_test_incoming_cb), self);
	g_socket_service_start(self->service);
	return self;
}

/* -------------------------------------------------------------------------- */

void
netcheck_test_responder_free(NetcheckTestResponder *self)
{
	if (self == NULL)
		return;
	if (self->source != NULL) {
		g_source_destroy(self->source);
		g_source_unref(self->source);
	}
	if (self->socket != NULL) {
		g_socket_close(self->socket, NULL);
		g_object_unref(self->socket);
	}
	if (self->service != NULL) {
		g_socket_service_stop(self->service);
		g_socket_listener_close(G_SOCKET_LISTENER(self->service));
		g_signal_handlers_disconnect_by_data(self->service, self);
		g_object_unref(self->service);
	}
	if (self->connections != NULL) {
		/* the reads in flight end with the cancellation; their data stays */
		for (guint i = 0; i < self->connections->len; i++) {
			netcheck_test_connection_free(g_ptr_array_index(self->connections, i));
		}
		g_ptr_array_unref(self->connections);
	}
	g_free(self);
}

guint16
netcheck_test_responder_get_port(NetcheckTestResponder *self)
{
	return self->port;
}

guint
netcheck_test_responder_get_requests(NetcheckTestResponder *self)
{
	return self->requests;
}

void
netcheck_test_responder_set_split_writes(NetcheckTestResponder *self, gboolean split)
{
	self->split = split;
}

guint16
netcheck_test_responder_get_last_peer_port(NetcheckTestResponder *self)
{
	return self->last_peer_port;
}
