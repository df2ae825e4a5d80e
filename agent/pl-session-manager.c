#include "config.h"

#include <glib/gi18n.h>
#include <gio/gunixfdlist.h>

#include "pl-address-monitor.h"
#include "pl-ipc-error.h"
#include "pl-ipc-params.h"
#include "pl-ping.h"
#include "pl-replay-guard.h"
#include "pl-session-manager.h"

#define MIN_TIMEOUT_MS 1000
#define MAX_TIMEOUT_MS 300000
/* how long a signal of a session the app already holds may wait for the rendezvous to come
 * back (a network change, a service restart): well within the session's restart bound */
#define SIGNAL_RETRY_MS 15000
G_STATIC_ASSERT(SIGNAL_RETRY_MS + 2000 < PL_SESSION_RESTART_TIMEOUT_MS);

typedef struct {
	gchar *service;
	PlIpcConnection *connection; /* removed on "connection-closed" */
	GHashTable *allow;           /* canonical peer IDs, or NULL: everyone */
} PlListener;

/* What the manager keeps about each session besides the session itself. */
typedef struct {
	PlSessionManager *manager; /* owns the entry */
	PlSession *session;
	PlIpcRequest *connect_request; /* answered once established or failed */
	PlIpcConnection *owner;        /* gets "session-closed"; NULL when gone */
	PlPing *ping;                  /* a ping runs over this session */
	gboolean delivered;            /* an app got the stream: it hears how it ends */
} PlEntry;

struct _PlSessionManager {
	GObject parent_instance;
	PlIdentity *identity;
	PlRendezvousClient *rendezvous; /* NULL: none configured */
	PlSessionContext *context;
	PlReplayGuard *replay_guard;
	PlAddressMonitor *address_monitor; /* NULL if netlink is unavailable */
	GCancellable *cancellable;
	GHashTable *entries;   /* local id → PlEntry */
	GHashTable *by_signal; /* "peer/session-id" → PlEntry, borrowed */
	GHashTable *listeners; /* service → PlListener */
	guint next_id;
	PlConfig *config; /* borrowed: outlives the manager */
};

G_DEFINE_TYPE(PlSessionManager, pl_session_manager, G_TYPE_OBJECT)

static void refresh_local_addresses(PlSessionManager *self);
static void refresh_ice_servers(PlSessionManager *self);

/* a snapshot: sessions may end while the caller walks it */
static GPtrArray *
get_entries(PlSessionManager *self)
{
	GPtrArray *entries = g_ptr_array_new();
	GHashTableIter iter;
	gpointer entry;

	g_hash_table_iter_init(&iter, self->entries);
	while (g_hash_table_iter_next(&iter, NULL, &entry))
		g_ptr_array_add(entries, entry);
	return entries;
}

static gchar *
signal_key(const gchar *peer, const gchar *session_id)
{
	return g_strconcat(peer, "/", session_id, NULL);
}

static void
pl_listener_free(PlListener *listener)
{
	g_free(listener->service);
	g_clear_object(&listener->connection);
	g_clear_pointer(&listener->allow, g_hash_table_unref);
	g_free(listener);
}

static void
pl_entry_free(PlEntry *entry)
{
	g_signal_handlers_disconnect_matched(entry->session, G_SIGNAL_MATCH_DATA, 0, 0, NULL, NULL,
	                                     entry);
	g_clear_object(&entry->connect_request);
	g_clear_object(&entry->owner);
	g_clear_pointer(&entry->ping, pl_ping_free);
	g_object_unref(entry->session);
	g_free(entry);
}

static void
pl_session_manager_dispose(GObject *object)
{
	PlSessionManager *self = PL_SESSION_MANAGER(object);

	g_cancellable_cancel(self->cancellable);
	if (self->address_monitor != NULL)
		g_signal_handlers_disconnect_by_data(self->address_monitor, self);
	g_clear_object(&self->address_monitor);
	g_hash_table_remove_all(self->by_signal);
	g_hash_table_remove_all(self->entries);
	g_hash_table_remove_all(self->listeners);
	g_clear_object(&self->rendezvous);
	g_clear_object(&self->identity);
	G_OBJECT_CLASS(pl_session_manager_parent_class)->dispose(object);
}

static void
pl_session_manager_finalize(GObject *object)
{
	PlSessionManager *self = PL_SESSION_MANAGER(object);

	g_hash_table_unref(self->by_signal);
	g_hash_table_unref(self->entries);
	g_hash_table_unref(self->listeners);
	g_clear_pointer(&self->replay_guard, pl_replay_guard_free);
	g_clear_pointer(&self->context, pl_session_context_unref);
	g_object_unref(self->cancellable);
	G_OBJECT_CLASS(pl_session_manager_parent_class)->finalize(object);
}

