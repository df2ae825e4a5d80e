#include "config.h"

#include <string.h>
#include <unistd.h>

#include "pl-ipc-error.h"
#include "pl-ipc-message.h"
#include "pl-ipc-params.h"

/* helpers */

static JsonObject *
parse_object(const gchar *json)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;

	json_parser_load_from_data(parser, json, -1, &error);
	g_assert_no_error(error);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)));
	return json_object_ref(json_node_get_object(json_parser_get_root(parser)));
}

static guint
count_char(const gchar *data, gsize len, gchar c)
{
	guint n = 0;

	for (gsize i = 0; i < len; i++) {
		if (data[i] == c)
			n++;
	}
	return n;
}

/* Encodes @message, checks the framing (one line, one '\n' at the very end) and decodes it back. */
static PlIpcMessage *
round_trip(PlIpcMessage *message)
{
	g_autoptr(GBytes) bytes = pl_ipc_message_encode(message);
	g_autoptr(GError) error = NULL;
	gint64 id = -42;
	gsize len = 0;
	const gchar *data = g_bytes_get_data(bytes, &len);
	PlIpcMessage *decoded;

	g_assert_cmpuint(len, >, 2);
	g_assert_cmpint(data[0], ==, '{');
	g_assert_cmpint(data[len - 1], ==, '\n');
	g_assert_cmpuint(count_char(data, len, '\n'), ==, 1);
	g_assert_cmpuint(count_char(data, len, '\r'), ==, 0);
	g_assert_true(g_utf8_validate_len(data, len, NULL));

	/* the transport hands over the line without its '\n' */
	decoded = pl_ipc_message_decode(data, len - 1, &id, &error);
	g_assert_no_error(error);
	g_assert_nonnull(decoded);
	g_assert_cmpint(id, ==, pl_ipc_message_get_id(message));
	g_assert_cmpint(pl_ipc_message_get_kind(decoded), ==, pl_ipc_message_get_kind(message));
	g_assert_cmpint(pl_ipc_message_get_id(decoded), ==, pl_ipc_message_get_id(message));
	g_assert_cmpstr(pl_ipc_message_get_name(decoded), ==, pl_ipc_message_get_name(message));
	g_assert_cmpstr(pl_ipc_message_get_error_code(decoded), ==,
	                pl_ipc_message_get_error_code(message));
	g_assert_cmpstr(pl_ipc_message_get_error_message(decoded), ==,
	                pl_ipc_message_get_error_message(message));
	g_assert_cmpuint(pl_ipc_message_get_n_fds(decoded), ==, pl_ipc_message_get_n_fds(message));
	/* the decoder only knows the count: the transport attaches the descriptors */
	g_assert_null(pl_ipc_message_get_fd_list(decoded));
	g_assert_nonnull(pl_ipc_message_get_body(decoded));
	g_assert_true(json_object_equal(pl_ipc_message_get_body(decoded),
	                                pl_ipc_message_get_body(message)));

	/* the line with its '\n' decodes the same (trailing whitespace is fine for JSON) */
	{
		g_autoptr(PlIpcMessage) again = pl_ipc_message_decode(data, len, NULL, &error);
		g_assert_no_error(error);
		g_assert_nonnull(again);
		g_assert_cmpint(pl_ipc_message_get_id(again), ==, pl_ipc_message_get_id(message));
	}
	return decoded;
}

static GUnixFDList *
make_fd_list(guint n_fds)
{
	g_autoptr(GUnixFDList) fd_list = g_unix_fd_list_new();

	for (guint i = 0; i < n_fds; i++) {
		g_autoptr(GError) error = NULL;
		gint fds[2];

		g_assert_cmpint(pipe(fds), ==, 0);
		g_assert_cmpint(g_unix_fd_list_append(fd_list, fds[0], &error), >=, 0);
		g_assert_no_error(error);
		close(fds[0]);
		close(fds[1]);
	}
	return g_steal_pointer(&fd_list);
}

/* A params object exercising the string escapes: newlines, quotes, unicode, controls. */
static JsonObject *
make_tricky_params(void)
{
	JsonObject *params = json_object_new();
	JsonArray *array = json_array_new();
	JsonObject *nested = json_object_new();

	json_object_set_string_member(params, "newlines", "one\ntwo\r\nthree\n");
	json_object_set_string_member(params, "unicode",
	                              "h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x98\x80");
	json_object_set_string_member(params, "quotes", "say \"hi\" \\ back\\");
	json_object_set_string_member(params, "controls", "tab\there\x01\x1f end");
	json_object_set_string_member(params, "brackets", "{[}]\"[[[");
	json_object_set_int_member(params, "big", PL_IPC_ID_MAX);
	json_object_set_int_member(params, "negative", -7);
	json_object_set_boolean_member(params, "flag", TRUE);
	json_object_set_null_member(params, "nothing");
	json_array_add_string_element(array, "a\nb");
	json_array_add_int_element(array, 3);
	json_object_set_array_member(params, "list", array);
	json_object_set_string_member(nested, "deeper", "\xe6\x97\xa5\xe6\x9c\xac");
	json_object_set_object_member(params, "nested", nested);
	return params;
}

/* round trips */

static void
test_round_trip_request(void)
{
	g_autoptr(JsonObject) params = make_tricky_params();
	g_autoptr(PlIpcMessage) message = pl_ipc_message_new_request(17, "peer.connect", params);
	g_autoptr(PlIpcMessage) decoded = round_trip(message);
	g_autoptr(PlIpcMessage) empty = pl_ipc_message_new_request(0, "status", NULL);
	g_autoptr(PlIpcMessage) empty_decoded = round_trip(empty);
	g_autoptr(PlIpcMessage) max = pl_ipc_message_new_request(PL_IPC_ID_MAX, "m", NULL);
	g_autoptr(PlIpcMessage) max_decoded = round_trip(max);

	g_assert_cmpint(pl_ipc_message_get_kind(decoded), ==, PL_IPC_MESSAGE_KIND_REQUEST);
	g_assert_cmpstr(pl_ipc_message_get_name(decoded), ==, "peer.connect");
	g_assert_cmpstr(json_object_get_string_member(pl_ipc_message_get_body(decoded), "newlines"),
	                ==, "one\ntwo\r\nthree\n");
	g_assert_cmpstr(json_object_get_string_member(pl_ipc_message_get_body(decoded), "unicode"),
	                ==, "h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x98\x80");
	g_assert_cmpuint(json_object_get_size(pl_ipc_message_get_body(empty_decoded)), ==, 0);
	g_assert_cmpint(pl_ipc_message_get_id(empty_decoded), ==, 0);
	g_assert_cmpint(pl_ipc_message_get_id(max_decoded), ==, PL_IPC_ID_MAX);
}

