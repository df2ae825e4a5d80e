#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <string.h>
#include <unistd.h>

#include "pl-identity.h"
#include "pl-test-util.h"

G_DEFINE_AUTO_CLEANUP_FREE_FUNC(gnutls_x509_privkey_t, gnutls_x509_privkey_deinit, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(gnutls_privkey_t, gnutls_privkey_deinit, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(gnutls_pubkey_t, gnutls_pubkey_deinit, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(gnutls_x509_crt_t, gnutls_x509_crt_deinit, NULL)

static void
datum_clear(gnutls_datum_t *datum)
{
	gnutls_free(datum->data);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(gnutls_datum_t, datum_clear)

static const guint8 ed25519_spki_header[] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                             0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};

/* temp dirs */

static gchar *
make_tmp_dir(void)
{
	g_autoptr(GError) error = NULL;
	gchar *dir = g_dir_make_tmp("peerlink-test-identity-XXXXXX", &error);

	g_assert_no_error(error);
	g_assert_nonnull(dir);
	return dir;
}

static guint
file_mode(const gchar *path)
{
	GStatBuf st;

	g_assert_cmpint(g_stat(path, &st), ==, 0);
	return st.st_mode & 07777;
}

static void
write_file(const gchar *path, const gchar *data, gsize len, guint mode)
{
	g_autoptr(GError) error = NULL;

	g_assert_true(g_file_set_contents_full(path, data, (gssize)len,
	                                       G_FILE_SET_CONTENTS_CONSISTENT, (int)mode, &error));
	g_assert_no_error(error);
	g_assert_cmpint(g_chmod(path, (int)mode), ==, 0);
}

static GBytes *
read_file(const gchar *path)
{
	g_autoptr(GError) error = NULL;
	gchar *data = NULL;
	gsize len = 0;

	g_assert_true(g_file_get_contents(path, &data, &len, &error));
	g_assert_no_error(error);
	return g_bytes_new_take(data, len);
}

static GBytes *
random_bytes(gsize len)
{
	guint8 *data = g_malloc(len + 1);

	for (gsize i = 0; i < len; i++)
		data[i] = (guint8)g_test_rand_int_range(0, 256);
	return g_bytes_new_take(data, len);
}

static GBytes *
flip_bit(GBytes *bytes, gsize bit)
{
	gsize len = 0;
	const guint8 *orig = g_bytes_get_data(bytes, &len);
	guint8 *data = g_memdup2(orig, len);

	g_assert_cmpuint(bit / 8, <, len);
	data[bit / 8] ^= 1 << (bit % 8);
	return g_bytes_new_take(data, len);
}

static PlIdentity *
generate_identity(void)
{
	g_autoptr(GError) error = NULL;
	PlIdentity *identity = pl_identity_generate(&error);

	g_assert_no_error(error);
	g_assert_nonnull(identity);
	return identity;
}

/* a key PlIdentity must refuse, generated with GnuTLS directly */
static void
generate_foreign_key(gnutls_pk_algorithm_t algo, guint bits, gchar **pem, GBytes **spki)
{
	g_auto(gnutls_x509_privkey_t) x509_key = NULL;
	g_auto(gnutls_privkey_t) privkey = NULL;
	g_auto(gnutls_pubkey_t) pubkey = NULL;
	g_auto(gnutls_datum_t) pem_datum = {NULL, 0};
	g_auto(gnutls_datum_t) spki_datum = {NULL, 0};

	g_assert_cmpint(gnutls_x509_privkey_init(&x509_key), ==, 0);
	g_assert_cmpint(gnutls_x509_privkey_generate2(x509_key, algo, bits, 0, NULL, 0), ==, 0);
	g_assert_cmpint(gnutls_x509_privkey_export2_pkcs8(x509_key, GNUTLS_X509_FMT_PEM, NULL,
	                                                  GNUTLS_PKCS_PLAIN, &pem_datum),
	                ==, 0);
	g_assert_cmpint(gnutls_privkey_init(&privkey), ==, 0);
	g_assert_cmpint(gnutls_privkey_import_x509(privkey, x509_key, 0), ==, 0);
	g_assert_cmpint(gnutls_pubkey_init(&pubkey), ==, 0);
	g_assert_cmpint(gnutls_pubkey_import_privkey(pubkey, privkey, 0, 0), ==, 0);
	g_assert_cmpint(gnutls_pubkey_export2(pubkey, GNUTLS_X509_FMT_DER, &spki_datum), ==, 0);

	*pem = g_strndup((const gchar *)pem_datum.data, pem_datum.size);
	*spki = g_bytes_new(spki_datum.data, spki_datum.size);
}

static GBytes *
certificate_der_from_pem(const gchar *pem)
{
	g_auto(gnutls_x509_crt_t) crt = NULL;
	g_auto(gnutls_datum_t) der = {NULL, 0};
	gnutls_datum_t pem_datum = {(guint8 *)pem, (guint)strlen(pem)};

	g_assert_cmpint(gnutls_x509_crt_init(&crt), ==, 0);
	g_assert_cmpint(gnutls_x509_crt_import(crt, &pem_datum, GNUTLS_X509_FMT_PEM), ==, 0);
	g_assert_cmpint(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der), ==, 0);
	return g_bytes_new(der.data, der.size);
}

static void
assert_verify_fails(GBytes *public_key, GBytes *data, GBytes *signature, gint code)
{
	g_autoptr(GError) error = NULL;

	g_assert_false(pl_identity_verify(public_key, data, signature, &error));
	g_assert_error(error, PL_IDENTITY_ERROR, code);
}

static void
assert_load_fails(const gchar *path, GQuark domain, gint code)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlIdentity) identity = pl_identity_load(path, &error);

	g_assert_null(identity);
	g_assert_error(error, domain, code);
	g_assert_nonnull(strstr(error->message, path));
}

