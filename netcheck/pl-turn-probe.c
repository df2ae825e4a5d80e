#include "config.h"

#include <string.h>

#include "pl-stun-transport.h"
#include "pl-turn-probe.h"

#define PL_TURN_PROBE_MAX_AUTH_ATTEMPTS 3
#define PL_TURN_PROBE_MIN_RELEASE_MS    500
/* the transactions end themselves at the deadline with a better message; this
 * one stops resolving and connecting */
#define PL_TURN_PROBE_DEADLINE_SLACK_MS 250

struct _PlTurnProbe {
	GObject parent_instance;
	PlTurnServer server; /* a copy */
	gchar *name;         /* turn:host:port?transport=… for messages */
	guint timeout_ms;
	gboolean started;

	GCancellable *cancellable; /* ours: the deadline, the caller's, dispose */
	GCancellable *caller_cancellable;
	gulong caller_cancelled_id;
	GSource *deadline_source;
	gboolean timed_out;
	gint64 deadline_us;
	const gchar *step; /* what was going on at the deadline */

	PlStunTransport *transport;
	gchar *realm;
	gchar *nonce;
	gboolean signed_request;
	guint auth_attempts;
	guint refresh_attempts;
	PlTurnProbeResult *result;
};

G_DEFINE_TYPE(PlTurnProbe, pl_turn_probe, G_TYPE_OBJECT)

void
pl_turn_probe_result_free(PlTurnProbeResult *self)
{
	if (self == NULL)
		return;
	g_clear_object(&self->server);
	g_clear_object(&self->relayed);
	g_clear_object(&self->mapped);
	g_free(self);
}

static guint
pl_turn_probe_remaining_ms(PlTurnProbe *self)
{
	gint64 left = self->deadline_us - g_get_monotonic_time();

	return left <= 0 ? 0 : (guint)MAX(left / 1000, 1);
}

static void
pl_turn_probe_stop(PlTurnProbe *self)
{
	if (self->deadline_source != NULL) {
		g_source_destroy(self->deadline_source);
		g_clear_pointer(&self->deadline_source, g_source_unref);
	}
	if (self->caller_cancelled_id != 0) {
		g_cancellable_disconnect(self->caller_cancellable, self->caller_cancelled_id);
		self->caller_cancelled_id = 0;
	}
	g_clear_object(&self->caller_cancellable);
	g_clear_object(&self->transport);
}

static void
pl_turn_probe_fail(GTask *task, GError *error)
{
	PlTurnProbe *self = g_task_get_source_object(task);
	g_autoptr(GError) owned = error;

	if (g_error_matches(owned, G_IO_ERROR, G_IO_ERROR_CANCELLED) && self->timed_out) {
		g_clear_error(&owned);
		owned = g_error_new(G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
		                    "%s: no answer within %u ms (%s)", self->name, self->timeout_ms,
		                    self->step);
	}
	pl_turn_probe_stop(self);
	g_task_return_error(task, g_steal_pointer(&owned));
}

static void pl_turn_probe_fail_new(GTask *task, gint code, const gchar *format, ...)
        G_GNUC_PRINTF(3, 4);

static void
pl_turn_probe_fail_new(GTask *task, gint code, const gchar *format, ...)
{
	va_list args;
	g_autofree gchar *message = NULL;

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	pl_turn_probe_fail(task, g_error_new_literal(G_IO_ERROR, code, message));
}

static void
pl_turn_probe_done(GTask *task)
{
	PlTurnProbe *self = g_task_get_source_object(task);

	pl_turn_probe_stop(self);
	g_task_return_pointer(task, g_steal_pointer(&self->result),
	                      (GDestroyNotify)pl_turn_probe_result_free);
}

/* the text of an error response: "401 Unauthorized" */
static gchar *
pl_turn_probe_describe(const PlStunMessage *message)
{
	if (message->error_reason != NULL && message->error_reason[0] != '\0')
		return g_strdup_printf("%u %s", message->error_code, message->error_reason);
	return g_strdup_printf("%u", message->error_code);
}

static gboolean
pl_turn_probe_has_credentials(PlTurnProbe *self)
{
	return self->server.username != NULL && self->server.password != NULL;
}

