#include "config.h"

#include <gnutls/crypto.h>
#include <string.h>

#include "pl-json-check.h"
#include "pl-signal.h"

#define PL_SIGNAL_MAX_KEY_SIZE     256 /* decoded; an Ed25519 SPKI has 44 bytes */
#define PL_SIGNAL_SIGNATURE_SIZE   64
#define PL_SIGNAL_MAX_DEPTH        16 /* nesting of the payload JSON; ours uses 2 */
#define PL_SIGNAL_MAX_SEQ          G_GUINT64_CONSTANT(9007199254740991) /* 2^53 - 1 */
#define PL_SIGNAL_MAX_GENERATION   1000
#define PL_SIGNAL_MIN_UFRAG_LEN    4
#define PL_SIGNAL_MIN_PWD_LEN      22
#define PL_SIGNAL_MAX_ICE_CRED_LEN 256
#define PL_SIGNAL_MAX_SERVICE_LEN  64
#define PL_SIGNAL_MAX_CODE_LEN     64
#define PL_SIGNAL_SESSION_ID_BYTES (PL_SIGNAL_SESSION_ID_LEN / 2)
#define PL_SIGNAL_RESERVED_PREFIX  "peerlink."
#define PL_SIGNAL_CANDIDATE_PREFIX "candidate:"

/* clang-format off */
G_DEFINE_QUARK(pl-signal-error-quark, pl_signal_error)
/* clang-format on */

/* in the order of PlSignalType */
static const gchar *const pl_signal_type_names[] = {
        "offer", "answer", "candidates", "reject", "close",
};

const gchar *
pl_signal_type_to_string(PlSignalType type)
{
	if ((guint)type >= G_N_ELEMENTS(pl_signal_type_names))
		return NULL;
	return pl_signal_type_names[type];
}

static gboolean
pl_signal_type_from_string(const gchar *text, PlSignalType *type)
{
	for (guint i = 0; i < G_N_ELEMENTS(pl_signal_type_names); i++) {
		if (g_strcmp0(text, pl_signal_type_names[i]) == 0) {
			*type = (PlSignalType)i;
			return TRUE;
		}
	}
	return FALSE;
}

PlSignal *
pl_signal_new(PlSignalType type)
{
	PlSignal *self = g_new0(PlSignal, 1);

	self->type = type;
	self->candidates = g_ptr_array_new_with_free_func(g_free);
	return self;
}

void
pl_signal_free(PlSignal *self)
{
	if (self == NULL)
		return;
	g_free(self->from);
	g_free(self->to);
	g_free(self->session_id);
	g_free(self->service);
	g_free(self->ufrag);
	g_free(self->pwd);
	g_clear_pointer(&self->candidates, g_ptr_array_unref);
	g_free(self->reason_code);
	g_free(self->reason_message);
	g_free(self);
}

gchar *
pl_signal_new_session_id(void)
{
	guint8 bytes[PL_SIGNAL_SESSION_ID_BYTES];
	GString *id = g_string_sized_new(PL_SIGNAL_SESSION_ID_LEN);

	/* as for SHA-256 in pl-peer-id.c: if this fails GnuTLS itself is unusable */
	if (gnutls_rnd(GNUTLS_RND_NONCE, bytes, sizeof(bytes)) < 0)
		g_error("GnuTLS cannot generate random bytes");
	for (gsize i = 0; i < sizeof(bytes); i++)
		g_string_append_printf(id, "%02x", bytes[i]);
	return g_string_free(id, FALSE);
}

/* -------------------------------------------------------------------------- */
/* field checks, shared by seal (our own mistakes) and open (the peer's) */

static gboolean
pl_signal_bad_field(GError **error, const gchar *field, const gchar *what)
{
	g_set_error(error, PL_SIGNAL_ERROR, PL_SIGNAL_ERROR_MALFORMED, "field \"%s\" %s", field,
	            what);
	return FALSE;
}

static gboolean
pl_signal_is_service_char(gchar c)
{
	return g_ascii_islower(c) || g_ascii_isdigit(c) || c == '.' || c == '_' || c == '-';
}

