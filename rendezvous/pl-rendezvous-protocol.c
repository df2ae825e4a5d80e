#include "config.h"

#include <string.h>

#include "pl-json-check.h"
#include "pl-rendezvous-protocol.h"

#define PL_RENDEZVOUS_SIGNATURE_SIZE   64
#define PL_RENDEZVOUS_MAX_KEY_SIZE     1024
#define PL_RENDEZVOUS_MAX_ID_LEN       128
#define PL_RENDEZVOUS_MESSAGE_ID_BYTES 16
#define PL_RENDEZVOUS_MAX_REF          G_GINT64_CONSTANT(9007199254740991) /* 2^53 - 1 */
#define PL_RENDEZVOUS_MAX_JSON_DEPTH   64 /* objects and arrays, the body itself included */

/* -------------------------------------------------------------------------- */
/* base64url */

gchar *
pl_rendezvous_base64url_encode(const guint8 *data, gsize len)
{
	g_autofree gchar *text = NULL;
	gsize n;

	g_return_val_if_fail(data != NULL || len == 0, NULL);

	text = g_base64_encode(data, len);
	n = strlen(text);
	while (n > 0 && text[n - 1] == '=')
		text[--n] = '\0';
	for (gsize i = 0; i < n; i++) {
		if (text[i] == '+')
			text[i] = '-';
		else if (text[i] == '/')
			text[i] = '_';
	}
	return g_steal_pointer(&text);
}

static gboolean
pl_rendezvous_base64url_char_is_valid(gchar c)
{
	return g_ascii_isalnum(c) || c == '-' || c == '_';
}

GBytes *
pl_rendezvous_base64url_decode(const gchar *text, GError **error)
{
	g_autoptr(GString) std = NULL;
	g_autofree guchar *data = NULL;
	g_autofree gchar *again = NULL;
	gsize len;
	gsize data_len = 0;

	g_return_val_if_fail(text != NULL, NULL);

	len = strlen(text);
	if (len % 4 == 1) {
		g_set_error_literal(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST,
		                    "invalid base64url: impossible length");
		return NULL;
	}
	std = g_string_sized_new(len + 3);
	for (gsize i = 0; i < len; i++) {
		gchar c = text[i];
		if (!pl_rendezvous_base64url_char_is_valid(c)) {
			g_set_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST,
			            "invalid base64url: unexpected character at offset "
			            "%" G_GSIZE_FORMAT,
			            i);
			return NULL;
		}
		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		g_string_append_c(std, c);
	}
	while (std->len % 4 != 0)
		g_string_append_c(std, '=');
	if (std->len == 0)
		return g_bytes_new(NULL, 0);
	data = g_base64_decode(std->str, &data_len);

	/* only the canonical encoding: unused trailing bits must be zero */
	again = pl_rendezvous_base64url_encode(data, data_len);
	if (g_strcmp0(again, text) != 0) {
		g_set_error_literal(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST,
		                    "invalid base64url: not canonical");
		return NULL;
	}
	return g_bytes_new_take(g_steal_pointer(&data), data_len);
}

/* -------------------------------------------------------------------------- */
/* audience and signed data */

static gint
pl_rendezvous_scheme_default_port(const gchar *scheme)
{
	/* as libsoup's soup_scheme_default_port() */
	if (scheme == NULL)
		return 0;
	if (g_ascii_strcasecmp(scheme, "http") == 0 || g_ascii_strcasecmp(scheme, "ws") == 0)
		return 80;
	if (g_ascii_strcasecmp(scheme, "https") == 0 || g_ascii_strcasecmp(scheme, "wss") == 0)
		return 443;
	if (g_ascii_strcasecmp(scheme, "ftp") == 0)
		return 21;
	return 0;
}

/*
 * libsoup 3 writes "Host: <host>" when the URI uses the scheme's default port
 * (or none) and "Host: <host>:<port>" otherwise, where an IPv6 literal is put
 * in brackets without its zone ID and a non-ASCII name is IDNA-encoded
 * (soup_uri_get_host_for_headers(), soup_uri_uses_default_port()).
 */
gchar *
pl_rendezvous_audience_from_uri(GUri *uri)
{
	const gchar *host;
	g_autofree gchar *host_for_headers = NULL;
	gint port;

	g_return_val_if_fail(uri != NULL, NULL);

	host = g_uri_get_host(uri);
	if (host == NULL || host[0] == '\0')
		return NULL;
	if (strchr(host, ':') != NULL)
		host_for_headers = g_strdup_printf("[%.*s]", (gint)strcspn(host, "%"), host);
	else if (g_hostname_is_non_ascii(host))
		host_for_headers = g_hostname_to_ascii(host);
	else
		host_for_headers = g_strdup(host);
	if (host_for_headers == NULL)
		return NULL;

	port = g_uri_get_port(uri);
	if (port == -1 || port == pl_rendezvous_scheme_default_port(g_uri_get_scheme(uri)))
		return g_steal_pointer(&host_for_headers);
	return g_strdup_printf("%s:%d", host_for_headers, port);
}

GBytes *
pl_rendezvous_auth_signed_data(const gchar *challenge, const gchar *peer_id, const gchar *audience)
{
	gchar *text;

	g_return_val_if_fail(challenge != NULL, NULL);
	g_return_val_if_fail(peer_id != NULL, NULL);
	g_return_val_if_fail(audience != NULL, NULL);

	text = g_strdup_printf("%s\n%s\n%s\n%s", PL_RENDEZVOUS_AUTH_CONTEXT, challenge, peer_id,
	                       audience);
	return g_bytes_new_take(text, strlen(text));
}

/* -------------------------------------------------------------------------- */
/* JSON helpers: never a critical on any input */

/* plain RFC 8259 JSON at most PL_RENDEZVOUS_MAX_JSON_DEPTH deep, before json-glib's parser
 * (json/): a body of '[' would overflow its stack, and it leaks or relays worse */
static gboolean
pl_rendezvous_check_plain_json(const gchar *text, gsize len, GError **error)
{
	gsize offset = 0;

	switch (pl_json_check_strict(text, len, PL_RENDEZVOUS_MAX_JSON_DEPTH, &offset)) {
	case PL_JSON_CHECK_OK:
		return TRUE;
	case PL_JSON_CHECK_TOO_DEEP:
		g_set_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST,
		            "the body nests deeper than %d levels", PL_RENDEZVOUS_MAX_JSON_DEPTH);
		return FALSE;
	case PL_JSON_CHECK_INVALID:
	default:
		g_set_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST,
		            "the body is not JSON: unexpected character at offset "
		            "%" G_GSIZE_FORMAT,
		            offset);
		return FALSE;
	}
}

