#include "config.h"

#include "pl-rendezvous-error.h"

/* clang-format off */
G_DEFINE_QUARK(pl-rendezvous-error-quark, pl_rendezvous_error)
/* clang-format on */

typedef struct {
	const gchar *code;
	guint status;
} PlRendezvousErrorInfo;

/* indexed by PlRendezvousErrorCode */
static const PlRendezvousErrorInfo pl_rendezvous_errors[] = {
        [PL_RENDEZVOUS_ERROR_FAILED] = {"failed", 500},
        [PL_RENDEZVOUS_ERROR_BAD_REQUEST] = {"bad-request", 400},
        [PL_RENDEZVOUS_ERROR_UNAUTHORIZED] = {"unauthorized", 401},
        [PL_RENDEZVOUS_ERROR_AUTH_FAILED] = {"auth-failed", 401},
        [PL_RENDEZVOUS_ERROR_CHALLENGE_INVALID] = {"challenge-invalid", 401},
        [PL_RENDEZVOUS_ERROR_NOT_FOUND] = {"not-found", 404},
        [PL_RENDEZVOUS_ERROR_PEER_OFFLINE] = {"peer-offline", 404},
        [PL_RENDEZVOUS_ERROR_METHOD_NOT_ALLOWED] = {"method-not-allowed", 405},
        [PL_RENDEZVOUS_ERROR_TOO_LARGE] = {"too-large", 413},
        [PL_RENDEZVOUS_ERROR_UNSUPPORTED_MEDIA_TYPE] = {"unsupported-media-type", 415},
        [PL_RENDEZVOUS_ERROR_RATE_LIMITED] = {"rate-limited", 429},
        [PL_RENDEZVOUS_ERROR_INBOX_FULL] = {"inbox-full", 429},
        [PL_RENDEZVOUS_ERROR_UNAVAILABLE] = {"unavailable", 503},
        [PL_RENDEZVOUS_ERROR_NOT_CONNECTED] = {"not-connected", 503},
        [PL_RENDEZVOUS_ERROR_PROTOCOL] = {"protocol", 502},
};

G_STATIC_ASSERT(G_N_ELEMENTS(pl_rendezvous_errors) == PL_RENDEZVOUS_ERROR_LAST);

const gchar *
pl_rendezvous_error_to_string(PlRendezvousErrorCode code)
{
	if ((guint)code >= PL_RENDEZVOUS_ERROR_LAST)
		return pl_rendezvous_errors[PL_RENDEZVOUS_ERROR_FAILED].code;
	return pl_rendezvous_errors[code].code;
}

/* unknown or NULL codes map to PL_RENDEZVOUS_ERROR_FAILED */
PlRendezvousErrorCode
pl_rendezvous_error_from_string(const gchar *code)
{
	if (code == NULL)
		return PL_RENDEZVOUS_ERROR_FAILED;
	for (guint i = 0; i < PL_RENDEZVOUS_ERROR_LAST; i++) {
		if (g_strcmp0(pl_rendezvous_errors[i].code, code) == 0)
			return (PlRendezvousErrorCode)i;
	}
	return PL_RENDEZVOUS_ERROR_FAILED;
}

guint
pl_rendezvous_error_to_http_status(PlRendezvousErrorCode code)
{
	if ((guint)code >= PL_RENDEZVOUS_ERROR_LAST)
		return 500;
	return pl_rendezvous_errors[code].status;
}
