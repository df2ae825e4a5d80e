#include "config.h"

#include <math.h>
#include <string.h>

#include "pl-json-check.h"

/*
 * JSON as RFC 8259 has it, checked before json-glib's parser sees a byte of
 * it, because that parser is more lenient than safe:
 *  - it recurses once per nesting level: a line of '[' overflows the stack;
 *  - it reads comments and single-quoted strings, where a '"' would hide the
 *    brackets after it from a depth count;
 *  - it parses a second value after the first and leaks it ("x"{...}), and
 *    leaks a string with a bad escape ("\ud83d\udn");
 *  - it turns a lone surrogate escape ("\ud83dx") into invalid UTF-8;
 *  - it wraps integers beyond 64 bits and reads 1e400 as infinity, which its
 *    generator then writes as "inf.0", not JSON.
 * What json-glib itself refuses safely (a bad word, a missing ',' or ':', an
 * unterminated value) is left to it, with its more precise message.
 */

static gboolean
pl_json_is_white_space(gchar c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static gboolean
pl_json_is_char_of(gchar c, const gchar *set)
{
	return c != '\0' && strchr(set, c) != NULL;
}

/* the code unit of the 4 hex digits at data[i], or -1 */
static gint
pl_json_read_hex4(const gchar *data, gsize len, gsize i)
{
	gint value = 0;

	if (i + 4 > len)
		return -1;
	for (gsize j = i; j < i + 4; j++) {
		gint digit = g_ascii_xdigit_value(data[j]);
		if (digit < 0)
			return -1;
		value = value * 16 + digit;
	}
	return value;
}

/* *i at the opening '"'; moves past the closing one (or to the end: json-glib reports that),
 * or on a bad escape stops at its '\\' and returns FALSE */
static gboolean
pl_json_scan_string(const gchar *data, gsize len, gsize *i)
{
	gsize j = *i + 1;

	/* raw control characters pass: json-glib writes U+001F unescaped */
	while (j < len && data[j] != '"') {
		if (data[j] != '\\') {
			j++;
		} else if (j + 1 < len && pl_json_is_char_of(data[j + 1], "\"\\/bfnrt")) {
			j += 2;
		} else if (j + 1 < len && data[j + 1] == 'u') {
			gint unit = pl_json_read_hex4(data, len, j + 2);
			if (unit >= 0xd800 && unit <= 0xdbff && j + 7 < len &&
			    data[j + 6] == '\\' && data[j + 7] == 'u') {
				gint low = pl_json_read_hex4(data, len, j + 8);
				if (low < 0xdc00 || low > 0xdfff)
					break;
				j += 12;
			} else if (unit < 0 || (unit >= 0xd800 && unit <= 0xdfff)) {
				break;
			} else {
				j += 6;
			}
		} else {
			break;
		}
	}
	*i = j;
	if (j < len && data[j] != '"')
		return FALSE;
	*i = MIN(j + 1, len);
	return TRUE;
}

/* *i at a number's first character; moves past it. FALSE if json-glib would not keep its value */
static gboolean
pl_json_scan_number(const gchar *data, gsize len, gsize *i)
{
	gsize start = *i;
	gsize end = start;
	g_autofree gchar *text = NULL;
	gboolean integer = TRUE;
	gchar *text_end = NULL;

	while (end < len && pl_json_is_char_of(data[end], "0123456789+-.eE")) {
		if (pl_json_is_char_of(data[end], ".eE"))
			integer = FALSE;
		end++;
	}
	*i = end;
	text = g_strndup(data + start, end - start);
	if (integer)
		return g_ascii_string_to_signed(text, 10, G_MININT64, G_MAXINT64, NULL, NULL);
	return isfinite(g_ascii_strtod(text, &text_end)) && *text_end == '\0';
}

/**
 * pl_json_check_strict:
 * @data: (array length=len): the text, not necessarily NUL-terminated
 * @len: its length in bytes
 * @max_depth: how many objects and arrays may nest, the outermost included
 * @offset: (out) (optional): where the check failed: the '{' or '[' one level too deep,
 *   or the first byte that is not plain JSON
 *
 * Checks that @data is one plain RFC 8259 JSON value, surrounded by JSON white space
 * only, that json-glib can parse without recursing deeper than @max_depth levels and
 * represent exactly. Pure: no allocation survives it and it sets no error, so that each
 * caller reports the failure in its own error domain and words.
 *
 * Returns: %PL_JSON_CHECK_OK, or what failed
 */
PlJsonCheckResult
pl_json_check_strict(const gchar *data, gsize len, guint max_depth, gsize *offset)
{
	gboolean done = FALSE; /* the one value is complete: only white space may follow */
	guint depth = 0;
	gsize i = 0;

	g_return_val_if_fail(data != NULL || len == 0, PL_JSON_CHECK_INVALID);

	if (offset != NULL)
		*offset = 0;
	while (i < len) {
		gchar c = data[i];
		gsize at = i;
		gboolean ok = TRUE;

		if (pl_json_is_white_space(c)) {
			i++;
			continue;
		}
		if (done) {
			ok = FALSE;
		} else if (c == '"') {
			ok = pl_json_scan_string(data, len, &i);
			at = i;
		} else if (c == '{' || c == '[') {
			if (++depth > max_depth) {
				if (offset != NULL)
					*offset = at;
				return PL_JSON_CHECK_TOO_DEEP;
			}
			i++;
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				ok = FALSE;
			else
				depth--;
			i++;
		} else if (c == ',' || c == ':') {
			ok = depth > 0;
			i++;
		} else if (pl_json_is_char_of(c, "-.0123456789")) {
			ok = pl_json_scan_number(data, len, &i);
		} else if (pl_json_is_char_of(c, "aeflnrstu")) {
			/* true, false, null: json-glib tells any other word apart */
			while (i < len && pl_json_is_char_of(data[i], "aeflnrstu"))
				i++;
		} else {
			ok = FALSE;
		}
		if (!ok) {
			if (offset != NULL)
				*offset = at;
			return PL_JSON_CHECK_INVALID;
		}
		if (depth == 0)
			done = TRUE;
	}
	return PL_JSON_CHECK_OK;
}
