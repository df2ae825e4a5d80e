/*
 * One generation of ICE for one session: a libnice agent with one stream of
 * one component (UDP; relayed over TURN UDP or TCP), trickle, consent
 * freshness, and the selected pair described for status. A session makes a
 * new path for every ICE restart and drops the old one once the new one works.
 */
#pragma once

#include <json-glib/json-glib.h>
#include <nice/agent.h>

#include "pl-ice-servers.h"

G_BEGIN_DECLS

typedef struct {
	GPtrArray *local_addresses;   /* of gchar*: the addresses to gather host candidates on */
	GPtrArray *stun_servers;      /* of PlStunServer*; libnice uses the first that resolves */
	GPtrArray *turn_servers;      /* of PlTurnServer* with credentials */
	gboolean upnp;                /* ask a UPnP-IGD router for a mapping */
	gboolean allow_local_remotes; /* accept a peer's loopback and link-local candidates */
} PlIcePathConfig;

#define PL_TYPE_ICE_PATH (pl_ice_path_get_type())
G_DECLARE_FINAL_TYPE(PlIcePath, pl_ice_path, PL, ICE_PATH, GObject)

typedef void (*PlIcePathReceiveFunc)(const guint8 *data, gsize len, gpointer user_data);

/*
 * Signals: "candidate" (const gchar *sdp): a local candidate to trickle, as
 * "candidate:..."; "gathering-done"; "state-changed" (guint NiceComponentState);
 * "selected-pair": a pair was nominated (see describe).
 */
PlIcePath *pl_ice_path_new(const PlIcePathConfig *config, gboolean controlling, guint generation);
guint pl_ice_path_get_generation(PlIcePath *self);
void pl_ice_path_set_receive_func(PlIcePath *self, PlIcePathReceiveFunc func, gpointer user_data);

/* resolves server names, then gathers; candidates arrive as signals */
void pl_ice_path_gather(PlIcePath *self);
void pl_ice_path_get_local_credentials(PlIcePath *self, gchar **ufrag, gchar **pwd);
void pl_ice_path_set_remote_credentials(PlIcePath *self, const gchar *ufrag, const gchar *pwd);
/* the peer's trickled "candidate:..." lines; unusable or forbidden ones are skipped */
void pl_ice_path_add_remote_candidates(PlIcePath *self, GPtrArray *candidates);
void pl_ice_path_set_remote_gathering_done(PlIcePath *self);

NiceComponentState pl_ice_path_get_state(PlIcePath *self);
gboolean pl_ice_path_has_selected_pair(PlIcePath *self);
gboolean pl_ice_path_is_relayed(PlIcePath *self);
/* {"type", "address", "port", "transport"} of the selected pair's local or remote side, or NULL */
JsonObject *pl_ice_path_describe_candidate(PlIcePath *self, gboolean local);
/*
 * {"local": {"host": n, "srflx": n, "prflx": n, "relay": n}, "remote": {...},
 *  "remote_refused": n, "explanation": "why the path is direct or relayed"}
 */
JsonObject *pl_ice_path_describe_checks(PlIcePath *self);
/* how many candidates of the peer were taken */
guint pl_ice_path_get_n_remotes(PlIcePath *self);
/* how many candidates of the peer were refused (loopback, link-local, unparsable) */
guint pl_ice_path_get_n_refused_remotes(PlIcePath *self);

gboolean pl_ice_path_send(PlIcePath *self, const guint8 *data, gsize len);

/* releases TURN allocations and UPnP mappings, then drops the agent */
void pl_ice_path_close(PlIcePath *self);

G_END_DECLS
