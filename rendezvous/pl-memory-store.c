#include "config.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "pl-memory-store.h"

#define PL_MEMORY_STORE_SWEEP_INTERVAL_S 10
#define PL_MEMORY_STORE_FILE_VERSION     1

typedef struct {
	gchar *value;      /* a string, or NULL for a list */
	GQueue *list;      /* of gchar *, or NULL for a string */
	gint64 expires_at; /* g_get_monotonic_time() µs; 0: never */
} PlMemoryStoreEntry;

typedef struct {
	gchar *channel;
	gchar *payload;
} PlMemoryStorePublication;

struct _PlMemoryStore {
	GObject parent_instance;
	GHashTable *entries;  /* key → PlMemoryStoreEntry */
	GHashTable *channels; /* subscribed channel names (a set) */
	GQueue *pending;      /* of PlMemoryStorePublication, delivered from an idle */
	guint deliver_id;
	guint sweep_id;
	GCancellable *cancellable;
};

static void pl_memory_store_iface_init(PlStoreInterface *iface);

G_DEFINE_TYPE_WITH_CODE(PlMemoryStore,
                        pl_memory_store,
                        G_TYPE_OBJECT,
                        G_IMPLEMENT_INTERFACE(PL_TYPE_STORE, pl_memory_store_iface_init))

static void
pl_memory_store_entry_free(PlMemoryStoreEntry *entry)
{
	g_free(entry->value);
	if (entry->list != NULL)
		g_queue_free_full(entry->list, g_free);
	g_free(entry);
}

static void
pl_memory_store_publication_free(PlMemoryStorePublication *publication)
{
	g_free(publication->channel);
	g_free(publication->payload);
	g_free(publication);
}

static gint64
pl_memory_store_expiry(guint ttl_ms)
{
	if (ttl_ms == 0)
		return 0;
	return g_get_monotonic_time() + (gint64)ttl_ms * 1000;
}

static gboolean
pl_memory_store_entry_expired(PlMemoryStoreEntry *entry, gint64 now)
{
	return entry->expires_at != 0 && entry->expires_at <= now;
}

/* removes every expired entry; TRUE if some entry still has an expiry */
static gboolean
pl_memory_store_sweep(PlMemoryStore *self)
{
	GHashTableIter iter;
	PlMemoryStoreEntry *entry;
	gint64 now = g_get_monotonic_time();
	gboolean expiring = FALSE;

	g_hash_table_iter_init(&iter, self->entries);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&entry)) {
		if (pl_memory_store_entry_expired(entry, now))
			g_hash_table_iter_remove(&iter);
		else if (entry->expires_at != 0)
			expiring = TRUE;
	}
	return expiring;
}

static gboolean
pl_memory_store_sweep_cb(gpointer user_data)
{
	PlMemoryStore *self = PL_MEMORY_STORE(user_data);

	if (pl_memory_store_sweep(self))
		return G_SOURCE_CONTINUE;
	self->sweep_id = 0;
	return G_SOURCE_REMOVE;
}

/* lazy expiry misses keys nobody reads again: a timer, at most every 10 s */
static void
pl_memory_store_schedule_sweep(PlMemoryStore *self)
{
	if (self->sweep_id != 0)
		return;
	self->sweep_id = g_timeout_add_seconds(PL_MEMORY_STORE_SWEEP_INTERVAL_S,
	                                       pl_memory_store_sweep_cb, self);
}

/* the live entry for key, expired ones removed on the way */
static PlMemoryStoreEntry *
pl_memory_store_lookup(PlMemoryStore *self, const gchar *key)
{
	PlMemoryStoreEntry *entry = g_hash_table_lookup(self->entries, key);

	if (entry == NULL)
		return NULL;
	if (pl_memory_store_entry_expired(entry, g_get_monotonic_time())) {
		g_hash_table_remove(self->entries, key);
		return NULL;
	}
	return entry;
}

static void
pl_memory_store_set_expiry(PlMemoryStore *self, PlMemoryStoreEntry *entry, guint ttl_ms)
{
	entry->expires_at = pl_memory_store_expiry(ttl_ms);
	if (entry->expires_at != 0)
		pl_memory_store_schedule_sweep(self);
}

