#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <ifaddrs.h>
#include <libsoup/soup.h>
#include <netinet/in.h>

#include "pl-rendezvous-client-private.h"
#include "pl-rendezvous-protocol.h"

#define HTTP_TIMEOUT_S       15 /* per request of the sign-in and lookups */
#define TOKEN_RENEW_MARGIN_S 60 /* sign in again this long before the token expires */
/* a connected client signs in again in the background before its token or
 * its TURN credentials (half their lifetime) run out; never more often */
#define CREDENTIALS_REFRESH_MIN_S 10
#define CREDENTIALS_RETRY_S       60
#define MAX_BACKOFF_ATTEMPTS      32 /* the attempt counter stops growing here */

/* pure helpers */

G_DEFINE_ENUM_TYPE(PlRendezvousClientState,
                   pl_rendezvous_client_state,
                   G_DEFINE_ENUM_VALUE(PL_RENDEZVOUS_CLIENT_STATE_DISABLED, "disabled"),
                   G_DEFINE_ENUM_VALUE(PL_RENDEZVOUS_CLIENT_STATE_CONNECTING, "connecting"),
                   G_DEFINE_ENUM_VALUE(PL_RENDEZVOUS_CLIENT_STATE_CONNECTED, "connected"),
                   G_DEFINE_ENUM_VALUE(PL_RENDEZVOUS_CLIENT_STATE_BACKING_OFF, "backing-off"))

const gchar *
pl_rendezvous_client_state_to_string(PlRendezvousClientState state)
{
	switch (state) {
	case PL_RENDEZVOUS_CLIENT_STATE_DISABLED:
		return "disabled";
	case PL_RENDEZVOUS_CLIENT_STATE_CONNECTING:
		return "connecting";
	case PL_RENDEZVOUS_CLIENT_STATE_CONNECTED:
		return "connected";
	case PL_RENDEZVOUS_CLIENT_STATE_BACKING_OFF:
		return "backing-off";
	default:
		return "unknown";
	}
}

struct _PlRendezvousRecentIds {
	GHashTable *set; /* borrows the strings of @order */
	GQueue order;    /* oldest first, owns the strings */
	guint capacity;
};

PlRendezvousRecentIds *
pl_rendezvous_recent_ids_new(guint capacity)
{
	PlRendezvousRecentIds *self = g_new0(PlRendezvousRecentIds, 1);

	g_return_val_if_fail(capacity > 0, NULL);
	self->set = g_hash_table_new(g_str_hash, g_str_equal);
	g_queue_init(&self->order);
	self->capacity = capacity;
	return self;
}

void
pl_rendezvous_recent_ids_free(PlRendezvousRecentIds *self)
{
	g_hash_table_unref(self->set);
	g_queue_clear_full(&self->order, g_free);
	g_free(self);
}

gboolean
pl_rendezvous_recent_ids_add(PlRendezvousRecentIds *self, const gchar *id)
{
	gchar *copy;

	if (g_hash_table_contains(self->set, id))
		return FALSE;
	while (self->order.length >= self->capacity) {
		g_autofree gchar *oldest = g_queue_pop_head(&self->order);
		g_hash_table_remove(self->set, oldest);
	}
	copy = g_strdup(id);
	g_queue_push_tail(&self->order, copy);
	g_hash_table_add(self->set, copy);
	return TRUE;
}

guint
pl_rendezvous_recent_ids_get_size(PlRendezvousRecentIds *self)
{
	return self->order.length;
}

GUri *
pl_rendezvous_client_parse_url(const gchar *url, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GUri) uri = g_uri_parse(url, G_URI_FLAGS_ENCODED, &error_local);
	const gchar *scheme;
	const gchar *host;

	if (uri == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		            _("“%s” is not a valid URL: %s"), url, error_local->message);
		return NULL;
	}
	scheme = g_uri_get_scheme(uri);
	if (g_ascii_strcasecmp(scheme, "http") != 0 && g_ascii_strcasecmp(scheme, "https") != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		            _("“%s” is not an http or https URL"), url);
		return NULL;
	}
	host = g_uri_get_host(uri);
	if (host == NULL || host[0] == '\0') {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		            _("the URL “%s” has no host"), url);
		return NULL;
	}
	if (g_uri_get_userinfo(uri) != NULL || g_uri_get_query(uri) != NULL ||
	    g_uri_get_fragment(uri) != NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		            _("the URL “%s” must not have a user, a query or a fragment"), url);
		return NULL;
	}
	return g_steal_pointer(&uri);
}

gchar *
pl_rendezvous_client_build_endpoint(GUri *base, const gchar *path)
{
	g_autofree gchar *prefix = g_strdup(g_uri_get_path(base));
	g_autofree gchar *full = NULL;
	gsize len = strlen(prefix);

	while (len > 0 && prefix[len - 1] == '/')
		prefix[--len] = '\0';
	full = g_strconcat(prefix, path, NULL);
	return g_uri_join(G_URI_FLAGS_ENCODED, g_uri_get_scheme(base), NULL, g_uri_get_host(base),
	                  g_uri_get_port(base), full, NULL, NULL);
}

gboolean
pl_rendezvous_client_parse_lookup_reply(
        guint http_status, const gchar *body, gsize len, gboolean *online, GError **error)
{
	g_autoptr(GError) error_local = NULL;

	if (http_status == SOUP_STATUS_OK) {
		if (pl_rendezvous_parse_peer_reply(body, len, online, &error_local))
			return TRUE;
		g_set_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_PROTOCOL,
		            _("the service answered the peer lookup with nonsense: %s"),
		            error_local->message);
		return FALSE;
	}
	error_local = pl_rendezvous_parse_error_reply(http_status, body, len);
	if (g_error_matches(error_local, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_PEER_OFFLINE)) {
		*online = FALSE;
		return TRUE;
	}
	g_propagate_error(error, g_steal_pointer(&error_local));
	return FALSE;
}

gboolean
pl_rendezvous_client_error_needs_auth(const GError *error)
{
	return g_error_matches(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_UNAUTHORIZED);
}

gchar *
pl_rendezvous_client_describe_error(const GError *error)
{
	if (error->domain == G_TLS_ERROR)
		return g_strdup_printf(_("TLS error: %s"), error->message);
	if (error->domain == PL_RENDEZVOUS_ERROR)
		return g_strdup_printf("%s (%s)", error->message,
		                       pl_rendezvous_error_to_string(error->code));
	return g_strdup(error->message);
}

