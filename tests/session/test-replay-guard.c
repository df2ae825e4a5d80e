#include "config.h"

#include "pl-replay-guard-private.h"

#define NOW_MS G_GINT64_CONSTANT(1764000000000)
#define SID_A  "0123456789abcdef0123456789abcdef"
#define SID_B  "fedcba9876543210fedcba9876543210"
#define PEER_X "AXPI7DZ-NR6OTI5-KDMGBLG-J7URQHN-TMF2REO-V2OXETE-PGO3WG3-LJLUJJK"
#define PEER_Y "UHURKYC-U4BH2ZC-M25HZHK-EZM3QD2-LW6E5IW-CVU5B77-DOBUSTN-AP2OCX5"

static PlSignal *
make_signal(const gchar *from, const gchar *sid, guint64 seq, gint64 ts)
{
	PlSignal *signal = pl_signal_new(PL_SIGNAL_TYPE_CANDIDATES);

	signal->from = g_strdup(from);
	signal->to = g_strdup(PEER_Y);
	signal->session_id = g_strdup(sid);
	signal->seq = seq;
	signal->timestamp_ms = ts;
	return signal;
}

static void
assert_accepted(PlReplayGuard *guard, const gchar *from, const gchar *sid, guint64 seq, gint64 now)
{
	g_autoptr(PlSignal) signal = make_signal(from, sid, seq, now);
	g_autoptr(GError) error = NULL;

	g_assert_true(pl_replay_guard_check(guard, signal, now, &error));
	g_assert_no_error(error);
}

static void
assert_refused(PlReplayGuard *guard, const gchar *from, const gchar *sid, guint64 seq, gint64 now)
{
	g_autoptr(PlSignal) signal = make_signal(from, sid, seq, now);
	g_autoptr(GError) error = NULL;

	g_assert_false(pl_replay_guard_check(guard, signal, now, &error));
	g_assert_error(error, PL_SIGNAL_ERROR, PL_SIGNAL_ERROR_REPLAYED);
}

static void
test_replay_guard_increasing(void)
{
	g_autoptr(PlReplayGuard) guard = pl_replay_guard_new();

	g_assert_cmpuint(pl_replay_guard_get_size(guard), ==, 0);
	assert_accepted(guard, PEER_X, SID_A, 1, NOW_MS);
	assert_accepted(guard, PEER_X, SID_A, 2, NOW_MS + 1);
	/* gaps are fine: a lost message is not a replay */
	assert_accepted(guard, PEER_X, SID_A, 10, NOW_MS + 2);
	g_assert_cmpuint(pl_replay_guard_get_size(guard), ==, 1);
}

static void
test_replay_guard_refuses_old(void)
{
	g_autoptr(PlReplayGuard) guard = pl_replay_guard_new();

	assert_accepted(guard, PEER_X, SID_A, 5, NOW_MS);
	assert_refused(guard, PEER_X, SID_A, 5, NOW_MS);
	assert_refused(guard, PEER_X, SID_A, 4, NOW_MS + 10);
	assert_refused(guard, PEER_X, SID_A, 1, NOW_MS + 10);
	/* a refusal does not move the mark */
	assert_accepted(guard, PEER_X, SID_A, 6, NOW_MS + 20);
	assert_refused(guard, PEER_X, SID_A, 6, NOW_MS + 20);
}

static void
test_replay_guard_independent(void)
{
	g_autoptr(PlReplayGuard) guard = pl_replay_guard_new();

	assert_accepted(guard, PEER_X, SID_A, 5, NOW_MS);
	/* another session of the same sender */
	assert_accepted(guard, PEER_X, SID_B, 1, NOW_MS);
	/* the same session ID from another sender */
	assert_accepted(guard, PEER_Y, SID_A, 1, NOW_MS);
	g_assert_cmpuint(pl_replay_guard_get_size(guard), ==, 3);
	assert_refused(guard, PEER_X, SID_A, 5, NOW_MS);
	assert_refused(guard, PEER_X, SID_B, 1, NOW_MS);
	assert_refused(guard, PEER_Y, SID_A, 1, NOW_MS);
	assert_accepted(guard, PEER_X, SID_B, 2, NOW_MS);
	assert_accepted(guard, PEER_Y, SID_A, 2, NOW_MS);
}

static void
test_replay_guard_expiry(void)
{
	g_autoptr(PlReplayGuard) guard = pl_replay_guard_new();

	assert_accepted(guard, PEER_X, SID_A, 3, NOW_MS);
	assert_accepted(guard, PEER_Y, SID_A, 3, NOW_MS + 1000);
	/* still remembered at the edge of the window */
	assert_refused(guard, PEER_X, SID_A, 3, NOW_MS + PL_SIGNAL_WINDOW_MS);
	g_assert_cmpuint(pl_replay_guard_get_size(guard), ==, 2);
	/* forgotten after it: such a signal would be refused as stale anyway */
	assert_accepted(guard, PEER_X, SID_B, 1, NOW_MS + PL_SIGNAL_WINDOW_MS + 1);
	g_assert_cmpuint(pl_replay_guard_get_size(guard), ==, 2);
	assert_refused(guard, PEER_Y, SID_A, 3, NOW_MS + PL_SIGNAL_WINDOW_MS + 1000);
	assert_accepted(guard, PEER_X, SID_B, 2, NOW_MS + PL_SIGNAL_WINDOW_MS + 1001);
	g_assert_cmpuint(pl_replay_guard_get_size(guard), ==, 1);
}

