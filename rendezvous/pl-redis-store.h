/*
 * PlStore on Redis (hiredis, driven by the GLib main loop), so that several
 * rendezvous instances share one state and reach each other through pub/sub.
 * It reconnects by itself; while Redis is unreachable every operation fails
 * with PL_STORE_ERROR_UNAVAILABLE and "availability-changed" tells the service.
 *
 * Two connections: one for commands, one for SUBSCRIBE. The store is available
 * while both are up and every subscription has been (re)confirmed by Redis, so
 * "availability-changed" (TRUE) means that publications reach this store again.
 * A subscribe() made while available takes effect one round trip later: a
 * publication racing it is missed, as with any Redis subscriber. Subscriptions
 * are a set, as in PlMemoryStore. GETDEL needs Redis 6.2 or later.
 */
#pragma once

#include "pl-store.h"

G_BEGIN_DECLS

#define PL_TYPE_REDIS_STORE (pl_redis_store_get_type())
G_DECLARE_FINAL_TYPE(PlRedisStore, pl_redis_store, PL, REDIS_STORE, GObject)

/* url: redis://HOST[:PORT][/DB]; a malformed URL is an error, an unreachable server is not */
PlRedisStore *pl_redis_store_new(const gchar *url, GError **error);
/* how long a command may wait for its reply, and a connection for its first
 * one, before the connection counts as dead and is made again (default 5 s) */
void pl_redis_store_set_command_timeout(PlRedisStore *self, guint timeout_ms);

/* the parsing behind pl_redis_store_new(): port 6379 and DB 0 by default;
 * G_IO_ERROR_INVALID_ARGUMENT for anything else than redis://HOST[:PORT][/DB] */
gboolean
pl_redis_store_parse_url(const gchar *url, gchar **host, guint16 *port, guint *db, GError **error);

G_END_DECLS