static void
test_round_trip_response(void)
{
	g_autoptr(JsonObject) result = make_tricky_params();
	g_autoptr(PlIpcMessage) message = pl_ipc_message_new_response(3, result);
	g_autoptr(PlIpcMessage) decoded = round_trip(message);
	g_autoptr(PlIpcMessage) empty = pl_ipc_message_new_response(4, NULL);
	g_autoptr(PlIpcMessage) empty_decoded = round_trip(empty);

	g_assert_cmpint(pl_ipc_message_get_kind(decoded), ==, PL_IPC_MESSAGE_KIND_RESPONSE);
	g_assert_null(pl_ipc_message_get_name(decoded));
	g_assert_cmpstr(json_object_get_string_member(pl_ipc_message_get_body(decoded), "quotes"),
	                ==, "say \"hi\" \\ back\\");
	g_assert_cmpuint(json_object_get_size(pl_ipc_message_get_body(empty_decoded)), ==, 0);
}

static void
test_round_trip_error(void)
{
	g_autoptr(PlIpcMessage) message = pl_ipc_message_new_error(
	        9, PL_IPC_ERROR_INVALID_PARAMS, "bad \"port\":\nline two \xe2\x82\xac");
	g_autoptr(PlIpcMessage) decoded = round_trip(message);
	g_autoptr(GError) error = pl_ipc_message_to_gerror(decoded);
	/* an error that cannot be tied to a request travels with "id": null */
	g_autoptr(PlIpcMessage) anonymous =
	        pl_ipc_message_new_error(PL_IPC_ID_NONE, PL_IPC_ERROR_MESSAGE_TOO_LARGE, "too big");
	g_autoptr(PlIpcMessage) anonymous_decoded = round_trip(anonymous);
	g_autoptr(GBytes) bytes = pl_ipc_message_encode(anonymous);
	g_autofree gchar *text = g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));

	g_assert_cmpint(pl_ipc_message_get_kind(decoded), ==, PL_IPC_MESSAGE_KIND_ERROR);
	g_assert_cmpstr(pl_ipc_message_get_error_code(decoded), ==, "invalid-params");
	g_assert_cmpstr(pl_ipc_message_get_error_message(decoded), ==,
	                "bad \"port\":\nline two \xe2\x82\xac");
	g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_PARAMS);
	g_assert_cmpstr(error->message, ==, "bad \"port\":\nline two \xe2\x82\xac");

	g_assert_cmpint(pl_ipc_message_get_id(anonymous_decoded), ==, PL_IPC_ID_NONE);
	g_assert_nonnull(strstr(text, "\"id\":null"));
	g_assert_nonnull(strstr(text, "\"code\":\"message-too-large\""));
}

static void
test_round_trip_error_from_gerror(void)
{
	g_autoptr(GError) ipc_error =
	        g_error_new_literal(PL_IPC_ERROR, PL_IPC_ERROR_TOO_MANY_CLIENTS, "full");
	g_autoptr(GError) io_error = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "gone");
	g_autoptr(PlIpcMessage) ipc = pl_ipc_message_new_error_from_gerror(1, ipc_error);
	g_autoptr(PlIpcMessage) io = pl_ipc_message_new_error_from_gerror(2, io_error);
	g_autoptr(PlIpcMessage) ipc_decoded = round_trip(ipc);
	g_autoptr(PlIpcMessage) io_decoded = round_trip(io);
	g_autoptr(GError) ipc_back = pl_ipc_message_to_gerror(ipc_decoded);
	g_autoptr(GError) io_back = pl_ipc_message_to_gerror(io_decoded);

	g_assert_error(ipc_back, PL_IPC_ERROR, PL_IPC_ERROR_TOO_MANY_CLIENTS);
	g_assert_cmpstr(ipc_back->message, ==, "full");
	/* other domains cannot travel: they become "failed", keeping the text */
	g_assert_cmpstr(pl_ipc_message_get_error_code(io_decoded), ==, "failed");
	g_assert_error(io_back, PL_IPC_ERROR, PL_IPC_ERROR_FAILED);
	g_assert_cmpstr(io_back->message, ==, "gone");
}

static void
test_round_trip_event(void)
{
	g_autoptr(JsonObject) params = make_tricky_params();
	g_autoptr(PlIpcMessage) message = pl_ipc_message_new_event("peer-state-changed", params);
	g_autoptr(PlIpcMessage) decoded = round_trip(message);
	g_autoptr(GBytes) bytes = pl_ipc_message_encode(message);
	g_autofree gchar *text = g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));

	g_assert_cmpint(pl_ipc_message_get_kind(decoded), ==, PL_IPC_MESSAGE_KIND_EVENT);
	g_assert_cmpint(pl_ipc_message_get_id(decoded), ==, PL_IPC_ID_NONE);
	g_assert_cmpstr(pl_ipc_message_get_name(decoded), ==, "peer-state-changed");
	/* events carry no id at all */
	g_assert_null(strstr(text, "\"id\""));
	g_assert_true(g_str_has_prefix(text, "{\"v\":1,"));
}

static void
test_round_trip_fds(void)
{
	g_autoptr(GUnixFDList) three = make_fd_list(3);
	g_autoptr(GUnixFDList) max = make_fd_list(PL_IPC_MAX_FDS_PER_MESSAGE);
	g_autoptr(GUnixFDList) none = g_unix_fd_list_new();
	g_autoptr(PlIpcMessage) request = pl_ipc_message_new_request(1, "open", NULL);
	g_autoptr(PlIpcMessage) response = pl_ipc_message_new_response(2, NULL);
	g_autoptr(PlIpcMessage) event = pl_ipc_message_new_event("fd-passed", NULL);
	g_autoptr(PlIpcMessage) plain = pl_ipc_message_new_response(3, NULL);
	g_autoptr(PlIpcMessage) decoded = NULL;
	g_autoptr(GBytes) bytes = NULL;
	g_autofree gchar *text = NULL;

	pl_ipc_message_set_fd_list(request, three);
	g_assert_cmpuint(pl_ipc_message_get_n_fds(request), ==, 3);
	decoded = round_trip(request);
	g_assert_cmpuint(pl_ipc_message_get_n_fds(decoded), ==, 3);
	g_clear_object(&decoded);

	pl_ipc_message_set_fd_list(response, max);
	decoded = round_trip(response);
	g_assert_cmpuint(pl_ipc_message_get_n_fds(decoded), ==, PL_IPC_MAX_FDS_PER_MESSAGE);
	g_clear_object(&decoded);

	pl_ipc_message_set_fd_list(event, three);
	decoded = round_trip(event);
	g_assert_cmpuint(pl_ipc_message_get_n_fds(decoded), ==, 3);
	g_clear_object(&decoded);

	/* no descriptors: no "fds" member at all */
	pl_ipc_message_set_fd_list(plain, none);
	g_assert_cmpuint(pl_ipc_message_get_n_fds(plain), ==, 0);
	bytes = pl_ipc_message_encode(plain);
	text = g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
	g_assert_null(strstr(text, "\"fds\""));
	decoded = round_trip(plain);
	g_assert_cmpuint(pl_ipc_message_get_n_fds(decoded), ==, 0);

	/* dropping the list resets the count */
	pl_ipc_message_set_fd_list(request, NULL);
	g_assert_cmpuint(pl_ipc_message_get_n_fds(request), ==, 0);
	g_assert_null(pl_ipc_message_get_fd_list(request));
}

