#include "config.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>

#include "pl-stun-message.h"

/* attributes (RFC 5389, 5766, 5780, 3489) */
#define PL_STUN_ATTR_MAPPED_ADDRESS      0x0001
#define PL_STUN_ATTR_CHANGE_REQUEST      0x0003
#define PL_STUN_ATTR_CHANGED_ADDRESS     0x0005
#define PL_STUN_ATTR_USERNAME            0x0006
#define PL_STUN_ATTR_MESSAGE_INTEGRITY   0x0008
#define PL_STUN_ATTR_ERROR_CODE          0x0009
#define PL_STUN_ATTR_LIFETIME            0x000D
#define PL_STUN_ATTR_REALM               0x0014
#define PL_STUN_ATTR_NONCE               0x0015
#define PL_STUN_ATTR_XOR_RELAYED_ADDRESS 0x0016
#define PL_STUN_ATTR_REQUESTED_TRANSPORT 0x0019
#define PL_STUN_ATTR_XOR_MAPPED_ADDRESS  0x0020
#define PL_STUN_ATTR_SOFTWARE            0x8022
#define PL_STUN_ATTR_FINGERPRINT         0x8028
#define PL_STUN_ATTR_RESPONSE_ORIGIN     0x802B
#define PL_STUN_ATTR_OTHER_ADDRESS       0x802C

#define PL_STUN_FINGERPRINT_XOR   0x5354554e
#define PL_STUN_INTEGRITY_SIZE    20
#define PL_STUN_MAX_TEXT_SIZE     763 /* REALM, NONCE, reason phrase */
#define PL_STUN_MAX_USERNAME_SIZE 513
#define PL_STUN_PROTOCOL_UDP      17

static guint16
pl_stun_read16(const guint8 *p)
{
	return (guint16)((p[0] << 8) | p[1]);
}

static guint32
pl_stun_read32(const guint8 *p)
{
	return ((guint32)p[0] << 24) | ((guint32)p[1] << 16) | ((guint32)p[2] << 8) | p[3];
}

static void
pl_stun_write16(guint8 *p, guint16 value)
{
	p[0] = value >> 8;
	p[1] = value & 0xff;
}

static void
pl_stun_write32(guint8 *p, guint32 value)
{
	p[0] = value >> 24;
	p[1] = (value >> 16) & 0xff;
	p[2] = (value >> 8) & 0xff;
	p[3] = value & 0xff;
}

