#include "config.h"

#include <gnutls/crypto.h>
#include <math.h>
#include <string.h>

#include "pl-rendezvous-service.h"
#include "pl-turn-credentials.h"

#define PL_RENDEZVOUS_PRESENCE_REFRESH_US (1 * G_USEC_PER_SEC)
#define PL_RENDEZVOUS_MAX_BUCKETS         10000
#define PL_RENDEZVOUS_INBOX_FULL_RETRY_S  1

/*
 * One message of the peer's inbox, as one connection knows it: sent and not
 * acknowledged yet, or waiting to be sent until the inbox has been read
 */
typedef struct {
	gchar *id;
	gchar *text;    /* exactly as stored in the inbox: what an ack removes */
	gint64 sent_at; /* unix ms, the message's own */
	guint64 seen;   /* the last reading of the inbox that found it */
	gboolean acked; /* removal asked for while a reading was under way */
	GList link;     /* in PlConn.sent_order or PlConn.waiting */
} PlDelivered;

typedef struct {
	gchar *id;
	gchar *peer_id;
	gchar *presence_key;
	gchar *inbox_key;
	gint64 connected_at; /* real time, µs: orders connections across instances */
	gint64 refreshed_at; /* monotonic, µs */
	GHashTable *sent;    /* id → PlDelivered (owned): sent here, not acknowledged */
	GQueue sent_order;   /* the same, oldest first */
	GQueue waiting;      /* PlDelivered (owned) notified while the inbox is read */
	guint64 readings;    /* readings of the inbox finished */
	gboolean flushed;    /* the inbox was read: notified messages may go out at once */
	gboolean delivering; /* a reading of the inbox is under way */
	gboolean deliver_again;
	gboolean closed;
} PlConn;

typedef struct {
	gdouble tokens;
	gint64 updated_at; /* monotonic, µs */
} PlRateBucket;

struct _PlRendezvousService {
	GObject parent_instance;
	PlStore *store;
	PlRendezvousServiceConfig config;
	gchar *instance_id;
	guint64 conn_counter;
	GHashTable *conns; /* conn id → PlConn (rc box) */
	GHashTable *peers; /* peer id → GPtrArray of PlConn (rc box refs) */
	GHashTable *buckets;
	guint64 relayed;
	guint64 errors[PL_RENDEZVOUS_ERROR_LAST];
	guint64 auth_ok;
	guint64 auth_failed;
	gulong message_handler;
	gulong availability_handler;
	GCancellable *cancellable;
};

G_DEFINE_TYPE(PlRendezvousService, pl_rendezvous_service, G_TYPE_OBJECT)

enum { SIGNAL_CONNECTION_FRAME, SIGNAL_CONNECTION_CLOSE, SIGNAL_LAST };
static guint signals[SIGNAL_LAST] = {0};

/* -------------------------------------------------------------------------- */
/* config */

void
pl_rendezvous_service_config_init(PlRendezvousServiceConfig *config)
{
	memset(config, 0, sizeof(*config));
	config->max_message_size = 16 * 1024;
	config->max_inbox = 256;
	config->message_ttl_s = 60;
	config->rate = 50;
	config->burst = 200;
	config->presence_timeout_s = 30;
	config->turn_ttl_s = PL_TURN_DEFAULT_TTL_S;
}

void
pl_rendezvous_service_config_clear(PlRendezvousServiceConfig *config)
{
	g_clear_pointer(&config->turn_secret, g_free);
	g_clear_pointer(&config->turn_uris, g_strfreev);
	g_clear_pointer(&config->stun_uris, g_strfreev);
}

/* -------------------------------------------------------------------------- */
/* helpers */

static PlDelivered *
pl_delivered_new(const gchar *id, const gchar *text, gsize text_len, gint64 sent_at)
{
	PlDelivered *delivered = g_new0(PlDelivered, 1);
	delivered->id = g_strdup(id);
	delivered->text = g_strndup(text, text_len);
	delivered->sent_at = sent_at;
	delivered->link.data = delivered;
	return delivered;
}

static void
pl_delivered_free(PlDelivered *delivered)
{
	g_free(delivered->id);
	g_free(delivered->text);
	g_free(delivered);
}

static void
pl_conn_clear(PlConn *conn)
{
	GList *link;

	g_free(conn->id);
	g_free(conn->peer_id);
	g_free(conn->presence_key);
	g_free(conn->inbox_key);
	/* the links of sent_order live in the entries that the table frees */
	g_hash_table_unref(conn->sent);
	while ((link = g_queue_pop_head_link(&conn->waiting)) != NULL)
		pl_delivered_free(link->data);
}

/* forgets a message sent on this connection */
static void
pl_conn_forget(PlConn *conn, PlDelivered *delivered)
{
	g_queue_unlink(&conn->sent_order, &delivered->link);
	g_hash_table_remove(conn->sent, delivered->id);
}

static PlConn *
pl_conn_ref(PlConn *conn)
{
	return g_rc_box_acquire(conn);
}

static void
pl_conn_unref(PlConn *conn)
{
	g_rc_box_release_full(conn, (GDestroyNotify)pl_conn_clear);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlConn, pl_conn_unref)

static gchar *
pl_rendezvous_service_random_token(gsize size, gnutls_rnd_level_t level)
{
	guint8 bytes[64];

	g_assert(size <= sizeof(bytes));
	/* the system's random source failing leaves nothing safe to do */
	if (gnutls_rnd(level, bytes, size) < 0)
		g_error("GnuTLS cannot produce random bytes");
	return pl_rendezvous_base64url_encode(bytes, size);
}

static gchar *
pl_rendezvous_service_key(const gchar *prefix, const gchar *name)
{
	return g_strconcat("pl:", prefix, ":", name, NULL);
}

GError *
pl_rendezvous_service_error_from_store(const GError *error)
{
	if (error->domain == PL_RENDEZVOUS_ERROR)
		return g_error_copy(error);
	if (g_error_matches(error, PL_STORE_ERROR, PL_STORE_ERROR_UNAVAILABLE))
		return g_error_new(PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_UNAVAILABLE,
		                   "the storage backend is unavailable: %s", error->message);
	return g_error_new(PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_FAILED, "storage error: %s",
	                   error->message);
}

static void
pl_rendezvous_service_task_return_store_error(GTask *task, const GError *error)
{
	g_task_return_error(task, pl_rendezvous_service_error_from_store(error));
}

static gboolean
pl_rendezvous_service_check_available(PlRendezvousService *self, GTask *task)
{
	if (pl_store_is_available(self->store))
		return TRUE;
	g_task_return_new_error(task, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_UNAVAILABLE,
	                        "the storage backend is unavailable");
	return FALSE;
}

/* for operations nobody waits for; user_data: the key, freed */
static void
pl_rendezvous_service_delete_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autofree gchar *key = user_data;
	g_autoptr(GError) error = NULL;

	if (!pl_store_delete_finish(PL_STORE(source), result, &error) && error != NULL)
		g_debug("cannot delete %s: %s", key, error->message);
}

static void
pl_rendezvous_service_remove_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autofree gchar *key = user_data;
	g_autoptr(GError) error = NULL;

	if (!pl_store_list_remove_finish(PL_STORE(source), result, &error) && error != NULL)
		g_debug("cannot remove an item of %s: %s", key, error->message);
}

/*
 * The notice of an accepted message on pl:notify:<recipient>: the stored item
 * itself, with its id and age in front so that a receiver reads them without a
 * JSON parser:
 * {"type":"message","id":"<32 hex>","sent_at":<ms>,"message":<the stored item>}
 */
/* how a stored item (pl_rendezvous_message_to_json) and a message notice both start */
#define PL_MESSAGE_JSON_PREFIX "{\"type\":\"message\",\"id\":\""
#define PL_NOTICE_SENT_AT      "\",\"sent_at\":"
#define PL_NOTICE_MESSAGE      ",\"message\":"
#define PL_MESSAGE_ID_LEN      32 /* lower-case hex digits */

static gchar *
pl_rendezvous_service_build_message_notice(const gchar *id, gint64 sent_at, const gchar *text)
{
	return g_strdup_printf("%s%s%s%" G_GINT64_FORMAT "%s%s}", PL_MESSAGE_JSON_PREFIX, id,
	                       PL_NOTICE_SENT_AT, sent_at, PL_NOTICE_MESSAGE, text);
}