/* decoding well-formed input written by hand */

static PlIpcMessage *
decode_ok(const gchar *line, gint64 *id_out)
{
	g_autoptr(GError) error = NULL;
	PlIpcMessage *message = pl_ipc_message_decode(line, strlen(line), id_out, &error);

	if (error != NULL)
		g_test_message("decoding %s: %s", line, error->message);
	g_assert_no_error(error);
	g_assert_nonnull(message);
	return message;
}

static void
test_decode_valid(void)
{
	g_autoptr(PlIpcMessage) request = NULL;
	g_autoptr(PlIpcMessage) response = NULL;
	g_autoptr(PlIpcMessage) error_null_id = NULL;
	g_autoptr(PlIpcMessage) error_no_id = NULL;
	g_autoptr(PlIpcMessage) event = NULL;
	g_autoptr(PlIpcMessage) name64 = NULL;
	g_autoptr(PlIpcMessage) fds16 = NULL;
	g_autofree gchar *line = NULL;
	g_autofree gchar *name = g_strnfill(PL_IPC_MAX_NAME_LEN, 'm');
	gint64 id = 0;

	/* members in any order, whitespace around them, params absent or null */
	request = decode_ok(" { \"method\" : \"status\" , \"id\" : 12 , \"v\" : 1 } ", &id);
	g_assert_cmpint(id, ==, 12);
	g_assert_cmpint(pl_ipc_message_get_kind(request), ==, PL_IPC_MESSAGE_KIND_REQUEST);
	g_assert_cmpstr(pl_ipc_message_get_name(request), ==, "status");
	g_assert_cmpuint(json_object_get_size(pl_ipc_message_get_body(request)), ==, 0);

	response = decode_ok("{\"v\":1,\"id\":0,\"result\":null}", &id);
	g_assert_cmpint(id, ==, 0);
	g_assert_cmpint(pl_ipc_message_get_kind(response), ==, PL_IPC_MESSAGE_KIND_RESPONSE);
	g_assert_cmpuint(json_object_get_size(pl_ipc_message_get_body(response)), ==, 0);

	error_null_id = decode_ok(
	        "{\"v\":1,\"id\":null,\"error\":{\"code\":\"timed-out\",\"message\":\"x\"}}", &id);
	g_assert_cmpint(id, ==, PL_IPC_ID_NONE);
	g_assert_cmpint(pl_ipc_message_get_id(error_null_id), ==, PL_IPC_ID_NONE);
	g_assert_cmpstr(pl_ipc_message_get_error_code(error_null_id), ==, "timed-out");

	error_no_id =
	        decode_ok("{\"v\":1,\"error\":{\"code\":\"whatever\",\"message\":\"\"}}", NULL);
	g_assert_cmpint(pl_ipc_message_get_id(error_no_id), ==, PL_IPC_ID_NONE);
	g_assert_cmpstr(pl_ipc_message_get_error_message(error_no_id), ==, "");
	{
		/* an unknown code from a newer peer maps to "failed" */
		g_autoptr(GError) error = pl_ipc_message_to_gerror(error_no_id);
		g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_FAILED);
	}

	event = decode_ok("{\"v\":1,\"event\":\"tick\",\"params\":{\"n\":2}}", &id);
	g_assert_cmpint(id, ==, PL_IPC_ID_NONE);
	g_assert_cmpint(pl_ipc_message_get_kind(event), ==, PL_IPC_MESSAGE_KIND_EVENT);
	g_assert_cmpint(json_object_get_int_member(pl_ipc_message_get_body(event), "n"), ==, 2);

	/* the limits themselves are allowed */
	line = g_strdup_printf("{\"v\":1,\"id\":1,\"method\":\"%s\"}", name);
	name64 = decode_ok(line, NULL);
	g_assert_cmpstr(pl_ipc_message_get_name(name64), ==, name);
	fds16 = decode_ok("{\"v\":1,\"id\":1,\"method\":\"m\",\"fds\":16}", NULL);
	g_assert_cmpuint(pl_ipc_message_get_n_fds(fds16), ==, 16);
	{
		g_autoptr(PlIpcMessage) fds0 =
		        decode_ok("{\"v\":1,\"id\":1,\"method\":\"m\",\"fds\":0}", NULL);
		g_assert_cmpuint(pl_ipc_message_get_n_fds(fds0), ==, 0);
	}
	{
		g_autoptr(PlIpcMessage) max =
		        decode_ok("{\"v\":1,\"id\":9007199254740991,\"result\":{}}", &id);
		g_assert_cmpint(id, ==, PL_IPC_ID_MAX);
		g_assert_cmpint(pl_ipc_message_get_id(max), ==, PL_IPC_ID_MAX);
	}
}

/* decoding errors */

typedef struct {
	const gchar *line;
	PlIpcErrorCode code;
	gint64 id; /* expected through id_out */
} DecodeErrorCase;

static void
check_decode_error(const gchar *line, gsize len, PlIpcErrorCode code, gint64 expected_id)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlIpcMessage) message = NULL;
	gint64 id = 12345;
	g_autofree gchar *head = g_strndup(line, MIN(len, 200));
	g_autofree gchar *printable = g_strescape(head, NULL);

	g_test_message("decoding %s", printable);
	message = pl_ipc_message_decode(line, len, &id, &error);
	g_assert_null(message);
	g_assert_error(error, PL_IPC_ERROR, (gint)code);
	g_assert_nonnull(error->message);
	g_assert_cmpstr(error->message, !=, "");
	g_assert_cmpint(id, ==, expected_id);

	/* id_out is optional */
	g_clear_error(&error);
	message = pl_ipc_message_decode(line, len, NULL, &error);
	g_assert_null(message);
	g_assert_error(error, PL_IPC_ERROR, (gint)code);
}

static void
run_decode_error_cases(const DecodeErrorCase *cases, gsize n_cases)
{
	for (gsize i = 0; i < n_cases; i++)
		check_decode_error(cases[i].line, strlen(cases[i].line), cases[i].code,
		                   cases[i].id);
}