static gboolean
pl_memory_store_check_wrong_type(PlMemoryStoreEntry *entry,
                                 gboolean want_list,
                                 const gchar *key,
                                 GError **error)
{
	if ((entry->list != NULL) == want_list)
		return TRUE;
	g_set_error(error, PL_STORE_ERROR, PL_STORE_ERROR_FAILED, "%s holds a %s, not a %s", key,
	            want_list ? "string" : "list", want_list ? "list" : "string");
	return FALSE;
}

/* -------------------------------------------------------------------------- */
/* the operations: done at once, reported through the GTask */

static GTask *
pl_memory_store_task_new(PlMemoryStore *self,
                         GCancellable *cancellable,
                         GAsyncReadyCallback callback,
                         gpointer user_data,
                         gpointer source_tag)
{
	GTask *task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, source_tag);
	return task;
}

static void
pl_memory_store_set_async(PlStore *store,
                          const gchar *key,
                          const gchar *value,
                          guint ttl_ms,
                          GCancellable *cancellable,
                          GAsyncReadyCallback callback,
                          gpointer user_data)
{
	PlMemoryStore *self = PL_MEMORY_STORE(store);
	g_autoptr(GTask) task = pl_memory_store_task_new(self, cancellable, callback, user_data,
	                                                 pl_memory_store_set_async);
	PlMemoryStoreEntry *entry = g_new0(PlMemoryStoreEntry, 1);

	entry->value = g_strdup(value);
	pl_memory_store_set_expiry(self, entry, ttl_ms);
	g_hash_table_replace(self->entries, g_strdup(key), entry);
	g_task_return_boolean(task, TRUE);
}

static gboolean
pl_memory_store_boolean_finish(PlStore *store, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, store), FALSE);
	return g_task_propagate_boolean(G_TASK(result), error);
}

