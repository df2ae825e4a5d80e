#include "config.h"

#include <string.h>

#include "pl-json-check.h"

typedef struct {
	const gchar *text;
	gsize offset; /* where it fails */
} FailCase;

static void
assert_check(const gchar *text,
             gsize len,
             guint max_depth,
             PlJsonCheckResult expected,
             gsize expected_offset)
{
	g_autofree gchar *head = text != NULL ? g_strndup(text, MIN(len, 80)) : g_strdup("");
	g_autofree gchar *printable = g_strescape(head, NULL);
	gsize offset = G_MAXSIZE;
	PlJsonCheckResult result;

	g_test_message("checking %s (max depth %u)", printable, max_depth);
	result = pl_json_check_strict(text, len, max_depth, &offset);
	g_assert_cmpint(result, ==, expected);
	g_assert_cmpuint(offset, ==, expected_offset);
	/* the offset is optional */
	g_assert_cmpint(pl_json_check_strict(text, len, max_depth, NULL), ==, expected);
}

static void
assert_ok(const gchar *text, guint max_depth)
{
	assert_check(text, strlen(text), max_depth, PL_JSON_CHECK_OK, 0);
}

static void
assert_invalid(const gchar *text, gsize offset)
{
	assert_check(text, strlen(text), 64, PL_JSON_CHECK_INVALID, offset);
}

static void
assert_too_deep(const gchar *text, guint max_depth, gsize offset)
{
	assert_check(text, strlen(text), max_depth, PL_JSON_CHECK_TOO_DEEP, offset);
}

/* -------------------------------------------------------------------------- */

static void
test_check_valid(void)
{
	const gchar *valid[] = {
	        "{}",
	        "[]",
	        "\"a string\"",
	        "42",
	        "-1.5e3",
	        "null",
	        "true",
	        "false",
	        " \r\n\t{\"a\":1} \r\n\t",
	        "{ \"v\" : 1 ,\r\n\t\"id\":1,\"method\":\"m\",\"params\":{\"s\":"
	        "\"/* 'x' // \\u00e9 \xc3\xa9\",\"n\":[-1.5e+3,true,false,null]}}",
	        "{ \"type\" :\r\n\t\"ping\", \"x\":\"/*'[[[\\\"\"}",
	        /* every escape JSON has, and a surrogate pair */
	        "\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0041 \\u00e9 \\ud83d\\ude00 "
	        "\\uDBFF\\uDFFF\"",
	        /* raw control characters: json-glib writes U+001F unescaped */
	        "\"tab\there\x01\x1f end\"",
	        /* what json-glib represents exactly */
	        "[-9223372036854775808,9223372036854775807,1e-400,1.5e308,-0,0.5E-3]",
	};

	for (guint i = 0; i < G_N_ELEMENTS(valid); i++)
		assert_ok(valid[i], 64);
	/* nothing, or only white space: json-glib reports that itself */
	assert_check(NULL, 0, 64, PL_JSON_CHECK_OK, 0);
	assert_check("", 0, 64, PL_JSON_CHECK_OK, 0);
	assert_ok(" \n", 64);
}

/* what json-glib refuses safely on its own, with a more precise message, passes the check */
static void
test_check_left_to_parser(void)
{
	const gchar *left[] = {
	        "{",          "[1,2",       "\"unterminated",
	        "[\"[[[[",    "{\"a\":1,}", "{\"a\":1 \"b\":2}",
	        "{\"a\"::1}", "[tru]",      "nul",
	        "[1,,2]",
	};

	for (guint i = 0; i < G_N_ELEMENTS(left); i++)
		assert_ok(left[i], 64);
}

