#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <gnutls/gnutls.h>
#include <string.h>

#include "pl-tls-channel.h"

/*
 * TLS 1.3 only. NORMAL already allows Ed25519 signatures in GnuTLS 3.7; it is
 * named again so that a narrower system default cannot drop our key type.
 */
#define PL_TLS_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:+SIGN-EDDSA-ED25519"

/* no resumption (no tickets issued or used) and no 0-RTT (not enabled) */
#define PL_TLS_INIT_FLAGS (GNUTLS_NONBLOCK | GNUTLS_NO_TICKETS)

/* the quark name must stay one token */
/* clang-format off */
G_DEFINE_QUARK(peerlink-tls-error-quark, pl_tls_error)
/* clang-format on */

G_DEFINE_AUTO_CLEANUP_FREE_FUNC(gnutls_certificate_credentials_t,
                                gnutls_certificate_free_credentials,
                                NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(gnutls_priority_t, gnutls_priority_deinit, NULL)

/* private key material is wiped before it goes back to the allocator */
static void
pl_tls_secret_free(gchar *secret)
{
	if (secret == NULL)
		return;
	gnutls_memset(secret, 0, strlen(secret));
	g_free(secret);
}

typedef gchar PlTlsSecretStr;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlTlsSecretStr, pl_tls_secret_free)

/* credentials */

/*
 * Shared by every channel of a daemon, and so is the parsed priority string:
 * gnutls_priority_set() only takes a reference, where
 * gnutls_priority_set_direct() would parse ~8 KiB of cache for each session.
 */
struct _PlTlsCredentials {
	grefcount ref_count;
	gnutls_certificate_credentials_t certificate;
	gnutls_priority_t priority;
};

