/*
 * rendezvous-bench: load test of peerlink-rendezvous (docs/rendezvous-api.md).
 *
 * Starts the service on a free loopback port, signs in N peers and holds N
 * WebSockets open, then pushes "send" frames from S senders to S distinct
 * receivers and measures what arrives. It prints figures; it does not judge
 * them. See bench/README.md for what each figure means.
 *
 * The peers that only need to stay online can live in worker processes
 * (--workers, the same executable in --worker mode) so that the process that
 * measures latency does not poll thousands of idle sockets on every wakeup.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>

#include "pl-identity.h"
#include "pl-rendezvous-protocol.h"

#define BENCH_PREFIX             "rendezvous-bench:"
#define BENCH_PING_SLOTS         8 /* each peer is considered for a ping every 8 s */
#define BENCH_PING_IDLE_US       (4 * G_USEC_PER_SEC)
#define BENCH_MAX_ATTEMPTS       5
#define BENCH_HTTP_TIMEOUT_US    (30 * G_USEC_PER_SEC)
#define BENCH_SERVICE_START_US   (15 * G_USEC_PER_SEC)
#define BENCH_DRAIN_US           (5 * G_USEC_PER_SEC)
#define BENCH_SHUTDOWN_US        (5 * G_USEC_PER_SEC)
#define BENCH_MESSAGE_KIND       "bench"
#define BENCH_WORKER_NAP_US      2000   /* a worker gathers events this long per iteration, */
#define BENCH_WORKER_NAP_US_PEER 5      /* plus this much per peer it holds, */
#define BENCH_WORKER_IDLE_NAP_US 100000 /* and this long once its peers are connected */
#define BENCH_SERVICE_RATE_LIMIT "1000000"

typedef enum {
	PEER_ROLE_IDLE,
	PEER_ROLE_SENDER,
	PEER_ROLE_RECEIVER,
} PeerRole;

typedef enum {
	TRAFFIC_OFF,
	TRAFFIC_WARMUP,
	TRAFFIC_MEASURE,
	TRAFFIC_DRAIN,
} TrafficState;

typedef struct _Bench Bench;

typedef struct {
	Bench *bench;
	guint index;
	PeerRole role;
	guint partner; /* the receiver of a sender, the sender of a receiver */
	guint attempts;
	PlIdentity *identity; /* only while signing in */
	gchar *peer_id;
	gchar *token;
	SoupWebsocketConnection *ws;
	gint64 last_tx_us;
	gint64 next_seq;   /* sender: the last sequence number sent */
	guint outstanding; /* sender: sent, neither delivered nor refused */
	gint64 last_seq;   /* receiver: the highest sequence number seen */
} Peer;

typedef struct {
	const gchar *name;
	guint rate; /* messages per second over all senders; 0: as fast as the window allows */
	gint64 warmup_us;
	gint64 measure_us;
	TrafficState state;
	gint64 t_start;
	gint64 t_measure;
	gint64 t_stop;
	gint64 t_end;
	guint64 phase_sent; /* since t_start, to pace the rate */
	guint next_sender;
	/* counted between t_measure and t_stop */
	guint64 sent;
	guint64 accepted;
	guint64 delivered;
	guint64 throttled;
	GArray *latencies_us; /* guint32 */
	/* counted over the whole phase */
	guint64 total_sent;
	guint64 total_delivered;
	guint64 duplicates;
	guint64 stray;
	GHashTable *errors; /* code → count */
	guint64 undelivered;
	/* CPU time (ms) of each process over the measurement window */
	gdouble service_cpu_ms;
	gdouble bench_cpu_ms;
	gdouble workers_cpu_ms;
} Traffic;

typedef struct {
	Bench *bench;
	GSubprocess *process;
	GDataInputStream *lines;
	guint first;
	guint count;
	gboolean ready;
	gboolean done;
	guint connected;
	guint failed;
	guint disconnected;
} Worker;

struct _Bench {
	/* options */
	gint total_peers;
	gint senders;
	gint seconds;
	gint window;
	gint workers;
	gint handshakes;
	gint body_size;
	gint latency_rate;
	gint latency_seconds;
	gint connect_timeout;
	gchar *service_path;
	gchar **service_args;
	gboolean quick;
	gboolean connection_close;
	gboolean worker_mode;
	gchar *worker_url;
	gint worker_first;
	gint worker_count;

	/* state */
	gboolean aborted;
	gboolean shutting_down;
	gchar *abort_reason;
	GCancellable *cancellable; /* of the handshakes: cancelled when the connect phase ends */
	SoupSession *session;
	GUri *base_uri;
	gchar *base_url;
	gchar *audience;
	GUri *ws_uri;
	gchar *ping_text;
	gchar *pad;
	GSubprocess *service;
	gchar *service_pid;
	guint16 service_port;
	gchar *service_log;
	gchar *tmpdir;
	gboolean service_exited;
	GPtrArray *workers_array; /* Worker */
	guint heartbeat_id;
	guint ping_id;
	guint ping_tick;

	/* peers held by this process */
	Peer *peers;
	guint n_peers;
	guint next_peer;
	guint in_flight;
	guint max_in_flight;
	guint n_connected;
	guint n_failed;
	guint n_disconnected;
	guint64 n_bad_frames;
	guint64 n_pings;
	GHashTable *connect_errors; /* "stage: message" → count, retried or not */
	GHashTable *close_codes;    /* code → count */
	guint n_active;             /* peers [0, n_active) send and receive */

	Traffic *traffic;
};

/* -------------------------------------------------------------------------- */
/* small helpers */

static gdouble
elapsed_s(gint64 from_us, gint64 to_us)
{
	return (gdouble)(to_us - from_us) / G_USEC_PER_SEC;
}

static void
count_string(GHashTable *table, const gchar *key)
{
	gpointer value = g_hash_table_lookup(table, key);
	g_hash_table_replace(table, g_strdup(key), GUINT_TO_POINTER(GPOINTER_TO_UINT(value) + 1));
}

static gchar *
format_counts(GHashTable *table)
{
	g_autoptr(GList) keys = g_list_sort(g_hash_table_get_keys(table), (GCompareFunc)g_strcmp0);
	GString *str = g_string_new(NULL);

	for (GList *l = keys; l != NULL; l = l->next) {
		guint count = GPOINTER_TO_UINT(g_hash_table_lookup(table, l->data));
		g_string_append_printf(str, "%s%s=%u", str->len > 0 ? " " : "",
		                       (const gchar *)l->data, count);
	}
	if (str->len == 0)
		g_string_append(str, "none");
	return g_string_free(str, FALSE);
}

static guint
count_total(GHashTable *table)
{
	GHashTableIter iter;
	gpointer value;
	guint total = 0;

	g_hash_table_iter_init(&iter, table);
	while (g_hash_table_iter_next(&iter, NULL, &value))
		total += GPOINTER_TO_UINT(value);
	return total;
}

static void
bench_abort(Bench *bench, const gchar *reason)
{
	if (bench->aborted)
		return;
	bench->aborted = TRUE;
	bench->abort_reason = g_strdup(reason);
	g_printerr("%s aborting: %s\n", BENCH_PREFIX, reason);
}

/* one iteration of the default context; the heartbeat bounds how long it blocks */
static void
bench_iterate(void)
{
	g_main_context_iteration(NULL, TRUE);
}

/*
 * An iteration of a GLib main context costs time in proportion to its sources
 * (poll() and the check of every socket's GSource), whatever is ready. A worker
 * holds thousands of idle WebSockets and nothing it does is timed, so it naps
 * between iterations and handles everything that became ready meanwhile at once.
 */
static void
bench_worker_iterate(gulong nap_us)
{
	g_main_context_iteration(NULL, TRUE);
	g_usleep(nap_us);
}

static gboolean
bench_heartbeat_cb(gpointer user_data)
{
	return G_SOURCE_CONTINUE;
}

static gboolean
bench_signal_cb(gpointer user_data)
{
	bench_abort(user_data, "interrupted");
	return G_SOURCE_CONTINUE;
}

static void
bench_raise_nofile(Bench *bench)
{
	struct rlimit limit;

	if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
		g_printerr("%s getrlimit: %s\n", BENCH_PREFIX, g_strerror(errno));
		return;
	}
	limit.rlim_cur = limit.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &limit) != 0)
		g_printerr("%s setrlimit: %s\n", BENCH_PREFIX, g_strerror(errno));
	if (!bench->worker_mode)
		g_print("%s RLIMIT_NOFILE=%llu (inherited by the service)\n", BENCH_PREFIX,
		        (unsigned long long)limit.rlim_cur);
}

/* -------------------------------------------------------------------------- */
/* /proc */

/* the figures mean little when something else runs on the machine */
static void
bench_print_loadavg(const gchar *when)
{
	g_autofree gchar *contents = NULL;

	if (!g_file_get_contents("/proc/loadavg", &contents, NULL, NULL))
		return;
	g_print("%s load average %s: %s", BENCH_PREFIX, when, contents);
}

/* utime + stime in milliseconds, or -1 */
static gdouble
proc_cpu_ms(const gchar *pid)
{
	g_autofree gchar *path = g_strdup_printf("/proc/%s/stat", pid);
	g_autofree gchar *contents = NULL;
	g_auto(GStrv) fields = NULL;
	const gchar *end;

	if (!g_file_get_contents(path, &contents, NULL, NULL))
		return -1;
	/* the command name may contain spaces: fields start after the last ')' */
	end = strrchr(contents, ')');
	if (end == NULL || end[1] == '\0')
		return -1;
	fields = g_strsplit(end + 2, " ", -1);
	/* field 3 (state) is fields[0]; utime is field 14, stime field 15 */
	if (g_strv_length(fields) < 13)
		return -1;
	return (gdouble)(g_ascii_strtoull(fields[11], NULL, 10) +
	                 g_ascii_strtoull(fields[12], NULL, 10)) *
	       1000.0 / (gdouble)sysconf(_SC_CLK_TCK);
}