gboolean
pl_signal_check_service_name(const gchar *name, gboolean allow_reserved, GError **error)
{
	gsize len = name != NULL ? strlen(name) : 0;

	if (len == 0 || len > PL_SIGNAL_MAX_SERVICE_LEN) {
		g_set_error(error, PL_SIGNAL_ERROR, PL_SIGNAL_ERROR_MALFORMED,
		            "a service name has 1 to %d characters", PL_SIGNAL_MAX_SERVICE_LEN);
		return FALSE;
	}
	for (gsize i = 0; i < len; i++) {
		if (!pl_signal_is_service_char(name[i])) {
			g_set_error_literal(error, PL_SIGNAL_ERROR, PL_SIGNAL_ERROR_MALFORMED,
			                    "a service name holds only the characters a-z, 0-9, "
			                    "'.', '_' and '-'");
			return FALSE;
		}
	}
	if (!g_ascii_isalnum(name[0])) {
		g_set_error_literal(error, PL_SIGNAL_ERROR, PL_SIGNAL_ERROR_MALFORMED,
		                    "a service name starts with a letter or a digit");
		return FALSE;
	}
	if (!allow_reserved && g_str_has_prefix(name, PL_SIGNAL_RESERVED_PREFIX)) {
		g_set_error(error, PL_SIGNAL_ERROR, PL_SIGNAL_ERROR_MALFORMED,
		            "service names starting with \"%s\" are reserved for peerlink itself",
		            PL_SIGNAL_RESERVED_PREFIX);
		return FALSE;
	}
	return TRUE;
}

static gboolean
pl_signal_is_session_id(const gchar *id)
{
	if (id == NULL || strlen(id) != PL_SIGNAL_SESSION_ID_LEN)
		return FALSE;
	for (const gchar *p = id; *p != '\0'; p++) {
		if (!g_ascii_isdigit(*p) && !(*p >= 'a' && *p <= 'f'))
			return FALSE;
	}
	return TRUE;
}

/* ice-char = ALPHA / DIGIT / "+" / "/" (RFC 8839) */
static gboolean
pl_signal_is_ice_string(const gchar *text, gsize min_len)
{
	gsize len = text != NULL ? strlen(text) : 0;

	if (len < min_len || len > PL_SIGNAL_MAX_ICE_CRED_LEN)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_isalnum(text[i]) && text[i] != '+' && text[i] != '/')
			return FALSE;
	}
	return TRUE;
}

static gboolean
pl_signal_is_candidate(const gchar *line)
{
	gsize len = line != NULL ? strlen(line) : 0;

	if (len == 0 || len > PL_SIGNAL_MAX_CANDIDATE_LEN)
		return FALSE;
	if (!g_str_has_prefix(line, PL_SIGNAL_CANDIDATE_PREFIX))
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if ((guchar)line[i] < 0x20 || (guchar)line[i] > 0x7e)
			return FALSE;
	}
	return TRUE;
}

static gboolean
pl_signal_is_reason_code(const gchar *code)
{
	gsize len = code != NULL ? strlen(code) : 0;

	if (len == 0 || len > PL_SIGNAL_MAX_CODE_LEN)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_islower(code[i]) && !g_ascii_isdigit(code[i]) && code[i] != '-')
			return FALSE;
	}
	return TRUE;
}

static gboolean
pl_signal_is_reason_message(const gchar *message)
{
	if (strlen(message) > PL_SIGNAL_MAX_REASON_LEN)
		return FALSE;
	if (!g_utf8_validate(message, -1, NULL))
		return FALSE;
	for (const gchar *p = message; *p != '\0'; p = g_utf8_next_char(p)) {
		if (g_unichar_iscntrl(g_utf8_get_char(p)))
			return FALSE;
	}
	return TRUE;
}

gchar *
pl_signal_make_reason_message(const gchar *text)
{
	g_autofree gchar *valid = g_utf8_make_valid(text, -1);
	GString *message = g_string_new(NULL);

	for (const gchar *p = valid; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		gchar utf8[6];
		gint len = g_unichar_to_utf8(g_unichar_iscntrl(c) ? ' ' : c, utf8);
		if (message->len + (gsize)len > PL_SIGNAL_MAX_REASON_LEN)
			break;
		g_string_append_len(message, utf8, len);
	}
	return g_string_free(message, FALSE);
}

static gboolean
pl_signal_check_service(const PlSignal *signal, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	gboolean wanted = signal->type == PL_SIGNAL_TYPE_OFFER && signal->generation == 0;

	if (!wanted) {
		if (signal->service != NULL)
			return pl_signal_bad_field(error, "service",
			                           "is only allowed in an offer of generation 0");
		return TRUE;
	}
	if (signal->service == NULL)
		return pl_signal_bad_field(error, "service",
		                           "is required in an offer of generation 0");
	if (!pl_signal_check_service_name(signal->service, TRUE, &error_local)) {
		g_set_error(error, PL_SIGNAL_ERROR, PL_SIGNAL_ERROR_MALFORMED,
		            "field \"service\" is not a valid service name: %s",
		            error_local->message);
		return FALSE;
	}
	return TRUE;
}

