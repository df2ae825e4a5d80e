/*
 * PlSession end to end in one process: two (or, for the man in the middle,
 * three) identities, each with its own PlSessionContext, real libnice on
 * 127.0.0.1, and a signaling wire in the test that does what the agent's
 * session manager and the rendezvous do: stamp from and timestamp_ms, seal,
 * carry, open, and hand over from an idle callback, never re-entrantly.
 * Every wait has a deadline and fails with the condition it waited for.
 */
#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif

#include "pl-session.h"

#define SERVICE        "chat"
#define WAIT_MS        5000  /* for anything that takes milliseconds on loopback */
#define SESSION_MS     10000 /* the connect timeout of sessions that should connect */
#define BULK_SIZE      (4 * 1024 * 1024)
#define RESTART_SIZE   (8 * 1024 * 1024)
#define ECHO_SIZE      (512 * 1024)
#define UNREACHABLE_MS 10000 /* libnice gives a dead pair up after about 7.4 s */
#define NO_PAIR_MS     3000
#define TIMEOUT_MS     1000
#define READ_CHUNK     (64 * 1024)

/* valgrind runs everything 20-50 times slower: stretch our deadlines, not the
 * session timeouts under test */
static guint time_scale = 1;

static guint
scaled(guint ms)
{
	return ms * time_scale;
}

/* waiting on the main loop */

static GSource *waker; /* wakes a blocking iteration at its deadline */

static gboolean
waker_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
	g_source_set_ready_time(source, -1);
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs waker_funcs = {
        .dispatch = waker_dispatch,
};

/* one blocking iteration that returns by the deadline; FALSE once it has passed */
static gboolean
iterate_until(gint64 deadline)
{
	if (g_get_monotonic_time() >= deadline)
		return FALSE;
	g_source_set_ready_time(waker, deadline);
	g_main_context_iteration(NULL, TRUE);
	return TRUE;
}

#define WAIT_FOR(condition, timeout_ms)                                                            \
	G_STMT_START                                                                               \
	{                                                                                          \
		gint64 deadline_ = g_get_monotonic_time() + (gint64)scaled(timeout_ms) * 1000;     \
		while (!(condition)) {                                                             \
			if (!iterate_until(deadline_)) {                                           \
				g_assertion_message(G_LOG_DOMAIN, __FILE__, __LINE__, G_STRFUNC,   \
				                    "timed out after " #timeout_ms                 \
				                    " ms waiting for " #condition);                \
				break;                                                             \
			}                                                                          \
		}                                                                                  \
	}                                                                                          \
	G_STMT_END

/* runs the loop for ms: lets closing libnice agents and finished sessions go */
static void
run_for(guint ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)ms * 1000;

	while (iterate_until(deadline))
		;
}

/* an app: one end of a session's stream socket, read and written from the loop */

typedef struct {
	gint fd;
	GByteArray *received;
	gboolean eof;
	gint read_errno; /* of a failed read */
	GByteArray *to_send;
	gsize sent;
	gboolean shut_when_sent;
	gboolean shut;
	gint write_errno;
	guint read_id;
	guint write_id;
} App;

static gboolean
app_readable_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	App *app = user_data;

	for (;;) {
		guint old_len = app->received->len;
		gssize n;

		g_byte_array_set_size(app->received, old_len + READ_CHUNK);
		n = recv(fd, app->received->data + old_len, READ_CHUNK, MSG_DONTWAIT);
		g_byte_array_set_size(app->received, old_len + MAX(n, 0));
		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return G_SOURCE_CONTINUE;
		if (n < 0)
			app->read_errno = errno;
		else
			app->eof = TRUE;
		app->read_id = 0;
		return G_SOURCE_REMOVE;
	}
}

static gboolean
app_writable_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	App *app = user_data;

	while (app->sent < app->to_send->len) {
		gssize n = send(fd, app->to_send->data + app->sent, app->to_send->len - app->sent,
		                MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return G_SOURCE_CONTINUE;
		if (n < 0) {
			app->write_errno = errno;
			app->write_id = 0;
			return G_SOURCE_REMOVE;
		}
		app->sent += (gsize)n;
	}
	if (app->shut_when_sent && !app->shut) {
		g_assert_cmpint(shutdown(fd, SHUT_WR), ==, 0);
		app->shut = TRUE;
	}
	app->write_id = 0;
	return G_SOURCE_REMOVE;
}

static void
app_init(App *app, gint fd)
{
	g_autoptr(GError) error = NULL;

	g_assert_cmpint(fd, >=, 0);
	g_assert_true(g_unix_set_fd_nonblocking(fd, TRUE, &error));
	g_assert_no_error(error);
	app->fd = fd;
	app->received = g_byte_array_new();
	app->to_send = g_byte_array_new();
	app->read_id = g_unix_fd_add(fd, G_IO_IN | G_IO_HUP | G_IO_ERR, app_readable_cb, app);
}

static void
app_clear(App *app)
{
	g_clear_handle_id(&app->read_id, g_source_remove);
	g_clear_handle_id(&app->write_id, g_source_remove);
	if (app->fd >= 0)
		close(app->fd);
	app->fd = -1;
	g_clear_pointer(&app->received, g_byte_array_unref);
	g_clear_pointer(&app->to_send, g_byte_array_unref);
}

