#include "config.h"

#include <errno.h>
#include <sys/socket.h>

#include <libsoup/soup.h>
#include <string.h>

#include "pl-rendezvous-server.h"

/* room for the envelope of a "send" frame around a body of the maximum size */
#define PL_RENDEZVOUS_FRAME_OVERHEAD 4096
#define PL_RENDEZVOUS_PEERS_PREFIX   "/v1/peers/"

typedef enum {
	PL_ROUTE_NONE,
	PL_ROUTE_CHALLENGE,
	PL_ROUTE_SESSION,
	PL_ROUTE_ICE,
	PL_ROUTE_WS,
	PL_ROUTE_MESSAGES,
	PL_ROUTE_PEER,
	PL_ROUTE_HEALTH,
	PL_ROUTE_METRICS,
} PlRoute;

typedef struct {
	PlRendezvousServer *server; /* borrowed: the server owns every websocket */
	SoupWebsocketConnection *ws;
	gchar *conn_id;
	gchar *peer_id;
	gint64 last_activity; /* monotonic µs */
	gboolean closing;     /* closed for silence, waiting for "closed" */
} PlWebsocket;

struct _PlRendezvousServer {
	GObject parent_instance;
	PlRendezvousService *service;
	SoupServer *soup;
	gboolean https;
	GHashTable *websockets; /* conn id → PlWebsocket */
	guint sweep_id; /* one timer for the presence timeout of all websockets, while any */
	gulong frame_handler;
	gulong close_handler;
	GCancellable *cancellable;
	gboolean shut_down;
};

G_DEFINE_TYPE(PlRendezvousServer, pl_rendezvous_server, G_TYPE_OBJECT)

#define PL_RENDEZVOUS_LISTEN_BACKLOG 4096
#define PL_RENDEZVOUS_ACCEPT_SOCKETS 8

/* an HTTP request waiting for the service */
typedef struct {
	PlRendezvousServer *self;
	SoupServerMessage *msg;
	PlRoute route;
	gchar *token;
	gchar *peer_id; /* the bearer's, once authenticated */
	gchar *target;  /* GET /v1/peers/<id>: canonical */
} PlRequest;

static PlRequest *
pl_request_new(PlRendezvousServer *self, SoupServerMessage *msg, PlRoute route)
{
	PlRequest *request = g_new0(PlRequest, 1);
	request->self = g_object_ref(self);
	request->msg = g_object_ref(msg);
	request->route = route;
	return request;
}

static void
pl_request_free(PlRequest *request)
{
	g_object_unref(request->self);
	g_object_unref(request->msg);
	g_free(request->token);
	g_free(request->peer_id);
	g_free(request->target);
	g_free(request);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlRequest, pl_request_free)

/* -------------------------------------------------------------------------- */
/* replies */

/* libsoup 3.2 never notices a client closing an idle keep-alive connection: the
 * socket stays in CLOSE-WAIT for good, and any client could exhaust our
 * descriptors. Plain HTTP is only for sign-in and the odd request (traffic goes
 * over the WebSocket), so each HTTP reply closes its connection. */
static void
pl_rendezvous_server_close_after_reply(SoupServerMessage *msg)
{
	soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection",
	                             "close");
}

static void
pl_rendezvous_server_reply(SoupServerMessage *msg,
                           guint status,
                           const gchar *content_type,
                           gchar *body /* taken */)
{
	SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);

	pl_rendezvous_server_close_after_reply(msg);
	soup_message_headers_replace(headers, "Cache-Control", "no-store");
	soup_server_message_set_status(msg, status, NULL);
	soup_server_message_set_response(msg, content_type, SOUP_MEMORY_TAKE, body, strlen(body));
}

static void
pl_rendezvous_server_reply_json(SoupServerMessage *msg, guint status, gchar *body /* taken */)
{
	pl_rendezvous_server_reply(msg, status, "application/json", body);
}

static void
pl_rendezvous_server_reply_error_full(PlRendezvousServer *self,
                                      SoupServerMessage *msg,
                                      const GError *error,
                                      guint retry_after_s,
                                      const gchar *allow)
{
	SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
	PlRendezvousErrorCode code = PL_RENDEZVOUS_ERROR_FAILED;

	if (error->domain == PL_RENDEZVOUS_ERROR)
		code = error->code;
	pl_rendezvous_service_record_error(self->service, error);
	if (code == PL_RENDEZVOUS_ERROR_FAILED)
		g_message("internal error: %s", error->message);
	else
		g_debug("%s %s: %s", soup_server_message_get_method(msg),
		        g_uri_get_path(soup_server_message_get_uri(msg)), error->message);
	if (allow != NULL)
		soup_message_headers_replace(headers, "Allow", allow);
	if (retry_after_s > 0) {
		g_autofree gchar *value = g_strdup_printf("%u", retry_after_s);
		soup_message_headers_replace(headers, "Retry-After", value);
	}
	/* a body we refused to read must not be taken for the next request */
	if (code == PL_RENDEZVOUS_ERROR_TOO_LARGE)
		soup_message_headers_replace(headers, "Connection", "close");
	pl_rendezvous_server_reply_json(msg, pl_rendezvous_error_to_http_status(code),
	                                pl_rendezvous_build_error(error));
}

static void
pl_rendezvous_server_reply_error(PlRendezvousServer *self,
                                 SoupServerMessage *msg,
                                 const GError *error)
{
	pl_rendezvous_server_reply_error_full(self, msg, error, 0, NULL);
}

static void
pl_rendezvous_server_reply_new_error(PlRendezvousServer *self,
                                     SoupServerMessage *msg,
                                     PlRendezvousErrorCode code,
                                     const gchar *message)
{
	g_autoptr(GError) error = g_error_new_literal(PL_RENDEZVOUS_ERROR, code, message);
	pl_rendezvous_server_reply_error(self, msg, error);
}

/* the reply of a paused request */
static void
pl_request_reply_error(PlRequest *request, const GError *error, guint retry_after_s)
{
	pl_rendezvous_server_reply_error_full(request->self, request->msg, error, retry_after_s,
	                                      NULL);
	soup_server_message_unpause(request->msg);
}

