/*
 * The agent's presence on the session bus: owns org.peerlink.Agent1 so that
 * D-Bus activation can start the agent, and tells callers where its IPC
 * socket is and which peer ID it speaks for.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define PL_DBUS_SERVICE_NAME      "org.peerlink.Agent1"
#define PL_DBUS_SERVICE_PATH      "/org/peerlink/Agent1"
#define PL_DBUS_SERVICE_INTERFACE "org.peerlink.Agent1"

#define PL_TYPE_DBUS_SERVICE (pl_dbus_service_get_type())
G_DECLARE_FINAL_TYPE(PlDbusService, pl_dbus_service, PL, DBUS_SERVICE, GObject)

PlDbusService *
pl_dbus_service_new(const gchar *peer_id, const gchar *socket_path, const gchar *version);
void pl_dbus_service_start(PlDbusService *self);
void pl_dbus_service_stop(PlDbusService *self);
gboolean pl_dbus_service_get_name_owned(PlDbusService *self);

G_END_DECLS