/* copies the id that starts at text into id (PL_MESSAGE_ID_LEN + 1 bytes) when it is one */
static gboolean
pl_rendezvous_service_take_id(const gchar *text, gchar *id)
{
	for (guint i = 0; i < PL_MESSAGE_ID_LEN; i++) {
		if (!g_ascii_isxdigit(text[i]) || g_ascii_isupper(text[i]))
			return FALSE;
		id[i] = text[i];
	}
	id[PL_MESSAGE_ID_LEN] = '\0';
	return text[PL_MESSAGE_ID_LEN] == '"';
}

/*
 * a message notice: its id, age and the stored item (a pointer into payload);
 * FALSE for anything else, which the caller then parses as JSON
 */
static gboolean
pl_rendezvous_service_parse_message_notice(
        const gchar *payload, gchar *id, gint64 *sent_at, const gchar **text, gsize *text_len)
{
	gsize len = strlen(payload);
	const gchar *p = payload;
	gchar *end = NULL;

	if (!g_str_has_prefix(p, PL_MESSAGE_JSON_PREFIX))
		return FALSE;
	p += strlen(PL_MESSAGE_JSON_PREFIX);
	if (!pl_rendezvous_service_take_id(p, id))
		return FALSE;
	p += PL_MESSAGE_ID_LEN;
	if (!g_str_has_prefix(p, PL_NOTICE_SENT_AT))
		return FALSE;
	p += strlen(PL_NOTICE_SENT_AT);
	if (!g_ascii_isdigit(*p))
		return FALSE;
	*sent_at = g_ascii_strtoll(p, &end, 10);
	if (!g_str_has_prefix(end, PL_NOTICE_MESSAGE))
		return FALSE;
	p = end + strlen(PL_NOTICE_MESSAGE);
	if (*p != '{' || payload[len - 1] != '}' || p >= payload + len - 1)
		return FALSE;
	*text = p;
	*text_len = (gsize)(payload + len - 1 - p);
	return TRUE;
}

/* the id of a stored item, without parsing it (as pl_rendezvous_message_to_json writes it) */
static gboolean
pl_rendezvous_service_item_id(const gchar *item, gchar *id)
{
	if (!g_str_has_prefix(item, PL_MESSAGE_JSON_PREFIX))
		return FALSE;
	return pl_rendezvous_service_take_id(item + strlen(PL_MESSAGE_JSON_PREFIX), id);
}

void
pl_rendezvous_service_record_error(PlRendezvousService *self, const GError *error)
{
	g_return_if_fail(PL_IS_RENDEZVOUS_SERVICE(self));
	g_return_if_fail(error != NULL);

	if (error->domain == PL_RENDEZVOUS_ERROR && error->code >= 0 &&
	    error->code < PL_RENDEZVOUS_ERROR_LAST)
		self->errors[error->code]++;
	else
		self->errors[PL_RENDEZVOUS_ERROR_FAILED]++;
}

/* -------------------------------------------------------------------------- */
/* challenges */

static void
pl_rendezvous_service_challenge_set_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	g_autoptr(GError) error = NULL;

	if (!pl_store_set_finish(PL_STORE(source), result, &error)) {
		pl_rendezvous_service_task_return_store_error(task, error);
		return;
	}
	g_task_return_pointer(task, g_strdup(g_task_get_task_data(task)), g_free);
}

void
pl_rendezvous_service_challenge_async(PlRendezvousService *self,
                                      const PlPeerId *peer_id,
                                      const gchar *audience,
                                      GCancellable *cancellable,
                                      GAsyncReadyCallback callback,
                                      gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autoptr(JsonObject) value = json_object_new();
	g_autofree gchar *challenge = NULL;
	g_autofree gchar *peer_text = NULL;
	g_autofree gchar *value_text = NULL;
	g_autofree gchar *key = NULL;

	g_return_if_fail(PL_IS_RENDEZVOUS_SERVICE(self));
	g_return_if_fail(peer_id != NULL);
	g_return_if_fail(audience != NULL);

	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, pl_rendezvous_service_challenge_async);
	if (!pl_rendezvous_service_check_available(self, task))
		return;

	challenge =
	        pl_rendezvous_service_random_token(PL_RENDEZVOUS_CHALLENGE_SIZE, GNUTLS_RND_NONCE);
	peer_text = pl_peer_id_to_string(peer_id);
	json_object_set_string_member(value, "peer_id", peer_text);
	json_object_set_string_member(value, "audience", audience);
	value_text = pl_rendezvous_object_to_string(value);
	key = pl_rendezvous_service_key("challenge", challenge);
	g_task_set_task_data(task,
	                     pl_rendezvous_build_challenge_reply(challenge, audience,
	                                                         PL_RENDEZVOUS_CHALLENGE_TTL_S),
	                     g_free);
	pl_store_set_async(self->store, key, value_text, PL_RENDEZVOUS_CHALLENGE_TTL_S * 1000,
	                   cancellable, pl_rendezvous_service_challenge_set_cb,
	                   g_steal_pointer(&task));
}

gchar *
pl_rendezvous_service_challenge_finish(PlRendezvousService *self,
                                       GAsyncResult *result,
                                       GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, self), NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}

/* -------------------------------------------------------------------------- */
/* sessions */

typedef struct {
	PlRendezvousSessionRequest *request;
	gchar *audience;
	gchar *peer_id;
	gchar *token;
} PlSessionData;

static void
pl_session_data_free(PlSessionData *data)
{
	pl_rendezvous_session_request_free(data->request);
	g_free(data->audience);
	g_free(data->peer_id);
	g_free(data->token);
	g_free(data);
}

static void
pl_rendezvous_service_auth_failed(PlRendezvousService *self, GTask *task, GError *error)
{
	self->auth_failed++;
	g_debug("authentication failed: %s", error->message);
	g_task_return_error(task, error);
}

static void
pl_rendezvous_service_token_set_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	PlRendezvousService *self = g_task_get_source_object(task);
	PlSessionData *data = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) ice = NULL;

	if (!pl_store_set_finish(PL_STORE(source), result, &error)) {
		pl_rendezvous_service_task_return_store_error(task, error);
		return;
	}
	self->auth_ok++;
	g_debug("peer %s authenticated", data->peer_id);
	ice = pl_rendezvous_service_build_ice(self, data->peer_id);
	g_task_return_pointer(task,
	                      pl_rendezvous_build_session_reply(data->token, data->peer_id,
	                                                        PL_RENDEZVOUS_TOKEN_TTL_S, ice),
	                      g_free);
}

static void
pl_rendezvous_service_challenge_get_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	PlRendezvousService *self = g_task_get_source_object(task);
	PlSessionData *data = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *value = NULL;
	g_autoptr(JsonObject) object = NULL;
	g_autofree gchar *key = NULL;
	JsonNode *peer_node;
	JsonNode *audience_node;

	value = pl_store_get_finish(PL_STORE(source), result, &error);
	if (error != NULL) {
		pl_rendezvous_service_task_return_store_error(task, error);
		return;
	}
	if (value == NULL) {
		pl_rendezvous_service_auth_failed(
		        self, task,
		        g_error_new_literal(PL_RENDEZVOUS_ERROR,
		                            PL_RENDEZVOUS_ERROR_CHALLENGE_INVALID,
		                            "the challenge is unknown, expired or already used"));
		return;
	}
	object = pl_rendezvous_parse_object(value, strlen(value), NULL);
	peer_node = object != NULL ? json_object_get_member(object, "peer_id") : NULL;
	audience_node = object != NULL ? json_object_get_member(object, "audience") : NULL;
	if (peer_node == NULL || audience_node == NULL || !JSON_NODE_HOLDS_VALUE(peer_node) ||
	    !JSON_NODE_HOLDS_VALUE(audience_node) ||
	    json_node_get_value_type(peer_node) != G_TYPE_STRING ||
	    json_node_get_value_type(audience_node) != G_TYPE_STRING) {
		pl_rendezvous_service_auth_failed(
		        self, task,
		        g_error_new_literal(PL_RENDEZVOUS_ERROR,
		                            PL_RENDEZVOUS_ERROR_CHALLENGE_INVALID,
		                            "the challenge is unknown, expired or already used"));
		return;
	}
	if (g_strcmp0(json_node_get_string(peer_node), data->peer_id) != 0) {
		pl_rendezvous_service_auth_failed(
		        self, task,
		        g_error_new_literal(PL_RENDEZVOUS_ERROR,
		                            PL_RENDEZVOUS_ERROR_CHALLENGE_INVALID,
		                            "the challenge was issued for another peer"));
		return;
	}
	if (g_strcmp0(json_node_get_string(audience_node), data->audience) != 0) {
		pl_rendezvous_service_auth_failed(
		        self, task,
		        g_error_new_literal(PL_RENDEZVOUS_ERROR,
		                            PL_RENDEZVOUS_ERROR_CHALLENGE_INVALID,
		                            "the challenge was issued for another audience"));
		return;
	}
	if (!pl_rendezvous_verify_session_request(data->request, data->audience, &error)) {
		pl_rendezvous_service_auth_failed(self, task, g_steal_pointer(&error));
		return;
	}

	data->token = pl_rendezvous_service_random_token(PL_RENDEZVOUS_TOKEN_SIZE, GNUTLS_RND_KEY);
	key = pl_rendezvous_service_key("token", data->token);
	pl_store_set_async(self->store, key, data->peer_id, PL_RENDEZVOUS_TOKEN_TTL_S * 1000,
	                   g_task_get_cancellable(task), pl_rendezvous_service_token_set_cb,
	                   g_object_ref(task));
}

