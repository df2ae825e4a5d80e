#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "pl-ipc-message.h"
#include "pl-ipc-params.h"
#include "pl-json-check.h"

#define PL_IPC_MAX_JSON_DEPTH 32

struct _PlIpcMessage {
	GObject parent_instance;
	PlIpcMessageKind kind;
	gint64 id;
	gchar *name;      /* method or event */
	JsonObject *body; /* params or result */
	gchar *error_code;
	gchar *error_message;
	guint n_fds;
	GUnixFDList *fd_list;
};

G_DEFINE_TYPE(PlIpcMessage, pl_ipc_message, G_TYPE_OBJECT)

static void
pl_ipc_message_finalize(GObject *object)
{
	PlIpcMessage *self = PL_IPC_MESSAGE(object);

	g_free(self->name);
	g_clear_pointer(&self->body, json_object_unref);
	g_free(self->error_code);
	g_free(self->error_message);
	g_clear_object(&self->fd_list);
	G_OBJECT_CLASS(pl_ipc_message_parent_class)->finalize(object);
}

static void
pl_ipc_message_class_init(PlIpcMessageClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = pl_ipc_message_finalize;
}

static void
pl_ipc_message_init(PlIpcMessage *self)
{
	self->id = PL_IPC_ID_NONE;
}

static PlIpcMessage *
pl_ipc_message_new(PlIpcMessageKind kind, gint64 id, const gchar *name, JsonObject *body)
{
	PlIpcMessage *self = g_object_new(PL_TYPE_IPC_MESSAGE, NULL);

	self->kind = kind;
	self->id = id;
	self->name = g_strdup(name);
	self->body = body != NULL ? json_object_ref(body) : json_object_new();
	return self;
}

PlIpcMessage *
pl_ipc_message_new_request(gint64 id, const gchar *method, JsonObject *params)
{
	g_return_val_if_fail(id >= 0 && id <= PL_IPC_ID_MAX, NULL);
	g_return_val_if_fail(method != NULL, NULL);
	return pl_ipc_message_new(PL_IPC_MESSAGE_KIND_REQUEST, id, method, params);
}

PlIpcMessage *
pl_ipc_message_new_response(gint64 id, JsonObject *result)
{
	g_return_val_if_fail(id >= 0 && id <= PL_IPC_ID_MAX, NULL);
	return pl_ipc_message_new(PL_IPC_MESSAGE_KIND_RESPONSE, id, NULL, result);
}

PlIpcMessage *
pl_ipc_message_new_error(gint64 id, PlIpcErrorCode code, const gchar *message)
{
	PlIpcMessage *self = pl_ipc_message_new(PL_IPC_MESSAGE_KIND_ERROR, id, NULL, NULL);

	self->error_code = g_strdup(pl_ipc_error_to_string(code));
	self->error_message = g_strdup(message);
	return self;
}

PlIpcMessage *
pl_ipc_message_new_error_from_gerror(gint64 id, const GError *error)
{
	PlIpcErrorCode code = PL_IPC_ERROR_FAILED;

	if (error->domain == PL_IPC_ERROR)
		code = (PlIpcErrorCode)error->code;
	return pl_ipc_message_new_error(id, code, error->message);
}

PlIpcMessage *
pl_ipc_message_new_event(const gchar *name, JsonObject *params)
{
	g_return_val_if_fail(name != NULL, NULL);
	return pl_ipc_message_new(PL_IPC_MESSAGE_KIND_EVENT, PL_IPC_ID_NONE, name, params);
}

PlIpcMessageKind
pl_ipc_message_get_kind(PlIpcMessage *self)
{
	return self->kind;
}

gint64
pl_ipc_message_get_id(PlIpcMessage *self)
{
	return self->id;
}

const gchar *
pl_ipc_message_get_name(PlIpcMessage *self)
{
	return self->name;
}

JsonObject *
pl_ipc_message_get_body(PlIpcMessage *self)
{
	return self->body;
}

const gchar *
pl_ipc_message_get_error_code(PlIpcMessage *self)
{
	return self->error_code;
}

const gchar *
pl_ipc_message_get_error_message(PlIpcMessage *self)
{
	return self->error_message;
}

