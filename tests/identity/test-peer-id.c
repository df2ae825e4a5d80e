#include "config.h"

#include <string.h>

#include "pl-peer-id.h"

#define BASE32_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

/*
 * Known answers, computed independently of this code with Python:
 *   d = hashlib.sha256(spki).digest()
 *   c = hashlib.sha256(b"peerlink-peer-id-check" + d).digest()[:3]
 *   base64.b32encode(d + c), split into groups of 7
 */
static const gchar ed25519_spki_header[] = "\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00";

/* the Ed25519 SPKI header followed by 32 zero bytes */
#define ZERO_KEY_DIGEST "722abd12e99a5367f375aeb9672a8e07712e03c2add16fa8d6914d1cfa2efe0c"
#define ZERO_KEY_ID     "OIVL2EX-JTJJWP4-3VV24WO-KUOA5YS-4A6CVXI-W7KGWSF-GRZ6RO7-YGB4EQR"

/* the public key of RFC 8410 section 10.3 */
#define RFC8410_KEY        "19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1"
#define RFC8410_KEY_DIGEST "a1e9156054e04fac899ae9f275132cdc07a5dbc4ea2c2ad3a1ffc6e0d253681f"
#define RFC8410_KEY_ID     "UHURKYC-U4BH2ZC-M25HZHK-EZM3QD2-LW6E5IW-CVU5B77-DOBUSTN-AP2OCX5"

static void
hex_decode(const gchar *hex, guint8 *out, gsize out_len)
{
	g_assert_cmpuint(strlen(hex), ==, out_len * 2);
	for (gsize i = 0; i < out_len; i++) {
		gint hi = g_ascii_xdigit_value(hex[2 * i]);
		gint lo = g_ascii_xdigit_value(hex[2 * i + 1]);
		g_assert_cmpint(hi, >=, 0);
		g_assert_cmpint(lo, >=, 0);
		out[i] = (guint8)(hi << 4 | lo);
	}
}

static void
random_peer_id(PlPeerId *id)
{
	for (gsize i = 0; i < PL_PEER_ID_DIGEST_SIZE; i++)
		id->digest[i] = (guint8)g_test_rand_int_range(0, 256);
}

static void
assert_parse_error(const gchar *text, gint code)
{
	PlPeerId id = {0};
	g_autoptr(GError) error = NULL;

	g_assert_false(pl_peer_id_parse(text, &id, &error));
	g_assert_error(error, PL_PEER_ID_ERROR, code);
}

static void
assert_parses_to(const gchar *text, const PlPeerId *expected)
{
	PlPeerId id = {0};
	g_autoptr(GError) error = NULL;

	g_assert_true(pl_peer_id_parse(text, &id, &error));
	g_assert_no_error(error);
	g_assert_true(pl_peer_id_equal(&id, expected));
}

static void
test_peer_id_known_answer(void)
{
	struct {
		const gchar *key_hex;
		const gchar *digest_hex;
		const gchar *id;
	} vectors[] = {
	        {"0000000000000000000000000000000000000000000000000000000000000000",
	         ZERO_KEY_DIGEST, ZERO_KEY_ID},
	        {RFC8410_KEY, RFC8410_KEY_DIGEST, RFC8410_KEY_ID},
	};

	for (gsize i = 0; i < G_N_ELEMENTS(vectors); i++) {
		guint8 spki[44];
		PlPeerId expected = {0};
		PlPeerId id = {0};
		g_autofree gchar *str = NULL;
		g_autofree gchar *short_str = NULL;

		memcpy(spki, ed25519_spki_header, 12);
		hex_decode(vectors[i].key_hex, spki + 12, 32);
		hex_decode(vectors[i].digest_hex, expected.digest, sizeof(expected.digest));

		pl_peer_id_from_public_key(spki, sizeof(spki), &id);
		g_assert_cmpmem(id.digest, sizeof(id.digest), expected.digest,
		                sizeof(expected.digest));
		str = pl_peer_id_to_string(&id);
		g_assert_cmpstr(str, ==, vectors[i].id);
		short_str = pl_peer_id_to_short_string(&id);
		g_assert_cmpuint(strlen(short_str), ==, 7);
		g_assert_true(strncmp(short_str, vectors[i].id, 7) == 0);
		assert_parses_to(vectors[i].id, &expected);
	}
}

static void
test_peer_id_round_trip(void)
{
	for (guint i = 0; i < 200; i++) {
		PlPeerId id = {0};
		g_autofree gchar *str = NULL;
		g_autofree gchar *short_str = NULL;

		random_peer_id(&id);
		str = pl_peer_id_to_string(&id);
		assert_parses_to(str, &id);
		short_str = pl_peer_id_to_short_string(&id);
		g_assert_true(g_str_has_prefix(str, short_str));
		g_assert_cmpuint(strlen(short_str), ==, 7);
	}
}