void
pl_rendezvous_service_session_async(PlRendezvousService *self,
                                    PlRendezvousSessionRequest *request,
                                    const gchar *audience,
                                    GCancellable *cancellable,
                                    GAsyncReadyCallback callback,
                                    gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autofree gchar *key = NULL;
	PlSessionData *data;

	g_return_if_fail(PL_IS_RENDEZVOUS_SERVICE(self));
	g_return_if_fail(request != NULL);
	g_return_if_fail(audience != NULL);

	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, pl_rendezvous_service_session_async);
	if (!pl_rendezvous_service_check_available(self, task))
		return;

	data = g_new0(PlSessionData, 1);
	data->request = g_new0(PlRendezvousSessionRequest, 1);
	data->request->peer_id = request->peer_id;
	data->request->public_key = g_bytes_ref(request->public_key);
	data->request->signature = g_bytes_ref(request->signature);
	data->request->challenge = g_strdup(request->challenge);
	data->audience = g_strdup(audience);
	data->peer_id = pl_peer_id_to_string(&request->peer_id);
	g_task_set_task_data(task, data, (GDestroyNotify)pl_session_data_free);

	/* single use: taken out whatever happens next */
	key = pl_rendezvous_service_key("challenge", request->challenge);
	pl_store_get_async(self->store, key, TRUE, cancellable,
	                   pl_rendezvous_service_challenge_get_cb, g_steal_pointer(&task));
}

gchar *
pl_rendezvous_service_session_finish(PlRendezvousService *self,
                                     GAsyncResult *result,
                                     GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, self), NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}

/* -------------------------------------------------------------------------- */
/* tokens */

static gboolean
pl_rendezvous_service_token_is_valid(const gchar *token)
{
	g_autoptr(GBytes) bytes = NULL;

	if (token == NULL)
		return FALSE;
	bytes = pl_rendezvous_base64url_decode(token, NULL);
	return bytes != NULL && g_bytes_get_size(bytes) == PL_RENDEZVOUS_TOKEN_SIZE;
}

/* The store key of a well-formed token, or NULL with the task answered. */
static gchar *
pl_rendezvous_service_token_key(PlRendezvousService *self, GTask *task, const gchar *token)
{
	if (!pl_rendezvous_service_token_is_valid(token)) {
		g_task_return_new_error(task, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_UNAUTHORIZED,
		                        "no valid bearer token");
		return NULL;
	}
	if (!pl_rendezvous_service_check_available(self, task))
		return NULL;
	return pl_rendezvous_service_key("token", token);
}

static void
pl_rendezvous_service_token_get_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *peer_id = NULL;

	peer_id = pl_store_get_finish(PL_STORE(source), result, &error);
	if (error != NULL) {
		pl_rendezvous_service_task_return_store_error(task, error);
		return;
	}
	if (peer_id == NULL) {
		g_task_return_new_error(task, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_UNAUTHORIZED,
		                        "unknown or expired token: authenticate again");
		return;
	}
	g_task_return_pointer(task, g_steal_pointer(&peer_id), g_free);
}

void
pl_rendezvous_service_authenticate_async(PlRendezvousService *self,
                                         const gchar *token,
                                         GCancellable *cancellable,
                                         GAsyncReadyCallback callback,
                                         gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autofree gchar *key = NULL;

	g_return_if_fail(PL_IS_RENDEZVOUS_SERVICE(self));

	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, pl_rendezvous_service_authenticate_async);
	key = pl_rendezvous_service_token_key(self, task, token);
	if (key == NULL)
		return;
	pl_store_get_async(self->store, key, FALSE, cancellable, pl_rendezvous_service_token_get_cb,
	                   g_steal_pointer(&task));
}

gchar *
pl_rendezvous_service_authenticate_finish(PlRendezvousService *self,
                                          GAsyncResult *result,
                                          GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, self), NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}

static void
pl_rendezvous_service_token_delete_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	g_autoptr(GError) error = NULL;

	if (!pl_store_delete_finish(PL_STORE(source), result, &error) && error != NULL) {
		pl_rendezvous_service_task_return_store_error(task, error);
		return;
	}
	g_task_return_boolean(task, TRUE);
}

void
pl_rendezvous_service_revoke_async(PlRendezvousService *self,
                                   const gchar *token,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback,
                                   gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autofree gchar *key = NULL;

	g_return_if_fail(PL_IS_RENDEZVOUS_SERVICE(self));

	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, pl_rendezvous_service_revoke_async);
	key = pl_rendezvous_service_token_key(self, task, token);
	if (key == NULL)
		return;
	pl_store_delete_async(self->store, key, NULL, cancellable,
	                      pl_rendezvous_service_token_delete_cb, g_steal_pointer(&task));
}

gboolean
pl_rendezvous_service_revoke_finish(PlRendezvousService *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
	return g_task_propagate_boolean(G_TASK(result), error);
}

JsonObject *
pl_rendezvous_service_build_ice(PlRendezvousService *self, const gchar *peer_id)
{
	g_return_val_if_fail(PL_IS_RENDEZVOUS_SERVICE(self), NULL);
	g_return_val_if_fail(peer_id != NULL, NULL);

	return pl_turn_credentials_build_ice(
	        self->config.turn_secret, (const gchar *const *)self->config.turn_uris,
	        (const gchar *const *)self->config.stun_uris, self->config.turn_ttl_s,
	        g_get_real_time() / G_USEC_PER_SEC, peer_id);
}

/* -------------------------------------------------------------------------- */
/* sending */

typedef struct {
	gchar *to;
	gchar *id;
	gchar *text;
	gchar *inbox_key;
	gint64 sent_at;
	guint retry_after_s;
	gboolean pruned;
} PlSendData;

static void
pl_send_data_free(PlSendData *data)
{
	g_free(data->to);
	g_free(data->id);
	g_free(data->text);
	g_free(data->inbox_key);
	g_free(data);
}

static void
pl_rendezvous_service_send_error(GTask *task, guint retry_after_s, GError *error)
{
	PlSendData *data = g_task_get_task_data(task);
	if (data != NULL)
		data->retry_after_s = retry_after_s;
	g_task_return_error(task, error);
}