static void
pl_request_reply_json(PlRequest *request, guint status, gchar *body /* taken */)
{
	pl_rendezvous_server_reply_json(request->msg, status, body);
	soup_server_message_unpause(request->msg);
}

/* -------------------------------------------------------------------------- */
/* request checks */

static PlRoute
pl_rendezvous_server_route(const gchar *path, const gchar **allow)
{
	struct {
		const gchar *path;
		PlRoute route;
		const gchar *allow;
	} routes[] = {
	        {"/v1/auth/challenge", PL_ROUTE_CHALLENGE, "POST"},
	        {"/v1/auth/session", PL_ROUTE_SESSION, "POST, DELETE"},
	        {"/v1/ice", PL_ROUTE_ICE, "GET"},
	        {"/v1/ws", PL_ROUTE_WS, "GET"},
	        {"/v1/messages", PL_ROUTE_MESSAGES, "POST"},
	        {"/v1/health", PL_ROUTE_HEALTH, "GET"},
	        {"/metrics", PL_ROUTE_METRICS, "GET"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(routes); i++) {
		if (g_strcmp0(path, routes[i].path) == 0) {
			*allow = routes[i].allow;
			return routes[i].route;
		}
	}
	if (g_str_has_prefix(path, PL_RENDEZVOUS_PEERS_PREFIX) &&
	    path[strlen(PL_RENDEZVOUS_PEERS_PREFIX)] != '\0' &&
	    strchr(path + strlen(PL_RENDEZVOUS_PEERS_PREFIX), '/') == NULL) {
		*allow = "GET";
		return PL_ROUTE_PEER;
	}
	*allow = NULL;
	return PL_ROUTE_NONE;
}

static gboolean
pl_rendezvous_server_method_allowed(const gchar *method, const gchar *allow)
{
	g_auto(GStrv) methods = g_strsplit(allow, ", ", -1);
	return g_strv_contains((const gchar *const *)methods, method);
}

/* the token of "Authorization: Bearer <token>", or NULL */
static gchar *
pl_rendezvous_server_get_bearer(SoupServerMessage *msg)
{
	SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
	const gchar *value = soup_message_headers_get_one(headers, "Authorization");

	if (value == NULL || g_ascii_strncasecmp(value, "Bearer ", 7) != 0)
		return NULL;
	value += 7;
	while (*value == ' ')
		value++;
	return g_strstrip(g_strdup(value));
}

static const gchar *
pl_rendezvous_server_get_audience(SoupServerMessage *msg)
{
	SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
	return soup_message_headers_get_one(headers, "Host");
}

static gboolean
pl_rendezvous_server_check_body(PlRendezvousServer *self, SoupServerMessage *msg)
{
	SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
	SoupMessageBody *body = soup_server_message_get_request_body(msg);
	const gchar *content_type;

	if (g_object_get_data(G_OBJECT(msg), "pl-too-large") != NULL ||
	    body->length > PL_RENDEZVOUS_MAX_REQUEST_SIZE) {
		pl_rendezvous_server_reply_new_error(self, msg, PL_RENDEZVOUS_ERROR_TOO_LARGE,
		                                     "the request body is over 64 KiB");
		return FALSE;
	}
	content_type = soup_message_headers_get_content_type(headers, NULL);
	if (content_type == NULL || g_ascii_strcasecmp(content_type, "application/json") != 0) {
		pl_rendezvous_server_reply_new_error(self, msg,
		                                     PL_RENDEZVOUS_ERROR_UNSUPPORTED_MEDIA_TYPE,
		                                     "the body must be application/json");
		return FALSE;
	}
	return TRUE;
}

static GBytes *
pl_rendezvous_server_get_body(SoupServerMessage *msg)
{
	return soup_message_body_flatten(soup_server_message_get_request_body(msg));
}

/* -------------------------------------------------------------------------- */
/* POST /v1/auth/challenge, POST /v1/auth/session */

static void
pl_rendezvous_server_challenge_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(PlRequest) request = user_data;
	g_autoptr(GError) error = NULL;
	gchar *reply;

	reply = pl_rendezvous_service_challenge_finish(PL_RENDEZVOUS_SERVICE(source), result,
	                                               &error);
	if (reply == NULL) {
		pl_request_reply_error(request, error, 0);
		return;
	}
	pl_request_reply_json(request, SOUP_STATUS_OK, reply);
}

static void
pl_rendezvous_server_handle_challenge(PlRendezvousServer *self, SoupServerMessage *msg)
{
	g_autoptr(GBytes) body = pl_rendezvous_server_get_body(msg);
	g_autoptr(GError) error = NULL;
	const gchar *audience = pl_rendezvous_server_get_audience(msg);
	PlPeerId peer_id = {0};
	gsize len = 0;
	const gchar *data = g_bytes_get_data(body, &len);

	if (!pl_rendezvous_parse_challenge_request(data, len, &peer_id, &error)) {
		pl_rendezvous_server_reply_error(self, msg, error);
		return;
	}
	if (audience == NULL) {
		pl_rendezvous_server_reply_new_error(self, msg, PL_RENDEZVOUS_ERROR_BAD_REQUEST,
		                                     "the request has no Host header");
		return;
	}
	soup_server_message_pause(msg);
	pl_rendezvous_service_challenge_async(self->service, &peer_id, audience, self->cancellable,
	                                      pl_rendezvous_server_challenge_cb,
	                                      pl_request_new(self, msg, PL_ROUTE_CHALLENGE));
}

static void
pl_rendezvous_server_session_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(PlRequest) request = user_data;
	g_autoptr(GError) error = NULL;
	gchar *reply;

	reply = pl_rendezvous_service_session_finish(PL_RENDEZVOUS_SERVICE(source), result, &error);
	if (reply == NULL) {
		pl_request_reply_error(request, error, 0);
		return;
	}
	pl_request_reply_json(request, SOUP_STATUS_OK, reply);
}

