#include "config.h"

#include <libgupnp-igd/gupnp-simple-igd.h>
#include <string.h>

#include "pl-gateway-probe-private.h"

#define PL_NATPMP_FIRST_RTO_MS      250
#define PL_NATPMP_RESPONSE_SIZE     12
#define PL_NATPMP_OPCODE_RESPONSE   128
#define PL_UPNP_LEASE_S             60
#define PL_UPNP_MIN_RELEASE_WAIT_MS 1000
/* UPnP error 725: OnlyPermanentLeasesSupported */
#define PL_UPNP_ONLY_PERMANENT_LEASES 725
#define PL_UPNP_DESCRIPTION           "peerlink netcheck"

struct _PlGatewayProbe {
	GObject parent_instance;
	guint timeout_ms;
	gboolean started;
	gboolean upnp_enabled;
	GInetSocketAddress *natpmp_server; /* injected, or the gateway's port 5351 */

	GTask *task; /* the run, while parts are pending */
	GSource *cancel_source;
	guint parts_pending;
	PlGatewayProbeResult *result;
	gint64 deadline_us;

	/* NAT-PMP */
	GSocket *natpmp_socket;
	GSource *natpmp_socket_source;
	GSource *natpmp_retransmit_source;
	GSource *natpmp_deadline_source;
	GBytes *natpmp_request;
	guint natpmp_rto_ms;
	gchar *natpmp_garbage;

	/* UPnP */
	GUPnPSimpleIgd *igd;
	gulong igd_mapped_id;
	gulong igd_error_id;
	GSocket *upnp_socket; /* holds the local port that is mapped */
	gchar *upnp_local_ip;
	guint16 upnp_local_port;
	gboolean upnp_permanent_tried;
	gboolean upnp_retry_permanent;
	GSource *upnp_deadline_source;
	GSource *upnp_idle_source;
	GObject *igd_releasing; /* weak: until the router confirmed the removal */
	GSource *upnp_release_source;
};

G_DEFINE_TYPE(PlGatewayProbe, pl_gateway_probe, G_TYPE_OBJECT)

void
pl_gateway_probe_result_free(PlGatewayProbeResult *self)
{
	if (self == NULL)
		return;
	g_free(self->gateway);
	g_free(self->upnp_external_address);
	g_free(self->upnp_error);
	g_free(self->natpmp_external_address);
	g_free(self->natpmp_error);
	g_free(self);
}

static void
pl_gateway_clear_source(GSource **source)
{
	if (*source == NULL)
		return;
	g_source_destroy(*source);
	g_clear_pointer(source, g_source_unref);
}

static GSource *
pl_gateway_timeout(PlGatewayProbe *self, guint ms, GSourceFunc callback)
{
	GSource *source = g_timeout_source_new(ms);

	g_source_set_callback(source, callback, self, NULL);
	g_source_attach(source, g_task_get_context(self->task));
	return source;
}

static guint
pl_gateway_remaining_ms(PlGatewayProbe *self)
{
	gint64 left = self->deadline_us - g_get_monotonic_time();

	return left <= 0 ? 1 : (guint)MAX(left / 1000, 1);
}

/* -------------------------------------------------------------------------- */
/* pure parts */

