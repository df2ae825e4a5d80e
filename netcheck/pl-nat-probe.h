/*
 * NAT behaviour discovery (RFC 5780 4.3, 4.4) over one UDP socket against a
 * STUN server that answers from two addresses:
 *
 *  - test I: a Binding request to the server: the mapped address, and the
 *    server's OTHER-ADDRESS. A mapped address that is one of ours (address
 *    and port) means no NAT: mapping "none".
 *  - filtering, before anything is sent to the other address (that would open
 *    the filter to it): CHANGE-REQUEST change-IP+port and change-port, both to
 *    the primary address, at the same time. An answer from the other IP and
 *    port: endpoint-independent; only the change-port one (from the primary
 *    IP): address-dependent; neither: address-and-port-dependent.
 *  - test II to the other IP with the primary port, test III to the other
 *    address: the same mapped address as test I: endpoint-independent; II
 *    differs but III = II: address-dependent; else address-and-port-dependent.
 *
 * Everything happens before one deadline (timeout_ms after the start); the
 * filtering tests wait at most max(500 ms, timeout_ms / 4), since silence is
 * their expected answer behind restrictive NATs. A server without
 * OTHER-ADDRESS leaves both behaviours "unknown" (mapping "none" still shows).
 */
#pragma once

#include <gio/gio.h>

#include "pl-netcheck.h"

G_BEGIN_DECLS

typedef struct {
	GInetSocketAddress *server; /* where test I went */
	GInetSocketAddress *mapped; /* test I's mapped (public) address */
	GInetSocketAddress *other;  /* the server's OTHER-ADDRESS, or NULL */
	PlNatBehaviour mapping;
	PlNatBehaviour filtering;
	guint rtt_ms; /* test I */
} PlNatProbeResult;

void pl_nat_probe_result_free(PlNatProbeResult *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlNatProbeResult, pl_nat_probe_result_free)

#define PL_TYPE_NAT_PROBE (pl_nat_probe_get_type())
G_DECLARE_FINAL_TYPE(PlNatProbe, pl_nat_probe, PL, NAT_PROBE, GObject)

/* local_addresses: this host's IP addresses as text (NULL: from getifaddrs()) */
PlNatProbe *
pl_nat_probe_new(GInetSocketAddress *server, const gchar *const *local_addresses, guint timeout_ms);

/* once per object; fails only when test I gets no usable answer */
void pl_nat_probe_run_async(PlNatProbe *self,
                            GCancellable *cancellable,
                            GAsyncReadyCallback callback,
                            gpointer user_data);
PlNatProbeResult *pl_nat_probe_run_finish(PlNatProbe *self, GAsyncResult *result, GError **error);

/* pure parts */

/* is mapped one of ours: its IP among local_addresses and its port local_port? */
gboolean pl_nat_probe_is_local(GInetSocketAddress *mapped,
                               guint16 local_port,
                               const gchar *const *local_addresses);
/* the mapping from tests I-III (mapped_ii, mapped_iii NULL when not run or not
 * answered); is_local from pl_nat_probe_is_local() */
PlNatBehaviour pl_nat_probe_classify_mapping(gboolean is_local,
                                             GInetSocketAddress *mapped_i,
                                             GInetSocketAddress *other,
                                             GInetSocketAddress *mapped_ii,
                                             GInetSocketAddress *mapped_iii);
/* the filtering from the two CHANGE-REQUEST tests; supported: the server has
 * an OTHER-ADDRESS and did not refuse the requests */
PlNatBehaviour pl_nat_probe_classify_filtering(gboolean supported,
                                               gboolean change_ip_port_answered,
                                               gboolean change_port_answered);

/* this host's IP addresses (getifaddrs), as text */
GStrv pl_nat_probe_list_local_addresses(void);

G_END_DECLS
