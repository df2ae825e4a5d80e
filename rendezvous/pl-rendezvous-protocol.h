/*
 * The rendezvous wire format (docs/rendezvous-api.md) as pure functions:
 * building and parsing every request, reply and WebSocket frame, for the
 * service and for the agent's client alike. No I/O here.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "pl-identity.h"
#include "pl-rendezvous-error.h"

G_BEGIN_DECLS

#define PL_RENDEZVOUS_AUTH_CONTEXT     "peerlink-rendezvous-auth-v1"
#define PL_RENDEZVOUS_WS_PROTOCOL      "peerlink-rendezvous.v1"
#define PL_RENDEZVOUS_MAX_REQUEST_SIZE (64 * 1024)
#define PL_RENDEZVOUS_MAX_KIND_LEN     32
#define PL_RENDEZVOUS_CHALLENGE_SIZE   32
#define PL_RENDEZVOUS_TOKEN_SIZE       32

/* base64url without padding (RFC 4648 §5) */
gchar *pl_rendezvous_base64url_encode(const guint8 *data, gsize len);
GBytes *pl_rendezvous_base64url_decode(const gchar *text, GError **error);

/* "host[:port]" exactly as libsoup puts it in the Host header for this URI */
gchar *pl_rendezvous_audience_from_uri(GUri *uri);
GBytes *
pl_rendezvous_auth_signed_data(const gchar *challenge, const gchar *peer_id, const gchar *audience);

/* errors: {"error":{"code","message"}} */
gchar *pl_rendezvous_build_error(const GError *error);
GError *pl_rendezvous_parse_error_reply(guint http_status, const gchar *body, gsize len);
gboolean pl_rendezvous_kind_is_valid(const gchar *kind);

/* JSON helpers for the service and the client: a body that is a JSON object */
JsonObject *pl_rendezvous_parse_object(const gchar *body, gsize len, GError **error);
gchar *pl_rendezvous_object_to_string(JsonObject *object);
/* a message id: 32 lower-case hex digits (128 random bits) */
gchar *pl_rendezvous_message_id_new(void);
gboolean pl_rendezvous_message_id_is_valid(const gchar *id);

/* GET /v1/ice: the "ice" object alone; the shape is checked */
JsonObject *pl_rendezvous_parse_ice_reply(const gchar *body, gsize len, GError **error);

/* POST /v1/messages: 202 {"id"} */
gchar *pl_rendezvous_build_message_reply(const gchar *id);
gchar *pl_rendezvous_parse_message_reply(const gchar *body, gsize len, GError **error);

/* GET /v1/peers/<id>: 200 {"peer_id","online"} */
gchar *pl_rendezvous_build_peer_reply(const gchar *peer_id, gboolean online);
gboolean
pl_rendezvous_parse_peer_reply(const gchar *body, gsize len, gboolean *online, GError **error);

/* POST /v1/auth/challenge */
gchar *pl_rendezvous_build_challenge_request(const gchar *peer_id);
gboolean pl_rendezvous_parse_challenge_request(const gchar *body,
                                               gsize len,
                                               PlPeerId *peer_id,
                                               GError **error);
gchar *pl_rendezvous_build_challenge_reply(const gchar *challenge,
                                           const gchar *audience,
                                           guint expires_in);
gboolean pl_rendezvous_parse_challenge_reply(
        const gchar *body, gsize len, gchar **challenge, gchar **audience, GError **error);

/* POST /v1/auth/session */
typedef struct {
	PlPeerId peer_id;
	GBytes *public_key; /* SPKI DER */
	gchar *challenge;
	GBytes *signature;
} PlRendezvousSessionRequest;

void pl_rendezvous_session_request_free(PlRendezvousSessionRequest *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlRendezvousSessionRequest, pl_rendezvous_session_request_free)

gchar *pl_rendezvous_build_session_request(PlIdentity *identity,
                                           const gchar *challenge,
                                           const gchar *audience,
                                           GError **error);
PlRendezvousSessionRequest *
pl_rendezvous_parse_session_request(const gchar *body, gsize len, GError **error);
gboolean pl_rendezvous_verify_session_request(PlRendezvousSessionRequest *request,
                                              const gchar *audience,
                                              GError **error);

