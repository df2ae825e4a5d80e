#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pl-ctl-bridge.h"

/* rounds of reads and writes before the bridge lets other sources run */
#define PUMP_MAX_ROUNDS 16

/* One direction: a source, a bounded buffer, a destination. */
typedef struct {
	PlCtlBridge *bridge; /* the owner, for the watches' callbacks */
	guint8 *data;
	gsize start; /* data[start..end) is read but not written yet */
	gsize end;
	gboolean eof;           /* the source ended */
	gboolean done;          /* ... and all of it was written: the end was passed on */
	gboolean read_blocked;  /* the last read said EAGAIN: wait for the watch */
	gboolean write_blocked; /* the last write said EAGAIN */
	guint read_id;
	guint write_id;
	guint64 written;
} PlCtlBridgeFlow;

typedef enum {
	PL_CTL_BRIDGE_OP_READ_INPUT,
	PL_CTL_BRIDGE_OP_WRITE_STREAM,
	PL_CTL_BRIDGE_OP_READ_STREAM,
	PL_CTL_BRIDGE_OP_WRITE_OUTPUT,
} PlCtlBridgeOp;

typedef enum {
	PL_CTL_BRIDGE_STEP_IDLE, /* nothing to do, or the descriptor is not ready */
	PL_CTL_BRIDGE_STEP_PROGRESS,
	PL_CTL_BRIDGE_STEP_FAILED,
} PlCtlBridgeStep;

struct _PlCtlBridge {
	GObject parent_instance;
	gint in_fd;
	gint out_fd;
	gint stream_fd;
	gboolean in_restore; /* we set O_NONBLOCK on in_fd: clear it before closing */
	gboolean out_restore;
	PlCtlBridgeFlow up;   /* in_fd → stream_fd */
	PlCtlBridgeFlow down; /* stream_fd → out_fd */
	guint hup_id;         /* while only the input is left: notice the stream closing */
	guint idle_id;        /* start, or go on after PUMP_MAX_ROUNDS */
	GSource *cancel_source;
	GTask *task;
	gboolean started;
};

G_DEFINE_QUARK(pl - ctl - bridge - error - quark, pl_ctl_bridge_error)
G_DEFINE_TYPE(PlCtlBridge, pl_ctl_bridge, G_TYPE_OBJECT)

static void pump(PlCtlBridge *self);

/* descriptors */

static gboolean
needs_nonblocking(gint fd)
{
	struct stat st;

	/* poll() reports regular files and block devices always ready; O_NONBLOCK means nothing
	 * there */
	if (fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)))
		return FALSE;
	return (fcntl(fd, F_GETFL) & O_NONBLOCK) == 0;
}

static gboolean
set_nonblocking(gint fd, GError **error)
{
	gint flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		gint saved_errno = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved_errno),
		            _("cannot make a file descriptor non-blocking: %s"),
		            g_strerror(saved_errno));
		return FALSE;
	}
	return TRUE;
}

/* Puts back what we changed (stdin and stdout may be shared with a shell), then closes. */
static gint
close_fd(gint *fd, gboolean *restore)
{
	gint result = 0;

	if (*fd < 0)
		return 0;
	if (*restore) {
		gint flags = fcntl(*fd, F_GETFL);
		if (flags >= 0)
			fcntl(*fd, F_SETFL, flags & ~O_NONBLOCK);
		*restore = FALSE;
	}
	if (close(*fd) < 0 && errno != EINTR)
		result = errno;
	*fd = -1;
	return result;
}

static void
close_all(PlCtlBridge *self)
{
	gboolean never = FALSE;

	close_fd(&self->in_fd, &self->in_restore);
	close_fd(&self->out_fd, &self->out_restore);
	close_fd(&self->stream_fd, &never);
}

static void
flow_remove_watches(PlCtlBridgeFlow *flow)
{
	g_clear_handle_id(&flow->read_id, g_source_remove);
	g_clear_handle_id(&flow->write_id, g_source_remove);
}

static void
remove_sources(PlCtlBridge *self)
{
	flow_remove_watches(&self->up);
	flow_remove_watches(&self->down);
	g_clear_handle_id(&self->hup_id, g_source_remove);
	g_clear_handle_id(&self->idle_id, g_source_remove);
	if (self->cancel_source != NULL) {
		g_source_destroy(self->cancel_source);
		g_clear_pointer(&self->cancel_source, g_source_unref);
	}
}