/* queues data behind what is not yet sent; shut: then end the stream */
static void
app_write(App *app, const guint8 *data, gsize len, gboolean shut)
{
	g_assert_false(app->shut_when_sent);
	g_byte_array_append(app->to_send, data, (guint)len);
	app->shut_when_sent = shut;
	if (app->write_id == 0)
		app->write_id = g_unix_fd_add(app->fd, G_IO_OUT, app_writable_cb, app);
}

/* deterministic bytes, different for every seed */
static GBytes *
make_data(gsize len, guint32 seed)
{
	g_autoptr(GRand) rand = g_rand_new_with_seed(seed);
	guint32 *words = g_new(guint32, len / 4 + 1);

	for (gsize i = 0; i < len / 4 + 1; i++)
		words[i] = g_rand_int(rand);
	return g_bytes_new_take(words, len);
}

static void
assert_received(App *app, gsize offset, GBytes *expected)
{
	gsize len = 0;
	const guint8 *data = g_bytes_get_data(expected, &len);

	g_assert_cmpuint(app->received->len, >=, offset + len);
	g_assert_true(memcmp(app->received->data + offset, data, len) == 0);
}

/* peers and the signaling wire */

typedef enum {
	OFFER_ACCEPT,      /* opens an incoming session, as for a listened-on service */
	OFFER_REJECT,      /* answers with a reject of reject_code, as the manager does */
	OFFER_FAKE_ANSWER, /* answers with fake_candidates and end-of-candidates */
	OFFER_IGNORE,      /* nobody answers; every signal vanishes */
} OfferPolicy;

typedef struct _Fixture Fixture;
typedef struct _Peer Peer;

struct _Peer {
	Fixture *fixture;
	const gchar *name;
	PlIdentity *wire;          /* the name its signals carry and the one they reach it by */
	PlSessionContext *context; /* with the identity it proves in TLS */
	Peer *remote;              /* where its signals go */
	OfferPolicy policy;
	const gchar *reject_code;
	GPtrArray *fake_candidates; /* of gchar* */
	PlSession *session;
	guint n_established;
	gboolean saw_restarting;
	gboolean closed;
	GError *error; /* of "closed" */
	gint64 closed_at;
	GArray *sent;     /* PlSignalType of every signal sent */
	GArray *received; /* PlSignalType of every signal received */
};

struct _Fixture {
	PlIdentity *id_a;
	PlIdentity *id_b;
	PlIdentity *id_x; /* the one the mallory tests pretend to be */
	Peer a;
	Peer b;
	GQueue deliveries; /* of Delivery*, in the order sent */
	guint delivery_id;
};

typedef struct {
	Peer *to;
	gchar *from;
	JsonObject *body;
} Delivery;

static void
delivery_free(Delivery *delivery)
{
	g_free(delivery->from);
	json_object_unref(delivery->body);
	g_free(delivery);
}

static void peer_receive(Peer *peer, const PlSignal *signal);

static gboolean
deliver_cb(gpointer user_data)
{
	Fixture *f = user_data;
	Delivery *delivery = g_queue_pop_head(&f->deliveries);
	g_autoptr(PlSignal) signal = NULL;
	g_autoptr(GError) error = NULL;

	if (delivery == NULL) {
		f->delivery_id = 0;
		return G_SOURCE_REMOVE;
	}
	signal = pl_signal_open(delivery->body, delivery->from,
	                        pl_identity_get_peer_id_string(delivery->to->wire),
	                        g_get_real_time() / 1000, &error);
	g_assert_no_error(error);
	g_assert_nonnull(signal);
	peer_receive(delivery->to, signal);
	delivery_free(delivery);
	return G_SOURCE_CONTINUE;
}

/* stamps and seals a signal as peer's wire identity and queues it for the remote */
static void
peer_send(Peer *peer, PlSignal *signal)
{
	Fixture *f = peer->fixture;
	Delivery *delivery;
	g_autoptr(GError) error = NULL;
	JsonObject *body;

	g_free(signal->from);
	signal->from = g_strdup(pl_identity_get_peer_id_string(peer->wire));
	signal->timestamp_ms = g_get_real_time() / 1000;
	g_array_append_val(peer->sent, signal->type);
	g_test_message("%s sends %s (generation %u, %u candidates%s%s%s)", peer->name,
	               pl_signal_type_to_string(signal->type), signal->generation,
	               signal->candidates != NULL ? signal->candidates->len : 0,
	               signal->end_of_candidates ? ", end" : "",
	               signal->reason_code != NULL ? ", " : "",
	               signal->reason_code != NULL ? signal->reason_code : "");
	body = pl_signal_seal(signal, peer->wire, &error);
	g_assert_no_error(error);
	g_assert_nonnull(body);
	delivery = g_new0(Delivery, 1);
	delivery->to = peer->remote;
	delivery->from = g_strdup(signal->from);
	delivery->body = body;
	g_queue_push_tail(&f->deliveries, delivery);
	if (f->delivery_id == 0)
		f->delivery_id = g_idle_add(deliver_cb, f);
}

static void
on_send_signal(PlSession *session, PlSignal *signal, gpointer user_data)
{
	peer_send(user_data, signal);
}

static void
on_established(PlSession *session, gpointer user_data)
{
	Peer *peer = user_data;

	g_assert_false(peer->closed);
	g_assert_cmpint(pl_session_get_state(session), ==, PL_SESSION_STATE_ESTABLISHED);
	peer->n_established++;
}

