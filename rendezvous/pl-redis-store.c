#include "config.h"

#include <string.h>

#include <hiredis/adapters/glib.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "pl-redis-store.h"

/*
 * Two hiredis asynchronous connections driven by the GLib adapter's source:
 * one for commands and one for SUBSCRIBE (a subscribed Redis connection takes
 * no other command). Each one goes DOWN → CONNECTING → READY and back, with a
 * retry after an exponential, jittered delay; the store is available while
 * both are READY, and every operation fails at once otherwise.
 *
 * hiredis frees a context by itself when the connection drops, after it has
 * run every pending callback with a NULL reply, and calls the event library's
 * cleanup hook on the way. That hook (ours wraps the adapter's) is the one
 * place where a context ends: it destroys the GSource and schedules the retry.
 * Callbacks look up their connection through ac->data, which dispose clears,
 * so that a context freed late (dispose inside one of its callbacks) touches
 * nothing of a finalized store. Each command owns one GTask reference, handed
 * to hiredis and taken back by exactly one call of the reply callback.
 */

#define PL_REDIS_DEFAULT_PORT           6379
#define PL_REDIS_BACKOFF_MIN_MS         100
#define PL_REDIS_BACKOFF_MAX_MS         2000
#define PL_REDIS_DEFAULT_CMD_TIMEOUT_MS 5000

/* compare-and-delete: 1 deleted, 0 not (pcall: a list under the key is no match) */
#define PL_REDIS_SCRIPT_DELETE_IF                                                                  \
	"if redis.pcall('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "    \
	"return 0"
/* 1 appended, 0 full (a max_len of 0 is no limit); the whole list's TTL
 * becomes ARGV[3] ms, 0 for none */
#define PL_REDIS_SCRIPT_LIST_PUSH                                                                  \
	"local max = tonumber(ARGV[2]) "                                                           \
	"if max > 0 and redis.call('LLEN', KEYS[1]) >= max then return 0 end "                     \
	"redis.call('RPUSH', KEYS[1], ARGV[1]) "                                                   \
	"if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) "                   \
	"else redis.call('PERSIST', KEYS[1]) end "                                                 \
	"return 1"
/* expire with a TTL of 0: keep the key for good, if it exists */
#define PL_REDIS_SCRIPT_PERSIST                                                                    \
	"if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end "                                 \
	"redis.call('PERSIST', KEYS[1]) "                                                          \
	"return 1"

typedef enum {
	PL_REDIS_CONN_STATE_DOWN,       /* no context; a retry is scheduled */
	PL_REDIS_CONN_STATE_CONNECTING, /* resolving, connecting or in the handshake */
	PL_REDIS_CONN_STATE_READY,
} PlRedisConnState;

typedef struct {
	PlRedisStore *store; /* unowned: the connection is part of it */
	const gchar *name;   /* "command" or "subscriber", for messages */
	gboolean subscriber;
	PlRedisConnState state;
	redisAsyncContext *ac;
	GSource *source;          /* the adapter's, for ac; released by the cleanup hook */
	GSource *retry_source;    /* DOWN: the next attempt */
	GSource *timeout_source;  /* CONNECTING: the deadline; READY: the command watchdog */
	guint attempt;            /* failed attempts since the last READY */
	gboolean handshaken;      /* subscriber: PING answered, SUBSCRIBE may be sent */
	guint pending_subscribes; /* subscriber: confirmations owed before READY */
	gint64 last_progress;     /* command: last reply, or a send to an idle connection */
	gchar *drop_reason;       /* why we are freeing ac ourselves */
	gchar *last_error;        /* the last failure logged, not to repeat it at each retry */
} PlRedisConn;

struct _PlRedisStore {
	GObject parent_instance;
	gchar *host;
	guint16 port;
	guint db;
	gchar *address; /* host:port/db, for messages */
	guint command_timeout_ms;
	GMainContext *context;
	GCancellable *cancellable;
	PlRedisConn cmd;
	PlRedisConn sub;
	GHashTable *channels; /* the subscribed channels (a set, as in PlMemoryStore) */
	gboolean available;
	gboolean notified_available;
	GSource *notify_source;
};

static void pl_redis_store_iface_init(PlStoreInterface *iface);

G_DEFINE_TYPE_WITH_CODE(PlRedisStore,
                        pl_redis_store,
                        G_TYPE_OBJECT,
                        G_IMPLEMENT_INTERFACE(PL_TYPE_STORE, pl_redis_store_iface_init))

/* how a reply becomes the result of the operation's GTask */
typedef enum {
	PL_REDIS_REPLY_OK,      /* status OK: TRUE */
	PL_REDIS_REPLY_STRING,  /* bulk string, or nil: NULL without an error */
	PL_REDIS_REPLY_INTEGER, /* any integer: TRUE */
	PL_REDIS_REPLY_NONZERO, /* integer: TRUE if not 0, else FALSE without an error */
	PL_REDIS_REPLY_PUSHED,  /* integer: TRUE if not 0, else PL_STORE_ERROR_FULL */
	PL_REDIS_REPLY_LIST,    /* array of bulk strings: a GPtrArray */
} PlRedisReplyKind;

