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

/* finish returns the message id the service gave the message */
void pl_rendezvous_client_send_async(PlRendezvousClient *self,
                                     const gchar *to,
                                     const gchar *kind,
                                     JsonObject *body,
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