static JsonNode *
pl_rendezvous_parse_root(const gchar *body, gsize len, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autoptr(GError) error_local = NULL;
	JsonNode *root;

	if (body == NULL || len == 0) {
		g_set_error_literal(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST,
		                    "the body is empty");
		return NULL;
	}
	if (len > G_MAXSSIZE) {
		g_set_error_literal(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_TOO_LARGE,
		                    "the body is too large");
		return NULL;
	}
	if (!g_utf8_validate(body, (gssize)len, NULL)) {
		g_set_error_literal(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST,
		                    "the body is not valid UTF-8");
		return NULL;
	}
	if (!pl_rendezvous_check_plain_json(body, len, error))
		return NULL;
	if (!json_parser_load_from_data(parser, body, (gssize)len, &error_local)) {
		g_set_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST,
		            "the body is not JSON: %s", error_local->message);
		return NULL;
	}
	root = json_parser_get_root(parser);
	if (root == NULL) {
		g_set_error_literal(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST,
		                    "the body is empty");
		return NULL;
	}
	return json_node_ref(root);
}

JsonObject *
pl_rendezvous_parse_object(const gchar *body, gsize len, GError **error)
{
	g_autoptr(JsonNode) root = pl_rendezvous_parse_root(body, len, error);

	if (root == NULL)
		return NULL;
	if (!JSON_NODE_HOLDS_OBJECT(root)) {
		g_set_error_literal(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST,
		                    "the body is not a JSON object");
		return NULL;
	}
	return json_node_dup_object(root);
}

static gchar *
pl_rendezvous_node_to_string(JsonNode *node)
{
	return json_to_string(node, FALSE);
}

gchar *
pl_rendezvous_object_to_string(JsonObject *object)
{
	g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);

	g_return_val_if_fail(object != NULL, NULL);
	json_node_set_object(node, object);
	return pl_rendezvous_node_to_string(node);
}

static gchar *
pl_rendezvous_builder_to_string(JsonBuilder *builder)
{
	g_autoptr(JsonNode) root = json_builder_get_root(builder);
	return pl_rendezvous_node_to_string(root);
}

static void
pl_rendezvous_set_bad_field(GError **error, const gchar *field, const gchar *what)
{
	g_set_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST, "\"%s\" %s", field,
	            what);
}

/* a member that must be present with a node of this type (and this value type) */
static JsonNode *
pl_rendezvous_get_member(JsonObject *object,
                         const gchar *field,
                         JsonNodeType node_type,
                         GType value_type,
                         const gchar *must_be,
                         GError **error)
{
	JsonNode *node = json_object_get_member(object, field);

	if (node == NULL) {
		pl_rendezvous_set_bad_field(error, field, "is missing");
		return NULL;
	}
	if (JSON_NODE_TYPE(node) != node_type ||
	    (node_type == JSON_NODE_VALUE && json_node_get_value_type(node) != value_type)) {
		pl_rendezvous_set_bad_field(error, field, must_be);
		return NULL;
	}
	return node;
}

static const gchar *
pl_rendezvous_get_string(JsonObject *object, const gchar *field, GError **error)
{
	JsonNode *node = pl_rendezvous_get_member(object, field, JSON_NODE_VALUE, G_TYPE_STRING,
	                                          "must be a string", error);

	return node != NULL ? json_node_get_string(node) : NULL;
}

static const gchar *
pl_rendezvous_get_nonempty_string(JsonObject *object,
                                  const gchar *field,
                                  gsize max_len,
                                  GError **error)
{
	const gchar *value = pl_rendezvous_get_string(object, field, error);

	if (value == NULL)
		return NULL;
	if (value[0] == '\0') {
		pl_rendezvous_set_bad_field(error, field, "must not be empty");
		return NULL;
	}
	if (max_len > 0 && strlen(value) > max_len) {
		pl_rendezvous_set_bad_field(error, field, "is too long");
		return NULL;
	}
	return value;
}

static gboolean
pl_rendezvous_get_int(JsonObject *object, const gchar *field, gint64 *value, GError **error)
{
	JsonNode *node = pl_rendezvous_get_member(object, field, JSON_NODE_VALUE, G_TYPE_INT64,
	                                          "must be an integer", error);

	if (node == NULL)
		return FALSE;
	*value = json_node_get_int(node);
	return TRUE;
}

static gboolean
pl_rendezvous_get_bool(JsonObject *object, const gchar *field, gboolean *value, GError **error)
{
	JsonNode *node = pl_rendezvous_get_member(object, field, JSON_NODE_VALUE, G_TYPE_BOOLEAN,
	                                          "must be a boolean", error);

	if (node == NULL)
		return FALSE;
	*value = json_node_get_boolean(node);
	return TRUE;
}

static JsonObject *
pl_rendezvous_get_object(JsonObject *object, const gchar *field, GError **error)
{
	JsonNode *node = pl_rendezvous_get_member(object, field, JSON_NODE_OBJECT, G_TYPE_INVALID,
	                                          "must be an object", error);

	return node != NULL ? json_node_get_object(node) : NULL;
}

static JsonArray *
pl_rendezvous_get_array(JsonObject *object, const gchar *field, GError **error)
{
	JsonNode *node = pl_rendezvous_get_member(object, field, JSON_NODE_ARRAY, G_TYPE_INVALID,
	                                          "must be an array", error);

	return node != NULL ? json_node_get_array(node) : NULL;
}

static gboolean
pl_rendezvous_get_peer_id(JsonObject *object, const gchar *field, PlPeerId *out, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	const gchar *text = pl_rendezvous_get_string(object, field, error);

	if (text == NULL)
		return FALSE;
	if (!pl_peer_id_parse(text, out, &error_local)) {
		g_set_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST,
		            "\"%s\" is not a valid peer ID: %s", field, error_local->message);
		return FALSE;
	}
	return TRUE;
}

/* a canonical peer ID string */
static gchar *
pl_rendezvous_get_peer_id_string(JsonObject *object, const gchar *field, GError **error)
{
	PlPeerId id = {0};

	if (!pl_rendezvous_get_peer_id(object, field, &id, error))
		return NULL;
	return pl_peer_id_to_string(&id);
}

