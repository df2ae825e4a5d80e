/*
 * One peer session: an end-to-end encrypted, mutually authenticated byte
 * stream between an app on this host and an app (or the agent's echo
 * service) at a peer, for one service name.
 *
 *   app socket ⇄ TLS 1.3 (pinned to the peer ID) ⇄ reliable link ⇄ ICE path(s)
 *
 * Signaling goes out through "send-signal" and comes in through
 * pl_session_handle_signal(); the owner (the agent's session manager) seals
 * and carries the messages through the rendezvous service.
 */
#pragma once

#include "pl-ice-path.h"
#include "pl-signal.h"
#include "pl-tls-channel.h"

G_BEGIN_DECLS

#define PL_SESSION_ERROR (pl_session_error_quark())
GQuark pl_session_error_quark(void);

typedef enum {
	PL_SESSION_ERROR_FAILED,                /* the session broke: path lost, link reset */
	PL_SESSION_ERROR_PEER_OFFLINE,          /* the peer is not online at the rendezvous */
	PL_SESSION_ERROR_UNKNOWN_SERVICE,       /* nobody listens on the service at the peer */
	PL_SESSION_ERROR_REFUSED,               /* the peer's listener does not accept us */
	PL_SESSION_ERROR_UNREACHABLE,           /* no candidate pair worked */
	PL_SESSION_ERROR_AUTHENTICATION_FAILED, /* TLS: the far side is not the peer */
	PL_SESSION_ERROR_TIMED_OUT,             /* not established in time */
	PL_SESSION_ERROR_CLOSED,                /* closed on purpose, here or at the peer */
	PL_SESSION_ERROR_SHUTTING_DOWN,         /* an agent is stopping */
	PL_SESSION_ERROR_SIGNALING,             /* the rendezvous could not carry our signals */
} PlSessionError;

/* the code a reject or close signal carries for an error, and back */
const gchar *pl_session_error_to_reason_code(const GError *error);
GError *pl_session_error_from_reason_code(const gchar *code, const gchar *message);

typedef enum {
	PL_SESSION_STATE_CONNECTING,
	PL_SESSION_STATE_ESTABLISHED,
	PL_SESSION_STATE_RESTARTING,
	PL_SESSION_STATE_CLOSING, /* both streams ended, the link is closing */
	PL_SESSION_STATE_CLOSED,
} PlSessionState;

const gchar *pl_session_state_to_string(PlSessionState state);

#define PL_SESSION_ECHO_SERVICE       "peerlink.echo"
#define PL_SESSION_RESTART_TIMEOUT_MS 20000
#define PL_SESSION_DEFAULT_TIMEOUT_MS 30000

/* What every session of an agent shares; refcounted. */
typedef struct {
	gint ref_count;
	PlIdentity *identity;
	PlTlsCredentials *tls;
	PlIcePathConfig ice; /* the arrays are owned */
	gsize link_buffer_size;
} PlSessionContext;

PlSessionContext *pl_session_context_new(PlIdentity *identity, GError **error);
PlSessionContext *pl_session_context_ref(PlSessionContext *self);
void pl_session_context_unref(PlSessionContext *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlSessionContext, pl_session_context_unref)

#define PL_TYPE_SESSION (pl_session_get_type())
G_DECLARE_FINAL_TYPE(PlSession, pl_session, PL, SESSION, GObject)

/*
 * Signals:
 *  "send-signal" (PlSignal *signal): to seal and send; from and timestamp_ms are left to the owner
 *  "established": the stream is up and authenticated; take the app fd now
 *  "closed" (GError *error): the session ended; NULL when both sides ended their streams cleanly
 *  "state-changed"
 */
PlSession *pl_session_new_outgoing(PlSessionContext *context,
                                   guint id,
                                   const gchar *peer,
                                   const gchar *service,
                                   guint timeout_ms,
                                   GError **error);
/* from an offer of generation 0 the owner accepted */
PlSession *
pl_session_new_incoming(PlSessionContext *context, guint id, const PlSignal *offer, GError **error);
void pl_session_start(PlSession *self);

void pl_session_handle_signal(PlSession *self, const PlSignal *signal);
/* the owner could not deliver one of our signals */
void pl_session_signal_failed(PlSession *self, const GError *error);
/* the local network changed: find a new path, keep the stream */
void pl_session_restart_ice(PlSession *self);
/* ends the session now, telling the peer; the app sees a reset */
void pl_session_close(PlSession *self, const GError *reason);

/* the app's end of the stream socket, once established; -1 if taken or echo */
gint pl_session_steal_app_fd(PlSession *self);

guint pl_session_get_id(PlSession *self);
const gchar *pl_session_get_session_id(PlSession *self);
const gchar *pl_session_get_peer(PlSession *self);
const gchar *pl_session_get_service(PlSession *self);
gboolean pl_session_is_outgoing(PlSession *self);
PlSessionState pl_session_get_state(PlSession *self);
/* the session object of docs/ipc.md */
JsonObject *pl_session_describe(PlSession *self);

G_END_DECLS