static void
on_closed(PlSession *session, const GError *error, gpointer user_data)
{
	Peer *peer = user_data;

	g_test_message("%s: closed: %s", peer->name, error != NULL ? error->message : "cleanly");
	g_assert_false(peer->closed);
	g_assert_cmpint(pl_session_get_state(session), ==, PL_SESSION_STATE_CLOSED);
	peer->closed = TRUE;
	peer->closed_at = g_get_monotonic_time();
	peer->error = error != NULL ? g_error_copy(error) : NULL;
}

static void
on_state_changed(PlSession *session, gpointer user_data)
{
	Peer *peer = user_data;

	if (pl_session_get_state(session) == PL_SESSION_STATE_RESTARTING)
		peer->saw_restarting = TRUE;
}

static void
peer_adopt(Peer *peer, PlSession *session)
{
	g_assert_null(peer->session);
	peer->session = session;
	g_signal_connect(session, "send-signal", G_CALLBACK(on_send_signal), peer);
	g_signal_connect(session, "established", G_CALLBACK(on_established), peer);
	g_signal_connect(session, "closed", G_CALLBACK(on_closed), peer);
	g_signal_connect(session, "state-changed", G_CALLBACK(on_state_changed), peer);
	pl_session_start(session);
}

/* a reply to an offer that opened no session: a reject or a fake answer */
static PlSignal *
new_reply(const PlSignal *offer, PlSignalType type)
{
	PlSignal *reply = pl_signal_new(type);

	reply->to = g_strdup(offer->from);
	reply->session_id = g_strdup(offer->session_id);
	reply->seq = 1;
	return reply;
}

static void
peer_answer_offer(Peer *peer, const PlSignal *offer)
{
	g_autoptr(PlSignal) reply = NULL;
	g_autoptr(GError) error = NULL;

	switch (peer->policy) {
	case OFFER_ACCEPT:
		peer_adopt(peer, pl_session_new_incoming(peer->context, 1, offer, &error));
		g_assert_no_error(error);
		break;
	case OFFER_REJECT:
		reply = new_reply(offer, PL_SIGNAL_TYPE_REJECT);
		reply->reason_code = g_strdup(peer->reject_code);
		reply->reason_message =
		        g_strdup_printf("%s turns %s away", peer->name, offer->service);
		peer_send(peer, reply);
		break;
	case OFFER_FAKE_ANSWER:
		reply = new_reply(offer, PL_SIGNAL_TYPE_ANSWER);
		reply->ufrag = g_strdup("fake");
		reply->pwd = g_strdup("0123456789abcdefghijklmnop");
		for (guint i = 0; i < peer->fake_candidates->len; i++)
			g_ptr_array_add(reply->candidates,
			                g_strdup(g_ptr_array_index(peer->fake_candidates, i)));
		reply->end_of_candidates = TRUE;
		peer_send(peer, reply);
		break;
	case OFFER_IGNORE:
		break;
	}
}

static void
peer_receive(Peer *peer, const PlSignal *signal)
{
	g_array_append_val(peer->received, signal->type);
	g_test_message("%s receives %s (generation %u)", peer->name,
	               pl_signal_type_to_string(signal->type), signal->generation);
	if (peer->policy == OFFER_IGNORE)
		return;
	/* as the manager: a closed session is forgotten, its signals go nowhere */
	if (peer->session != NULL) {
		if (!peer->closed &&
		    g_strcmp0(signal->session_id, pl_session_get_session_id(peer->session)) == 0)
			pl_session_handle_signal(peer->session, signal);
		return;
	}
	if (signal->type == PL_SIGNAL_TYPE_OFFER && signal->generation == 0)
		peer_answer_offer(peer, signal);
}

static void
peer_connect(Peer *peer, PlIdentity *to, const gchar *service, guint timeout_ms)
{
	g_autoptr(GError) error = NULL;
	PlSession *session = pl_session_new_outgoing(
	        peer->context, 1, pl_identity_get_peer_id_string(to), service, timeout_ms, &error);

	g_assert_no_error(error);
	g_assert_nonnull(session);
	g_assert_true(pl_session_is_outgoing(session));
	g_assert_cmpint(pl_session_get_state(session), ==, PL_SESSION_STATE_CONNECTING);
	peer_adopt(peer, session);
}

static gboolean
peer_sent(Peer *peer, PlSignalType type)
{
	for (guint i = 0; i < peer->sent->len; i++) {
		if (g_array_index(peer->sent, PlSignalType, i) == type)
			return TRUE;
	}
	return FALSE;
}

static gboolean
peer_received(Peer *peer, PlSignalType type)
{
	for (guint i = 0; i < peer->received->len; i++) {
		if (g_array_index(peer->received, PlSignalType, i) == type)
			return TRUE;
	}
	return FALSE;
}

static gint64
peer_describe_int(Peer *peer, const gchar *member)
{
	g_autoptr(JsonObject) info = pl_session_describe(peer->session);

	return json_object_get_int_member(info, member);
}

/* a context that gathers host candidates on loopback only and accepts the peer's */
static PlSessionContext *
new_loopback_context(PlIdentity *identity)
{
	g_autoptr(GError) error = NULL;
	PlSessionContext *context = pl_session_context_new(identity, &error);

	g_assert_no_error(error);
	g_assert_nonnull(context);
	g_ptr_array_add(context->ice.local_addresses, g_strdup("127.0.0.1"));
	context->ice.upnp = FALSE;
	context->ice.allow_local_remotes = TRUE;
	g_assert_cmpuint(context->ice.stun_servers->len, ==, 0);
	g_assert_cmpuint(context->ice.turn_servers->len, ==, 0);
	return context;
}