/* a signed answer with a MESSAGE-INTEGRITY must be signed with our key */
static gboolean
pl_turn_probe_check_signature(PlTurnProbe *self, PlStunResponse *response, GError **error)
{
	guint8 key[PL_STUN_LONG_TERM_KEY_SIZE];
	g_autoptr(GError) local_error = NULL;
	gsize size = 0;
	const guint8 *data = g_bytes_get_data(response->raw, &size);

	if (!self->signed_request)
		return TRUE;
	pl_stun_long_term_key(self->server.username, self->realm, self->server.password, key);
	if (pl_stun_message_check_integrity(data, size, key, sizeof(key), &local_error)) {
		g_debug("%s: the answer is signed with our key", self->name);
		return TRUE;
	}
	if (g_error_matches(local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)) {
		g_debug("%s: the answer is not signed", self->name);
		return TRUE;
	}
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: %s", self->name,
	            local_error->message);
	return FALSE;
}

/* -------------------------------------------------------------------------- */
/* release */

static void pl_turn_probe_refresh(GTask *task);

static void
pl_turn_probe_refresh_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	PlTurnProbe *self = g_task_get_source_object(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStunResponse) response =
	        pl_stun_transport_request_finish(PL_STUN_TRANSPORT(source), result, &error);

	if (response == NULL) {
		g_debug("%s: releasing the allocation: %s", self->name, error->message);
	} else if (response->message->error_code == 438 && response->message->nonce != NULL &&
	           ++self->refresh_attempts < PL_TURN_PROBE_MAX_AUTH_ATTEMPTS) {
		g_free(self->nonce);
		self->nonce = g_strdup(response->message->nonce);
		pl_turn_probe_refresh(task);
		return;
	} else if (response->message->error_code != 0) {
		g_autofree gchar *text = pl_turn_probe_describe(response->message);
		g_debug("%s: releasing the allocation: %s", self->name, text);
	} else {
		self->result->released = TRUE;
	}
	pl_turn_probe_done(task);
}

static void
pl_turn_probe_refresh(GTask *task)
{
	PlTurnProbe *self = g_task_get_source_object(task);
	PlStunTransactionId id;
	g_autoptr(GBytes) request = NULL;
	guint timeout_ms = MAX(pl_turn_probe_remaining_ms(self), PL_TURN_PROBE_MIN_RELEASE_MS);

	pl_stun_transaction_id_generate(&id);
	request = pl_stun_build_refresh_request(&id, 0, self->server.username,
	                                        self->server.password, self->realm, self->nonce);
	pl_stun_transport_request_async(self->transport, self->result->server, request, timeout_ms,
	                                self->cancellable, pl_turn_probe_refresh_cb,
	                                g_object_ref(task));
}

/* -------------------------------------------------------------------------- */
/* allocate */

static void pl_turn_probe_allocate(GTask *task);

static void
pl_turn_probe_allocated(GTask *task, PlStunResponse *response)
{
	PlTurnProbe *self = g_task_get_source_object(task);
	PlStunMessage *message = response->message;
	g_autoptr(GError) error = NULL;

	if (!pl_turn_probe_check_signature(self, response, &error)) {
		pl_turn_probe_fail(task, g_steal_pointer(&error));
		return;
	}
	if (message->relayed == NULL) {
		pl_turn_probe_fail_new(task, G_IO_ERROR_INVALID_DATA,
		                       "%s: the allocation succeeded without a relayed address",
		                       self->name);
		return;
	}
	self->result->relayed = g_object_ref(message->relayed);
	self->result->mapped = message->mapped != NULL ? g_object_ref(message->mapped) : NULL;
	self->result->lifetime_s = message->lifetime_s;
	/* from here on the probe has succeeded: the deadline no longer applies */
	if (self->deadline_source != NULL) {
		g_source_destroy(self->deadline_source);
		g_clear_pointer(&self->deadline_source, g_source_unref);
	}
	self->step = "releasing";
	pl_turn_probe_refresh(task);
}

