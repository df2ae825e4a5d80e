/*
 * The agent's sessions: routes signaling between the rendezvous service and
 * each PlSession, keeps the apps' listeners, and serves the session methods
 * of the IPC protocol (connect, listen, unlisten, sessions, close, ping).
 */
#pragma once

#include "pl-config.h"
#include "pl-ipc-server.h"
#include "pl-rendezvous-client.h"
#include "pl-session.h"

G_BEGIN_DECLS

#define PL_SESSION_MANAGER_MAX_SESSIONS_PER_PEER 64
/* peer IDs cost nothing to make: a bound across all peers on the sessions
 * offered to us that are still being set up (each holds an ICE agent
 * gathering candidates, maybe a TURN allocation); the bound on all sessions
 * offered to us is the config's max-incoming-sessions */
#define PL_SESSION_MANAGER_MAX_INCOMING_SETUPS 64

#define PL_TYPE_SESSION_MANAGER (pl_session_manager_get_type())
G_DECLARE_FINAL_TYPE(PlSessionManager, pl_session_manager, PL, SESSION_MANAGER, GObject)

/* rendezvous may be NULL (no service configured) */
PlSessionManager *pl_session_manager_new(PlIdentity *identity,
                                         PlConfig *config,
                                         PlRendezvousClient *rendezvous,
                                         GError **error);
void pl_session_manager_add_methods(PlSessionManager *self, PlIpcServer *server);
/* a message of kind PL_SIGNAL_KIND from the rendezvous */
void pl_session_manager_handle_message(PlSessionManager *self, const gchar *from, JsonObject *body);
JsonArray *pl_session_manager_describe(PlSessionManager *self);
/* the addresses, STUN and TURN servers sessions use now (configured and the
 * rendezvous'); valid until the next call */
const PlIcePathConfig *pl_session_manager_get_ice_config(PlSessionManager *self);
/* ends every session, telling the peers */
void pl_session_manager_shutdown(PlSessionManager *self, const gchar *reason);

G_END_DECLS