/* a token bucket per sender, per instance */
static gboolean
pl_rendezvous_service_rate_take(PlRendezvousService *self, const gchar *from, guint *retry_after_s)
{
	gint64 now = g_get_monotonic_time();
	PlRateBucket *bucket = g_hash_table_lookup(self->buckets, from);
	gdouble rate = MAX(self->config.rate, 0.001);
	gdouble burst = MAX(self->config.burst, 1);

	if (bucket == NULL) {
		/* forget senders whose buckets have refilled, before the table grows */
		if (g_hash_table_size(self->buckets) >= PL_RENDEZVOUS_MAX_BUCKETS) {
			GHashTableIter iter;
			PlRateBucket *other;
			g_hash_table_iter_init(&iter, self->buckets);
			while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&other)) {
				gdouble elapsed =
				        (gdouble)(now - other->updated_at) / G_USEC_PER_SEC;
				if (other->tokens + elapsed * rate >= burst)
					g_hash_table_iter_remove(&iter);
			}
		}
		bucket = g_new0(PlRateBucket, 1);
		bucket->tokens = burst;
		bucket->updated_at = now;
		g_hash_table_insert(self->buckets, g_strdup(from), bucket);
	}
	bucket->tokens = MIN(burst, bucket->tokens + (gdouble)(now - bucket->updated_at) /
	                                                     G_USEC_PER_SEC * rate);
	bucket->updated_at = now;
	if (bucket->tokens < 1) {
		*retry_after_s = (guint)MAX(1, ceil((1 - bucket->tokens) / rate));
		return FALSE;
	}
	bucket->tokens -= 1;
	return TRUE;
}

static void pl_rendezvous_service_push(GTask *task);

static void
pl_rendezvous_service_publish_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	PlRendezvousService *self = g_task_get_source_object(task);
	PlSendData *data = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;

	/* the message is in the inbox: accepted even if the notification got lost */
	if (!pl_store_publish_finish(PL_STORE(source), result, &error))
		g_debug("cannot notify %s of message %s: %s", data->to, data->id, error->message);
	self->relayed++;
	g_task_return_pointer(task, g_strdup(data->id), g_free);
}

static void
pl_rendezvous_service_prune_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	PlRendezvousService *self = g_task_get_source_object(task);
	PlSendData *data = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) items = NULL;
	gint64 now_ms = g_get_real_time() / 1000;
	gint64 ttl_ms = (gint64)self->config.message_ttl_s * 1000;
	guint removed = 0;

	items = pl_store_list_range_finish(PL_STORE(source), result, &error);
	if (items == NULL) {
		pl_rendezvous_service_task_return_store_error(task, error);
		return;
	}
	for (guint i = 0; i < items->len; i++) {
		const gchar *item = g_ptr_array_index(items, i);
		g_autoptr(PlRendezvousMessage) message =
		        pl_rendezvous_message_from_json(item, strlen(item), NULL);
		if (message != NULL && message->sent_at + ttl_ms > now_ms)
			continue;
		pl_store_list_remove_async(self->store, data->inbox_key, item, self->cancellable,
		                           pl_rendezvous_service_remove_done_cb,
		                           g_strdup(data->inbox_key));
		removed++;
	}
	if (removed > 0) {
		pl_rendezvous_service_push(g_steal_pointer(&task));
		return;
	}
	pl_rendezvous_service_send_error(task, PL_RENDEZVOUS_INBOX_FULL_RETRY_S,
	                                 g_error_new(PL_RENDEZVOUS_ERROR,
	                                             PL_RENDEZVOUS_ERROR_INBOX_FULL,
	                                             "peer %s has %u undelivered messages",
	                                             data->to, self->config.max_inbox));
}

static void
pl_rendezvous_service_push_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	PlRendezvousService *self = g_task_get_source_object(task);
	PlSendData *data = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *channel = NULL;
	g_autofree gchar *payload = NULL;

	if (!pl_store_list_push_finish(PL_STORE(source), result, &error)) {
		if (g_error_matches(error, PL_STORE_ERROR, PL_STORE_ERROR_FULL) && !data->pruned) {
			/* expired messages may hold the places: drop them and try once more */
			data->pruned = TRUE;
			pl_store_list_range_async(
			        self->store, data->inbox_key, g_task_get_cancellable(task),
			        pl_rendezvous_service_prune_cb, g_object_ref(task));
			return;
		}
		if (g_error_matches(error, PL_STORE_ERROR, PL_STORE_ERROR_FULL)) {
			pl_rendezvous_service_send_error(
			        task, PL_RENDEZVOUS_INBOX_FULL_RETRY_S,
			        g_error_new(PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_INBOX_FULL,
			                    "peer %s has %u undelivered messages", data->to,
			                    self->config.max_inbox));
			return;
		}
		pl_rendezvous_service_task_return_store_error(task, error);
		return;
	}
	/* the message itself: whoever holds the recipient sends it without reading the inbox */
	channel = pl_rendezvous_service_key("notify", data->to);
	payload = pl_rendezvous_service_build_message_notice(data->id, data->sent_at, data->text);
	pl_store_publish_async(self->store, channel, payload, g_task_get_cancellable(task),
	                       pl_rendezvous_service_publish_cb, g_object_ref(task));
}

static void
pl_rendezvous_service_push(GTask *task)
{
	PlRendezvousService *self = g_task_get_source_object(task);
	PlSendData *data = g_task_get_task_data(task);

	pl_store_list_push_async(self->store, data->inbox_key, data->text, self->config.max_inbox,
	                         self->config.message_ttl_s * 1000, g_task_get_cancellable(task),
	                         pl_rendezvous_service_push_cb, task);
}

static void
pl_rendezvous_service_presence_get_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	PlSendData *data = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *conn = NULL;

	conn = pl_store_get_finish(PL_STORE(source), result, &error);
	if (error != NULL) {
		pl_rendezvous_service_task_return_store_error(task, error);
		return;
	}
	if (conn == NULL) {
		pl_rendezvous_service_send_error(task, 0,
		                                 g_error_new(PL_RENDEZVOUS_ERROR,
		                                             PL_RENDEZVOUS_ERROR_PEER_OFFLINE,
		                                             "peer %s is not connected", data->to));
		return;
	}
	pl_rendezvous_service_push(g_steal_pointer(&task));
}

static gboolean
pl_rendezvous_service_has_local_connection(PlRendezvousService *self, const gchar *peer_id)
{
	GPtrArray *list = g_hash_table_lookup(self->peers, peer_id);

	return list != NULL && list->len > 0;
}

void
pl_rendezvous_service_send_async(PlRendezvousService *self,
                                 const gchar *from,
                                 PlRendezvousSend *send,
                                 GCancellable *cancellable,
                                 GAsyncReadyCallback callback,
                                 gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autoptr(PlRendezvousMessage) message = NULL;
	g_autofree gchar *body_text = NULL;
	g_autofree gchar *presence_key = NULL;
	PlSendData *data;
	guint retry_after_s = 0;

	g_return_if_fail(PL_IS_RENDEZVOUS_SERVICE(self));
	g_return_if_fail(from != NULL);
	g_return_if_fail(send != NULL);

	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, pl_rendezvous_service_send_async);
	data = g_new0(PlSendData, 1);
	data->to = g_strdup(send->to);
	g_task_set_task_data(task, data, (GDestroyNotify)pl_send_data_free);

	if (!pl_rendezvous_kind_is_valid(send->kind)) {
		g_task_return_new_error(task, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST,
		                        "\"kind\" must be 1 to 32 characters of a-z, 0-9 and -");
		return;
	}
	if (send->body == NULL) {
		g_task_return_new_error(task, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST,
		                        "\"body\" is missing");
		return;
	}
	body_text = pl_rendezvous_object_to_string(send->body);
	if (strlen(body_text) > self->config.max_message_size) {
		g_task_return_new_error(task, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_TOO_LARGE,
		                        "\"body\" is larger than %" G_GSIZE_FORMAT " bytes",
		                        self->config.max_message_size);
		return;
	}
	if (!pl_rendezvous_service_rate_take(self, from, &retry_after_s)) {
		pl_rendezvous_service_send_error(
		        task, retry_after_s,
		        g_error_new(PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_RATE_LIMITED,
		                    "more than %g messages per second: retry in %u s",
		                    self->config.rate, retry_after_s));
		return;
	}
	if (!pl_rendezvous_service_check_available(self, task))
		return;

	message = g_new0(PlRendezvousMessage, 1);
	message->id = pl_rendezvous_message_id_new();
	message->from = g_strdup(from);
	message->kind = g_strdup(send->kind);
	message->body = json_object_ref(send->body);
	message->sent_at = g_get_real_time() / 1000;
	data->id = g_strdup(message->id);
	data->sent_at = message->sent_at;
	data->text = pl_rendezvous_message_to_json_with_body(message, body_text);
	data->inbox_key = pl_rendezvous_service_key("inbox", send->to);

	/* a recipient connected to this instance is online: no need to ask the store */
	if (pl_rendezvous_service_has_local_connection(self, send->to)) {
		pl_rendezvous_service_push(g_steal_pointer(&task));
		return;
	}
	/* signaling to an absent peer fails fast */
	presence_key = pl_rendezvous_service_key("presence", send->to);
	pl_store_get_async(self->store, presence_key, FALSE, cancellable,
	                   pl_rendezvous_service_presence_get_cb, g_steal_pointer(&task));
}

