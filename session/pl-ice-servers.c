#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "pl-ice-servers.h"

#define PL_ICE_DEFAULT_PORT       3478
#define PL_ICE_MAX_HOST_LEN       253
#define PL_ICE_MAX_CREDENTIAL_LEN 512 /* bytes, decoded; STUN allows 513 for USERNAME */
#define PL_ICE_HOST_DELIMITERS    "[]/?#@:%\\\"'<>"

void
pl_stun_server_free(PlStunServer *self)
{
	if (self == NULL)
		return;
	g_free(self->host);
	g_free(self);
}

void
pl_turn_server_free(PlTurnServer *self)
{
	if (self == NULL)
		return;
	g_free(self->host);
	g_free(self->username);
	g_free(self->password);
	g_free(self);
}

static gboolean pl_ice_fail(GError **error, const gchar *what, const gchar *format, ...)
        G_GNUC_PRINTF(3, 4);

/* "Invalid <what>: <reason>"; the input is not repeated: it may hold a password */
static gboolean
pl_ice_fail(GError **error, const gchar *what, const gchar *format, ...)
{
	g_autofree gchar *reason = NULL;
	va_list args;

	va_start(args, format);
	reason = g_strdup_vprintf(format, args);
	va_end(args);
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "Invalid %s: %s", what, reason);
	return FALSE;
}

static gboolean
pl_ice_has_scheme(const gchar *text, const gchar *scheme)
{
	return g_ascii_strncasecmp(text, scheme, strlen(scheme)) == 0;
}

/* -------------------------------------------------------------------------- */
/* HOST[:PORT] */

static gboolean
pl_ice_parse_port(const gchar *text, guint16 *port, const gchar *what, GError **error)
{
	guint64 value = 0;
	gsize len = strlen(text);

	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_isdigit(text[i]))
			return pl_ice_fail(error, what,
			                   "the port must be a number from 1 to 65535");
	}
	if (len == 0 || len > 5)
		return pl_ice_fail(error, what, "the port must be a number from 1 to 65535");
	value = g_ascii_strtoull(text, NULL, 10);
	if (value < 1 || value > G_MAXUINT16)
		return pl_ice_fail(error, what, "the port must be a number from 1 to 65535");
	*port = (guint16)value;
	return TRUE;
}

static gboolean
pl_ice_check_host_name(const gchar *host, const gchar *what, GError **error)
{
	gsize len = strlen(host);

	if (len == 0)
		return pl_ice_fail(error, what, "the host is missing");
	if (len > PL_ICE_MAX_HOST_LEN)
		return pl_ice_fail(error, what, "the host name is longer than %d characters",
		                   PL_ICE_MAX_HOST_LEN);
	for (gsize i = 0; i < len; i++) {
		guchar c = (guchar)host[i];
		if (c <= 0x20 || c == 0x7f || strchr(PL_ICE_HOST_DELIMITERS, c) != NULL)
			return pl_ice_fail(error, what,
			                   "the host must be a name, an IPv4 address or an IPv6 "
			                   "address in brackets");
	}
	return TRUE;
}

/* "[V6]...": the address into host, and what follows the ']'; NULL on error */
static const gchar *
pl_ice_parse_bracketed(const gchar *text, gchar **host, const gchar *what, GError **error)
{
	const gchar *end = strchr(text, ']');
	g_autofree gchar *address = NULL;

	if (end == NULL) {
		pl_ice_fail(error, what, "the IPv6 address lacks its closing ']'");
		return NULL;
	}
	address = g_strndup(text + 1, end - text - 1);
	if (strchr(address, ':') == NULL || !g_hostname_is_ip_address(address)) {
		pl_ice_fail(error, what, "there is no IPv6 address between '[' and ']'");
		return NULL;
	}
	*host = g_steal_pointer(&address);
	return end + 1;
}

