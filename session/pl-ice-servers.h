/*
 * STUN and TURN servers for ICE: from the command line and config
 * ("--stun HOST:PORT", "--turn URI") or from the "ice" object the rendezvous
 * service hands out (docs/rendezvous-api.md). Pure parsers, no network.
 *
 * TURN URIs (RFC 7065, plus credentials the way coturn tools accept them):
 *   turn:HOST[:PORT][?transport=udp|tcp]
 *   turn:USER:PASSWORD@HOST[:PORT][?transport=udp|tcp]
 * HOST is a name, an IPv4 address or a bracketed IPv6 address; the port
 * defaults to 3478; without transport= the URI means UDP. "turns:" (TLS) is
 * refused with a clear error: libnice 0.1.21 cannot verify the server.
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef enum {
	PL_ICE_TRANSPORT_UDP,
	PL_ICE_TRANSPORT_TCP,
} PlIceTransport;

typedef struct {
	gchar *host; /* as written, without brackets */
	guint16 port;
} PlStunServer;

typedef struct {
	gchar *host;
	guint16 port;
	PlIceTransport transport;
	gchar *username; /* may be NULL when the URI carries none */
	gchar *password;
} PlTurnServer;

void pl_stun_server_free(PlStunServer *self);
void pl_turn_server_free(PlTurnServer *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlStunServer, pl_stun_server_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlTurnServer, pl_turn_server_free)

/* "HOST:PORT", "HOST" (port 3478), "[V6]:PORT" or "stun:HOST[:PORT]";
 * errors are G_IO_ERROR_INVALID_ARGUMENT with a message for humans */
PlStunServer *pl_stun_server_parse(const gchar *text, GError **error);
PlTurnServer *pl_turn_server_parse(const gchar *uri, GError **error);

/* "host:port" / "turn:host:port?transport=tcp" for logs (no credentials) */
gchar *pl_stun_server_to_string(const PlStunServer *self);
gchar *pl_turn_server_to_string(const PlTurnServer *self);

/*
 * The rendezvous "ice" object: {"stun": [uri...], "turn": [{"urls": [...],
 * "username", "credential"}...]}. Appends PlStunServer and PlTurnServer
 * (the username and credential applied to each URL) to the arrays, which
 * must free their elements. Unusable entries are skipped with a g_debug;
 * FALSE with an error only when the object itself has the wrong shape.
 */
gboolean pl_ice_servers_from_json(JsonObject *ice,
                                  GPtrArray *stun_servers,
                                  GPtrArray *turn_servers,
                                  GError **error);

G_END_DECLS
