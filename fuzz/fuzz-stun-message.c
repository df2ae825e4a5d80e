/*
 * STUN messages as netcheck receives them (netcheck/pl-stun-message.h): the
 * input is one datagram from a STUN or TURN server, parsed whole as
 * pl_stun_transport_receive() does, its MESSAGE-INTEGRITY checked with fixed
 * keys as the TURN probe does; and the same bytes as a TCP stream, cut into
 * messages by pl_stun_message_peek_length() as the TCP transport does.
 *
 * The keys: RFC 5769's short-term password, and the long-term key of RFC
 * 5769's user and password with the message's REALM, or "example.org" (the
 * TURN probe takes the realm of the 401). What parses keeps the codec's
 * promises (a known type, UTF-8 texts, error codes 300 to 699, the length
 * peek agrees), and its transaction ID, REALM, NONCE and LIFETIME go into the
 * requests the TURN probe builds next, which must parse back to the same
 * values and carry a MESSAGE-INTEGRITY the codec verifies.
 */
#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "pl-fuzz.h"
#include "pl-stun-message.h"

#define PL_FUZZ_SHORT_TERM_PASSWORD "VOkJxbRl1RmTxUk/WvJxBt"
/* "マトリックス" */
#define PL_FUZZ_USERNAME "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9"
#define PL_FUZZ_PASSWORD "TheMatrIX"
#define PL_FUZZ_REALM    "example.org"

#define PL_FUZZ_MAX_TEXT_SIZE 763

static gboolean
pl_fuzz_type_is_known(PlStunMessageType type)
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

static void
pl_fuzz_check_address(GInetSocketAddress *address)
{
	GSocketFamily family;
	g_autofree gchar *text = NULL;

	if (address == NULL)
		return;
	g_assert_true(G_IS_INET_SOCKET_ADDRESS(address));
	family = g_inet_address_get_family(g_inet_socket_address_get_address(address));
	g_assert_true(family == G_SOCKET_FAMILY_IPV4 || family == G_SOCKET_FAMILY_IPV6);
	/* as the probes log it */
	text = g_inet_address_to_string(g_inet_socket_address_get_address(address));
	g_assert_nonnull(text);
}

static void
pl_fuzz_check_text(const gchar *text)
{
	if (text == NULL)
		return;
	g_assert_cmpuint(strlen(text), <=, PL_FUZZ_MAX_TEXT_SIZE);
	g_assert_true(g_utf8_validate(text, -1, NULL));
}

/* MESSAGE-INTEGRITY with a key: TRUE, or FALSE with NOT_FOUND or INVALID_DATA; noted as what */
static gboolean
pl_fuzz_check_integrity(
        const guint8 *data, gsize len, const guint8 *key, gsize key_len, const gchar *what)
{
	g_autoptr(GError) error = NULL;

	if (pl_stun_message_check_integrity(data, len, key, key_len, &error)) {
		g_assert_no_error(error);
		if (what != NULL)
			pl_fuzz_note(what, NULL);
		return TRUE;
	}
	if (what != NULL)
		pl_fuzz_note(what, error);
	g_assert_nonnull(error);
	g_assert_true(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND) ||
	              g_error_matches(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA));
	return FALSE;
}