static void
pl_rendezvous_server_handle_session(PlRendezvousServer *self, SoupServerMessage *msg)
{
	g_autoptr(GBytes) body = pl_rendezvous_server_get_body(msg);
	g_autoptr(GError) error = NULL;
	g_autoptr(PlRendezvousSessionRequest) session = NULL;
	const gchar *audience = pl_rendezvous_server_get_audience(msg);
	gsize len = 0;
	const gchar *data = g_bytes_get_data(body, &len);

	session = pl_rendezvous_parse_session_request(data, len, &error);
	if (session == NULL) {
		pl_rendezvous_server_reply_error(self, msg, error);
		return;
	}
	if (audience == NULL) {
		pl_rendezvous_server_reply_new_error(self, msg, PL_RENDEZVOUS_ERROR_BAD_REQUEST,
		                                     "the request has no Host header");
		return;
	}
	soup_server_message_pause(msg);
	pl_rendezvous_service_session_async(self->service, session, audience, self->cancellable,
	                                    pl_rendezvous_server_session_cb,
	                                    pl_request_new(self, msg, PL_ROUTE_SESSION));
}

/* -------------------------------------------------------------------------- */
/* authenticated requests */

static void
pl_rendezvous_server_revoke_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(PlRequest) request = user_data;
	g_autoptr(GError) error = NULL;

	if (!pl_rendezvous_service_revoke_finish(PL_RENDEZVOUS_SERVICE(source), result, &error)) {
		pl_request_reply_error(request, error, 0);
		return;
	}
	pl_rendezvous_server_close_after_reply(request->msg);
	soup_server_message_set_status(request->msg, SOUP_STATUS_NO_CONTENT, NULL);
	soup_server_message_unpause(request->msg);
}

static void
pl_rendezvous_server_send_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(PlRequest) request = user_data;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *id = NULL;
	guint retry_after_s = 0;

	id = pl_rendezvous_service_send_finish(PL_RENDEZVOUS_SERVICE(source), result,
	                                       &retry_after_s, &error);
	if (id == NULL) {
		pl_request_reply_error(request, error, retry_after_s);
		return;
	}
	pl_request_reply_json(request, SOUP_STATUS_ACCEPTED, pl_rendezvous_build_message_reply(id));
}

static void
pl_rendezvous_server_lookup_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(PlRequest) request = user_data;
	g_autoptr(GError) error = NULL;
	gboolean online = FALSE;

	if (!pl_rendezvous_service_lookup_finish(PL_RENDEZVOUS_SERVICE(source), result, &online,
	                                         &error)) {
		pl_request_reply_error(request, error, 0);
		return;
	}
	if (!online) {
		g_autoptr(GError) offline =
		        g_error_new(PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_PEER_OFFLINE,
		                    "peer %s is not connected", request->target);
		pl_request_reply_error(request, offline, 0);
		return;
	}
	pl_request_reply_json(request, SOUP_STATUS_OK,
	                      pl_rendezvous_build_peer_reply(request->target, TRUE));
}

static void
pl_rendezvous_server_authenticated(PlRequest *request)
{
	PlRendezvousServer *self = request->self;
	g_autoptr(GError) error = NULL;

	switch (request->route) {
	case PL_ROUTE_SESSION: /* DELETE */
		pl_rendezvous_service_revoke_async(self->service, request->token, self->cancellable,
		                                   pl_rendezvous_server_revoke_cb, request);
		return;
	case PL_ROUTE_ICE: {
		g_autoptr(JsonObject) ice =
		        pl_rendezvous_service_build_ice(self->service, request->peer_id);
		pl_request_reply_json(request, SOUP_STATUS_OK, pl_rendezvous_object_to_string(ice));
		pl_request_free(request);
		return;
	}
	case PL_ROUTE_MESSAGES: {
		g_autoptr(GBytes) body = pl_rendezvous_server_get_body(request->msg);
		g_autoptr(JsonObject) object = NULL;
		g_autoptr(PlRendezvousSend) send = NULL;
		gsize len = 0;
		const gchar *data = g_bytes_get_data(body, &len);

		object = pl_rendezvous_parse_object(data, len, &error);
		if (object != NULL && json_object_has_member(object, "ref")) {
			/* over HTTP there is nothing to match a ref to */
			g_set_error_literal(&error, PL_RENDEZVOUS_ERROR,
			                    PL_RENDEZVOUS_ERROR_BAD_REQUEST,
			                    "\"ref\" belongs to WebSocket frames only");
			g_clear_pointer(&object, json_object_unref);
		}
		if (object != NULL)
			send = pl_rendezvous_parse_send(
			        object,
			        pl_rendezvous_service_get_config(self->service)->max_message_size,
			        &error);
		if (send == NULL) {
			pl_request_reply_error(request, error, 0);
			pl_request_free(request);
			return;
		}
		pl_rendezvous_service_send_async(self->service, request->peer_id, send,
		                                 self->cancellable, pl_rendezvous_server_send_cb,
		                                 request);
		return;
	}
	case PL_ROUTE_PEER:
		pl_rendezvous_service_lookup_async(self->service, request->target,
		                                   self->cancellable,
		                                   pl_rendezvous_server_lookup_cb, request);
		return;
	default:
		g_set_error_literal(&error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_FAILED,
		                    "unexpected route");
		pl_request_reply_error(request, error, 0);
		pl_request_free(request);
		return;
	}
}

static void
pl_rendezvous_server_authenticate_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	PlRequest *request = user_data;
	g_autoptr(GError) error = NULL;

	request->peer_id = pl_rendezvous_service_authenticate_finish(PL_RENDEZVOUS_SERVICE(source),
	                                                             result, &error);
	if (request->peer_id == NULL) {
		pl_request_reply_error(request, error, 0);
		pl_request_free(request);
		return;
	}
	pl_rendezvous_server_authenticated(request);
}

static void
pl_rendezvous_server_authenticate(PlRendezvousServer *self,
                                  SoupServerMessage *msg,
                                  PlRoute route,
                                  const gchar *target)
{
	PlRequest *request;
	g_autofree gchar *token = pl_rendezvous_server_get_bearer(msg);

	if (token == NULL) {
		pl_rendezvous_server_reply_new_error(self, msg, PL_RENDEZVOUS_ERROR_UNAUTHORIZED,
		                                     "no bearer token: authenticate first");
		return;
	}
	request = pl_request_new(self, msg, route);
	request->token = g_steal_pointer(&token);
	request->target = g_strdup(target);
	soup_server_message_pause(msg);
	pl_rendezvous_service_authenticate_async(self->service, request->token, self->cancellable,
	                                         pl_rendezvous_server_authenticate_cb, request);
}