/* VmRSS in KiB, or -1 */
static gint64
proc_rss_kib(const gchar *pid)
{
	g_autofree gchar *path = g_strdup_printf("/proc/%s/status", pid);
	g_autofree gchar *contents = NULL;
	const gchar *line;

	if (!g_file_get_contents(path, &contents, NULL, NULL))
		return -1;
	line = strstr(contents, "\nVmRSS:");
	if (line == NULL)
		return -1;
	return g_ascii_strtoll(line + strlen("\nVmRSS:"), NULL, 10);
}

/* TcpExt counters of /proc/net/netstat (system-wide: the machine should be otherwise idle) */
static GHashTable *
netstat_read(void)
{
	GHashTable *table = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autofree gchar *contents = NULL;
	g_auto(GStrv) lines = NULL;

	if (!g_file_get_contents("/proc/net/netstat", &contents, NULL, NULL))
		return table;
	lines = g_strsplit(contents, "\n", -1);
	for (guint i = 0; lines[i] != NULL && lines[i + 1] != NULL; i += 2) {
		g_auto(GStrv) names = g_strsplit(lines[i], " ", -1);
		g_auto(GStrv) values = g_strsplit(lines[i + 1], " ", -1);
		if (!g_str_has_prefix(lines[i], "TcpExt:"))
			continue;
		for (guint j = 1; names[j] != NULL && values[j] != NULL; j++)
			g_hash_table_insert(
			        table, g_strdup(names[j]),
			        GSIZE_TO_POINTER(g_ascii_strtoull(values[j], NULL, 10)));
	}
	return table;
}

static void
netstat_print(GHashTable *before)
{
	g_autoptr(GHashTable) after = netstat_read();
	const gchar *names[] = {"ListenOverflows",      "ListenDrops",    "TCPReqQFullDrop",
	                        "TCPReqQFullDoCookies", "TCPAbortOnData", NULL};
	GString *str = g_string_new(NULL);

	for (guint i = 0; names[i] != NULL; i++) {
		gsize a = GPOINTER_TO_SIZE(g_hash_table_lookup(after, names[i]));
		gsize b = GPOINTER_TO_SIZE(g_hash_table_lookup(before, names[i]));
		g_string_append_printf(str, " %s=%" G_GSIZE_FORMAT, names[i], a - b);
	}
	g_print("%s   kernel TCP counters during the phase:%s\n", BENCH_PREFIX, str->str);
	g_string_free(str, TRUE);
}

/* the service's side of its TCP connections, by state, from /proc/net/tcp */
static void
bench_print_service_sockets(Bench *bench, const gchar *when)
{
	g_autofree gchar *contents = NULL;
	g_autofree gchar *fd_path = g_strdup_printf("/proc/%s/fd", bench->service_pid);
	g_auto(GStrv) lines = NULL;
	g_autoptr(GDir) dir = NULL;
	guint established = 0, close_wait = 0, other = 0, fds = 0;

	if (!g_file_get_contents("/proc/net/tcp", &contents, NULL, NULL))
		return;
	lines = g_strsplit(contents, "\n", -1);
	for (guint i = 1; lines[i] != NULL; i++) {
		g_auto(GStrv) fields = g_strsplit_set(g_strstrip(lines[i]), " ", -1);
		g_autoptr(GPtrArray) cols = g_ptr_array_new();
		const gchar *colon;
		for (guint j = 0; fields[j] != NULL; j++) {
			if (fields[j][0] != '\0')
				g_ptr_array_add(cols, fields[j]);
		}
		/* sl local_address rem_address st ... */
		if (cols->len < 4)
			continue;
		colon = strchr(g_ptr_array_index(cols, 1), ':');
		if (colon == NULL || g_ascii_strtoull(colon + 1, NULL, 16) != bench->service_port)
			continue;
		switch (g_ascii_strtoull(g_ptr_array_index(cols, 3), NULL, 16)) {
		case 0x01:
			established++;
			break;
		case 0x08:
			close_wait++;
			break;
		case 0x0A:
			break; /* the listener */
		default:
			other++;
			break;
		}
	}
	dir = g_dir_open(fd_path, 0, NULL);
	while (dir != NULL && g_dir_read_name(dir) != NULL)
		fds++;
	g_print("%s   service sockets %s: established=%u close_wait=%u other=%u; open fds=%u\n",
	        BENCH_PREFIX, when, established, close_wait, other, fds);
}

static gdouble
bench_workers_cpu_ms(Bench *bench)
{
	gdouble total = 0;

	for (guint i = 0; i < bench->workers_array->len; i++) {
		Worker *worker = g_ptr_array_index(bench->workers_array, i);
		const gchar *pid = g_subprocess_get_identifier(worker->process);
		gdouble ms = pid != NULL ? proc_cpu_ms(pid) : -1;
		if (ms > 0)
			total += ms;
	}
	return total;
}

static gint64
bench_workers_rss_kib(Bench *bench)
{
	gint64 total = 0;

	for (guint i = 0; i < bench->workers_array->len; i++) {
		Worker *worker = g_ptr_array_index(bench->workers_array, i);
		const gchar *pid = g_subprocess_get_identifier(worker->process);
		gint64 kib = pid != NULL ? proc_rss_kib(pid) : -1;
		if (kib > 0)
			total += kib;
	}
	return total;
}

/* -------------------------------------------------------------------------- */
/* HTTP */

static SoupMessage *
bench_new_request(Bench *bench, const gchar *method, const gchar *path, const gchar *body)
{
	g_autoptr(GUri) uri = g_uri_parse_relative(bench->base_uri, path, G_URI_FLAGS_NONE, NULL);
	SoupMessage *msg = soup_message_new_from_uri(method, uri);

	soup_message_headers_replace(soup_message_get_request_headers(msg), "Accept",
	                             "application/json");
	if (bench->connection_close)
		soup_message_headers_replace(soup_message_get_request_headers(msg), "Connection",
		                             "close");
	/* libsoup sends a POST on a fresh connection unless told it may repeat it */
	else
		soup_message_add_flags(msg, SOUP_MESSAGE_IDEMPOTENT);
	if (body != NULL) {
		g_autoptr(GBytes) bytes = g_bytes_new(body, strlen(body));
		soup_message_set_request_body_from_bytes(msg, "application/json", bytes);
	}
	return msg;
}

typedef struct {
	gboolean done;
	GBytes *reply;
	guint status;
	GError *error;
} FetchData;

static void
bench_fetch_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	FetchData *data = user_data;
	SoupSession *session = SOUP_SESSION(source);

	data->reply = soup_session_send_and_read_finish(session, result, &data->error);
	data->status =
	        soup_message_get_status(soup_session_get_async_result_message(session, result));
	data->done = TRUE;
}

/* a blocking GET for the coordinator: the body, with *status set */
static GBytes *
bench_fetch(Bench *bench, const gchar *path, guint *status, GError **error)
{
	g_autoptr(SoupMessage) msg = bench_new_request(bench, "GET", path, NULL);
	g_autoptr(GCancellable) cancellable = g_cancellable_new();
	FetchData data = {0};
	gint64 deadline = g_get_monotonic_time() + BENCH_HTTP_TIMEOUT_US;

	soup_session_send_and_read_async(bench->session, msg, G_PRIORITY_DEFAULT, cancellable,
	                                 bench_fetch_cb, &data);
	while (!data.done) {
		if (g_get_monotonic_time() > deadline || bench->aborted)
			g_cancellable_cancel(cancellable);
		bench_iterate();
	}
	if (data.reply == NULL) {
		g_propagate_error(error, data.error);
		return NULL;
	}
	*status = data.status;
	return data.reply;
}

/* a value of GET /metrics, or -1 */
static gint64
bench_metric(Bench *bench, const gchar *name)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) reply = NULL;
	g_autofree gchar *text = NULL;
	g_auto(GStrv) lines = NULL;
	guint status = 0;
	gsize len = 0;
	const gchar *data;

	reply = bench_fetch(bench, "/metrics", &status, &error);
	if (reply == NULL || status != SOUP_STATUS_OK)
		return -1;
	data = g_bytes_get_data(reply, &len);
	text = g_strndup(data, len);
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		if (g_str_has_prefix(lines[i], name) && lines[i][strlen(name)] == ' ')
			return g_ascii_strtoll(lines[i] + strlen(name) + 1, NULL, 10);
	}
	return -1;
}

static void
bench_print_metrics(Bench *bench)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) reply = NULL;
	g_autofree gchar *text = NULL;
	g_auto(GStrv) lines = NULL;
	guint status = 0;
	gsize len = 0;
	const gchar *data;

	reply = bench_fetch(bench, "/metrics", &status, &error);
	if (reply == NULL || status != SOUP_STATUS_OK) {
		g_print("%s GET /metrics failed: %s\n", BENCH_PREFIX,
		        error != NULL ? error->message : soup_status_get_phrase(status));
		return;
	}
	data = g_bytes_get_data(reply, &len);
	text = g_strndup(data, len);
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		if (lines[i][0] == '#' || lines[i][0] == '\0')
			continue;
		g_print("%s   metric %s\n", BENCH_PREFIX, lines[i]);
	}
}

