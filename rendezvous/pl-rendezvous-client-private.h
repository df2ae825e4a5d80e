/*
 * Internals of PlRendezvousClient exposed for the unit tests: pure helpers
 * (no I/O) and the timing knobs that tests shorten.
 */
#pragma once

#include "pl-rendezvous-client.h"

G_BEGIN_DECLS

#define PL_RENDEZVOUS_CLIENT_PING_INTERVAL_MS 10000 /* the contract: at least every 10 s */
#define PL_RENDEZVOUS_CLIENT_DEAD_AFTER_MS    30000 /* nothing heard for this long: dead */
#define PL_RENDEZVOUS_CLIENT_SEND_TIMEOUT_MS  10000 /* no "sent"/"error" for a "send" */
#define PL_RENDEZVOUS_CLIENT_BACKOFF_BASE_MS  500
#define PL_RENDEZVOUS_CLIENT_BACKOFF_MAX_MS   30000
#define PL_RENDEZVOUS_CLIENT_RECENT_IDS       1024 /* message ids remembered to drop duplicates */
#define PL_RENDEZVOUS_CLIENT_PROBE_MS         5000 /* the network changed: a pong within this */

/* A bounded set of the most recently seen message ids (oldest forgotten first). */
typedef struct _PlRendezvousRecentIds PlRendezvousRecentIds;

PlRendezvousRecentIds *pl_rendezvous_recent_ids_new(guint capacity);
void pl_rendezvous_recent_ids_free(PlRendezvousRecentIds *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlRendezvousRecentIds, pl_rendezvous_recent_ids_free)
/* TRUE if @id was not known yet (and remembers it), FALSE for a duplicate */
gboolean pl_rendezvous_recent_ids_add(PlRendezvousRecentIds *self, const gchar *id);
guint pl_rendezvous_recent_ids_get_size(PlRendezvousRecentIds *self);

/* @base + @path ("/v1/…"), keeping a path prefix of @base ("https://h/rv" → "https://h/rv/v1/…") */
gchar *pl_rendezvous_client_build_endpoint(GUri *base, const gchar *path);

/* GET /v1/peers/<id>: 200 {"peer_id", "online"}, or 404 peer-offline (online FALSE) */
gboolean pl_rendezvous_client_parse_lookup_reply(
        guint http_status, const gchar *body, gsize len, gboolean *online, GError **error);

/* the error means the token is no good: sign in again */
gboolean pl_rendezvous_client_error_needs_auth(const GError *error);
/* one line for "last-error" */
gchar *pl_rendezvous_client_describe_error(const GError *error);
/* @address is one of this host's addresses now (getifaddrs); TRUE if they cannot be listed */
gboolean pl_rendezvous_client_address_is_local(GInetAddress *address);
/* whole seconds from @now_us until @when_us, rounded up, never negative */
gint64 pl_rendezvous_client_seconds_until(gint64 when_us, gint64 now_us);

/* the client's connection runs over this local address (NULL: not connected, or unknown) */
GInetAddress *pl_rendezvous_client_get_local_address(PlRendezvousClient *self);

void pl_rendezvous_client_set_timing(PlRendezvousClient *self,
                                     guint ping_interval_ms,
                                     guint dead_after_ms,
                                     guint send_timeout_ms,
                                     guint backoff_base_ms,
                                     guint backoff_max_ms);

G_END_DECLS
