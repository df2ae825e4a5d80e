/*
 * main() for the fuzz targets when they are not built with libFuzzer: runs
 * LLVMFuzzerTestOneInput() once on every file named on the command line and
 * on every file in every directory named there, so the seed corpus is a
 * regression test. Like LLVM's StandaloneFuzzTargetMain.c, GLib's driver.c.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "pl-fuzz.h"

static gint
pl_fuzz_compare_names(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

static void
pl_fuzz_run_file(const gchar *path, guint *n_inputs)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *contents = NULL;
	g_autofree guint8 *copy = NULL;
	gsize len = 0;

	if (!g_file_get_contents(path, &contents, &len, &error)) {
		g_printerr("%s\n", error->message);
		exit(EXIT_FAILURE);
	}
	g_print("%s (%" G_GSIZE_FORMAT " bytes)\n", path, len);
	/* an exact-size copy, so AddressSanitizer sees a read past the end; never NULL, as
	 * libFuzzer's */
	copy = g_malloc(MAX(len, 1));
	memcpy(copy, contents, len);
	LLVMFuzzerTestOneInput(copy, len);
	(*n_inputs)++;
}

static void
pl_fuzz_run_dir(const gchar *path, guint *n_inputs)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GDir) dir = g_dir_open(path, 0, &error);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	const gchar *name;

	if (dir == NULL) {
		g_printerr("%s\n", error->message);
		exit(EXIT_FAILURE);
	}
	while ((name = g_dir_read_name(dir)) != NULL) {
		if (name[0] != '.')
			g_ptr_array_add(names, g_build_filename(path, name, NULL));
	}
	g_ptr_array_sort(names, pl_fuzz_compare_names);
	for (guint i = 0; i < names->len; i++) {
		const gchar *file = g_ptr_array_index(names, i);
		if (g_file_test(file, G_FILE_TEST_IS_DIR))
			pl_fuzz_run_dir(file, n_inputs);
		else
			pl_fuzz_run_file(file, n_inputs);
	}
}

int
main(int argc, char **argv)
{
	guint n_inputs = 0;

	LLVMFuzzerInitialize(&argc, &argv);
	if (argc < 2) {
		g_printerr("Usage: %s FILE-OR-DIRECTORY...\n", argv[0]);
		return EXIT_FAILURE;
	}
	for (gint i = 1; i < argc; i++) {
		if (g_file_test(argv[i], G_FILE_TEST_IS_DIR))
			pl_fuzz_run_dir(argv[i], &n_inputs);
		else
			pl_fuzz_run_file(argv[i], &n_inputs);
	}
	if (n_inputs == 0) {
		g_printerr("no input files\n");
		return EXIT_FAILURE;
	}
	g_print("%u inputs, no crash\n", n_inputs);
	return EXIT_SUCCESS;
}