static void
pl_session_manager_class_init(PlSessionManagerClass *klass)
{
	G_OBJECT_CLASS(klass)->dispose = pl_session_manager_dispose;
	G_OBJECT_CLASS(klass)->finalize = pl_session_manager_finalize;
}

static void
pl_session_manager_init(PlSessionManager *self)
{
	self->cancellable = g_cancellable_new();
	self->entries = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
	                                      (GDestroyNotify)pl_entry_free);
	self->by_signal = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	self->listeners = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
	                                        (GDestroyNotify)pl_listener_free);
	self->replay_guard = pl_replay_guard_new();
	self->next_id = 1;
}

/* errors */

static GError *
ipc_error_from_session_error(const GError *error)
{
	static const struct {
		PlSessionError session;
		PlIpcErrorCode ipc;
	} map[] = {
	        {PL_SESSION_ERROR_FAILED, PL_IPC_ERROR_SESSION_FAILED},
	        {PL_SESSION_ERROR_PEER_OFFLINE, PL_IPC_ERROR_PEER_OFFLINE},
	        {PL_SESSION_ERROR_UNKNOWN_SERVICE, PL_IPC_ERROR_UNKNOWN_SERVICE},
	        {PL_SESSION_ERROR_REFUSED, PL_IPC_ERROR_REFUSED},
	        {PL_SESSION_ERROR_UNREACHABLE, PL_IPC_ERROR_UNREACHABLE},
	        {PL_SESSION_ERROR_AUTHENTICATION_FAILED, PL_IPC_ERROR_AUTHENTICATION_FAILED},
	        {PL_SESSION_ERROR_TIMED_OUT, PL_IPC_ERROR_TIMED_OUT},
	        {PL_SESSION_ERROR_CLOSED, PL_IPC_ERROR_SESSION_FAILED},
	        {PL_SESSION_ERROR_SHUTTING_DOWN, PL_IPC_ERROR_SHUTTING_DOWN},
	        {PL_SESSION_ERROR_SIGNALING, PL_IPC_ERROR_NOT_CONNECTED},
	};

	for (guint i = 0; error->domain == PL_SESSION_ERROR && i < G_N_ELEMENTS(map); i++) {
		if (map[i].session == (PlSessionError)error->code)
			return g_error_new_literal(PL_IPC_ERROR, map[i].ipc, error->message);
	}
	return g_error_new_literal(PL_IPC_ERROR, PL_IPC_ERROR_FAILED, error->message);
}

static GError *
invalid_params(const GError *error)
{
	return g_error_new_literal(PL_IPC_ERROR, PL_IPC_ERROR_INVALID_PARAMS, error->message);
}

/* sending signals */

typedef struct {
	PlSessionManager *manager;
	guint session_id;
} PlSendContext;

static void
signal_sent_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autofree PlSendContext *context = user_data;
	g_autoptr(PlSessionManager) self = context->manager;
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) session_error = NULL;
	g_autofree gchar *id = NULL;
	PlEntry *entry;

	id = pl_rendezvous_client_send_finish(PL_RENDEZVOUS_CLIENT(source), result, &error);
	if (id != NULL)
		return;
	entry = g_hash_table_lookup(self->entries, GUINT_TO_POINTER(context->session_id));
	if (entry == NULL)
		return;
	if (g_error_matches(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_PEER_OFFLINE))
		session_error = g_error_new(PL_SESSION_ERROR, PL_SESSION_ERROR_PEER_OFFLINE,
		                            _("peer %s is not connected to the rendezvous service"),
		                            pl_session_get_peer(entry->session));
	else
		session_error = g_error_copy(error);
	pl_session_signal_failed(entry->session, session_error);
}

/*
 * A session the app already holds (established, or restarting ICE under its stream) waits
 * for the rendezvous to come back; a connect is never retried behind the app's back: its
 * signals fail at once with the connection, and so does the connect (not-connected).
 */
static guint
signal_retry_ms(PlSessionManager *self, guint session_id)
{
	PlEntry *entry = g_hash_table_lookup(self->entries, GUINT_TO_POINTER(session_id));
	PlSessionState state;

	if (entry == NULL)
		return 0;
	state = pl_session_get_state(entry->session);
	return state == PL_SESSION_STATE_ESTABLISHED || state == PL_SESSION_STATE_RESTARTING
	               ? SIGNAL_RETRY_MS
	               : 0;
}