GError *
pl_ipc_message_to_gerror(PlIpcMessage *self)
{
	g_return_val_if_fail(self->kind == PL_IPC_MESSAGE_KIND_ERROR, NULL);
	return g_error_new_literal(PL_IPC_ERROR, pl_ipc_error_from_string(self->error_code),
	                           self->error_message);
}

guint
pl_ipc_message_get_n_fds(PlIpcMessage *self)
{
	return self->n_fds;
}

GUnixFDList *
pl_ipc_message_get_fd_list(PlIpcMessage *self)
{
	return self->fd_list;
}

void
pl_ipc_message_set_fd_list(PlIpcMessage *self, GUnixFDList *fd_list)
{
	g_set_object(&self->fd_list, fd_list);
	self->n_fds = fd_list != NULL ? (guint)g_unix_fd_list_get_length(fd_list) : 0;
}

/* encoding */

static JsonNode *
pl_ipc_message_to_json(PlIpcMessage *self)
{
	g_autoptr(JsonBuilder) builder = json_builder_new_immutable();

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "v");
	json_builder_add_int_value(builder, PL_IPC_PROTOCOL_VERSION);
	if (self->kind != PL_IPC_MESSAGE_KIND_EVENT) {
		json_builder_set_member_name(builder, "id");
		if (self->id == PL_IPC_ID_NONE)
			json_builder_add_null_value(builder);
		else
			json_builder_add_int_value(builder, self->id);
	}
	switch (self->kind) {
	case PL_IPC_MESSAGE_KIND_REQUEST:
	case PL_IPC_MESSAGE_KIND_EVENT:
		json_builder_set_member_name(
		        builder, self->kind == PL_IPC_MESSAGE_KIND_REQUEST ? "method" : "event");
		json_builder_add_string_value(builder, self->name);
		json_builder_set_member_name(builder, "params");
		break;
	case PL_IPC_MESSAGE_KIND_RESPONSE:
		json_builder_set_member_name(builder, "result");
		break;
	case PL_IPC_MESSAGE_KIND_ERROR:
		json_builder_set_member_name(builder, "error");
		json_builder_begin_object(builder);
		json_builder_set_member_name(builder, "code");
		json_builder_add_string_value(builder, self->error_code);
		json_builder_set_member_name(builder, "message");
		json_builder_add_string_value(builder, self->error_message);
		json_builder_end_object(builder);
		break;
	default:
		g_assert_not_reached();
	}
	if (self->kind != PL_IPC_MESSAGE_KIND_ERROR) {
		g_autoptr(JsonNode) body = json_node_new(JSON_NODE_OBJECT);
		json_node_set_object(body, self->body);
		json_builder_add_value(builder, g_steal_pointer(&body));
	}
	if (self->n_fds > 0) {
		json_builder_set_member_name(builder, "fds");
		json_builder_add_int_value(builder, self->n_fds);
	}
	json_builder_end_object(builder);
	return json_builder_get_root(builder);
}

/* One line of compact JSON followed by '\n'; JSON strings never contain a raw newline. */
GBytes *
pl_ipc_message_encode(PlIpcMessage *self)
{
	g_autoptr(JsonNode) root = pl_ipc_message_to_json(self);
	g_autoptr(JsonGenerator) generator = json_generator_new();
	gsize len = 0;
	gchar *text;

	json_generator_set_root(generator, root);
	text = json_generator_to_data(generator, &len);
	text = g_realloc(text, len + 2);
	text[len] = '\n';
	text[len + 1] = '\0';
	return g_bytes_new_take(text, len + 1);
}

/* decoding */

static const gchar *
json_member_get_name(JsonObject *obj, const gchar *key, GError **error)
{
	JsonNode *node = json_object_get_member(obj, key);
	const gchar *value;

	if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING) {
		g_set_error(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_REQUEST,
		            _("field \"%s\" must be a string"), key);
		return NULL;
	}
	value = json_node_get_string(node);
	if (value[0] == '\0' || strlen(value) > PL_IPC_MAX_NAME_LEN) {
		g_set_error(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_REQUEST,
		            _("field \"%s\" must be 1 to %d bytes long"), key, PL_IPC_MAX_NAME_LEN);
		return NULL;
	}
	return value;
}

