/*
 * Peer sessions between two real agents on loopback, through a real
 * rendezvous service: streams both ways with hash checks, half-close, many
 * streams at once, every error a connect can meet, close, ping, and a peer
 * agent killed in the middle of a stream.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "pl-identity.h"
#include "pl-test-checker.h"
#include "pl-test-daemons.h"

/* stretched when the agents run under valgrind */
#define CALL_TIMEOUT_MS pl_test_checker_scale(20000)
#define CHUNK           (64 * 1024)

typedef struct {
	PlTestNet *net;
	PlTestAgent *alice;
	PlTestAgent *bob;
	PlClient *a;              /* alice's app */
	PlClient *b;              /* bob's app */
	GQueue incoming;          /* fds handed to bob's app, as GINT_TO_POINTER */
	GPtrArray *closed_events; /* JsonObject params of "session-closed", both apps */
} Fixture;

static void
on_event(PlClient *client,
         const gchar *name,
         JsonObject *params,
         GUnixFDList *fd_list,
         gpointer user_data)
{
	Fixture *fx = user_data;

	if (g_strcmp0(name, "session-closed") == 0)
		g_ptr_array_add(fx->closed_events, json_object_ref(params));
}

static void set_up_agents(Fixture *fx, const gchar *config);

/* data: the agents' extra config, or NULL for IPv4 loopback */
static void
fixture_set_up(Fixture *fx, gconstpointer data)
{
	fx->net = pl_test_net_new();
	set_up_agents(fx, data);
}

/* the same with a rendezvous that lets a burst of signals through: many sessions at once */
static void
fixture_set_up_many(Fixture *fx, gconstpointer data)
{
	const gchar *const args[] = {"--rate", "10000", "--burst", "10000", NULL};

	fx->net = pl_test_net_new_stopped();
	fx->net->service_args = g_strdupv((gchar **)args);
	pl_test_net_start_service(fx->net);
	set_up_agents(fx, data);
}

static void
set_up_agents(Fixture *fx, const gchar *config)
{
	if (config == NULL)
		config = PL_TEST_LOOPBACK_CONFIG;
	fx->alice = pl_test_net_start_agent(fx->net, "alice", config);
	fx->bob = pl_test_net_start_agent(fx->net, "bob", config);
	fx->a = pl_test_agent_client(fx->alice);
	fx->b = pl_test_agent_client(fx->bob);
	fx->closed_events = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
	g_signal_connect(fx->a, "event", G_CALLBACK(on_event), fx);
	g_signal_connect(fx->b, "event", G_CALLBACK(on_event), fx);
	pl_test_collect_incoming(fx->a, &fx->incoming);
	pl_test_collect_incoming(fx->b, &fx->incoming);
}

static void
fixture_tear_down(Fixture *fx, gconstpointer data)
{
	gpointer fd;

	if (g_test_failed())
		pl_test_net_dump_logs(fx->net);
	while ((fd = g_queue_pop_head(&fx->incoming)) != NULL)
		close(GPOINTER_TO_INT(fd));
	g_ptr_array_unref(fx->closed_events);
	g_clear_object(&fx->a);
	g_clear_object(&fx->b);
	pl_test_net_free(fx->net);
}

/* IPC */

static JsonObject *
call_ok(PlClient *client, const gchar *method, JsonObject *params, GUnixFDList **fd_list)
{
	g_autoptr(GError) error = NULL;
	JsonObject *result = pl_test_call(client, method, params, fd_list, CALL_TIMEOUT_MS, &error);

	g_assert_no_error(error);
	return result;
}

/* the error code of a call that must fail */
static gchar *
call_error(PlClient *client, const gchar *method, JsonObject *params)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) result =
	        pl_test_call(client, method, params, NULL, CALL_TIMEOUT_MS, &error);

	g_assert_null(result);
	g_assert_error(error, PL_IPC_ERROR, error->code);
	g_test_message("%s: %s", method, error->message);
	return g_strdup(pl_ipc_error_to_string(error->code));
}

