/*
 * Every parser of the rendezvous wire format (rendezvous/pl-rendezvous-protocol.h),
 * selected by the first byte: '0' to '9', then ':', ';', '<', '=' (see
 * PlFuzzMode). The service parses requests and client frames, the agent the
 * replies and server frames; both must refuse anything malformed with an
 * error, never a crash, a critical or a leak. What parses is built again with
 * the matching builder and must parse to the same values.
 */
#include "config.h"

#include <string.h>

#include "pl-fuzz.h"
#include "pl-rendezvous-protocol.h"

#define PL_FUZZ_SERVICE_MAX_BODY (16 * 1024) /* the service's default --max-message-size */
#define PL_FUZZ_AUDIENCE         "rendezvous.example:8443"

typedef enum {
	PL_FUZZ_CHALLENGE_REQUEST, /* '0' POST /v1/auth/challenge */
	PL_FUZZ_SESSION_REQUEST,   /* '1' POST /v1/auth/session, verified too */
	PL_FUZZ_HTTP_SEND,         /* '2' POST /v1/messages */
	PL_FUZZ_SERVICE_FRAME,     /* '3' a frame from an agent, as the service reads it */
	PL_FUZZ_CLIENT_FRAME,      /* '4' a frame from the service, as the agent reads it */
	PL_FUZZ_STORED_MESSAGE,    /* '5' a message as kept in an inbox */
	PL_FUZZ_ERROR_REPLY,       /* '6' any error reply */
	PL_FUZZ_CHALLENGE_REPLY,   /* '7' */
	PL_FUZZ_SESSION_REPLY,     /* '8' */
	PL_FUZZ_MESSAGE_REPLY,     /* '9' */
	PL_FUZZ_PEER_REPLY,        /* ':' GET /v1/peers/<id> */
	PL_FUZZ_ICE_REPLY,         /* ';' GET /v1/ice */
	PL_FUZZ_BASE64URL,         /* '<' keys, signatures, challenges, tokens */
	PL_FUZZ_TOKENS,            /* '=' kinds, message ids, refs */
	PL_FUZZ_N_MODES,
} PlFuzzMode;

/* -------------------------------------------------------------------------- */
/* comparisons */

static void
pl_fuzz_assert_objects_equal(JsonObject *a, JsonObject *b)
{
	g_assert_nonnull(a);
	g_assert_nonnull(b);
	g_assert_true(json_object_equal(a, b));
}

static void
pl_fuzz_assert_messages_equal(PlRendezvousMessage *a, PlRendezvousMessage *b)
{
	g_assert_cmpstr(a->id, ==, b->id);
	g_assert_cmpstr(a->from, ==, b->from);
	g_assert_cmpstr(a->to, ==, b->to);
	g_assert_cmpstr(a->kind, ==, b->kind);
	g_assert_cmpint(a->sent_at, ==, b->sent_at);
	pl_fuzz_assert_objects_equal(a->body, b->body);
}

static void
pl_fuzz_assert_sends_equal(PlRendezvousSend *a, PlRendezvousSend *b)
{
	g_assert_cmpint(a->ref, ==, b->ref);
	g_assert_cmpstr(a->to, ==, b->to);
	g_assert_cmpstr(a->kind, ==, b->kind);
	pl_fuzz_assert_objects_equal(a->body, b->body);
}

static void
pl_fuzz_assert_peer_id(const gchar *text)
{
	PlPeerId id;

	g_assert_nonnull(text);
	g_assert_cmpuint(strlen(text), ==, PL_PEER_ID_STRING_LEN);
	g_assert_true(pl_peer_id_parse(text, &id, NULL));
}

/* -------------------------------------------------------------------------- */
/* round trips */

static PlRendezvousFrame *
pl_fuzz_parse_built_frame(const gchar *text)
{
	g_autoptr(GError) error = NULL;
	PlRendezvousFrame *frame;

	g_assert_nonnull(text);
	frame = pl_rendezvous_frame_parse(text, strlen(text), 0, &error);
	g_assert_no_error(error);
	g_assert_nonnull(frame);
	return frame;
}