static gboolean
pl_signal_check_ice_credentials(const PlSignal *signal, GError **error)
{
	if (!pl_signal_is_ice_string(signal->ufrag, PL_SIGNAL_MIN_UFRAG_LEN))
		return pl_signal_bad_field(
		        error, "ufrag", "must be 4 to 256 characters of A-Z, a-z, 0-9, '+', '/'");
	if (!pl_signal_is_ice_string(signal->pwd, PL_SIGNAL_MIN_PWD_LEN))
		return pl_signal_bad_field(
		        error, "pwd", "must be 22 to 256 characters of A-Z, a-z, 0-9, '+', '/'");
	return TRUE;
}

static gboolean
pl_signal_check_candidates(const PlSignal *signal, GError **error)
{
	if (signal->candidates == NULL)
		return TRUE;
	if (signal->candidates->len > PL_SIGNAL_MAX_CANDIDATES)
		return pl_signal_bad_field(error, "cands", "holds more than 64 candidates");
	for (guint i = 0; i < signal->candidates->len; i++) {
		if (!pl_signal_is_candidate(g_ptr_array_index(signal->candidates, i)))
			return pl_signal_bad_field(error, "cands",
			                           "must hold lines \"candidate:...\" of 1 to 512 "
			                           "printable ASCII characters");
	}
	return TRUE;
}

static gboolean
pl_signal_check_reason(const PlSignal *signal, GError **error)
{
	if (!pl_signal_is_reason_code(signal->reason_code))
		return pl_signal_bad_field(error, "code",
		                           "must be 1 to 64 characters of a-z, 0-9, '-'");
	if (signal->reason_message != NULL && !pl_signal_is_reason_message(signal->reason_message))
		return pl_signal_bad_field(error, "msg",
		                           "must be at most 256 bytes of UTF-8 text without "
		                           "control characters");
	return TRUE;
}

static gboolean
pl_signal_check_type_fields(const PlSignal *signal, GError **error)
{
	switch (signal->type) {
	case PL_SIGNAL_TYPE_OFFER:
	case PL_SIGNAL_TYPE_ANSWER:
		if (!pl_signal_check_ice_credentials(signal, error))
			return FALSE;
		return pl_signal_check_candidates(signal, error);
	case PL_SIGNAL_TYPE_CANDIDATES:
		return pl_signal_check_candidates(signal, error);
	case PL_SIGNAL_TYPE_REJECT:
	case PL_SIGNAL_TYPE_CLOSE:
		return pl_signal_check_reason(signal, error);
	default:
		return pl_signal_bad_field(error, "t", "is not a known signal type");
	}
}

/* everything but from, to and the timestamp */
static gboolean
pl_signal_check_fields(const PlSignal *signal, GError **error)
{
	if (pl_signal_type_to_string(signal->type) == NULL)
		return pl_signal_bad_field(error, "t", "is not a known signal type");
	if (!pl_signal_is_session_id(signal->session_id))
		return pl_signal_bad_field(error, "sid", "must be 32 lowercase hex digits");
	if (signal->seq < 1 || signal->seq > PL_SIGNAL_MAX_SEQ)
		return pl_signal_bad_field(error, "seq", "must be an integer from 1 to 2^53-1");
	if (signal->generation > PL_SIGNAL_MAX_GENERATION)
		return pl_signal_bad_field(error, "gen", "must be an integer from 0 to 1000");
	if (!pl_signal_check_service(signal, error))
		return FALSE;
	return pl_signal_check_type_fields(signal, error);
}

/* -------------------------------------------------------------------------- */
/* seal */

static gboolean
pl_signal_type_has_candidates(PlSignalType type)
{
	return type == PL_SIGNAL_TYPE_OFFER || type == PL_SIGNAL_TYPE_ANSWER ||
	       type == PL_SIGNAL_TYPE_CANDIDATES;
}

static void
pl_signal_add_string(JsonBuilder *builder, const gchar *name, const gchar *value)
{
	json_builder_set_member_name(builder, name);
	json_builder_add_string_value(builder, value);
}

