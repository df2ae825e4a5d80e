/*
 * The rendezvous service's logic, independent of HTTP: challenges, sessions,
 * presence, inboxes, delivery over connections, rate limits and metrics. All
 * shared state goes through PlStore, so that the memory and Redis backends
 * plug in unchanged and several instances on one Redis act as one service.
 *
 * Connections (the WebSockets of the front) are named by an id
 * "<instance-id>:<n>"; the service tells the front what to send with the
 * "connection-frame" signal (conn_id, text) and when to close with
 * "connection-close" (conn_id, code, reason).
 */
#pragma once

#include "pl-rendezvous-protocol.h"
#include "pl-store.h"

G_BEGIN_DECLS

#define PL_RENDEZVOUS_CHALLENGE_TTL_S 30
#define PL_RENDEZVOUS_TOKEN_TTL_S     3600
#define PL_RENDEZVOUS_CLOSE_REPLACED  4000 /* a newer connection of the same peer */
#define PL_RENDEZVOUS_CLOSE_SILENT    4001 /* nothing received for the presence timeout */

typedef struct {
	gsize max_message_size; /* bytes of a message body (compact JSON) */
	guint max_inbox;        /* undelivered messages per recipient */
	guint message_ttl_s;    /* age after which a message is dropped undelivered */
	gdouble rate;           /* messages per second per sender */
	guint burst;            /* bucket size */
	guint presence_timeout_s;
	gchar *turn_secret; /* NULL: no TURN credentials */
	GStrv turn_uris;
	GStrv stun_uris;
	guint turn_ttl_s;
} PlRendezvousServiceConfig;

void pl_rendezvous_service_config_init(PlRendezvousServiceConfig *config);
void pl_rendezvous_service_config_clear(PlRendezvousServiceConfig *config);

#define PL_TYPE_RENDEZVOUS_SERVICE (pl_rendezvous_service_get_type())
G_DECLARE_FINAL_TYPE(PlRendezvousService, pl_rendezvous_service, PL, RENDEZVOUS_SERVICE, GObject)

/* the config is copied */
PlRendezvousService *pl_rendezvous_service_new(PlStore *store,
                                               const PlRendezvousServiceConfig *config);
PlStore *pl_rendezvous_service_get_store(PlRendezvousService *self);
const PlRendezvousServiceConfig *pl_rendezvous_service_get_config(PlRendezvousService *self);

/* POST /v1/auth/challenge: the reply body */
void pl_rendezvous_service_challenge_async(PlRendezvousService *self,
                                           const PlPeerId *peer_id,
                                           const gchar *audience,
                                           GCancellable *cancellable,
                                           GAsyncReadyCallback callback,
                                           gpointer user_data);
gchar *pl_rendezvous_service_challenge_finish(PlRendezvousService *self,
                                              GAsyncResult *result,
                                              GError **error);

/* POST /v1/auth/session: the reply body; audience is the request's Host */
void pl_rendezvous_service_session_async(PlRendezvousService *self,
                                         PlRendezvousSessionRequest *request,
                                         const gchar *audience,
                                         GCancellable *cancellable,
                                         GAsyncReadyCallback callback,
                                         gpointer user_data);
gchar *pl_rendezvous_service_session_finish(PlRendezvousService *self,
                                            GAsyncResult *result,
                                            GError **error);

/* the peer ID (canonical) behind a bearer token, or PL_RENDEZVOUS_ERROR_UNAUTHORIZED */
void pl_rendezvous_service_authenticate_async(PlRendezvousService *self,
                                              const gchar *token,
                                              GCancellable *cancellable,
                                              GAsyncReadyCallback callback,
                                              gpointer user_data);
gchar *pl_rendezvous_service_authenticate_finish(PlRendezvousService *self,
                                                 GAsyncResult *result,
                                                 GError **error);

/* DELETE /v1/auth/session */
void pl_rendezvous_service_revoke_async(PlRendezvousService *self,
                                        const gchar *token,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback,
                                        gpointer user_data);
gboolean pl_rendezvous_service_revoke_finish(PlRendezvousService *self,
                                             GAsyncResult *result,
                                             GError **error);

/* GET /v1/ice, and the "ice" of a session reply */
JsonObject *pl_rendezvous_service_build_ice(PlRendezvousService *self, const gchar *peer_id);

/* POST /v1/messages and the "send" frame: the message id; retry_after_s set on 429 errors */
void pl_rendezvous_service_send_async(PlRendezvousService *self,
                                      const gchar *from,
                                      PlRendezvousSend *send,
                                      GCancellable *cancellable,
                                      GAsyncReadyCallback callback,
                                      gpointer user_data);
gchar *pl_rendezvous_service_send_finish(PlRendezvousService *self,
                                         GAsyncResult *result,
                                         guint *retry_after_s,
                                         GError **error);

/* GET /v1/peers/<id> */
void pl_rendezvous_service_lookup_async(PlRendezvousService *self,
                                        const gchar *peer_id,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback,
                                        gpointer user_data);
gboolean pl_rendezvous_service_lookup_finish(PlRendezvousService *self,
                                             GAsyncResult *result,
                                             gboolean *online,
                                             GError **error);

/*
 * a connection: connection_new registers it at once (frames may arrive);
 * connect_async makes the peer online (presence, subscription, replacing older
 * connections, delivering the inbox); disconnect ends it in any state
 */
gchar *pl_rendezvous_service_connection_new(PlRendezvousService *self, const gchar *peer_id);
void pl_rendezvous_service_connect_async(PlRendezvousService *self,
                                         const gchar *conn_id,
                                         GCancellable *cancellable,
                                         GAsyncReadyCallback callback,
                                         gpointer user_data);
gboolean pl_rendezvous_service_connect_finish(PlRendezvousService *self,
                                              GAsyncResult *result,
                                              GError **error);
/* one text frame from the client; replies come through "connection-frame" */
void pl_rendezvous_service_connection_receive(PlRendezvousService *self,
                                              const gchar *conn_id,
                                              const gchar *text,
                                              gsize len);
void pl_rendezvous_service_disconnect(PlRendezvousService *self, const gchar *conn_id);

/* metrics and health */
void pl_rendezvous_service_record_error(PlRendezvousService *self, const GError *error);
gchar *pl_rendezvous_service_build_metrics(PlRendezvousService *self);
gboolean pl_rendezvous_service_is_available(PlRendezvousService *self);
/* the error as the service reports it: store errors become unavailable or failed */
GError *pl_rendezvous_service_error_from_store(const GError *error);

G_END_DECLS
