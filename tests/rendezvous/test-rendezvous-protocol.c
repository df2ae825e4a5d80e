#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "pl-rendezvous-protocol.h"

#define PEER_A "UHURKYC-U4BH2ZC-M25HZHK-EZM3QD2-LW6E5IW-CVU5B77-DOBUSTN-AP2OCX5"
#define PEER_B "OIVL2EX-JTJJWP4-3VV24WO-KUOA5YS-4A6CVXI-W7KGWSF-GRZ6RO7-YGB4EQR"
/* a typo in the last group: the check value rejects it */
#define PEER_BAD "UHURKYC-U4BH2ZC-M25HZHK-EZM3QD2-LW6E5IW-CVU5B77-DOBUSTN-AP2OCX6"

/* 32 bytes: 43 base64url characters */
#define CHALLENGE "q2XhAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw"

static void
assert_bad_request(GError *error, const gchar *field)
{
	g_assert_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST);
	if (field != NULL) {
		g_autofree gchar *quoted = g_strdup_printf("\"%s\"", field);
		if (strstr(error->message, quoted) == NULL)
			g_error("message \"%s\" does not name %s", error->message, quoted);
	}
}

static void
test_error_codes(void)
{
	for (guint i = 0; i < PL_RENDEZVOUS_ERROR_LAST; i++) {
		const gchar *text = pl_rendezvous_error_to_string(i);
		g_assert_nonnull(text);
		g_assert_cmpint(pl_rendezvous_error_from_string(text), ==, i);
		g_assert_cmpuint(pl_rendezvous_error_to_http_status(i), >=, 400);
	}
	g_assert_cmpstr(pl_rendezvous_error_to_string(PL_RENDEZVOUS_ERROR_PEER_OFFLINE), ==,
	                "peer-offline");
	g_assert_cmpuint(pl_rendezvous_error_to_http_status(PL_RENDEZVOUS_ERROR_PEER_OFFLINE), ==,
	                 404);
	g_assert_cmpuint(pl_rendezvous_error_to_http_status(PL_RENDEZVOUS_ERROR_INBOX_FULL), ==,
	                 429);
	g_assert_cmpuint(pl_rendezvous_error_to_http_status(PL_RENDEZVOUS_ERROR_UNAVAILABLE), ==,
	                 503);
	g_assert_cmpuint(
	        pl_rendezvous_error_to_http_status(PL_RENDEZVOUS_ERROR_UNSUPPORTED_MEDIA_TYPE), ==,
	        415);
	g_assert_cmpint(pl_rendezvous_error_from_string("no-such-code"), ==,
	                PL_RENDEZVOUS_ERROR_FAILED);
	g_assert_cmpint(pl_rendezvous_error_from_string(NULL), ==, PL_RENDEZVOUS_ERROR_FAILED);
	g_assert_cmpstr(pl_rendezvous_error_to_string(9999), ==, "failed");
	g_assert_cmpuint(pl_rendezvous_error_to_http_status(9999), ==, 500);
}

static void
test_error_reply(void)
{
	g_autoptr(GError) error = g_error_new_literal(
	        PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_INBOX_FULL, "full \"up\"");
	g_autoptr(GError) other = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_FAILED, "boom");
	g_autofree gchar *text = pl_rendezvous_build_error(error);
	g_autofree gchar *other_text = pl_rendezvous_build_error(other);
	g_autoptr(GError) parsed = NULL;
	struct {
		guint status;
		const gchar *body;
		gint code;
	} fallbacks[] = {
	        {503, "<html>gateway</html>", PL_RENDEZVOUS_ERROR_UNAVAILABLE},
	        {401, "", PL_RENDEZVOUS_ERROR_UNAUTHORIZED},
	        {400, "[]", PL_RENDEZVOUS_ERROR_BAD_REQUEST},
	        {429, "{\"error\":{\"code\":\"new-code\",\"message\":\"x\"}}",
	         PL_RENDEZVOUS_ERROR_RATE_LIMITED},
	        {404, "{\"error\":{\"code\":7,\"message\":\"x\"}}", PL_RENDEZVOUS_ERROR_NOT_FOUND},
	        {404, "{\"error\":\"x\"}", PL_RENDEZVOUS_ERROR_NOT_FOUND},
	        {418, "{\"error\":{\"code\":\"x\"}}", PL_RENDEZVOUS_ERROR_FAILED},
	};

	g_assert_cmpstr(text, ==,
	                "{\"error\":{\"code\":\"inbox-full\",\"message\":\"full \\\"up\\\"\"}}");
	g_assert_cmpstr(other_text, ==, "{\"error\":{\"code\":\"failed\",\"message\":\"boom\"}}");
	parsed = pl_rendezvous_parse_error_reply(429, text, strlen(text));
	g_assert_error(parsed, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_INBOX_FULL);
	g_assert_cmpstr(parsed->message, ==, "full \"up\"");
	for (guint i = 0; i < G_N_ELEMENTS(fallbacks); i++) {
		g_autoptr(GError) e = pl_rendezvous_parse_error_reply(
		        fallbacks[i].status, fallbacks[i].body, strlen(fallbacks[i].body));
		g_assert_error(e, PL_RENDEZVOUS_ERROR, fallbacks[i].code);
	}
}

static void
test_base64url(void)
{
	const guint8 data[] = {0xfb, 0xff, 0xfe, 0x00, 0x01};
	struct {
		gsize len;
		const gchar *text;
	} vectors[] = {{0, ""}, {1, "-w"}, {2, "-_8"}, {3, "-__-"}, {5, "-__-AAE"}};
	const gchar *bad[] = {"A",   "-w==",  "-w=", "+w",  "/w", "-x" /* non-zero bits */,
	                      "a b", "-__-A", "é",   "AA\n"};

	for (guint i = 0; i < G_N_ELEMENTS(vectors); i++) {
		g_autofree gchar *text = pl_rendezvous_base64url_encode(data, vectors[i].len);
		g_autoptr(GBytes) bytes = NULL;
		g_autoptr(GError) error = NULL;

		g_assert_cmpstr(text, ==, vectors[i].text);
		bytes = pl_rendezvous_base64url_decode(text, &error);
		g_assert_no_error(error);
		g_assert_cmpmem(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes), data,
		                vectors[i].len);
	}
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GBytes) bytes = pl_rendezvous_base64url_decode(bad[i], &error);
		g_assert_null(bytes);
		g_assert_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST);
	}
}