/* CRC-32 as in ISO 3309 / zlib (reflected, polynomial 0xEDB88320) */
static guint32
pl_stun_crc32(const guint8 *data, gsize len)
{
	static guint32 table[256];
	static gsize table_ready = 0;
	guint32 crc = 0xffffffff;

	if (g_once_init_enter(&table_ready)) {
		for (guint32 i = 0; i < 256; i++) {
			guint32 c = i;
			for (guint k = 0; k < 8; k++)
				c = (c & 1) ? 0xedb88320 ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
		g_once_init_leave(&table_ready, 1);
	}
	for (gsize i = 0; i < len; i++)
		crc = table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
	return crc ^ 0xffffffff;
}

/* -------------------------------------------------------------------------- */
/* transaction IDs */

void
pl_stun_transaction_id_generate(PlStunTransactionId *id)
{
	g_return_if_fail(id != NULL);
	/* unpredictable, so that an off-path host cannot forge answers */
	if (gnutls_rnd(GNUTLS_RND_NONCE, id->id, sizeof(id->id)) != 0) {
		for (guint i = 0; i < sizeof(id->id); i++)
			id->id[i] = (guint8)g_random_int_range(0, 256);
	}
}

gboolean
pl_stun_transaction_id_equal(const PlStunTransactionId *a, const PlStunTransactionId *b)
{
	g_return_val_if_fail(a != NULL && b != NULL, FALSE);
	return memcmp(a->id, b->id, sizeof(a->id)) == 0;
}

/* -------------------------------------------------------------------------- */
/* building */

static GByteArray *
pl_stun_builder_new(PlStunMessageType type, const PlStunTransactionId *id)
{
	GByteArray *buf = g_byte_array_sized_new(256);
	guint8 header[PL_STUN_HEADER_SIZE];

	pl_stun_write16(header, type);
	pl_stun_write16(header + 2, 0);
	pl_stun_write32(header + 4, PL_STUN_MAGIC_COOKIE);
	memcpy(header + 8, id->id, PL_STUN_TRANSACTION_ID_SIZE);
	g_byte_array_append(buf, header, sizeof(header));
	return buf;
}

static void
pl_stun_builder_set_length(GByteArray *buf, gsize total)
{
	pl_stun_write16(buf->data + 2, (guint16)(total - PL_STUN_HEADER_SIZE));
}

static void
pl_stun_builder_add(GByteArray *buf, guint16 type, const void *value, gsize len)
{
	static const guint8 zeros[3] = {0, 0, 0};
	guint8 header[4];

	g_assert(len <= G_MAXUINT16 - 3);
	pl_stun_write16(header, type);
	pl_stun_write16(header + 2, (guint16)len);
	g_byte_array_append(buf, header, sizeof(header));
	if (len > 0)
		g_byte_array_append(buf, value, len);
	if (len % 4 != 0)
		g_byte_array_append(buf, zeros, 4 - len % 4);
	pl_stun_builder_set_length(buf, buf->len);
}

static void
pl_stun_builder_add_string(GByteArray *buf, guint16 type, const gchar *value)
{
	pl_stun_builder_add(buf, type, value, strlen(value));
}

static void
pl_stun_builder_add_u32(GByteArray *buf, guint16 type, guint32 value)
{
	guint8 bytes[4];

	pl_stun_write32(bytes, value);
	pl_stun_builder_add(buf, type, bytes, sizeof(bytes));
}

static void
pl_stun_hmac_sha1(const guint8 *key,
                  gsize key_len,
                  const guint8 *data,
                  gsize len,
                  guint8 out[PL_STUN_INTEGRITY_SIZE])
{
	g_autoptr(GHmac) hmac = g_hmac_new(G_CHECKSUM_SHA1, key, key_len);
	gsize out_len = PL_STUN_INTEGRITY_SIZE;

	g_hmac_update(hmac, data, len);
	g_hmac_get_digest(hmac, out, &out_len);
}

/* the length field covers MESSAGE-INTEGRITY itself while the HMAC is computed */
static void
pl_stun_builder_add_integrity(GByteArray *buf, const guint8 *key, gsize key_len)
{
	guint8 digest[PL_STUN_INTEGRITY_SIZE];

	pl_stun_builder_set_length(buf, buf->len + 4 + PL_STUN_INTEGRITY_SIZE);
	pl_stun_hmac_sha1(key, key_len, buf->data, buf->len, digest);
	pl_stun_builder_add(buf, PL_STUN_ATTR_MESSAGE_INTEGRITY, digest, sizeof(digest));
}

static void
pl_stun_builder_add_fingerprint(GByteArray *buf)
{
	pl_stun_builder_set_length(buf, buf->len + 8);
	pl_stun_builder_add_u32(buf, PL_STUN_ATTR_FINGERPRINT,
	                        pl_stun_crc32(buf->data, buf->len) ^ PL_STUN_FINGERPRINT_XOR);
}

static GBytes *
pl_stun_builder_finish(GByteArray *buf)
{
	pl_stun_builder_add_fingerprint(buf);
	return g_byte_array_free_to_bytes(buf);
}

void
pl_stun_long_term_key(const gchar *username,
                      const gchar *realm,
                      const gchar *password,
                      guint8 key[PL_STUN_LONG_TERM_KEY_SIZE])
{
	g_autoptr(GChecksum) md5 = g_checksum_new(G_CHECKSUM_MD5);
	gsize key_len = PL_STUN_LONG_TERM_KEY_SIZE;

	g_return_if_fail(username != NULL && realm != NULL && password != NULL);
	g_checksum_update(md5, (const guchar *)username, -1);
	g_checksum_update(md5, (const guchar *)":", 1);
	g_checksum_update(md5, (const guchar *)realm, -1);
	g_checksum_update(md5, (const guchar *)":", 1);
	g_checksum_update(md5, (const guchar *)password, -1);
	g_checksum_get_digest(md5, key, &key_len);
}

/* USERNAME, REALM, NONCE and MESSAGE-INTEGRITY once the server has named its realm */
static void
pl_stun_builder_add_credentials(GByteArray *buf,
                                const gchar *username,
                                const gchar *password,
                                const gchar *realm,
                                const gchar *nonce)
{
	guint8 key[PL_STUN_LONG_TERM_KEY_SIZE];

	if (username == NULL || password == NULL || realm == NULL || nonce == NULL)
		return;
	pl_stun_builder_add_string(buf, PL_STUN_ATTR_USERNAME, username);
	pl_stun_builder_add_string(buf, PL_STUN_ATTR_REALM, realm);
	pl_stun_builder_add_string(buf, PL_STUN_ATTR_NONCE, nonce);
	pl_stun_long_term_key(username, realm, password, key);
	pl_stun_builder_add_integrity(buf, key, sizeof(key));
}

static gboolean
pl_stun_credentials_fit(const gchar *username, const gchar *realm, const gchar *nonce)
{
	return (username == NULL || strlen(username) <= PL_STUN_MAX_USERNAME_SIZE) &&
	       (realm == NULL || strlen(realm) <= PL_STUN_MAX_TEXT_SIZE) &&
	       (nonce == NULL || strlen(nonce) <= PL_STUN_MAX_TEXT_SIZE);
}

GBytes *
pl_stun_build_binding_request(const PlStunTransactionId *id, guint8 change_flags)
{
	GByteArray *buf;

	g_return_val_if_fail(id != NULL, NULL);
	g_return_val_if_fail((change_flags & ~(PL_STUN_CHANGE_IP | PL_STUN_CHANGE_PORT)) == 0,
	                     NULL);

	buf = pl_stun_builder_new(PL_STUN_BINDING_REQUEST, id);
	if (change_flags != 0)
		pl_stun_builder_add_u32(buf, PL_STUN_ATTR_CHANGE_REQUEST, change_flags);
	return pl_stun_builder_finish(buf);
}

GBytes *
pl_stun_build_allocate_request(const PlStunTransactionId *id,
                               const gchar *username,
                               const gchar *password,
                               const gchar *realm,
                               const gchar *nonce)
{
	GByteArray *buf;

	g_return_val_if_fail(id != NULL, NULL);
	g_return_val_if_fail(pl_stun_credentials_fit(username, realm, nonce), NULL);

	buf = pl_stun_builder_new(PL_STUN_ALLOCATE_REQUEST, id);
	pl_stun_builder_add_u32(buf, PL_STUN_ATTR_REQUESTED_TRANSPORT,
	                        (guint32)PL_STUN_PROTOCOL_UDP << 24);
	pl_stun_builder_add_credentials(buf, username, password, realm, nonce);
	return pl_stun_builder_finish(buf);
}

GBytes *
pl_stun_build_refresh_request(const PlStunTransactionId *id,
                              guint32 lifetime_s,
                              const gchar *username,
                              const gchar *password,
                              const gchar *realm,
                              const gchar *nonce)
{
	GByteArray *buf;

	g_return_val_if_fail(id != NULL, NULL);
	g_return_val_if_fail(pl_stun_credentials_fit(username, realm, nonce), NULL);

	buf = pl_stun_builder_new(PL_STUN_REFRESH_REQUEST, id);
	pl_stun_builder_add_u32(buf, PL_STUN_ATTR_LIFETIME, lifetime_s);
	pl_stun_builder_add_credentials(buf, username, password, realm, nonce);
	return pl_stun_builder_finish(buf);
}

/* -------------------------------------------------------------------------- */
/* parsing */

void
pl_stun_message_free(PlStunMessage *self)
{
	if (self == NULL)
		return;
	g_clear_object(&self->mapped);
	g_clear_object(&self->other);
	g_clear_object(&self->origin);
	g_clear_object(&self->relayed);
	g_free(self->error_reason);
	g_free(self->realm);
	g_free(self->nonce);
	g_free(self);
}

static gboolean pl_stun_invalid(GError **error, const gchar *format, ...) G_GNUC_PRINTF(2, 3);

static gboolean
pl_stun_invalid(GError **error, const gchar *format, ...)
{
	g_autofree gchar *message = NULL;
	va_list args;

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "Malformed STUN message: %s",
	            message);
	return FALSE;
}