gchar *
pl_rendezvous_service_send_finish(PlRendezvousService *self,
                                  GAsyncResult *result,
                                  guint *retry_after_s,
                                  GError **error)
{
	PlSendData *data;

	g_return_val_if_fail(g_task_is_valid(result, self), NULL);

	data = g_task_get_task_data(G_TASK(result));
	if (retry_after_s != NULL)
		*retry_after_s = data != NULL ? data->retry_after_s : 0;
	return g_task_propagate_pointer(G_TASK(result), error);
}

/* -------------------------------------------------------------------------- */
/* presence lookup */

static void
pl_rendezvous_service_lookup_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *conn = NULL;

	conn = pl_store_get_finish(PL_STORE(source), result, &error);
	if (error != NULL) {
		pl_rendezvous_service_task_return_store_error(task, error);
		return;
	}
	g_task_return_boolean(task, conn != NULL);
}

void
pl_rendezvous_service_lookup_async(PlRendezvousService *self,
                                   const gchar *peer_id,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback,
                                   gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autofree gchar *key = NULL;

	g_return_if_fail(PL_IS_RENDEZVOUS_SERVICE(self));
	g_return_if_fail(peer_id != NULL);

	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, pl_rendezvous_service_lookup_async);
	if (!pl_rendezvous_service_check_available(self, task))
		return;
	key = pl_rendezvous_service_key("presence", peer_id);
	pl_store_get_async(self->store, key, FALSE, cancellable, pl_rendezvous_service_lookup_cb,
	                   g_steal_pointer(&task));
}

gboolean
pl_rendezvous_service_lookup_finish(PlRendezvousService *self,
                                    GAsyncResult *result,
                                    gboolean *online,
                                    GError **error)
{
	g_autoptr(GError) error_local = NULL;
	gboolean value;

	g_return_val_if_fail(g_task_is_valid(result, self), FALSE);

	value = g_task_propagate_boolean(G_TASK(result), &error_local);
	if (error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	if (online != NULL)
		*online = value;
	return TRUE;
}

/* -------------------------------------------------------------------------- */
/* connections: delivery */

static void
pl_rendezvous_service_emit_frame(PlRendezvousService *self, PlConn *conn, const gchar *text)
{
	if (conn->closed)
		return;
	g_signal_emit(self, signals[SIGNAL_CONNECTION_FRAME], 0, conn->id, text);
}

static void
pl_rendezvous_service_emit_error(PlRendezvousService *self,
                                 PlConn *conn,
                                 gint64 ref,
                                 const GError *error)
{
	g_autofree gchar *text = pl_rendezvous_frame_build_error(ref, error);
	pl_rendezvous_service_record_error(self, error);
	pl_rendezvous_service_emit_frame(self, conn, text);
}

static void
pl_rendezvous_service_close(PlRendezvousService *self, PlConn *conn, gint code, const gchar *reason)
{
	if (conn->closed)
		return;
	conn->closed = TRUE;
	g_signal_emit(self, signals[SIGNAL_CONNECTION_CLOSE], 0, conn->id, code, reason);
}

typedef struct {
	PlRendezvousService *self;
	PlConn *conn;
	gint64 ref;
} PlConnOp;

static PlConnOp *
pl_conn_op_new(PlRendezvousService *self, PlConn *conn, gint64 ref)
{
	PlConnOp *op = g_new0(PlConnOp, 1);
	op->self = g_object_ref(self);
	op->conn = pl_conn_ref(conn);
	op->ref = ref;
	return op;
}

static void
pl_conn_op_free(PlConnOp *op)
{
	g_object_unref(op->self);
	pl_conn_unref(op->conn);
	g_free(op);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlConnOp, pl_conn_op_free)

static void pl_rendezvous_service_deliver(PlRendezvousService *self, PlConn *conn);

/*
 * forgets what can no longer be acknowledged: the expired, and the oldest
 * beyond what an inbox holds (an ack for them finds nothing; the message
 * stays in the inbox and goes out again on the next connection)
 */
static void
pl_rendezvous_service_trim(PlRendezvousService *self, PlConn *conn, guint room)
{
	gint64 now_ms = g_get_real_time() / 1000;
	gint64 ttl_ms = (gint64)self->config.message_ttl_s * 1000;
	guint max = self->config.max_inbox;
	PlDelivered *oldest;

	while ((oldest = g_queue_peek_head(&conn->sent_order)) != NULL) {
		if (oldest->sent_at + ttl_ms > now_ms &&
		    (max == 0 || conn->sent_order.length + room <= max))
			break;
		pl_conn_forget(conn, oldest);
	}
}

/* sends one message of the inbox and remembers it for the ack; takes delivered */
static void
pl_rendezvous_service_send_delivered(PlRendezvousService *self,
                                     PlConn *conn,
                                     PlDelivered *delivered)
{
	delivered->seen = conn->readings;
	g_hash_table_insert(conn->sent, delivered->id, delivered);
	g_queue_push_tail_link(&conn->sent_order, &delivered->link);
	pl_rendezvous_service_emit_frame(self, conn, delivered->text);
}

static void
pl_rendezvous_service_deliver_range_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(PlConnOp) op = user_data;
	PlRendezvousService *self = op->self;
	PlConn *conn = op->conn;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) items = NULL;
	gint64 now_ms = g_get_real_time() / 1000;
	gint64 ttl_ms = (gint64)self->config.message_ttl_s * 1000;
	GList *link;
	GList *next;

	conn->delivering = FALSE;
	items = pl_store_list_range_finish(PL_STORE(source), result, &error);
	if (items == NULL) {
		g_debug("cannot read the inbox of %s: %s", conn->peer_id, error->message);
		/* notified messages wait: the next notice or the store's return reads again */
		conn->flushed = FALSE;
		conn->deliver_again = FALSE;
		return;
	}
	if (conn->closed)
		return;

	/* the inbox as it was read: in order, what this connection was not sent yet */
	conn->readings++;
	for (guint i = 0; i < items->len; i++) {
		const gchar *item = g_ptr_array_index(items, i);
		g_autoptr(PlRendezvousMessage) message = NULL;
		PlDelivered *delivered = NULL;
		gchar id[PL_MESSAGE_ID_LEN + 1];
		gint64 sent_at;

		/* already sent on this connection: only its age matters */
		if (pl_rendezvous_service_item_id(item, id))
			delivered = g_hash_table_lookup(conn->sent, id);
		if (delivered == NULL) {
			message = pl_rendezvous_message_from_json(item, strlen(item), NULL);
			if (message != NULL)
				delivered = g_hash_table_lookup(conn->sent, message->id);
		}
		if (delivered != NULL)
			sent_at = delivered->sent_at;
		else if (message != NULL)
			sent_at = message->sent_at;
		else
			sent_at = G_MININT64; /* unreadable: goes as the expired do */
		if (sent_at == G_MININT64 || sent_at + ttl_ms <= now_ms) {
			pl_store_list_remove_async(
			        self->store, conn->inbox_key, item, self->cancellable,
			        pl_rendezvous_service_remove_done_cb, g_strdup(conn->inbox_key));
			if (delivered != NULL)
				pl_conn_forget(conn, delivered);
			continue;
		}
		if (delivered != NULL) {
			delivered->seen = conn->readings;
			continue;
		}
		if (message != NULL)
			pl_rendezvous_service_send_delivered(
			        self, conn,
			        pl_delivered_new(message->id, item, strlen(item), sent_at));
	}
	/* forget what left the inbox, and what was acknowledged while it was read */
	for (link = conn->sent_order.head; link != NULL; link = next) {
		PlDelivered *delivered = link->data;
		next = link->next;
		if (delivered->seen != conn->readings || delivered->acked)
			pl_conn_forget(conn, delivered);
	}
	/* then what was notified meanwhile, in the order of the notices */
	while ((link = g_queue_pop_head_link(&conn->waiting)) != NULL) {
		PlDelivered *delivered = link->data;
		if (conn->closed || g_hash_table_contains(conn->sent, delivered->id)) {
			pl_delivered_free(delivered);
			continue;
		}
		pl_rendezvous_service_send_delivered(self, conn, delivered);
	}
	pl_rendezvous_service_trim(self, conn, 0);
	conn->flushed = TRUE;
	if (conn->deliver_again) {
		conn->deliver_again = FALSE;
		pl_rendezvous_service_deliver(self, conn);
	}
}

