/*
 * The STUN codec without a network: the RFC 5769 test vectors, our own
 * requests read back, and malformed input of every kind (each case copied
 * into a buffer of exactly its size, so that valgrind sees any read past it).
 */
#include "config.h"

#include <string.h>

#include "pl-stun-message.h"

/* RFC 5769 2.1: a request with a short-term credential, password below */
static const guint8 sample_request[] = {
        0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
        0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e,
        0x20, 0x74, 0x65, 0x73, 0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24,
        0x00, 0x04, 0x6e, 0x00, 0x01, 0xff, 0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1,
        0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68,
        0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c,
        0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5,
        0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
};
#define SAMPLE_PASSWORD "VOkJxbRl1RmTxUk/WvJxBt"

/* RFC 5769 2.2: IPv4 response, XOR-MAPPED-ADDRESS 192.0.2.1:32853 */
static const guint8 sample_ipv4_response[] = {
        0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
        0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74,
        0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01,
        0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43, 0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99,
        0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b,
        0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
};

/* RFC 5769 2.3: IPv6 response, [2001:db8:1234:5678:11:2233:4455:6677]:32853 */
static const guint8 sample_ipv6_response[] = {
        0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
        0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74,
        0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x14, 0x00, 0x02,
        0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5,
        0xbe, 0xd2, 0xb9, 0xd9, 0x00, 0x08, 0x00, 0x14, 0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6,
        0x7b, 0xf1, 0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75, 0xbf, 0xe3, 0xed, 0x41,
        0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c,
};

/* RFC 5769 2.4: a request with a long-term credential (no FINGERPRINT) */
static const guint8 sample_long_term_request[] = {
        0x00, 0x01, 0x00, 0x60, 0x21, 0x12, 0xa4, 0x42, 0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72,
        0xc0, 0x29, 0xda, 0x41, 0x2e, 0x00, 0x06, 0x00, 0x12, 0xe3, 0x83, 0x9e, 0xe3, 0x83, 0x88,
        0xe3, 0x83, 0xaa, 0xe3, 0x83, 0x83, 0xe3, 0x82, 0xaf, 0xe3, 0x82, 0xb9, 0x00, 0x00, 0x00,
        0x15, 0x00, 0x1c, 0x66, 0x2f, 0x2f, 0x34, 0x39, 0x39, 0x6b, 0x39, 0x35, 0x34, 0x64, 0x36,
        0x4f, 0x4c, 0x33, 0x34, 0x6f, 0x4c, 0x39, 0x46, 0x53, 0x54, 0x76, 0x79, 0x36, 0x34, 0x73,
        0x41, 0x00, 0x14, 0x00, 0x0b, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72,
        0x67, 0x00, 0x00, 0x08, 0x00, 0x14, 0xf6, 0x70, 0x24, 0x65, 0x6d, 0xd6, 0x4a, 0x3e, 0x02,
        0xb8, 0xe0, 0x71, 0x2e, 0x85, 0xc9, 0xa2, 0x8c, 0xa8, 0x96, 0x66,
};
/* "マトリックス", and "The<SOFT HYPHEN>M<FEMININE ORDINAL>tr<ROMAN NUMERAL NINE>" after SASLprep */
#define LONG_TERM_USERNAME                                                                         \
	"\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9"
#define LONG_TERM_PASSWORD "TheMatrIX"
#define LONG_TERM_REALM    "example.org"
#define LONG_TERM_NONCE    "f//499k954d6OL34oL9FSTvy64sA"

/* parses a copy of exactly len bytes: a read past it is a valgrind error */
static PlStunMessage *
parse_exact(const guint8 *data, gsize len, GError **error)
{
	g_autofree guint8 *copy = len > 0 ? g_memdup2(data, len) : g_malloc(1);

	return pl_stun_message_parse(copy, len, error);
}

