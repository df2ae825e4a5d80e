#include "config.h"

#include <glib/gi18n.h>
#include <unistd.h>

#include "pl-daemon.h"
#include "pl-dbus-service.h"
#include "pl-identity.h"
#include "pl-ipc-server.h"
#include "pl-state.h"
#include "pl-systemd.h"

struct _PlDaemon {
	GObject parent_instance;
	PlConfig *config; /* borrowed: outlives the daemon */
	PlIdentity *identity;
	PlState *state;
	PlIpcServer *server;
	PlDbusService *dbus_service;
	gint64 started_at; /* monotonic µs */
	gboolean running;
};

G_DEFINE_TYPE(PlDaemon, pl_daemon, G_TYPE_OBJECT)

static void
pl_daemon_dispose(GObject *object)
{
	PlDaemon *self = PL_DAEMON(object);

	if (self->running)
		pl_daemon_stop(self, "agent disposed");
	g_clear_object(&self->dbus_service);
	g_clear_object(&self->server);
	g_clear_object(&self->identity);
	g_clear_pointer(&self->state, pl_state_free);
	G_OBJECT_CLASS(pl_daemon_parent_class)->dispose(object);
}

static void
pl_daemon_class_init(PlDaemonClass *klass)
{
	G_OBJECT_CLASS(klass)->dispose = pl_daemon_dispose;
}

static void
pl_daemon_init(PlDaemon *self)
{
}

PlDaemon *
pl_daemon_new(PlConfig *config)
{
	PlDaemon *self = g_object_new(PL_TYPE_DAEMON, NULL);

	self->config = config;
	return self;
}

JsonObject *
pl_daemon_build_status(PlDaemon *self)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
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

	/* no rendezvous service and no NAT probe exist yet: say so plainly */
	json_builder_set_member_name(builder, "rendezvous");
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "url");
	json_builder_add_null_value(builder);
	json_builder_set_member_name(builder, "state");
	json_builder_add_string_value(builder, "disabled");
	json_builder_end_object(builder);
	json_builder_set_member_name(builder, "nat");
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "summary");
	json_builder_add_string_value(builder, "unknown");
	json_builder_end_object(builder);

	json_builder_set_member_name(builder, "sessions");
	json_builder_begin_array(builder);
	json_builder_end_array(builder);
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
	load_state(self);
	self->started_at = g_get_monotonic_time();
	self->running = TRUE;
	self->dbus_service = pl_dbus_service_new(pl_identity_get_peer_id_string(self->identity),
						 pl_ipc_server_get_socket_path(self->server),
						 PACKAGE_VERSION);
	pl_dbus_service_start(self->dbus_service);
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
	pl_dbus_service_stop(self->dbus_service);
	pl_ipc_server_shutdown(self->server, reason);
	self->state->last_stop = g_get_real_time() / G_USEC_PER_SEC;
	self->state->clean_shutdown = TRUE;
	if (!pl_state_save(self->state, &error))
		g_message("cannot save state: %s", error->message);
}