static void
listen_on(PlClient *client, const gchar *service, const gchar *allow)
{
	g_autoptr(JsonObject) params = json_object_new();
	g_autoptr(JsonObject) result = NULL;

	json_object_set_string_member(params, "service", service);
	if (allow != NULL) {
		JsonArray *array = json_array_new();
		json_array_add_string_element(array, allow);
		json_object_set_array_member(params, "allow", array);
	}
	result = call_ok(client, "listen", params, NULL);
	g_assert_cmpstr(json_object_get_string_member(result, "service"), ==, service);
}

static JsonObject *
connect_params(const gchar *peer, const gchar *service)
{
	JsonObject *params = json_object_new();

	json_object_set_string_member(params, "peer", peer);
	json_object_set_string_member(params, "service", service);
	return params;
}

/* the stream's fd; *session gets the session object */
static gint
connect_to(PlClient *client, const gchar *peer, const gchar *service, JsonObject **session)
{
	g_autoptr(JsonObject) params = connect_params(peer, service);
	g_autoptr(GUnixFDList) fd_list = NULL;
	g_autoptr(JsonObject) result = call_ok(client, "connect", params, &fd_list);
	gint fd;

	g_assert_nonnull(fd_list);
	g_assert_cmpint(g_unix_fd_list_get_length(fd_list), ==, 1);
	fd = g_unix_fd_list_get(fd_list, 0, NULL);
	g_assert_cmpint(fd, >=, 0);
	if (session != NULL)
		*session = json_object_ref(json_object_get_object_member(result, "session"));
	return fd;
}

static gint
next_incoming(Fixture *fx)
{
	gint fd = pl_test_pop_incoming(&fx->incoming, pl_test_checker_scale(10000));

	g_assert_cmpint(fd, >=, 0);
	return fd;
}

/* the params of the session-closed event for session id, waiting for it */
static JsonObject *
wait_closed_event(Fixture *fx, gint64 session)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)pl_test_checker_scale(10000) * 1000;

	while (g_get_monotonic_time() < deadline) {
		for (guint i = 0; i < fx->closed_events->len; i++) {
			JsonObject *params = g_ptr_array_index(fx->closed_events, i);
			if (json_object_get_int_member(params, "session") == session)
				return params;
		}
		g_main_context_iteration(NULL, TRUE);
	}
	g_assert_not_reached();
}

/* data on plain blocking sockets, in threads */

typedef struct {
	gint fd;
	GBytes *data;  /* to send, then SHUT_WR */
	gboolean echo; /* or: send back what arrives until EOF, then SHUT_WR */
	GByteArray *received;
	gint error; /* errno of a failed read or write */
} PlPump;

static gboolean
write_all(gint fd, const guint8 *data, gsize len, gint *error)
{
	while (len > 0) {
		gssize n = send(fd, data, MIN(len, CHUNK), MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*error = errno;
			return FALSE;
		}
		data += n;
		len -= (gsize)n;
	}
	return TRUE;
}

static gpointer
send_thread(gpointer user_data)
{
	PlPump *pump = user_data;
	gsize len = 0;
	const guint8 *data = g_bytes_get_data(pump->data, &len);

	if (write_all(pump->fd, data, len, &pump->error))
		shutdown(pump->fd, SHUT_WR);
	return NULL;
}

/* reads until EOF or an error; echoes when asked */
static gpointer
receive_thread(gpointer user_data)
{
	PlPump *pump = user_data;
	g_autofree guint8 *buf = g_malloc(CHUNK);

	pump->received = g_byte_array_new();
	for (;;) {
		gssize n = recv(pump->fd, buf, CHUNK, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			pump->error = errno;
			break;
		}
		if (n == 0) {
			if (pump->echo)
				shutdown(pump->fd, SHUT_WR);
			break;
		}
		if (pump->echo && !write_all(pump->fd, buf, (gsize)n, &pump->error))
			break;
		if (!pump->echo)
			g_byte_array_append(pump->received, buf, (guint)n);
	}
	return NULL;
}

static GBytes *
random_bytes(gsize len)
{
	guint8 *data = g_malloc(len);

	for (gsize i = 0; i < len; i += 4) {
		guint32 value = g_random_int();
		memcpy(data + i, &value, MIN(4, len - i));
	}
	return g_bytes_new_take(data, len);
}

