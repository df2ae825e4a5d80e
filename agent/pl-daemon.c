#include "config.h"

#include <glib/gi18n.h>
#include <unistd.h>

#include "pl-daemon.h"
#include "pl-dbus-service.h"
#include "pl-identity.h"
#include "pl-ipc-params.h"
#include "pl-ipc-server.h"
#include "pl-rendezvous-client.h"
#include "pl-nat-check.h"
#include "pl-session-manager.h"
#include "pl-state.h"
#include "pl-systemd.h"

struct _PlDaemon {
	GObject parent_instance;
	PlConfig *config; /* borrowed: outlives the daemon */
	PlIdentity *identity;
	PlState *state;
	PlIpcServer *server;
	PlDbusService *dbus_service;
	PlRendezvousClient *rendezvous; /* NULL: none configured */
	PlSessionManager *sessions;
	PlNatCheck *nat_check;
	GCancellable *cancellable; /* cancelled in stop and dispose */
	GHashTable *pings;         /* nonce → PlPingOperation, borrowed keys */
	gint64 started_at;         /* monotonic µs */
	gboolean running;
};

#define PING_TIMEOUT_MS 5000 /* per round trip of rendezvous-ping */
#define PING_MAX_COUNT  100

G_DEFINE_TYPE(PlDaemon, pl_daemon, G_TYPE_OBJECT)

static void
pl_daemon_dispose(GObject *object)
{
	PlDaemon *self = PL_DAEMON(object);

	if (self->running)
		pl_daemon_stop(self, "agent disposed");
	g_cancellable_cancel(self->cancellable);
	if (self->rendezvous != NULL) {
		g_signal_handlers_disconnect_by_data(self->rendezvous, self);
		pl_rendezvous_client_stop(self->rendezvous);
		g_clear_object(&self->rendezvous);
	}
	g_clear_object(&self->nat_check);
	g_clear_object(&self->sessions);
	g_clear_object(&self->dbus_service);
	g_clear_object(&self->server);
	g_clear_object(&self->identity);
	g_clear_pointer(&self->state, pl_state_free);
	G_OBJECT_CLASS(pl_daemon_parent_class)->dispose(object);
}

static void
pl_daemon_finalize(GObject *object)
{
	PlDaemon *self = PL_DAEMON(object);

	g_hash_table_unref(self->pings);
	g_object_unref(self->cancellable);
	G_OBJECT_CLASS(pl_daemon_parent_class)->finalize(object);
}

static void
pl_daemon_class_init(PlDaemonClass *klass)
{
	G_OBJECT_CLASS(klass)->dispose = pl_daemon_dispose;
	G_OBJECT_CLASS(klass)->finalize = pl_daemon_finalize;
}

static void
pl_daemon_init(PlDaemon *self)
{
	self->cancellable = g_cancellable_new();
	self->pings = g_hash_table_new(g_str_hash, g_str_equal);
}

PlDaemon *
pl_daemon_new(PlConfig *config)
{
	PlDaemon *self = g_object_new(PL_TYPE_DAEMON, NULL);

	self->config = config;
	return self;
}

/* {"url", "state", "next_attempt_s" while backing off, "last_error" when there is one} */
static JsonObject *
build_rendezvous_status(PlDaemon *self)
{
	JsonObject *object = json_object_new();
	PlRendezvousClientState state;
	const gchar *last_error;
	gint64 next_attempt_s;

	if (self->rendezvous == NULL) {
		json_object_set_null_member(object, "url");
		json_object_set_string_member(object, "state", "disabled");
		return object;
	}
	state = pl_rendezvous_client_get_state(self->rendezvous);
	json_object_set_string_member(object, "url",
	                              pl_rendezvous_client_get_url(self->rendezvous));
	json_object_set_string_member(object, "state", pl_rendezvous_client_state_to_string(state));
	next_attempt_s = pl_rendezvous_client_get_next_attempt_seconds(self->rendezvous);
	if (state == PL_RENDEZVOUS_CLIENT_STATE_BACKING_OFF && next_attempt_s >= 0)
		json_object_set_int_member(object, "next_attempt_s", next_attempt_s);
	last_error = pl_rendezvous_client_get_last_error(self->rendezvous);
	if (last_error != NULL)
		json_object_set_string_member(object, "last_error", last_error);
	return object;
}

