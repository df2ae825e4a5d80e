#include "config.h"

#include <string.h>

#include "pl-gateway-probe.h"
#include "pl-nat-probe.h"
#include "pl-netcheck-private.h"
#include "pl-turn-probe.h"

#define PL_NETCHECK_DEFAULT_TIMEOUT_MS 3000

const gchar *
pl_nat_behaviour_to_string(PlNatBehaviour behaviour)
{
	switch (behaviour) {
	case PL_NAT_BEHAVIOUR_NONE:
		return "none";
	case PL_NAT_BEHAVIOUR_ENDPOINT_INDEPENDENT:
		return "endpoint-independent";
	case PL_NAT_BEHAVIOUR_ADDRESS_DEPENDENT:
		return "address-dependent";
	case PL_NAT_BEHAVIOUR_ADDRESS_AND_PORT_DEPENDENT:
		return "address-and-port-dependent";
	case PL_NAT_BEHAVIOUR_UNKNOWN:
	default:
		return "unknown";
	}
}

/* -------------------------------------------------------------------------- */
/* the verdict */

const gchar *
pl_netcheck_verdict(gboolean udp,
                    PlNatBehaviour mapping,
                    PlNatBehaviour filtering,
                    gboolean gateway_mapping,
                    gboolean turn_udp,
                    gboolean turn_tcp)
{
	gboolean relay = turn_udp || turn_tcp;

	/* a TURN allocation over UDP is UDP that works */
	if (!udp && !turn_udp)
		return turn_tcp ? PL_NETCHECK_VERDICT_TCP_RELAY_ONLY : PL_NETCHECK_VERDICT_OFFLINE;
	/* libnice offers the UPnP-mapped port: reachable from anywhere */
	if (gateway_mapping)
		return PL_NETCHECK_VERDICT_DIRECT_UPNP;
	switch (mapping) {
	case PL_NAT_BEHAVIOUR_NONE:
	case PL_NAT_BEHAVIOUR_ENDPOINT_INDEPENDENT:
		/* a symmetric peer reaches us from a port we never sent to: only
		 * endpoint-independent or address-dependent filters let it in */
		if (filtering == PL_NAT_BEHAVIOUR_ENDPOINT_INDEPENDENT ||
		    filtering == PL_NAT_BEHAVIOUR_ADDRESS_DEPENDENT)
			return PL_NETCHECK_VERDICT_DIRECT;
		return relay ? PL_NETCHECK_VERDICT_CONE_RELAY : PL_NETCHECK_VERDICT_CONE_NO_RELAY;
	case PL_NAT_BEHAVIOUR_ADDRESS_DEPENDENT:
	case PL_NAT_BEHAVIOUR_ADDRESS_AND_PORT_DEPENDENT:
		/* our port towards a peer is not the one the STUN server saw: peers
		 * that filter by address and port never let our packets in */
		return relay ? PL_NETCHECK_VERDICT_SYMMETRIC_RELAY
		             : PL_NETCHECK_VERDICT_SYMMETRIC_NO_RELAY;
	case PL_NAT_BEHAVIOUR_UNKNOWN:
	default:
		return relay ? PL_NETCHECK_VERDICT_UNKNOWN_RELAY
		             : PL_NETCHECK_VERDICT_UNKNOWN_NO_RELAY;
	}
}

/* -------------------------------------------------------------------------- */
/* the report */

static void
pl_netcheck_turn_report_free(PlNetcheckTurnReport *self)
{
	if (self == NULL)
		return;
	g_free(self->server);
	g_free(self->relayed_address);
	g_free(self->error);
	g_free(self);
}

PlNetcheckReport *
pl_netcheck_report_new(void)
{
	PlNetcheckReport *self = g_new0(PlNetcheckReport, 1);

	self->turn = g_ptr_array_new_with_free_func((GDestroyNotify)pl_netcheck_turn_report_free);
	return self;
}

void
pl_netcheck_report_free(PlNetcheckReport *self)
{
	if (self == NULL)
		return;
	g_free(self->stun_server);
	g_free(self->public_ipv4);
	g_free(self->public_ipv6);
	g_free(self->upnp_external_address);
	g_free(self->natpmp_external_address);
	g_ptr_array_unref(self->turn);
	g_free(self);
}