static void
assert_malformed(const guint8 *data, gsize len, const gchar *needle)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStunMessage) message = parse_exact(data, len, &error);

	g_assert_null(message);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	g_test_message("refused: %s", error->message);
	if (needle != NULL && strstr(error->message, needle) == NULL)
		g_error("\"%s\" does not mention \"%s\"", error->message, needle);
}

static void
assert_address(GInetSocketAddress *address, const gchar *ip, guint16 port)
{
	g_autofree gchar *text = NULL;

	g_assert_nonnull(address);
	text = g_inet_address_to_string(g_inet_socket_address_get_address(address));
	g_assert_cmpstr(text, ==, ip);
	g_assert_cmpuint(g_inet_socket_address_get_port(address), ==, port);
}

/* -------------------------------------------------------------------------- */
/* the RFC 5769 vectors */

static void
test_vector_request(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStunMessage) message =
	        parse_exact(sample_request, sizeof(sample_request), &error);
	static const guint8 id[] = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
	                            0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

	/* the FINGERPRINT is checked by the parser */
	g_assert_no_error(error);
	g_assert_cmpint(message->type, ==, PL_STUN_BINDING_REQUEST);
	g_assert_cmpmem(message->transaction_id.id, sizeof(id), id, sizeof(id));
	g_assert_null(message->mapped);

	g_assert_true(pl_stun_message_check_integrity(sample_request, sizeof(sample_request),
	                                              (const guint8 *)SAMPLE_PASSWORD,
	                                              strlen(SAMPLE_PASSWORD), &error));
	g_assert_no_error(error);
	g_assert_false(pl_stun_message_check_integrity(sample_request, sizeof(sample_request),
	                                               (const guint8 *)"VOkJxbRl1RmTxUk/WvJxBT",
	                                               strlen(SAMPLE_PASSWORD), &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
}

static void
test_vector_ipv4_response(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStunMessage) message =
	        parse_exact(sample_ipv4_response, sizeof(sample_ipv4_response), &error);

	g_assert_no_error(error);
	g_assert_cmpint(message->type, ==, PL_STUN_BINDING_RESPONSE);
	assert_address(message->mapped, "192.0.2.1", 32853);
	g_assert_null(message->other);
	g_assert_null(message->relayed);
	g_assert_cmpuint(message->error_code, ==, 0);
	g_assert_true(pl_stun_message_check_integrity(
	        sample_ipv4_response, sizeof(sample_ipv4_response), (const guint8 *)SAMPLE_PASSWORD,
	        strlen(SAMPLE_PASSWORD), &error));
	g_assert_no_error(error);
}

static void
test_vector_ipv6_response(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStunMessage) message =
	        parse_exact(sample_ipv6_response, sizeof(sample_ipv6_response), &error);

	g_assert_no_error(error);
	g_assert_cmpint(message->type, ==, PL_STUN_BINDING_RESPONSE);
	assert_address(message->mapped, "2001:db8:1234:5678:11:2233:4455:6677", 32853);
	g_assert_true(pl_stun_message_check_integrity(
	        sample_ipv6_response, sizeof(sample_ipv6_response), (const guint8 *)SAMPLE_PASSWORD,
	        strlen(SAMPLE_PASSWORD), &error));
	g_assert_no_error(error);
}