static GError *
error_for(PlCtlBridgeOp op, gint saved_errno)
{
	const gchar *reason = g_strerror(saved_errno);
	gboolean on_stream =
	        op == PL_CTL_BRIDGE_OP_READ_STREAM || op == PL_CTL_BRIDGE_OP_WRITE_STREAM;

	if (on_stream && (saved_errno == ECONNRESET || saved_errno == EPIPE))
		return g_error_new(PL_CTL_BRIDGE_ERROR, PL_CTL_BRIDGE_ERROR_RESET,
		                   _("the stream was reset: %s"), reason);
	switch (op) {
	case PL_CTL_BRIDGE_OP_READ_INPUT:
		return g_error_new(PL_CTL_BRIDGE_ERROR, PL_CTL_BRIDGE_ERROR_INPUT,
		                   _("cannot read the input: %s"), reason);
	case PL_CTL_BRIDGE_OP_WRITE_OUTPUT:
		return g_error_new(PL_CTL_BRIDGE_ERROR, PL_CTL_BRIDGE_ERROR_OUTPUT,
		                   _("cannot write the output: %s"), reason);
	case PL_CTL_BRIDGE_OP_READ_STREAM:
		return g_error_new(PL_CTL_BRIDGE_ERROR, PL_CTL_BRIDGE_ERROR_STREAM,
		                   _("cannot read from the stream: %s"), reason);
	case PL_CTL_BRIDGE_OP_WRITE_STREAM:
	default:
		return g_error_new(PL_CTL_BRIDGE_ERROR, PL_CTL_BRIDGE_ERROR_STREAM,
		                   _("cannot write to the stream: %s"), reason);
	}
}

/* object */

static void
pl_ctl_bridge_dispose(GObject *object)
{
	PlCtlBridge *self = PL_CTL_BRIDGE(object);

	remove_sources(self);
	close_all(self);
	G_OBJECT_CLASS(pl_ctl_bridge_parent_class)->dispose(object);
}

static void
pl_ctl_bridge_finalize(GObject *object)
{
	PlCtlBridge *self = PL_CTL_BRIDGE(object);

	g_free(self->up.data);
	g_free(self->down.data);
	G_OBJECT_CLASS(pl_ctl_bridge_parent_class)->finalize(object);
}

static void
pl_ctl_bridge_class_init(PlCtlBridgeClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = pl_ctl_bridge_dispose;
	object_class->finalize = pl_ctl_bridge_finalize;
}

static void
pl_ctl_bridge_init(PlCtlBridge *self)
{
	self->in_fd = -1;
	self->out_fd = -1;
	self->stream_fd = -1;
	self->up.bridge = self;
	self->up.data = g_malloc(PL_CTL_BRIDGE_BUFFER_SIZE);
	self->down.bridge = self;
	self->down.data = g_malloc(PL_CTL_BRIDGE_BUFFER_SIZE);
}

PlCtlBridge *
pl_ctl_bridge_new(gint in_fd, gint out_fd, gint stream_fd)
{
	PlCtlBridge *self;

	g_return_val_if_fail(out_fd >= 0, NULL);
	g_return_val_if_fail(stream_fd >= 0, NULL);
	self = g_object_new(PL_CTL_TYPE_BRIDGE, NULL);
	self->in_fd = in_fd;
	self->out_fd = out_fd;
	self->stream_fd = stream_fd;
	self->up.eof = in_fd < 0;
	return self;
}

guint64
pl_ctl_bridge_get_bytes_sent(PlCtlBridge *self)
{
	g_return_val_if_fail(PL_CTL_IS_BRIDGE(self), 0);
	return self->up.written;
}

guint64
pl_ctl_bridge_get_bytes_received(PlCtlBridge *self)
{
	g_return_val_if_fail(PL_CTL_IS_BRIDGE(self), 0);
	return self->down.written;
}

/* pumping */

static gsize
flow_len(const PlCtlBridgeFlow *flow)
{
	return flow->end - flow->start;
}

static gboolean
flow_wants_read(const PlCtlBridgeFlow *flow)
{
	return !flow->eof && flow_len(flow) < PL_CTL_BRIDGE_BUFFER_SIZE;
}