/*
 * reads the inbox and sends, in order, what this connection has not been sent:
 * when the connection starts, and whenever a notice may have been missed
 */
static void
pl_rendezvous_service_deliver(PlRendezvousService *self, PlConn *conn)
{
	if (conn->closed)
		return;
	if (conn->delivering) {
		conn->deliver_again = TRUE;
		return;
	}
	conn->delivering = TRUE;
	pl_store_list_range_async(self->store, conn->inbox_key, self->cancellable,
	                          pl_rendezvous_service_deliver_range_cb,
	                          pl_conn_op_new(self, conn, -1));
}

/* a message notice: sent at once, or after the reading of the inbox under way */
static void
pl_rendezvous_service_deliver_notified(PlRendezvousService *self,
                                       PlConn *conn,
                                       const gchar *id,
                                       gint64 sent_at,
                                       const gchar *text,
                                       gsize text_len)
{
	PlDelivered *delivered;

	if (conn->closed || g_hash_table_contains(conn->sent, id))
		return;
	delivered = pl_delivered_new(id, text, text_len, sent_at);
	if (conn->flushed && !conn->delivering) {
		pl_rendezvous_service_trim(self, conn, 1);
		pl_rendezvous_service_send_delivered(self, conn, delivered);
		return;
	}
	/* the inbox holds them all as well: beyond its size, read it once more instead */
	if (self->config.max_inbox > 0 && conn->waiting.length >= self->config.max_inbox) {
		pl_delivered_free(delivered);
		conn->deliver_again = TRUE;
	} else {
		g_queue_push_tail_link(&conn->waiting, &delivered->link);
	}
	/* not read yet, or the last reading failed */
	if (!conn->delivering)
		pl_rendezvous_service_deliver(self, conn);
}

/* a notification on pl:notify:<peer>, from this instance or another one */
static void
pl_rendezvous_service_store_message_cb(PlStore *store,
                                       const gchar *channel,
                                       const gchar *payload,
                                       PlRendezvousService *self)
{
	g_autoptr(JsonObject) object = NULL;
	g_autoptr(GPtrArray) conns = NULL;
	GPtrArray *list;
	const gchar *peer_id;
	JsonNode *type_node;
	const gchar *type;
	gchar id[PL_MESSAGE_ID_LEN + 1];
	gint64 sent_at = 0;
	const gchar *text = NULL;
	gsize text_len = 0;

	if (!g_str_has_prefix(channel, "pl:notify:"))
		return;
	peer_id = channel + strlen("pl:notify:");
	list = g_hash_table_lookup(self->peers, peer_id);
	if (list == NULL)
		return;

	/* a copy: closing may change the list */
	conns = g_ptr_array_new_full(list->len, (GDestroyNotify)pl_conn_unref);
	for (guint i = 0; i < list->len; i++)
		g_ptr_array_add(conns, pl_conn_ref(g_ptr_array_index(list, i)));

	/* the common case, without a JSON parser */
	if (pl_rendezvous_service_parse_message_notice(payload, id, &sent_at, &text, &text_len)) {
		for (guint i = 0; i < conns->len; i++)
			pl_rendezvous_service_deliver_notified(self, g_ptr_array_index(conns, i),
			                                       id, sent_at, text, text_len);
		return;
	}

	object = pl_rendezvous_parse_object(payload, strlen(payload), NULL);
	type_node = object != NULL ? json_object_get_member(object, "type") : NULL;
	if (type_node == NULL || !JSON_NODE_HOLDS_VALUE(type_node) ||
	    json_node_get_value_type(type_node) != G_TYPE_STRING) {
		g_debug("ignoring notification %s on %s", payload, channel);
		return;
	}
	type = json_node_get_string(type_node);

	/* "inbox", or a message notice in another form: read the inbox */
	if (g_strcmp0(type, "inbox") == 0 || g_strcmp0(type, "message") == 0) {
		for (guint i = 0; i < conns->len; i++)
			pl_rendezvous_service_deliver(self, g_ptr_array_index(conns, i));
	} else if (g_strcmp0(type, "replaced") == 0) {
		JsonNode *conn_node = json_object_get_member(object, "conn");
		JsonNode *at_node = json_object_get_member(object, "at");
		const gchar *newer;
		gint64 at;

		if (conn_node == NULL || at_node == NULL || !JSON_NODE_HOLDS_VALUE(conn_node) ||
		    !JSON_NODE_HOLDS_VALUE(at_node) ||
		    json_node_get_value_type(conn_node) != G_TYPE_STRING ||
		    json_node_get_value_type(at_node) != G_TYPE_INT64)
			return;
		newer = json_node_get_string(conn_node);
		at = json_node_get_int(at_node);
		for (guint i = 0; i < conns->len; i++) {
			PlConn *conn = g_ptr_array_index(conns, i);
			/*
			 * the subscription is effective now (a connection hears its own
			 * notice): read the inbox again for what was notified before
			 */
			if (g_strcmp0(conn->id, newer) == 0 || conn->connected_at > at ||
			    (conn->connected_at == at && g_strcmp0(conn->id, newer) > 0)) {
				pl_rendezvous_service_deliver(self, conn);
				continue;
			}
			/* only older connections give way */
			g_debug("connection %s of %s replaced by %s", conn->id, conn->peer_id,
			        newer);
			pl_rendezvous_service_close(self, conn, PL_RENDEZVOUS_CLOSE_REPLACED,
			                            "replaced by a newer connection");
		}
	}
}

static void
pl_rendezvous_service_store_availability_cb(PlStore *store,
                                            gboolean available,
                                            PlRendezvousService *self)
{
	g_autoptr(GPtrArray) conns = NULL;
	GHashTableIter iter;
	PlConn *conn;

	if (!available) {
		g_message("the %s backend is unavailable", pl_store_get_backend_name(store));
		return;
	}
	g_message("the %s backend is available again", pl_store_get_backend_name(store));

	/* notices published meanwhile may be lost: read every inbox again */
	conns = g_ptr_array_new_full(g_hash_table_size(self->conns), (GDestroyNotify)pl_conn_unref);
	g_hash_table_iter_init(&iter, self->conns);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&conn))
		g_ptr_array_add(conns, pl_conn_ref(conn));
	for (guint i = 0; i < conns->len; i++)
		pl_rendezvous_service_deliver(self, g_ptr_array_index(conns, i));
}

/* -------------------------------------------------------------------------- */
/* connections: life cycle */

static PlConn *
pl_rendezvous_service_add_conn(PlRendezvousService *self, const gchar *peer_id)
{
	PlConn *conn = g_rc_box_new0(PlConn);
	GPtrArray *list;

	conn->id =
	        g_strdup_printf("%s:%" G_GUINT64_FORMAT, self->instance_id, ++self->conn_counter);
	conn->peer_id = g_strdup(peer_id);
	conn->presence_key = pl_rendezvous_service_key("presence", peer_id);
	conn->inbox_key = pl_rendezvous_service_key("inbox", peer_id);
	conn->connected_at = g_get_real_time();
	conn->refreshed_at = g_get_monotonic_time();
	conn->sent = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
	                                   (GDestroyNotify)pl_delivered_free);
	g_queue_init(&conn->sent_order);
	g_queue_init(&conn->waiting);
	g_hash_table_insert(self->conns, g_strdup(conn->id), conn);

	list = g_hash_table_lookup(self->peers, peer_id);
	if (list == NULL) {
		g_autofree gchar *channel = pl_rendezvous_service_key("notify", peer_id);
		list = g_ptr_array_new_with_free_func((GDestroyNotify)pl_conn_unref);
		g_hash_table_insert(self->peers, g_strdup(peer_id), list);
		pl_store_subscribe(self->store, channel);
	}
	g_ptr_array_add(list, pl_conn_ref(conn));
	return conn;
}