/* stamps, seals and sends a signal; failures go to the session with that local id */
static void
send_signal(PlSessionManager *self, PlSignal *signal, guint session_id)
{
	g_autoptr(JsonObject) body = NULL;
	g_autoptr(GError) error = NULL;
	PlSendContext *context;

	g_debug("sending %s %" G_GUINT64_FORMAT " of session %.8s (generation %u, %u candidates%s)",
	        pl_signal_type_to_string(signal->type), signal->seq, signal->session_id,
	        signal->generation, signal->candidates->len,
	        signal->end_of_candidates ? ", end" : "");
	g_free(signal->from);
	signal->from = g_strdup(pl_identity_get_peer_id_string(self->identity));
	signal->timestamp_ms = g_get_real_time() / 1000;
	body = pl_signal_seal(signal, self->identity, &error);
	if (body == NULL) {
		g_warning("cannot seal a signal: %s", error->message);
		return;
	}
	if (self->rendezvous == NULL)
		return;
	context = g_new0(PlSendContext, 1);
	context->manager = g_object_ref(self);
	context->session_id = session_id;
	pl_rendezvous_client_send_with_retry_async(self->rendezvous, signal->to, PL_SIGNAL_KIND,
	                                           body, signal_retry_ms(self, session_id),
	                                           self->cancellable, signal_sent_cb, context);
}

static void
on_send_signal(PlSession *session, PlSignal *signal, gpointer user_data)
{
	PlEntry *entry = user_data;

	send_signal(entry->manager, signal, pl_session_get_id(session));
}

/* the life of a session */

static JsonObject *
describe_entry(PlEntry *entry)
{
	return pl_session_describe(entry->session);
}

static GUnixFDList *
take_app_fd(PlSession *session)
{
	gint fd = pl_session_steal_app_fd(session);
	GUnixFDList *fd_list;

	if (fd < 0)
		return NULL;
	fd_list = g_unix_fd_list_new_from_array(&fd, 1); /* takes the fd */
	return fd_list;
}

static void
on_session_established(PlSession *session, gpointer user_data)
{
	PlEntry *entry = user_data;
	PlSessionManager *self = entry->manager;
	g_autoptr(JsonObject) info = describe_entry(entry);
	g_autoptr(GUnixFDList) fd_list = NULL;
	PlListener *listener;

	if (entry->ping != NULL) {
		pl_ping_start(entry->ping, session);
		return;
	}
	if (entry->connect_request != NULL) {
		g_autoptr(JsonObject) result = json_object_new();
		g_autoptr(PlIpcRequest) request = g_steal_pointer(&entry->connect_request);
		fd_list = take_app_fd(session);
		json_object_set_object_member(result, "session", json_object_ref(info));
		pl_ipc_request_return(request, result, fd_list);
		entry->delivered = TRUE;
		return;
	}
	if (pl_session_is_outgoing(session))
		return;
	listener = g_hash_table_lookup(self->listeners, pl_session_get_service(session));
	if (listener == NULL) {
		g_autoptr(GError) error = g_error_new(
		        PL_SESSION_ERROR, PL_SESSION_ERROR_UNKNOWN_SERVICE,
		        _("nobody listens on %s any more"), pl_session_get_service(session));
		if (g_strcmp0(pl_session_get_service(session), PL_SESSION_ECHO_SERVICE) != 0)
			pl_session_close(session, error);
		return;
	}
	{
		g_autoptr(JsonObject) params = json_object_new();
		g_autoptr(PlIpcMessage) event = NULL;
		g_autoptr(GError) error = NULL;

		json_object_set_string_member(params, "service", pl_session_get_service(session));
		json_object_set_object_member(params, "session", json_object_ref(info));
		event = pl_ipc_message_new_event("incoming", params);
		fd_list = take_app_fd(session);
		pl_ipc_message_set_fd_list(event, fd_list);
		g_set_object(&entry->owner, listener->connection);
		entry->delivered = TRUE;
		if (!pl_ipc_connection_send(listener->connection, event, &error))
			g_debug("cannot hand the stream to the listener: %s", error->message);
	}
}

static void
notify_owner(PlEntry *entry, const GError *error)
{
	g_autoptr(JsonObject) params = json_object_new();
	g_autoptr(PlIpcMessage) event = NULL;
	g_autoptr(GError) ipc_error = error != NULL ? ipc_error_from_session_error(error) : NULL;

	if (!entry->delivered || entry->owner == NULL || pl_ipc_connection_is_closed(entry->owner))
		return;
	json_object_set_int_member(params, "session", pl_session_get_id(entry->session));
	if (error == NULL) {
		json_object_set_string_member(params, "code", "done");
		json_object_set_string_member(params, "message", _("the stream ended"));
	} else {
		json_object_set_string_member(
		        params, "code",
		        g_error_matches(error, PL_SESSION_ERROR, PL_SESSION_ERROR_CLOSED)
		                ? "closed"
		                : pl_ipc_error_to_string(ipc_error->code));
		json_object_set_string_member(params, "message", error->message);
	}
	event = pl_ipc_message_new_event("session-closed", params);
	pl_ipc_connection_send(entry->owner, event, NULL);
}