gint64
pl_rendezvous_client_seconds_until(gint64 when_us, gint64 now_us)
{
	if (when_us <= now_us)
		return 0;
	return (when_us - now_us + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC;
}

gboolean
pl_rendezvous_client_address_is_local(GInetAddress *address)
{
	struct ifaddrs *list = NULL;
	gboolean found = FALSE;

	g_return_val_if_fail(G_IS_INET_ADDRESS(address), FALSE);

	if (getifaddrs(&list) != 0) {
		g_debug("rendezvous: cannot list the local addresses: %s", g_strerror(errno));
		return TRUE; /* in doubt the connection stays */
	}
	for (struct ifaddrs *ifa = list; ifa != NULL && !found; ifa = ifa->ifa_next) {
		g_autoptr(GSocketAddress) native = NULL;
		gsize len;

		if (ifa->ifa_addr == NULL)
			continue;
		if (ifa->ifa_addr->sa_family == AF_INET)
			len = sizeof(struct sockaddr_in);
		else if (ifa->ifa_addr->sa_family == AF_INET6)
			len = sizeof(struct sockaddr_in6);
		else
			continue;
		native = g_socket_address_new_from_native(ifa->ifa_addr, len);
		found = G_IS_INET_SOCKET_ADDRESS(native) &&
		        g_inet_address_equal(address, g_inet_socket_address_get_address(
		                                              G_INET_SOCKET_ADDRESS(native)));
	}
	freeifaddrs(list);
	return found;
}

/* the object */

typedef struct {
	PlRendezvousClient *client; /* unowned: the entry lives in its table */
	GTask *task;
	gint64 ref;
	gchar *frame;     /* kept to send again after a rate limit or a reconnect */
	guint timeout_id; /* the send fails when it fires, retries or not */
	guint resend_id;
	GSource *cancel_source;
	guint retry_ms;   /* 0: fails with the connection; else waits for the next one */
	gboolean written; /* on the current connection; else queued until connected */
} PlPendingSend;

/* the service's per-peer rate limit is counted per second */
#define RATE_LIMIT_RETRY_MS 1000

struct _PlRendezvousClient {
	GObject parent_instance;
	PlIdentity *identity;
	gchar *url;
	gchar *ca_file;
	GUri *base_uri;
	gchar *audience;
	gchar *challenge_url;
	gchar *session_url;
	gchar *ws_url;
	SoupSession *session;
	GCancellable *cancellable; /* all work since start(): cancelled by stop() and dispose */

	PlRendezvousClientState state;
	gboolean started;
	gchar *last_error;
	gint64 next_attempt; /* monotonic µs, 0 when no retry is scheduled */
	guint attempts;      /* failed attempts since the last connection */
	guint retry_id;

	gchar *token;
	gint64 token_renew_at;   /* monotonic µs */
	gboolean token_is_fresh; /* obtained during the current attempt */
	JsonObject *ice;
	guint refresh_id; /* the next background sign-in */

	SoupMessage *ws_request;
	SoupWebsocketConnection *ws;
	GInetAddress *local_address; /* of the WebSocket's TCP connection, if known */
	guint probe_id;              /* the network changed: does the service still answer? */
	gint64 probe_sent_at;        /* monotonic µs */
	GError *ws_error;            /* reported by the socket before it closed */
	GPtrArray *closing;          /* sockets we closed, kept until their close handshake ends */
	guint ping_id;
	guint watchdog_id;
	gint64 last_received; /* monotonic µs */

	gint64 next_ref;
	GHashTable *pending; /* &ref → PlPendingSend */
	PlRendezvousRecentIds *recent_ids;

	guint ping_interval_ms;
	guint dead_after_ms;
	guint send_timeout_ms;
	guint backoff_base_ms;
	guint backoff_max_ms;
};

static void pl_rendezvous_client_initable_iface_init(GInitableIface *iface);

G_DEFINE_TYPE_WITH_CODE(PlRendezvousClient,
                        pl_rendezvous_client,
                        G_TYPE_OBJECT,
                        G_IMPLEMENT_INTERFACE(G_TYPE_INITABLE,
                                              pl_rendezvous_client_initable_iface_init))

enum {
	PROP_0,
	PROP_IDENTITY,
	PROP_URL,
	PROP_CA_FILE,
	PROP_STATE,
	PROP_LAST_ERROR,
	PROP_NEXT_ATTEMPT,
	N_PROPS,
};
static GParamSpec *props[N_PROPS];

enum {
	SIGNAL_STATE_CHANGED,
	SIGNAL_MESSAGE,
	N_SIGNALS,
};
static guint signals[N_SIGNALS];

static void attempt_failed(PlRendezvousClient *self, const GError *error);
static void connection_failed(PlRendezvousClient *self, const GError *error, gboolean at_once);
static void request_challenge(PlRendezvousClient *self);
static void open_websocket(PlRendezvousClient *self);

static void
pl_pending_send_free(PlPendingSend *pending)
{
	g_clear_handle_id(&pending->timeout_id, g_source_remove);
	g_clear_handle_id(&pending->resend_id, g_source_remove);
	g_free(pending->frame);
	if (pending->cancel_source != NULL) {
		g_source_destroy(pending->cancel_source);
		g_source_unref(pending->cancel_source);
	}
	g_clear_object(&pending->task);
	g_free(pending);
}

/* The caller completes the task: nothing refers to the entry any more. */
static PlPendingSend *
take_pending(PlRendezvousClient *self, gint64 ref)
{
	PlPendingSend *pending = g_hash_table_lookup(self->pending, &ref);

	if (pending != NULL)
		g_hash_table_remove(self->pending, &ref);
	return pending;
}

static gint
compare_pending(gconstpointer a, gconstpointer b)
{
	gint64 ref_a = (*(PlPendingSend *const *)a)->ref;
	gint64 ref_b = (*(PlPendingSend *const *)b)->ref;

	return ref_a < ref_b ? -1 : ref_a > ref_b;
}

/* the pending sends, oldest first */
static GPtrArray *
get_pending_sends(PlRendezvousClient *self)
{
	GPtrArray *sends = g_ptr_array_new();
	GHashTableIter iter;
	gpointer pending;

	g_hash_table_iter_init(&iter, self->pending);
	while (g_hash_table_iter_next(&iter, NULL, &pending))
		g_ptr_array_add(sends, pending);
	g_ptr_array_sort(sends, compare_pending);
	return sends;
}

/* The connection is gone: sends that may wait for the next one stay queued (unless
 * @all), the others fail with @error. */
static void
fail_pending_sends_full(PlRendezvousClient *self, const GError *error, gboolean all)
{
	g_autoptr(GPtrArray) sends = get_pending_sends(self);
	guint kept = 0;

	/* out of the table first: a callback may send again */
	for (guint i = 0; i < sends->len; i++) {
		PlPendingSend *pending = g_ptr_array_index(sends, i);
		if (!all && pending->retry_ms > 0) {
			pending->written = FALSE;
			g_clear_handle_id(&pending->resend_id, g_source_remove);
			kept++;
			continue;
		}
		g_hash_table_remove(self->pending, &pending->ref);
	}
	if (kept > 0)
		g_debug("rendezvous: %u messages wait for the next connection", kept);
	for (guint i = 0; i < sends->len; i++) {
		PlPendingSend *pending = g_ptr_array_index(sends, i);
		if (!all && pending->retry_ms > 0)
			continue;
		g_task_return_error(pending->task, g_error_copy(error));
		pl_pending_send_free(pending);
	}
}

static void
fail_pending_sends(PlRendezvousClient *self, const GError *error)
{
	fail_pending_sends_full(self, error, TRUE);
}

static void
set_state(PlRendezvousClient *self, PlRendezvousClientState state)
{
	if (self->state == state)
		return;
	g_debug("rendezvous %s: %s → %s", self->url,
	        pl_rendezvous_client_state_to_string(self->state),
	        pl_rendezvous_client_state_to_string(state));
	self->state = state;
	g_object_notify_by_pspec(G_OBJECT(self), props[PROP_STATE]);
	g_signal_emit(self, signals[SIGNAL_STATE_CHANGED], 0, state);
}

static void
set_last_error(PlRendezvousClient *self, const gchar *text)
{
	if (g_strcmp0(self->last_error, text) == 0)
		return;
	g_free(self->last_error);
	self->last_error = g_strdup(text);
	g_object_notify_by_pspec(G_OBJECT(self), props[PROP_LAST_ERROR]);
}

static void
set_next_attempt(PlRendezvousClient *self, gint64 next_attempt)
{
	if (self->next_attempt == next_attempt)
		return;
	self->next_attempt = next_attempt;
	g_object_notify_by_pspec(G_OBJECT(self), props[PROP_NEXT_ATTEMPT]);
}

static gboolean
ws_is_open(PlRendezvousClient *self)
{
	return self->ws != NULL &&
	       soup_websocket_connection_get_state(self->ws) == SOUP_WEBSOCKET_STATE_OPEN;
}

static gboolean
send_text(PlRendezvousClient *self, const gchar *text)
{
	if (!ws_is_open(self))
		return FALSE;
	soup_websocket_connection_send_text(self->ws, text);
	return TRUE;
}

static void
on_closing_ws_closed(SoupWebsocketConnection *ws, gpointer user_data)
{
	PlRendezvousClient *self = PL_RENDEZVOUS_CLIENT(user_data);

	g_signal_handlers_disconnect_by_data(ws, self);
	g_ptr_array_remove_fast(self->closing, ws);
}

/* Stops the heartbeat and lets go of the socket, closing it with @code if still open. */
static void
close_websocket(PlRendezvousClient *self, gushort code)
{
	g_clear_handle_id(&self->ping_id, g_source_remove);
	g_clear_handle_id(&self->watchdog_id, g_source_remove);
	g_clear_handle_id(&self->probe_id, g_source_remove);
	g_clear_object(&self->local_address);
	g_clear_object(&self->ws_request);
	g_clear_error(&self->ws_error);
	if (self->ws == NULL)
		return;
	g_signal_handlers_disconnect_by_data(self->ws, self);
	if (ws_is_open(self)) {
		/* the close frame goes out from the main loop: keep the socket until it is done */
		g_signal_connect(self->ws, "closed", G_CALLBACK(on_closing_ws_closed), self);
		g_ptr_array_add(self->closing, g_object_ref(self->ws));
		soup_websocket_connection_close(self->ws, code, NULL);
	}
	g_clear_object(&self->ws);
}

static void
begin_attempt(PlRendezvousClient *self)
{
	set_next_attempt(self, 0);
	set_state(self, PL_RENDEZVOUS_CLIENT_STATE_CONNECTING);
	self->token_is_fresh = FALSE;
	if (self->token != NULL && g_get_monotonic_time() < self->token_renew_at)
		open_websocket(self);
	else
		request_challenge(self);
}

static gboolean
retry_cb(gpointer user_data)
{
	PlRendezvousClient *self = PL_RENDEZVOUS_CLIENT(user_data);

	self->retry_id = 0;
	begin_attempt(self);
	return G_SOURCE_REMOVE;
}

/* Any failure, connected or not: back off, then try again. */
static void
attempt_failed(PlRendezvousClient *self, const GError *error)
{
	connection_failed(self, error, FALSE);
}

/* The same; @at_once: the next attempt starts now (the network changed), without backoff. */
static void
connection_failed(PlRendezvousClient *self, const GError *error, gboolean at_once)
{
	g_autofree gchar *description = pl_rendezvous_client_describe_error(error);
	g_autoptr(GError) not_connected = NULL;
	gboolean was_connected = self->state == PL_RENDEZVOUS_CLIENT_STATE_CONNECTED;
	guint delay_ms = 0;

	g_return_if_fail(self->started);
	close_websocket(self, SOUP_WEBSOCKET_CLOSE_GOING_AWAY);
	if (pl_rendezvous_client_error_needs_auth(error))
		g_clear_pointer(&self->token, g_free);
	if (at_once) {
		self->attempts = 0;
	} else {
		delay_ms = pl_rendezvous_backoff_delay_ms(self->attempts, self->backoff_base_ms,
		                                          self->backoff_max_ms, g_random_int());
		if (self->attempts < MAX_BACKOFF_ATTEMPTS)
			self->attempts++;
	}
	if (was_connected)
		g_message("lost the rendezvous service %s: %s", self->url, description);
	else if (self->attempts == 1)
		g_message("cannot connect to the rendezvous service %s: %s (retrying)", self->url,
		          description);
	else
		g_debug("rendezvous %s: attempt %u failed: %s; next in %u ms", self->url,
		        self->attempts, description, delay_ms);

	set_last_error(self, description);
	g_clear_handle_id(&self->retry_id, g_source_remove);
	if (at_once) {
		begin_attempt(self);
	} else {
		set_next_attempt(self, g_get_monotonic_time() + (gint64)delay_ms * 1000);
		self->retry_id = g_timeout_add(delay_ms, retry_cb, self);
		set_state(self, PL_RENDEZVOUS_CLIENT_STATE_BACKING_OFF);
	}

	not_connected =
	        g_error_new(PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_NOT_CONNECTED,
	                    _("lost the connection to the rendezvous service: %s"), description);
	fail_pending_sends_full(self, not_connected, FALSE);
}

/* the heartbeat */

static gboolean
ping_cb(gpointer user_data)
{
	PlRendezvousClient *self = PL_RENDEZVOUS_CLIENT(user_data);
	g_autofree gchar *frame = pl_rendezvous_frame_build_simple(PL_RENDEZVOUS_FRAME_PING);

	send_text(self, frame);
	return G_SOURCE_CONTINUE;
}

static gboolean
watchdog_cb(gpointer user_data)
{
	PlRendezvousClient *self = PL_RENDEZVOUS_CLIENT(user_data);
	gint64 silent_ms = (g_get_monotonic_time() - self->last_received) / 1000;

	self->watchdog_id = 0;
	if (silent_ms >= self->dead_after_ms) {
		g_autoptr(GError) error =
		        g_error_new(G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
		                    _("the rendezvous service sent nothing for %u s"),
		                    (self->dead_after_ms + 999) / 1000);
		attempt_failed(self, error);
		return G_SOURCE_REMOVE;
	}
	self->watchdog_id =
	        g_timeout_add(self->dead_after_ms - (guint)MAX(silent_ms, 0), watchdog_cb, self);
	return G_SOURCE_REMOVE;
}

/* frames from the service */

static gboolean
resend_cb(gpointer user_data)
{
	PlPendingSend *pending = user_data;

	pending->resend_id = 0;
	if (ws_is_open(pending->client))
		send_text(pending->client, pending->frame);
	return G_SOURCE_REMOVE;
}

/* A burst over the rate limit is sent again a second later, until the send
 * times out: many sessions opened at once must not fail for it. */
static gboolean
resend_later(PlRendezvousClient *self, gint64 ref, const GError *error)
{
	PlPendingSend *pending = g_hash_table_lookup(self->pending, &ref);

	if (pending == NULL ||
	    !g_error_matches(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_RATE_LIMITED))
		return FALSE;
	g_debug("rendezvous: send %" G_GINT64_FORMAT " rate-limited; sending it again in %u ms",
	        ref, RATE_LIMIT_RETRY_MS);
	g_clear_handle_id(&pending->resend_id, g_source_remove);
	pending->resend_id = g_timeout_add(RATE_LIMIT_RETRY_MS, resend_cb, pending);
	return TRUE;
}

static void
complete_send(PlRendezvousClient *self, gint64 ref, const gchar *id, const GError *error)
{
	PlPendingSend *pending;

	if (error != NULL && resend_later(self, ref, error))
		return;
	pending = g_hash_table_lookup(self->pending, &ref);
	if (pending != NULL && pending->retry_ms > 0 &&
	    pl_rendezvous_client_error_needs_auth(error)) {
		/* the client signs in again right after this: the send waits for that */
		pending->written = FALSE;
		return;
	}
	pending = take_pending(self, ref);

	if (pending == NULL) {
		g_debug("rendezvous: an answer for unknown ref %" G_GINT64_FORMAT, ref);
		return;
	}
	if (error != NULL)
		g_task_return_error(pending->task, g_error_copy(error));
	else
		g_task_return_pointer(pending->task, g_strdup(id), g_free);
	pl_pending_send_free(pending);
}

static void
handle_message(PlRendezvousClient *self, PlRendezvousMessage *message)
{
	g_autofree gchar *ack = pl_rendezvous_frame_build_ack(message->id);
	g_autoptr(JsonObject) empty = json_object_new();

	send_text(self, ack);
	if (!pl_rendezvous_recent_ids_add(self->recent_ids, message->id)) {
		g_debug("rendezvous: dropping duplicate message %s", message->id);
		return;
	}
	g_debug("rendezvous: %s message %s from %s", message->kind, message->id, message->from);
	g_signal_emit(self, signals[SIGNAL_MESSAGE], 0, message->from, message->kind,
	              message->body != NULL ? message->body : empty, message->id);
}

static void
on_ws_message(SoupWebsocketConnection *ws, gint type, GBytes *bytes, gpointer user_data)
{
	PlRendezvousClient *self = PL_RENDEZVOUS_CLIENT(user_data);
	g_autoptr(PlRendezvousFrame) frame = NULL;
	g_autoptr(GError) error = NULL;
	gsize len = 0;
	const gchar *data = g_bytes_get_data(bytes, &len);

	self->last_received = g_get_monotonic_time();
	if (type != SOUP_WEBSOCKET_DATA_TEXT) {
		g_debug("rendezvous: ignoring a binary frame");
		return;
	}
	frame = pl_rendezvous_frame_parse(data, len, PL_RENDEZVOUS_MAX_REQUEST_SIZE, &error);
	if (frame == NULL) {
		g_debug("rendezvous: ignoring a frame: %s", error->message);
		return;
	}
	switch (frame->type) {
	case PL_RENDEZVOUS_FRAME_MESSAGE:
		if (frame->message != NULL)
			handle_message(self, frame->message);
		break;
	case PL_RENDEZVOUS_FRAME_SENT:
		complete_send(self, frame->ref, frame->id, NULL);
		break;
	case PL_RENDEZVOUS_FRAME_ERROR:
		if (frame->error == NULL)
			break;
		if (frame->ref >= 0)
			complete_send(self, frame->ref, NULL, frame->error);
		else
			g_debug("rendezvous: the service reported: %s", frame->error->message);
		if (pl_rendezvous_client_error_needs_auth(frame->error))
			attempt_failed(self, frame->error); /* reconnect with a new token */
		break;
	case PL_RENDEZVOUS_FRAME_PONG:
		break;
	case PL_RENDEZVOUS_FRAME_SEND:
	case PL_RENDEZVOUS_FRAME_ACK:
	case PL_RENDEZVOUS_FRAME_PING:
	default:
		g_debug("rendezvous: ignoring a frame of a client's type");
		break;
	}
}

static void
on_ws_error(SoupWebsocketConnection *ws, GError *error, gpointer user_data)
{
	PlRendezvousClient *self = PL_RENDEZVOUS_CLIENT(user_data);

	g_debug("rendezvous: WebSocket error: %s", error->message);
	if (self->ws_error == NULL)
		self->ws_error = g_error_copy(error);
}

static void
on_ws_closed(SoupWebsocketConnection *ws, gpointer user_data)
{
	PlRendezvousClient *self = PL_RENDEZVOUS_CLIENT(user_data);
	g_autoptr(GError) error = NULL;
	gushort code = soup_websocket_connection_get_close_code(ws);

	if (self->ws_error != NULL)
		error = g_error_copy(self->ws_error);
	else if (code == 4000)
		error = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
		                            _("another connection of this peer replaced this one"));
	else if (code == 0 || code == SOUP_WEBSOCKET_CLOSE_NO_STATUS)
		error = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
		                            _("the rendezvous service closed the connection"));
	else
		error = g_error_new(G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
		                    _("the rendezvous service closed the connection (code %u)"),
		                    code);
	attempt_failed(self, error);
}