static void
pl_rendezvous_service_connect_publish_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	PlRendezvousService *self = g_task_get_source_object(task);
	PlConn *conn = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;

	if (!pl_store_publish_finish(PL_STORE(source), result, &error)) {
		pl_rendezvous_service_task_return_store_error(task, error);
		return;
	}
	/* what waited in the inbox while the peer was away */
	pl_rendezvous_service_deliver(self, conn);
	g_task_return_boolean(task, TRUE);
}

static void
pl_rendezvous_service_connect_set_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	PlRendezvousService *self = g_task_get_source_object(task);
	PlConn *conn = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) payload = json_object_new();
	g_autofree gchar *payload_text = NULL;
	g_autofree gchar *channel = NULL;

	if (!pl_store_set_finish(PL_STORE(source), result, &error)) {
		pl_rendezvous_service_task_return_store_error(task, error);
		return;
	}
	/* older connections of this peer, on any instance, give way */
	json_object_set_string_member(payload, "type", "replaced");
	json_object_set_string_member(payload, "conn", conn->id);
	json_object_set_int_member(payload, "at", conn->connected_at);
	payload_text = pl_rendezvous_object_to_string(payload);
	channel = pl_rendezvous_service_key("notify", conn->peer_id);
	pl_store_publish_async(self->store, channel, payload_text, g_task_get_cancellable(task),
	                       pl_rendezvous_service_connect_publish_cb, g_object_ref(task));
}

gchar *
pl_rendezvous_service_connection_new(PlRendezvousService *self, const gchar *peer_id)
{
	PlConn *conn;

	g_return_val_if_fail(PL_IS_RENDEZVOUS_SERVICE(self), NULL);
	g_return_val_if_fail(peer_id != NULL, NULL);

	conn = pl_rendezvous_service_add_conn(self, peer_id);
	return g_strdup(conn->id);
}

void
pl_rendezvous_service_connect_async(PlRendezvousService *self,
                                    const gchar *conn_id,
                                    GCancellable *cancellable,
                                    GAsyncReadyCallback callback,
                                    gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	PlConn *conn;

	g_return_if_fail(PL_IS_RENDEZVOUS_SERVICE(self));
	g_return_if_fail(conn_id != NULL);

	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, pl_rendezvous_service_connect_async);
	conn = g_hash_table_lookup(self->conns, conn_id);
	if (conn == NULL || conn->closed) {
		g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_CLOSED,
		                        "the connection is closed");
		return;
	}
	if (!pl_rendezvous_service_check_available(self, task))
		return;
	g_task_set_task_data(task, pl_conn_ref(conn), (GDestroyNotify)pl_conn_unref);
	g_debug("peer %s connected as %s", conn->peer_id, conn->id);
	pl_store_set_async(self->store, conn->presence_key, conn->id,
	                   self->config.presence_timeout_s * 1000, cancellable,
	                   pl_rendezvous_service_connect_set_cb, g_steal_pointer(&task));
}

gboolean
pl_rendezvous_service_connect_finish(PlRendezvousService *self,
                                     GAsyncResult *result,
                                     GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
	return g_task_propagate_boolean(G_TASK(result), error);
}

/* -------------------------------------------------------------------------- */
/* connections: frames from the client */

static void
pl_rendezvous_service_refresh_set_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(PlConnOp) op = user_data;
	g_autoptr(GError) error = NULL;

	if (!pl_store_set_finish(PL_STORE(source), result, &error))
		g_debug("cannot restore the presence of %s: %s", op->conn->peer_id, error->message);
}

static void
pl_rendezvous_service_refresh_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(PlConnOp) op = user_data;
	g_autoptr(GError) error = NULL;

	if (pl_store_expire_finish(PL_STORE(source), result, &error))
		return;
	if (error != NULL) {
		g_debug("cannot refresh the presence of %s: %s", op->conn->peer_id, error->message);
		return;
	}
	/* the key went away (a store restart?) while the connection lives: set it again */
	if (op->conn->closed)
		return;
	pl_store_set_async(op->self->store, op->conn->presence_key, op->conn->id,
	                   op->self->config.presence_timeout_s * 1000, op->self->cancellable,
	                   pl_rendezvous_service_refresh_set_cb,
	                   pl_conn_op_new(op->self, op->conn, -1));
}

static void
pl_rendezvous_service_refresh(PlRendezvousService *self, PlConn *conn)
{
	gint64 now = g_get_monotonic_time();

	if (now - conn->refreshed_at < PL_RENDEZVOUS_PRESENCE_REFRESH_US)
		return;
	conn->refreshed_at = now;
	pl_store_expire_async(self->store, conn->presence_key,
	                      self->config.presence_timeout_s * 1000, self->cancellable,
	                      pl_rendezvous_service_refresh_cb, pl_conn_op_new(self, conn, -1));
}

static void
pl_rendezvous_service_frame_send_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(PlConnOp) op = user_data;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *text = NULL;

	id = pl_rendezvous_service_send_finish(op->self, result, NULL, &error);
	if (id == NULL) {
		pl_rendezvous_service_emit_error(op->self, op->conn, op->ref, error);
		return;
	}
	text = pl_rendezvous_frame_build_sent(op->ref, id);
	pl_rendezvous_service_emit_frame(op->self, op->conn, text);
}

static void
pl_rendezvous_service_ack_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autofree gchar *id = user_data;
	g_autoptr(GError) error = NULL;

	if (!pl_store_list_remove_finish(PL_STORE(source), result, &error)) {
		if (error != NULL)
			g_debug("cannot remove acknowledged message %s: %s", id, error->message);
		else
			g_debug("acknowledged message %s had already left the inbox", id);
	}
}

void
pl_rendezvous_service_connection_receive(PlRendezvousService *self,
                                         const gchar *conn_id,
                                         const gchar *text,
                                         gsize len)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) object = NULL;
	g_autoptr(PlRendezvousFrame) frame = NULL;
	PlConn *conn;

	g_return_if_fail(PL_IS_RENDEZVOUS_SERVICE(self));
	g_return_if_fail(conn_id != NULL);

	conn = g_hash_table_lookup(self->conns, conn_id);
	if (conn == NULL || conn->closed)
		return;

	/* any frame shows the peer is alive */
	pl_rendezvous_service_refresh(self, conn);

	/* acks are half of all frames and have one fixed shape: no JSON parser for them */
	frame = pl_rendezvous_frame_parse_ack(text, len);
	if (frame == NULL) {
		object = pl_rendezvous_parse_object(text, len, &error);
		if (object == NULL) {
			pl_rendezvous_service_emit_error(self, conn, -1, error);
			return;
		}
		frame = pl_rendezvous_frame_parse_object(object, self->config.max_message_size,
		                                         &error);
		if (frame == NULL) {
			pl_rendezvous_service_emit_error(
			        self, conn, pl_rendezvous_frame_get_ref(object), error);
			return;
		}
	}
	switch (frame->type) {
	case PL_RENDEZVOUS_FRAME_PING: {
		g_autofree gchar *pong = pl_rendezvous_frame_build_simple(PL_RENDEZVOUS_FRAME_PONG);
		pl_rendezvous_service_emit_frame(self, conn, pong);
		break;
	}
	case PL_RENDEZVOUS_FRAME_ACK: {
		PlDelivered *delivered = g_hash_table_lookup(conn->sent, frame->id);
		if (delivered == NULL || delivered->acked) {
			g_debug("%s acknowledged unknown message %s", conn->peer_id, frame->id);
			break;
		}
		pl_store_list_remove_async(self->store, conn->inbox_key, delivered->text,
		                           self->cancellable, pl_rendezvous_service_ack_cb,
		                           g_strdup(delivered->id));
		/* a reading under way may still find it: it is forgotten after that one */
		if (conn->delivering)
			delivered->acked = TRUE;
		else
			pl_conn_forget(conn, delivered);
		break;
	}
	case PL_RENDEZVOUS_FRAME_SEND:
		pl_rendezvous_service_send_async(self, conn->peer_id, frame->send,
		                                 self->cancellable,
		                                 pl_rendezvous_service_frame_send_cb,
		                                 pl_conn_op_new(self, conn, frame->ref));
		break;
	default: {
		g_autoptr(GError) wrong =
		        g_error_new_literal(PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST,
		                            "\"type\" is not a frame a client sends");
		pl_rendezvous_service_emit_error(self, conn, frame->ref, wrong);
		break;
	}
	}
}