static gboolean
bench_set_url(Bench *bench, const gchar *url, GError **error)
{
	bench->base_uri = g_uri_parse(url, G_URI_FLAGS_NONE, error);
	if (bench->base_uri == NULL)
		return FALSE;
	bench->base_url = g_strdup(url);
	bench->audience = pl_rendezvous_audience_from_uri(bench->base_uri);
	bench->ws_uri = g_uri_parse_relative(bench->base_uri, "/v1/ws", G_URI_FLAGS_NONE, error);
	if (bench->audience == NULL || bench->ws_uri == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "bad URL %s", url);
		return FALSE;
	}
	/*
	 * Established WebSockets leave the pool; only the handshakes count against it.
	 * Each handshake holds one HTTP connection and opens one for its WebSocket: with
	 * room for both, and idle connections kept, the pool never closes a connection
	 * (libsoup 3.2's server leaks keep-alive connections closed by the client, see
	 * bench/README.md; --connection-close avoids keep-alive altogether).
	 */
	bench->session = soup_session_new_with_options("max-conns", bench->handshakes * 4 + 16,
	                                               "max-conns-per-host",
	                                               bench->handshakes * 4 + 16, "idle-timeout",
	                                               0, "user-agent", "rendezvous-bench", NULL);
	return TRUE;
}

/* -------------------------------------------------------------------------- */
/* traffic: senders, receivers, latency */

static void
peer_send_text(Peer *peer, const gchar *text)
{
	if (peer->ws == NULL ||
	    soup_websocket_connection_get_state(peer->ws) != SOUP_WEBSOCKET_STATE_OPEN)
		return;
	soup_websocket_connection_send_text(peer->ws, text);
	peer->last_tx_us = g_get_monotonic_time();
}

static gboolean
sender_send_one(Peer *sender)
{
	Bench *bench = sender->bench;
	Traffic *traffic = bench->traffic;
	Peer *receiver = &bench->peers[sender->partner];
	g_autoptr(JsonObject) body = json_object_new();
	g_autofree gchar *text = NULL;

	if (sender->ws == NULL || receiver->ws == NULL)
		return FALSE;
	sender->next_seq++;
	json_object_set_int_member(body, "t", g_get_monotonic_time());
	json_object_set_int_member(body, "s", sender->index);
	json_object_set_int_member(body, "n", sender->next_seq);
	if (bench->pad != NULL)
		json_object_set_string_member(body, "pad", bench->pad);
	text = pl_rendezvous_build_send(sender->next_seq, receiver->peer_id, BENCH_MESSAGE_KIND,
	                                body);
	peer_send_text(sender, text);
	sender->outstanding++;
	traffic->phase_sent++;
	traffic->total_sent++;
	if (traffic->state == TRAFFIC_MEASURE)
		traffic->sent++;
	return TRUE;
}

/* closed loop: keep `window` messages in flight per sender */
static void
sender_fill(Peer *sender)
{
	Bench *bench = sender->bench;
	Traffic *traffic = bench->traffic;

	if (traffic == NULL || traffic->rate > 0)
		return;
	if (traffic->state != TRAFFIC_WARMUP && traffic->state != TRAFFIC_MEASURE)
		return;
	while (sender->outstanding < (guint)bench->window) {
		if (!sender_send_one(sender))
			break;
	}
}

/* open loop: send what the rate asks for by now, to senders with room in their window */
static void
traffic_pace(Bench *bench, gint64 now)
{
	Traffic *traffic = bench->traffic;
	guint64 due = (guint64)((now - traffic->t_start) * (gdouble)traffic->rate / G_USEC_PER_SEC);

	while (traffic->phase_sent < due) {
		gboolean sent = FALSE;
		for (guint tries = 0; tries < (guint)bench->senders && !sent; tries++) {
			Peer *sender = &bench->peers[traffic->next_sender];
			traffic->next_sender = (traffic->next_sender + 1) % (guint)bench->senders;
			if (sender->outstanding < (guint)bench->window)
				sent = sender_send_one(sender);
		}
		if (!sent) {
			/* every window is full: the service is behind the offered rate */
			if (traffic->state == TRAFFIC_MEASURE)
				traffic->throttled += due - traffic->phase_sent;
			traffic->phase_sent = due;
		}
	}
}

static void
receiver_on_message(Peer *receiver, PlRendezvousMessage *message, gint64 now)
{
	Bench *bench = receiver->bench;
	Traffic *traffic = bench->traffic;
	g_autofree gchar *ack = pl_rendezvous_frame_build_ack(message->id);
	gint64 t = 0, s = -1, n = 0;
	Peer *sender;

	/* at least once: ack everything, count each sequence number once */
	peer_send_text(receiver, ack);
	if (message->body != NULL) {
		t = json_object_get_int_member_with_default(message->body, "t", 0);
		s = json_object_get_int_member_with_default(message->body, "s", -1);
		n = json_object_get_int_member_with_default(message->body, "n", 0);
	}
	if (traffic == NULL || receiver->role != PEER_ROLE_RECEIVER || s != receiver->partner) {
		if (traffic != NULL)
			traffic->stray++;
		return;
	}
	if (n <= receiver->last_seq) {
		traffic->duplicates++;
		return;
	}
	receiver->last_seq = n;
	sender = &bench->peers[s];
	if (sender->outstanding > 0)
		sender->outstanding--;
	traffic->total_delivered++;
	if (traffic->state == TRAFFIC_MEASURE) {
		guint32 latency = (guint32)CLAMP(now - t, 0, G_MAXUINT32);
		traffic->delivered++;
		g_array_append_val(traffic->latencies_us, latency);
	}
	sender_fill(sender);
}

static void
sender_on_error(Peer *sender, PlRendezvousFrame *frame)
{
	Traffic *traffic = sender->bench->traffic;
	const gchar *code = "unknown";

	if (frame->error != NULL && frame->error->domain == PL_RENDEZVOUS_ERROR)
		code = pl_rendezvous_error_to_string((PlRendezvousErrorCode)frame->error->code);
	if (traffic == NULL) {
		g_autofree gchar *key = g_strdup_printf("error-%s", code);
		count_string(sender->bench->close_codes, key);
		return;
	}
	count_string(traffic->errors, code);
	if (sender->role == PEER_ROLE_SENDER && frame->ref >= 0) {
		if (sender->outstanding > 0)
			sender->outstanding--;
		sender_fill(sender);
	}
}

/* -------------------------------------------------------------------------- */
/* WebSocket frames */

static void
peer_ws_message_cb(SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer user_data)
{
	Peer *peer = user_data;
	Bench *bench = peer->bench;
	g_autoptr(PlRendezvousFrame) frame = NULL;
	g_autoptr(GError) error = NULL;
	gint64 now = g_get_monotonic_time();
	const gchar *data;
	gsize len = 0;

	if (type != SOUP_WEBSOCKET_DATA_TEXT) {
		bench->n_bad_frames++;
		return;
	}
	data = g_bytes_get_data(message, &len);
	frame = pl_rendezvous_frame_parse(data, len, 0, &error);
	if (frame == NULL) {
		bench->n_bad_frames++;
		g_debug("bad frame: %s", error->message);
		return;
	}
	switch (frame->type) {
	case PL_RENDEZVOUS_FRAME_MESSAGE:
		receiver_on_message(peer, frame->message, now);
		break;
	case PL_RENDEZVOUS_FRAME_SENT:
		if (bench->traffic != NULL && bench->traffic->state == TRAFFIC_MEASURE)
			bench->traffic->accepted++;
		break;
	case PL_RENDEZVOUS_FRAME_ERROR:
		sender_on_error(peer, frame);
		break;
	case PL_RENDEZVOUS_FRAME_PONG:
		break;
	default:
		bench->n_bad_frames++;
		break;
	}
}

static void
peer_ws_closed_cb(SoupWebsocketConnection *ws, gpointer user_data)
{
	Peer *peer = user_data;
	Bench *bench = peer->bench;
	g_autofree gchar *code = NULL;

	if (peer->ws != ws)
		return;
	code = g_strdup_printf("close-%u", soup_websocket_connection_get_close_code(ws));
	if (!bench->shutting_down) {
		bench->n_disconnected++;
		count_string(bench->close_codes, code);
	}
	g_signal_handlers_disconnect_by_data(ws, peer);
	g_clear_object(&peer->ws);
	if (bench->n_connected > 0)
		bench->n_connected--;
}

static gboolean
bench_ping_cb(gpointer user_data)
{
	Bench *bench = user_data;
	gint64 now = g_get_monotonic_time();

	/* each peer is looked at every BENCH_PING_SLOTS seconds, and pinged if it was quiet */
	bench->ping_tick++;
	for (guint i = bench->ping_tick % BENCH_PING_SLOTS; i < bench->n_peers;
	     i += BENCH_PING_SLOTS) {
		Peer *peer = &bench->peers[i];
		if (peer->ws != NULL && now - peer->last_tx_us > BENCH_PING_IDLE_US) {
			peer_send_text(peer, bench->ping_text);
			bench->n_pings++;
		}
	}
	return G_SOURCE_CONTINUE;
}

/* -------------------------------------------------------------------------- */
/* signing in and connecting */

static void peer_start(Peer *peer);

static void
bench_connect_next(Bench *bench)
{
	while (!bench->aborted && bench->in_flight < bench->max_in_flight &&
	       bench->next_peer < bench->n_peers) {
		bench->in_flight++;
		peer_start(&bench->peers[bench->next_peer++]);
	}
}

static gboolean
peer_retry_cb(gpointer user_data)
{
	peer_start(user_data);
	return G_SOURCE_REMOVE;
}

static void
peer_failed(Peer *peer, const gchar *stage, const GError *error)
{
	Bench *bench = peer->bench;

	if (g_cancellable_is_cancelled(bench->cancellable)) {
		bench->in_flight--;
		return;
	}
	{
		g_autofree gchar *key = g_strdup_printf("%s: %s", stage, error->message);
		count_string(bench->connect_errors, key);
	}
	g_debug("peer %u: %s: %s", peer->index, stage, error->message);
	peer->attempts++;
	if (peer->attempts < BENCH_MAX_ATTEMPTS) {
		g_timeout_add(100 * peer->attempts, peer_retry_cb, peer);
		return;
	}
	bench->n_failed++;
	bench->in_flight--;
	g_clear_object(&peer->identity);
	bench_connect_next(bench);
}