gchar *
pl_gateway_probe_parse_route(const gchar *text)
{
	g_auto(GStrv) lines = NULL;
	g_autofree gchar *best = NULL;
	guint64 best_metric = G_MAXUINT64;

	g_return_val_if_fail(text != NULL, NULL);

	lines = g_strsplit(text, "\n", -1);
	/* a header line: Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT */
	for (guint i = 1; lines[0] != NULL && lines[i] != NULL; i++) {
		g_auto(GStrv) fields = g_strsplit_set(g_strstrip(lines[i]), " \t", -1);
		GStrvBuilder *builder = g_strv_builder_new();
		g_auto(GStrv) f = NULL;
		guint64 destination, gateway, flags, metric, mask;
		guint32 gateway32;
		g_autoptr(GInetAddress) address = NULL;

		for (guint k = 0; fields[k] != NULL; k++) {
			if (fields[k][0] != '\0')
				g_strv_builder_add(builder, fields[k]);
		}
		f = g_strv_builder_end(builder);
		g_strv_builder_unref(builder);
		if (g_strv_length(f) < 8)
			continue;
		if (!g_ascii_string_to_unsigned(f[1], 16, 0, G_MAXUINT32, &destination, NULL) ||
		    !g_ascii_string_to_unsigned(f[2], 16, 0, G_MAXUINT32, &gateway, NULL) ||
		    !g_ascii_string_to_unsigned(f[3], 16, 0, G_MAXUINT32, &flags, NULL) ||
		    !g_ascii_string_to_unsigned(f[6], 10, 0, G_MAXUINT32, &metric, NULL) ||
		    !g_ascii_string_to_unsigned(f[7], 16, 0, G_MAXUINT32, &mask, NULL))
			continue;
		/* RTF_UP 0x1, RTF_GATEWAY 0x2; a default route */
		if (destination != 0 || mask != 0 || (flags & 0x3) != 0x3 || gateway == 0)
			continue;
		if (metric >= best_metric)
			continue;
		/* the kernel prints the address in network order read as a host integer */
		gateway32 = (guint32)gateway;
		address = g_inet_address_new_from_bytes((const guint8 *)&gateway32,
		                                        G_SOCKET_FAMILY_IPV4);
		g_free(best);
		best = g_inet_address_to_string(address);
		best_metric = metric;
	}
	return g_steal_pointer(&best);
}

GBytes *
pl_natpmp_build_external_address_request(void)
{
	static const guint8 request[2] = {0, 0};

	return g_bytes_new_static(request, sizeof(request));
}

static const gchar *
pl_natpmp_result_to_string(guint code)
{
	switch (code) {
	case 1:
		return "unsupported version";
	case 2:
		return "not authorized or refused (NAT-PMP disabled?)";
	case 3:
		return "network failure (the gateway has no external address)";
	case 4:
		return "out of resources";
	case 5:
		return "unsupported opcode";
	default:
		return "unknown result code";
	}
}

gboolean
pl_natpmp_parse_external_address_response(const guint8 *data,
                                          gsize len,
                                          gchar **external_address,
                                          GError **error)
{
	guint result;
	static const guint8 zeros[4] = {0, 0, 0, 0};

	g_return_val_if_fail(external_address != NULL, FALSE);
	*external_address = NULL;

	if (data == NULL || len < 4) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
		            "NAT-PMP answer of %" G_GSIZE_FORMAT " bytes", data == NULL ? 0 : len);
		return FALSE;
	}
	if (data[0] != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
		            "NAT-PMP answer of version %u%s", data[0],
		            data[0] == 2 ? " (PCP, RFC 6887)" : "");
		return FALSE;
	}
	if (data[1] != PL_NATPMP_OPCODE_RESPONSE) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
		            "NAT-PMP message of opcode %u, not an external address answer",
		            data[1]);
		return FALSE;
	}
	result = (guint)((data[2] << 8) | data[3]);
	if (result != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
		            "NAT-PMP: the gateway answers %u, %s", result,
		            pl_natpmp_result_to_string(result));
		return FALSE;
	}
	if (len < PL_NATPMP_RESPONSE_SIZE) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
		            "NAT-PMP answer of %" G_GSIZE_FORMAT " bytes, %u expected", len,
		            PL_NATPMP_RESPONSE_SIZE);
		return FALSE;
	}
	if (memcmp(data + 8, zeros, 4) != 0) {
		g_autoptr(GInetAddress) address =
		        g_inet_address_new_from_bytes(data + 8, G_SOCKET_FAMILY_IPV4);
		*external_address = g_inet_address_to_string(address);
	}
	return TRUE;
}

/* -------------------------------------------------------------------------- */
/* the run */

static void
pl_gateway_probe_part_done(PlGatewayProbe *self)
{
	g_autoptr(GTask) task = NULL;

	g_return_if_fail(self->parts_pending > 0);
	if (--self->parts_pending > 0)
		return;
	task = g_steal_pointer(&self->task);
	pl_gateway_clear_source(&self->cancel_source);
	g_task_return_pointer(task, g_steal_pointer(&self->result),
	                      (GDestroyNotify)pl_gateway_probe_result_free);
}