static void
test_decode_invalid_json(void)
{
	static const DecodeErrorCase cases[] = {
	        {"nonsense", PL_IPC_ERROR_INVALID_JSON, PL_IPC_ID_NONE},
	        {"{", PL_IPC_ERROR_INVALID_JSON, PL_IPC_ID_NONE},
	        {"{\"v\":1,\"id\":1,\"method\":\"m\"", PL_IPC_ERROR_INVALID_JSON, PL_IPC_ID_NONE},
	        {"{\"v\":1,\"id\":1,\"method\":\"m", PL_IPC_ERROR_INVALID_JSON, PL_IPC_ID_NONE},
	        {"{\"v\":1,\"id\":1,\"method\":\"m\",}", PL_IPC_ERROR_INVALID_JSON, PL_IPC_ID_NONE},
	        {"{\"v\":1,\"id\":1,\"method\":\"m\"}}", PL_IPC_ERROR_INVALID_JSON, PL_IPC_ID_NONE},
	        {"{\"v\":1 \"id\":1}", PL_IPC_ERROR_INVALID_JSON, PL_IPC_ID_NONE},
	        {"{v:1}", PL_IPC_ERROR_INVALID_JSON, PL_IPC_ID_NONE},
	};
	/* invalid UTF-8 inside a string, as a lone continuation byte and as an overlong form */
	static const gchar bad_utf8[] = "{\"v\":1,\"id\":1,\"method\":\"m\xff\"}";
	static const gchar overlong[] = "{\"v\":1,\"id\":1,\"method\":\"\xc0\xaf\"}";
	static const gchar truncated_seq[] = "{\"v\":1,\"id\":1,\"method\":\"\xe2\x82\"}";
	static const gchar with_nul[] = "{\"v\":1,\"id\":1,\0\"method\":\"m\"}";

	run_decode_error_cases(cases, G_N_ELEMENTS(cases));
	check_decode_error(bad_utf8, sizeof(bad_utf8) - 1, PL_IPC_ERROR_INVALID_JSON,
	                   PL_IPC_ID_NONE);
	check_decode_error(overlong, sizeof(overlong) - 1, PL_IPC_ERROR_INVALID_JSON,
	                   PL_IPC_ID_NONE);
	check_decode_error(truncated_seq, sizeof(truncated_seq) - 1, PL_IPC_ERROR_INVALID_JSON,
	                   PL_IPC_ID_NONE);
	/* a NUL byte inside the line is not JSON either */
	check_decode_error(with_nul, sizeof(with_nul) - 1, PL_IPC_ERROR_INVALID_JSON,
	                   PL_IPC_ID_NONE);
	/* only @len bytes count: a valid object cut short is truncated JSON */
	check_decode_error("{\"v\":1,\"id\":1,\"method\":\"m\"}", 20, PL_IPC_ERROR_INVALID_JSON,
	                   PL_IPC_ID_NONE);
}

static void
test_decode_not_an_object(void)
{
	static const DecodeErrorCase cases[] = {
	        {"[]", PL_IPC_ERROR_NOT_AN_OBJECT, PL_IPC_ID_NONE},
	        {"[{\"v\":1,\"id\":1,\"method\":\"m\"}]", PL_IPC_ERROR_NOT_AN_OBJECT,
	         PL_IPC_ID_NONE},
	        {"\"a string\"", PL_IPC_ERROR_NOT_AN_OBJECT, PL_IPC_ID_NONE},
	        {"42", PL_IPC_ERROR_NOT_AN_OBJECT, PL_IPC_ID_NONE},
	        {"-1.5e3", PL_IPC_ERROR_NOT_AN_OBJECT, PL_IPC_ID_NONE},
	        {"null", PL_IPC_ERROR_NOT_AN_OBJECT, PL_IPC_ID_NONE},
	        {"true", PL_IPC_ERROR_NOT_AN_OBJECT, PL_IPC_ID_NONE},
	};

	run_decode_error_cases(cases, G_N_ELEMENTS(cases));
}

static void
test_decode_version(void)
{
	static const DecodeErrorCase cases[] = {
	        /* missing or mistyped "v": the id is reported when it is valid */
	        {"{\"id\":4,\"method\":\"m\"}", PL_IPC_ERROR_INVALID_REQUEST, 4},
	        {"{\"v\":\"1\",\"id\":5,\"method\":\"m\"}", PL_IPC_ERROR_INVALID_REQUEST, 5},
	        {"{\"v\":1.0,\"id\":6,\"method\":\"m\"}", PL_IPC_ERROR_INVALID_REQUEST, 6},
	        {"{\"v\":null,\"id\":7,\"method\":\"m\"}", PL_IPC_ERROR_INVALID_REQUEST, 7},
	        {"{\"v\":true,\"method\":\"m\"}", PL_IPC_ERROR_INVALID_REQUEST, PL_IPC_ID_NONE},
	        /* another version: its id still comes back so the error can answer it */
	        {"{\"v\":2,\"id\":8,\"method\":\"m\"}", PL_IPC_ERROR_UNSUPPORTED_VERSION, 8},
	        {"{\"v\":0,\"id\":9,\"result\":{}}", PL_IPC_ERROR_UNSUPPORTED_VERSION, 9},
	        {"{\"v\":2,\"id\":10,\"whatever\":[1,2]}", PL_IPC_ERROR_UNSUPPORTED_VERSION, 10},
	        {"{\"v\":2,\"event\":\"e\"}", PL_IPC_ERROR_UNSUPPORTED_VERSION, PL_IPC_ID_NONE},
	};

	run_decode_error_cases(cases, G_N_ELEMENTS(cases));
}

static void
test_decode_kind(void)
{
	static const DecodeErrorCase cases[] = {
	        {"{\"v\":1,\"id\":1,\"method\":\"m\",\"result\":{}}", PL_IPC_ERROR_INVALID_REQUEST,
	         1},
	        {"{\"v\":1,\"id\":1,\"method\":\"m\",\"event\":\"e\"}",
	         PL_IPC_ERROR_INVALID_REQUEST, 1},
	        {"{\"v\":1,\"id\":1,\"result\":{},\"error\":{\"code\":\"failed\",\"message\":\"x\"}"
	         "}",
	         PL_IPC_ERROR_INVALID_REQUEST, 1},
	        {"{\"v\":1,\"error\":{\"code\":\"failed\",\"message\":\"x\"},\"event\":\"e\"}",
	         PL_IPC_ERROR_INVALID_REQUEST, PL_IPC_ID_NONE},
	        {"{\"v\":1,\"id\":2,\"method\":\"m\",\"result\":{},\"error\":{},\"event\":\"e\"}",
	         PL_IPC_ERROR_INVALID_REQUEST, 2},
	        /* none of them */
	        {"{\"v\":1,\"id\":3}", PL_IPC_ERROR_INVALID_REQUEST, 3},
	        {"{\"v\":1}", PL_IPC_ERROR_INVALID_REQUEST, PL_IPC_ID_NONE},
	        {"{}", PL_IPC_ERROR_INVALID_REQUEST, PL_IPC_ID_NONE},
	        {"{\"v\":1,\"id\":3,\"params\":{}}", PL_IPC_ERROR_INVALID_REQUEST, 3},
	};

	run_decode_error_cases(cases, G_N_ELEMENTS(cases));
}

