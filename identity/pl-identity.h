#pragma once

#include <gio/gio.h>

#include "pl-peer-id.h"

G_BEGIN_DECLS

#define PL_TYPE_IDENTITY (pl_identity_get_type())
G_DECLARE_FINAL_TYPE(PlIdentity, pl_identity, PL, IDENTITY, GObject)

#define PL_IDENTITY_ERROR (pl_identity_error_quark())
GQuark pl_identity_error_quark(void);

typedef enum {
	PL_IDENTITY_ERROR_CORRUPT,     /* the key file exists but cannot be used */
	PL_IDENTITY_ERROR_PERMISSIONS, /* the key file is readable by others */
	PL_IDENTITY_ERROR_CRYPTO,      /* GnuTLS refused an operation */
	PL_IDENTITY_ERROR_BAD_SIGNATURE,
} PlIdentityError;

#define PL_IDENTITY_KEY_FILENAME "identity.pem"

PlIdentity *pl_identity_generate(GError **error);
PlIdentity *pl_identity_load(const gchar *path, GError **error);
PlIdentity *pl_identity_load_or_create(const gchar *state_dir, gboolean *created, GError **error);
gboolean pl_identity_save(PlIdentity *self, const gchar *path, GError **error);

const PlPeerId *pl_identity_get_peer_id(PlIdentity *self);
const gchar *pl_identity_get_peer_id_string(PlIdentity *self);
GBytes *pl_identity_get_public_key(PlIdentity *self);

GBytes *pl_identity_sign(PlIdentity *self, GBytes *data, GError **error);
gboolean pl_identity_verify(GBytes *public_key, GBytes *data, GBytes *signature, GError **error);

gchar *pl_identity_create_certificate_pem(PlIdentity *self, GError **error);
gchar *pl_identity_export_private_key_pem(PlIdentity *self, GError **error);
gboolean pl_identity_peer_id_from_certificate(const guint8 *cert_der,
                                              gsize cert_len,
                                              PlPeerId *out,
                                              GError **error);

G_END_DECLS