static PlIdentity *
new_identity(void)
{
	g_autoptr(GError) error = NULL;
	PlIdentity *identity = pl_identity_generate(&error);

	g_assert_no_error(error);
	g_assert_nonnull(identity);
	return identity;
}

/* identity: whose key its context holds (TLS); wire: whom it appears as (signals) */
static void
peer_init(Peer *peer, Fixture *f, const gchar *name, PlIdentity *identity, PlIdentity *wire)
{
	peer->fixture = f;
	peer->name = name;
	peer->wire = g_object_ref(wire);
	peer->context = new_loopback_context(identity);
	peer->sent = g_array_new(FALSE, FALSE, sizeof(PlSignalType));
	peer->received = g_array_new(FALSE, FALSE, sizeof(PlSignalType));
	peer->fake_candidates = g_ptr_array_new_with_free_func(g_free);
}

static void
peer_clear(Peer *peer)
{
	if (peer->session != NULL)
		g_signal_handlers_disconnect_by_data(peer->session, peer);
	g_clear_object(&peer->session);
	g_clear_pointer(&peer->context, pl_session_context_unref);
	g_clear_object(&peer->wire);
	g_clear_error(&peer->error);
	g_clear_pointer(&peer->sent, g_array_unref);
	g_clear_pointer(&peer->received, g_array_unref);
	g_clear_pointer(&peer->fake_candidates, g_ptr_array_unref);
}

/* gives peer another context identity (and wire name), before any session */
static void
peer_reinit(Peer *peer, PlIdentity *identity, PlIdentity *wire)
{
	Fixture *f = peer->fixture;
	const gchar *name = peer->name;
	Peer *remote = peer->remote;

	g_assert_null(peer->session);
	peer_clear(peer);
	peer_init(peer, f, name, identity, wire);
	peer->remote = remote;
}

static void
fixture_set_up(Fixture *f, gconstpointer user_data)
{
	f->id_a = new_identity();
	f->id_b = new_identity();
	f->id_x = new_identity();
	peer_init(&f->a, f, "A", f->id_a, f->id_a);
	peer_init(&f->b, f, "B", f->id_b, f->id_b);
	f->a.remote = &f->b;
	f->b.remote = &f->a;
	f->a.policy = OFFER_ACCEPT;
	f->b.policy = OFFER_ACCEPT;
	g_queue_init(&f->deliveries);
}

static void
fixture_tear_down(Fixture *f, gconstpointer user_data)
{
	peer_clear(&f->a);
	peer_clear(&f->b);
	g_clear_handle_id(&f->delivery_id, g_source_remove);
	g_queue_clear_full(&f->deliveries, (GDestroyNotify)delivery_free);
	/* the libnice agents close asynchronously */
	run_for(100);
	g_clear_object(&f->id_a);
	g_clear_object(&f->id_b);
	g_clear_object(&f->id_x);
}

/* A opens a session to B for service; both get "established" */
static void
establish(Fixture *f, const gchar *service)
{
	peer_connect(&f->a, f->id_b, service, scaled(SESSION_MS));
	WAIT_FOR(f->a.n_established > 0 && f->b.n_established > 0, WAIT_MS);
	g_assert_cmpuint(f->a.n_established, ==, 1);
	g_assert_cmpuint(f->b.n_established, ==, 1);
	g_assert_false(f->a.closed);
	g_assert_false(f->b.closed);
	g_assert_false(pl_session_is_outgoing(f->b.session));
	g_assert_cmpstr(pl_session_get_session_id(f->a.session), ==,
	                pl_session_get_session_id(f->b.session));
	g_assert_cmpstr(pl_session_get_peer(f->a.session), ==,
	                pl_identity_get_peer_id_string(f->id_b));
	g_assert_cmpstr(pl_session_get_peer(f->b.session), ==,
	                pl_identity_get_peer_id_string(f->id_a));
	g_assert_cmpstr(pl_session_get_service(f->b.session), ==, service);
}

/* steals both app fds; echo sessions have none */
static void
take_apps(Fixture *f, App *app_a, App *app_b)
{
	app_init(app_a, pl_session_steal_app_fd(f->a.session));
	g_assert_cmpint(pl_session_steal_app_fd(f->a.session), ==, -1);
	if (app_b == NULL)
		return;
	app_init(app_b, pl_session_steal_app_fd(f->b.session));
	g_assert_cmpint(pl_session_steal_app_fd(f->b.session), ==, -1);
}

static void
assert_loopback_candidate(JsonObject *info, const gchar *member)
{
	JsonObject *candidate = json_object_get_object_member(info, member);

	g_assert_nonnull(candidate);
	g_assert_cmpstr(json_object_get_string_member(candidate, "type"), ==, "host");
	g_assert_cmpstr(json_object_get_string_member(candidate, "address"), ==, "127.0.0.1");
	g_assert_cmpstr(json_object_get_string_member(candidate, "transport"), ==, "udp");
	g_assert_cmpint(json_object_get_int_member(candidate, "port"), >, 0);
}

static gint64
candidate_port(JsonObject *info, const gchar *member)
{
	return json_object_get_int_member(json_object_get_object_member(info, member), "port");
}

