/*
 * Bounded waits on the default main context for the IPC tests.
 */
#pragma once

#include "pl-test-util.h"

G_BEGIN_DECLS

/* Long enough for a loaded machine or valgrind, short enough to keep a hung test cheap. */
#define PL_TEST_WAIT_TIMEOUT_US (5 * G_USEC_PER_SEC)

/* Dispatches whatever is ready now, without blocking. */
static inline void
pl_test_drain(void)
{
	for (guint i = 0; i < 1000 && g_main_context_iteration(NULL, FALSE); i++)
		;
}

/* Runs the default main context until @cond holds; fails the test after a deadline. */
#define PL_TEST_WAIT_FOR(cond) PL_TEST_WAIT_UNTIL(cond, PL_TEST_WAIT_TIMEOUT_US)

/* Runs the default main context for @ms milliseconds (to prove that something does NOT
 * happen within a bounded time). */
static inline void
pl_test_run_for(guint ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)ms * 1000;
	guint tick = g_timeout_add(10, pl_test_wake_cb, NULL);

	while (g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, TRUE);
	g_source_remove(tick);
}

G_END_DECLS