/* tests */

static void
test_identity_error_quark(void)
{
	g_assert_cmpstr(g_quark_to_string(PL_IDENTITY_ERROR), ==, "pl-identity-error-quark");
}

static void
test_identity_generate(void)
{
	g_autoptr(PlIdentity) a = generate_identity();
	g_autoptr(PlIdentity) b = generate_identity();
	g_autoptr(GBytes) spki = pl_identity_get_public_key(a);
	g_autofree gchar *expected_str = NULL;
	PlPeerId expected = {0};

	/* a DER SubjectPublicKeyInfo for Ed25519 is a fixed header and 32 key bytes */
	g_assert_cmpuint(g_bytes_get_size(spki), ==, sizeof(ed25519_spki_header) + 32);
	g_assert_cmpmem(g_bytes_get_data(spki, NULL), sizeof(ed25519_spki_header),
	                ed25519_spki_header, sizeof(ed25519_spki_header));

	pl_peer_id_from_public_key(g_bytes_get_data(spki, NULL), g_bytes_get_size(spki), &expected);
	g_assert_true(pl_peer_id_equal(pl_identity_get_peer_id(a), &expected));
	expected_str = pl_peer_id_to_string(&expected);
	g_assert_cmpstr(pl_identity_get_peer_id_string(a), ==, expected_str);

	g_assert_false(pl_peer_id_equal(pl_identity_get_peer_id(a), pl_identity_get_peer_id(b)));
}

static void
test_identity_sign_verify(void)
{
	g_autoptr(PlIdentity) identity = generate_identity();
	g_autoptr(PlIdentity) other = generate_identity();
	g_autoptr(GBytes) spki = pl_identity_get_public_key(identity);
	g_autoptr(GBytes) other_spki = pl_identity_get_public_key(other);
	g_autoptr(GBytes) data = g_bytes_new_static("hello peer", 10);
	g_autoptr(GBytes) empty = g_bytes_new(NULL, 0);
	g_autoptr(GBytes) signature = NULL;
	g_autoptr(GBytes) empty_signature = NULL;
	g_autoptr(GError) error = NULL;

	signature = pl_identity_sign(identity, data, &error);
	g_assert_no_error(error);
	g_assert_nonnull(signature);
	g_assert_cmpuint(g_bytes_get_size(signature), ==, 64);
	g_assert_true(pl_identity_verify(spki, data, signature, &error));
	g_assert_no_error(error);

	/* an empty message is a message too */
	empty_signature = pl_identity_sign(identity, empty, &error);
	g_assert_no_error(error);
	g_assert_true(pl_identity_verify(spki, empty, empty_signature, &error));
	g_assert_no_error(error);
	assert_verify_fails(spki, data, empty_signature, PL_IDENTITY_ERROR_BAD_SIGNATURE);

	for (gsize bit = 0; bit < g_bytes_get_size(data) * 8; bit += 7) {
		g_autoptr(GBytes) tampered = flip_bit(data, bit);
		assert_verify_fails(spki, tampered, signature, PL_IDENTITY_ERROR_BAD_SIGNATURE);
	}
	for (gsize bit = 0; bit < g_bytes_get_size(signature) * 8; bit += 5) {
		g_autoptr(GBytes) tampered = flip_bit(signature, bit);
		assert_verify_fails(spki, data, tampered, PL_IDENTITY_ERROR_BAD_SIGNATURE);
	}
	assert_verify_fails(other_spki, data, signature, PL_IDENTITY_ERROR_BAD_SIGNATURE);
}