/* a request we built: parses, to the values it was built from, signed with key */
static PlStunMessage *
pl_fuzz_parse_own(GBytes *request,
                  PlStunMessageType type,
                  const PlStunTransactionId *id,
                  const guint8 *key,
                  gboolean signed_)
{
	gsize len = 0;
	const guint8 *data = g_bytes_get_data(request, &len);
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStunMessage) again = pl_stun_message_parse(data, len, &error);
	static const guint8 other_key[PL_STUN_LONG_TERM_KEY_SIZE] = {0};

	g_assert_no_error(error);
	g_assert_nonnull(again);
	g_assert_cmpint(again->type, ==, type);
	g_assert_true(pl_stun_transaction_id_equal(&again->transaction_id, id));
	g_assert_null(again->mapped);
	g_assert_cmpuint(again->error_code, ==, 0);
	if (len <= PL_STUN_MAX_MESSAGE_SIZE)
		g_assert_cmpint(pl_stun_message_peek_length(data, len), ==, (gssize)len);
	if (signed_) {
		g_assert_true(
		        pl_fuzz_check_integrity(data, len, key, PL_STUN_LONG_TERM_KEY_SIZE, NULL));
		g_assert_false(
		        pl_fuzz_check_integrity(data, len, other_key, sizeof(other_key), NULL));
	} else {
		g_autoptr(GError) none = NULL;
		g_assert_false(pl_stun_message_check_integrity(data, len, key,
		                                               PL_STUN_LONG_TERM_KEY_SIZE, &none));
		g_assert_error(none, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	}
	return g_steal_pointer(&again);
}

/* what the TURN probe sends after this answer: its REALM and NONCE, its LIFETIME */
static void
pl_fuzz_check_rebuild(const PlStunMessage *msg, const guint8 *key)
{
	gboolean signed_ = msg->realm != NULL && msg->nonce != NULL;
	const gchar *realm = signed_ ? msg->realm : NULL;
	const gchar *nonce = signed_ ? msg->nonce : NULL;
	g_autoptr(GBytes) allocate = NULL;
	g_autoptr(GBytes) refresh = NULL;
	g_autoptr(GBytes) binding = NULL;
	g_autoptr(PlStunMessage) again = NULL;
	g_autoptr(PlStunMessage) again_refresh = NULL;
	g_autoptr(PlStunMessage) again_binding = NULL;

	allocate = pl_stun_build_allocate_request(&msg->transaction_id, PL_FUZZ_USERNAME,
	                                          PL_FUZZ_PASSWORD, realm, nonce);
	again = pl_fuzz_parse_own(allocate, PL_STUN_ALLOCATE_REQUEST, &msg->transaction_id, key,
	                          signed_);
	g_assert_cmpstr(again->realm, ==, realm);
	g_assert_cmpstr(again->nonce, ==, nonce);

	refresh = pl_stun_build_refresh_request(&msg->transaction_id, msg->lifetime_s,
	                                        PL_FUZZ_USERNAME, PL_FUZZ_PASSWORD, realm, nonce);
	again_refresh = pl_fuzz_parse_own(refresh, PL_STUN_REFRESH_REQUEST, &msg->transaction_id,
	                                  key, signed_);
	g_assert_cmpuint(again_refresh->lifetime_s, ==, msg->lifetime_s);
	g_assert_cmpstr(again_refresh->realm, ==, realm);
	g_assert_cmpstr(again_refresh->nonce, ==, nonce);

	binding = pl_stun_build_binding_request(&msg->transaction_id,
	                                        PL_STUN_CHANGE_IP | PL_STUN_CHANGE_PORT);
	again_binding = pl_fuzz_parse_own(binding, PL_STUN_BINDING_REQUEST, &msg->transaction_id,
	                                  key, FALSE);
}