JsonObject *
pl_daemon_build_status(PlDaemon *self)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(JsonObject) rendezvous = build_rendezvous_status(self);
	g_autoptr(JsonArray) sessions = pl_session_manager_describe(self->sessions);
	g_autoptr(JsonObject) nat = pl_nat_check_describe(self->nat_check);
	gint64 uptime_s = (g_get_monotonic_time() - self->started_at) / G_USEC_PER_SEC;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "version");
	json_builder_add_string_value(builder, PACKAGE_VERSION);
	json_builder_set_member_name(builder, "protocol");
	json_builder_add_int_value(builder, PL_IPC_PROTOCOL_VERSION);
	json_builder_set_member_name(builder, "peer_id");
	json_builder_add_string_value(builder, pl_identity_get_peer_id_string(self->identity));
	json_builder_set_member_name(builder, "pid");
	json_builder_add_int_value(builder, getpid());
	json_builder_set_member_name(builder, "uptime_s");
	json_builder_add_int_value(builder, uptime_s);
	json_builder_set_member_name(builder, "socket");
	json_builder_add_string_value(builder, pl_ipc_server_get_socket_path(self->server));
	json_builder_set_member_name(builder, "state_dir");
	json_builder_add_string_value(builder, self->config->state_dir);
	json_builder_set_member_name(builder, "clients");
	json_builder_add_int_value(builder, pl_ipc_server_get_n_clients(self->server));

	json_builder_set_member_name(builder, "rendezvous");
	json_builder_add_value(builder, json_node_init_object(json_node_alloc(), rendezvous));
	json_builder_set_member_name(builder, "nat");
	json_builder_add_value(builder, json_node_init_object(json_node_alloc(), nat));

	json_builder_set_member_name(builder, "sessions");
	json_builder_add_value(builder, json_node_init_array(json_node_alloc(), sessions));
	json_builder_end_object(builder);
	root = json_builder_get_root(builder);
	return json_object_ref(json_node_get_object(root));
}

static void
status_cb(PlIpcRequest *request, gpointer user_data)
{
	PlDaemon *self = PL_DAEMON(user_data);
	g_autoptr(JsonObject) status = pl_daemon_build_status(self);

	pl_ipc_request_return(request, status, NULL);
}

/* rendezvous: state events, answering pings, and the rendezvous-ping method */

static void
on_rendezvous_state_changed(PlRendezvousClient *client,
                            PlRendezvousClientState state,
                            gpointer user_data)
{
	PlDaemon *self = PL_DAEMON(user_data);
	g_autoptr(JsonObject) params = build_rendezvous_status(self);

	if (self->server != NULL)
		pl_ipc_server_emit_event(self->server, "rendezvous-state", params);
}

/* A rendezvous error as the IPC error of a method. */
static GError *
ipc_error_from_rendezvous(const GError *error, const gchar *peer)
{
	if (g_error_matches(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_PEER_OFFLINE))
		return g_error_new(PL_IPC_ERROR, PL_IPC_ERROR_PEER_OFFLINE,
		                   _("peer %s is not connected to the rendezvous service"), peer);
	if (g_error_matches(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_NOT_CONNECTED))
		return g_error_new_literal(PL_IPC_ERROR, PL_IPC_ERROR_NOT_CONNECTED,
		                           error->message);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
		return g_error_new_literal(PL_IPC_ERROR, PL_IPC_ERROR_TIMED_OUT, error->message);
	return g_error_new_literal(PL_IPC_ERROR, PL_IPC_ERROR_FAILED, error->message);
}

static void
pong_sent_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *id = NULL;

	id = pl_rendezvous_client_send_finish(PL_RENDEZVOUS_CLIENT(source), result, &error);
	if (id == NULL)
		g_debug("pong not sent: %s", error->message);
}

typedef struct {
	PlDaemon *daemon; /* unowned: the operation lives in the daemon's table */
	PlIpcRequest *request;
	gchar *peer;
	guint count;
	GArray *rtt_ms; /* gdouble, one per pong */
	gchar *nonce;   /* of the ping in flight; the key in daemon->pings */
	gint64 sent_at; /* monotonic µs */
	guint timeout_id;
} PlPingOperation;

static void
pl_ping_operation_free(PlPingOperation *op)
{
	g_clear_handle_id(&op->timeout_id, g_source_remove);
	if (op->nonce != NULL)
		g_hash_table_remove(op->daemon->pings, op->nonce);
	g_free(op->nonce);
	g_object_unref(op->request);
	g_free(op->peer);
	g_array_unref(op->rtt_ms);
	g_free(op);
}