static void pl_redis_conn_start(PlRedisConn *conn);

static void
pl_redis_clear_source(GSource **source)
{
	if (*source == NULL)
		return;
	g_source_destroy(*source);
	g_clear_pointer(source, g_source_unref);
}

static GSource *
pl_redis_store_add_timeout(PlRedisStore *self, guint ms, GSourceFunc func, gpointer user_data)
{
	GSource *source = g_timeout_source_new(ms);
	g_source_set_callback(source, func, user_data, NULL);
	g_source_attach(source, self->context);
	return source;
}

static gboolean
pl_redis_store_notify_cb(gpointer user_data)
{
	PlRedisStore *self = PL_REDIS_STORE(user_data);
	g_autoptr(PlRedisStore) keep = g_object_ref(self);

	pl_redis_clear_source(&self->notify_source);
	if (self->available != self->notified_available) {
		self->notified_available = self->available;
		g_signal_emit_by_name(self, "availability-changed", self->available);
	}
	return G_SOURCE_REMOVE;
}

/* the flag changes now, so that operations fail at once; the signal comes from
 * an idle, away from hiredis's callbacks, and flaps in between coalesce */
static void
pl_redis_store_update_availability(PlRedisStore *self)
{
	gboolean available = self->cmd.state == PL_REDIS_CONN_STATE_READY &&
	                     self->sub.state == PL_REDIS_CONN_STATE_READY;

	if (available == self->available)
		return;
	self->available = available;
	g_message("Redis at %s is %s", self->address, available ? "available" : "unavailable");
	if (self->notify_source != NULL)
		return;
	self->notify_source = g_idle_source_new();
	g_source_set_callback(self->notify_source, pl_redis_store_notify_cb, self, NULL);
	g_source_attach(self->notify_source, self->context);
}

static gboolean
pl_redis_conn_retry_cb(gpointer user_data)
{
	PlRedisConn *conn = user_data;
	pl_redis_clear_source(&conn->retry_source);
	pl_redis_conn_start(conn);
	return G_SOURCE_REMOVE;
}

/* the context is gone (or was never made): log, and try again later */
static void
pl_redis_conn_fail(PlRedisConn *conn, const gchar *reason)
{
	PlRedisStore *self = conn->store;
	guint base;
	guint delay;

	if (conn->state == PL_REDIS_CONN_STATE_READY) {
		g_message("lost the %s connection to Redis at %s: %s", conn->name, self->address,
		          reason);
	} else if (g_strcmp0(reason, conn->last_error) != 0) {
		g_message("cannot connect to Redis at %s (%s connection): %s; retrying",
		          self->address, conn->name, reason);
	} else {
		g_debug("cannot connect to Redis at %s (%s connection): %s", self->address,
		        conn->name, reason);
	}
	g_free(conn->last_error);
	conn->last_error = g_strdup(reason);
	conn->state = PL_REDIS_CONN_STATE_DOWN;
	conn->handshaken = FALSE;
	conn->pending_subscribes = 0;
	pl_redis_clear_source(&conn->timeout_source);
	pl_redis_store_update_availability(self);

	/* exponential backoff with "equal jitter": half the step, plus up to half again */
	base = MIN((guint)PL_REDIS_BACKOFF_MAX_MS,
	           (guint)PL_REDIS_BACKOFF_MIN_MS << MIN(conn->attempt, 8u));
	delay = base / 2 + (guint)g_random_int_range(0, (gint32)(base / 2) + 1);
	conn->attempt++;
	pl_redis_clear_source(&conn->retry_source);
	conn->retry_source = pl_redis_store_add_timeout(self, delay, pl_redis_conn_retry_cb, conn);
}

/* frees the context, synchronously or (inside one of its callbacks) just after
 * it; the cleanup hook then calls pl_redis_conn_fail(): do not touch conn after */
static void
pl_redis_conn_drop(PlRedisConn *conn, const gchar *reason)
{
	if (conn->ac == NULL)
		return;
	if (conn->drop_reason == NULL)
		conn->drop_reason = g_strdup(reason);
	redisAsyncFree(conn->ac);
}

static gboolean
pl_redis_conn_watchdog_cb(gpointer user_data)
{
	PlRedisConn *conn = user_data;
	PlRedisStore *self = conn->store;
	g_autofree gchar *reason = NULL;

	if (conn->ac == NULL || conn->ac->replies.head == NULL)
		return G_SOURCE_CONTINUE;
	if (g_get_monotonic_time() - conn->last_progress <
	    (gint64)self->command_timeout_ms * G_TIME_SPAN_MILLISECOND)
		return G_SOURCE_CONTINUE;
	reason = g_strdup_printf("no reply for %u ms", self->command_timeout_ms);
	pl_redis_clear_source(&conn->timeout_source);
	pl_redis_conn_drop(conn, reason);
	return G_SOURCE_REMOVE;
}