static void
test_kind(void)
{
	g_assert_true(pl_rendezvous_kind_is_valid("offer"));
	g_assert_true(pl_rendezvous_kind_is_valid("a"));
	g_assert_true(pl_rendezvous_kind_is_valid("ice-candidate-2"));
	g_assert_true(pl_rendezvous_kind_is_valid("abcdefghijklmnopqrstuvwxyz012345"));
	g_assert_false(pl_rendezvous_kind_is_valid("abcdefghijklmnopqrstuvwxyz0123456"));
	g_assert_false(pl_rendezvous_kind_is_valid(""));
	g_assert_false(pl_rendezvous_kind_is_valid(NULL));
	g_assert_false(pl_rendezvous_kind_is_valid("Offer"));
	g_assert_false(pl_rendezvous_kind_is_valid("of fer"));
	g_assert_false(pl_rendezvous_kind_is_valid("of_fer"));
	g_assert_false(pl_rendezvous_kind_is_valid("é"));
}

static void
test_message_id(void)
{
	g_autofree gchar *a = pl_rendezvous_message_id_new();
	g_autofree gchar *b = pl_rendezvous_message_id_new();

	g_assert_cmpuint(strlen(a), ==, 32);
	g_assert_true(pl_rendezvous_message_id_is_valid(a));
	g_assert_cmpstr(a, !=, b);
	g_assert_false(pl_rendezvous_message_id_is_valid("0123"));
	g_assert_false(pl_rendezvous_message_id_is_valid("0123456789ABCDEF0123456789abcdef"));
	g_assert_false(pl_rendezvous_message_id_is_valid(NULL));
}

/* ---------------------------------------------------------------------------------------- */
/* audience: compared with what libsoup really sends */

static void
test_audience_pure(void)
{
	struct {
		const gchar *uri;
		const gchar *audience;
	} vectors[] = {
	        {"http://127.0.0.1:8480/v1", "127.0.0.1:8480"},
	        {"http://127.0.0.1:80/v1", "127.0.0.1"},
	        {"http://127.0.0.1/v1", "127.0.0.1"},
	        {"https://rv.example.org/", "rv.example.org"},
	        {"https://rv.example.org:443/", "rv.example.org"},
	        {"https://rv.example.org:80/", "rv.example.org:80"},
	        {"http://rv.example.org:443/", "rv.example.org:443"},
	        {"wss://rv.example.org:443/v1/ws", "rv.example.org"},
	        {"ws://rv.example.org:8480/v1/ws", "rv.example.org:8480"},
	        {"http://[::1]:8480/", "[::1]:8480"},
	        {"http://[::1]/", "[::1]"},
	        {"http://[fe80::1%25eth0]:8480/", "[fe80::1]:8480"},
	        {"http://Rv.Example.ORG:8480/", "Rv.Example.ORG:8480"},
	        {"http://user:pw@127.0.0.1:8480/", "127.0.0.1:8480"},
	        {"http://bücher.example:8480/", "xn--bcher-kva.example:8480"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(vectors); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GUri) uri =
		        g_uri_parse(vectors[i].uri,
		                    G_URI_FLAGS_ENCODED_PATH | G_URI_FLAGS_ENCODED_QUERY |
		                            G_URI_FLAGS_SCHEME_NORMALIZE,
		                    &error);
		g_autofree gchar *audience = NULL;

		g_assert_no_error(error);
		audience = pl_rendezvous_audience_from_uri(uri);
		g_assert_cmpstr(audience, ==, vectors[i].audience);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* auth */

static void
test_signed_data(void)
{
	g_autoptr(GBytes) data = pl_rendezvous_auth_signed_data(CHALLENGE, PEER_A, "h:1");
	const gchar *expected = "peerlink-rendezvous-auth-v1\n" CHALLENGE "\n" PEER_A "\nh:1";

	g_assert_cmpmem(g_bytes_get_data(data, NULL), g_bytes_get_size(data), expected,
	                strlen(expected));
}

static void
test_challenge_request(void)
{
	g_autofree gchar *text = pl_rendezvous_build_challenge_request(PEER_A);
	PlPeerId id = {0};
	g_autofree gchar *id_text = NULL;
	g_autoptr(GError) error = NULL;
	struct {
		const gchar *body;
		const gchar *field;
	} bad[] = {
	        {"", NULL},
	        {"{", NULL},
	        {"[]", NULL},
	        {"\"x\"", NULL},
	        {"null", NULL},
	        {"{}", "peer_id"},
	        {"{\"peer_id\":7}", "peer_id"},
	        {"{\"peer_id\":null}", "peer_id"},
	        {"{\"peer_id\":[\"" PEER_A "\"]}", "peer_id"},
	        {"{\"peer_id\":{}}", "peer_id"},
	        {"{\"peer_id\":\"" PEER_BAD "\"}", "peer_id"},
	        {"{\"peer_id\":\"\"}", "peer_id"},
	        {"{\"peer_id\":\"\xff\"}", NULL},
	};

	g_assert_cmpstr(text, ==, "{\"peer_id\":\"" PEER_A "\"}");
	g_assert_true(pl_rendezvous_parse_challenge_request(text, strlen(text), &id, &error));
	g_assert_no_error(error);
	id_text = pl_peer_id_to_string(&id);
	g_assert_cmpstr(id_text, ==, PEER_A);

	/* lower case without dashes is canonicalised */
	{
		g_autofree gchar *lower = g_ascii_strdown(PEER_B, -1);
		g_auto(GStrv) parts = g_strsplit(lower, "-", -1);
		g_autofree gchar *joined = g_strjoinv("", parts);
		g_autofree gchar *body = pl_rendezvous_build_challenge_request(joined);
		g_autofree gchar *canon = NULL;
		g_assert_true(pl_rendezvous_parse_challenge_request(body, strlen(body), &id, NULL));
		canon = pl_peer_id_to_string(&id);
		g_assert_cmpstr(canon, ==, PEER_B);
	}
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) e = NULL;
		g_assert_false(pl_rendezvous_parse_challenge_request(bad[i].body,
		                                                     strlen(bad[i].body), &id, &e));
		assert_bad_request(e, bad[i].field);
	}
}