static void
test_vector_long_term(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStunMessage) message =
	        parse_exact(sample_long_term_request, sizeof(sample_long_term_request), &error);
	guint8 key[PL_STUN_LONG_TERM_KEY_SIZE];

	g_assert_no_error(error);
	g_assert_cmpstr(message->realm, ==, LONG_TERM_REALM);
	g_assert_cmpstr(message->nonce, ==, LONG_TERM_NONCE);

	pl_stun_long_term_key(LONG_TERM_USERNAME, LONG_TERM_REALM, LONG_TERM_PASSWORD, key);
	g_assert_true(pl_stun_message_check_integrity(sample_long_term_request,
	                                              sizeof(sample_long_term_request), key,
	                                              sizeof(key), &error));
	g_assert_no_error(error);

	pl_stun_long_term_key(LONG_TERM_USERNAME, LONG_TERM_REALM, "TheMatrix", key);
	g_assert_false(pl_stun_message_check_integrity(sample_long_term_request,
	                                               sizeof(sample_long_term_request), key,
	                                               sizeof(key), &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
}

/* -------------------------------------------------------------------------- */
/* our requests */

static void
test_build_binding(void)
{
	PlStunTransactionId id;
	g_autoptr(GBytes) plain = NULL;
	g_autoptr(GBytes) change = NULL;
	g_autoptr(PlStunMessage) message = NULL;
	g_autoptr(GError) error = NULL;
	const guint8 *data;
	gsize len = 0;
	static const guint8 change_attr[] = {0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00, 0x06};

	pl_stun_transaction_id_generate(&id);
	plain = pl_stun_build_binding_request(&id, 0);
	data = g_bytes_get_data(plain, &len);
	/* header and FINGERPRINT */
	g_assert_cmpuint(len, ==, 28);
	g_assert_cmpuint(data[0], ==, 0x00);
	g_assert_cmpuint(data[1], ==, 0x01);
	g_assert_cmpuint(data[3], ==, 8);
	g_assert_cmpmem(data + 8, 12, id.id, 12);
	g_assert_cmpint(pl_stun_message_peek_length(data, len), ==, 28);
	message = parse_exact(data, len, &error);
	g_assert_no_error(error);
	g_assert_true(pl_stun_transaction_id_equal(&message->transaction_id, &id));
	g_clear_pointer(&message, pl_stun_message_free);

	change = pl_stun_build_binding_request(&id, PL_STUN_CHANGE_IP | PL_STUN_CHANGE_PORT);
	data = g_bytes_get_data(change, &len);
	g_assert_cmpuint(len, ==, 36);
	g_assert_cmpmem(data + 20, 8, change_attr, sizeof(change_attr));
	message = parse_exact(data, len, &error);
	g_assert_no_error(error);
}

static void
test_build_allocate(void)
{
	PlStunTransactionId id;
	PlStunTransactionId other;
	g_autoptr(GBytes) first = NULL;
	g_autoptr(GBytes) signed_request = NULL;
	g_autoptr(GBytes) refresh = NULL;
	g_autoptr(PlStunMessage) message = NULL;
	g_autoptr(GError) error = NULL;
	guint8 key[PL_STUN_LONG_TERM_KEY_SIZE];
	const guint8 *data;
	gsize len = 0;
	static const guint8 transport_attr[] = {0x00, 0x19, 0x00, 0x04, 0x11, 0x00, 0x00, 0x00};

	pl_stun_transaction_id_generate(&id);
	pl_stun_transaction_id_generate(&other);
	g_assert_false(pl_stun_transaction_id_equal(&id, &other));

	/* without realm and nonce: no credentials */
	first = pl_stun_build_allocate_request(&id, "1700000000:alice", "secret", NULL, NULL);
	data = g_bytes_get_data(first, &len);
	g_assert_cmpuint(len, ==, 20 + 8 + 8);
	g_assert_cmpuint(data[1], ==, 0x03);
	g_assert_cmpmem(data + 20, 8, transport_attr, sizeof(transport_attr));
	g_assert_false(pl_stun_message_check_integrity(data, len, (const guint8 *)"k", 1, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_clear_error(&error);

	signed_request = pl_stun_build_allocate_request(&id, "1700000000:alice", "secret",
	                                                "peerlink.test", "n0nce/+=");
	data = g_bytes_get_data(signed_request, &len);
	message = parse_exact(data, len, &error);
	g_assert_no_error(error);
	g_assert_cmpint(message->type, ==, PL_STUN_ALLOCATE_REQUEST);
	g_assert_cmpstr(message->realm, ==, "peerlink.test");
	g_assert_cmpstr(message->nonce, ==, "n0nce/+=");
	pl_stun_long_term_key("1700000000:alice", "peerlink.test", "secret", key);
	g_assert_true(pl_stun_message_check_integrity(data, len, key, sizeof(key), &error));
	g_assert_no_error(error);
	pl_stun_long_term_key("1700000000:alice", "peerlink.test", "Secret", key);
	g_assert_false(pl_stun_message_check_integrity(data, len, key, sizeof(key), &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	g_clear_error(&error);
	g_clear_pointer(&message, pl_stun_message_free);

	refresh = pl_stun_build_refresh_request(&id, 600, "u", "p", "r", "n");
	data = g_bytes_get_data(refresh, &len);
	message = parse_exact(data, len, &error);
	g_assert_no_error(error);
	g_assert_cmpint(message->type, ==, PL_STUN_REFRESH_REQUEST);
	g_assert_cmpuint(message->lifetime_s, ==, 600);
}

/* -------------------------------------------------------------------------- */
/* responses we make up */

static GByteArray *
response_new(guint16 type)
{
	GByteArray *buf = g_byte_array_new();
	guint8 header[20] = {type >> 8, type & 0xff, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1,  2,
	                     3,         4,           5, 6, 7,    8,    9,    10,   11, 12};

	g_byte_array_append(buf, header, sizeof(header));
	return buf;
}

static void
response_add(GByteArray *buf, guint16 type, const guint8 *value, guint16 len)
{
	guint8 header[4] = {type >> 8, type & 0xff, len >> 8, len & 0xff};
	static const guint8 pad[3] = {0, 0, 0};

	g_byte_array_append(buf, header, 4);
	g_byte_array_append(buf, value, len);
	if (len % 4 != 0)
		g_byte_array_append(buf, pad, 4 - len % 4);
	buf->data[2] = (buf->len - 20) >> 8;
	buf->data[3] = (buf->len - 20) & 0xff;
}

static void
test_parse_error_response(void)
{
	g_autoptr(GByteArray) buf = response_new(PL_STUN_ALLOCATE_ERROR);
	g_autoptr(PlStunMessage) message = NULL;
	g_autoptr(GError) error = NULL;
	static const guint8 code[] = {0,   0,   4,   1,   'U', 'n', 'a', 'u',
	                              't', 'h', 'o', 'r', 'i', 'z', 'e', 'd'};
	static const guint8 unknown_required[] = {1, 2, 3};

	response_add(buf, 0x0009, code, sizeof(code));
	response_add(buf, 0x0014, (const guint8 *)"peerlink.test", 13);
	response_add(buf, 0x0015, (const guint8 *)"abcdef", 6);
	/* an unknown comprehension-required attribute: skipped in a response */
	response_add(buf, 0x0099, unknown_required, sizeof(unknown_required));
	message = parse_exact(buf->data, buf->len, &error);
	g_assert_no_error(error);
	g_assert_cmpint(message->type, ==, PL_STUN_ALLOCATE_ERROR);
	g_assert_cmpuint(message->error_code, ==, 401);
	g_assert_cmpstr(message->error_reason, ==, "Unauthorized");
	g_assert_cmpstr(message->realm, ==, "peerlink.test");
	g_assert_cmpstr(message->nonce, ==, "abcdef");
}

static void
test_parse_rfc5780_response(void)
{
	g_autoptr(GByteArray) buf = response_new(PL_STUN_BINDING_RESPONSE);
	g_autoptr(PlStunMessage) message = NULL;
	g_autoptr(GError) error = NULL;
	/* MAPPED-ADDRESS 198.51.100.7:4000, OTHER-ADDRESS 203.0.113.2:3479,
	 * RESPONSE-ORIGIN 203.0.113.1:3478 */
	static const guint8 mapped[] = {0, 1, 0x0f, 0xa0, 198, 51, 100, 7};
	static const guint8 other[] = {0, 1, 0x0d, 0x97, 203, 0, 113, 2};
	static const guint8 origin[] = {0, 1, 0x0d, 0x96, 203, 0, 113, 1};
	static const guint8 lifetime[] = {0, 0, 0x02, 0x58};

	response_add(buf, 0x0001, mapped, sizeof(mapped));
	response_add(buf, 0x802c, other, sizeof(other));
	response_add(buf, 0x802b, origin, sizeof(origin));
	response_add(buf, 0x000d, lifetime, sizeof(lifetime));
	message = parse_exact(buf->data, buf->len, &error);
	g_assert_no_error(error);
	assert_address(message->mapped, "198.51.100.7", 4000);
	assert_address(message->other, "203.0.113.2", 3479);
	assert_address(message->origin, "203.0.113.1", 3478);
	g_assert_cmpuint(message->lifetime_s, ==, 600);
}

/* -------------------------------------------------------------------------- */
/* malformed input */

static void
test_malformed_truncated(void)
{
	/* every prefix of a good message is refused */
	for (gsize len = 0; len < sizeof(sample_ipv4_response); len++)
		assert_malformed(sample_ipv4_response, len, NULL);
	assert_malformed(NULL, 0, "shorter than a header");
	/* and so is a longer datagram */
	{
		g_autofree guint8 *longer = g_malloc0(sizeof(sample_ipv4_response) + 4);
		memcpy(longer, sample_ipv4_response, sizeof(sample_ipv4_response));
		assert_malformed(longer, sizeof(sample_ipv4_response) + 4, "announces");
	}
}

static void
test_malformed_lengths(void)
{
	g_autofree guint8 *copy = g_memdup2(sample_ipv4_response, sizeof(sample_ipv4_response));

	/* the header's length is not a multiple of 4 */
	copy[3] = 0x3d;
	assert_malformed(copy, sizeof(sample_ipv4_response), "multiple of 4");
	/* the header's length is too large, or too small */
	copy[3] = 0x40;
	assert_malformed(copy, sizeof(sample_ipv4_response), "announces");
	copy[3] = 0x38;
	assert_malformed(copy, sizeof(sample_ipv4_response), "announces");
	copy[3] = 0x3c;

	/* an attribute that runs past the end (SOFTWARE of 0x100 bytes) */
	copy[22] = 0x01;
	assert_malformed(copy, sizeof(sample_ipv4_response), "runs past the end");
	copy[22] = 0x00;

	/* XOR-MAPPED-ADDRESS of the wrong size for its family */
	{
		g_autoptr(GByteArray) buf = response_new(PL_STUN_BINDING_RESPONSE);
		static const guint8 short_v6[] = {0, 2, 0x0f, 0xa0, 1, 2, 3, 4};
		static const guint8 bad_family[] = {0, 3, 0x0f, 0xa0, 1, 2, 3, 4};
		response_add(buf, 0x0020, short_v6, sizeof(short_v6));
		assert_malformed(buf->data, buf->len, "XOR-MAPPED-ADDRESS");
		g_byte_array_set_size(buf, 20);
		response_add(buf, 0x0020, bad_family, sizeof(bad_family));
		assert_malformed(buf->data, buf->len, "family");
	}
	/* ERROR-CODE out of range, LIFETIME of 2 bytes */
	{
		g_autoptr(GByteArray) buf = response_new(PL_STUN_ALLOCATE_ERROR);
		static const guint8 code[] = {0, 0, 7, 1};
		static const guint8 two[] = {0, 1};
		response_add(buf, 0x0009, code, sizeof(code));
		assert_malformed(buf->data, buf->len, "ERROR-CODE");
		g_byte_array_set_size(buf, 20);
		response_add(buf, 0x000d, two, sizeof(two));
		assert_malformed(buf->data, buf->len, "LIFETIME");
	}
	/* a NONCE that is not text */
	{
		g_autoptr(GByteArray) buf = response_new(PL_STUN_ALLOCATE_ERROR);
		static const guint8 binary[] = {'a', 0, 'b', 0xff};
		response_add(buf, 0x0015, binary, sizeof(binary));
		assert_malformed(buf->data, buf->len, "NONCE");
	}
}

static void
test_malformed_huge(void)
{
	g_autofree guint8 *copy = g_memdup2(sample_ipv4_response, sizeof(sample_ipv4_response));

	/* 65532 bytes announced, 60 there */
	copy[2] = 0xff;
	copy[3] = 0xfc;
	assert_malformed(copy, sizeof(sample_ipv4_response), "announces");
	g_assert_cmpint(pl_stun_message_peek_length(copy, sizeof(sample_ipv4_response)), ==, -1);
	copy[2] = 0x00;
	copy[3] = 0x3c;
	/* an attribute of 65535 bytes */
	copy[22] = 0xff;
	copy[23] = 0xff;
	assert_malformed(copy, sizeof(sample_ipv4_response), "runs past the end");
}

static void
test_malformed_padding(void)
{
	g_autoptr(GByteArray) buf = response_new(PL_STUN_BINDING_RESPONSE);
	static const guint8 mapped[] = {0x00, 0x20, 0x00, 0x08, 0,    1,
	                                0x2e, 0xb2, 0xe1, 0x12, 0xa6, 0x43};
	static const guint8 filler[] = {0, 0, 0};

	/* SOFTWARE of 5 bytes without its 3 bytes of padding, then an address:
	 * the next attribute header lands inside the address */
	g_byte_array_append(buf, (const guint8 *)"\x80\x22\x00\x05hello", 9);
	g_byte_array_append(buf, mapped, sizeof(mapped));
	g_byte_array_append(buf, filler, sizeof(filler));
	buf->data[3] = buf->len - 20;
	g_assert_cmpuint((buf->len - 20) % 4, ==, 0);
	assert_malformed(buf->data, buf->len, NULL);

	/* the last attribute without its padding: the length is not a multiple of 4 */
	g_byte_array_set_size(buf, 20);
	g_byte_array_append(buf, (const guint8 *)"\x80\x22\x00\x05hello", 9);
	buf->data[3] = buf->len - 20;
	assert_malformed(buf->data, buf->len, "multiple of 4");
}

static void
test_malformed_fingerprint(void)
{
	g_autofree guint8 *copy = g_memdup2(sample_ipv4_response, sizeof(sample_ipv4_response));
	g_autoptr(GByteArray) buf = g_byte_array_new();

	copy[sizeof(sample_ipv4_response) - 1] ^= 0x01;
	assert_malformed(copy, sizeof(sample_ipv4_response), "FINGERPRINT");
	copy[sizeof(sample_ipv4_response) - 1] ^= 0x01;
	/* a changed byte before it */
	copy[30] ^= 0x20;
	assert_malformed(copy, sizeof(sample_ipv4_response), "FINGERPRINT");
	copy[30] ^= 0x20;

	/* something after FINGERPRINT */
	g_byte_array_append(buf, sample_ipv4_response, sizeof(sample_ipv4_response));
	g_byte_array_append(buf,
	                    (const guint8 *)"\x80\x22\x00\x04"
	                                    "abcd",
	                    8);
	buf->data[3] += 8;
	assert_malformed(buf->data, buf->len, "after FINGERPRINT");
}

static void
test_malformed_header(void)
{
	g_autofree guint8 *copy = g_memdup2(sample_ipv4_response, sizeof(sample_ipv4_response));

	copy[4] = 0x00;
	assert_malformed(copy, sizeof(sample_ipv4_response), "cookie");
	g_assert_cmpint(pl_stun_message_peek_length(copy, sizeof(sample_ipv4_response)), ==, -1);
	copy[4] = 0x21;
	copy[0] = 0x41;
	assert_malformed(copy, sizeof(sample_ipv4_response), "first two bits");
	g_assert_cmpint(pl_stun_message_peek_length(copy, 1), ==, -1);
	/* a Binding indication: not a type we know */
	copy[0] = 0x00;
	copy[1] = 0x11;
	assert_malformed(copy, sizeof(sample_ipv4_response), "type");
}

static void
test_peek_length(void)
{
	g_assert_cmpint(pl_stun_message_peek_length(sample_ipv4_response, 0), ==, 0);
	g_assert_cmpint(pl_stun_message_peek_length(sample_ipv4_response, 7), ==, 0);
	g_assert_cmpint(pl_stun_message_peek_length(sample_ipv4_response, 19), ==, 0);
	g_assert_cmpint(pl_stun_message_peek_length(sample_ipv4_response, 20), ==, 80);
	g_assert_cmpint(pl_stun_message_peek_length(sample_ipv4_response, 80), ==, 80);
	/* ChannelData (0x4000…) is not STUN */
	g_assert_cmpint(pl_stun_message_peek_length((const guint8 *)"\x40\x00\x00\x04", 4), ==, -1);
}

/* random damage to the vectors: refused or parsed, never a crash or a bad read */
static void
test_malformed_random(void)
{
	const guint8 *vectors[] = {sample_request, sample_ipv4_response, sample_ipv6_response,
	                           sample_long_term_request};
	const gsize sizes[] = {sizeof(sample_request), sizeof(sample_ipv4_response),
	                       sizeof(sample_ipv6_response), sizeof(sample_long_term_request)};
	guint parsed = 0;

	for (guint round = 0; round < 4000; round++) {
		guint v = round % G_N_ELEMENTS(vectors);
		gsize len = sizes[v] - (gsize)g_test_rand_int_range(0, 3) * 4;
		g_autofree guint8 *copy = g_memdup2(vectors[v], len);
		g_autoptr(PlStunMessage) message = NULL;
		guint flips = (guint)g_test_rand_int_range(1, 4);

		/* keep the length field consistent half of the time */
		if (round % 2 == 0) {
			copy[2] = (len - 20) >> 8;
			copy[3] = (len - 20) & 0xff;
		}
		for (guint f = 0; f < flips; f++)
			copy[g_test_rand_int_range(0, (gint32)len)] ^=
			        (guint8)g_test_rand_int_range(1, 256);
		message = pl_stun_message_parse(copy, len, NULL);
		if (message != NULL)
			parsed++;
		pl_stun_message_peek_length(copy, len);
		pl_stun_message_check_integrity(copy, len, (const guint8 *)"k", 1, NULL);
	}
	g_test_message("%u of 4000 damaged messages still parsed", parsed);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerlink/netcheck/stun/vector/request", test_vector_request);
	g_test_add_func("/peerlink/netcheck/stun/vector/ipv4-response", test_vector_ipv4_response);
	g_test_add_func("/peerlink/netcheck/stun/vector/ipv6-response", test_vector_ipv6_response);
	g_test_add_func("/peerlink/netcheck/stun/vector/long-term", test_vector_long_term);
	g_test_add_func("/peerlink/netcheck/stun/build/binding", test_build_binding);
	g_test_add_func("/peerlink/netcheck/stun/build/allocate", test_build_allocate);
	g_test_add_func("/peerlink/netcheck/stun/parse/error-response", test_parse_error_response);
	g_test_add_func("/peerlink/netcheck/stun/parse/rfc5780", test_parse_rfc5780_response);
	g_test_add_func("/peerlink/netcheck/stun/peek-length", test_peek_length);
	g_test_add_func("/peerlink/netcheck/stun/malformed/truncated", test_malformed_truncated);
	g_test_add_func("/peerlink/netcheck/stun/malformed/lengths", test_malformed_lengths);
	g_test_add_func("/peerlink/netcheck/stun/malformed/huge", test_malformed_huge);
	g_test_add_func("/peerlink/netcheck/stun/malformed/padding", test_malformed_padding);
	g_test_add_func("/peerlink/netcheck/stun/malformed/fingerprint",
	                test_malformed_fingerprint);
	g_test_add_func("/peerlink/netcheck/stun/malformed/header", test_malformed_header);
	g_test_add_func("/peerlink/netcheck/stun/malformed/random", test_malformed_random);
	return g_test_run();
}
