#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pl-address-monitor.h"
#include "pl-reliable-link.h"
#include "pl-session.h"
#include "pl-socket-pair.h"

/* clang-format off */
G_DEFINE_QUARK(peerlink-session-error-quark, pl_session_error)
/* clang-format on */

#define LINK_BUFFER_SIZE       (4 * 1024 * 1024)
#define IO_CHUNK               (64 * 1024)
#define HIGH_WATER             (256 * 1024) /* bytes queued toward one side before it pauses */
#define INCOMING_TIMEOUT_MS    30000
#define CANDIDATE_BATCH_MS     10
#define PL_SESSION_ACCEPT_BYTE 0x01

static const struct {
	PlSessionError code;
	const gchar *reason;
} reason_codes[] = {
        {PL_SESSION_ERROR_FAILED, "session-failed"},
        {PL_SESSION_ERROR_PEER_OFFLINE, "peer-offline"},
        {PL_SESSION_ERROR_UNKNOWN_SERVICE, "unknown-service"},
        {PL_SESSION_ERROR_REFUSED, "refused"},
        {PL_SESSION_ERROR_REFUSED, "busy"},
        {PL_SESSION_ERROR_UNREACHABLE, "unreachable"},
        {PL_SESSION_ERROR_AUTHENTICATION_FAILED, "authentication-failed"},
        {PL_SESSION_ERROR_TIMED_OUT, "timed-out"},
        {PL_SESSION_ERROR_CLOSED, "closed"},
        {PL_SESSION_ERROR_SHUTTING_DOWN, "shutting-down"},
        {PL_SESSION_ERROR_SIGNALING, "session-failed"},
};

const gchar *
pl_session_error_to_reason_code(const GError *error)
{
	if (error == NULL)
		return "done";
	for (guint i = 0; error->domain == PL_SESSION_ERROR && i < G_N_ELEMENTS(reason_codes);
	     i++) {
		if (reason_codes[i].code == (PlSessionError)error->code)
			return reason_codes[i].reason;
	}
	return "session-failed";
}

GError *
pl_session_error_from_reason_code(const gchar *code, const gchar *message)
{
	PlSessionError error_code = PL_SESSION_ERROR_FAILED;

	for (guint i = 0; i < G_N_ELEMENTS(reason_codes); i++) {
		if (g_strcmp0(reason_codes[i].reason, code) == 0) {
			error_code = reason_codes[i].code;
			break;
		}
	}
	return g_error_new(PL_SESSION_ERROR, error_code, "%s",
	                   message != NULL ? message : _("the peer ended the session"));
}

const gchar *
pl_session_state_to_string(PlSessionState state)
{
	static const gchar *const names[] = {"connecting", "established", "restarting", "closing",
	                                     "closed"};

	return (guint)state < G_N_ELEMENTS(names) ? names[state] : "unknown";
}

/* the context */

PlSessionContext *
pl_session_context_new(PlIdentity *identity, GError **error)
{
	g_autoptr(PlTlsCredentials) tls = pl_tls_credentials_new(identity, error);
	PlSessionContext *self;

	if (tls == NULL)
		return NULL;
	self = g_new0(PlSessionContext, 1);
	self->ref_count = 1;
	self->identity = g_object_ref(identity);
	self->tls = g_steal_pointer(&tls);
	self->ice.local_addresses = g_ptr_array_new_with_free_func(g_free);
	self->ice.stun_servers =
	        g_ptr_array_new_with_free_func((GDestroyNotify)pl_stun_server_free);
	self->ice.turn_servers =
	        g_ptr_array_new_with_free_func((GDestroyNotify)pl_turn_server_free);
	self->ice.upnp = TRUE;
	self->link_buffer_size = LINK_BUFFER_SIZE;
	return self;
}

PlSessionContext *
pl_session_context_ref(PlSessionContext *self)
{
	g_atomic_int_inc(&self->ref_count);
	return self;
}

void
pl_session_context_unref(PlSessionContext *self)
{
	if (!g_atomic_int_dec_and_test(&self->ref_count))
		return;
	g_object_unref(self->identity);
	pl_tls_credentials_unref(self->tls);
	g_ptr_array_unref(self->ice.local_addresses);
	g_ptr_array_unref(self->ice.stun_servers);
	g_ptr_array_unref(self->ice.turn_servers);
	g_free(self);
}

/* the session */

typedef struct {
	GSource source;
	gpointer tag;
	PlSession *session;
} PlAppSource;

struct _PlSession {
	GObject parent_instance;
	PlSessionContext *context;
	guint id;
	gchar *session_id;
	gchar *peer;
	gchar *service;
	gboolean outgoing;
	gboolean echo; /* the agent's own echo service: no app socket */
	PlSessionState state;
	PlPeerId peer_id;

	guint64 next_seq;
	guint generation;              /* of the newest path */
	PlIcePath *path;               /* carries the link; NULL until the first pair works */
	PlIcePath *next_path;          /* being set up (initial, or an ICE restart) */
	GPtrArray *pending_candidates; /* gchar*, of next_path, not yet sent */
	gboolean pending_eoc;
	gboolean next_is_offer;    /* we started next_path's generation */
	gboolean description_sent; /* offer/answer of next_path went out */
	guint candidate_flush_id;
	guint deadline_id; /* connect, incoming or restart deadline */
	guint restarts;

	PlReliableLink *link;
	gboolean link_connected;
	PlTlsChannel *tls;
	gboolean established;
	gboolean awaiting_accept; /* outgoing: handshake done, accept byte not yet seen */

