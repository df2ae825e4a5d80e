/*
 * What several test programs need: a private directory removed afterwards, a
 * loopback port for a server the test starts, JSON that must parse, and bounded
 * waits on the main loop.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* removes path and everything below it; a missing path is fine, a failure is not */
void pl_test_remove_tree(const gchar *path);
/* the open file descriptors of process pid (0: this one), from /proc */
guint pl_test_count_fds(GPid pid);
/* a TCP port on 127.0.0.1 that was free a moment ago */
guint16 pl_test_pick_free_port(void);
/* text that must be a JSON object */
JsonObject *pl_test_parse_object(const gchar *text);

/* the value below which a share p (0–1) of values lie; sorts values in place; 0 if empty */
gdouble pl_test_percentile(GArray *values, gdouble p);

/* a timeout's callback that only wakes the main context up */
gboolean pl_test_wake_cb(gpointer user_data);

/* Runs the default main context until cond holds; fails the test after timeout_us. A tick
 * wakes the context up so that the deadline is checked even when nothing else happens. */
#define PL_TEST_WAIT_UNTIL(cond, timeout_us)                                                       \
	G_STMT_START                                                                               \
	{                                                                                          \
		gint64 pl_wait_deadline_ = g_get_monotonic_time() + (timeout_us);                  \
		guint pl_wait_tick_ = g_timeout_add(10, pl_test_wake_cb, NULL);                    \
		while (!(cond) && g_get_monotonic_time() < pl_wait_deadline_)                      \
			g_main_context_iteration(NULL, TRUE);                                      \
		g_source_remove(pl_wait_tick_);                                                    \
		if (!(cond))                                                                       \
			g_test_message("timed out waiting for: %s", #cond);                        \
		g_assert_true(cond);                                                               \
	}                                                                                          \
	G_STMT_END

G_END_DECLS