/* the reply body of a 2xx answer, else NULL and an error */
static GBytes *
peer_reply_finish(SoupSession *session, GAsyncResult *result, GError **error)
{
	g_autoptr(GBytes) reply = soup_session_send_and_read_finish(session, result, error);
	SoupMessage *msg = soup_session_get_async_result_message(session, result);
	guint status;
	const gchar *data;
	gsize len = 0;

	if (reply == NULL)
		return NULL;
	status = soup_message_get_status(msg);
	if (!SOUP_STATUS_IS_SUCCESSFUL(status)) {
		data = g_bytes_get_data(reply, &len);
		g_propagate_error(error, pl_rendezvous_parse_error_reply(status, data, len));
		return NULL;
	}
	return g_steal_pointer(&reply);
}

static void
peer_ws_connect_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Peer *peer = user_data;
	Bench *bench = peer->bench;
	g_autoptr(GError) error = NULL;
	SoupWebsocketConnection *ws;

	ws = soup_session_websocket_connect_finish(SOUP_SESSION(source), result, &error);
	if (ws == NULL) {
		peer_failed(peer, "websocket", error);
		return;
	}
	peer->ws = ws;
	peer->last_tx_us = g_get_monotonic_time();
	g_signal_connect(ws, "message", G_CALLBACK(peer_ws_message_cb), peer);
	g_signal_connect(ws, "closed", G_CALLBACK(peer_ws_closed_cb), peer);
	g_clear_object(&peer->identity);
	g_clear_pointer(&peer->token, g_free);
	bench->n_connected++;
	bench->in_flight--;
	bench_connect_next(bench);
}

static void
peer_session_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Peer *peer = user_data;
	Bench *bench = peer->bench;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) reply = NULL;
	g_autoptr(PlRendezvousSession) session = NULL;
	g_autoptr(SoupMessage) msg = NULL;
	g_autofree gchar *authorization = NULL;
	const gchar *protocols[] = {PL_RENDEZVOUS_WS_PROTOCOL, NULL};
	const gchar *data;
	gsize len = 0;

	reply = peer_reply_finish(SOUP_SESSION(source), result, &error);
	if (reply == NULL) {
		peer_failed(peer, "auth/session", error);
		return;
	}
	data = g_bytes_get_data(reply, &len);
	session = pl_rendezvous_parse_session_reply(data, len, &error);
	if (session == NULL) {
		peer_failed(peer, "auth/session", error);
		return;
	}
	g_free(peer->token);
	peer->token = g_strdup(session->token);
	authorization = g_strdup_printf("Bearer %s", peer->token);
	msg = soup_message_new_from_uri("GET", bench->ws_uri);
	soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization",
	                             authorization);
	soup_session_websocket_connect_async(bench->session, msg, NULL, (gchar **)protocols,
	                                     G_PRIORITY_DEFAULT, bench->cancellable,
	                                     peer_ws_connect_cb, peer);
}

static void
peer_challenge_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Peer *peer = user_data;
	Bench *bench = peer->bench;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) reply = NULL;
	g_autoptr(SoupMessage) msg = NULL;
	g_autofree gchar *challenge = NULL;
	g_autofree gchar *audience = NULL;
	g_autofree gchar *request = NULL;
	const gchar *data;
	gsize len = 0;

	reply = peer_reply_finish(SOUP_SESSION(source), result, &error);
	if (reply == NULL) {
		peer_failed(peer, "auth/challenge", error);
		return;
	}
	data = g_bytes_get_data(reply, &len);
	if (!pl_rendezvous_parse_challenge_reply(data, len, &challenge, &audience, &error)) {
		peer_failed(peer, "auth/challenge", error);
		return;
	}
	/* sign for the authority we talk to, not the one the service claims */
	request = pl_rendezvous_build_session_request(peer->identity, challenge, bench->audience,
	                                              &error);
	if (request == NULL) {
		peer_failed(peer, "sign", error);
		return;
	}
	msg = bench_new_request(bench, "POST", "/v1/auth/session", request);
	soup_session_send_and_read_async(bench->session, msg, G_PRIORITY_DEFAULT,
	                                 bench->cancellable, peer_session_cb, peer);
}

static void
peer_start(Peer *peer)
{
	Bench *bench = peer->bench;
	g_autoptr(GError) error = NULL;
	g_autoptr(SoupMessage) msg = NULL;
	g_autofree gchar *request = NULL;

	if (g_cancellable_is_cancelled(bench->cancellable)) {
		bench->in_flight--;
		return;
	}
	if (peer->identity == NULL) {
		peer->identity = pl_identity_generate(&error);
		if (peer->identity == NULL) {
			peer_failed(peer, "identity", error);
			return;
		}
		g_free(peer->peer_id);
		peer->peer_id = g_strdup(pl_identity_get_peer_id_string(peer->identity));
	}
	request = pl_rendezvous_build_challenge_request(peer->peer_id);
	msg = bench_new_request(bench, "POST", "/v1/auth/challenge", request);
	soup_session_send_and_read_async(bench->session, msg, G_PRIORITY_DEFAULT,
	                                 bench->cancellable, peer_challenge_cb, peer);
}

static void
bench_alloc_peers(Bench *bench, guint n)
{
	bench->n_peers = n;
	bench->peers = g_new0(Peer, MAX(n, 1));
	for (guint i = 0; i < n; i++) {
		bench->peers[i].bench = bench;
		bench->peers[i].index = i;
	}
}

/* start signing in this process's peers; progress shows in n_connected and n_failed */
static void
bench_connect_start(Bench *bench, guint max_in_flight)
{
	bench->max_in_flight = MAX(max_in_flight, 1);
	bench_connect_next(bench);
	if (bench->ping_id == 0)
		bench->ping_id = g_timeout_add_seconds(1, bench_ping_cb, bench);
}

static gboolean
bench_connect_done(Bench *bench)
{
	return bench->next_peer >= bench->n_peers && bench->in_flight == 0;
}

/* -------------------------------------------------------------------------- */
/* worker mode: hold idle peers for the coordinator */

static void
worker_stdin_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Bench *bench = user_data;
	g_autoptr(GBytes) bytes =
	        g_input_stream_read_bytes_finish(G_INPUT_STREAM(source), result, NULL);

	if (bytes == NULL || g_bytes_get_size(bytes) == 0) {
		bench->aborted = TRUE; /* the coordinator is done with us */
		return;
	}
	g_input_stream_read_bytes_async(G_INPUT_STREAM(source), 64, G_PRIORITY_DEFAULT, NULL,
	                                worker_stdin_cb, bench);
}

static gint
bench_run_worker(Bench *bench)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GInputStream) input = g_unix_input_stream_new(STDIN_FILENO, FALSE);
	GHashTableIter iter;
	gpointer key, value;
	gint64 deadline, last_report;

	if (bench->worker_url == NULL || bench->worker_count <= 0) {
		g_printerr("%s --worker needs --worker-url and --worker-count\n", BENCH_PREFIX);
		return EXIT_FAILURE;
	}
	if (!bench_set_url(bench, bench->worker_url, &error)) {
		g_printerr("%s %s\n", BENCH_PREFIX, error->message);
		return EXIT_FAILURE;
	}
	g_input_stream_read_bytes_async(input, 64, G_PRIORITY_DEFAULT, NULL, worker_stdin_cb,
	                                bench);
	bench_alloc_peers(bench, (guint)bench->worker_count);
	bench_connect_start(bench, (guint)bench->handshakes);
	/* lines for the coordinator: "progress C F", "error N TEXT", "ready C F", "done D" */
	deadline = g_get_monotonic_time() + (gint64)bench->connect_timeout * G_USEC_PER_SEC;
	last_report = g_get_monotonic_time();
	while (!bench->aborted && !bench_connect_done(bench) && g_get_monotonic_time() < deadline) {
		bench_worker_iterate(BENCH_WORKER_NAP_US +
		                     BENCH_WORKER_NAP_US_PEER * bench->n_connected);
		if (g_get_monotonic_time() - last_report > G_USEC_PER_SEC) {
			g_print("progress %u %u\n", bench->n_connected, bench->n_failed);
			fflush(stdout);
			last_report = g_get_monotonic_time();
		}
	}
	g_hash_table_iter_init(&iter, bench->connect_errors);
	while (g_hash_table_iter_next(&iter, &key, &value))
		g_print("error %u %s\n", GPOINTER_TO_UINT(value), (const gchar *)key);
	g_print("ready %u %u\n", bench->n_connected, bench->n_peers - bench->n_connected);
	fflush(stdout);
	g_cancellable_cancel(bench->cancellable);
	while (!bench->aborted)
		bench_worker_iterate(BENCH_WORKER_IDLE_NAP_US);
	g_print("done %u\n", bench->n_disconnected);
	fflush(stdout);
	return EXIT_SUCCESS;
}

/* -------------------------------------------------------------------------- */
/* processes */

static void
bench_child_setup(gpointer user_data)
{
	/* never outlive the bench, even when it crashes */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static void
bench_service_exited_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Bench *bench = user_data;

	g_subprocess_wait_finish(G_SUBPROCESS(source), result, NULL);
	bench->service_exited = TRUE;
	if (!bench->shutting_down)
		bench_abort(bench, "the service exited");
}

static guint16
bench_free_port(GError **error)
{
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) address = g_inet_socket_address_new(loopback, 0);
	g_autoptr(GSocketAddress) bound = NULL;

	socket = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
	                      error);
	if (socket == NULL || !g_socket_bind(socket, address, FALSE, error))
		return 0;
	bound = g_socket_get_local_address(socket, error);
	if (bound == NULL)
		return 0;
	return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

