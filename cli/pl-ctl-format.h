/*
 * Human output helpers for peerlinkctl: pure functions, tested without a daemon.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gchar *pl_ctl_format_duration(gint64 seconds);
gchar *pl_ctl_format_size(guint64 bytes);
gchar *pl_ctl_format_ms(gdouble ms);
gchar *pl_ctl_format_short_peer(const gchar *peer);
gchar *pl_ctl_format_candidate(const gchar *type,
                               const gchar *address,
                               gint64 port,
                               const gchar *transport,
                               gboolean compact);

/* two columns: a label and its value */
typedef struct _PlCtlTable PlCtlTable;

PlCtlTable *pl_ctl_table_new(void);
void pl_ctl_table_add(PlCtlTable *self, const gchar *label, const gchar *value);
gchar *pl_ctl_table_render(PlCtlTable *self);
void pl_ctl_table_free(PlCtlTable *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlCtlTable, pl_ctl_table_free)

/* rows of n columns under a header row, each column as wide as its widest cell */
typedef struct _PlCtlGrid PlCtlGrid;

PlCtlGrid *pl_ctl_grid_new(guint n_columns);
void pl_ctl_grid_set_right_aligned(PlCtlGrid *self, guint column, gboolean right_aligned);
void pl_ctl_grid_add_row(PlCtlGrid *self, const gchar *const *cells);
guint pl_ctl_grid_get_n_rows(PlCtlGrid *self);
gchar *pl_ctl_grid_render(PlCtlGrid *self);
void pl_ctl_grid_free(PlCtlGrid *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlCtlGrid, pl_ctl_grid_free)

G_END_DECLS