gboolean
pl_netcheck_address_is_public(const gchar *address)
{
	g_autoptr(GInetAddress) ip = NULL;
	const guint8 *bytes;

	if (address == NULL)
		return FALSE;
	ip = g_inet_address_new_from_string(address);
	if (ip == NULL)
		return FALSE;
	if (g_inet_address_get_is_any(ip) || g_inet_address_get_is_loopback(ip) ||
	    g_inet_address_get_is_link_local(ip) || g_inet_address_get_is_site_local(ip) ||
	    g_inet_address_get_is_multicast(ip))
		return FALSE;
	bytes = g_inet_address_to_bytes(ip);
	if (g_inet_address_get_family(ip) == G_SOCKET_FAMILY_IPV4)
		/* 100.64.0.0/10: carrier-grade NAT */
		return !(bytes[0] == 100 && (bytes[1] & 0xc0) == 64);
	/* fc00::/7: unique local */
	return (bytes[0] & 0xfe) != 0xfc;
}

static void
pl_netcheck_report_turn_usable(const PlNetcheckReport *self, gboolean *turn_udp, gboolean *turn_tcp)
{
	*turn_udp = FALSE;
	*turn_tcp = FALSE;
	for (guint i = 0; i < self->turn->len; i++) {
		PlNetcheckTurnReport *turn = g_ptr_array_index(self->turn, i);
		if (!turn->reachable)
			continue;
		if (turn->transport == PL_ICE_TRANSPORT_TCP)
			*turn_tcp = TRUE;
		else
			*turn_udp = TRUE;
	}
}

const gchar *
pl_netcheck_report_verdict(const PlNetcheckReport *self)
{
	gboolean turn_udp;
	gboolean turn_tcp;

	g_return_val_if_fail(self != NULL, NULL);
	if (self->nothing_checked)
		return PL_NETCHECK_VERDICT_NOTHING_CHECKED;
	pl_netcheck_report_turn_usable(self, &turn_udp, &turn_tcp);
	return pl_netcheck_verdict(
	        self->udp, self->mapping, self->filtering,
	        self->upnp_available && pl_netcheck_address_is_public(self->upnp_external_address),
	        turn_udp, turn_tcp);
}

static void
pl_netcheck_set_string_or_null(JsonBuilder *builder, const gchar *name, const gchar *value)
{
	json_builder_set_member_name(builder, name);
	if (value != NULL)
		json_builder_add_string_value(builder, value);
	else
		json_builder_add_null_value(builder);
}

static void
pl_netcheck_add_gateway_service(JsonBuilder *builder,
                                const gchar *name,
                                gboolean available,
                                const gchar *external_address)
{
	json_builder_set_member_name(builder, name);
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "available");
	json_builder_add_boolean_value(builder, available);
	pl_netcheck_set_string_or_null(builder, "external_address", external_address);
	json_builder_end_object(builder);
}

JsonObject *
pl_netcheck_report_to_json(const PlNetcheckReport *self)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) root = NULL;

	g_return_val_if_fail(self != NULL, NULL);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "udp");
	json_builder_add_boolean_value(builder, self->udp);
	pl_netcheck_set_string_or_null(builder, "stun_server", self->stun_server);
	pl_netcheck_set_string_or_null(builder, "public_ipv4", self->public_ipv4);
	pl_netcheck_set_string_or_null(builder, "public_ipv6", self->public_ipv6);
	json_builder_set_member_name(builder, "mapping");
	json_builder_add_string_value(builder, pl_nat_behaviour_to_string(self->mapping));
	json_builder_set_member_name(builder, "filtering");
	json_builder_add_string_value(builder, pl_nat_behaviour_to_string(self->filtering));
	pl_netcheck_add_gateway_service(builder, "upnp", self->upnp_available,
	                                self->upnp_external_address);
	pl_netcheck_add_gateway_service(builder, "natpmp", self->natpmp_available,
	                                self->natpmp_external_address);
	json_builder_set_member_name(builder, "turn");
	json_builder_begin_array(builder);
	for (guint i = 0; i < self->turn->len; i++) {
		PlNetcheckTurnReport *turn = g_ptr_array_index(self->turn, i);

		json_builder_begin_object(builder);
		pl_netcheck_set_string_or_null(builder, "server", turn->server);
		json_builder_set_member_name(builder, "reachable");
		json_builder_add_boolean_value(builder, turn->reachable);
		json_builder_set_member_name(builder, "rtt_ms");
		if (turn->rtt_ms >= 0)
			json_builder_add_int_value(builder, turn->rtt_ms);
		else
			json_builder_add_null_value(builder);
		pl_netcheck_set_string_or_null(builder, "relayed_address", turn->relayed_address);
		pl_netcheck_set_string_or_null(builder, "error", turn->error);
		json_builder_end_object(builder);
	}
	json_builder_end_array(builder);
	json_builder_set_member_name(builder, "verdict");
	json_builder_add_string_value(builder, pl_netcheck_report_verdict(self));
	json_builder_set_member_name(builder, "duration_ms");
	json_builder_add_int_value(builder, self->duration_ms);
	json_builder_end_object(builder);

	root = json_builder_get_root(builder);
	return json_object_ref(json_node_get_object(root));
}