/* runs the main context while the threads work */
static void
join_all(GThread **threads, guint n)
{
	for (guint i = 0; i < n; i++)
		g_thread_join(threads[i]);
}

/* data from one fd to the other, checked by SHA-256, with throughput printed */
static void
transfer(gint from, gint to, gsize len)
{
	g_autoptr(GBytes) data = random_bytes(len);
	PlPump sender = {.fd = from, .data = data};
	PlPump receiver = {.fd = to};
	gint64 start = g_get_monotonic_time();
	GThread *threads[2];
	g_autofree gchar *sent_hash = NULL;
	g_autofree gchar *received_hash = NULL;
	gdouble seconds;

	threads[0] = g_thread_new("send", send_thread, &sender);
	threads[1] = g_thread_new("receive", receive_thread, &receiver);
	join_all(threads, 2);
	seconds = (g_get_monotonic_time() - start) / 1e6;
	g_assert_cmpint(sender.error, ==, 0);
	g_assert_cmpint(receiver.error, ==, 0);
	g_assert_cmpuint(receiver.received->len, ==, len);
	sent_hash = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, data);
	received_hash = g_compute_checksum_for_data(G_CHECKSUM_SHA256, receiver.received->data,
	                                            receiver.received->len);
	g_assert_cmpstr(sent_hash, ==, received_hash);
	g_test_message("%" G_GSIZE_FORMAT " bytes in %.2f s: %.1f MB/s, sha256 %.16s...", len,
	               seconds, len / seconds / 1e6, sent_hash);
	g_byte_array_unref(receiver.received);
}

static void
assert_candidate_at(JsonObject *session, const gchar *member, const gchar *address)
{
	JsonObject *candidate = json_object_get_object_member(session, member);

	g_assert_nonnull(candidate);
	g_assert_cmpstr(json_object_get_string_member(candidate, "type"), ==, "host");
	g_assert_cmpstr(json_object_get_string_member(candidate, "address"), ==, address);
	g_assert_cmpint(json_object_get_int_member(candidate, "port"), >, 0);
	g_assert_cmpstr(json_object_get_string_member(candidate, "transport"), ==, "udp");
}

static gchar *
read_to_eof(gint fd)
{
	GString *text = g_string_new(NULL);
	gchar buf[256];
	gssize n;

	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		g_string_append_len(text, buf, n);
	g_assert_cmpint(n, ==, 0);
	return g_string_free(text, FALSE);
}

static void
assert_candidate(JsonObject *session, const gchar *member)
{
	assert_candidate_at(session, member, "127.0.0.1");
}

/* one stream from a to b's listener: 1 MiB, then half-close and an answer */
static void
stream_with_half_close(
        Fixture *fx, PlClient *from, PlClient *to, PlTestAgent *target, const gchar *service)
{
	g_autoptr(JsonObject) session = NULL;
	g_autofree gchar *answer = NULL;
	gint from_fd;
	gint to_fd;

	listen_on(to, service, NULL);
	from_fd = connect_to(from, target->peer_id, service, &session);
	to_fd = next_incoming(fx);
	g_assert_cmpstr(json_object_get_string_member(session, "peer"), ==, target->peer_id);
	g_assert_cmpstr(json_object_get_string_member(session, "service"), ==, service);
	g_assert_cmpstr(json_object_get_string_member(session, "direction"), ==, "outgoing");
	g_assert_cmpstr(json_object_get_string_member(session, "state"), ==, "established");
	g_assert_cmpstr(json_object_get_string_member(session, "path"), ==, "direct");
	g_assert_cmpfloat(json_object_get_double_member(session, "setup_ms"), >, 0);
	assert_candidate(session, "local_candidate");
	assert_candidate(session, "remote_candidate");

	/* 1 MiB and the half-close travel one way; the answer comes back after it */
	transfer(from_fd, to_fd, 1024 * 1024);
	g_assert_cmpint(send(to_fd, "done", 4, MSG_NOSIGNAL), ==, 4);
	shutdown(to_fd, SHUT_WR);
	answer = read_to_eof(from_fd);
	g_assert_cmpstr(answer, ==, "done");
	close(from_fd);
	close(to_fd);
	g_assert_cmpstr(
	        json_object_get_string_member(
	                wait_closed_event(fx, json_object_get_int_member(session, "id")), "code"),
	        ==, "done");
}

