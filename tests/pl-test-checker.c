#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "pl-test-checker.h"

#define WRAPPED_SLOWDOWN 10
/* ASan with full stacks on every allocation (fast_unwind_on_malloc=0, which
 * the suppressions need: the libraries have no frame pointers) */
#define SANITIZED_SLOWDOWN 5

#if defined(__SANITIZE_ADDRESS__)
#define PL_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PL_TEST_SANITIZED 1
#endif
#endif

/* PEERLINK_TEST_WRAPPER split into words; NULL when unset or empty */
static const gchar *const *
wrapper_argv(void)
{
	static gsize done = 0;
	static gchar **words = NULL;

	if (g_once_init_enter(&done)) {
		const gchar *wrapper = g_getenv("PEERLINK_TEST_WRAPPER");
		g_autoptr(GError) error = NULL;

		if (wrapper != NULL && *wrapper != '\0' &&
		    !g_shell_parse_argv(wrapper, NULL, &words, &error))
			g_error("PEERLINK_TEST_WRAPPER: %s", error->message);
		/* a full path: not every spawner (dbus-daemon) searches PATH */
		if (words != NULL) {
			gchar *path = g_find_program_in_path(words[0]);
			if (path == NULL)
				g_error("PEERLINK_TEST_WRAPPER: %s is not installed", words[0]);
			g_free(words[0]);
			words[0] = path;
		}
		g_once_init_leave(&done, 1);
	}
	return (const gchar *const *)words;
}

gboolean
pl_test_checker_is_wrapped(void)
{
	return wrapper_argv() != NULL;
}

guint
pl_test_checker_scale(guint ms)
{
	if (pl_test_checker_is_wrapped())
		return ms * WRAPPED_SLOWDOWN;
#ifdef PL_TEST_SANITIZED
	return ms * SANITIZED_SLOWDOWN;
#else
	return ms;
#endif
}

gchar **
pl_test_checker_argv(const gchar *const *argv)
{
	const gchar *const *wrapper = wrapper_argv();
	GStrvBuilder *builder = g_strv_builder_new();
	gchar **result;

	if (wrapper != NULL)
		g_strv_builder_addv(builder, (const gchar **)wrapper);
	g_strv_builder_addv(builder, (const gchar **)argv);
	result = g_strv_builder_end(builder);
	g_strv_builder_unref(builder);
	return result;
}

gchar *
pl_test_checker_command_line(const gchar *program)
{
	const gchar *argv[] = {program, NULL};
	g_auto(GStrv) words = pl_test_checker_argv(argv);
	GString *line = g_string_new(NULL);

	for (guint i = 0; words[i] != NULL; i++) {
		g_autofree gchar *quoted = g_shell_quote(words[i]);
		if (i > 0)
			g_string_append_c(line, ' ');
		g_string_append(line, quoted);
	}
	return g_string_free(line, FALSE);
}

/* name=value added to the colon-separated options in variable */
static gchar **
add_option(gchar **env, const gchar *variable, const gchar *name, const gchar *value)
{
	const gchar *old = g_environ_getenv(env, variable);
	g_autofree gchar *options = old != NULL && *old != '\0'
	                                    ? g_strdup_printf("%s:%s=%s", old, name, value)
	                                    : g_strdup_printf("%s=%s", name, value);

	return g_environ_setenv(env, variable, options, TRUE);
}

gchar **
pl_test_checker_environ(gchar **env, const gchar *report_dir)
{
	g_autofree gchar *prefix = g_build_filename(report_dir, "sanitizer", NULL);

	/* valgrind: --log-file=%q{PEERLINK_TEST_REPORT_DIR}/valgrind-%p.log */
	env = g_environ_setenv(env, "PEERLINK_TEST_REPORT_DIR", report_dir, TRUE);
	/* ASan and UBSan (LeakSanitizer reports through ASan): sanitizer.PID, not
	 * the daemon's stderr, which tests read; ignored by other builds */
	env = add_option(env, "ASAN_OPTIONS", "log_path", prefix);
	return add_option(env, "UBSAN_OPTIONS", "log_path", prefix);
}

/* a valgrind log without errors: the summary says 0, or (killed before it
 * was written) no error was reported, each of which comes with a stack */
static gboolean
valgrind_log_is_clean(const gchar *text)
{
	const gchar *summary = strstr(text, "ERROR SUMMARY: ");

	if (summary != NULL)
		return g_ascii_strtoull(summary + strlen("ERROR SUMMARY: "), NULL, 10) == 0;
	return strstr(text, " at 0x") == NULL;
}

/* the report of a process that still runs is not finished: valgrind-PID.log, sanitizer.PID */
static gboolean
reporter_has_exited(const gchar *name)
{
	const gchar *digits = strpbrk(name, "0123456789");
	gint64 pid = digits != NULL ? g_ascii_strtoll(digits, NULL, 10) : 0;

	return pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH);
}

void
pl_test_checker_check(const gchar *report_dir, const gchar *what)
{
	g_autoptr(GDir) dir = g_dir_open(report_dir, 0, NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	const gchar *name;

	if (dir == NULL)
		return;
	while ((name = g_dir_read_name(dir)) != NULL) {
		if (((g_str_has_prefix(name, "valgrind-") && g_str_has_suffix(name, ".log")) ||
		     g_str_has_prefix(name, "sanitizer.")) &&
		    reporter_has_exited(name))
			g_ptr_array_add(names, g_strdup(name));
	}
	for (guint i = 0; i < names->len; i++) {
		const gchar *report = g_ptr_array_index(names, i);
		g_autofree gchar *path = g_build_filename(report_dir, report, NULL);
		g_autofree gchar *text = NULL;
		gboolean clean;

		if (!g_file_get_contents(path, &text, NULL, NULL))
			continue;
		/* every sanitizer report is a finding; a valgrind log always exists */
		clean = g_str_has_prefix(report, "valgrind-") && valgrind_log_is_clean(text);
		if (!clean) {
			g_printerr("--- %s: %s:\n%s--- end of %s\n", what, path, text, report);
			g_test_fail_printf("%s: the checker found errors or leaks (%s)", what,
			                   report);
		}
		/* checked once: a later check of the same directory sees only new reports */
		g_unlink(path);
	}
}