static void
test_challenge_reply(void)
{
	g_autofree gchar *text =
	        pl_rendezvous_build_challenge_reply(CHALLENGE, "127.0.0.1:8480", 30);
	g_autofree gchar *challenge = NULL;
	g_autofree gchar *audience = NULL;
	g_autoptr(GError) error = NULL;
	struct {
		const gchar *body;
		const gchar *field;
	} bad[] = {
	        {"{\"audience\":\"a\",\"expires_in\":30}", "challenge"},
	        {"{\"challenge\":\"" CHALLENGE "\",\"expires_in\":30}", "audience"},
	        {"{\"challenge\":\"" CHALLENGE "\",\"audience\":\"a\"}", "expires_in"},
	        {"{\"challenge\":\"" CHALLENGE "\",\"audience\":\"a\",\"expires_in\":\"30\"}",
	         "expires_in"},
	        {"{\"challenge\":\"" CHALLENGE "\",\"audience\":\"a\",\"expires_in\":30.5}",
	         "expires_in"},
	        {"{\"challenge\":\"short\",\"audience\":\"a\",\"expires_in\":30}", "challenge"},
	        {"{\"challenge\":\"q2Xh+AECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw\",\"audience\":"
	         "\"a\",\"expires_in\":30}",
	         "challenge"},
	        {"{\"challenge\":\"" CHALLENGE "\",\"audience\":\"\",\"expires_in\":30}",
	         "audience"},
	        {"{\"challenge\":\"" CHALLENGE "\",\"audience\":false,\"expires_in\":30}",
	         "audience"},
	};

	g_assert_true(pl_rendezvous_parse_challenge_reply(text, strlen(text), &challenge, &audience,
	                                                  &error));
	g_assert_no_error(error);
	g_assert_cmpstr(challenge, ==, CHALLENGE);
	g_assert_cmpstr(audience, ==, "127.0.0.1:8480");
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) e = NULL;
		g_assert_false(pl_rendezvous_parse_challenge_reply(bad[i].body, strlen(bad[i].body),
		                                                   NULL, NULL, &e));
		assert_bad_request(e, bad[i].field);
	}
}

static gchar *
replace_member(const gchar *json, const gchar *member, const gchar *value_json)
{
	g_autoptr(JsonObject) object = pl_rendezvous_parse_object(json, strlen(json), NULL);
	g_assert_nonnull(object);
	if (value_json == NULL) {
		json_object_remove_member(object, member);
	} else {
		g_autoptr(JsonNode) node = json_from_string(value_json, NULL);
		g_assert_nonnull(node);
		json_object_set_member(object, member, g_steal_pointer(&node));
	}
	return pl_rendezvous_object_to_string(object);
}

static void
test_session_request(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlIdentity) identity = pl_identity_generate(&error);
	g_autoptr(PlIdentity) other = pl_identity_generate(&error);
	g_autofree gchar *text = NULL;
	g_autoptr(PlRendezvousSessionRequest) request = NULL;
	g_autofree gchar *peer_id = NULL;
	g_autofree gchar *other_key = NULL;
	g_autoptr(GBytes) other_key_bytes = NULL;
	const gchar *fields[] = {"peer_id", "public_key", "challenge", "signature"};
	const gchar *wrong_values[] = {"7", "null", "[]", "{}", "true", "\"!!\"", "\"\""};

	g_assert_no_error(error);
	text = pl_rendezvous_build_session_request(identity, CHALLENGE, "127.0.0.1:8480", &error);
	g_assert_no_error(error);
	request = pl_rendezvous_parse_session_request(text, strlen(text), &error);
	g_assert_no_error(error);
	g_assert_nonnull(request);
	peer_id = pl_peer_id_to_string(&request->peer_id);
	g_assert_cmpstr(peer_id, ==, pl_identity_get_peer_id_string(identity));
	g_assert_cmpstr(request->challenge, ==, CHALLENGE);
	g_assert_cmpuint(g_bytes_get_size(request->signature), ==, 64);

	/* it verifies for its audience only: domain separation */
	g_assert_true(pl_rendezvous_verify_session_request(request, "127.0.0.1:8480", &error));
	g_assert_no_error(error);
	{
		g_autoptr(GError) e = NULL;
		g_assert_false(pl_rendezvous_verify_session_request(request, "127.0.0.1:8481", &e));
		g_assert_error(e, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_AUTH_FAILED);
	}
	/* the raw signature over the challenge alone does not verify */
	{
		g_autoptr(GBytes) raw = g_bytes_new_static(CHALLENGE, strlen(CHALLENGE));
		g_autoptr(GBytes) sig = pl_identity_sign(identity, raw, NULL);
		g_autoptr(GBytes) pk = pl_identity_get_public_key(identity);
		g_autoptr(GBytes) data =
		        pl_rendezvous_auth_signed_data(CHALLENGE, peer_id, "127.0.0.1:8480");
		g_assert_false(pl_identity_verify(pk, data, sig, NULL));
	}
	/* another challenge */
	{
		g_autoptr(GError) e = NULL;
		g_free(request->challenge);
		request->challenge = g_strdup("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
		g_assert_false(pl_rendezvous_verify_session_request(request, "127.0.0.1:8480", &e));
		g_assert_error(e, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_AUTH_FAILED);
		g_free(request->challenge);
		request->challenge = g_strdup(CHALLENGE);
	}
	/* the key of another identity: it does not hash to the peer ID */
	other_key_bytes = pl_identity_get_public_key(other);
	other_key = pl_rendezvous_base64url_encode(g_bytes_get_data(other_key_bytes, NULL),
	                                           g_bytes_get_size(other_key_bytes));
	{
		g_autofree gchar *value = g_strdup_printf("\"%s\"", other_key);
		g_autofree gchar *body = replace_member(text, "public_key", value);
		g_autoptr(PlRendezvousSessionRequest) r =
		        pl_rendezvous_parse_session_request(body, strlen(body), NULL);
		g_autoptr(GError) e = NULL;
		g_assert_nonnull(r);
		g_assert_false(pl_rendezvous_verify_session_request(r, "127.0.0.1:8480", &e));
		g_assert_error(e, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_AUTH_FAILED);
	}
	/* a key that hashes right but is no key at all */
	{
		g_autofree gchar *garbage =
		        pl_rendezvous_base64url_encode((const guint8 *)"abc", 3);
		g_autofree gchar *value = g_strdup_printf("\"%s\"", garbage);
		g_autofree gchar *body = replace_member(text, "public_key", value);
		g_autoptr(PlRendezvousSessionRequest) r =
		        pl_rendezvous_parse_session_request(body, strlen(body), NULL);
		g_autoptr(GError) e = NULL;
		g_assert_nonnull(r);
		pl_peer_id_from_public_key((const guint8 *)"abc", 3, &r->peer_id);
		g_assert_false(pl_rendezvous_verify_session_request(r, "127.0.0.1:8480", &e));
		g_assert_error(e, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_AUTH_FAILED);
	}
	/* every field: missing or of a wrong type */
	for (guint i = 0; i < G_N_ELEMENTS(fields); i++) {
		g_autofree gchar *missing = replace_member(text, fields[i], NULL);
		g_autoptr(GError) e = NULL;
		g_assert_null(pl_rendezvous_parse_session_request(missing, strlen(missing), &e));
		assert_bad_request(e, fields[i]);
		for (guint j = 0; j < G_N_ELEMENTS(wrong_values); j++) {
			g_autofree gchar *body = replace_member(text, fields[i], wrong_values[j]);
			g_autoptr(GError) e2 = NULL;
			g_assert_null(pl_rendezvous_parse_session_request(body, strlen(body), &e2));
			assert_bad_request(e2, fields[i]);
		}
	}
	/* a short signature */
	{
		g_autofree gchar *body = replace_member(text, "signature", "\"AAAA\"");
		g_autoptr(GError) e = NULL;
		g_assert_null(pl_rendezvous_parse_session_request(body, strlen(body), &e));
		assert_bad_request(e, "signature");
	}
}

