/*
 * Pumps bytes between a local input/output pair (peerlinkctl's stdin and
 * stdout) and a stream socket, like nc: non-blocking on the main loop, with a
 * bounded buffer each way and half-close passed on in both directions.
 *
 *   in_fd  ──▶ stream_fd   (input EOF: shutdown(stream_fd, SHUT_WR) once drained)
 *   out_fd ◀── stream_fd   (stream EOF: out_fd is closed once drained)
 *
 * The bridge owns the three descriptors and closes them: out_fd as soon as the
 * stream's end-of-stream has been written to it, the others when it finishes.
 * It sets O_NONBLOCK where it needs it and puts the original flags of in_fd
 * and out_fd back before closing them, so a dup() of a descriptor shared with
 * a parent shell is left as it was. The caller must ignore SIGPIPE.
 *
 * It finishes successfully once the stream's end-of-stream has been written
 * out and either the input is done too (and the stream half-closed) or the
 * stream is closed altogether; with an error (PL_CTL_BRIDGE_ERROR) on the
 * first failing read or write, or G_IO_ERROR_CANCELLED.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define PL_CTL_BRIDGE_BUFFER_SIZE (64 * 1024)

#define PL_CTL_BRIDGE_ERROR (pl_ctl_bridge_error_quark())
GQuark pl_ctl_bridge_error_quark(void);

typedef enum {
	PL_CTL_BRIDGE_ERROR_RESET,  /* the stream was reset: ECONNRESET or EPIPE on it */
	PL_CTL_BRIDGE_ERROR_STREAM, /* any other failure on the stream */
	PL_CTL_BRIDGE_ERROR_INPUT,  /* reading in_fd failed */
	PL_CTL_BRIDGE_ERROR_OUTPUT, /* writing out_fd failed */
} PlCtlBridgeError;

#define PL_CTL_TYPE_BRIDGE (pl_ctl_bridge_get_type())
G_DECLARE_FINAL_TYPE(PlCtlBridge, pl_ctl_bridge, PL_CTL, BRIDGE, GObject)

/* in_fd may be -1: no input, the stream is half-closed at once */
PlCtlBridge *pl_ctl_bridge_new(gint in_fd, gint out_fd, gint stream_fd);

void pl_ctl_bridge_run_async(PlCtlBridge *self,
                             GCancellable *cancellable,
                             GAsyncReadyCallback callback,
                             gpointer user_data);
gboolean pl_ctl_bridge_run_finish(PlCtlBridge *self, GAsyncResult *result, GError **error);

/* No more input: what is buffered is dropped and the stream half-closed; the bridge still
 * writes out what arrives until the stream's end. For when the stream cannot carry more
 * (its agent went away). */
void pl_ctl_bridge_end_input(PlCtlBridge *self);

/* bytes written to the stream, and to out_fd */
guint64 pl_ctl_bridge_get_bytes_sent(PlCtlBridge *self);
guint64 pl_ctl_bridge_get_bytes_received(PlCtlBridge *self);

G_END_DECLS