/* after a read or write that failed: EAGAIN waits for the watch, anything else is final */
static PlCtlBridgeStep
io_failed(gboolean *blocked, gint *saved_errno)
{
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		*blocked = TRUE;
		return PL_CTL_BRIDGE_STEP_IDLE;
	}
	*saved_errno = errno;
	return PL_CTL_BRIDGE_STEP_FAILED;
}

static PlCtlBridgeStep
flow_read(PlCtlBridgeFlow *flow, gint fd, gint *saved_errno)
{
	gssize n;

	if (!flow_wants_read(flow) || flow->read_blocked)
		return PL_CTL_BRIDGE_STEP_IDLE;
	if (flow->end == PL_CTL_BRIDGE_BUFFER_SIZE) {
		memmove(flow->data, flow->data + flow->start, flow_len(flow));
		flow->end -= flow->start;
		flow->start = 0;
	}
	do
		n = read(fd, flow->data + flow->end, PL_CTL_BRIDGE_BUFFER_SIZE - flow->end);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return io_failed(&flow->read_blocked, saved_errno);
	if (n == 0)
		flow->eof = TRUE;
	flow->end += (gsize)n;
	return PL_CTL_BRIDGE_STEP_PROGRESS;
}

static PlCtlBridgeStep
flow_write(PlCtlBridgeFlow *flow, gint fd, gint *saved_errno)
{
	gssize n;

	if (flow_len(flow) == 0 || flow->write_blocked)
		return PL_CTL_BRIDGE_STEP_IDLE;
	do
		n = write(fd, flow->data + flow->start, flow_len(flow));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return io_failed(&flow->write_blocked, saved_errno);
	flow->start += (gsize)n;
	flow->written += (guint64)n;
	if (flow->start == flow->end)
		flow->start = flow->end = 0;
	return PL_CTL_BRIDGE_STEP_PROGRESS;
}

static void
finish(PlCtlBridge *self, GError *error)
{
	g_autoptr(GTask) task = g_steal_pointer(&self->task);
	gint close_errno;

	remove_sources(self);
	close_errno = close_fd(&self->out_fd, &self->out_restore);
	close_all(self);
	if (error == NULL && close_errno != 0) /* e.g. a full disk, reported by close() */
		error = error_for(PL_CTL_BRIDGE_OP_WRITE_OUTPUT, close_errno);
	g_debug("bridge finished: %" G_GUINT64_FORMAT " bytes sent, %" G_GUINT64_FORMAT
	        " received%s%s",
	        self->up.written, self->down.written, error != NULL ? ": " : "",
	        error != NULL ? error->message : "");
	if (error != NULL)
		g_task_return_error(task, error);
	else
		g_task_return_boolean(task, TRUE);
}

/* One read or write; FALSE once the bridge failed (and finished). */
static gboolean
step(PlCtlBridge *self, PlCtlBridgeOp op, gboolean *progress)
{
	PlCtlBridgeStep result = PL_CTL_BRIDGE_STEP_IDLE;
	gint saved_errno = 0;

	switch (op) {
	case PL_CTL_BRIDGE_OP_READ_INPUT:
		result = flow_read(&self->up, self->in_fd, &saved_errno);
		break;
	case PL_CTL_BRIDGE_OP_WRITE_STREAM:
		result = flow_write(&self->up, self->stream_fd, &saved_errno);
		break;
	case PL_CTL_BRIDGE_OP_READ_STREAM:
		result = flow_read(&self->down, self->stream_fd, &saved_errno);
		break;
	case PL_CTL_BRIDGE_OP_WRITE_OUTPUT:
		result = flow_write(&self->down, self->out_fd, &saved_errno);
		break;
	default:
		g_assert_not_reached();
	}
	if (result == PL_CTL_BRIDGE_STEP_FAILED) {
		finish(self, error_for(op, saved_errno));
		return FALSE;
	}
	if (result == PL_CTL_BRIDGE_STEP_PROGRESS)
		*progress = TRUE;
	return TRUE;
}

/* An end of input that is drained becomes a half-close of the stream; the stream's end,
 * drained, closes the output. FALSE once the bridge failed. */