static void
test_peer_id_format(void)
{
	for (guint i = 0; i < 50; i++) {
		PlPeerId id = {0};
		g_autofree gchar *str = NULL;

		random_peer_id(&id);
		str = pl_peer_id_to_string(&id);
		g_assert_cmpuint(strlen(str), ==, PL_PEER_ID_STRING_LEN);
		for (gsize j = 0; j < PL_PEER_ID_STRING_LEN; j++) {
			if (j % 8 == 7)
				g_assert_cmpint(str[j], ==, '-');
			else
				g_assert_nonnull(strchr(BASE32_ALPHABET, str[j]));
		}
	}
}

static void
test_peer_id_equal(void)
{
	PlPeerId a = {0};
	PlPeerId b = {0};

	random_peer_id(&a);
	b = a;
	g_assert_true(pl_peer_id_equal(&a, &b));
	for (gsize i = 0; i < PL_PEER_ID_DIGEST_SIZE; i++) {
		b = a;
		b.digest[i] ^= 0x80;
		g_assert_false(pl_peer_id_equal(&a, &b));
	}
}

static void
test_peer_id_lenient(void)
{
	PlPeerId expected = {0};
	g_autofree gchar *lower = g_ascii_strdown(ZERO_KEY_ID, -1);
	g_autofree gchar *no_dashes = NULL;
	g_autofree gchar *spaced = NULL;
	g_auto(GStrv) groups = g_strsplit(ZERO_KEY_ID, "-", -1);

	hex_decode(ZERO_KEY_DIGEST, expected.digest, sizeof(expected.digest));
	no_dashes = g_strjoinv("", groups);
	spaced = g_strjoinv(" \t ", groups);
	g_assert_cmpuint(strlen(no_dashes), ==, 56);

	assert_parses_to(lower, &expected);
	assert_parses_to(no_dashes, &expected);
	assert_parses_to(spaced, &expected);
	assert_parses_to("  oivl2ex-JTJJ WP4 3vv24wo--kuoa5ys4a6cvxiw7kgwsfgrz6ro7-ygb4eqr\t",
	                 &expected);
}

static gchar *
replace_look_alikes(const gchar *str)
{
	gchar *out = g_strdup(str);

	for (gchar *p = out; *p != '\0'; p++) {
		if (*p == 'O')
			*p = '0';
		else if (*p == 'I')
			*p = '1';
		else if (*p == 'B')
			*p = '8';
	}
	return out;
}

static void
test_peer_id_look_alikes(void)
{
	PlPeerId expected = {0};
	g_autofree gchar *typed = replace_look_alikes(ZERO_KEY_ID);
	g_autofree gchar *typed_lower = NULL;

	/* the vector holds all three letters, so the test exercises every mapping */
	g_assert_nonnull(strchr(ZERO_KEY_ID, 'O'));
	g_assert_nonnull(strchr(ZERO_KEY_ID, 'I'));
	g_assert_nonnull(strchr(ZERO_KEY_ID, 'B'));
	g_assert_nonnull(strchr(typed, '0'));
	g_assert_nonnull(strchr(typed, '1'));
	g_assert_nonnull(strchr(typed, '8'));

	hex_decode(ZERO_KEY_DIGEST, expected.digest, sizeof(expected.digest));
	assert_parses_to(typed, &expected);
	typed_lower = g_ascii_strdown(typed, -1);
	assert_parses_to(typed_lower, &expected);
}

static void
test_peer_id_substitution(void)
{
	const gchar *valid[] = {ZERO_KEY_ID, RFC8410_KEY_ID};

	for (gsize v = 0; v < G_N_ELEMENTS(valid); v++) {
		for (gsize i = 0; i < PL_PEER_ID_STRING_LEN; i++) {
			if (valid[v][i] == '-')
				continue;
			for (const gchar *c = BASE32_ALPHABET; *c != '\0'; c++) {
				g_autofree gchar *typo = NULL;
				if (*c == valid[v][i])
					continue;
				typo = g_strdup(valid[v]);
				typo[i] = *c;
				assert_parse_error(typo, PL_PEER_ID_ERROR_CHECKSUM);
			}
		}
	}
}

static void
test_peer_id_transposition(void)
{
	const gchar *valid[] = {ZERO_KEY_ID, RFC8410_KEY_ID};
	guint checked = 0;

	for (gsize v = 0; v < G_N_ELEMENTS(valid); v++) {
		g_auto(GStrv) groups = g_strsplit(valid[v], "-", -1);
		g_autofree gchar *compact = g_strjoinv("", groups);

		for (gsize i = 0; i + 1 < strlen(compact); i++) {
			g_autofree gchar *typo = NULL;
			if (compact[i] == compact[i + 1])
				continue;
			typo = g_strdup(compact);
			typo[i] = compact[i + 1];
			typo[i + 1] = compact[i];
			assert_parse_error(typo, PL_PEER_ID_ERROR_CHECKSUM);
			checked++;
		}
	}
	g_assert_cmpuint(checked, >, 100);
}