static gboolean
pl_redis_conn_connect_timeout_cb(gpointer user_data)
{
	PlRedisConn *conn = user_data;
	g_autofree gchar *reason =
	        g_strdup_printf("no answer within %u ms", conn->store->command_timeout_ms);

	pl_redis_clear_source(&conn->timeout_source);
	pl_redis_conn_drop(conn, reason);
	return G_SOURCE_REMOVE;
}

static void
pl_redis_conn_ready(PlRedisConn *conn)
{
	PlRedisStore *self = conn->store;
	guint period = CLAMP(self->command_timeout_ms / 4, 20u, 1000u);

	g_debug("%s connection to Redis at %s is ready", conn->name, self->address);
	conn->state = PL_REDIS_CONN_STATE_READY;
	conn->attempt = 0;
	g_clear_pointer(&conn->last_error, g_free);
	pl_redis_clear_source(&conn->timeout_source);
	if (!conn->subscriber) {
		conn->last_progress = g_get_monotonic_time();
		conn->timeout_source =
		        pl_redis_store_add_timeout(self, period, pl_redis_conn_watchdog_cb, conn);
	}
	pl_redis_store_update_availability(self);
}

/* subscriber: "subscribe" confirmations and "message"s; privdata is unused
 * because hiredis keeps one callback per channel and calls it until the end */
static void
pl_redis_store_subscription_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	PlRedisConn *conn = ac->data;
	redisReply *reply = r;
	PlRedisStore *self;
	const gchar *type;
	const gchar *channel;

	if (conn == NULL || reply == NULL)
		return;
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    reply->element[1]->type != REDIS_REPLY_STRING)
		return;
	self = conn->store;
	type = reply->element[0]->str;
	channel = reply->element[1]->str;
	if (g_ascii_strcasecmp(type, "subscribe") == 0) {
		if (conn->state == PL_REDIS_CONN_STATE_CONNECTING && conn->pending_subscribes > 0 &&
		    --conn->pending_subscribes == 0)
			pl_redis_conn_ready(conn);
		return;
	}
	if (g_ascii_strcasecmp(type, "message") != 0 ||
	    reply->element[2]->type != REDIS_REPLY_STRING)
		return;
	/* a message can still arrive between our UNSUBSCRIBE and Redis processing it */
	if (!g_hash_table_contains(self->channels, channel))
		return;
	/* a handler may drop the last reference: nothing of self is used after this */
	g_signal_emit_by_name(self, "message", channel, reply->element[2]->str);
}

/* subscriber: every channel in one SUBSCRIBE; READY once all are confirmed */
static void
pl_redis_conn_resubscribe(PlRedisConn *conn)
{
	PlRedisStore *self = conn->store;
	guint n = g_hash_table_size(self->channels);
	g_autofree const gchar **argv = NULL;
	GHashTableIter iter;
	gpointer key;
	guint i = 1;

	if (n == 0) {
		pl_redis_conn_ready(conn);
		return;
	}
	argv = g_new0(const gchar *, n + 1);
	argv[0] = "SUBSCRIBE";
	g_hash_table_iter_init(&iter, self->channels);
	while (g_hash_table_iter_next(&iter, &key, NULL))
		argv[i++] = key;
	if (redisAsyncCommandArgv(conn->ac, pl_redis_store_subscription_cb, NULL, (int)n + 1, argv,
	                          NULL) != REDIS_OK)
		return; /* closing: the next connection subscribes again */
	g_debug("subscribing again to %u channels on Redis at %s", n, self->address);
	conn->pending_subscribes = n;
}

/* the reply to SELECT (command) or PING (subscriber), sent first on every connection */
static void
pl_redis_conn_handshake_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	PlRedisConn *conn = ac->data;
	redisReply *reply = r;

	if (conn == NULL || reply == NULL)
		return; /* closing: the cleanup hook takes over */
	if (reply->type == REDIS_REPLY_ERROR) {
		/* e.g. LOADING after a restart, NOAUTH, or a DB index out of range */
		pl_redis_conn_drop(conn, reply->str);
		return;
	}
	if (!conn->subscriber) {
		pl_redis_conn_ready(conn);
		return;
	}
	conn->handshaken = TRUE;
	pl_redis_conn_resubscribe(conn);
}

static void
pl_redis_conn_connect_cb(const redisAsyncContext *ac, int status)
{
	PlRedisConn *conn = ac->data;

	/* on failure hiredis frees the context right after this: the cleanup hook follows */
	if (conn == NULL || status != REDIS_OK)
		return;
	g_debug("%s connection to Redis at %s established", conn->name, conn->store->address);
}