static void
assert_established_description(Peer *peer, const gchar *direction, const gchar *service)
{
	g_autoptr(JsonObject) info = pl_session_describe(peer->session);

	g_assert_cmpint(json_object_get_int_member(info, "id"), ==, 1);
	g_assert_cmpstr(json_object_get_string_member(info, "direction"), ==, direction);
	g_assert_cmpstr(json_object_get_string_member(info, "service"), ==, service);
	g_assert_cmpstr(json_object_get_string_member(info, "state"), ==, "established");
	g_assert_cmpstr(json_object_get_string_member(info, "path"), ==, "direct");
	assert_loopback_candidate(info, "local_candidate");
	assert_loopback_candidate(info, "remote_candidate");
	g_assert_cmpfloat(json_object_get_double_member(info, "setup_ms"), >, 0.0);
	g_assert_cmpint(json_object_get_int_member(info, "restarts"), ==, 0);
}

/* the cases */

static void
test_established(Fixture *f, gconstpointer user_data)
{
	static const gchar ping[] = "ping from the offerer";
	static const gchar pong[] = "pong from the answerer";
	g_autoptr(GBytes) bulk = make_data(BULK_SIZE, 1);
	g_autoptr(JsonObject) info_a = NULL;
	g_autoptr(JsonObject) info_b = NULL;
	App app_a = {0};
	App app_b = {0};
	guint n_sent_a;
	guint n_sent_b;
	gint64 start;

	establish(f, SERVICE);
	/* the offer or answer, then at most one batch of late candidates each;
	 * once every candidate is out, signaling falls silent */
	run_for(scaled(100));
	n_sent_a = f->a.sent->len;
	n_sent_b = f->b.sent->len;
	run_for(scaled(300));
	g_assert_cmpuint(f->a.sent->len, ==, n_sent_a);
	g_assert_cmpuint(f->b.sent->len, ==, n_sent_b);
	g_assert_cmpuint(n_sent_a, <=, 2);
	g_assert_cmpuint(n_sent_b, <=, 2);
	assert_established_description(&f->a, "outgoing", SERVICE);
	assert_established_description(&f->b, "incoming", SERVICE);
	info_a = pl_session_describe(f->a.session);
	info_b = pl_session_describe(f->b.session);
	g_assert_cmpint(candidate_port(info_a, "local_candidate"), ==,
	                candidate_port(info_b, "remote_candidate"));
	g_assert_cmpint(candidate_port(info_a, "remote_candidate"), ==,
	                candidate_port(info_b, "local_candidate"));
	take_apps(f, &app_a, &app_b);

	/* both ways */
	app_write(&app_a, (const guint8 *)ping, sizeof(ping), FALSE);
	WAIT_FOR(app_b.received->len >= sizeof(ping), WAIT_MS);
	g_assert_cmpmem(app_b.received->data, app_b.received->len, ping, sizeof(ping));
	app_write(&app_b, (const guint8 *)pong, sizeof(pong), FALSE);
	WAIT_FOR(app_a.received->len >= sizeof(pong), WAIT_MS);
	g_assert_cmpmem(app_a.received->data, app_a.received->len, pong, sizeof(pong));

	/* bulk, one way */
	start = g_get_monotonic_time();
	app_write(&app_a, g_bytes_get_data(bulk, NULL), BULK_SIZE, FALSE);
	WAIT_FOR(app_b.received->len >= sizeof(ping) + BULK_SIZE || app_b.eof ||
	                 app_b.read_errno != 0,
	         4 * WAIT_MS);
	g_test_message("4 MiB in %.0f ms", (g_get_monotonic_time() - start) / 1000.0);
	g_assert_cmpuint(app_b.received->len, ==, sizeof(ping) + BULK_SIZE);
	assert_received(&app_b, sizeof(ping), bulk);
	g_assert_cmpint(peer_describe_int(&f->a, "bytes_sent"), ==, sizeof(ping) + BULK_SIZE);
	g_assert_cmpint(peer_describe_int(&f->b, "bytes_received"), ==, sizeof(ping) + BULK_SIZE);
	g_assert_cmpint(peer_describe_int(&f->b, "bytes_sent"), ==, sizeof(pong));
	g_assert_cmpint(peer_describe_int(&f->a, "bytes_received"), ==, sizeof(pong));
	g_assert_false(f->a.closed);
	g_assert_false(f->b.closed);
	g_assert_false(app_a.eof);

	app_clear(&app_a);
	app_clear(&app_b);
}

static void
test_half_close(Fixture *f, gconstpointer user_data)
{
	static const gchar request[] = "the whole request";
	static const gchar reply[] = "the reply, after the request ended";
	App app_a = {0};
	App app_b = {0};

	establish(f, SERVICE);
	take_apps(f, &app_a, &app_b);

	app_write(&app_a, (const guint8 *)request, sizeof(request), TRUE);
	WAIT_FOR(app_b.eof || app_b.read_errno != 0, WAIT_MS);
	g_assert_cmpint(app_b.read_errno, ==, 0);
	g_assert_cmpmem(app_b.received->data, app_b.received->len, request, sizeof(request));
	g_assert_false(f->a.closed);
	g_assert_false(f->b.closed);

	/* B's direction still works */
	app_write(&app_b, (const guint8 *)reply, sizeof(reply), FALSE);
	WAIT_FOR(app_a.received->len >= sizeof(reply), WAIT_MS);
	g_assert_cmpmem(app_a.received->data, app_a.received->len, reply, sizeof(reply));
	g_assert_false(app_a.eof);
	g_assert_false(f->a.closed);
	g_assert_false(f->b.closed);

	app_write(&app_b, NULL, 0, TRUE);
	WAIT_FOR(app_a.eof || app_a.read_errno != 0, WAIT_MS);
	g_assert_cmpint(app_a.read_errno, ==, 0);
	WAIT_FOR(f->a.closed && f->b.closed, WAIT_MS);
	g_assert_no_error(f->a.error);
	g_assert_no_error(f->b.error);
	g_assert_false(peer_sent(&f->a, PL_SIGNAL_TYPE_CLOSE));
	g_assert_false(peer_sent(&f->b, PL_SIGNAL_TYPE_CLOSE));

	app_clear(&app_a);
	app_clear(&app_b);
}