static void
test_decode_id(void)
{
	static const DecodeErrorCase cases[] = {
	        {"{\"v\":1,\"id\":\"1\",\"method\":\"m\"}", PL_IPC_ERROR_INVALID_REQUEST,
	         PL_IPC_ID_NONE},
	        {"{\"v\":1,\"id\":-1,\"method\":\"m\"}", PL_IPC_ERROR_INVALID_REQUEST,
	         PL_IPC_ID_NONE},
	        {"{\"v\":1,\"id\":-5,\"result\":{}}", PL_IPC_ERROR_INVALID_REQUEST, PL_IPC_ID_NONE},
	        {"{\"v\":1,\"id\":1.5,\"method\":\"m\"}", PL_IPC_ERROR_INVALID_REQUEST,
	         PL_IPC_ID_NONE},
	        {"{\"v\":1,\"id\":2.0,\"method\":\"m\"}", PL_IPC_ERROR_INVALID_REQUEST,
	         PL_IPC_ID_NONE},
	        {"{\"v\":1,\"id\":1e3,\"method\":\"m\"}", PL_IPC_ERROR_INVALID_REQUEST,
	         PL_IPC_ID_NONE},
	        {"{\"v\":1,\"id\":9007199254740992,\"method\":\"m\"}", PL_IPC_ERROR_INVALID_REQUEST,
	         PL_IPC_ID_NONE},
	        {"{\"v\":1,\"id\":9223372036854775807,\"result\":{}}", PL_IPC_ERROR_INVALID_REQUEST,
	         PL_IPC_ID_NONE},
	        {"{\"v\":1,\"id\":true,\"method\":\"m\"}", PL_IPC_ERROR_INVALID_REQUEST,
	         PL_IPC_ID_NONE},
	        {"{\"v\":1,\"id\":[1],\"method\":\"m\"}", PL_IPC_ERROR_INVALID_REQUEST,
	         PL_IPC_ID_NONE},
	        /* requests and responses need an id; only errors may go without */
	        {"{\"v\":1,\"method\":\"m\"}", PL_IPC_ERROR_INVALID_REQUEST, PL_IPC_ID_NONE},
	        {"{\"v\":1,\"id\":null,\"method\":\"m\"}", PL_IPC_ERROR_INVALID_REQUEST,
	         PL_IPC_ID_NONE},
	        {"{\"v\":1,\"result\":{}}", PL_IPC_ERROR_INVALID_REQUEST, PL_IPC_ID_NONE},
	        {"{\"v\":1,\"id\":null,\"result\":{}}", PL_IPC_ERROR_INVALID_REQUEST,
	         PL_IPC_ID_NONE},
	        {"{\"v\":1,\"id\":\"x\",\"error\":{\"code\":\"failed\",\"message\":\"m\"}}",
	         PL_IPC_ERROR_INVALID_REQUEST, PL_IPC_ID_NONE},
	};

	run_decode_error_cases(cases, G_N_ELEMENTS(cases));
}

static void
test_decode_names(void)
{
	static const DecodeErrorCase cases[] = {
	        {"{\"v\":1,\"id\":1,\"method\":5}", PL_IPC_ERROR_INVALID_REQUEST, 1},
	        {"{\"v\":1,\"id\":1,\"method\":\"\"}", PL_IPC_ERROR_INVALID_REQUEST, 1},
	        {"{\"v\":1,\"id\":1,\"method\":null}", PL_IPC_ERROR_INVALID_REQUEST, 1},
	        {"{\"v\":1,\"id\":1,\"method\":[\"m\"]}", PL_IPC_ERROR_INVALID_REQUEST, 1},
	        {"{\"v\":1,\"id\":1,\"method\":{}}", PL_IPC_ERROR_INVALID_REQUEST, 1},
	        {"{\"v\":1,\"event\":7}", PL_IPC_ERROR_INVALID_REQUEST, PL_IPC_ID_NONE},
	        {"{\"v\":1,\"event\":\"\"}", PL_IPC_ERROR_INVALID_REQUEST, PL_IPC_ID_NONE},
	};
	g_autofree gchar *name65 = g_strnfill(PL_IPC_MAX_NAME_LEN + 1, 'm');
	g_autofree gchar *method65 =
	        g_strdup_printf("{\"v\":1,\"id\":2,\"method\":\"%s\"}", name65);
	g_autofree gchar *event65 = g_strdup_printf("{\"v\":1,\"event\":\"%s\"}", name65);

	run_decode_error_cases(cases, G_N_ELEMENTS(cases));
	check_decode_error(method65, strlen(method65), PL_IPC_ERROR_INVALID_REQUEST, 2);
	check_decode_error(event65, strlen(event65), PL_IPC_ERROR_INVALID_REQUEST, PL_IPC_ID_NONE);
}

static void
test_decode_bodies(void)
{
	static const DecodeErrorCase cases[] = {
	        {"{\"v\":1,\"id\":1,\"method\":\"m\",\"params\":[]}", PL_IPC_ERROR_INVALID_REQUEST,
	         1},
	        {"{\"v\":1,\"id\":1,\"method\":\"m\",\"params\":[1,2]}",
	         PL_IPC_ERROR_INVALID_REQUEST, 1},
	        {"{\"v\":1,\"id\":1,\"method\":\"m\",\"params\":\"x\"}",
	         PL_IPC_ERROR_INVALID_REQUEST, 1},
	        {"{\"v\":1,\"id\":1,\"method\":\"m\",\"params\":3}", PL_IPC_ERROR_INVALID_REQUEST,
	         1},
	        {"{\"v\":1,\"id\":1,\"method\":\"m\",\"params\":false}",
	         PL_IPC_ERROR_INVALID_REQUEST, 1},
	        {"{\"v\":1,\"event\":\"e\",\"params\":[]}", PL_IPC_ERROR_INVALID_REQUEST,
	         PL_IPC_ID_NONE},
	        {"{\"v\":1,\"id\":2,\"result\":[]}", PL_IPC_ERROR_INVALID_REQUEST, 2},
	        {"{\"v\":1,\"id\":2,\"result\":\"ok\"}", PL_IPC_ERROR_INVALID_REQUEST, 2},
	};

	run_decode_error_cases(cases, G_N_ELEMENTS(cases));
}