static JsonObject *
json_member_get_optional_object(JsonObject *obj, const gchar *key, GError **error)
{
	JsonNode *node = json_object_get_member(obj, key);

	if (node == NULL || JSON_NODE_HOLDS_NULL(node))
		return json_object_new();
	if (!JSON_NODE_HOLDS_OBJECT(node)) {
		g_set_error(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_REQUEST,
		            _("field \"%s\" must be an object"), key);
		return NULL;
	}
	return json_object_ref(json_node_get_object(node));
}

static gboolean
decode_id(JsonObject *obj, PlIpcMessageKind kind, gint64 *id, GError **error)
{
	JsonNode *node = json_object_get_member(obj, "id");

	*id = PL_IPC_ID_NONE;
	if (kind == PL_IPC_MESSAGE_KIND_EVENT)
		return TRUE;
	if (kind == PL_IPC_MESSAGE_KIND_ERROR && (node == NULL || JSON_NODE_HOLDS_NULL(node)))
		return TRUE;
	if (!pl_ipc_json_get_int(obj, "id", id) || *id < 0 || *id > PL_IPC_ID_MAX) {
		*id = PL_IPC_ID_NONE;
		g_set_error(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_REQUEST,
		            _("field \"id\" must be an integer from 0 to %lld"),
		            (long long)PL_IPC_ID_MAX);
		return FALSE;
	}
	return TRUE;
}

static gboolean
decode_kind(JsonObject *obj, PlIpcMessageKind *kind, GError **error)
{
	const gchar *keys[] = {"method", "result", "error", "event"};
	const PlIpcMessageKind kinds[] = {PL_IPC_MESSAGE_KIND_REQUEST, PL_IPC_MESSAGE_KIND_RESPONSE,
	                                  PL_IPC_MESSAGE_KIND_ERROR, PL_IPC_MESSAGE_KIND_EVENT};
	guint found = 0;

	for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
		if (json_object_has_member(obj, keys[i])) {
			*kind = kinds[i];
			found++;
		}
	}
	if (found != 1) {
		g_set_error_literal(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_REQUEST,
		                    _("a message must have exactly one of \"method\", \"result\", "
		                      "\"error\" or \"event\""));
		return FALSE;
	}
	return TRUE;
}

static gboolean
decode_version(JsonObject *obj, GError **error)
{
	gint64 version = 0;

	if (!pl_ipc_json_get_int(obj, "v", &version)) {
		g_set_error_literal(
		        error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_REQUEST,
		        _("field \"v\" (the protocol version) is missing or not an integer"));
		return FALSE;
	}
	if (version != PL_IPC_PROTOCOL_VERSION) {
		g_set_error(error, PL_IPC_ERROR, PL_IPC_ERROR_UNSUPPORTED_VERSION,
		            _("the other side speaks IPC protocol version %lld, this side speaks "
		              "version %d: update peerlink"),
		            (long long)version, PL_IPC_PROTOCOL_VERSION);
		return FALSE;
	}
	return TRUE;
}

static gboolean
decode_fds(JsonObject *obj, guint *n_fds, GError **error)
{
	gint64 value = 0;

	*n_fds = 0;
	if (!json_object_has_member(obj, "fds"))
		return TRUE;
	if (!pl_ipc_json_get_int(obj, "fds", &value) || value < 0 ||
	    value > PL_IPC_MAX_FDS_PER_MESSAGE) {
		g_set_error(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_REQUEST,
		            _("field \"fds\" must be an integer from 0 to %d"),
		            PL_IPC_MAX_FDS_PER_MESSAGE);
		return FALSE;
	}
	*n_fds = (guint)value;
	return TRUE;
}

static gboolean
decode_error_body(PlIpcMessage *self, JsonObject *obj, GError **error)
{
	JsonNode *node = json_object_get_member(obj, "error");
	JsonObject *err;
	const gchar *code;
	const gchar *message;

	if (!JSON_NODE_HOLDS_OBJECT(node)) {
		g_set_error_literal(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_REQUEST,
		                    _("field \"error\" must be an object"));
		return FALSE;
	}
	err = json_node_get_object(node);
	code = pl_ipc_json_get_string(err, "code");
	message = pl_ipc_json_get_string(err, "message");
	if (code == NULL || message == NULL) {
		g_set_error_literal(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_REQUEST,
		                    _("an error needs string fields \"code\" and \"message\""));
		return FALSE;
	}
	self->error_code = g_strdup(code);
	self->error_message = g_strdup(message);
	return TRUE;
}