static gboolean
bench_service_log_has_warnings(Bench *bench)
{
	g_autofree gchar *contents = NULL;

	if (bench->service_log == NULL ||
	    !g_file_get_contents(bench->service_log, &contents, NULL, NULL))
		return FALSE;
	return strstr(contents, "-WARNING **") != NULL || strstr(contents, "-CRITICAL **") != NULL;
}

static void
bench_print_service_warnings(Bench *bench)
{
	g_autofree gchar *contents = NULL;
	guint warnings = 0, criticals = 0;

	if (bench->service_log == NULL ||
	    !g_file_get_contents(bench->service_log, &contents, NULL, NULL))
		return;
	for (const gchar *p = contents; (p = strstr(p, "-WARNING **")) != NULL; p++)
		warnings++;
	for (const gchar *p = contents; (p = strstr(p, "-CRITICAL **")) != NULL; p++)
		criticals++;
	g_print("%s   service log: %u warnings, %u criticals%s\n", BENCH_PREFIX, warnings,
	        criticals, warnings + criticals > 0 ? " (see the lines printed at the end)" : "");
}

static void
bench_print_service_log(Bench *bench)
{
	g_autofree gchar *contents = NULL;
	gsize len = 0;

	if (bench->service_log == NULL ||
	    !g_file_get_contents(bench->service_log, &contents, &len, NULL))
		return;
	g_printerr("%s service log (%s), last lines:\n", BENCH_PREFIX, bench->service_log);
	g_printerr("%s\n", len > 4000 ? contents + len - 4000 : contents);
}

static gboolean
bench_start_service(Bench *bench, GError **error)
{
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	g_autofree gchar *command = NULL;
	g_autofree gchar *url = NULL;
	guint16 port;
	gint64 deadline;

	port = bench_free_port(error);
	if (port == 0)
		return FALSE;
	bench->service_port = port;
	bench->tmpdir = g_dir_make_tmp("rendezvous-bench-XXXXXX", error);
	if (bench->tmpdir == NULL)
		return FALSE;
	bench->service_log = g_build_filename(bench->tmpdir, "service.log", NULL);

	g_ptr_array_add(argv, g_strdup(bench->service_path));
	g_ptr_array_add(argv, g_strdup("--listen"));
	g_ptr_array_add(argv, g_strdup_printf("127.0.0.1:%u", port));
	/* measure throughput, not the per-sender rate limiter */
	g_ptr_array_add(argv, g_strdup("--rate"));
	g_ptr_array_add(argv, g_strdup(BENCH_SERVICE_RATE_LIMIT));
	g_ptr_array_add(argv, g_strdup("--burst"));
	g_ptr_array_add(argv, g_strdup(BENCH_SERVICE_RATE_LIMIT));
	/* room for a full window, with acks still on their way */
	g_ptr_array_add(argv, g_strdup("--max-inbox"));
	g_ptr_array_add(argv, g_strdup_printf("%d", MAX(256, bench->window * 4)));
	for (guint i = 0; bench->service_args != NULL && bench->service_args[i] != NULL; i++)
		g_ptr_array_add(argv, g_strdup(bench->service_args[i]));
	g_ptr_array_add(argv, NULL);
	command = g_strjoinv(" ", (gchar **)argv->pdata);
	g_print("%s service: %s\n", BENCH_PREFIX, command);

	launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDERR_MERGE);
	g_subprocess_launcher_set_stdout_file_path(launcher, bench->service_log);
	g_subprocess_launcher_set_child_setup(launcher, bench_child_setup, NULL, NULL);
	/* debug logging of 10,000 peers would be what we measure */
	g_subprocess_launcher_unsetenv(launcher, "G_MESSAGES_DEBUG");
	/* libsoup warns about clients that gave up under load: counted, not fatal */
	g_subprocess_launcher_unsetenv(launcher, "G_DEBUG");
	bench->service =
	        g_subprocess_launcher_spawnv(launcher, (const gchar *const *)argv->pdata, error);
	if (bench->service == NULL)
		return FALSE;
	bench->service_pid = g_strdup(g_subprocess_get_identifier(bench->service));
	g_subprocess_wait_async(bench->service, NULL, bench_service_exited_cb, bench);

	url = g_strdup_printf("http://127.0.0.1:%u", port);
	if (!bench_set_url(bench, url, error))
		return FALSE;

	/* ready when GET /v1/health answers */
	deadline = g_get_monotonic_time() + BENCH_SERVICE_START_US;
	while (!bench->aborted && g_get_monotonic_time() < deadline) {
		g_autoptr(GError) error_local = NULL;
		g_autoptr(GBytes) reply = NULL;
		guint status = 0;
		gint64 wait_until = g_get_monotonic_time() + 100 * 1000;

		reply = bench_fetch(bench, "/v1/health", &status, &error_local);
		if (reply != NULL && status == SOUP_STATUS_OK) {
			g_print("%s service pid=%s url=%s\n", BENCH_PREFIX, bench->service_pid,
			        url);
			return TRUE;
		}
		while (!bench->aborted && g_get_monotonic_time() < wait_until)
			bench_iterate();
	}
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
	            "the service did not answer GET /v1/health at %s", url);
	return FALSE;
}

static void
worker_line_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Worker *worker = user_data;
	g_autofree gchar *line = NULL;
	g_auto(GStrv) fields = NULL;

	line = g_data_input_stream_read_line_finish_utf8(G_DATA_INPUT_STREAM(source), result, NULL,
	                                                 NULL);
	if (line == NULL) {
		worker->done = TRUE;
		worker->ready = TRUE;
		return;
	}
	fields = g_strsplit(line, " ", 3);
	if (g_strv_length(fields) >= 3 &&
	    (g_strcmp0(fields[0], "progress") == 0 || g_strcmp0(fields[0], "ready") == 0)) {
		worker->connected = (guint)g_ascii_strtoull(fields[1], NULL, 10);
		worker->failed = (guint)g_ascii_strtoull(fields[2], NULL, 10);
		if (g_strcmp0(fields[0], "ready") == 0)
			worker->ready = TRUE;
	} else if (g_strv_length(fields) == 3 && g_strcmp0(fields[0], "error") == 0) {
		guint count = (guint)g_ascii_strtoull(fields[1], NULL, 10);
		gpointer value = g_hash_table_lookup(worker->bench->connect_errors, fields[2]);
		g_hash_table_replace(worker->bench->connect_errors, g_strdup(fields[2]),
		                     GUINT_TO_POINTER(GPOINTER_TO_UINT(value) + count));
	} else if (g_strv_length(fields) >= 2 && g_strcmp0(fields[0], "done") == 0) {
		worker->disconnected = (guint)g_ascii_strtoull(fields[1], NULL, 10);
		worker->done = TRUE;
	}
	g_data_input_stream_read_line_async(worker->lines, G_PRIORITY_DEFAULT, NULL, worker_line_cb,
	                                    worker);
}

static void
worker_free(Worker *worker)
{
	g_clear_object(&worker->lines);
	g_clear_object(&worker->process);
	g_free(worker);
}

static gboolean
bench_spawn_worker(Bench *bench, guint first, guint count, guint handshakes, GError **error)
{
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autofree gchar *self_path = g_file_read_link("/proc/self/exe", error);
	g_autofree gchar *first_text = g_strdup_printf("%u", first);
	g_autofree gchar *count_text = g_strdup_printf("%u", count);
	g_autofree gchar *handshakes_text = g_strdup_printf("%u", handshakes);
	g_autofree gchar *timeout_text = g_strdup_printf("%d", bench->connect_timeout);
	const gchar *argv[] = {self_path,
	                       "--worker",
	                       "--worker-url",
	                       bench->base_url,
	                       "--worker-first",
	                       first_text,
	                       "--worker-count",
	                       count_text,
	                       "--handshakes",
	                       handshakes_text,
	                       "--connect-timeout",
	                       timeout_text,
	                       bench->connection_close ? "--connection-close" : NULL,
	                       NULL};
	Worker *worker;

	if (self_path == NULL)
		return FALSE;
	launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_PIPE |
	                                     G_SUBPROCESS_FLAGS_STDOUT_PIPE);
	g_subprocess_launcher_set_child_setup(launcher, bench_child_setup, NULL, NULL);
	worker = g_new0(Worker, 1);
	worker->bench = bench;
	worker->first = first;
	worker->count = count;
	worker->process = g_subprocess_launcher_spawnv(launcher, argv, error);
	if (worker->process == NULL) {
		worker_free(worker);
		return FALSE;
	}
	worker->lines = g_data_input_stream_new(g_subprocess_get_stdout_pipe(worker->process));
	g_data_input_stream_read_line_async(worker->lines, G_PRIORITY_DEFAULT, NULL, worker_line_cb,
	                                    worker);
	g_ptr_array_add(bench->workers_array, worker);
	return TRUE;
}

static void
bench_stop_workers(Bench *bench)
{
	gint64 deadline = g_get_monotonic_time() + BENCH_SHUTDOWN_US;

	for (guint i = 0; i < bench->workers_array->len; i++) {
		Worker *worker = g_ptr_array_index(bench->workers_array, i);
		g_output_stream_close(g_subprocess_get_stdin_pipe(worker->process), NULL, NULL);
	}
	for (guint i = 0; i < bench->workers_array->len; i++) {
		Worker *worker = g_ptr_array_index(bench->workers_array, i);
		while (!worker->done && g_get_monotonic_time() < deadline)
			bench_iterate();
		if (!worker->done)
			g_subprocess_force_exit(worker->process);
	}
}