/* NAT-PMP --------------------------------------------------------------------*/

static void
pl_gateway_natpmp_stop(PlGatewayProbe *self)
{
	pl_gateway_clear_source(&self->natpmp_socket_source);
	pl_gateway_clear_source(&self->natpmp_retransmit_source);
	pl_gateway_clear_source(&self->natpmp_deadline_source);
	if (self->natpmp_socket != NULL)
		g_socket_close(self->natpmp_socket, NULL);
	g_clear_object(&self->natpmp_socket);
}

static void
pl_gateway_natpmp_done(PlGatewayProbe *self)
{
	pl_gateway_natpmp_stop(self);
	pl_gateway_probe_part_done(self);
}

static void
pl_gateway_natpmp_send(PlGatewayProbe *self)
{
	g_autoptr(GError) error = NULL;
	gsize size = 0;
	const gchar *data = g_bytes_get_data(self->natpmp_request, &size);

	if (g_socket_send_to(self->natpmp_socket, G_SOCKET_ADDRESS(self->natpmp_server), data, size,
	                     NULL, &error) < 0)
		g_debug("NAT-PMP send: %s", error->message);
}

static gboolean
pl_gateway_natpmp_retransmit_cb(gpointer user_data)
{
	PlGatewayProbe *self = user_data;

	pl_gateway_natpmp_send(self);
	self->natpmp_rto_ms *= 2;
	pl_gateway_clear_source(&self->natpmp_retransmit_source);
	self->natpmp_retransmit_source =
	        pl_gateway_timeout(self, self->natpmp_rto_ms, pl_gateway_natpmp_retransmit_cb);
	return G_SOURCE_REMOVE;
}

static gboolean
pl_gateway_natpmp_deadline_cb(gpointer user_data)
{
	PlGatewayProbe *self = user_data;
	g_autofree gchar *server =
	        g_socket_connectable_to_string(G_SOCKET_CONNECTABLE(self->natpmp_server));

	g_clear_pointer(&self->natpmp_deadline_source, g_source_unref);
	if (self->natpmp_garbage != NULL)
		self->result->natpmp_error = g_steal_pointer(&self->natpmp_garbage);
	else
		self->result->natpmp_error = g_strdup_printf(
		        "no NAT-PMP answer from %s within %u ms", server, self->timeout_ms);
	pl_gateway_natpmp_done(self);
	return G_SOURCE_REMOVE;
}

static gboolean
pl_gateway_natpmp_socket_cb(GSocket *socket, GIOCondition condition, gpointer user_data)
{
	PlGatewayProbe *self = user_data;

	for (guint n = 0; n < 16; n++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GSocketAddress) from = NULL;
		g_autofree gchar *external = NULL;
		guint8 buf[64];
		gssize received = g_socket_receive_from(socket, &from, (gchar *)buf, sizeof(buf),
		                                        NULL, &error);
		GInetSocketAddress *inet_from;

		if (received < 0) {
			if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
				g_debug("NAT-PMP receive: %s", error->message);
			return G_SOURCE_CONTINUE;
		}
		if (!G_IS_INET_SOCKET_ADDRESS(from))
			continue;
		inet_from = G_INET_SOCKET_ADDRESS(from);
		/* RFC 6886 3.2: only the gateway's answers */
		if (g_inet_socket_address_get_port(inet_from) !=
		            g_inet_socket_address_get_port(self->natpmp_server) ||
		    !g_inet_address_equal(g_inet_socket_address_get_address(inet_from),
		                          g_inet_socket_address_get_address(self->natpmp_server))) {
			g_debug("NAT-PMP: ignoring a datagram from another host");
			continue;
		}
		if (pl_natpmp_parse_external_address_response(buf, (gsize)received, &external,
		                                              &error)) {
			self->result->natpmp_available = TRUE;
			self->result->natpmp_external_address = g_steal_pointer(&external);
			pl_gateway_natpmp_done(self);
			return G_SOURCE_REMOVE;
		}
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_FAILED)) {
			/* a real answer: the gateway speaks NAT-PMP but will not map */
			self->result->natpmp_error = g_strdup(error->message);
			pl_gateway_natpmp_done(self);
			return G_SOURCE_REMOVE;
		}
		g_debug("NAT-PMP: ignoring %s", error->message);
		g_free(self->natpmp_garbage);
		self->natpmp_garbage =
		        g_strdup_printf("the gateway answered garbage: %s", error->message);
	}
	return G_SOURCE_CONTINUE;
}