static JsonObject *
make_ice(void)
{
	const gchar *text = "{\"stun\":[\"stun:198.51.100.10:3478\"],\"turn\":[{\"urls\":[\"turn:"
	                    "198.51.100.10:3478?transport=udp\"],\"username\":\"1:X\","
	                    "\"credential\":\"c\",\"ttl\":43200}]}";
	return pl_rendezvous_parse_object(text, strlen(text), NULL);
}

static void
test_session_reply(void)
{
	g_autoptr(JsonObject) ice = make_ice();
	g_autofree gchar *token = g_strnfill(43, 'A');
	g_autofree gchar *text = pl_rendezvous_build_session_reply(token, PEER_A, 3600, ice);
	g_autofree gchar *empty = pl_rendezvous_build_session_reply(token, PEER_A, 3600, NULL);
	g_autoptr(PlRendezvousSession) session = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *bad_ice[] = {
	        "7",
	        "{}",
	        "{\"stun\":[],\"turn\":{}}",
	        "{\"stun\":[1],\"turn\":[]}",
	        "{\"stun\":[],\"turn\":[1]}",
	        "{\"stun\":[],\"turn\":[{\"urls\":\"x\",\"username\":\"u\",\"credential\":\"c\","
	        "\"ttl\":1}]}",
	        "{\"stun\":[],\"turn\":[{\"urls\":[],\"username\":1,\"credential\":\"c\","
	        "\"ttl\":1}]}",
	        "{\"stun\":[],\"turn\":[{\"urls\":[],\"username\":\"u\",\"credential\":\"c\"}]}",
	};

	session = pl_rendezvous_parse_session_reply(text, strlen(text), &error);
	g_assert_no_error(error);
	g_assert_cmpstr(session->token, ==, token);
	g_assert_cmpstr(session->peer_id, ==, PEER_A);
	g_assert_cmpint(session->expires_in, ==, 3600);
	g_assert_true(json_object_has_member(session->ice, "turn"));
	g_clear_pointer(&session, pl_rendezvous_session_free);
	session = pl_rendezvous_parse_session_reply(empty, strlen(empty), &error);
	g_assert_no_error(error);
	g_assert_cmpuint(json_array_get_length(json_object_get_array_member(session->ice, "stun")),
	                 ==, 0);

	for (guint i = 0; i < G_N_ELEMENTS(bad_ice); i++) {
		g_autofree gchar *body = replace_member(text, "ice", bad_ice[i]);
		g_autoptr(GError) e = NULL;
		g_assert_null(pl_rendezvous_parse_session_reply(body, strlen(body), &e));
		assert_bad_request(e, NULL);
	}
	{
		g_autofree gchar *body = replace_member(text, "token", "\"AAAA\"");
		g_autoptr(GError) e = NULL;
		g_assert_null(pl_rendezvous_parse_session_reply(body, strlen(body), &e));
		assert_bad_request(e, "token");
	}
	{
		g_autofree gchar *body = replace_member(text, "peer_id", "\"" PEER_BAD "\"");
		g_autoptr(GError) e = NULL;
		g_assert_null(pl_rendezvous_parse_session_reply(body, strlen(body), &e));
		assert_bad_request(e, "peer_id");
	}
	{
		g_autofree gchar *ice_text = pl_rendezvous_object_to_string(ice);
		g_autoptr(JsonObject) parsed =
		        pl_rendezvous_parse_ice_reply(ice_text, strlen(ice_text), &error);
		g_assert_no_error(error);
		g_assert_nonnull(parsed);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* messages, sends, frames */

static void
test_message(void)
{
	g_autoptr(PlRendezvousMessage) message = g_new0(PlRendezvousMessage, 1);
	g_autoptr(PlRendezvousMessage) parsed = NULL;
	g_autofree gchar *text = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *fields[] = {"id", "from", "kind", "body", "sent_at"};

	message->id = pl_rendezvous_message_id_new();
	message->from = g_strdup(PEER_A);
	message->kind = g_strdup("offer");
	message->body = json_object_new();
	json_object_set_string_member(message->body, "sdp", "v=0\r\n");
	message->sent_at = 1764000000123;
	text = pl_rendezvous_message_to_json(message);
	g_assert_null(strstr(text, "\"to\""));
	g_assert_true(g_str_has_prefix(text, "{\"type\":\"message\""));
	parsed = pl_rendezvous_message_from_json(text, strlen(text), &error);
	g_assert_no_error(error);
	g_assert_cmpstr(parsed->id, ==, message->id);
	g_assert_cmpstr(parsed->from, ==, PEER_A);
	g_assert_null(parsed->to);
	g_assert_cmpstr(parsed->kind, ==, "offer");
	g_assert_cmpstr(json_object_get_string_member(parsed->body, "sdp"), ==, "v=0\r\n");
	g_assert_cmpint(parsed->sent_at, ==, 1764000000123);

	/* with a recipient */
	g_clear_pointer(&parsed, pl_rendezvous_message_free);
	message->to = g_strdup(PEER_B);
	g_free(text);
	text = pl_rendezvous_message_to_json(message);
	parsed = pl_rendezvous_message_from_json(text, strlen(text), &error);
	g_assert_no_error(error);
	g_assert_cmpstr(parsed->to, ==, PEER_B);

	for (guint i = 0; i < G_N_ELEMENTS(fields); i++) {
		g_autofree gchar *missing = replace_member(text, fields[i], NULL);
		g_autofree gchar *wrong = replace_member(text, fields[i], "[1]");
		g_autoptr(GError) e1 = NULL;
		g_autoptr(GError) e2 = NULL;
		g_assert_null(pl_rendezvous_message_from_json(missing, strlen(missing), &e1));
		assert_bad_request(e1, fields[i]);
		g_assert_null(pl_rendezvous_message_from_json(wrong, strlen(wrong), &e2));
		assert_bad_request(e2, fields[i]);
	}
	{
		g_autofree gchar *body = replace_member(text, "type", "\"sent\"");
		g_autoptr(GError) e = NULL;
		g_assert_null(pl_rendezvous_message_from_json(body, strlen(body), &e));
		assert_bad_request(e, "type");
	}
	{
		g_autofree gchar *body = replace_member(text, "to", "\"" PEER_BAD "\"");
		g_autoptr(GError) e = NULL;
		g_assert_null(pl_rendezvous_message_from_json(body, strlen(body), &e));
		assert_bad_request(e, "to");
	}
}

static void
test_send(void)
{
	g_autoptr(JsonObject) body = json_object_new();
	g_autofree gchar *http = NULL;
	g_autofree gchar *frame = NULL;
	g_autoptr(JsonObject) object = NULL;
	g_autoptr(PlRendezvousSend) send = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *lower = g_ascii_strdown(PEER_B, -1);

	json_object_set_string_member(body, "sdp", "x");
	http = pl_rendezvous_build_send(-1, lower, "offer", body);
	g_assert_null(strstr(http, "ref"));
	g_assert_null(strstr(http, "type"));
	object = pl_rendezvous_parse_object(http, strlen(http), &error);
	g_assert_no_error(error);
	send = pl_rendezvous_parse_send(object, 1024, &error);
	g_assert_no_error(error);
	g_assert_cmpint(send->ref, ==, -1);
	g_assert_cmpstr(send->to, ==, PEER_B); /* canonical */
	g_assert_cmpstr(send->kind, ==, "offer");
	g_assert_cmpstr(json_object_get_string_member(send->body, "sdp"), ==, "x");

	/* the body limit counts the compact JSON: {"sdp":"x"} is 11 bytes */
	g_clear_pointer(&send, pl_rendezvous_send_free);
	send = pl_rendezvous_parse_send(object, 11, &error);
	g_assert_no_error(error);
	g_clear_pointer(&send, pl_rendezvous_send_free);
	send = pl_rendezvous_parse_send(object, 10, &error);
	g_assert_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_TOO_LARGE);
	g_clear_error(&error);

	frame = pl_rendezvous_build_send(7, PEER_B, "offer", body);
	{
		g_autoptr(PlRendezvousFrame) f =
		        pl_rendezvous_frame_parse(frame, strlen(frame), 1024, &error);
		g_assert_no_error(error);
		g_assert_cmpint(f->type, ==, PL_RENDEZVOUS_FRAME_SEND);
		g_assert_cmpint(f->ref, ==, 7);
		g_assert_cmpint(f->send->ref, ==, 7);
		g_assert_cmpstr(f->send->to, ==, PEER_B);
	}
	{
		const gchar *bad[][2] = {
		        {"to", NULL},      {"to", "1"},           {"to", "\"" PEER_BAD "\""},
		        {"kind", NULL},    {"kind", "\"Offer\""}, {"kind", "\"\""},
		        {"kind", "7"},     {"body", NULL},        {"body", "[]"},
		        {"body", "\"x\""}, {"body", "null"},      {"ref", "\"7\""},
		        {"ref", "-1"},     {"ref", "1.5"},        {"ref", "9007199254740992"},
		};
		for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
			g_autofree gchar *text = replace_member(frame, bad[i][0], bad[i][1]);
			g_autoptr(GError) e = NULL;
			g_autoptr(PlRendezvousFrame) f =
			        pl_rendezvous_frame_parse(text, strlen(text), 1024, &e);
			g_assert_null(f);
			assert_bad_request(e, bad[i][0]);
		}
	}
}

