/*
 * The pure parts of netcheck: the verdict table, the RFC 5780 classification
 * of test results, and the JSON report.
 */
#include "config.h"

#include <string.h>

#include "pl-nat-probe.h"
#include "pl-netcheck-private.h"

#define NONE    PL_NAT_BEHAVIOUR_NONE
#define EI      PL_NAT_BEHAVIOUR_ENDPOINT_INDEPENDENT
#define AD      PL_NAT_BEHAVIOUR_ADDRESS_DEPENDENT
#define APD     PL_NAT_BEHAVIOUR_ADDRESS_AND_PORT_DEPENDENT
#define UNKNOWN PL_NAT_BEHAVIOUR_UNKNOWN

typedef struct {
	gboolean udp;
	PlNatBehaviour mapping;
	PlNatBehaviour filtering;
	gboolean upnp;
	gboolean turn_udp;
	gboolean turn_tcp;
	const gchar *verdict;
} VerdictCase;

/* the routers of the NAT lab and the rest of the table */
static const VerdictCase verdict_cases[] = {
        /* UDP blocked: only TURN over TCP gets out */
        {FALSE, UNKNOWN, UNKNOWN, FALSE, FALSE, TRUE, PL_NETCHECK_VERDICT_TCP_RELAY_ONLY},
        {FALSE, UNKNOWN, UNKNOWN, TRUE, FALSE, TRUE, PL_NETCHECK_VERDICT_TCP_RELAY_ONLY},
        {FALSE, UNKNOWN, UNKNOWN, FALSE, FALSE, FALSE, PL_NETCHECK_VERDICT_OFFLINE},
        /* no STUN server, but TURN over UDP works: UDP works */
        {FALSE, UNKNOWN, UNKNOWN, FALSE, TRUE, FALSE, PL_NETCHECK_VERDICT_UNKNOWN_RELAY},
        /* a public address without a firewall ("none" router) */
        {TRUE, NONE, EI, FALSE, FALSE, FALSE, PL_NETCHECK_VERDICT_DIRECT},
        {TRUE, NONE, EI, FALSE, TRUE, TRUE, PL_NETCHECK_VERDICT_DIRECT},
        /* a public address behind a stateful firewall: a port-restricted cone */
        {TRUE, NONE, APD, FALSE, TRUE, TRUE, PL_NETCHECK_VERDICT_CONE_RELAY},
        {TRUE, NONE, UNKNOWN, FALSE, FALSE, FALSE, PL_NETCHECK_VERDICT_CONE_NO_RELAY},
        /* full cone */
        {TRUE, EI, EI, FALSE, TRUE, TRUE, PL_NETCHECK_VERDICT_DIRECT},
        /* restricted cone */
        {TRUE, EI, AD, FALSE, FALSE, FALSE, PL_NETCHECK_VERDICT_DIRECT},
        /* port-restricted cone (masquerade) */
        {TRUE, EI, APD, FALSE, TRUE, TRUE, PL_NETCHECK_VERDICT_CONE_RELAY},
        {TRUE, EI, APD, FALSE, FALSE, TRUE, PL_NETCHECK_VERDICT_CONE_RELAY},
        {TRUE, EI, APD, FALSE, FALSE, FALSE, PL_NETCHECK_VERDICT_CONE_NO_RELAY},
        {TRUE, EI, UNKNOWN, FALSE, TRUE, FALSE, PL_NETCHECK_VERDICT_CONE_RELAY},
        /* the same behind a router that maps ports with UPnP */
        {TRUE, EI, APD, TRUE, FALSE, FALSE, PL_NETCHECK_VERDICT_DIRECT_UPNP},
        /* symmetric (masquerade random,fully-random) */
        {TRUE, APD, APD, FALSE, TRUE, TRUE, PL_NETCHECK_VERDICT_SYMMETRIC_RELAY},
        {TRUE, APD, APD, FALSE, FALSE, TRUE, PL_NETCHECK_VERDICT_SYMMETRIC_RELAY},
        {TRUE, AD, EI, FALSE, TRUE, FALSE, PL_NETCHECK_VERDICT_SYMMETRIC_RELAY},
        {TRUE, APD, APD, FALSE, FALSE, FALSE, PL_NETCHECK_VERDICT_SYMMETRIC_NO_RELAY},
        {TRUE, APD, APD, TRUE, FALSE, FALSE, PL_NETCHECK_VERDICT_DIRECT_UPNP},
        /* a STUN server without RFC 5780 */
        {TRUE, UNKNOWN, UNKNOWN, FALSE, TRUE, FALSE, PL_NETCHECK_VERDICT_UNKNOWN_RELAY},
        {TRUE, UNKNOWN, UNKNOWN, FALSE, FALSE, FALSE, PL_NETCHECK_VERDICT_UNKNOWN_NO_RELAY},
};