static void
ping_fail(PlPingOperation *op, const GError *error)
{
	pl_ipc_request_return_error(op->request, error);
	pl_ping_operation_free(op);
}

static void
ping_succeed(PlPingOperation *op)
{
	g_autoptr(JsonObject) result = json_object_new();
	JsonArray *rtt = json_array_new();
	gdouble sum = 0;

	for (guint i = 0; i < op->rtt_ms->len; i++) {
		gdouble value = g_array_index(op->rtt_ms, gdouble, i);
		json_array_add_double_element(rtt, value);
		sum += value;
	}
	json_object_set_string_member(result, "peer", op->peer);
	json_object_set_string_member(result, "path", "rendezvous");
	json_object_set_array_member(result, "rtt_ms", rtt);
	json_object_set_double_member(result, "rtt_ms_avg", sum / MAX(op->rtt_ms->len, 1));
	pl_ipc_request_return(op->request, result, NULL);
	pl_ping_operation_free(op);
}

/* Finds the daemon and the nonce of the ping a send result belongs to. */
typedef struct {
	PlDaemon *daemon;
	gchar *nonce;
} PlPingSend;

static void
pl_ping_send_free(PlPingSend *send)
{
	g_object_unref(send->daemon);
	g_free(send->nonce);
	g_free(send);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlPingSend, pl_ping_send_free)

static void
ping_sent_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(PlPingSend) send = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) ipc_error = NULL;
	g_autofree gchar *id = NULL;
	PlPingOperation *op;

	id = pl_rendezvous_client_send_finish(PL_RENDEZVOUS_CLIENT(source), result, &error);
	op = g_hash_table_lookup(send->daemon->pings, send->nonce);
	if (op == NULL) /* answered (the pong may beat "sent"), or the agent stopped */
		return;
	if (id != NULL) {
		g_debug("ping %s to %s accepted as message %s", send->nonce, op->peer, id);
		return;
	}
	ipc_error = ipc_error_from_rendezvous(error, op->peer);
	ping_fail(op, ipc_error);
}

static gboolean
ping_timeout_cb(gpointer user_data)
{
	PlPingOperation *op = user_data;
	g_autoptr(GError) error = NULL;

	op->timeout_id = 0;
	error = g_error_new(PL_IPC_ERROR, PL_IPC_ERROR_TIMED_OUT,
	                    _("no answer from %s within %u s"), op->peer, PING_TIMEOUT_MS / 1000);
	ping_fail(op, error);
	return G_SOURCE_REMOVE;
}

static void
ping_send_next(PlPingOperation *op)
{
	PlDaemon *self = op->daemon;
	g_autoptr(JsonObject) body = json_object_new();
	PlPingSend *send;

	if (pl_ipc_connection_is_closed(pl_ipc_request_get_connection(op->request))) {
		g_autoptr(GError) error = g_error_new_literal(
		        PL_IPC_ERROR, PL_IPC_ERROR_DISCONNECTED, "the caller went away");
		ping_fail(op, error); /* nobody to answer: just stop */
		return;
	}
	send = g_new0(PlPingSend, 1);
	if (op->nonce != NULL)
		g_hash_table_remove(self->pings, op->nonce);
	g_free(op->nonce);
	op->nonce = g_uuid_string_random();
	g_hash_table_insert(self->pings, op->nonce, op);
	json_object_set_string_member(body, "nonce", op->nonce);
	json_object_set_int_member(body, "seq", op->rtt_ms->len + 1);
	send->daemon = g_object_ref(self);
	send->nonce = g_strdup(op->nonce);
	op->timeout_id = g_timeout_add(PING_TIMEOUT_MS, ping_timeout_cb, op);
	op->sent_at = g_get_monotonic_time();
	pl_rendezvous_client_send_async(self->rendezvous, op->peer, "ping", body, self->cancellable,
	                                ping_sent_cb, send);
}