static void
test_frames(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) offline =
	        g_error_new_literal(PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_PEER_OFFLINE, "gone");
	g_autofree gchar *sent = pl_rendezvous_frame_build_sent(7, "abc");
	g_autofree gchar *err = pl_rendezvous_frame_build_error(7, offline);
	g_autofree gchar *err_null = pl_rendezvous_frame_build_error(-1, offline);
	g_autofree gchar *ack = pl_rendezvous_frame_build_ack("abc");
	g_autofree gchar *ping = pl_rendezvous_frame_build_simple(PL_RENDEZVOUS_FRAME_PING);
	g_autofree gchar *pong = pl_rendezvous_frame_build_simple(PL_RENDEZVOUS_FRAME_PONG);
	PlRendezvousFrame *f;
	const gchar *bad[] = {
	        "",
	        "x",
	        "[]",
	        "{}",
	        "{\"type\":7}",
	        "{\"type\":\"nope\"}",
	        "{\"type\":\"ack\"}",
	        "{\"type\":\"ack\",\"id\":7}",
	        "{\"type\":\"ack\",\"id\":\"\"}",
	        "{\"type\":\"sent\",\"id\":\"a\"}",
	        "{\"type\":\"sent\",\"ref\":1}",
	        "{\"type\":\"error\",\"ref\":1}",
	        "{\"type\":\"error\",\"error\":{\"code\":\"x\",\"message\":\"y\"}}",
	        "{\"type\":\"error\",\"ref\":null,\"error\":{\"code\":1,\"message\":\"y\"}}",
	        "{\"type\":\"error\",\"ref\":null,\"error\":[]}",
	        "{\"type\":\"send\",\"to\":\"" PEER_A "\",\"kind\":\"a\",\"body\":{}}",
	        "{\"type\":\"message\"}",
	};

	g_assert_cmpstr(sent, ==, "{\"type\":\"sent\",\"ref\":7,\"id\":\"abc\"}");
	g_assert_cmpstr(err_null, ==,
	                "{\"type\":\"error\",\"ref\":null,\"error\":{\"code\":\"peer-offline\","
	                "\"message\":\"gone\"}}");
	g_assert_cmpstr(ack, ==, "{\"type\":\"ack\",\"id\":\"abc\"}");
	g_assert_cmpstr(ping, ==, "{\"type\":\"ping\"}");
	g_assert_cmpstr(pong, ==, "{\"type\":\"pong\"}");

	f = pl_rendezvous_frame_parse(sent, strlen(sent), 0, &error);
	g_assert_no_error(error);
	g_assert_cmpint(f->type, ==, PL_RENDEZVOUS_FRAME_SENT);
	g_assert_cmpint(f->ref, ==, 7);
	g_assert_cmpstr(f->id, ==, "abc");
	pl_rendezvous_frame_free(f);

	f = pl_rendezvous_frame_parse(err, strlen(err), 0, &error);
	g_assert_no_error(error);
	g_assert_cmpint(f->type, ==, PL_RENDEZVOUS_FRAME_ERROR);
	g_assert_cmpint(f->ref, ==, 7);
	g_assert_error(f->error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_PEER_OFFLINE);
	g_assert_cmpstr(f->error->message, ==, "gone");
	pl_rendezvous_frame_free(f);

	f = pl_rendezvous_frame_parse(err_null, strlen(err_null), 0, &error);
	g_assert_no_error(error);
	g_assert_cmpint(f->ref, ==, -1);
	pl_rendezvous_frame_free(f);

	f = pl_rendezvous_frame_parse(ack, strlen(ack), 0, &error);
	g_assert_no_error(error);
	g_assert_cmpint(f->type, ==, PL_RENDEZVOUS_FRAME_ACK);
	g_assert_cmpstr(f->id, ==, "abc");
	pl_rendezvous_frame_free(f);

	f = pl_rendezvous_frame_parse(ping, strlen(ping), 0, &error);
	g_assert_no_error(error);
	g_assert_cmpint(f->type, ==, PL_RENDEZVOUS_FRAME_PING);
	pl_rendezvous_frame_free(f);

	f = pl_rendezvous_frame_parse(pong, strlen(pong), 0, &error);
	g_assert_no_error(error);
	g_assert_cmpint(f->type, ==, PL_RENDEZVOUS_FRAME_PONG);
	pl_rendezvous_frame_free(f);

	/* a message frame is what message_to_json gives */
	{
		g_autoptr(PlRendezvousMessage) m = g_new0(PlRendezvousMessage, 1);
		g_autofree gchar *text = NULL;
		m->id = g_strdup("abc");
		m->from = g_strdup(PEER_A);
		m->kind = g_strdup("bye");
		m->sent_at = 5;
		text = pl_rendezvous_message_to_json(m);
		f = pl_rendezvous_frame_parse(text, strlen(text), 0, &error);
		g_assert_no_error(error);
		g_assert_cmpint(f->type, ==, PL_RENDEZVOUS_FRAME_MESSAGE);
		g_assert_cmpstr(f->message->from, ==, PEER_A);
		g_assert_cmpint(json_object_get_size(f->message->body), ==, 0);
		pl_rendezvous_frame_free(f);
	}

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) e = NULL;
		f = pl_rendezvous_frame_parse(bad[i], strlen(bad[i]), 0, &e);
		g_assert_null(f);
		g_assert_error(e, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST);
	}

	/* the ref hint for error replies */
	{
		g_autoptr(JsonObject) o =
		        pl_rendezvous_parse_object("{\"type\":\"send\",\"ref\":9}",
		                                   strlen("{\"type\":\"send\",\"ref\":9}"), NULL);
		g_autoptr(JsonObject) o2 = pl_rendezvous_parse_object(
		        "{\"ref\":\"9\"}", strlen("{\"ref\":\"9\"}"), NULL);
		g_assert_cmpint(pl_rendezvous_frame_get_ref(o), ==, 9);
		g_assert_cmpint(pl_rendezvous_frame_get_ref(o2), ==, -1);
		g_assert_cmpint(pl_rendezvous_frame_get_ref(NULL), ==, -1);
	}
}