/* what waited for a connection goes out, oldest first */
static void
send_queued(PlRendezvousClient *self)
{
	g_autoptr(GPtrArray) sends = get_pending_sends(self);
	guint n = 0;

	for (guint i = 0; i < sends->len; i++) {
		PlPendingSend *pending = g_ptr_array_index(sends, i);
		if (pending->written)
			continue;
		pending->written = send_text(self, pending->frame);
		n++;
	}
	if (n > 0)
		g_debug("rendezvous: sent %u messages that waited for the connection", n);
}

static void
on_ws_network_event(SoupMessage *msg,
                    GSocketClientEvent event,
                    GIOStream *connection,
                    gpointer user_data)
{
	PlRendezvousClient *self = PL_RENDEZVOUS_CLIENT(user_data);
	g_autoptr(GSocketAddress) address = NULL;
	g_autoptr(GError) error = NULL;

	if (msg != self->ws_request || event != G_SOCKET_CLIENT_CONNECTED ||
	    !G_IS_SOCKET_CONNECTION(connection))
		return;
	address = g_socket_connection_get_local_address(G_SOCKET_CONNECTION(connection), &error);
	if (address == NULL) {
		g_debug("rendezvous: the connection's local address is unknown: %s",
		        error->message);
		return;
	}
	if (G_IS_INET_SOCKET_ADDRESS(address))
		g_set_object(&self->local_address,
		             g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(address)));
}