static void
on_session_closed(PlSession *session, const GError *error, gpointer user_data)
{
	PlEntry *entry = user_data;
	PlSessionManager *self = entry->manager;
	g_autofree gchar *key =
	        signal_key(pl_session_get_peer(session), pl_session_get_session_id(session));

	if (entry->connect_request != NULL) {
		g_autoptr(PlIpcRequest) request = g_steal_pointer(&entry->connect_request);
		g_autoptr(GError) ipc_error = NULL;
		if (error != NULL)
			ipc_error = ipc_error_from_session_error(error);
		else
			ipc_error = g_error_new_literal(PL_IPC_ERROR, PL_IPC_ERROR_SESSION_FAILED,
			                                _("the session ended before it was "
			                                  "established"));
		pl_ipc_request_return_error(request, ipc_error);
	}
	if (entry->ping != NULL) {
		g_autoptr(GError) ipc_error =
		        error != NULL ? ipc_error_from_session_error(error) : NULL;
		pl_ping_session_closed(entry->ping, ipc_error);
	}
	notify_owner(entry, error);
	g_hash_table_remove(self->by_signal, key);
	g_hash_table_remove(self->entries, GUINT_TO_POINTER(pl_session_get_id(session)));
}

static PlEntry *
add_session(PlSessionManager *self, PlSession *session)
{
	PlEntry *entry = g_new0(PlEntry, 1);

	entry->manager = self;
	entry->session = session;
	g_signal_connect(session, "send-signal", G_CALLBACK(on_send_signal), entry);
	g_signal_connect(session, "established", G_CALLBACK(on_session_established), entry);
	g_signal_connect(session, "closed", G_CALLBACK(on_session_closed), entry);
	g_hash_table_insert(self->entries, GUINT_TO_POINTER(pl_session_get_id(session)), entry);
	g_hash_table_insert(
	        self->by_signal,
	        signal_key(pl_session_get_peer(session), pl_session_get_session_id(session)),
	        entry);
	return entry;
}

typedef struct {
	guint with_peer;       /* sessions with the peer asked about */
	guint incoming;        /* sessions offered to us, by anyone */
	guint incoming_setups; /* … of them not established yet */
} PlSessionCounts;

static void
count_sessions(PlSessionManager *self, const gchar *peer, PlSessionCounts *counts)
{
	GHashTableIter iter;
	PlEntry *entry;

	*counts = (PlSessionCounts){0};
	g_hash_table_iter_init(&iter, self->entries);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&entry)) {
		counts->with_peer += g_strcmp0(pl_session_get_peer(entry->session), peer) == 0;
		if (pl_session_is_outgoing(entry->session))
			continue;
		counts->incoming++;
		counts->incoming_setups +=
		        pl_session_get_state(entry->session) == PL_SESSION_STATE_CONNECTING;
	}
}

/* a message saying why the agent takes no more sessions from this peer, or NULL */
static gchar *
describe_limit_reached(PlSessionManager *self, const gchar *peer)
{
	PlSessionCounts counts;

	count_sessions(self, peer, &counts);
	if (counts.with_peer >= PL_SESSION_MANAGER_MAX_SESSIONS_PER_PEER)
		return g_strdup_printf(_("%.7s… already has %u sessions here"), peer,
		                       PL_SESSION_MANAGER_MAX_SESSIONS_PER_PEER);
	if (counts.incoming >= self->config->max_incoming_sessions)
		return g_strdup_printf(_("this agent already holds %u sessions offered by peers"),
		                       self->config->max_incoming_sessions);
	if (counts.incoming_setups >= PL_SESSION_MANAGER_MAX_INCOMING_SETUPS)
		return g_strdup_printf(_("this agent is already setting up %u sessions offered "
		                         "by peers; try again shortly"),
		                       PL_SESSION_MANAGER_MAX_INCOMING_SETUPS);
	return NULL;
}

/* signals from the rendezvous */

static void
reject_offer(PlSessionManager *self, const PlSignal *offer, const gchar *code, const gchar *message)
{
	g_autoptr(PlSignal) reject = pl_signal_new(PL_SIGNAL_TYPE_REJECT);

	g_message("refusing a %s stream from %.7s: %s", offer->service, offer->from, message);
	reject->to = g_strdup(offer->from);
	reject->session_id = g_strdup(offer->session_id);
	reject->seq = 1;
	reject->reason_code = g_strdup(code);
	reject->reason_message = pl_signal_make_reason_message(message);
	send_signal(self, reject, 0);
}

