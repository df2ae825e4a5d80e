#include "config.h"

#include <string.h>

#include "pl-turn-credentials.h"

gchar *
pl_turn_credentials_username(gint64 expiry_unix, const gchar *peer_id)
{
	g_return_val_if_fail(peer_id != NULL, NULL);
	return g_strdup_printf("%" G_GINT64_FORMAT ":%s", expiry_unix, peer_id);
}

gchar *
pl_turn_credentials_password(const gchar *secret, const gchar *username)
{
	g_autoptr(GHmac) hmac = NULL;
	guint8 digest[20];
	gsize digest_len = sizeof(digest);

	g_return_val_if_fail(secret != NULL, NULL);
	g_return_val_if_fail(username != NULL, NULL);

	hmac = g_hmac_new(G_CHECKSUM_SHA1, (const guchar *)secret, strlen(secret));
	g_hmac_update(hmac, (const guchar *)username, -1);
	g_hmac_get_digest(hmac, digest, &digest_len);
	return g_base64_encode(digest, digest_len);
}

/* splits "scheme:host[:port][?query]"; host without brackets, port 0 when absent */
static gboolean
pl_turn_uri_split(const gchar *uri, gchar **scheme, gchar **host, guint *port, gchar **query)
{
	const gchar *colon = strchr(uri, ':');
	const gchar *rest;
	const gchar *question;
	g_autofree gchar *authority = NULL;
	const gchar *port_text = NULL;
	guint64 port_value = 0;

	if (colon == NULL)
		return FALSE;
	*scheme = g_ascii_strdown(uri, colon - uri);
	rest = colon + 1;
	question = strchr(rest, '?');
	authority = question != NULL ? g_strndup(rest, question - rest) : g_strdup(rest);
	*query = question != NULL ? g_strdup(question + 1) : NULL;
	if (authority[0] == '[') {
		gchar *end = strchr(authority, ']');
		if (end == NULL)
			return FALSE;
		*host = g_strndup(authority + 1, end - authority - 1);
		if (end[1] == ':')
			port_text = end + 2;
		else if (end[1] != '\0')
			return FALSE;
	} else {
		gchar *last = strrchr(authority, ':');
		if (last != NULL) {
			*host = g_strndup(authority, last - authority);
			port_text = last + 1;
		} else {
			*host = g_strdup(authority);
		}
	}
	if (port_text != NULL) {
		if (!g_ascii_string_to_unsigned(port_text, 10, 1, 65535, &port_value, NULL))
			return FALSE;
	}
	*port = (guint)port_value;
	return TRUE;
}

static gboolean
pl_turn_host_is_valid(const gchar *host)
{
	if (host == NULL || host[0] == '\0' || strlen(host) > 253)
		return FALSE;
	for (const gchar *p = host; *p != '\0'; p++) {
		if (!(g_ascii_isalnum(*p) || *p == '-' || *p == '.' || *p == ':' || *p == '_'))
			return FALSE;
	}
	return TRUE;
}

gboolean
pl_turn_uri_check(const gchar *uri, gboolean turn, GError **error)
{
	g_autofree gchar *scheme = NULL;
	g_autofree gchar *host = NULL;
	g_autofree gchar *query = NULL;
	guint port = 0;
	const gchar *kind = turn ? "TURN" : "STUN";

	g_return_val_if_fail(uri != NULL, FALSE);

	if (!pl_turn_uri_split(uri, &scheme, &host, &port, &query) ||
	    !pl_turn_host_is_valid(host)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		            "invalid %s URI \"%s\": expected %s:HOST[:PORT]", kind, uri,
		            turn ? "turn" : "stun");
		return FALSE;
	}
	if (turn && g_strcmp0(scheme, "turn") != 0 && g_strcmp0(scheme, "turns") != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		            "invalid TURN URI \"%s\": the scheme must be turn or turns", uri);
		return FALSE;
	}
	if (!turn && g_strcmp0(scheme, "stun") != 0 && g_strcmp0(scheme, "stuns") != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		            "invalid STUN URI \"%s\": the scheme must be stun or stuns", uri);
		return FALSE;
	}
	if (query != NULL && !(turn && (g_strcmp0(query, "transport=udp") == 0 ||
	                                g_strcmp0(query, "transport=tcp") == 0))) {
		g_set_error(
		        error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		        "invalid %s URI \"%s\": only ?transport=udp or ?transport=tcp may follow",
		        kind, uri);
		return FALSE;
	}
	return TRUE;
}

GStrv
pl_turn_stun_uris_from_turn(const gchar *const *turn_uris)
{
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	for (guint i = 0; turn_uris != NULL && turn_uris[i] != NULL; i++) {
		g_autofree gchar *scheme = NULL;
		g_autofree gchar *host = NULL;
		g_autofree gchar *query = NULL;
		g_autofree gchar *stun = NULL;
		gboolean tls;
		guint port = 0;

		if (!pl_turn_uri_split(turn_uris[i], &scheme, &host, &port, &query))
			continue;
		tls = g_strcmp0(scheme, "turns") == 0;
		if (port == 0)
			port = tls ? 5349 : 3478;
		stun = g_strdup_printf(strchr(host, ':') != NULL ? "%s:[%s]:%u" : "%s:%s:%u",
		                       tls ? "stuns" : "stun", host, port);
		if (g_hash_table_contains(seen, stun))
			continue;
		g_strv_builder_add(builder, stun);
		g_hash_table_add(seen, g_steal_pointer(&stun));
	}
	return g_strv_builder_end(builder);
}

JsonObject *
pl_turn_credentials_build_ice(const gchar *secret,
                              const gchar *const *turn_uris,
                              const gchar *const *stun_uris,
                              guint ttl_s,
                              gint64 now_unix,
                              const gchar *peer_id)
{
	g_autoptr(JsonObject) ice = json_object_new();
	g_autoptr(JsonArray) stun = json_array_new();
	g_autoptr(JsonArray) turn = json_array_new();
	g_auto(GStrv) derived = NULL;

	g_return_val_if_fail(peer_id != NULL, NULL);

	if (stun_uris == NULL || stun_uris[0] == NULL) {
		derived = pl_turn_stun_uris_from_turn(turn_uris);
		stun_uris = (const gchar *const *)derived;
	}
	for (guint i = 0; stun_uris[i] != NULL; i++)
		json_array_add_string_element(stun, stun_uris[i]);

	if (secret != NULL && turn_uris != NULL && turn_uris[0] != NULL) {
		g_autoptr(JsonObject) server = json_object_new();
		g_autoptr(JsonArray) urls = json_array_new();
		g_autofree gchar *username =
		        pl_turn_credentials_username(now_unix + ttl_s, peer_id);
		g_autofree gchar *password = pl_turn_credentials_password(secret, username);

		for (guint i = 0; turn_uris[i] != NULL; i++)
			json_array_add_string_element(urls, turn_uris[i]);
		json_object_set_array_member(server, "urls", g_steal_pointer(&urls));
		json_object_set_string_member(server, "username", username);
		json_object_set_string_member(server, "credential", password);
		json_object_set_int_member(server, "ttl", ttl_s);
		json_array_add_object_element(turn, g_steal_pointer(&server));
	}
	json_object_set_array_member(ice, "stun", g_steal_pointer(&stun));
	json_object_set_array_member(ice, "turn", g_steal_pointer(&turn));
	return g_steal_pointer(&ice);
}