/* -------------------------------------------------------------------------- */
/* the run */

typedef struct {
	GPtrArray *stun_servers; /* PlStunServer*, copies */
	GPtrArray *turn_servers; /* PlTurnServer*, copies */
	GStrv local_addresses;
	gboolean gateway;
	guint timeout_ms;

	gint64 started_us;
	guint pending; /* parts: the STUN servers, each TURN server, the gateway */
	PlNetcheckReport *report;

	guint stun_index;
	guint nat_pending;
	PlNatProbeResult *nat_ipv4;
	PlNatProbeResult *nat_ipv6;
	GCancellable *resolve_cancellable;
	GSource *resolve_timeout;
	GSource *resolve_cancel_source;
} PlNetcheckRun;

static void
pl_netcheck_run_stop_resolving(PlNetcheckRun *run)
{
	if (run->resolve_timeout != NULL) {
		g_source_destroy(run->resolve_timeout);
		g_clear_pointer(&run->resolve_timeout, g_source_unref);
	}
	if (run->resolve_cancel_source != NULL) {
		g_source_destroy(run->resolve_cancel_source);
		g_clear_pointer(&run->resolve_cancel_source, g_source_unref);
	}
	g_clear_object(&run->resolve_cancellable);
}

static void
pl_netcheck_run_free(PlNetcheckRun *run)
{
	g_ptr_array_unref(run->stun_servers);
	g_ptr_array_unref(run->turn_servers);
	g_strfreev(run->local_addresses);
	pl_netcheck_report_free(run->report);
	pl_nat_probe_result_free(run->nat_ipv4);
	pl_nat_probe_result_free(run->nat_ipv6);
	pl_netcheck_run_stop_resolving(run);
	g_free(run);
}

static void
pl_netcheck_part_done(GTask *task)
{
	PlNetcheckRun *run = g_task_get_task_data(task);
	gboolean turn_udp;
	gboolean turn_tcp;

	g_return_if_fail(run->pending > 0);
	if (--run->pending > 0)
		return;
	if (g_task_return_error_if_cancelled(task))
		return;
	pl_netcheck_report_turn_usable(run->report, &turn_udp, &turn_tcp);
	run->report->udp = run->report->udp || turn_udp;
	run->report->nothing_checked = run->stun_servers->len == 0 && run->turn_servers->len == 0;
	run->report->duration_ms = (g_get_monotonic_time() - run->started_us) / 1000;
	g_debug("netcheck: %s", pl_netcheck_report_verdict(run->report));
	g_task_return_pointer(task, pl_netcheck_report_to_json(run->report),
	                      (GDestroyNotify)json_object_unref);
}

/* STUN ---------------------------------------------------------------------- */

static void pl_netcheck_stun_next(GTask *task);

static gchar *
pl_netcheck_ip_of(GInetSocketAddress *address)
{
	return g_inet_address_to_string(g_inet_socket_address_get_address(address));
}

