/*
 * What this host's network lets peerlink do, found out the way RFC 5780
 * describes, plus the routers' port-mapping services and the TURN relays:
 *
 *  - UDP to the STUN servers at all; the public (mapped) IPv4 and IPv6 address;
 *  - NAT mapping behaviour: none, endpoint-independent, address-dependent,
 *    address-and-port-dependent (tests I, II, III against a STUN server
 *    that answers from two addresses, e.g. coturn with two listening IPs);
 *  - NAT filtering behaviour: endpoint-independent, address-dependent,
 *    address-and-port-dependent (CHANGE-REQUEST tests);
 *  - UPnP-IGD and NAT-PMP on the default gateway, and the external address
 *    each reports;
 *  - each TURN server over UDP and TCP: an allocation made (and released)
 *    with its latency;
 *  - a one-line verdict, e.g. "direct connections likely".
 *
 * Every probe has a deadline; a server that answers garbage is a clear
 * failure of that probe, never of the whole check.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "pl-ice-servers.h"

G_BEGIN_DECLS

typedef enum {
	PL_NAT_BEHAVIOUR_UNKNOWN, /* not determined (no server, no answer, no OTHER-ADDRESS) */
	PL_NAT_BEHAVIOUR_NONE,    /* mapping only: the mapped address is a local one */
	PL_NAT_BEHAVIOUR_ENDPOINT_INDEPENDENT,
	PL_NAT_BEHAVIOUR_ADDRESS_DEPENDENT,
	PL_NAT_BEHAVIOUR_ADDRESS_AND_PORT_DEPENDENT,
} PlNatBehaviour;

/* "unknown", "none", "endpoint-independent", "address-dependent",
 * "address-and-port-dependent" */
const gchar *pl_nat_behaviour_to_string(PlNatBehaviour behaviour);

typedef struct {
	GPtrArray *stun_servers;    /* PlStunServer*, borrowed; the first that answers is used */
	GPtrArray *turn_servers;    /* PlTurnServer*, borrowed; each is probed */
	GPtrArray *local_addresses; /* gchar*, borrowed: to tell "no NAT" from a mapping
	                             * (NULL: this host's addresses, from getifaddrs()) */
	gboolean gateway;           /* probe UPnP-IGD and NAT-PMP */
	guint timeout_ms;           /* per probe; default 3000 when 0. The probes run at
	                             * once, the STUN servers one after the other: a check
	                             * takes about timeout_ms per STUN server that fails,
	                             * and timeout_ms with gateway when no router answers */
} PlNetcheckConfig;

/*
 * The report, as JSON (the "netcheck" IPC method returns it as is):
 * {"udp": bool (a STUN server or a TURN server over UDP answered),
 *  "stun_server": "host:port"|null (the one that answered),
 *  "public_ipv4": "a.b.c.d"|null, "public_ipv6": ...|null,
 *  "mapping": behaviour string, "filtering": behaviour string,
 *  "upnp": {"available": bool, "external_address": ...|null},
 *  "natpmp": {"available": bool, "external_address": ...|null},
 *  "turn": [{"server": "turn:host:port?transport=udp", "reachable": bool,
 *            "rtt_ms": number|null, "relayed_address": "ip:port"|null, "error": string|null}],
 *  "verdict": "direct connections likely" | ..., "duration_ms": number}
 */
/* the config is copied; fails only when cancelled: every probe's failure is
 * part of the report */
void pl_netcheck_run_async(const PlNetcheckConfig *config,
                           GCancellable *cancellable,
                           GAsyncReadyCallback callback,
                           gpointer user_data);
JsonObject *pl_netcheck_run_finish(GAsyncResult *result, GError **error);

/*
 * The verdicts. What they rest on: sessions use UDP candidates only (no
 * ICE-TCP) plus TURN relays over UDP or TCP, and libnice maps ports with
 * UPnP-IGD (not NAT-PMP). Two hosts connect directly unless one side's
 * mapping is endpoint-dependent (a "symmetric" NAT: address- or
 * address-and-port-dependent mapping) and the other side filters by address
 * and port (port-restricted cone, or symmetric too). "none" (no NAT) counts
 * as an endpoint-independent mapping; an unknown filtering as the strictest.
 */
#define PL_NETCHECK_VERDICT_DIRECT      "direct connections likely"
#define PL_NETCHECK_VERDICT_DIRECT_UPNP "direct connections likely: the router maps ports (UPnP)"
#define PL_NETCHECK_VERDICT_CONE_RELAY                                                             \
	"direct connections to most peers; peers behind symmetric NATs need a relay"
#define PL_NETCHECK_VERDICT_CONE_NO_RELAY                                                          \
	"direct connections to most peers; no TURN relay for peers behind symmetric NATs"
#define PL_NETCHECK_VERDICT_SYMMETRIC_RELAY                                                        \
	"only relayed connections to peers behind symmetric or port-restricted NATs"
#define PL_NETCHECK_VERDICT_SYMMETRIC_NO_RELAY                                                     \
	"peers behind symmetric or port-restricted NATs cannot be reached: no TURN relay"
#define PL_NETCHECK_VERDICT_UNKNOWN_RELAY                                                          \
	"UDP works, the NAT behaviour is unknown; a TURN relay is reachable"
#define PL_NETCHECK_VERDICT_UNKNOWN_NO_RELAY                                                       \
	"UDP works, the NAT behaviour is unknown, and no TURN relay is reachable"
#define PL_NETCHECK_VERDICT_TCP_RELAY_ONLY "no UDP at all: only relayed connections over TCP"
#define PL_NETCHECK_VERDICT_OFFLINE                                                                \
	"no UDP and no TURN relay: no connections beyond the local network"
/* only from pl_netcheck_run_*(), when the config names no server at all */
#define PL_NETCHECK_VERDICT_NOTHING_CHECKED "nothing checked: no STUN or TURN server configured"

/*
 * The verdict for a combination (pure; the lab checks it per router), the
 * first rule that applies:
 *
 *  - neither udp nor turn_udp: TCP_RELAY_ONLY with turn_tcp, else OFFLINE
 *  - gateway_mapping: DIRECT_UPNP
 *  - mapping none or endpoint-independent, and filtering
 *      endpoint-independent or address-dependent: DIRECT
 *      address-and-port-dependent or unknown: CONE_RELAY / CONE_NO_RELAY
 *  - mapping address- or address-and-port-dependent: SYMMETRIC_RELAY / SYMMETRIC_NO_RELAY
 *  - mapping unknown: UNKNOWN_RELAY / UNKNOWN_NO_RELAY
 *
 * "_RELAY" when turn_udp or turn_tcp. gateway_mapping: a UPnP-IGD mapping
 * with a public external address (pl_netcheck_run_*() passes exactly that).
 */
const gchar *pl_netcheck_verdict(gboolean udp,
                                 PlNatBehaviour mapping,
                                 PlNatBehaviour filtering,
                                 gboolean gateway_mapping,
                                 gboolean turn_udp,
                                 gboolean turn_tcp);

G_END_DECLS
