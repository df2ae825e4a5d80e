/*
 * The agent's presence on the session bus.
 *
 * The IPC socket is the agent's real API; the bus name only exists so that a
 * D-Bus activation request can start the agent and so that desktop clients can
 * find its socket. Hence everything here is best effort: no session bus, or a
 * name already owned by someone else, is reported and otherwise ignored.
 */
#include "config.h"

#include "pl-dbus-service.h"

struct _PlDbusService {
	GObject parent_instance;
	gchar *peer_id;
	gchar *socket_path;
	gchar *version;
	GDBusNodeInfo *node_info;
	GDBusConnection *connection; /* set while the object is registered */
	guint owner_id;
	guint registration_id;
	gboolean name_owned;
	gboolean name_lost_reported;
};

G_DEFINE_TYPE(PlDbusService, pl_dbus_service, G_TYPE_OBJECT)

enum { PROP_0, PROP_PEER_ID, PROP_SOCKET_PATH, PROP_VERSION, PROP_LAST };

static GParamSpec *pspecs[PROP_LAST] = {NULL};

static const gchar pl_dbus_service_introspection_xml[] =
        "<node>"
        "  <interface name='" PL_DBUS_SERVICE_INTERFACE "'>"
        "    <property name='PeerId' type='s' access='read'/>"
        "    <property name='SocketPath' type='s' access='read'/>"
        "    <property name='Version' type='s' access='read'/>"
        "  </interface>"
        "</node>";

/* a session bus is configured when its address is known, either explicitly or
 * at the well-known per-user location that systemd and dbus-broker use */
static gboolean
pl_dbus_service_session_bus_configured(void)
{
	const gchar *address = g_getenv("DBUS_SESSION_BUS_ADDRESS");
	const gchar *runtime_dir = g_getenv("XDG_RUNTIME_DIR");
	g_autofree gchar *bus_path = NULL;

	if (address != NULL && address[0] != '\0')
		return TRUE;
	if (runtime_dir == NULL || runtime_dir[0] == '\0')
		return FALSE;
	bus_path = g_build_filename(runtime_dir, "bus", NULL);
	return g_file_test(bus_path, G_FILE_TEST_EXISTS);
}

static GVariant *
pl_dbus_service_get_property(GDBusConnection *connection,
                             const gchar *sender,
                             const gchar *object_path,
                             const gchar *interface_name,
                             const gchar *property_name,
                             GError **error,
                             gpointer user_data)
{
	PlDbusService *self = PL_DBUS_SERVICE(user_data);

	if (g_strcmp0(property_name, "PeerId") == 0)
		return g_variant_new_string(self->peer_id);
	if (g_strcmp0(property_name, "SocketPath") == 0)
		return g_variant_new_string(self->socket_path);
	if (g_strcmp0(property_name, "Version") == 0)
		return g_variant_new_string(self->version);
	g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY, "No such property: %s",
	            property_name);
	return NULL;
}

static const GDBusInterfaceVTable pl_dbus_service_vtable = {
        .method_call = NULL,
        .get_property = pl_dbus_service_get_property,
        .set_property = NULL,
};

static void
pl_dbus_service_bus_acquired_cb(GDBusConnection *connection, const gchar *name, gpointer user_data)
{
	PlDbusService *self = PL_DBUS_SERVICE(user_data);
	g_autoptr(GError) error = NULL;
	guint registration_id;

	/* the connection is shared: it may come back after a reconnect */
	if (self->registration_id != 0)
		return;
	registration_id = g_dbus_connection_register_object(
	        connection, PL_DBUS_SERVICE_PATH, self->node_info->interfaces[0],
	        &pl_dbus_service_vtable, self, NULL, &error);
	if (registration_id == 0) {
		g_message("cannot export %s: %s", PL_DBUS_SERVICE_PATH, error->message);
		return;
	}
	self->registration_id = registration_id;
	self->connection = g_object_ref(connection);
	g_debug("exported %s on the session bus", PL_DBUS_SERVICE_PATH);
}

static void
pl_dbus_service_name_acquired_cb(GDBusConnection *connection, const gchar *name, gpointer user_data)
{
	PlDbusService *self = PL_DBUS_SERVICE(user_data);

	self->name_owned = TRUE;
	g_debug("owning %s on the session bus", name);
}

static void
pl_dbus_service_name_lost_cb(GDBusConnection *connection, const gchar *name, gpointer user_data)
{
	PlDbusService *self = PL_DBUS_SERVICE(user_data);
	gboolean was_owned = self->name_owned;

	self->name_owned = FALSE;
	if (self->name_lost_reported) {
		g_debug("%s lost again", name);
		return;
	}
	self->name_lost_reported = TRUE;
	if (connection == NULL) {
		g_message("cannot connect to the session bus; not owning %s", name);
	} else if (was_owned) {
		g_message("lost the name %s on the session bus", name);
	} else {
		g_message("%s is already owned by another process on the session bus", name);
	}
}

/**
 * pl_dbus_service_start:
 * @self: a #PlDbusService
 *
 * Asks for org.peerlink.Agent1 on the session bus, if there is one. The result
 * arrives asynchronously; see pl_dbus_service_get_name_owned(). Calling it
 * again while started does nothing.
 */