static GBytes *
pl_rendezvous_get_base64(
        JsonObject *object, const gchar *field, gsize min_len, gsize max_len, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GBytes) bytes = NULL;
	const gchar *text = pl_rendezvous_get_string(object, field, error);

	if (text == NULL)
		return NULL;
	bytes = pl_rendezvous_base64url_decode(text, &error_local);
	if (bytes == NULL) {
		g_set_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST,
		            "\"%s\": %s", field, error_local->message);
		return NULL;
	}
	if (g_bytes_get_size(bytes) < min_len || g_bytes_get_size(bytes) > max_len) {
		if (min_len == max_len)
			g_set_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST,
			            "\"%s\" must hold %" G_GSIZE_FORMAT " bytes", field, min_len);
		else
			g_set_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST,
			            "\"%s\" must hold %" G_GSIZE_FORMAT " to %" G_GSIZE_FORMAT
			            " bytes",
			            field, min_len, max_len);
		return NULL;
	}
	return g_steal_pointer(&bytes);
}

/* a base64url token of 'size' bytes, kept as text */
static const gchar *
pl_rendezvous_get_token(JsonObject *object, const gchar *field, gsize size, GError **error)
{
	g_autoptr(GBytes) bytes = pl_rendezvous_get_base64(object, field, size, size, error);

	if (bytes == NULL)
		return NULL;
	return json_object_get_string_member(object, field);
}

static gboolean
pl_rendezvous_check_type(JsonObject *object, const gchar *expected, GError **error)
{
	const gchar *type = pl_rendezvous_get_string(object, "type", error);

	if (type == NULL)
		return FALSE;
	if (g_strcmp0(type, expected) != 0) {
		g_set_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST,
		            "\"type\" must be \"%s\"", expected);
		return FALSE;
	}
	return TRUE;
}

/* -------------------------------------------------------------------------- */
/* errors */

gchar *
pl_rendezvous_build_error(const GError *error)
{
	g_autoptr(JsonBuilder) builder = json_builder_new_immutable();
	PlRendezvousErrorCode code = PL_RENDEZVOUS_ERROR_FAILED;

	g_return_val_if_fail(error != NULL, NULL);

	if (error->domain == PL_RENDEZVOUS_ERROR)
		code = (PlRendezvousErrorCode)error->code;
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "error");
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "code");
	json_builder_add_string_value(builder, pl_rendezvous_error_to_string(code));
	json_builder_set_member_name(builder, "message");
	json_builder_add_string_value(builder, error->message != NULL ? error->message : "");
	json_builder_end_object(builder);
	json_builder_end_object(builder);
	return pl_rendezvous_builder_to_string(builder);
}

static PlRendezvousErrorCode
pl_rendezvous_error_from_http_status(guint http_status)
{
	switch (http_status) {
	case 400:
		return PL_RENDEZVOUS_ERROR_BAD_REQUEST;
	case 401:
		return PL_RENDEZVOUS_ERROR_UNAUTHORIZED;
	case 404:
		return PL_RENDEZVOUS_ERROR_NOT_FOUND;
	case 405:
		return PL_RENDEZVOUS_ERROR_METHOD_NOT_ALLOWED;
	case 413:
		return PL_RENDEZVOUS_ERROR_TOO_LARGE;
	case 415:
		return PL_RENDEZVOUS_ERROR_UNSUPPORTED_MEDIA_TYPE;
	case 429:
		return PL_RENDEZVOUS_ERROR_RATE_LIMITED;
	case 502:
	case 503:
	case 504:
		return PL_RENDEZVOUS_ERROR_UNAVAILABLE;
	default:
		return PL_RENDEZVOUS_ERROR_FAILED;
	}
}

/* the error object {"code","message"} as a GError; NULL if it is malformed */
static GError *
pl_rendezvous_error_from_object(JsonObject *object, GError **error)
{
	const gchar *code;
	const gchar *message;

	code = pl_rendezvous_get_nonempty_string(object, "code", 64, error);
	if (code == NULL)
		return NULL;
	message = pl_rendezvous_get_string(object, "message", error);
	if (message == NULL)
		return NULL;
	return g_error_new_literal(PL_RENDEZVOUS_ERROR, pl_rendezvous_error_from_string(code),
	                           message);
}

GError *
pl_rendezvous_parse_error_reply(guint http_status, const gchar *body, gsize len)
{
	g_autoptr(JsonObject) object = pl_rendezvous_parse_object(body, len, NULL);
	JsonObject *error_object = NULL;
	GError *result = NULL;

	if (object != NULL)
		error_object = pl_rendezvous_get_object(object, "error", NULL);
	if (error_object != NULL)
		result = pl_rendezvous_error_from_object(error_object, NULL);
	if (result == NULL) {
		return g_error_new(PL_RENDEZVOUS_ERROR,
		                   pl_rendezvous_error_from_http_status(http_status),
		                   "the service answered HTTP %u", http_status);
	}
	/* a code this client does not know: judge by the status */
	if (result->code == PL_RENDEZVOUS_ERROR_FAILED && http_status != 500)
		result->code = pl_rendezvous_error_from_http_status(http_status);
	return result;
}

gboolean
pl_rendezvous_kind_is_valid(const gchar *kind)
{
	gsize len;

	if (kind == NULL)
		return FALSE;
	len = strlen(kind);
	if (len < 1 || len > PL_RENDEZVOUS_MAX_KIND_LEN)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (!(g_ascii_islower(kind[i]) || g_ascii_isdigit(kind[i]) || kind[i] == '-'))
			return FALSE;
	}
	return TRUE;
}

gchar *
pl_rendezvous_message_id_new(void)
{
	static const gchar hex[] = "0123456789abcdef";
	gchar *id = g_new(gchar, PL_RENDEZVOUS_MESSAGE_ID_BYTES * 2 + 1);

	/* on every message's path: no printf */
	for (guint i = 0; i < PL_RENDEZVOUS_MESSAGE_ID_BYTES / 4; i++) {
		guint32 value = g_random_int();
		for (guint j = 0; j < 8; j++)
			id[i * 8 + j] = hex[(value >> (28 - 4 * j)) & 0xf];
	}
	id[PL_RENDEZVOUS_MESSAGE_ID_BYTES * 2] = '\0';
	return id;
}

gboolean
pl_rendezvous_message_id_is_valid(const gchar *id)
{
	if (id == NULL || strlen(id) != PL_RENDEZVOUS_MESSAGE_ID_BYTES * 2)
		return FALSE;
	for (const gchar *p = id; *p != '\0'; p++) {
		if (!g_ascii_isxdigit(*p) || g_ascii_isupper(*p))
			return FALSE;
	}
	return TRUE;
}

/* -------------------------------------------------------------------------- */
/* POST /v1/auth/challenge */