/* the listener of the offer's service, or NULL after rejecting the offer */
static gboolean
admit_offer(PlSessionManager *self, const PlSignal *offer)
{
	PlListener *listener;
	g_autofree gchar *message = NULL;

	/* first: the agent's own echo service counts as much as any other */
	message = describe_limit_reached(self, offer->from);
	if (message != NULL) {
		reject_offer(self, offer, "busy", message);
		return FALSE;
	}
	if (g_strcmp0(offer->service, PL_SESSION_ECHO_SERVICE) == 0)
		return TRUE;
	listener = g_hash_table_lookup(self->listeners, offer->service);
	if (listener == NULL) {
		message = g_strdup_printf(_("nobody listens on “%s” at %.7s…"), offer->service,
		                          pl_identity_get_peer_id_string(self->identity));
		reject_offer(self, offer, "unknown-service", message);
		return FALSE;
	}
	if (listener->allow != NULL && !g_hash_table_contains(listener->allow, offer->from)) {
		message = g_strdup_printf(_("the listener of “%s” does not accept %.7s…"),
		                          offer->service, offer->from);
		reject_offer(self, offer, "refused", message);
		return FALSE;
	}
	return TRUE;
}

static void
accept_offer(PlSessionManager *self, const PlSignal *offer)
{
	g_autoptr(GError) error = NULL;
	PlSession *session;

	if (offer->generation != 0 || !admit_offer(self, offer))
		return;
	refresh_ice_servers(self);
	session = pl_session_new_incoming(self->context, self->next_id++, offer, &error);
	if (session == NULL) {
		reject_offer(self, offer, "session-failed", error->message);
		return;
	}
	add_session(self, session);
	pl_session_start(session);
}

void
pl_session_manager_handle_message(PlSessionManager *self, const gchar *from, JsonObject *body)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlSignal) signal = NULL;
	g_autofree gchar *key = NULL;
	gint64 now_ms = g_get_real_time() / 1000;
	PlEntry *entry;

	signal = pl_signal_open(body, from, pl_identity_get_peer_id_string(self->identity), now_ms,
	                        &error);
	if (signal == NULL || !pl_replay_guard_check(self->replay_guard, signal, now_ms, &error)) {
		g_message("ignoring a signal from %.7s: %s", from, error->message);
		return;
	}
	key = signal_key(signal->from, signal->session_id);
	entry = g_hash_table_lookup(self->by_signal, key);
	if (entry != NULL)
		pl_session_handle_signal(entry->session, signal);
	else if (signal->type == PL_SIGNAL_TYPE_OFFER)
		accept_offer(self, signal);
	else
		g_debug("ignoring a %s signal for an unknown session",
		        pl_signal_type_to_string(signal->type));
}

/* IPC methods */

static gboolean
get_timeout(JsonObject *params, guint *timeout_ms, GError **error)
{
	gint64 value = PL_SESSION_DEFAULT_TIMEOUT_MS;

	if (!pl_ipc_params_get_int(params, "timeout_ms", MIN_TIMEOUT_MS, MAX_TIMEOUT_MS, &value,
	                           error))
		return FALSE;
	*timeout_ms = (guint)value;
	return TRUE;
}

static gboolean
check_can_connect(PlSessionManager *self, GError **error)
{
	if (self->rendezvous == NULL) {
		g_set_error_literal(error, PL_IPC_ERROR, PL_IPC_ERROR_NOT_CONNECTED,
		                    _("no rendezvous service is configured"));
		return FALSE;
	}
	if (pl_rendezvous_client_get_state(self->rendezvous) !=
	    PL_RENDEZVOUS_CLIENT_STATE_CONNECTED) {
		g_set_error_literal(error, PL_IPC_ERROR, PL_IPC_ERROR_NOT_CONNECTED,
		                    _("the agent is not connected to its rendezvous service"));
		return FALSE;
	}
	return TRUE;
}

