#include "config.h"

/* TEMPORARY until the Redis backend lands (helper in progress): lets the tree link. */
#include "pl-redis-store.h"

struct _PlRedisStore {
	GObject parent_instance;
};

G_DEFINE_TYPE(PlRedisStore, pl_redis_store, G_TYPE_OBJECT)

static void
pl_redis_store_class_init(PlRedisStoreClass *klass)
{
}

static void
pl_redis_store_init(PlRedisStore *self)
{
}

PlRedisStore *
pl_redis_store_new(const gchar *url, GError **error)
{
	g_set_error_literal(error, PL_STORE_ERROR, PL_STORE_ERROR_FAILED,
			    "the Redis backend is not built yet");
	return NULL;
}
