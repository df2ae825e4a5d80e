/*
 * A peer must not make the agent send to the agent's own host or LAN
 * neighbours: a session whose peer offers only loopback and link-local
 * candidates fails at once with UNREACHABLE, and not one packet reaches the
 * address the peer named (a UDP socket bound there must receive nothing),
 * unless the agent was configured to accept such candidates (loopback=true,
 * link-local=true: allow_local_remotes), which the second case shows with
 * the same socket receiving the connectivity checks.
 *
 * One PlSession in this process, real libnice on 127.0.0.1; the peer is this
 * test, which answers the offer with a signal of its own making.
 */
#include "config.h"

#include <string.h>

#include "pl-session.h"
#include "pl-test-checker.h"
#include "pl-test-util.h"

#define SERVICE "chat"
/* "at once": far below the connect timeout and libnice's 7 s of retransmissions */
#define AT_ONCE_MS   2000
#define CONNECT_MS   30000
#define QUIET_MS     1000 /* how long the address must then stay silent */
#define CHECKS_MS    5000 /* for the checks to reach it, when allowed */
#define ICE_PASSWORD "0123456789abcdefghijklmnop"

typedef struct {
	PlIdentity *id_a;   /* the agent's */
	PlIdentity *id_b;   /* the peer's, which the test plays */
	GSocket *victim;    /* where the peer points the agent */
	guint16 port;       /* of victim */
	PlSession *session; /* the agent's, outgoing to B */
	PlSignal *offer;    /* what the session sent, until answered */
	guint answer_id;
	gboolean closed;
	GError *error; /* of "closed" */
	gint64 answered_at;
	gint64 closed_at;
	guint n_sent_close;
} Fixture;

static PlIdentity *
new_identity(void)
{
	g_autoptr(GError) error = NULL;
	PlIdentity *identity = pl_identity_generate(&error);

	g_assert_no_error(error);
	return identity;
}

/* runs the loop for ms */
static void
run_for(guint ms)
{
	gint64 until = g_get_monotonic_time() + (gint64)ms * 1000;

	PL_TEST_WAIT_UNTIL(g_get_monotonic_time() >= until, (gint64)ms * 2000);
}

static void
fixture_set_up(Fixture *f, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) any_port = g_inet_socket_address_new(loopback, 0);
	g_autoptr(GSocketAddress) bound = NULL;

	f->id_a = new_identity();
	f->id_b = new_identity();
	f->victim = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
	                         G_SOCKET_PROTOCOL_UDP, &error);
	g_assert_no_error(error);
	g_socket_set_blocking(f->victim, FALSE);
	g_assert_true(g_socket_bind(f->victim, any_port, FALSE, &error));
	g_assert_no_error(error);
	bound = g_socket_get_local_address(f->victim, &error);
	g_assert_no_error(error);
	f->port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

static void
fixture_tear_down(Fixture *f, gconstpointer user_data)
{
	if (f->session != NULL) {
		g_signal_handlers_disconnect_by_data(f->session, f);
		g_clear_object(&f->session);
	}
	g_clear_handle_id(&f->answer_id, g_source_remove);
	g_clear_pointer(&f->offer, pl_signal_free);
	g_clear_error(&f->error);
	run_for(100); /* the libnice agent closes asynchronously */
	g_clear_object(&f->victim);
	g_clear_object(&f->id_a);
	g_clear_object(&f->id_b);
}