/* one message, as pl_stun_transport_receive() takes it */
static void
pl_fuzz_message(const guint8 *data, gsize len, gboolean rebuild)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStunMessage) msg = pl_stun_message_parse(data, len, &error);
	guint8 key[PL_STUN_LONG_TERM_KEY_SIZE];

	if (msg == NULL) {
		pl_fuzz_note(G_STRFUNC, error);
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
		g_assert_true(g_utf8_validate(error->message, -1, NULL));
		/* the TURN probe checks only what parses; the function promises no more */
		(void)pl_fuzz_check_integrity(data, len,
		                              (const guint8 *)PL_FUZZ_SHORT_TERM_PASSWORD,
		                              strlen(PL_FUZZ_SHORT_TERM_PASSWORD), NULL);
		return;
	}
	pl_fuzz_note(G_STRFUNC, NULL);
	g_assert_no_error(error);

	/* the header as the codec promises it */
	g_assert_true(pl_fuzz_type_is_known(msg->type));
	g_assert_cmpuint(len, >=, PL_STUN_HEADER_SIZE);
	g_assert_cmpuint(len % 4, ==, 0);
	g_assert_cmpmem(msg->transaction_id.id, PL_STUN_TRANSACTION_ID_SIZE, data + 8,
	                PL_STUN_TRANSACTION_ID_SIZE);
	/* the TCP framing agrees with the parser, and never asks for less than a header */
	if (len <= PL_STUN_MAX_MESSAGE_SIZE)
		g_assert_cmpint(pl_stun_message_peek_length(data, len), ==, (gssize)len);
	for (gsize k = 0; k < PL_STUN_HEADER_SIZE; k++)
		g_assert_cmpint(pl_stun_message_peek_length(data, k), ==, 0);

	/* the attributes */
	pl_fuzz_check_address(msg->mapped);
	pl_fuzz_check_address(msg->other);
	pl_fuzz_check_address(msg->origin);
	pl_fuzz_check_address(msg->relayed);
	if (msg->error_code != 0) {
		/* pl_turn_probe_describe() */
		g_autofree gchar *text =
		        g_strdup_printf("%u %s", msg->error_code,
		                        msg->error_reason != NULL ? msg->error_reason : "");
		g_assert_cmpuint(msg->error_code, >=, 300);
		g_assert_cmpuint(msg->error_code, <=, 699);
		g_assert_true(g_utf8_validate(text, -1, NULL));
	} else {
		g_assert_null(msg->error_reason);
	}
	if (msg->error_reason != NULL)
		g_assert_true(g_utf8_validate(msg->error_reason, -1, NULL));
	pl_fuzz_check_text(msg->realm);
	pl_fuzz_check_text(msg->nonce);

	/* MESSAGE-INTEGRITY: short-term as in RFC 5769, long-term as the TURN probe */
	(void)pl_fuzz_check_integrity(data, len, (const guint8 *)PL_FUZZ_SHORT_TERM_PASSWORD,
	                              strlen(PL_FUZZ_SHORT_TERM_PASSWORD), "short-term key");
	pl_stun_long_term_key(PL_FUZZ_USERNAME, msg->realm != NULL ? msg->realm : PL_FUZZ_REALM,
	                      PL_FUZZ_PASSWORD, key);
	(void)pl_fuzz_check_integrity(data, len, key, sizeof(key), "long-term key");

	if (rebuild)
		pl_fuzz_check_rebuild(msg, key);
}

/* the same bytes as a TCP stream: pl_stun_transport_drain_inbox() */
static void
pl_fuzz_stream(const guint8 *data, gsize len)
{
	gsize offset = 0;

	for (;;) {
		gsize left = len - offset;
		gssize total = pl_stun_message_peek_length(data + offset, left);
		g_autofree guint8 *frame = NULL;

		if (total < 0)
			return; /* the transport breaks the connection */
		if (total == 0) {
			g_assert_cmpuint(left, <, PL_STUN_HEADER_SIZE);
			return;
		}
		g_assert_cmpint(total, >=, PL_STUN_HEADER_SIZE);
		g_assert_cmpint(total, <=, PL_STUN_MAX_MESSAGE_SIZE);
		g_assert_cmpint(total % 4, ==, 0);
		if ((gsize)total > left)
			return; /* waits for more */
		/* an exact copy, as the transport makes: ASan sees a read past it */
		frame = g_memdup2(data + offset, (gsize)total);
		pl_fuzz_message(frame, (gsize)total, FALSE);
		offset += (gsize)total;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pl_fuzz_message(data, size, TRUE);
	/* a message alone in the input was the stream's first frame already */
	if (pl_stun_message_peek_length(data, size) != (gssize)size)
		pl_fuzz_stream(data, size);
	return 0;
}