static void
connected(PlRendezvousClient *self, SoupWebsocketConnection *ws)
{
	self->ws = ws;
	g_signal_connect(ws, "message", G_CALLBACK(on_ws_message), self);
	g_signal_connect(ws, "error", G_CALLBACK(on_ws_error), self);
	g_signal_connect(ws, "closed", G_CALLBACK(on_ws_closed), self);
	self->last_received = g_get_monotonic_time();
	self->attempts = 0;
	self->ping_id = g_timeout_add(self->ping_interval_ms, ping_cb, self);
	self->watchdog_id = g_timeout_add(self->dead_after_ms, watchdog_cb, self);
	g_message("connected to the rendezvous service %s as %s", self->url,
	          pl_identity_get_peer_id_string(self->identity));
	set_last_error(self, NULL);
	set_next_attempt(self, 0);
	send_queued(self);
	set_state(self, PL_RENDEZVOUS_CLIENT_STATE_CONNECTED);
}

/* the connection: challenge, session, WebSocket */

static SoupMessage *
new_request(PlRendezvousClient *self, const gchar *method, const gchar *url, const gchar *body)
{
	SoupMessage *msg = soup_message_new(method, url);
	SoupMessageHeaders *headers = soup_message_get_request_headers(msg);

	soup_message_headers_replace(headers, "Accept", "application/json");
	if (self->token != NULL) {
		g_autofree gchar *authorization = g_strdup_printf("Bearer %s", self->token);
		soup_message_headers_replace(headers, "Authorization", authorization);
	}
	if (body != NULL) {
		g_autoptr(GBytes) bytes = g_bytes_new(body, strlen(body));
		soup_message_set_request_body_from_bytes(msg, "application/json", bytes);
	}
	return msg;
}

/* A reply with a 2xx status, or the service's error. */
static gboolean
check_reply(SoupMessage *msg, GBytes *reply, GError **error)
{
	guint status = soup_message_get_status(msg);
	gsize len = 0;
	const gchar *data = g_bytes_get_data(reply, &len);

	if (SOUP_STATUS_IS_SUCCESSFUL(status))
		return TRUE;
	g_propagate_error(error, pl_rendezvous_parse_error_reply(status, data, len));
	return FALSE;
}

static void
websocket_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(SoupMessage) msg = NULL;
	SoupWebsocketConnection *ws;
	PlRendezvousClient *self;
	guint status;

	ws = soup_session_websocket_connect_finish(SOUP_SESSION(source), result, &error);
	if (ws == NULL && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return; /* stopped: @user_data may be gone */
	self = PL_RENDEZVOUS_CLIENT(user_data);
	msg = g_steal_pointer(&self->ws_request);
	if (ws != NULL) {
		connected(self, ws);
		return;
	}
	status = msg != NULL ? soup_message_get_status(msg) : 0;
	if (status == SOUP_STATUS_UNAUTHORIZED && !self->token_is_fresh) {
		g_debug("rendezvous: the session token is no longer valid; signing in again");
		g_clear_pointer(&self->token, g_free);
		request_challenge(self);
		return;
	}
	if (status != 0 && status != SOUP_STATUS_SWITCHING_PROTOCOLS) {
		g_autoptr(GError) http_error = pl_rendezvous_parse_error_reply(status, NULL, 0);
		g_clear_error(&error);
		error = g_error_new(http_error->domain, http_error->code,
		                    _("the service refused the WebSocket: HTTP %u %s"), status,
		                    soup_message_get_reason_phrase(msg) != NULL
		                            ? soup_message_get_reason_phrase(msg)
		                            : "");
	}
	attempt_failed(self, error);
}

static void
open_websocket(PlRendezvousClient *self)
{
	gchar *protocols[] = {(gchar *)PL_RENDEZVOUS_WS_PROTOCOL, NULL};

	g_clear_object(&self->ws_request);
	g_clear_object(&self->local_address);
	self->ws_request = new_request(self, SOUP_METHOD_GET, self->ws_url, NULL);
	/* the local address: to tell when the network takes it away */
	g_signal_connect_object(self->ws_request, "network-event", G_CALLBACK(on_ws_network_event),
	                        self, 0);
	soup_session_websocket_connect_async(self->session, self->ws_request, NULL, protocols,
	                                     G_PRIORITY_DEFAULT, self->cancellable, websocket_cb,
	                                     self);
}

/* a reply we cannot parse is the service's fault, not a refusal of ours */
static void
set_nonsense_error(GError **error, const gchar *request, const GError *parse_error)
{
	g_set_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_PROTOCOL,
	            _("the service answered the %s with nonsense: %s"), request,
	            parse_error->message);
}

static PlRendezvousSession *
parse_session_reply(const gchar *data, gsize len, GError **error)
{
	g_autoptr(GError) parse_error = NULL;
	PlRendezvousSession *session = pl_rendezvous_parse_session_reply(data, len, &parse_error);

	if (session == NULL)
		/* TRANSLATORS: "the service answered the sign-in with nonsense: …" */
		set_nonsense_error(error, _("sign-in"), parse_error);
	return session;
}