static gboolean
pl_stun_type_is_known(guint16 type)
{
	switch (type) {
	case PL_STUN_BINDING_REQUEST:
	case PL_STUN_BINDING_RESPONSE:
	case PL_STUN_BINDING_ERROR:
	case PL_STUN_ALLOCATE_REQUEST:
	case PL_STUN_ALLOCATE_RESPONSE:
	case PL_STUN_ALLOCATE_ERROR:
	case PL_STUN_REFRESH_REQUEST:
	case PL_STUN_REFRESH_RESPONSE:
	case PL_STUN_REFRESH_ERROR:
		return TRUE;
	default:
		return FALSE;
	}
}

gssize
pl_stun_message_peek_length(const guint8 *data, gsize len)
{
	gsize total;

	g_return_val_if_fail(data != NULL || len == 0, -1);

	if (len >= 1 && (data[0] & 0xc0) != 0)
		return -1;
	if (len >= 8 && pl_stun_read32(data + 4) != PL_STUN_MAGIC_COOKIE)
		return -1;
	if (len < PL_STUN_HEADER_SIZE)
		return 0;
	total = PL_STUN_HEADER_SIZE + pl_stun_read16(data + 2);
	if (total % 4 != 0 || total > PL_STUN_MAX_MESSAGE_SIZE)
		return -1;
	return (gssize)total;
}

