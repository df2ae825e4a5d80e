/*
 * What the agent remembers between runs, kept in the state dir next to its
 * identity: how often it started and whether the last run ended cleanly.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
	gchar *path;
	guint64 starts;
	gint64 last_start; /* unix seconds, 0 = never */
	gint64 last_stop;
	gboolean clean_shutdown;
} PlState;

#define PL_STATE_FILENAME "state.ini"

PlState *pl_state_new(const gchar *state_dir);
void pl_state_free(PlState *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlState, pl_state_free)

gboolean pl_state_parse(PlState *self, const gchar *data, gsize len, GError **error);
gchar *pl_state_to_data(PlState *self);
gboolean pl_state_load(PlState *self, GError **error);
gboolean pl_state_save(PlState *self, GError **error);

G_END_DECLS
