/*
 * PlStore in the memory of one process: the embedded default. Its content can
 * be saved to a file on a clean shutdown and loaded back at start, so that a
 * restart loses no accepted message.
 */
#pragma once

#include "pl-store.h"

G_BEGIN_DECLS

#define PL_TYPE_MEMORY_STORE (pl_memory_store_get_type())
G_DECLARE_FINAL_TYPE(PlMemoryStore, pl_memory_store, PL, MEMORY_STORE, GObject)

PlMemoryStore *pl_memory_store_new(void);
gboolean pl_memory_store_save(PlMemoryStore *self, const gchar *path, GError **error);
gboolean pl_memory_store_load(PlMemoryStore *self, const gchar *path, GError **error);

G_END_DECLS
