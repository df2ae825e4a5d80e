/*
 * Shared by the Redis tests: a redis-server of their own on a free loopback
 * port (killed with the test, also when it aborts), child processes that die
 * with the test, and bounded waits on the default main context.
 */
#pragma once

#include <gio/gio.h>

#include "pl-test-util.h"

G_BEGIN_DECLS

/* every wait is bounded: generous for valgrind, quick when things work */
#define PL_TEST_WAIT_MS 10000

typedef struct _PlTestRedis PlTestRedis;

/* NULL when redis-server is not installed (REDIS_SERVER empty or not executable) */
PlTestRedis *pl_test_redis_new(const gchar *server_path);
void pl_test_redis_free(PlTestRedis *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlTestRedis, pl_test_redis_free)

/* starts it (again) on the same port and waits until it accepts connections */
void pl_test_redis_start(PlTestRedis *self);
/* SIGKILL, and reaped */
void pl_test_redis_kill(PlTestRedis *self);
/* kill(2) now (g_subprocess_send_signal() defers it to a worker thread) */
void pl_test_redis_signal(PlTestRedis *self, gint signum);
gboolean pl_test_redis_is_running(PlTestRedis *self);
/* redis://HOST:PORT/DB */
gchar *pl_test_redis_get_url(PlTestRedis *self, const gchar *host, guint db);

/* a connection to 127.0.0.1:port succeeds */
gboolean pl_test_port_accepts(guint16 port);
/* a launcher whose children get SIGKILL when the test dies, stdout on our stderr (not TAP) */
GSubprocessLauncher *pl_test_launcher_new(void);

/* runs the default main context until done(data) or timeout_ms; returns done(data) */
gboolean pl_test_wait_until(gboolean (*done)(gpointer), gpointer data, guint timeout_ms);
/* runs the default main context for ms */
void pl_test_spin(guint ms);

G_END_DECLS