static void
test_decode_fds(void)
{
	static const DecodeErrorCase cases[] = {
	        {"{\"v\":1,\"id\":1,\"method\":\"m\",\"fds\":-1}", PL_IPC_ERROR_INVALID_REQUEST, 1},
	        {"{\"v\":1,\"id\":1,\"method\":\"m\",\"fds\":17}", PL_IPC_ERROR_INVALID_REQUEST, 1},
	        {"{\"v\":1,\"id\":1,\"method\":\"m\",\"fds\":1000000}",
	         PL_IPC_ERROR_INVALID_REQUEST, 1},
	        {"{\"v\":1,\"id\":1,\"method\":\"m\",\"fds\":\"2\"}", PL_IPC_ERROR_INVALID_REQUEST,
	         1},
	        {"{\"v\":1,\"id\":1,\"method\":\"m\",\"fds\":2.0}", PL_IPC_ERROR_INVALID_REQUEST,
	         1},
	        {"{\"v\":1,\"id\":1,\"method\":\"m\",\"fds\":null}", PL_IPC_ERROR_INVALID_REQUEST,
	         1},
	        {"{\"v\":1,\"id\":3,\"result\":{},\"fds\":17}", PL_IPC_ERROR_INVALID_REQUEST, 3},
	        {"{\"v\":1,\"event\":\"e\",\"fds\":-1}", PL_IPC_ERROR_INVALID_REQUEST,
	         PL_IPC_ID_NONE},
	};

	run_decode_error_cases(cases, G_N_ELEMENTS(cases));
}

static void
test_decode_error_body(void)
{
	static const DecodeErrorCase cases[] = {
	        {"{\"v\":1,\"id\":1,\"error\":{\"message\":\"no code\"}}",
	         PL_IPC_ERROR_INVALID_REQUEST, 1},
	        {"{\"v\":1,\"id\":1,\"error\":{\"code\":\"failed\"}}", PL_IPC_ERROR_INVALID_REQUEST,
	         1},
	        {"{\"v\":1,\"id\":1,\"error\":{}}", PL_IPC_ERROR_INVALID_REQUEST, 1},
	        {"{\"v\":1,\"id\":1,\"error\":{\"code\":5,\"message\":\"x\"}}",
	         PL_IPC_ERROR_INVALID_REQUEST, 1},
	        {"{\"v\":1,\"id\":1,\"error\":{\"code\":null,\"message\":\"x\"}}",
	         PL_IPC_ERROR_INVALID_REQUEST, 1},
	        {"{\"v\":1,\"id\":1,\"error\":{\"code\":\"failed\",\"message\":[]}}",
	         PL_IPC_ERROR_INVALID_REQUEST, 1},
	        {"{\"v\":1,\"id\":1,\"error\":\"failed\"}", PL_IPC_ERROR_INVALID_REQUEST, 1},
	        {"{\"v\":1,\"id\":1,\"error\":null}", PL_IPC_ERROR_INVALID_REQUEST, 1},
	        {"{\"v\":1,\"error\":[\"failed\",\"x\"]}", PL_IPC_ERROR_INVALID_REQUEST,
	         PL_IPC_ID_NONE},
	};

	run_decode_error_cases(cases, G_N_ELEMENTS(cases));
}

/* Builds a request whose params hold @levels nested arrays: the line nests @levels + 2 deep. */
static gchar *
nested_request(guint levels)
{
	GString *line = g_string_new("{\"v\":1,\"id\":5,\"method\":\"m\",\"params\":{\"a\":");

	for (guint i = 0; i < levels; i++)
		g_string_append_c(line, '[');
	for (guint i = 0; i < levels; i++)
		g_string_append_c(line, ']');
	g_string_append(line, "}}");
	return g_string_free(line, FALSE);
}

/* the message json-glib's parser never sees: the strict check (json/) refused the line */
static void
assert_decode_refused(const gchar *line, const gchar *expected_message)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlIpcMessage) message = pl_ipc_message_decode(line, strlen(line), NULL, &error);

	g_assert_null(message);
	g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_JSON);
	g_assert_cmpstr(error->message, ==, expected_message);
}

/* the decoder checks the line with the strict check (json/) at 32 levels */
static void
test_decode_nesting(void)
{
	g_autofree gchar *open33 = g_strnfill(33, '[');
	g_autofree gchar *open32 = g_strnfill(32, '[');
	g_autofree gchar *close32 = g_strnfill(32, ']');
	g_autofree gchar *close33 = g_strnfill(33, ']');
	g_autofree gchar *closed33 = g_strconcat(open33, close33, NULL);
	g_autofree gchar *closed32 = g_strconcat(open32, close32, NULL);
	g_autofree gchar *deep_ok = nested_request(30);
	g_autofree gchar *deep_bad = nested_request(31);
	g_autofree gchar *huge = g_strnfill(100000, '[');
	g_autoptr(PlIpcMessage) message = NULL;

	/* 33 levels are refused before the recursive parser sees them, open or balanced */
	check_decode_error(open33, strlen(open33), PL_IPC_ERROR_INVALID_JSON, PL_IPC_ID_NONE);
	check_decode_error(closed33, strlen(closed33), PL_IPC_ERROR_INVALID_JSON, PL_IPC_ID_NONE);
	check_decode_error(huge, strlen(huge), PL_IPC_ERROR_INVALID_JSON, PL_IPC_ID_NONE);
	assert_decode_refused(closed33, "message nests deeper than 32 levels");
	/* 32 levels are parsed: an array is simply not an object */
	check_decode_error(closed32, strlen(closed32), PL_IPC_ERROR_NOT_AN_OBJECT, PL_IPC_ID_NONE);

	/* the whole line may nest 32 deep: message object + params object + 30 arrays */
	message = decode_ok(deep_ok, NULL);
	g_assert_true(json_object_has_member(pl_ipc_message_get_body(message), "a"));
	g_clear_object(&message);
	check_decode_error(deep_bad, strlen(deep_bad), PL_IPC_ERROR_INVALID_JSON, PL_IPC_ID_NONE);
}

/* json-glib also reads comments and single-quoted strings: a '"' in one of them hid every
 * bracket after it from the depth count, and 64 KiB of them overflow a small stack
 * (found by fuzz/fuzz-ipc-message); what else the check refuses is in tests/json/ */
