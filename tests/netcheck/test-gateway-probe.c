/*
 * The gateway probe: /proc/net/route and NAT-PMP answers parsed without a
 * network, then NAT-PMP against fake gateways on 127.0.0.1 (the probe's
 * private setter points it there; UPnP stays off: its discovery would
 * multicast on every interface).
 */
#include "config.h"

#include <string.h>

#include "netcheck-test-responder.h"
#include "pl-gateway-probe-private.h"

static gboolean
wake_cb(gpointer user_data)
{
	return G_SOURCE_CONTINUE;
}

static void
wait_for(GAsyncResult **result)
{
	gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
	guint tick = g_timeout_add(20, wake_cb, NULL);

	while (*result == NULL && g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, TRUE);
	g_source_remove(tick);
	g_assert_nonnull(*result);
}

static void
store_result_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	GAsyncResult **out = user_data;

	*out = g_object_ref(result);
}

/* -------------------------------------------------------------------------- */
/* pure parts */

#define ROUTE_HEADER                                                                               \
	"Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT"      \
	"                                                       \n"

static void
test_parse_route(void)
{
	struct {
		const gchar *text;
		const gchar *gateway;
	} cases[] = {
	        /* the usual: a default route through 192.0.2.1, and the local subnet */
	        {ROUTE_HEADER "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
	                      "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n",
	         "192.0.2.1"},
	        /* two defaults: the lower metric wins, wherever it is */
	        {ROUTE_HEADER "wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
	                      "eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n",
	         "10.0.0.1"},
	        {ROUTE_HEADER "eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
	                      "wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n",
	         "10.0.0.1"},
	        /* a default route without a gateway (point-to-point), or down */
	        {ROUTE_HEADER "ppp0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n", NULL},
	        {ROUTE_HEADER "eth0\t00000000\t010200C0\t0002\t0\t0\t0\t00000000\t0\t0\t0\n", NULL},
	        /* no default route */
	        {ROUTE_HEADER "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n", NULL},
	        {ROUTE_HEADER, NULL},
	        {"", NULL},
	        {"garbage\nmore garbage\n\t\t\n", NULL},
	        {ROUTE_HEADER "eth0\t00000000\tZZZZZZZZ\t0003\t0\t0\t0\t00000000\t0\t0\t0\n", NULL},
	        {ROUTE_HEADER "eth0\t00000000\t010200C0\t0003\n", NULL},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *gateway = pl_gateway_probe_parse_route(cases[i].text);
		g_assert_cmpstr(gateway, ==, cases[i].gateway);
	}
}