/* the header: size, first bits, length field, cookie; a known type */
static gboolean
pl_stun_check_header(const guint8 *data, gsize len, GError **error)
{
	guint16 length;
	guint16 type;

	if (data == NULL || len < PL_STUN_HEADER_SIZE)
		return pl_stun_invalid(error, "%" G_GSIZE_FORMAT " bytes, shorter than a header",
		                       data == NULL ? 0 : len);
	if ((data[0] & 0xc0) != 0)
		return pl_stun_invalid(error, "the first two bits are not zero");
	length = pl_stun_read16(data + 2);
	if (length % 4 != 0)
		return pl_stun_invalid(error, "the length %u is not a multiple of 4", length);
	if ((gsize)length + PL_STUN_HEADER_SIZE != len)
		return pl_stun_invalid(error,
		                       "the header announces %u bytes of attributes, "
		                       "%" G_GSIZE_FORMAT " follow",
		                       length, len - PL_STUN_HEADER_SIZE);
	if (pl_stun_read32(data + 4) != PL_STUN_MAGIC_COOKIE)
		return pl_stun_invalid(error, "no magic cookie");
	type = pl_stun_read16(data);
	if (!pl_stun_type_is_known(type))
		return pl_stun_invalid(error, "unexpected message type 0x%04x", type);
	return TRUE;
}

typedef struct {
	const guint8 *data;
	gsize len;
	gsize offset; /* of the next attribute */
} PlStunIter;

/* the next attribute, bounds checked; FALSE with error if it runs past the end,
 * FALSE without error at the end */
