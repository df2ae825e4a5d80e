/*
 * The daemons a test starts (peerlinkd, peerlink-rendezvous) run under the
 * same checker as the test itself, and their findings fail the test:
 *
 *  - under `meson test --setup valgrind`, PEERLINK_TEST_WRAPPER holds the
 *    valgrind command line; it goes in front of every daemon, which writes
 *    its report to valgrind-PID.log in a directory of the test's
 *    (--log-file=%q{PEERLINK_TEST_REPORT_DIR}/…);
 *  - in a build with -Db_sanitize=address,undefined the daemons are
 *    instrumented already; their ASan, LeakSanitizer and UBSan reports go to
 *    sanitizer.PID files in that directory (log_path).
 *
 * Spawn with pl_test_checker_argv() and pl_test_checker_environ(), and once
 * the daemon has exited call pl_test_checker_check() on the directory: an
 * error, a definite leak or any sanitizer report is printed and fails the
 * test.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* TRUE when the daemons run under a wrapper (valgrind): many times slower */
gboolean pl_test_checker_is_wrapped(void);
/* a time a test waits for a daemon, stretched under a wrapper (×10) or in
 * an ASan build (×5) */
guint pl_test_checker_scale(guint ms);
/* argv (NULL-terminated) with the wrapper in front: a new array of copies */
gchar **pl_test_checker_argv(const gchar *const *argv);
/* the same as one command line, quoted for a shell (a D-Bus service's Exec=) */
gchar *pl_test_checker_command_line(const gchar *program);
/* env (taken, returned) for a daemon that writes its reports to report_dir */
gchar **pl_test_checker_environ(gchar **env, const gchar *report_dir);
/* after the daemons that reported to report_dir have exited: fails the test
 * (and prints the report) if any found an error or a leak; what names them.
 * Reports of processes that still run are left for a later check. */
void pl_test_checker_check(const gchar *report_dir, const gchar *what);

G_END_DECLS
