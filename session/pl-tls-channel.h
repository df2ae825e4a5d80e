/*
 * TLS 1.3 over memory buffers (GnuTLS): the session layer feeds it the
 * ciphertext that arrived from the peer and sends what it produces. Each side
 * presents a self-signed certificate of its identity key; the handshake only
 * succeeds when the other side's key hashes to the expected peer ID, so a
 * wrong or missing identity aborts before a byte of app data flows.
 */
#pragma once

#include <gio/gio.h>

#include "pl-identity.h"

G_BEGIN_DECLS

#define PL_TLS_ERROR (pl_tls_error_quark())
GQuark pl_tls_error_quark(void);

typedef enum {
	PL_TLS_ERROR_FAILED,        /* GnuTLS refused, or a protocol error */
	PL_TLS_ERROR_PEER_MISMATCH, /* the other side is not the expected peer, or sent no
	                               certificate */
	PL_TLS_ERROR_CLOSED,        /* used after close or after a fatal error */
} PlTlsError;

/* The certificate and key of one identity and the parsed TLS priorities, shared by every
 * channel of a daemon. */
typedef struct _PlTlsCredentials PlTlsCredentials;
PlTlsCredentials *pl_tls_credentials_new(PlIdentity *identity, GError **error);
PlTlsCredentials *pl_tls_credentials_ref(PlTlsCredentials *self);
void pl_tls_credentials_unref(PlTlsCredentials *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlTlsCredentials, pl_tls_credentials_unref)

typedef struct _PlTlsChannel PlTlsChannel;

/* is_client: the side that sends the ClientHello (the session's offerer) */
PlTlsChannel *pl_tls_channel_new(PlTlsCredentials *credentials,
                                 gboolean is_client,
                                 const PlPeerId *expected_peer,
                                 GError **error);
void pl_tls_channel_free(PlTlsChannel *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlTlsChannel, pl_tls_channel_free)

/* ciphertext received from the peer, in order; copied */
void pl_tls_channel_push_incoming(PlTlsChannel *self, const guint8 *data, gsize len);

/*
 * Advances the handshake with the data pushed so far. TRUE while it is in
 * progress or done (see is_established); FALSE with an error when it failed,
 * PL_TLS_ERROR_PEER_MISMATCH when the peer's certificate is missing or is not
 * the expected peer's. After the first call the client has output to send.
 */
gboolean pl_tls_channel_handshake(PlTlsChannel *self, GError **error);
gboolean pl_tls_channel_is_established(PlTlsChannel *self);

/*
 * Decrypted app data: > 0 bytes copied into buf; 0 when the peer sent
 * close_notify (end of its stream; we may still write); -1 with
 * G_IO_ERROR_WOULD_BLOCK when no complete record is buffered, or -1 with
 * another error (PL_TLS_ERROR_*) when the stream is broken.
 */
gssize pl_tls_channel_read(PlTlsChannel *self, guint8 *buf, gsize len, GError **error);

/* Encrypts all of data into the outgoing buffer. Only once established. */
gboolean pl_tls_channel_write(PlTlsChannel *self, const guint8 *data, gsize len, GError **error);

/* Sends close_notify: half-close, the peer's data may still arrive. */
gboolean pl_tls_channel_shutdown_write(PlTlsChannel *self, GError **error);

/* Ciphertext to send to the peer, in order. */
const guint8 *pl_tls_channel_peek_outgoing(PlTlsChannel *self, gsize *len);
void pl_tls_channel_consume_outgoing(PlTlsChannel *self, gsize len);
gsize pl_tls_channel_get_outgoing_size(PlTlsChannel *self);

/* "TLS1.3/AES-256-GCM" or similar, for logs and status; NULL before the handshake */
const gchar *pl_tls_channel_get_description(PlTlsChannel *self);

G_END_DECLS
