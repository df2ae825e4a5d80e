/* Internal API of PlReplayGuard, for tests */
#pragma once

#include "pl-replay-guard.h"

G_BEGIN_DECLS

/* lowers (or raises) the PL_REPLAY_GUARD_MAX_ENTRIES limit */
void pl_replay_guard_set_max_entries(PlReplayGuard *self, guint max_entries);

G_END_DECLS