static void
pl_signal_add_int(JsonBuilder *builder, const gchar *name, gint64 value)
{
	json_builder_set_member_name(builder, name);
	json_builder_add_int_value(builder, value);
}

static void
pl_signal_add_candidates(JsonBuilder *builder, const PlSignal *signal)
{
	json_builder_set_member_name(builder, "cands");
	json_builder_begin_array(builder);
	for (guint i = 0; signal->candidates != NULL && i < signal->candidates->len; i++)
		json_builder_add_string_value(builder, g_ptr_array_index(signal->candidates, i));
	json_builder_end_array(builder);
	json_builder_set_member_name(builder, "eoc");
	json_builder_add_boolean_value(builder, signal->end_of_candidates);
}

static void
pl_signal_add_type_members(JsonBuilder *builder, const PlSignal *signal)
{
	if (signal->service != NULL)
		pl_signal_add_string(builder, "service", signal->service);
	if (signal->type == PL_SIGNAL_TYPE_OFFER || signal->type == PL_SIGNAL_TYPE_ANSWER) {
		pl_signal_add_string(builder, "ufrag", signal->ufrag);
		pl_signal_add_string(builder, "pwd", signal->pwd);
	}
	if (pl_signal_type_has_candidates(signal->type))
		pl_signal_add_candidates(builder, signal);
	if (signal->type == PL_SIGNAL_TYPE_REJECT || signal->type == PL_SIGNAL_TYPE_CLOSE) {
		pl_signal_add_string(builder, "code", signal->reason_code);
		if (signal->reason_message != NULL)
			pl_signal_add_string(builder, "msg", signal->reason_message);
	}
}

/* the compact JSON text that is signed */
static gchar *
pl_signal_build_payload(const PlSignal *signal, const gchar *from, const gchar *to, gsize *len)
{
	g_autoptr(JsonBuilder) builder = json_builder_new_immutable();
	g_autoptr(JsonGenerator) generator = json_generator_new();
	g_autoptr(JsonNode) root = NULL;

	json_builder_begin_object(builder);
	pl_signal_add_string(builder, "t", pl_signal_type_to_string(signal->type));
	pl_signal_add_string(builder, "from", from);
	pl_signal_add_string(builder, "to", to);
	pl_signal_add_string(builder, "sid", signal->session_id);
	pl_signal_add_int(builder, "seq", (gint64)signal->seq);
	pl_signal_add_int(builder, "ts", signal->timestamp_ms);
	pl_signal_add_int(builder, "gen", signal->generation);
	pl_signal_add_type_members(builder, signal);
	json_builder_end_object(builder);

	root = json_builder_get_root(builder);
	json_generator_set_root(generator, root);
	json_generator_set_pretty(generator, FALSE);
	return json_generator_to_data(generator, len);
}

static gboolean
pl_signal_parse_peer_id(const gchar *text, const gchar *what, PlPeerId *out, GError **error)
{
	g_autoptr(GError) error_local = NULL;

	if (text == NULL) {
		g_set_error(error, PL_SIGNAL_ERROR, PL_SIGNAL_ERROR_MALFORMED, "%s is missing",
		            what);
		return FALSE;
	}
	if (!pl_peer_id_parse(text, out, &error_local)) {
		g_set_error(error, PL_SIGNAL_ERROR, PL_SIGNAL_ERROR_MALFORMED,
		            "%s is not a valid peer ID: %s", what, error_local->message);
		return FALSE;
	}
	return TRUE;
}

static gchar *
pl_signal_base64_encode(GBytes *bytes)
{
	gsize size = 0;
	const guint8 *data = g_bytes_get_data(bytes, &size);

	return g_base64_encode(data, size);
}

/* the canonical peer ID of the recipient, once the signal is fit to be sent by identity */
static gchar *
pl_signal_check_outgoing(const PlSignal *signal, PlIdentity *identity, GError **error)
{
	PlPeerId from_id;
	PlPeerId to_id;

	if (!pl_signal_parse_peer_id(signal->from, "field \"from\"", &from_id, error))
		return NULL;
	if (!pl_peer_id_equal(&from_id, pl_identity_get_peer_id(identity))) {
		g_set_error_literal(error, PL_SIGNAL_ERROR, PL_SIGNAL_ERROR_BAD_SIGNATURE,
		                    "field \"from\" is not the peer ID of the signing identity");
		return NULL;
	}
	if (!pl_signal_parse_peer_id(signal->to, "field \"to\"", &to_id, error))
		return NULL;
	if (!pl_signal_check_fields(signal, error))
		return NULL;
	return pl_peer_id_to_string(&to_id);
}