static void
bench_stop_service(Bench *bench)
{
	gint64 deadline = g_get_monotonic_time() + BENCH_SHUTDOWN_US;

	if (bench->service == NULL)
		return;
	if (!bench->service_exited) {
		g_subprocess_send_signal(bench->service, SIGTERM);
		while (!bench->service_exited && g_get_monotonic_time() < deadline)
			bench_iterate();
	}
	if (!bench->service_exited) {
		g_print("%s the service did not exit on SIGTERM within %.0f s: killed\n",
		        BENCH_PREFIX, elapsed_s(0, BENCH_SHUTDOWN_US));
		g_subprocess_force_exit(bench->service);
		while (!bench->service_exited)
			bench_iterate();
	}
}

/* -------------------------------------------------------------------------- */
/* phase 1: connections */

typedef struct {
	guint connected;
	gdouble connect_s;
	gint64 rss_before_kib;
	gint64 rss_after_kib;
	gint64 peers_online;
	gdouble service_cpu_ms;
	gdouble bench_cpu_ms;
} ConnectResult;

static guint
bench_total_connected(Bench *bench, gboolean *all_ready, guint *failed)
{
	guint connected = bench->n_connected;

	*all_ready = bench_connect_done(bench);
	*failed = bench->n_failed;
	for (guint i = 0; i < bench->workers_array->len; i++) {
		Worker *worker = g_ptr_array_index(bench->workers_array, i);
		if (!worker->ready)
			*all_ready = FALSE;
		connected += worker->connected;
		*failed += worker->failed;
	}
	return connected;
}

static gboolean
bench_connect_all(Bench *bench, ConnectResult *res, GError **error)
{
	guint n_idle = (guint)bench->total_peers - bench->n_active;
	guint n_workers = n_idle > 0 ? (guint)bench->workers : 0;
	guint share = (guint)bench->handshakes / (n_workers + 1);
	gint64 t_start, deadline, last_report;
	gdouble cpu_service_0, cpu_bench_0;
	gboolean all_ready = FALSE;
	guint failed = 0;
	g_autoptr(GHashTable) netstat_before = NULL;

	/* peers this process holds: the active ones, and the idle ones without workers */
	bench_alloc_peers(bench, n_workers > 0 ? bench->n_active : (guint)bench->total_peers);
	for (guint i = 0; i < (guint)bench->senders; i++) {
		bench->peers[i].role = PEER_ROLE_SENDER;
		bench->peers[i].partner = i + (guint)bench->senders;
		bench->peers[i + bench->senders].role = PEER_ROLE_RECEIVER;
		bench->peers[i + bench->senders].partner = i;
	}

	netstat_before = netstat_read();
	res->rss_before_kib = proc_rss_kib(bench->service_pid);
	cpu_service_0 = proc_cpu_ms(bench->service_pid);
	cpu_bench_0 = proc_cpu_ms("self") + bench_workers_cpu_ms(bench);
	g_print("%s phase 1: connecting %d peers (%u in this process, %u in %u worker processes), "
	        "at most %d handshakes in flight\n",
	        BENCH_PREFIX, bench->total_peers, bench->n_peers, n_workers > 0 ? n_idle : 0,
	        n_workers, bench->handshakes);
	t_start = g_get_monotonic_time();
	deadline = t_start + (gint64)bench->connect_timeout * G_USEC_PER_SEC;
	for (guint i = 0; i < n_workers; i++) {
		guint first = bench->n_active + n_idle * i / n_workers;
		guint next = bench->n_active + n_idle * (i + 1) / n_workers;
		if (!bench_spawn_worker(bench, first, next - first, MAX(share, 1), error))
			return FALSE;
	}
	bench_connect_start(bench, n_workers > 0 ? MAX(share, 1) : (guint)bench->handshakes);
	last_report = t_start;
	while (!bench->aborted && g_get_monotonic_time() < deadline) {
		gint64 now = g_get_monotonic_time();
		guint connected = bench_total_connected(bench, &all_ready, &failed);
		if (all_ready)
			break;
		if (now - last_report > 5 * G_USEC_PER_SEC) {
			g_print("%s   %.1f s: %u connected, %u gave up\n", BENCH_PREFIX,
			        elapsed_s(t_start, now), connected, failed);
			last_report = now;
		}
		bench_iterate();
	}
	res->connect_s = elapsed_s(t_start, g_get_monotonic_time());
	res->connected = bench_total_connected(bench, &all_ready, &failed);
	if (!all_ready)
		g_print("%s   connect phase timed out after %d s\n", BENCH_PREFIX,
		        bench->connect_timeout);
	/* handshakes still under way give up now */
	g_cancellable_cancel(bench->cancellable);
	res->service_cpu_ms = proc_cpu_ms(bench->service_pid) - cpu_service_0;
	res->bench_cpu_ms = proc_cpu_ms("self") + bench_workers_cpu_ms(bench) - cpu_bench_0;

	/* let the service settle (presence bookkeeping, freed handshake buffers) */
	{
		gint64 settle = g_get_monotonic_time() + G_USEC_PER_SEC;
		while (!bench->aborted && g_get_monotonic_time() < settle)
			bench_iterate();
	}
	res->rss_after_kib = proc_rss_kib(bench->service_pid);
	res->peers_online = bench_metric(bench, "peerlink_rendezvous_peers_online");

	g_print("%s   connected %u of %d peers in %.2f s (%.0f/s), %u gave up after %d attempts\n",
	        BENCH_PREFIX, res->connected, bench->total_peers, res->connect_s,
	        res->connected / MAX(res->connect_s, 1e-6), failed, BENCH_MAX_ATTEMPTS);
	{
		g_autoptr(GList) keys = g_list_sort(g_hash_table_get_keys(bench->connect_errors),
		                                    (GCompareFunc)g_strcmp0);
		for (GList *l = keys; l != NULL; l = l->next)
			g_print("%s   failed attempts: %u x %s\n", BENCH_PREFIX,
			        GPOINTER_TO_UINT(
			                g_hash_table_lookup(bench->connect_errors, l->data)),
			        (const gchar *)l->data);
	}
	netstat_print(netstat_before);
	g_print("%s   service RSS before %.1f MiB, after %.1f MiB: %.1f KiB per peer\n",
	        BENCH_PREFIX, res->rss_before_kib / 1024.0, res->rss_after_kib / 1024.0,
	        (gdouble)(res->rss_after_kib - res->rss_before_kib) / MAX(res->connected, 1));
	g_print("%s   bench RSS %.1f MiB in this process, %.1f MiB in workers\n", BENCH_PREFIX,
	        proc_rss_kib("self") / 1024.0, bench_workers_rss_kib(bench) / 1024.0);
	g_print("%s   CPU during the connect phase: service %.2f s, bench %.2f s\n", BENCH_PREFIX,
	        res->service_cpu_ms / 1000.0, res->bench_cpu_ms / 1000.0);
	g_print("%s   GET /metrics peers_online=%" G_GINT64_FORMAT "\n", BENCH_PREFIX,
	        res->peers_online);
	bench_print_service_sockets(bench, "after connecting");
	return TRUE;
}

/* -------------------------------------------------------------------------- */
/* phases 2 and 3: traffic */

static gint
compare_guint32(gconstpointer a, gconstpointer b)
{
	guint32 x = *(const guint32 *)a, y = *(const guint32 *)b;
	return x < y ? -1 : x > y ? 1 : 0;
}

/* milliseconds */
static gdouble
traffic_percentile(Traffic *traffic, gdouble p)
{
	GArray *values = traffic->latencies_us;
	guint index;

	if (values->len == 0)
		return 0;
	/* nearest rank: the smallest value with at least p of the samples at or below it */
	index = (guint)(p * values->len + 0.999999);
	if (index > 0)
		index--;
	if (index >= values->len)
		index = values->len - 1;
	return g_array_index(values, guint32, index) / 1000.0;
}

static Traffic *
traffic_new(const gchar *name, guint rate, gint64 warmup_us, gint64 measure_us)
{
	Traffic *traffic = g_new0(Traffic, 1);

	traffic->name = name;
	traffic->rate = rate;
	traffic->warmup_us = warmup_us;
	traffic->measure_us = measure_us;
	traffic->latencies_us = g_array_new(FALSE, FALSE, sizeof(guint32));
	traffic->errors = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	return traffic;
}

static void
traffic_free(Traffic *traffic)
{
	g_array_unref(traffic->latencies_us);
	g_hash_table_unref(traffic->errors);
	g_free(traffic);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Traffic, traffic_free)

static guint
bench_outstanding(Bench *bench)
{
	guint total = 0;

	for (guint i = 0; i < (guint)bench->senders; i++)
		total += bench->peers[i].outstanding;
	return total;
}

static gboolean
traffic_tick_cb(gpointer user_data)
{
	Bench *bench = user_data;
	Traffic *traffic = bench->traffic;
	gint64 now = g_get_monotonic_time();

	if (traffic->state == TRAFFIC_WARMUP && now - traffic->t_start >= traffic->warmup_us) {
		traffic->t_measure = now;
		traffic->service_cpu_ms = proc_cpu_ms(bench->service_pid);
		traffic->bench_cpu_ms = proc_cpu_ms("self");
		traffic->workers_cpu_ms = bench_workers_cpu_ms(bench);
		traffic->state = TRAFFIC_MEASURE;
	} else if (traffic->state == TRAFFIC_MEASURE &&
	           now - traffic->t_measure >= traffic->measure_us) {
		traffic->t_stop = now;
		traffic->service_cpu_ms = proc_cpu_ms(bench->service_pid) - traffic->service_cpu_ms;
		traffic->bench_cpu_ms = proc_cpu_ms("self") - traffic->bench_cpu_ms;
		traffic->workers_cpu_ms = bench_workers_cpu_ms(bench) - traffic->workers_cpu_ms;
		traffic->state = TRAFFIC_DRAIN;
	}
	if (traffic->rate > 0 &&
	    (traffic->state == TRAFFIC_WARMUP || traffic->state == TRAFFIC_MEASURE))
		traffic_pace(bench, now);
	return G_SOURCE_CONTINUE;
}

