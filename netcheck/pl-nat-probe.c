#include "config.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>

#include "pl-nat-probe.h"
#include "pl-stun-transport.h"

#define PL_NAT_PROBE_MIN_FILTER_WAIT_MS 500

struct _PlNatProbe {
	GObject parent_instance;
	GInetSocketAddress *server;
	GStrv local_addresses;
	guint timeout_ms;
	gboolean started;

	/* one run */
	PlStunTransport *transport;
	gint64 deadline_us;
	PlNatProbeResult *result;
	GInetSocketAddress *mapped_ii;
	guint filter_pending;
	gboolean filter_refused;
	gboolean answered_ip_port;
	gboolean answered_port;
};

G_DEFINE_TYPE(PlNatProbe, pl_nat_probe, G_TYPE_OBJECT)

void
pl_nat_probe_result_free(PlNatProbeResult *self)
{
	if (self == NULL)
		return;
	g_clear_object(&self->server);
	g_clear_object(&self->mapped);
	g_clear_object(&self->other);
	g_free(self);
}

/* -------------------------------------------------------------------------- */
/* pure parts */

static gboolean
pl_nat_same_address(GInetSocketAddress *a, GInetSocketAddress *b)
{
	if (a == NULL || b == NULL)
		return FALSE;
	return g_inet_socket_address_get_port(a) == g_inet_socket_address_get_port(b) &&
	       g_inet_address_equal(g_inet_socket_address_get_address(a),
	                            g_inet_socket_address_get_address(b));
}

static gboolean
pl_nat_same_ip(GInetSocketAddress *a, GInetSocketAddress *b)
{
	return g_inet_address_equal(g_inet_socket_address_get_address(a),
	                            g_inet_socket_address_get_address(b));
}

/* "192.0.2.1", "fe80::1%eth0", "192.0.2.1/24" */
static GInetAddress *
pl_nat_parse_local_address(const gchar *text)
{
	g_autofree gchar *bare = g_strndup(text, strcspn(text, "%/"));

	return g_inet_address_new_from_string(bare);
}

gboolean
pl_nat_probe_is_local(GInetSocketAddress *mapped,
                      guint16 local_port,
                      const gchar *const *local_addresses)
{
	GInetAddress *ip;

	g_return_val_if_fail(G_IS_INET_SOCKET_ADDRESS(mapped), FALSE);

	if (local_addresses == NULL || g_inet_socket_address_get_port(mapped) != local_port)
		return FALSE;
	ip = g_inet_socket_address_get_address(mapped);
	for (guint i = 0; local_addresses[i] != NULL; i++) {
		g_autoptr(GInetAddress) local = pl_nat_parse_local_address(local_addresses[i]);
		if (local != NULL && g_inet_address_equal(local, ip))
			return TRUE;
	}
	return FALSE;
}

PlNatBehaviour
pl_nat_probe_classify_mapping(gboolean is_local,
                              GInetSocketAddress *mapped_i,
                              GInetSocketAddress *other,
                              GInetSocketAddress *mapped_ii,
                              GInetSocketAddress *mapped_iii)
{
	if (is_local)
		return PL_NAT_BEHAVIOUR_NONE;
	if (mapped_i == NULL || other == NULL || mapped_ii == NULL)
		return PL_NAT_BEHAVIOUR_UNKNOWN;
	if (pl_nat_same_address(mapped_i, mapped_ii))
		return PL_NAT_BEHAVIOUR_ENDPOINT_INDEPENDENT;
	if (mapped_iii == NULL)
		return PL_NAT_BEHAVIOUR_UNKNOWN;
	if (pl_nat_same_address(mapped_ii, mapped_iii))
		return PL_NAT_BEHAVIOUR_ADDRESS_DEPENDENT;
	return PL_NAT_BEHAVIOUR_ADDRESS_AND_PORT_DEPENDENT;
}

PlNatBehaviour
pl_nat_probe_classify_filtering(gboolean supported,
                                gboolean change_ip_port_answered,
                                gboolean change_port_answered)
{
	if (!supported)
		return PL_NAT_BEHAVIOUR_UNKNOWN;
	if (change_ip_port_answered)
		return PL_NAT_BEHAVIOUR_ENDPOINT_INDEPENDENT;
	if (change_port_answered)
		return PL_NAT_BEHAVIOUR_ADDRESS_DEPENDENT;
	return PL_NAT_BEHAVIOUR_ADDRESS_AND_PORT_DEPENDENT;
}

