/*
 * STUN transactions over one UDP socket or one TCP connection: send a
 * request, match the answer by transaction ID, give up at a deadline.
 *
 * Over UDP the request is retransmitted after 100, 200, 400, 800 ms, then
 * every 1.6 s (RFC 5389 7.2.1 with a shorter first RTO), to any destination;
 * answers are taken from any source (RFC 5780 servers answer from their other
 * address) and the source is handed back. Over TCP messages are framed by
 * their length field (RFC 5766 2.1) and never retransmitted.
 *
 * Something that arrives but is not a STUN message of the transaction (random
 * bytes, a truncated message) does not end the transaction; when the deadline
 * passes the error says so instead of "no answer". Over TCP, bytes that cannot
 * start a STUN message end every transaction at once: the framing is lost.
 */
#pragma once

#include <gio/gio.h>

#include "pl-stun-message.h"

G_BEGIN_DECLS

#define PL_TYPE_STUN_TRANSPORT (pl_stun_transport_get_type())
G_DECLARE_FINAL_TYPE(PlStunTransport, pl_stun_transport, PL, STUN_TRANSPORT, GObject)

typedef struct {
	PlStunMessage *message;
	GBytes *raw;              /* the message as received, for MESSAGE-INTEGRITY */
	GInetSocketAddress *from; /* where it came from */
	guint rtt_ms;             /* since the request was last sent */
} PlStunResponse;

void pl_stun_response_free(PlStunResponse *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlStunResponse, pl_stun_response_free)

/* a UDP socket bound to the wildcard address of family, on a free port */
PlStunTransport *pl_stun_transport_new_udp(GSocketFamily family, GError **error);

/* a TCP connection to server (no proxy) */
void pl_stun_transport_new_tcp_async(GInetSocketAddress *server,
                                     GCancellable *cancellable,
                                     GAsyncReadyCallback callback,
                                     gpointer user_data);
PlStunTransport *pl_stun_transport_new_tcp_finish(GAsyncResult *result, GError **error);

gboolean pl_stun_transport_is_tcp(PlStunTransport *self);
/* the bound address (UDP: the wildcard address and the port) */
GInetSocketAddress *pl_stun_transport_get_local_address(PlStunTransport *self);

/*
 * One transaction: request is a whole message (its transaction ID is taken
 * from it); to is the destination over UDP and ignored over TCP. The answer is
 * a success or error response of the same method; an error response is not a
 * GError. Errors: G_IO_ERROR_TIMED_OUT, G_IO_ERROR_INVALID_DATA (only garbage
 * came back, or the TCP stream is not STUN), G_IO_ERROR_CONNECTION_CLOSED,
 * G_IO_ERROR_CANCELLED, or the socket's error.
 */
void pl_stun_transport_request_async(PlStunTransport *self,
                                     GInetSocketAddress *to,
                                     GBytes *request,
                                     guint timeout_ms,
                                     GCancellable *cancellable,
                                     GAsyncReadyCallback callback,
                                     gpointer user_data);
PlStunResponse *
pl_stun_transport_request_finish(PlStunTransport *self, GAsyncResult *result, GError **error);

G_END_DECLS