	gint app_fd;      /* our end of the app's socket */
	gint app_peer_fd; /* the app's end, until stolen */
	GSource *app_source;
	GIOCondition app_condition; /* what app_source waits for */
	GByteArray *to_app;         /* decrypted, not yet written to the app */
	gboolean app_eof;           /* the app ended its stream (we sent close_notify) */
	gboolean peer_eof;          /* the peer ended its stream */
	gboolean app_shut;          /* we shut the app's read side */
	gboolean link_paused;       /* we stopped reading the link: the app is slow */

	PlSignal *first_offer; /* of an incoming session, until started */
	gboolean finishing;
	gboolean peer_closed; /* the peer sent close or reject: no close back */
	GError *finish_error;
	guint finish_id;

	guint64 bytes_sent;
	guint64 bytes_received;
	gint64 created_at;
	gint64 established_at;
};

enum {
	SIGNAL_SEND_SIGNAL,
	SIGNAL_ESTABLISHED,
	SIGNAL_CLOSED,
	SIGNAL_STATE_CHANGED,
	SIGNAL_LAST,
};
static guint signals[SIGNAL_LAST];

G_DEFINE_TYPE(PlSession, pl_session, G_TYPE_OBJECT)

static void session_fail(PlSession *self, GError *error);
static PlSignal *new_signal(PlSession *self, PlSignalType type);
static void pump_link_to_app(PlSession *self);
static void pump_tls_to_link(PlSession *self);
static void update_app_watch(PlSession *self);

static void
drop_path(PlIcePath **path, PlSession *self)
{
	if (*path == NULL)
		return;
	g_signal_handlers_disconnect_by_data(*path, self);
	pl_ice_path_set_receive_func(*path, NULL, NULL);
	pl_ice_path_close(*path);
	g_clear_object(path);
}

static void
close_app_socket(PlSession *self, gboolean reset)
{
	if (self->app_source != NULL) {
		g_source_destroy(self->app_source);
		g_clear_pointer(&self->app_source, g_source_unref);
	}
	if (self->app_fd >= 0) {
		pl_socket_pair_set_abortive(self->app_fd, reset);
		close(self->app_fd);
	}
	if (self->app_peer_fd >= 0)
		close(self->app_peer_fd);
	self->app_fd = -1;
	self->app_peer_fd = -1;
}

static void
release_resources(PlSession *self, gboolean reset)
{
	g_clear_handle_id(&self->candidate_flush_id, g_source_remove);
	g_clear_handle_id(&self->deadline_id, g_source_remove);
	g_clear_handle_id(&self->finish_id, g_source_remove);
	drop_path(&self->next_path, self);
	drop_path(&self->path, self);
	g_clear_pointer(&self->link, pl_reliable_link_free);
	g_clear_pointer(&self->tls, pl_tls_channel_free);
	close_app_socket(self, reset);
}

static void
pl_session_dispose(GObject *object)
{
	PlSession *self = PL_SESSION(object);

	release_resources(self, TRUE);
	G_OBJECT_CLASS(pl_session_parent_class)->dispose(object);
}

static void
pl_session_finalize(GObject *object)
{
	PlSession *self = PL_SESSION(object);

	g_clear_error(&self->finish_error);
	g_clear_pointer(&self->first_offer, pl_signal_free);
	g_ptr_array_unref(self->pending_candidates);
	g_byte_array_unref(self->to_app);
	g_free(self->session_id);
	g_free(self->peer);
	g_free(self->service);
	pl_session_context_unref(self->context);
	G_OBJECT_CLASS(pl_session_parent_class)->finalize(object);
}