static void
test_small_replies(void)
{
	g_autofree gchar *msg = pl_rendezvous_build_message_reply("abc");
	g_autofree gchar *peer = pl_rendezvous_build_peer_reply(PEER_A, TRUE);
	g_autofree gchar *id = NULL;
	gboolean online = FALSE;
	g_autoptr(GError) error = NULL;

	g_assert_cmpstr(msg, ==, "{\"id\":\"abc\"}");
	g_assert_cmpstr(peer, ==, "{\"peer_id\":\"" PEER_A "\",\"online\":true}");
	id = pl_rendezvous_parse_message_reply(msg, strlen(msg), &error);
	g_assert_no_error(error);
	g_assert_cmpstr(id, ==, "abc");
	g_assert_true(pl_rendezvous_parse_peer_reply(peer, strlen(peer), &online, &error));
	g_assert_no_error(error);
	g_assert_true(online);
	g_assert_null(pl_rendezvous_parse_message_reply("{\"id\":1}", 8, &error));
	assert_bad_request(error, "id");
	g_clear_error(&error);
	g_assert_false(pl_rendezvous_parse_peer_reply(
	        "{\"peer_id\":\"" PEER_A "\",\"online\":1}",
	        strlen("{\"peer_id\":\"" PEER_A "\",\"online\":1}"), &online, &error));
	assert_bad_request(error, "online");
}

/* Nesting the body before JsonParser recurses into it: 128 KiB of '[' in a frame (libsoup's
 * default limit for the agent) overflowed the stack, and a '"' in a comment or single-quoted
 * string, which JsonParser also reads, hid the brackets after it (fuzz/fuzz-rendezvous-request).
 * The parsers use the strict check (json/) at 64 levels; what else it refuses is in tests/json/ */