/* the shortest lifetime of the TURN credentials handed out, in s; 0: none */
static gint64
turn_ttl_s(JsonObject *ice)
{
	JsonArray *turn = ice != NULL && json_object_has_member(ice, "turn")
	                          ? json_object_get_array_member(ice, "turn")
	                          : NULL;
	gint64 ttl = 0;

	for (guint i = 0; turn != NULL && i < json_array_get_length(turn); i++) {
		JsonObject *server = json_array_get_object_element(turn, i);
		gint64 t = server != NULL && json_object_has_member(server, "ttl")
		                   ? json_object_get_int_member(server, "ttl")
		                   : 0;
		if (t > 0 && (ttl == 0 || t < ttl))
			ttl = t;
	}
	return ttl;
}

static void refresh_credentials(PlRendezvousClient *self, guint in_s);

/* a new token and the ICE servers that came with it; the next sign-in in the
 * background before either runs out */
static void
store_session(PlRendezvousClient *self, PlRendezvousSession *reply_session)
{
	gint64 renew_in_s = reply_session->expires_in > 2 * TOKEN_RENEW_MARGIN_S
	                            ? reply_session->expires_in - TOKEN_RENEW_MARGIN_S
	                            : reply_session->expires_in / 2;
	gint64 ttl_s;

	g_free(self->token);
	self->token = g_steal_pointer(&reply_session->token);
	self->token_renew_at = g_get_monotonic_time() + renew_in_s * G_USEC_PER_SEC;
	g_clear_pointer(&self->ice, json_object_unref);
	if (reply_session->ice != NULL)
		self->ice = json_object_ref(reply_session->ice);
	ttl_s = turn_ttl_s(self->ice);
	if (ttl_s > 0)
		renew_in_s = MIN(renew_in_s, ttl_s / 2);
	refresh_credentials(self, (guint)CLAMP(renew_in_s, CREDENTIALS_REFRESH_MIN_S, G_MAXUINT));
}

static void
session_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	SoupSession *session = SOUP_SESSION(source);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) reply = soup_session_send_and_read_finish(session, result, &error);
	g_autoptr(PlRendezvousSession) reply_session = NULL;
	PlRendezvousClient *self;
	gsize len = 0;
	const gchar *data;

	if (reply == NULL && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	self = PL_RENDEZVOUS_CLIENT(user_data);
	if (reply == NULL ||
	    !check_reply(soup_session_get_async_result_message(session, result), reply, &error)) {
		attempt_failed(self, error);
		return;
	}
	data = g_bytes_get_data(reply, &len);
	reply_session = parse_session_reply(data, len, &error);
	if (reply_session == NULL) {
		attempt_failed(self, error);
		return;
	}
	store_session(self, reply_session);
	self->token_is_fresh = TRUE;
	g_debug("rendezvous: signed in as %s", reply_session->peer_id);
	open_websocket(self);
}

/* the signed answer to the service's challenge */
static gchar *
build_session_body(PlRendezvousClient *self, GBytes *reply, GError **error)
{
	g_autofree gchar *challenge = NULL;
	g_autofree gchar *audience = NULL;
	g_autoptr(GError) parse_error = NULL;
	gsize len = 0;
	const gchar *data = g_bytes_get_data(reply, &len);

	if (!pl_rendezvous_parse_challenge_reply(data, len, &challenge, &audience, &parse_error)) {
		/* TRANSLATORS: "the service answered the sign-in challenge with nonsense: …" */
		set_nonsense_error(error, _("sign-in challenge"), parse_error);
		return NULL;
	}
	/* we sign what we used, not what the service says: a relayed challenge then fails */
	if (g_strcmp0(audience, self->audience) != 0)
		g_debug("rendezvous: the service calls itself %s, we reached it as %s", audience,
		        self->audience);
	return pl_rendezvous_build_session_request(self->identity, challenge, self->audience,
	                                           error);
}

static void
challenge_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	SoupSession *session = SOUP_SESSION(source);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) reply = soup_session_send_and_read_finish(session, result, &error);
	g_autoptr(SoupMessage) msg = NULL;
	g_autofree gchar *body = NULL;
	PlRendezvousClient *self;

	if (reply == NULL && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	self = PL_RENDEZVOUS_CLIENT(user_data);
	if (reply == NULL ||
	    !check_reply(soup_session_get_async_result_message(session, result), reply, &error)) {
		attempt_failed(self, error);
		return;
	}
	body = build_session_body(self, reply, &error);
	if (body == NULL) {
		attempt_failed(self, error);
		return;
	}
	g_clear_pointer(&self->token, g_free);
	msg = new_request(self, SOUP_METHOD_POST, self->session_url, body);
	soup_session_send_and_read_async(self->session, msg, G_PRIORITY_DEFAULT, self->cancellable,
	                                 session_cb, self);
}

/* the background sign-in of a connected client: a new token and new TURN
 * credentials, the WebSocket untouched */

static void
refresh_failed(PlRendezvousClient *self, const GError *error)
{
	g_message("rendezvous: could not renew the sign-in and relay credentials: %s (again in "
	          "%u s)",
	          error->message, CREDENTIALS_RETRY_S);
	refresh_credentials(self, CREDENTIALS_RETRY_S);
}

static void
refresh_session_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	SoupSession *session = SOUP_SESSION(source);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) reply = soup_session_send_and_read_finish(session, result, &error);
	g_autoptr(PlRendezvousSession) reply_session = NULL;
	PlRendezvousClient *self;
	gsize len = 0;
	const gchar *data;

	if (reply == NULL && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	self = PL_RENDEZVOUS_CLIENT(user_data);
	if (reply == NULL ||
	    !check_reply(soup_session_get_async_result_message(session, result), reply, &error)) {
		refresh_failed(self, error);
		return;
	}
	data = g_bytes_get_data(reply, &len);
	reply_session = parse_session_reply(data, len, &error);
	if (reply_session == NULL) {
		refresh_failed(self, error);
		return;
	}
	store_session(self, reply_session);
	g_debug("rendezvous: renewed the sign-in and relay credentials");
}

static void
refresh_challenge_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	SoupSession *session = SOUP_SESSION(source);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) reply = soup_session_send_and_read_finish(session, result, &error);
	g_autoptr(SoupMessage) msg = NULL;
	g_autofree gchar *body = NULL;
	PlRendezvousClient *self;

	if (reply == NULL && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	self = PL_RENDEZVOUS_CLIENT(user_data);
	if (reply == NULL ||
	    !check_reply(soup_session_get_async_result_message(session, result), reply, &error) ||
	    (body = build_session_body(self, reply, &error)) == NULL) {
		refresh_failed(self, error);
		return;
	}
	msg = new_request(self, SOUP_METHOD_POST, self->session_url, body);
	soup_session_send_and_read_async(self->session, msg, G_PRIORITY_DEFAULT, self->cancellable,
	                                 refresh_session_cb, self);
}

static gboolean
refresh_cb(gpointer user_data)
{
	PlRendezvousClient *self = PL_RENDEZVOUS_CLIENT(user_data);
	g_autofree gchar *body = NULL;
	g_autoptr(SoupMessage) msg = NULL;

	self->refresh_id = 0;
	/* not connected: the next connection signs in anew */
	if (self->state != PL_RENDEZVOUS_CLIENT_STATE_CONNECTED)
		return G_SOURCE_REMOVE;
	body = pl_rendezvous_build_challenge_request(
	        pl_identity_get_peer_id_string(self->identity));
	msg = new_request(self, SOUP_METHOD_POST, self->challenge_url, body);
	soup_session_send_and_read_async(self->session, msg, G_PRIORITY_DEFAULT, self->cancellable,
	                                 refresh_challenge_cb, self);
	return G_SOURCE_REMOVE;
}

static void
refresh_credentials(PlRendezvousClient *self, guint in_s)
{
	g_clear_handle_id(&self->refresh_id, g_source_remove);
	self->refresh_id = g_timeout_add_seconds(in_s, refresh_cb, self);
}