static gboolean
pl_stun_iter_next(PlStunIter *iter,
                  guint16 *type,
                  const guint8 **value,
                  guint16 *value_len,
                  gsize *attr_offset,
                  GError **error)
{
	gsize left = iter->len - iter->offset;
	gsize padded;

	if (left == 0)
		return FALSE;
	if (left < 4)
		return pl_stun_invalid(error, "a truncated attribute header");
	*type = pl_stun_read16(iter->data + iter->offset);
	*value_len = pl_stun_read16(iter->data + iter->offset + 2);
	padded = ((gsize)*value_len + 3) & ~(gsize)3;
	if (padded > left - 4)
		return pl_stun_invalid(error,
		                       "attribute 0x%04x of %u bytes (%" G_GSIZE_FORMAT
		                       " with padding) runs past the end",
		                       *type, *value_len, padded);
	*value = iter->data + iter->offset + 4;
	*attr_offset = iter->offset;
	iter->offset += 4 + padded;
	return TRUE;
}

/* (XOR-)MAPPED-ADDRESS and friends: reserved, family, port, address */
static gboolean
pl_stun_parse_address(const guint8 *value,
                      guint16 len,
                      gboolean xored,
                      const PlStunTransactionId *id,
                      const gchar *name,
                      GInetSocketAddress **out,
                      GError **error)
{
	guint8 bytes[16];
	guint8 mask[16];
	gsize size;
	guint16 port;
	g_autoptr(GInetAddress) address = NULL;

	if (len < 4)
		return pl_stun_invalid(error, "%s of %u bytes", name, len);
	switch (value[1]) {
	case 0x01:
		size = 4;
		break;
	case 0x02:
		size = 16;
		break;
	default:
		return pl_stun_invalid(error, "%s has the unknown family %u", name, value[1]);
	}
	if (len != 4 + size)
		return pl_stun_invalid(error, "%s of %u bytes for its family", name, len);
	port = pl_stun_read16(value + 2);
	memcpy(bytes, value + 4, size);
	if (xored) {
		pl_stun_write32(mask, PL_STUN_MAGIC_COOKIE);
		memcpy(mask + 4, id->id, PL_STUN_TRANSACTION_ID_SIZE);
		port ^= PL_STUN_MAGIC_COOKIE >> 16;
		for (gsize i = 0; i < size; i++)
			bytes[i] ^= mask[i];
	}
	/* a later duplicate is ignored (RFC 5389 15: the first one counts) */
	if (*out != NULL)
		return TRUE;
	address = g_inet_address_new_from_bytes(bytes, size == 4 ? G_SOCKET_FAMILY_IPV4
	                                                         : G_SOCKET_FAMILY_IPV6);
	*out = G_INET_SOCKET_ADDRESS(g_inet_socket_address_new(address, port));
	return TRUE;
}

/* REALM, NONCE: UTF-8 without NUL, at most 763 bytes */
static gboolean
pl_stun_parse_text(const guint8 *value, guint16 len, const gchar *name, gchar **out, GError **error)
{
	if (len > PL_STUN_MAX_TEXT_SIZE)
		return pl_stun_invalid(error, "%s of %u bytes", name, len);
	if (memchr(value, '\0', len) != NULL || !g_utf8_validate((const gchar *)value, len, NULL))
		return pl_stun_invalid(error, "%s is not UTF-8 text", name);
	if (*out == NULL)
		*out = g_strndup((const gchar *)value, len);
	return TRUE;
}

