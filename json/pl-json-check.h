#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * PlJsonCheckResult:
 * @PL_JSON_CHECK_OK: plain RFC 8259 JSON, one value, nested at most as deep as allowed
 * @PL_JSON_CHECK_TOO_DEEP: objects and arrays nest deeper than allowed
 * @PL_JSON_CHECK_INVALID: not plain JSON, or a value json-glib would not keep
 *
 * What pl_json_check_strict() found; each caller turns it into its own error.
 */
typedef enum {
	PL_JSON_CHECK_OK,
	PL_JSON_CHECK_TOO_DEEP,
	PL_JSON_CHECK_INVALID,
} PlJsonCheckResult;

PlJsonCheckResult
pl_json_check_strict(const gchar *data, gsize len, guint max_depth, gsize *offset);

G_END_DECLS
