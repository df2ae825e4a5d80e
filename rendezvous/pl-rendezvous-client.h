/*
 * The agent's side of the rendezvous service (docs/rendezvous-api.md): signs
 * in with the identity key, holds the WebSocket that makes the agent "online",
 * reconnects by itself with backoff, and sends and receives signaling messages.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "pl-identity.h"
#include "pl-rendezvous-error.h"

G_BEGIN_DECLS

typedef enum {
	PL_RENDEZVOUS_CLIENT_STATE_DISABLED,    /* not started, or stopped */
	PL_RENDEZVOUS_CLIENT_STATE_CONNECTING,  /* signing in and opening the WebSocket */
	PL_RENDEZVOUS_CLIENT_STATE_CONNECTED,   /* online: the WebSocket is open */
	PL_RENDEZVOUS_CLIENT_STATE_BACKING_OFF, /* the last attempt failed; waiting to retry */
} PlRendezvousClientState;

#define PL_TYPE_RENDEZVOUS_CLIENT_STATE (pl_rendezvous_client_state_get_type())
GType pl_rendezvous_client_state_get_type(void);

/* "disabled", "connecting", "connected", "backing-off" */
const gchar *pl_rendezvous_client_state_to_string(PlRendezvousClientState state);

/* A service URL the client can use: http or https with a host, no user, query or fragment.
 * Errors are G_IO_ERROR_INVALID_ARGUMENT with a message for humans. */
GUri *pl_rendezvous_client_parse_url(const gchar *url, GError **error);

#define PL_TYPE_RENDEZVOUS_CLIENT (pl_rendezvous_client_get_type())
G_DECLARE_FINAL_TYPE(PlRendezvousClient, pl_rendezvous_client, PL, RENDEZVOUS_CLIENT, GObject)

/*
 * Properties: "identity", "url", "ca-file" (construct-only), "state",
 * "last-error", "next-attempt" (read-only).
 * Signals: "state-changed" (PlRendezvousClientState state);
 * "message" (const gchar *from, const gchar *kind, JsonObject *body, const gchar *id),
 * once per message id.
 */
PlRendezvousClient *pl_rendezvous_client_new(PlIdentity *identity,
                                             const gchar *url,
                                             const gchar *ca_file,
                                             GError **error);

const gchar *pl_rendezvous_client_get_url(PlRendezvousClient *self);
PlRendezvousClientState pl_rendezvous_client_get_state(PlRendezvousClient *self);
const gchar *pl_rendezvous_client_get_last_error(PlRendezvousClient *self);
/* monotonic µs, 0 if no attempt is scheduled */
gint64 pl_rendezvous_client_get_next_attempt(PlRendezvousClient *self);
/* seconds until then, rounded up; -1 if no attempt is scheduled */
gint64 pl_rendezvous_client_get_next_attempt_seconds(PlRendezvousClient *self);
JsonObject *
pl_rendezvous_client_get_ice(PlRendezvousClient *self); /* from the last session, or NULL */

void pl_rendezvous_client_start(PlRendezvousClient *self);
void pl_rendezvous_client_stop(PlRendezvousClient *self);

/*
 * The host's addresses changed (an rtnetlink watch says so). Connected over a local address
 * the host no longer has, the client drops the connection at once and connects again; over
 * one it still has, it checks with a ping that the service still answers and reconnects if
 * it does not within a few seconds. Not connected, it tries again now instead of waiting out
 * its backoff. Queued sends (pl_rendezvous_client_send_with_retry_async) survive all of it.
 */
void pl_rendezvous_client_network_changed(PlRendezvousClient *self);

/* finish returns the message id the service gave the message; without a connection, or
 * when the connection is lost before the service confirms, the send fails with
 * PL_RENDEZVOUS_ERROR_NOT_CONNECTED at once */
void pl_rendezvous_client_send_async(PlRendezvousClient *self,
                                     const gchar *to,
                                     const gchar *kind,
                                     JsonObject *body,
                                     GCancellable *cancellable,
                                     GAsyncReadyCallback callback,
                                     gpointer user_data);
/*
 * The same, but a send that fails for a reason of transport (not connected, connecting or
 * backing off, the connection lost or dropped after a network change) waits in the client's
 * queue and goes out, in order, once the client is connected again, for up to @retry_ms in
 * all (0: as pl_rendezvous_client_send_async). Past that it fails with G_IO_ERROR_TIMED_OUT
 * and the last connection error. An answer of the service (peer-offline, a refusal) ends it
 * at once; a stopped client fails it with PL_RENDEZVOUS_ERROR_NOT_CONNECTED. A message whose
 * connection broke before the service confirmed it is sent again: the recipient may see it
 * twice (signaling drops the replay).
 */
void pl_rendezvous_client_send_with_retry_async(PlRendezvousClient *self,
                                                const gchar *to,
                                                const gchar *kind,
                                                JsonObject *body,
                                                guint retry_ms,
                                                GCancellable *cancellable,
                                                GAsyncReadyCallback callback,
                                                gpointer user_data);
gchar *
pl_rendezvous_client_send_finish(PlRendezvousClient *self, GAsyncResult *result, GError **error);

/* finish: TRUE and *online set, or FALSE with an error */
void pl_rendezvous_client_lookup_async(PlRendezvousClient *self,
                                       const gchar *peer_id,
                                       GCancellable *cancellable,
                                       GAsyncReadyCallback callback,
                                       gpointer user_data);
gboolean pl_rendezvous_client_lookup_finish(PlRendezvousClient *self,
                                            GAsyncResult *result,
                                            gboolean *online,
                                            GError **error);

G_END_DECLS
