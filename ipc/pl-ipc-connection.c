#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <gio/gunixfdmessage.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pl-ipc-connection.h"

#define READ_CHUNK_SIZE      16384
#define MAX_READS_PER_WAKEUP 16
#define CLOSE_AFTER_FLUSH_MS 2000
#define LINGER_MS            1000 /* after a parting message: for the peer to hang up */

/* A received descriptor belongs to a message starting within the read that brought it. */
typedef struct {
	gint fd;
	guint64 read_start; /* stream offsets of that read */
	guint64 read_end;
} PlPendingFd;

typedef struct {
	GBytes *data;
	gsize offset;
	GUnixFDList *fd_list; /* sent with the first byte */
} PlOutItem;

struct _PlIpcConnection {
	GObject parent_instance;
	GSocket *socket;
	guint64 serial;
	gboolean closed;
	gsize max_message_size;
	gsize max_output;
	guint stall_timeout_ms;
	GByteArray *input;
	guint64 input_offset; /* stream offset of input->data[0] */
	GArray *pending_fds;  /* PlPendingFd, in arrival order */
	GQueue output;
	gsize queued_output;
	GSource *read_source;
	GSource *write_source;
	GSource *stall_source;
	GSource *close_source;
	GError *close_reason; /* for close_after_flush */
	gboolean lingering;   /* all sent, our side shut: waiting for the peer's end */
};

enum { SIGNAL_MESSAGE, SIGNAL_INVALID_MESSAGE, SIGNAL_CLOSED, SIGNAL_LAST };
static guint signals[SIGNAL_LAST] = {0};

G_DEFINE_TYPE(PlIpcConnection, pl_ipc_connection, G_TYPE_OBJECT)

static void
pl_out_item_free(PlOutItem *item)
{
	g_bytes_unref(item->data);
	g_clear_object(&item->fd_list);
	g_free(item);
}

static void
clear_source(GSource **source)
{
	if (*source == NULL)
		return;
	g_source_destroy(*source);
	g_clear_pointer(source, g_source_unref);
}

static void
close_pending_fds(PlIpcConnection *self)
{
	for (guint i = 0; i < self->pending_fds->len; i++)
		close(g_array_index(self->pending_fds, PlPendingFd, i).fd);
	g_array_set_size(self->pending_fds, 0);
}

static void
pl_ipc_connection_dispose(GObject *object)
{
	PlIpcConnection *self = PL_IPC_CONNECTION(object);

	clear_source(&self->read_source);
	clear_source(&self->write_source);
	clear_source(&self->stall_source);
	clear_source(&self->close_source);
	if (self->socket != NULL)
		g_socket_close(self->socket, NULL);
	g_clear_object(&self->socket);
	G_OBJECT_CLASS(pl_ipc_connection_parent_class)->dispose(object);
}

static void
pl_ipc_connection_finalize(GObject *object)
{
	PlIpcConnection *self = PL_IPC_CONNECTION(object);

	close_pending_fds(self);
	g_array_unref(self->pending_fds);
	g_byte_array_unref(self->input);
	g_queue_clear_full(&self->output, (GDestroyNotify)pl_out_item_free);
	g_clear_error(&self->close_reason);
	G_OBJECT_CLASS(pl_ipc_connection_parent_class)->finalize(object);
}