static void
pl_gateway_natpmp_start(PlGatewayProbe *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GInetAddress) any = g_inet_address_new_any(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) bind_address = g_inet_socket_address_new(any, 0);

	self->natpmp_socket = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
	                                   G_SOCKET_PROTOCOL_UDP, &error);
	if (self->natpmp_socket == NULL ||
	    !g_socket_bind(self->natpmp_socket, bind_address, FALSE, &error)) {
		self->result->natpmp_error = g_strdup_printf("NAT-PMP: %s", error->message);
		pl_gateway_natpmp_done(self);
		return;
	}
	g_socket_set_blocking(self->natpmp_socket, FALSE);
	self->natpmp_socket_source = g_socket_create_source(self->natpmp_socket, G_IO_IN, NULL);
	g_source_set_callback(self->natpmp_socket_source,
	                      (GSourceFunc)(GCallback)pl_gateway_natpmp_socket_cb, self, NULL);
	g_source_attach(self->natpmp_socket_source, g_task_get_context(self->task));
	self->natpmp_request = pl_natpmp_build_external_address_request();
	self->natpmp_rto_ms = PL_NATPMP_FIRST_RTO_MS;
	self->natpmp_deadline_source =
	        pl_gateway_timeout(self, self->timeout_ms, pl_gateway_natpmp_deadline_cb);
	self->natpmp_retransmit_source =
	        pl_gateway_timeout(self, self->natpmp_rto_ms, pl_gateway_natpmp_retransmit_cb);
	pl_gateway_natpmp_send(self);
}

/* UPnP-IGD -------------------------------------------------------------------*/

static void
pl_gateway_upnp_released(PlGatewayProbe *self)
{
	pl_gateway_clear_source(&self->upnp_release_source);
	if (self->upnp_socket != NULL)
		g_socket_close(self->upnp_socket, NULL);
	g_clear_object(&self->upnp_socket);
	pl_gateway_probe_part_done(self);
}

static void
pl_gateway_upnp_weak_notify(gpointer user_data, GObject *where_the_object_was)
{
	PlGatewayProbe *self = user_data;

	g_debug("UPnP: the mappings are gone");
	self->igd_releasing = NULL;
	pl_gateway_upnp_released(self);
}

static gboolean
pl_gateway_upnp_release_timeout_cb(gpointer user_data)
{
	PlGatewayProbe *self = user_data;

	g_debug("UPnP: the router did not confirm the removal in time; the lease ends it");
	g_clear_pointer(&self->upnp_release_source, g_source_unref);
	if (self->igd_releasing != NULL)
		g_object_weak_unref(self->igd_releasing, pl_gateway_upnp_weak_notify, self);
	self->igd_releasing = NULL;
	pl_gateway_upnp_released(self);
	return G_SOURCE_REMOVE;
}

/* removes our mapping and lets go of the IGD object, which lives on until the
 * router has answered the removal; then the UPnP part is done */
static void
pl_gateway_upnp_finish(PlGatewayProbe *self)
{
	GUPnPSimpleIgd *igd = g_steal_pointer(&self->igd);

	pl_gateway_clear_source(&self->upnp_deadline_source);
	pl_gateway_clear_source(&self->upnp_idle_source);
	g_clear_signal_handler(&self->igd_mapped_id, igd);
	g_clear_signal_handler(&self->igd_error_id, igd);
	gupnp_simple_igd_remove_port_local(igd, "UDP", self->upnp_local_ip, self->upnp_local_port);
	self->igd_releasing = G_OBJECT(igd);
	g_object_weak_ref(self->igd_releasing, pl_gateway_upnp_weak_notify, self);
	self->upnp_release_source = pl_gateway_timeout(
	        self, MAX(pl_gateway_remaining_ms(self), PL_UPNP_MIN_RELEASE_WAIT_MS),
	        pl_gateway_upnp_release_timeout_cb);
	/* the last reference, unless a removal is on its way: then the weak
	 * notification comes when the router has answered */
	g_object_unref(igd);
}