static gboolean
pass_on_ends(PlCtlBridge *self, gboolean *progress)
{
	if (self->up.eof && flow_len(&self->up) == 0 && !self->up.done) {
		self->up.done = TRUE;
		*progress = TRUE;
		if (shutdown(self->stream_fd, SHUT_WR) < 0 && errno != ENOTCONN) {
			finish(self, error_for(PL_CTL_BRIDGE_OP_WRITE_STREAM, errno));
			return FALSE;
		}
		g_debug("input ended: stream half-closed after %" G_GUINT64_FORMAT " bytes",
		        self->up.written);
	}
	if (self->down.eof && flow_len(&self->down) == 0 && !self->down.done) {
		gint close_errno = close_fd(&self->out_fd, &self->out_restore);

		self->down.done = TRUE;
		*progress = TRUE;
		if (close_errno != 0) {
			finish(self, error_for(PL_CTL_BRIDGE_OP_WRITE_OUTPUT, close_errno));
			return FALSE;
		}
		g_debug("stream ended: output closed after %" G_GUINT64_FORMAT " bytes",
		        self->down.written);
	}
	return TRUE;
}

/* The stream's end was passed on; is the stream closed altogether (no more input is
 * wanted), or was it reset? Returns TRUE if the bridge finished. */
static gboolean
check_stream_closed(PlCtlBridge *self)
{
	struct pollfd pfd = {.fd = self->stream_fd, .events = 0, .revents = 0};
	gint saved_errno = 0;
	socklen_t len = sizeof(saved_errno);

	if (poll(&pfd, 1, 0) <= 0)
		return FALSE;
	if (pfd.revents & POLLERR) {
		if (getsockopt(self->stream_fd, SOL_SOCKET, SO_ERROR, &saved_errno, &len) < 0 ||
		    saved_errno == 0)
			saved_errno = ECONNRESET;
		finish(self, error_for(PL_CTL_BRIDGE_OP_READ_STREAM, saved_errno));
		return TRUE;
	}
	if (pfd.revents & (POLLHUP | POLLNVAL)) {
		g_debug("stream closed with %" G_GSIZE_FORMAT " bytes of input left unsent",
		        flow_len(&self->up));
		finish(self, NULL);
		return TRUE;
	}
	return FALSE;
}

static gboolean
check_finished(PlCtlBridge *self)
{
	if (!self->down.done)
		return FALSE;
	if (!self->up.done)
		return check_stream_closed(self);
	finish(self, NULL);
	return TRUE;
}

/* a descriptor that said EAGAIN is ready again */
static gboolean
on_flow_readable(gint fd, GIOCondition condition, gpointer user_data)
{
	PlCtlBridgeFlow *flow = user_data;

	flow->read_id = 0;
	flow->read_blocked = FALSE;
	pump(flow->bridge);
	return G_SOURCE_REMOVE;
}

static gboolean
on_flow_writable(gint fd, GIOCondition condition, gpointer user_data)
{
	PlCtlBridgeFlow *flow = user_data;

	flow->write_id = 0;
	flow->write_blocked = FALSE;
	pump(flow->bridge);
	return G_SOURCE_REMOVE;
}

static gboolean
on_stream_hangup(gint fd, GIOCondition condition, gpointer user_data)
{
	PlCtlBridge *self = PL_CTL_BRIDGE(user_data);

	self->hup_id = 0;
	pump(self);
	return G_SOURCE_REMOVE;
}

static gboolean
on_idle(gpointer user_data)
{
	PlCtlBridge *self = PL_CTL_BRIDGE(user_data);

	self->idle_id = 0;
	pump(self);
	return G_SOURCE_REMOVE;
}

static void
update_watch(guint *id,
             gboolean needed,
             gint fd,
             GIOCondition condition,
             GUnixFDSourceFunc func,
             gpointer user_data)
{
	if (needed && *id == 0)
		*id = g_unix_fd_add(fd, condition, func, user_data);
	else if (!needed && *id != 0)
		g_clear_handle_id(id, g_source_remove);
}

/* Watch exactly the descriptors that said EAGAIN to something we still want to do. A full
 * buffer is not read into: that is the back-pressure. */
static void
flow_update_watches(PlCtlBridgeFlow *flow, gint from_fd, gint to_fd)
{
	update_watch(&flow->read_id, flow->read_blocked && flow_wants_read(flow), from_fd, G_IO_IN,
	             on_flow_readable, flow);
	update_watch(&flow->write_id, flow->write_blocked && flow_len(flow) > 0, to_fd, G_IO_OUT,
	             on_flow_writable, flow);
}