static void
test_connect_listen(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonObject) sessions = NULL;

	stream_with_half_close(fx, fx->a, fx->b, fx->bob, "files");
	stream_with_half_close(fx, fx->b, fx->a, fx->alice, "chat");
	sessions = call_ok(fx->a, "sessions", NULL, NULL);
	g_assert_nonnull(json_object_get_array_member(sessions, "sessions"));
}

static void
test_large(Fixture *fx, gconstpointer data)
{
	gint from_fd;
	gint to_fd;

	/* under valgrind the agents move about 2 MB/s: less, same paths */
	gsize size = (pl_test_checker_is_wrapped() ? 16 : 100) * 1024 * 1024;

	listen_on(fx->b, "bulk", NULL);
	from_fd = connect_to(fx->a, fx->bob->peer_id, "bulk", NULL);
	to_fd = next_incoming(fx);
	transfer(from_fd, to_fd, size);
	close(from_fd);
	close(to_fd);
}

#define N_STREAMS 50

static void
test_concurrent(Fixture *fx, gconstpointer data)
{
	PlPump senders[N_STREAMS] = {0};
	PlPump echoers[N_STREAMS] = {0};
	PlPump readers[N_STREAMS] = {0};
	GThread *threads[3 * N_STREAMS];
	guint n_threads = 0;
	g_autoptr(GBytes) payload = random_bytes(256 * 1024);
	g_autoptr(GPtrArray) requests = g_ptr_array_new();

	listen_on(fx->b, "echo-app", NULL);
	/* half to an app that echoes, half to the agent's own echo service */
	for (guint i = 0; i < N_STREAMS; i++) {
		const gchar *service = i % 2 == 0 ? "echo-app" : "peerlink.echo";
		senders[i].fd = connect_to(fx->a, fx->bob->peer_id, service, NULL);
		if (i % 2 == 0) {
			echoers[i].fd = next_incoming(fx);
			echoers[i].echo = TRUE;
			threads[n_threads++] = g_thread_new("echo", receive_thread, &echoers[i]);
		}
	}
	for (guint i = 0; i < N_STREAMS; i++) {
		senders[i].data = payload;
		readers[i].fd = senders[i].fd;
		threads[n_threads++] = g_thread_new("send", send_thread, &senders[i]);
		threads[n_threads++] = g_thread_new("read", receive_thread, &readers[i]);
	}
	join_all(threads, n_threads);
	for (guint i = 0; i < N_STREAMS; i++) {
		g_assert_cmpint(senders[i].error, ==, 0);
		g_assert_cmpint(readers[i].error, ==, 0);
		g_assert_cmpuint(readers[i].received->len, ==, g_bytes_get_size(payload));
		g_assert_cmpmem(readers[i].received->data, readers[i].received->len,
		                g_bytes_get_data(payload, NULL), g_bytes_get_size(payload));
		g_byte_array_unref(readers[i].received);
		if (echoers[i].received != NULL)
			g_byte_array_unref(echoers[i].received);
		close(senders[i].fd);
		if (i % 2 == 0)
			close(echoers[i].fd);
	}
}