static void
pl_session_class_init(PlSessionClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = pl_session_dispose;
	object_class->finalize = pl_session_finalize;
	signals[SIGNAL_SEND_SIGNAL] =
	        g_signal_new("send-signal", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
	                     NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
	signals[SIGNAL_ESTABLISHED] =
	        g_signal_new("established", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
	                     NULL, NULL, G_TYPE_NONE, 0);
	signals[SIGNAL_CLOSED] = g_signal_new("closed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
	                                      0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
	signals[SIGNAL_STATE_CHANGED] =
	        g_signal_new("state-changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
	                     NULL, NULL, G_TYPE_NONE, 0);
}

static void
pl_session_init(PlSession *self)
{
	self->app_fd = -1;
	self->app_peer_fd = -1;
	self->next_seq = 1;
	self->pending_candidates = g_ptr_array_new_with_free_func(g_free);
	self->to_app = g_byte_array_new();
	self->created_at = g_get_monotonic_time();
}

static void
set_state(PlSession *self, PlSessionState state)
{
	if (self->state == state)
		return;
	g_debug("session %u: %s → %s", self->id, pl_session_state_to_string(self->state),
	        pl_session_state_to_string(state));
	self->state = state;
	g_signal_emit(self, signals[SIGNAL_STATE_CHANGED], 0);
}

/* The end, exactly once, with NULL for a clean end. Deferred to an idle
 * callback: failures are found deep inside libnice and link calls,
 * which must return before the objects they run on are freed. */
static gboolean
finish_cb(gpointer user_data)
{
	PlSession *self = PL_SESSION(user_data);
	g_autoptr(GError) error = g_steal_pointer(&self->finish_error);
	g_autoptr(PlSession) keep = g_object_ref(self);

	self->finish_id = 0;
	if (error != NULL)
		g_message("session %u (%s with %.7s) ended: %s", self->id, self->service,
		          self->peer, error->message);
	else
		g_debug("session %u (%s) ended cleanly", self->id, self->service);
	release_resources(self, error != NULL);
	set_state(self, PL_SESSION_STATE_CLOSED);
	g_signal_emit(self, signals[SIGNAL_CLOSED], 0, error);
	return G_SOURCE_REMOVE;
}

static void
session_finish(PlSession *self, GError *error)
{
	g_autoptr(GError) owned = error;

	if (self->finishing)
		return;
	self->finishing = TRUE;
	self->finish_error = g_steal_pointer(&owned);
	self->finish_id =
	        g_idle_add_full(G_PRIORITY_HIGH, finish_cb, g_object_ref(self), g_object_unref);
}

/* fails the session and tells the peer why */
static void
session_fail(PlSession *self, GError *error)
{
	if (self->finishing) {
		g_error_free(error);
		return;
	}
	if (!g_error_matches(error, PL_SESSION_ERROR, PL_SESSION_ERROR_PEER_OFFLINE) &&
	    !self->peer_closed) {
		g_autoptr(PlSignal) signal = new_signal(self, PL_SIGNAL_TYPE_CLOSE);
		signal->reason_code = g_strdup(pl_session_error_to_reason_code(error));
		signal->reason_message = pl_signal_make_reason_message(error->message);
		g_signal_emit(self, signals[SIGNAL_SEND_SIGNAL], 0, signal);
	}
	session_finish(self, error);
}

/* signaling out */

static PlSignal *
new_signal(PlSession *self, PlSignalType type)
{
	PlSignal *signal = pl_signal_new(type);

	signal->to = g_strdup(self->peer);
	signal->session_id = g_strdup(self->session_id);
	signal->seq = self->next_seq++;
	signal->generation = self->generation;
	return signal;
}

static void
emit_signal(PlSession *self, PlSignal *signal)
{
	g_autoptr(PlSignal) owned = signal;

	g_signal_emit(self, signals[SIGNAL_SEND_SIGNAL], 0, owned);
}

/* at most a signal's worth; the rest goes in the next one */
static void
take_pending_candidates(PlSession *self, PlSignal *signal)
{
	guint n = MIN(self->pending_candidates->len, PL_SIGNAL_MAX_CANDIDATES);

	for (guint i = 0; i < n; i++)
		g_ptr_array_add(signal->candidates, g_strdup(self->pending_candidates->pdata[i]));
	g_ptr_array_remove_range(self->pending_candidates, 0, n);
	signal->end_of_candidates = self->pending_eoc && self->pending_candidates->len == 0;
	if (signal->end_of_candidates)
		self->pending_eoc = FALSE;
}

/* the offer or answer of next_path, with the candidates gathered so far */
static void
send_description(PlSession *self)
{
	PlSignal *signal = new_signal(self, self->next_is_offer ? PL_SIGNAL_TYPE_OFFER
	                                                        : PL_SIGNAL_TYPE_ANSWER);

	pl_ice_path_get_local_credentials(self->next_path, &signal->ufrag, &signal->pwd);
	if (signal->type == PL_SIGNAL_TYPE_OFFER && self->generation == 0)
		signal->service = g_strdup(self->service);
	take_pending_candidates(self, signal);
	self->description_sent = TRUE;
	emit_signal(self, signal);
}

static void schedule_candidate_flush(PlSession *self);

static gboolean
flush_candidates_cb(gpointer user_data)
{
	PlSession *self = PL_SESSION(user_data);
	PlSignal *signal;

	self->candidate_flush_id = 0;
	if (self->pending_candidates->len == 0 && !self->pending_eoc)
		return G_SOURCE_REMOVE;
	signal = new_signal(self, PL_SIGNAL_TYPE_CANDIDATES);
	take_pending_candidates(self, signal);
	emit_signal(self, signal);
	if (self->pending_candidates->len > 0 || self->pending_eoc)
		schedule_candidate_flush(self);
	return G_SOURCE_REMOVE;
}

static void
schedule_candidate_flush(PlSession *self)
{
	if (!self->description_sent || self->candidate_flush_id != 0)
		return;
	self->candidate_flush_id = g_timeout_add(CANDIDATE_BATCH_MS, flush_candidates_cb, self);
}

static gboolean
send_description_cb(gpointer user_data)
{
	PlSession *self = PL_SESSION(user_data);

	self->candidate_flush_id = 0;
	if (self->next_path != NULL && !self->description_sent) {
		send_description(self);
		if (self->pending_candidates->len > 0 || self->pending_eoc)
			schedule_candidate_flush(self);
	}
	return G_SOURCE_REMOVE;
}

/* ICE paths */

static gboolean
is_current_generation(PlSession *self, PlIcePath *path)
{
	return pl_ice_path_get_generation(path) == self->generation;
}

static void
on_path_candidate(PlIcePath *path, const gchar *sdp, gpointer user_data)
{
	PlSession *self = PL_SESSION(user_data);

	if (!is_current_generation(self, path))
		return;
	g_ptr_array_add(self->pending_candidates, g_strdup(sdp));
	schedule_candidate_flush(self);
}

static void
on_path_gathering_done(PlIcePath *path, gpointer user_data)
{
	PlSession *self = PL_SESSION(user_data);

	if (!is_current_generation(self, path))
		return;
	self->pending_eoc = TRUE;
	schedule_candidate_flush(self);
}

static void
on_path_packet(const guint8 *data, gsize len, gpointer user_data)
{
	PlSession *self = PL_SESSION(user_data);

	if (self->link == NULL)
		return;
	pl_reliable_link_receive_packet(self->link, data, len);
}

static gboolean
link_send_packet(const guint8 *data, gsize len, gpointer user_data)
{
	PlSession *self = PL_SESSION(user_data);

	/* the newest path with a working pair; during a restart the old one
	 * keeps carrying the stream until the new one works. The first path
	 * holds what is sent before its pair is selected (pl_ice_path_send). */
	if (self->next_path != NULL &&
	    (self->path == NULL || pl_ice_path_has_selected_pair(self->next_path)))
		return pl_ice_path_send(self->next_path, data, len);
	if (self->path != NULL)
		return pl_ice_path_send(self->path, data, len);
	return FALSE;
}

static gboolean
deadline_cb(gpointer user_data)
{
	PlSession *self = PL_SESSION(user_data);

	self->deadline_id = 0;
	if (self->state == PL_SESSION_STATE_RESTARTING)
		session_fail(self, g_error_new(PL_SESSION_ERROR, PL_SESSION_ERROR_FAILED,
		                               _("lost the path to the peer and found no new one "
		                                 "within %u s"),
		                               PL_SESSION_RESTART_TIMEOUT_MS / 1000));
	else
		session_fail(self, g_error_new(PL_SESSION_ERROR, PL_SESSION_ERROR_TIMED_OUT,
		                               _("no stream to the peer within the time allowed")));
	return G_SOURCE_REMOVE;
}

static void
set_deadline(PlSession *self, guint timeout_ms)
{
	g_clear_handle_id(&self->deadline_id, g_source_remove);
	self->deadline_id = g_timeout_add(timeout_ms, deadline_cb, self);
}

/* next_path works: it carries the stream from now on */
static void
promote_next_path(PlSession *self)
{
	drop_path(&self->path, self);
	self->path = g_steal_pointer(&self->next_path);
	g_debug("session %u: ICE generation %u works (%s)", self->id, self->generation,
	        pl_ice_path_is_relayed(self->path) ? "relayed" : "direct");
	if (self->state == PL_SESSION_STATE_RESTARTING) {
		g_clear_handle_id(&self->deadline_id, g_source_remove);
		pl_reliable_link_path_changed(self->link);
		self->restarts++;
		set_state(self, PL_SESSION_STATE_ESTABLISHED);
		return;
	}
	if (self->outgoing && !self->link_connected) {
		self->link_connected = TRUE;
		pl_reliable_link_connect(self->link);
	}
	g_signal_emit(self, signals[SIGNAL_STATE_CHANGED], 0);
}

static void start_restart(PlSession *self);

/*
 * A pair works (CONNECTED) well before ICE is done (READY): libnice waits
 * for the checks of better pairs that may never answer, seconds behind two
 * NATs. The stream starts on the working pair at once; libnice moves it to
 * a better pair whenever one works (pl-ice-path.c: nomination).
 */
static void
start_link_early(PlSession *self)
{
	if (!self->outgoing || self->link_connected || self->path != NULL ||
	    !pl_ice_path_has_selected_pair(self->next_path))
		return;
	g_debug("session %u: a pair works; starting the stream before nomination", self->id);
	self->link_connected = TRUE;
	pl_reliable_link_connect(self->link);
}

static void
on_path_state_changed(PlIcePath *path, guint state, gpointer user_data)
{
	PlSession *self = PL_SESSION(user_data);

	if (self->finishing)
		return;
	if (state == NICE_COMPONENT_STATE_READY && path == self->next_path) {
		promote_next_path(self);
		return;
	}
	if (state == NICE_COMPONENT_STATE_CONNECTED && path == self->next_path) {
		if (self->path != NULL)
			/* a restart: the stream moves to the new pair now (link_send_packet) */
			pl_reliable_link_path_changed(self->link);
		else
			start_link_early(self);
		return;
	}
	if (state != NICE_COMPONENT_STATE_FAILED)
		return;
	if (path == self->path && self->state == PL_SESSION_STATE_RESTARTING) {
		/* the restart under way (ours, or the peer's that we answered) is
		 * the remedy, within its deadline: another would throw it away */
		g_debug("session %u: the old path failed; the restart goes on", self->id);
	} else if (path == self->path) {
		g_message("session %u: the path to the peer failed; restarting ICE", self->id);
		start_restart(self);
	} else if (path == self->next_path && !self->established) {
		guint refused = pl_ice_path_get_n_refused_remotes(path);
		session_fail(self,
		             g_error_new(PL_SESSION_ERROR, PL_SESSION_ERROR_UNREACHABLE,
		                         _("no network path to the peer works (every candidate "
		                           "pair failed its checks; %u of the peer's candidates "
		                           "refused)"),
		                         refused));
	} else if (path == self->next_path) {
		session_fail(self,
		             g_error_new(PL_SESSION_ERROR, PL_SESSION_ERROR_FAILED,
		                         _("lost the path to the peer and every new candidate "
		                           "pair failed")));
	}
}

/* a new path for the current generation; as the offerer or the answerer */
static void
start_next_path(PlSession *self, gboolean offer)
{
	drop_path(&self->next_path, self);
	g_ptr_array_set_size(self->pending_candidates, 0);
	g_clear_handle_id(&self->candidate_flush_id, g_source_remove);
	self->pending_eoc = FALSE;
	self->description_sent = FALSE;
	self->next_is_offer = offer;
	self->next_path = pl_ice_path_new(&self->context->ice, self->outgoing, self->generation);
	pl_ice_path_set_receive_func(self->next_path, on_path_packet, self);
	g_signal_connect(self->next_path, "candidate", G_CALLBACK(on_path_candidate), self);
	g_signal_connect(self->next_path, "gathering-done", G_CALLBACK(on_path_gathering_done),
	                 self);
	g_signal_connect(self->next_path, "state-changed", G_CALLBACK(on_path_state_changed), self);
	pl_ice_path_gather(self->next_path);
	/* after host candidates arrive, so the offer or answer carries them; at
	 * default priority, so that busy sources cannot hold the offer back */
	self->candidate_flush_id =
	        g_idle_add_full(G_PRIORITY_DEFAULT, send_description_cb, self, NULL);
}

static void
start_restart(PlSession *self)
{
	if (self->finishing || !self->established)
		return;
	self->generation++;
	set_state(self, PL_SESSION_STATE_RESTARTING);
	set_deadline(self, PL_SESSION_RESTART_TIMEOUT_MS);
	start_next_path(self, TRUE);
}

void
pl_session_restart_ice(PlSession *self)
{
	if (self->state == PL_SESSION_STATE_ESTABLISHED ||
	    self->state == PL_SESSION_STATE_RESTARTING)
		start_restart(self);
}

/* the stream: app socket ⇄ TLS ⇄ link */

static GError *
tls_error_to_session_error(const GError *error)
{
	if (g_error_matches(error, PL_TLS_ERROR, PL_TLS_ERROR_PEER_MISMATCH))
		return g_error_new(PL_SESSION_ERROR, PL_SESSION_ERROR_AUTHENTICATION_FAILED, "%s",
		                   error->message);
	return g_error_new(PL_SESSION_ERROR, PL_SESSION_ERROR_FAILED, "%s", error->message);
}

static void
check_done(PlSession *self)
{
	if (self->state == PL_SESSION_STATE_CLOSING || self->finishing || !self->app_eof ||
	    !self->peer_eof || !self->app_shut || self->to_app->len > 0 ||
	    pl_tls_channel_get_outgoing_size(self->tls) > 0)
		return;
	/* both streams ended: close the link once the peer has every byte */
	set_state(self, PL_SESSION_STATE_CLOSING);
	pl_reliable_link_close(self->link);
}

static void
pump_tls_to_link(PlSession *self)
{
	gsize len = 0;

	while (self->link != NULL && pl_tls_channel_get_outgoing_size(self->tls) > 0) {
		const guint8 *data = pl_tls_channel_peek_outgoing(self->tls, &len);
		gssize n = pl_reliable_link_send(self->link, data, len);
		if (n <= 0)
			break; /* "writable" calls us again */
		pl_tls_channel_consume_outgoing(self->tls, (gsize)n);
	}
	update_app_watch(self);
	check_done(self);
}

static void
end_app_stream(PlSession *self)
{
	g_autoptr(GError) error = NULL;

	self->app_eof = TRUE;
	if (!pl_tls_channel_shutdown_write(self->tls, &error)) {
		session_fail(self, tls_error_to_session_error(error));
		return;
	}
	pump_tls_to_link(self);
}

/* the agent's echo service: the app is the session itself */
static void
echo_back(PlSession *self)
{
	g_autoptr(GError) error = NULL;

	if (self->to_app->len > 0) {
		if (!pl_tls_channel_write(self->tls, self->to_app->data, self->to_app->len,
		                          &error)) {
			session_fail(self, tls_error_to_session_error(error));
			return;
		}
		self->bytes_sent += self->to_app->len;
		g_byte_array_set_size(self->to_app, 0);
	}
	if (self->peer_eof && !self->app_eof) {
		self->app_shut = TRUE;
		end_app_stream(self);
		return;
	}
	pump_tls_to_link(self);
}

static void
flush_to_app(PlSession *self)
{
	gsize written = 0;

	while (written < self->to_app->len) {
		gssize n = send(self->app_fd, self->to_app->data + written,
		                self->to_app->len - written, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			session_fail(self, g_error_new(PL_SESSION_ERROR, PL_SESSION_ERROR_CLOSED,
			                               _("the app closed its stream (%s)"),
			                               g_strerror(errno)));
			return;
		}
		written += (gsize)n;
	}
	/* one move of what is left, not one per write */
	g_byte_array_remove_range(self->to_app, 0, (guint)written);
	if (self->to_app->len == 0 && self->peer_eof && !self->app_shut) {
		shutdown(self->app_fd, SHUT_WR);
		self->app_shut = TRUE;
		check_done(self);
	}
	if (self->link_paused && self->to_app->len < HIGH_WATER / 2) {
		self->link_paused = FALSE;
		pump_link_to_app(self);
	}
	update_app_watch(self);
}

static void
on_established(PlSession *self)
{
	/* the stream can come up over the first path before ICE calls it ready
	 * on this side (the controlled one): the path that carried it works */
	if (self->path == NULL && self->next_path != NULL &&
	    pl_ice_path_has_selected_pair(self->next_path))
		promote_next_path(self);
	self->established = TRUE;
	self->established_at = g_get_monotonic_time();
	g_clear_handle_id(&self->deadline_id, g_source_remove);
	g_message("session %u: %s stream %s peer %.7s established in %.1f ms over a %s path (%s)",
	          self->id, self->service, self->outgoing ? "to" : "from", self->peer,
	          (self->established_at - self->created_at) / 1000.0,
	          self->path != NULL && pl_ice_path_is_relayed(self->path) ? "relayed" : "direct",
	          pl_tls_channel_get_description(self->tls));
	set_state(self, PL_SESSION_STATE_ESTABLISHED);
	update_app_watch(self);
	g_signal_emit(self, signals[SIGNAL_ESTABLISHED], 0);
}

/*
 * In TLS 1.3 the client finishes its handshake before the server has checked
 * the client's certificate. So the server, once it has, sends one accept
 * byte, and the client's app gets its stream only after that byte: a connect
 * never succeeds toward a peer that then refuses us.
 */
static gboolean
on_handshake_done(PlSession *self)
{
	g_autoptr(GError) error = NULL;
	const guint8 accept = PL_SESSION_ACCEPT_BYTE;

	if (self->outgoing) {
		self->awaiting_accept = TRUE;
		return TRUE;
	}
	if (!pl_tls_channel_write(self->tls, &accept, 1, &error)) {
		session_fail(self, tls_error_to_session_error(error));
		return FALSE;
	}
	pump_tls_to_link(self);
	on_established(self);
	return TRUE;
}

static gboolean
take_accept(PlSession *self)
{
	if (self->to_app->len == 0 && !self->peer_eof)
		return TRUE;
	if (self->to_app->len == 0 || self->to_app->data[0] != PL_SESSION_ACCEPT_BYTE) {
		session_fail(self, g_error_new(PL_SESSION_ERROR, PL_SESSION_ERROR_FAILED,
		                               _("the peer did not accept the stream")));
		return FALSE;
	}
	g_byte_array_remove_range(self->to_app, 0, 1);
	self->bytes_received--;
	self->awaiting_accept = FALSE;
	on_established(self);
	return TRUE;
}

/* ciphertext arrived: advance the handshake, decrypt what is complete */
static gboolean
process_tls_input(PlSession *self)
{
	g_autoptr(GError) error = NULL;

	if (!pl_tls_channel_is_established(self->tls)) {
		if (!pl_tls_channel_handshake(self->tls, &error)) {
			session_fail(self, tls_error_to_session_error(error));
			return FALSE;
		}
		pump_tls_to_link(self);
		if (!pl_tls_channel_is_established(self->tls))
			return TRUE;
		if (!on_handshake_done(self))
			return FALSE;
	}
	while (!self->peer_eof && self->to_app->len < HIGH_WATER) {
		guint8 buf[IO_CHUNK];
		gssize n;

		n = pl_tls_channel_read(self->tls, buf, IO_CHUNK, &error);
		if (n > 0)
			g_byte_array_append(self->to_app, buf, (guint)n);
		if (n > 0) {
			self->bytes_received += (guint64)n;
		} else if (n == 0) {
			self->peer_eof = TRUE;
		} else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
			break;
		} else {
			session_fail(self, tls_error_to_session_error(error));
			return FALSE;
		}
	}
	return !self->awaiting_accept || take_accept(self);
}

static void
pump_link_to_app(PlSession *self)
{
	guint8 buf[IO_CHUNK];

	while (self->link != NULL && !self->finishing) {
		gssize n;

		if (self->to_app->len >= HIGH_WATER) {
			self->link_paused = TRUE; /* resumed by flush_to_app */
			break;
		}
		n = pl_reliable_link_recv(self->link, buf, sizeof(buf));
		if (n <= 0)
			break; /* would block, or the FIN: the TLS close_notify says more */
		pl_tls_channel_push_incoming(self->tls, buf, (gsize)n);
		if (!process_tls_input(self))
			return;
	}
	if (!self->established || self->finishing)
		return;
	if (self->echo)
		echo_back(self);
	else
		flush_to_app(self);
}

static void
on_link_opened(gpointer user_data)
{
	PlSession *self = PL_SESSION(user_data);
	g_autoptr(GError) error = NULL;

	if (!self->outgoing)
		return;
	/* the client speaks first */
	if (!pl_tls_channel_handshake(self->tls, &error)) {
		session_fail(self, tls_error_to_session_error(error));
		return;
	}
	pump_tls_to_link(self);
}

static void
on_link_readable(gpointer user_data)
{
	pump_link_to_app(PL_SESSION(user_data));
}

static void
on_link_writable(gpointer user_data)
{
	pump_tls_to_link(PL_SESSION(user_data));
}

static void
on_link_closed(gint error, gpointer user_data)
{
	PlSession *self = PL_SESSION(user_data);

	if (error == 0 && self->state == PL_SESSION_STATE_CLOSING) {
		session_finish(self, NULL);
		return;
	}
	session_fail(self, g_error_new(PL_SESSION_ERROR, PL_SESSION_ERROR_FAILED,
	                               _("the stream to the peer was reset (%s)"),
	                               g_strerror(error != 0 ? error : ECONNRESET)));
}

static const PlReliableLinkCallbacks link_callbacks = {
        .send_packet = link_send_packet,
        .opened = on_link_opened,
        .readable = on_link_readable,
        .writable = on_link_writable,
        .closed = on_link_closed,
};

/* the app's socket */

static void
read_from_app(PlSession *self)
{
	guint8 buf[IO_CHUNK];
	g_autoptr(GError) error = NULL;
	gssize n = recv(self->app_fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n < 0) {
		session_fail(self,
		             g_error_new(PL_SESSION_ERROR, PL_SESSION_ERROR_CLOSED,
		                         _("the app's stream failed (%s)"), g_strerror(errno)));
		return;
	}
	if (n == 0) {
		end_app_stream(self);
		return;
	}
	if (!pl_tls_channel_write(self->tls, buf, (gsize)n, &error)) {
		session_fail(self, tls_error_to_session_error(error));
		return;
	}
	self->bytes_sent += (guint64)n;
	pump_tls_to_link(self);
}

static gboolean
app_source_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
	PlAppSource *app = (PlAppSource *)source;
	PlSession *self = app->session;
	GIOCondition revents = g_source_query_unix_fd(source, app->tag);
	g_autoptr(PlSession) keep = g_object_ref(self);

	if (revents & (G_IO_OUT | G_IO_ERR | G_IO_HUP))
		flush_to_app(self);
	if (!self->finishing && (revents & (G_IO_IN | G_IO_HUP | G_IO_ERR)) && !self->app_eof)
		read_from_app(self);
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs app_source_funcs = {
        .dispatch = app_source_dispatch,
};

/* read the app while the link has room; wait for writability while the
 * app has data queued */
static void
update_app_watch(PlSession *self)
{
	GIOCondition condition = 0;

	if (self->app_source == NULL || self->finishing)
		return;
	if (self->established && !self->app_eof &&
	    pl_tls_channel_get_outgoing_size(self->tls) < HIGH_WATER)
		condition |= G_IO_IN;
	if (self->to_app->len > 0)
		condition |= G_IO_OUT;
	if (condition == self->app_condition)
		return; /* each change wakes the main loop */
	self->app_condition = condition;
	g_source_modify_unix_fd(self->app_source, ((PlAppSource *)self->app_source)->tag,
	                        condition);
}

static void
watch_app_socket(PlSession *self)
{
	PlAppSource *app;

	self->app_source = g_source_new(&app_source_funcs, sizeof(PlAppSource));
	app = (PlAppSource *)self->app_source;
	app->session = self;
	app->tag = g_source_add_unix_fd(self->app_source, self->app_fd, 0);
	g_source_set_name(self->app_source, "[peerlink] app stream");
	g_source_attach(self->app_source, g_main_context_get_thread_default());
}

/* signaling in */

static PlIcePath *
path_of_generation(PlSession *self, guint generation)
{
	if (self->next_path != NULL && pl_ice_path_get_generation(self->next_path) == generation)
		return self->next_path;
	if (self->path != NULL && pl_ice_path_get_generation(self->path) == generation)
		return self->path;
	return NULL;
}

/* the peer gathered everything and offered nothing we may use: no pair can
 * ever form, so say so now rather than at the timeout */
static void
check_remotes_usable(PlSession *self, PlIcePath *path)
{
	guint refused = pl_ice_path_get_n_refused_remotes(path);

	if (path != self->next_path || pl_ice_path_get_n_remotes(path) > 0)
		return;
	if (refused > 0)
		session_fail(self, g_error_new(PL_SESSION_ERROR, PL_SESSION_ERROR_UNREACHABLE,
		                               _("the peer offered only addresses this agent may "
		                                 "not use (%u loopback or link-local candidates "
		                                 "refused)"),
		                               refused));
	else
		session_fail(self,
		             g_error_new_literal(PL_SESSION_ERROR, PL_SESSION_ERROR_UNREACHABLE,
		                                 _("the peer has no usable address")));
}

static void
apply_remote(PlSession *self, PlIcePath *path, const PlSignal *signal)
{
	if (signal->ufrag != NULL)
		pl_ice_path_set_remote_credentials(path, signal->ufrag, signal->pwd);
	pl_ice_path_add_remote_candidates(path, signal->candidates);
	if (signal->end_of_candidates) {
		pl_ice_path_set_remote_gathering_done(path);
		check_remotes_usable(self, path);
	}
}

/* the peer restarts ICE (or answers our restart with its own: glare) */
static void
handle_restart_offer(PlSession *self, const PlSignal *signal)
{
	gboolean glare = signal->generation == self->generation && self->next_path != NULL &&
	                 self->next_is_offer;

	if (signal->generation < self->generation || !self->established)
		return;
	if (signal->generation == self->generation && !glare)
		return; /* a duplicate */
	if (glare && self->outgoing)
		return; /* the side that opened the session wins; the peer takes our offer */
	self->generation = signal->generation;
	set_state(self, PL_SESSION_STATE_RESTARTING);
	set_deadline(self, PL_SESSION_RESTART_TIMEOUT_MS);
	start_next_path(self, FALSE);
	apply_remote(self, self->next_path, signal);
}

static void
handle_peer_end(PlSession *self, const PlSignal *signal)
{
	self->peer_closed = TRUE;
	session_finish(self, pl_session_error_from_reason_code(signal->reason_code,
	                                                       signal->reason_message));
}

void
pl_session_handle_signal(PlSession *self, const PlSignal *signal)
{
	PlIcePath *path;

	if (self->finishing)
		return;
	switch (signal->type) {
	case PL_SIGNAL_TYPE_OFFER:
		handle_restart_offer(self, signal);
		break;
	case PL_SIGNAL_TYPE_ANSWER:
		if (self->next_path != NULL && self->next_is_offer &&
		    signal->generation == self->generation)
			apply_remote(self, self->next_path, signal);
		break;
	case PL_SIGNAL_TYPE_CANDIDATES:
		path = path_of_generation(self, signal->generation);
		if (path != NULL)
			apply_remote(self, path, signal);
		break;
	case PL_SIGNAL_TYPE_REJECT:
		if (self->outgoing && !self->established)
			handle_peer_end(self, signal);
		break;
	case PL_SIGNAL_TYPE_CLOSE:
		handle_peer_end(self, signal);
		break;
	}
}

void
pl_session_signal_failed(PlSession *self, const GError *error)
{
	if (g_error_matches(error, PL_SESSION_ERROR, PL_SESSION_ERROR_PEER_OFFLINE)) {
		session_fail(self, g_error_copy(error));
		return;
	}
	/* without signaling, no path can be set up; an established one carries on */
	if (!self->established || self->state == PL_SESSION_STATE_RESTARTING)
		session_fail(self, g_error_new(PL_SESSION_ERROR, PL_SESSION_ERROR_SIGNALING,
		                               _("cannot reach the peer through the rendezvous "
		                                 "service: %s"),
		                               error->message));
}

void
pl_session_close(PlSession *self, const GError *reason)
{
	session_fail(self, g_error_copy(reason));
}

/* construction */

/* the link's conversation: the first 32 bits of the session ID */
static guint32
conversation_of(const gchar *session_id)
{
	gchar head[9];

	g_strlcpy(head, session_id, sizeof(head));
	return (guint32)g_ascii_strtoull(head, NULL, 16);
}

static gboolean
setup_stream(PlSession *self, guint timeout_ms, GError **error)
{
	self->tls = pl_tls_channel_new(self->context->tls, self->outgoing, &self->peer_id, error);
	if (self->tls == NULL)
		return FALSE;
	if (!self->echo) {
		if (!pl_socket_pair_new(&self->app_fd, &self->app_peer_fd, error))
			return FALSE;
		watch_app_socket(self);
	}
	self->link = pl_reliable_link_new(conversation_of(self->session_id),
	                                  self->context->link_buffer_size, &link_callbacks, self);
	set_deadline(self, timeout_ms);
	return TRUE;
}

static PlSession *
session_new(PlSessionContext *context, guint id, const gchar *peer, const gchar *service)
{
	PlSession *self = g_object_new(PL_TYPE_SESSION, NULL);

	self->context = pl_session_context_ref(context);
	self->id = id;
	self->service = g_strdup(service);
	self->peer = g_strdup(peer);
	return self;
}

PlSession *
pl_session_new_outgoing(PlSessionContext *context,
                        guint id,
                        const gchar *peer,
                        const gchar *service,
                        guint timeout_ms,
                        GError **error)
{
	g_autoptr(PlSession) self = session_new(context, id, peer, service);

	if (!pl_peer_id_parse(peer, &self->peer_id, error))
		return NULL;
	g_free(self->peer);
	self->peer = pl_peer_id_to_string(&self->peer_id);
	self->outgoing = TRUE;
	self->session_id = pl_signal_new_session_id();
	if (!setup_stream(self, timeout_ms, error))
		return NULL;
	return g_steal_pointer(&self);
}

PlSession *
pl_session_new_incoming(PlSessionContext *context, guint id, const PlSignal *offer, GError **error)
{
	g_autoptr(PlSession) self = session_new(context, id, offer->from, offer->service);

	if (!pl_peer_id_parse(offer->from, &self->peer_id, error))
		return NULL;
	self->session_id = g_strdup(offer->session_id);
	self->echo = g_strcmp0(offer->service, PL_SESSION_ECHO_SERVICE) == 0;
	self->first_offer = g_new0(PlSignal, 1);
	self->first_offer->ufrag = g_strdup(offer->ufrag);
	self->first_offer->pwd = g_strdup(offer->pwd);
	self->first_offer->candidates = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; i < offer->candidates->len; i++)
		g_ptr_array_add(self->first_offer->candidates,
		                g_strdup(g_ptr_array_index(offer->candidates, i)));
	self->first_offer->end_of_candidates = offer->end_of_candidates;
	if (!setup_stream(self, INCOMING_TIMEOUT_MS, error))
		return NULL;
	return g_steal_pointer(&self);
}