static void
update_watches(PlCtlBridge *self)
{
	flow_update_watches(&self->up, self->in_fd, self->stream_fd);
	flow_update_watches(&self->down, self->stream_fd, self->out_fd);
	/* poll() reports POLLHUP and POLLERR whatever was asked for */
	update_watch(&self->hup_id, self->down.done && !self->up.done, self->stream_fd,
	             G_IO_HUP | G_IO_ERR, on_stream_hangup, self);
}

static void
pump(PlCtlBridge *self)
{
	g_autoptr(PlCtlBridge) keep = g_object_ref(self); /* the callback may drop the last ref */

	for (guint round = 0; self->task != NULL; round++) {
		gboolean progress = FALSE;

		if (round == PUMP_MAX_ROUNDS) {
			if (self->idle_id == 0)
				self->idle_id = g_idle_add(on_idle, self);
			break;
		}
		/* the stream's data first: once its end is seen, the stream closing is no error */
		if (!step(self, PL_CTL_BRIDGE_OP_READ_STREAM, &progress) ||
		    !step(self, PL_CTL_BRIDGE_OP_WRITE_OUTPUT, &progress) ||
		    !step(self, PL_CTL_BRIDGE_OP_READ_INPUT, &progress) ||
		    !pass_on_ends(self, &progress) || check_finished(self))
			return;
		if (!step(self, PL_CTL_BRIDGE_OP_WRITE_STREAM, &progress) ||
		    !pass_on_ends(self, &progress) || check_finished(self))
			return;
		if (!progress)
			break;
	}
	if (self->task != NULL)
		update_watches(self);
}

static gboolean
on_cancelled(GCancellable *cancellable, gpointer user_data)
{
	PlCtlBridge *self = PL_CTL_BRIDGE(user_data);
	g_autoptr(PlCtlBridge) keep = g_object_ref(self);
	GError *error = NULL;

	g_cancellable_set_error_if_cancelled(cancellable, &error);
	finish(self, error);
	return G_SOURCE_REMOVE;
}

/* O_NONBLOCK where poll() can say "not ready"; remember what to put back. */
static gboolean
prepare_fds(PlCtlBridge *self, GError **error)
{
	/* look at both before changing either: they may share one open file description */
	gboolean in_needs = self->in_fd >= 0 && needs_nonblocking(self->in_fd);
	gboolean out_needs = needs_nonblocking(self->out_fd);

	if (!g_unix_set_fd_nonblocking(self->stream_fd, TRUE, error))
		return FALSE;
	if (in_needs) {
		if (!set_nonblocking(self->in_fd, error))
			return FALSE;
		self->in_restore = TRUE;
	}
	if (out_needs) {
		if (!set_nonblocking(self->out_fd, error))
			return FALSE;
		self->out_restore = TRUE;
	}
	return TRUE;
}

void
pl_ctl_bridge_run_async(PlCtlBridge *self,
                        GCancellable *cancellable,
                        GAsyncReadyCallback callback,
                        gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autoptr(GError) error = NULL;

	g_return_if_fail(PL_CTL_IS_BRIDGE(self));
	g_return_if_fail(!self->started);

	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, pl_ctl_bridge_run_async);
	self->started = TRUE;
	if (!prepare_fds(self, &error)) {
		close_all(self);
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	self->task = g_steal_pointer(&task);
	if (cancellable != NULL) {
		self->cancel_source = g_cancellable_source_new(cancellable);
		g_source_set_callback(self->cancel_source, G_SOURCE_FUNC(on_cancelled), self, NULL);
		g_source_attach(self->cancel_source, g_main_context_get_thread_default());
	}
	self->idle_id = g_idle_add(on_idle, self);
}

void
pl_ctl_bridge_end_input(PlCtlBridge *self)
{
	g_return_if_fail(PL_CTL_IS_BRIDGE(self));

	if (self->task == NULL || self->up.eof)
		return;
	g_debug("input ended early: %" G_GSIZE_FORMAT " bytes dropped", flow_len(&self->up));
	self->up.eof = TRUE;
	self->up.start = self->up.end = 0;
	flow_remove_watches(&self->up);
	self->up.write_blocked = FALSE;
	if (self->idle_id == 0)
		self->idle_id = g_idle_add(on_idle, self);
}

gboolean
pl_ctl_bridge_run_finish(PlCtlBridge *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
	return g_task_propagate_boolean(G_TASK(result), error);
}