gchar *
pl_rendezvous_build_challenge_request(const gchar *peer_id)
{
	g_autoptr(JsonBuilder) builder = json_builder_new_immutable();

	g_return_val_if_fail(peer_id != NULL, NULL);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "peer_id");
	json_builder_add_string_value(builder, peer_id);
	json_builder_end_object(builder);
	return pl_rendezvous_builder_to_string(builder);
}

gboolean
pl_rendezvous_parse_challenge_request(const gchar *body,
                                      gsize len,
                                      PlPeerId *peer_id,
                                      GError **error)
{
	g_autoptr(JsonObject) object = pl_rendezvous_parse_object(body, len, error);

	g_return_val_if_fail(peer_id != NULL, FALSE);

	if (object == NULL)
		return FALSE;
	return pl_rendezvous_get_peer_id(object, "peer_id", peer_id, error);
}

gchar *
pl_rendezvous_build_challenge_reply(const gchar *challenge, const gchar *audience, guint expires_in)
{
	g_autoptr(JsonBuilder) builder = json_builder_new_immutable();

	g_return_val_if_fail(challenge != NULL, NULL);
	g_return_val_if_fail(audience != NULL, NULL);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "challenge");
	json_builder_add_string_value(builder, challenge);
	json_builder_set_member_name(builder, "audience");
	json_builder_add_string_value(builder, audience);
	json_builder_set_member_name(builder, "expires_in");
	json_builder_add_int_value(builder, expires_in);
	json_builder_end_object(builder);
	return pl_rendezvous_builder_to_string(builder);
}

gboolean
pl_rendezvous_parse_challenge_reply(
        const gchar *body, gsize len, gchar **challenge, gchar **audience, GError **error)
{
	g_autoptr(JsonObject) object = pl_rendezvous_parse_object(body, len, error);
	const gchar *challenge_tmp;
	const gchar *audience_tmp;
	gint64 expires_in = 0;

	if (object == NULL)
		return FALSE;
	challenge_tmp =
	        pl_rendezvous_get_token(object, "challenge", PL_RENDEZVOUS_CHALLENGE_SIZE, error);
	if (challenge_tmp == NULL)
		return FALSE;
	audience_tmp = pl_rendezvous_get_nonempty_string(object, "audience", 1024, error);
	if (audience_tmp == NULL)
		return FALSE;
	if (!pl_rendezvous_get_int(object, "expires_in", &expires_in, error))
		return FALSE;
	if (challenge != NULL)
		*challenge = g_strdup(challenge_tmp);
	if (audience != NULL)
		*audience = g_strdup(audience_tmp);
	return TRUE;
}

/* -------------------------------------------------------------------------- */
/* POST /v1/auth/session */

void
pl_rendezvous_session_request_free(PlRendezvousSessionRequest *self)
{
	if (self == NULL)
		return;
	g_clear_pointer(&self->public_key, g_bytes_unref);
	g_clear_pointer(&self->signature, g_bytes_unref);
	g_free(self->challenge);
	g_free(self);
}

gchar *
pl_rendezvous_build_session_request(PlIdentity *identity,
                                    const gchar *challenge,
                                    const gchar *audience,
                                    GError **error)
{
	g_autoptr(JsonBuilder) builder = json_builder_new_immutable();
	g_autoptr(GBytes) data = NULL;
	g_autoptr(GBytes) signature = NULL;
	g_autoptr(GBytes) public_key = NULL;
	g_autofree gchar *public_key_text = NULL;
	g_autofree gchar *signature_text = NULL;
	const gchar *peer_id;

	g_return_val_if_fail(PL_IS_IDENTITY(identity), NULL);
	g_return_val_if_fail(challenge != NULL, NULL);
	g_return_val_if_fail(audience != NULL, NULL);

	peer_id = pl_identity_get_peer_id_string(identity);
	data = pl_rendezvous_auth_signed_data(challenge, peer_id, audience);
	signature = pl_identity_sign(identity, data, error);
	if (signature == NULL)
		return NULL;
	public_key = pl_identity_get_public_key(identity);
	public_key_text = pl_rendezvous_base64url_encode(g_bytes_get_data(public_key, NULL),
	                                                 g_bytes_get_size(public_key));
	signature_text = pl_rendezvous_base64url_encode(g_bytes_get_data(signature, NULL),
	                                                g_bytes_get_size(signature));

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "peer_id");
	json_builder_add_string_value(builder, peer_id);
	json_builder_set_member_name(builder, "public_key");
	json_builder_add_string_value(builder, public_key_text);
	json_builder_set_member_name(builder, "challenge");
	json_builder_add_string_value(builder, challenge);
	json_builder_set_member_name(builder, "signature");
	json_builder_add_string_value(builder, signature_text);
	json_builder_end_object(builder);
	return pl_rendezvous_builder_to_string(builder);
}

PlRendezvousSessionRequest *
pl_rendezvous_parse_session_request(const gchar *body, gsize len, GError **error)
{
	g_autoptr(JsonObject) object = pl_rendezvous_parse_object(body, len, error);
	g_autoptr(PlRendezvousSessionRequest) request = g_new0(PlRendezvousSessionRequest, 1);
	const gchar *challenge;

	if (object == NULL)
		return NULL;
	if (!pl_rendezvous_get_peer_id(object, "peer_id", &request->peer_id, error))
		return NULL;
	request->public_key = pl_rendezvous_get_base64(object, "public_key", 1,
	                                               PL_RENDEZVOUS_MAX_KEY_SIZE, error);
	if (request->public_key == NULL)
		return NULL;
	challenge =
	        pl_rendezvous_get_token(object, "challenge", PL_RENDEZVOUS_CHALLENGE_SIZE, error);
	if (challenge == NULL)
		return NULL;
	request->challenge = g_strdup(challenge);
	request->signature =
	        pl_rendezvous_get_base64(object, "signature", PL_RENDEZVOUS_SIGNATURE_SIZE,
	                                 PL_RENDEZVOUS_SIGNATURE_SIZE, error);
	if (request->signature == NULL)
		return NULL;
	return g_steal_pointer(&request);
}