static void
test_decode_plain_json(void)
{
	g_autofree gchar *open = g_strnfill(60000, '[');
	g_autofree gchar *comment = g_strconcat("/*\"*/", open, NULL);
	g_autofree gchar *open40 = g_strnfill(40, '[');
	g_autofree gchar *close40 = g_strnfill(40, ']');
	/* a message that decoded before, 42 levels deep */
	g_autofree gchar *hidden_comment =
	        g_strdup_printf("{\"v\":1,\"id\":1,\"method\":\"m\",/*\"*/\"params\":{\"a\":%s%s}}",
	                        open40, close40);
	g_autoptr(PlIpcMessage) message = NULL;

	check_decode_error(comment, strlen(comment), PL_IPC_ERROR_INVALID_JSON, PL_IPC_ID_NONE);
	assert_decode_refused(comment, "message is not valid JSON: unexpected character at "
	                               "offset 0");
	assert_decode_refused(hidden_comment, "message is not valid JSON: unexpected character at "
	                                      "offset 27");
	/* json-glib parsed a second value, and leaked it */
	assert_decode_refused("{\"v\":1,\"id\":1,\"method\":\"m\"}{\"v\":1}",
	                      "message is not valid JSON: unexpected character at offset 27");

	/* what json-glib represents exactly */
	message =
	        decode_ok("{\"v\":1,\"id\":1,\"method\":\"m\",\"params\":{\"s\":\"\\ud83d\\ude00\","
	                  "\"min\":-9223372036854775808,\"max\":9223372036854775807,"
	                  "\"tiny\":1e-400,\"big\":1.5e308}}",
	                  NULL);
	g_assert_cmpstr(json_object_get_string_member(pl_ipc_message_get_body(message), "s"), ==,
	                "\xf0\x9f\x98\x80");
	g_assert_cmpint(json_object_get_int_member(pl_ipc_message_get_body(message), "min"), ==,
	                G_MININT64);
}

/* params accessors */

static void
assert_invalid_params(GError *error, const gchar *key)
{
	g_autofree gchar *quoted = g_strdup_printf("\"%s\"", key);

	g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_PARAMS);
	g_test_message("error for %s: %s", key, error->message);
	g_assert_nonnull(strstr(error->message, quoted));
}