static void
pl_gateway_upnp_add_port(PlGatewayProbe *self, guint32 lease_s)
{
	gupnp_simple_igd_add_port(self->igd, "UDP", 0, self->upnp_local_ip, self->upnp_local_port,
	                          lease_s, PL_UPNP_DESCRIPTION);
}

static gboolean
pl_gateway_upnp_idle_cb(gpointer user_data)
{
	PlGatewayProbe *self = user_data;

	g_clear_pointer(&self->upnp_idle_source, g_source_unref);
	if (self->upnp_retry_permanent) {
		self->upnp_retry_permanent = FALSE;
		g_debug("UPnP: the router only knows permanent leases; mapping with lease 0");
		gupnp_simple_igd_remove_port_local(self->igd, "UDP", self->upnp_local_ip,
		                                   self->upnp_local_port);
		pl_gateway_upnp_add_port(self, 0);
		return G_SOURCE_REMOVE;
	}
	pl_gateway_upnp_finish(self);
	return G_SOURCE_REMOVE;
}

/* the signals come from inside gupnp-igd, which goes on using its mapping
 * afterwards: act from an idle callback */
static void
pl_gateway_upnp_schedule(PlGatewayProbe *self)
{
	if (self->upnp_idle_source != NULL)
		return;
	self->upnp_idle_source = g_idle_source_new();
	g_source_set_callback(self->upnp_idle_source, pl_gateway_upnp_idle_cb, self, NULL);
	g_source_attach(self->upnp_idle_source, g_task_get_context(self->task));
}

static void
pl_gateway_upnp_mapped_cb(GUPnPSimpleIgd *igd,
                          const gchar *proto,
                          const gchar *external_ip,
                          const gchar *replaces_external_ip,
                          guint external_port,
                          const gchar *local_ip,
                          guint local_port,
                          const gchar *description,
                          gpointer user_data)
{
	PlGatewayProbe *self = user_data;

	g_debug("UPnP: %s:%u mapped to %s:%u", local_ip, local_port, external_ip, external_port);
	if (self->result->upnp_available)
		return;
	self->result->upnp_available = TRUE;
	g_clear_pointer(&self->result->upnp_error, g_free);
	self->result->upnp_external_address = g_strdup(external_ip);
	pl_gateway_upnp_schedule(self);
}

static void
pl_gateway_upnp_error_cb(GUPnPSimpleIgd *igd,
                         GError *error,
                         const gchar *proto,
                         guint external_port,
                         const gchar *local_ip,
                         guint local_port,
                         const gchar *description,
                         gpointer user_data)
{
	PlGatewayProbe *self = user_data;

	g_debug("UPnP: mapping failed: %s", error != NULL ? error->message : "?");
	if (self->result->upnp_available)
		return;
	if (error != NULL && error->domain == g_quark_try_string("gupnp-control-error") &&
	    error->code == PL_UPNP_ONLY_PERMANENT_LEASES && !self->upnp_permanent_tried) {
		self->upnp_permanent_tried = TRUE;
		self->upnp_retry_permanent = TRUE;
		pl_gateway_upnp_schedule(self);
		return;
	}
	g_free(self->result->upnp_error);
	self->result->upnp_error = g_strdup_printf("the UPnP router refused a mapping: %s",
	                                           error != NULL ? error->message : "?");
	pl_gateway_upnp_schedule(self);
}