/* -------------------------------------------------------------------------- */
/* unauthenticated GETs */

static void
pl_rendezvous_server_handle_health(PlRendezvousServer *self, SoupServerMessage *msg)
{
	g_autoptr(JsonObject) object = json_object_new();
	gboolean available = pl_rendezvous_service_is_available(self->service);
	PlStore *store = pl_rendezvous_service_get_store(self->service);

	json_object_set_string_member(object, "status", available ? "ok" : "unavailable");
	json_object_set_string_member(object, "version", PACKAGE_VERSION);
	json_object_set_string_member(object, "backend", pl_store_get_backend_name(store));
	pl_rendezvous_server_reply_json(
	        msg, available ? SOUP_STATUS_OK : SOUP_STATUS_SERVICE_UNAVAILABLE,
	        pl_rendezvous_object_to_string(object));
}

static void
pl_rendezvous_server_handle_metrics(PlRendezvousServer *self, SoupServerMessage *msg)
{
	pl_rendezvous_server_reply(msg, SOUP_STATUS_OK, "text/plain; version=0.0.4",
	                           pl_rendezvous_service_build_metrics(self->service));
}

/* -------------------------------------------------------------------------- */
/* the handlers */

static void
pl_rendezvous_server_handler_cb(SoupServer *soup,
                                SoupServerMessage *msg,
                                const gchar *path,
                                GHashTable *query,
                                gpointer user_data)
{
	PlRendezvousServer *self = PL_RENDEZVOUS_SERVER(user_data);
	const gchar *method = soup_server_message_get_method(msg);
	const gchar *allow = NULL;
	PlRoute route = pl_rendezvous_server_route(path, &allow);

	if (route == PL_ROUTE_NONE) {
		/* the path is percent-decoded: it may be anything */
		g_autofree gchar *valid = g_utf8_make_valid(path, -1);
		g_autofree gchar *text = g_strdup_printf("no such endpoint: %s", valid);
		pl_rendezvous_server_reply_new_error(self, msg, PL_RENDEZVOUS_ERROR_NOT_FOUND,
		                                     text);
		return;
	}
	if (!pl_rendezvous_server_method_allowed(method, allow)) {
		g_autofree gchar *valid = g_utf8_make_valid(method, -1);
		g_autoptr(GError) error =
		        g_error_new(PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_METHOD_NOT_ALLOWED,
		                    "%s is not allowed here: use %s", valid, allow);
		pl_rendezvous_server_reply_error_full(self, msg, error, 0, allow);
		return;
	}
	if (g_strcmp0(method, "POST") == 0 && !pl_rendezvous_server_check_body(self, msg))
		return;

	switch (route) {
	case PL_ROUTE_CHALLENGE:
		pl_rendezvous_server_handle_challenge(self, msg);
		break;
	case PL_ROUTE_SESSION:
		if (g_strcmp0(method, "POST") == 0)
			pl_rendezvous_server_handle_session(self, msg);
		else
			pl_rendezvous_server_authenticate(self, msg, route, NULL);
		break;
	case PL_ROUTE_ICE:
	case PL_ROUTE_MESSAGES:
		pl_rendezvous_server_authenticate(self, msg, route, NULL);
		break;
	case PL_ROUTE_PEER: {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *canonical = NULL;
		PlPeerId id = {0};
		if (!pl_peer_id_parse(path + strlen(PL_RENDEZVOUS_PEERS_PREFIX), &id, &error)) {
			g_autoptr(GError) bad =
			        g_error_new(PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST,
			                    "not a valid peer ID: %s", error->message);
			pl_rendezvous_server_reply_error(self, msg, bad);
			break;
		}
		canonical = pl_peer_id_to_string(&id);
		pl_rendezvous_server_authenticate(self, msg, route, canonical);
		break;
	}
	case PL_ROUTE_HEALTH:
		pl_rendezvous_server_handle_health(self, msg);
		break;
	case PL_ROUTE_METRICS:
		pl_rendezvous_server_handle_metrics(self, msg);
		break;
	case PL_ROUTE_WS:
	case PL_ROUTE_NONE:
	default:
		pl_rendezvous_server_reply_new_error(self, msg, PL_RENDEZVOUS_ERROR_NOT_FOUND,
		                                     "no such endpoint");
		break;
	}
}

/* chunked bodies: stop keeping them past the limit */
static void
pl_rendezvous_server_got_chunk_cb(SoupServerMessage *msg, GBytes *chunk, gpointer user_data)
{
	SoupMessageBody *body = soup_server_message_get_request_body(msg);
	gsize *received = g_object_get_data(G_OBJECT(msg), "pl-received");

	if (received == NULL) {
		received = g_new0(gsize, 1);
		g_object_set_data_full(G_OBJECT(msg), "pl-received", received, g_free);
	}
	*received += g_bytes_get_size(chunk);
	if (*received > PL_RENDEZVOUS_MAX_REQUEST_SIZE &&
	    g_object_get_data(G_OBJECT(msg), "pl-too-large") == NULL) {
		g_object_set_data(G_OBJECT(msg), "pl-too-large", GINT_TO_POINTER(TRUE));
		soup_message_body_set_accumulate(body, FALSE);
		soup_message_body_truncate(body);
	}
}

static void
pl_rendezvous_server_ws_authenticate_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(PlRequest) request = user_data;
	g_autoptr(GError) error = NULL;
	gchar *peer_id;

	peer_id = pl_rendezvous_service_authenticate_finish(PL_RENDEZVOUS_SERVICE(source), result,
	                                                    &error);
	if (peer_id == NULL) {
		pl_request_reply_error(request, error, 0);
		return;
	}
	g_object_set_data_full(G_OBJECT(request->msg), "pl-peer-id", peer_id, g_free);
	soup_server_message_unpause(request->msg);
}