static void
test_errors(Fixture *fx, gconstpointer data)
{
	g_autoptr(PlClient) b2 = pl_test_agent_client(fx->bob);
	g_autoptr(PlIdentity) stranger = pl_identity_generate(NULL);
	g_autoptr(JsonObject) params = NULL;
	g_autoptr(JsonObject) taken = json_object_new();
	g_autoptr(JsonObject) reserved = json_object_new();
	g_autoptr(JsonObject) close_params = json_object_new();
	g_autofree gchar *code = NULL;

	/* nobody listens */
	params = connect_params(fx->bob->peer_id, "nothing-here");
	code = call_error(fx->a, "connect", params);
	g_assert_cmpstr(code, ==, "unknown-service");
	g_clear_pointer(&code, g_free);

	/* a second app on the same service */
	listen_on(fx->b, "taken", NULL);
	json_object_set_string_member(taken, "service", "taken");
	code = call_error(b2, "listen", taken);
	g_assert_cmpstr(code, ==, "service-taken");
	g_clear_pointer(&code, g_free);

	/* not on the allow list */
	listen_on(b2, "friends-only", pl_identity_get_peer_id_string(stranger));
	g_clear_pointer(&params, json_object_unref);
	params = connect_params(fx->bob->peer_id, "friends-only");
	code = call_error(fx->a, "connect", params);
	g_assert_cmpstr(code, ==, "refused");
	g_clear_pointer(&code, g_free);

	/* the listener went away */
	pl_client_close(b2);
	g_clear_object(&b2);
	g_usleep(100000);
	g_main_context_iteration(NULL, FALSE);
	code = call_error(fx->a, "connect", params);
	g_assert_cmpstr(code, ==, "unknown-service");
	g_clear_pointer(&code, g_free);

	/* a peer that is not online */
	g_clear_pointer(&params, json_object_unref);
	params = connect_params(pl_identity_get_peer_id_string(stranger), "files");
	code = call_error(fx->a, "connect", params);
	g_assert_cmpstr(code, ==, "peer-offline");
	g_clear_pointer(&code, g_free);

	/* bad parameters */
	g_clear_pointer(&params, json_object_unref);
	params = connect_params("not-a-peer", "files");
	code = call_error(fx->a, "connect", params);
	g_assert_cmpstr(code, ==, "invalid-params");
	g_clear_pointer(&code, g_free);
	json_object_set_string_member(reserved, "service", "peerlink.echo");
	code = call_error(fx->a, "listen", reserved);
	g_assert_cmpstr(code, ==, "invalid-params");
	g_clear_pointer(&code, g_free);
	json_object_set_int_member(close_params, "session", 4242);
	code = call_error(fx->a, "close", close_params);
	g_assert_cmpstr(code, ==, "unknown-session");
}

/* a reset: the read fails with ECONNRESET within timeout_s */
static void
assert_reset(gint fd, guint timeout_s)
{
	struct timeval tv = {.tv_sec = timeout_s};
	gchar buf[64];
	gssize n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	do
		n = recv(fd, buf, sizeof(buf), 0);
	while (n > 0);
	g_assert_cmpint(n, ==, -1);
	g_assert_cmpint(errno, ==, ECONNRESET);
}

static void
test_close(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonObject) session = NULL;
	g_autoptr(JsonObject) params = json_object_new();
	g_autoptr(JsonObject) result = NULL;
	gint from_fd;
	gint to_fd;

	listen_on(fx->b, "closeme", NULL);
	from_fd = connect_to(fx->a, fx->bob->peer_id, "closeme", &session);
	to_fd = next_incoming(fx);
	json_object_set_int_member(params, "session", json_object_get_int_member(session, "id"));
	result = call_ok(fx->a, "close", params, NULL);
	assert_reset(from_fd, 5);
	assert_reset(to_fd, 5);
	g_assert_cmpstr(
	        json_object_get_string_member(
	                wait_closed_event(fx, json_object_get_int_member(session, "id")), "code"),
	        ==, "closed");
	close(from_fd);
	close(to_fd);
}

static void
test_ping(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonObject) params = json_object_new();
	g_autoptr(JsonObject) result = NULL;

	json_object_set_string_member(params, "peer", fx->bob->peer_id);
	json_object_set_int_member(params, "count", 5);
	result = call_ok(fx->a, "ping", params, NULL);
	g_assert_cmpstr(json_object_get_string_member(result, "peer"), ==, fx->bob->peer_id);
	g_assert_cmpstr(json_object_get_string_member(result, "path"), ==, "direct");
	g_assert_cmpfloat(json_object_get_double_member(result, "rtt_ms"), >, 0);
	g_assert_cmpfloat(json_object_get_double_member(result, "setup_ms"), >, 0);
	g_assert_cmpuint(
	        json_array_get_length(json_object_get_array_member(result, "rtt_ms_samples")), ==,
	        5);
	assert_candidate(result, "local_candidate");
	assert_candidate(result, "remote_candidate");
	g_test_message("ping: rtt %.3f ms, setup %.1f ms",
	               json_object_get_double_member(result, "rtt_ms"),
	               json_object_get_double_member(result, "setup_ms"));
}

