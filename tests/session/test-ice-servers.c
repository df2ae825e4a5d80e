#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "pl-ice-servers.h"

static void
assert_stun(const gchar *text, const gchar *host, guint16 port)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStunServer) server = pl_stun_server_parse(text, &error);
	g_autofree gchar *escaped = g_strescape(text, NULL);

	g_test_message("STUN %s", escaped);
	g_assert_no_error(error);
	g_assert_nonnull(server);
	g_assert_cmpstr(server->host, ==, host);
	g_assert_cmpuint(server->port, ==, port);
}

static void
assert_bad_stun(const gchar *text, const gchar *needle)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStunServer) server = pl_stun_server_parse(text, &error);
	g_autofree gchar *escaped = g_strescape(text, NULL);

	g_test_message("bad STUN %s", escaped);
	g_assert_null(server);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	if (needle != NULL && strstr(error->message, needle) == NULL)
		g_error("message \"%s\" does not mention %s", error->message, needle);
}

static void
test_ice_stun_good(void)
{
	g_autofree gchar *long_host = g_strnfill(253, 'a');

	assert_stun("stun.example.org", "stun.example.org", 3478);
	assert_stun("stun.example.org:19302", "stun.example.org", 19302);
	assert_stun("stun:stun.l.google.com:19302", "stun.l.google.com", 19302);
	assert_stun("STUN:Stun.Example.org", "Stun.Example.org", 3478);
	assert_stun("192.0.2.7:1", "192.0.2.7", 1);
	assert_stun("192.0.2.7:65535", "192.0.2.7", 65535);
	assert_stun("[2001:db8::1]:3479", "2001:db8::1", 3479);
	assert_stun("[::1]", "::1", 3478);
	assert_stun("stun:[::ffff:192.0.2.1]:5", "::ffff:192.0.2.1", 5);
	assert_stun("localhost", "localhost", 3478);
	assert_stun(long_host, long_host, 3478);
}

static void
test_ice_stun_bad(void)
{
	g_autofree gchar *too_long_host = g_strnfill(254, 'a');

	assert_bad_stun("", "host");
	assert_bad_stun("stun:", "host");
	assert_bad_stun(":3478", "host");
	assert_bad_stun("host:", "port");
	assert_bad_stun("host:0", "port");
	assert_bad_stun("host:65536", "port");
	assert_bad_stun("host:123456", "port");
	assert_bad_stun("host:12a", "port");
	assert_bad_stun("host:+1", "port");
	assert_bad_stun("host:-1", "port");
	assert_bad_stun("host: 1", "port");
	assert_bad_stun("2001:db8::1", "brackets");
	assert_bad_stun("[2001:db8::1", "']'");
	assert_bad_stun("[stun.example.org]:1", "IPv6");
	assert_bad_stun("[192.0.2.1]:1", "IPv6");
	assert_bad_stun("[::1]x", "after");
	assert_bad_stun("[::1]:", "port");
	assert_bad_stun("stuns:host", "TLS");
	assert_bad_stun("turn:host", "TURN");
	assert_bad_stun("stun://host", "//");
	assert_bad_stun("host name", NULL);
	assert_bad_stun("host/path", NULL);
	assert_bad_stun("stun:host?transport=udp", NULL);
	assert_bad_stun("user@host", NULL);
	assert_bad_stun("host\n", NULL);
	assert_bad_stun("\xff", "UTF-8");
	assert_bad_stun(too_long_host, "longer");
}