static void
pl_memory_store_get_async(PlStore *store,
                          const gchar *key,
                          gboolean delete_after,
                          GCancellable *cancellable,
                          GAsyncReadyCallback callback,
                          gpointer user_data)
{
	PlMemoryStore *self = PL_MEMORY_STORE(store);
	g_autoptr(GTask) task = pl_memory_store_task_new(self, cancellable, callback, user_data,
	                                                 pl_memory_store_get_async);
	g_autoptr(GError) error = NULL;
	PlMemoryStoreEntry *entry = pl_memory_store_lookup(self, key);
	gchar *value;

	if (entry == NULL) {
		g_task_return_pointer(task, NULL, NULL);
		return;
	}
	if (!pl_memory_store_check_wrong_type(entry, FALSE, key, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	value = g_strdup(entry->value);
	if (delete_after)
		g_hash_table_remove(self->entries, key);
	g_task_return_pointer(task, value, g_free);
}

static gchar *
pl_memory_store_get_finish(PlStore *store, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, store), NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}

static void
pl_memory_store_delete_async(PlStore *store,
                             const gchar *key,
                             const gchar *if_value,
                             GCancellable *cancellable,
                             GAsyncReadyCallback callback,
                             gpointer user_data)
{
	PlMemoryStore *self = PL_MEMORY_STORE(store);
	g_autoptr(GTask) task = pl_memory_store_task_new(self, cancellable, callback, user_data,
	                                                 pl_memory_store_delete_async);
	PlMemoryStoreEntry *entry = pl_memory_store_lookup(self, key);

	if (entry == NULL) {
		g_task_return_boolean(task, FALSE);
		return;
	}
	if (if_value != NULL && g_strcmp0(entry->value, if_value) != 0) {
		g_task_return_boolean(task, FALSE);
		return;
	}
	g_hash_table_remove(self->entries, key);
	g_task_return_boolean(task, TRUE);
}

static void
pl_memory_store_expire_async(PlStore *store,
                             const gchar *key,
                             guint ttl_ms,
                             GCancellable *cancellable,
                             GAsyncReadyCallback callback,
                             gpointer user_data)
{
	PlMemoryStore *self = PL_MEMORY_STORE(store);
	g_autoptr(GTask) task = pl_memory_store_task_new(self, cancellable, callback, user_data,
	                                                 pl_memory_store_expire_async);
	PlMemoryStoreEntry *entry = pl_memory_store_lookup(self, key);

	if (entry == NULL) {
		g_task_return_boolean(task, FALSE);
		return;
	}
	pl_memory_store_set_expiry(self, entry, ttl_ms);
	g_task_return_boolean(task, TRUE);
}

static void
pl_memory_store_list_push_async(PlStore *store,
                                const gchar *key,
                                const gchar *value,
                                guint max_len,
                                guint ttl_ms,
                                GCancellable *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer user_data)
{
	PlMemoryStore *self = PL_MEMORY_STORE(store);
	g_autoptr(GTask) task = pl_memory_store_task_new(self, cancellable, callback, user_data,
	                                                 pl_memory_store_list_push_async);
	g_autoptr(GError) error = NULL;
	PlMemoryStoreEntry *entry = pl_memory_store_lookup(self, key);

	if (entry == NULL) {
		entry = g_new0(PlMemoryStoreEntry, 1);
		entry->list = g_queue_new();
		g_hash_table_replace(self->entries, g_strdup(key), entry);
	} else if (!pl_memory_store_check_wrong_type(entry, TRUE, key, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (max_len > 0 && g_queue_get_length(entry->list) >= max_len) {
		g_task_return_new_error(task, PL_STORE_ERROR, PL_STORE_ERROR_FULL,
		                        "%s already holds %u items", key, max_len);
		return;
	}
	g_queue_push_tail(entry->list, g_strdup(value));
	pl_memory_store_set_expiry(self, entry, ttl_ms);
	g_task_return_boolean(task, TRUE);
}

static void
pl_memory_store_list_range_async(PlStore *store,
                                 const gchar *key,
                                 GCancellable *cancellable,
                                 GAsyncReadyCallback callback,
                                 gpointer user_data)
{
	PlMemoryStore *self = PL_MEMORY_STORE(store);
	g_autoptr(GTask) task = pl_memory_store_task_new(self, cancellable, callback, user_data,
	                                                 pl_memory_store_list_range_async);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func(g_free);
	PlMemoryStoreEntry *entry = pl_memory_store_lookup(self, key);

	if (entry != NULL) {
		if (!pl_memory_store_check_wrong_type(entry, TRUE, key, &error)) {
			g_task_return_error(task, g_steal_pointer(&error));
			return;
		}
		for (GList *l = entry->list->head; l != NULL; l = l->next)
			g_ptr_array_add(items, g_strdup(l->data));
	}
	g_task_return_pointer(task, g_steal_pointer(&items), (GDestroyNotify)g_ptr_array_unref);
}

static GPtrArray *
pl_memory_store_list_range_finish(PlStore *store, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, store), NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}

static void
pl_memory_store_list_remove_async(PlStore *store,
                                  const gchar *key,
                                  const gchar *value,
                                  GCancellable *cancellable,
                                  GAsyncReadyCallback callback,
                                  gpointer user_data)
{
	PlMemoryStore *self = PL_MEMORY_STORE(store);
	g_autoptr(GTask) task = pl_memory_store_task_new(self, cancellable, callback, user_data,
	                                                 pl_memory_store_list_remove_async);
	g_autoptr(GError) error = NULL;
	PlMemoryStoreEntry *entry = pl_memory_store_lookup(self, key);

	if (entry == NULL) {
		g_task_return_boolean(task, FALSE);
		return;
	}
	if (!pl_memory_store_check_wrong_type(entry, TRUE, key, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	for (GList *l = entry->list->head; l != NULL; l = l->next) {
		if (g_strcmp0(l->data, value) == 0) {
			g_free(l->data);
			g_queue_delete_link(entry->list, l);
			/* as Redis: an empty list does not exist */
			if (g_queue_is_empty(entry->list))
				g_hash_table_remove(self->entries, key);
			g_task_return_boolean(task, TRUE);
			return;
		}
	}
	g_task_return_boolean(task, FALSE);
}

static gboolean
pl_memory_store_deliver_cb(gpointer user_data)
{
	PlMemoryStore *self = PL_MEMORY_STORE(user_data);
	g_autoptr(GQueue) pending = self->pending;

	self->deliver_id = 0;
	self->pending = g_queue_new();
	g_object_ref(self);
	while (!g_queue_is_empty(pending)) {
		PlMemoryStorePublication *publication = g_queue_pop_head(pending);
		if (g_hash_table_contains(self->channels, publication->channel))
			g_signal_emit_by_name(self, "message", publication->channel,
			                      publication->payload);
		pl_memory_store_publication_free(publication);
	}
	g_object_unref(self);
	return G_SOURCE_REMOVE;
}

static void
pl_memory_store_publish_async(PlStore *store,
                              const gchar *channel,
                              const gchar *payload,
                              GCancellable *cancellable,
                              GAsyncReadyCallback callback,
                              gpointer user_data)
{
	PlMemoryStore *self = PL_MEMORY_STORE(store);
	g_autoptr(GTask) task = pl_memory_store_task_new(self, cancellable, callback, user_data,
	                                                 pl_memory_store_publish_async);
	PlMemoryStorePublication *publication = g_new0(PlMemoryStorePublication, 1);

	/* never from inside the caller's stack: subscribers get it from the main loop */
	publication->channel = g_strdup(channel);
	publication->payload = g_strdup(payload);
	g_queue_push_tail(self->pending, publication);
	/* default priority: an idle one starves whenever thousands of sockets keep the loop busy */
	if (self->deliver_id == 0)
		self->deliver_id =
		        g_idle_add_full(G_PRIORITY_DEFAULT, pl_memory_store_deliver_cb, self, NULL);
	g_task_return_boolean(task, TRUE);
}

static void
pl_memory_store_subscribe(PlStore *store, const gchar *channel)
{
	PlMemoryStore *self = PL_MEMORY_STORE(store);
	g_hash_table_add(self->channels, g_strdup(channel));
}

static void
pl_memory_store_unsubscribe(PlStore *store, const gchar *channel)
{
	PlMemoryStore *self = PL_MEMORY_STORE(store);
	g_hash_table_remove(self->channels, channel);
}

static gboolean
pl_memory_store_is_available(PlStore *store)
{
	return TRUE;
}

static const gchar *
pl_memory_store_get_backend_name(PlStore *store)
{
	return "memory";
}

/* -------------------------------------------------------------------------- */
/* the state file */

static gint
pl_memory_store_compare_keys(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(a, b);
}

gboolean
pl_memory_store_save(PlMemoryStore *self, const gchar *path, GError **error)
{
	g_autoptr(JsonBuilder) builder = json_builder_new_immutable();
	g_autoptr(JsonGenerator) generator = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(GList) keys = NULL;
	g_autofree gchar *data = NULL;
	gsize len = 0;
	gint64 now;

	g_return_val_if_fail(PL_IS_MEMORY_STORE(self), FALSE);
	g_return_val_if_fail(path != NULL, FALSE);

	pl_memory_store_sweep(self);
	now = g_get_monotonic_time();
	keys = g_list_sort(g_hash_table_get_keys(self->entries), pl_memory_store_compare_keys);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "version");
	json_builder_add_int_value(builder, PL_MEMORY_STORE_FILE_VERSION);
	json_builder_set_member_name(builder, "entries");
	json_builder_begin_array(builder);
	for (GList *k = keys; k != NULL; k = k->next) {
		const gchar *key = k->data;
		PlMemoryStoreEntry *entry = g_hash_table_lookup(self->entries, key);

		json_builder_begin_object(builder);
		json_builder_set_member_name(builder, "key");
		json_builder_add_string_value(builder, key);
		if (entry->list != NULL) {
			json_builder_set_member_name(builder, "list");
			json_builder_begin_array(builder);
			for (GList *l = entry->list->head; l != NULL; l = l->next)
				json_builder_add_string_value(builder, l->data);
			json_builder_end_array(builder);
		} else {
			json_builder_set_member_name(builder, "value");
			json_builder_add_string_value(builder, entry->value);
		}
		if (entry->expires_at != 0) {
			/* the remaining TTL, rounded up so that it stays positive */
			json_builder_set_member_name(builder, "ttl_ms");
			json_builder_add_int_value(builder, (entry->expires_at - now + 999) / 1000);
		}
		json_builder_end_object(builder);
	}
	json_builder_end_array(builder);
	json_builder_end_object(builder);

	root = json_builder_get_root(builder);
	json_generator_set_root(generator, root);
	data = json_generator_to_data(generator, &len);
	return g_file_set_contents_full(
	        path, data, (gssize)len,
	        G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_ONLY_EXISTING, 0600, error);
}

static gboolean
pl_memory_store_load_failed(GError **error, const gchar *path, const gchar *why)
{
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: %s", path, why);
	return FALSE;
}

static gboolean
pl_memory_store_node_is_string(JsonNode *node)
{
	return node != NULL && JSON_NODE_HOLDS_VALUE(node) &&
	       json_node_get_value_type(node) == G_TYPE_STRING;
}

/* merges the file's entries into the store; a missing file is G_FILE_ERROR_NOENT */
gboolean
pl_memory_store_load(PlMemoryStore *self, const gchar *path, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autoptr(GHashTable) loaded = NULL;
	g_autofree gchar *data = NULL;
	gsize len = 0;
	JsonNode *root;
	JsonObject *object;
	JsonNode *entries_node;
	JsonNode *version_node;
	JsonArray *entries;
	GHashTableIter iter;
	gpointer key;
	gpointer value;

	g_return_val_if_fail(PL_IS_MEMORY_STORE(self), FALSE);
	g_return_val_if_fail(path != NULL, FALSE);

	if (!g_file_get_contents(path, &data, &len, error))
		return FALSE;
	if (!g_utf8_validate(data, (gssize)len, NULL))
		return pl_memory_store_load_failed(error, path, "not UTF-8");
	if (!json_parser_load_from_data(parser, data, (gssize)len, error)) {
		g_prefix_error(error, "%s: ", path);
		return FALSE;
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
		return pl_memory_store_load_failed(error, path, "not a JSON object");
	object = json_node_get_object(root);
	version_node = json_object_get_member(object, "version");
	if (version_node == NULL || !JSON_NODE_HOLDS_VALUE(version_node) ||
	    json_node_get_value_type(version_node) != G_TYPE_INT64 ||
	    json_node_get_int(version_node) != PL_MEMORY_STORE_FILE_VERSION)
		return pl_memory_store_load_failed(error, path, "unknown version");
	entries_node = json_object_get_member(object, "entries");
	if (entries_node == NULL || !JSON_NODE_HOLDS_ARRAY(entries_node))
		return pl_memory_store_load_failed(error, path, "\"entries\" is not an array");
	entries = json_node_get_array(entries_node);

	/* all or nothing: check every entry before touching the store */
	loaded = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	                               (GDestroyNotify)pl_memory_store_entry_free);
	for (guint i = 0; i < json_array_get_length(entries); i++) {
		JsonNode *node = json_array_get_element(entries, i);
		JsonObject *item;
		JsonNode *key_node;
		JsonNode *value_node;
		JsonNode *list_node;
		JsonNode *ttl_node;
		g_autoptr(GQueue) list = NULL;
		PlMemoryStoreEntry *entry;
		gint64 ttl_ms = 0;

		if (!JSON_NODE_HOLDS_OBJECT(node))
			return pl_memory_store_load_failed(error, path,
			                                   "an entry is not an object");
		item = json_node_get_object(node);
		key_node = json_object_get_member(item, "key");
		value_node = json_object_get_member(item, "value");
		list_node = json_object_get_member(item, "list");
		ttl_node = json_object_get_member(item, "ttl_ms");
		if (!pl_memory_store_node_is_string(key_node))
			return pl_memory_store_load_failed(error, path, "an entry has no key");
		if (ttl_node != NULL) {
			if (!JSON_NODE_HOLDS_VALUE(ttl_node) ||
			    json_node_get_value_type(ttl_node) != G_TYPE_INT64)
				return pl_memory_store_load_failed(error, path,
				                                   "a TTL is not an integer");
			ttl_ms = json_node_get_int(ttl_node);
			if (ttl_ms <= 0)
				continue; /* expired */
			ttl_ms = MIN(ttl_ms, (gint64)G_MAXUINT);
		}
		if (list_node != NULL && JSON_NODE_HOLDS_ARRAY(list_node) && value_node == NULL) {
			JsonArray *array = json_node_get_array(list_node);
			list = g_queue_new();
			for (guint j = 0; j < json_array_get_length(array); j++) {
				JsonNode *element = json_array_get_element(array, j);
				if (!pl_memory_store_node_is_string(element)) {
					g_queue_free_full(g_steal_pointer(&list), g_free);
					return pl_memory_store_load_failed(
					        error, path, "a list holds a non-string");
				}
				g_queue_push_tail(list, g_strdup(json_node_get_string(element)));
			}
			if (g_queue_is_empty(list))
				continue;
		} else if (!pl_memory_store_node_is_string(value_node) || list_node != NULL) {
			return pl_memory_store_load_failed(
			        error, path, "an entry has neither a value nor a list");
		}
		entry = g_new0(PlMemoryStoreEntry, 1);
		if (list != NULL)
			entry->list = g_steal_pointer(&list);
		else
			entry->value = g_strdup(json_node_get_string(value_node));
		entry->expires_at = pl_memory_store_expiry((guint)ttl_ms);
		g_hash_table_replace(loaded, g_strdup(json_node_get_string(key_node)), entry);
	}

	g_hash_table_iter_init(&iter, loaded);
	while (g_hash_table_iter_next(&iter, &key, &value)) {
		PlMemoryStoreEntry *entry = value;
		g_hash_table_iter_steal(&iter);
		if (entry->expires_at != 0)
			pl_memory_store_schedule_sweep(self);
		g_hash_table_replace(self->entries, key, entry);
	}
	return TRUE;
}

/* -------------------------------------------------------------------------- */

static void
pl_memory_store_iface_init(PlStoreInterface *iface)
{
	iface->set_async = pl_memory_store_set_async;
	iface->set_finish = pl_memory_store_boolean_finish;
	iface->get_async = pl_memory_store_get_async;
	iface->get_finish = pl_memory_store_get_finish;
	iface->delete_async = pl_memory_store_delete_async;
	iface->delete_finish = pl_memory_store_boolean_finish;
	iface->expire_async = pl_memory_store_expire_async;
	iface->expire_finish = pl_memory_store_boolean_finish;
	iface->list_push_async = pl_memory_store_list_push_async;
	iface->list_push_finish = pl_memory_store_boolean_finish;
	iface->list_range_async = pl_memory_store_list_range_async;
	iface->list_range_finish = pl_memory_store_list_range_finish;
	iface->list_remove_async = pl_memory_store_list_remove_async;
	iface->list_remove_finish = pl_memory_store_boolean_finish;
	iface->publish_async = pl_memory_store_publish_async;
	iface->publish_finish = pl_memory_store_boolean_finish;
	iface->subscribe = pl_memory_store_subscribe;
	iface->unsubscribe = pl_memory_store_unsubscribe;
	iface->is_available = pl_memory_store_is_available;
	iface->get_backend_name = pl_memory_store_get_backend_name;
}

static void
pl_memory_store_dispose(GObject *object)
{
	PlMemoryStore *self = PL_MEMORY_STORE(object);

	g_cancellable_cancel(self->cancellable);
	g_clear_handle_id(&self->deliver_id, g_source_remove);
	g_clear_handle_id(&self->sweep_id, g_source_remove);
	G_OBJECT_CLASS(pl_memory_store_parent_class)->dispose(object);
}

static void
pl_memory_store_finalize(GObject *object)
{
	PlMemoryStore *self = PL_MEMORY_STORE(object);

	g_hash_table_unref(self->entries);
	g_hash_table_unref(self->channels);
	g_queue_free_full(self->pending, (GDestroyNotify)pl_memory_store_publication_free);
	g_object_unref(self->cancellable);
	G_OBJECT_CLASS(pl_memory_store_parent_class)->finalize(object);
}

static void
pl_memory_store_class_init(PlMemoryStoreClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->dispose = pl_memory_store_dispose;
	object_class->finalize = pl_memory_store_finalize;
}

static void
pl_memory_store_init(PlMemoryStore *self)
{
	self->entries = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	                                      (GDestroyNotify)pl_memory_store_entry_free);
	self->channels = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	self->pending = g_queue_new();
	self->cancellable = g_cancellable_new();
}

PlMemoryStore *
pl_memory_store_new(void)
{
	return g_object_new(PL_TYPE_MEMORY_STORE, NULL);
}