static void
pl_fuzz_check_message(PlRendezvousMessage *message)
{
	g_autofree gchar *json = pl_rendezvous_message_to_json(message);
	g_autofree gchar *body_text = pl_rendezvous_object_to_string(message->body);
	g_autofree gchar *fast = pl_rendezvous_message_to_json_with_body(message, body_text);
	g_autoptr(PlRendezvousMessage) again = NULL;
	g_autoptr(GError) error = NULL;

	pl_fuzz_assert_peer_id(message->from);
	if (message->to != NULL)
		pl_fuzz_assert_peer_id(message->to);
	g_assert_true(pl_rendezvous_kind_is_valid(message->kind));
	/* the relay's shortcut writes the very bytes of the builder */
	g_assert_cmpstr(fast, ==, json);
	again = pl_rendezvous_message_from_json(json, strlen(json), &error);
	g_assert_no_error(error);
	pl_fuzz_assert_messages_equal(message, again);
}

static void
pl_fuzz_check_send(PlRendezvousSend *send)
{
	g_autofree gchar *text =
	        pl_rendezvous_build_send(send->ref, send->to, send->kind, send->body);
	g_autoptr(JsonObject) object = NULL;
	g_autoptr(PlRendezvousSend) again = NULL;
	g_autoptr(GError) error = NULL;

	pl_fuzz_assert_peer_id(send->to);
	g_assert_true(pl_rendezvous_kind_is_valid(send->kind));
	object = pl_rendezvous_parse_object(text, strlen(text), &error);
	g_assert_no_error(error);
	again = pl_rendezvous_parse_send(object, 0, &error);
	g_assert_no_error(error);
	pl_fuzz_assert_sends_equal(send, again);
}

static void
pl_fuzz_check_frame(PlRendezvousFrame *frame)
{
	g_autofree gchar *text = NULL;
	g_autoptr(PlRendezvousFrame) again = NULL;

	switch (frame->type) {
	case PL_RENDEZVOUS_FRAME_MESSAGE:
		g_assert_nonnull(frame->message);
		pl_fuzz_check_message(frame->message);
		text = pl_rendezvous_message_to_json(frame->message);
		again = pl_fuzz_parse_built_frame(text);
		g_assert_nonnull(again->message);
		pl_fuzz_assert_messages_equal(frame->message, again->message);
		break;
	case PL_RENDEZVOUS_FRAME_SENT:
		g_assert_cmpint(frame->ref, >=, 0);
		text = pl_rendezvous_frame_build_sent(frame->ref, frame->id);
		again = pl_fuzz_parse_built_frame(text);
		g_assert_cmpstr(again->id, ==, frame->id);
		break;
	case PL_RENDEZVOUS_FRAME_ERROR:
		g_assert_nonnull(frame->error);
		text = pl_rendezvous_frame_build_error(frame->ref, frame->error);
		again = pl_fuzz_parse_built_frame(text);
		g_assert_error(again->error, frame->error->domain, frame->error->code);
		g_assert_cmpstr(again->error->message, ==, frame->error->message);
		break;
	case PL_RENDEZVOUS_FRAME_PONG:
	case PL_RENDEZVOUS_FRAME_PING:
		text = pl_rendezvous_frame_build_simple(frame->type);
		again = pl_fuzz_parse_built_frame(text);
		break;
	case PL_RENDEZVOUS_FRAME_SEND:
		g_assert_nonnull(frame->send);
		g_assert_cmpint(frame->ref, ==, frame->send->ref);
		pl_fuzz_check_send(frame->send);
		text = pl_rendezvous_build_send(frame->ref, frame->send->to, frame->send->kind,
		                                frame->send->body);
		again = pl_fuzz_parse_built_frame(text);
		pl_fuzz_assert_sends_equal(frame->send, again->send);
		break;
	case PL_RENDEZVOUS_FRAME_ACK:
		text = pl_rendezvous_frame_build_ack(frame->id);
		again = pl_fuzz_parse_built_frame(text);
		g_assert_cmpstr(again->id, ==, frame->id);
		break;
	default:
		g_assert_not_reached();
	}
	g_assert_cmpint(again->type, ==, frame->type);
	g_assert_cmpint(again->ref, ==, frame->ref);
}

/* -------------------------------------------------------------------------- */
/* requests the service parses */