/* after the headers, before the body: size limits, and the WebSocket's token */
static void
pl_rendezvous_server_early_cb(SoupServer *soup,
                              SoupServerMessage *msg,
                              const gchar *path,
                              GHashTable *query,
                              gpointer user_data)
{
	PlRendezvousServer *self = PL_RENDEZVOUS_SERVER(user_data);
	SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
	SoupEncoding encoding = soup_message_headers_get_encoding(headers);
	PlRequest *request;
	g_autofree gchar *token = NULL;

	if (encoding == SOUP_ENCODING_CONTENT_LENGTH &&
	    soup_message_headers_get_content_length(headers) > PL_RENDEZVOUS_MAX_REQUEST_SIZE) {
		/* libsoup still reads the body before answering: keep none of it */
		soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);
		pl_rendezvous_server_reply_new_error(self, msg, PL_RENDEZVOUS_ERROR_TOO_LARGE,
		                                     "the request body is over 64 KiB");
		return;
	}
	if (encoding == SOUP_ENCODING_CHUNKED || encoding == SOUP_ENCODING_EOF)
		g_signal_connect(msg, "got-chunk", G_CALLBACK(pl_rendezvous_server_got_chunk_cb),
		                 NULL);

	/* a WebSocket without a valid token gets 401, not an upgrade */
	if (g_strcmp0(path, "/v1/ws") != 0 ||
	    g_strcmp0(soup_server_message_get_method(msg), "GET") != 0)
		return;
	token = pl_rendezvous_server_get_bearer(msg);
	if (token == NULL) {
		pl_rendezvous_server_reply_new_error(self, msg, PL_RENDEZVOUS_ERROR_UNAUTHORIZED,
		                                     "no bearer token: authenticate first");
		return;
	}
	request = pl_request_new(self, msg, PL_ROUTE_WS);
	soup_server_message_pause(msg);
	pl_rendezvous_service_authenticate_async(self->service, token, self->cancellable,
	                                         pl_rendezvous_server_ws_authenticate_cb, request);
}

/* GET /v1/ws before the upgrade: anything but a valid handshake gets a JSON error */
static void
pl_rendezvous_server_ws_handler_cb(SoupServer *soup,
                                   SoupServerMessage *msg,
                                   const gchar *path,
                                   GHashTable *query,
                                   gpointer user_data)
{
	PlRendezvousServer *self = PL_RENDEZVOUS_SERVER(user_data);
	const gchar *protocols[] = {PL_RENDEZVOUS_WS_PROTOCOL, NULL};
	g_autoptr(GError) error = NULL;
	const gchar *offered;
	gboolean has_protocol = FALSE;

	if (g_strcmp0(path, "/v1/ws") != 0) {
		pl_rendezvous_server_handler_cb(soup, msg, path, query, user_data);
		return;
	}
	if (g_strcmp0(soup_server_message_get_method(msg), "GET") != 0) {
		pl_rendezvous_server_handler_cb(soup, msg, path, query, user_data);
		return;
	}
	if (g_object_get_data(G_OBJECT(msg), "pl-peer-id") == NULL) {
		pl_rendezvous_server_reply_new_error(self, msg, PL_RENDEZVOUS_ERROR_UNAUTHORIZED,
		                                     "no valid bearer token");
		return;
	}
	if (!soup_websocket_server_check_handshake(msg, NULL, (gchar **)protocols, NULL, &error)) {
		g_autoptr(GError) bad =
		        g_error_new(PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST,
		                    "not a WebSocket handshake for %s: %s",
		                    PL_RENDEZVOUS_WS_PROTOCOL, error->message);
		pl_rendezvous_server_reply_error(self, msg, bad);
		return;
	}
	/* libsoup accepts a handshake without any subprotocol: we do not */
	offered = soup_message_headers_get_one(soup_server_message_get_request_headers(msg),
	                                       "Sec-WebSocket-Protocol");
	if (offered != NULL) {
		g_auto(GStrv) tokens = g_strsplit_set(offered, ", ", -1);
		has_protocol =
		        g_strv_contains((const gchar *const *)tokens, PL_RENDEZVOUS_WS_PROTOCOL);
	}
	if (!has_protocol) {
		pl_rendezvous_server_reply_new_error(
		        self, msg, PL_RENDEZVOUS_ERROR_BAD_REQUEST,
		        "the WebSocket subprotocol " PL_RENDEZVOUS_WS_PROTOCOL " is required");
		return;
	}
	/* leaving the status unset lets libsoup answer 101 */
}

/* requests libsoup itself refused (a %00 in the path, …) still get a JSON error */
static void
pl_rendezvous_server_request_read_cb(SoupServer *soup,
                                     SoupServerMessage *msg,
                                     PlRendezvousServer *self)
{
	guint status = soup_server_message_get_status(msg);
	SoupMessageBody *body = soup_server_message_get_response_body(msg);
	PlRendezvousErrorCode code;

	if (status < 400 || body->length > 0)
		return;
	switch (status) {
	case SOUP_STATUS_BAD_REQUEST:
		code = PL_RENDEZVOUS_ERROR_BAD_REQUEST;
		break;
	case SOUP_STATUS_NOT_FOUND:
		code = PL_RENDEZVOUS_ERROR_NOT_FOUND;
		break;
	case SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE:
		code = PL_RENDEZVOUS_ERROR_TOO_LARGE;
		break;
	default:
		code = PL_RENDEZVOUS_ERROR_FAILED;
		break;
	}
	pl_rendezvous_server_reply_new_error(self, msg, code, "the request is malformed");
}

/* -------------------------------------------------------------------------- */
/* WebSockets */

static void
pl_websocket_free(PlWebsocket *websocket)
{
	g_signal_handlers_disconnect_by_data(websocket->ws, websocket);
	if (soup_websocket_connection_get_state(websocket->ws) == SOUP_WEBSOCKET_STATE_OPEN)
		soup_websocket_connection_close(websocket->ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY,
		                                "service shutting down");
	g_object_unref(websocket->ws);
	g_free(websocket->conn_id);
	g_free(websocket->peer_id);
	g_free(websocket);
}

/* One timer for every connection: a source per socket would cost the main loop
 * more than the sockets themselves once there are thousands of them. */