void
pl_dbus_service_start(PlDbusService *self)
{
	g_return_if_fail(PL_IS_DBUS_SERVICE(self));

	if (self->owner_id != 0)
		return;
	if (!pl_dbus_service_session_bus_configured()) {
		g_debug("no session bus configured; not owning %s", PL_DBUS_SERVICE_NAME);
		return;
	}
	self->name_lost_reported = FALSE;
	self->owner_id = g_bus_own_name(
	        G_BUS_TYPE_SESSION, PL_DBUS_SERVICE_NAME, G_BUS_NAME_OWNER_FLAGS_NONE,
	        pl_dbus_service_bus_acquired_cb, pl_dbus_service_name_acquired_cb,
	        pl_dbus_service_name_lost_cb, self, NULL);
}

/**
 * pl_dbus_service_stop:
 * @self: a #PlDbusService
 *
 * Releases the bus name and unexports the object. Safe to call at any time,
 * also when never started.
 */
void
pl_dbus_service_stop(PlDbusService *self)
{
	g_return_if_fail(PL_IS_DBUS_SERVICE(self));

	if (self->owner_id != 0) {
		g_bus_unown_name(self->owner_id);
		self->owner_id = 0;
	}
	if (self->registration_id != 0) {
		g_dbus_connection_unregister_object(self->connection, self->registration_id);
		self->registration_id = 0;
	}
	g_clear_object(&self->connection);
	self->name_owned = FALSE;
}

/**
 * pl_dbus_service_get_name_owned:
 * @self: a #PlDbusService
 *
 * Returns: %TRUE while this process is the primary owner of org.peerlink.Agent1
 */
gboolean
pl_dbus_service_get_name_owned(PlDbusService *self)
{
	g_return_val_if_fail(PL_IS_DBUS_SERVICE(self), FALSE);
	return self->name_owned;
}

static void
pl_dbus_service_get_gobject_property(GObject *object,
                                     guint prop_id,
                                     GValue *value,
                                     GParamSpec *pspec)
{
	PlDbusService *self = PL_DBUS_SERVICE(object);

	switch (prop_id) {
	case PROP_PEER_ID:
		g_value_set_string(value, self->peer_id);
		break;
	case PROP_SOCKET_PATH:
		g_value_set_string(value, self->socket_path);
		break;
	case PROP_VERSION:
		g_value_set_string(value, self->version);
		break;
	default:
		G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
		break;
	}
}

static void
pl_dbus_service_set_gobject_property(GObject *object,
                                     guint prop_id,
                                     const GValue *value,
                                     GParamSpec *pspec)
{
	PlDbusService *self = PL_DBUS_SERVICE(object);

	switch (prop_id) {
	case PROP_PEER_ID:
		g_free(self->peer_id);
		self->peer_id = g_value_dup_string(value);
		break;
	case PROP_SOCKET_PATH:
		g_free(self->socket_path);
		self->socket_path = g_value_dup_string(value);
		break;
	case PROP_VERSION:
		g_free(self->version);
		self->version = g_value_dup_string(value);
		break;
	default:
		G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
		break;
	}
}

static void
pl_dbus_service_dispose(GObject *object)
{
	PlDbusService *self = PL_DBUS_SERVICE(object);

	pl_dbus_service_stop(self);
	G_OBJECT_CLASS(pl_dbus_service_parent_class)->dispose(object);
}

static void
pl_dbus_service_finalize(GObject *object)
{
	PlDbusService *self = PL_DBUS_SERVICE(object);

	g_free(self->peer_id);
	g_free(self->socket_path);
	g_free(self->version);
	g_dbus_node_info_unref(self->node_info);
	G_OBJECT_CLASS(pl_dbus_service_parent_class)->finalize(object);
}

static void
pl_dbus_service_class_init(PlDbusServiceClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->get_property = pl_dbus_service_get_gobject_property;
	object_class->set_property = pl_dbus_service_set_gobject_property;
	object_class->dispose = pl_dbus_service_dispose;
	object_class->finalize = pl_dbus_service_finalize;

	pspecs[PROP_PEER_ID] = g_param_spec_string("peer-id", NULL, NULL, "",
	                                           G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
	                                                   G_PARAM_STATIC_STRINGS);
	pspecs[PROP_SOCKET_PATH] = g_param_spec_string("socket-path", NULL, NULL, "",
	                                               G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
	                                                       G_PARAM_STATIC_STRINGS);
	pspecs[PROP_VERSION] = g_param_spec_string("version", NULL, NULL, "",
	                                           G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
	                                                   G_PARAM_STATIC_STRINGS);
	g_object_class_install_properties(object_class, PROP_LAST, pspecs);
}

static void
pl_dbus_service_init(PlDbusService *self)
{
	/* a constant string: failing to parse it is a programming error */
	self->node_info = g_dbus_node_info_new_for_xml(pl_dbus_service_introspection_xml, NULL);
	g_assert(self->node_info != NULL);
}

/**
 * pl_dbus_service_new:
 * @peer_id: the agent's peer ID
 * @socket_path: the path of the agent's IPC socket
 * @version: the agent's version
 *
 * Returns: (transfer full): a #PlDbusService, not yet on the bus
 */
PlDbusService *
pl_dbus_service_new(const gchar *peer_id, const gchar *socket_path, const gchar *version)
{
	g_return_val_if_fail(peer_id != NULL, NULL);
	g_return_val_if_fail(socket_path != NULL, NULL);
	g_return_val_if_fail(version != NULL, NULL);
	return g_object_new(PL_TYPE_DBUS_SERVICE, "peer-id", peer_id, "socket-path", socket_path,
	                    "version", version, NULL);
}