static gboolean
pl_stun_parse_error_code(const guint8 *value, guint16 len, PlStunMessage *msg, GError **error)
{
	guint class_;
	guint number;
	gsize reason_len;

	if (len < 4)
		return pl_stun_invalid(error, "ERROR-CODE of %u bytes", len);
	class_ = value[2] & 0x07;
	number = value[3];
	if (class_ < 3 || class_ > 6 || number > 99)
		return pl_stun_invalid(error, "ERROR-CODE %u%02u out of range", class_, number);
	if (msg->error_code != 0)
		return TRUE;
	msg->error_code = class_ * 100 + number;
	reason_len = MIN((gsize)len - 4, (gsize)PL_STUN_MAX_TEXT_SIZE);
	if (reason_len > 0) {
		/* for messages to humans: invalid bytes become U+FFFD, NULs end it */
		g_autofree gchar *raw = g_strndup((const gchar *)value + 4, reason_len);
		msg->error_reason = g_utf8_make_valid(raw, -1);
	}
	return TRUE;
}

static gboolean
pl_stun_parse_attribute(PlStunMessage *msg,
                        const guint8 *data,
                        guint16 type,
                        const guint8 *value,
                        guint16 len,
                        gsize attr_offset,
                        GInetSocketAddress **plain_mapped,
                        GInetSocketAddress **changed,
                        GError **error)
{
	const PlStunTransactionId *id = &msg->transaction_id;

	switch (type) {
	case PL_STUN_ATTR_XOR_MAPPED_ADDRESS:
		return pl_stun_parse_address(value, len, TRUE, id, "XOR-MAPPED-ADDRESS",
		                             &msg->mapped, error);
	case PL_STUN_ATTR_MAPPED_ADDRESS:
		return pl_stun_parse_address(value, len, FALSE, id, "MAPPED-ADDRESS", plain_mapped,
		                             error);
	case PL_STUN_ATTR_OTHER_ADDRESS:
		return pl_stun_parse_address(value, len, FALSE, id, "OTHER-ADDRESS", &msg->other,
		                             error);
	case PL_STUN_ATTR_CHANGED_ADDRESS:
		return pl_stun_parse_address(value, len, FALSE, id, "CHANGED-ADDRESS", changed,
		                             error);
	case PL_STUN_ATTR_RESPONSE_ORIGIN:
		return pl_stun_parse_address(value, len, FALSE, id, "RESPONSE-ORIGIN", &msg->origin,
		                             error);
	case PL_STUN_ATTR_XOR_RELAYED_ADDRESS:
		return pl_stun_parse_address(value, len, TRUE, id, "XOR-RELAYED-ADDRESS",
		                             &msg->relayed, error);
	case PL_STUN_ATTR_ERROR_CODE:
		return pl_stun_parse_error_code(value, len, msg, error);
	case PL_STUN_ATTR_REALM:
		return pl_stun_parse_text(value, len, "REALM", &msg->realm, error);
	case PL_STUN_ATTR_NONCE:
		return pl_stun_parse_text(value, len, "NONCE", &msg->nonce, error);
	case PL_STUN_ATTR_LIFETIME:
		if (len != 4)
			return pl_stun_invalid(error, "LIFETIME of %u bytes", len);
		if (msg->lifetime_s == 0)
			msg->lifetime_s = pl_stun_read32(value);
		return TRUE;
	case PL_STUN_ATTR_MESSAGE_INTEGRITY:
		if (len != PL_STUN_INTEGRITY_SIZE)
			return pl_stun_invalid(error, "MESSAGE-INTEGRITY of %u bytes", len);
		return TRUE;
	case PL_STUN_ATTR_FINGERPRINT:
		if (len != 4)
			return pl_stun_invalid(error, "FINGERPRINT of %u bytes", len);
		if ((pl_stun_crc32(data, attr_offset) ^ PL_STUN_FINGERPRINT_XOR) !=
		    pl_stun_read32(value))
			return pl_stun_invalid(error, "wrong FINGERPRINT");
		return TRUE;
	default:
		/* unknown attributes are skipped, comprehension-required or not: in a
		 * response they cannot change what the response means to us */
		return TRUE;
	}
}

