/*
 * What every fuzz target shares: the libFuzzer entry points, and a process
 * set up so that what is a bug in the field is a crash under the fuzzer.
 */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

G_BEGIN_DECLS

/* the two functions libFuzzer (or fuzz/driver.c) calls */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* the input as a NUL-terminated string, cut at its first NUL like a C API would */
gchar *pl_fuzz_strndup(const uint8_t *data, size_t size);

/* with PL_FUZZ_VERBOSE set, prints why an input was refused: to see what a seed reaches */
void pl_fuzz_note(const gchar *what, const GError *error);

G_END_DECLS
