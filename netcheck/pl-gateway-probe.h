/*
 * The default gateway's port-mapping services:
 *
 *  - UPnP-IGD through GUPnPSimpleIgd (gupnp-igd): a UDP mapping of a port of
 *    ours with a 60 s lease (0 if the router only knows permanent leases) is
 *    added, the external address noted, and the mapping removed again; the
 *    probe waits, within the deadline, until the router confirmed the removal.
 *  - NAT-PMP (RFC 6886) by hand: the "external address" request (opcode 0) to
 *    UDP port 5351 of the default gateway (from /proc/net/route), sent again
 *    after 250, 500, 1000 ms… Only answers from the gateway's address count.
 *
 * Both run at once, each until the deadline. A missing service is no error:
 * the result says "not available" and why.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define PL_NATPMP_PORT 5351

typedef struct {
	gchar *gateway; /* the default gateway (IPv4), or NULL */
	gboolean upnp_available;
	gchar *upnp_external_address; /* or NULL */
	gchar *upnp_error;            /* why not, or NULL */
	gboolean natpmp_available;
	gchar *natpmp_external_address; /* or NULL (also when the gateway has none yet) */
	gchar *natpmp_error;            /* why not, or NULL */
} PlGatewayProbeResult;

void pl_gateway_probe_result_free(PlGatewayProbeResult *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlGatewayProbeResult, pl_gateway_probe_result_free)

#define PL_TYPE_GATEWAY_PROBE (pl_gateway_probe_get_type())
G_DECLARE_FINAL_TYPE(PlGatewayProbe, pl_gateway_probe, PL, GATEWAY_PROBE, GObject)

PlGatewayProbe *pl_gateway_probe_new(guint timeout_ms);

/* once per object; fails only when cancelled */
void pl_gateway_probe_run_async(PlGatewayProbe *self,
                                GCancellable *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer user_data);
PlGatewayProbeResult *
pl_gateway_probe_run_finish(PlGatewayProbe *self, GAsyncResult *result, GError **error);

/* pure parts */

/* the IPv4 default gateway in the text of /proc/net/route (the up default
 * route with a gateway and the lowest metric), or NULL */
gchar *pl_gateway_probe_parse_route(const gchar *text);

/* the NAT-PMP external address request: version 0, opcode 0 */
GBytes *pl_natpmp_build_external_address_request(void);
/* its answer: TRUE and the address (NULL for 0.0.0.0: none yet); FALSE with
 * G_IO_ERROR_INVALID_DATA when it is not such an answer, G_IO_ERROR_FAILED
 * with the result code's meaning when the gateway refused */
gboolean pl_natpmp_parse_external_address_response(const guint8 *data,
                                                   gsize len,
                                                   gchar **external_address,
                                                   GError **error);

G_END_DECLS
