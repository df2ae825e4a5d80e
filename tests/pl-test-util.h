/*
 * What several test programs need: a private directory removed afterwards, and
 * a loopback port for a server the test starts.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* removes path and everything below it; a missing path is fine, a failure is not */
void pl_test_remove_tree(const gchar *path);
/* the open file descriptors of process pid (0: this one), from /proc */
guint pl_test_count_fds(GPid pid);
/* a TCP port on 127.0.0.1 that was free a moment ago */
guint16 pl_test_pick_free_port(void);

G_END_DECLS
