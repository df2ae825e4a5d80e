#include "config.h"

#include "pl-replay-guard-private.h"

/*
 * An entry must outlive every message it could catch: a replayed signal with
 * timestamp ts still passes the window until ts + PL_SIGNAL_WINDOW_MS. So an
 * entry expires PL_SIGNAL_WINDOW_MS after the latest of its accepted
 * timestamps and of the time it was last accepted. Entries sit in a sequence
 * ordered by expiry, so forgetting them costs O(log n) each, when they are due.
 */
typedef struct {
	gchar *key; /* "<from>/<session id>" */
	guint64 seq;
	gint64 expires_at; /* ms since the epoch */
	GSequenceIter *iter;
} PlReplayEntry;

struct _PlReplayGuard {
	GHashTable *entries;  /* key → PlReplayEntry, owned */
	GSequence *by_expiry; /* of PlReplayEntry, not owned */
	guint max_entries;
};

static void
pl_replay_entry_free(PlReplayEntry *entry)
{
	g_free(entry->key);
	g_free(entry);
}

static gint
pl_replay_entry_compare(gconstpointer a, gconstpointer b, gpointer user_data)
{
	const PlReplayEntry *entry_a = a;
	const PlReplayEntry *entry_b = b;

	if (entry_a->expires_at < entry_b->expires_at)
		return -1;
	return entry_a->expires_at > entry_b->expires_at ? 1 : 0;
}

PlReplayGuard *
pl_replay_guard_new(void)
{
	PlReplayGuard *self = g_new0(PlReplayGuard, 1);

	self->entries = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
	                                      (GDestroyNotify)pl_replay_entry_free);
	self->by_expiry = g_sequence_new(NULL);
	self->max_entries = PL_REPLAY_GUARD_MAX_ENTRIES;
	return self;
}

void
pl_replay_guard_free(PlReplayGuard *self)
{
	if (self == NULL)
		return;
	g_sequence_free(self->by_expiry);
	g_hash_table_unref(self->entries);
	g_free(self);
}

void
pl_replay_guard_set_max_entries(PlReplayGuard *self, guint max_entries)
{
	g_return_if_fail(self != NULL);
	self->max_entries = max_entries;
}

guint
pl_replay_guard_get_size(PlReplayGuard *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return g_hash_table_size(self->entries);
}

static void
pl_replay_guard_expire(PlReplayGuard *self, gint64 now_ms)
{
	while (g_sequence_get_length(self->by_expiry) > 0) {
		GSequenceIter *first = g_sequence_get_begin_iter(self->by_expiry);
		PlReplayEntry *entry = g_sequence_get(first);
		if (entry->expires_at >= now_ms)
			return;
		g_sequence_remove(first);
		g_hash_table_remove(self->entries, entry->key);
	}
}

static gint64
pl_replay_guard_expiry(const PlSignal *signal, gint64 now_ms)
{
	gint64 latest = MAX(signal->timestamp_ms, now_ms);

	if (latest > G_MAXINT64 - PL_SIGNAL_WINDOW_MS)
		return G_MAXINT64;
	return latest + PL_SIGNAL_WINDOW_MS;
}

static PlReplayEntry *
pl_replay_guard_add(PlReplayGuard *self, gchar *key, gint64 expires_at)
{
	PlReplayEntry *entry = g_new0(PlReplayEntry, 1);

	entry->key = key;
	entry->expires_at = expires_at;
	entry->iter =
	        g_sequence_insert_sorted(self->by_expiry, entry, pl_replay_entry_compare, NULL);
	g_hash_table_insert(self->entries, entry->key, entry);
	return entry;
}

gboolean
pl_replay_guard_check(PlReplayGuard *self, const PlSignal *signal, gint64 now_ms, GError **error)
{
	g_autofree gchar *key = NULL;
	PlReplayEntry *entry;
	gint64 expires_at;

	g_return_val_if_fail(self != NULL, FALSE);
	g_return_val_if_fail(signal != NULL, FALSE);
	g_return_val_if_fail(signal->from != NULL && signal->session_id != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	pl_replay_guard_expire(self, now_ms);
	key = g_strdup_printf("%s/%s", signal->from, signal->session_id);
	expires_at = pl_replay_guard_expiry(signal, now_ms);
	entry = g_hash_table_lookup(self->entries, key);
	if (entry == NULL) {
		if (g_hash_table_size(self->entries) >= self->max_entries) {
			g_set_error(error, PL_SIGNAL_ERROR, PL_SIGNAL_ERROR_REPLAYED,
			            "too many signaling sessions (%u) to track a new one",
			            self->max_entries);
			return FALSE;
		}
		entry = pl_replay_guard_add(self, g_steal_pointer(&key), expires_at);
		entry->seq = signal->seq;
		return TRUE;
	}
	if (signal->seq <= entry->seq) {
		g_set_error(error, PL_SIGNAL_ERROR, PL_SIGNAL_ERROR_REPLAYED,
		            "signal %" G_GUINT64_FORMAT " of session %s was replayed or came too "
		            "late (already at %" G_GUINT64_FORMAT ")",
		            signal->seq, signal->session_id, entry->seq);
		return FALSE;
	}
	entry->seq = signal->seq;
	if (expires_at > entry->expires_at) {
		entry->expires_at = expires_at;
		g_sequence_sort_changed(entry->iter, pl_replay_entry_compare, NULL);
	}
	return TRUE;
}