static void
test_echo(Fixture *f, gconstpointer user_data)
{
	g_autoptr(GBytes) data = make_data(ECHO_SIZE, 2);
	App app_a = {0};

	establish(f, PL_SESSION_ECHO_SERVICE);
	take_apps(f, &app_a, NULL);
	g_assert_cmpint(pl_session_steal_app_fd(f->b.session), ==, -1);

	app_write(&app_a, g_bytes_get_data(data, NULL), ECHO_SIZE, TRUE);
	WAIT_FOR(app_a.eof || app_a.read_errno != 0, 2 * WAIT_MS);
	g_assert_cmpint(app_a.read_errno, ==, 0);
	g_assert_cmpuint(app_a.received->len, ==, ECHO_SIZE);
	assert_received(&app_a, 0, data);
	WAIT_FOR(f->a.closed && f->b.closed, WAIT_MS);
	g_assert_no_error(f->a.error);
	g_assert_no_error(f->b.error);

	app_clear(&app_a);
}

/*
 * A means to reach X; Mallory answers A's offer (the rendezvous or the
 * network delivered it to her) with her own key, and her signals reach A
 * under X's name. TLS must stop A before its app gets a stream.
 */
static void
test_wrong_identity_answerer(Fixture *f, gconstpointer user_data)
{
	g_autoptr(PlIdentity) mallory = new_identity();

	f->b.name = "Mallory";
	peer_reinit(&f->b, mallory, f->id_x);
	peer_connect(&f->a, f->id_x, SERVICE, scaled(SESSION_MS));
	/* no app gets a stream before the far side is authenticated */
	g_assert_cmpint(pl_session_steal_app_fd(f->a.session), ==, -1);

	WAIT_FOR(f->a.closed, WAIT_MS);
	g_assert_error(f->a.error, PL_SESSION_ERROR, PL_SESSION_ERROR_AUTHENTICATION_FAILED);
	g_assert_cmpuint(f->a.n_established, ==, 0);
	g_assert_nonnull(f->b.session);
	WAIT_FOR(f->b.closed, WAIT_MS);
	g_assert_cmpuint(f->b.n_established, ==, 0);
	g_assert_nonnull(f->b.error);
	g_assert_cmpint(peer_describe_int(&f->b, "bytes_received"), ==, 0);
	g_assert_cmpint(peer_describe_int(&f->a, "bytes_sent"), ==, 0);
}

/* Mallory offers under X's name; B expects X's key from the TLS client */
static void
test_wrong_identity_offerer(Fixture *f, gconstpointer user_data)
{
	g_autoptr(PlIdentity) mallory = new_identity();

	f->a.name = "Mallory";
	peer_reinit(&f->a, mallory, f->id_x);
	peer_connect(&f->a, f->id_b, SERVICE, scaled(SESSION_MS));

	WAIT_FOR(f->b.closed, WAIT_MS);
	g_assert_cmpstr(pl_session_get_peer(f->b.session), ==,
	                pl_identity_get_peer_id_string(f->id_x));
	g_assert_error(f->b.error, PL_SESSION_ERROR, PL_SESSION_ERROR_AUTHENTICATION_FAILED);
	g_assert_cmpuint(f->b.n_established, ==, 0);
	/* Mallory's handshake completes, but the accept byte never comes */
	WAIT_FOR(f->a.closed, WAIT_MS);
	g_assert_cmpuint(f->a.n_established, ==, 0);
	g_assert_nonnull(f->a.error);
	g_assert_cmpint(peer_describe_int(&f->b, "bytes_sent"), ==, 0);
	g_assert_cmpint(peer_describe_int(&f->b, "bytes_received"), ==, 0);
}