typedef struct {
	gchar *token;
	gchar *peer_id;
	gint64 expires_in;
	JsonObject *ice; /* {"stun":[…],"turn":[{urls,username,credential,ttl}]} */
} PlRendezvousSession;

void pl_rendezvous_session_free(PlRendezvousSession *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlRendezvousSession, pl_rendezvous_session_free)

gchar *pl_rendezvous_build_session_reply(const gchar *token,
                                         const gchar *peer_id,
                                         gint64 expires_in,
                                         JsonObject *ice);
PlRendezvousSession *
pl_rendezvous_parse_session_reply(const gchar *body, gsize len, GError **error);

/* a message in an inbox, and as delivered in a "message" frame */
typedef struct {
	gchar *id;
	gchar *from;
	gchar *to;
	gchar *kind;
	JsonObject *body;
	gint64 sent_at; /* unix ms */
} PlRendezvousMessage;

void pl_rendezvous_message_free(PlRendezvousMessage *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlRendezvousMessage, pl_rendezvous_message_free)

gchar *pl_rendezvous_message_to_json(PlRendezvousMessage *self);
gchar *pl_rendezvous_message_to_json_with_body(PlRendezvousMessage *self, const gchar *body_text);
PlRendezvousMessage *pl_rendezvous_message_from_json(const gchar *text, gsize len, GError **error);

/* POST /v1/messages, and the WebSocket "send" frame */
typedef struct {
	gint64 ref; /* -1 over HTTP */
	gchar *to;  /* canonical peer ID string */
	gchar *kind;
	JsonObject *body;
} PlRendezvousSend;

void pl_rendezvous_send_free(PlRendezvousSend *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlRendezvousSend, pl_rendezvous_send_free)

gchar *pl_rendezvous_build_send(gint64 ref, const gchar *to, const gchar *kind, JsonObject *body);
PlRendezvousSend *pl_rendezvous_parse_send(JsonObject *object, gsize max_body_size, GError **error);

/* WebSocket frames */
typedef enum {
	PL_RENDEZVOUS_FRAME_MESSAGE, /* server → client */
	PL_RENDEZVOUS_FRAME_SENT,
	PL_RENDEZVOUS_FRAME_ERROR,
	PL_RENDEZVOUS_FRAME_PONG,
	PL_RENDEZVOUS_FRAME_SEND, /* client → server */
	PL_RENDEZVOUS_FRAME_ACK,
	PL_RENDEZVOUS_FRAME_PING,
} PlRendezvousFrameType;

typedef struct {
	PlRendezvousFrameType type;
	gint64 ref;                   /* SENT, ERROR (-1 when null) */
	gchar *id;                    /* SENT, ACK */
	PlRendezvousMessage *message; /* MESSAGE */
	PlRendezvousSend *send;       /* SEND */
	GError *error;                /* ERROR */
} PlRendezvousFrame;

void pl_rendezvous_frame_free(PlRendezvousFrame *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlRendezvousFrame, pl_rendezvous_frame_free)

PlRendezvousFrame *pl_rendezvous_frame_parse_ack(const gchar *text, gsize len);
PlRendezvousFrame *
pl_rendezvous_frame_parse(const gchar *text, gsize len, gsize max_body_size, GError **error);
/* the same on an already parsed object; max_body_size 0 means no limit */
PlRendezvousFrame *
pl_rendezvous_frame_parse_object(JsonObject *object, gsize max_body_size, GError **error);
/* the "ref" of a client frame when it is a usable integer, else -1 */
gint64 pl_rendezvous_frame_get_ref(JsonObject *object);
gchar *pl_rendezvous_frame_build_sent(gint64 ref, const gchar *id);
gchar *pl_rendezvous_frame_build_error(gint64 ref, const GError *error);
gchar *pl_rendezvous_frame_build_ack(const gchar *id);
gchar *pl_rendezvous_frame_build_simple(PlRendezvousFrameType type); /* PING, PONG */

/* reconnection: "full jitter" exponential backoff, random supplied by the caller */
guint pl_rendezvous_backoff_delay_ms(guint attempt, guint base_ms, guint max_ms, guint32 random);

G_END_DECLS
