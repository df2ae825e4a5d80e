#include "config.h"

#include <glib/gi18n-lib.h>
#include <gnutls/crypto.h>
#include <string.h>

#include "pl-peer-id.h"

#define PL_PEER_ID_CHECK_SIZE  3
#define PL_PEER_ID_RAW_SIZE    (PL_PEER_ID_DIGEST_SIZE + PL_PEER_ID_CHECK_SIZE)
#define PL_PEER_ID_BASE32_LEN  56 /* 35 bytes = 280 bits = 56 * 5 bits, no padding */
#define PL_PEER_ID_GROUP_LEN   7
#define PL_PEER_ID_CHECK_LABEL "peerlink-peer-id-check"

static const gchar pl_peer_id_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* clang-format off */
G_DEFINE_QUARK(pl-peer-id-error-quark, pl_peer_id_error)
/* clang-format on */

static void
pl_peer_id_sha256(const void *data, gsize len, guint8 *out)
{
	/* SHA-256 is built into GnuTLS; if it fails the library itself is unusable */
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, out) < 0)
		g_error("GnuTLS cannot compute SHA-256");
}

static void
pl_peer_id_compute_check(const PlPeerId *id, guint8 *check)
{
	guint8 input[sizeof(PL_PEER_ID_CHECK_LABEL) - 1 + PL_PEER_ID_DIGEST_SIZE];
	guint8 hash[32];

	memcpy(input, PL_PEER_ID_CHECK_LABEL, sizeof(PL_PEER_ID_CHECK_LABEL) - 1);
	memcpy(input + sizeof(PL_PEER_ID_CHECK_LABEL) - 1, id->digest, PL_PEER_ID_DIGEST_SIZE);
	pl_peer_id_sha256(input, sizeof(input), hash);
	memcpy(check, hash, PL_PEER_ID_CHECK_SIZE);
}

void
pl_peer_id_from_public_key(const guint8 *spki_der, gsize spki_len, PlPeerId *out)
{
	g_return_if_fail(spki_der != NULL || spki_len == 0);
	g_return_if_fail(out != NULL);
	pl_peer_id_sha256(spki_der, spki_len, out->digest);
}

/* writes PL_PEER_ID_BASE32_LEN characters, without a trailing NUL */
static void
pl_peer_id_encode_base32(const guint8 *raw, gchar *out)
{
	guint32 bits = 0;
	guint nbits = 0;
	gsize j = 0;

	for (gsize i = 0; i < PL_PEER_ID_RAW_SIZE; i++) {
		bits = (bits << 8) | raw[i];
		nbits += 8;
		while (nbits >= 5) {
			nbits -= 5;
			out[j++] = pl_peer_id_alphabet[(bits >> nbits) & 0x1f];
		}
	}
}

/* @values holds PL_PEER_ID_BASE32_LEN numbers in 0..31 */
static void
pl_peer_id_decode_base32(const guint8 *values, guint8 *raw)
{
	guint32 bits = 0;
	guint nbits = 0;
	gsize j = 0;

	for (gsize i = 0; i < PL_PEER_ID_BASE32_LEN; i++) {
		bits = (bits << 5) | values[i];
		nbits += 5;
		if (nbits >= 8) {
			nbits -= 8;
			raw[j++] = (bits >> nbits) & 0xff;
		}
	}
}

gchar *
pl_peer_id_to_string(const PlPeerId *id)
{
	guint8 raw[PL_PEER_ID_RAW_SIZE];
	gchar base32[PL_PEER_ID_BASE32_LEN];
	gchar *str;
	gsize j = 0;

	g_return_val_if_fail(id != NULL, NULL);

	memcpy(raw, id->digest, PL_PEER_ID_DIGEST_SIZE);
	pl_peer_id_compute_check(id, raw + PL_PEER_ID_DIGEST_SIZE);
	pl_peer_id_encode_base32(raw, base32);

	str = g_malloc(PL_PEER_ID_STRING_LEN + 1);
	for (gsize i = 0; i < PL_PEER_ID_BASE32_LEN; i++) {
		if (i > 0 && i % PL_PEER_ID_GROUP_LEN == 0)
			str[j++] = '-';
		str[j++] = base32[i];
	}
	str[j] = '\0';
	return str;
}

gchar *
pl_peer_id_to_short_string(const PlPeerId *id)
{
	g_autofree gchar *str = NULL;

	g_return_val_if_fail(id != NULL, NULL);

	str = pl_peer_id_to_string(id);
	return g_strndup(str, PL_PEER_ID_GROUP_LEN);
}

