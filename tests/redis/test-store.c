/*
 * PlStore conformance: the same cases against PlMemoryStore and PlRedisStore
 * (a real redis-server on a free loopback port), then what only Redis has:
 * URLs, databases, several instances, losing and finding the server again.
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include <gio/gio.h>

#include "pl-memory-store.h"
#include "pl-redis-store.h"
#include "pl-redis-test-util.h"

#ifndef REDIS_SERVER
#define REDIS_SERVER ""
#endif

#define WAIT_MS PL_TEST_WAIT_MS

/* one redis-server for the whole program, started by the first test that needs it */
static PlTestRedis *server;

static gchar *
redis_url(const gchar *host, guint db)
{
	return pl_test_redis_get_url(server, host, db);
}

#define wait_until pl_test_wait_until
#define spin       pl_test_spin

static void
result_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GAsyncResult **slot = user_data;
	g_assert_null(*slot);
	*slot = g_object_ref(res);
}

static gboolean
result_ready(gpointer data)
{
	return *(GAsyncResult **)data != NULL;
}

static GAsyncResult *
wait_result(GAsyncResult **slot)
{
	g_assert_true(wait_until(result_ready, slot, WAIT_MS));
	return *slot;
}

/* ---- synchronous wrappers ---- */

static gboolean
store_set(PlStore *store, const gchar *key, const gchar *value, guint ttl_ms, GError **error)
{
	g_autoptr(GAsyncResult) res = NULL;
	pl_store_set_async(store, key, value, ttl_ms, NULL, result_cb, &res);
	return pl_store_set_finish(store, wait_result(&res), error);
}

static gchar *
store_get(PlStore *store, const gchar *key, gboolean delete_after, GError **error)
{
	g_autoptr(GAsyncResult) res = NULL;
	pl_store_get_async(store, key, delete_after, NULL, result_cb, &res);
	return pl_store_get_finish(store, wait_result(&res), error);
}

static gboolean
store_delete(PlStore *store, const gchar *key, const gchar *if_value, GError **error)
{
	g_autoptr(GAsyncResult) res = NULL;
	pl_store_delete_async(store, key, if_value, NULL, result_cb, &res);
	return pl_store_delete_finish(store, wait_result(&res), error);
}

static gboolean
store_expire(PlStore *store, const gchar *key, guint ttl_ms, GError **error)
{
	g_autoptr(GAsyncResult) res = NULL;
	pl_store_expire_async(store, key, ttl_ms, NULL, result_cb, &res);
	return pl_store_expire_finish(store, wait_result(&res), error);
}

static gboolean
store_push(PlStore *store,
           const gchar *key,
           const gchar *value,
           guint max_len,
           guint ttl_ms,
           GError **error)
{
	g_autoptr(GAsyncResult) res = NULL;
	pl_store_list_push_async(store, key, value, max_len, ttl_ms, NULL, result_cb, &res);
	return pl_store_list_push_finish(store, wait_result(&res), error);
}

static GPtrArray *
store_range(PlStore *store, const gchar *key, GError **error)
{
	g_autoptr(GAsyncResult) res = NULL;
	pl_store_list_range_async(store, key, NULL, result_cb, &res);
	return pl_store_list_range_finish(store, wait_result(&res), error);
}

static gboolean
store_remove(PlStore *store, const gchar *key, const gchar *value, GError **error)
{
	g_autoptr(GAsyncResult) res = NULL;
	pl_store_list_remove_async(store, key, value, NULL, result_cb, &res);
	return pl_store_list_remove_finish(store, wait_result(&res), error);
}

static gboolean
store_publish(PlStore *store, const gchar *channel, const gchar *payload, GError **error)
{
	g_autoptr(GAsyncResult) res = NULL;
	pl_store_publish_async(store, channel, payload, NULL, result_cb, &res);
	return pl_store_publish_finish(store, wait_result(&res), error);
}

/* the list as "a,b,c", to compare in one assertion */
static gchar *
store_range_joined(PlStore *store, const gchar *key)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) items = store_range(store, key, &error);

	g_assert_no_error(error);
	g_assert_nonnull(items);
	g_ptr_array_add(items, NULL);
	return g_strjoinv(",", (gchar **)items->pdata);
}

/* ---- availability and messages ---- */

typedef struct {
	PlStore *store;
	GPtrArray *messages; /* "channel=payload", probes left out */
	guint probes;
	GArray *availability; /* gboolean, one per "availability-changed" */
} Watch;

static void
on_message(PlStore *store, const gchar *channel, const gchar *payload, gpointer user_data)
{
	Watch *w = user_data;
	if (g_str_has_prefix(payload, "probe")) {
		w->probes++;
		return;
	}
	g_ptr_array_add(w->messages, g_strdup_printf("%s=%s", channel, payload));
}

static void
on_availability_changed(PlStore *store, gboolean available, gpointer user_data)
{
	Watch *w = user_data;
	g_assert_cmpint(available, ==, pl_store_is_available(store));
	g_array_append_val(w->availability, available);
}

