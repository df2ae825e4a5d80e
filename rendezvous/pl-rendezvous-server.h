/*
 * The HTTP and WebSocket front of the rendezvous service (libsoup): routes of
 * docs/rendezvous-api.md, errors as JSON, request limits, and one WebSocket
 * per connected peer, handed to PlRendezvousService.
 */
#pragma once

#include "pl-rendezvous-service.h"

G_BEGIN_DECLS

#define PL_TYPE_RENDEZVOUS_SERVER (pl_rendezvous_server_get_type())
G_DECLARE_FINAL_TYPE(PlRendezvousServer, pl_rendezvous_server, PL, RENDEZVOUS_SERVER, GObject)

/* certificate NULL: plain HTTP; else every listener is HTTPS */
PlRendezvousServer *pl_rendezvous_server_new(PlRendezvousService *service,
                                             GTlsCertificate *certificate);
/* "ADDR:PORT", IPv6 in brackets: "127.0.0.1:8480", "[::1]:8480"; port 0 picks one */
gboolean
pl_rendezvous_server_listen(PlRendezvousServer *self, const gchar *address, GError **error);
/* "http://127.0.0.1:8480" for each listener */
GStrv pl_rendezvous_server_get_uris(PlRendezvousServer *self);
guint pl_rendezvous_server_get_n_websockets(PlRendezvousServer *self);
/* stops listening and closes every WebSocket with 1001 */
void pl_rendezvous_server_shutdown(PlRendezvousServer *self);

/* pure: "ADDR:PORT" → a socket address */
GSocketAddress *pl_rendezvous_parse_listen_address(const gchar *text, GError **error);

G_END_DECLS
