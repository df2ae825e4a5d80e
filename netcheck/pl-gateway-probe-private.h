/*
 * For tests: where the NAT-PMP requests go instead of the default gateway's
 * port 5351, and UPnP off (its discovery multicasts on every interface).
 */
#pragma once

#include "pl-gateway-probe.h"

G_BEGIN_DECLS

void pl_gateway_probe_set_natpmp_server(PlGatewayProbe *self, GInetSocketAddress *server);
void pl_gateway_probe_set_upnp_enabled(PlGatewayProbe *self, gboolean enabled);

G_END_DECLS
