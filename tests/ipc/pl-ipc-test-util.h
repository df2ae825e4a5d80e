/*
 * Bounded waits on the default main context for the IPC tests.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Long enough for a loaded machine or valgrind, short enough to keep a hung test cheap. */
#define PL_TEST_WAIT_TIMEOUT_US (5 * G_USEC_PER_SEC)

static inline gboolean
pl_test_tick_cb(gpointer user_data)
{
	return G_SOURCE_CONTINUE;
}

/* Dispatches whatever is ready now, without blocking. */
static inline void
pl_test_drain(void)
{
	for (guint i = 0; i < 1000 && g_main_context_iteration(NULL, FALSE); i++)
		;
}

/* Runs the default main context until @cond holds; fails the test after a deadline. The tick
 * wakes the context up so the deadline is checked even when nothing else happens. */
#define PL_TEST_WAIT_FOR(cond)                                                                     \
	G_STMT_START                                                                               \
	{                                                                                          \
		gint64 pl_wait_deadline_ = g_get_monotonic_time() + PL_TEST_WAIT_TIMEOUT_US;       \
		guint pl_wait_tick_ = g_timeout_add(20, pl_test_tick_cb, NULL);                    \
		while (!(cond) && g_get_monotonic_time() < pl_wait_deadline_)                      \
			g_main_context_iteration(NULL, TRUE);                                      \
		g_source_remove(pl_wait_tick_);                                                    \
		if (!(cond))                                                                       \
			g_test_message("timed out waiting for: %s", #cond);                        \
		g_assert_true(cond);                                                               \
	}                                                                                          \
	G_STMT_END

/* Runs the default main context for @ms milliseconds (to prove that something does NOT
 * happen within a bounded time). */
static inline void
pl_test_run_for(guint ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)ms * 1000;
	guint tick = g_timeout_add(10, pl_test_tick_cb, NULL);

	while (g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, TRUE);
	g_source_remove(tick);
}

G_END_DECLS