/* IPv6 host candidates: a session over ::1 */
static void
test_ipv6(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonObject) session = NULL;
	gint from_fd;
	gint to_fd;

	listen_on(fx->b, "v6", NULL);
	from_fd = connect_to(fx->a, fx->bob->peer_id, "v6", &session);
	to_fd = next_incoming(fx);
	assert_candidate_at(session, "local_candidate", "::1");
	assert_candidate_at(session, "remote_candidate", "::1");
	transfer(from_fd, to_fd, 1024 * 1024);
	close(from_fd);
	close(to_fd);
}

/* PL_SESSION_MANAGER_MAX_SESSIONS_PER_PEER (agent/pl-session-manager.h) */
#define PER_PEER_LIMIT 64
#define ECHO_SERVICE   "peerlink.echo"

/* bob's sessions with alice, from bob's "sessions" */
static guint
count_sessions_with(PlClient *client, const gchar *peer)
{
	g_autoptr(JsonObject) result = call_ok(client, "sessions", NULL, NULL);
	JsonArray *sessions = json_object_get_array_member(result, "sessions");
	guint n = 0;

	for (guint i = 0; i < json_array_get_length(sessions); i++) {
		JsonObject *session = json_array_get_object_element(sessions, i);
		n += g_strcmp0(json_object_get_string_member(session, "peer"), peer) == 0;
	}
	return n;
}

/* a few bytes through the echo and back */
static void
assert_echoes(gint fd, guint n)
{
	g_autofree gchar *text = g_strdup_printf("stream %03u", n);
	gsize len = strlen(text);
	gchar back[16] = {0};
	gsize got = 0;

	g_assert_cmpint(send(fd, text, len, MSG_NOSIGNAL), ==, (gssize)len);
	while (got < len) {
		gssize r = recv(fd, back + got, len - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		g_assert_cmpint(r, >, 0);
		got += (gsize)r;
	}
	g_assert_cmpmem(back, got, text, len);
}

/*
 * One peer may hold 64 sessions with an agent: alice opens 64 to bob's echo
 * service, the 65th is refused (bob rejects it as "busy", alice's app gets
 * "refused"), and the 64 keep working; once one ends, another may open.
 * docs/security.md.
 */
static void
test_per_peer_limit(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonObject) params = connect_params(fx->bob->peer_id, ECHO_SERVICE);
	g_autoptr(JsonObject) refused = NULL;
	g_autoptr(GError) error = NULL;
	gint fds[PER_PEER_LIMIT];
	gint64 deadline;
	struct timeval timeout = {.tv_sec = pl_test_checker_scale(10000) / 1000};

	for (guint i = 0; i < PER_PEER_LIMIT; i++) {
		fds[i] = connect_to(fx->a, fx->bob->peer_id, ECHO_SERVICE, NULL);
		g_assert_cmpint(
		        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)), ==,
		        0);
	}
	g_assert_cmpuint(count_sessions_with(fx->b, fx->alice->peer_id), ==, PER_PEER_LIMIT);

	refused = pl_test_call(fx->a, "connect", params, NULL, CALL_TIMEOUT_MS, &error);
	g_assert_null(refused);
	g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_REFUSED);
	g_test_message("the 65th: %s", error->message);
	g_assert_nonnull(strstr(error->message, "64 sessions"));
	g_clear_error(&error);

	/* the others are not disturbed */
	for (guint i = 0; i < PER_PEER_LIMIT; i++)
		assert_echoes(fds[i], i);
	g_assert_cmpuint(count_sessions_with(fx->b, fx->alice->peer_id), ==, PER_PEER_LIMIT);

	/* the limit is on sessions open at once */
	close(fds[0]);
	deadline = g_get_monotonic_time() + (gint64)pl_test_checker_scale(10000) * 1000;
	while (count_sessions_with(fx->b, fx->alice->peer_id) == PER_PEER_LIMIT) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_usleep(20000);
	}
	fds[0] = connect_to(fx->a, fx->bob->peer_id, ECHO_SERVICE, NULL);
	assert_echoes(fds[0], 0);
	for (guint i = 0; i < PER_PEER_LIMIT; i++)
		close(fds[i]);
}