static void
test_verdict_table(void)
{
	for (guint i = 0; i < G_N_ELEMENTS(verdict_cases); i++) {
		const VerdictCase *c = &verdict_cases[i];
		const gchar *verdict = pl_netcheck_verdict(c->udp, c->mapping, c->filtering,
		                                           c->upnp, c->turn_udp, c->turn_tcp);

		g_test_message("udp %d mapping %s filtering %s upnp %d turn udp %d tcp %d: %s",
		               c->udp, pl_nat_behaviour_to_string(c->mapping),
		               pl_nat_behaviour_to_string(c->filtering), c->upnp, c->turn_udp,
		               c->turn_tcp, verdict);
		g_assert_cmpstr(verdict, ==, c->verdict);
	}
}

/* every combination has a verdict, and a verdict without a relay never
 * promises one */
static void
test_verdict_total(void)
{
	for (guint bits = 0; bits < 16; bits++) {
		for (PlNatBehaviour m = UNKNOWN; m <= APD; m++) {
			for (PlNatBehaviour f = UNKNOWN; f <= APD; f++) {
				gboolean turn = (bits & 4) != 0 || (bits & 8) != 0;
				const gchar *verdict =
				        pl_netcheck_verdict(bits & 1, m, f, (bits & 2) != 0,
				                            (bits & 4) != 0, (bits & 8) != 0);

				g_assert_nonnull(verdict);
				g_assert_cmpuint(strlen(verdict), >, 10);
				if (!turn)
					g_assert_null(strstr(verdict, "relayed connections"));
			}
		}
	}
}

static void
test_behaviour_names(void)
{
	g_assert_cmpstr(pl_nat_behaviour_to_string(UNKNOWN), ==, "unknown");
	g_assert_cmpstr(pl_nat_behaviour_to_string(NONE), ==, "none");
	g_assert_cmpstr(pl_nat_behaviour_to_string(EI), ==, "endpoint-independent");
	g_assert_cmpstr(pl_nat_behaviour_to_string(AD), ==, "address-dependent");
	g_assert_cmpstr(pl_nat_behaviour_to_string(APD), ==, "address-and-port-dependent");
	g_assert_cmpstr(pl_nat_behaviour_to_string(42), ==, "unknown");
}

/* -------------------------------------------------------------------------- */
/* RFC 5780 classification */

static GInetSocketAddress *
address(const gchar *ip, guint16 port)
{
	g_autoptr(GInetAddress) inet = g_inet_address_new_from_string(ip);

	g_assert_nonnull(inet);
	return G_INET_SOCKET_ADDRESS(g_inet_socket_address_new(inet, port));
}

static void
test_classify_mapping(void)
{
	g_autoptr(GInetSocketAddress) m1 = address("198.51.100.7", 40000);
	g_autoptr(GInetSocketAddress) m1_again = address("198.51.100.7", 40000);
	g_autoptr(GInetSocketAddress) m2 = address("198.51.100.7", 40001);
	g_autoptr(GInetSocketAddress) m2_again = address("198.51.100.7", 40001);
	g_autoptr(GInetSocketAddress) m3 = address("198.51.100.7", 40002);
	g_autoptr(GInetSocketAddress) other = address("203.0.113.2", 3479);

	g_assert_cmpint(pl_nat_probe_classify_mapping(TRUE, m1, NULL, NULL, NULL), ==, NONE);
	g_assert_cmpint(pl_nat_probe_classify_mapping(FALSE, m1, NULL, NULL, NULL), ==, UNKNOWN);
	g_assert_cmpint(pl_nat_probe_classify_mapping(FALSE, m1, other, NULL, NULL), ==, UNKNOWN);
	g_assert_cmpint(pl_nat_probe_classify_mapping(FALSE, m1, other, m1_again, NULL), ==, EI);
	g_assert_cmpint(pl_nat_probe_classify_mapping(FALSE, m1, other, m2, NULL), ==, UNKNOWN);
	g_assert_cmpint(pl_nat_probe_classify_mapping(FALSE, m1, other, m2, m2_again), ==, AD);
	g_assert_cmpint(pl_nat_probe_classify_mapping(FALSE, m1, other, m2, m3), ==, APD);
}

