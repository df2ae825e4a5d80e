#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "pl-ctl-format.h"

struct _PlCtlTable {
	GPtrArray *labels;
	GPtrArray *values;
};

struct _PlCtlGrid {
	guint n_columns;
	gboolean *right_aligned;
	GPtrArray *cells; /* row after row, n_columns each */
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

/* "512 B", "1.5 KiB", "64 KiB", "3.2 MiB": two or three significant digits. */
gchar *
pl_ctl_format_size(guint64 bytes)
{
	const gchar *units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	gdouble value = (gdouble)bytes;

	if (bytes < 1024)
		return g_strdup_printf("%u B", (guint)bytes);
	for (guint i = 0; i < G_N_ELEMENTS(units); i++) {
		value /= 1024;
		if (value < 9.95)
			return g_strdup_printf("%.1f %s", value, units[i]);
		if (value < 1023.5 || i == G_N_ELEMENTS(units) - 1)
			return g_strdup_printf("%.0f %s", value, units[i]);
	}
	g_assert_not_reached();
}

/* "0.42 ms", "12.3 ms", "23 ms", "1500 ms": about three significant digits. */
gchar *
pl_ctl_format_ms(gdouble ms)
{
	if (!(ms >= 0) || ms > 1e12) /* also NaN */
		return g_strdup("?");
	if (ms == (gdouble)(gint64)ms || ms >= 99.95)
		return g_strdup_printf("%.0f ms", ms);
	if (ms < 9.995)
		return g_strdup_printf("%.2f ms", ms);
	return g_strdup_printf("%.1f ms", ms);
}

/* "KGWHMXT…": the first group of a peer ID is enough to tell peers apart by eye. */
gchar *
pl_ctl_format_short_peer(const gchar *peer)
{
	const gchar *dash;

	if (peer == NULL || *peer == '\0')
		return g_strdup("?");
	dash = strchr(peer, '-');
	if (dash != NULL)
		return g_strdup_printf("%.*s…", (gint)(dash - peer), peer);
	if (g_utf8_strlen(peer, -1) <= 7)
		return g_strdup(peer);
	return g_strdup_printf("%.7s…", peer);
}

/* "host 10.0.0.2:40000 udp", or compact "host 10.0.0.2:40000/udp"; IPv6 in brackets. */
gchar *
pl_ctl_format_candidate(const gchar *type,
                        const gchar *address,
                        gint64 port,
                        const gchar *transport,
                        gboolean compact)
{
	g_autofree gchar *endpoint = NULL;

	if (address == NULL)
		endpoint = g_strdup("?");
	else if (strchr(address, ':') != NULL)
		endpoint = g_strdup_printf("[%s]:%" G_GINT64_FORMAT, address, port);
	else
		endpoint = g_strdup_printf("%s:%" G_GINT64_FORMAT, address, port);
	return g_strdup_printf("%s %s%s%s", type != NULL ? type : "?", endpoint,
	                       compact ? "/" : " ", transport != NULL ? transport : "?");
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

PlCtlGrid *
pl_ctl_grid_new(guint n_columns)
{
	PlCtlGrid *self = g_new0(PlCtlGrid, 1);

	g_return_val_if_fail(n_columns > 0, NULL);
	self->n_columns = n_columns;
	self->right_aligned = g_new0(gboolean, n_columns);
	self->cells = g_ptr_array_new_with_free_func(g_free);
	return self;
}

void
pl_ctl_grid_free(PlCtlGrid *self)
{
	g_ptr_array_unref(self->cells);
	g_free(self->right_aligned);
	g_free(self);
}

void
pl_ctl_grid_set_right_aligned(PlCtlGrid *self, guint column, gboolean right_aligned)
{
	g_return_if_fail(column < self->n_columns);
	self->right_aligned[column] = right_aligned;
}

/* cells: n_columns strings; NULL cells are empty */
void
pl_ctl_grid_add_row(PlCtlGrid *self, const gchar *const *cells)
{
	for (guint i = 0; i < self->n_columns; i++)
		g_ptr_array_add(self->cells, g_strdup(cells[i] != NULL ? cells[i] : ""));
}

guint
pl_ctl_grid_get_n_rows(PlCtlGrid *self)
{
	return self->cells->len / self->n_columns;
}

static void
append_padding(GString *out, glong n)
{
	for (glong i = 0; i < n; i++)
		g_string_append_c(out, ' ');
}

/* Two spaces between columns, widths in characters, no trailing blanks. */
gchar *
pl_ctl_grid_render(PlCtlGrid *self)
{
	GString *out = g_string_new(NULL);
	g_autofree glong *widths = g_new0(glong, self->n_columns);
	guint n_rows = pl_ctl_grid_get_n_rows(self);

	for (guint i = 0; i < self->cells->len; i++) {
		glong width = g_utf8_strlen(self->cells->pdata[i], -1);
		widths[i % self->n_columns] = MAX(widths[i % self->n_columns], width);
	}
	for (guint row = 0; row < n_rows; row++) {
		for (guint column = 0; column < self->n_columns; column++) {
			const gchar *cell = self->cells->pdata[row * self->n_columns + column];
			glong padding = widths[column] - g_utf8_strlen(cell, -1);
			gboolean last = column + 1 == self->n_columns;

			if (column > 0)
				g_string_append(out, "  ");
			if (self->right_aligned[column])
				append_padding(out, padding);
			g_string_append(out, cell);
			if (!self->right_aligned[column] && !last)
				append_padding(out, padding);
		}
		while (out->len > 0 && out->str[out->len - 1] == ' ') /* empty last cells */
			g_string_truncate(out, out->len - 1);
		g_string_append_c(out, '\n');
	}
	return g_string_free(out, FALSE);
}