/* a new outgoing session for a connect or ping request, or NULL with an IPC error */
static PlEntry *
open_session(PlSessionManager *self, PlIpcRequest *request, const gchar *service, GError **error)
{
	JsonObject *params = pl_ipc_request_get_params(request);
	g_autoptr(GError) error_local = NULL;
	const gchar *peer = NULL;
	guint timeout_ms = 0;
	PlSession *session;
	PlEntry *entry;

	if (!pl_ipc_params_get_string(params, "peer", TRUE, &peer, error) ||
	    (service == NULL &&
	     !pl_ipc_params_get_string(params, "service", TRUE, &service, error)) ||
	    !get_timeout(params, &timeout_ms, error))
		return NULL;
	if (!pl_signal_check_service_name(service, TRUE, &error_local)) {
		*error = invalid_params(error_local);
		return NULL;
	}
	if (!check_can_connect(self, error))
		return NULL;
	refresh_ice_servers(self);
	session = pl_session_new_outgoing(self->context, self->next_id++, peer, service, timeout_ms,
	                                  &error_local);
	if (session == NULL) {
		*error = g_error_matches(error_local, PL_PEER_ID_ERROR, error_local->code)
		                 ? invalid_params(error_local)
		                 : g_error_new_literal(PL_IPC_ERROR, PL_IPC_ERROR_FAILED,
		                                       error_local->message);
		return NULL;
	}
	entry = add_session(self, session);
	entry->owner = g_object_ref(pl_ipc_request_get_connection(request));
	return entry;
}

static void
connect_cb(PlIpcRequest *request, gpointer user_data)
{
	PlSessionManager *self = PL_SESSION_MANAGER(user_data);
	g_autoptr(GError) error = NULL;
	PlEntry *entry = open_session(self, request, NULL, &error);

	if (entry == NULL) {
		pl_ipc_request_return_error(request, error);
		return;
	}
	entry->connect_request = g_object_ref(request);
	pl_session_start(entry->session);
}

static GHashTable *
parse_allow_list(gchar **peers, GError **error)
{
	g_autoptr(GHashTable) allow = NULL;

	if (peers == NULL)
		return NULL;
	allow = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	for (guint i = 0; peers[i] != NULL; i++) {
		g_autoptr(GError) error_local = NULL;
		PlPeerId id;
		if (!pl_peer_id_parse(peers[i], &id, &error_local)) {
			g_set_error(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_PARAMS,
			            _("allow: %s: %s"), peers[i], error_local->message);
			return NULL;
		}
		g_hash_table_add(allow, pl_peer_id_to_string(&id));
	}
	return g_steal_pointer(&allow);
}

static void
listen_cb(PlIpcRequest *request, gpointer user_data)
{
	PlSessionManager *self = PL_SESSION_MANAGER(user_data);
	JsonObject *params = pl_ipc_request_get_params(request);
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) name_error = NULL;
	g_autoptr(JsonObject) result = json_object_new();
	g_auto(GStrv) peers = NULL;
	g_autoptr(GHashTable) allow = NULL;
	const gchar *service = NULL;
	PlListener *listener;

	if (!pl_ipc_params_get_string(params, "service", TRUE, &service, &error) ||
	    !pl_ipc_params_get_strv(params, "allow", &peers, &error)) {
		pl_ipc_request_return_error(request, error);
		return;
	}
	if (!pl_signal_check_service_name(service, FALSE, &name_error)) {
		g_autoptr(GError) ipc_error = invalid_params(name_error);
		pl_ipc_request_return_error(request, ipc_error);
		return;
	}
	allow = parse_allow_list(peers, &error);
	if (error != NULL) {
		pl_ipc_request_return_error(request, error);
		return;
	}
	listener = g_hash_table_lookup(self->listeners, service);
	if (listener != NULL && listener->connection != pl_ipc_request_get_connection(request)) {
		g_set_error(&error, PL_IPC_ERROR, PL_IPC_ERROR_SERVICE_TAKEN,
		            _("another app already listens on %s"), service);
		pl_ipc_request_return_error(request, error);
		return;
	}
	listener = g_new0(PlListener, 1);
	listener->service = g_strdup(service);
	listener->connection = g_object_ref(pl_ipc_request_get_connection(request));
	listener->allow = g_steal_pointer(&allow);
	g_hash_table_replace(self->listeners, listener->service, listener);
	json_object_set_string_member(result, "service", service);
	pl_ipc_request_return(request, result, NULL);
}

static void
unlisten_cb(PlIpcRequest *request, gpointer user_data)
{
	PlSessionManager *self = PL_SESSION_MANAGER(user_data);
	JsonObject *params = pl_ipc_request_get_params(request);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) result = json_object_new();
	const gchar *service = NULL;
	PlListener *listener;

	if (!pl_ipc_params_get_string(params, "service", TRUE, &service, &error)) {
		pl_ipc_request_return_error(request, error);
		return;
	}
	listener = g_hash_table_lookup(self->listeners, service);
	if (listener == NULL || listener->connection != pl_ipc_request_get_connection(request)) {
		g_set_error(&error, PL_IPC_ERROR, PL_IPC_ERROR_UNKNOWN_SERVICE,
		            _("this connection does not listen on %s"), service);
		pl_ipc_request_return_error(request, error);
		return;
	}
	g_hash_table_remove(self->listeners, service);
	pl_ipc_request_return(request, result, NULL);
}