static void
test_ice_stun_to_string(void)
{
	g_autoptr(PlStunServer) v4 = pl_stun_server_parse("stun:192.0.2.1", NULL);
	g_autoptr(PlStunServer) v6 = pl_stun_server_parse("[2001:db8::9]:7", NULL);
	g_autofree gchar *v4_text = pl_stun_server_to_string(v4);
	g_autofree gchar *v6_text = pl_stun_server_to_string(v6);
	g_autoptr(PlStunServer) again = pl_stun_server_parse(v6_text, NULL);

	g_assert_cmpstr(v4_text, ==, "192.0.2.1:3478");
	g_assert_cmpstr(v6_text, ==, "[2001:db8::9]:7");
	g_assert_cmpstr(again->host, ==, "2001:db8::9");
	g_assert_cmpuint(again->port, ==, 7);

	/* a host named like a scheme: "stun:3478" would read back as the host "3478"
	 * (found by fuzz/fuzz-ice-servers) */
	for (guint i = 0; i < 4; i++) {
		const gchar *names[] = {"stun", "STUNS", "turn", "Turns"};
		g_autoptr(PlStunServer) named = pl_stun_server_parse(names[i], NULL);
		g_autofree gchar *text = pl_stun_server_to_string(named);
		g_autoptr(PlStunServer) back = pl_stun_server_parse(text, NULL);

		g_assert_nonnull(back);
		g_assert_cmpstr(back->host, ==, names[i]);
		g_assert_cmpuint(back->port, ==, 3478);
	}
}

/* -------------------------------------------------------------------------- */

static void
assert_turn(const gchar *uri,
            const gchar *host,
            guint16 port,
            PlIceTransport transport,
            const gchar *username,
            const gchar *password)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlTurnServer) server = pl_turn_server_parse(uri, &error);
	g_autofree gchar *escaped = g_strescape(uri, NULL);

	g_test_message("TURN %s", escaped);
	g_assert_no_error(error);
	g_assert_nonnull(server);
	g_assert_cmpstr(server->host, ==, host);
	g_assert_cmpuint(server->port, ==, port);
	g_assert_cmpint(server->transport, ==, transport);
	g_assert_cmpstr(server->username, ==, username);
	g_assert_cmpstr(server->password, ==, password);
}

static void
assert_bad_turn(const gchar *uri, const gchar *needle)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlTurnServer) server = pl_turn_server_parse(uri, &error);
	g_autofree gchar *escaped = g_strescape(uri, NULL);

	g_test_message("bad TURN %s", escaped);
	g_assert_null(server);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	if (needle != NULL && strstr(error->message, needle) == NULL)
		g_error("message \"%s\" does not mention %s", error->message, needle);
	/* never a password in an error */
	g_assert_null(strstr(error->message, "secret"));
}

static void
test_ice_turn_good(void)
{
	const PlIceTransport udp = PL_ICE_TRANSPORT_UDP;
	const PlIceTransport tcp = PL_ICE_TRANSPORT_TCP;

	assert_turn("turn:turn.example.org", "turn.example.org", 3478, udp, NULL, NULL);
	assert_turn("TURN:turn.example.org:3479", "turn.example.org", 3479, udp, NULL, NULL);
	assert_turn("turn:192.0.2.1:443?transport=tcp", "192.0.2.1", 443, tcp, NULL, NULL);
	assert_turn("turn:192.0.2.1?transport=udp", "192.0.2.1", 3478, udp, NULL, NULL);
	assert_turn("turn:h?transport=TCP", "h", 3478, tcp, NULL, NULL);
	assert_turn("turn:[2001:db8::2]:5000?transport=tcp", "2001:db8::2", 5000, tcp, NULL, NULL);
	assert_turn("turn:alice:s3cret@turn.example.org", "turn.example.org", 3478, udp, "alice",
	            "s3cret");
	/* the password keeps its colons; the user name needs %3A for one */
	assert_turn("turn:alice:a:b:c@h:1", "h", 1, udp, "alice", "a:b:c");
	assert_turn("turn:1764000000%3AAXPI7DZ:p%40ss%2Fw%3Fo%25rd@h?transport=tcp", "h", 3478, tcp,
	            "1764000000:AXPI7DZ", "p@ss/w?o%rd");
	/* an unencoded '@' in the password: the last one ends the credentials */
	assert_turn("turn:bob:p@ss@[::1]:9", "::1", 9, udp, "bob", "p@ss");
	assert_turn("turn:%C3%A9l%C3%A8ve:mot%20de%20passe@h", "h", 3478, udp, "élève",
	            "mot de passe");
	assert_turn("turn:u:base64+/=@h", "h", 3478, udp, "u", "base64+/=");
}