static void
pl_redis_conn_disconnect_cb(const redisAsyncContext *ac, int status)
{
	/* the cleanup hook, which runs just before, has done the work */
}

/* wraps the adapter's cleanup: hiredis calls it once, as it frees the context */
static void
pl_redis_conn_ev_cleanup(void *data)
{
	RedisSource *redis_source = data;
	redisAsyncContext *ac = redis_source->ac;
	PlRedisConn *conn = ac->data;
	g_autofree gchar *reason = NULL;

	redis_source_cleanup(data);
	/* the adapter's dispatch may still be running (its read after its write):
	 * it must not pass the freed context to hiredis */
	redis_source->poll_fd.revents = 0;
	redis_source->ac = NULL;
	ac->ev.addRead = NULL;
	ac->ev.delRead = NULL;
	ac->ev.addWrite = NULL;
	ac->ev.delWrite = NULL;
	ac->ev.cleanup = NULL;
	ac->ev.data = NULL;
	g_source_destroy(data);
	g_source_unref(data);

	if (conn == NULL)
		return; /* detached by dispose */
	ac->data = NULL;
	conn->ac = NULL;
	conn->source = NULL;
	if (conn->drop_reason != NULL)
		reason = g_steal_pointer(&conn->drop_reason);
	else if (ac->err != 0 && ac->errstr != NULL && ac->errstr[0] != '\0')
		reason = g_strdup(ac->errstr);
	else
		reason = g_strdup("connection closed");
	pl_redis_conn_fail(conn, reason);
}

static void
pl_redis_conn_connect(PlRedisConn *conn, const gchar *ip)
{
	PlRedisStore *self = conn->store;
	redisAsyncContext *ac = redisAsyncConnect(ip, self->port);
	const gchar *argv[2];
	g_autofree gchar *db = NULL;
	int argc = 1;

	if (ac == NULL) {
		pl_redis_conn_fail(conn, "cannot allocate a hiredis context");
		return;
	}
	if (ac->err != 0) {
		g_autofree gchar *reason = g_strdup(ac->errstr);
		redisAsyncFree(ac);
		pl_redis_conn_fail(conn, reason);
		return;
	}
	/* finds a dead peer of an idle (subscriber) connection, every REDIS_KEEPALIVE_INTERVAL */
	if (redisEnableKeepAlive(&ac->c) != REDIS_OK)
		g_debug("cannot enable TCP keepalive for Redis: %s", ac->c.errstr);

	ac->data = conn;
	conn->ac = ac;
	conn->source = redis_source_new(ac);
	ac->ev.cleanup = pl_redis_conn_ev_cleanup;
	g_source_attach(conn->source, self->context);
	redisAsyncSetConnectCallback(ac, pl_redis_conn_connect_cb);
	redisAsyncSetDisconnectCallback(ac, pl_redis_conn_disconnect_cb);
	conn->timeout_source = pl_redis_store_add_timeout(self, self->command_timeout_ms,
	                                                  pl_redis_conn_connect_timeout_cb, conn);

	/* queued now, sent once connected; its reply says that Redis serves */
	if (!conn->subscriber && self->db != 0) {
		db = g_strdup_printf("%u", self->db);
		argv[0] = "SELECT";
		argv[1] = db;
		argc = 2;
	} else {
		argv[0] = "PING";
	}
	if (redisAsyncCommandArgv(ac, pl_redis_conn_handshake_cb, NULL, argc, argv, NULL) !=
	    REDIS_OK) {
		pl_redis_clear_source(&conn->timeout_source);
		pl_redis_conn_drop(conn, "cannot queue the first command");
	}
}

static void
pl_redis_conn_resolve_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	GList *addresses = g_resolver_lookup_by_name_finish(G_RESOLVER(source), res, &error);
	PlRedisConn *conn = user_data;
	g_autofree gchar *ip = NULL;
	guint n;

	if (addresses == NULL) {
		/* cancelled by dispose: conn is gone */
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			return;
		pl_redis_conn_fail(conn, error->message);
		return;
	}
	/* one address per attempt, so that a host with a dead first address still works */
	n = g_list_length(addresses);
	ip = g_inet_address_to_string(g_list_nth_data(addresses, conn->attempt % n));
	g_resolver_free_addresses(addresses);
	pl_redis_conn_connect(conn, ip);
}

static void
pl_redis_conn_start(PlRedisConn *conn)
{
	PlRedisStore *self = conn->store;
	g_autoptr(GResolver) resolver = NULL;

	conn->state = PL_REDIS_CONN_STATE_CONNECTING;
	conn->handshaken = FALSE;
	conn->pending_subscribes = 0;
	if (g_hostname_is_ip_address(self->host)) {
		pl_redis_conn_connect(conn, self->host);
		return;
	}
	/* hiredis would resolve in a blocking getaddrinfo() */
	resolver = g_resolver_get_default();
	g_resolver_lookup_by_name_async(resolver, self->host, self->cancellable,
	                                pl_redis_conn_resolve_cb, conn);
}