gboolean
pl_rendezvous_verify_session_request(PlRendezvousSessionRequest *request,
                                     const gchar *audience,
                                     GError **error)
{
	PlPeerId key_id = {0};
	g_autofree gchar *peer_id = NULL;
	g_autoptr(GBytes) data = NULL;
	g_autoptr(GError) error_local = NULL;

	g_return_val_if_fail(request != NULL, FALSE);
	g_return_val_if_fail(audience != NULL, FALSE);

	pl_peer_id_from_public_key(g_bytes_get_data(request->public_key, NULL),
	                           g_bytes_get_size(request->public_key), &key_id);
	if (!pl_peer_id_equal(&key_id, &request->peer_id)) {
		g_set_error_literal(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_AUTH_FAILED,
		                    "the public key does not match the peer ID");
		return FALSE;
	}
	peer_id = pl_peer_id_to_string(&request->peer_id);
	data = pl_rendezvous_auth_signed_data(request->challenge, peer_id, audience);
	if (!pl_identity_verify(request->public_key, data, request->signature, &error_local)) {
		g_set_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_AUTH_FAILED,
		            "the signature does not verify: %s", error_local->message);
		return FALSE;
	}
	return TRUE;
}

/* -------------------------------------------------------------------------- */
/* the ice object */

static void
pl_rendezvous_add_empty_ice(JsonBuilder *builder)
{
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "stun");
	json_builder_begin_array(builder);
	json_builder_end_array(builder);
	json_builder_set_member_name(builder, "turn");
	json_builder_begin_array(builder);
	json_builder_end_array(builder);
	json_builder_end_object(builder);
}

static gboolean
pl_rendezvous_check_string_array(JsonArray *array, const gchar *field, GError **error)
{
	for (guint i = 0; i < json_array_get_length(array); i++) {
		JsonNode *node = json_array_get_element(array, i);
		if (!JSON_NODE_HOLDS_VALUE(node) ||
		    json_node_get_value_type(node) != G_TYPE_STRING) {
			pl_rendezvous_set_bad_field(error, field, "must hold only strings");
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
pl_rendezvous_check_ice(JsonObject *ice, GError **error)
{
	JsonArray *stun;
	JsonArray *turn;

	stun = pl_rendezvous_get_array(ice, "stun", error);
	if (stun == NULL)
		return FALSE;
	if (!pl_rendezvous_check_string_array(stun, "stun", error))
		return FALSE;
	turn = pl_rendezvous_get_array(ice, "turn", error);
	if (turn == NULL)
		return FALSE;
	for (guint i = 0; i < json_array_get_length(turn); i++) {
		JsonNode *node = json_array_get_element(turn, i);
		JsonObject *server;
		JsonArray *urls;
		gint64 ttl = 0;

		if (!JSON_NODE_HOLDS_OBJECT(node)) {
			pl_rendezvous_set_bad_field(error, "turn", "must hold only objects");
			return FALSE;
		}
		server = json_node_get_object(node);
		urls = pl_rendezvous_get_array(server, "urls", error);
		if (urls == NULL)
			return FALSE;
		if (!pl_rendezvous_check_string_array(urls, "urls", error))
			return FALSE;
		if (pl_rendezvous_get_string(server, "username", error) == NULL)
			return FALSE;
		if (pl_rendezvous_get_string(server, "credential", error) == NULL)
			return FALSE;
		if (!pl_rendezvous_get_int(server, "ttl", &ttl, error))
			return FALSE;
	}
	return TRUE;
}

JsonObject *
pl_rendezvous_parse_ice_reply(const gchar *body, gsize len, GError **error)
{
	g_autoptr(JsonObject) object = pl_rendezvous_parse_object(body, len, error);

	if (object == NULL)
		return NULL;
	if (!pl_rendezvous_check_ice(object, error))
		return NULL;
	return g_steal_pointer(&object);
}

/* -------------------------------------------------------------------------- */
/* session reply */

void
pl_rendezvous_session_free(PlRendezvousSession *self)
{
	if (self == NULL)
		return;
	g_free(self->token);
	g_free(self->peer_id);
	g_clear_pointer(&self->ice, json_object_unref);
	g_free(self);
}

gchar *
pl_rendezvous_build_session_reply(const gchar *token,
                                  const gchar *peer_id,
                                  gint64 expires_in,
                                  JsonObject *ice)
{
	g_autoptr(JsonBuilder) builder = json_builder_new_immutable();

	g_return_val_if_fail(token != NULL, NULL);
	g_return_val_if_fail(peer_id != NULL, NULL);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "token");
	json_builder_add_string_value(builder, token);
	json_builder_set_member_name(builder, "peer_id");
	json_builder_add_string_value(builder, peer_id);
	json_builder_set_member_name(builder, "expires_in");
	json_builder_add_int_value(builder, expires_in);
	json_builder_set_member_name(builder, "ice");
	if (ice != NULL) {
		JsonNode *node = json_node_new(JSON_NODE_OBJECT);
		json_node_set_object(node, ice);
		json_builder_add_value(builder, node);
	} else {
		pl_rendezvous_add_empty_ice(builder);
	}
	json_builder_end_object(builder);
	return pl_rendezvous_builder_to_string(builder);
}

PlRendezvousSession *
pl_rendezvous_parse_session_reply(const gchar *body, gsize len, GError **error)
{
	g_autoptr(JsonObject) object = pl_rendezvous_parse_object(body, len, error);
	g_autoptr(PlRendezvousSession) session = g_new0(PlRendezvousSession, 1);
	const gchar *token;
	JsonObject *ice;

	if (object == NULL)
		return NULL;
	token = pl_rendezvous_get_token(object, "token", PL_RENDEZVOUS_TOKEN_SIZE, error);
	if (token == NULL)
		return NULL;
	session->token = g_strdup(token);
	session->peer_id = pl_rendezvous_get_peer_id_string(object, "peer_id", error);
	if (session->peer_id == NULL)
		return NULL;
	if (!pl_rendezvous_get_int(object, "expires_in", &session->expires_in, error))
		return NULL;
	ice = pl_rendezvous_get_object(object, "ice", error);
	if (ice == NULL)
		return NULL;
	if (!pl_rendezvous_check_ice(ice, error))
		return NULL;
	session->ice = json_object_ref(ice);
	return g_steal_pointer(&session);
}

/* -------------------------------------------------------------------------- */
/* POST /v1/messages reply, GET /v1/peers/<id> reply */

gchar *
pl_rendezvous_build_message_reply(const gchar *id)
{
	g_autoptr(JsonBuilder) builder = json_builder_new_immutable();

	g_return_val_if_fail(id != NULL, NULL);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "id");
	json_builder_add_string_value(builder, id);
	json_builder_end_object(builder);
	return pl_rendezvous_builder_to_string(builder);
}

gchar *
pl_rendezvous_parse_message_reply(const gchar *body, gsize len, GError **error)
{
	g_autoptr(JsonObject) object = pl_rendezvous_parse_object(body, len, error);
	const gchar *id;

	if (object == NULL)
		return NULL;
	id = pl_rendezvous_get_nonempty_string(object, "id", PL_RENDEZVOUS_MAX_ID_LEN, error);
	return g_strdup(id);
}

gchar *
pl_rendezvous_build_peer_reply(const gchar *peer_id, gboolean online)
{
	g_autoptr(JsonBuilder) builder = json_builder_new_immutable();

	g_return_val_if_fail(peer_id != NULL, NULL);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "peer_id");
	json_builder_add_string_value(builder, peer_id);
	json_builder_set_member_name(builder, "online");
	json_builder_add_boolean_value(builder, online);
	json_builder_end_object(builder);
	return pl_rendezvous_builder_to_string(builder);
}