static void
test_params_string(void)
{
	g_autoptr(JsonObject) params = parse_object(
	        "{\"name\":\"alice\",\"empty\":\"\",\"number\":3,\"list\":[\"a\"],\"obj\":{},"
	        "\"nothing\":null,\"flag\":true}");
	const gchar *invalid[] = {"number", "list", "obj", "flag"};
	const gchar *value = "default";
	g_autoptr(GError) error = NULL;

	g_assert_true(pl_ipc_params_get_string(params, "name", TRUE, &value, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(value, ==, "alice");
	g_assert_true(pl_ipc_params_get_string(params, "empty", TRUE, &value, &error));
	g_assert_cmpstr(value, ==, "");

	for (guint i = 0; i < G_N_ELEMENTS(invalid); i++) {
		g_assert_false(pl_ipc_params_get_string(params, invalid[i], FALSE, &value, &error));
		assert_invalid_params(error, invalid[i]);
		g_clear_error(&error);
	}

	/* absent or null: fine when optional, an error naming the key when required */
	value = "default";
	g_assert_true(pl_ipc_params_get_string(params, "missing", FALSE, &value, &error));
	g_assert_no_error(error);
	g_assert_null(value);
	g_assert_true(pl_ipc_params_get_string(params, "nothing", FALSE, &value, &error));
	g_assert_null(value);
	g_assert_false(pl_ipc_params_get_string(params, "missing", TRUE, &value, &error));
	assert_invalid_params(error, "missing");
	g_clear_error(&error);
	g_assert_false(pl_ipc_params_get_string(params, "nothing", TRUE, &value, &error));
	assert_invalid_params(error, "nothing");

	g_assert_cmpstr(pl_ipc_json_get_string(params, "name"), ==, "alice");
	g_assert_null(pl_ipc_json_get_string(params, "number"));
	g_assert_null(pl_ipc_json_get_string(params, "missing"));
}

static void
test_params_int(void)
{
	g_autoptr(JsonObject) params =
	        parse_object("{\"port\":4242,\"zero\":0,\"neg\":-3,\"text\":\"80\",\"float\":1.5,"
	                     "\"whole\":2.0,\"flag\":false,\"list\":[1],\"nothing\":null}");
	const gchar *invalid[] = {"text", "float", "whole", "flag", "list"};
	g_autoptr(GError) error = NULL;
	gint64 value = 0;

	g_assert_true(pl_ipc_params_get_int(params, "port", 1, 65535, &value, &error));
	g_assert_no_error(error);
	g_assert_cmpint(value, ==, 4242);
	g_assert_true(pl_ipc_params_get_int(params, "neg", -3, -3, &value, &error));
	g_assert_cmpint(value, ==, -3);
	g_assert_true(pl_ipc_params_get_int(params, "zero", 0, 0, &value, &error));
	g_assert_cmpint(value, ==, 0);

	for (guint i = 0; i < G_N_ELEMENTS(invalid); i++) {
		value = 77;
		g_assert_false(pl_ipc_params_get_int(params, invalid[i], G_MININT64, G_MAXINT64,
		                                     &value, &error));
		assert_invalid_params(error, invalid[i]);
		g_assert_cmpint(value, ==, 77);
		g_clear_error(&error);
	}

	/* out of range, both sides */
	value = 77;
	g_assert_false(pl_ipc_params_get_int(params, "port", 1, 4241, &value, &error));
	assert_invalid_params(error, "port");
	g_assert_cmpint(value, ==, 77);
	g_clear_error(&error);
	g_assert_false(pl_ipc_params_get_int(params, "neg", 0, 10, &value, &error));
	assert_invalid_params(error, "neg");
	g_clear_error(&error);

	/* absent or null keeps the default */
	value = 77;
	g_assert_true(pl_ipc_params_get_int(params, "missing", 0, 10, &value, &error));
	g_assert_no_error(error);
	g_assert_cmpint(value, ==, 77);
	g_assert_true(pl_ipc_params_get_int(params, "nothing", 0, 10, &value, &error));
	g_assert_cmpint(value, ==, 77);

	g_assert_true(pl_ipc_json_get_int(params, "port", &value));
	g_assert_cmpint(value, ==, 4242);
	g_assert_false(pl_ipc_json_get_int(params, "float", &value));
	g_assert_false(pl_ipc_json_get_int(params, "missing", &value));
}

static void
test_params_boolean(void)
{
	g_autoptr(JsonObject) params = parse_object("{\"yes\":true,\"no\":false,\"one\":1,\"text\":"
	                                            "\"true\",\"obj\":{},\"nothing\":null}");
	const gchar *invalid[] = {"one", "text", "obj"};
	g_autoptr(GError) error = NULL;
	gboolean value = FALSE;

	g_assert_true(pl_ipc_params_get_boolean(params, "yes", &value, &error));
	g_assert_no_error(error);
	g_assert_true(value);
	g_assert_true(pl_ipc_params_get_boolean(params, "no", &value, &error));
	g_assert_false(value);

	for (guint i = 0; i < G_N_ELEMENTS(invalid); i++) {
		value = TRUE;
		g_assert_false(pl_ipc_params_get_boolean(params, invalid[i], &value, &error));
		assert_invalid_params(error, invalid[i]);
		g_assert_true(value);
		g_clear_error(&error);
	}

	value = TRUE;
	g_assert_true(pl_ipc_params_get_boolean(params, "missing", &value, &error));
	g_assert_no_error(error);
	g_assert_true(value);
	value = FALSE;
	g_assert_true(pl_ipc_params_get_boolean(params, "nothing", &value, &error));
	g_assert_false(value);
}

static void
test_params_strv(void)
{
	g_autoptr(JsonObject) params = parse_object(
	        "{\"events\":[\"a\",\"b\\nc\"],\"empty\":[],\"text\":\"a\",\"mixed\":[\"a\",2],"
	        "\"nulls\":[\"a\",null],\"nested\":[[\"a\"]],\"obj\":{\"0\":\"a\"},\"nothing\":"
	        "null}");
	const gchar *invalid[] = {"text", "mixed", "nulls", "nested", "obj"};
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) value = NULL;

	g_assert_true(pl_ipc_params_get_strv(params, "events", &value, &error));
	g_assert_no_error(error);
	g_assert_nonnull(value);
	g_assert_cmpuint(g_strv_length(value), ==, 2);
	g_assert_cmpstr(value[0], ==, "a");
	g_assert_cmpstr(value[1], ==, "b\nc");
	g_clear_pointer(&value, g_strfreev);

	g_assert_true(pl_ipc_params_get_strv(params, "empty", &value, &error));
	g_assert_nonnull(value);
	g_assert_cmpuint(g_strv_length(value), ==, 0);
	g_clear_pointer(&value, g_strfreev);

	for (guint i = 0; i < G_N_ELEMENTS(invalid); i++) {
		g_assert_false(pl_ipc_params_get_strv(params, invalid[i], &value, &error));
		assert_invalid_params(error, invalid[i]);
		g_assert_null(value);
		g_clear_error(&error);
	}

	g_assert_true(pl_ipc_params_get_strv(params, "missing", &value, &error));
	g_assert_no_error(error);
	g_assert_null(value);
	g_assert_true(pl_ipc_params_get_strv(params, "nothing", &value, &error));
	g_assert_null(value);
}

/* error codes */

static void
test_error_strings(void)
{
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

	for (gint code = PL_IPC_ERROR_FAILED; code < PL_IPC_ERROR_LAST; code++) {
		const gchar *text = pl_ipc_error_to_string((PlIpcErrorCode)code);

		g_assert_nonnull(text);
		g_assert_cmpstr(text, !=, "");
		/* kebab-case ASCII, one string per code */
		for (const gchar *p = text; *p != '\0'; p++)
			g_assert_true(g_ascii_islower(*p) || *p == '-');
		g_assert_false(g_hash_table_contains(seen, text));
		g_hash_table_add(seen, (gpointer)text);
		g_assert_cmpint(pl_ipc_error_from_string(text), ==, code);
	}
	g_assert_cmpuint(g_hash_table_size(seen), ==, PL_IPC_ERROR_LAST);

	/* the wire names the documentation promises */
	g_assert_cmpstr(pl_ipc_error_to_string(PL_IPC_ERROR_MESSAGE_TOO_LARGE), ==,
	                "message-too-large");
	g_assert_cmpstr(pl_ipc_error_to_string(PL_IPC_ERROR_TIMED_OUT), ==, "timed-out");
	g_assert_cmpstr(pl_ipc_error_to_string(PL_IPC_ERROR_SLOW_CLIENT), ==, "slow-client");
	g_assert_cmpstr(pl_ipc_error_to_string(PL_IPC_ERROR_TOO_MANY_CLIENTS), ==,
	                "too-many-clients");

	/* anything unknown is "failed", both ways */
	g_assert_cmpint(pl_ipc_error_from_string("no-such-code"), ==, PL_IPC_ERROR_FAILED);
	g_assert_cmpint(pl_ipc_error_from_string(""), ==, PL_IPC_ERROR_FAILED);
	g_assert_cmpint(pl_ipc_error_from_string("TIMED-OUT"), ==, PL_IPC_ERROR_FAILED);
	g_assert_cmpint(pl_ipc_error_from_string(NULL), ==, PL_IPC_ERROR_FAILED);
	g_assert_cmpstr(pl_ipc_error_to_string(PL_IPC_ERROR_LAST), ==, "failed");
	g_assert_cmpstr(pl_ipc_error_to_string((PlIpcErrorCode)-1), ==, "failed");
	g_assert_cmpuint(PL_IPC_ERROR, ==, g_quark_from_string("peerlink-ipc-error-quark"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

	g_test_add_func("/peerlink/ipc/message/round-trip/request", test_round_trip_request);
	g_test_add_func("/peerlink/ipc/message/round-trip/response", test_round_trip_response);
	g_test_add_func("/peerlink/ipc/message/round-trip/error", test_round_trip_error);
	g_test_add_func("/peerlink/ipc/message/round-trip/error-from-gerror",
	                test_round_trip_error_from_gerror);
	g_test_add_func("/peerlink/ipc/message/round-trip/event", test_round_trip_event);
	g_test_add_func("/peerlink/ipc/message/round-trip/fds", test_round_trip_fds);
	g_test_add_func("/peerlink/ipc/message/decode/valid", test_decode_valid);
	g_test_add_func("/peerlink/ipc/message/decode/invalid-json", test_decode_invalid_json);
	g_test_add_func("/peerlink/ipc/message/decode/not-an-object", test_decode_not_an_object);
	g_test_add_func("/peerlink/ipc/message/decode/version", test_decode_version);
	g_test_add_func("/peerlink/ipc/message/decode/kind", test_decode_kind);
	g_test_add_func("/peerlink/ipc/message/decode/id", test_decode_id);
	g_test_add_func("/peerlink/ipc/message/decode/names", test_decode_names);
	g_test_add_func("/peerlink/ipc/message/decode/bodies", test_decode_bodies);
	g_test_add_func("/peerlink/ipc/message/decode/fds", test_decode_fds);
	g_test_add_func("/peerlink/ipc/message/decode/error-body", test_decode_error_body);
	g_test_add_func("/peerlink/ipc/message/decode/nesting", test_decode_nesting);
	g_test_add_func("/peerlink/ipc/message/decode/plain-json", test_decode_plain_json);
	g_test_add_func("/peerlink/ipc/params/string", test_params_string);
	g_test_add_func("/peerlink/ipc/params/int", test_params_int);
	g_test_add_func("/peerlink/ipc/params/boolean", test_params_boolean);
	g_test_add_func("/peerlink/ipc/params/strv", test_params_strv);
	g_test_add_func("/peerlink/ipc/error/strings", test_error_strings);
	return g_test_run();
}