static void
pl_redis_conn_dispose(PlRedisConn *conn)
{
	pl_redis_clear_source(&conn->retry_source);
	pl_redis_clear_source(&conn->timeout_source);
	if (conn->ac != NULL) {
		redisAsyncContext *ac = g_steal_pointer(&conn->ac);
		/* callbacks still to come find no connection; the cleanup hook
		 * destroys the source (now, or after the callback we may be in) */
		ac->data = NULL;
		conn->source = NULL;
		redisAsyncFree(ac);
	}
	conn->state = PL_REDIS_CONN_STATE_DOWN;
}

/* ---- operations ---- */

static void
pl_redis_store_return_reply(GTask *task, PlRedisReplyKind kind, const redisReply *reply)
{
	g_autoptr(GPtrArray) items = NULL;

	if (reply->type == REDIS_REPLY_ERROR) {
		g_task_return_new_error(task, PL_STORE_ERROR, PL_STORE_ERROR_FAILED, "Redis: %s",
		                        reply->str);
		return;
	}
	switch (kind) {
	case PL_REDIS_REPLY_OK:
		if (reply->type == REDIS_REPLY_STATUS) {
			g_task_return_boolean(task, TRUE);
			return;
		}
		break;
	case PL_REDIS_REPLY_STRING:
		if (reply->type == REDIS_REPLY_NIL) {
			g_task_return_pointer(task, NULL, NULL);
			return;
		}
		if (reply->type == REDIS_REPLY_STRING) {
			g_task_return_pointer(task, g_strndup(reply->str, reply->len), g_free);
			return;
		}
		break;
	case PL_REDIS_REPLY_INTEGER:
		if (reply->type == REDIS_REPLY_INTEGER) {
			g_task_return_boolean(task, TRUE);
			return;
		}
		break;
	case PL_REDIS_REPLY_NONZERO:
		if (reply->type == REDIS_REPLY_INTEGER) {
			g_task_return_boolean(task, reply->integer != 0);
			return;
		}
		break;
	case PL_REDIS_REPLY_PUSHED:
		if (reply->type != REDIS_REPLY_INTEGER)
			break;
		if (reply->integer == 0) {
			g_task_return_new_error(task, PL_STORE_ERROR, PL_STORE_ERROR_FULL,
			                        "the list is full");
			return;
		}
		g_task_return_boolean(task, TRUE);
		return;
	case PL_REDIS_REPLY_LIST:
		if (reply->type != REDIS_REPLY_ARRAY)
			break;
		items = g_ptr_array_new_full(reply->elements, g_free);
		for (gsize i = 0; i < reply->elements; i++) {
			const redisReply *item = reply->element[i];
			if (item->type != REDIS_REPLY_STRING) {
				g_task_return_new_error(task, PL_STORE_ERROR, PL_STORE_ERROR_FAILED,
				                        "unexpected list item from Redis");
				return;
			}
			g_ptr_array_add(items, g_strndup(item->str, item->len));
		}
		g_task_return_pointer(task, g_steal_pointer(&items),
		                      (GDestroyNotify)g_ptr_array_unref);
		return;
	}
	g_task_return_new_error(task, PL_STORE_ERROR, PL_STORE_ERROR_FAILED,
	                        "unexpected reply of type %d from Redis", reply->type);
}

static void
pl_redis_store_reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	g_autoptr(GTask) task = privdata;
	PlRedisStore *self = g_task_get_source_object(task);
	PlRedisReplyKind kind = GPOINTER_TO_UINT(g_task_get_task_data(task));
	redisReply *reply = r;

	if (reply == NULL) {
		/* the connection dropped, or the store is being disposed */
		g_task_return_new_error(task, PL_STORE_ERROR, PL_STORE_ERROR_UNAVAILABLE,
		                        "lost the connection to Redis at %s", self->address);
		return;
	}
	self->cmd.last_progress = g_get_monotonic_time();
	pl_redis_store_return_reply(task, kind, reply);
	/* the task may hold the last reference to self: it goes last */
}

static void
pl_redis_store_command(
        PlRedisStore *self, GTask *task_in, PlRedisReplyKind kind, int argc, const gchar **argv)
{
	g_autoptr(GTask) task = task_in;
	redisAsyncContext *ac = self->cmd.ac;

	if (g_task_return_error_if_cancelled(task))
		return;
	if (!self->available || ac == NULL) {
		g_task_return_new_error(task, PL_STORE_ERROR, PL_STORE_ERROR_UNAVAILABLE,
		                        "Redis at %s is unreachable", self->address);
		return;
	}
	g_task_set_task_data(task, GUINT_TO_POINTER(kind), NULL);
	if (ac->replies.head == NULL)
		self->cmd.last_progress = g_get_monotonic_time();
	if (redisAsyncCommandArgv(ac, pl_redis_store_reply_cb, task, argc, argv, NULL) !=
	    REDIS_OK) {
		/* the connection is closing */
		g_task_return_new_error(task, PL_STORE_ERROR, PL_STORE_ERROR_UNAVAILABLE,
		                        "Redis at %s is unreachable", self->address);
		return;
	}
	/* hiredis holds it until the reply callback */
	g_steal_pointer(&task);
}