static void
handle_pong(PlDaemon *self, const gchar *from, JsonObject *body)
{
	const gchar *nonce = pl_ipc_json_get_string(body, "nonce");
	PlPingOperation *op = nonce != NULL ? g_hash_table_lookup(self->pings, nonce) : NULL;
	gdouble rtt_ms;

	if (op == NULL || g_strcmp0(op->peer, from) != 0) {
		g_debug("ignoring a pong from %s that answers no ping of ours", from);
		return;
	}
	rtt_ms = (gdouble)(g_get_monotonic_time() - op->sent_at) / 1000.0;
	g_array_append_val(op->rtt_ms, rtt_ms);
	g_clear_handle_id(&op->timeout_id, g_source_remove);
	if (op->rtt_ms->len < op->count)
		ping_send_next(op);
	else
		ping_succeed(op);
}

static void
on_rendezvous_message(PlRendezvousClient *client,
                      const gchar *from,
                      const gchar *kind,
                      JsonObject *body,
                      const gchar *id,
                      gpointer user_data)
{
	PlDaemon *self = PL_DAEMON(user_data);

	if (g_strcmp0(kind, "ping") == 0) {
		g_autoptr(JsonObject) pong = json_object_new();
		JsonNode *nonce = json_object_get_member(body, "nonce");
		if (nonce != NULL)
			json_object_set_member(pong, "nonce", json_node_copy(nonce));
		pl_rendezvous_client_send_async(client, from, "pong", pong, self->cancellable,
		                                pong_sent_cb, NULL);
	} else if (g_strcmp0(kind, "pong") == 0) {
		handle_pong(self, from, body);
	} else if (g_strcmp0(kind, PL_SIGNAL_KIND) == 0) {
		pl_session_manager_handle_message(self->sessions, from, body);
	} else {
		g_debug("ignoring a %s message from %s", kind, from);
	}
}

static void
rendezvous_ping_cb(PlIpcRequest *request, gpointer user_data)
{
	PlDaemon *self = PL_DAEMON(user_data);
	JsonObject *params = pl_ipc_request_get_params(request);
	g_autoptr(GError) error = NULL;
	PlPingOperation *op;
	const gchar *peer = NULL;
	gint64 count = 1;
	PlPeerId peer_id;

	if (!pl_ipc_params_get_string(params, "peer", TRUE, &peer, &error) ||
	    !pl_ipc_params_get_int(params, "count", 1, PING_MAX_COUNT, &count, &error)) {
		pl_ipc_request_return_error(request, error);
		return;
	}
	if (!pl_peer_id_parse(peer, &peer_id, &error)) {
		g_autoptr(GError) params_error = g_error_new_literal(
		        PL_IPC_ERROR, PL_IPC_ERROR_INVALID_PARAMS, error->message);
		pl_ipc_request_return_error(request, params_error);
		return;
	}
	if (self->rendezvous == NULL) {
		g_set_error_literal(&error, PL_IPC_ERROR, PL_IPC_ERROR_NOT_CONNECTED,
		                    _("no rendezvous service is configured"));
		pl_ipc_request_return_error(request, error);
		return;
	}
	op = g_new0(PlPingOperation, 1);
	op->daemon = self;
	op->request = g_object_ref(request);
	op->peer = pl_peer_id_to_string(&peer_id);
	op->count = (guint)count;
	op->rtt_ms = g_array_new(FALSE, FALSE, sizeof(gdouble));
	ping_send_next(op);
}

static gboolean
create_rendezvous(PlDaemon *self, GError **error)
{
	if (self->config->rendezvous_url == NULL)
		return TRUE;
	self->rendezvous = pl_rendezvous_client_new(self->identity, self->config->rendezvous_url,
	                                            self->config->rendezvous_ca, error);
	if (self->rendezvous == NULL)
		return FALSE;
	g_signal_connect(self->rendezvous, "state-changed", G_CALLBACK(on_rendezvous_state_changed),
	                 self);
	g_signal_connect(self->rendezvous, "message", G_CALLBACK(on_rendezvous_message), self);
	return TRUE;
}

static gboolean
create_sessions(PlDaemon *self, GError **error)
{
	self->sessions =
	        pl_session_manager_new(self->identity, self->config, self->rendezvous, error);
	if (self->sessions == NULL)
		return FALSE;
	pl_session_manager_add_methods(self->sessions, self->server);
	self->nat_check = pl_nat_check_new(self->sessions, self->config->upnp);
	pl_nat_check_add_methods(self->nat_check, self->server);
	return TRUE;
}