void
pl_session_start(PlSession *self)
{
	g_autoptr(PlSignal) offer = g_steal_pointer(&self->first_offer);

	start_next_path(self, self->outgoing);
	if (offer != NULL)
		apply_remote(self, self->next_path, offer);
}

gint
pl_session_steal_app_fd(PlSession *self)
{
	gint fd;

	if (!self->established)
		return -1;
	fd = self->app_peer_fd;
	self->app_peer_fd = -1;
	return fd;
}

guint
pl_session_get_id(PlSession *self)
{
	return self->id;
}

const gchar *
pl_session_get_session_id(PlSession *self)
{
	return self->session_id;
}

const gchar *
pl_session_get_peer(PlSession *self)
{
	return self->peer;
}

const gchar *
pl_session_get_service(PlSession *self)
{
	return self->service;
}

gboolean
pl_session_is_outgoing(PlSession *self)
{
	return self->outgoing;
}

PlSessionState
pl_session_get_state(PlSession *self)
{
	return self->state;
}

static void
set_candidate_member(JsonObject *object, const gchar *name, PlIcePath *path, gboolean local)
{
	JsonObject *candidate = path != NULL ? pl_ice_path_describe_candidate(path, local) : NULL;

	if (candidate != NULL)
		json_object_set_object_member(object, name, candidate);
	else
		json_object_set_null_member(object, name);
}