static void
test_parse_natpmp(void)
{
	static const guint8 good[] = {0, 128, 0, 0, 0, 0, 0x12, 0x34, 198, 51, 100, 9};
	static const guint8 none_yet[] = {0, 128, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 0};
	static const guint8 refused[] = {0, 128, 0, 2, 0, 0, 0x12, 0x34, 0, 0, 0, 0};
	static const guint8 pcp[] = {2, 128, 0, 0, 0, 0, 0x12, 0x34, 198, 51, 100, 9};
	static const guint8 mapping_answer[] = {0, 129, 0, 0, 0, 0, 0x12, 0x34, 1, 2, 3, 4};
	g_autoptr(GBytes) request = pl_natpmp_build_external_address_request();
	g_autoptr(GError) error = NULL;
	gchar *address = NULL;

	g_assert_cmpuint(g_bytes_get_size(request), ==, 2);
	g_assert_cmpmem(g_bytes_get_data(request, NULL), 2, "\0\0", 2);

	g_assert_true(
	        pl_natpmp_parse_external_address_response(good, sizeof(good), &address, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(address, ==, "198.51.100.9");
	g_clear_pointer(&address, g_free);

	g_assert_true(pl_natpmp_parse_external_address_response(none_yet, sizeof(none_yet),
	                                                        &address, &error));
	g_assert_null(address);

	g_assert_false(pl_natpmp_parse_external_address_response(refused, sizeof(refused), &address,
	                                                         &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_FAILED);
	g_assert_nonnull(strstr(error->message, "not authorized"));
	g_clear_error(&error);

	/* a refusal may be short; a success may not */
	g_assert_false(pl_natpmp_parse_external_address_response(refused, 4, &address, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_FAILED);
	g_clear_error(&error);
	for (gsize len = 0; len < sizeof(good); len++) {
		g_autofree guint8 *copy = g_memdup2(good, len > 0 ? len : 1);
		g_assert_false(
		        pl_natpmp_parse_external_address_response(copy, len, &address, &error));
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
		g_assert_null(address);
		g_clear_error(&error);
	}
	g_assert_false(pl_natpmp_parse_external_address_response(NULL, 0, &address, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	g_clear_error(&error);
	g_assert_false(
	        pl_natpmp_parse_external_address_response(pcp, sizeof(pcp), &address, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	g_clear_error(&error);
	g_assert_false(pl_natpmp_parse_external_address_response(
	        mapping_answer, sizeof(mapping_answer), &address, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
}

/* -------------------------------------------------------------------------- */
/* fake gateways */

typedef struct {
	guint answer_from; /* answer the Nth request and later */
	guint seen;
	guint16 result_code;
	gboolean bad_request;
	GSocket *other_socket; /* when set: answer from this one instead */
	NetcheckTestResponder *responder;
} FakeGateway;

static GBytes *
fake_gateway_reply(const guint8 *request, gsize len, gpointer user_data)
{
	FakeGateway *gateway = user_data;
	guint8 answer[12] = {0,
	                     128,
	                     gateway->result_code >> 8,
	                     gateway->result_code & 0xff,
	                     0,
	                     0,
	                     0x10,
	                     0x00,
	                     198,
	                     51,
	                     100,
	                     9};

	if (len != 2 || request[0] != 0 || request[1] != 0)
		gateway->bad_request = TRUE;
	if (++gateway->seen < gateway->answer_from)
		return NULL;
	if (gateway->other_socket != NULL) {
		g_autoptr(GInetAddress) loopback =
		        g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
		g_autoptr(GSocketAddress) to = g_inet_socket_address_new(
		        loopback, netcheck_test_responder_get_last_peer_port(gateway->responder));
		g_socket_send_to(gateway->other_socket, to, (const gchar *)answer, sizeof(answer),
		                 NULL, NULL);
		return NULL;
	}
	return g_bytes_new(answer, sizeof(answer));
}

static PlGatewayProbeResult *
run_probe(NetcheckTestResponder *responder,
          guint timeout_ms,
          GCancellable *cancellable,
          GError **error)
{
	g_autoptr(PlGatewayProbe) probe = pl_gateway_probe_new(timeout_ms);
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) server =
	        g_inet_socket_address_new(loopback, netcheck_test_responder_get_port(responder));
	g_autoptr(GAsyncResult) result = NULL;

	pl_gateway_probe_set_natpmp_server(probe, G_INET_SOCKET_ADDRESS(server));
	pl_gateway_probe_set_upnp_enabled(probe, FALSE);
	pl_gateway_probe_run_async(probe, cancellable, store_result_cb, &result);
	wait_for(&result);
	return pl_gateway_probe_run_finish(probe, result, error);
}

static void
test_natpmp_answers(void)
{
	FakeGateway gateway = {.answer_from = 1};
	g_autoptr(NetcheckTestResponder) responder =
	        netcheck_test_responder_new_udp(fake_gateway_reply, &gateway);
	g_autoptr(GError) error = NULL;
	g_autoptr(PlGatewayProbeResult) result = run_probe(responder, 2000, NULL, &error);

	g_assert_no_error(error);
	g_assert_true(result->natpmp_available);
	g_assert_cmpstr(result->natpmp_external_address, ==, "198.51.100.9");
	g_assert_null(result->natpmp_error);
	g_assert_false(result->upnp_available);
	g_assert_false(gateway.bad_request);
	g_assert_cmpuint(gateway.seen, ==, 1);
}

static void
test_natpmp_lossy(void)
{
	FakeGateway gateway = {.answer_from = 3};
	g_autoptr(NetcheckTestResponder) responder =
	        netcheck_test_responder_new_udp(fake_gateway_reply, &gateway);
	g_autoptr(GError) error = NULL;
	gint64 start = g_get_monotonic_time();
	g_autoptr(PlGatewayProbeResult) result = run_probe(responder, 3000, NULL, &error);
	gint64 elapsed_ms = (g_get_monotonic_time() - start) / 1000;

	g_assert_no_error(error);
	g_assert_true(result->natpmp_available);
	/* sent at 0, 250 and 750 ms (RFC 6886 3.1) */
	g_assert_cmpuint(gateway.seen, ==, 3);
	g_assert_cmpint(elapsed_ms, >=, 740);
	g_assert_cmpint(elapsed_ms, <, 2500);
}

static void
test_natpmp_refused(void)
{
	FakeGateway gateway = {.answer_from = 1, .result_code = 2};
	g_autoptr(NetcheckTestResponder) responder =
	        netcheck_test_responder_new_udp(fake_gateway_reply, &gateway);
	g_autoptr(GError) error = NULL;
	g_autoptr(PlGatewayProbeResult) result = run_probe(responder, 2000, NULL, &error);

	g_assert_no_error(error);
	g_assert_false(result->natpmp_available);
	g_assert_null(result->natpmp_external_address);
	g_test_message("%s", result->natpmp_error);
	g_assert_nonnull(strstr(result->natpmp_error, "not authorized"));
}

static void
test_natpmp_garbage(void)
{
	g_autoptr(NetcheckTestResponder) responder =
	        netcheck_test_responder_new_udp(netcheck_test_reply_garbage, NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(PlGatewayProbeResult) result = run_probe(responder, 600, NULL, &error);

	g_assert_no_error(error);
	g_assert_false(result->natpmp_available);
	g_test_message("%s", result->natpmp_error);
	g_assert_nonnull(strstr(result->natpmp_error, "garbage"));
}

static void
test_natpmp_silent(void)
{
	g_autoptr(NetcheckTestResponder) responder = netcheck_test_responder_new_udp(NULL, NULL);
	g_autoptr(GError) error = NULL;
	gint64 start = g_get_monotonic_time();
	g_autoptr(PlGatewayProbeResult) result = run_probe(responder, 600, NULL, &error);

	g_assert_no_error(error);
	g_assert_false(result->natpmp_available);
	g_test_message("%s", result->natpmp_error);
	g_assert_nonnull(strstr(result->natpmp_error, "no NAT-PMP answer"));
	g_assert_cmpint(g_get_monotonic_time() - start, >=, 590 * 1000);
	g_assert_cmpuint(netcheck_test_responder_get_requests(responder), ==, 2);
}

/* RFC 6886 3.2: an answer from another port is not the gateway's */
static void
test_natpmp_wrong_source(void)
{
	FakeGateway gateway = {.answer_from = 1};
	g_autoptr(NetcheckTestResponder) responder =
	        netcheck_test_responder_new_udp(fake_gateway_reply, &gateway);
	g_autoptr(GSocket) other = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
	                                        G_SOCKET_PROTOCOL_UDP, NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(PlGatewayProbeResult) result = NULL;

	gateway.other_socket = other;
	gateway.responder = responder;
	result = run_probe(responder, 600, NULL, &error);
	g_assert_no_error(error);
	g_assert_false(result->natpmp_available);
	g_assert_nonnull(strstr(result->natpmp_error, "no NAT-PMP answer"));
	g_assert_cmpuint(gateway.seen, >=, 1);
}

static gboolean
cancel_cb(gpointer user_data)
{
	g_cancellable_cancel(user_data);
	return G_SOURCE_REMOVE;
}

static void
test_cancel(void)
{
	g_autoptr(NetcheckTestResponder) responder = netcheck_test_responder_new_udp(NULL, NULL);
	g_autoptr(GCancellable) cancellable = g_cancellable_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(PlGatewayProbeResult) result = NULL;
	gint64 start = g_get_monotonic_time();

	g_timeout_add(100, cancel_cb, cancellable);
	result = run_probe(responder, 10000, cancellable, &error);
	g_assert_null(result);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_cmpint(g_get_monotonic_time() - start, <, 2 * G_USEC_PER_SEC);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerlink/netcheck/gateway/parse-route", test_parse_route);
	g_test_add_func("/peerlink/netcheck/gateway/parse-natpmp", test_parse_natpmp);
	g_test_add_func("/peerlink/netcheck/gateway/natpmp/answers", test_natpmp_answers);
	g_test_add_func("/peerlink/netcheck/gateway/natpmp/lossy", test_natpmp_lossy);
	g_test_add_func("/peerlink/netcheck/gateway/natpmp/refused", test_natpmp_refused);
	g_test_add_func("/peerlink/netcheck/gateway/natpmp/garbage", test_natpmp_garbage);
	g_test_add_func("/peerlink/netcheck/gateway/natpmp/silent", test_natpmp_silent);
	g_test_add_func("/peerlink/netcheck/gateway/natpmp/wrong-source", test_natpmp_wrong_source);
	g_test_add_func("/peerlink/netcheck/gateway/cancel", test_cancel);
	return g_test_run();
}