static void
request_challenge(PlRendezvousClient *self)
{
	g_autofree gchar *body = pl_rendezvous_build_challenge_request(
	        pl_identity_get_peer_id_string(self->identity));
	g_autoptr(SoupMessage) msg = NULL;

	g_clear_pointer(&self->token, g_free);
	msg = new_request(self, SOUP_METHOD_POST, self->challenge_url, body);
	soup_session_send_and_read_async(self->session, msg, G_PRIORITY_DEFAULT, self->cancellable,
	                                 challenge_cb, self);
}

/* public API */

PlRendezvousClient *
pl_rendezvous_client_new(PlIdentity *identity,
                         const gchar *url,
                         const gchar *ca_file,
                         GError **error)
{
	g_return_val_if_fail(PL_IS_IDENTITY(identity), NULL);
	g_return_val_if_fail(url != NULL, NULL);

	return g_initable_new(PL_TYPE_RENDEZVOUS_CLIENT, NULL, error, "identity", identity, "url",
	                      url, "ca-file", ca_file, NULL);
}

const gchar *
pl_rendezvous_client_get_url(PlRendezvousClient *self)
{
	g_return_val_if_fail(PL_IS_RENDEZVOUS_CLIENT(self), NULL);
	return self->url;
}

PlRendezvousClientState
pl_rendezvous_client_get_state(PlRendezvousClient *self)
{
	g_return_val_if_fail(PL_IS_RENDEZVOUS_CLIENT(self), PL_RENDEZVOUS_CLIENT_STATE_DISABLED);
	return self->state;
}

const gchar *
pl_rendezvous_client_get_last_error(PlRendezvousClient *self)
{
	g_return_val_if_fail(PL_IS_RENDEZVOUS_CLIENT(self), NULL);
	return self->last_error;
}

gint64
pl_rendezvous_client_get_next_attempt(PlRendezvousClient *self)
{
	g_return_val_if_fail(PL_IS_RENDEZVOUS_CLIENT(self), 0);
	return self->next_attempt;
}

gint64
pl_rendezvous_client_get_next_attempt_seconds(PlRendezvousClient *self)
{
	g_return_val_if_fail(PL_IS_RENDEZVOUS_CLIENT(self), -1);
	if (self->next_attempt == 0)
		return -1;
	return pl_rendezvous_client_seconds_until(self->next_attempt, g_get_monotonic_time());
}

JsonObject *
pl_rendezvous_client_get_ice(PlRendezvousClient *self)
{
	g_return_val_if_fail(PL_IS_RENDEZVOUS_CLIENT(self), NULL);
	return self->ice;
}

void
pl_rendezvous_client_set_timing(PlRendezvousClient *self,
                                guint ping_interval_ms,
                                guint dead_after_ms,
                                guint send_timeout_ms,
                                guint backoff_base_ms,
                                guint backoff_max_ms)
{
	g_return_if_fail(PL_IS_RENDEZVOUS_CLIENT(self));
	g_return_if_fail(ping_interval_ms > 0 && dead_after_ms > 0 && send_timeout_ms > 0);
	g_return_if_fail(!self->started);

	self->ping_interval_ms = ping_interval_ms;
	self->dead_after_ms = dead_after_ms;
	self->send_timeout_ms = send_timeout_ms;
	self->backoff_base_ms = backoff_base_ms;
	self->backoff_max_ms = backoff_max_ms;
}

void
pl_rendezvous_client_start(PlRendezvousClient *self)
{
	g_return_if_fail(PL_IS_RENDEZVOUS_CLIENT(self));

	if (self->started)
		return;
	self->started = TRUE;
	self->attempts = 0;
	begin_attempt(self);
}

GInetAddress *
pl_rendezvous_client_get_local_address(PlRendezvousClient *self)
{
	g_return_val_if_fail(PL_IS_RENDEZVOUS_CLIENT(self), NULL);
	return self->state == PL_RENDEZVOUS_CLIENT_STATE_CONNECTED ? self->local_address : NULL;
}

static gboolean
probe_cb(gpointer user_data)
{
	PlRendezvousClient *self = PL_RENDEZVOUS_CLIENT(user_data);
	guint probe_ms = MIN(PL_RENDEZVOUS_CLIENT_PROBE_MS, self->dead_after_ms);
	g_autoptr(GError) error = NULL;

	self->probe_id = 0;
	if (self->last_received >= self->probe_sent_at)
		return G_SOURCE_REMOVE;
	error = g_error_new(G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
	                    _("the rendezvous service did not answer within %u ms after the "
	                      "network changed"),
	                    probe_ms);
	connection_failed(self, error, TRUE);
	return G_SOURCE_REMOVE;
}

/* Drops whatever may run over an old address (the attempt under way, the WebSocket, the
 * idle HTTP connections libsoup keeps) and starts again now. */
static void
reconnect_now(PlRendezvousClient *self, const GError *reason)
{
	g_cancellable_cancel(self->cancellable);
	g_object_unref(self->cancellable);
	self->cancellable = g_cancellable_new();
	soup_session_abort(self->session);
	if (self->state == PL_RENDEZVOUS_CLIENT_STATE_CONNECTED) {
		connection_failed(self, reason, TRUE);
		return;
	}
	/* not connected: the last error stays the one that tells why */
	g_debug("rendezvous %s: %s: trying again now", self->url, reason->message);
	g_clear_handle_id(&self->retry_id, g_source_remove);
	close_websocket(self, SOUP_WEBSOCKET_CLOSE_GOING_AWAY);
	self->attempts = 0;
	begin_attempt(self);
}

void
pl_rendezvous_client_network_changed(PlRendezvousClient *self)
{
	g_autoptr(GError) error = NULL;

	g_return_if_fail(PL_IS_RENDEZVOUS_CLIENT(self));

	if (!self->started)
		return;
	if (self->state != PL_RENDEZVOUS_CLIENT_STATE_CONNECTED) {
		error = g_error_new(G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE,
		                    "the network changed while %s",
		                    pl_rendezvous_client_state_to_string(self->state));
		reconnect_now(self, error);
		return;
	}
	if (self->local_address != NULL &&
	    !pl_rendezvous_client_address_is_local(self->local_address)) {
		g_autofree gchar *address = g_inet_address_to_string(self->local_address);
		error = g_error_new(G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE,
		                    _("the connection's local address %s is gone"), address);
		reconnect_now(self, error);
		return;
	}
	/* the address stays, but the route to the service may have changed under it */
	if (self->probe_id == 0) {
		g_autofree gchar *frame =
		        pl_rendezvous_frame_build_simple(PL_RENDEZVOUS_FRAME_PING);
		g_debug("rendezvous %s: the network changed: checking the connection", self->url);
		self->probe_sent_at = g_get_monotonic_time();
		send_text(self, frame);
		self->probe_id = g_timeout_add(
		        MIN(PL_RENDEZVOUS_CLIENT_PROBE_MS, self->dead_after_ms), probe_cb, self);
	}
}

void
pl_rendezvous_client_stop(PlRendezvousClient *self)
{
	g_autoptr(GError) error = NULL;

	g_return_if_fail(PL_IS_RENDEZVOUS_CLIENT(self));

	if (!self->started)
		return;
	self->started = FALSE;
	g_cancellable_cancel(self->cancellable);
	g_object_unref(self->cancellable);
	self->cancellable = g_cancellable_new();
	g_clear_handle_id(&self->retry_id, g_source_remove);
	g_clear_handle_id(&self->refresh_id, g_source_remove);
	close_websocket(self, SOUP_WEBSOCKET_CLOSE_NORMAL);
	set_next_attempt(self, 0);
	set_state(self, PL_RENDEZVOUS_CLIENT_STATE_DISABLED);
	error = g_error_new_literal(PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_NOT_CONNECTED,
	                            _("the rendezvous client was stopped"));
	fail_pending_sends(self, error);
}

/* sending */

static gboolean
send_timeout_cb(gpointer user_data)
{
	PlPendingSend *pending = user_data;
	PlRendezvousClient *self = pending->client;

	pending->timeout_id = 0;
	take_pending(self, pending->ref);
	if (pending->retry_ms == 0 || pending->written)
		g_task_return_new_error(
		        pending->task, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
		        _("the rendezvous service did not confirm the message within %u s"),
		        ((pending->retry_ms > 0 ? pending->retry_ms : self->send_timeout_ms) +
		         999) / 1000);
	else
		g_task_return_new_error(
		        pending->task, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
		        _("could not send the message within %u s: not connected to the rendezvous "
		          "service (%s)"),
		        (pending->retry_ms + 999) / 1000,
		        self->last_error != NULL
		                ? self->last_error
		                : pl_rendezvous_client_state_to_string(self->state));
	pl_pending_send_free(pending);
	return G_SOURCE_REMOVE;
}