static gboolean
pl_redis_store_finish_boolean(PlStore *store, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, store), FALSE);
	return g_task_propagate_boolean(G_TASK(result), error);
}

static void
pl_redis_store_set_async(PlStore *store,
                         const gchar *key,
                         const gchar *value,
                         guint ttl_ms,
                         GCancellable *cancellable,
                         GAsyncReadyCallback callback,
                         gpointer user_data)
{
	PlRedisStore *self = PL_REDIS_STORE(store);
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	g_autofree gchar *ttl = g_strdup_printf("%u", ttl_ms);
	const gchar *argv[] = {"SET", key, value, "PX", ttl};

	g_task_set_source_tag(task, pl_redis_store_set_async);
	pl_redis_store_command(self, g_steal_pointer(&task), PL_REDIS_REPLY_OK, ttl_ms > 0 ? 5 : 3,
	                       argv);
}

static void
pl_redis_store_get_async(PlStore *store,
                         const gchar *key,
                         gboolean delete_after,
                         GCancellable *cancellable,
                         GAsyncReadyCallback callback,
                         gpointer user_data)
{
	PlRedisStore *self = PL_REDIS_STORE(store);
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	const gchar *argv[] = {delete_after ? "GETDEL" : "GET", key};

	g_task_set_source_tag(task, pl_redis_store_get_async);
	pl_redis_store_command(self, g_steal_pointer(&task), PL_REDIS_REPLY_STRING, 2, argv);
}

static gchar *
pl_redis_store_get_finish(PlStore *store, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, store), NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}

static void
pl_redis_store_delete_async(PlStore *store,
                            const gchar *key,
                            const gchar *if_value,
                            GCancellable *cancellable,
                            GAsyncReadyCallback callback,
                            gpointer user_data)
{
	PlRedisStore *self = PL_REDIS_STORE(store);
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);

	g_task_set_source_tag(task, pl_redis_store_delete_async);
	if (if_value == NULL) {
		const gchar *argv[] = {"DEL", key};
		pl_redis_store_command(self, g_steal_pointer(&task), PL_REDIS_REPLY_NONZERO, 2,
		                       argv);
	} else {
		const gchar *argv[] = {"EVAL", PL_REDIS_SCRIPT_DELETE_IF, "1", key, if_value};
		pl_redis_store_command(self, g_steal_pointer(&task), PL_REDIS_REPLY_NONZERO, 5,
		                       argv);
	}
}

static void
pl_redis_store_expire_async(PlStore *store,
                            const gchar *key,
                            guint ttl_ms,
                            GCancellable *cancellable,
                            GAsyncReadyCallback callback,
                            gpointer user_data)
{
	PlRedisStore *self = PL_REDIS_STORE(store);
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	g_autofree gchar *ttl = g_strdup_printf("%u", ttl_ms);

	g_task_set_source_tag(task, pl_redis_store_expire_async);
	if (ttl_ms > 0) {
		const gchar *argv[] = {"PEXPIRE", key, ttl};
		pl_redis_store_command(self, g_steal_pointer(&task), PL_REDIS_REPLY_NONZERO, 3,
		                       argv);
	} else {
		/* PEXPIRE 0 would delete the key; a TTL of 0 means none */
		const gchar *argv[] = {"EVAL", PL_REDIS_SCRIPT_PERSIST, "1", key};
		pl_redis_store_command(self, g_steal_pointer(&task), PL_REDIS_REPLY_NONZERO, 4,
		                       argv);
	}
}

static void
pl_redis_store_list_push_async(PlStore *store,
                               const gchar *key,
                               const gchar *value,
                               guint max_len,
                               guint ttl_ms,
                               GCancellable *cancellable,
                               GAsyncReadyCallback callback,
                               gpointer user_data)
{
	PlRedisStore *self = PL_REDIS_STORE(store);
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	g_autofree gchar *max = g_strdup_printf("%u", max_len);
	g_autofree gchar *ttl = g_strdup_printf("%u", ttl_ms);
	const gchar *argv[] = {"EVAL", PL_REDIS_SCRIPT_LIST_PUSH, "1", key, value, max, ttl};

	g_task_set_source_tag(task, pl_redis_store_list_push_async);
	pl_redis_store_command(self, g_steal_pointer(&task), PL_REDIS_REPLY_PUSHED, 7, argv);
}