static void
test_plain_json(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) object = NULL;
	g_autofree gchar *open = g_strnfill(128 * 1024, '[');
	g_autofree gchar *open63 = g_strnfill(63, '[');
	g_autofree gchar *close63 = g_strnfill(63, ']');
	g_autofree gchar *open64 = g_strnfill(64, '[');
	g_autofree gchar *close64 = g_strnfill(64, ']');
	g_autofree gchar *deep_ok = g_strdup_printf("{\"a\":%s%s}", open63, close63);
	g_autofree gchar *deep_bad = g_strdup_printf("{\"a\":%s%s}", open64, close64);
	g_autofree gchar *comment = g_strconcat("{\"a\":/*\"*/", open, NULL);
	g_autoptr(PlRendezvousFrame) frame = NULL;
	const gchar *spaced = "{ \"type\" :\r\n\t\"ping\", \"x\":\"/*'[[[\\\"\"}";
	const struct {
		const gchar *text;
		const gchar *message;
	} not_json[] = {
	        {open, "the body nests deeper than 64 levels"},
	        {deep_bad, "the body nests deeper than 64 levels"},
	        {comment, "the body is not JSON: unexpected character at offset 5"},
	        /* json-glib parsed a second value, and leaked it */
	        {"\"failed\"{\"type\":\"ping\"}",
	         "the body is not JSON: unexpected character at offset 8"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(not_json); i++) {
		frame = pl_rendezvous_frame_parse(not_json[i].text, strlen(not_json[i].text),
		                                  PL_RENDEZVOUS_MAX_REQUEST_SIZE, &error);
		g_assert_null(frame);
		assert_bad_request(error, NULL);
		g_assert_cmpstr(error->message, ==, not_json[i].message);
		g_clear_error(&error);
	}
	object = pl_rendezvous_parse_object(deep_bad, strlen(deep_bad), &error);
	g_assert_null(object);
	assert_bad_request(error, NULL);
	g_clear_error(&error);

	/* 64 levels, the body included, and anything inside strings are fine */
	object = pl_rendezvous_parse_object(deep_ok, strlen(deep_ok), &error);
	g_assert_no_error(error);
	g_clear_pointer(&object, json_object_unref);
	frame = pl_rendezvous_frame_parse(spaced, strlen(spaced), 0, &error);
	g_assert_no_error(error);
	g_assert_nonnull(frame);
	g_assert_cmpint(frame->type, ==, PL_RENDEZVOUS_FRAME_PING);
}

/* random bytes and mutations of valid input: errors, never a critical */
static void
test_garbage(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlIdentity) identity = pl_identity_generate(&error);
	g_autofree gchar *session =
	        pl_rendezvous_build_session_request(identity, CHALLENGE, "a", NULL);
	const gchar *seeds[] = {session, "{\"type\":\"send\",\"ref\":1,\"to\":\"" PEER_A
	                                 "\",\"kind\":\"offer\",\"body\":{\"a\":[1,2,{}]}}"};

	for (guint i = 0; i < 3000; i++) {
		const gchar *seed = seeds[i % G_N_ELEMENTS(seeds)];
		g_autofree gchar *text = g_strdup(seed);
		gsize len = strlen(text);
		g_autoptr(PlRendezvousSessionRequest) r = NULL;
		g_autoptr(PlRendezvousFrame) f = NULL;
		g_autoptr(PlRendezvousMessage) m = NULL;
		g_autoptr(GError) e = NULL;
		PlPeerId id;

		for (guint j = 0; j < 1 + i % 4; j++)
			text[g_test_rand_int_range(0, (gint)len)] =
			        (gchar)g_test_rand_int_range(1, 256);
		r = pl_rendezvous_parse_session_request(text, len, NULL);
		f = pl_rendezvous_frame_parse(text, len, 100, NULL);
		m = pl_rendezvous_message_from_json(text, len, NULL);
		pl_rendezvous_parse_challenge_request(text, len, &id, NULL);
		e = pl_rendezvous_parse_error_reply(400, text, len);
		g_assert_nonnull(e);
	}
	/* embedded NUL and deep nesting */
	{
		GString *deep = g_string_new(NULL);
		g_autoptr(PlRendezvousFrame) f = NULL;
		for (guint i = 0; i < 30000; i++)
			g_string_append_c(deep, '[');
		for (guint i = 0; i < 30000; i++)
			g_string_append_c(deep, ']');
		f = pl_rendezvous_frame_parse(deep->str, deep->len, 0, &error);
		g_assert_null(f);
		g_assert_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST);
		g_clear_error(&error);
		g_string_free(deep, TRUE);
		f = pl_rendezvous_frame_parse("{\"type\":\"ping\"}\0x", 17, 0, &error);
		g_assert_null(f);
		g_assert_error(error, PL_RENDEZVOUS_ERROR, PL_RENDEZVOUS_ERROR_BAD_REQUEST);
	}
}

static void
test_backoff(void)
{
	/* full jitter: random % min(max, base << attempt), at least 1 */
	g_assert_cmpuint(pl_rendezvous_backoff_delay_ms(0, 500, 30000, 0), ==, 1);
	g_assert_cmpuint(pl_rendezvous_backoff_delay_ms(0, 500, 30000, 499), ==, 499);
	g_assert_cmpuint(pl_rendezvous_backoff_delay_ms(0, 500, 30000, 500), ==, 1);
	g_assert_cmpuint(pl_rendezvous_backoff_delay_ms(0, 500, 30000, 501), ==, 1);
	g_assert_cmpuint(pl_rendezvous_backoff_delay_ms(1, 500, 30000, 999), ==, 999);
	g_assert_cmpuint(pl_rendezvous_backoff_delay_ms(3, 500, 30000, 3999), ==, 3999);
	g_assert_cmpuint(pl_rendezvous_backoff_delay_ms(10, 500, 30000, 29999), ==, 29999);
	g_assert_cmpuint(pl_rendezvous_backoff_delay_ms(10, 500, 30000, 30000), ==, 1);
	/* no overflow of the shift */
	for (guint attempt = 20; attempt < 200; attempt += 7) {
		guint d = pl_rendezvous_backoff_delay_ms(attempt, 500, 30000, G_MAXUINT32);
		g_assert_cmpuint(d, ==, G_MAXUINT32 % 30000);
		g_assert_cmpuint(pl_rendezvous_backoff_delay_ms(attempt, G_MAXUINT, G_MAXUINT,
		                                                G_MAXUINT32 - 1),
		                 ==, G_MAXUINT32 - 1);
	}
	/* degenerate parameters */
	g_assert_cmpuint(pl_rendezvous_backoff_delay_ms(5, 0, 30000, 12345), ==, 1);
	g_assert_cmpuint(pl_rendezvous_backoff_delay_ms(5, 500, 0, 12345), ==, 1);
	for (guint i = 0; i < 1000; i++) {
		guint attempt = (guint)g_test_rand_int_range(0, 40);
		guint d = pl_rendezvous_backoff_delay_ms(attempt, 250, 60000, g_test_rand_int());
		g_assert_cmpuint(d, >=, 1);
		g_assert_cmpuint(d, <, MIN(60000, attempt < 32 ? 250ull << attempt : 60000) + 1);
	}
}

