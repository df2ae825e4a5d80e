/*
 * The report before it becomes JSON, so that the JSON is built (and tested)
 * by a pure function.
 */
#pragma once

#include "pl-netcheck.h"

G_BEGIN_DECLS

typedef struct {
	gchar *server; /* turn:host:port?transport=… */
	PlIceTransport transport;
	gboolean reachable;
	gint rtt_ms; /* -1: none */
	gchar *relayed_address;
	gchar *error;
} PlNetcheckTurnReport;

typedef struct {
	gboolean udp;
	gchar *stun_server;
	gchar *public_ipv4;
	gchar *public_ipv6;
	PlNatBehaviour mapping;
	PlNatBehaviour filtering;
	gboolean upnp_available;
	gchar *upnp_external_address;
	gboolean natpmp_available;
	gchar *natpmp_external_address;
	GPtrArray *turn;          /* PlNetcheckTurnReport*, owned */
	gboolean nothing_checked; /* no STUN and no TURN server in the config */
	gint64 duration_ms;
} PlNetcheckReport;

PlNetcheckReport *pl_netcheck_report_new(void);
void pl_netcheck_report_free(PlNetcheckReport *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlNetcheckReport, pl_netcheck_report_free)

/* is this a public (globally routable) address, as far as peers can tell:
 * not private, shared (100.64/10), loopback, link-local or unspecified */
gboolean pl_netcheck_address_is_public(const gchar *address);

/* the verdict of a report, by pl_netcheck_verdict() */
const gchar *pl_netcheck_report_verdict(const PlNetcheckReport *self);
/* the JSON that pl-netcheck.h documents */
JsonObject *pl_netcheck_report_to_json(const PlNetcheckReport *self);

G_END_DECLS