static void
pl_turn_probe_allocate_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	PlTurnProbe *self = g_task_get_source_object(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStunResponse) response =
	        pl_stun_transport_request_finish(PL_STUN_TRANSPORT(source), result, &error);
	PlStunMessage *message;
	g_autofree gchar *text = NULL;

	if (response == NULL) {
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
			g_autofree gchar *server = g_socket_connectable_to_string(
			        G_SOCKET_CONNECTABLE(self->result->server));
			pl_turn_probe_fail_new(task, G_IO_ERROR_TIMED_OUT,
			                       "%s: no answer from %s within %u ms", self->name,
			                       server, self->timeout_ms);
			return;
		}
		g_prefix_error(&error, "%s: ", self->name);
		pl_turn_probe_fail(task, g_steal_pointer(&error));
		return;
	}
	message = response->message;
	if (self->auth_attempts == 0)
		self->result->rtt_ms = response->rtt_ms;
	if (message->error_code == 0) {
		pl_turn_probe_allocated(task, response);
		return;
	}
	text = pl_turn_probe_describe(message);
	switch (message->error_code) {
	case 401:
		if (self->signed_request) {
			pl_turn_probe_fail_new(task, G_IO_ERROR_PERMISSION_DENIED,
			                       "%s refused the credentials (%s): wrong username or "
			                       "password, or expired",
			                       self->name, text);
			return;
		}
		if (!pl_turn_probe_has_credentials(self)) {
			pl_turn_probe_fail_new(task, G_IO_ERROR_PERMISSION_DENIED,
			                       "%s needs credentials (%s) and none are configured",
			                       self->name, text);
			return;
		}
		if (message->realm == NULL || message->nonce == NULL) {
			pl_turn_probe_fail_new(task, G_IO_ERROR_INVALID_DATA,
			                       "%s asked for credentials (%s) without a realm and "
			                       "a nonce",
			                       self->name, text);
			return;
		}
		break;
	case 438:
		if (message->nonce == NULL || !self->signed_request) {
			pl_turn_probe_fail_new(task, G_IO_ERROR_INVALID_DATA,
			                       "%s: %s without a new nonce", self->name, text);
			return;
		}
		break;
	default:
		pl_turn_probe_fail_new(task, G_IO_ERROR_FAILED, "%s refused the allocation: %s",
		                       self->name, text);
		return;
	}
	if (++self->auth_attempts >= PL_TURN_PROBE_MAX_AUTH_ATTEMPTS) {
		pl_turn_probe_fail_new(task, G_IO_ERROR_FAILED,
		                       "%s: still %s after %u attempts (stale nonces?)", self->name,
		                       text, self->auth_attempts);
		return;
	}
	if (message->realm != NULL) {
		g_free(self->realm);
		self->realm = g_strdup(message->realm);
	}
	g_free(self->nonce);
	self->nonce = g_strdup(message->nonce);
	pl_turn_probe_allocate(task);
}

static void
pl_turn_probe_allocate(GTask *task)
{
	PlTurnProbe *self = g_task_get_source_object(task);
	PlStunTransactionId id;
	g_autoptr(GBytes) request = NULL;
	guint timeout_ms = pl_turn_probe_remaining_ms(self);

	if (timeout_ms == 0) {
		pl_turn_probe_fail_new(task, G_IO_ERROR_TIMED_OUT, "%s: no allocation within %u ms",
		                       self->name, self->timeout_ms);
		return;
	}
	self->step = "allocating";
	self->signed_request = self->realm != NULL && self->nonce != NULL;
	pl_stun_transaction_id_generate(&id);
	request = pl_stun_build_allocate_request(&id, self->server.username, self->server.password,
	                                         self->realm, self->nonce);
	pl_stun_transport_request_async(self->transport, self->result->server, request, timeout_ms,
	                                self->cancellable, pl_turn_probe_allocate_cb,
	                                g_object_ref(task));
}

/* -------------------------------------------------------------------------- */
/* resolve and connect */

static void
pl_turn_probe_connected_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	PlTurnProbe *self = g_task_get_source_object(task);
	g_autoptr(GError) error = NULL;

	self->transport = pl_stun_transport_new_tcp_finish(result, &error);
	if (self->transport == NULL) {
		if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			g_prefix_error(&error, "%s: cannot connect: ", self->name);
		pl_turn_probe_fail(task, g_steal_pointer(&error));
		return;
	}
	pl_turn_probe_allocate(task);
}

static void
pl_turn_probe_start(GTask *task, GInetAddress *address)
{
	PlTurnProbe *self = g_task_get_source_object(task);
	g_autoptr(GError) error = NULL;

	self->result->server =
	        G_INET_SOCKET_ADDRESS(g_inet_socket_address_new(address, self->server.port));
	if (self->server.transport == PL_ICE_TRANSPORT_TCP) {
		self->step = "connecting";
		pl_stun_transport_new_tcp_async(self->result->server, self->cancellable,
		                                pl_turn_probe_connected_cb, g_object_ref(task));
		return;
	}
	self->transport = pl_stun_transport_new_udp(g_inet_address_get_family(address), &error);
	if (self->transport == NULL) {
		g_prefix_error(&error, "%s: ", self->name);
		pl_turn_probe_fail(task, g_steal_pointer(&error));
		return;
	}
	pl_turn_probe_allocate(task);
}