static gboolean
pl_gateway_upnp_deadline_cb(gpointer user_data)
{
	PlGatewayProbe *self = user_data;

	g_clear_pointer(&self->upnp_deadline_source, g_source_unref);
	if (self->result->upnp_error == NULL)
		self->result->upnp_error =
		        g_strdup_printf("no UPnP-IGD answered within %u ms", self->timeout_ms);
	pl_gateway_upnp_finish(self);
	return G_SOURCE_REMOVE;
}

/* the local address towards the gateway, and a UDP port of ours there */
static gboolean
pl_gateway_upnp_reserve_port(PlGatewayProbe *self, GInetAddress *gateway, GError **error)
{
	g_autoptr(GSocketAddress) remote = g_inet_socket_address_new(gateway, PL_NATPMP_PORT);
	g_autoptr(GSocketAddress) local = NULL;

	/* connecting a UDP socket sends nothing; it picks the route and a port */
	self->upnp_socket = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
	                                 G_SOCKET_PROTOCOL_UDP, error);
	if (self->upnp_socket == NULL || !g_socket_connect(self->upnp_socket, remote, NULL, error))
		return FALSE;
	local = g_socket_get_local_address(self->upnp_socket, error);
	if (local == NULL)
		return FALSE;
	self->upnp_local_ip = g_inet_address_to_string(
	        g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(local)));
	self->upnp_local_port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
	return TRUE;
}

static void
pl_gateway_upnp_start(PlGatewayProbe *self, GInetAddress *gateway)
{
	g_autoptr(GError) error = NULL;

	if (!pl_gateway_upnp_reserve_port(self, gateway, &error)) {
		self->result->upnp_error = g_strdup_printf("UPnP: %s", error->message);
		pl_gateway_upnp_released(self);
		return;
	}
	/* GUPnPSimpleIgd works in the thread-default main context of its creation */
	self->igd = gupnp_simple_igd_new();
	self->igd_mapped_id = g_signal_connect(self->igd, "mapped-external-port",
	                                       G_CALLBACK(pl_gateway_upnp_mapped_cb), self);
	self->igd_error_id = g_signal_connect(self->igd, "error-mapping-port",
	                                      G_CALLBACK(pl_gateway_upnp_error_cb), self);
	self->upnp_deadline_source =
	        pl_gateway_timeout(self, self->timeout_ms, pl_gateway_upnp_deadline_cb);
	pl_gateway_upnp_add_port(self, PL_UPNP_LEASE_S);
}

/* -------------------------------------------------------------------------- */

static void
pl_gateway_probe_stop(PlGatewayProbe *self)
{
	pl_gateway_natpmp_stop(self);
	pl_gateway_clear_source(&self->upnp_deadline_source);
	pl_gateway_clear_source(&self->upnp_idle_source);
	pl_gateway_clear_source(&self->upnp_release_source);
	if (self->igd != NULL) {
		g_clear_signal_handler(&self->igd_mapped_id, self->igd);
		g_clear_signal_handler(&self->igd_error_id, self->igd);
		if (self->upnp_local_ip != NULL)
			gupnp_simple_igd_remove_port_local(self->igd, "UDP", self->upnp_local_ip,
			                                   self->upnp_local_port);
		g_clear_object(&self->igd);
	}
	if (self->igd_releasing != NULL)
		g_object_weak_unref(self->igd_releasing, pl_gateway_upnp_weak_notify, self);
	self->igd_releasing = NULL;
	if (self->upnp_socket != NULL)
		g_socket_close(self->upnp_socket, NULL);
	g_clear_object(&self->upnp_socket);
	pl_gateway_clear_source(&self->cancel_source);
}

static gboolean
pl_gateway_probe_cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
	PlGatewayProbe *self = user_data;
	g_autoptr(GTask) task = g_steal_pointer(&self->task);

	pl_gateway_probe_stop(self);
	self->parts_pending = 0;
	g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled");
	return G_SOURCE_REMOVE;
}

static gchar *
pl_gateway_probe_find_gateway(void)
{
	g_autofree gchar *text = NULL;

	if (!g_file_get_contents("/proc/net/route", &text, NULL, NULL))
		return NULL;
	return pl_gateway_probe_parse_route(text);
}