static void
pl_ipc_connection_class_init(PlIpcConnectionClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = pl_ipc_connection_dispose;
	object_class->finalize = pl_ipc_connection_finalize;

	/* a well-formed message arrived, with its file descriptors attached */
	signals[SIGNAL_MESSAGE] =
	        g_signal_new("message", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
	                     NULL, G_TYPE_NONE, 1, PL_TYPE_IPC_MESSAGE);
	/* a complete line that is not a valid message; the stream stays usable */
	signals[SIGNAL_INVALID_MESSAGE] =
	        g_signal_new("invalid-message", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
	                     NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_INT64, G_TYPE_ERROR);
	/* emitted once; the error is NULL when the other side closed cleanly */
	signals[SIGNAL_CLOSED] = g_signal_new("closed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
	                                      0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
pl_ipc_connection_init(PlIpcConnection *self)
{
	static guint64 next_serial = 1;

	self->serial = next_serial++;
	self->max_message_size = PL_IPC_DEFAULT_MAX_MESSAGE_SIZE;
	self->max_output = PL_IPC_DEFAULT_MAX_OUTPUT;
	self->stall_timeout_ms = PL_IPC_DEFAULT_STALL_TIMEOUT_MS;
	self->input = g_byte_array_new();
	self->pending_fds = g_array_new(FALSE, FALSE, sizeof(PlPendingFd));
	g_queue_init(&self->output);
}

PlIpcConnection *
pl_ipc_connection_new(GSocket *socket)
{
	PlIpcConnection *self;

	g_return_val_if_fail(G_IS_SOCKET(socket), NULL);
	self = g_object_new(PL_TYPE_IPC_CONNECTION, NULL);
	self->socket = g_object_ref(socket);
	g_socket_set_blocking(socket, FALSE);
	return self;
}

void
pl_ipc_connection_set_max_message_size(PlIpcConnection *self, gsize max_message_size)
{
	self->max_message_size = max_message_size;
}

void
pl_ipc_connection_set_max_output(PlIpcConnection *self, gsize max_output)
{
	self->max_output = max_output;
}

void
pl_ipc_connection_set_stall_timeout(PlIpcConnection *self, guint timeout_ms)
{
	self->stall_timeout_ms = timeout_ms;
}

guint64
pl_ipc_connection_get_serial(PlIpcConnection *self)
{
	return self->serial;
}

gboolean
pl_ipc_connection_is_closed(PlIpcConnection *self)
{
	return self->closed;
}

gsize
pl_ipc_connection_get_queued_output(PlIpcConnection *self)
{
	return self->queued_output;
}

gboolean
pl_ipc_connection_get_peer_credentials(PlIpcConnection *self, uid_t *uid, pid_t *pid)
{
	g_autoptr(GCredentials) credentials = NULL;

	if (self->socket == NULL)
		return FALSE;
	credentials = g_socket_get_credentials(self->socket, NULL);
	if (credentials == NULL)
		return FALSE;
	if (uid != NULL)
		*uid = g_credentials_get_unix_user(credentials, NULL);
	if (pid != NULL)
		*pid = g_credentials_get_unix_pid(credentials, NULL);
	return TRUE;
}

void
pl_ipc_connection_close(PlIpcConnection *self, const GError *reason)
{
	g_autoptr(PlIpcConnection) keep = NULL;

	if (self->closed)
		return;
	keep = g_object_ref(self);
	self->closed = TRUE;
	clear_source(&self->read_source);
	clear_source(&self->write_source);
	clear_source(&self->stall_source);
	clear_source(&self->close_source);
	g_socket_close(self->socket, NULL);
	close_pending_fds(self);
	g_queue_clear_full(&self->output, (GDestroyNotify)pl_out_item_free);
	self->queued_output = 0;
	g_signal_emit(self, signals[SIGNAL_CLOSED], 0, reason);
}

static void
close_with_error(PlIpcConnection *self, PlIpcErrorCode code, const gchar *message)
{
	g_autoptr(GError) error = g_error_new_literal(PL_IPC_ERROR, code, message);
	pl_ipc_connection_close(self, error);
}

/* writing */

static gboolean on_socket_writable(GSocket *socket, GIOCondition condition, gpointer user_data);

static void
watch_writable(PlIpcConnection *self, gboolean watch)
{
	if (!watch) {
		clear_source(&self->write_source);
		return;
	}
	if (self->write_source != NULL)
		return;
	self->write_source = g_socket_create_source(self->socket, G_IO_OUT, NULL);
	g_source_set_callback(self->write_source, G_SOURCE_FUNC(on_socket_writable), self, NULL);
	g_source_attach(self->write_source, g_main_context_get_thread_default());
}

/*
 * Closing a Unix stream socket with unread input resets the peer, whose
 * next read then fails with ECONNRESET and may never see the reply we just
 * sent; and a request the peer writes after our close fails with EPIPE
 * before it reads the reply. So after the parting message our side is shut
 * (the peer reads it, then end of stream), and what the peer sends is read
 * and dropped until it hangs up, for LINGER_MS at most. Descriptors in it
 * are closed by the kernel when no control buffer takes them.
 */

/* TRUE once the peer hung up (or the socket failed) */
static gboolean
discard_input(PlIpcConnection *self)
{
	gint fd = g_socket_get_fd(self->socket);
	guint8 scratch[4096];
	gssize n;

	/* bounded: a socket buffer's worth per call, not a peer that keeps writing */
	for (guint i = 0; i < 64; i++) {
		n = recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return TRUE;
		if (n < 0)
			return FALSE;
	}
	return FALSE;
}

static void
close_for_reason(PlIpcConnection *self)
{
	g_autoptr(GError) reason = g_steal_pointer(&self->close_reason);

	pl_ipc_connection_close(self, reason);
}

static gboolean
on_linger_readable(GSocket *socket, GIOCondition condition, gpointer user_data)
{
	PlIpcConnection *self = PL_IPC_CONNECTION(user_data);

	if (!discard_input(self))
		return G_SOURCE_CONTINUE;
	close_for_reason(self);
	return G_SOURCE_REMOVE;
}

static gboolean on_close_timeout(gpointer user_data);

static void
finish_close_after_flush(PlIpcConnection *self)
{
	shutdown(g_socket_get_fd(self->socket), SHUT_WR);
	if (discard_input(self)) {
		close_for_reason(self);
		return;
	}
	self->lingering = TRUE;
	clear_source(&self->close_source);
	self->close_source = g_timeout_source_new(LINGER_MS);
	g_source_set_callback(self->close_source, on_close_timeout, self, NULL);
	g_source_attach(self->close_source, g_main_context_get_thread_default());
	self->read_source = g_socket_create_source(self->socket, G_IO_IN, NULL);
	g_source_set_callback(self->read_source, G_SOURCE_FUNC(on_linger_readable), self, NULL);
	g_source_attach(self->read_source, g_main_context_get_thread_default());
}

static gssize read_once(PlIpcConnection *self);
static gboolean process_input(PlIpcConnection *self);

/*
 * The peer hung up while we wrote (EPIPE): what it sent before is delivered
 * first, since it often says why (an agent refusing a client sends its
 * reason, then closes, maybe before the client's request was written).
 * FALSE if that closed the connection.
 */
static gboolean
read_parting_words(PlIpcConnection *self)
{
	for (guint i = 0; i < MAX_READS_PER_WAKEUP; i++) {
		gssize received = read_once(self);
		if (received <= 0 || !process_input(self))
			break;
	}
	return !self->closed;
}

/* Returns FALSE if the connection was closed. */
static gboolean
write_pending(PlIpcConnection *self)
{
	while (!g_queue_is_empty(&self->output)) {
		PlOutItem *item = g_queue_peek_head(&self->output);
		g_autoptr(GSocketControlMessage) fd_message = NULL;
		g_autoptr(GError) error = NULL;
		GOutputVector vector;
		gsize size = 0;
		const guint8 *data = g_bytes_get_data(item->data, &size);
		gssize written;

		vector.buffer = data + item->offset;
		vector.size = size - item->offset;
		if (item->offset == 0 && item->fd_list != NULL)
			fd_message = g_unix_fd_message_new_with_fd_list(item->fd_list);
		written = g_socket_send_message(self->socket, NULL, &vector, 1,
		                                fd_message != NULL ? &fd_message : NULL,
		                                fd_message != NULL ? 1 : 0, 0, NULL, &error);
		if (written < 0) {
			if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
				watch_writable(self, TRUE);
				return TRUE;
			}
			if (read_parting_words(self))
				pl_ipc_connection_close(self, error);
			return FALSE;
		}
		item->offset += (gsize)written;
		self->queued_output -= (gsize)written;
		if (item->offset == size)
			pl_out_item_free(g_queue_pop_head(&self->output));
	}
	watch_writable(self, FALSE);
	if (self->close_reason != NULL) {
		finish_close_after_flush(self);
		return FALSE;
	}
	return TRUE;
}

static gboolean
on_socket_writable(GSocket *socket, GIOCondition condition, gpointer user_data)
{
	PlIpcConnection *self = PL_IPC_CONNECTION(user_data);
	g_autoptr(PlIpcConnection) keep = g_object_ref(self);

	g_clear_pointer(&self->write_source, g_source_unref);
	write_pending(self);
	return G_SOURCE_REMOVE;
}

gboolean
pl_ipc_connection_send(PlIpcConnection *self, PlIpcMessage *message, GError **error)
{
	g_autoptr(PlIpcConnection) keep = g_object_ref(self);
	PlOutItem *item;

	if (self->closed || self->close_reason != NULL) {
		g_set_error_literal(error, PL_IPC_ERROR, PL_IPC_ERROR_DISCONNECTED,
		                    _("the connection is closed"));
		return FALSE;
	}
	item = g_new0(PlOutItem, 1);
	item->data = pl_ipc_message_encode(message);
	if (pl_ipc_message_get_fd_list(message) != NULL)
		item->fd_list = g_object_ref(pl_ipc_message_get_fd_list(message));
	if (self->queued_output + g_bytes_get_size(item->data) > self->max_output) {
		pl_out_item_free(item);
		close_with_error(self, PL_IPC_ERROR_SLOW_CLIENT,
		                 _("the other side does not read its messages"));
		g_set_error_literal(error, PL_IPC_ERROR, PL_IPC_ERROR_SLOW_CLIENT,
		                    _("the other side does not read its messages"));
		return FALSE;
	}
	self->queued_output += g_bytes_get_size(item->data);
	g_queue_push_tail(&self->output, item);
	if (self->write_source == NULL && !write_pending(self)) {
		g_set_error_literal(error, PL_IPC_ERROR, PL_IPC_ERROR_DISCONNECTED,
		                    _("the connection is closed"));
		return FALSE;
	}
	return TRUE;
}

static gboolean
on_close_timeout(gpointer user_data)
{
	PlIpcConnection *self = PL_IPC_CONNECTION(user_data);

	g_clear_pointer(&self->close_source, g_source_unref);
	if (self->lingering)
		close_for_reason(self);
	else
		finish_close_after_flush(self);
	return G_SOURCE_REMOVE;
}

/* Stops reading, sends what is queued (bounded in time), then closes. */
void
pl_ipc_connection_close_after_flush(PlIpcConnection *self, const GError *reason)
{
	if (self->closed || self->close_reason != NULL)
		return;
	clear_source(&self->read_source);
	clear_source(&self->stall_source);
	self->close_reason = reason != NULL
	                             ? g_error_copy(reason)
	                             : g_error_new_literal(PL_IPC_ERROR, PL_IPC_ERROR_DISCONNECTED,
	                                                   _("connection closed"));
	if (g_queue_is_empty(&self->output)) {
		finish_close_after_flush(self);
		return;
	}
	self->close_source = g_timeout_source_new(CLOSE_AFTER_FLUSH_MS);
	g_source_set_callback(self->close_source, on_close_timeout, self, NULL);
	g_source_attach(self->close_source, g_main_context_get_thread_default());
}

/* A framing error: tell the other side why, then hang up. */
static void
reject_stream(PlIpcConnection *self, PlIpcErrorCode code, const gchar *message)
{
	g_autoptr(PlIpcMessage) reply = pl_ipc_message_new_error(PL_IPC_ID_NONE, code, message);
	g_autoptr(GError) error = g_error_new_literal(PL_IPC_ERROR, code, message);

	g_debug("connection %" G_GUINT64_FORMAT ": %s", self->serial, message);
	if (pl_ipc_connection_send(self, reply, NULL))
		pl_ipc_connection_close_after_flush(self, error);
}

/* reading */

static guint
count_claimable_fds(PlIpcConnection *self, guint64 line_start)
{
	guint n = 0;

	for (guint i = 0; i < self->pending_fds->len; i++) {
		PlPendingFd *pending = &g_array_index(self->pending_fds, PlPendingFd, i);
		if (pending->read_start <= line_start && line_start < pending->read_end)
			n++;
	}
	return n;
}

static GUnixFDList *
take_fds(PlIpcConnection *self, guint64 line_start, guint n_fds)
{
	g_autoptr(GArray) fds = g_array_new(FALSE, FALSE, sizeof(gint));

	for (guint i = 0; i < self->pending_fds->len && fds->len < n_fds;) {
		PlPendingFd *pending = &g_array_index(self->pending_fds, PlPendingFd, i);
		if (pending->read_start <= line_start && line_start < pending->read_end) {
			g_array_append_val(fds, pending->fd);
			g_array_remove_index(self->pending_fds, i);
		} else {
			i++;
		}
	}
	return g_unix_fd_list_new_from_array((gint *)fds->data, (gint)fds->len);
}

/* Descriptors whose read is fully consumed and that no message claimed are strays. */
static void
close_unclaimed_fds(PlIpcConnection *self, guint64 consumed_offset)
{
	for (guint i = 0; i < self->pending_fds->len;) {
		PlPendingFd *pending = &g_array_index(self->pending_fds, PlPendingFd, i);
		if (pending->read_end <= consumed_offset) {
			g_debug("connection %" G_GUINT64_FORMAT ": closing undeclared fd",
			        self->serial);
			close(pending->fd);
			g_array_remove_index(self->pending_fds, i);
		} else {
			i++;
		}
	}
}

/* Returns FALSE when the stream cannot go on. */
static gboolean
dispatch_line(PlIpcConnection *self, const gchar *line, gsize len, guint64 line_start)
{
	g_autoptr(PlIpcMessage) message = NULL;
	g_autoptr(GError) error = NULL;
	gint64 id = PL_IPC_ID_NONE;
	guint n_claimable;
	guint n_fds;

	message = pl_ipc_message_decode(line, len, &id, &error);
	if (message == NULL) {
		g_signal_emit(self, signals[SIGNAL_INVALID_MESSAGE], 0, id, error);
		return !self->closed;
	}
	n_fds = pl_ipc_message_get_n_fds(message);
	n_claimable = count_claimable_fds(self, line_start);
	if (n_fds > n_claimable) {
		g_autofree gchar *text = g_strdup_printf(
		        g_dngettext(GETTEXT_PACKAGE,
		                    "message declares %u file descriptor but %u arrived with it",
		                    "message declares %u file descriptors but %u arrived with it",
		                    n_fds),
		        n_fds, n_claimable);
		reject_stream(self, PL_IPC_ERROR_INVALID_REQUEST, text);
		return FALSE;
	}
	if (n_fds > 0) {
		g_autoptr(GUnixFDList) fd_list = take_fds(self, line_start, n_fds);
		pl_ipc_message_set_fd_list(message, fd_list);
	}
	g_signal_emit(self, signals[SIGNAL_MESSAGE], 0, message);
	return !self->closed;
}

static gboolean
line_is_blank(const gchar *line, gsize len)
{
	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_isspace(line[i]))
			return FALSE;
	}
	return TRUE;
}