static gint
compare_entries(gconstpointer a, gconstpointer b)
{
	guint id_a = pl_session_get_id((*(PlEntry *const *)a)->session);
	guint id_b = pl_session_get_id((*(PlEntry *const *)b)->session);

	return id_a < id_b ? -1 : id_a > id_b;
}

JsonArray *
pl_session_manager_describe(PlSessionManager *self)
{
	g_autoptr(GPtrArray) entries = get_entries(self);
	JsonArray *array = json_array_new();

	g_ptr_array_sort(entries, compare_entries);
	for (guint i = 0; i < entries->len; i++)
		json_array_add_object_element(array, describe_entry(g_ptr_array_index(entries, i)));
	return array;
}

static void
sessions_cb(PlIpcRequest *request, gpointer user_data)
{
	PlSessionManager *self = PL_SESSION_MANAGER(user_data);
	g_autoptr(JsonObject) result = json_object_new();

	json_object_set_array_member(result, "sessions", pl_session_manager_describe(self));
	pl_ipc_request_return(request, result, NULL);
}

static void
close_cb(PlIpcRequest *request, gpointer user_data)
{
	PlSessionManager *self = PL_SESSION_MANAGER(user_data);
	JsonObject *params = pl_ipc_request_get_params(request);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) result = json_object_new();
	gint64 id = 0;
	PlEntry *entry;

	if (!pl_ipc_params_get_int(params, "session", 1, G_MAXUINT, &id, &error)) {
		pl_ipc_request_return_error(request, error);
		return;
	}
	entry = g_hash_table_lookup(self->entries, GUINT_TO_POINTER((guint)id));
	if (entry == NULL) {
		g_set_error(&error, PL_IPC_ERROR, PL_IPC_ERROR_UNKNOWN_SESSION,
		            _("there is no session %u"), (guint)id);
		pl_ipc_request_return_error(request, error);
		return;
	}
	error = g_error_new(PL_SESSION_ERROR, PL_SESSION_ERROR_CLOSED, _("session %u was closed"),
	                    (guint)id);
	pl_session_close(entry->session, error);
	pl_ipc_request_return(request, result, NULL);
}

static void
ping_cb(PlIpcRequest *request, gpointer user_data)
{
	PlSessionManager *self = PL_SESSION_MANAGER(user_data);
	JsonObject *params = pl_ipc_request_get_params(request);
	g_autoptr(GError) error = NULL;
	gint64 count = PL_PING_DEFAULT_COUNT;
	PlEntry *entry;

	if (!pl_ipc_params_get_int(params, "count", 1, PL_PING_MAX_COUNT, &count, &error)) {
		pl_ipc_request_return_error(request, error);
		return;
	}
	entry = open_session(self, request, PL_SESSION_ECHO_SERVICE, &error);
	if (entry == NULL) {
		pl_ipc_request_return_error(request, error);
		return;
	}
	g_clear_object(&entry->owner);
	entry->ping = pl_ping_new(request, (guint)count);
	pl_session_start(entry->session);
}

/* apps that go away */

static void
on_connection_closed(PlIpcServer *server, PlIpcConnection *connection, gpointer user_data)
{
	PlSessionManager *self = PL_SESSION_MANAGER(user_data);
	GHashTableIter iter;
	PlListener *listener;
	PlEntry *entry;

	g_hash_table_iter_init(&iter, self->listeners);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&listener)) {
		if (listener->connection == connection)
			g_hash_table_iter_remove(&iter);
	}
	/* the streams themselves live on in the fds the app holds */
	g_hash_table_iter_init(&iter, self->entries);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&entry)) {
		if (entry->owner == connection)
			g_clear_object(&entry->owner);
	}
}

void
pl_session_manager_add_methods(PlSessionManager *self, PlIpcServer *server)
{
	pl_ipc_server_add_method(server, "connect", connect_cb, self);
	pl_ipc_server_add_method(server, "listen", listen_cb, self);
	pl_ipc_server_add_method(server, "unlisten", unlisten_cb, self);
	pl_ipc_server_add_method(server, "sessions", sessions_cb, self);
	pl_ipc_server_add_method(server, "close", close_cb, self);
	pl_ipc_server_add_method(server, "ping", ping_cb, self);
	g_signal_connect_object(server, "connection-closed", G_CALLBACK(on_connection_closed), self,
	                        0);
}

/* the network changes */