static void
test_ice_turn_bad(void)
{
	assert_bad_turn("turns:turn.example.org", "turns:");
	assert_bad_turn("turns:user:secret@turn.example.org:5349", "libnice");
	assert_bad_turn("TURNS:h", "turns:");
	assert_bad_turn("stun:h", "turn:");
	assert_bad_turn("h:3478", "turn:");
	assert_bad_turn("", "turn:");
	assert_bad_turn("turn:", "host");
	assert_bad_turn("turn://h", "//");
	assert_bad_turn("turn:h?transport=sctp", "udp or tcp");
	assert_bad_turn("turn:h?transport=", "udp or tcp");
	assert_bad_turn("turn:h?foo=bar", "parameter");
	assert_bad_turn("turn:h?", "parameter");
	assert_bad_turn("turn:h?transport=udp&transport=tcp", "parameter");
	assert_bad_turn("turn:h?transport=udp&", "parameter");
	assert_bad_turn("turn:secret@h", "USER:PASSWORD");
	assert_bad_turn("turn::secret@h", "user name");
	assert_bad_turn("turn:user:@h", "password");
	assert_bad_turn("turn:user:secret%zz@h", "percent");
	assert_bad_turn("turn:user:secret%2@h", "percent");
	assert_bad_turn("turn:user:secret%00x@h", "percent");
	assert_bad_turn("turn:user:secret%01x@h", "control");
	assert_bad_turn("turn:user:secret%FF@h", "UTF-8");
	assert_bad_turn("turn:user:secret@", "host");
	assert_bad_turn("turn:user:secret@h:0", "port");
	assert_bad_turn("turn:user:secret@h:65536?transport=tcp", "port");
	assert_bad_turn("turn:user:secret@2001:db8::1", "brackets");
	assert_bad_turn("turn:user:secret@[::1", "']'");
	assert_bad_turn("turn:h h", NULL);
	assert_bad_turn("turn:h/x", NULL);
	assert_bad_turn("\xfe", "UTF-8");
}

static void
test_ice_turn_long_credentials(void)
{
	g_autofree gchar *longest = g_strnfill(512, 'u');
	g_autofree gchar *too_long = g_strnfill(513, 'u');
	g_autofree gchar *good = g_strdup_printf("turn:%s:pw@h", longest);
	g_autofree gchar *bad = g_strdup_printf("turn:%s:secret@h", too_long);

	assert_turn(good, "h", 3478, PL_ICE_TRANSPORT_UDP, longest, "pw");
	assert_bad_turn(bad, "512");
}

static void
test_ice_turn_to_string(void)
{
	g_autoptr(PlTurnServer) udp = pl_turn_server_parse("turn:u:secret@h", NULL);
	g_autoptr(PlTurnServer) tcp = pl_turn_server_parse("turn:[::1]:99?transport=tcp", NULL);
	g_autofree gchar *udp_text = pl_turn_server_to_string(udp);
	g_autofree gchar *tcp_text = pl_turn_server_to_string(tcp);

	g_assert_cmpstr(udp_text, ==, "turn:h:3478?transport=udp");
	g_assert_cmpstr(tcp_text, ==, "turn:[::1]:99?transport=tcp");
}

/* -------------------------------------------------------------------------- */
/* the rendezvous "ice" object */

static JsonObject *
object_from_string(const gchar *text)
{
	g_autoptr(JsonNode) node = json_from_string(text, NULL);

	g_assert_nonnull(node);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(node));
	return json_node_dup_object(node);
}

static void
parse_ice(const gchar *text, GPtrArray **stun, GPtrArray **turn)
{
	g_autoptr(JsonObject) ice = object_from_string(text);
	g_autoptr(GError) error = NULL;

	*stun = g_ptr_array_new_with_free_func((GDestroyNotify)pl_stun_server_free);
	*turn = g_ptr_array_new_with_free_func((GDestroyNotify)pl_turn_server_free);
	g_assert_true(pl_ice_servers_from_json(ice, *stun, *turn, &error));
	g_assert_no_error(error);
}