/* The hand-built stored message and "sent" frame are byte for byte what the builder writes. */
static void
test_fast_paths(void)
{
	g_autoptr(PlRendezvousMessage) message = g_new0(PlRendezvousMessage, 1);
	g_autoptr(GError) error = NULL;
	const gchar *body_json =
	        "{\"sdp\":\"v=0\\r\\n\\\"q\\\"\",\"n\":[1,2.5,null,true],\"u\":\"\xc3\xa4\"}";
	g_autoptr(JsonObject) body =
	        pl_rendezvous_parse_object(body_json, strlen(body_json), &error);
	g_autofree gchar *body_text = NULL;
	g_autofree gchar *slow = NULL;
	g_autofree gchar *fast = NULL;
	g_autofree gchar *sent = NULL;
	g_autoptr(JsonObject) parsed = NULL;

	g_assert_no_error(error);
	message->id = pl_rendezvous_message_id_new();
	message->from = g_strdup("OIVL2EX-JTJJWP4-3VV24WO-KUOA5YS-4A6CVXI-W7KGWSF-GRZ6RO7-YGB4EQR");
	message->kind = g_strdup("candidate");
	message->body = json_object_ref(body);
	message->sent_at = 1764000000123;
	body_text = pl_rendezvous_object_to_string(body);
	slow = pl_rendezvous_message_to_json(message);
	fast = pl_rendezvous_message_to_json_with_body(message, body_text);
	g_assert_cmpstr(fast, ==, slow);

	message->to = g_strdup("UHURKYC-U4BH2ZC-M25HZHK-EZM3QD2-LW6E5IW-CVU5B77-DOBUSTN-AP2OCX5");
	g_free(slow);
	g_free(fast);
	slow = pl_rendezvous_message_to_json(message);
	fast = pl_rendezvous_message_to_json_with_body(message, body_text);
	g_assert_cmpstr(fast, ==, slow);

	/* anything that would need escaping takes the builder's path */
	g_free(message->kind);
	message->kind = g_strdup("bad\"kind");
	g_free(slow);
	g_free(fast);
	slow = pl_rendezvous_message_to_json(message);
	fast = pl_rendezvous_message_to_json_with_body(message, body_text);
	g_assert_cmpstr(fast, ==, slow);

	/* an ack as the client writes it is read without a parser, to the same frame */
	{
		g_autofree gchar *ack = pl_rendezvous_frame_build_ack(message->id);
		g_autoptr(PlRendezvousFrame) quick =
		        pl_rendezvous_frame_parse_ack(ack, strlen(ack));
		g_autoptr(PlRendezvousFrame) full =
		        pl_rendezvous_frame_parse(ack, strlen(ack), 1024, &error);
		const gchar *others[] = {"{\"type\":\"ack\",\"id\":\"\"}",
		                         "{\"type\":\"ack\",\"id\":\"a\\\"b\"}",
		                         "{\"type\":\"ack\", \"id\":\"abc\"}",
		                         "{\"type\":\"ack\",\"id\":\"abc\"} ",
		                         "{\"type\":\"ping\"}",
		                         "{\"type\":\"ack\",\"id\":\"ab\0c\"}"};

		g_assert_no_error(error);
		g_assert_nonnull(quick);
		g_assert_cmpint(quick->type, ==, full->type);
		g_assert_cmpint(quick->ref, ==, full->ref);
		g_assert_cmpstr(quick->id, ==, full->id);
		for (guint i = 0; i < G_N_ELEMENTS(others); i++)
			g_assert_null(pl_rendezvous_frame_parse_ack(others[i], strlen(others[i])));
		/* an embedded NUL within the claimed length */
		g_assert_null(
		        pl_rendezvous_frame_parse_ack("{\"type\":\"ack\",\"id\":\"ab\0c\"}", 26));
	}

	sent = pl_rendezvous_frame_build_sent(9007199254740991, message->id);
	parsed = pl_rendezvous_parse_object(sent, strlen(sent), &error);
	g_assert_no_error(error);
	g_assert_cmpstr(json_object_get_string_member(parsed, "type"), ==, "sent");
	g_assert_cmpint(json_object_get_int_member(parsed, "ref"), ==, 9007199254740991);
	g_assert_cmpstr(json_object_get_string_member(parsed, "id"), ==, message->id);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerlink/rendezvous/protocol/error-codes", test_error_codes);
	g_test_add_func("/peerlink/rendezvous/protocol/error-reply", test_error_reply);
	g_test_add_func("/peerlink/rendezvous/protocol/base64url", test_base64url);
	g_test_add_func("/peerlink/rendezvous/protocol/kind", test_kind);
	g_test_add_func("/peerlink/rendezvous/protocol/message-id", test_message_id);
	g_test_add_func("/peerlink/rendezvous/protocol/audience", test_audience_pure);
	g_test_add_func("/peerlink/rendezvous/protocol/signed-data", test_signed_data);
	g_test_add_func("/peerlink/rendezvous/protocol/challenge-request", test_challenge_request);
	g_test_add_func("/peerlink/rendezvous/protocol/challenge-reply", test_challenge_reply);
	g_test_add_func("/peerlink/rendezvous/protocol/session-request", test_session_request);
	g_test_add_func("/peerlink/rendezvous/protocol/session-reply", test_session_reply);
	g_test_add_func("/peerlink/rendezvous/protocol/message", test_message);
	g_test_add_func("/peerlink/rendezvous/protocol/send", test_send);
	g_test_add_func("/peerlink/rendezvous/protocol/frames", test_frames);
	g_test_add_func("/peerlink/rendezvous/protocol/small-replies", test_small_replies);
	g_test_add_func("/peerlink/rendezvous/protocol/plain-json", test_plain_json);
	g_test_add_func("/peerlink/rendezvous/protocol/garbage", test_garbage);
	g_test_add_func("/peerlink/rendezvous/protocol/backoff", test_backoff);
	g_test_add_func("/peerlink/rendezvous/protocol/fast-paths", test_fast_paths);
	return g_test_run();
}