static void
on_addresses_changed(PlAddressMonitor *monitor, gpointer user_data)
{
	PlSessionManager *self = PL_SESSION_MANAGER(user_data);
	g_autoptr(GPtrArray) entries = get_entries(self);

	refresh_local_addresses(self);
	/* first: the restart offers wait for a connection that does not use a lost address */
	if (self->rendezvous != NULL)
		pl_rendezvous_client_network_changed(self->rendezvous);
	g_message("the local addresses changed: restarting ICE for %u sessions", entries->len);
	for (guint i = 0; i < entries->len; i++)
		pl_session_restart_ice(((PlEntry *)g_ptr_array_index(entries, i))->session);
}

/* the addresses to gather on: the configured ones, or every usable one now */
static void
refresh_local_addresses(PlSessionManager *self)
{
	GPtrArray *addresses;

	if (self->config->addresses[0] != NULL) {
		addresses = g_ptr_array_new_with_free_func(g_free);
		for (guint i = 0; self->config->addresses[i] != NULL; i++)
			g_ptr_array_add(addresses, g_strdup(self->config->addresses[i]));
	} else {
		addresses =
		        pl_local_addresses_get(self->config->loopback, self->config->link_local);
	}
	/* paths already made keep the array they were given */
	g_ptr_array_unref(self->context->ice.local_addresses);
	self->context->ice.local_addresses = addresses;
}

static void
add_configured_servers(PlSessionManager *self, GPtrArray *stun, GPtrArray *turn)
{
	for (guint i = 0; self->config->stun_servers[i] != NULL; i++) {
		PlStunServer *server = pl_stun_server_parse(self->config->stun_servers[i], NULL);
		if (server != NULL)
			g_ptr_array_add(stun, server);
	}
	for (guint i = 0; self->config->turn_servers[i] != NULL; i++) {
		PlTurnServer *server = pl_turn_server_parse(self->config->turn_servers[i], NULL);
		if (server != NULL)
			g_ptr_array_add(turn, server);
	}
}

/* the configured servers first, then those the rendezvous handed out last */
static void
refresh_ice_servers(PlSessionManager *self)
{
	GPtrArray *stun = g_ptr_array_new_with_free_func((GDestroyNotify)pl_stun_server_free);
	GPtrArray *turn = g_ptr_array_new_with_free_func((GDestroyNotify)pl_turn_server_free);
	JsonObject *ice =
	        self->rendezvous != NULL ? pl_rendezvous_client_get_ice(self->rendezvous) : NULL;
	g_autoptr(GError) error = NULL;

	add_configured_servers(self, stun, turn);
	if (ice != NULL && !pl_ice_servers_from_json(ice, stun, turn, &error))
		g_debug("ignoring the rendezvous' ICE servers: %s", error->message);
	g_ptr_array_unref(self->context->ice.stun_servers);
	g_ptr_array_unref(self->context->ice.turn_servers);
	self->context->ice.stun_servers = stun;
	self->context->ice.turn_servers = turn;
}

PlSessionManager *
pl_session_manager_new(PlIdentity *identity,
                       PlConfig *config,
                       PlRendezvousClient *rendezvous,
                       GError **error)
{
	g_autoptr(PlSessionManager) self = g_object_new(PL_TYPE_SESSION_MANAGER, NULL);
	g_autoptr(GError) monitor_error = NULL;

	self->identity = g_object_ref(identity);
	self->config = config;
	self->rendezvous = rendezvous != NULL ? g_object_ref(rendezvous) : NULL;
	self->context = pl_session_context_new(identity, error);
	if (self->context == NULL)
		return NULL;
	self->context->ice.upnp = config->upnp;
	self->context->ice.allow_local_remotes = config->loopback || config->link_local;
	refresh_local_addresses(self);
	refresh_ice_servers(self);
	self->address_monitor = pl_address_monitor_new(&monitor_error);
	if (self->address_monitor == NULL)
		g_message("not watching for address changes: %s", monitor_error->message);
	else
		g_signal_connect(self->address_monitor, "changed", G_CALLBACK(on_addresses_changed),
		                 self);
	return g_steal_pointer(&self);
}

const PlIcePathConfig *
pl_session_manager_get_ice_config(PlSessionManager *self)
{
	refresh_ice_servers(self);
	return &self->context->ice;
}

void
pl_session_manager_shutdown(PlSessionManager *self, const gchar *reason)
{
	g_autoptr(GPtrArray) entries = get_entries(self);
	g_autoptr(GError) error =
	        g_error_new(PL_SESSION_ERROR, PL_SESSION_ERROR_SHUTTING_DOWN,
	                    _("the agent of %.7s… is shutting down (%s)"),
	                    pl_identity_get_peer_id_string(self->identity), reason);

	g_hash_table_remove_all(self->listeners);
	for (guint i = 0; i < entries->len; i++)
		pl_session_close(((PlEntry *)g_ptr_array_index(entries, i))->session, error);
}
