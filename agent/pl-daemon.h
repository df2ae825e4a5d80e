/*
 * The agent: its identity, its state, its IPC server and its bus presence.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "pl-config.h"

G_BEGIN_DECLS

#define PL_TYPE_DAEMON (pl_daemon_get_type())
G_DECLARE_FINAL_TYPE(PlDaemon, pl_daemon, PL, DAEMON, GObject)

PlDaemon *pl_daemon_new(PlConfig *config);
gboolean pl_daemon_start(PlDaemon *self, GError **error);
void pl_daemon_stop(PlDaemon *self, const gchar *reason);
JsonObject *pl_daemon_build_status(PlDaemon *self);

G_END_DECLS
