/*
 * Short-lived TURN credentials in coturn's REST scheme ("use-auth-secret"):
 * username "<unix expiry>:<peer-id>", password base64(HMAC-SHA1(secret,
 * username)), and the "ice" object handed to clients. Pure functions.
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define PL_TURN_DEFAULT_TTL_S 43200
#define PL_TURN_MAX_TTL_S     86400

gchar *pl_turn_credentials_username(gint64 expiry_unix, const gchar *peer_id);
gchar *pl_turn_credentials_password(const gchar *secret, const gchar *username);

/* turn:HOST[:PORT][?transport=udp|tcp], turns:…; stun:HOST[:PORT], stuns:… */
gboolean pl_turn_uri_check(const gchar *uri, gboolean turn, GError **error);
/* stun:HOST:PORT (stuns: for turns:) for each distinct HOST:PORT of the TURN URIs */
GStrv pl_turn_stun_uris_from_turn(const gchar *const *turn_uris);

/*
 * {"stun":[…],"turn":[{"urls":[…],"username","credential","ttl"}]}; the turn
 * list is empty without a secret or TURN URIs; stun_uris NULL or empty: derived
 */
JsonObject *pl_turn_credentials_build_ice(const gchar *secret,
                                          const gchar *const *turn_uris,
                                          const gchar *const *stun_uris,
                                          guint ttl_s,
                                          gint64 now_unix,
                                          const gchar *peer_id);

G_END_DECLS