static void
test_restart(Fixture *f, gconstpointer user_data)
{
	static const gchar after[] = "back over the new path";
	g_autoptr(GBytes) data = make_data(RESTART_SIZE, 3);
	const guint8 *bytes = g_bytes_get_data(data, NULL);
	const gsize tail = 1024 * 1024; /* held back until the new path carries the stream */
	g_autoptr(JsonObject) info = NULL;
	App app_a = {0};
	App app_b = {0};

	establish(f, SERVICE);
	take_apps(f, &app_a, &app_b);

	app_write(&app_a, bytes, RESTART_SIZE - tail, FALSE);
	WAIT_FOR(app_b.received->len >= RESTART_SIZE / 4, 2 * WAIT_MS);
	g_test_message("restarting with %u of %u bytes through", app_b.received->len,
	               RESTART_SIZE - (guint)tail);
	pl_session_restart_ice(f->a.session);
	g_assert_cmpint(pl_session_get_state(f->a.session), ==, PL_SESSION_STATE_RESTARTING);
	WAIT_FOR(pl_session_get_state(f->a.session) == PL_SESSION_STATE_ESTABLISHED || f->a.closed,
	         WAIT_MS);
	g_assert_false(f->a.closed);
	g_assert_cmpint(peer_describe_int(&f->a, "restarts"), >=, 1);

	app_write(&app_a, bytes + RESTART_SIZE - tail, tail, FALSE);
	WAIT_FOR(app_b.received->len >= RESTART_SIZE || app_b.eof || app_b.read_errno != 0,
	         4 * WAIT_MS);
	g_assert_cmpuint(app_b.received->len, ==, RESTART_SIZE);
	assert_received(&app_b, 0, data);

	/* B followed the restart */
	WAIT_FOR(pl_session_get_state(f->b.session) == PL_SESSION_STATE_ESTABLISHED || f->b.closed,
	         WAIT_MS);
	g_assert_false(f->b.closed);
	g_assert_true(f->b.saw_restarting);
	g_assert_cmpint(peer_describe_int(&f->b, "restarts"), >=, 1);
	g_assert_true(f->a.saw_restarting);
	g_assert_cmpint(pl_session_get_state(f->a.session), ==, PL_SESSION_STATE_ESTABLISHED);
	info = pl_session_describe(f->a.session);
	g_assert_cmpstr(json_object_get_string_member(info, "state"), ==, "established");
	g_assert_cmpstr(json_object_get_string_member(info, "path"), ==, "direct");
	assert_loopback_candidate(info, "local_candidate");
	assert_loopback_candidate(info, "remote_candidate");

	/* and the reverse direction */
	app_write(&app_b, (const guint8 *)after, sizeof(after), FALSE);
	WAIT_FOR(app_a.received->len >= sizeof(after), WAIT_MS);
	g_assert_cmpmem(app_a.received->data, app_a.received->len, after, sizeof(after));
	g_assert_false(f->a.closed);
	g_assert_false(f->b.closed);

	app_clear(&app_a);
	app_clear(&app_b);
}

static void
test_close(Fixture *f, gconstpointer user_data)
{
	static const gchar hello[] = "hello";
	g_autoptr(GError) reason =
	        g_error_new_literal(PL_SESSION_ERROR, PL_SESSION_ERROR_CLOSED, "the test hangs up");
	App app_a = {0};
	App app_b = {0};

	establish(f, SERVICE);
	take_apps(f, &app_a, &app_b);
	app_write(&app_a, (const guint8 *)hello, sizeof(hello), FALSE);
	WAIT_FOR(app_b.received->len >= sizeof(hello), WAIT_MS);

	pl_session_close(f->a.session, reason);
	WAIT_FOR(f->a.closed && f->b.closed, WAIT_MS);
	g_assert_error(f->a.error, PL_SESSION_ERROR, PL_SESSION_ERROR_CLOSED);
	g_assert_cmpstr(f->a.error->message, ==, "the test hangs up");
	g_assert_error(f->b.error, PL_SESSION_ERROR, PL_SESSION_ERROR_CLOSED);
	/* the reason travels in the close signal */
	g_assert_cmpstr(f->b.error->message, ==, "the test hangs up");
	g_assert_true(peer_sent(&f->a, PL_SIGNAL_TYPE_CLOSE));
	g_assert_true(peer_received(&f->b, PL_SIGNAL_TYPE_CLOSE));
	g_assert_false(peer_sent(&f->b, PL_SIGNAL_TYPE_CLOSE));

	/* both apps see their streams reset */
	WAIT_FOR((app_a.eof || app_a.read_errno != 0) && (app_b.eof || app_b.read_errno != 0),
	         WAIT_MS);
	g_assert_cmpint(app_a.read_errno, ==, ECONNRESET);
	g_assert_cmpint(app_b.read_errno, ==, ECONNRESET);

	app_clear(&app_a);
	app_clear(&app_b);
}

static void
test_reject(Fixture *f, gconstpointer user_data)
{
	const gchar *code = user_data;
	gint expected = g_str_equal(code, "refused") ? PL_SESSION_ERROR_REFUSED
	                                             : PL_SESSION_ERROR_UNKNOWN_SERVICE;

	f->b.policy = OFFER_REJECT;
	f->b.reject_code = code;
	peer_connect(&f->a, f->id_b, SERVICE, scaled(SESSION_MS));
	WAIT_FOR(f->a.closed, WAIT_MS);
	g_assert_error(f->a.error, PL_SESSION_ERROR, expected);
	g_assert_cmpstr(f->a.error->message, ==, "B turns " SERVICE " away");
	g_assert_cmpuint(f->a.n_established, ==, 0);
	/* the peer ended it: no close back */
	g_assert_false(peer_sent(&f->a, PL_SIGNAL_TYPE_CLOSE));
}

/* a UDP port on loopback that nobody listens on */
static guint16
dead_udp_port(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocket) socket = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
	                                         G_SOCKET_PROTOCOL_UDP, &error);
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) address = g_inet_socket_address_new(loopback, 0);
	g_autoptr(GSocketAddress) bound = NULL;

	g_assert_no_error(error);
	g_assert_true(g_socket_bind(socket, address, FALSE, &error));
	g_assert_no_error(error);
	bound = g_socket_get_local_address(socket, &error);
	g_assert_no_error(error);
	return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

/*
 * The answer names a UDP port nobody listens on: libnice's checks of the
 * only pair go unanswered (the STUN retransmissions take about 7.4 s), it
 * declares the component failed, and the session ends with UNREACHABLE
 * before its connect timeout.
 */