PlTlsCredentials *
pl_tls_credentials_new(PlIdentity *identity, GError **error)
{
	g_autofree gchar *cert_pem = NULL;
	g_autoptr(PlTlsSecretStr) key_pem = NULL;
	g_auto(gnutls_certificate_credentials_t) certificate = NULL;
	g_auto(gnutls_priority_t) priority = NULL;
	gnutls_datum_t cert_datum;
	gnutls_datum_t key_datum;
	PlTlsCredentials *self;
	gint rc;

	g_return_val_if_fail(PL_IS_IDENTITY(identity), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	cert_pem = pl_identity_create_certificate_pem(identity, error);
	if (cert_pem == NULL)
		return NULL;
	key_pem = pl_identity_export_private_key_pem(identity, error);
	if (key_pem == NULL)
		return NULL;
	rc = gnutls_certificate_allocate_credentials(&certificate);
	if (rc >= 0) {
		cert_datum = (gnutls_datum_t){(guint8 *)cert_pem, (guint)strlen(cert_pem)};
		key_datum = (gnutls_datum_t){(guint8 *)key_pem, (guint)strlen(key_pem)};
		rc = gnutls_certificate_set_x509_key_mem2(certificate, &cert_datum, &key_datum,
		                                          GNUTLS_X509_FMT_PEM, NULL, 0);
	}
	if (rc >= 0)
		rc = gnutls_priority_init2(&priority, PL_TLS_PRIORITY, NULL, 0);
	if (rc < 0) {
		g_set_error(error, PL_TLS_ERROR, PL_TLS_ERROR_FAILED,
		            _("Cannot set up TLS credentials: %s"), gnutls_strerror(rc));
		return NULL;
	}
	self = g_new0(PlTlsCredentials, 1);
	g_ref_count_init(&self->ref_count);
	self->certificate = g_steal_pointer(&certificate);
	self->priority = g_steal_pointer(&priority);
	return self;
}

PlTlsCredentials *
pl_tls_credentials_ref(PlTlsCredentials *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	g_ref_count_inc(&self->ref_count);
	return self;
}

void
pl_tls_credentials_unref(PlTlsCredentials *self)
{
	g_return_if_fail(self != NULL);
	if (!g_ref_count_dec(&self->ref_count))
		return;
	gnutls_certificate_free_credentials(self->certificate);
	gnutls_priority_deinit(self->priority);
	g_free(self);
}

/*
 * A byte queue: appends at the end, consumes from the front. The consumed
 * prefix is dropped once it is more than half of the data, so every byte is
 * moved at most about once. Storage of at most PL_TLS_BUFFER_KEEP is freed
 * whenever the queue is empty, so that an idle channel keeps none of its
 * handshake's; larger storage is a stream's, kept for its next records
 * (freeing it each time costs a stream ~15 % of its throughput).
 */
#define PL_TLS_BUFFER_KEEP (16 * 1024)

typedef struct {
	guint8 *data;
	gsize len; /* bytes in data, the consumed prefix included */
	gsize offset;
	gsize allocated;
} PlTlsBuffer;

static void
pl_tls_buffer_clear(PlTlsBuffer *buf)
{
	g_clear_pointer(&buf->data, g_free);
	buf->len = 0;
	buf->offset = 0;
	buf->allocated = 0;
}

static gsize
pl_tls_buffer_get_size(const PlTlsBuffer *buf)
{
	return buf->len - buf->offset;
}

static const guint8 *
pl_tls_buffer_peek(const PlTlsBuffer *buf)
{
	return buf->data != NULL ? buf->data + buf->offset : NULL;
}

static void
pl_tls_buffer_append(PlTlsBuffer *buf, const guint8 *data, gsize len)
{
	g_return_if_fail(len <= G_MAXSIZE / 2 - buf->len);

	if (len == 0)
		return;
	if (buf->len + len > buf->allocated) {
		buf->allocated = MAX(2 * buf->allocated, buf->len + len);
		buf->data = g_realloc(buf->data, buf->allocated);
	}
	memcpy(buf->data + buf->len, data, len);
	buf->len += len;
}

static void
pl_tls_buffer_consume(PlTlsBuffer *buf, gsize len)
{
	g_return_if_fail(len <= pl_tls_buffer_get_size(buf));

	buf->offset += len;
	if (buf->offset == buf->len && buf->allocated <= PL_TLS_BUFFER_KEEP) {
		pl_tls_buffer_clear(buf);
	} else if (buf->offset == buf->len) {
		buf->len = 0;
		buf->offset = 0;
	} else if (buf->offset > buf->len / 2) {
		memmove(buf->data, buf->data + buf->offset, buf->len - buf->offset);
		buf->len -= buf->offset;
		buf->offset = 0;
	}
}

/* channel */

typedef enum {
	PL_TLS_STATE_HANDSHAKING,
	PL_TLS_STATE_ESTABLISHED,
	PL_TLS_STATE_FAILED,
} PlTlsState;

struct _PlTlsChannel {
	PlTlsCredentials *credentials;
	gnutls_session_t session;
	PlPeerId expected_peer;
	PlTlsState state;
	gboolean read_eof;     /* the peer's close_notify arrived */
	gboolean write_closed; /* we sent close_notify */
	PlTlsBuffer incoming;
	PlTlsBuffer outgoing;
	guint64 pulled;  /* bytes GnuTLS took from incoming so far */
	gchar *mismatch; /* why the peer's certificate was refused */
	gchar *description;
};

static ssize_t
pl_tls_channel_pull(gnutls_transport_ptr_t transport, void *data, size_t len)
{
	PlTlsChannel *self = transport;
	gsize n = MIN(len, pl_tls_buffer_get_size(&self->incoming));

	if (n == 0) {
		gnutls_transport_set_errno(self->session, EAGAIN);
		return -1;
	}
	memcpy(data, pl_tls_buffer_peek(&self->incoming), n);
	pl_tls_buffer_consume(&self->incoming, n);
	self->pulled += n;
	return (ssize_t)n;
}

/* never blocks and never fails: the session layer drains the buffer */
static ssize_t
pl_tls_channel_push(gnutls_transport_ptr_t transport, const void *data, size_t len)
{
	PlTlsChannel *self = transport;

	pl_tls_buffer_append(&self->outgoing, data, len);
	return (ssize_t)len;
}

/* we cannot wait: data is there, or it is not (0 = "timed out" when asked not to wait) */
static int
pl_tls_channel_pull_timeout(gnutls_transport_ptr_t transport, unsigned int ms)
{
	PlTlsChannel *self = transport;

	if (pl_tls_buffer_get_size(&self->incoming) > 0)
		return 1;
	if (ms == 0)
		return 0;
	gnutls_transport_set_errno(self->session, EAGAIN);
	return -1;
}

/* the PEER_MISMATCH message; presented_id or problem (or neither) says what came instead */
static void
pl_tls_channel_set_mismatch(PlTlsChannel *self, const PlPeerId *presented_id, const gchar *problem)
{
	g_autofree gchar *expected = pl_peer_id_to_string(&self->expected_peer);
	g_autofree gchar *presented = NULL;

	g_free(self->mismatch);
	if (presented_id != NULL) {
		presented = pl_peer_id_to_string(presented_id);
		self->mismatch = g_strdup_printf(_("Expected peer %s, but the peer presented %s"),
		                                 expected, presented);
	} else if (problem != NULL) {
		self->mismatch = g_strdup_printf(
		        _("Expected peer %s, but the peer presented an unusable certificate: %s"),
		        expected, problem);
	} else {
		self->mismatch = g_strdup_printf(
		        _("Expected peer %s, but the peer presented no certificate"), expected);
	}
}

/* runs inside the handshake: nonzero aborts it with a bad_certificate alert */
static int
pl_tls_channel_verify_peer(gnutls_session_t session)
{
	PlTlsChannel *self = gnutls_session_get_ptr(session);
	const gnutls_datum_t *certs;
	guint n_certs = 0;
	PlPeerId presented;
	g_autoptr(GError) error_local = NULL;

	certs = gnutls_certificate_get_peers(session, &n_certs);
	if (certs == NULL || n_certs == 0) {
		pl_tls_channel_set_mismatch(self, NULL, NULL);
		return -1;
	}
	if (!pl_identity_peer_id_from_certificate(certs[0].data, certs[0].size, &presented,
	                                          &error_local)) {
		pl_tls_channel_set_mismatch(self, NULL, error_local->message);
		return -1;
	}
	if (!pl_peer_id_equal(&presented, &self->expected_peer)) {
		pl_tls_channel_set_mismatch(self, &presented, NULL);
		return -1;
	}
	return 0;
}

static gboolean
pl_tls_channel_setup_session(PlTlsChannel *self, gboolean is_client, GError **error)
{
	gint rc;

	rc = gnutls_init(&self->session,
	                 PL_TLS_INIT_FLAGS | (is_client ? GNUTLS_CLIENT : GNUTLS_SERVER));
	if (rc >= 0)
		rc = gnutls_priority_set(self->session, self->credentials->priority);
	if (rc >= 0)
		rc = gnutls_credentials_set(self->session, GNUTLS_CRD_CERTIFICATE,
		                            self->credentials->certificate);
	if (rc < 0) {
		g_set_error(error, PL_TLS_ERROR, PL_TLS_ERROR_FAILED,
		            _("Cannot set up TLS session: %s"), gnutls_strerror(rc));
		return FALSE;
	}
	if (!is_client)
		gnutls_certificate_server_set_request(self->session, GNUTLS_CERT_REQUIRE);
	gnutls_session_set_ptr(self->session, self);
	gnutls_session_set_verify_function(self->session, pl_tls_channel_verify_peer);
	gnutls_transport_set_ptr(self->session, self);
	gnutls_transport_set_pull_function(self->session, pl_tls_channel_pull);
	gnutls_transport_set_push_function(self->session, pl_tls_channel_push);
	gnutls_transport_set_pull_timeout_function(self->session, pl_tls_channel_pull_timeout);
	/* the session layer owns the timeouts */
	gnutls_handshake_set_timeout(self->session, 0);
	return TRUE;
}

PlTlsChannel *
pl_tls_channel_new(PlTlsCredentials *credentials,
                   gboolean is_client,
                   const PlPeerId *expected_peer,
                   GError **error)
{
	g_autoptr(PlTlsChannel) self = NULL;

	g_return_val_if_fail(credentials != NULL, NULL);
	g_return_val_if_fail(expected_peer != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	self = g_new0(PlTlsChannel, 1);
	self->credentials = pl_tls_credentials_ref(credentials);
	self->expected_peer = *expected_peer;
	self->state = PL_TLS_STATE_HANDSHAKING;
	if (!pl_tls_channel_setup_session(self, is_client, error))
		return NULL;
	return g_steal_pointer(&self);
}

void
pl_tls_channel_free(PlTlsChannel *self)
{
	if (self == NULL)
		return;
	if (self->session != NULL)
		gnutls_deinit(self->session);
	pl_tls_buffer_clear(&self->incoming);
	pl_tls_buffer_clear(&self->outgoing);
	g_clear_pointer(&self->credentials, pl_tls_credentials_unref);
	g_free(self->mismatch);
	g_free(self->description);
	g_free(self);
}

void
pl_tls_channel_push_incoming(PlTlsChannel *self, const guint8 *data, gsize len)
{
	g_return_if_fail(self != NULL);
	g_return_if_fail(data != NULL || len == 0);

	pl_tls_buffer_append(&self->incoming, data, len);
}

/*
 * Whether to call GnuTLS again at once: it stopped without a hard error
 * (would-block after a post-handshake message, a warning alert...), took some
 * input in doing so, and more input is still waiting.
 */
static gboolean
pl_tls_channel_should_retry(PlTlsChannel *self, gint rc, guint64 pulled_before)
{
	if (rc >= 0 || gnutls_error_is_fatal(rc))
		return FALSE;
	return self->pulled != pulled_before && pl_tls_buffer_get_size(&self->incoming) > 0;
}

/* the error a failed GnuTLS call means for the caller */
static void
pl_tls_channel_set_gnutls_error(PlTlsChannel *self, gint rc, GError **error)
{
	if (self->mismatch != NULL) {
		g_set_error_literal(error, PL_TLS_ERROR, PL_TLS_ERROR_PEER_MISMATCH,
		                    self->mismatch);
	} else if (rc == GNUTLS_E_CERTIFICATE_REQUIRED || rc == GNUTLS_E_NO_CERTIFICATE_FOUND) {
		/* GnuTLS refuses an empty Certificate itself, before our verify function */
		pl_tls_channel_set_mismatch(self, NULL, NULL);
		g_set_error_literal(error, PL_TLS_ERROR, PL_TLS_ERROR_PEER_MISMATCH,
		                    self->mismatch);
	} else if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		g_set_error(error, PL_TLS_ERROR, PL_TLS_ERROR_FAILED,
		            _("The TLS peer aborted the connection: %s"),
		            gnutls_alert_get_name(gnutls_alert_get(self->session)));
	} else {
		g_set_error(error, PL_TLS_ERROR, PL_TLS_ERROR_FAILED, _("TLS error: %s"),
		            gnutls_strerror(rc));
	}
}

/* a fatal error: tell the peer (the alert goes out with the other output) and stop */
static void
pl_tls_channel_fail(PlTlsChannel *self, gint rc, GError **error)
{
	g_autoptr(GError) error_local = NULL;

	pl_tls_channel_set_gnutls_error(self, rc, &error_local);
	g_debug("TLS channel failed: %s", error_local->message);
	gnutls_alert_send_appropriate(self->session, rc);
	self->state = PL_TLS_STATE_FAILED;
	g_propagate_error(error, g_steal_pointer(&error_local));
}

static gboolean
pl_tls_channel_check_not_failed(PlTlsChannel *self, GError **error)
{
	if (self->state != PL_TLS_STATE_FAILED)
		return TRUE;
	g_set_error_literal(error, PL_TLS_ERROR, PL_TLS_ERROR_CLOSED,
	                    _("The TLS channel is closed after an error"));
	return FALSE;
}

static gboolean
pl_tls_channel_check_established(PlTlsChannel *self, GError **error)
{
	if (!pl_tls_channel_check_not_failed(self, error))
		return FALSE;
	if (self->state == PL_TLS_STATE_ESTABLISHED)
		return TRUE;
	g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
	                    _("The TLS handshake is not finished"));
	return FALSE;
}