static JsonObject *
pl_signal_new_body(const gchar *payload, GBytes *key, GBytes *sig)
{
	g_autofree gchar *key_text = pl_signal_base64_encode(key);
	g_autofree gchar *sig_text = pl_signal_base64_encode(sig);
	JsonObject *body = json_object_new();

	json_object_set_string_member(body, "payload", payload);
	json_object_set_string_member(body, "key", key_text);
	json_object_set_string_member(body, "sig", sig_text);
	return body;
}

JsonObject *
pl_signal_seal(const PlSignal *signal, PlIdentity *identity, GError **error)
{
	g_autoptr(GBytes) key = NULL;
	g_autoptr(GBytes) data = NULL;
	g_autoptr(GBytes) sig = NULL;
	g_autofree gchar *to = NULL;
	g_autofree gchar *payload = NULL;
	gsize len = 0;

	g_return_val_if_fail(signal != NULL, NULL);
	g_return_val_if_fail(PL_IS_IDENTITY(identity), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	to = pl_signal_check_outgoing(signal, identity, error);
	if (to == NULL)
		return NULL;
	payload =
	        pl_signal_build_payload(signal, pl_identity_get_peer_id_string(identity), to, &len);
	if (len > PL_SIGNAL_MAX_PAYLOAD_SIZE) {
		g_set_error(error, PL_SIGNAL_ERROR, PL_SIGNAL_ERROR_MALFORMED,
		            "the payload has %" G_GSIZE_FORMAT " bytes, more than %d: send fewer "
		            "candidates per message",
		            len, PL_SIGNAL_MAX_PAYLOAD_SIZE);
		return NULL;
	}
	data = g_bytes_new_static(payload, len);
	sig = pl_identity_sign(identity, data, error);
	if (sig == NULL)
		return NULL;
	key = pl_identity_get_public_key(identity);
	return pl_signal_new_body(payload, key, sig);
}

/* -------------------------------------------------------------------------- */
/* open: the body */

/* canonical base64 (RFC 4648 §4, padded) of 1 to max_size bytes, else NULL */
static GBytes *
pl_signal_base64_decode(const gchar *text, gsize max_size)
{
	g_autofree guchar *data = NULL;
	g_autofree gchar *again = NULL;
	gsize len = strlen(text);
	gsize size = 0;

	if (len == 0 || len % 4 != 0 || len > (max_size + 2) / 3 * 4)
		return NULL;
	/* g_base64_decode() skips what is not base64: only accept what encodes back the same */
	data = g_base64_decode(text, &size);
	if (size == 0 || size > max_size)
		return NULL;
	again = g_base64_encode(data, size);
	if (strcmp(again, text) != 0)
		return NULL;
	return g_bytes_new_take(g_steal_pointer(&data), size);
}

static const gchar *
pl_signal_get_body_string(JsonObject *body, const gchar *field, GError **error)
{
	JsonNode *node = json_object_get_member(body, field);

	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING) {
		g_set_error(error, PL_SIGNAL_ERROR, PL_SIGNAL_ERROR_MALFORMED,
		            "the signal body needs a string \"%s\"", field);
		return NULL;
	}
	return json_node_get_string(node);
}

static GBytes *
pl_signal_get_body_bytes(
        JsonObject *body, const gchar *field, gsize min_size, gsize max_size, GError **error)
{
	g_autoptr(GBytes) bytes = NULL;
	const gchar *text = pl_signal_get_body_string(body, field, error);

	if (text == NULL)
		return NULL;
	bytes = pl_signal_base64_decode(text, max_size);
	if (bytes == NULL || g_bytes_get_size(bytes) < min_size) {
		g_set_error(error, PL_SIGNAL_ERROR, PL_SIGNAL_ERROR_MALFORMED,
		            "\"%s\" must be %" G_GSIZE_FORMAT " to %" G_GSIZE_FORMAT
		            " bytes in canonical base64",
		            field, min_size, max_size);
		return NULL;
	}
	return g_steal_pointer(&bytes);
}

