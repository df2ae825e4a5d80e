/*
 * Human output helpers for peerlinkctl: pure functions, tested without a daemon.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gchar *pl_ctl_format_duration(gint64 seconds);

typedef struct _PlCtlTable PlCtlTable;

PlCtlTable *pl_ctl_table_new(void);
void pl_ctl_table_add(PlCtlTable *self, const gchar *label, const gchar *value);
gchar *pl_ctl_table_render(PlCtlTable *self);
void pl_ctl_table_free(PlCtlTable *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlCtlTable, pl_ctl_table_free)

G_END_DECLS
