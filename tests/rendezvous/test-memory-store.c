#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "pl-memory-store.h"

/* each asynchronous operation, waited for in the main loop */
typedef struct {
	GAsyncResult *result;
} Wait;

static void
wait_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Wait *wait = user_data;
	wait->result = g_object_ref(result);
}

static GAsyncResult *
wait_result(Wait *wait)
{
	while (wait->result == NULL)
		g_main_context_iteration(NULL, TRUE);
	return wait->result;
}

static gboolean
store_set(PlStore *store, const gchar *key, const gchar *value, guint ttl_ms)
{
	Wait wait = {0};
	g_autoptr(GError) error = NULL;
	gboolean ok;

	pl_store_set_async(store, key, value, ttl_ms, NULL, wait_cb, &wait);
	ok = pl_store_set_finish(store, wait_result(&wait), &error);
	g_assert_no_error(error);
	g_object_unref(wait.result);
	return ok;
}

static gchar *
store_get(PlStore *store, const gchar *key, gboolean delete_after, GError **error)
{
	Wait wait = {0};
	gchar *value;

	pl_store_get_async(store, key, delete_after, NULL, wait_cb, &wait);
	value = pl_store_get_finish(store, wait_result(&wait), error);
	g_object_unref(wait.result);
	return value;
}

static gboolean
store_delete(PlStore *store, const gchar *key, const gchar *if_value)
{
	Wait wait = {0};
	g_autoptr(GError) error = NULL;
	gboolean ok;

	pl_store_delete_async(store, key, if_value, NULL, wait_cb, &wait);
	ok = pl_store_delete_finish(store, wait_result(&wait), &error);
	g_assert_no_error(error);
	g_object_unref(wait.result);
	return ok;
}

static gboolean
store_expire(PlStore *store, const gchar *key, guint ttl_ms)
{
	Wait wait = {0};
	g_autoptr(GError) error = NULL;
	gboolean ok;

	pl_store_expire_async(store, key, ttl_ms, NULL, wait_cb, &wait);
	ok = pl_store_expire_finish(store, wait_result(&wait), &error);
	g_assert_no_error(error);
	g_object_unref(wait.result);
	return ok;
}

static gboolean
store_push(PlStore *store,
           const gchar *key,
           const gchar *value,
           guint max_len,
           guint ttl_ms,
           GError **error)
{
	Wait wait = {0};
	gboolean ok;

	pl_store_list_push_async(store, key, value, max_len, ttl_ms, NULL, wait_cb, &wait);
	ok = pl_store_list_push_finish(store, wait_result(&wait), error);
	g_object_unref(wait.result);
	return ok;
}

static gchar *
store_range(PlStore *store, const gchar *key, GError **error)
{
	Wait wait = {0};
	g_autoptr(GPtrArray) items = NULL;

	pl_store_list_range_async(store, key, NULL, wait_cb, &wait);
	items = pl_store_list_range_finish(store, wait_result(&wait), error);
	g_object_unref(wait.result);
	if (items == NULL)
		return NULL;
	g_ptr_array_add(items, NULL);
	return g_strjoinv(",", (gchar **)items->pdata);
}

static gboolean
store_remove(PlStore *store, const gchar *key, const gchar *value)
{
	Wait wait = {0};
	g_autoptr(GError) error = NULL;
	gboolean ok;

	pl_store_list_remove_async(store, key, value, NULL, wait_cb, &wait);
	ok = pl_store_list_remove_finish(store, wait_result(&wait), &error);
	g_assert_no_error(error);
	g_object_unref(wait.result);
	return ok;
}

static void
store_publish(PlStore *store, const gchar *channel, const gchar *payload)
{
	Wait wait = {0};
	g_autoptr(GError) error = NULL;

	pl_store_publish_async(store, channel, payload, NULL, wait_cb, &wait);
	g_assert_true(pl_store_publish_finish(store, wait_result(&wait), &error));
	g_assert_no_error(error);
	g_object_unref(wait.result);
}

static void
sleep_ms(guint ms)
{
	g_usleep(ms * 1000);
}

