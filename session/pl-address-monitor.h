/*
 * This host's own addresses, and a watch on them (rtnetlink): sessions
 * restart ICE when an address appears or disappears.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * The numeric addresses ("192.0.2.1", "2001:db8::1") of every interface that
 * is up, IPv4 and IPv6, without tentative, deprecated or duplicate-detection
 * failed IPv6 addresses; loopback and link-local addresses only when asked.
 * IPv6 link-local addresses carry their scope ("fe80::1%eth0").
 * A GPtrArray of gchar*, sorted, without duplicates; never NULL.
 */
GPtrArray *pl_local_addresses_get(gboolean include_loopback, gboolean include_link_local);

#define PL_TYPE_ADDRESS_MONITOR (pl_address_monitor_get_type())
G_DECLARE_FINAL_TYPE(PlAddressMonitor, pl_address_monitor, PL, ADDRESS_MONITOR, GObject)

/*
 * Signal "changed" (no arguments): an address was added to or removed from
 * an interface; emitted at most once per PL_ADDRESS_MONITOR_SETTLE_MS, after
 * the burst of changes settles. Uses the thread-default main context.
 */
#define PL_ADDRESS_MONITOR_SETTLE_MS 300
PlAddressMonitor *pl_address_monitor_new(GError **error);

G_END_DECLS