static gboolean
decode_body(PlIpcMessage *self, JsonObject *obj, GError **error)
{
	switch (self->kind) {
	case PL_IPC_MESSAGE_KIND_REQUEST:
	case PL_IPC_MESSAGE_KIND_EVENT:
		self->name = g_strdup(json_member_get_name(
		        obj, self->kind == PL_IPC_MESSAGE_KIND_REQUEST ? "method" : "event",
		        error));
		if (self->name == NULL)
			return FALSE;
		self->body = json_member_get_optional_object(obj, "params", error);
		return self->body != NULL;
	case PL_IPC_MESSAGE_KIND_RESPONSE:
		self->body = json_member_get_optional_object(obj, "result", error);
		return self->body != NULL;
	case PL_IPC_MESSAGE_KIND_ERROR:
		self->body = json_object_new();
		return decode_error_body(self, obj, error);
	default:
		g_assert_not_reached();
	}
}

/* plain RFC 8259 JSON at most PL_IPC_MAX_JSON_DEPTH deep, before json-glib's parser (json/) */
static gboolean
check_plain_json(const gchar *data, gsize len, GError **error)
{
	gsize offset = 0;

	switch (pl_json_check_strict(data, len, PL_IPC_MAX_JSON_DEPTH, &offset)) {
	case PL_JSON_CHECK_OK:
		return TRUE;
	case PL_JSON_CHECK_TOO_DEEP:
		g_set_error(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_JSON,
		            _("message nests deeper than %d levels"), PL_IPC_MAX_JSON_DEPTH);
		return FALSE;
	case PL_JSON_CHECK_INVALID:
	default:
		g_set_error(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_JSON,
		            _("message is not valid JSON: unexpected character at "
		              "offset %lu"),
		            (gulong)offset);
		return FALSE;
	}
}

static JsonObject *
parse_json_object(const gchar *data, gsize len, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autoptr(GError) error_local = NULL;
	JsonNode *root;

	if (len > G_MAXSSIZE || !g_utf8_validate_len(data, len, NULL)) {
		g_set_error_literal(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_JSON,
		                    _("message is not valid UTF-8"));
		return NULL;
	}
	if (!check_plain_json(data, len, error))
		return NULL;
	if (!json_parser_load_from_data(parser, data, (gssize)len, &error_local)) {
		g_set_error(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_JSON,
		            _("message is not valid JSON: %s"), error_local->message);
		return NULL;
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		g_set_error_literal(error, PL_IPC_ERROR, PL_IPC_ERROR_NOT_AN_OBJECT,
		                    _("message must be a JSON object"));
		return NULL;
	}
	return json_object_ref(json_node_get_object(root));
}

PlIpcMessage *
pl_ipc_message_decode(const gchar *data, gsize len, gint64 *id_out, GError **error)
{
	g_autoptr(PlIpcMessage) self = g_object_new(PL_TYPE_IPC_MESSAGE, NULL);
	g_autoptr(JsonObject) obj = NULL;
	gint64 id = PL_IPC_ID_NONE;

	if (id_out != NULL)
		*id_out = PL_IPC_ID_NONE;
	obj = parse_json_object(data, len, error);
	if (obj == NULL)
		return NULL;
	if (pl_ipc_json_get_int(obj, "id", &id) && id >= 0 && id <= PL_IPC_ID_MAX && id_out != NULL)
		*id_out = id;
	if (!decode_version(obj, error))
		return NULL;
	if (!decode_kind(obj, &self->kind, error))
		return NULL;
	if (!decode_id(obj, self->kind, &self->id, error))
		return NULL;
	if (!decode_fds(obj, &self->n_fds, error))
		return NULL;
	if (!decode_body(self, obj, error))
		return NULL;
	return g_steal_pointer(&self);
}