/*
 * Peer IDs cost nothing to make, so an agent also bounds the sessions all
 * peers together hold with it (max-incoming-sessions; here 2 for bob): a
 * third offer is refused whoever makes it, while bob's own outgoing sessions
 * do not count. docs/security.md.
 */
static void
test_incoming_limit(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonObject) params = connect_params(fx->bob->peer_id, ECHO_SERVICE);
	g_autoptr(PlClient) c = NULL;
	g_autoptr(GError) error = NULL;
	PlTestAgent *carol = pl_test_net_start_agent(fx->net, "carol", PL_TEST_LOOPBACK_CONFIG);
	gint fds[3];

	c = pl_test_agent_client(carol);
	fds[0] = connect_to(fx->a, fx->bob->peer_id, ECHO_SERVICE, NULL);
	fds[1] = connect_to(c, fx->bob->peer_id, ECHO_SERVICE, NULL);
	/* bob's own session toward alice is not one offered to bob */
	fds[2] = connect_to(fx->b, fx->alice->peer_id, ECHO_SERVICE, NULL);

	g_assert_null(pl_test_call(fx->a, "connect", params, NULL, CALL_TIMEOUT_MS, &error));
	g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_REFUSED);
	g_test_message("alice's third: %s", error->message);
	g_assert_nonnull(strstr(error->message, "2 sessions offered by peers"));
	g_clear_error(&error);
	g_assert_null(pl_test_call(c, "connect", params, NULL, CALL_TIMEOUT_MS, &error));
	g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_REFUSED);
	g_clear_error(&error);

	for (guint i = 0; i < G_N_ELEMENTS(fds); i++) {
		assert_echoes(fds[i], i);
		close(fds[i]);
	}
}

/* the peer agent dies: the local app gets a reset, not a hang */
static void
test_peer_killed(Fixture *fx, gconstpointer data)
{
	gint64 start;
	gint from_fd;
	gint to_fd;

	listen_on(fx->b, "doomed", NULL);
	from_fd = connect_to(fx->a, fx->bob->peer_id, "doomed", NULL);
	to_fd = next_incoming(fx);
	g_assert_cmpint(send(from_fd, "x", 1, MSG_NOSIGNAL), ==, 1);
	pl_test_agent_kill(fx->bob, SIGKILL);
	start = g_get_monotonic_time();
	assert_reset(from_fd, 60);
	g_test_message("the app saw the reset %.1f s after the peer agent died",
	               (g_get_monotonic_time() - start) / 1e6);
	close(from_fd);
	close(to_fd);
}

int
main(int argc, char *argv[])
{
	g_test_init(&argc, &argv, NULL);
	g_test_add("/peerlink/sessions/connect-listen", Fixture, NULL, fixture_set_up,
	           test_connect_listen, fixture_tear_down);
	g_test_add("/peerlink/sessions/large", Fixture, NULL, fixture_set_up, test_large,
	           fixture_tear_down);
	g_test_add("/peerlink/sessions/concurrent", Fixture, NULL, fixture_set_up, test_concurrent,
	           fixture_tear_down);
	g_test_add("/peerlink/sessions/errors", Fixture, NULL, fixture_set_up, test_errors,
	           fixture_tear_down);
	g_test_add("/peerlink/sessions/close", Fixture, NULL, fixture_set_up, test_close,
	           fixture_tear_down);
	g_test_add("/peerlink/sessions/ping", Fixture, NULL, fixture_set_up, test_ping,
	           fixture_tear_down);
	g_test_add("/peerlink/sessions/ipv6", Fixture, "addresses=::1\nloopback=true\nupnp=false\n",
	           fixture_set_up, test_ipv6, fixture_tear_down);
	g_test_add("/peerlink/sessions/peer-killed", Fixture, NULL, fixture_set_up,
	           test_peer_killed, fixture_tear_down);
	g_test_add("/peerlink/sessions/per-peer-limit", Fixture, NULL, fixture_set_up_many,
	           test_per_peer_limit, fixture_tear_down);
	g_test_add("/peerlink/sessions/incoming-limit", Fixture,
	           PL_TEST_LOOPBACK_CONFIG "max-incoming-sessions=2\n", fixture_set_up,
	           test_incoming_limit, fixture_tear_down);
	return g_test_run();
}
