/*
 * Errors of the rendezvous API: one code per row of docs/rendezvous-api.md,
 * each with its wire string and HTTP status, plus client-side conditions.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define PL_RENDEZVOUS_ERROR (pl_rendezvous_error_quark())
GQuark pl_rendezvous_error_quark(void);

typedef enum {
	PL_RENDEZVOUS_ERROR_FAILED,                 /* "failed", 500 */
	PL_RENDEZVOUS_ERROR_BAD_REQUEST,            /* "bad-request", 400 */
	PL_RENDEZVOUS_ERROR_UNAUTHORIZED,           /* "unauthorized", 401 */
	PL_RENDEZVOUS_ERROR_AUTH_FAILED,            /* "auth-failed", 401 */
	PL_RENDEZVOUS_ERROR_CHALLENGE_INVALID,      /* "challenge-invalid", 401 */
	PL_RENDEZVOUS_ERROR_NOT_FOUND,              /* "not-found", 404 */
	PL_RENDEZVOUS_ERROR_PEER_OFFLINE,           /* "peer-offline", 404 */
	PL_RENDEZVOUS_ERROR_METHOD_NOT_ALLOWED,     /* "method-not-allowed", 405 */
	PL_RENDEZVOUS_ERROR_TOO_LARGE,              /* "too-large", 413 */
	PL_RENDEZVOUS_ERROR_UNSUPPORTED_MEDIA_TYPE, /* "unsupported-media-type", 415 */
	PL_RENDEZVOUS_ERROR_RATE_LIMITED,           /* "rate-limited", 429 */
	PL_RENDEZVOUS_ERROR_INBOX_FULL,             /* "inbox-full", 429 */
	PL_RENDEZVOUS_ERROR_UNAVAILABLE,            /* "unavailable", 503 */
	/* client side only: never sent by the service */
	PL_RENDEZVOUS_ERROR_NOT_CONNECTED, /* "not-connected" */
	PL_RENDEZVOUS_ERROR_PROTOCOL, /* "protocol": the service answered something unparseable */
	PL_RENDEZVOUS_ERROR_LAST,
} PlRendezvousErrorCode;

const gchar *pl_rendezvous_error_to_string(PlRendezvousErrorCode code);
PlRendezvousErrorCode pl_rendezvous_error_from_string(const gchar *code);
guint pl_rendezvous_error_to_http_status(PlRendezvousErrorCode code);

G_END_DECLS
