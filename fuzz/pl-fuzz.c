#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "pl-fuzz.h"

/*
 * Warnings and criticals abort: a g_return_if_fail() or a g_warning() that
 * input from outside can reach is a bug (the tests run with fatal-warnings
 * too). GLib itself would stop a fatal message with SIGTRAP, which libFuzzer
 * does not catch: no report, no crash file. The rest of the log is dropped,
 * or the fuzzer spends its time writing.
 */
static GLogWriterOutput
pl_fuzz_log_writer(GLogLevelFlags log_level,
                   const GLogField *fields,
                   gsize n_fields,
                   gpointer user_data)
{
	if ((log_level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)) == 0)
		return G_LOG_WRITER_HANDLED;
	g_log_writer_default(log_level, fields, n_fields, user_data);
	abort();
}

static gboolean pl_fuzz_verbose;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/*
	 * GLib 2.74 hands out GObjects, hash tables and lists from its slice
	 * allocator, where AddressSanitizer sees neither overflows nor leaks.
	 * G_SLICE is read when GLib loads, before main(): run again with it set.
	 */
	if (g_getenv("G_SLICE") == NULL) {
		g_setenv("G_SLICE", "always-malloc", TRUE);
		execv("/proc/self/exe", *argv);
		g_printerr("cannot run again with G_SLICE=always-malloc: %s\n", g_strerror(errno));
		abort();
	}
	g_log_set_writer_func(pl_fuzz_log_writer, NULL, NULL);
	pl_fuzz_verbose = g_getenv("PL_FUZZ_VERBOSE") != NULL;
	return 0;
}

gchar *
pl_fuzz_strndup(const uint8_t *data, size_t size)
{
	return g_strndup((const gchar *)data, size);
}

void
pl_fuzz_note(const gchar *what, const GError *error)
{
	if (pl_fuzz_verbose)
		g_printerr("  %s: %s\n", what, error != NULL ? error->message : "accepted");
}