static void
test_strings(void)
{
	g_autoptr(PlMemoryStore) memory = pl_memory_store_new();
	PlStore *store = PL_STORE(memory);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *value = NULL;

	g_assert_true(pl_store_is_available(store));
	g_assert_cmpstr(pl_store_get_backend_name(store), ==, "memory");

	/* absent: NULL without an error */
	value = store_get(store, "k", FALSE, &error);
	g_assert_no_error(error);
	g_assert_null(value);

	g_assert_true(store_set(store, "k", "v1", 0));
	value = store_get(store, "k", FALSE, &error);
	g_assert_cmpstr(value, ==, "v1");
	g_clear_pointer(&value, g_free);
	g_assert_true(store_set(store, "k", "v2", 0));
	value = store_get(store, "k", FALSE, &error);
	g_assert_cmpstr(value, ==, "v2");
	g_clear_pointer(&value, g_free);

	/* taken once */
	value = store_get(store, "k", TRUE, &error);
	g_assert_cmpstr(value, ==, "v2");
	g_clear_pointer(&value, g_free);
	value = store_get(store, "k", TRUE, &error);
	g_assert_null(value);

	/* conditional delete */
	g_assert_true(store_set(store, "p", "conn-1", 0));
	g_assert_false(store_delete(store, "p", "conn-2"));
	value = store_get(store, "p", FALSE, &error);
	g_assert_cmpstr(value, ==, "conn-1");
	g_clear_pointer(&value, g_free);
	g_assert_true(store_delete(store, "p", "conn-1"));
	g_assert_false(store_delete(store, "p", NULL));
	g_assert_true(store_set(store, "p", "x", 0));
	g_assert_true(store_delete(store, "p", NULL));
	g_assert_false(store_expire(store, "p", 1000));
}

static void
test_expiry(void)
{
	g_autoptr(PlMemoryStore) memory = pl_memory_store_new();
	PlStore *store = PL_STORE(memory);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *value = NULL;

	g_assert_true(store_set(store, "short", "1", 50));
	g_assert_true(store_set(store, "long", "2", 60000));
	g_assert_true(store_set(store, "refreshed", "3", 50));
	g_assert_true(store_set(store, "persisted", "4", 50));
	g_assert_true(store_expire(store, "refreshed", 60000));
	g_assert_true(store_expire(store, "persisted", 0));
	sleep_ms(80);
	value = store_get(store, "short", FALSE, &error);
	g_assert_no_error(error);
	g_assert_null(value);
	g_assert_false(store_expire(store, "short", 1000));
	g_assert_false(store_delete(store, "short", NULL));
	value = store_get(store, "long", FALSE, &error);
	g_assert_cmpstr(value, ==, "2");
	g_clear_pointer(&value, g_free);
	value = store_get(store, "refreshed", FALSE, &error);
	g_assert_cmpstr(value, ==, "3");
	g_clear_pointer(&value, g_free);
	value = store_get(store, "persisted", FALSE, &error);
	g_assert_cmpstr(value, ==, "4");
	g_clear_pointer(&value, g_free);

	/* a list's TTL is reset by each push */
	g_assert_true(store_push(store, "l", "a", 0, 60, &error));
	sleep_ms(40);
	g_assert_true(store_push(store, "l", "b", 0, 60, &error));
	sleep_ms(40);
	value = store_range(store, "l", &error);
	g_assert_cmpstr(value, ==, "a,b");
	g_clear_pointer(&value, g_free);
	sleep_ms(40);
	value = store_range(store, "l", &error);
	g_assert_cmpstr(value, ==, "");
}