static const gchar *
pl_signal_get_payload_text(JsonObject *body, GError **error)
{
	const gchar *payload = pl_signal_get_body_string(body, "payload", error);

	if (payload == NULL)
		return NULL;
	if (payload[0] == '\0' || strlen(payload) > PL_SIGNAL_MAX_PAYLOAD_SIZE) {
		g_set_error(error, PL_SIGNAL_ERROR, PL_SIGNAL_ERROR_MALFORMED,
		            "\"payload\" must have 1 to %d bytes", PL_SIGNAL_MAX_PAYLOAD_SIZE);
		return NULL;
	}
	return payload;
}

static gboolean
pl_signal_check_key(GBytes *key, const PlPeerId *from_id, GError **error)
{
	gsize size = 0;
	const guint8 *data = g_bytes_get_data(key, &size);
	PlPeerId key_id;

	pl_peer_id_from_public_key(data, size, &key_id);
	if (!pl_peer_id_equal(&key_id, from_id)) {
		g_set_error_literal(error, PL_SIGNAL_ERROR, PL_SIGNAL_ERROR_BAD_SIGNATURE,
		                    "the signal is signed with a key that is not the sender's");
		return FALSE;
	}
	return TRUE;
}

static gboolean
pl_signal_check_signature(const gchar *payload, GBytes *key, GBytes *sig, GError **error)
{
	g_autoptr(GBytes) data = g_bytes_new_static(payload, strlen(payload));
	g_autoptr(GError) error_local = NULL;

	if (!pl_identity_verify(key, data, sig, &error_local)) {
		g_set_error(error, PL_SIGNAL_ERROR, PL_SIGNAL_ERROR_BAD_SIGNATURE,
		            "the signature of the signal does not verify: %s",
		            error_local->message);
		return FALSE;
	}
	return TRUE;
}

/* -------------------------------------------------------------------------- */
/* open: the payload text */

static JsonObject *
pl_signal_parse_payload(const gchar *text, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autoptr(GError) error_local = NULL;
	JsonNode *root;

	/* plain RFC 8259 JSON, before json-glib's parser (json/): it recurses once per level,
	 * reads comments, leaks a second value or a bad escape, breaks lone surrogates */
	if (!g_utf8_validate(text, -1, NULL) ||
	    pl_json_check_strict(text, strlen(text), PL_SIGNAL_MAX_DEPTH, NULL) !=
	            PL_JSON_CHECK_OK) {
		g_set_error_literal(error, PL_SIGNAL_ERROR, PL_SIGNAL_ERROR_MALFORMED,
		                    "the payload is not plain JSON of at most 16 levels");
		return NULL;
	}
	if (!json_parser_load_from_data(parser, text, -1, &error_local)) {
		g_set_error(error, PL_SIGNAL_ERROR, PL_SIGNAL_ERROR_MALFORMED,
		            "the payload is not JSON: %s", error_local->message);
		return NULL;
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		g_set_error_literal(error, PL_SIGNAL_ERROR, PL_SIGNAL_ERROR_MALFORMED,
		                    "the payload is not a JSON object");
		return NULL;
	}
	return json_node_dup_object(root);
}

/* -------------------------------------------------------------------------- */
/* open: the payload members */

/*
 * A member holding a value of value_type, or an array for JSON_TYPE_ARRAY;
 * NULL without an error when it is absent and optional.
 */
static JsonNode *
pl_signal_get_member(JsonObject *object,
                     const gchar *field,
                     GType value_type,
                     gboolean required,
                     const gchar *must_be,
                     GError **error)
{
	JsonNode *node = json_object_get_member(object, field);

	if (node == NULL) {
		if (required)
			pl_signal_bad_field(error, field, "is missing");
		return NULL;
	}
	if (value_type == JSON_TYPE_ARRAY ? !JSON_NODE_HOLDS_ARRAY(node)
	                                  : (!JSON_NODE_HOLDS_VALUE(node) ||
	                                     json_node_get_value_type(node) != value_type)) {
		pl_signal_bad_field(error, field, must_be);
		return NULL;
	}
	return node;
}

