#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <string.h>

#include "pl-identity.h"

/* a PKCS#8 PEM Ed25519 key is about 120 bytes; anything this large is not ours */
#define PL_IDENTITY_MAX_KEY_FILE_SIZE (64 * 1024)
#define PL_IDENTITY_CERT_SERIAL_SIZE  16
#define PL_IDENTITY_CERT_YEARS        10

struct _PlIdentity {
	GObject parent_instance;
	gnutls_x509_privkey_t x509_key;
	gnutls_privkey_t privkey; /* refers to x509_key */
	gnutls_pubkey_t pubkey;
	GBytes *public_key; /* DER SubjectPublicKeyInfo */
	PlPeerId peer_id;
	gchar *peer_id_string;
};

G_DEFINE_TYPE(PlIdentity, pl_identity, G_TYPE_OBJECT)
/* clang-format off */
G_DEFINE_QUARK(pl-identity-error-quark, pl_identity_error)
/* clang-format on */

static void
pl_gnutls_datum_clear(gnutls_datum_t *datum)
{
	gnutls_free(datum->data);
	datum->size = 0;
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(gnutls_datum_t, pl_gnutls_datum_clear)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(gnutls_x509_privkey_t, gnutls_x509_privkey_deinit, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(gnutls_privkey_t, gnutls_privkey_deinit, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(gnutls_pubkey_t, gnutls_pubkey_deinit, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(gnutls_x509_crt_t, gnutls_x509_crt_deinit, NULL)

/* private key material is wiped before it goes back to the allocator */
static void
pl_identity_secret_free(gchar *secret)
{
	if (secret == NULL)
		return;
	gnutls_memset(secret, 0, strlen(secret));
	g_free(secret);
}

typedef gchar PlSecretStr;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlSecretStr, pl_identity_secret_free)

static gboolean
pl_identity_gnutls_check(int rc, gint code, const gchar *what, GError **error)
{
	if (rc >= 0)
		return TRUE;
	g_set_error(error, PL_IDENTITY_ERROR, code, "%s: %s", what, gnutls_strerror(rc));
	return FALSE;
}

static gboolean
pl_identity_datum_from_bytes(GBytes *bytes, gnutls_datum_t *datum, GError **error)
{
	gsize size = 0;
	const guint8 *data = g_bytes_get_data(bytes, &size);

	if (size > G_MAXUINT) {
		g_set_error_literal(error, PL_IDENTITY_ERROR, PL_IDENTITY_ERROR_CRYPTO,
		                    _("Data is too large"));
		return FALSE;
	}
	datum->data = (guint8 *)data;
	datum->size = (guint)size;
	return TRUE;
}

static void
pl_identity_finalize(GObject *object)
{
	PlIdentity *self = PL_IDENTITY(object);

	g_clear_pointer(&self->pubkey, gnutls_pubkey_deinit);
	g_clear_pointer(&self->privkey, gnutls_privkey_deinit);
	g_clear_pointer(&self->x509_key, gnutls_x509_privkey_deinit);
	g_clear_pointer(&self->public_key, g_bytes_unref);
	g_free(self->peer_id_string);

	G_OBJECT_CLASS(pl_identity_parent_class)->finalize(object);
}

static void
pl_identity_class_init(PlIdentityClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->finalize = pl_identity_finalize;
}

static void
pl_identity_init(PlIdentity *self)
{
}

/* takes ownership of @x509_key, which must be an Ed25519 key */
static PlIdentity *
pl_identity_new_from_x509_key(gnutls_x509_privkey_t x509_key, GError **error)
{
	g_autoptr(PlIdentity) self = g_object_new(PL_TYPE_IDENTITY, NULL);
	g_auto(gnutls_datum_t) spki = {NULL, 0};

	self->x509_key = x509_key;
	if (!pl_identity_gnutls_check(gnutls_privkey_init(&self->privkey), PL_IDENTITY_ERROR_CRYPTO,
	                              _("Cannot create private key"), error))
		return NULL;
	if (!pl_identity_gnutls_check(gnutls_privkey_import_x509(self->privkey, x509_key, 0),
	                              PL_IDENTITY_ERROR_CRYPTO, _("Cannot use private key"), error))
		return NULL;
	if (!pl_identity_gnutls_check(gnutls_pubkey_init(&self->pubkey), PL_IDENTITY_ERROR_CRYPTO,
	                              _("Cannot create public key"), error))
		return NULL;
	if (!pl_identity_gnutls_check(
	            gnutls_pubkey_import_privkey(self->pubkey, self->privkey, 0, 0),
	            PL_IDENTITY_ERROR_CRYPTO, _("Cannot derive public key"), error))
		return NULL;
	if (!pl_identity_gnutls_check(
	            gnutls_pubkey_export2(self->pubkey, GNUTLS_X509_FMT_DER, &spki),
	            PL_IDENTITY_ERROR_CRYPTO, _("Cannot export public key"), error))
		return NULL;

	self->public_key = g_bytes_new(spki.data, spki.size);
	pl_peer_id_from_public_key(spki.data, spki.size, &self->peer_id);
	self->peer_id_string = pl_peer_id_to_string(&self->peer_id);
	return g_steal_pointer(&self);
}

PlIdentity *
pl_identity_generate(GError **error)
{
	g_auto(gnutls_x509_privkey_t) key = NULL;

	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (!pl_identity_gnutls_check(gnutls_x509_privkey_init(&key), PL_IDENTITY_ERROR_CRYPTO,
	                              _("Cannot create private key"), error))
		return NULL;
	if (!pl_identity_gnutls_check(
	            gnutls_x509_privkey_generate2(key, GNUTLS_PK_EDDSA_ED25519,
	                                          GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_ED25519), 0,
	                                          NULL, 0),
	            PL_IDENTITY_ERROR_CRYPTO, _("Cannot generate Ed25519 key"), error))
		return NULL;
	return pl_identity_new_from_x509_key(g_steal_pointer(&key), error);
}

gchar *
pl_identity_export_private_key_pem(PlIdentity *self, GError **error)
{
	g_auto(gnutls_datum_t) pem = {NULL, 0};
	gchar *str;

	g_return_val_if_fail(PL_IS_IDENTITY(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (!pl_identity_gnutls_check(
	            gnutls_x509_privkey_export2_pkcs8(self->x509_key, GNUTLS_X509_FMT_PEM, NULL,
	                                              GNUTLS_PKCS_PLAIN, &pem),
	            PL_IDENTITY_ERROR_CRYPTO, _("Cannot export private key"), error))
		return NULL;
	str = g_strndup((const gchar *)pem.data, pem.size);
	gnutls_memset(pem.data, 0, pem.size);
	return str;
}

gboolean
pl_identity_save(PlIdentity *self, const gchar *path, GError **error)
{
	g_autoptr(PlSecretStr) pem = NULL;

	g_return_val_if_fail(PL_IS_IDENTITY(self), FALSE);
	g_return_val_if_fail(path != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	pem = pl_identity_export_private_key_pem(self, error);
	if (pem == NULL)
		return FALSE;
	return g_file_set_contents_full(path, pem, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
}

static gboolean
pl_identity_check_key_file(const gchar *path, GError **error)
{
	GStatBuf st;

	if (g_stat(path, &st) != 0) {
		gint errsv = errno;
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errsv),
		            _("Cannot read identity key %s: %s"), path, g_strerror(errsv));
		return FALSE;
	}
	if (S_ISDIR(st.st_mode)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_ISDIR,
		            _("Cannot read identity key %s: it is a directory"), path);
		return FALSE;
	}
	if (!S_ISREG(st.st_mode)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
		            _("Cannot read identity key %s: it is not a regular file"), path);
		return FALSE;
	}
	if ((st.st_mode & 077) != 0) {
		g_set_error(error, PL_IDENTITY_ERROR, PL_IDENTITY_ERROR_PERMISSIONS,
		            _("Permissions %04o on %s are too open; run chmod 600 %s"),
		            (guint)(st.st_mode & 07777), path, path);
		return FALSE;
	}
	if (st.st_size > PL_IDENTITY_MAX_KEY_FILE_SIZE) {
		g_set_error(error, PL_IDENTITY_ERROR, PL_IDENTITY_ERROR_CORRUPT,
		            _("Identity key %s is corrupt: %lld bytes is too large for a key"),
		            path, (long long)st.st_size);
		return FALSE;
	}
	return TRUE;
}

static gnutls_x509_privkey_t
pl_identity_parse_key_pem(const gchar *path, const gchar *pem, gsize pem_len, GError **error)
{
	g_auto(gnutls_x509_privkey_t) key = NULL;
	gnutls_datum_t datum = {(guint8 *)pem, (guint)pem_len};
	gint rc;
	gint algo;

	rc = gnutls_x509_privkey_init(&key);
	if (rc < 0) {
		g_set_error(error, PL_IDENTITY_ERROR, PL_IDENTITY_ERROR_CRYPTO,
		            _("Cannot create private key: %s"), gnutls_strerror(rc));
		return NULL;
	}
	rc = gnutls_x509_privkey_import2(key, &datum, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (rc < 0) {
		g_set_error(error, PL_IDENTITY_ERROR, PL_IDENTITY_ERROR_CORRUPT,
		            _("Identity key %s is corrupt: %s"), path, gnutls_strerror(rc));
		return NULL;
	}
	algo = gnutls_x509_privkey_get_pk_algorithm(key);
	if (algo != GNUTLS_PK_EDDSA_ED25519) {
		const gchar *name = gnutls_pk_algorithm_get_name(algo);
		g_set_error(error, PL_IDENTITY_ERROR, PL_IDENTITY_ERROR_CORRUPT,
		            _("Identity key %s is corrupt: expected an Ed25519 key, found %s"),
		            path, name != NULL ? name : "unknown");
		return NULL;
	}
	return g_steal_pointer(&key);
}

PlIdentity *
pl_identity_load(const gchar *path, GError **error)
{
	g_autoptr(PlSecretStr) pem = NULL;
	gsize pem_len = 0;
	gnutls_x509_privkey_t key;

	g_return_val_if_fail(path != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (!pl_identity_check_key_file(path, error))
		return NULL;
	if (!g_file_get_contents(path, &pem, &pem_len, error))
		return NULL;
	if (pem_len > PL_IDENTITY_MAX_KEY_FILE_SIZE) {
		g_set_error(error, PL_IDENTITY_ERROR, PL_IDENTITY_ERROR_CORRUPT,
		            _("Identity key %s is corrupt: it is too large for a key"), path);
		return NULL;
	}
	key = pl_identity_parse_key_pem(path, pem, pem_len, error);
	if (key == NULL)
		return NULL;
	return pl_identity_new_from_x509_key(key, error);
}

PlIdentity *
pl_identity_load_or_create(const gchar *state_dir, gboolean *created, GError **error)
{
	g_autofree gchar *path = NULL;
	g_autoptr(PlIdentity) self = NULL;
	GStatBuf st;

	g_return_val_if_fail(state_dir != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (created != NULL)
		*created = FALSE;
	if (g_mkdir_with_parents(state_dir, 0700) != 0) {
		gint errsv = errno;
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errsv),
		            _("Cannot create state directory %s: %s"), state_dir,
		            g_strerror(errsv));
		return NULL;
	}

	/* lstat: a dangling symlink is an existing (broken) key, never replaced */
	path = g_build_filename(state_dir, PL_IDENTITY_KEY_FILENAME, NULL);
	if (g_lstat(path, &st) == 0)
		return pl_identity_load(path, error);
	if (errno != ENOENT) {
		gint errsv = errno;
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errsv),
		            _("Cannot read identity key %s: %s"), path, g_strerror(errsv));
		return NULL;
	}

	self = pl_identity_generate(error);
	if (self == NULL)
		return NULL;
	if (!pl_identity_save(self, path, error))
		return NULL;
	g_debug("created identity %s in %s", self->peer_id_string, path);
	if (created != NULL)
		*created = TRUE;
	return g_steal_pointer(&self);
}

const PlPeerId *
pl_identity_get_peer_id(PlIdentity *self)
{
	g_return_val_if_fail(PL_IS_IDENTITY(self), NULL);
	return &self->peer_id;
}

const gchar *
pl_identity_get_peer_id_string(PlIdentity *self)
{
	g_return_val_if_fail(PL_IS_IDENTITY(self), NULL);
	return self->peer_id_string;
}

GBytes *
pl_identity_get_public_key(PlIdentity *self)
{
	g_return_val_if_fail(PL_IS_IDENTITY(self), NULL);
	return g_bytes_ref(self->public_key);
}

GBytes *
pl_identity_sign(PlIdentity *self, GBytes *data, GError **error)
{
	gnutls_datum_t message = {NULL, 0};
	g_auto(gnutls_datum_t) signature = {NULL, 0};

	g_return_val_if_fail(PL_IS_IDENTITY(self), NULL);
	g_return_val_if_fail(data != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (!pl_identity_datum_from_bytes(data, &message, error))
		return NULL;
	if (!pl_identity_gnutls_check(gnutls_privkey_sign_data2(self->privkey,
	                                                        GNUTLS_SIGN_EDDSA_ED25519, 0,
	                                                        &message, &signature),
	                              PL_IDENTITY_ERROR_CRYPTO, _("Cannot sign data"), error))
		return NULL;
	return g_bytes_new(signature.data, signature.size);
}

static gnutls_pubkey_t
pl_identity_import_public_key(GBytes *public_key, GError **error)
{
	g_auto(gnutls_pubkey_t) pubkey = NULL;
	gnutls_datum_t der = {NULL, 0};

	if (!pl_identity_datum_from_bytes(public_key, &der, error))
		return NULL;
	if (!pl_identity_gnutls_check(gnutls_pubkey_init(&pubkey), PL_IDENTITY_ERROR_CRYPTO,
	                              _("Cannot create public key"), error))
		return NULL;
	if (der.size == 0) {
		g_set_error_literal(error, PL_IDENTITY_ERROR, PL_IDENTITY_ERROR_CORRUPT,
		                    _("Invalid public key: it is empty"));
		return NULL;
	}
	if (!pl_identity_gnutls_check(gnutls_pubkey_import(pubkey, &der, GNUTLS_X509_FMT_DER),
	                              PL_IDENTITY_ERROR_CORRUPT, _("Invalid public key"), error))
		return NULL;
	if (gnutls_pubkey_get_pk_algorithm(pubkey, NULL) != GNUTLS_PK_EDDSA_ED25519) {
		g_set_error_literal(error, PL_IDENTITY_ERROR, PL_IDENTITY_ERROR_CORRUPT,
		                    _("Invalid public key: it is not an Ed25519 key"));
		return NULL;
	}
	return g_steal_pointer(&pubkey);
}

gboolean
pl_identity_verify(GBytes *public_key, GBytes *data, GBytes *signature, GError **error)
{
	g_auto(gnutls_pubkey_t) pubkey = NULL;
	gnutls_datum_t message = {NULL, 0};
	gnutls_datum_t sig = {NULL, 0};

	g_return_val_if_fail(public_key != NULL, FALSE);
	g_return_val_if_fail(data != NULL, FALSE);
	g_return_val_if_fail(signature != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	pubkey = pl_identity_import_public_key(public_key, error);
	if (pubkey == NULL)
		return FALSE;
	if (!pl_identity_datum_from_bytes(data, &message, error))
		return FALSE;
	if (!pl_identity_datum_from_bytes(signature, &sig, error))
		return FALSE;
	return pl_identity_gnutls_check(
	        gnutls_pubkey_verify_data2(pubkey, GNUTLS_SIGN_EDDSA_ED25519, 0, &message, &sig),
	        PL_IDENTITY_ERROR_BAD_SIGNATURE, _("Signature does not verify"), error);
}

static gboolean
pl_identity_set_random_serial(gnutls_x509_crt_t crt, GError **error)
{
	guint8 serial[PL_IDENTITY_CERT_SERIAL_SIZE];

	if (!pl_identity_gnutls_check(gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)),
	                              PL_IDENTITY_ERROR_CRYPTO, _("Cannot generate serial number"),
	                              error))
		return FALSE;
	/* a positive DER INTEGER of exactly 16 bytes: top bit clear, first byte non-zero */
	serial[0] = (serial[0] & 0x7f) | 0x40;
	return pl_identity_gnutls_check(gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)),
	                                PL_IDENTITY_ERROR_CRYPTO, _("Cannot set serial number"),
	                                error);
}