static void
test_classify_filtering(void)
{
	g_assert_cmpint(pl_nat_probe_classify_filtering(FALSE, TRUE, TRUE), ==, UNKNOWN);
	g_assert_cmpint(pl_nat_probe_classify_filtering(TRUE, TRUE, TRUE), ==, EI);
	g_assert_cmpint(pl_nat_probe_classify_filtering(TRUE, TRUE, FALSE), ==, EI);
	g_assert_cmpint(pl_nat_probe_classify_filtering(TRUE, FALSE, TRUE), ==, AD);
	g_assert_cmpint(pl_nat_probe_classify_filtering(TRUE, FALSE, FALSE), ==, APD);
}

static void
test_is_local(void)
{
	g_autoptr(GInetSocketAddress) loopback = address("127.0.0.1", 5000);
	g_autoptr(GInetSocketAddress) v6 = address("2001:db8::5", 5000);
	const gchar *locals[] = {"10.1.0.2", "127.0.0.1", "2001:db8::5/64", "fe80::1%eth0", NULL};
	g_auto(GStrv) mine = pl_nat_probe_list_local_addresses();

	g_assert_true(pl_nat_probe_is_local(loopback, 5000, locals));
	g_assert_false(pl_nat_probe_is_local(loopback, 5001, locals));
	g_assert_true(pl_nat_probe_is_local(v6, 5000, locals));
	g_assert_false(pl_nat_probe_is_local(loopback, 5000, NULL));
	/* this host has at least its loopback address */
	g_assert_true(g_strv_contains((const gchar *const *)mine, "127.0.0.1"));
	g_assert_true(pl_nat_probe_is_local(loopback, 5000, (const gchar *const *)mine));
}

/* -------------------------------------------------------------------------- */
/* the report */

static void
test_address_is_public(void)
{
	g_assert_true(pl_netcheck_address_is_public("203.0.113.10"));
	g_assert_true(pl_netcheck_address_is_public("8.8.8.8"));
	g_assert_true(pl_netcheck_address_is_public("2001:db8::1"));
	g_assert_false(pl_netcheck_address_is_public("10.0.0.1"));
	g_assert_false(pl_netcheck_address_is_public("172.16.5.4"));
	g_assert_false(pl_netcheck_address_is_public("192.168.1.1"));
	g_assert_false(pl_netcheck_address_is_public("100.64.0.1"));
	g_assert_false(pl_netcheck_address_is_public("100.127.255.1"));
	g_assert_true(pl_netcheck_address_is_public("100.128.0.1"));
	g_assert_false(pl_netcheck_address_is_public("127.0.0.1"));
	g_assert_false(pl_netcheck_address_is_public("169.254.1.1"));
	g_assert_false(pl_netcheck_address_is_public("0.0.0.0"));
	g_assert_false(pl_netcheck_address_is_public("fd00::1"));
	g_assert_false(pl_netcheck_address_is_public("fe80::1"));
	g_assert_false(pl_netcheck_address_is_public("not an address"));
	g_assert_false(pl_netcheck_address_is_public(NULL));
}