gboolean
pl_peer_id_equal(const PlPeerId *a, const PlPeerId *b)
{
	guint8 diff = 0;

	g_return_val_if_fail(a != NULL, FALSE);
	g_return_val_if_fail(b != NULL, FALSE);

	/* constant time, so comparing against a secret-ish expected ID leaks nothing */
	for (gsize i = 0; i < PL_PEER_ID_DIGEST_SIZE; i++)
		diff |= a->digest[i] ^ b->digest[i];
	return diff == 0;
}

static gboolean
pl_peer_id_is_separator(gunichar ch)
{
	return ch == '-' || ch == ' ' || ch == '\t';
}

/* upper case, and the look-alikes people type for letters that base32 lacks */
static gunichar
pl_peer_id_normalize_char(gunichar ch)
{
	if (ch == '0')
		return 'O';
	if (ch == '1')
		return 'I';
	if (ch == '8')
		return 'B';
	if (ch < 0x80)
		return g_ascii_toupper(ch);
	return ch;
}

static gint
pl_peer_id_base32_value(gunichar ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= '2' && ch <= '7')
		return ch - '2' + 26;
	return -1;
}

static gchar *
pl_peer_id_describe_char(gunichar ch)
{
	gchar utf8[7] = {0};

	if (!g_unichar_isprint(ch))
		return g_strdup_printf("U+%04X", ch);
	g_unichar_to_utf8(ch, utf8);
	return g_strdup_printf("‘%s’", utf8);
}

static gboolean
pl_peer_id_parse_values(const gchar *text, guint8 *values, GError **error)
{
	gunichar typed[PL_PEER_ID_BASE32_LEN];
	glong positions[PL_PEER_ID_BASE32_LEN];
	gsize count = 0;
	glong position = 0;
	const gchar *end = NULL;

	if (text == NULL)
		text = "";
	if (!g_utf8_validate(text, -1, &end)) {
		g_set_error(error, PL_PEER_ID_ERROR, PL_PEER_ID_ERROR_INVALID_CHARACTER,
		            _("Invalid peer ID: not valid UTF-8 at position %ld"),
		            g_utf8_strlen(text, end - text) + 1);
		return FALSE;
	}

	for (const gchar *p = text; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar ch = g_utf8_get_char(p);
		position++;
		if (pl_peer_id_is_separator(ch))
			continue;
		if (count < PL_PEER_ID_BASE32_LEN) {
			typed[count] = ch;
			positions[count] = position;
		}
		count++;
	}
	if (count != PL_PEER_ID_BASE32_LEN) {
		g_set_error(error, PL_PEER_ID_ERROR, PL_PEER_ID_ERROR_INVALID_LENGTH,
		            _("Invalid peer ID: found %lu characters but %d are expected "
		              "(not counting dashes and spaces)"),
		            (gulong)count, PL_PEER_ID_BASE32_LEN);
		return FALSE;
	}

	for (gsize i = 0; i < PL_PEER_ID_BASE32_LEN; i++) {
		gint value = pl_peer_id_base32_value(pl_peer_id_normalize_char(typed[i]));
		if (value < 0) {
			g_autofree gchar *what = pl_peer_id_describe_char(typed[i]);
			g_set_error(error, PL_PEER_ID_ERROR, PL_PEER_ID_ERROR_INVALID_CHARACTER,
			            _("Invalid peer ID: character %s at position %ld is not "
			              "allowed; only letters A-Z and digits 2-7 are used"),
			            what, positions[i]);
			return FALSE;
		}
		values[i] = (guint8)value;
	}
	return TRUE;
}

gboolean
pl_peer_id_parse(const gchar *text, PlPeerId *out, GError **error)
{
	guint8 values[PL_PEER_ID_BASE32_LEN];
	guint8 raw[PL_PEER_ID_RAW_SIZE];
	guint8 check[PL_PEER_ID_CHECK_SIZE];
	PlPeerId id;

	g_return_val_if_fail(out != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (!pl_peer_id_parse_values(text, values, error))
		return FALSE;
	pl_peer_id_decode_base32(values, raw);
	memcpy(id.digest, raw, PL_PEER_ID_DIGEST_SIZE);
	pl_peer_id_compute_check(&id, check);
	if (memcmp(check, raw + PL_PEER_ID_DIGEST_SIZE, PL_PEER_ID_CHECK_SIZE) != 0) {
		g_set_error_literal(
		        error, PL_PEER_ID_ERROR, PL_PEER_ID_ERROR_CHECKSUM,
		        _("Invalid peer ID: the check digits do not match: probably a typo"));
		return FALSE;
	}
	*out = id;
	return TRUE;
}
