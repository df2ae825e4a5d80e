/*
 * A peer ID names a peer by its long-term public key: the SHA-256 digest of
 * the key's DER SubjectPublicKeyInfo, followed by a 3-byte check value, in
 * RFC 4648 base32 (56 characters) and shown as 8 groups of 7 joined by '-'.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define PL_PEER_ID_DIGEST_SIZE 32
#define PL_PEER_ID_STRING_LEN  63 /* 56 base32 characters + 7 dashes */

typedef struct {
	guint8 digest[PL_PEER_ID_DIGEST_SIZE];
} PlPeerId;

#define PL_PEER_ID_ERROR (pl_peer_id_error_quark())
GQuark pl_peer_id_error_quark(void);

typedef enum {
	PL_PEER_ID_ERROR_INVALID_LENGTH,
	PL_PEER_ID_ERROR_INVALID_CHARACTER,
	PL_PEER_ID_ERROR_CHECKSUM,
} PlPeerIdError;

void pl_peer_id_from_public_key(const guint8 *spki_der, gsize spki_len, PlPeerId *out);
gboolean pl_peer_id_parse(const gchar *text, PlPeerId *out, GError **error);
gchar *pl_peer_id_to_string(const PlPeerId *id);
gchar *pl_peer_id_to_short_string(const PlPeerId *id);
gboolean pl_peer_id_equal(const PlPeerId *a, const PlPeerId *b);

G_END_DECLS