static gboolean
pl_signal_get_string(
        JsonObject *object, const gchar *field, gboolean required, gchar **out, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	JsonNode *node = pl_signal_get_member(object, field, G_TYPE_STRING, required,
	                                      "must be a string", &error_local);

	if (error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	if (node != NULL)
		*out = g_strdup(json_node_get_string(node));
	return TRUE;
}

static gboolean
pl_signal_get_int(JsonObject *object,
                  const gchar *field,
                  gint64 min,
                  gint64 max,
                  const gchar *must_be,
                  gint64 *out,
                  GError **error)
{
	JsonNode *node = pl_signal_get_member(object, field, G_TYPE_INT64, TRUE, must_be, error);

	if (node == NULL)
		return FALSE;
	*out = json_node_get_int(node);
	if (*out < min || *out > max)
		return pl_signal_bad_field(error, field, must_be);
	return TRUE;
}

static gboolean
pl_signal_get_peer_id(JsonObject *object, const gchar *field, PlPeerId *out, GError **error)
{
	g_autofree gchar *text = NULL;
	g_autofree gchar *what = g_strdup_printf("field \"%s\"", field);

	if (!pl_signal_get_string(object, field, TRUE, &text, error))
		return FALSE;
	return pl_signal_parse_peer_id(text, what, out, error);
}

/* from, to and ts: the checks that tell MISDIRECTED and STALE apart */
static gboolean
pl_signal_read_envelope(JsonObject *payload,
                        const PlPeerId *from_id,
                        const PlPeerId *self_id,
                        gint64 now_ms,
                        PlSignal *signal,
                        GError **error)
{
	PlPeerId id;

	if (!pl_signal_get_peer_id(payload, "from", &id, error))
		return FALSE;
	if (!pl_peer_id_equal(&id, from_id)) {
		g_set_error_literal(error, PL_SIGNAL_ERROR, PL_SIGNAL_ERROR_MISDIRECTED,
		                    "field \"from\" is not the peer that sent the signal");
		return FALSE;
	}
	signal->from = pl_peer_id_to_string(&id);
	if (!pl_signal_get_peer_id(payload, "to", &id, error))
		return FALSE;
	if (!pl_peer_id_equal(&id, self_id)) {
		g_set_error_literal(error, PL_SIGNAL_ERROR, PL_SIGNAL_ERROR_MISDIRECTED,
		                    "field \"to\" names another peer");
		return FALSE;
	}
	signal->to = pl_peer_id_to_string(&id);
	if (!pl_signal_get_int(payload, "ts", G_MININT64, G_MAXINT64, "must be an integer",
	                       &signal->timestamp_ms, error))
		return FALSE;
	if (signal->timestamp_ms < now_ms - PL_SIGNAL_WINDOW_MS ||
	    signal->timestamp_ms > now_ms + PL_SIGNAL_WINDOW_MS) {
		/* no arithmetic on ts: it may be anything */
		g_set_error(error, PL_SIGNAL_ERROR, PL_SIGNAL_ERROR_STALE,
		            "field \"ts\" (%" G_GINT64_FORMAT ") is more than %d ms away from our "
		            "clock (%" G_GINT64_FORMAT ")",
		            signal->timestamp_ms, PL_SIGNAL_WINDOW_MS, now_ms);
		return FALSE;
	}
	return TRUE;
}

static gboolean
pl_signal_read_type(JsonObject *payload, PlSignal *signal, GError **error)
{
	g_autofree gchar *type = NULL;

	if (!pl_signal_get_string(payload, "t", TRUE, &type, error))
		return FALSE;
	if (!pl_signal_type_from_string(type, &signal->type))
		return pl_signal_bad_field(error, "t",
		                           "must be \"offer\", \"answer\", \"candidates\", "
		                           "\"reject\" or \"close\"");
	return TRUE;
}

static gboolean
pl_signal_read_common(JsonObject *payload, PlSignal *signal, GError **error)
{
	gint64 value = 0;

	if (!pl_signal_read_type(payload, signal, error))
		return FALSE;
	if (!pl_signal_get_string(payload, "sid", TRUE, &signal->session_id, error))
		return FALSE;
	if (!pl_signal_get_int(payload, "seq", 1, (gint64)PL_SIGNAL_MAX_SEQ,
	                       "must be an integer from 1 to 2^53-1", &value, error))
		return FALSE;
	signal->seq = (guint64)value;
	if (!pl_signal_get_int(payload, "gen", 0, PL_SIGNAL_MAX_GENERATION,
	                       "must be an integer from 0 to 1000", &value, error))
		return FALSE;
	signal->generation = (guint)value;
	return pl_signal_get_string(payload, "service", FALSE, &signal->service, error);
}

static gboolean
pl_signal_read_candidates(JsonObject *payload, PlSignal *signal, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	JsonNode *node;
	JsonArray *array;

	node = pl_signal_get_member(payload, "cands", JSON_TYPE_ARRAY, FALSE,
	                            "must be an array of strings", &error_local);
	if (error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	if (node == NULL)
		return TRUE;
	array = json_node_get_array(node);
	if (json_array_get_length(array) > PL_SIGNAL_MAX_CANDIDATES)
		return pl_signal_bad_field(error, "cands", "holds more than 64 candidates");
	for (guint i = 0; i < json_array_get_length(array); i++) {
		JsonNode *element = json_array_get_element(array, i);
		if (!JSON_NODE_HOLDS_VALUE(element) ||
		    json_node_get_value_type(element) != G_TYPE_STRING)
			return pl_signal_bad_field(error, "cands", "must be an array of strings");
		g_ptr_array_add(signal->candidates, g_strdup(json_node_get_string(element)));
	}
	return TRUE;
}

static gboolean
pl_signal_read_end_of_candidates(JsonObject *payload, PlSignal *signal, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	JsonNode *node = pl_signal_get_member(payload, "eoc", G_TYPE_BOOLEAN, FALSE,
	                                      "must be a boolean", &error_local);

	if (error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	signal->end_of_candidates = node != NULL && json_node_get_boolean(node);
	return TRUE;
}

/* only the members of the signal's type: the others are ignored */
static gboolean
pl_signal_read_type_members(JsonObject *payload, PlSignal *signal, GError **error)
{
	if (signal->type == PL_SIGNAL_TYPE_OFFER || signal->type == PL_SIGNAL_TYPE_ANSWER) {
		if (!pl_signal_get_string(payload, "ufrag", TRUE, &signal->ufrag, error))
			return FALSE;
		if (!pl_signal_get_string(payload, "pwd", TRUE, &signal->pwd, error))
			return FALSE;
	}
	if (pl_signal_type_has_candidates(signal->type)) {
		if (!pl_signal_read_candidates(payload, signal, error))
			return FALSE;
		return pl_signal_read_end_of_candidates(payload, signal, error);
	}
	if (signal->type == PL_SIGNAL_TYPE_REJECT || signal->type == PL_SIGNAL_TYPE_CLOSE) {
		if (!pl_signal_get_string(payload, "code", TRUE, &signal->reason_code, error))
			return FALSE;
		return pl_signal_get_string(payload, "msg", FALSE, &signal->reason_message, error);
	}
	return TRUE;
}

static PlSignal *
pl_signal_from_payload(JsonObject *payload,
                       const PlPeerId *from_id,
                       const PlPeerId *self_id,
                       gint64 now_ms,
                       GError **error)
{
	g_autoptr(PlSignal) signal = pl_signal_new(PL_SIGNAL_TYPE_OFFER);

	if (!pl_signal_read_envelope(payload, from_id, self_id, now_ms, signal, error))
		return NULL;
	if (!pl_signal_read_common(payload, signal, error))
		return NULL;
	if (!pl_signal_read_type_members(payload, signal, error))
		return NULL;
	if (!pl_signal_check_fields(signal, error))
		return NULL;
	return g_steal_pointer(&signal);
}

PlSignal *
pl_signal_open(JsonObject *body,
               const gchar *from,
               const gchar *self_peer_id,
               gint64 now_ms,
               GError **error)
{
	g_autoptr(GBytes) key = NULL;
	g_autoptr(GBytes) sig = NULL;
	g_autoptr(JsonObject) payload = NULL;
	const gchar *payload_text;
	PlPeerId from_id;
	PlPeerId self_id;

	g_return_val_if_fail(body != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	payload_text = pl_signal_get_payload_text(body, error);
	if (payload_text == NULL)
		return NULL;
	key = pl_signal_get_body_bytes(body, "key", 1, PL_SIGNAL_MAX_KEY_SIZE, error);
	if (key == NULL)
		return NULL;
	sig = pl_signal_get_body_bytes(body, "sig", PL_SIGNAL_SIGNATURE_SIZE,
	                               PL_SIGNAL_SIGNATURE_SIZE, error);
	if (sig == NULL)
		return NULL;
	if (!pl_signal_parse_peer_id(from, "the sender", &from_id, error))
		return NULL;
	if (!pl_signal_parse_peer_id(self_peer_id, "our own peer ID", &self_id, error))
		return NULL;

	if (!pl_signal_check_key(key, &from_id, error))
		return NULL;
	if (!pl_signal_check_signature(payload_text, key, sig, error))
		return NULL;

	payload = pl_signal_parse_payload(payload_text, error);
	if (payload == NULL)
		return NULL;
	return pl_signal_from_payload(payload, &from_id, &self_id, now_ms, error);
}