static void
pl_redis_store_list_range_async(PlStore *store,
                                const gchar *key,
                                GCancellable *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer user_data)
{
	PlRedisStore *self = PL_REDIS_STORE(store);
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	const gchar *argv[] = {"LRANGE", key, "0", "-1"};

	g_task_set_source_tag(task, pl_redis_store_list_range_async);
	pl_redis_store_command(self, g_steal_pointer(&task), PL_REDIS_REPLY_LIST, 4, argv);
}

static GPtrArray *
pl_redis_store_list_range_finish(PlStore *store, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, store), NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}

static void
pl_redis_store_list_remove_async(PlStore *store,
                                 const gchar *key,
                                 const gchar *value,
                                 GCancellable *cancellable,
                                 GAsyncReadyCallback callback,
                                 gpointer user_data)
{
	PlRedisStore *self = PL_REDIS_STORE(store);
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	const gchar *argv[] = {"LREM", key, "1", value};

	g_task_set_source_tag(task, pl_redis_store_list_remove_async);
	pl_redis_store_command(self, g_steal_pointer(&task), PL_REDIS_REPLY_NONZERO, 4, argv);
}

static void
pl_redis_store_publish_async(PlStore *store,
                             const gchar *channel,
                             const gchar *payload,
                             GCancellable *cancellable,
                             GAsyncReadyCallback callback,
                             gpointer user_data)
{
	PlRedisStore *self = PL_REDIS_STORE(store);
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	const gchar *argv[] = {"PUBLISH", channel, payload};

	g_task_set_source_tag(task, pl_redis_store_publish_async);
	pl_redis_store_command(self, g_steal_pointer(&task), PL_REDIS_REPLY_INTEGER, 3, argv);
}

/* subscriber: sent now when the connection is past its PING, else with the others later */
static void
pl_redis_store_send_subscription(PlRedisStore *self, const gchar *verb, const gchar *channel)
{
	PlRedisConn *conn = &self->sub;
	const gchar *argv[] = {verb, channel};
	gboolean subscribe = g_strcmp0(verb, "SUBSCRIBE") == 0;

	if (conn->ac == NULL || !conn->handshaken)
		return;
	if (redisAsyncCommandArgv(conn->ac, subscribe ? pl_redis_store_subscription_cb : NULL, NULL,
	                          2, argv, NULL) != REDIS_OK) {
		g_debug("cannot send %s %s to Redis: the connection is closing", verb, channel);
		return;
	}
	if (subscribe && conn->state == PL_REDIS_CONN_STATE_CONNECTING)
		conn->pending_subscribes++;
}

/* a set: subscribing twice is once, one unsubscribe ends it */
static void
pl_redis_store_subscribe(PlStore *store, const gchar *channel)
{
	PlRedisStore *self = PL_REDIS_STORE(store);

	if (!g_hash_table_add(self->channels, g_strdup(channel)))
		return;
	pl_redis_store_send_subscription(self, "SUBSCRIBE", channel);
}

static void
pl_redis_store_unsubscribe(PlStore *store, const gchar *channel)
{
	PlRedisStore *self = PL_REDIS_STORE(store);

	if (!g_hash_table_remove(self->channels, channel))
		return;
	pl_redis_store_send_subscription(self, "UNSUBSCRIBE", channel);
}

static gboolean
pl_redis_store_is_available(PlStore *store)
{
	return PL_REDIS_STORE(store)->available;
}

static const gchar *
pl_redis_store_get_backend_name(PlStore *store)
{
	return "redis";
}

static void
pl_redis_store_iface_init(PlStoreInterface *iface)
{
	iface->set_async = pl_redis_store_set_async;
	iface->set_finish = pl_redis_store_finish_boolean;
	iface->get_async = pl_redis_store_get_async;
	iface->get_finish = pl_redis_store_get_finish;
	iface->delete_async = pl_redis_store_delete_async;
	iface->delete_finish = pl_redis_store_finish_boolean;
	iface->expire_async = pl_redis_store_expire_async;
	iface->expire_finish = pl_redis_store_finish_boolean;
	iface->list_push_async = pl_redis_store_list_push_async;
	iface->list_push_finish = pl_redis_store_finish_boolean;
	iface->list_range_async = pl_redis_store_list_range_async;
	iface->list_range_finish = pl_redis_store_list_range_finish;
	iface->list_remove_async = pl_redis_store_list_remove_async;
	iface->list_remove_finish = pl_redis_store_finish_boolean;
	iface->publish_async = pl_redis_store_publish_async;
	iface->publish_finish = pl_redis_store_finish_boolean;
	iface->subscribe = pl_redis_store_subscribe;
	iface->unsubscribe = pl_redis_store_unsubscribe;
	iface->is_available = pl_redis_store_is_available;
	iface->get_backend_name = pl_redis_store_get_backend_name;
}

/* ---- object ---- */

static void
pl_redis_store_dispose(GObject *object)
{
	PlRedisStore *self = PL_REDIS_STORE(object);

	g_cancellable_cancel(self->cancellable);
	pl_redis_conn_dispose(&self->cmd);
	pl_redis_conn_dispose(&self->sub);
	pl_redis_clear_source(&self->notify_source);
	self->available = FALSE;
	G_OBJECT_CLASS(pl_redis_store_parent_class)->dispose(object);
}