GStrv
pl_nat_probe_list_local_addresses(void)
{
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
	struct ifaddrs *list = NULL;

	if (getifaddrs(&list) != 0)
		return g_strv_builder_end(builder);
	for (struct ifaddrs *ifa = list; ifa != NULL; ifa = ifa->ifa_next) {
		g_autoptr(GSocketAddress) address = NULL;
		gsize size;

		if (ifa->ifa_addr == NULL || (ifa->ifa_flags & IFF_UP) == 0)
			continue;
		if (ifa->ifa_addr->sa_family == AF_INET)
			size = sizeof(struct sockaddr_in);
		else if (ifa->ifa_addr->sa_family == AF_INET6)
			size = sizeof(struct sockaddr_in6);
		else
			continue;
		address = g_socket_address_new_from_native(ifa->ifa_addr, size);
		if (G_IS_INET_SOCKET_ADDRESS(address)) {
			g_autofree gchar *text = g_inet_address_to_string(
			        g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(address)));
			g_strv_builder_add(builder, text);
		}
	}
	freeifaddrs(list);
	return g_strv_builder_end(builder);
}

/* -------------------------------------------------------------------------- */
/* the run */

static guint
pl_nat_probe_remaining_ms(PlNatProbe *self)
{
	gint64 left = self->deadline_us - g_get_monotonic_time();

	return left <= 0 ? 0 : (guint)MAX(left / 1000, 1);
}

static void
pl_nat_probe_done(GTask *task)
{
	PlNatProbe *self = g_task_get_source_object(task);
	g_autofree gchar *server =
	        g_socket_connectable_to_string(G_SOCKET_CONNECTABLE(self->server));

	g_debug("NAT probe of %s: mapping %s, filtering %s", server,
	        pl_nat_behaviour_to_string(self->result->mapping),
	        pl_nat_behaviour_to_string(self->result->filtering));
	g_clear_object(&self->transport);
	g_task_return_pointer(task, g_steal_pointer(&self->result),
	                      (GDestroyNotify)pl_nat_probe_result_free);
}

static void
pl_nat_probe_binding(PlNatProbe *self,
                     GTask *task,
                     GInetSocketAddress *to,
                     guint8 change_flags,
                     guint timeout_ms,
                     GAsyncReadyCallback callback)
{
	PlStunTransactionId id;
	g_autoptr(GBytes) request = NULL;

	pl_stun_transaction_id_generate(&id);
	request = pl_stun_build_binding_request(&id, change_flags);
	pl_stun_transport_request_async(self->transport, to, request, timeout_ms,
	                                g_task_get_cancellable(task), callback, g_object_ref(task));
}

/* the answer of a mapping test, or NULL (logged) */
static PlStunResponse *
pl_nat_probe_finish_binding(PlNatProbe *self, GAsyncResult *result, const gchar *test)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStunResponse) response =
	        pl_stun_transport_request_finish(self->transport, result, &error);

	if (response == NULL) {
		g_debug("NAT test %s: %s", test, error->message);
		return NULL;
	}
	if (response->message->error_code != 0 || response->message->mapped == NULL) {
		g_debug("NAT test %s: error %u %s, or no mapped address", test,
		        response->message->error_code,
		        response->message->error_reason != NULL ? response->message->error_reason
		                                                : "");
		return NULL;
	}
	return g_steal_pointer(&response);
}

static void
pl_nat_probe_test_iii_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	PlNatProbe *self = g_task_get_source_object(task);
	g_autoptr(PlStunResponse) response = pl_nat_probe_finish_binding(self, result, "III");

	if (g_task_return_error_if_cancelled(task))
		return;
	self->result->mapping = pl_nat_probe_classify_mapping(
	        FALSE, self->result->mapped, self->result->other, self->mapped_ii,
	        response != NULL ? response->message->mapped : NULL);
	pl_nat_probe_done(task);
}