void
pl_gateway_probe_run_async(PlGatewayProbe *self,
                           GCancellable *cancellable,
                           GAsyncReadyCallback callback,
                           gpointer user_data)
{
	g_autoptr(GInetAddress) gateway = NULL;

	g_return_if_fail(PL_IS_GATEWAY_PROBE(self));
	g_return_if_fail(!self->started);

	self->started = TRUE;
	self->task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(self->task, pl_gateway_probe_run_async);
	self->result = g_new0(PlGatewayProbeResult, 1);
	self->deadline_us = g_get_monotonic_time() + (gint64)self->timeout_ms * 1000;
	self->parts_pending = 2;
	if (cancellable != NULL) {
		self->cancel_source = g_cancellable_source_new(cancellable);
		g_source_set_callback(self->cancel_source,
		                      (GSourceFunc)(GCallback)pl_gateway_probe_cancelled_cb, self,
		                      NULL);
		g_source_attach(self->cancel_source, g_task_get_context(self->task));
	}

	self->result->gateway = pl_gateway_probe_find_gateway();
	if (self->result->gateway != NULL)
		gateway = g_inet_address_new_from_string(self->result->gateway);
	if (self->natpmp_server == NULL && gateway != NULL)
		self->natpmp_server =
		        G_INET_SOCKET_ADDRESS(g_inet_socket_address_new(gateway, PL_NATPMP_PORT));

	if (self->natpmp_server != NULL) {
		pl_gateway_natpmp_start(self);
	} else {
		self->result->natpmp_error = g_strdup("no IPv4 default gateway");
		pl_gateway_probe_part_done(self);
	}
	if (!self->upnp_enabled) {
		self->result->upnp_error = g_strdup("UPnP not probed");
		pl_gateway_probe_part_done(self);
	} else if (gateway == NULL) {
		self->result->upnp_error = g_strdup("no IPv4 default gateway");
		pl_gateway_probe_part_done(self);
	} else {
		pl_gateway_upnp_start(self, gateway);
	}
}

PlGatewayProbeResult *
pl_gateway_probe_run_finish(PlGatewayProbe *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, self), NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}

void
pl_gateway_probe_set_natpmp_server(PlGatewayProbe *self, GInetSocketAddress *server)
{
	g_return_if_fail(PL_IS_GATEWAY_PROBE(self));
	g_return_if_fail(!self->started);
	g_set_object(&self->natpmp_server, server);
}

void
pl_gateway_probe_set_upnp_enabled(PlGatewayProbe *self, gboolean enabled)
{
	g_return_if_fail(PL_IS_GATEWAY_PROBE(self));
	g_return_if_fail(!self->started);
	self->upnp_enabled = enabled;
}

PlGatewayProbe *
pl_gateway_probe_new(guint timeout_ms)
{
	PlGatewayProbe *self;

	g_return_val_if_fail(timeout_ms > 0, NULL);
	self = g_object_new(PL_TYPE_GATEWAY_PROBE, NULL);
	self->timeout_ms = timeout_ms;
	return self;
}

static void
pl_gateway_probe_dispose(GObject *object)
{
	PlGatewayProbe *self = PL_GATEWAY_PROBE(object);

	pl_gateway_probe_stop(self);
	G_OBJECT_CLASS(pl_gateway_probe_parent_class)->dispose(object);
}

static void
pl_gateway_probe_finalize(GObject *object)
{
	PlGatewayProbe *self = PL_GATEWAY_PROBE(object);

	g_clear_object(&self->natpmp_server);
	g_clear_object(&self->task);
	pl_gateway_probe_result_free(self->result);
	g_clear_pointer(&self->natpmp_request, g_bytes_unref);
	g_free(self->natpmp_garbage);
	g_free(self->upnp_local_ip);
	G_OBJECT_CLASS(pl_gateway_probe_parent_class)->finalize(object);
}

static void
pl_gateway_probe_class_init(PlGatewayProbeClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = pl_gateway_probe_dispose;
	object_class->finalize = pl_gateway_probe_finalize;
}

static void
pl_gateway_probe_init(PlGatewayProbe *self)
{
	self->upnp_enabled = TRUE;
}
