#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pl-ipc-error.h"
#include "pl-ping.h"

#define PROBE_SIZE 16

struct _PlPing {
	PlIpcRequest *request; /* NULL once answered */
	guint count;
	gint fd;
	guint watch_id;
	GArray *rtt_ms; /* gdouble, one per round trip */
	gint64 sent_at;
	guint8 probe[PROBE_SIZE];
	guint8 echo[PROBE_SIZE];
	gsize received; /* of the echo in flight */
	JsonObject *session_info;
};

PlPing *
pl_ping_new(PlIpcRequest *request, guint count)
{
	PlPing *self = g_new0(PlPing, 1);

	self->request = g_object_ref(request);
	self->count = count;
	self->fd = -1;
	self->rtt_ms = g_array_new(FALSE, FALSE, sizeof(gdouble));
	return self;
}

/* closing the stream ends the session cleanly: the echo side ends its own */
static void
close_stream(PlPing *self)
{
	g_clear_handle_id(&self->watch_id, g_source_remove);
	if (self->fd >= 0)
		close(self->fd);
	self->fd = -1;
}

void
pl_ping_free(PlPing *self)
{
	close_stream(self);
	g_clear_object(&self->request);
	g_array_unref(self->rtt_ms);
	g_clear_pointer(&self->session_info, json_object_unref);
	g_free(self);
}

static gint
compare_doubles(gconstpointer a, gconstpointer b)
{
	gdouble x = *(const gdouble *)a;
	gdouble y = *(const gdouble *)b;

	return x < y ? -1 : x > y;
}

static JsonObject *
build_result(PlPing *self)
{
	JsonObject *result = json_object_new();
	g_autoptr(GArray) sorted = g_array_copy(self->rtt_ms);
	JsonArray *samples = json_array_new();
	const gchar *members[] = {"path", "setup_ms", "local_candidate", "remote_candidate",
	                          "candidates"};

	for (guint i = 0; i < self->rtt_ms->len; i++)
		json_array_add_double_element(samples, g_array_index(self->rtt_ms, gdouble, i));
	g_array_sort(sorted, compare_doubles);
	json_object_set_string_member(result, "peer",
	                              json_object_get_string_member(self->session_info, "peer"));
	for (guint i = 0; i < G_N_ELEMENTS(members); i++)
		json_object_set_member(
		        result, members[i],
		        json_node_copy(json_object_get_member(self->session_info, members[i])));
	json_object_set_double_member(result, "rtt_ms",
	                              g_array_index(sorted, gdouble, sorted->len / 2));
	json_object_set_array_member(result, "rtt_ms_samples", samples);
	json_object_set_int_member(result, "session",
	                           json_object_get_int_member(self->session_info, "id"));
	return result;
}

static void
answer_error(PlPing *self, const GError *error)
{
	g_autoptr(PlIpcRequest) request = g_steal_pointer(&self->request);

	close_stream(self);
	if (request != NULL)
		pl_ipc_request_return_error(request, error);
}

static void
answer(PlPing *self)
{
	g_autoptr(PlIpcRequest) request = g_steal_pointer(&self->request);
	g_autoptr(JsonObject) result = build_result(self);

	close_stream(self);
	pl_ipc_request_return(request, result, NULL);
}

static void
send_probe(PlPing *self)
{
	g_autoptr(GError) error = NULL;

	self->sent_at = g_get_monotonic_time();
	for (guint i = 0; i < PROBE_SIZE; i++)
		self->probe[i] = (guint8)g_random_int();
	self->received = 0;
	if (send(self->fd, self->probe, PROBE_SIZE, MSG_NOSIGNAL) == PROBE_SIZE)
		return;
	error = g_error_new(PL_IPC_ERROR, PL_IPC_ERROR_SESSION_FAILED, _("cannot send a ping: %s"),
	                    g_strerror(errno));
	answer_error(self, error);
}

static gboolean
readable_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	PlPing *self = user_data;
	gssize n = recv(fd, self->echo + self->received, PROBE_SIZE - self->received, MSG_DONTWAIT);
	gdouble rtt_ms;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return G_SOURCE_CONTINUE;
	if (n <= 0) {
		/* the session's end says why */
		self->watch_id = 0;
		return G_SOURCE_REMOVE;
	}
	self->received += (gsize)n;
	if (self->received < PROBE_SIZE)
		return G_SOURCE_CONTINUE;
	if (memcmp(self->echo, self->probe, PROBE_SIZE) != 0) {
		g_autoptr(GError) error = g_error_new_literal(
		        PL_IPC_ERROR, PL_IPC_ERROR_SESSION_FAILED, _("the peer's echo was wrong"));
		self->watch_id = 0;
		answer_error(self, error);
		return G_SOURCE_REMOVE;
	}
	rtt_ms = (gdouble)(g_get_monotonic_time() - self->sent_at) / 1000.0;
	g_array_append_val(self->rtt_ms, rtt_ms);
	if (self->rtt_ms->len < self->count) {
		send_probe(self);
		return G_SOURCE_CONTINUE;
	}
	self->watch_id = 0;
	answer(self);
	return G_SOURCE_REMOVE;
}

void
pl_ping_start(PlPing *self, PlSession *session)
{
	self->session_info = pl_session_describe(session);
	self->fd = pl_session_steal_app_fd(session);
	self->watch_id = g_unix_fd_add(self->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, readable_cb, self);
	send_probe(self);
}

void
pl_ping_session_closed(PlPing *self, const GError *ipc_error)
{
	g_autoptr(GError) early_end = NULL;

	if (self->request == NULL)
		return;
	if (ipc_error == NULL)
		early_end = g_error_new_literal(PL_IPC_ERROR, PL_IPC_ERROR_SESSION_FAILED,
		                                _("the session ended before every echo came back"));
	answer_error(self, ipc_error != NULL ? ipc_error : early_end);
}
