/*
 * The agent's view of its network: the "netcheck" IPC method runs the checks
 * of netcheck/ with the servers the sessions use, and the last report's
 * verdict is the "nat" summary of "status".
 */
#pragma once

#include "pl-ipc-server.h"
#include "pl-session-manager.h"

G_BEGIN_DECLS

#define PL_TYPE_NAT_CHECK (pl_nat_check_get_type())
G_DECLARE_FINAL_TYPE(PlNatCheck, pl_nat_check, PL, NAT_CHECK, GObject)

/* gateway: also ask the router (UPnP-IGD, NAT-PMP), which multicasts on the LAN */
PlNatCheck *pl_nat_check_new(PlSessionManager *sessions, gboolean gateway);
void pl_nat_check_add_methods(PlNatCheck *self, PlIpcServer *server);
/* {"summary": verdict or "unknown", "checked_s_ago", "mapping", "filtering", "public_ipv4"} */
JsonObject *pl_nat_check_describe(PlNatCheck *self);

G_END_DECLS