static Watch *
watch_new(PlStore *store)
{
	Watch *w = g_new0(Watch, 1);
	w->store = g_object_ref(store);
	w->messages = g_ptr_array_new_with_free_func(g_free);
	w->availability = g_array_new(FALSE, FALSE, sizeof(gboolean));
	g_signal_connect(store, "message", G_CALLBACK(on_message), w);
	g_signal_connect(store, "availability-changed", G_CALLBACK(on_availability_changed), w);
	return w;
}

static void
watch_free(Watch *w)
{
	g_signal_handlers_disconnect_by_data(w->store, w);
	g_object_unref(w->store);
	g_ptr_array_unref(w->messages);
	g_array_unref(w->availability);
	g_free(w);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Watch, watch_free)

static gchar *
watch_messages(Watch *w)
{
	g_autoptr(GPtrArray) copy = g_ptr_array_new();
	for (guint i = 0; i < w->messages->len; i++)
		g_ptr_array_add(copy, g_ptr_array_index(w->messages, i));
	g_ptr_array_add(copy, NULL);
	return g_strjoinv(",", (gchar **)copy->pdata);
}

static gboolean
watch_has_probe(gpointer data)
{
	return ((Watch *)data)->probes > 0;
}

static gboolean
watch_available(gpointer data)
{
	Watch *w = data;
	return w->availability->len > 0 &&
	       g_array_index(w->availability, gboolean, w->availability->len - 1);
}

static gboolean
watch_unavailable(gpointer data)
{
	Watch *w = data;
	return w->availability->len > 0 &&
	       !g_array_index(w->availability, gboolean, w->availability->len - 1);
}

typedef struct {
	Watch *watch;
	guint count;
} WaitMessages;

static gboolean
watch_has_messages(gpointer data)
{
	WaitMessages *wait = data;
	return wait->watch->messages->len >= wait->count;
}

static void
watch_wait_messages(Watch *w, guint count)
{
	WaitMessages wait = {w, count};
	g_assert_true(wait_until(watch_has_messages, &wait, WAIT_MS));
}

/*
 * A Redis subscription takes effect one round trip after subscribe(): probe
 * (from publisher, or the store itself) until the subscriber hears one.
 */
static void
watch_wait_subscribed(Watch *w, PlStore *publisher, const gchar *channel)
{
	gint64 deadline = g_get_monotonic_time() + WAIT_MS * G_TIME_SPAN_MILLISECOND;

	w->probes = 0;
	while (w->probes == 0) {
		g_autoptr(GError) error = NULL;
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_assert_true(store_publish(publisher, channel, "probe", &error));
		g_assert_no_error(error);
		wait_until(watch_has_probe, w, 100);
	}
}

/* ---- the conformance cases, for every backend ---- */

typedef struct {
	PlStore *store;
	Watch *watch;
	gchar *prefix;
} Fixture;

static PlStore *
redis_store_new_available(guint db)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *url = redis_url("127.0.0.1", db);
	g_autoptr(PlRedisStore) store = pl_redis_store_new(url, &error);
	g_autoptr(Watch) w = NULL;

	g_assert_no_error(error);
	g_assert_nonnull(store);
	w = watch_new(PL_STORE(store));
	g_assert_true(wait_until(watch_available, w, WAIT_MS));
	g_assert_true(pl_store_is_available(PL_STORE(store)));
	return PL_STORE(g_steal_pointer(&store));
}

static gboolean
redis_available(void)
{
	if (server == NULL) {
		g_test_skip("redis-server is not installed");
		return FALSE;
	}
	if (!pl_test_redis_is_running(server))
		pl_test_redis_start(server);
	return TRUE;
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
	const gchar *backend = data;
	static guint counter = 0;

	f->prefix = g_strdup_printf("test:%u:%08x", counter++, g_random_int());
	if (g_strcmp0(backend, "memory") == 0) {
		f->store = PL_STORE(pl_memory_store_new());
		g_assert_true(pl_store_is_available(f->store));
	} else {
		if (!redis_available())
			return;
		f->store = redis_store_new_available(0);
	}
	g_assert_cmpstr(pl_store_get_backend_name(f->store), ==, backend);
	f->watch = watch_new(f->store);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
	g_clear_pointer(&f->watch, watch_free);
	g_clear_object(&f->store);
	g_free(f->prefix);
	/* whatever the store left for the loop (idles, replies of a freed context) */
	spin(20);
}

static gchar *
fixture_key(Fixture *f, const gchar *name)
{
	return g_strdup_printf("%s:%s", f->prefix, name);
}

