#include "config.h"

#include <glib/gi18n.h>

#include "pl-state.h"

#define GROUP "agent"

PlState *
pl_state_new(const gchar *state_dir)
{
	PlState *self = g_new0(PlState, 1);

	self->path = g_build_filename(state_dir, PL_STATE_FILENAME, NULL);
	self->clean_shutdown = TRUE;
	return self;
}

void
pl_state_free(PlState *self)
{
	g_free(self->path);
	g_free(self);
}

gboolean
pl_state_parse(PlState *self, const gchar *data, gsize len, GError **error)
{
	g_autoptr(GKeyFile) keyfile = g_key_file_new();
	g_autoptr(GError) error_local = NULL;
	guint64 starts;
	gint64 last_start;
	gint64 last_stop;
	gboolean clean;

	if (!g_key_file_load_from_data(keyfile, data, len, G_KEY_FILE_NONE, error))
		return FALSE;
	starts = g_key_file_get_uint64(keyfile, GROUP, "starts", &error_local);
	if (error_local == NULL)
		last_start = g_key_file_get_int64(keyfile, GROUP, "last-start", &error_local);
	if (error_local == NULL)
		last_stop = g_key_file_get_int64(keyfile, GROUP, "last-stop", &error_local);
	if (error_local == NULL)
		clean = g_key_file_get_boolean(keyfile, GROUP, "clean-shutdown", &error_local);
	if (error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	self->starts = starts;
	self->last_start = last_start;
	self->last_stop = last_stop;
	self->clean_shutdown = clean;
	return TRUE;
}

gchar *
pl_state_to_data(PlState *self)
{
	g_autoptr(GKeyFile) keyfile = g_key_file_new();

	g_key_file_set_comment(keyfile, NULL, NULL, " peerlinkd state: written by the agent", NULL);
	g_key_file_set_uint64(keyfile, GROUP, "starts", self->starts);
	g_key_file_set_int64(keyfile, GROUP, "last-start", self->last_start);
	g_key_file_set_int64(keyfile, GROUP, "last-stop", self->last_stop);
	g_key_file_set_boolean(keyfile, GROUP, "clean-shutdown", self->clean_shutdown);
	return g_key_file_to_data(keyfile, NULL, NULL);
}

/* A missing file is a first start; an unreadable one is reported, never overwritten silently. */
gboolean
pl_state_load(PlState *self, GError **error)
{
	g_autofree gchar *data = NULL;
	g_autoptr(GError) error_local = NULL;
	gsize len = 0;

	if (!g_file_get_contents(self->path, &data, &len, &error_local)) {
		if (g_error_matches(error_local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return TRUE;
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	if (!pl_state_parse(self, data, len, &error_local)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: %s", self->path,
		            error_local->message);
		return FALSE;
	}
	return TRUE;
}

gboolean
pl_state_save(PlState *self, GError **error)
{
	g_autofree gchar *data = pl_state_to_data(self);

	return g_file_set_contents_full(self->path, data, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
	                                error);
}