static gboolean
send_cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
	PlPendingSend *pending = user_data;

	take_pending(pending->client, pending->ref);
	g_task_return_error_if_cancelled(pending->task);
	pl_pending_send_free(pending);
	return G_SOURCE_REMOVE;
}

void
pl_rendezvous_client_send_async(PlRendezvousClient *self,
                                const gchar *to,
                                const gchar *kind,
                                JsonObject *body,
                                GCancellable *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer user_data)
{
	pl_rendezvous_client_send_with_retry_async(self, to, kind, body, 0, cancellable, callback,
	                                           user_data);
}

void
pl_rendezvous_client_send_with_retry_async(PlRendezvousClient *self,
                                           const gchar *to,
                                           const gchar *kind,
                                           JsonObject *body,
                                           guint retry_ms,
                                           GCancellable *cancellable,
                                           GAsyncReadyCallback callback,
                                           gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autoptr(JsonObject) empty = json_object_new();
	gboolean connected;
	PlPendingSend *pending;

	g_return_if_fail(PL_IS_RENDEZVOUS_CLIENT(self));
	g_return_if_fail(to != NULL);
	g_return_if_fail(kind != NULL);

	task = g_task_new(self, cancellable, callback, user_data);
	/* one tag for both: send_finish takes either */
	g_task_set_source_tag(task, pl_rendezvous_client_send_async);
	if (!pl_rendezvous_kind_is_valid(kind)) {
		g_task_return_new_error(task, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST,
		                        _("“%s” is not a valid message kind"), kind);
		return;
	}
	if (!self->started) {
		g_task_return_new_error(task, PL_RENDEZVOUS_ERROR,
		                        PL_RENDEZVOUS_ERROR_NOT_CONNECTED,
		                        _("not connected to the rendezvous service"));
		return;
	}
	connected = self->state == PL_RENDEZVOUS_CLIENT_STATE_CONNECTED && ws_is_open(self);
	if (!connected && retry_ms == 0) {
		g_task_return_new_error(task, PL_RENDEZVOUS_ERROR,
		                        PL_RENDEZVOUS_ERROR_NOT_CONNECTED,
		                        _("not connected to the rendezvous service"));
		return;
	}
	if (g_task_return_error_if_cancelled(task))
		return;

	pending = g_new0(PlPendingSend, 1);
	pending->client = self;
	pending->task = g_steal_pointer(&task);
	pending->ref = ++self->next_ref;
	pending->retry_ms = retry_ms;
	pending->timeout_id = g_timeout_add(retry_ms > 0 ? retry_ms : self->send_timeout_ms,
	                                    send_timeout_cb, pending);
	if (cancellable != NULL) {
		pending->cancel_source = g_cancellable_source_new(cancellable);
		g_source_set_callback(pending->cancel_source, G_SOURCE_FUNC(send_cancelled_cb),
		                      pending, NULL);
		g_source_attach(pending->cancel_source, g_main_context_get_thread_default());
	}
	g_hash_table_insert(self->pending, &pending->ref, pending);
	pending->frame =
	        pl_rendezvous_build_send(pending->ref, to, kind, body != NULL ? body : empty);
	if (connected)
		pending->written = send_text(self, pending->frame);
	else
		g_debug("rendezvous: %s: send %" G_GINT64_FORMAT " waits for the connection",
		        pl_rendezvous_client_state_to_string(self->state), pending->ref);
}

gchar *
pl_rendezvous_client_send_finish(PlRendezvousClient *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, self), NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}

/* lookups */

/* Cancelled when the caller's cancellable or the client's is. */
typedef struct {
	GCancellable *cancellable;
	GCancellable *caller;
	gulong caller_id;
	GCancellable *client;
	gulong client_id;
} PlLinkedCancellable;

static void
cancel_linked(GCancellable *cancellable, gpointer user_data)
{
	g_cancellable_cancel(G_CANCELLABLE(user_data));
}

static PlLinkedCancellable *
pl_linked_cancellable_new(GCancellable *caller, GCancellable *client)
{
	PlLinkedCancellable *self = g_new0(PlLinkedCancellable, 1);

	self->cancellable = g_cancellable_new();
	self->client = g_object_ref(client);
	self->client_id =
	        g_cancellable_connect(client, G_CALLBACK(cancel_linked), self->cancellable, NULL);
	if (caller != NULL) {
		self->caller = g_object_ref(caller);
		self->caller_id = g_cancellable_connect(caller, G_CALLBACK(cancel_linked),
		                                        self->cancellable, NULL);
	}
	return self;
}

static void
pl_linked_cancellable_free(PlLinkedCancellable *self)
{
	g_cancellable_disconnect(self->client, self->client_id);
	g_object_unref(self->client);
	if (self->caller != NULL) {
		g_cancellable_disconnect(self->caller, self->caller_id);
		g_object_unref(self->caller);
	}
	g_object_unref(self->cancellable);
	g_free(self);
}

static void
lookup_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	SoupSession *session = SOUP_SESSION(source);
	g_autoptr(GTask) task = user_data;
	PlRendezvousClient *self = g_task_get_source_object(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) reply = soup_session_send_and_read_finish(session, result, &error);
	SoupMessage *msg;
	gboolean online = FALSE;
	gsize len = 0;
	const gchar *data;

	if (reply == NULL) {
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) &&
		    !g_cancellable_is_cancelled(g_task_get_cancellable(task))) {
			g_clear_error(&error);
			g_set_error_literal(&error, PL_RENDEZVOUS_ERROR,
			                    PL_RENDEZVOUS_ERROR_NOT_CONNECTED,
			                    _("the lookup was abandoned: the rendezvous client "
			                      "stopped or the network changed"));
		}
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	msg = soup_session_get_async_result_message(session, result);
	data = g_bytes_get_data(reply, &len);
	if (!pl_rendezvous_client_parse_lookup_reply(soup_message_get_status(msg), data, len,
	                                             &online, &error)) {
		if (pl_rendezvous_client_error_needs_auth(error) &&
		    self->state == PL_RENDEZVOUS_CLIENT_STATE_CONNECTED)
			attempt_failed(self, error);
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	g_task_return_int(task, online ? 1 : 0);
}

void
pl_rendezvous_client_lookup_async(PlRendezvousClient *self,
                                  const gchar *peer_id,
                                  GCancellable *cancellable,
                                  GAsyncReadyCallback callback,
                                  gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autoptr(SoupMessage) msg = NULL;
	g_autofree gchar *escaped = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *url = NULL;
	PlLinkedCancellable *linked;

	g_return_if_fail(PL_IS_RENDEZVOUS_CLIENT(self));
	g_return_if_fail(peer_id != NULL);

	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, pl_rendezvous_client_lookup_async);
	if (self->state != PL_RENDEZVOUS_CLIENT_STATE_CONNECTED || self->token == NULL) {
		g_task_return_new_error(task, PL_RENDEZVOUS_ERROR,
		                        PL_RENDEZVOUS_ERROR_NOT_CONNECTED,
		                        _("not connected to the rendezvous service"));
		return;
	}
	linked = pl_linked_cancellable_new(cancellable, self->cancellable);
	g_task_set_task_data(task, linked, (GDestroyNotify)pl_linked_cancellable_free);
	escaped = g_uri_escape_string(peer_id, NULL, FALSE);
	path = g_strconcat("/v1/peers/", escaped, NULL);
	url = pl_rendezvous_client_build_endpoint(self->base_uri, path);
	msg = new_request(self, SOUP_METHOD_GET, url, NULL);
	soup_session_send_and_read_async(self->session, msg, G_PRIORITY_DEFAULT,
	                                 linked->cancellable, lookup_cb, g_steal_pointer(&task));
}

gboolean
pl_rendezvous_client_lookup_finish(PlRendezvousClient *self,
                                   GAsyncResult *result,
                                   gboolean *online,
                                   GError **error)
{
	gssize value;

	g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
	value = g_task_propagate_int(G_TASK(result), error);
	if (value < 0)
		return FALSE;
	if (online != NULL)
		*online = value == 1;
	return TRUE;
}