static void
pl_nat_probe_test_ii_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	PlNatProbe *self = g_task_get_source_object(task);
	g_autoptr(PlStunResponse) response = pl_nat_probe_finish_binding(self, result, "II");
	guint timeout_ms;

	if (g_task_return_error_if_cancelled(task))
		return;
	if (response != NULL)
		self->mapped_ii = g_object_ref(response->message->mapped);
	self->result->mapping = pl_nat_probe_classify_mapping(
	        FALSE, self->result->mapped, self->result->other, self->mapped_ii, NULL);
	timeout_ms = pl_nat_probe_remaining_ms(self);
	if (self->result->mapping != PL_NAT_BEHAVIOUR_UNKNOWN || self->mapped_ii == NULL ||
	    timeout_ms == 0) {
		pl_nat_probe_done(task);
		return;
	}
	/* test III: the other address, the other port */
	pl_nat_probe_binding(self, task, self->result->other, 0, timeout_ms,
	                     pl_nat_probe_test_iii_cb);
}

static void
pl_nat_probe_mapping_tests(PlNatProbe *self, GTask *task)
{
	g_autoptr(GSocketAddress) to = NULL;
	guint timeout_ms = pl_nat_probe_remaining_ms(self);

	if (self->result->mapping == PL_NAT_BEHAVIOUR_NONE || self->result->other == NULL ||
	    timeout_ms == 0) {
		pl_nat_probe_done(task);
		return;
	}
	/* test II: the other IP, the primary port */
	to = g_inet_socket_address_new(g_inet_socket_address_get_address(self->result->other),
	                               g_inet_socket_address_get_port(self->server));
	pl_nat_probe_binding(self, task, G_INET_SOCKET_ADDRESS(to), 0, timeout_ms,
	                     pl_nat_probe_test_ii_cb);
}

/* one of the two CHANGE-REQUEST tests; change_ip tells which */
static void
pl_nat_probe_filter_done(PlNatProbe *self, GTask *task, GAsyncResult *result, gboolean change_ip)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStunResponse) response =
	        pl_stun_transport_request_finish(self->transport, result, &error);

	if (response == NULL) {
		g_debug("NAT filtering test (change %s): %s", change_ip ? "IP and port" : "port",
		        error->message);
	} else if (response->message->error_code != 0) {
		/* e.g. 420: the server does not do CHANGE-REQUEST after all */
		g_debug("NAT filtering test: error %u", response->message->error_code);
		self->filter_refused = TRUE;
	} else {
		gboolean same_ip = pl_nat_same_ip(response->from, self->server);
		gboolean same_port = g_inet_socket_address_get_port(response->from) ==
		                     g_inet_socket_address_get_port(self->server);

		/* an answer from the primary address means the server ignored the
		 * request: it proves nothing about the filter */
		if (change_ip && !same_ip && !same_port)
			self->answered_ip_port = TRUE;
		else if (!change_ip && same_ip && !same_port)
			self->answered_port = TRUE;
		else
			self->filter_refused = TRUE;
	}
	if (--self->filter_pending > 0)
		return;
	if (g_task_return_error_if_cancelled(task))
		return;
	self->result->filtering = pl_nat_probe_classify_filtering(
	        !self->filter_refused, self->answered_ip_port, self->answered_port);
	pl_nat_probe_mapping_tests(self, task);
}

static void
pl_nat_probe_filter_ip_port_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;

	pl_nat_probe_filter_done(g_task_get_source_object(task), task, result, TRUE);
}

static void
pl_nat_probe_filter_port_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;

	pl_nat_probe_filter_done(g_task_get_source_object(task), task, result, FALSE);
}

