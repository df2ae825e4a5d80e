/*
 * STUN messages (RFC 5389/8489) as far as netcheck needs them: Binding
 * requests with CHANGE-REQUEST (RFC 5780), TURN Allocate and Refresh with
 * long-term credentials (RFC 5766), and the attributes of their responses.
 * Pure functions: no network. Every parse refuses malformed input with a
 * GError (G_IO_ERROR_INVALID_DATA), never reads past the buffer.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define PL_STUN_MAGIC_COOKIE        0x2112A442
#define PL_STUN_HEADER_SIZE         20
#define PL_STUN_TRANSACTION_ID_SIZE 12
#define PL_STUN_MAX_MESSAGE_SIZE    1500

typedef enum {
	PL_STUN_BINDING_REQUEST = 0x0001,
	PL_STUN_BINDING_RESPONSE = 0x0101,
	PL_STUN_BINDING_ERROR = 0x0111,
	PL_STUN_ALLOCATE_REQUEST = 0x0003,
	PL_STUN_ALLOCATE_RESPONSE = 0x0103,
	PL_STUN_ALLOCATE_ERROR = 0x0113,
	PL_STUN_REFRESH_REQUEST = 0x0004,
	PL_STUN_REFRESH_RESPONSE = 0x0104,
	PL_STUN_REFRESH_ERROR = 0x0114,
} PlStunMessageType;

/* CHANGE-REQUEST flags (RFC 5780 7.2) */
#define PL_STUN_CHANGE_IP   0x04
#define PL_STUN_CHANGE_PORT 0x02

typedef struct {
	guint8 id[PL_STUN_TRANSACTION_ID_SIZE];
} PlStunTransactionId;

void pl_stun_transaction_id_generate(PlStunTransactionId *id);
gboolean pl_stun_transaction_id_equal(const PlStunTransactionId *a, const PlStunTransactionId *b);

/* A Binding request; change_flags 0 or PL_STUN_CHANGE_IP | PL_STUN_CHANGE_PORT */
GBytes *pl_stun_build_binding_request(const PlStunTransactionId *id, guint8 change_flags);

/*
 * TURN requests. Without realm/nonce (the first attempt) they carry no
 * credentials; after a 401 they carry USERNAME, REALM, NONCE and
 * MESSAGE-INTEGRITY with the long-term key MD5(username:realm:password).
 * Allocate asks for a UDP relay (REQUESTED-TRANSPORT 17); Refresh with
 * lifetime 0 releases the allocation. Both end with FINGERPRINT.
 */
GBytes *pl_stun_build_allocate_request(const PlStunTransactionId *id,
                                       const gchar *username,
                                       const gchar *password,
                                       const gchar *realm,
                                       const gchar *nonce);
GBytes *pl_stun_build_refresh_request(const PlStunTransactionId *id,
                                      guint32 lifetime_s,
                                      const gchar *username,
                                      const gchar *password,
                                      const gchar *realm,
                                      const gchar *nonce);

typedef struct {
	PlStunMessageType type;
	PlStunTransactionId transaction_id;
	GInetSocketAddress *mapped;  /* XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS; or NULL */
	GInetSocketAddress *other;   /* OTHER-ADDRESS, else CHANGED-ADDRESS; or NULL */
	GInetSocketAddress *origin;  /* RESPONSE-ORIGIN, or NULL */
	GInetSocketAddress *relayed; /* XOR-RELAYED-ADDRESS, or NULL */
	guint error_code;            /* ERROR-CODE class*100+number, 0 if none */
	gchar *error_reason;         /* or NULL */
	gchar *realm;                /* or NULL */
	gchar *nonce;                /* or NULL */
	guint32 lifetime_s;          /* LIFETIME, 0 if none */
} PlStunMessage;

void pl_stun_message_free(PlStunMessage *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlStunMessage, pl_stun_message_free)

/* the length of the STUN message at the start of data (for TCP framing), or 0 if
 * more bytes are needed; -1 if data does not start a STUN message. The length
 * (header included) is known as soon as the 20-byte header is there: read until
 * len reaches it. A length above PL_STUN_MAX_MESSAGE_SIZE is -1 too. */
gssize pl_stun_message_peek_length(const guint8 *data, gsize len);

/* one whole message, checked: header, cookie, a type of the enum above,
 * attribute lengths, FINGERPRINT when present and last. The caller checks
 * that it is the response (success or error) of its transaction. Unknown
 * attributes, comprehension-required or not, are skipped; so is what follows
 * MESSAGE-INTEGRITY but FINGERPRINT. */
PlStunMessage *pl_stun_message_parse(const guint8 *data, gsize len, GError **error);

/* additions: MESSAGE-INTEGRITY (RFC 5389 15.4). The long-term key is
 * MD5(username ":" realm ":" password); a short-term key is the password. */
#define PL_STUN_LONG_TERM_KEY_SIZE 16
void pl_stun_long_term_key(const gchar *username,
                           const gchar *realm,
                           const gchar *password,
                           guint8 key[PL_STUN_LONG_TERM_KEY_SIZE]);
/* TRUE when the MESSAGE-INTEGRITY of data (a message that
 * pl_stun_message_parse() accepts) matches key; FALSE with G_IO_ERROR_NOT_FOUND
 * when there is none, G_IO_ERROR_INVALID_DATA when it is wrong or the message
 * is malformed */
gboolean pl_stun_message_check_integrity(
        const guint8 *data, gsize len, const guint8 *key, gsize key_len, GError **error);

G_END_DECLS