static gboolean
pl_identity_fill_certificate(PlIdentity *self, gnutls_x509_crt_t crt, GError **error)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autoptr(GDateTime) expiry = g_date_time_add_years(now, PL_IDENTITY_CERT_YEARS);
	gint rc;

	rc = gnutls_x509_crt_set_version(crt, 3);
	if (rc >= 0)
		rc = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
		                                   self->peer_id_string,
		                                   strlen(self->peer_id_string));
	if (rc >= 0)
		rc = gnutls_x509_crt_set_activation_time(crt, g_date_time_to_unix(now) - 3600);
	if (rc >= 0)
		rc = gnutls_x509_crt_set_expiration_time(crt, g_date_time_to_unix(expiry));
	if (rc >= 0)
		rc = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE);
	if (rc >= 0)
		rc = gnutls_x509_crt_set_basic_constraints(crt, 0, -1);
	if (rc >= 0)
		rc = gnutls_x509_crt_set_pubkey(crt, self->pubkey);
	if (!pl_identity_gnutls_check(rc, PL_IDENTITY_ERROR_CRYPTO, _("Cannot build certificate"),
	                              error))
		return FALSE;
	return pl_identity_set_random_serial(crt, error);
}

gchar *
pl_identity_create_certificate_pem(PlIdentity *self, GError **error)
{
	g_auto(gnutls_x509_crt_t) crt = NULL;
	g_auto(gnutls_datum_t) pem = {NULL, 0};

	g_return_val_if_fail(PL_IS_IDENTITY(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (!pl_identity_gnutls_check(gnutls_x509_crt_init(&crt), PL_IDENTITY_ERROR_CRYPTO,
	                              _("Cannot create certificate"), error))
		return NULL;
	if (!pl_identity_fill_certificate(self, crt, error))
		return NULL;
	if (!pl_identity_gnutls_check(
	            gnutls_x509_crt_privkey_sign(crt, crt, self->privkey, GNUTLS_DIG_UNKNOWN, 0),
	            PL_IDENTITY_ERROR_CRYPTO, _("Cannot sign certificate"), error))
		return NULL;
	if (!pl_identity_gnutls_check(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem),
	                              PL_IDENTITY_ERROR_CRYPTO, _("Cannot export certificate"),
	                              error))
		return NULL;
	return g_strndup((const gchar *)pem.data, pem.size);
}

gboolean
pl_identity_peer_id_from_certificate(const guint8 *cert_der,
                                     gsize cert_len,
                                     PlPeerId *out,
                                     GError **error)
{
	g_auto(gnutls_x509_crt_t) crt = NULL;
	g_auto(gnutls_pubkey_t) pubkey = NULL;
	g_auto(gnutls_datum_t) spki = {NULL, 0};
	gnutls_datum_t der = {(guint8 *)cert_der, (guint)cert_len};

	g_return_val_if_fail(cert_der != NULL || cert_len == 0, FALSE);
	g_return_val_if_fail(out != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (cert_len == 0 || cert_len > G_MAXUINT) {
		g_set_error(error, PL_IDENTITY_ERROR, PL_IDENTITY_ERROR_CORRUPT,
		            _("Invalid certificate: %lu bytes"), (gulong)cert_len);
		return FALSE;
	}
	if (!pl_identity_gnutls_check(gnutls_x509_crt_init(&crt), PL_IDENTITY_ERROR_CRYPTO,
	                              _("Cannot create certificate"), error))
		return FALSE;
	if (!pl_identity_gnutls_check(gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER),
	                              PL_IDENTITY_ERROR_CORRUPT, _("Invalid certificate"), error))
		return FALSE;
	if (!pl_identity_gnutls_check(gnutls_pubkey_init(&pubkey), PL_IDENTITY_ERROR_CRYPTO,
	                              _("Cannot create public key"), error))
		return FALSE;
	if (!pl_identity_gnutls_check(gnutls_pubkey_import_x509(pubkey, crt, 0),
	                              PL_IDENTITY_ERROR_CORRUPT,
	                              _("Invalid certificate public key"), error))
		return FALSE;
	if (!pl_identity_gnutls_check(gnutls_pubkey_export2(pubkey, GNUTLS_X509_FMT_DER, &spki),
	                              PL_IDENTITY_ERROR_CORRUPT,
	                              _("Invalid certificate public key"), error))
		return FALSE;
	pl_peer_id_from_public_key(spki.data, spki.size, out);
	return TRUE;
}