JsonObject *
pl_session_describe(PlSession *self)
{
	JsonObject *object = json_object_new();
	PlIcePath *path = self->path;
	gint64 now = g_get_monotonic_time();

	json_object_set_int_member(object, "id", self->id);
	json_object_set_string_member(object, "peer", self->peer);
	json_object_set_string_member(object, "service", self->service);
	json_object_set_string_member(object, "direction",
	                              self->outgoing ? "outgoing" : "incoming");
	json_object_set_string_member(object, "state", pl_session_state_to_string(self->state));
	if (path != NULL && pl_ice_path_has_selected_pair(path))
		json_object_set_string_member(object, "path",
		                              pl_ice_path_is_relayed(path) ? "relay" : "direct");
	else
		json_object_set_null_member(object, "path");
	set_candidate_member(object, "local_candidate", path, TRUE);
	set_candidate_member(object, "remote_candidate", path, FALSE);
	if (self->established_at > 0)
		json_object_set_double_member(
		        object, "setup_ms",
		        (gdouble)((self->established_at - self->created_at) / 100) / 10.0);
	else
		json_object_set_null_member(object, "setup_ms");
	json_object_set_int_member(object, "bytes_sent", (gint64)self->bytes_sent);
	json_object_set_int_member(object, "bytes_received", (gint64)self->bytes_received);
	json_object_set_int_member(object, "age_s", (now - self->created_at) / G_USEC_PER_SEC);
	json_object_set_int_member(object, "restarts", self->restarts);
	if (path != NULL)
		json_object_set_object_member(object, "candidates",
		                              pl_ice_path_describe_checks(path));
	else
		json_object_set_null_member(object, "candidates");
	return object;
}