static void
pl_fuzz_challenge_request(const gchar *data, gsize len)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *built = NULL;
	PlPeerId id;
	PlPeerId again;

	if (!pl_rendezvous_parse_challenge_request(data, len, &id, &error)) {
		pl_fuzz_note(G_STRFUNC, error);
		g_assert_nonnull(error);
		return;
	}
	text = pl_peer_id_to_string(&id);
	built = pl_rendezvous_build_challenge_request(text);
	g_assert_true(pl_rendezvous_parse_challenge_request(built, strlen(built), &again, NULL));
	g_assert_true(pl_peer_id_equal(&id, &again));
}

static void
pl_fuzz_session_request(const gchar *data, gsize len)
{
	g_autoptr(PlRendezvousSessionRequest) request = NULL;
	g_autoptr(GError) error = NULL;

	request = pl_rendezvous_parse_session_request(data, len, &error);
	if (request == NULL) {
		pl_fuzz_note(G_STRFUNC, error);
		g_assert_nonnull(error);
		return;
	}
	g_assert_nonnull(request->public_key);
	g_assert_nonnull(request->challenge);
	g_assert_nonnull(request->signature);
	/* any key and signature bytes go to GnuTLS: it must refuse them cleanly */
	if (!pl_rendezvous_verify_session_request(request, PL_FUZZ_AUDIENCE, &error))
		g_assert_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_AUTH_FAILED);
	pl_fuzz_note(G_STRFUNC, error);
}

static void
pl_fuzz_http_send(const gchar *data, gsize len)
{
	g_autoptr(JsonObject) object = NULL;
	g_autoptr(PlRendezvousSend) send = NULL;
	g_autoptr(GError) error = NULL;

	object = pl_rendezvous_parse_object(data, len, &error);
	if (object == NULL)
		return;
	send = pl_rendezvous_parse_send(object, PL_FUZZ_SERVICE_MAX_BODY, &error);
	if (send == NULL) {
		pl_fuzz_note(G_STRFUNC, error);
		g_assert_nonnull(error);
		return;
	}
	pl_fuzz_check_send(send);
}

/* as pl_rendezvous_service_frame(): the ack shortcut, then the full parser */
static void
pl_fuzz_service_frame(const gchar *data, gsize len)
{
	g_autoptr(PlRendezvousFrame) ack = pl_rendezvous_frame_parse_ack(data, len);
	g_autoptr(PlRendezvousFrame) frame = NULL;
	g_autoptr(JsonObject) object = NULL;
	g_autoptr(GError) error = NULL;

	object = pl_rendezvous_parse_object(data, len, &error);
	if (object != NULL)
		frame = pl_rendezvous_frame_parse_object(object, PL_FUZZ_SERVICE_MAX_BODY, &error);
	if (ack != NULL) {
		/* the shortcut takes nothing the parser would read otherwise */
		g_assert_cmpint(ack->type, ==, PL_RENDEZVOUS_FRAME_ACK);
		g_assert(frame != NULL);
		g_assert_cmpint(frame->type, ==, PL_RENDEZVOUS_FRAME_ACK);
		g_assert_cmpstr(frame->id, ==, ack->id);
	}
	if (frame == NULL) {
		gint64 ref;
		pl_fuzz_note(G_STRFUNC, error);
		g_assert_nonnull(error);
		ref = pl_rendezvous_frame_get_ref(object);
		g_assert_true(ref == -1 || ref >= 0);
		return;
	}
	pl_fuzz_check_frame(frame);
}

static void
pl_fuzz_client_frame(const gchar *data, gsize len)
{
	g_autoptr(PlRendezvousFrame) frame = NULL;
	g_autoptr(GError) error = NULL;

	frame = pl_rendezvous_frame_parse(data, len, PL_RENDEZVOUS_MAX_REQUEST_SIZE, &error);
	if (frame == NULL) {
		pl_fuzz_note(G_STRFUNC, error);
		g_assert_nonnull(error);
		return;
	}
	pl_fuzz_check_frame(frame);
}

static void
pl_fuzz_stored_message(const gchar *data, gsize len)
{
	g_autoptr(PlRendezvousMessage) message = NULL;
	g_autoptr(GError) error = NULL;

	message = pl_rendezvous_message_from_json(data, len, &error);
	if (message == NULL) {
		pl_fuzz_note(G_STRFUNC, error);
		g_assert_nonnull(error);
		return;
	}
	pl_fuzz_check_message(message);
}