static void
test_ice_json_good(void)
{
	g_autoptr(GPtrArray) stun = NULL;
	g_autoptr(GPtrArray) turn = NULL;
	PlStunServer *s;
	PlTurnServer *t;

	/* as in docs/rendezvous-api.md */
	parse_ice("{\"stun\": [\"stun:198.51.100.10:3478\"],"
	          " \"turn\": [{\"urls\": [\"turn:198.51.100.10:3478?transport=udp\","
	          "                      \"turn:198.51.100.10:3478?transport=tcp\"],"
	          "            \"username\": \"1764000000:AXPI7DZ\","
	          "            \"credential\": \"c2VjcmV0\", \"ttl\": 43200}]}",
	          &stun, &turn);
	g_assert_cmpuint(stun->len, ==, 1);
	s = g_ptr_array_index(stun, 0);
	g_assert_cmpstr(s->host, ==, "198.51.100.10");
	g_assert_cmpuint(s->port, ==, 3478);
	g_assert_cmpuint(turn->len, ==, 2);
	for (guint i = 0; i < 2; i++) {
		t = g_ptr_array_index(turn, i);
		g_assert_cmpstr(t->host, ==, "198.51.100.10");
		g_assert_cmpuint(t->port, ==, 3478);
		g_assert_cmpstr(t->username, ==, "1764000000:AXPI7DZ");
		g_assert_cmpstr(t->password, ==, "c2VjcmV0");
	}
	g_assert_cmpint(((PlTurnServer *)g_ptr_array_index(turn, 0))->transport, ==,
	                PL_ICE_TRANSPORT_UDP);
	g_assert_cmpint(((PlTurnServer *)g_ptr_array_index(turn, 1))->transport, ==,
	                PL_ICE_TRANSPORT_TCP);
}

static void
test_ice_json_empty(void)
{
	const gchar *texts[] = {"{}", "{\"stun\": [], \"turn\": []}", "{\"other\": 1}"};

	for (guint i = 0; i < G_N_ELEMENTS(texts); i++) {
		g_autoptr(GPtrArray) stun = NULL;
		g_autoptr(GPtrArray) turn = NULL;
		parse_ice(texts[i], &stun, &turn);
		g_assert_cmpuint(stun->len, ==, 0);
		g_assert_cmpuint(turn->len, ==, 0);
	}
}

static void
test_ice_json_wrong_shape(void)
{
	const gchar *texts[] = {
	        "{\"stun\": \"stun:h\"}",
	        "{\"stun\": null}",
	        "{\"stun\": {}}",
	        "{\"turn\": {\"urls\": [\"turn:h\"]}}",
	        "{\"stun\": [\"stun:h\"], \"turn\": 1}",
	};

	for (guint i = 0; i < G_N_ELEMENTS(texts); i++) {
		g_autoptr(JsonObject) ice = object_from_string(texts[i]);
		g_autoptr(GPtrArray) stun =
		        g_ptr_array_new_with_free_func((GDestroyNotify)pl_stun_server_free);
		g_autoptr(GPtrArray) turn =
		        g_ptr_array_new_with_free_func((GDestroyNotify)pl_turn_server_free);
		g_autoptr(GError) error = NULL;

		g_assert_false(pl_ice_servers_from_json(ice, stun, turn, &error));
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
		/* nothing was added before the shape was known to be wrong */
		g_assert_cmpuint(stun->len, ==, 0);
		g_assert_cmpuint(turn->len, ==, 0);
	}
}