static void
test_lists(void)
{
	g_autoptr(PlMemoryStore) memory = pl_memory_store_new();
	PlStore *store = PL_STORE(memory);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *value = NULL;

	value = store_range(store, "l", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(value, ==, "");
	g_clear_pointer(&value, g_free);
	g_assert_false(store_remove(store, "l", "x"));

	g_assert_true(store_push(store, "l", "a", 3, 0, &error));
	g_assert_true(store_push(store, "l", "b", 3, 0, &error));
	g_assert_true(store_push(store, "l", "a", 3, 0, &error));
	g_assert_no_error(error);
	g_assert_false(store_push(store, "l", "c", 3, 0, &error));
	g_assert_error(error, PL_STORE_ERROR, PL_STORE_ERROR_FULL);
	g_clear_error(&error);
	value = store_range(store, "l", &error);
	g_assert_cmpstr(value, ==, "a,b,a");
	g_clear_pointer(&value, g_free);

	/* the first equal item only */
	g_assert_true(store_remove(store, "l", "a"));
	value = store_range(store, "l", &error);
	g_assert_cmpstr(value, ==, "b,a");
	g_clear_pointer(&value, g_free);
	g_assert_false(store_remove(store, "l", "zzz"));
	g_assert_true(store_push(store, "l", "c", 3, 0, &error));
	value = store_range(store, "l", &error);
	g_assert_cmpstr(value, ==, "b,a,c");
	g_clear_pointer(&value, g_free);

	/* emptied: gone */
	g_assert_true(store_remove(store, "l", "b"));
	g_assert_true(store_remove(store, "l", "a"));
	g_assert_true(store_remove(store, "l", "c"));
	g_assert_false(store_delete(store, "l", NULL));

	/* no limit */
	for (guint i = 0; i < 1000; i++)
		g_assert_true(store_push(store, "big", "x", 0, 0, NULL));

	/* wrong types */
	g_assert_true(store_set(store, "s", "string", 0));
	g_assert_false(store_push(store, "s", "x", 0, 0, &error));
	g_assert_error(error, PL_STORE_ERROR, PL_STORE_ERROR_FAILED);
	g_clear_error(&error);
	value = store_range(store, "s", &error);
	g_assert_null(value);
	g_assert_error(error, PL_STORE_ERROR, PL_STORE_ERROR_FAILED);
	g_clear_error(&error);
	g_assert_true(store_push(store, "l2", "x", 0, 0, &error));
	value = store_get(store, "l2", FALSE, &error);
	g_assert_null(value);
	g_assert_error(error, PL_STORE_ERROR, PL_STORE_ERROR_FAILED);
	g_clear_error(&error);
	/* set replaces a list */
	g_assert_true(store_set(store, "l2", "now a string", 0));
	value = store_get(store, "l2", FALSE, &error);
	g_assert_cmpstr(value, ==, "now a string");
}

typedef struct {
	GPtrArray *received;
} Received;

static void
message_cb(PlStore *store, const gchar *channel, const gchar *payload, gpointer user_data)
{
	Received *received = user_data;
	g_ptr_array_add(received->received, g_strdup_printf("%s=%s", channel, payload));
}

static void
test_pubsub(void)
{
	g_autoptr(PlMemoryStore) memory = pl_memory_store_new();
	PlStore *store = PL_STORE(memory);
	g_autoptr(GPtrArray) received = g_ptr_array_new_with_free_func(g_free);
	Received data = {received};

	g_signal_connect(store, "message", G_CALLBACK(message_cb), &data);
	pl_store_subscribe(store, "a");
	pl_store_subscribe(store, "a"); /* idempotent */
	pl_store_subscribe(store, "b");

	/* never from inside publish: from the main loop */
	pl_store_publish_async(store, "a", "1", NULL, NULL, NULL);
	g_assert_cmpuint(received->len, ==, 0);
	store_publish(store, "c", "nobody listens");
	store_publish(store, "b", "2");
	store_publish(store, "a", "3");
	while (g_main_context_iteration(NULL, FALSE))
		;
	g_assert_cmpuint(received->len, ==, 3);
	g_assert_cmpstr(g_ptr_array_index(received, 0), ==, "a=1");
	g_assert_cmpstr(g_ptr_array_index(received, 1), ==, "b=2");
	g_assert_cmpstr(g_ptr_array_index(received, 2), ==, "a=3");

	pl_store_unsubscribe(store, "a");
	store_publish(store, "a", "4");
	store_publish(store, "b", "5");
	while (g_main_context_iteration(NULL, FALSE))
		;
	g_assert_cmpuint(received->len, ==, 4);
	g_assert_cmpstr(g_ptr_array_index(received, 3), ==, "b=5");

	/* pending publications die with the store */
	store_publish(store, "b", "6");
}

static void
test_save_load(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("pl-memory-store-XXXXXX", &error);
	g_autofree gchar *path = g_build_filename(dir, "state.json", NULL);
	g_autofree gchar *value = NULL;
	GStatBuf st;

	g_assert_no_error(error);
	{
		g_autoptr(PlMemoryStore) memory = pl_memory_store_new();
		PlStore *store = PL_STORE(memory);
		g_assert_true(store_set(store, "forever", "f", 0));
		g_assert_true(store_set(store, "soon", "s", 60));
		g_assert_true(store_set(store, "later", "l", 60000));
		g_assert_true(store_set(store, "gone", "g", 1));
		g_assert_true(store_push(store, "inbox", "m1", 0, 60000, NULL));
		g_assert_true(store_push(store, "inbox", "m\"2\n", 0, 60000, NULL));
		sleep_ms(5);
		g_assert_true(pl_memory_store_save(memory, path, &error));
		g_assert_no_error(error);
	}
	g_assert_cmpint(g_stat(path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);
	{
		g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
		guint n = 0;
		while (g_dir_read_name(d) != NULL)
			n++;
		g_assert_cmpuint(n, ==, 1); /* no temporary file left */
	}
	{
		g_autoptr(PlMemoryStore) memory = pl_memory_store_new();
		PlStore *store = PL_STORE(memory);

		g_assert_true(store_set(store, "forever", "overwritten", 0));
		g_assert_true(store_set(store, "other", "kept", 0));
		g_assert_true(pl_memory_store_load(memory, path, &error));
		g_assert_no_error(error);
		value = store_get(store, "forever", FALSE, NULL);
		g_assert_cmpstr(value, ==, "f");
		g_clear_pointer(&value, g_free);
		value = store_get(store, "other", FALSE, NULL);
		g_assert_cmpstr(value, ==, "kept");
		g_clear_pointer(&value, g_free);
		value = store_get(store, "gone", FALSE, NULL);
		g_assert_null(value);
		value = store_range(store, "inbox", NULL);
		g_assert_cmpstr(value, ==, "m1,m\"2\n");
		g_clear_pointer(&value, g_free);
		value = store_get(store, "soon", FALSE, NULL);
		g_assert_cmpstr(value, ==, "s");
		g_clear_pointer(&value, g_free);
		/* the remaining TTL came along */
		sleep_ms(80);
		value = store_get(store, "soon", FALSE, NULL);
		g_assert_null(value);
		value = store_get(store, "later", FALSE, NULL);
		g_assert_cmpstr(value, ==, "l");
		g_clear_pointer(&value, g_free);
	}

	/* missing, corrupt, or of the wrong shape: an error, and the store untouched */
	{
		g_autoptr(PlMemoryStore) memory = pl_memory_store_new();
		PlStore *store = PL_STORE(memory);
		g_autofree gchar *missing = g_build_filename(dir, "missing.json", NULL);
		const gchar *bad[] = {
		        "{not json",
		        "[]",
		        "{}",
		        "{\"version\":2,\"entries\":[]}",
		        "{\"version\":1,\"entries\":{}}",
		        "{\"version\":1,\"entries\":[1]}",
		        "{\"version\":1,\"entries\":[{\"value\":\"x\"}]}",
		        "{\"version\":1,\"entries\":[{\"key\":\"a\",\"value\":\"x\"},{\"key\":"
		        "\"b\"}]}",
		        "{\"version\":1,\"entries\":[{\"key\":\"a\",\"value\":1}]}",
		        "{\"version\":1,\"entries\":[{\"key\":\"a\",\"list\":[1]}]}",
		        "{\"version\":1,\"entries\":[{\"key\":\"a\",\"value\":\"x\",\"ttl_ms\":"
		        "\"1\"}]}",
		        "\xff",
		};

		g_assert_false(pl_memory_store_load(memory, missing, &error));
		g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
		g_clear_error(&error);
		for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
			g_assert_true(g_file_set_contents(path, bad[i], -1, NULL));
			g_assert_false(pl_memory_store_load(memory, path, &error));
			g_assert_nonnull(error);
			g_test_message("bad file %u: %s", i, error->message);
			g_clear_error(&error);
			value = store_get(store, "a", FALSE, NULL);
			g_assert_null(value);
		}
	}
	g_unlink(path);
	g_rmdir(dir);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerlink/rendezvous/memory-store/strings", test_strings);
	g_test_add_func("/peerlink/rendezvous/memory-store/expiry", test_expiry);
	g_test_add_func("/peerlink/rendezvous/memory-store/lists", test_lists);
	g_test_add_func("/peerlink/rendezvous/memory-store/pubsub", test_pubsub);
	g_test_add_func("/peerlink/rendezvous/memory-store/save-load", test_save_load);
	return g_test_run();
}