static void
test_unreachable_dead_port(Fixture *f, gconstpointer user_data)
{
	gint64 start = g_get_monotonic_time();
	gint64 elapsed_ms;

	f->b.policy = OFFER_FAKE_ANSWER;
	g_ptr_array_add(f->b.fake_candidates,
	                g_strdup_printf("candidate:1 1 UDP 2130706431 127.0.0.1 %u typ host",
	                                dead_udp_port()));
	peer_connect(&f->a, f->id_b, SERVICE, UNREACHABLE_MS);
	WAIT_FOR(f->a.closed, UNREACHABLE_MS + WAIT_MS);
	elapsed_ms = (f->a.closed_at - start) / 1000;
	g_test_message("failed after %" G_GINT64_FORMAT " ms", elapsed_ms);
	g_assert_error(f->a.error, PL_SESSION_ERROR, PL_SESSION_ERROR_UNREACHABLE);
	g_assert_cmpint(elapsed_ms, <, UNREACHABLE_MS);
	g_assert_cmpuint(f->a.n_established, ==, 0);
	g_assert_true(peer_sent(&f->a, PL_SIGNAL_TYPE_CLOSE));
}

/*
 * The answer has no candidates and says so (end-of-candidates): no pair can
 * ever form (libnice itself would wait forever), so the session fails at
 * once instead of at its connect timeout.
 */
static void
test_unreachable_no_candidates(Fixture *f, gconstpointer user_data)
{
	gint64 start = g_get_monotonic_time();
	gint64 elapsed_ms;

	f->b.policy = OFFER_FAKE_ANSWER;
	peer_connect(&f->a, f->id_b, SERVICE, NO_PAIR_MS);
	WAIT_FOR(f->a.closed, NO_PAIR_MS + WAIT_MS);
	elapsed_ms = (f->a.closed_at - start) / 1000;
	g_test_message("failed after %" G_GINT64_FORMAT " ms", elapsed_ms);
	g_assert_true(peer_received(&f->a, PL_SIGNAL_TYPE_ANSWER));
	g_assert_error(f->a.error, PL_SESSION_ERROR, PL_SESSION_ERROR_UNREACHABLE);
	g_assert_cmpint(elapsed_ms, <, NO_PAIR_MS);
	g_assert_cmpuint(f->a.n_established, ==, 0);
	g_assert_true(peer_sent(&f->a, PL_SIGNAL_TYPE_CLOSE));
}

static void
test_timeout(Fixture *f, gconstpointer user_data)
{
	gint64 start = g_get_monotonic_time();
	gint64 elapsed_ms;

	f->b.policy = OFFER_IGNORE;
	peer_connect(&f->a, f->id_b, SERVICE, TIMEOUT_MS);
	WAIT_FOR(f->a.closed, TIMEOUT_MS + WAIT_MS);
	elapsed_ms = (f->a.closed_at - start) / 1000;
	g_test_message("timed out after %" G_GINT64_FORMAT " ms", elapsed_ms);
	g_assert_error(f->a.error, PL_SESSION_ERROR, PL_SESSION_ERROR_TIMED_OUT);
	g_assert_cmpint(elapsed_ms, >=, TIMEOUT_MS);
	g_assert_cmpint(elapsed_ms, <, scaled(TIMEOUT_MS + 1000));
	g_assert_cmpuint(f->a.n_established, ==, 0);
	g_assert_true(peer_received(&f->b, PL_SIGNAL_TYPE_OFFER));
	g_assert_true(peer_sent(&f->a, PL_SIGNAL_TYPE_CLOSE));
}

int
main(int argc, char **argv)
{
	int rc;

	g_test_init(&argc, &argv, NULL);
#ifdef RUNNING_ON_VALGRIND
	if (RUNNING_ON_VALGRIND)
		time_scale = 20;
#endif
	waker = g_source_new(&waker_funcs, sizeof(GSource));
	g_source_attach(waker, NULL);

	g_test_add("/peerlink/session/established", Fixture, NULL, fixture_set_up, test_established,
	           fixture_tear_down);
	g_test_add("/peerlink/session/half-close", Fixture, NULL, fixture_set_up, test_half_close,
	           fixture_tear_down);
	g_test_add("/peerlink/session/echo", Fixture, NULL, fixture_set_up, test_echo,
	           fixture_tear_down);
	g_test_add("/peerlink/session/wrong-identity/answerer", Fixture, NULL, fixture_set_up,
	           test_wrong_identity_answerer, fixture_tear_down);
	g_test_add("/peerlink/session/wrong-identity/offerer", Fixture, NULL, fixture_set_up,
	           test_wrong_identity_offerer, fixture_tear_down);
	g_test_add("/peerlink/session/restart", Fixture, NULL, fixture_set_up, test_restart,
	           fixture_tear_down);
	g_test_add("/peerlink/session/close", Fixture, NULL, fixture_set_up, test_close,
	           fixture_tear_down);
	g_test_add("/peerlink/session/reject/unknown-service", Fixture, "unknown-service",
	           fixture_set_up, test_reject, fixture_tear_down);
	g_test_add("/peerlink/session/reject/refused", Fixture, "refused", fixture_set_up,
	           test_reject, fixture_tear_down);
	g_test_add("/peerlink/session/unreachable/dead-port", Fixture, NULL, fixture_set_up,
	           test_unreachable_dead_port, fixture_tear_down);
	g_test_add("/peerlink/session/unreachable/no-candidates", Fixture, NULL, fixture_set_up,
	           test_unreachable_no_candidates, fixture_tear_down);
	g_test_add("/peerlink/session/timeout", Fixture, NULL, fixture_set_up, test_timeout,
	           fixture_tear_down);

	rc = g_test_run();
	g_source_destroy(waker);
	g_source_unref(waker);
	return rc;
}