static void
test_ice_json_skips_unusable(void)
{
	g_autoptr(GPtrArray) stun = NULL;
	g_autoptr(GPtrArray) turn = NULL;
	PlTurnServer *t;

	parse_ice("{\"stun\": [42, \"bad host\", null, \"stuns:h\", \"stun:good\", \"[::1]:9\"],"
	          " \"turn\": ["
	          "   42,"
	          "   {\"urls\": \"turn:single\", \"username\": \"u1\", \"credential\": \"p1\"},"
	          "   {\"urls\": [\"turns:x:5349\", \"turn:y\", 5, \"garbage\"],"
	          "    \"username\": \"u2\", \"credential\": \"p2\"},"
	          "   {\"urls\": [\"turn:nocreds\", \"turn:uri:creds@inuri\"]},"
	          "   {\"urls\": [\"turn:half\"], \"username\": \"u3\"},"
	          "   {\"urls\": [\"turn:numeric\"], \"username\": \"u4\", \"credential\": 4},"
	          "   {\"username\": \"u5\", \"credential\": \"p5\"},"
	          "   {\"urls\": [\"turn:a:b@override\"], \"username\": \"u6\","
	          "    \"credential\": \"p6\"}"
	          " ]}",
	          &stun, &turn);
	g_assert_cmpuint(stun->len, ==, 2);
	g_assert_cmpstr(((PlStunServer *)g_ptr_array_index(stun, 0))->host, ==, "good");
	g_assert_cmpstr(((PlStunServer *)g_ptr_array_index(stun, 1))->host, ==, "::1");

	g_assert_cmpuint(turn->len, ==, 4);
	t = g_ptr_array_index(turn, 0);
	g_assert_cmpstr(t->host, ==, "single");
	g_assert_cmpstr(t->username, ==, "u1");
	g_assert_cmpstr(t->password, ==, "p1");
	t = g_ptr_array_index(turn, 1);
	g_assert_cmpstr(t->host, ==, "y");
	g_assert_cmpstr(t->username, ==, "u2");
	t = g_ptr_array_index(turn, 2);
	g_assert_cmpstr(t->host, ==, "inuri");
	g_assert_cmpstr(t->username, ==, "uri");
	g_assert_cmpstr(t->password, ==, "creds");
	t = g_ptr_array_index(turn, 3);
	g_assert_cmpstr(t->host, ==, "override");
	g_assert_cmpstr(t->username, ==, "u6");
	g_assert_cmpstr(t->password, ==, "p6");
}

static void
test_ice_json_appends(void)
{
	g_autoptr(JsonObject) ice = object_from_string("{\"stun\": [\"stun:b\"]}");
	g_autoptr(GPtrArray) stun =
	        g_ptr_array_new_with_free_func((GDestroyNotify)pl_stun_server_free);
	g_autoptr(GPtrArray) turn =
	        g_ptr_array_new_with_free_func((GDestroyNotify)pl_turn_server_free);

	/* servers from the command line come first and stay */
	g_ptr_array_add(stun, pl_stun_server_parse("a", NULL));
	g_assert_true(pl_ice_servers_from_json(ice, stun, turn, NULL));
	g_assert_cmpuint(stun->len, ==, 2);
	g_assert_cmpstr(((PlStunServer *)g_ptr_array_index(stun, 0))->host, ==, "a");
	g_assert_cmpstr(((PlStunServer *)g_ptr_array_index(stun, 1))->host, ==, "b");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerlink/ice-servers/stun/good", test_ice_stun_good);
	g_test_add_func("/peerlink/ice-servers/stun/bad", test_ice_stun_bad);
	g_test_add_func("/peerlink/ice-servers/stun/to-string", test_ice_stun_to_string);
	g_test_add_func("/peerlink/ice-servers/turn/good", test_ice_turn_good);
	g_test_add_func("/peerlink/ice-servers/turn/bad", test_ice_turn_bad);
	g_test_add_func("/peerlink/ice-servers/turn/long-credentials",
	                test_ice_turn_long_credentials);
	g_test_add_func("/peerlink/ice-servers/turn/to-string", test_ice_turn_to_string);
	g_test_add_func("/peerlink/ice-servers/json/good", test_ice_json_good);
	g_test_add_func("/peerlink/ice-servers/json/empty", test_ice_json_empty);
	g_test_add_func("/peerlink/ice-servers/json/wrong-shape", test_ice_json_wrong_shape);
	g_test_add_func("/peerlink/ice-servers/json/skips-unusable", test_ice_json_skips_unusable);
	g_test_add_func("/peerlink/ice-servers/json/appends", test_ice_json_appends);
	return g_test_run();
}