gboolean
pl_rendezvous_parse_peer_reply(const gchar *body, gsize len, gboolean *online, GError **error)
{
	g_autoptr(JsonObject) object = pl_rendezvous_parse_object(body, len, error);
	PlPeerId id = {0};
	gboolean online_tmp = FALSE;

	if (object == NULL)
		return FALSE;
	if (!pl_rendezvous_get_peer_id(object, "peer_id", &id, error))
		return FALSE;
	if (!pl_rendezvous_get_bool(object, "online", &online_tmp, error))
		return FALSE;
	if (online != NULL)
		*online = online_tmp;
	return TRUE;
}

/* -------------------------------------------------------------------------- */
/* messages */

void
pl_rendezvous_message_free(PlRendezvousMessage *self)
{
	if (self == NULL)
		return;
	g_free(self->id);
	g_free(self->from);
	g_free(self->to);
	g_free(self->kind);
	g_clear_pointer(&self->body, json_object_unref);
	g_free(self);
}

static void
pl_rendezvous_builder_add_object(JsonBuilder *builder, JsonObject *object)
{
	JsonNode *node = json_node_new(JSON_NODE_OBJECT);

	if (object != NULL) {
		json_node_set_object(node, object);
	} else {
		g_autoptr(JsonObject) empty = json_object_new();
		json_node_set_object(node, empty);
	}
	json_builder_add_value(builder, node);
}

/* the "message" frame; "to" only when set (inboxes are per recipient) */
gchar *
pl_rendezvous_message_to_json(PlRendezvousMessage *self)
{
	g_autoptr(JsonBuilder) builder = json_builder_new_immutable();

	g_return_val_if_fail(self != NULL, NULL);
	g_return_val_if_fail(self->id != NULL, NULL);
	g_return_val_if_fail(self->from != NULL, NULL);
	g_return_val_if_fail(self->kind != NULL, NULL);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "type");
	json_builder_add_string_value(builder, "message");
	json_builder_set_member_name(builder, "id");
	json_builder_add_string_value(builder, self->id);
	json_builder_set_member_name(builder, "from");
	json_builder_add_string_value(builder, self->from);
	if (self->to != NULL) {
		json_builder_set_member_name(builder, "to");
		json_builder_add_string_value(builder, self->to);
	}
	json_builder_set_member_name(builder, "kind");
	json_builder_add_string_value(builder, self->kind);
	json_builder_set_member_name(builder, "body");
	pl_rendezvous_builder_add_object(builder, self->body);
	json_builder_set_member_name(builder, "sent_at");
	json_builder_add_int_value(builder, self->sent_at);
	json_builder_end_object(builder);
	return pl_rendezvous_builder_to_string(builder);
}

/* characters that never need escaping in a JSON string: ids, peer IDs, kinds */
static gboolean
pl_rendezvous_is_plain_token(const gchar *text)
{
	for (const gchar *p = text; *p != '\0'; p++) {
		if (!g_ascii_isalnum(*p) && *p != '-')
			return FALSE;
	}
	return TRUE;
}

/*
 * The same bytes as pl_rendezvous_message_to_json(), for a body the caller has
 * already serialised (to check its size): every message passes here, and a
 * second trip of the body through JsonBuilder and JsonGenerator costs more
 * than the rest of relaying it.
 */
gchar *
pl_rendezvous_message_to_json_with_body(PlRendezvousMessage *self, const gchar *body_text)
{
	gchar sent_at[G_ASCII_DTOSTR_BUF_SIZE];

	g_return_val_if_fail(self != NULL && body_text != NULL, NULL);

	if (!pl_rendezvous_is_plain_token(self->id) || !pl_rendezvous_is_plain_token(self->from) ||
	    !pl_rendezvous_is_plain_token(self->kind) ||
	    (self->to != NULL && !pl_rendezvous_is_plain_token(self->to)))
		return pl_rendezvous_message_to_json(self);
	g_snprintf(sent_at, sizeof(sent_at), "%" G_GINT64_FORMAT, self->sent_at);
	return g_strconcat("{\"type\":\"message\",\"id\":\"", self->id, "\",\"from\":\"",
	                   self->from, self->to != NULL ? "\",\"to\":\"" : "",
	                   self->to != NULL ? self->to : "", "\",\"kind\":\"", self->kind,
	                   "\",\"body\":", body_text, ",\"sent_at\":", sent_at, "}", NULL);
}

static gboolean
pl_rendezvous_check_kind(JsonObject *object, const gchar **kind, GError **error)
{
	const gchar *value = pl_rendezvous_get_string(object, "kind", error);

	if (value == NULL)
		return FALSE;
	if (!pl_rendezvous_kind_is_valid(value)) {
		pl_rendezvous_set_bad_field(error, "kind",
		                            "must be 1 to 32 characters of a-z, 0-9 and -");
		return FALSE;
	}
	*kind = value;
	return TRUE;
}

static PlRendezvousMessage *
pl_rendezvous_message_from_object(JsonObject *object, GError **error)
{
	g_autoptr(PlRendezvousMessage) message = g_new0(PlRendezvousMessage, 1);
	const gchar *id;
	const gchar *kind = NULL;
	JsonObject *body;

	if (json_object_has_member(object, "type")) {
		if (!pl_rendezvous_check_type(object, "message", error))
			return NULL;
	}
	id = pl_rendezvous_get_nonempty_string(object, "id", PL_RENDEZVOUS_MAX_ID_LEN, error);
	if (id == NULL)
		return NULL;
	message->id = g_strdup(id);
	message->from = pl_rendezvous_get_peer_id_string(object, "from", error);
	if (message->from == NULL)
		return NULL;
	if (json_object_has_member(object, "to")) {
		message->to = pl_rendezvous_get_peer_id_string(object, "to", error);
		if (message->to == NULL)
			return NULL;
	}
	if (!pl_rendezvous_check_kind(object, &kind, error))
		return NULL;
	message->kind = g_strdup(kind);
	body = pl_rendezvous_get_object(object, "body", error);
	if (body == NULL)
		return NULL;
	message->body = json_object_ref(body);
	if (!pl_rendezvous_get_int(object, "sent_at", &message->sent_at, error))
		return NULL;
	return g_steal_pointer(&message);
}