static gboolean
pl_rendezvous_server_sweep_cb(gpointer user_data)
{
	PlRendezvousServer *self = PL_RENDEZVOUS_SERVER(user_data);
	const PlRendezvousServiceConfig *config = pl_rendezvous_service_get_config(self->service);
	gint64 oldest_allowed =
	        g_get_monotonic_time() - (gint64)config->presence_timeout_s * G_USEC_PER_SEC;
	g_autoptr(GPtrArray) silent = g_ptr_array_new();
	GHashTableIter iter;
	PlWebsocket *websocket;

	if (g_hash_table_size(self->websockets) == 0) {
		self->sweep_id = 0; /* an idle service sleeps */
		return G_SOURCE_REMOVE;
	}
	g_hash_table_iter_init(&iter, self->websockets);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&websocket)) {
		if (!websocket->closing && websocket->last_activity < oldest_allowed)
			g_ptr_array_add(silent, websocket);
	}
	/* closing may emit "closed" and free the websocket: not while iterating */
	for (guint i = 0; i < silent->len; i++) {
		websocket = silent->pdata[i];
		websocket->closing = TRUE;
		g_debug("closing silent connection %s of %s", websocket->conn_id,
		        websocket->peer_id);
		soup_websocket_connection_close(websocket->ws, PL_RENDEZVOUS_CLOSE_SILENT,
		                                "nothing received for the presence timeout");
	}
	return G_SOURCE_CONTINUE;
}

static void
pl_websocket_message_cb(SoupWebsocketConnection *ws, gint type, GBytes *data, gpointer user_data)
{
	PlWebsocket *websocket = user_data;
	PlRendezvousServer *self = websocket->server;
	gsize len = 0;
	const gchar *text = g_bytes_get_data(data, &len);

	websocket->last_activity = g_get_monotonic_time();
	if (len > pl_rendezvous_service_get_config(self->service)->max_message_size +
	                  PL_RENDEZVOUS_FRAME_OVERHEAD) {
		g_autoptr(GError) error =
		        g_error_new_literal(PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_TOO_LARGE,
		                            "frame over the message limit");
		pl_rendezvous_service_record_error(self->service, error);
		soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_TOO_BIG, error->message);
		return;
	}
	if (type != SOUP_WEBSOCKET_DATA_TEXT) {
		g_autoptr(GError) error =
		        g_error_new_literal(PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST,
		                            "frames must be text, one JSON object each");
		g_autofree gchar *frame = pl_rendezvous_frame_build_error(-1, error);
		pl_rendezvous_service_record_error(self->service, error);
		soup_websocket_connection_send_text(ws, frame);
		return;
	}
	pl_rendezvous_service_connection_receive(self->service, websocket->conn_id, text, len);
}

static void
pl_websocket_error_cb(SoupWebsocketConnection *ws, GError *error, gpointer user_data)
{
	PlWebsocket *websocket = user_data;
	g_debug("connection %s of %s: %s", websocket->conn_id, websocket->peer_id, error->message);
}

static void
pl_websocket_closed_cb(SoupWebsocketConnection *ws, gpointer user_data)
{
	PlWebsocket *websocket = user_data;
	PlRendezvousServer *self = websocket->server;
	g_autofree gchar *conn_id = g_strdup(websocket->conn_id);

	g_debug("connection %s of %s closed (%u)", conn_id, websocket->peer_id,
	        soup_websocket_connection_get_close_code(ws));
	pl_rendezvous_service_disconnect(self->service, conn_id);
	g_hash_table_remove(self->websockets, conn_id);
}

static void
pl_rendezvous_server_connect_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(PlRequest) request = user_data; /* target: the connection id */
	g_autoptr(GError) error = NULL;
	PlWebsocket *websocket;

	if (pl_rendezvous_service_connect_finish(PL_RENDEZVOUS_SERVICE(source), result, &error))
		return;
	websocket = g_hash_table_lookup(request->self->websockets, request->target);
	if (websocket == NULL)
		return;
	g_message("cannot bring %s online: %s", websocket->peer_id, error->message);
	soup_websocket_connection_close(websocket->ws, SOUP_WEBSOCKET_CLOSE_SERVER_ERROR,
	                                "the service is unavailable");
}

static void
pl_rendezvous_server_websocket_cb(SoupServer *soup,
                                  SoupServerMessage *msg,
                                  const gchar *path,
                                  SoupWebsocketConnection *ws,
                                  gpointer user_data)
{
	PlRendezvousServer *self = PL_RENDEZVOUS_SERVER(user_data);
	const PlRendezvousServiceConfig *config = pl_rendezvous_service_get_config(self->service);
	const gchar *peer_id = g_object_get_data(G_OBJECT(msg), "pl-peer-id");
	PlWebsocket *websocket;
	PlRequest *request;

	if (peer_id == NULL || self->shut_down) {
		soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, NULL);
		return;
	}
	websocket = g_new0(PlWebsocket, 1);
	websocket->server = self;
	websocket->ws = g_object_ref(ws);
	websocket->peer_id = g_strdup(peer_id);
	websocket->last_activity = g_get_monotonic_time();
	websocket->conn_id = pl_rendezvous_service_connection_new(self->service, peer_id);
	/* frames over the limit are closed with 1009 in pl_websocket_message_cb(); libsoup
	 * drops the connection without a close code only far beyond it */
	soup_websocket_connection_set_max_incoming_payload_size(
	        ws, config->max_message_size + PL_RENDEZVOUS_FRAME_OVERHEAD + 64 * 1024);
	g_signal_connect(ws, "message", G_CALLBACK(pl_websocket_message_cb), websocket);
	g_signal_connect(ws, "error", G_CALLBACK(pl_websocket_error_cb), websocket);
	g_signal_connect(ws, "closed", G_CALLBACK(pl_websocket_closed_cb), websocket);
	g_hash_table_insert(self->websockets, g_strdup(websocket->conn_id), websocket);
	if (self->sweep_id == 0)
		self->sweep_id = g_timeout_add_seconds(1, pl_rendezvous_server_sweep_cb, self);
	request = pl_request_new(self, msg, PL_ROUTE_WS);
	request->target = g_strdup(websocket->conn_id);
	pl_rendezvous_service_connect_async(self->service, websocket->conn_id, self->cancellable,
	                                    pl_rendezvous_server_connect_cb, request);
}