static void
test_set_get(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *key = fixture_key(f, "k");
	g_autofree gchar *value = NULL;
	const gchar *odd[] = {"", "with space\nand newline", "%s%n ünïcödé \"quoted\"", "*3\r\n$3"};

	if (f->store == NULL)
		return;

	value = store_get(f->store, key, FALSE, &error);
	g_assert_no_error(error);
	g_assert_null(value);

	g_assert_true(store_set(f->store, key, "v1", 0, &error));
	g_assert_no_error(error);
	value = store_get(f->store, key, FALSE, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(value, ==, "v1");
	g_clear_pointer(&value, g_free);

	/* overwrite; a plain get leaves the value */
	g_assert_true(store_set(f->store, key, "v2", 0, &error));
	g_assert_no_error(error);
	for (guint i = 0; i < 2; i++) {
		value = store_get(f->store, key, FALSE, &error);
		g_assert_no_error(error);
		g_assert_cmpstr(value, ==, "v2");
		g_clear_pointer(&value, g_free);
	}

	/* values travel as they are */
	for (guint i = 0; i < G_N_ELEMENTS(odd); i++) {
		g_assert_true(store_set(f->store, key, odd[i], 0, &error));
		g_assert_no_error(error);
		value = store_get(f->store, key, FALSE, &error);
		g_assert_no_error(error);
		g_assert_cmpstr(value, ==, odd[i]);
		g_clear_pointer(&value, g_free);
	}
}

static void
test_get_delete(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *key = fixture_key(f, "once");
	g_autofree gchar *value = NULL;

	if (f->store == NULL)
		return;

	g_assert_true(store_set(f->store, key, "secret", 0, &error));
	g_assert_no_error(error);
	value = store_get(f->store, key, TRUE, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(value, ==, "secret");
	g_clear_pointer(&value, g_free);

	/* gone after one read */
	value = store_get(f->store, key, FALSE, &error);
	g_assert_no_error(error);
	g_assert_null(value);
	value = store_get(f->store, key, TRUE, &error);
	g_assert_no_error(error);
	g_assert_null(value);
}

typedef struct {
	PlStore *store;
	const gchar *key;
} KeyRef;

static gboolean
key_is_gone(gpointer data)
{
	KeyRef *ref = data;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *value = store_get(ref->store, ref->key, FALSE, &error);

	g_assert_no_error(error);
	return value == NULL;
}

static gboolean
list_is_gone(gpointer data)
{
	KeyRef *ref = data;
	g_autofree gchar *joined = store_range_joined(ref->store, ref->key);
	return joined[0] == '\0';
}

static void
test_ttl(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *key = fixture_key(f, "ttl");
	g_autofree gchar *key2 = fixture_key(f, "ttl-cleared");
	g_autofree gchar *value = NULL;
	KeyRef ref = {f->store, key};

	if (f->store == NULL)
		return;

	g_assert_true(store_set(f->store, key, "short", 300, &error));
	g_assert_no_error(error);
	value = store_get(f->store, key, FALSE, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(value, ==, "short");
	g_clear_pointer(&value, g_free);
	g_assert_true(wait_until(key_is_gone, &ref, 3000));

	/* a set without a TTL clears the old one */
	g_assert_true(store_set(f->store, key2, "a", 150, &error));
	g_assert_no_error(error);
	g_assert_true(store_set(f->store, key2, "b", 0, &error));
	g_assert_no_error(error);
	spin(350);
	value = store_get(f->store, key2, FALSE, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(value, ==, "b");
}

static void
test_expire(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *key = fixture_key(f, "exp");
	g_autofree gchar *missing = fixture_key(f, "missing");
	g_autofree gchar *value = NULL;
	KeyRef ref = {f->store, key};

	if (f->store == NULL)
		return;

	/* FALSE without an error for a missing key */
	g_assert_false(store_expire(f->store, missing, 1000, &error));
	g_assert_no_error(error);
	g_assert_false(store_expire(f->store, missing, 0, &error));
	g_assert_no_error(error);

	/* a TTL on a key set without one */
	g_assert_true(store_set(f->store, key, "v", 0, &error));
	g_assert_no_error(error);
	g_assert_true(store_expire(f->store, key, 300, &error));
	g_assert_no_error(error);
	value = store_get(f->store, key, FALSE, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(value, ==, "v");
	g_clear_pointer(&value, g_free);
	g_assert_true(wait_until(key_is_gone, &ref, 3000));

	/* a TTL of 0: no expiry any more */
	g_assert_true(store_set(f->store, key, "kept", 150, &error));
	g_assert_no_error(error);
	g_assert_true(store_expire(f->store, key, 0, &error));
	g_assert_no_error(error);
	spin(350);
	value = store_get(f->store, key, FALSE, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(value, ==, "kept");
}

static void
test_delete(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *key = fixture_key(f, "del");
	g_autofree gchar *list = fixture_key(f, "del-list");
	g_autofree gchar *value = NULL;

	if (f->store == NULL)
		return;

	/* unconditional: TRUE when something was deleted */
	g_assert_true(store_set(f->store, key, "v", 0, &error));
	g_assert_no_error(error);
	g_assert_true(store_delete(f->store, key, NULL, &error));
	g_assert_no_error(error);
	value = store_get(f->store, key, FALSE, &error);
	g_assert_no_error(error);
	g_assert_null(value);

	/* an absent key: FALSE without an error */
	g_assert_false(store_delete(f->store, key, NULL, &error));
	g_assert_no_error(error);
	g_assert_false(store_delete(f->store, key, "v", &error));
	g_assert_no_error(error);

	/* compare-and-delete: another value leaves it */
	g_assert_true(store_set(f->store, key, "mine", 0, &error));
	g_assert_no_error(error);
	g_assert_false(store_delete(f->store, key, "theirs", &error));
	g_assert_no_error(error);
	value = store_get(f->store, key, FALSE, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(value, ==, "mine");
	g_clear_pointer(&value, g_free);

	/* the same value removes it */
	g_assert_true(store_delete(f->store, key, "mine", &error));
	g_assert_no_error(error);
	value = store_get(f->store, key, FALSE, &error);
	g_assert_no_error(error);
	g_assert_null(value);

	/* a list is no string value; unconditionally it goes like anything else */
	g_assert_true(store_push(f->store, list, "mine", 10, 0, &error));
	g_assert_no_error(error);
	g_assert_false(store_delete(f->store, list, "mine", &error));
	g_assert_no_error(error);
	g_assert_true(store_delete(f->store, list, NULL, &error));
	g_assert_no_error(error);
	g_assert_true(list_is_gone(&(KeyRef){f->store, list}));
}

static void
test_list(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *key = fixture_key(f, "list");
	g_autofree gchar *missing = fixture_key(f, "no-list");
	g_autoptr(GPtrArray) items = NULL;
	gchar *joined;

	if (f->store == NULL)
		return;

	/* an empty array for a missing list */
	items = store_range(f->store, missing, &error);
	g_assert_no_error(error);
	g_assert_nonnull(items);
	g_assert_cmpuint(items->len, ==, 0);
	g_assert_false(store_remove(f->store, missing, "x", &error));
	g_assert_no_error(error);

	/* oldest first */
	for (guint i = 0; i < 4; i++) {
		const gchar *values[] = {"a", "b", "c", "a"};
		g_assert_true(store_push(f->store, key, values[i], 10, 0, &error));
		g_assert_no_error(error);
	}
	joined = store_range_joined(f->store, key);
	g_assert_cmpstr(joined, ==, "a,b,c,a");
	g_free(joined);

	/* the first equal item only; FALSE without an error for none */
	g_assert_true(store_remove(f->store, key, "a", &error));
	g_assert_no_error(error);
	joined = store_range_joined(f->store, key);
	g_assert_cmpstr(joined, ==, "b,c,a");
	g_free(joined);
	g_assert_false(store_remove(f->store, key, "zzz", &error));
	g_assert_no_error(error);

	g_assert_true(store_remove(f->store, key, "c", &error));
	g_assert_no_error(error);
	g_assert_true(store_remove(f->store, key, "a", &error));
	g_assert_no_error(error);
	g_assert_true(store_remove(f->store, key, "b", &error));
	g_assert_no_error(error);
	joined = store_range_joined(f->store, key);
	g_assert_cmpstr(joined, ==, "");
	g_free(joined);
}

static void
test_list_full(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *key = fixture_key(f, "full");
	gchar *joined;

	if (f->store == NULL)
		return;

	for (guint i = 1; i <= 3; i++) {
		g_autofree gchar *value = g_strdup_printf("%u", i);
		g_assert_true(store_push(f->store, key, value, 3, 0, &error));
		g_assert_no_error(error);
	}
	g_assert_false(store_push(f->store, key, "4", 3, 0, &error));
	g_assert_error(error, PL_STORE_ERROR, PL_STORE_ERROR_FULL);
	g_clear_error(&error);
	joined = store_range_joined(f->store, key);
	g_assert_cmpstr(joined, ==, "1,2,3");
	g_free(joined);

	/* room again after a removal */
	g_assert_true(store_remove(f->store, key, "1", &error));
	g_assert_no_error(error);
	g_assert_true(store_push(f->store, key, "4", 3, 0, &error));
	g_assert_no_error(error);
	joined = store_range_joined(f->store, key);
	g_assert_cmpstr(joined, ==, "2,3,4");
	g_free(joined);

	/* a max_len of 0 is no limit */
	for (guint i = 0; i < 5; i++) {
		g_assert_true(store_push(f->store, key, "more", 0, 0, &error));
		g_assert_no_error(error);
	}
	joined = store_range_joined(f->store, key);
	g_assert_cmpstr(joined, ==, "2,3,4,more,more,more,more,more");
	g_free(joined);
}

static void
test_list_ttl(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *key = fixture_key(f, "list-ttl");
	g_autofree gchar *key2 = fixture_key(f, "list-renewed");
	KeyRef ref = {f->store, key};
	KeyRef ref2 = {f->store, key2};
	gint64 first;
	gchar *joined;

	if (f->store == NULL)
		return;

	g_assert_true(store_push(f->store, key, "x", 10, 300, &error));
	g_assert_no_error(error);
	joined = store_range_joined(f->store, key);
	g_assert_cmpstr(joined, ==, "x");
	g_free(joined);
	g_assert_true(wait_until(list_is_gone, &ref, 3000));

	/* each push gives the whole list the new TTL */
	g_assert_true(store_push(f->store, key2, "y", 10, 1000, &error));
	g_assert_no_error(error);
	first = g_get_monotonic_time();
	spin(500);
	g_assert_true(store_push(f->store, key2, "z", 10, 1000, &error));
	g_assert_no_error(error);
	spin(1200 - (g_get_monotonic_time() - first) / 1000);
	joined = store_range_joined(f->store, key2);
	g_assert_cmpstr(joined, ==, "y,z");
	g_free(joined);
	g_assert_true(wait_until(list_is_gone, &ref2, 3000));
}

static void
test_pubsub(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *ch_a = fixture_key(f, "chan-a");
	g_autofree gchar *ch_b = fixture_key(f, "chan-b");
	g_autofree gchar *ch_c = fixture_key(f, "chan-c");
	g_autofree gchar *expected = NULL;
	g_autofree gchar *messages = NULL;

	if (f->store == NULL)
		return;

	/* publishing to nobody is fine (and let it go by: PlMemoryStore delivers from
	 * an idle to whoever is subscribed by then) */
	g_assert_true(store_publish(f->store, ch_a, "nobody", &error));
	g_assert_no_error(error);
	spin(50);

	pl_store_subscribe(f->store, ch_a);
	watch_wait_subscribed(f->watch, f->store, ch_a);

	/* only the subscribed channel; b would come first if it came at all */
	g_assert_true(store_publish(f->store, ch_b, "not-for-us", &error));
	g_assert_no_error(error);
	g_assert_true(store_publish(f->store, ch_a, "hello", &error));
	g_assert_no_error(error);
	watch_wait_messages(f->watch, 1);
	expected = g_strdup_printf("%s=hello", ch_a);
	messages = watch_messages(f->watch);
	g_assert_cmpstr(messages, ==, expected);
	g_clear_pointer(&expected, g_free);
	g_clear_pointer(&messages, g_free);

	/* after unsubscribe, nothing: c's message comes after a's would have */
	pl_store_unsubscribe(f->store, ch_a);
	g_assert_true(store_publish(f->store, ch_a, "too-late", &error));
	g_assert_no_error(error);
	pl_store_subscribe(f->store, ch_c);
	watch_wait_subscribed(f->watch, f->store, ch_c);
	g_assert_true(store_publish(f->store, ch_c, "last", &error));
	g_assert_no_error(error);
	watch_wait_messages(f->watch, 2);
	spin(50);
	expected = g_strdup_printf("%s=hello,%s=last", ch_a, ch_c);
	messages = watch_messages(f->watch);
	g_assert_cmpstr(messages, ==, expected);
	g_clear_pointer(&expected, g_free);
	g_clear_pointer(&messages, g_free);

	/* subscriptions are a set: twice is once (one message), one unsubscribe ends it */
	pl_store_subscribe(f->store, ch_a);
	pl_store_subscribe(f->store, ch_a);
	watch_wait_subscribed(f->watch, f->store, ch_a);
	g_assert_true(store_publish(f->store, ch_a, "once", &error));
	g_assert_no_error(error);
	watch_wait_messages(f->watch, 3);
	pl_store_unsubscribe(f->store, ch_a);
	g_assert_true(store_publish(f->store, ch_a, "unsubscribed", &error));
	g_assert_no_error(error);
	g_assert_true(store_publish(f->store, ch_c, "end", &error));
	g_assert_no_error(error);
	watch_wait_messages(f->watch, 4);
	spin(50);
	expected = g_strdup_printf("%s=hello,%s=last,%s=once,%s=end", ch_a, ch_c, ch_a, ch_c);
	messages = watch_messages(f->watch);
	g_assert_cmpstr(messages, ==, expected);
	pl_store_unsubscribe(f->store, ch_c);
	pl_store_unsubscribe(f->store, ch_c);
}

/* ---- Redis only ---- */

static void
test_redis_url(void)
{
	const gchar *bad[] = {
	        "",
	        "localhost:6379",
	        "http://localhost:6379",
	        "redis://",
	        "redis:///3",
	        "redis://host:port",
	        "redis://host:70000",
	        "redis://host:0",
	        "redis://host/abc",
	        "redis://host/1/2",
	        "redis://host/-1",
	        "redis://user:secret@host",
	        "redis://host?db=1",
	        "redis://host#x",
	};
	struct {
		const gchar *url;
		const gchar *host;
		guint16 port;
		guint db;
	} good[] = {
	        {"redis://127.0.0.1", "127.0.0.1", 6379, 0},
	        {"redis://127.0.0.1/", "127.0.0.1", 6379, 0},
	        {"redis://localhost:6380", "localhost", 6380, 0},
	        {"redis://redis.example:7000/3", "redis.example", 7000, 3},
	        {"redis://[::1]:6390/15", "::1", 6390, 15},
	};

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(PlRedisStore) store = pl_redis_store_new(bad[i], &error);
		g_test_message("bad: %s", bad[i]);
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
		g_assert_null(store);
		g_assert_nonnull(strstr(error->message, "Redis URL"));
	}
	for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *host = NULL;
		guint16 port = 0;
		guint db = 99;
		g_test_message("good: %s", good[i].url);
		g_assert_true(pl_redis_store_parse_url(good[i].url, &host, &port, &db, &error));
		g_assert_no_error(error);
		g_assert_cmpstr(host, ==, good[i].host);
		g_assert_cmpuint(port, ==, good[i].port);
		g_assert_cmpuint(db, ==, good[i].db);
	}
}

/* nothing listens: constructed anyway, unavailable, every op fails at once */
static void
test_redis_unreachable(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *url = g_strdup_printf("redis://127.0.0.1:%u", pl_test_pick_free_port());
	g_autoptr(PlRedisStore) redis = pl_redis_store_new(url, &error);
	PlStore *store = PL_STORE(redis);
	g_autoptr(Watch) w = NULL;
	g_autoptr(GPtrArray) items = NULL;
	g_autofree gchar *value = NULL;
	gint64 start;

	g_assert_no_error(error);
	g_assert_nonnull(redis);
	g_assert_cmpstr(pl_store_get_backend_name(store), ==, "redis");
	g_assert_false(pl_store_is_available(store));
	w = watch_new(store);

	/* subscribing while down is fine: it happens once connected */
	pl_store_subscribe(store, "somewhere");

	start = g_get_monotonic_time();
	g_assert_false(store_set(store, "k", "v", 0, &error));
	g_assert_error(error, PL_STORE_ERROR, PL_STORE_ERROR_UNAVAILABLE);
	g_clear_error(&error);
	value = store_get(store, "k", FALSE, &error);
	g_assert_error(error, PL_STORE_ERROR, PL_STORE_ERROR_UNAVAILABLE);
	g_assert_null(value);
	g_clear_error(&error);
	items = store_range(store, "k", &error);
	g_assert_error(error, PL_STORE_ERROR, PL_STORE_ERROR_UNAVAILABLE);
	g_assert_null(items);
	g_clear_error(&error);
	g_assert_false(store_publish(store, "c", "p", &error));
	g_assert_error(error, PL_STORE_ERROR, PL_STORE_ERROR_UNAVAILABLE);
	g_clear_error(&error);
	g_assert_cmpint(g_get_monotonic_time() - start, <, G_TIME_SPAN_SECOND);

	/* it keeps trying (several attempts pass here) and stays quiet about it */
	spin(400);
	g_assert_cmpuint(w->availability->len, ==, 0);
	g_assert_false(pl_store_is_available(store));
}

/* SELECT: one database does not see the other's keys */
static void
test_redis_db(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStore) db1 = NULL;
	g_autoptr(PlStore) db2 = NULL;
	g_autoptr(PlStore) db1_again = NULL;
	g_autofree gchar *value = NULL;
	g_autofree gchar *key = g_strdup_printf("db-test:%08x", g_random_int());

	if (!redis_available())
		return;
	db1 = redis_store_new_available(1);
	db2 = redis_store_new_available(2);
	db1_again = redis_store_new_available(1);

	g_assert_true(store_set(db1, key, "in-1", 0, &error));
	g_assert_no_error(error);
	value = store_get(db2, key, FALSE, &error);
	g_assert_no_error(error);
	g_assert_null(value);
	value = store_get(db1_again, key, FALSE, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(value, ==, "in-1");
}

/* a host name, resolved without blocking */
static void
test_redis_hostname(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *url = redis_url("localhost", 0);
	g_autoptr(PlRedisStore) store = NULL;
	g_autoptr(Watch) w = NULL;
	g_autofree gchar *value = NULL;

	if (!redis_available())
		return;
	store = pl_redis_store_new(url, &error);
	g_assert_no_error(error);
	w = watch_new(PL_STORE(store));
	/* localhost may resolve to ::1 first, where nothing listens: a retry takes the next */
	g_assert_true(wait_until(watch_available, w, WAIT_MS));
	value = store_get(PL_STORE(store), "no-such-key", FALSE, &error);
	g_assert_no_error(error);
	g_assert_null(value);
}

/* two instances on one server: messages and lists cross */
static void
test_redis_two_instances(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStore) a = NULL;
	g_autoptr(PlStore) b = NULL;
	g_autoptr(Watch) wa = NULL;
	g_autoptr(Watch) wb = NULL;
	g_autofree gchar *channel = g_strdup_printf("peer:%08x", g_random_int());
	g_autofree gchar *inbox = g_strdup_printf("inbox:%08x", g_random_int());
	g_autofree gchar *expected = NULL;
	g_autofree gchar *messages = NULL;
	g_autofree gchar *joined = NULL;

	if (!redis_available())
		return;
	a = redis_store_new_available(0);
	b = redis_store_new_available(0);
	wa = watch_new(a);
	wb = watch_new(b);

	pl_store_subscribe(a, channel);
	watch_wait_subscribed(wa, b, channel);
	g_assert_true(store_publish(b, channel, "from-b", &error));
	g_assert_no_error(error);
	watch_wait_messages(wa, 1);
	expected = g_strdup_printf("%s=from-b", channel);
	messages = watch_messages(wa);
	g_assert_cmpstr(messages, ==, expected);
	/* b did not subscribe */
	g_assert_cmpuint(wb->messages->len, ==, 0);

	g_assert_true(store_push(a, inbox, "m1", 10, 5000, &error));
	g_assert_no_error(error);
	g_assert_true(store_push(b, inbox, "m2", 10, 5000, &error));
	g_assert_no_error(error);
	joined = store_range_joined(b, inbox);
	g_assert_cmpstr(joined, ==, "m1,m2");
	g_clear_pointer(&joined, g_free);
	g_assert_true(store_remove(b, inbox, "m1", &error));
	g_assert_no_error(error);
	joined = store_range_joined(a, inbox);
	g_assert_cmpstr(joined, ==, "m2");
	pl_store_unsubscribe(a, channel);
}

/* subscribe() before the first connection: the subscription is made on connect */
static void
test_redis_subscribe_early(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *url = NULL;
	g_autoptr(PlRedisStore) early = NULL;
	g_autoptr(PlStore) publisher = NULL;
	g_autoptr(Watch) w = NULL;
	g_autofree gchar *channel = g_strdup_printf("early:%08x", g_random_int());
	g_autofree gchar *expected = NULL;
	g_autofree gchar *messages = NULL;

	if (!redis_available())
		return;
	publisher = redis_store_new_available(0);
	url = redis_url("127.0.0.1", 0);
	early = pl_redis_store_new(url, &error);
	g_assert_no_error(error);
	w = watch_new(PL_STORE(early));
	pl_store_subscribe(PL_STORE(early), channel);
	pl_store_subscribe(PL_STORE(early), channel); /* a set: still one subscription */
	g_assert_true(wait_until(watch_available, w, WAIT_MS));

	/* available means subscribed: no probing needed; each message once */
	g_assert_true(store_publish(publisher, channel, "first", &error));
	g_assert_no_error(error);
	g_assert_true(store_publish(publisher, channel, "second", &error));
	g_assert_no_error(error);
	watch_wait_messages(w, 2);
	spin(50);
	expected = g_strdup_printf("%s=first,%s=second", channel, channel);
	messages = watch_messages(w);
	g_assert_cmpstr(messages, ==, expected);
	pl_store_unsubscribe(PL_STORE(early), channel);
}

static void
unref_in_callback_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	gboolean *done = user_data;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *value = pl_store_get_finish(PL_STORE(source), res, &error);

	g_assert_no_error(error);
	*done = TRUE;
	/* the task holds the last reference: the store goes inside hiredis's callback */
}

static void
unref_on_message(PlStore *store, const gchar *channel, const gchar *payload, gpointer user_data)
{
	gboolean *done = user_data;
	if (*done)
		return;
	*done = TRUE;
	g_object_unref(store);
}

static gboolean
flag_set(gpointer data)
{
	return *(gboolean *)data;
}

/* dropping the store while it is busy or from its own callbacks */
static void
test_redis_dispose(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStore) publisher = NULL;
	g_autofree gchar *channel = g_strdup_printf("dispose:%08x", g_random_int());
	PlStore *store;
	gboolean done = FALSE;
	g_autoptr(GAsyncResult) res = NULL;

	if (!redis_available())
		return;
	publisher = redis_store_new_available(0);

	/* the last reference goes with the task, inside the reply callback */
	store = redis_store_new_available(0);
	pl_store_get_async(store, "k", FALSE, NULL, unref_in_callback_cb, &done);
	g_object_unref(store);
	g_assert_true(wait_until(flag_set, &done, WAIT_MS));
	spin(50);

	/* the last reference goes in a "message" handler */
	done = FALSE;
	store = redis_store_new_available(0);
	pl_store_subscribe(store, channel);
	g_signal_connect(store, "message", G_CALLBACK(unref_on_message), &done);
	while (!done) {
		g_assert_true(store_publish(publisher, channel, "bye", &error));
		g_assert_no_error(error);
		wait_until(flag_set, &done, 100);
	}
	spin(50);

	/* dropped with an operation in flight: the task keeps it until the reply */
	store = redis_store_new_available(0);
	pl_store_set_async(store, "k", "v", 0, NULL, result_cb, &res);
	g_object_unref(store);
	wait_result(&res);
	{
		g_autoptr(GObject) source = g_async_result_get_source_object(res);
		g_assert_true(pl_store_set_finish(PL_STORE(source), res, &error));
		g_assert_no_error(error);
	}
	g_clear_object(&res);

	/* disposed explicitly with an operation in flight: it fails, once */
	store = redis_store_new_available(0);
	pl_store_set_async(store, "k", "v", 0, NULL, result_cb, &res);
	g_object_run_dispose(G_OBJECT(store));
	g_assert_false(pl_store_set_finish(store, wait_result(&res), &error));
	g_assert_error(error, PL_STORE_ERROR, PL_STORE_ERROR_UNAVAILABLE);
	g_clear_error(&error);
	g_assert_false(pl_store_is_available(store));
	g_assert_false(store_set(store, "k", "v", 0, &error));
	g_assert_error(error, PL_STORE_ERROR, PL_STORE_ERROR_UNAVAILABLE);
	g_clear_error(&error);
	g_object_unref(store);
	spin(50);
}

/*
 * The server goes away and comes back on the same port: the store says so,
 * fails fast meanwhile, then works again with its subscriptions restored.
 */
static void
test_redis_availability(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStore) a = NULL;
	g_autoptr(PlStore) b = NULL;
	g_autoptr(Watch) wa = NULL;
	g_autoptr(Watch) wb = NULL;
	g_autoptr(GAsyncResult) pending = NULL;
	g_autofree gchar *channel = g_strdup_printf("peer:%08x", g_random_int());
	g_autofree gchar *value = NULL;
	g_autofree gchar *expected = NULL;
	g_autofree gchar *messages = NULL;
	gint64 start;

	if (!redis_available())
		return;
	a = redis_store_new_available(0);
	b = redis_store_new_available(0);
	wa = watch_new(a);
	wb = watch_new(b);
	pl_store_subscribe(a, channel);
	watch_wait_subscribed(wa, b, channel);

	/* an operation in flight when the connection drops fails with UNAVAILABLE */
	pl_test_redis_signal(server, SIGSTOP);
	pl_store_get_async(a, "k", FALSE, NULL, result_cb, &pending);
	spin(50);
	g_assert_null(pending);
	pl_test_redis_signal(server, SIGKILL);
	pl_test_redis_kill(server);
	value = pl_store_get_finish(a, wait_result(&pending), &error);
	g_assert_error(error, PL_STORE_ERROR, PL_STORE_ERROR_UNAVAILABLE);
	g_assert_null(value);
	g_clear_error(&error);

	g_assert_true(wait_until(watch_unavailable, wa, WAIT_MS));
	g_assert_true(wait_until(watch_unavailable, wb, WAIT_MS));
	g_assert_false(pl_store_is_available(a));

	/* fast failures while down */
	start = g_get_monotonic_time();
	g_assert_false(store_set(a, "k", "v", 0, &error));
	g_assert_error(error, PL_STORE_ERROR, PL_STORE_ERROR_UNAVAILABLE);
	g_clear_error(&error);
	g_assert_false(store_publish(b, channel, "lost", &error));
	g_assert_error(error, PL_STORE_ERROR, PL_STORE_ERROR_UNAVAILABLE);
	g_clear_error(&error);
	g_assert_cmpint(g_get_monotonic_time() - start, <, G_TIME_SPAN_SECOND);

	/* a few failed attempts, then the server is back */
	spin(300);
	pl_test_redis_start(server);
	g_assert_true(wait_until(watch_available, wa, WAIT_MS));
	g_assert_true(wait_until(watch_available, wb, WAIT_MS));
	g_assert_cmpuint(wa->availability->len, ==, 2);

	g_assert_true(store_set(a, "k", "back", 0, &error));
	g_assert_no_error(error);
	value = store_get(b, "k", FALSE, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(value, ==, "back");

	/* available again means subscribed again */
	g_assert_true(store_publish(b, channel, "again", &error));
	g_assert_no_error(error);
	watch_wait_messages(wa, 1);
	expected = g_strdup_printf("%s=again", channel);
	messages = watch_messages(wa);
	g_assert_cmpstr(messages, ==, expected);
}

/* a server that stops answering (SIGSTOP) cannot hang an operation */
static void
test_redis_timeout(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStore) store = NULL;
	g_autoptr(Watch) w = NULL;
	g_autofree gchar *value = NULL;
	gint64 start;

	if (!redis_available())
		return;
	store = redis_store_new_available(0);
	pl_redis_store_set_command_timeout(PL_REDIS_STORE(store), 300);
	w = watch_new(store);

	pl_test_redis_signal(server, SIGSTOP);
	start = g_get_monotonic_time();
	value = store_get(store, "k", FALSE, &error);
	g_assert_error(error, PL_STORE_ERROR, PL_STORE_ERROR_UNAVAILABLE);
	g_assert_null(value);
	g_clear_error(&error);
	g_assert_cmpint(g_get_monotonic_time() - start, <, 3 * G_TIME_SPAN_SECOND);
	g_assert_true(wait_until(watch_unavailable, w, WAIT_MS));

	pl_test_redis_signal(server, SIGCONT);
	g_assert_true(wait_until(watch_available, w, WAIT_MS));
	g_assert_true(store_set(store, "k", "v", 0, &error));
	g_assert_no_error(error);
}

static void
add_conformance(const gchar *backend)
{
	struct {
		const gchar *name;
		void (*func)(Fixture *, gconstpointer);
	} cases[] = {
	        {"set-get", test_set_get},
	        {"get-delete", test_get_delete},
	        {"ttl", test_ttl},
	        {"expire", test_expire},
	        {"delete", test_delete},
	        {"list", test_list},
	        {"list-full", test_list_full},
	        {"list-ttl", test_list_ttl},
	        {"pubsub", test_pubsub},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *path =
		        g_strdup_printf("/peerlink/store/%s/%s", backend, cases[i].name);
		g_test_add(path, Fixture, backend, fixture_setup, cases[i].func, fixture_teardown);
	}
}

int
main(int argc, char **argv)
{
	int rc;

	g_test_init(&argc, &argv, NULL);
	server = pl_test_redis_new(REDIS_SERVER);

	add_conformance("memory");
	add_conformance("redis");
	g_test_add_func("/peerlink/store/redis-only/url", test_redis_url);
	g_test_add_func("/peerlink/store/redis-only/unreachable", test_redis_unreachable);
	g_test_add_func("/peerlink/store/redis-only/db", test_redis_db);
	g_test_add_func("/peerlink/store/redis-only/hostname", test_redis_hostname);
	g_test_add_func("/peerlink/store/redis-only/two-instances", test_redis_two_instances);
	g_test_add_func("/peerlink/store/redis-only/subscribe-early", test_redis_subscribe_early);
	g_test_add_func("/peerlink/store/redis-only/dispose", test_redis_dispose);
	/* these two stop the server */
	g_test_add_func("/peerlink/store/redis-only/timeout", test_redis_timeout);
	g_test_add_func("/peerlink/store/redis-only/availability", test_redis_availability);

	rc = g_test_run();
	g_clear_pointer(&server, pl_test_redis_free);
	return rc;
}