PlRendezvousMessage *
pl_rendezvous_message_from_json(const gchar *text, gsize len, GError **error)
{
	g_autoptr(JsonObject) object = pl_rendezvous_parse_object(text, len, error);

	if (object == NULL)
		return NULL;
	return pl_rendezvous_message_from_object(object, error);
}

/* -------------------------------------------------------------------------- */
/* send */

void
pl_rendezvous_send_free(PlRendezvousSend *self)
{
	if (self == NULL)
		return;
	g_free(self->to);
	g_free(self->kind);
	g_clear_pointer(&self->body, json_object_unref);
	g_free(self);
}

gchar *
pl_rendezvous_build_send(gint64 ref, const gchar *to, const gchar *kind, JsonObject *body)
{
	g_autoptr(JsonBuilder) builder = json_builder_new_immutable();

	g_return_val_if_fail(to != NULL, NULL);
	g_return_val_if_fail(kind != NULL, NULL);

	json_builder_begin_object(builder);
	if (ref >= 0) {
		json_builder_set_member_name(builder, "type");
		json_builder_add_string_value(builder, "send");
		json_builder_set_member_name(builder, "ref");
		json_builder_add_int_value(builder, ref);
	}
	json_builder_set_member_name(builder, "to");
	json_builder_add_string_value(builder, to);
	json_builder_set_member_name(builder, "kind");
	json_builder_add_string_value(builder, kind);
	json_builder_set_member_name(builder, "body");
	pl_rendezvous_builder_add_object(builder, body);
	json_builder_end_object(builder);
	return pl_rendezvous_builder_to_string(builder);
}

static gboolean
pl_rendezvous_get_ref(JsonObject *object, gint64 *ref, GError **error)
{
	if (!pl_rendezvous_get_int(object, "ref", ref, error))
		return FALSE;
	if (*ref < 0 || *ref > PL_RENDEZVOUS_MAX_REF) {
		pl_rendezvous_set_bad_field(error, "ref", "must be an integer from 0 to 2^53-1");
		return FALSE;
	}
	return TRUE;
}

/* an HTTP body has no "ref"; a WebSocket "send" frame has one */
PlRendezvousSend *
pl_rendezvous_parse_send(JsonObject *object, gsize max_body_size, GError **error)
{
	g_autoptr(PlRendezvousSend) send = g_new0(PlRendezvousSend, 1);
	g_autofree gchar *body_text = NULL;
	const gchar *kind = NULL;
	JsonObject *body;

	g_return_val_if_fail(object != NULL, NULL);

	send->ref = -1;
	if (json_object_has_member(object, "ref")) {
		if (!pl_rendezvous_get_ref(object, &send->ref, error))
			return NULL;
	}
	send->to = pl_rendezvous_get_peer_id_string(object, "to", error);
	if (send->to == NULL)
		return NULL;
	if (!pl_rendezvous_check_kind(object, &kind, error))
		return NULL;
	send->kind = g_strdup(kind);
	body = pl_rendezvous_get_object(object, "body", error);
	if (body == NULL)
		return NULL;
	if (max_body_size > 0) {
		body_text = pl_rendezvous_object_to_string(body);
		if (strlen(body_text) > max_body_size) {
			g_set_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_TOO_LARGE,
			            "\"body\" is larger than %" G_GSIZE_FORMAT " bytes",
			            max_body_size);
			return NULL;
		}
	}
	send->body = json_object_ref(body);
	return g_steal_pointer(&send);
}

/* -------------------------------------------------------------------------- */
/* WebSocket frames */

void
pl_rendezvous_frame_free(PlRendezvousFrame *self)
{
	if (self == NULL)
		return;
	g_free(self->id);
	g_clear_pointer(&self->message, pl_rendezvous_message_free);
	g_clear_pointer(&self->send, pl_rendezvous_send_free);
	g_clear_error(&self->error);
	g_free(self);
}

gint64
pl_rendezvous_frame_get_ref(JsonObject *object)
{
	gint64 ref = -1;

	if (object == NULL)
		return -1;
	if (!json_object_has_member(object, "ref"))
		return -1;
	if (!pl_rendezvous_get_ref(object, &ref, NULL))
		return -1;
	return ref;
}

PlRendezvousFrame *
pl_rendezvous_frame_parse_object(JsonObject *object, gsize max_body_size, GError **error)
{
	g_autoptr(PlRendezvousFrame) frame = g_new0(PlRendezvousFrame, 1);
	const gchar *type;

	g_return_val_if_fail(object != NULL, NULL);

	frame->ref = -1;
	type = pl_rendezvous_get_string(object, "type", error);
	if (type == NULL)
		return NULL;

	if (g_strcmp0(type, "send") == 0) {
		frame->type = PL_RENDEZVOUS_FRAME_SEND;
		if (!pl_rendezvous_get_ref(object, &frame->ref, error))
			return NULL;
		frame->send = pl_rendezvous_parse_send(object, max_body_size, error);
		if (frame->send == NULL)
			return NULL;
	} else if (g_strcmp0(type, "ack") == 0) {
		const gchar *id;
		frame->type = PL_RENDEZVOUS_FRAME_ACK;
		id = pl_rendezvous_get_nonempty_string(object, "id", PL_RENDEZVOUS_MAX_ID_LEN,
		                                       error);
		if (id == NULL)
			return NULL;
		frame->id = g_strdup(id);
	} else if (g_strcmp0(type, "ping") == 0) {
		frame->type = PL_RENDEZVOUS_FRAME_PING;
	} else if (g_strcmp0(type, "pong") == 0) {
		frame->type = PL_RENDEZVOUS_FRAME_PONG;
	} else if (g_strcmp0(type, "message") == 0) {
		frame->type = PL_RENDEZVOUS_FRAME_MESSAGE;
		frame->message = pl_rendezvous_message_from_object(object, error);
		if (frame->message == NULL)
			return NULL;
	} else if (g_strcmp0(type, "sent") == 0) {
		const gchar *id;
		frame->type = PL_RENDEZVOUS_FRAME_SENT;
		if (!pl_rendezvous_get_ref(object, &frame->ref, error))
			return NULL;
		id = pl_rendezvous_get_nonempty_string(object, "id", PL_RENDEZVOUS_MAX_ID_LEN,
		                                       error);
		if (id == NULL)
			return NULL;
		frame->id = g_strdup(id);
	} else if (g_strcmp0(type, "error") == 0) {
		JsonNode *ref_node = json_object_get_member(object, "ref");
		JsonObject *error_object;
		frame->type = PL_RENDEZVOUS_FRAME_ERROR;
		if (ref_node == NULL) {
			pl_rendezvous_set_bad_field(error, "ref", "is missing");
			return NULL;
		}
		if (!JSON_NODE_HOLDS_NULL(ref_node)) {
			if (!pl_rendezvous_get_ref(object, &frame->ref, error))
				return NULL;
		}
		error_object = pl_rendezvous_get_object(object, "error", error);
		if (error_object == NULL)
			return NULL;
		frame->error = pl_rendezvous_error_from_object(error_object, error);
		if (frame->error == NULL)
			return NULL;
	} else {
		pl_rendezvous_set_bad_field(error, "type", "is not a known frame type");
		return NULL;
	}
	return g_steal_pointer(&frame);
}