/* -------------------------------------------------------------------------- */
/* replies the agent parses */

static void
pl_fuzz_error_reply(const gchar *data, gsize len, guint8 selector)
{
	static const guint statuses[] = {400, 401, 404, 413, 429, 500, 502, 503, 200, 0};
	guint status = statuses[selector % G_N_ELEMENTS(statuses)];
	g_autoptr(GError) error = pl_rendezvous_parse_error_reply(status, data, len);
	g_autofree gchar *built = NULL;
	g_autoptr(GError) again = NULL;

	pl_fuzz_note(G_STRFUNC, error);
	g_assert_nonnull(error);
	g_assert_true(error->domain == PL_RENDEZVOUS_ERROR);
	g_assert_cmpint(error->code, >=, 0);
	g_assert_cmpint(error->code, <, PL_RENDEZVOUS_ERROR_LAST);
	built = pl_rendezvous_build_error(error);
	again = pl_rendezvous_parse_error_reply(500, built, strlen(built));
	g_assert_error(again, error->domain, error->code);
	g_assert_cmpstr(again->message, ==, error->message);
}

static void
pl_fuzz_challenge_reply(const gchar *data, gsize len)
{
	g_autofree gchar *challenge = NULL;
	g_autofree gchar *audience = NULL;
	g_autofree gchar *built = NULL;
	g_autofree gchar *challenge_again = NULL;
	g_autofree gchar *audience_again = NULL;
	g_autoptr(GError) error = NULL;

	if (!pl_rendezvous_parse_challenge_reply(data, len, &challenge, &audience, &error)) {
		pl_fuzz_note(G_STRFUNC, error);
		g_assert_nonnull(error);
		g_assert_null(challenge);
		g_assert_null(audience);
		return;
	}
	built = pl_rendezvous_build_challenge_reply(challenge, audience, 60);
	g_assert_true(pl_rendezvous_parse_challenge_reply(built, strlen(built), &challenge_again,
	                                                  &audience_again, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(challenge_again, ==, challenge);
	g_assert_cmpstr(audience_again, ==, audience);
}

static void
pl_fuzz_session_reply(const gchar *data, gsize len)
{
	g_autoptr(PlRendezvousSession) session = NULL;
	g_autoptr(PlRendezvousSession) again = NULL;
	g_autofree gchar *built = NULL;
	g_autoptr(GError) error = NULL;

	session = pl_rendezvous_parse_session_reply(data, len, &error);
	if (session == NULL) {
		pl_fuzz_note(G_STRFUNC, error);
		g_assert_nonnull(error);
		return;
	}
	pl_fuzz_assert_peer_id(session->peer_id);
	built = pl_rendezvous_build_session_reply(session->token, session->peer_id,
	                                          session->expires_in, session->ice);
	again = pl_rendezvous_parse_session_reply(built, strlen(built), &error);
	g_assert_no_error(error);
	g_assert_cmpstr(again->token, ==, session->token);
	g_assert_cmpstr(again->peer_id, ==, session->peer_id);
	g_assert_cmpint(again->expires_in, ==, session->expires_in);
	pl_fuzz_assert_objects_equal(again->ice, session->ice);
}

static void
pl_fuzz_message_reply(const gchar *data, gsize len)
{
	g_autofree gchar *id = NULL;
	g_autofree gchar *built = NULL;
	g_autofree gchar *again = NULL;
	g_autoptr(GError) error = NULL;

	id = pl_rendezvous_parse_message_reply(data, len, &error);
	if (id == NULL) {
		pl_fuzz_note(G_STRFUNC, error);
		g_assert_nonnull(error);
		return;
	}
	built = pl_rendezvous_build_message_reply(id);
	again = pl_rendezvous_parse_message_reply(built, strlen(built), &error);
	g_assert_no_error(error);
	g_assert_cmpstr(again, ==, id);
}

static void
pl_fuzz_peer_reply(const gchar *data, gsize len)
{
	g_autoptr(GError) error = NULL;
	gboolean online = FALSE;

	if (!pl_rendezvous_parse_peer_reply(data, len, &online, &error))
		g_assert_nonnull(error);
	else
		g_assert_true(online == TRUE || online == FALSE);
	pl_fuzz_note(G_STRFUNC, error);
}

static void
pl_fuzz_ice_reply(const gchar *data, gsize len)
{
	g_autoptr(JsonObject) ice = NULL;
	g_autoptr(JsonObject) again = NULL;
	g_autofree gchar *text = NULL;
	g_autoptr(GError) error = NULL;

	ice = pl_rendezvous_parse_ice_reply(data, len, &error);
	if (ice == NULL) {
		pl_fuzz_note(G_STRFUNC, error);
		g_assert_nonnull(error);
		return;
	}
	text = pl_rendezvous_object_to_string(ice);
	again = pl_rendezvous_parse_ice_reply(text, strlen(text), &error);
	g_assert_no_error(error);
	pl_fuzz_assert_objects_equal(ice, again);
}

/* -------------------------------------------------------------------------- */
/* the small parsers under all of them */

static void
pl_fuzz_base64url(const gchar *text)
{
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *again = NULL;

	bytes = pl_rendezvous_base64url_decode(text, &error);
	if (bytes == NULL) {
		pl_fuzz_note(G_STRFUNC, error);
		g_assert_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST);
		return;
	}
	/* only the canonical encoding decodes */
	again = pl_rendezvous_base64url_encode(g_bytes_get_data(bytes, NULL),
	                                       g_bytes_get_size(bytes));
	g_assert_cmpstr(again, ==, text);
}

static void
pl_fuzz_tokens(const gchar *text, const gchar *data, gsize len)
{
	g_autoptr(JsonObject) object = pl_rendezvous_parse_object(data, len, NULL);

	if (pl_rendezvous_kind_is_valid(text)) {
		g_assert_cmpuint(strlen(text), >=, 1);
		g_assert_cmpuint(strlen(text), <=, PL_RENDEZVOUS_MAX_KIND_LEN);
	}
	if (pl_rendezvous_message_id_is_valid(text))
		g_assert_cmpuint(strlen(text), ==, 32);
	if (object != NULL) {
		gint64 ref = pl_rendezvous_frame_get_ref(object);
		g_assert_true(ref == -1 || ref >= 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const gchar *body;
	gsize len;
	g_autofree gchar *text = NULL;

	if (size < 1)
		return 0;
	body = (const gchar *)data + 1;
	len = size - 1;
	text = pl_fuzz_strndup(data + 1, size - 1);
	switch ((guint8)(data[0] - '0') % PL_FUZZ_N_MODES) {
	case PL_FUZZ_CHALLENGE_REQUEST:
		pl_fuzz_challenge_request(body, len);
		break;
	case PL_FUZZ_SESSION_REQUEST:
		pl_fuzz_session_request(body, len);
		break;
	case PL_FUZZ_HTTP_SEND:
		pl_fuzz_http_send(body, len);
		break;
	case PL_FUZZ_SERVICE_FRAME:
		pl_fuzz_service_frame(body, len);
		break;
	case PL_FUZZ_CLIENT_FRAME:
		pl_fuzz_client_frame(body, len);
		break;
	case PL_FUZZ_STORED_MESSAGE:
		pl_fuzz_stored_message(body, len);
		break;
	case PL_FUZZ_ERROR_REPLY:
		pl_fuzz_error_reply(body, len, data[0] / PL_FUZZ_N_MODES);
		break;
	case PL_FUZZ_CHALLENGE_REPLY:
		pl_fuzz_challenge_reply(body, len);
		break;
	case PL_FUZZ_SESSION_REPLY:
		pl_fuzz_session_reply(body, len);
		break;
	case PL_FUZZ_MESSAGE_REPLY:
		pl_fuzz_message_reply(body, len);
		break;
	case PL_FUZZ_PEER_REPLY:
		pl_fuzz_peer_reply(body, len);
		break;
	case PL_FUZZ_ICE_REPLY:
		pl_fuzz_ice_reply(body, len);
		break;
	case PL_FUZZ_BASE64URL:
		pl_fuzz_base64url(text);
		break;
	case PL_FUZZ_TOKENS:
		pl_fuzz_tokens(text, body, len);
		break;
	default:
		g_assert_not_reached();
	}
	return 0;
}