static void
reject_too_large(PlIpcConnection *self)
{
	g_autofree gchar *text = g_strdup_printf(_("message exceeds the limit of %lu bytes"),
	                                         (gulong)self->max_message_size);
	reject_stream(self, PL_IPC_ERROR_MESSAGE_TOO_LARGE, text);
}

/* Returns FALSE when the stream cannot go on. */
static gboolean
process_input(PlIpcConnection *self)
{
	gsize consumed = 0;

	while (!self->closed && self->close_reason == NULL) {
		gsize available = self->input->len - consumed;
		const gchar *start;
		const gchar *newline;
		gsize len;

		/* nothing buffered: data may still be NULL, which memchr() must not get */
		if (available == 0)
			break;
		start = (const gchar *)self->input->data + consumed;
		newline = memchr(start, '\n', available);

		if (newline == NULL) {
			if (available > self->max_message_size) {
				reject_too_large(self);
				return FALSE;
			}
			break;
		}
		len = (gsize)(newline - start);
		if (len > self->max_message_size) {
			reject_too_large(self);
			return FALSE;
		}
		if (!line_is_blank(start, len) &&
		    !dispatch_line(self, start, len, self->input_offset + consumed))
			return FALSE;
		consumed += len + 1;
		close_unclaimed_fds(self, self->input_offset + consumed);
	}
	if (self->closed || self->close_reason != NULL)
		return FALSE;
	g_byte_array_remove_range(self->input, 0, (guint)consumed);
	self->input_offset += consumed;
	if (consumed > 0)
		clear_source(&self->stall_source); /* the next message gets its own deadline */
	return TRUE;
}