static void
test_report_json(void)
{
	g_autoptr(PlNetcheckReport) report = pl_netcheck_report_new();
	PlNetcheckTurnReport *udp = g_new0(PlNetcheckTurnReport, 1);
	PlNetcheckTurnReport *tcp = g_new0(PlNetcheckTurnReport, 1);
	g_autoptr(JsonObject) json = NULL;
	g_autoptr(JsonNode) node = NULL;
	g_autofree gchar *text = NULL;
	JsonObject *upnp;
	JsonArray *turn;
	JsonObject *first;
	JsonObject *second;

	report->udp = TRUE;
	report->stun_server = g_strdup("203.0.113.10:3478");
	report->public_ipv4 = g_strdup("198.51.100.7");
	report->mapping = EI;
	report->filtering = APD;
	report->upnp_available = TRUE;
	/* a private external address: double NAT, the mapping does not help */
	report->upnp_external_address = g_strdup("10.0.0.2");
	report->duration_ms = 1234;
	udp->server = g_strdup("turn:203.0.113.10:3478?transport=udp");
	udp->reachable = TRUE;
	udp->rtt_ms = 12;
	udp->relayed_address = g_strdup("203.0.113.10:50000");
	tcp->server = g_strdup("turn:203.0.113.10:3478?transport=tcp");
	tcp->transport = PL_ICE_TRANSPORT_TCP;
	tcp->rtt_ms = -1;
	tcp->error = g_strdup("no answer");
	g_ptr_array_add(report->turn, udp);
	g_ptr_array_add(report->turn, tcp);

	json = pl_netcheck_report_to_json(report);
	node = json_node_init_object(json_node_alloc(), json);
	text = json_to_string(node, FALSE);
	g_test_message("%s", text);

	g_assert_true(json_object_get_boolean_member(json, "udp"));
	g_assert_cmpstr(json_object_get_string_member(json, "stun_server"), ==,
	                "203.0.113.10:3478");
	g_assert_cmpstr(json_object_get_string_member(json, "public_ipv4"), ==, "198.51.100.7");
	g_assert_true(json_object_get_null_member(json, "public_ipv6"));
	g_assert_cmpstr(json_object_get_string_member(json, "mapping"), ==, "endpoint-independent");
	g_assert_cmpstr(json_object_get_string_member(json, "filtering"), ==,
	                "address-and-port-dependent");
	upnp = json_object_get_object_member(json, "upnp");
	g_assert_true(json_object_get_boolean_member(upnp, "available"));
	g_assert_cmpstr(json_object_get_string_member(upnp, "external_address"), ==, "10.0.0.2");
	g_assert_false(json_object_get_boolean_member(json_object_get_object_member(json, "natpmp"),
	                                              "available"));
	g_assert_true(json_object_get_null_member(json_object_get_object_member(json, "natpmp"),
	                                          "external_address"));
	turn = json_object_get_array_member(json, "turn");
	g_assert_cmpuint(json_array_get_length(turn), ==, 2);
	first = json_array_get_object_element(turn, 0);
	second = json_array_get_object_element(turn, 1);
	g_assert_cmpstr(json_object_get_string_member(first, "server"), ==,
	                "turn:203.0.113.10:3478?transport=udp");
	g_assert_true(json_object_get_boolean_member(first, "reachable"));
	g_assert_cmpint(json_object_get_int_member(first, "rtt_ms"), ==, 12);
	g_assert_cmpstr(json_object_get_string_member(first, "relayed_address"), ==,
	                "203.0.113.10:50000");
	g_assert_true(json_object_get_null_member(first, "error"));
	g_assert_false(json_object_get_boolean_member(second, "reachable"));
	g_assert_true(json_object_get_null_member(second, "rtt_ms"));
	g_assert_true(json_object_get_null_member(second, "relayed_address"));
	g_assert_cmpstr(json_object_get_string_member(second, "error"), ==, "no answer");
	/* the UPnP address is private: the cone verdict, with the UDP relay */
	g_assert_cmpstr(json_object_get_string_member(json, "verdict"), ==,
	                PL_NETCHECK_VERDICT_CONE_RELAY);
	g_assert_cmpint(json_object_get_int_member(json, "duration_ms"), ==, 1234);

	/* a public one makes the difference */
	g_free(report->upnp_external_address);
	report->upnp_external_address = g_strdup("203.0.113.20");
	g_assert_cmpstr(pl_netcheck_report_verdict(report), ==, PL_NETCHECK_VERDICT_DIRECT_UPNP);
	report->nothing_checked = TRUE;
	g_assert_cmpstr(pl_netcheck_report_verdict(report), ==,
	                PL_NETCHECK_VERDICT_NOTHING_CHECKED);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerlink/netcheck/verdict/table", test_verdict_table);
	g_test_add_func("/peerlink/netcheck/verdict/total", test_verdict_total);
	g_test_add_func("/peerlink/netcheck/verdict/behaviour-names", test_behaviour_names);
	g_test_add_func("/peerlink/netcheck/classify/mapping", test_classify_mapping);
	g_test_add_func("/peerlink/netcheck/classify/filtering", test_classify_filtering);
	g_test_add_func("/peerlink/netcheck/classify/is-local", test_is_local);
	g_test_add_func("/peerlink/netcheck/report/public-address", test_address_is_public);
	g_test_add_func("/peerlink/netcheck/report/json", test_report_json);
	return g_test_run();
}