static void
traffic_run(Bench *bench, Traffic *traffic)
{
	guint tick_id;
	gint64 drain_deadline;

	bench->traffic = traffic;
	traffic->state = TRAFFIC_WARMUP;
	traffic->t_start = g_get_monotonic_time();
	/* open loop needs a fine clock to pace; closed loop only to switch states */
	tick_id = g_timeout_add(traffic->rate > 0 ? 1 : 20, traffic_tick_cb, bench);
	for (guint i = 0; i < (guint)bench->senders; i++)
		sender_fill(&bench->peers[i]);
	while (!bench->aborted && traffic->state != TRAFFIC_DRAIN)
		bench_iterate();
	g_source_remove(tick_id);
	drain_deadline = g_get_monotonic_time() + BENCH_DRAIN_US;
	while (!bench->aborted && bench_outstanding(bench) > 0 &&
	       g_get_monotonic_time() < drain_deadline)
		bench_iterate();
	traffic->t_end = g_get_monotonic_time();
	traffic->undelivered = bench_outstanding(bench);
	traffic->state = TRAFFIC_OFF;
	/* late arrivals of this phase must not be counted by the next one */
	for (guint i = 0; i < (guint)bench->senders; i++)
		bench->peers[i].outstanding = 0;
	g_array_sort(traffic->latencies_us, compare_guint32);
}

static void
traffic_print(Bench *bench, Traffic *traffic)
{
	gdouble measure_s = elapsed_s(traffic->t_measure, traffic->t_stop);
	gdouble delivered_per_s = traffic->delivered / MAX(measure_s, 1e-6);
	g_autofree gchar *errors = format_counts(traffic->errors);

	g_print("%s   measured %.2f s after %.2f s warm-up; whole phase: sent %" G_GUINT64_FORMAT
	        ", delivered %" G_GUINT64_FORMAT " in %.2f s\n",
	        BENCH_PREFIX, measure_s, elapsed_s(0, traffic->warmup_us), traffic->total_sent,
	        traffic->total_delivered, elapsed_s(traffic->t_start, traffic->t_end));
	g_print("%s   delivered %" G_GUINT64_FORMAT " (%.0f/s), sent %" G_GUINT64_FORMAT
	        " (%.0f/s), accepted %" G_GUINT64_FORMAT " (%.0f/s)\n",
	        BENCH_PREFIX, traffic->delivered, delivered_per_s, traffic->sent,
	        traffic->sent / MAX(measure_s, 1e-6), traffic->accepted,
	        traffic->accepted / MAX(measure_s, 1e-6));
	if (traffic->rate > 0)
		g_print("%s   offered %u/s; not sent because every window was full: "
		        "%" G_GUINT64_FORMAT "\n",
		        BENCH_PREFIX, traffic->rate, traffic->throttled);
	g_print("%s   latency ms: p50 %.3f, p90 %.3f, p99 %.3f, max %.3f (%u samples)\n",
	        BENCH_PREFIX, traffic_percentile(traffic, 0.50), traffic_percentile(traffic, 0.90),
	        traffic_percentile(traffic, 0.99), traffic_percentile(traffic, 1.0),
	        traffic->latencies_us->len);
	if (traffic->rate == 0 && delivered_per_s > 0)
		g_print("%s   (closed loop: %u messages in flight / %.0f/s = %.1f ms of queueing, "
		        "Little's law)\n",
		        BENCH_PREFIX, bench->senders * bench->window, delivered_per_s,
		        1000.0 * bench->senders * bench->window / delivered_per_s);
	g_print("%s   errors: %s; duplicates %" G_GUINT64_FORMAT ", stray %" G_GUINT64_FORMAT
	        ", undelivered after %.1f s drain %" G_GUINT64_FORMAT "\n",
	        BENCH_PREFIX, errors, traffic->duplicates, traffic->stray,
	        elapsed_s(0, BENCH_DRAIN_US), traffic->undelivered);
	g_print("%s   CPU over the window: service %.0f%% of a core (%.1f ms per 1,000 messages), "
	        "bench %.0f%%, bench workers %.0f%%\n",
	        BENCH_PREFIX, 100.0 * traffic->service_cpu_ms / 1000.0 / MAX(measure_s, 1e-6),
	        traffic->delivered > 0 ? traffic->service_cpu_ms / (traffic->delivered / 1000.0)
	                               : 0.0,
	        100.0 * traffic->bench_cpu_ms / 1000.0 / MAX(measure_s, 1e-6),
	        100.0 * traffic->workers_cpu_ms / 1000.0 / MAX(measure_s, 1e-6));
}

/* -------------------------------------------------------------------------- */
/* main */

/* an option left at -1 takes its default */
static gint
default_int(gint value, gint normal, gint quick, gboolean is_quick)
{
	if (value >= 0)
		return value;
	return is_quick ? quick : normal;
}

static void
bench_apply_defaults(Bench *bench)
{
	bench->total_peers = default_int(bench->total_peers, 10000, 200, bench->quick);
	bench->senders = default_int(bench->senders, 200, 50, bench->quick);
	bench->seconds = default_int(bench->seconds, 10, 2, bench->quick);
	bench->window = default_int(bench->window, 64, 16, bench->quick);
	bench->workers = default_int(bench->workers, 8, 0, bench->quick);
	bench->handshakes = default_int(bench->handshakes, 256, 64, bench->quick);
	bench->body_size = default_int(bench->body_size, 100, 100, bench->quick);
	bench->latency_rate = default_int(bench->latency_rate, 2000, 200, bench->quick);
	bench->latency_seconds = default_int(bench->latency_seconds, 5, 1, bench->quick);
	bench->connect_timeout = default_int(bench->connect_timeout, 300, 60, bench->quick);
	bench->total_peers = MAX(bench->total_peers, 2);
	bench->senders = CLAMP(bench->senders, 1, bench->total_peers / 2);
	bench->window = MAX(bench->window, 1);
	bench->handshakes = MAX(bench->handshakes, 1);
	bench->seconds = MAX(bench->seconds, 1);
	bench->n_active = (guint)bench->senders * 2;
}

static void
bench_free(Bench *bench)
{
	for (guint i = 0; i < bench->n_peers; i++) {
		Peer *peer = &bench->peers[i];
		if (peer->ws != NULL)
			g_signal_handlers_disconnect_by_data(peer->ws, peer);
		g_clear_object(&peer->ws);
		g_clear_object(&peer->identity);
		g_free(peer->peer_id);
		g_free(peer->token);
	}
	g_free(bench->peers);
	if (bench->heartbeat_id != 0)
		g_source_remove(bench->heartbeat_id);
	if (bench->ping_id != 0)
		g_source_remove(bench->ping_id);
	g_clear_pointer(&bench->workers_array, g_ptr_array_unref);
	g_clear_pointer(&bench->close_codes, g_hash_table_unref);
	g_clear_pointer(&bench->connect_errors, g_hash_table_unref);
	g_clear_object(&bench->session);
	g_clear_object(&bench->service);
	g_clear_object(&bench->cancellable);
	g_clear_pointer(&bench->base_uri, g_uri_unref);
	g_clear_pointer(&bench->ws_uri, g_uri_unref);
	if (bench->tmpdir != NULL) {
		if (bench->service_log != NULL)
			g_unlink(bench->service_log);
		g_rmdir(bench->tmpdir);
	}
	g_free(bench->tmpdir);
	g_free(bench->service_log);
	g_free(bench->service_pid);
	g_free(bench->base_url);
	g_free(bench->audience);
	g_free(bench->ping_text);
	g_free(bench->pad);
	g_free(bench->abort_reason);
	g_free(bench->service_path);
	g_free(bench->worker_url);
	g_strfreev(bench->service_args);
	g_free(bench);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Bench, bench_free)