static gboolean
on_stall_timeout(gpointer user_data)
{
	PlIpcConnection *self = PL_IPC_CONNECTION(user_data);
	g_autoptr(PlIpcConnection) keep = g_object_ref(self);

	g_clear_pointer(&self->stall_source, g_source_unref);
	reject_stream(self, PL_IPC_ERROR_TIMED_OUT,
	              _("incomplete message: no newline arrived in time"));
	return G_SOURCE_REMOVE;
}

/* Each partial message must complete within the stall timeout. */
static void
update_stall_watch(PlIpcConnection *self)
{
	if (self->input->len == 0) {
		clear_source(&self->stall_source);
		return;
	}
	if (self->stall_source != NULL)
		return;
	self->stall_source = g_timeout_source_new(self->stall_timeout_ms);
	g_source_set_callback(self->stall_source, on_stall_timeout, self, NULL);
	g_source_attach(self->stall_source, g_main_context_get_thread_default());
}

static gboolean
collect_fds(PlIpcConnection *self,
            GSocketControlMessage **messages,
            gint n_messages,
            gsize received)
{
	for (gint i = 0; i < n_messages; i++) {
		gint *fds;
		gint n_fds = 0;

		if (!G_IS_UNIX_FD_MESSAGE(messages[i]))
			continue;
		fds = g_unix_fd_message_steal_fds(G_UNIX_FD_MESSAGE(messages[i]), &n_fds);
		for (gint j = 0; j < n_fds; j++) {
			PlPendingFd pending = {fds[j], self->input_offset + self->input->len,
			                       self->input_offset + self->input->len + received};
			g_array_append_val(self->pending_fds, pending);
		}
		g_free(fds);
	}
	return self->pending_fds->len <= PL_IPC_MAX_PENDING_FDS;
}