static void
pl_redis_store_finalize(GObject *object)
{
	PlRedisStore *self = PL_REDIS_STORE(object);
	PlRedisConn *conns[] = {&self->cmd, &self->sub};

	for (guint i = 0; i < G_N_ELEMENTS(conns); i++) {
		g_free(conns[i]->drop_reason);
		g_free(conns[i]->last_error);
	}
	g_hash_table_unref(self->channels);
	g_object_unref(self->cancellable);
	g_main_context_unref(self->context);
	g_free(self->host);
	g_free(self->address);
	G_OBJECT_CLASS(pl_redis_store_parent_class)->finalize(object);
}

static void
pl_redis_store_class_init(PlRedisStoreClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->dispose = pl_redis_store_dispose;
	object_class->finalize = pl_redis_store_finalize;
}

static void
pl_redis_store_init(PlRedisStore *self)
{
	self->command_timeout_ms = PL_REDIS_DEFAULT_CMD_TIMEOUT_MS;
	self->context = g_main_context_ref_thread_default();
	self->cancellable = g_cancellable_new();
	self->channels = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	self->cmd.store = self;
	self->cmd.name = "command";
	self->sub.store = self;
	self->sub.name = "subscriber";
	self->sub.subscriber = TRUE;
}

gboolean
pl_redis_store_parse_url(const gchar *url, gchar **host, guint16 *port, guint *db, GError **error)
{
	g_autoptr(GUri) uri = NULL;
	g_autoptr(GError) error_local = NULL;
	const gchar *path;
	gint uri_port;
	guint64 value = 0;

	g_return_val_if_fail(url != NULL, FALSE);

	uri = g_uri_parse(url, G_URI_FLAGS_NONE, &error_local);
	if (uri == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		            "invalid Redis URL “%s”: %s", url, error_local->message);
		return FALSE;
	}
	if (g_strcmp0(g_uri_get_scheme(uri), "redis") != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		            "invalid Redis URL “%s”: expected redis://HOST[:PORT][/DB]", url);
		return FALSE;
	}
	if (g_uri_get_host(uri) == NULL || g_uri_get_host(uri)[0] == '\0') {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		            "invalid Redis URL “%s”: no host", url);
		return FALSE;
	}
	if (g_uri_get_userinfo(uri) != NULL || g_uri_get_query(uri) != NULL ||
	    g_uri_get_fragment(uri) != NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		            "invalid Redis URL “%s”: credentials, queries and fragments are not "
		            "supported; expected redis://HOST[:PORT][/DB]",
		            url);
		return FALSE;
	}
	uri_port = g_uri_get_port(uri);
	if (uri_port == 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		            "invalid Redis URL “%s”: port 0", url);
		return FALSE;
	}
	path = g_uri_get_path(uri);
	if (path[0] != '\0' && g_strcmp0(path, "/") != 0) {
		g_autoptr(GError) error_db = NULL;
		if (!g_ascii_string_to_unsigned(path + 1, 10, 0, G_MAXINT32, &value, &error_db)) {
			g_set_error(
			        error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			        "invalid Redis URL “%s”: the path must be a database number: %s",
			        url, error_db->message);
			return FALSE;
		}
	}
	if (host != NULL)
		*host = g_strdup(g_uri_get_host(uri));
	if (port != NULL)
		*port = uri_port > 0 ? (guint16)uri_port : PL_REDIS_DEFAULT_PORT;
	if (db != NULL)
		*db = (guint)value;
	return TRUE;
}

void
pl_redis_store_set_command_timeout(PlRedisStore *self, guint timeout_ms)
{
	g_return_if_fail(PL_IS_REDIS_STORE(self));
	g_return_if_fail(timeout_ms > 0);
	self->command_timeout_ms = timeout_ms;
}

PlRedisStore *
pl_redis_store_new(const gchar *url, GError **error)
{
	g_autoptr(PlRedisStore) self = NULL;
	g_autofree gchar *host = NULL;
	guint16 port = 0;
	guint db = 0;

	g_return_val_if_fail(url != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (!pl_redis_store_parse_url(url, &host, &port, &db, error))
		return NULL;
	self = g_object_new(PL_TYPE_REDIS_STORE, NULL);
	self->host = g_steal_pointer(&host);
	self->port = port;
	self->db = db;
	if (strchr(self->host, ':') != NULL)
		self->address = g_strdup_printf("[%s]:%u/%u", self->host, port, db);
	else
		self->address = g_strdup_printf("%s:%u/%u", self->host, port, db);

	/* unavailable until both connections are up, then "availability-changed" */
	pl_redis_conn_start(&self->cmd);
	pl_redis_conn_start(&self->sub);
	return g_steal_pointer(&self);
}