PlStunMessage *
pl_stun_message_parse(const guint8 *data, gsize len, GError **error)
{
	g_autoptr(PlStunMessage) msg = NULL;
	g_autoptr(GInetSocketAddress) plain_mapped = NULL;
	g_autoptr(GInetSocketAddress) changed = NULL;
	PlStunIter iter = {data, len, PL_STUN_HEADER_SIZE};
	gboolean seen_integrity = FALSE;
	GError *iter_error = NULL;
	guint16 type;
	const guint8 *value;
	guint16 value_len;
	gsize attr_offset;

	if (!pl_stun_check_header(data, len, error))
		return NULL;
	msg = g_new0(PlStunMessage, 1);
	msg->type = pl_stun_read16(data);
	memcpy(msg->transaction_id.id, data + 8, PL_STUN_TRANSACTION_ID_SIZE);

	while (pl_stun_iter_next(&iter, &type, &value, &value_len, &attr_offset, &iter_error)) {
		if (type == PL_STUN_ATTR_FINGERPRINT) {
			/* the last attribute, whatever comes before */
			if (iter.offset != len) {
				pl_stun_invalid(error, "attributes after FINGERPRINT");
				return NULL;
			}
		} else if (seen_integrity) {
			continue; /* RFC 5389 15.4: ignored after MESSAGE-INTEGRITY */
		} else if (type == PL_STUN_ATTR_MESSAGE_INTEGRITY) {
			seen_integrity = TRUE;
		}
		if (!pl_stun_parse_attribute(msg, data, type, value, value_len, attr_offset,
		                             &plain_mapped, &changed, error))
			return NULL;
	}
	if (iter_error != NULL) {
		g_propagate_error(error, iter_error);
		return NULL;
	}
	if (msg->mapped == NULL)
		msg->mapped = g_steal_pointer(&plain_mapped);
	if (msg->other == NULL)
		msg->other = g_steal_pointer(&changed);
	return g_steal_pointer(&msg);
}

gboolean
pl_stun_message_check_integrity(
        const guint8 *data, gsize len, const guint8 *key, gsize key_len, GError **error)
{
	PlStunIter iter = {data, len, PL_STUN_HEADER_SIZE};
	GError *iter_error = NULL;
	guint16 type;
	const guint8 *value;
	guint16 value_len;
	gsize attr_offset;

	g_return_val_if_fail(key != NULL, FALSE);

	if (!pl_stun_check_header(data, len, error))
		return FALSE;
	while (pl_stun_iter_next(&iter, &type, &value, &value_len, &attr_offset, &iter_error)) {
		g_autofree guint8 *copy = NULL;
		guint8 digest[PL_STUN_INTEGRITY_SIZE];
		guint diff = 0;

		if (type != PL_STUN_ATTR_MESSAGE_INTEGRITY)
			continue;
		if (value_len != PL_STUN_INTEGRITY_SIZE)
			return pl_stun_invalid(error, "MESSAGE-INTEGRITY of %u bytes", value_len);
		/* the HMAC covers the message up to the attribute, with a length
		 * field that ends right after it */
		copy = g_memdup2(data, attr_offset);
		pl_stun_write16(copy + 2, (guint16)(attr_offset + 4 + PL_STUN_INTEGRITY_SIZE -
		                                    PL_STUN_HEADER_SIZE));
		pl_stun_hmac_sha1(key, key_len, copy, attr_offset, digest);
		for (guint i = 0; i < PL_STUN_INTEGRITY_SIZE; i++)
			diff |= digest[i] ^ value[i];
		if (diff != 0) {
			g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			                    "Wrong MESSAGE-INTEGRITY: the message was not "
			                    "signed with our credentials");
			return FALSE;
		}
		return TRUE;
	}
	if (iter_error != NULL) {
		g_propagate_error(error, iter_error);
		return FALSE;
	}
	g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
	                    "The STUN message carries no MESSAGE-INTEGRITY");
	return FALSE;
}