void
pl_rendezvous_service_disconnect(PlRendezvousService *self, const gchar *conn_id)
{
	PlConn *conn;
	GPtrArray *list;

	g_return_if_fail(PL_IS_RENDEZVOUS_SERVICE(self));
	g_return_if_fail(conn_id != NULL);

	conn = g_hash_table_lookup(self->conns, conn_id);
	if (conn == NULL)
		return;
	pl_conn_ref(conn);
	conn->closed = TRUE;
	g_hash_table_remove(self->conns, conn_id);
	list = g_hash_table_lookup(self->peers, conn->peer_id);
	if (list != NULL) {
		g_ptr_array_remove(list, conn);
		if (list->len == 0) {
			g_autofree gchar *channel =
			        pl_rendezvous_service_key("notify", conn->peer_id);
			pl_store_unsubscribe(self->store, channel);
			g_hash_table_remove(self->peers, conn->peer_id);
		}
	}
	/* offline, unless a newer connection took the presence over */
	pl_store_delete_async(self->store, conn->presence_key, conn->id, self->cancellable,
	                      pl_rendezvous_service_delete_done_cb, g_strdup(conn->presence_key));
	g_debug("peer %s disconnected (%s)", conn->peer_id, conn->id);
	pl_conn_unref(conn);
}

/* -------------------------------------------------------------------------- */
/* metrics */

gboolean
pl_rendezvous_service_is_available(PlRendezvousService *self)
{
	g_return_val_if_fail(PL_IS_RENDEZVOUS_SERVICE(self), FALSE);
	return pl_store_is_available(self->store);
}

gchar *
pl_rendezvous_service_build_metrics(PlRendezvousService *self)
{
	GString *text = g_string_new(NULL);
	const PlRendezvousErrorCode kinds[] = {
	        PL_RENDEZVOUS_ERROR_FAILED,
	        PL_RENDEZVOUS_ERROR_BAD_REQUEST,
	        PL_RENDEZVOUS_ERROR_UNAUTHORIZED,
	        PL_RENDEZVOUS_ERROR_AUTH_FAILED,
	        PL_RENDEZVOUS_ERROR_CHALLENGE_INVALID,
	        PL_RENDEZVOUS_ERROR_NOT_FOUND,
	        PL_RENDEZVOUS_ERROR_PEER_OFFLINE,
	        PL_RENDEZVOUS_ERROR_METHOD_NOT_ALLOWED,
	        PL_RENDEZVOUS_ERROR_TOO_LARGE,
	        PL_RENDEZVOUS_ERROR_UNSUPPORTED_MEDIA_TYPE,
	        PL_RENDEZVOUS_ERROR_RATE_LIMITED,
	        PL_RENDEZVOUS_ERROR_INBOX_FULL,
	        PL_RENDEZVOUS_ERROR_UNAVAILABLE,
	};

	g_return_val_if_fail(PL_IS_RENDEZVOUS_SERVICE(self), NULL);

	g_string_append(text, "# HELP peerlink_rendezvous_peers_online Peers connected to this "
	                      "instance.\n"
	                      "# TYPE peerlink_rendezvous_peers_online gauge\n");
	g_string_append_printf(text, "peerlink_rendezvous_peers_online %u\n",
	                       g_hash_table_size(self->peers));
	g_string_append(text, "# HELP peerlink_rendezvous_messages_relayed_total Messages "
	                      "accepted into an inbox.\n"
	                      "# TYPE peerlink_rendezvous_messages_relayed_total counter\n");
	g_string_append_printf(text,
	                       "peerlink_rendezvous_messages_relayed_total %" G_GUINT64_FORMAT "\n",
	                       self->relayed);
	g_string_append(text, "# HELP peerlink_rendezvous_errors_total Error replies by code.\n"
	                      "# TYPE peerlink_rendezvous_errors_total counter\n");
	for (guint i = 0; i < G_N_ELEMENTS(kinds); i++) {
		g_string_append_printf(
		        text,
		        "peerlink_rendezvous_errors_total{kind=\"%s\"} %" G_GUINT64_FORMAT "\n",
		        pl_rendezvous_error_to_string(kinds[i]), self->errors[kinds[i]]);
	}
	g_string_append(text, "# HELP peerlink_rendezvous_auth_total Session requests by result.\n"
	                      "# TYPE peerlink_rendezvous_auth_total counter\n");
	g_string_append_printf(
	        text, "peerlink_rendezvous_auth_total{result=\"ok\"} %" G_GUINT64_FORMAT "\n",
	        self->auth_ok);
	g_string_append_printf(
	        text, "peerlink_rendezvous_auth_total{result=\"failed\"} %" G_GUINT64_FORMAT "\n",
	        self->auth_failed);
	return g_string_free(text, FALSE);
}

/* -------------------------------------------------------------------------- */
/* object */

PlStore *
pl_rendezvous_service_get_store(PlRendezvousService *self)
{
	g_return_val_if_fail(PL_IS_RENDEZVOUS_SERVICE(self), NULL);
	return self->store;
}

const PlRendezvousServiceConfig *
pl_rendezvous_service_get_config(PlRendezvousService *self)
{
	g_return_val_if_fail(PL_IS_RENDEZVOUS_SERVICE(self), NULL);
	return &self->config;
}

static void
pl_rendezvous_service_dispose(GObject *object)
{
	PlRendezvousService *self = PL_RENDEZVOUS_SERVICE(object);

	g_cancellable_cancel(self->cancellable);
	if (self->store != NULL) {
		g_clear_signal_handler(&self->message_handler, self->store);
		g_clear_signal_handler(&self->availability_handler, self->store);
	}
	g_hash_table_remove_all(self->conns);
	g_hash_table_remove_all(self->peers);
	g_clear_object(&self->store);
	G_OBJECT_CLASS(pl_rendezvous_service_parent_class)->dispose(object);
}

static void
pl_rendezvous_service_finalize(GObject *object)
{
	PlRendezvousService *self = PL_RENDEZVOUS_SERVICE(object);

	pl_rendezvous_service_config_clear(&self->config);
	g_free(self->instance_id);
	g_hash_table_unref(self->conns);
	g_hash_table_unref(self->peers);
	g_hash_table_unref(self->buckets);
	g_object_unref(self->cancellable);
	G_OBJECT_CLASS(pl_rendezvous_service_parent_class)->finalize(object);
}

static void
pl_rendezvous_service_class_init(PlRendezvousServiceClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = pl_rendezvous_service_dispose;
	object_class->finalize = pl_rendezvous_service_finalize;

	signals[SIGNAL_CONNECTION_FRAME] =
	        g_signal_new("connection-frame", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
	                     NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
	signals[SIGNAL_CONNECTION_CLOSE] = g_signal_new(
	        "connection-close", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
	        NULL, G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_INT, G_TYPE_STRING);
}

static void
pl_rendezvous_service_init(PlRendezvousService *self)
{
	guint8 id[6];

	self->conns = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	                                    (GDestroyNotify)pl_conn_unref);
	self->peers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	                                    (GDestroyNotify)g_ptr_array_unref);
	self->buckets = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	self->cancellable = g_cancellable_new();
	for (guint i = 0; i < sizeof(id); i++)
		id[i] = (guint8)g_random_int_range(0, 256);
	self->instance_id = pl_rendezvous_base64url_encode(id, sizeof(id));
}

PlRendezvousService *
pl_rendezvous_service_new(PlStore *store, const PlRendezvousServiceConfig *config)
{
	PlRendezvousService *self;

	g_return_val_if_fail(PL_IS_STORE(store), NULL);
	g_return_val_if_fail(config != NULL, NULL);

	self = g_object_new(PL_TYPE_RENDEZVOUS_SERVICE, NULL);
	self->store = g_object_ref(store);
	self->config = *config;
	self->config.turn_secret = g_strdup(config->turn_secret);
	self->config.turn_uris = g_strdupv(config->turn_uris);
	self->config.stun_uris = g_strdupv(config->stun_uris);
	self->message_handler = g_signal_connect(
	        store, "message", G_CALLBACK(pl_rendezvous_service_store_message_cb), self);
	self->availability_handler =
	        g_signal_connect(store, "availability-changed",
	                         G_CALLBACK(pl_rendezvous_service_store_availability_cb), self);
	return self;
}
