/*
 * PlStore on Redis (hiredis, driven by the GLib main loop), so that several
 * rendezvous instances share one state and reach each other through pub/sub.
 * It reconnects by itself; while Redis is unreachable every operation fails
 * with PL_STORE_ERROR_UNAVAILABLE and "availability-changed" tells the service.
 */
#pragma once

#include "pl-store.h"

G_BEGIN_DECLS

#define PL_TYPE_REDIS_STORE (pl_redis_store_get_type())
G_DECLARE_FINAL_TYPE(PlRedisStore, pl_redis_store, PL, REDIS_STORE, GObject)

/* url: redis://HOST[:PORT][/DB]; a malformed URL is an error, an unreachable server is not */
PlRedisStore *
pl_redis_store_new(const gchar *url, GError **error);

G_END_DECLS