static void
pl_turn_probe_resolved_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	PlTurnProbe *self = g_task_get_source_object(task);
	g_autoptr(GError) error = NULL;
	GList *addresses = g_resolver_lookup_by_name_finish(G_RESOLVER(source), result, &error);

	if (addresses == NULL) {
		if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			g_prefix_error(&error, "%s: cannot resolve %s: ", self->name,
			               self->server.host);
		pl_turn_probe_fail(task, g_steal_pointer(&error));
		return;
	}
	pl_turn_probe_start(task, addresses->data);
	g_resolver_free_addresses(addresses);
}

static gboolean
pl_turn_probe_deadline_cb(gpointer user_data)
{
	PlTurnProbe *self = user_data;

	self->timed_out = TRUE;
	g_cancellable_cancel(self->cancellable);
	g_clear_pointer(&self->deadline_source, g_source_unref);
	return G_SOURCE_REMOVE;
}

static void
pl_turn_probe_caller_cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
	PlTurnProbe *self = user_data;

	g_cancellable_cancel(self->cancellable);
}

void
pl_turn_probe_run_async(PlTurnProbe *self,
                        GCancellable *cancellable,
                        GAsyncReadyCallback callback,
                        gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autoptr(GInetAddress) literal = NULL;
	g_autoptr(GResolver) resolver = NULL;

	g_return_if_fail(PL_IS_TURN_PROBE(self));
	g_return_if_fail(!self->started);

	self->started = TRUE;
	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, pl_turn_probe_run_async);
	self->result = g_new0(PlTurnProbeResult, 1);
	self->deadline_us = g_get_monotonic_time() + (gint64)self->timeout_ms * 1000;
	self->deadline_source =
	        g_timeout_source_new(self->timeout_ms + PL_TURN_PROBE_DEADLINE_SLACK_MS);
	g_source_set_callback(self->deadline_source, pl_turn_probe_deadline_cb, self, NULL);
	g_source_attach(self->deadline_source, g_task_get_context(task));
	if (cancellable != NULL) {
		self->caller_cancellable = g_object_ref(cancellable);
		self->caller_cancelled_id = g_cancellable_connect(
		        cancellable, G_CALLBACK(pl_turn_probe_caller_cancelled_cb), self, NULL);
	}

	if (self->server.username != NULL && strlen(self->server.username) > 513) {
		pl_turn_probe_fail_new(task, G_IO_ERROR_INVALID_ARGUMENT,
		                       "%s: the username is longer than 513 bytes", self->name);
		return;
	}
	literal = g_inet_address_new_from_string(self->server.host);
	if (literal != NULL) {
		pl_turn_probe_start(task, literal);
		return;
	}
	self->step = "resolving";
	resolver = g_resolver_get_default();
	g_resolver_lookup_by_name_async(resolver, self->server.host, self->cancellable,
	                                pl_turn_probe_resolved_cb, g_steal_pointer(&task));
}

PlTurnProbeResult *
pl_turn_probe_run_finish(PlTurnProbe *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, self), NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}

/* -------------------------------------------------------------------------- */

PlTurnProbe *
pl_turn_probe_new(const PlTurnServer *server, guint timeout_ms)
{
	PlTurnProbe *self;

	g_return_val_if_fail(server != NULL && server->host != NULL, NULL);
	g_return_val_if_fail(timeout_ms > 0, NULL);

	self = g_object_new(PL_TYPE_TURN_PROBE, NULL);
	self->server.host = g_strdup(server->host);
	self->server.port = server->port;
	self->server.transport = server->transport;
	self->server.username = g_strdup(server->username);
	self->server.password = g_strdup(server->password);
	self->name = pl_turn_server_to_string(server);
	self->timeout_ms = timeout_ms;
	return self;
}

static void
pl_turn_probe_dispose(GObject *object)
{
	PlTurnProbe *self = PL_TURN_PROBE(object);

	g_cancellable_cancel(self->cancellable);
	pl_turn_probe_stop(self);
	G_OBJECT_CLASS(pl_turn_probe_parent_class)->dispose(object);
}

static void
pl_turn_probe_finalize(GObject *object)
{
	PlTurnProbe *self = PL_TURN_PROBE(object);

	g_free(self->server.host);
	g_free(self->server.username);
	g_free(self->server.password);
	g_free(self->name);
	g_clear_object(&self->cancellable);
	g_free(self->realm);
	g_free(self->nonce);
	pl_turn_probe_result_free(self->result);
	G_OBJECT_CLASS(pl_turn_probe_parent_class)->finalize(object);
}

static void
pl_turn_probe_class_init(PlTurnProbeClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = pl_turn_probe_dispose;
	object_class->finalize = pl_turn_probe_finalize;
}

static void
pl_turn_probe_init(PlTurnProbe *self)
{
	self->cancellable = g_cancellable_new();
	self->step = "starting";
}
