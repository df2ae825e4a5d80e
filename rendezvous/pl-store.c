#include "config.h"

#include "pl-store.h"

/* the quark name must stay one token */
/* clang-format off */
G_DEFINE_QUARK(peerlink-store-error-quark, pl_store_error)
/* clang-format on */

G_DEFINE_INTERFACE(PlStore, pl_store, G_TYPE_OBJECT)

static void
pl_store_default_init(PlStoreInterface *iface)
{
	g_signal_new("message", G_TYPE_FROM_INTERFACE(iface), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
	             NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
	g_signal_new("availability-changed", G_TYPE_FROM_INTERFACE(iface), G_SIGNAL_RUN_LAST, 0,
	             NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_BOOLEAN);
}

void
pl_store_set_async(PlStore *self,
                   const gchar *key,
                   const gchar *value,
                   guint ttl_ms,
                   GCancellable *cancellable,
                   GAsyncReadyCallback callback,
                   gpointer user_data)
{
	PL_STORE_GET_IFACE(self)->set_async(self, key, value, ttl_ms, cancellable, callback,
	                                    user_data);
}

gboolean
pl_store_set_finish(PlStore *self, GAsyncResult *result, GError **error)
{
	return PL_STORE_GET_IFACE(self)->set_finish(self, result, error);
}

void
pl_store_get_async(PlStore *self,
                   const gchar *key,
                   gboolean delete_after,
                   GCancellable *cancellable,
                   GAsyncReadyCallback callback,
                   gpointer user_data)
{
	PL_STORE_GET_IFACE(self)->get_async(self, key, delete_after, cancellable, callback,
	                                    user_data);
}

gchar *
pl_store_get_finish(PlStore *self, GAsyncResult *result, GError **error)
{
	return PL_STORE_GET_IFACE(self)->get_finish(self, result, error);
}

void
pl_store_delete_async(PlStore *self,
                      const gchar *key,
                      const gchar *if_value,
                      GCancellable *cancellable,
                      GAsyncReadyCallback callback,
                      gpointer user_data)
{
	PL_STORE_GET_IFACE(self)->delete_async(self, key, if_value, cancellable, callback,
	                                       user_data);
}

gboolean
pl_store_delete_finish(PlStore *self, GAsyncResult *result, GError **error)
{
	return PL_STORE_GET_IFACE(self)->delete_finish(self, result, error);
}

void
pl_store_expire_async(PlStore *self,
                      const gchar *key,
                      guint ttl_ms,
                      GCancellable *cancellable,
                      GAsyncReadyCallback callback,
                      gpointer user_data)
{
	PL_STORE_GET_IFACE(self)->expire_async(self, key, ttl_ms, cancellable, callback, user_data);
}

gboolean
pl_store_expire_finish(PlStore *self, GAsyncResult *result, GError **error)
{
	return PL_STORE_GET_IFACE(self)->expire_finish(self, result, error);
}

void
pl_store_list_push_async(PlStore *self,
                         const gchar *key,
                         const gchar *value,
                         guint max_len,
                         guint ttl_ms,
                         GCancellable *cancellable,
                         GAsyncReadyCallback callback,
                         gpointer user_data)
{
	PL_STORE_GET_IFACE(self)->list_push_async(self, key, value, max_len, ttl_ms, cancellable,
	                                          callback, user_data);
}

gboolean
pl_store_list_push_finish(PlStore *self, GAsyncResult *result, GError **error)
{
	return PL_STORE_GET_IFACE(self)->list_push_finish(self, result, error);
}

void
pl_store_list_range_async(PlStore *self,
                          const gchar *key,
                          GCancellable *cancellable,
                          GAsyncReadyCallback callback,
                          gpointer user_data)
{
	PL_STORE_GET_IFACE(self)->list_range_async(self, key, cancellable, callback, user_data);
}

GPtrArray *
pl_store_list_range_finish(PlStore *self, GAsyncResult *result, GError **error)
{
	return PL_STORE_GET_IFACE(self)->list_range_finish(self, result, error);
}

void
pl_store_list_remove_async(PlStore *self,
                           const gchar *key,
                           const gchar *value,
                           GCancellable *cancellable,
                           GAsyncReadyCallback callback,
                           gpointer user_data)
{
	PL_STORE_GET_IFACE(self)->list_remove_async(self, key, value, cancellable, callback,
	                                            user_data);
}

gboolean
pl_store_list_remove_finish(PlStore *self, GAsyncResult *result, GError **error)
{
	return PL_STORE_GET_IFACE(self)->list_remove_finish(self, result, error);
}

void
pl_store_publish_async(PlStore *self,
                       const gchar *channel,
                       const gchar *payload,
                       GCancellable *cancellable,
                       GAsyncReadyCallback callback,
                       gpointer user_data)
{
	PL_STORE_GET_IFACE(self)->publish_async(self, channel, payload, cancellable, callback,
	                                        user_data);
}

gboolean
pl_store_publish_finish(PlStore *self, GAsyncResult *result, GError **error)
{
	return PL_STORE_GET_IFACE(self)->publish_finish(self, result, error);
}

void
pl_store_subscribe(PlStore *self, const gchar *channel)
{
	PL_STORE_GET_IFACE(self)->subscribe(self, channel);
}

void
pl_store_unsubscribe(PlStore *self, const gchar *channel)
{
	PL_STORE_GET_IFACE(self)->unsubscribe(self, channel);
}

gboolean
pl_store_is_available(PlStore *self)
{
	return PL_STORE_GET_IFACE(self)->is_available(self);
}

const gchar *
pl_store_get_backend_name(PlStore *self)
{
	return PL_STORE_GET_IFACE(self)->get_backend_name(self);
}
