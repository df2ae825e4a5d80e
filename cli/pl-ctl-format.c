#include "config.h"

#include <glib/gi18n.h>

#include "pl-ctl-format.h"

struct _PlCtlTable {
	GPtrArray *labels;
	GPtrArray *values;
};

/* The two largest units that matter: "3 d 4 h", "5 min 2 s", "12 s". */
gchar *
pl_ctl_format_duration(gint64 seconds)
{
	gint64 days = seconds / 86400;
	gint64 hours = (seconds % 86400) / 3600;
	gint64 minutes = (seconds % 3600) / 60;
	gint64 secs = seconds % 60;

	if (seconds < 0)
		return g_strdup("?");
	if (days > 0)
		return g_strdup_printf(_("%d d %d h"), (gint)days, (gint)hours);
	if (hours > 0)
		return g_strdup_printf(_("%d h %d min"), (gint)hours, (gint)minutes);
	if (minutes > 0)
		return g_strdup_printf(_("%d min %d s"), (gint)minutes, (gint)secs);
	return g_strdup_printf(_("%d s"), (gint)secs);
}

PlCtlTable *
pl_ctl_table_new(void)
{
	PlCtlTable *self = g_new0(PlCtlTable, 1);

	self->labels = g_ptr_array_new_with_free_func(g_free);
	self->values = g_ptr_array_new_with_free_func(g_free);
	return self;
}

void
pl_ctl_table_free(PlCtlTable *self)
{
	g_ptr_array_unref(self->labels);
	g_ptr_array_unref(self->values);
	g_free(self);
}

void
pl_ctl_table_add(PlCtlTable *self, const gchar *label, const gchar *value)
{
	g_ptr_array_add(self->labels, g_strdup(label));
	g_ptr_array_add(self->values, g_strdup(value));
}

/* Labels padded to the widest one (in characters, so translations line up too). */
gchar *
pl_ctl_table_render(PlCtlTable *self)
{
	GString *out = g_string_new(NULL);
	glong width = 0;

	for (guint i = 0; i < self->labels->len; i++)
		width = MAX(width, g_utf8_strlen(self->labels->pdata[i], -1));
	for (guint i = 0; i < self->labels->len; i++) {
		const gchar *label = self->labels->pdata[i];
		g_string_append(out, label);
		for (glong pad = g_utf8_strlen(label, -1); pad < width + 2; pad++)
			g_string_append_c(out, ' ');
		g_string_append(out, self->values->pdata[i]);
		g_string_append_c(out, '\n');
	}
	return g_string_free(out, FALSE);
}