/* datagrams that reached the victim socket so far */
static guint
victim_received(Fixture *f)
{
	guint n = 0;

	for (;;) {
		guint8 buf[2048];
		g_autoptr(GError) error = NULL;
		gssize len = g_socket_receive(f->victim, (gchar *)buf, sizeof(buf), NULL, &error);

		if (len < 0) {
			g_assert_error(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
			return n;
		}
		n++;
	}
}

/* the peer's answer: its only candidates are loopback and link-local ones */
static gboolean
answer_cb(gpointer user_data)
{
	Fixture *f = user_data;
	g_autoptr(PlSignal) answer = pl_signal_new(PL_SIGNAL_TYPE_ANSWER);
	/* 127.0.0.1, the rest of 127/8, IPv6 loopback, link-local of both families,
	 * loopback dressed as IPv6, and as a server-reflexive candidate */
	const struct {
		const gchar *address;
		const gchar *type;
	} candidates[] = {
	        {"127.0.0.1", "host"},
	        {"127.0.0.2", "host"},
	        {"::1", "host"},
	        {"169.254.10.20", "host"},
	        {"fe80::1", "host"},
	        {"::ffff:127.0.0.1", "host"},
	        {"127.0.0.1", "srflx raddr 0.0.0.0 rport 9"},
	};

	f->answer_id = 0;
	answer->from = g_strdup(pl_identity_get_peer_id_string(f->id_b));
	answer->to = g_strdup(pl_identity_get_peer_id_string(f->id_a));
	answer->session_id = g_strdup(f->offer->session_id);
	answer->seq = 1;
	answer->timestamp_ms = g_get_real_time() / 1000;
	answer->generation = 0;
	answer->ufrag = g_strdup("peer");
	answer->pwd = g_strdup(ICE_PASSWORD);
	for (guint i = 0; i < G_N_ELEMENTS(candidates); i++)
		g_ptr_array_add(answer->candidates,
		                g_strdup_printf("candidate:%u 1 UDP %u %s %u typ %s", i + 1,
		                                2130706431 - i, candidates[i].address, f->port,
		                                candidates[i].type));
	answer->end_of_candidates = TRUE;
	f->answered_at = g_get_monotonic_time();
	pl_session_handle_signal(f->session, answer);
	return G_SOURCE_REMOVE;
}

static void
on_send_signal(PlSession *session, PlSignal *signal, gpointer user_data)
{
	Fixture *f = user_data;

	g_test_message("the agent sends %s", pl_signal_type_to_string(signal->type));
	if (signal->type == PL_SIGNAL_TYPE_CLOSE)
		f->n_sent_close++;
	if (signal->type != PL_SIGNAL_TYPE_OFFER || f->offer != NULL)
		return;
	g_assert_cmpuint(signal->generation, ==, 0);
	f->offer = pl_signal_new(PL_SIGNAL_TYPE_OFFER);
	f->offer->session_id = g_strdup(signal->session_id);
	/* answered from the loop, as the rendezvous would, never re-entrantly */
	f->answer_id = g_idle_add(answer_cb, f);
}

static void
on_closed(PlSession *session, const GError *error, gpointer user_data)
{
	Fixture *f = user_data;

	g_test_message("closed: %s", error != NULL ? error->message : "cleanly");
	f->closed = TRUE;
	f->closed_at = g_get_monotonic_time();
	f->error = error != NULL ? g_error_copy(error) : NULL;
}

static void
start_session(Fixture *f, gboolean allow_local_remotes)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PlSessionContext) context = pl_session_context_new(f->id_a, &error);

	g_assert_no_error(error);
	g_ptr_array_add(context->ice.local_addresses, g_strdup("127.0.0.1"));
	context->ice.upnp = FALSE;
	context->ice.allow_local_remotes = allow_local_remotes;
	f->session = pl_session_new_outgoing(context, 1, pl_identity_get_peer_id_string(f->id_b),
	                                     SERVICE, pl_test_checker_scale(CONNECT_MS), &error);
	g_assert_no_error(error);
	g_signal_connect(f->session, "send-signal", G_CALLBACK(on_send_signal), f);
	g_signal_connect(f->session, "closed", G_CALLBACK(on_closed), f);
	pl_session_start(f->session);
}

static void
test_refused(Fixture *f, gconstpointer user_data)
{
	gint64 elapsed_ms;

	start_session(f, FALSE);
	PL_TEST_WAIT_UNTIL(f->closed, (gint64)pl_test_checker_scale(CONNECT_MS) * 1000);
	g_assert_error(f->error, PL_SESSION_ERROR, PL_SESSION_ERROR_UNREACHABLE);
	g_assert_cmpint(f->answered_at, >, 0);
	elapsed_ms = (f->closed_at - f->answered_at) / 1000;
	g_test_message("failed %" G_GINT64_FORMAT " ms after the answer", elapsed_ms);
	g_assert_cmpint(elapsed_ms, <, pl_test_checker_scale(AT_ONCE_MS));
	/* every candidate was refused, none is left to try */
	g_assert_nonnull(strstr(f->error->message, "7 loopback or link-local candidates refused"));
	g_assert_cmpuint(f->n_sent_close, ==, 1);

	/* and nothing went to the address the peer named, then or later */
	run_for(pl_test_checker_scale(QUIET_MS));
	g_assert_cmpuint(victim_received(f), ==, 0);
}

/* the control: configured for local testing, the agent does check that address */
static void
test_allowed_when_configured(Fixture *f, gconstpointer user_data)
{
	g_autoptr(GError) reason = g_error_new_literal(PL_SESSION_ERROR, PL_SESSION_ERROR_CLOSED,
	                                               "the test has seen enough");
	guint received = 0;

	start_session(f, TRUE);
	PL_TEST_WAIT_UNTIL((received += victim_received(f)) > 0 || f->closed,
	                   (gint64)pl_test_checker_scale(CHECKS_MS) * 1000);
	g_assert_false(f->closed);
	g_test_message("%u connectivity checks reached the address", received);
	pl_session_close(f->session, reason);
	PL_TEST_WAIT_UNTIL(f->closed, (gint64)pl_test_checker_scale(AT_ONCE_MS) * 1000);
	g_assert_error(f->error, PL_SESSION_ERROR, PL_SESSION_ERROR_CLOSED);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add("/peerlink/session/local-candidates/refused", Fixture, NULL, fixture_set_up,
	           test_refused, fixture_tear_down);
	g_test_add("/peerlink/session/local-candidates/allowed-when-configured", Fixture, NULL,
	           fixture_set_up, test_allowed_when_configured, fixture_tear_down);
	return g_test_run();
}
