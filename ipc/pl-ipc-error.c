#include "config.h"

#include "pl-ipc-error.h"

/* the quark name must stay one token */
/* clang-format off */
G_DEFINE_QUARK(peerlink-ipc-error-quark, pl_ipc_error)
/* clang-format on */

static const gchar *const error_strings[] = {
        [PL_IPC_ERROR_FAILED] = "failed",
        [PL_IPC_ERROR_INVALID_JSON] = "invalid-json",
        [PL_IPC_ERROR_NOT_AN_OBJECT] = "not-an-object",
        [PL_IPC_ERROR_INVALID_REQUEST] = "invalid-request",
        [PL_IPC_ERROR_INVALID_PARAMS] = "invalid-params",
        [PL_IPC_ERROR_UNKNOWN_METHOD] = "unknown-method",
        [PL_IPC_ERROR_UNSUPPORTED_VERSION] = "unsupported-version",
        [PL_IPC_ERROR_MESSAGE_TOO_LARGE] = "message-too-large",
        [PL_IPC_ERROR_TIMED_OUT] = "timed-out",
        [PL_IPC_ERROR_PERMISSION_DENIED] = "permission-denied",
        [PL_IPC_ERROR_TOO_MANY_CLIENTS] = "too-many-clients",
        [PL_IPC_ERROR_SLOW_CLIENT] = "slow-client",
        [PL_IPC_ERROR_SHUTTING_DOWN] = "shutting-down",
        [PL_IPC_ERROR_DISCONNECTED] = "disconnected",
        [PL_IPC_ERROR_NOT_RUNNING] = "not-running",
        [PL_IPC_ERROR_INTERNAL] = "internal",
        [PL_IPC_ERROR_PEER_OFFLINE] = "peer-offline",
        [PL_IPC_ERROR_NOT_CONNECTED] = "not-connected",
        [PL_IPC_ERROR_UNREACHABLE] = "unreachable",
        [PL_IPC_ERROR_UNKNOWN_SERVICE] = "unknown-service",
        [PL_IPC_ERROR_REFUSED] = "refused",
        [PL_IPC_ERROR_SERVICE_TAKEN] = "service-taken",
        [PL_IPC_ERROR_AUTHENTICATION_FAILED] = "authentication-failed",
        [PL_IPC_ERROR_UNKNOWN_SESSION] = "unknown-session",
        [PL_IPC_ERROR_SESSION_FAILED] = "session-failed",
};

const gchar *
pl_ipc_error_to_string(PlIpcErrorCode code)
{
	if ((guint)code >= G_N_ELEMENTS(error_strings))
		return error_strings[PL_IPC_ERROR_FAILED];
	return error_strings[code];
}

PlIpcErrorCode
pl_ipc_error_from_string(const gchar *code)
{
	for (guint i = 0; code != NULL && i < G_N_ELEMENTS(error_strings); i++) {
		if (g_strcmp0(error_strings[i], code) == 0)
			return (PlIpcErrorCode)i;
	}
	return PL_IPC_ERROR_FAILED;
}