static void
test_replay_guard_refresh(void)
{
	g_autoptr(PlReplayGuard) guard = pl_replay_guard_new();

	assert_accepted(guard, PEER_X, SID_A, 1, NOW_MS);
	assert_accepted(guard, PEER_X, SID_A, 2, NOW_MS + PL_SIGNAL_WINDOW_MS);
	/* the second acceptance keeps the session for another window */
	assert_refused(guard, PEER_X, SID_A, 2, NOW_MS + 2 * PL_SIGNAL_WINDOW_MS);
	assert_accepted(guard, PEER_X, SID_A, 1, NOW_MS + 2 * PL_SIGNAL_WINDOW_MS + 1);
}

static void
test_replay_guard_future_timestamp(void)
{
	g_autoptr(PlReplayGuard) guard = pl_replay_guard_new();
	g_autoptr(PlSignal) ahead = make_signal(PEER_X, SID_A, 1, NOW_MS + PL_SIGNAL_WINDOW_MS);
	g_autoptr(GError) error = NULL;
	gint64 later = NOW_MS + 2 * PL_SIGNAL_WINDOW_MS;

	/*
	 * A sender whose clock runs a full window ahead: its signal still
	 * passes the timestamp check until ts + window, so it is kept that long.
	 */
	g_assert_true(pl_replay_guard_check(guard, ahead, NOW_MS, &error));
	g_assert_no_error(error);
	g_assert_false(pl_replay_guard_check(guard, ahead, later, &error));
	g_assert_error(error, PL_SIGNAL_ERROR, PL_SIGNAL_ERROR_REPLAYED);
	g_clear_error(&error);
	g_assert_true(pl_replay_guard_check(guard, ahead, later + 1, &error));
	g_assert_no_error(error);
}

static void
test_replay_guard_full(void)
{
	g_autoptr(PlReplayGuard) guard = pl_replay_guard_new();
	const gchar *sids[] = {"00000000000000000000000000000001",
	                       "00000000000000000000000000000002",
	                       "00000000000000000000000000000003"};

	pl_replay_guard_set_max_entries(guard, 3);
	assert_accepted(guard, PEER_X, sids[0], 1, NOW_MS);
	assert_accepted(guard, PEER_X, sids[1], 1, NOW_MS + 10);
	assert_accepted(guard, PEER_X, sids[2], 1, NOW_MS + 20);
	g_assert_cmpuint(pl_replay_guard_get_size(guard), ==, 3);

	/* full: a new session is refused, the live ones go on */
	assert_refused(guard, PEER_Y, SID_A, 1, NOW_MS + 30);
	g_assert_cmpuint(pl_replay_guard_get_size(guard), ==, 3);
	assert_accepted(guard, PEER_X, sids[0], 2, NOW_MS + 40);
	assert_accepted(guard, PEER_X, sids[1], 2, NOW_MS + 50);

	/* once the third expires there is room again */
	assert_refused(guard, PEER_Y, SID_A, 1, NOW_MS + PL_SIGNAL_WINDOW_MS + 20);
	assert_accepted(guard, PEER_Y, SID_A, 1, NOW_MS + PL_SIGNAL_WINDOW_MS + 21);
	g_assert_cmpuint(pl_replay_guard_get_size(guard), ==, 3);
	assert_refused(guard, PEER_Y, SID_B, 1, NOW_MS + PL_SIGNAL_WINDOW_MS + 22);
}

static void
test_replay_guard_many(void)
{
	g_autoptr(PlReplayGuard) guard = pl_replay_guard_new();
	gint64 now = NOW_MS;

	/* many sessions over several windows: old ones are swept as time goes on */
	for (guint i = 0; i < 20000; i++) {
		g_autofree gchar *sid = g_strdup_printf("%032x", i);
		now = NOW_MS + i * 50;
		assert_accepted(guard, PEER_X, sid, 1, now);
		g_assert_cmpuint(pl_replay_guard_get_size(guard), <=, PL_SIGNAL_WINDOW_MS / 50 + 1);
	}
	g_assert_cmpuint(pl_replay_guard_get_size(guard), ==, PL_SIGNAL_WINDOW_MS / 50 + 1);
}

static void
test_replay_guard_default_limit(void)
{
	g_autoptr(PlReplayGuard) guard = pl_replay_guard_new();

	for (guint i = 0; i < PL_REPLAY_GUARD_MAX_ENTRIES; i++) {
		g_autofree gchar *sid = g_strdup_printf("%032x", i);
		g_autoptr(PlSignal) signal = make_signal(PEER_X, sid, 1, NOW_MS);
		g_assert_true(pl_replay_guard_check(guard, signal, NOW_MS, NULL));
	}
	g_assert_cmpuint(pl_replay_guard_get_size(guard), ==, PL_REPLAY_GUARD_MAX_ENTRIES);
	assert_refused(guard, PEER_Y, SID_A, 1, NOW_MS);
	/* all of them expire together */
	assert_accepted(guard, PEER_Y, SID_A, 1, NOW_MS + PL_SIGNAL_WINDOW_MS + 1);
	g_assert_cmpuint(pl_replay_guard_get_size(guard), ==, 1);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerlink/replay-guard/increasing", test_replay_guard_increasing);
	g_test_add_func("/peerlink/replay-guard/refuses-old", test_replay_guard_refuses_old);
	g_test_add_func("/peerlink/replay-guard/independent", test_replay_guard_independent);
	g_test_add_func("/peerlink/replay-guard/expiry", test_replay_guard_expiry);
	g_test_add_func("/peerlink/replay-guard/refresh", test_replay_guard_refresh);
	g_test_add_func("/peerlink/replay-guard/future-timestamp",
	                test_replay_guard_future_timestamp);
	g_test_add_func("/peerlink/replay-guard/full", test_replay_guard_full);
	g_test_add_func("/peerlink/replay-guard/many", test_replay_guard_many);
	g_test_add_func("/peerlink/replay-guard/default-limit", test_replay_guard_default_limit);
	return g_test_run();
}