static gboolean
pl_ice_parse_host_port(
        const gchar *text, gchar **host_out, guint16 *port_out, const gchar *what, GError **error)
{
	g_autofree gchar *host = NULL;
	const gchar *rest;
	const gchar *colon;

	if (text[0] == '[') {
		rest = pl_ice_parse_bracketed(text, &host, what, error);
		if (rest == NULL)
			return FALSE;
		if (rest[0] != '\0' && rest[0] != ':')
			return pl_ice_fail(error, what, "unexpected text after the IPv6 address");
	} else {
		colon = strchr(text, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			return pl_ice_fail(error, what,
			                   "an IPv6 address must be written in brackets, as in "
			                   "[2001:db8::1]:3478");
		host = colon != NULL ? g_strndup(text, colon - text) : g_strdup(text);
		rest = colon != NULL ? colon : "";
		if (!pl_ice_check_host_name(host, what, error))
			return FALSE;
	}
	*port_out = PL_ICE_DEFAULT_PORT;
	if (rest[0] == ':' && !pl_ice_parse_port(rest + 1, port_out, what, error))
		return FALSE;
	*host_out = g_steal_pointer(&host);
	return TRUE;
}

static gchar *
pl_ice_format_host_port(const gchar *host, guint16 port)
{
	if (strchr(host, ':') != NULL)
		return g_strdup_printf("[%s]:%u", host, port);
	return g_strdup_printf("%s:%u", host, port);
}

/* -------------------------------------------------------------------------- */
/* STUN */

PlStunServer *
pl_stun_server_parse(const gchar *text, GError **error)
{
	const gchar *what = "STUN server";
	g_autoptr(PlStunServer) server = g_new0(PlStunServer, 1);
	const gchar *rest = text;

	g_return_val_if_fail(text != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (!g_utf8_validate(text, -1, NULL)) {
		pl_ice_fail(error, what, "not valid UTF-8");
		return NULL;
	}
	if (pl_ice_has_scheme(text, "stuns:")) {
		pl_ice_fail(error, what, "STUN over TLS (stuns:) is not supported");
		return NULL;
	}
	if (pl_ice_has_scheme(text, "turn:") || pl_ice_has_scheme(text, "turns:")) {
		pl_ice_fail(error, what, "this is a TURN URI, not a STUN server");
		return NULL;
	}
	if (pl_ice_has_scheme(text, "stun:"))
		rest = text + strlen("stun:");
	if (g_str_has_prefix(rest, "//")) {
		pl_ice_fail(error, what, "write stun:HOST[:PORT], without \"//\"");
		return NULL;
	}
	if (!pl_ice_parse_host_port(rest, &server->host, &server->port, what, error))
		return NULL;
	return g_steal_pointer(&server);
}

gchar *
pl_stun_server_to_string(const PlStunServer *self)
{
	g_autofree gchar *host_port = NULL;

	g_return_val_if_fail(self != NULL && self->host != NULL, NULL);

	host_port = pl_ice_format_host_port(self->host, self->port);
	/* a host named like a scheme ("stun:3478") would read back as a URI */
	if (pl_ice_has_scheme(host_port, "stun:") || pl_ice_has_scheme(host_port, "stuns:") ||
	    pl_ice_has_scheme(host_port, "turn:") || pl_ice_has_scheme(host_port, "turns:"))
		return g_strconcat("stun:", host_port, NULL);
	return g_steal_pointer(&host_port);
}

/* -------------------------------------------------------------------------- */
/* TURN */

static gboolean
pl_ice_parse_query(const gchar *query, PlIceTransport *transport, GError **error)
{
	g_auto(GStrv) params = g_strsplit(query, "&", -1);
	gboolean seen = FALSE;

	if (query[0] == '\0')
		return pl_ice_fail(error, "TURN URI", "the '?' is followed by no parameter");
	for (guint i = 0; params[i] != NULL; i++) {
		const gchar *value;
		if (!pl_ice_has_scheme(params[i], "transport=") || seen)
			return pl_ice_fail(error, "TURN URI",
			                   "the only parameter is one transport=udp or "
			                   "transport=tcp");
		value = params[i] + strlen("transport=");
		if (g_ascii_strcasecmp(value, "udp") == 0)
			*transport = PL_ICE_TRANSPORT_UDP;
		else if (g_ascii_strcasecmp(value, "tcp") == 0)
			*transport = PL_ICE_TRANSPORT_TCP;
		else
			return pl_ice_fail(error, "TURN URI", "the transport must be udp or tcp");
		seen = TRUE;
	}
	return TRUE;
}

static gchar *
pl_ice_decode_credential(const gchar *text, const gchar *name, GError **error)
{
	g_autofree gchar *decoded = NULL;

	if (text[0] == '\0') {
		pl_ice_fail(error, "TURN URI", "the %s is empty", name);
		return NULL;
	}
	decoded = g_uri_unescape_string(text, NULL);
	if (decoded == NULL) {
		pl_ice_fail(error, "TURN URI", "the %s has a bad percent-encoding", name);
		return NULL;
	}
	if (strlen(decoded) > PL_ICE_MAX_CREDENTIAL_LEN || !g_utf8_validate(decoded, -1, NULL)) {
		pl_ice_fail(error, "TURN URI", "the %s must be UTF-8 of at most %d bytes", name,
		            PL_ICE_MAX_CREDENTIAL_LEN);
		return NULL;
	}
	for (const gchar *p = decoded; *p != '\0'; p = g_utf8_next_char(p)) {
		if (g_unichar_iscntrl(g_utf8_get_char(p))) {
			pl_ice_fail(error, "TURN URI", "the %s holds a control character", name);
			return NULL;
		}
	}
	return g_steal_pointer(&decoded);
}

/* USER:PASSWORD, each percent-encoded; the first ':' separates them */
static gboolean
pl_ice_parse_credentials(const gchar *userinfo, PlTurnServer *server, GError **error)
{
	const gchar *colon = strchr(userinfo, ':');
	g_autofree gchar *user = NULL;

	if (colon == NULL)
		return pl_ice_fail(error, "TURN URI",
		                   "credentials are written USER:PASSWORD@ before the host");
	user = g_strndup(userinfo, colon - userinfo);
	server->username = pl_ice_decode_credential(user, "user name", error);
	if (server->username == NULL)
		return FALSE;
	server->password = pl_ice_decode_credential(colon + 1, "password", error);
	return server->password != NULL;
}

/* what follows "turn:", or NULL */
static const gchar *
pl_ice_skip_turn_scheme(const gchar *uri, GError **error)
{
	const gchar *what = "TURN URI";
	const gchar *rest;

	if (!g_utf8_validate(uri, -1, NULL)) {
		pl_ice_fail(error, what, "not valid UTF-8");
		return NULL;
	}
	if (pl_ice_has_scheme(uri, "turns:")) {
		pl_ice_fail(error, what,
		            "TURN over TLS (turns:) is not supported, because libnice 0.1.21 "
		            "cannot verify the server's certificate; use turn: with "
		            "transport=udp or transport=tcp");
		return NULL;
	}
	if (!pl_ice_has_scheme(uri, "turn:")) {
		pl_ice_fail(error, what,
		            "it must look like turn:[USER:PASSWORD@]HOST[:PORT]"
		            "[?transport=udp|tcp]");
		return NULL;
	}
	rest = uri + strlen("turn:");
	if (g_str_has_prefix(rest, "//")) {
		pl_ice_fail(error, what, "write turn:HOST[:PORT], without \"//\"");
		return NULL;
	}
	return rest;
}

PlTurnServer *
pl_turn_server_parse(const gchar *uri, GError **error)
{
	const gchar *what = "TURN URI";
	g_autoptr(PlTurnServer) server = g_new0(PlTurnServer, 1);
	g_autofree gchar *authority = NULL;
	const gchar *rest;
	const gchar *query;
	const gchar *at;

	g_return_val_if_fail(uri != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	rest = pl_ice_skip_turn_scheme(uri, error);
	if (rest == NULL)
		return NULL;
	server->transport = PL_ICE_TRANSPORT_UDP;
	query = strchr(rest, '?');
	authority = query != NULL ? g_strndup(rest, query - rest) : g_strdup(rest);
	if (query != NULL && !pl_ice_parse_query(query + 1, &server->transport, error))
		return NULL;
	/* the last '@': a password may hold an unencoded one, a host never does */
	at = strrchr(authority, '@');
	if (at != NULL) {
		g_autofree gchar *userinfo = g_strndup(authority, at - authority);
		if (!pl_ice_parse_credentials(userinfo, server, error))
			return NULL;
	}
	if (!pl_ice_parse_host_port(at != NULL ? at + 1 : authority, &server->host, &server->port,
	                            what, error))
		return NULL;
	return g_steal_pointer(&server);
}

gchar *
pl_turn_server_to_string(const PlTurnServer *self)
{
	g_autofree gchar *host_port = NULL;

	g_return_val_if_fail(self != NULL && self->host != NULL, NULL);

	host_port = pl_ice_format_host_port(self->host, self->port);
	return g_strdup_printf("turn:%s?transport=%s", host_port,
	                       self->transport == PL_ICE_TRANSPORT_TCP ? "tcp" : "udp");
}

/* -------------------------------------------------------------------------- */
/* the rendezvous "ice" object */

/* an absent member is an empty list; a present one must be an array */
static gboolean
pl_ice_get_array(JsonObject *ice, const gchar *field, JsonArray **out, GError **error)
{
	JsonNode *node = json_object_get_member(ice, field);

	*out = NULL;
	if (node == NULL)
		return TRUE;
	if (!JSON_NODE_HOLDS_ARRAY(node)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
		            "the \"ice\" object's \"%s\" must be an array", field);
		return FALSE;
	}
	*out = json_node_get_array(node);
	return TRUE;
}

/* the string value of node, or NULL */
static const gchar *
pl_ice_node_get_string(JsonNode *node)
{
	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(node);
}

static void
pl_ice_add_stun_servers(JsonArray *stun, GPtrArray *stun_servers)
{
	for (guint i = 0; i < json_array_get_length(stun); i++) {
		const gchar *uri = pl_ice_node_get_string(json_array_get_element(stun, i));
		g_autoptr(GError) error_local = NULL;
		PlStunServer *server;

		if (uri == NULL) {
			g_debug("ignoring STUN entry %u: not a string", i);
			continue;
		}
		server = pl_stun_server_parse(uri, &error_local);
		if (server == NULL) {
			g_debug("ignoring STUN entry %u: %s", i, error_local->message);
			continue;
		}
		g_ptr_array_add(stun_servers, server);
	}
}

/* one URL of a "turn" entry, with the entry's credentials when it has them */
static void
pl_ice_add_turn_url(const gchar *url,
                    const gchar *username,
                    const gchar *credential,
                    guint index,
                    GPtrArray *turn_servers)
{
	g_autoptr(GError) error_local = NULL;
	g_autoptr(PlTurnServer) server = NULL;

	if (url == NULL) {
		g_debug("ignoring a URL of TURN entry %u: not a string", index);
		return;
	}
	server = pl_turn_server_parse(url, &error_local);
	if (server == NULL) {
		g_debug("ignoring a URL of TURN entry %u: %s", index, error_local->message);
		return;
	}
	if (username != NULL && credential != NULL) {
		g_free(server->username);
		g_free(server->password);
		server->username = g_strdup(username);
		server->password = g_strdup(credential);
	}
	if (server->username == NULL) {
		g_debug("ignoring a URL of TURN entry %u: no credentials", index);
		return;
	}
	g_ptr_array_add(turn_servers, g_steal_pointer(&server));
}

static void
pl_ice_add_turn_entry(JsonNode *node, guint index, GPtrArray *turn_servers)
{
	JsonObject *entry;
	JsonNode *urls;
	const gchar *username;
	const gchar *credential;

	if (!JSON_NODE_HOLDS_OBJECT(node)) {
		g_debug("ignoring TURN entry %u: not an object", index);
		return;
	}
	entry = json_node_get_object(node);
	username = pl_ice_node_get_string(json_object_get_member(entry, "username"));
	credential = pl_ice_node_get_string(json_object_get_member(entry, "credential"));
	if ((username == NULL) != (credential == NULL)) {
		g_debug("ignoring TURN entry %u: it needs both \"username\" and \"credential\"",
		        index);
		return;
	}
	urls = json_object_get_member(entry, "urls");
	if (urls != NULL && JSON_NODE_HOLDS_ARRAY(urls)) {
		JsonArray *array = json_node_get_array(urls);
		for (guint i = 0; i < json_array_get_length(array); i++)
			pl_ice_add_turn_url(
			        pl_ice_node_get_string(json_array_get_element(array, i)), username,
			        credential, index, turn_servers);
	} else if (pl_ice_node_get_string(urls) != NULL) {
		/* WebRTC's RTCIceServer allows a single URL */
		pl_ice_add_turn_url(pl_ice_node_get_string(urls), username, credential, index,
		                    turn_servers);
	} else {
		g_debug("ignoring TURN entry %u: no \"urls\"", index);
	}
}

gboolean
pl_ice_servers_from_json(JsonObject *ice,
                         GPtrArray *stun_servers,
                         GPtrArray *turn_servers,
                         GError **error)
{
	JsonArray *stun = NULL;
	JsonArray *turn = NULL;

	g_return_val_if_fail(ice != NULL, FALSE);
	g_return_val_if_fail(stun_servers != NULL, FALSE);
	g_return_val_if_fail(turn_servers != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (!pl_ice_get_array(ice, "stun", &stun, error))
		return FALSE;
	if (!pl_ice_get_array(ice, "turn", &turn, error))
		return FALSE;
	if (stun != NULL)
		pl_ice_add_stun_servers(stun, stun_servers);
	for (guint i = 0; turn != NULL && i < json_array_get_length(turn); i++)
		pl_ice_add_turn_entry(json_array_get_element(turn, i), i, turn_servers);
	return TRUE;
}
