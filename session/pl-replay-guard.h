/*
 * Remembers, per (sender, session ID), the highest sequence number accepted,
 * for as long as a message of that session could still pass the timestamp
 * window: a replayed or reordered-older signal is refused. Memory is bounded.
 */
#pragma once

#include "pl-signal.h"

G_BEGIN_DECLS

#define PL_REPLAY_GUARD_MAX_ENTRIES 65536

typedef struct _PlReplayGuard PlReplayGuard;

PlReplayGuard *pl_replay_guard_new(void);
void pl_replay_guard_free(PlReplayGuard *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlReplayGuard, pl_replay_guard_free)

/*
 * TRUE and records the signal when its seq is higher than any accepted for
 * its (from, session_id); FALSE with PL_SIGNAL_ERROR_REPLAYED otherwise.
 * Entries older than PL_SIGNAL_WINDOW_MS (by now_ms) are forgotten; when the
 * table is full, new sessions are refused with PL_SIGNAL_ERROR_REPLAYED
 * rather than forgetting live entries.
 */
gboolean
pl_replay_guard_check(PlReplayGuard *self, const PlSignal *signal, gint64 now_ms, GError **error);
guint pl_replay_guard_get_size(PlReplayGuard *self);

G_END_DECLS