static void
test_identity_verify_garbage(void)
{
	g_autoptr(PlIdentity) identity = generate_identity();
	g_autoptr(GBytes) spki = pl_identity_get_public_key(identity);
	g_autoptr(GBytes) data = g_bytes_new_static("hello peer", 10);
	g_autoptr(GBytes) empty = g_bytes_new(NULL, 0);
	g_autoptr(GBytes) signature = pl_identity_sign(identity, data, NULL);
	g_autofree gchar *ecdsa_pem = NULL;
	g_autoptr(GBytes) ecdsa_spki = NULL;

	g_assert_nonnull(signature);
	assert_verify_fails(empty, data, signature, PL_IDENTITY_ERROR_CORRUPT);
	assert_verify_fails(spki, data, empty, PL_IDENTITY_ERROR_BAD_SIGNATURE);

	/* every truncation of a valid key, and random bytes of many lengths */
	for (gsize len = 0; len < g_bytes_get_size(spki); len++) {
		g_autoptr(GBytes) truncated = g_bytes_new_from_bytes(spki, 0, len);
		assert_verify_fails(truncated, data, signature, PL_IDENTITY_ERROR_CORRUPT);
	}
	for (gsize len = 0; len < 200; len += 3) {
		g_autoptr(GBytes) garbage = random_bytes(len);
		assert_verify_fails(garbage, data, signature, PL_IDENTITY_ERROR_CORRUPT);
		assert_verify_fails(spki, data, garbage, PL_IDENTITY_ERROR_BAD_SIGNATURE);
	}

	/* a well-formed key of the wrong type */
	generate_foreign_key(GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
	                     &ecdsa_pem, &ecdsa_spki);
	assert_verify_fails(ecdsa_spki, data, signature, PL_IDENTITY_ERROR_CORRUPT);
}