static void
pl_nat_probe_test_i_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	PlNatProbe *self = g_task_get_source_object(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStunResponse) response =
	        pl_stun_transport_request_finish(self->transport, result, &error);
	PlStunMessage *message;
	GInetSocketAddress *local;
	gboolean is_local;
	guint timeout_ms;

	if (response == NULL) {
		g_clear_object(&self->transport);
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	message = response->message;
	if (message->error_code != 0 || message->mapped == NULL) {
		g_autofree gchar *server =
		        g_socket_connectable_to_string(G_SOCKET_CONNECTABLE(self->server));
		g_clear_object(&self->transport);
		if (message->error_code != 0)
			g_task_return_new_error(
			        task, G_IO_ERROR, G_IO_ERROR_FAILED,
			        "The STUN server %s answered with error %u %s", server,
			        message->error_code,
			        message->error_reason != NULL ? message->error_reason : "");
		else
			g_task_return_new_error(
			        task, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			        "The STUN server %s answered without a mapped address", server);
		return;
	}

	self->result->mapped = g_object_ref(message->mapped);
	self->result->rtt_ms = response->rtt_ms;
	/* an OTHER-ADDRESS that is the primary one, or of another family, is no help */
	if (message->other != NULL && !pl_nat_same_address(message->other, self->server) &&
	    g_inet_address_get_family(g_inet_socket_address_get_address(message->other)) ==
	            g_inet_address_get_family(g_inet_socket_address_get_address(self->server)))
		self->result->other = g_object_ref(message->other);

	local = pl_stun_transport_get_local_address(self->transport);
	is_local = pl_nat_probe_is_local(message->mapped, g_inet_socket_address_get_port(local),
	                                 (const gchar *const *)self->local_addresses);
	self->result->mapping = pl_nat_probe_classify_mapping(is_local, self->result->mapped,
	                                                      self->result->other, NULL, NULL);
	timeout_ms = MIN(pl_nat_probe_remaining_ms(self),
	                 MAX(PL_NAT_PROBE_MIN_FILTER_WAIT_MS, self->timeout_ms / 4));
	if (self->result->other == NULL || timeout_ms == 0) {
		pl_nat_probe_done(task);
		return;
	}
	/* the filtering tests first: nothing has been sent to the other address yet */
	self->filter_pending = 2;
	pl_nat_probe_binding(self, task, self->server, PL_STUN_CHANGE_IP | PL_STUN_CHANGE_PORT,
	                     timeout_ms, pl_nat_probe_filter_ip_port_cb);
	pl_nat_probe_binding(self, task, self->server, PL_STUN_CHANGE_PORT, timeout_ms,
	                     pl_nat_probe_filter_port_cb);
}

void
pl_nat_probe_run_async(PlNatProbe *self,
                       GCancellable *cancellable,
                       GAsyncReadyCallback callback,
                       gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autoptr(GError) error = NULL;
	GSocketFamily family;

	g_return_if_fail(PL_IS_NAT_PROBE(self));
	g_return_if_fail(!self->started);

	self->started = TRUE;
	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, pl_nat_probe_run_async);
	family = g_inet_address_get_family(g_inet_socket_address_get_address(self->server));
	self->transport = pl_stun_transport_new_udp(family, &error);
	if (self->transport == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	self->deadline_us = g_get_monotonic_time() + (gint64)self->timeout_ms * 1000;
	self->result = g_new0(PlNatProbeResult, 1);
	self->result->server = g_object_ref(self->server);
	pl_nat_probe_binding(self, task, self->server, 0, self->timeout_ms, pl_nat_probe_test_i_cb);
}

PlNatProbeResult *
pl_nat_probe_run_finish(PlNatProbe *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, self), NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}

/* -------------------------------------------------------------------------- */

PlNatProbe *
pl_nat_probe_new(GInetSocketAddress *server, const gchar *const *local_addresses, guint timeout_ms)
{
	PlNatProbe *self;

	g_return_val_if_fail(G_IS_INET_SOCKET_ADDRESS(server), NULL);
	g_return_val_if_fail(timeout_ms > 0, NULL);

	self = g_object_new(PL_TYPE_NAT_PROBE, NULL);
	self->server = g_object_ref(server);
	self->local_addresses = local_addresses != NULL ? g_strdupv((gchar **)local_addresses)
	                                                : pl_nat_probe_list_local_addresses();
	self->timeout_ms = timeout_ms;
	return self;
}

static void
pl_nat_probe_finalize(GObject *object)
{
	PlNatProbe *self = PL_NAT_PROBE(object);

	g_clear_object(&self->server);
	g_strfreev(self->local_addresses);
	g_clear_object(&self->transport);
	pl_nat_probe_result_free(self->result);
	g_clear_object(&self->mapped_ii);
	G_OBJECT_CLASS(pl_nat_probe_parent_class)->finalize(object);
}

static void
pl_nat_probe_class_init(PlNatProbeClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = pl_nat_probe_finalize;
}

static void
pl_nat_probe_init(PlNatProbe *self)
{
}