PlRendezvousFrame *
pl_rendezvous_frame_parse(const gchar *text, gsize len, gsize max_body_size, GError **error)
{
	g_autoptr(JsonObject) object = pl_rendezvous_parse_object(text, len, error);

	if (object == NULL)
		return NULL;
	return pl_rendezvous_frame_parse_object(object, max_body_size, error);
}

#define PL_RENDEZVOUS_ACK_PREFIX "{\"type\":\"ack\",\"id\":\""
#define PL_RENDEZVOUS_ACK_SUFFIX "\"}"

/*
 * An ack frame of exactly the shape pl_rendezvous_frame_build_ack() writes,
 * read without a JSON parser: every relayed message is acked, so this is half
 * of all frames. Anything else, however valid, returns NULL: parse it fully.
 */
PlRendezvousFrame *
pl_rendezvous_frame_parse_ack(const gchar *text, gsize len)
{
	gsize prefix_len = strlen(PL_RENDEZVOUS_ACK_PREFIX);
	gsize suffix_len = strlen(PL_RENDEZVOUS_ACK_SUFFIX);
	g_autofree gchar *id = NULL;
	PlRendezvousFrame *frame;

	if (len <= prefix_len + suffix_len ||
	    len - prefix_len - suffix_len > PL_RENDEZVOUS_MAX_ID_LEN ||
	    memcmp(text, PL_RENDEZVOUS_ACK_PREFIX, prefix_len) != 0 ||
	    memcmp(text + len - suffix_len, PL_RENDEZVOUS_ACK_SUFFIX, suffix_len) != 0)
		return NULL;
	id = g_strndup(text + prefix_len, len - prefix_len - suffix_len);
	if (strlen(id) != len - prefix_len - suffix_len || !pl_rendezvous_is_plain_token(id))
		return NULL;
	frame = g_new0(PlRendezvousFrame, 1);
	frame->type = PL_RENDEZVOUS_FRAME_ACK;
	frame->ref = -1;
	frame->id = g_steal_pointer(&id);
	return frame;
}

gchar *
pl_rendezvous_frame_build_sent(gint64 ref, const gchar *id)
{
	g_autoptr(JsonBuilder) builder = NULL;

	g_return_val_if_fail(id != NULL, NULL);

	/* once per message: no builder when the id needs no escaping (it never does) */
	if (pl_rendezvous_is_plain_token(id))
		return g_strdup_printf(
		        "{\"type\":\"sent\",\"ref\":%" G_GINT64_FORMAT ",\"id\":\"%s\"}", ref, id);
	builder = json_builder_new_immutable();
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "type");
	json_builder_add_string_value(builder, "sent");
	json_builder_set_member_name(builder, "ref");
	json_builder_add_int_value(builder, ref);
	json_builder_set_member_name(builder, "id");
	json_builder_add_string_value(builder, id);
	json_builder_end_object(builder);
	return pl_rendezvous_builder_to_string(builder);
}

gchar *
pl_rendezvous_frame_build_error(gint64 ref, const GError *error)
{
	g_autoptr(JsonBuilder) builder = json_builder_new_immutable();
	PlRendezvousErrorCode code = PL_RENDEZVOUS_ERROR_FAILED;

	g_return_val_if_fail(error != NULL, NULL);

	if (error->domain == PL_RENDEZVOUS_ERROR)
		code = (PlRendezvousErrorCode)error->code;
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "type");
	json_builder_add_string_value(builder, "error");
	json_builder_set_member_name(builder, "ref");
	if (ref >= 0)
		json_builder_add_int_value(builder, ref);
	else
		json_builder_add_null_value(builder);
	json_builder_set_member_name(builder, "error");
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "code");
	json_builder_add_string_value(builder, pl_rendezvous_error_to_string(code));
	json_builder_set_member_name(builder, "message");
	json_builder_add_string_value(builder, error->message != NULL ? error->message : "");
	json_builder_end_object(builder);
	json_builder_end_object(builder);
	return pl_rendezvous_builder_to_string(builder);
}

gchar *
pl_rendezvous_frame_build_ack(const gchar *id)
{
	g_autoptr(JsonBuilder) builder = json_builder_new_immutable();

	g_return_val_if_fail(id != NULL, NULL);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "type");
	json_builder_add_string_value(builder, "ack");
	json_builder_set_member_name(builder, "id");
	json_builder_add_string_value(builder, id);
	json_builder_end_object(builder);
	return pl_rendezvous_builder_to_string(builder);
}

gchar *
pl_rendezvous_frame_build_simple(PlRendezvousFrameType type)
{
	g_return_val_if_fail(type == PL_RENDEZVOUS_FRAME_PING || type == PL_RENDEZVOUS_FRAME_PONG,
	                     NULL);
	if (type == PL_RENDEZVOUS_FRAME_PING)
		return g_strdup("{\"type\":\"ping\"}");
	return g_strdup("{\"type\":\"pong\"}");
}

/* -------------------------------------------------------------------------- */
/* backoff */

guint
pl_rendezvous_backoff_delay_ms(guint attempt, guint base_ms, guint max_ms, guint32 random)
{
	guint64 cap = max_ms;

	/* base_ms << attempt, saturating at max_ms */
	if (attempt < 32) {
		guint64 exp = (guint64)base_ms << attempt;
		if (exp < cap)
			cap = exp;
	}
	if (cap <= 1)
		return 1;
	return MAX((guint)(random % cap), 1u);
}