static void
pl_netcheck_nat_probe_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	PlNetcheckRun *run = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	PlNatProbeResult *nat = pl_nat_probe_run_finish(PL_NAT_PROBE(source), result, &error);
	PlStunServer *server = g_ptr_array_index(run->stun_servers, run->stun_index);
	PlNatProbeResult *primary;

	if (nat == NULL) {
		g_autofree gchar *name = pl_stun_server_to_string(server);
		g_debug("netcheck: STUN server %s: %s", name, error->message);
	} else if (g_inet_address_get_family(g_inet_socket_address_get_address(nat->server)) ==
	           G_SOCKET_FAMILY_IPV6) {
		run->nat_ipv6 = nat;
	} else {
		run->nat_ipv4 = nat;
	}
	if (--run->nat_pending > 0)
		return;
	if (g_cancellable_is_cancelled(g_task_get_cancellable(task))) {
		pl_netcheck_part_done(task);
		return;
	}
	if (run->nat_ipv4 == NULL && run->nat_ipv6 == NULL) {
		run->stun_index++;
		pl_netcheck_stun_next(task);
		return;
	}
	primary = run->nat_ipv4 != NULL ? run->nat_ipv4 : run->nat_ipv6;
	run->report->udp = TRUE;
	run->report->stun_server = pl_stun_server_to_string(server);
	run->report->mapping = primary->mapping;
	run->report->filtering = primary->filtering;
	if (run->nat_ipv4 != NULL)
		run->report->public_ipv4 = pl_netcheck_ip_of(run->nat_ipv4->mapped);
	if (run->nat_ipv6 != NULL)
		run->report->public_ipv6 = pl_netcheck_ip_of(run->nat_ipv6->mapped);
	pl_netcheck_part_done(task);
}

static void
pl_netcheck_stun_probe(GTask *task, GList *addresses)
{
	PlNetcheckRun *run = g_task_get_task_data(task);
	PlStunServer *server = g_ptr_array_index(run->stun_servers, run->stun_index);
	GInetAddress *ipv4 = NULL;
	GInetAddress *ipv6 = NULL;

	for (GList *l = addresses; l != NULL; l = l->next) {
		GInetAddress *address = l->data;
		if (g_inet_address_get_family(address) == G_SOCKET_FAMILY_IPV4 && ipv4 == NULL)
			ipv4 = address;
		else if (g_inet_address_get_family(address) == G_SOCKET_FAMILY_IPV6 && ipv6 == NULL)
			ipv6 = address;
	}
	g_clear_pointer(&run->nat_ipv4, pl_nat_probe_result_free);
	g_clear_pointer(&run->nat_ipv6, pl_nat_probe_result_free);
	run->nat_pending = 0;
	for (guint i = 0; i < 2; i++) {
		GInetAddress *address = i == 0 ? ipv4 : ipv6;
		g_autoptr(GSocketAddress) target = NULL;
		g_autoptr(PlNatProbe) probe = NULL;

		if (address == NULL)
			continue;
		target = g_inet_socket_address_new(address, server->port);
		probe = pl_nat_probe_new(G_INET_SOCKET_ADDRESS(target),
		                         (const gchar *const *)run->local_addresses,
		                         run->timeout_ms);
		run->nat_pending++;
		pl_nat_probe_run_async(probe, g_task_get_cancellable(task),
		                       pl_netcheck_nat_probe_cb, g_object_ref(task));
	}
	if (run->nat_pending == 0) {
		run->stun_index++;
		pl_netcheck_stun_next(task);
	}
}

static void
pl_netcheck_resolved_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	PlNetcheckRun *run = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	GList *addresses = g_resolver_lookup_by_name_finish(G_RESOLVER(source), result, &error);

	pl_netcheck_run_stop_resolving(run);
	if (g_cancellable_is_cancelled(g_task_get_cancellable(task))) {
		g_resolver_free_addresses(addresses);
		pl_netcheck_part_done(task);
		return;
	}
	if (addresses == NULL) {
		PlStunServer *server = g_ptr_array_index(run->stun_servers, run->stun_index);
		g_debug("netcheck: cannot resolve %s: %s", server->host, error->message);
		run->stun_index++;
		pl_netcheck_stun_next(task);
		return;
	}
	pl_netcheck_stun_probe(task, addresses);
	g_resolver_free_addresses(addresses);
}

static gboolean
pl_netcheck_resolve_timeout_cb(gpointer user_data)
{
	PlNetcheckRun *run = user_data;

	g_cancellable_cancel(run->resolve_cancellable);
	return G_SOURCE_CONTINUE; /* destroyed with the lookup */
}