static gint
bench_run(Bench *bench)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(Traffic) throughput = NULL;
	g_autoptr(Traffic) latency = NULL;
	g_autofree gchar *close_codes = NULL;
	ConnectResult conn = {0};
	gint64 peers_online_end;
	gint64 rss_end_kib;
	gboolean ok;

	g_print("%s peers=%d senders=%d window=%d seconds=%d workers=%d handshakes=%d "
	        "body_size=%d latency_rate=%d latency_seconds=%d connection_close=%s\n",
	        BENCH_PREFIX, bench->total_peers, bench->senders, bench->window, bench->seconds,
	        bench->workers, bench->handshakes, bench->body_size, bench->latency_rate,
	        bench->latency_seconds, bench->connection_close ? "yes" : "no");
	bench_print_loadavg("at the start");
	if (!bench_start_service(bench, &error)) {
		g_printerr("%s cannot start the service: %s\n", BENCH_PREFIX, error->message);
		bench_print_service_log(bench);
		return EXIT_FAILURE;
	}

	if (!bench_connect_all(bench, &conn, &error)) {
		g_printerr("%s %s\n", BENCH_PREFIX, error->message);
		return EXIT_FAILURE;
	}
	if (bench->aborted)
		return EXIT_FAILURE;

	g_print("%s phase 2: throughput, %d senders to %d receivers, window %d, %d s\n",
	        BENCH_PREFIX, bench->senders, bench->senders, bench->window, bench->seconds);
	throughput =
	        traffic_new("throughput", 0, bench->quick ? G_USEC_PER_SEC / 2 : G_USEC_PER_SEC,
	                    (gint64)bench->seconds * G_USEC_PER_SEC);
	traffic_run(bench, throughput);
	traffic_print(bench, throughput);
	if (bench->aborted)
		return EXIT_FAILURE;

	if (bench->latency_rate > 0 && bench->latency_seconds > 0) {
		g_print("%s phase 3: latency at a fixed offered load of %d messages/s, %d s\n",
		        BENCH_PREFIX, bench->latency_rate, bench->latency_seconds);
		latency = traffic_new("latency", (guint)bench->latency_rate, G_USEC_PER_SEC / 2,
		                      (gint64)bench->latency_seconds * G_USEC_PER_SEC);
		traffic_run(bench, latency);
		traffic_print(bench, latency);
		if (bench->aborted)
			return EXIT_FAILURE;
	}
	bench->traffic = NULL;

	/* still all there? */
	rss_end_kib = proc_rss_kib(bench->service_pid);
	peers_online_end = bench_metric(bench, "peerlink_rendezvous_peers_online");
	close_codes = format_counts(bench->close_codes);
	g_print("%s end: service RSS %.1f MiB, peers_online=%" G_GINT64_FORMAT
	        ", WebSockets closed by the service in this process: %u (%s), pings sent "
	        "%" G_GUINT64_FORMAT ", bad frames %" G_GUINT64_FORMAT "\n",
	        BENCH_PREFIX, rss_end_kib / 1024.0, peers_online_end, bench->n_disconnected,
	        close_codes, bench->n_pings, bench->n_bad_frames);
	bench_print_service_sockets(bench, "at the end");
	bench_print_service_warnings(bench);
	bench_print_loadavg("at the end");
	bench_print_metrics(bench);

	g_print("\n");
	g_print("%s peers=%d connected=%u connect_s=%.2f rss_mib=%.1f rss_per_peer_kib=%.1f "
	        "peers_online=%" G_GINT64_FORMAT "\n",
	        BENCH_PREFIX, bench->total_peers, conn.connected, conn.connect_s,
	        conn.rss_after_kib / 1024.0,
	        (gdouble)(conn.rss_after_kib - conn.rss_before_kib) / MAX(conn.connected, 1),
	        conn.peers_online);
	{
		gdouble measure_s = elapsed_s(throughput->t_measure, throughput->t_stop);
		g_print("%s delivered_per_s=%.0f sent_per_s=%.0f p50_ms=%.2f p90_ms=%.2f "
		        "p99_ms=%.2f max_ms=%.2f senders=%d window=%d seconds=%d errors=%u "
		        "service_cpu_pct=%.0f bench_cpu_pct=%.0f service_cpu_ms_per_1k=%.1f\n",
		        BENCH_PREFIX, throughput->delivered / MAX(measure_s, 1e-6),
		        throughput->sent / MAX(measure_s, 1e-6),
		        traffic_percentile(throughput, 0.5), traffic_percentile(throughput, 0.9),
		        traffic_percentile(throughput, 0.99), traffic_percentile(throughput, 1.0),
		        bench->senders, bench->window, bench->seconds,
		        count_total(throughput->errors),
		        100.0 * throughput->service_cpu_ms / 1000.0 / MAX(measure_s, 1e-6),
		        100.0 * (throughput->bench_cpu_ms + throughput->workers_cpu_ms) / 1000.0 /
		                MAX(measure_s, 1e-6),
		        throughput->delivered > 0
		                ? throughput->service_cpu_ms / (throughput->delivered / 1000.0)
		                : 0.0);
	}
	if (latency != NULL) {
		gdouble measure_s = elapsed_s(latency->t_measure, latency->t_stop);
		g_print("%s latency_rate=%d delivered_per_s=%.0f p50_ms=%.2f p90_ms=%.2f "
		        "p99_ms=%.2f "
		        "max_ms=%.2f\n",
		        BENCH_PREFIX, bench->latency_rate,
		        latency->delivered / MAX(measure_s, 1e-6), traffic_percentile(latency, 0.5),
		        traffic_percentile(latency, 0.9), traffic_percentile(latency, 0.99),
		        traffic_percentile(latency, 1.0));
	}

	/* a run that completes and delivers; the figures themselves are not judged */
	ok = conn.connected == (guint)bench->total_peers && throughput->delivered > 0;
	if (!ok)
		g_printerr("%s FAILED: %u of %d peers connected, %" G_GUINT64_FORMAT
		           " messages delivered\n",
		           BENCH_PREFIX, conn.connected, bench->total_peers, throughput->delivered);
	return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}

gint
main(gint argc, gchar **argv)
{
	g_autoptr(Bench) bench = g_new0(Bench, 1);
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(GError) error = NULL;
	gint status;
	const GOptionEntry entries[] = {
	        {"peers", 0, 0, G_OPTION_ARG_INT, &bench->total_peers,
	         "Peers to connect (default 10000; --quick 200)", "N"},
	        {"senders", 0, 0, G_OPTION_ARG_INT, &bench->senders,
	         "Sender peers, each with its own receiver (default 200; --quick 50)", "S"},
	        {"seconds", 0, 0, G_OPTION_ARG_INT, &bench->seconds,
	         "Duration of the throughput measurement (default 10; --quick 2)", "D"},
	        {"window", 0, 0, G_OPTION_ARG_INT, &bench->window,
	         "Messages in flight per sender (default 64; --quick 16)", "W"},
	        {"workers", 0, 0, G_OPTION_ARG_INT, &bench->workers,
	         "Processes that hold the idle peers; 0: all in this process (default 8; --quick "
	         "0)",
	         "K"},
	        {"handshakes", 0, 0, G_OPTION_ARG_INT, &bench->handshakes,
	         "Peers signing in at the same time (default 256; --quick 64)", "H"},
	        {"body-size", 0, 0, G_OPTION_ARG_INT, &bench->body_size,
	         "Padding bytes in each message body (default 100)", "BYTES"},
	        {"latency-rate", 0, 0, G_OPTION_ARG_INT, &bench->latency_rate,
	         "Offered messages/s of the latency phase; 0 skips it (default 2000; --quick 200)",
	         "R"},
	        {"latency-seconds", 0, 0, G_OPTION_ARG_INT, &bench->latency_seconds,
	         "Duration of the latency phase (default 5; --quick 1)", "SECONDS"},
	        {"connect-timeout", 0, 0, G_OPTION_ARG_INT, &bench->connect_timeout,
	         "Time allowed to connect every peer (default 300; --quick 60)", "SECONDS"},
	        {"service", 0, 0, G_OPTION_ARG_FILENAME, &bench->service_path,
	         "The peerlink-rendezvous executable", "PATH"},
	        {"service-arg", 0, 0, G_OPTION_ARG_STRING_ARRAY, &bench->service_args,
	         "An extra argument for the service (repeatable)", "ARG"},
	        {"quick", 0, 0, G_OPTION_ARG_NONE, &bench->quick, "Small numbers for a smoke run",
	         NULL},
	        {"connection-close", 0, 0, G_OPTION_ARG_NONE, &bench->connection_close,
	         "Sign in with \"Connection: close\" instead of keep-alive", NULL},
	        {"worker", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &bench->worker_mode, NULL,
	         NULL},
	        {"worker-url", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &bench->worker_url,
	         NULL, NULL},
	        {"worker-first", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &bench->worker_first,
	         NULL, NULL},
	        {"worker-count", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &bench->worker_count,
	         NULL, NULL},
	        {NULL}};

	bench->total_peers = bench->senders = bench->seconds = bench->window = -1;
	bench->workers = bench->handshakes = bench->body_size = -1;
	bench->latency_rate = bench->latency_seconds = bench->connect_timeout = -1;
	context = g_option_context_new("- load test of peerlink-rendezvous");
	g_option_context_add_main_entries(context, entries, NULL);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		g_printerr("%s %s\n", BENCH_PREFIX, error->message);
		return EXIT_FAILURE;
	}
	bench_apply_defaults(bench);

	bench->cancellable = g_cancellable_new();
	bench->workers_array = g_ptr_array_new_with_free_func((GDestroyNotify)worker_free);
	bench->close_codes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	bench->connect_errors = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	bench->ping_text = pl_rendezvous_frame_build_simple(PL_RENDEZVOUS_FRAME_PING);
	if (bench->body_size > 0)
		bench->pad = g_strnfill((gsize)bench->body_size, 'x');
	bench->heartbeat_id = g_timeout_add(50, bench_heartbeat_cb, bench);
	g_unix_signal_add(SIGINT, bench_signal_cb, bench);
	g_unix_signal_add(SIGTERM, bench_signal_cb, bench);
	/* a peer whose socket the service closed must not kill us */
	signal(SIGPIPE, SIG_IGN);
	bench_raise_nofile(bench);

	if (bench->worker_mode) {
		status = bench_run_worker(bench);
		bench->shutting_down = TRUE;
		g_cancellable_cancel(bench->cancellable);
		return status;
	}
	if (bench->service_path == NULL) {
		g_printerr("%s --service PATH is required\n", BENCH_PREFIX);
		return EXIT_FAILURE;
	}
	status = bench_run(bench);

	/* always: stop the workers and the service */
	bench->shutting_down = TRUE;
	g_cancellable_cancel(bench->cancellable);
	bench_stop_workers(bench);
	for (guint i = 0; i < bench->n_peers; i++) {
		Peer *peer = &bench->peers[i];
		if (peer->ws != NULL &&
		    soup_websocket_connection_get_state(peer->ws) == SOUP_WEBSOCKET_STATE_OPEN)
			soup_websocket_connection_close(peer->ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY,
			                                NULL);
	}
	bench_stop_service(bench);
	if (status != EXIT_SUCCESS || bench_service_log_has_warnings(bench))
		bench_print_service_log(bench);
	return status;
}