static void
pl_tls_channel_set_established(PlTlsChannel *self)
{
	self->state = PL_TLS_STATE_ESTABLISHED;
	self->description = g_strdup_printf(
	        "%s/%s", gnutls_protocol_get_name(gnutls_protocol_get_version(self->session)),
	        gnutls_cipher_get_name(gnutls_cipher_get(self->session)));
	g_debug("TLS channel established: %s", self->description);
}

gboolean
pl_tls_channel_handshake(PlTlsChannel *self, GError **error)
{
	guint64 pulled_before;
	gint rc;

	g_return_val_if_fail(self != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (!pl_tls_channel_check_not_failed(self, error))
		return FALSE;
	if (self->state == PL_TLS_STATE_ESTABLISHED)
		return TRUE;
	do {
		pulled_before = self->pulled;
		rc = gnutls_handshake(self->session);
	} while (pl_tls_channel_should_retry(self, rc, pulled_before));
	if (rc == GNUTLS_E_SUCCESS) {
		pl_tls_channel_set_established(self);
		return TRUE;
	}
	if (!gnutls_error_is_fatal(rc))
		return TRUE;
	pl_tls_channel_fail(self, rc, error);
	return FALSE;
}

gboolean
pl_tls_channel_is_established(PlTlsChannel *self)
{
	g_return_val_if_fail(self != NULL, FALSE);
	return self->state == PL_TLS_STATE_ESTABLISHED;
}

/* one gnutls_record_recv that is not a hard error, retried while it makes progress */
static gssize
pl_tls_channel_recv(PlTlsChannel *self, guint8 *buf, gsize len)
{
	guint64 pulled_before;
	gssize rc;

	do {
		pulled_before = self->pulled;
		rc = gnutls_record_recv(self->session, buf, len);
		/* TLS 1.2 renegotiation cannot happen under our priority; refuse it anyway */
		if (rc == GNUTLS_E_REHANDSHAKE)
			gnutls_alert_send(self->session, GNUTLS_AL_WARNING,
			                  GNUTLS_A_NO_RENEGOTIATION);
	} while (pl_tls_channel_should_retry(self, (gint)rc, pulled_before));
	return rc;
}

gssize
pl_tls_channel_read(PlTlsChannel *self, guint8 *buf, gsize len, GError **error)
{
	gssize rc;

	g_return_val_if_fail(self != NULL, -1);
	/* 0 would read as end of stream */
	g_return_val_if_fail(buf != NULL && len > 0, -1);
	g_return_val_if_fail(error == NULL || *error == NULL, -1);

	if (!pl_tls_channel_check_established(self, error))
		return -1;
	if (self->read_eof)
		return 0;
	rc = pl_tls_channel_recv(self, buf, len);
	if (rc > 0)
		return rc;
	if (rc == 0) {
		g_debug("TLS peer closed its side");
		self->read_eof = TRUE;
		return 0;
	}
	if (!gnutls_error_is_fatal((gint)rc)) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK,
		                    _("No complete TLS record yet"));
		return -1;
	}
	pl_tls_channel_fail(self, (gint)rc, error);
	return -1;
}