static gboolean
pl_netcheck_resolve_cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
	PlNetcheckRun *run = user_data;

	g_cancellable_cancel(run->resolve_cancellable);
	return G_SOURCE_CONTINUE;
}

/* the STUN servers one after the other, until one answers */
static void
pl_netcheck_stun_next(GTask *task)
{
	PlNetcheckRun *run = g_task_get_task_data(task);
	PlStunServer *server;
	g_autoptr(GInetAddress) literal = NULL;
	g_autoptr(GResolver) resolver = NULL;
	GCancellable *cancellable = g_task_get_cancellable(task);

	if (run->stun_index >= run->stun_servers->len) {
		pl_netcheck_part_done(task);
		return;
	}
	server = g_ptr_array_index(run->stun_servers, run->stun_index);
	literal = g_inet_address_new_from_string(server->host);
	if (literal != NULL) {
		GList single = {literal, NULL, NULL};
		pl_netcheck_stun_probe(task, &single);
		return;
	}
	/* a lookup ends at the deadline or when the caller cancels */
	run->resolve_cancellable = g_cancellable_new();
	run->resolve_timeout = g_timeout_source_new(run->timeout_ms);
	g_source_set_callback(run->resolve_timeout, pl_netcheck_resolve_timeout_cb, run, NULL);
	g_source_attach(run->resolve_timeout, g_task_get_context(task));
	if (cancellable != NULL) {
		run->resolve_cancel_source = g_cancellable_source_new(cancellable);
		g_source_set_callback(run->resolve_cancel_source,
		                      (GSourceFunc)(GCallback)pl_netcheck_resolve_cancelled_cb, run,
		                      NULL);
		g_source_attach(run->resolve_cancel_source, g_task_get_context(task));
	}
	resolver = g_resolver_get_default();
	g_resolver_lookup_by_name_async(resolver, server->host, run->resolve_cancellable,
	                                pl_netcheck_resolved_cb, g_object_ref(task));
}

/* TURN ---------------------------------------------------------------------- */

typedef struct {
	GTask *task;
	PlNetcheckTurnReport *entry; /* in the report */
} PlNetcheckTurnJob;

static void
pl_netcheck_turn_probe_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	PlNetcheckTurnJob *job = user_data;
	g_autoptr(GTask) task = job->task;
	PlNetcheckTurnReport *entry = job->entry;
	g_autoptr(GError) error = NULL;
	g_autoptr(PlTurnProbeResult) turn =
	        pl_turn_probe_run_finish(PL_TURN_PROBE(source), result, &error);

	g_free(job);
	if (turn == NULL) {
		g_autofree gchar *prefix = g_strdup_printf("%s: ", entry->server);
		const gchar *message = error->message;

		/* the entry names the server already */
		if (g_str_has_prefix(message, prefix))
			message += strlen(prefix);
		else if (g_str_has_prefix(message, entry->server))
			message += strlen(entry->server) + (message[strlen(entry->server)] == ' ');
		g_debug("netcheck: %s: %s", entry->server, message);
		entry->error = g_strdup(message);
	} else {
		entry->reachable = TRUE;
		entry->rtt_ms = (gint)MIN(turn->rtt_ms, (guint)G_MAXINT);
		entry->relayed_address =
		        g_socket_connectable_to_string(G_SOCKET_CONNECTABLE(turn->relayed));
	}
	pl_netcheck_part_done(task);
}

/* the gateway --------------------------------------------------------------- */

static void
pl_netcheck_gateway_probe_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	PlNetcheckRun *run = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(PlGatewayProbeResult) gateway =
	        pl_gateway_probe_run_finish(PL_GATEWAY_PROBE(source), result, &error);

	if (gateway != NULL) {
		g_debug("netcheck: gateway %s, UPnP: %s, NAT-PMP: %s",
		        gateway->gateway != NULL ? gateway->gateway : "none",
		        gateway->upnp_available ? gateway->upnp_external_address
		                                : gateway->upnp_error,
		        gateway->natpmp_available ? gateway->natpmp_external_address
		                                  : gateway->natpmp_error);
		run->report->upnp_available = gateway->upnp_available;
		run->report->upnp_external_address = g_strdup(gateway->upnp_external_address);
		run->report->natpmp_available = gateway->natpmp_available;
		run->report->natpmp_external_address = g_strdup(gateway->natpmp_external_address);
	}
	pl_netcheck_part_done(task);
}