static void
free_control_messages(GSocketControlMessage **messages, gint n_messages)
{
	for (gint i = 0; i < n_messages; i++)
		g_object_unref(messages[i]);
	g_free(messages);
}

/* Returns the bytes read, 0 at end of stream, -1 on would-block or error (closed). */
static gssize
read_once(PlIpcConnection *self)
{
	guint8 buffer[READ_CHUNK_SIZE];
	GInputVector vector = {buffer, sizeof(buffer)};
	GSocketControlMessage **messages = NULL;
	g_autoptr(GError) error = NULL;
	gint n_messages = 0;
	gint flags = 0;
	gssize received;
	gboolean fds_ok;

	received = g_socket_receive_message(self->socket, NULL, &vector, 1, &messages, &n_messages,
	                                    &flags, NULL, &error);
	if (received < 0) {
		if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
			pl_ipc_connection_close(self, error);
		return -1;
	}
	fds_ok = collect_fds(self, messages, n_messages, (gsize)received);
	free_control_messages(messages, n_messages);
	if (!fds_ok) {
		reject_stream(self, PL_IPC_ERROR_INVALID_REQUEST,
		              _("too many file descriptors without a message"));
		return -1;
	}
	g_byte_array_append(self->input, buffer, (guint)received);
	return received;
}

static gboolean
on_socket_readable(GSocket *socket, GIOCondition condition, gpointer user_data)
{
	PlIpcConnection *self = PL_IPC_CONNECTION(user_data);
	g_autoptr(PlIpcConnection) keep = g_object_ref(self);

	for (guint i = 0; i < MAX_READS_PER_WAKEUP; i++) {
		gssize received = read_once(self);
		if (received < 0)
			break;
		if (received == 0) {
			if (!process_input(self))
				return G_SOURCE_REMOVE;
			pl_ipc_connection_close(self, NULL);
			return G_SOURCE_REMOVE;
		}
		if (!process_input(self))
			return G_SOURCE_REMOVE;
	}
	if (self->closed || self->close_reason != NULL)
		return G_SOURCE_REMOVE;
	update_stall_watch(self);
	return G_SOURCE_CONTINUE;
}

void
pl_ipc_connection_start(PlIpcConnection *self)
{
	g_return_if_fail(self->read_source == NULL);
	if (self->closed)
		return;
	self->read_source = g_socket_create_source(self->socket, G_IO_IN, NULL);
	g_source_set_callback(self->read_source, G_SOURCE_FUNC(on_socket_readable), self, NULL);
	g_source_attach(self->read_source, g_main_context_get_thread_default());
}