/* json-glib reads more than RFC 8259, and not all of it safely */
static void
test_check_not_plain(void)
{
	static const gchar with_nul[] = "{\"a\":1,\0\"b\":2}";
	static const FailCase cases[] = {
	        /* comments, single quotes and bare words, where a '"' hid the brackets after it
	         * from a depth count (found by fuzz/fuzz-ipc-message) */
	        {"/* comment */{\"v\":1}", 0},
	        {"{\"v\":1} // comment", 8},
	        {"{\"type\":\"ping\"/* comment */}", 14},
	        {"# comment\n{}", 0},
	        {"{'v':1}", 1},
	        {"{\"t\":'offer'}", 5},
	        {"{\"a\":x}", 5},
	        {"{v:1}", 1},
	        {"/*\"*/[[[[[[", 0},
	        {"['\"',[[[[[[", 1},
	        {"\xef\xbb\xbf{}", 0},
	        /* a second value, which json-glib parsed and leaked
	         * (found by fuzz/fuzz-rendezvous-request) */
	        {"{\"v\":1}{\"v\":1}", 7},
	        {"\"x\"{\"v\":1}", 3},
	        {"\"failed\"{\"type\":\"ping\"}", 8},
	        {"{\"v\":1} 1", 8},
	        {"[1][2]", 3},
	        {"1 2", 2},
	        {"1,2", 1},
	        {"{}}", 2},
	        /* brackets and separators outside any value */
	        {"]", 0},
	        {"}", 0},
	        {",", 0},
	        {":", 0},
	        /* lone surrogates, which json-glib turned into invalid UTF-8, and a bad escape
	         * after a high one, which it leaked (found by fuzz/fuzz-signal): the offset is
	         * the escape's backslash */
	        {"\"\\ud83dx\"", 1},
	        {"\"\\ude00\"", 1},
	        {"\"\\udc00\"", 1},
	        {"\"\\ud83d\\u0041\"", 1},
	        {"\"\\ud83d\\udn\"", 1},
	        {"\"\\ud83d\"", 1},
	        {"{\"k\":\"ab\\ud83d\"}", 8},
	        /* escapes JSON does not have, and escapes cut short */
	        {"\"\\x41\"", 1},
	        {"{\"k\":\"ab\\q\"}", 8},
	        {"\"\\u00e\"", 1},
	        {"\"\\u12", 1},
	        {"\"\\", 1},
	        /* numbers json-glib would not keep: wrapped 2^64 + 1 to 1, read infinity */
	        {"18446744073709551617", 0},
	        {"9223372036854775808", 0},
	        {"-9223372036854775809", 0},
	        {"[1,1e400]", 3},
	        {"{\"x\":-1e400}", 5},
	        {"1.5.5", 0},
	        {"--1", 0},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
		assert_invalid(cases[i].text, cases[i].offset);
	/* only @len bytes count, and a NUL byte outside a string is not JSON */
	assert_check(with_nul, sizeof(with_nul) - 1, 64, PL_JSON_CHECK_INVALID, 7);
	assert_check("{}}", 2, 64, PL_JSON_CHECK_OK, 0);
	assert_check("{\"a\":\"\\ud83d\\ude00\"}", 12, 64, PL_JSON_CHECK_INVALID, 6);
}

static void
test_check_depth(void)
{
	const guint depths[] = {1, 16, 32, 64};
	g_autofree gchar *huge = g_strnfill(100000, '[');

	/* at most max_depth levels, the outermost included, open or balanced */
	for (guint i = 0; i < G_N_ELEMENTS(depths); i++) {
		guint max = depths[i];
		g_autofree gchar *open_ok = g_strnfill(max, '[');
		g_autofree gchar *close_ok = g_strnfill(max, ']');
		g_autofree gchar *open_bad = g_strnfill(max + 1, '[');
		g_autofree gchar *close_bad = g_strnfill(max + 1, ']');
		g_autofree gchar *balanced_ok = g_strconcat(open_ok, close_ok, NULL);
		g_autofree gchar *balanced_bad = g_strconcat(open_bad, close_bad, NULL);
		GString *objects = g_string_new(NULL);

		assert_ok(open_ok, max);
		assert_ok(balanced_ok, max);
		assert_too_deep(open_bad, max, max);
		assert_too_deep(balanced_bad, max, max);

		/* objects count like arrays */
		for (guint level = 0; level < max; level++)
			g_string_append(objects, "{\"a\":");
		g_string_append(objects, "1");
		for (guint level = 0; level < max; level++)
			g_string_append_c(objects, '}');
		assert_ok(objects->str, max);
		assert_too_deep(objects->str, max - 1, (max - 1) * 5);
		g_string_free(objects, TRUE);
	}

	/* no recursion and no reading on: 100000 levels stop at the first one too many */
	assert_too_deep(huge, 32, 32);

	/* a scalar has no depth */
	assert_ok("1", 0);
	assert_too_deep("[]", 0, 0);

	/* the nesting of the moment counts, not every bracket so far */
	assert_ok("[[],[],[[]]]", 3);
	assert_too_deep("[[],[],[[]]]", 2, 8);
	assert_ok("{\"a\":[{\"b\":[]}]}", 4);
	assert_too_deep("{\"a\":[{\"b\":[]}]}", 3, 11);

	/* what comes first is reported */
	assert_too_deep("[[[/*", 2, 2);
	assert_invalid("/*[[[", 0);
}

/* inside strings nothing nests; the escapes decide where a string ends */
static void
test_check_strings(void)
{
	g_autofree gchar *open40 = g_strnfill(40, '[');
	g_autofree gchar *close40 = g_strnfill(40, ']');
	g_autofree gchar *in_string =
	        g_strdup_printf("{\"s\":\"%s\",\"%s\":\"{{{{\"}", open40, close40);
	g_autofree gchar *escaped_quote = g_strdup_printf("{\"s\":\"a\\\"%s\\\"\"}", open40);
	g_autofree gchar *escaped_backslash =
	        g_strdup_printf("{\"s\":\"\\\\\",\"a\":%s%s}", open40, close40);

	assert_ok(in_string, 1);
	/* an escaped quote does not end the string: the brackets after it are still inside */
	assert_ok(escaped_quote, 1);
	/* an escaped backslash does not escape the quote after it: the string ends there and
	 * the levels after it count (json-glib alone would accept them) */
	assert_ok(escaped_backslash, 41);
	assert_too_deep(escaped_backslash, 32, strlen("{\"s\":\"\\\\\",\"a\":") + 31);
	assert_ok("[\"\\\\\",[[]]]", 3);
	assert_too_deep("[\"\\\\\",[[]]]", 2, 7);
	/* nor does an escaped quote in a name: the levels after it count */
	assert_too_deep("{\"\\\"\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", 16,
	                21);
	/* a comment or single quote inside a string is text */
	assert_ok("[\"/*\",\"'\",\"//\"]", 1);
}

/* mutations of valid input: one of the three answers, an offset inside the text */
static void
test_check_garbage(void)
{
	const gchar *seeds[] = {
	        "{\"v\":1,\"id\":1,\"method\":\"m\",\"params\":{\"s\":\"\\ud83d\\ude00\\n\","
	        "\"n\":[-1.5e+3,true,false,null,{}]}}",
	        "[[[[\"\\\\\",[[\"]]\"]]]]]",
	};

	for (guint i = 0; i < 20000; i++) {
		const gchar *seed = seeds[i % G_N_ELEMENTS(seeds)];
		g_autofree gchar *text = g_strdup(seed);
		gsize len = strlen(text);
		gsize offset = G_MAXSIZE;
		PlJsonCheckResult result;

		for (guint j = 0; j < 1 + i % 4; j++)
			text[g_test_rand_int_range(0, (gint)len)] =
			        (gchar)g_test_rand_int_range(0, 256);
		len = (gsize)g_test_rand_int_range(0, (gint)len + 1);
		result = pl_json_check_strict(text, len, 1 + i % 8, &offset);
		if (result == PL_JSON_CHECK_OK) {
			g_assert_cmpuint(offset, ==, 0);
		} else {
			g_assert_true(result == PL_JSON_CHECK_TOO_DEEP ||
			              result == PL_JSON_CHECK_INVALID);
			g_assert_cmpuint(offset, <, len);
		}
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

	g_test_add_func("/peerlink/json/check/valid", test_check_valid);
	g_test_add_func("/peerlink/json/check/left-to-parser", test_check_left_to_parser);
	g_test_add_func("/peerlink/json/check/not-plain", test_check_not_plain);
	g_test_add_func("/peerlink/json/check/depth", test_check_depth);
	g_test_add_func("/peerlink/json/check/strings", test_check_strings);
	g_test_add_func("/peerlink/json/check/garbage", test_check_garbage);
	return g_test_run();
}