gboolean
pl_tls_channel_write(PlTlsChannel *self, const guint8 *data, gsize len, GError **error)
{
	gsize max_chunk;
	gsize done = 0;

	g_return_val_if_fail(self != NULL, FALSE);
	g_return_val_if_fail(data != NULL || len == 0, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (!pl_tls_channel_check_established(self, error))
		return FALSE;
	if (self->write_closed) {
		g_set_error_literal(error, PL_TLS_ERROR, PL_TLS_ERROR_CLOSED,
		                    _("The TLS channel was shut down for writing"));
		return FALSE;
	}
	max_chunk = MAX(gnutls_record_get_max_size(self->session), 1);
	while (done < len) {
		/* the push function never blocks, so GnuTLS never returns AGAIN here */
		gssize rc =
		        gnutls_record_send(self->session, data + done, MIN(len - done, max_chunk));
		if (rc < 0) {
			pl_tls_channel_fail(self, (gint)rc, error);
			return FALSE;
		}
		done += (gsize)rc;
	}
	return TRUE;
}

gboolean
pl_tls_channel_shutdown_write(PlTlsChannel *self, GError **error)
{
	gint rc;

	g_return_val_if_fail(self != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (!pl_tls_channel_check_established(self, error))
		return FALSE;
	if (self->write_closed)
		return TRUE;
	rc = gnutls_bye(self->session, GNUTLS_SHUT_WR);
	if (rc < 0) {
		pl_tls_channel_fail(self, rc, error);
		return FALSE;
	}
	self->write_closed = TRUE;
	return TRUE;
}

const guint8 *
pl_tls_channel_peek_outgoing(PlTlsChannel *self, gsize *len)
{
	g_return_val_if_fail(self != NULL, NULL);
	g_return_val_if_fail(len != NULL, NULL);

	*len = pl_tls_buffer_get_size(&self->outgoing);
	return pl_tls_buffer_peek(&self->outgoing);
}

void
pl_tls_channel_consume_outgoing(PlTlsChannel *self, gsize len)
{
	g_return_if_fail(self != NULL);
	pl_tls_buffer_consume(&self->outgoing, len);
}

gsize
pl_tls_channel_get_outgoing_size(PlTlsChannel *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return pl_tls_buffer_get_size(&self->outgoing);
}

const gchar *
pl_tls_channel_get_description(PlTlsChannel *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->description;
}
