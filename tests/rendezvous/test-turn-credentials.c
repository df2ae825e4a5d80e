#include "config.h"

#include <string.h>

#include "pl-turn-credentials.h"

#define PEER "UHURKYC-U4BH2ZC-M25HZHK-EZM3QD2-LW6E5IW-CVU5B77-DOBUSTN-AP2OCX5"

/*
 * Known answers computed independently with Python:
 *   base64.b64encode(hmac.new(secret, username, hashlib.sha1).digest())
 */
static void
test_known_answers(void)
{
	g_autofree gchar *username = pl_turn_credentials_username(1764000000, PEER);
	g_autofree gchar *password = pl_turn_credentials_password("north-sea-7", username);
	g_autofree gchar *empty = pl_turn_credentials_password("", "0:x");

	g_assert_cmpstr(username, ==, "1764000000:" PEER);
	g_assert_cmpstr(password, ==, "tmyBbNwqw2fGwTJsIkH4ecaYMRE=");
	g_assert_cmpstr(empty, ==, "gT4DOD4JZ/CCaiekEJvCWY/SIT8=");
}

static void
test_uri_check(void)
{
	const gchar *turn_ok[] = {"turn:198.51.100.10:3478?transport=udp",
	                          "turn:198.51.100.10:3478?transport=tcp", "turn:turn.example.org",
	                          "turns:turn.example.org:5349?transport=tcp",
	                          "turn:[2001:db8::1]:3478"};
	const gchar *turn_bad[] = {"stun:198.51.100.10",
	                           "http://x",
	                           "turn:",
	                           "turn:host:0",
	                           "turn:host:70000",
	                           "turn:host:x",
	                           "turn:host?foo=bar",
	                           "turn:[::1",
	                           "turn:ho st",
	                           "turn:host:3478?transport=sctp"};
	const gchar *stun_ok[] = {"stun:198.51.100.10:3478", "stun:stun.example.org",
	                          "stuns:stun.example.org:5349"};
	const gchar *stun_bad[] = {"turn:x", "stun:x?transport=udp", "stun:"};

	for (guint i = 0; i < G_N_ELEMENTS(turn_ok); i++) {
		g_autoptr(GError) error = NULL;
		g_assert_true(pl_turn_uri_check(turn_ok[i], TRUE, &error));
		g_assert_no_error(error);
	}
	for (guint i = 0; i < G_N_ELEMENTS(turn_bad); i++) {
		g_autoptr(GError) error = NULL;
		g_assert_false(pl_turn_uri_check(turn_bad[i], TRUE, &error));
		g_assert_nonnull(error);
		g_assert_nonnull(strstr(error->message, turn_bad[i]));
	}
	for (guint i = 0; i < G_N_ELEMENTS(stun_ok); i++)
		g_assert_true(pl_turn_uri_check(stun_ok[i], FALSE, NULL));
	for (guint i = 0; i < G_N_ELEMENTS(stun_bad); i++)
		g_assert_false(pl_turn_uri_check(stun_bad[i], FALSE, NULL));
}

static void
test_stun_from_turn(void)
{
	const gchar *turn[] = {"turn:198.51.100.10:3478?transport=udp",
	                       "turn:198.51.100.10:3478?transport=tcp",
	                       "turn:turn.example.org",
	                       "turns:turn.example.org",
	                       "turn:[2001:db8::1]:3479",
	                       NULL};
	g_auto(GStrv) stun = pl_turn_stun_uris_from_turn(turn);
	g_auto(GStrv) none = pl_turn_stun_uris_from_turn(NULL);
	g_autofree gchar *joined = g_strjoinv(" ", stun);

	g_assert_cmpstr(joined, ==,
	                "stun:198.51.100.10:3478 stun:turn.example.org:3478 "
	                "stuns:turn.example.org:5349 stun:[2001:db8::1]:3479");
	g_assert_cmpuint(g_strv_length(none), ==, 0);
}

static void
test_ice(void)
{
	const gchar *turn[] = {"turn:198.51.100.10:3478?transport=udp",
	                       "turn:198.51.100.10:3478?transport=tcp", NULL};
	const gchar *stun[] = {"stun:stun.example.org:3478", NULL};
	g_autoptr(JsonObject) ice =
	        pl_turn_credentials_build_ice("north-sea-7", turn, NULL, 43200, 1763956800, PEER);
	g_autoptr(JsonObject) explicit_stun =
	        pl_turn_credentials_build_ice("north-sea-7", turn, stun, 600, 0, PEER);
	g_autoptr(JsonObject) no_secret =
	        pl_turn_credentials_build_ice(NULL, turn, NULL, 600, 0, PEER);
	g_autoptr(JsonObject) nothing =
	        pl_turn_credentials_build_ice(NULL, NULL, NULL, 600, 0, PEER);
	JsonArray *stun_array;
	JsonObject *server;

	stun_array = json_object_get_array_member(ice, "stun");
	g_assert_cmpuint(json_array_get_length(stun_array), ==, 1);
	g_assert_cmpstr(json_array_get_string_element(stun_array, 0), ==,
	                "stun:198.51.100.10:3478");
	g_assert_cmpuint(json_array_get_length(json_object_get_array_member(ice, "turn")), ==, 1);
	server = json_array_get_object_element(json_object_get_array_member(ice, "turn"), 0);
	g_assert_cmpuint(json_array_get_length(json_object_get_array_member(server, "urls")), ==,
	                 2);
	/* the expiry is now + ttl: the known answer above */
	g_assert_cmpstr(json_object_get_string_member(server, "username"), ==, "1764000000:" PEER);
	g_assert_cmpstr(json_object_get_string_member(server, "credential"), ==,
	                "tmyBbNwqw2fGwTJsIkH4ecaYMRE=");
	g_assert_cmpint(json_object_get_int_member(server, "ttl"), ==, 43200);

	stun_array = json_object_get_array_member(explicit_stun, "stun");
	g_assert_cmpuint(json_array_get_length(stun_array), ==, 1);
	g_assert_cmpstr(json_array_get_string_element(stun_array, 0), ==,
	                "stun:stun.example.org:3478");

	/* without a secret: STUN only */
	g_assert_cmpuint(json_array_get_length(json_object_get_array_member(no_secret, "turn")), ==,
	                 0);
	g_assert_cmpuint(json_array_get_length(json_object_get_array_member(no_secret, "stun")), ==,
	                 1);
	g_assert_cmpuint(json_array_get_length(json_object_get_array_member(nothing, "turn")), ==,
	                 0);
	g_assert_cmpuint(json_array_get_length(json_object_get_array_member(nothing, "stun")), ==,
	                 0);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerlink/rendezvous/turn/known-answers", test_known_answers);
	g_test_add_func("/peerlink/rendezvous/turn/uri-check", test_uri_check);
	g_test_add_func("/peerlink/rendezvous/turn/stun-from-turn", test_stun_from_turn);
	g_test_add_func("/peerlink/rendezvous/turn/ice", test_ice);
	return g_test_run();
}
