#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define PL_IPC_ERROR (pl_ipc_error_quark())
GQuark pl_ipc_error_quark(void);

/* Each code travels on the wire as the string in pl_ipc_error_to_string(). */
typedef enum {
	PL_IPC_ERROR_FAILED,
	PL_IPC_ERROR_INVALID_JSON,
	PL_IPC_ERROR_NOT_AN_OBJECT,
	PL_IPC_ERROR_INVALID_REQUEST,
	PL_IPC_ERROR_INVALID_PARAMS,
	PL_IPC_ERROR_UNKNOWN_METHOD,
	PL_IPC_ERROR_UNSUPPORTED_VERSION,
	PL_IPC_ERROR_MESSAGE_TOO_LARGE,
	PL_IPC_ERROR_TIMED_OUT,
	PL_IPC_ERROR_PERMISSION_DENIED,
	PL_IPC_ERROR_TOO_MANY_CLIENTS,
	PL_IPC_ERROR_SLOW_CLIENT,
	PL_IPC_ERROR_SHUTTING_DOWN,
	PL_IPC_ERROR_DISCONNECTED,
	PL_IPC_ERROR_NOT_RUNNING,
	PL_IPC_ERROR_INTERNAL,
	PL_IPC_ERROR_PEER_OFFLINE,  /* the peer is not reachable through the rendezvous */
	PL_IPC_ERROR_NOT_CONNECTED, /* the agent has no working rendezvous connection */
	PL_IPC_ERROR_UNREACHABLE,   /* the peer answered, but no network path to it works */
	PL_IPC_ERROR_UNKNOWN_SERVICE, /* nobody listens on that service at the peer */
	PL_IPC_ERROR_REFUSED,         /* the peer's listener does not accept us */
	PL_IPC_ERROR_SERVICE_TAKEN,   /* another app already listens on that service */
	PL_IPC_ERROR_AUTHENTICATION_FAILED, /* the far side is not the peer it claims to be */
	PL_IPC_ERROR_UNKNOWN_SESSION, /* no session with that id */
	PL_IPC_ERROR_SESSION_FAILED,  /* an established session broke (path lost, peer gone) */
	PL_IPC_ERROR_LAST,
} PlIpcErrorCode;

const gchar *pl_ipc_error_to_string(PlIpcErrorCode code);
PlIpcErrorCode pl_ipc_error_from_string(const gchar *code);

G_END_DECLS