static void
stop_rendezvous(PlDaemon *self, const gchar *reason)
{
	g_autoptr(GError) error = NULL;
	GList *ops;

	g_cancellable_cancel(self->cancellable);
	ops = g_hash_table_get_values(self->pings);
	error = g_error_new(PL_IPC_ERROR, PL_IPC_ERROR_SHUTTING_DOWN,
	                    _("the agent is shutting down (%s)"), reason);
	for (GList *l = ops; l != NULL; l = l->next)
		ping_fail(l->data, error);
	g_list_free(ops);
	if (self->rendezvous != NULL)
		pl_rendezvous_client_stop(self->rendezvous);
}

static void
load_state(PlDaemon *self)
{
	g_autoptr(GError) error = NULL;

	self->state = pl_state_new(self->config->state_dir);
	if (!pl_state_load(self->state, &error)) {
		g_message("starting with fresh state: %s", error->message);
		g_clear_error(&error);
	} else if (self->state->starts > 0 && !self->state->clean_shutdown) {
		g_message("the previous run did not shut down cleanly");
	}
	self->state->starts++;
	self->state->last_start = g_get_real_time() / G_USEC_PER_SEC;
	self->state->clean_shutdown = FALSE;
	if (!pl_state_save(self->state, &error))
		g_message("cannot save state: %s", error->message);
}

static gboolean
listen_ipc(PlDaemon *self, GError **error)
{
	gint fd = pl_systemd_take_listen_fd(error);

	if (fd == -2)
		return FALSE;
	self->server = pl_ipc_server_new();
	pl_ipc_server_add_method(self->server, "status", status_cb, self);
	pl_ipc_server_add_method(self->server, "rendezvous-ping", rendezvous_ping_cb, self);
	if (fd >= 0) {
		g_debug("using the socket passed by systemd (fd %d)", fd);
		return pl_ipc_server_listen_fd(self->server, fd, error);
	}
	return pl_ipc_server_listen_path(self->server, self->config->socket_path, error);
}

static gboolean
load_identity(PlDaemon *self, GError **error)
{
	gboolean created = FALSE;

	self->identity = pl_identity_load_or_create(self->config->state_dir, &created, error);
	if (self->identity == NULL) {
		g_prefix_error(error, _("cannot load the identity: "));
		return FALSE;
	}
	if (created)
		g_message("created a new identity %s in %s",
		          pl_identity_get_peer_id_string(self->identity), self->config->state_dir);
	return TRUE;
}

gboolean
pl_daemon_start(PlDaemon *self, GError **error)
{
	g_return_val_if_fail(!self->running, FALSE);

	/* the socket first: a second agent must fail before touching shared state */
	if (!listen_ipc(self, error))
		return FALSE;
	if (!load_identity(self, error)) {
		pl_ipc_server_shutdown(self->server, "startup failed");
		return FALSE;
	}
	if (!create_rendezvous(self, error) || !create_sessions(self, error)) {
		pl_ipc_server_shutdown(self->server, "startup failed");
		return FALSE;
	}
	load_state(self);
	self->started_at = g_get_monotonic_time();
	self->running = TRUE;
	self->dbus_service =
	        pl_dbus_service_new(pl_identity_get_peer_id_string(self->identity),
	                            pl_ipc_server_get_socket_path(self->server), PACKAGE_VERSION);
	pl_dbus_service_start(self->dbus_service);
	if (self->rendezvous != NULL)
		pl_rendezvous_client_start(self->rendezvous);
	pl_systemd_notify("READY=1");
	g_message("peerlinkd %s ready on %s as %s", PACKAGE_VERSION,
	          pl_ipc_server_get_socket_path(self->server),
	          pl_identity_get_peer_id_string(self->identity));
	return TRUE;
}

void
pl_daemon_stop(PlDaemon *self, const gchar *reason)
{
	g_autoptr(GError) error = NULL;

	if (!self->running)
		return;
	self->running = FALSE;
	pl_systemd_notify("STOPPING=1");
	g_message("shutting down: %s", reason);
	pl_session_manager_shutdown(self->sessions, reason);
	stop_rendezvous(self, reason);
	pl_dbus_service_stop(self->dbus_service);
	pl_ipc_server_shutdown(self->server, reason);
	self->state->last_stop = g_get_real_time() / G_USEC_PER_SEC;
	self->state->clean_shutdown = TRUE;
	if (!pl_state_save(self->state, &error))
		g_message("cannot save state: %s", error->message);
}