/* -------------------------------------------------------------------------- */

static PlStunServer *
pl_netcheck_copy_stun_server(const PlStunServer *server)
{
	PlStunServer *copy = g_new0(PlStunServer, 1);

	copy->host = g_strdup(server->host);
	copy->port = server->port;
	return copy;
}

static PlTurnServer *
pl_netcheck_copy_turn_server(const PlTurnServer *server)
{
	PlTurnServer *copy = g_new0(PlTurnServer, 1);

	copy->host = g_strdup(server->host);
	copy->port = server->port;
	copy->transport = server->transport;
	copy->username = g_strdup(server->username);
	copy->password = g_strdup(server->password);
	return copy;
}

void
pl_netcheck_run_async(const PlNetcheckConfig *config,
                      GCancellable *cancellable,
                      GAsyncReadyCallback callback,
                      gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	PlNetcheckRun *run;

	g_return_if_fail(config != NULL);

	run = g_new0(PlNetcheckRun, 1);
	run->stun_servers = g_ptr_array_new_with_free_func((GDestroyNotify)pl_stun_server_free);
	run->turn_servers = g_ptr_array_new_with_free_func((GDestroyNotify)pl_turn_server_free);
	for (guint i = 0; config->stun_servers != NULL && i < config->stun_servers->len; i++)
		g_ptr_array_add(run->stun_servers, pl_netcheck_copy_stun_server(g_ptr_array_index(
		                                           config->stun_servers, i)));
	for (guint i = 0; config->turn_servers != NULL && i < config->turn_servers->len; i++)
		g_ptr_array_add(run->turn_servers, pl_netcheck_copy_turn_server(g_ptr_array_index(
		                                           config->turn_servers, i)));
	if (config->local_addresses != NULL) {
		g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
		for (guint i = 0; i < config->local_addresses->len; i++)
			g_strv_builder_add(builder, g_ptr_array_index(config->local_addresses, i));
		run->local_addresses = g_strv_builder_end(builder);
	} else {
		run->local_addresses = pl_nat_probe_list_local_addresses();
	}
	run->gateway = config->gateway;
	run->timeout_ms =
	        config->timeout_ms > 0 ? config->timeout_ms : PL_NETCHECK_DEFAULT_TIMEOUT_MS;
	run->started_us = g_get_monotonic_time();
	run->report = pl_netcheck_report_new();

	task = g_task_new(NULL, cancellable, callback, user_data);
	g_task_set_source_tag(task, pl_netcheck_run_async);
	g_task_set_task_data(task, run, (GDestroyNotify)pl_netcheck_run_free);

	/* one for the start itself, so that nothing finishes before all started */
	run->pending = 2 + run->turn_servers->len + (run->gateway ? 1 : 0);

	pl_netcheck_stun_next(task);

	for (guint i = 0; i < run->turn_servers->len; i++) {
		PlTurnServer *server = g_ptr_array_index(run->turn_servers, i);
		g_autoptr(PlTurnProbe) probe = pl_turn_probe_new(server, run->timeout_ms);
		PlNetcheckTurnReport *entry = g_new0(PlNetcheckTurnReport, 1);
		PlNetcheckTurnJob *job = g_new0(PlNetcheckTurnJob, 1);

		entry->server = pl_turn_server_to_string(server);
		entry->transport = server->transport;
		entry->rtt_ms = -1;
		g_ptr_array_add(run->report->turn, entry);
		job->task = g_object_ref(task);
		job->entry = entry;
		pl_turn_probe_run_async(probe, cancellable, pl_netcheck_turn_probe_cb, job);
	}

	if (run->gateway) {
		g_autoptr(PlGatewayProbe) probe = pl_gateway_probe_new(run->timeout_ms);
		pl_gateway_probe_run_async(probe, cancellable, pl_netcheck_gateway_probe_cb,
		                           g_object_ref(task));
	}

	pl_netcheck_part_done(task);
}

JsonObject *
pl_netcheck_run_finish(GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}
