/*
 * Signaling messages (offer, answer, trickled candidates, reject, close)
 * that travel through the rendezvous service as messages of kind "signal".
 * Each is signed end to end with the sender's identity key and names sender
 * and recipient, so the rendezvous operator can neither forge, alter nor
 * redirect one. Pure functions: no network. Format in docs/signaling.md.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "pl-identity.h"

G_BEGIN_DECLS

#define PL_SIGNAL_KIND "signal" /* the rendezvous message kind */

#define PL_SIGNAL_ERROR (pl_signal_error_quark())
GQuark pl_signal_error_quark(void);

typedef enum {
	PL_SIGNAL_ERROR_MALFORMED, /* not a signal, a field is missing, of the wrong type or out of
	                              range */
	PL_SIGNAL_ERROR_BAD_SIGNATURE, /* key does not match the sender, or the signature is wrong
	                                */
	PL_SIGNAL_ERROR_MISDIRECTED,   /* addressed to another peer */
	PL_SIGNAL_ERROR_STALE,         /* timestamp outside the accepted window */
	PL_SIGNAL_ERROR_REPLAYED,      /* seen before (see PlReplayGuard) */
} PlSignalError;

typedef enum {
	PL_SIGNAL_TYPE_OFFER,      /* opens a session, or restarts ICE (generation > 0) */
	PL_SIGNAL_TYPE_ANSWER,     /* accepts an offer of the same generation */
	PL_SIGNAL_TYPE_CANDIDATES, /* trickled candidates for a generation */
	PL_SIGNAL_TYPE_REJECT,     /* refuses an offer: reason_code says why */
	PL_SIGNAL_TYPE_CLOSE,      /* the sender gave the session up: reason_code says why */
} PlSignalType;

const gchar *pl_signal_type_to_string(PlSignalType type); /* "offer", ... */

#define PL_SIGNAL_MAX_CANDIDATES    64
#define PL_SIGNAL_MAX_CANDIDATE_LEN 512
#define PL_SIGNAL_MAX_REASON_LEN    256
#define PL_SIGNAL_WINDOW_MS         (120 * 1000) /* accepted clock skew and age */
#define PL_SIGNAL_SESSION_ID_LEN    32           /* lowercase hex characters */
#define PL_SIGNAL_MAX_PAYLOAD_SIZE  (12 * 1024)  /* bytes of the signed payload string */

typedef struct {
	PlSignalType type;
	gchar *from; /* peer ID strings, canonical form */
	gchar *to;
	gchar *session_id;   /* 32 lowercase hex characters, chosen by the offerer */
	guint64 seq;         /* per sender and session, strictly increasing from 1 */
	gint64 timestamp_ms; /* sender's wall clock, ms since the epoch */
	guint generation;    /* ICE generation: 0, then +1 per restart */
	gchar *service;      /* offer of generation 0 only: the service name */
	gchar *ufrag;        /* offer and answer: ICE credentials */
	gchar *pwd;
	GPtrArray *candidates; /* of gchar*, SDP "candidate:..." lines (no "a="); offer, answer,
	                          candidates */
	gboolean end_of_candidates; /* the sender gathered all its candidates of this generation */
	gchar *reason_code; /* reject and close: "unknown-service", "refused", "busy", "closed", ...
	                     */
	gchar *reason_message; /* reject and close: for humans, may be NULL */
} PlSignal;

PlSignal *pl_signal_new(PlSignalType type);
void pl_signal_free(PlSignal *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlSignal, pl_signal_free)

/* text for reason_message: control characters replaced, cut to the limit */
gchar *pl_signal_make_reason_message(const gchar *text);

/* 32 random lowercase hex characters */
gchar *pl_signal_new_session_id(void);

/*
 * A service name: 1-64 characters of [a-z0-9._-], starting with a letter or
 * digit. Names starting with "peerlink." are reserved for the agent itself
 * (allow_reserved says whether to accept them).
 */
gboolean pl_signal_check_service_name(const gchar *name, gboolean allow_reserved, GError **error);

/*
 * The body of the rendezvous message: {"payload": "<compact JSON of the
 * fields>", "key": "<base64 SPKI of the sender>", "sig": "<base64 Ed25519
 * signature of the payload string>"}. The signal's from must be the
 * identity's peer ID.
 */
JsonObject *pl_signal_seal(const PlSignal *signal, PlIdentity *identity, GError **error);

/*
 * Checks and decodes a body received from the rendezvous: the key hashes to
 * from (the sender the rendezvous authenticated), the signature is valid,
 * the payload's from equals from and its to equals self_peer_id, the
 * timestamp is within PL_SIGNAL_WINDOW_MS of now_ms, and every field is well
 * formed and within its limits.
 */
PlSignal *pl_signal_open(JsonObject *body,
                         const gchar *from,
                         const gchar *self_peer_id,
                         gint64 now_ms,
                         GError **error);

G_END_DECLS