static void
pl_rendezvous_server_frame_cb(PlRendezvousService *service,
                              const gchar *conn_id,
                              const gchar *text,
                              PlRendezvousServer *self)
{
	PlWebsocket *websocket = g_hash_table_lookup(self->websockets, conn_id);

	if (websocket == NULL ||
	    soup_websocket_connection_get_state(websocket->ws) != SOUP_WEBSOCKET_STATE_OPEN)
		return;
	soup_websocket_connection_send_text(websocket->ws, text);
}

static void
pl_rendezvous_server_close_cb(PlRendezvousService *service,
                              const gchar *conn_id,
                              gint code,
                              const gchar *reason,
                              PlRendezvousServer *self)
{
	PlWebsocket *websocket = g_hash_table_lookup(self->websockets, conn_id);

	if (websocket == NULL ||
	    soup_websocket_connection_get_state(websocket->ws) != SOUP_WEBSOCKET_STATE_OPEN)
		return;
	/* the silence sweep must not close it a second time */
	websocket->closing = TRUE;
	soup_websocket_connection_close(websocket->ws, (gushort)code, reason);
}

/* -------------------------------------------------------------------------- */
/* listening */

GSocketAddress *
pl_rendezvous_parse_listen_address(const gchar *text, GError **error)
{
	g_autofree gchar *host = NULL;
	const gchar *port_text;
	g_autoptr(GInetAddress) address = NULL;
	guint64 port = 0;

	g_return_val_if_fail(text != NULL, NULL);

	if (text[0] == '[') {
		const gchar *end = strchr(text, ']');
		if (end == NULL || end[1] != ':') {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			            "invalid listen address \"%s\": expected [ADDR]:PORT", text);
			return NULL;
		}
		host = g_strndup(text + 1, end - text - 1);
		port_text = end + 2;
	} else {
		const gchar *colon = strrchr(text, ':');
		if (colon == NULL || strchr(text, ':') != colon) {
			g_set_error(
			        error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			        "invalid listen address \"%s\": expected ADDR:PORT or [ADDR]:PORT",
			        text);
			return NULL;
		}
		host = g_strndup(text, colon - text);
		port_text = colon + 1;
	}
	address = g_inet_address_new_from_string(host);
	if (address == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		            "invalid listen address \"%s\": \"%s\" is not an IP address", text,
		            host);
		return NULL;
	}
	if (!g_ascii_string_to_unsigned(port_text, 10, 0, 65535, &port, NULL)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		            "invalid listen address \"%s\": the port must be 0 to 65535", text);
		return NULL;
	}
	return g_inet_socket_address_new(address, (guint16)port);
}

/* soup_server_listen() leaves GSocket's backlog of 10: thousands of peers
 * reconnecting at once (a restart) would overflow it and lose SYNs. */
static GSocket *
pl_rendezvous_server_bind(GSocketAddress *address, GError **error)
{
	g_autoptr(GSocket) socket =
	        g_socket_new(g_socket_address_get_family(address), G_SOCKET_TYPE_STREAM,
	                     G_SOCKET_PROTOCOL_TCP, error);

	struct sockaddr_storage native;
	gsize native_len = g_socket_address_get_native_size(address);

	if (socket == NULL)
		return NULL;
	g_socket_set_listen_backlog(socket, PL_RENDEZVOUS_LISTEN_BACKLOG);
	/* g_socket_bind() clears SO_REUSEPORT on TCP sockets: bind by hand */
	if (!g_socket_set_option(socket, SOL_SOCKET, SO_REUSEADDR, 1, error) ||
	    !g_socket_set_option(socket, SOL_SOCKET, SO_REUSEPORT, 1, error) ||
	    !g_socket_address_to_native(address, &native, sizeof(native), error))
		return NULL;
	if (bind(g_socket_get_fd(socket), (struct sockaddr *)&native, (socklen_t)native_len) != 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "%s",
		            g_strerror(errno));
		return NULL;
	}
	if (!g_socket_listen(socket, error))
		return NULL;
	return g_steal_pointer(&socket);
}

/*
 * libsoup accepts one connection per listening socket and main-loop iteration,
 * and an iteration costs more with every connection held. Several sockets on
 * the same port (SO_REUSEPORT: only this uid may join) accept that many per
 * iteration; the kernel spreads new connections over them.
 */
gboolean
pl_rendezvous_server_listen(PlRendezvousServer *self, const gchar *address, GError **error)
{
	g_autoptr(GSocketAddress) socket_address = NULL;
	g_autoptr(GSocket) probe = NULL;
	SoupServerListenOptions options = self->https ? SOUP_SERVER_LISTEN_HTTPS : 0;

	g_return_val_if_fail(PL_IS_RENDEZVOUS_SERVER(self), FALSE);
	g_return_val_if_fail(address != NULL, FALSE);

	socket_address = pl_rendezvous_parse_listen_address(address, error);
	if (socket_address == NULL)
		return FALSE;
	/* an exclusive bind first: another instance on this port is an error, not a
	 * partner that silently gets half of the connections (and of the state) */
	probe = g_socket_new(g_socket_address_get_family(socket_address), G_SOCKET_TYPE_STREAM,
	                     G_SOCKET_PROTOCOL_TCP, error);
	if (probe == NULL || !g_socket_bind(probe, socket_address, TRUE, error)) {
		g_prefix_error(error, "cannot listen on %s: ", address);
		return FALSE;
	}
	g_clear_object(&socket_address);
	socket_address = g_socket_get_local_address(probe, error); /* port 0: the one it got */
	g_socket_close(probe, NULL);
	if (socket_address == NULL)
		return FALSE;
	for (guint i = 0; i < PL_RENDEZVOUS_ACCEPT_SOCKETS; i++) {
		g_autoptr(GSocket) socket = pl_rendezvous_server_bind(socket_address, error);
		if (socket == NULL ||
		    !soup_server_listen_socket(self->soup, socket, options, error)) {
			g_prefix_error(error, "cannot listen on %s: ", address);
			return FALSE;
		}
	}
	return TRUE;
}

