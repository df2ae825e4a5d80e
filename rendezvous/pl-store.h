/*
 * Where the rendezvous service keeps its shared state: strings and lists of
 * strings with expiry, and publish/subscribe channels. Deliberately dumb, so
 * that the service's logic exists once and the memory and Redis backends stay
 * mechanical. Every operation is asynchronous (Redis is a network away).
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define PL_STORE_ERROR (pl_store_error_quark())
GQuark pl_store_error_quark(void);

typedef enum {
	PL_STORE_ERROR_UNAVAILABLE, /* the backend cannot be reached */
	PL_STORE_ERROR_FULL,        /* list_push: the list already holds max_len items */
	PL_STORE_ERROR_FAILED,
} PlStoreError;

#define PL_TYPE_STORE (pl_store_get_type())
G_DECLARE_INTERFACE(PlStore, pl_store, PL, STORE, GObject)

/*
 * Signals: "message" (const gchar *channel, const gchar *payload) for each
 * publication on a subscribed channel; "availability-changed" (gboolean).
 * TTLs are in milliseconds; 0 means no expiry (and expire with 0 removes one).
 * delete finishes TRUE only when something was deleted; list_push with
 * max_len 0 has no limit. Subscriptions are a set: subscribing twice counts
 * once. A subscription may take a round trip to become effective, so callers
 * read the state they watch after subscribing, not before.
 */
struct _PlStoreInterface {
	GTypeInterface parent_iface;

	void (*set_async)(PlStore *self,
	                  const gchar *key,
	                  const gchar *value,
	                  guint ttl_ms,
	                  GCancellable *cancellable,
	                  GAsyncReadyCallback callback,
	                  gpointer user_data);
	gboolean (*set_finish)(PlStore *self, GAsyncResult *result, GError **error);
	/* finish returns NULL without an error when the key is absent or expired */
	void (*get_async)(PlStore *self,
	                  const gchar *key,
	                  gboolean delete_after,
	                  GCancellable *cancellable,
	                  GAsyncReadyCallback callback,
	                  gpointer user_data);
	gchar *(*get_finish)(PlStore *self, GAsyncResult *result, GError **error);
	/* if_value NULL: delete unconditionally; else only when the value is if_value */
	void (*delete_async)(PlStore *self,
	                     const gchar *key,
	                     const gchar *if_value,
	                     GCancellable *cancellable,
	                     GAsyncReadyCallback callback,
	                     gpointer user_data);
	gboolean (*delete_finish)(PlStore *self, GAsyncResult *result, GError **error);
	/* sets a new TTL; FALSE without error when the key does not exist */
	void (*expire_async)(PlStore *self,
	                     const gchar *key,
	                     guint ttl_ms,
	                     GCancellable *cancellable,
	                     GAsyncReadyCallback callback,
	                     gpointer user_data);
	gboolean (*expire_finish)(PlStore *self, GAsyncResult *result, GError **error);
	/* appends; PL_STORE_ERROR_FULL at max_len; the whole list's TTL becomes ttl_ms */
	void (*list_push_async)(PlStore *self,
	                        const gchar *key,
	                        const gchar *value,
	                        guint max_len,
	                        guint ttl_ms,
	                        GCancellable *cancellable,
	                        GAsyncReadyCallback callback,
	                        gpointer user_data);
	gboolean (*list_push_finish)(PlStore *self, GAsyncResult *result, GError **error);
	/* all items, oldest first (an empty array for a missing list) */
	void (*list_range_async)(PlStore *self,
	                         const gchar *key,
	                         GCancellable *cancellable,
	                         GAsyncReadyCallback callback,
	                         gpointer user_data);
	GPtrArray *(*list_range_finish)(PlStore *self, GAsyncResult *result, GError **error);
	/* removes the first item equal to value; FALSE without error if none */
	void (*list_remove_async)(PlStore *self,
	                          const gchar *key,
	                          const gchar *value,
	                          GCancellable *cancellable,
	                          GAsyncReadyCallback callback,
	                          gpointer user_data);
	gboolean (*list_remove_finish)(PlStore *self, GAsyncResult *result, GError **error);
	void (*publish_async)(PlStore *self,
	                      const gchar *channel,
	                      const gchar *payload,
	                      GCancellable *cancellable,
	                      GAsyncReadyCallback callback,
	                      gpointer user_data);
	gboolean (*publish_finish)(PlStore *self, GAsyncResult *result, GError **error);

	void (*subscribe)(PlStore *self, const gchar *channel);
	void (*unsubscribe)(PlStore *self, const gchar *channel);
	gboolean (*is_available)(PlStore *self);
	const gchar *(*get_backend_name)(PlStore *self);
};

void pl_store_set_async(PlStore *self,
                        const gchar *key,
                        const gchar *value,
                        guint ttl_ms,
                        GCancellable *cancellable,
                        GAsyncReadyCallback callback,
                        gpointer user_data);
gboolean pl_store_set_finish(PlStore *self, GAsyncResult *result, GError **error);
void pl_store_get_async(PlStore *self,
                        const gchar *key,
                        gboolean delete_after,
                        GCancellable *cancellable,
                        GAsyncReadyCallback callback,
                        gpointer user_data);
gchar *pl_store_get_finish(PlStore *self, GAsyncResult *result, GError **error);
void pl_store_delete_async(PlStore *self,
                           const gchar *key,
                           const gchar *if_value,
                           GCancellable *cancellable,
                           GAsyncReadyCallback callback,
                           gpointer user_data);
gboolean pl_store_delete_finish(PlStore *self, GAsyncResult *result, GError **error);
void pl_store_expire_async(PlStore *self,
                           const gchar *key,
                           guint ttl_ms,
                           GCancellable *cancellable,
                           GAsyncReadyCallback callback,
                           gpointer user_data);
gboolean pl_store_expire_finish(PlStore *self, GAsyncResult *result, GError **error);
void pl_store_list_push_async(PlStore *self,
                              const gchar *key,
                              const gchar *value,
                              guint max_len,
                              guint ttl_ms,
                              GCancellable *cancellable,
                              GAsyncReadyCallback callback,
                              gpointer user_data);
gboolean pl_store_list_push_finish(PlStore *self, GAsyncResult *result, GError **error);
void pl_store_list_range_async(PlStore *self,
                               const gchar *key,
                               GCancellable *cancellable,
                               GAsyncReadyCallback callback,
                               gpointer user_data);
GPtrArray *pl_store_list_range_finish(PlStore *self, GAsyncResult *result, GError **error);
void pl_store_list_remove_async(PlStore *self,
                                const gchar *key,
                                const gchar *value,
                                GCancellable *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer user_data);
gboolean pl_store_list_remove_finish(PlStore *self, GAsyncResult *result, GError **error);
void pl_store_publish_async(PlStore *self,
                            const gchar *channel,
                            const gchar *payload,
                            GCancellable *cancellable,
                            GAsyncReadyCallback callback,
                            gpointer user_data);
gboolean pl_store_publish_finish(PlStore *self, GAsyncResult *result, GError **error);
void pl_store_subscribe(PlStore *self, const gchar *channel);
void pl_store_unsubscribe(PlStore *self, const gchar *channel);
gboolean pl_store_is_available(PlStore *self);
const gchar *pl_store_get_backend_name(PlStore *self);

G_END_DECLS