/* GObject */

static gboolean
pl_rendezvous_client_initable_init(GInitable *initable, GCancellable *cancellable, GError **error)
{
	PlRendezvousClient *self = PL_RENDEZVOUS_CLIENT(initable);
	g_autoptr(GTlsDatabase) database = NULL;
	g_autoptr(GError) error_local = NULL;

	if (self->identity == NULL || self->url == NULL) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		                    "a rendezvous client needs an identity and a URL");
		return FALSE;
	}
	self->base_uri = pl_rendezvous_client_parse_url(self->url, error);
	if (self->base_uri == NULL)
		return FALSE;
	if (self->ca_file != NULL) {
		database = g_tls_file_database_new(self->ca_file, &error_local);
		if (database == NULL) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			            _("cannot use %s as the rendezvous CA: %s"), self->ca_file,
			            error_local->message);
			return FALSE;
		}
	}
	self->audience = pl_rendezvous_audience_from_uri(self->base_uri);
	self->challenge_url =
	        pl_rendezvous_client_build_endpoint(self->base_uri, "/v1/auth/challenge");
	self->session_url = pl_rendezvous_client_build_endpoint(self->base_uri, "/v1/auth/session");
	self->ws_url = pl_rendezvous_client_build_endpoint(self->base_uri, "/v1/ws");
	self->session = soup_session_new_with_options("timeout", HTTP_TIMEOUT_S, "user-agent",
	                                              "peerlink/" PACKAGE_VERSION, NULL);
	if (database != NULL)
		soup_session_set_tls_database(self->session, database);
	return TRUE;
}

static void
pl_rendezvous_client_initable_iface_init(GInitableIface *iface)
{
	iface->init = pl_rendezvous_client_initable_init;
}

static void
pl_rendezvous_client_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
	PlRendezvousClient *self = PL_RENDEZVOUS_CLIENT(object);

	switch (prop_id) {
	case PROP_IDENTITY:
		g_value_set_object(value, self->identity);
		break;
	case PROP_URL:
		g_value_set_string(value, self->url);
		break;
	case PROP_CA_FILE:
		g_value_set_string(value, self->ca_file);
		break;
	case PROP_STATE:
		g_value_set_enum(value, self->state);
		break;
	case PROP_LAST_ERROR:
		g_value_set_string(value, self->last_error);
		break;
	case PROP_NEXT_ATTEMPT:
		g_value_set_int64(value, self->next_attempt);
		break;
	default:
		G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
		break;
	}
}

static void
pl_rendezvous_client_set_property(GObject *object,
                                  guint prop_id,
                                  const GValue *value,
                                  GParamSpec *pspec)
{
	PlRendezvousClient *self = PL_RENDEZVOUS_CLIENT(object);

	switch (prop_id) {
	case PROP_IDENTITY:
		self->identity = g_value_dup_object(value);
		break;
	case PROP_URL:
		self->url = g_value_dup_string(value);
		break;
	case PROP_CA_FILE:
		self->ca_file = g_value_dup_string(value);
		break;
	default:
		G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
		break;
	}
}

static void
pl_rendezvous_client_dispose(GObject *object)
{
	PlRendezvousClient *self = PL_RENDEZVOUS_CLIENT(object);

	g_cancellable_cancel(self->cancellable);
	self->started = FALSE;
	g_clear_handle_id(&self->retry_id, g_source_remove);
	g_clear_handle_id(&self->refresh_id, g_source_remove);
	close_websocket(self, SOUP_WEBSOCKET_CLOSE_GOING_AWAY);
	for (guint i = 0; i < self->closing->len; i++)
		g_signal_handlers_disconnect_by_data(self->closing->pdata[i], self);
	g_ptr_array_set_size(self->closing, 0);
	if (g_hash_table_size(self->pending) > 0) {
		g_autoptr(GError) error =
		        g_error_new_literal(PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_NOT_CONNECTED,
		                            _("the rendezvous client was stopped"));
		fail_pending_sends(self, error);
	}
	g_clear_object(&self->session);
	g_clear_object(&self->identity);
	G_OBJECT_CLASS(pl_rendezvous_client_parent_class)->dispose(object);
}

static void
pl_rendezvous_client_finalize(GObject *object)
{
	PlRendezvousClient *self = PL_RENDEZVOUS_CLIENT(object);

	g_free(self->url);
	g_free(self->ca_file);
	g_clear_pointer(&self->base_uri, g_uri_unref);
	g_free(self->audience);
	g_free(self->challenge_url);
	g_free(self->session_url);
	g_free(self->ws_url);
	g_free(self->last_error);
	g_free(self->token);
	g_clear_object(&self->local_address);
	g_clear_pointer(&self->ice, json_object_unref);
	g_ptr_array_unref(self->closing);
	g_hash_table_unref(self->pending);
	pl_rendezvous_recent_ids_free(self->recent_ids);
	g_object_unref(self->cancellable);
	G_OBJECT_CLASS(pl_rendezvous_client_parent_class)->finalize(object);
}

static void
pl_rendezvous_client_class_init(PlRendezvousClientClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->get_property = pl_rendezvous_client_get_property;
	object_class->set_property = pl_rendezvous_client_set_property;
	object_class->dispose = pl_rendezvous_client_dispose;
	object_class->finalize = pl_rendezvous_client_finalize;

	props[PROP_IDENTITY] = g_param_spec_object("identity", NULL, NULL, PL_TYPE_IDENTITY,
	                                           G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
	                                                   G_PARAM_STATIC_STRINGS);
	props[PROP_URL] = g_param_spec_string("url", NULL, NULL, NULL,
	                                      G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
	                                              G_PARAM_STATIC_STRINGS);
	props[PROP_CA_FILE] = g_param_spec_string("ca-file", NULL, NULL, NULL,
	                                          G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
	                                                  G_PARAM_STATIC_STRINGS);
	props[PROP_STATE] = g_param_spec_enum("state", NULL, NULL, PL_TYPE_RENDEZVOUS_CLIENT_STATE,
	                                      PL_RENDEZVOUS_CLIENT_STATE_DISABLED,
	                                      G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY |
	                                              G_PARAM_STATIC_STRINGS);
	props[PROP_LAST_ERROR] = g_param_spec_string("last-error", NULL, NULL, NULL,
	                                             G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY |
	                                                     G_PARAM_STATIC_STRINGS);
	props[PROP_NEXT_ATTEMPT] = g_param_spec_int64("next-attempt", NULL, NULL, 0, G_MAXINT64, 0,
	                                              G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY |
	                                                      G_PARAM_STATIC_STRINGS);
	g_object_class_install_properties(object_class, N_PROPS, props);

	signals[SIGNAL_STATE_CHANGED] =
	        g_signal_new("state-changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
	                     NULL, NULL, G_TYPE_NONE, 1, PL_TYPE_RENDEZVOUS_CLIENT_STATE);
	signals[SIGNAL_MESSAGE] = g_signal_new(
	        "message", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
	        G_TYPE_NONE, 4, G_TYPE_STRING, G_TYPE_STRING, JSON_TYPE_OBJECT, G_TYPE_STRING);
}

static void
pl_rendezvous_client_init(PlRendezvousClient *self)
{
	self->cancellable = g_cancellable_new();
	self->closing = g_ptr_array_new_with_free_func(g_object_unref);
	self->pending = g_hash_table_new(g_int64_hash, g_int64_equal);
	self->recent_ids = pl_rendezvous_recent_ids_new(PL_RENDEZVOUS_CLIENT_RECENT_IDS);
	self->ping_interval_ms = PL_RENDEZVOUS_CLIENT_PING_INTERVAL_MS;
	self->dead_after_ms = PL_RENDEZVOUS_CLIENT_DEAD_AFTER_MS;
	self->send_timeout_ms = PL_RENDEZVOUS_CLIENT_SEND_TIMEOUT_MS;
	self->backoff_base_ms = PL_RENDEZVOUS_CLIENT_BACKOFF_BASE_MS;
	self->backoff_max_ms = PL_RENDEZVOUS_CLIENT_BACKOFF_MAX_MS;
}