static gchar *
pl_rendezvous_server_listener_uri(PlRendezvousServer *self, GSocket *listener)
{
	g_autoptr(GSocketAddress) local = g_socket_get_local_address(listener, NULL);
	g_autofree gchar *host = NULL;
	GInetAddress *inet;

	if (local == NULL || !G_IS_INET_SOCKET_ADDRESS(local))
		return NULL;
	inet = g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(local));
	host = g_inet_address_to_string(inet);
	return g_strdup_printf(g_inet_address_get_family(inet) == G_SOCKET_FAMILY_IPV6
	                               ? "%s://[%s]:%u"
	                               : "%s://%s:%u",
	                       self->https ? "https" : "http", host,
	                       g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local)));
}

/* One URI per address, however many sockets accept on it. */
GStrv
pl_rendezvous_server_get_uris(PlRendezvousServer *self)
{
	g_autoptr(GPtrArray) uris = g_ptr_array_new_with_free_func(g_free);
	GSList *listeners;

	g_return_val_if_fail(PL_IS_RENDEZVOUS_SERVER(self), NULL);

	listeners = soup_server_get_listeners(self->soup);
	for (GSList *l = listeners; l != NULL; l = l->next) {
		g_autofree gchar *uri = pl_rendezvous_server_listener_uri(self, l->data);
		if (uri != NULL && !g_ptr_array_find_with_equal_func(uris, uri, g_str_equal, NULL))
			g_ptr_array_add(uris, g_steal_pointer(&uri));
	}
	g_slist_free(listeners);
	g_ptr_array_add(uris, NULL);
	return (GStrv)g_ptr_array_free(g_steal_pointer(&uris), FALSE);
}

guint
pl_rendezvous_server_get_n_websockets(PlRendezvousServer *self)
{
	g_return_val_if_fail(PL_IS_RENDEZVOUS_SERVER(self), 0);
	return g_hash_table_size(self->websockets);
}

void
pl_rendezvous_server_shutdown(PlRendezvousServer *self)
{
	g_autoptr(GList) websockets = NULL;

	g_return_if_fail(PL_IS_RENDEZVOUS_SERVER(self));

	if (self->shut_down)
		return;
	self->shut_down = TRUE;
	websockets = g_hash_table_get_values(self->websockets);
	for (GList *l = websockets; l != NULL; l = l->next) {
		PlWebsocket *websocket = l->data;
		if (soup_websocket_connection_get_state(websocket->ws) == SOUP_WEBSOCKET_STATE_OPEN)
			soup_websocket_connection_close(websocket->ws,
			                                SOUP_WEBSOCKET_CLOSE_GOING_AWAY,
			                                "service shutting down");
	}
	/* offline at once, whether or not the clients answer the close */
	for (GList *l = websockets; l != NULL; l = l->next) {
		PlWebsocket *websocket = l->data;
		pl_rendezvous_service_disconnect(self->service, websocket->conn_id);
	}
}

/* -------------------------------------------------------------------------- */
/* object */

static void
pl_rendezvous_server_dispose(GObject *object)
{
	PlRendezvousServer *self = PL_RENDEZVOUS_SERVER(object);

	g_cancellable_cancel(self->cancellable);
	g_clear_handle_id(&self->sweep_id, g_source_remove);
	if (self->service != NULL) {
		g_clear_signal_handler(&self->frame_handler, self->service);
		g_clear_signal_handler(&self->close_handler, self->service);
	}
	if (self->soup != NULL)
		soup_server_disconnect(self->soup);
	g_hash_table_remove_all(self->websockets);
	g_clear_object(&self->soup);
	g_clear_object(&self->service);
	G_OBJECT_CLASS(pl_rendezvous_server_parent_class)->dispose(object);
}

static void
pl_rendezvous_server_finalize(GObject *object)
{
	PlRendezvousServer *self = PL_RENDEZVOUS_SERVER(object);

	g_hash_table_unref(self->websockets);
	g_object_unref(self->cancellable);
	G_OBJECT_CLASS(pl_rendezvous_server_parent_class)->finalize(object);
}

static void
pl_rendezvous_server_class_init(PlRendezvousServerClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->dispose = pl_rendezvous_server_dispose;
	object_class->finalize = pl_rendezvous_server_finalize;
}

static void
pl_rendezvous_server_init(PlRendezvousServer *self)
{
	self->websockets = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	                                         (GDestroyNotify)pl_websocket_free);
	self->cancellable = g_cancellable_new();
}

PlRendezvousServer *
pl_rendezvous_server_new(PlRendezvousService *service, GTlsCertificate *certificate)
{
	PlRendezvousServer *self;
	const gchar *protocols[] = {PL_RENDEZVOUS_WS_PROTOCOL, NULL};
	g_autofree gchar *header = g_strdup_printf("peerlink-rendezvous/%s", PACKAGE_VERSION);

	g_return_val_if_fail(PL_IS_RENDEZVOUS_SERVICE(service), NULL);

	self = g_object_new(PL_TYPE_RENDEZVOUS_SERVER, NULL);
	self->service = g_object_ref(service);
	self->https = certificate != NULL;
	self->soup = soup_server_new("server-header", header, NULL);
	if (certificate != NULL)
		soup_server_set_tls_certificate(self->soup, certificate);
	/* signaling frames are small: no compression, and no inflation bombs */
	soup_server_remove_websocket_extension(self->soup, SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE);

	g_signal_connect(self->soup, "request-read",
	                 G_CALLBACK(pl_rendezvous_server_request_read_cb), self);
	soup_server_add_early_handler(self->soup, NULL, pl_rendezvous_server_early_cb, self, NULL);
	soup_server_add_early_handler(self->soup, "/v1/ws", pl_rendezvous_server_early_cb, self,
	                              NULL);
	soup_server_add_handler(self->soup, NULL, pl_rendezvous_server_handler_cb, self, NULL);
	soup_server_add_handler(self->soup, "/v1/ws", pl_rendezvous_server_ws_handler_cb, self,
	                        NULL);
	soup_server_add_websocket_handler(self->soup, "/v1/ws", NULL, (gchar **)protocols,
	                                  pl_rendezvous_server_websocket_cb, self, NULL);

	self->frame_handler = g_signal_connect(service, "connection-frame",
	                                       G_CALLBACK(pl_rendezvous_server_frame_cb), self);
	self->close_handler = g_signal_connect(service, "connection-close",
	                                       G_CALLBACK(pl_rendezvous_server_close_cb), self);
	return self;
}