static void
test_identity_save_load(void)
{
	g_autofree gchar *dir = make_tmp_dir();
	g_autofree gchar *path = g_build_filename(dir, "key.pem", NULL);
	g_autoptr(PlIdentity) identity = generate_identity();
	g_autoptr(PlIdentity) loaded = NULL;
	g_autoptr(GBytes) saved = NULL;
	g_autofree gchar *pem = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_true(pl_identity_save(identity, path, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(file_mode(path), ==, 0600);

	pem = pl_identity_export_private_key_pem(identity, &error);
	g_assert_no_error(error);
	g_assert_true(g_str_has_prefix(pem, "-----BEGIN PRIVATE KEY-----\n"));
	saved = read_file(path);
	g_assert_cmpmem(g_bytes_get_data(saved, NULL), g_bytes_get_size(saved), pem, strlen(pem));

	loaded = pl_identity_load(path, &error);
	g_assert_no_error(error);
	g_assert_nonnull(loaded);
	g_assert_true(pl_peer_id_equal(pl_identity_get_peer_id(identity),
	                               pl_identity_get_peer_id(loaded)));
	g_assert_cmpstr(pl_identity_get_peer_id_string(identity), ==,
	                pl_identity_get_peer_id_string(loaded));

	/* the loaded key signs for the same public key */
	{
		g_autoptr(GBytes) data = g_bytes_new_static("x", 1);
		g_autoptr(GBytes) spki = pl_identity_get_public_key(identity);
		g_autoptr(GBytes) signature = pl_identity_sign(loaded, data, &error);
		g_assert_no_error(error);
		g_assert_true(pl_identity_verify(spki, data, signature, &error));
		g_assert_no_error(error);
	}

	/* saving again replaces the file atomically, still 0600 */
	g_assert_true(pl_identity_save(loaded, path, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(file_mode(path), ==, 0600);

	pl_test_remove_tree(dir);
}

static void
test_identity_load_or_create(void)
{
	g_autofree gchar *dir = make_tmp_dir();
	g_autofree gchar *parent = g_build_filename(dir, "not-yet", NULL);
	g_autofree gchar *state_dir = g_build_filename(parent, "state", NULL);
	g_autofree gchar *path = g_build_filename(state_dir, PL_IDENTITY_KEY_FILENAME, NULL);
	g_autoptr(PlIdentity) first = NULL;
	g_autoptr(PlIdentity) second = NULL;
	g_autoptr(PlIdentity) third = NULL;
	g_autoptr(GBytes) content = NULL;
	g_autoptr(GBytes) content_after = NULL;
	g_autoptr(GError) error = NULL;
	gboolean created = FALSE;

	g_assert_false(g_file_test(parent, G_FILE_TEST_EXISTS));
	first = pl_identity_load_or_create(state_dir, &created, &error);
	g_assert_no_error(error);
	g_assert_nonnull(first);
	g_assert_true(created);
	g_assert_cmpuint(file_mode(parent), ==, 0700);
	g_assert_cmpuint(file_mode(state_dir), ==, 0700);
	g_assert_cmpuint(file_mode(path), ==, 0600);
	content = read_file(path);

	second = pl_identity_load_or_create(state_dir, &created, &error);
	g_assert_no_error(error);
	g_assert_nonnull(second);
	g_assert_false(created);
	g_assert_cmpstr(pl_identity_get_peer_id_string(first), ==,
	                pl_identity_get_peer_id_string(second));

	third = pl_identity_load_or_create(state_dir, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(pl_identity_get_peer_id_string(first), ==,
	                pl_identity_get_peer_id_string(third));

	content_after = read_file(path);
	g_assert_true(g_bytes_equal(content, content_after));

	pl_test_remove_tree(dir);
}

static void
assert_corrupt_file_kept(const gchar *dir, const gchar *data, gsize len)
{
	g_autofree gchar *path = g_build_filename(dir, PL_IDENTITY_KEY_FILENAME, NULL);
	g_autoptr(GBytes) after_load = NULL;
	g_autoptr(GBytes) after_create = NULL;
	g_autoptr(PlIdentity) identity = NULL;
	g_autoptr(GError) error = NULL;
	gboolean created = TRUE;

	write_file(path, data, len, 0600);
	assert_load_fails(path, PL_IDENTITY_ERROR, PL_IDENTITY_ERROR_CORRUPT);
	after_load = read_file(path);
	g_assert_cmpmem(g_bytes_get_data(after_load, NULL), g_bytes_get_size(after_load), data,
	                len);

	/* and load_or_create must report it, never replace it */
	identity = pl_identity_load_or_create(dir, &created, &error);
	g_assert_null(identity);
	g_assert_error(error, PL_IDENTITY_ERROR, PL_IDENTITY_ERROR_CORRUPT);
	g_assert_false(created);
	after_create = read_file(path);
	g_assert_cmpmem(g_bytes_get_data(after_create, NULL), g_bytes_get_size(after_create), data,
	                len);
	g_assert_cmpuint(file_mode(path), ==, 0600);
}

static void
test_identity_load_corrupt(void)
{
	g_autofree gchar *dir = make_tmp_dir();
	g_autoptr(PlIdentity) identity = generate_identity();
	g_autofree gchar *pem = pl_identity_export_private_key_pem(identity, NULL);
	g_autofree gchar *cert_pem = pl_identity_create_certificate_pem(identity, NULL);
	g_autoptr(GBytes) garbage = random_bytes(300);
	g_autofree gchar *ecdsa_pem = NULL;
	g_autofree gchar *ed448_pem = NULL;
	g_autoptr(GBytes) ecdsa_spki = NULL;
	g_autoptr(GBytes) ed448_spki = NULL;

	g_assert_nonnull(pem);
	g_assert_nonnull(cert_pem);
	assert_corrupt_file_kept(dir, "", 0);
	assert_corrupt_file_kept(dir, g_bytes_get_data(garbage, NULL), g_bytes_get_size(garbage));
	assert_corrupt_file_kept(dir, pem, strlen(pem) / 2);
	assert_corrupt_file_kept(dir, pem, strlen(pem) - 30);
	assert_corrupt_file_kept(dir, cert_pem, strlen(cert_pem));

	generate_foreign_key(GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
	                     &ecdsa_pem, &ecdsa_spki);
	assert_corrupt_file_kept(dir, ecdsa_pem, strlen(ecdsa_pem));
	generate_foreign_key(GNUTLS_PK_EDDSA_ED448, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_ED448),
	                     &ed448_pem, &ed448_spki);
	assert_corrupt_file_kept(dir, ed448_pem, strlen(ed448_pem));

	pl_test_remove_tree(dir);
}

static void
test_identity_load_permissions(void)
{
	g_autofree gchar *dir = make_tmp_dir();
	g_autofree gchar *path = g_build_filename(dir, PL_IDENTITY_KEY_FILENAME, NULL);
	g_autoptr(PlIdentity) identity = generate_identity();
	g_autoptr(PlIdentity) from_state_dir = NULL;
	g_autoptr(GBytes) before = NULL;
	g_autoptr(GBytes) after = NULL;
	g_autoptr(GError) error = NULL;
	const guint modes[] = {0644, 0640, 0604, 0660, 0666};

	g_assert_true(pl_identity_save(identity, path, &error));
	g_assert_no_error(error);
	before = read_file(path);

	for (gsize i = 0; i < G_N_ELEMENTS(modes); i++) {
		g_autoptr(PlIdentity) loaded = NULL;
		g_autofree gchar *mode_str = g_strdup_printf("%04o", modes[i]);

		g_assert_cmpint(g_chmod(path, (int)modes[i]), ==, 0);
		loaded = pl_identity_load(path, &error);
		g_assert_null(loaded);
		g_assert_error(error, PL_IDENTITY_ERROR, PL_IDENTITY_ERROR_PERMISSIONS);
		g_assert_nonnull(strstr(error->message, mode_str));
		g_assert_nonnull(strstr(error->message, path));
		g_assert_nonnull(strstr(error->message, "chmod 600"));
		g_clear_error(&error);
		g_assert_cmpuint(file_mode(path), ==, modes[i]);
	}

	from_state_dir = pl_identity_load_or_create(dir, NULL, &error);
	g_assert_null(from_state_dir);
	g_assert_error(error, PL_IDENTITY_ERROR, PL_IDENTITY_ERROR_PERMISSIONS);
	after = read_file(path);
	g_assert_true(g_bytes_equal(before, after));

	/* 0400 is fine: only the owner can read it */
	g_clear_error(&error);
	g_assert_cmpint(g_chmod(path, 0400), ==, 0);
	g_clear_object(&from_state_dir);
	from_state_dir = pl_identity_load(path, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(pl_identity_get_peer_id_string(from_state_dir), ==,
	                pl_identity_get_peer_id_string(identity));

	pl_test_remove_tree(dir);
}

static void
test_identity_load_missing(void)
{
	g_autofree gchar *dir = make_tmp_dir();
	g_autofree gchar *missing = g_build_filename(dir, "missing.pem", NULL);
	g_autofree gchar *key_dir = g_build_filename(dir, "keydir", NULL);
	g_autofree gchar *key_dir_key = g_build_filename(key_dir, PL_IDENTITY_KEY_FILENAME, NULL);
	g_autofree gchar *dangling_dir = g_build_filename(dir, "dangling", NULL);
	g_autofree gchar *dangling = g_build_filename(dangling_dir, PL_IDENTITY_KEY_FILENAME, NULL);
	g_autofree gchar *target = g_build_filename(dir, "nowhere.pem", NULL);
	g_autoptr(PlIdentity) identity = NULL;
	g_autoptr(GError) error = NULL;

	assert_load_fails(missing, G_FILE_ERROR, G_FILE_ERROR_NOENT);
	g_assert_false(g_file_test(missing, G_FILE_TEST_EXISTS));

	/* a directory where the key should be */
	g_assert_cmpint(g_mkdir_with_parents(key_dir_key, 0700), ==, 0);
	assert_load_fails(key_dir_key, G_FILE_ERROR, G_FILE_ERROR_ISDIR);
	identity = pl_identity_load_or_create(key_dir, NULL, &error);
	g_assert_null(identity);
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_ISDIR);
	g_clear_error(&error);

	/* a dangling symlink is a broken key, not a missing one: never replaced */
	g_assert_cmpint(g_mkdir(dangling_dir, 0700), ==, 0);
	g_assert_cmpint(symlink(target, dangling), ==, 0);
	identity = pl_identity_load_or_create(dangling_dir, NULL, &error);
	g_assert_null(identity);
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
	g_assert_true(g_file_test(dangling, G_FILE_TEST_IS_SYMLINK));
	g_assert_false(g_file_test(target, G_FILE_TEST_EXISTS));

	pl_test_remove_tree(dir);
}

static void
test_identity_certificate(void)
{
	g_autoptr(PlIdentity) identity = generate_identity();
	g_autoptr(PlIdentity) other = generate_identity();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *pem = pl_identity_create_certificate_pem(identity, &error);
	g_autofree gchar *pem2 = NULL;
	g_autofree gchar *other_pem = NULL;
	g_autoptr(GBytes) der = NULL;
	g_autoptr(GBytes) der2 = NULL;
	g_autoptr(GBytes) other_der = NULL;
	g_auto(gnutls_x509_crt_t) crt = NULL;
	g_auto(gnutls_x509_crt_t) crt2 = NULL;
	gnutls_datum_t der_datum = {NULL, 0};
	gchar cn[128] = {0};
	gsize cn_len = sizeof(cn);
	guint8 serial[32];
	gsize serial_len = sizeof(serial);
	guint8 serial2[32];
	gsize serial2_len = sizeof(serial2);
	guint key_usage = 0;
	guint critical = 0;
	guint is_ca = 1;
	guint verify_status = 1;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	PlPeerId id = {0};

	g_assert_no_error(error);
	g_assert_true(g_str_has_prefix(pem, "-----BEGIN CERTIFICATE-----\n"));
	der = certificate_der_from_pem(pem);

	der_datum.data = (guint8 *)g_bytes_get_data(der, NULL);
	der_datum.size = (guint)g_bytes_get_size(der);
	g_assert_cmpint(gnutls_x509_crt_init(&crt), ==, 0);
	g_assert_cmpint(gnutls_x509_crt_import(crt, &der_datum, GNUTLS_X509_FMT_DER), ==, 0);
	g_assert_cmpint(gnutls_x509_crt_get_version(crt), ==, 3);
	g_assert_cmpint(gnutls_x509_crt_get_pk_algorithm(crt, NULL), ==, GNUTLS_PK_EDDSA_ED25519);
	g_assert_cmpint(
	        gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &cn_len),
	        ==, 0);
	g_assert_cmpstr(cn, ==, pl_identity_get_peer_id_string(identity));
	g_assert_cmpint(gnutls_x509_crt_get_key_usage(crt, &key_usage, &critical), >=, 0);
	g_assert_cmpuint(key_usage, ==, GNUTLS_KEY_DIGITAL_SIGNATURE);
	g_assert_cmpint(gnutls_x509_crt_get_basic_constraints(crt, &critical, &is_ca, NULL), >=, 0);
	g_assert_cmpuint(is_ca, ==, 0);
	g_assert_cmpint(gnutls_x509_crt_get_serial(crt, serial, &serial_len), ==, 0);
	g_assert_cmpuint(serial_len, ==, 16);
	g_assert_cmpint(gnutls_x509_crt_get_activation_time(crt), <=, now - 3500);
	g_assert_cmpint(gnutls_x509_crt_get_activation_time(crt), >=, now - 3700);
	g_assert_cmpint(gnutls_x509_crt_get_expiration_time(crt), >=, now + 3650 * 86400 - 100);
	g_assert_cmpint(gnutls_x509_crt_get_expiration_time(crt), <=, now + 3653 * 86400 + 100);

	/* self-signed: its own key verifies its signature */
	g_assert_cmpint(gnutls_x509_crt_verify(crt, &crt, 1, 0, &verify_status), ==, 0);
	g_assert_cmpuint(verify_status, ==, 0);

	g_assert_true(pl_identity_peer_id_from_certificate(g_bytes_get_data(der, NULL),
	                                                   g_bytes_get_size(der), &id, &error));
	g_assert_no_error(error);
	g_assert_true(pl_peer_id_equal(&id, pl_identity_get_peer_id(identity)));

	/* a second certificate: same key, fresh serial */
	pem2 = pl_identity_create_certificate_pem(identity, &error);
	g_assert_no_error(error);
	der2 = certificate_der_from_pem(pem2);
	der_datum.data = (guint8 *)g_bytes_get_data(der2, NULL);
	der_datum.size = (guint)g_bytes_get_size(der2);
	g_assert_cmpint(gnutls_x509_crt_init(&crt2), ==, 0);
	g_assert_cmpint(gnutls_x509_crt_import(crt2, &der_datum, GNUTLS_X509_FMT_DER), ==, 0);
	g_assert_cmpint(gnutls_x509_crt_get_serial(crt2, serial2, &serial2_len), ==, 0);
	g_assert_false(serial_len == serial2_len && memcmp(serial, serial2, serial_len) == 0);

	/* another identity's certificate names another peer */
	other_pem = pl_identity_create_certificate_pem(other, &error);
	g_assert_no_error(error);
	other_der = certificate_der_from_pem(other_pem);
	g_assert_true(pl_identity_peer_id_from_certificate(
	        g_bytes_get_data(other_der, NULL), g_bytes_get_size(other_der), &id, &error));
	g_assert_no_error(error);
	g_assert_false(pl_peer_id_equal(&id, pl_identity_get_peer_id(identity)));
	g_assert_true(pl_peer_id_equal(&id, pl_identity_get_peer_id(other)));
}

static void
assert_certificate_rejected(const guint8 *data, gsize len)
{
	g_autoptr(GError) error = NULL;
	PlPeerId id = {0};

	g_assert_false(pl_identity_peer_id_from_certificate(data, len, &id, &error));
	g_assert_error(error, PL_IDENTITY_ERROR, PL_IDENTITY_ERROR_CORRUPT);
}

static void
test_identity_certificate_garbage(void)
{
	g_autoptr(PlIdentity) identity = generate_identity();
	g_autofree gchar *pem = pl_identity_create_certificate_pem(identity, NULL);
	g_autoptr(GBytes) der = certificate_der_from_pem(pem);
	const guint8 *der_data = g_bytes_get_data(der, NULL);
	g_autoptr(GBytes) spki = pl_identity_get_public_key(identity);

	assert_certificate_rejected(NULL, 0);
	assert_certificate_rejected((const guint8 *)pem, strlen(pem));
	assert_certificate_rejected(g_bytes_get_data(spki, NULL), g_bytes_get_size(spki));
	for (gsize len = 1; len < g_bytes_get_size(der); len++)
		assert_certificate_rejected(der_data, len);
	for (gsize len = 1; len < 400; len += 7) {
		g_autoptr(GBytes) garbage = random_bytes(len);
		assert_certificate_rejected(g_bytes_get_data(garbage, NULL), len);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerlink/identity/error-quark", test_identity_error_quark);
	g_test_add_func("/peerlink/identity/generate", test_identity_generate);
	g_test_add_func("/peerlink/identity/sign-verify", test_identity_sign_verify);
	g_test_add_func("/peerlink/identity/verify-garbage", test_identity_verify_garbage);
	g_test_add_func("/peerlink/identity/save-load", test_identity_save_load);
	g_test_add_func("/peerlink/identity/load-or-create", test_identity_load_or_create);
	g_test_add_func("/peerlink/identity/load-corrupt", test_identity_load_corrupt);
	g_test_add_func("/peerlink/identity/load-permissions", test_identity_load_permissions);
	g_test_add_func("/peerlink/identity/load-missing", test_identity_load_missing);
	g_test_add_func("/peerlink/identity/certificate", test_identity_certificate);
	g_test_add_func("/peerlink/identity/certificate-garbage",
	                test_identity_certificate_garbage);
	return g_test_run();
}