static void
test_peer_id_bad_length(void)
{
	g_autofree gchar *short_id = g_strndup(ZERO_KEY_ID, PL_PEER_ID_STRING_LEN - 1);
	g_autofree gchar *long_id = g_strconcat(ZERO_KEY_ID, "A", NULL);
	g_autofree gchar *huge = g_strnfill(100000, 'A');
	g_autoptr(GError) error = NULL;
	PlPeerId id = {0};

	assert_parse_error(short_id, PL_PEER_ID_ERROR_INVALID_LENGTH);
	assert_parse_error(long_id, PL_PEER_ID_ERROR_INVALID_LENGTH);
	assert_parse_error("", PL_PEER_ID_ERROR_INVALID_LENGTH);
	assert_parse_error(NULL, PL_PEER_ID_ERROR_INVALID_LENGTH);
	assert_parse_error("- - -\t", PL_PEER_ID_ERROR_INVALID_LENGTH);
	assert_parse_error(huge, PL_PEER_ID_ERROR_INVALID_LENGTH);

	/* the message tells the user what was found and what is expected */
	g_assert_false(pl_peer_id_parse(short_id, &id, &error));
	g_assert_error(error, PL_PEER_ID_ERROR, PL_PEER_ID_ERROR_INVALID_LENGTH);
	g_assert_nonnull(strstr(error->message, "55"));
	g_assert_nonnull(strstr(error->message, "56"));
}

static void
test_peer_id_bad_character(void)
{
	g_autofree gchar *bang = g_strdup(ZERO_KEY_ID);
	g_autofree gchar *nine = g_strdup(ZERO_KEY_ID);
	g_autofree gchar *accented = NULL;
	g_autofree gchar *not_utf8 = g_strdup(ZERO_KEY_ID);
	g_autoptr(GError) error = NULL;
	PlPeerId id = {0};

	bang[10] = '!';
	nine[0] = '9';
	accented = g_strconcat("\xc3\xa9", &ZERO_KEY_ID[1], NULL); /* é instead of O */
	not_utf8[20] = '\xff';

	assert_parse_error(nine, PL_PEER_ID_ERROR_INVALID_CHARACTER);
	assert_parse_error(accented, PL_PEER_ID_ERROR_INVALID_CHARACTER);
	assert_parse_error(not_utf8, PL_PEER_ID_ERROR_INVALID_CHARACTER);

	g_assert_false(pl_peer_id_parse(bang, &id, &error));
	g_assert_error(error, PL_PEER_ID_ERROR, PL_PEER_ID_ERROR_INVALID_CHARACTER);
	g_assert_nonnull(strstr(error->message, "!"));
	g_assert_nonnull(strstr(error->message, "11"));
}

static void
test_peer_id_error_quark(void)
{
	g_assert_cmpstr(g_quark_to_string(PL_PEER_ID_ERROR), ==, "pl-peer-id-error-quark");
}

static void
test_peer_id_parse_leaves_output_on_error(void)
{
	PlPeerId id = {0};
	PlPeerId zero = {0};
	g_autofree gchar *typo = g_strdup(ZERO_KEY_ID);

	typo[0] = typo[0] == 'A' ? 'B' : 'A';
	g_assert_false(pl_peer_id_parse(typo, &id, NULL));
	g_assert_cmpmem(id.digest, sizeof(id.digest), zero.digest, sizeof(zero.digest));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerlink/identity/peer-id/known-answer", test_peer_id_known_answer);
	g_test_add_func("/peerlink/identity/peer-id/round-trip", test_peer_id_round_trip);
	g_test_add_func("/peerlink/identity/peer-id/format", test_peer_id_format);
	g_test_add_func("/peerlink/identity/peer-id/equal", test_peer_id_equal);
	g_test_add_func("/peerlink/identity/peer-id/lenient", test_peer_id_lenient);
	g_test_add_func("/peerlink/identity/peer-id/look-alikes", test_peer_id_look_alikes);
	g_test_add_func("/peerlink/identity/peer-id/substitution", test_peer_id_substitution);
	g_test_add_func("/peerlink/identity/peer-id/transposition", test_peer_id_transposition);
	g_test_add_func("/peerlink/identity/peer-id/bad-length", test_peer_id_bad_length);
	g_test_add_func("/peerlink/identity/peer-id/bad-character", test_peer_id_bad_character);
	g_test_add_func("/peerlink/identity/peer-id/error-keeps-output",
	                test_peer_id_parse_leaves_output_on_error);
	g_test_add_func("/peerlink/identity/peer-id/error-quark", test_peer_id_error_quark);
	return g_test_run();
}
