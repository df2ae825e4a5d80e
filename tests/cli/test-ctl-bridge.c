/*
 * PlCtlBridge with pipes and socketpairs. The far ends are driven by plain
 * blocking threads, so that the bridge on the main loop meets real readers and
 * writers: fast, slow, half-closing, resetting.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pl-ctl-bridge.h"
#include "pl-test-util.h"

#define MIB (1024 * 1024)

/* Long enough for valgrind, short enough to keep a hung test cheap. */
#define WAIT_TIMEOUT_US (30 * G_USEC_PER_SEC)

#define WAIT_FOR(cond) PL_TEST_WAIT_UNTIL(cond, WAIT_TIMEOUT_US)

static void
clear_fd(gint *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* the far ends */

typedef struct {
	gint fd;
	GBytes *data;      /* to write */
	gboolean half;     /* when written: shutdown(SHUT_WR) instead of close */
	gboolean keep;     /* when written: leave the fd open */
	gboolean echo;     /* write back what is read, until EOF; then close or half-close */
	gsize chunk;       /* read or write size; 0: 64 KiB */
	gulong delay_us;   /* pause after each chunk: a slow reader or writer */
	gboolean no_close; /* reader: leave the fd open at the end */
	/* results */
	GByteArray *received;
	gint read_errno;
	gint write_errno;
	gint progress; /* atomic: bytes read (reader, echo) or written (writer) */
	gint finished; /* atomic */
} Peer;

static Peer *
peer_new(gint fd)
{
	Peer *peer = g_new0(Peer, 1);

	peer->fd = fd;
	peer->received = g_byte_array_new();
	return peer;
}

static void
peer_free(Peer *peer)
{
	clear_fd(&peer->fd);
	if (peer->data != NULL)
		g_bytes_unref(peer->data);
	g_byte_array_unref(peer->received);
	g_free(peer);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Peer, peer_free)

static gboolean
write_all(Peer *peer, const guint8 *data, gsize len)
{
	gsize chunk = peer->chunk != 0 ? peer->chunk : 64 * 1024;

	for (gsize done = 0; done < len;) {
		gssize n = write(peer->fd, data + done, MIN(chunk, len - done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			peer->write_errno = errno;
			return FALSE;
		}
		done += (gsize)n;
		if (!peer->echo)
			g_atomic_int_add(&peer->progress, (gint)n);
		if (peer->delay_us > 0)
			g_usleep(peer->delay_us);
	}
	return TRUE;
}

static void
end_writing(Peer *peer)
{
	if (peer->keep)
		return;
	if (peer->half)
		shutdown(peer->fd, SHUT_WR);
	else
		clear_fd(&peer->fd);
}

static gpointer
writer_thread(gpointer user_data)
{
	Peer *peer = user_data;
	gsize len = 0;
	const guint8 *data = g_bytes_get_data(peer->data, &len);

	write_all(peer, data, len);
	end_writing(peer);
	g_atomic_int_set(&peer->finished, 1);
	return NULL;
}

/* reads until EOF; an echo peer writes everything back as it goes */
static gpointer
reader_thread(gpointer user_data)
{
	Peer *peer = user_data;
	gsize chunk = peer->chunk != 0 ? peer->chunk : 64 * 1024;
	g_autofree guint8 *buffer = g_malloc(chunk);

	for (;;) {
		gssize n = read(peer->fd, buffer, chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			peer->read_errno = errno;
			break;
		}
		if (n == 0)
			break;
		g_byte_array_append(peer->received, buffer, (guint)n);
		g_atomic_int_add(&peer->progress, (gint)n);
		if (peer->echo && !write_all(peer, buffer, (gsize)n))
			break;
		if (peer->delay_us > 0)
			g_usleep(peer->delay_us);
	}
	if (peer->data != NULL) { /* an answer after the end of the request */
		gsize len = 0;
		const guint8 *data = g_bytes_get_data(peer->data, &len);
		write_all(peer, data, len);
	}
	if (peer->echo || peer->data != NULL)
		end_writing(peer);
	else if (!peer->no_close)
		clear_fd(&peer->fd);
	g_atomic_int_set(&peer->finished, 1);
	return NULL;
}

/* A peer that first writes (and half-closes), then reads until EOF. */
static gpointer
talker_thread(gpointer user_data)
{
	Peer *peer = user_data;
	gsize len = 0;
	const guint8 *data = g_bytes_get_data(peer->data, &len);
	guint8 buffer[4096];

	write_all(peer, data, len);
	shutdown(peer->fd, SHUT_WR);
	for (;;) {
		gssize n = read(peer->fd, buffer, sizeof(buffer));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			peer->read_errno = n < 0 ? errno : 0;
			break;
		}
		g_byte_array_append(peer->received, buffer, (guint)n);
	}
	clear_fd(&peer->fd);
	g_atomic_int_set(&peer->finished, 1);
	return NULL;
}

/* helpers */

static GBytes *
random_bytes(gsize len, guint32 seed)
{
	g_autoptr(GRand) rand = g_rand_new_with_seed(seed);
	guint8 *data = g_malloc(len);

	for (gsize i = 0; i < len; i++)
		data[i] = (guint8)g_rand_int(rand);
	return g_bytes_new_take(data, len);
}

static void
assert_bytes_equal(GByteArray *got, GBytes *expected)
{
	gsize len = 0;
	const guint8 *data = g_bytes_get_data(expected, &len);

	g_assert_cmpuint(got->len, ==, len);
	g_assert_true(memcmp(got->data, data, len) == 0);
}

static void
make_pipe(gint fds[2])
{
	g_assert_no_errno(pipe2(fds, O_CLOEXEC));
}

static void
make_socketpair(gint fds[2])
{
	g_assert_no_errno(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds));
}

/* stdin and stdout as pipes, the stream as a socketpair: the bridge gets in[0], out[1] and
 * stream[0] */
static void
make_ends(gint in[2], gint out[2], gint stream[2])
{
	make_pipe(in);
	make_pipe(out);
	make_socketpair(stream);
}

/* the far ends' threads; NULL for one that was not started */
static void
join_threads(GThread **threads, guint n_threads)
{
	for (guint i = 0; i < n_threads; i++)
		if (threads[i] != NULL)
			g_thread_join(threads[i]);
}

static gboolean
fd_is_nonblocking(gint fd)
{
	gint flags = fcntl(fd, F_GETFL);

	g_assert_cmpint(flags, >=, 0);
	return (flags & O_NONBLOCK) != 0;
}

static void
store_result_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	GAsyncResult **out = user_data;

	*out = g_object_ref(result);
}

static GError *
finish_bridge(PlCtlBridge *bridge, GAsyncResult **result)
{
	GError *error = NULL;

	WAIT_FOR(*result != NULL);
	if (pl_ctl_bridge_run_finish(bridge, *result, &error))
		g_assert_no_error(error);
	g_clear_object(result);
	return error;
}

static GError *
run_bridge(PlCtlBridge *bridge)
{
	g_autoptr(GAsyncResult) result = NULL;

	pl_ctl_bridge_run_async(bridge, NULL, store_result_cb, &result);
	return finish_bridge(bridge, &result);
}

/* tests */

/* 1 MiB through an echo: both directions at once, both ends closed in order */
static void
test_mebibyte(void)
{
	gint in[2], out[2], stream[2];
	g_autoptr(GBytes) data = random_bytes(MIB, 1);
	g_autoptr(Peer) input = NULL;
	g_autoptr(Peer) remote = NULL;
	g_autoptr(Peer) output = NULL;
	g_autoptr(PlCtlBridge) bridge = NULL;
	g_autoptr(GError) error = NULL;
	GThread *threads[3];

	make_ends(in, out, stream);
	input = peer_new(in[1]);
	input->data = g_bytes_ref(data);
	input->chunk = 10000; /* odd sizes: chunks and buffer do not line up */
	remote = peer_new(stream[1]);
	remote->echo = TRUE;
	remote->chunk = 7000;
	output = peer_new(out[0]);
	bridge = pl_ctl_bridge_new(in[0], out[1], stream[0]);
	threads[0] = g_thread_new("input", writer_thread, input);
	threads[1] = g_thread_new("remote", reader_thread, remote);
	threads[2] = g_thread_new("output", reader_thread, output);
	error = run_bridge(bridge);
	g_assert_no_error(error);
	join_threads(threads, G_N_ELEMENTS(threads));
	assert_bytes_equal(remote->received, data);
	assert_bytes_equal(output->received, data);
	g_assert_cmpuint(pl_ctl_bridge_get_bytes_sent(bridge), ==, MIB);
	g_assert_cmpuint(pl_ctl_bridge_get_bytes_received(bridge), ==, MIB);
	g_assert_cmpint(remote->write_errno, ==, 0);
}

/* stdin at its end before any data: the stream is half-closed at once and the answer still
 * arrives; also with no input descriptor at all */
static void
test_input_eof_first(gconstpointer user_data)
{
	gboolean no_input = GPOINTER_TO_INT(user_data);
	gint in[2] = {-1, -1}, out[2], stream[2];
	g_autoptr(GBytes) answer = g_bytes_new_static("answer\n", 7);
	g_autoptr(Peer) remote = NULL;
	g_autoptr(Peer) output = NULL;
	g_autoptr(PlCtlBridge) bridge = NULL;
	g_autoptr(GError) error = NULL;
	GThread *threads[2];

	if (!no_input) {
		make_pipe(in);
		clear_fd(&in[1]);
	}
	make_pipe(out);
	make_socketpair(stream);
	remote = peer_new(stream[1]);
	remote->data = g_bytes_ref(answer); /* written after the request's end */
	output = peer_new(out[0]);
	bridge = pl_ctl_bridge_new(in[0], out[1], stream[0]);
	threads[0] = g_thread_new("remote", reader_thread, remote);
	threads[1] = g_thread_new("output", reader_thread, output);
	error = run_bridge(bridge);
	g_assert_no_error(error);
	join_threads(threads, G_N_ELEMENTS(threads));
	g_assert_cmpuint(remote->received->len, ==, 0);
	assert_bytes_equal(output->received, answer);
	g_assert_cmpuint(pl_ctl_bridge_get_bytes_sent(bridge), ==, 0);
}

/* The peer half-closes first: stdout ends at once. Then stdin ends and still reaches the peer,
 * or it is cut short (the agent went away) and the stream just ends. */
static void
test_stream_eof_first(gconstpointer user_data)
{
	gboolean cut_short = GPOINTER_TO_INT(user_data);
	gint in[2], out[2], stream[2];
	g_autoptr(GBytes) hello = g_bytes_new_static("hello", 5);
	g_autoptr(GBytes) world = g_bytes_new_static("world", 5);
	g_autoptr(Peer) remote = NULL;
	g_autoptr(Peer) output = NULL;
	g_autoptr(PlCtlBridge) bridge = NULL;
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(GError) error = NULL;
	GThread *remote_thread, *output_thread;

	make_ends(in, out, stream);
	remote = peer_new(stream[1]);
	remote->data = g_bytes_ref(hello);
	output = peer_new(out[0]);
	bridge = pl_ctl_bridge_new(in[0], out[1], stream[0]);
	remote_thread = g_thread_new("remote", talker_thread, remote);
	output_thread = g_thread_new("output", reader_thread, output);
	pl_ctl_bridge_run_async(bridge, NULL, store_result_cb, &result);
	if (cut_short)
		g_assert_cmpint(write(in[1], "unsent", 6), ==, 6);

	/* stdout sees its end while stdin is still open */
	WAIT_FOR(g_atomic_int_get(&output->finished));
	g_thread_join(output_thread);
	assert_bytes_equal(output->received, hello);
	g_assert_null(result);

	if (cut_short) {
		pl_ctl_bridge_end_input(bridge);
	} else {
		g_assert_cmpint(write(in[1], "world", 5), ==, 5);
		clear_fd(&in[1]);
	}
	error = finish_bridge(bridge, &result);
	g_assert_no_error(error);
	g_thread_join(remote_thread);
	if (!cut_short)
		assert_bytes_equal(remote->received, world);
	g_assert_cmpint(remote->read_errno, ==, 0); /* a clean end, after whatever was sent */
	clear_fd(&in[1]);
}

/* The peer answers and closes altogether: done, though stdin never ended. */
static void
test_stream_closed(void)
{
	gint in[2], out[2], stream[2];
	g_autoptr(GBytes) bye = g_bytes_new_static("bye\n", 4);
	g_autoptr(Peer) remote = NULL;
	g_autoptr(Peer) output = NULL;
	g_autoptr(PlCtlBridge) bridge = NULL;
	g_autoptr(GError) error = NULL;
	GThread *threads[2];

	make_ends(in, out, stream);
	remote = peer_new(stream[1]);
	remote->data = g_bytes_ref(bye); /* written, then closed */
	output = peer_new(out[0]);
	bridge = pl_ctl_bridge_new(in[0], out[1], stream[0]);
	threads[0] = g_thread_new("remote", writer_thread, remote);
	threads[1] = g_thread_new("output", reader_thread, output);
	error = run_bridge(bridge);
	g_assert_no_error(error);
	join_threads(threads, G_N_ELEMENTS(threads));
	assert_bytes_equal(output->received, bye);
	clear_fd(&in[1]);
}

/* The far end goes away with our data unread: the kernel's reset, not an end of stream. */
static void
test_reset(void)
{
	gint in[2], out[2], stream[2];
	g_autoptr(Peer) output = NULL;
	g_autoptr(PlCtlBridge) bridge = NULL;
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(GError) error = NULL;
	GThread *output_thread;
	guint8 data[1000] = {0};

	make_ends(in, out, stream);
	output = peer_new(out[0]);
	bridge = pl_ctl_bridge_new(in[0], out[1], stream[0]);
	output_thread = g_thread_new("output", reader_thread, output);
	pl_ctl_bridge_run_async(bridge, NULL, store_result_cb, &result);
	g_assert_cmpint(write(in[1], data, sizeof(data)), ==, sizeof(data));
	WAIT_FOR(pl_ctl_bridge_get_bytes_sent(bridge) == sizeof(data));
	clear_fd(&stream[1]); /* unread data: ECONNRESET on our side */
	error = finish_bridge(bridge, &result);
	g_assert_error(error, PL_CTL_BRIDGE_ERROR, PL_CTL_BRIDGE_ERROR_RESET);
	g_test_message("%s", error->message);
	g_thread_join(output_thread); /* the output was closed: EOF */
	g_assert_cmpuint(output->received->len, ==, 0);
	clear_fd(&in[1]);
}

typedef struct {
	Peer *producer;
	Peer *consumer;
	gint max_in_flight;
} Sampling;

/* how far the producer runs ahead of the consumer */
static gboolean
sample_cb(gpointer user_data)
{
	Sampling *sampling = user_data;
	gint in_flight = g_atomic_int_get(&sampling->producer->progress) -
	                 g_atomic_int_get(&sampling->consumer->progress);

	sampling->max_in_flight = MAX(sampling->max_in_flight, in_flight);
	return G_SOURCE_CONTINUE;
}

/* A slow consumer holds the producer back: the bridge never buffers more than its share. */
static void
test_back_pressure(gconstpointer user_data)
{
	gboolean upstream =
	        GPOINTER_TO_INT(user_data); /* stdin → slow peer, else peer → slow stdout */
	gint in[2], out[2], stream[2];
	gsize total = 4 * MIB;
	g_autoptr(GBytes) data = random_bytes(total, 2);
	g_autoptr(Peer) producer = NULL;
	g_autoptr(Peer) consumer = NULL;
	g_autoptr(Peer) other = NULL;
	g_autoptr(PlCtlBridge) bridge = NULL;
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(GError) error = NULL;
	GThread *threads[3];
	Sampling sampling = {0};
	guint sample_id;
	gint small = 4096;
	gint max_in_flight;

	make_ends(in, out, stream);
	/* small kernel buffers, so that nearly all slack would be the bridge's */
	fcntl(in[1], F_SETPIPE_SZ, small);
	fcntl(out[1], F_SETPIPE_SZ, small);
	setsockopt(stream[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(stream[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	if (upstream) {
		producer = peer_new(in[1]);
		consumer = peer_new(stream[1]);
		other = peer_new(out[0]);
	} else {
		producer = peer_new(stream[1]);
		producer->half = TRUE;
		consumer = peer_new(out[0]);
		other = peer_new(in[1]); /* stdin: ends at once */
		clear_fd(&other->fd);
	}
	producer->data = g_bytes_ref(data);
	producer->chunk = 4096;
	consumer->chunk = 4096;
	consumer->delay_us = 100;
	if (upstream)
		consumer->no_close = TRUE; /* closed below, after the bridge is done */
	bridge = pl_ctl_bridge_new(in[0], out[1], stream[0]);
	threads[0] = g_thread_new("producer", writer_thread, producer);
	threads[1] = g_thread_new("consumer", reader_thread, consumer);
	threads[2] = other->fd >= 0 ? g_thread_new("other", reader_thread, other) : NULL;
	pl_ctl_bridge_run_async(bridge, NULL, store_result_cb, &result);
	sampling.producer = producer;
	sampling.consumer = consumer;
	sample_id = g_timeout_add(1, sample_cb, &sampling);
	if (upstream) {
		/* the peer has it all; its end of the stream closes, and so does ours */
		WAIT_FOR(g_atomic_int_get(&consumer->finished));
		clear_fd(&consumer->fd);
	}
	WAIT_FOR(result != NULL);
	g_source_remove(sample_id);
	max_in_flight = sampling.max_in_flight;
	error = finish_bridge(bridge, &result);
	g_assert_no_error(error);
	join_threads(threads, G_N_ELEMENTS(threads));
	assert_bytes_equal(consumer->received, data);
	g_test_message("at most %d bytes in flight", max_in_flight);
	/* 64 KiB in the bridge plus kernel buffers; without back-pressure it would be ~4 MiB */
	g_assert_cmpint(max_in_flight, <, 512 * 1024);
}

/* A regular file as stdin: poll() calls it always ready, reads end at its size. */
static void
test_file_input(void)
{
	gint out[2], stream[2];
	g_autoptr(GBytes) data = random_bytes(300 * 1024 + 17, 3);
	g_autoptr(Peer) remote = NULL;
	g_autoptr(Peer) output = NULL;
	g_autoptr(PlCtlBridge) bridge = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = NULL;
	GThread *threads[2];
	gint file;

	file = g_file_open_tmp("test-ctl-bridge-XXXXXX", &path, &error);
	g_assert_no_error(error);
	g_assert_cmpint(write(file, g_bytes_get_data(data, NULL), g_bytes_get_size(data)), ==,
	                (gssize)g_bytes_get_size(data));
	g_assert_cmpint(lseek(file, 0, SEEK_SET), ==, 0);
	g_unlink(path);
	make_pipe(out);
	make_socketpair(stream);
	remote = peer_new(stream[1]);
	remote->echo = TRUE;
	output = peer_new(out[0]);
	bridge = pl_ctl_bridge_new(file, out[1], stream[0]);
	threads[0] = g_thread_new("remote", reader_thread, remote);
	threads[1] = g_thread_new("output", reader_thread, output);
	error = run_bridge(bridge);
	g_assert_no_error(error);
	join_threads(threads, G_N_ELEMENTS(threads));
	assert_bytes_equal(output->received, data);
}

/* Cancelled halfway: the descriptors are closed and the flags of shared ones put back. */
static void
test_cancel_restores_flags(void)
{
	gint in[2], out[2], stream[2];
	gint in_copy, out_copy;
	g_autoptr(GCancellable) cancellable = g_cancellable_new();
	g_autoptr(PlCtlBridge) bridge = NULL;
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(GError) error = NULL;
	gchar byte;

	make_ends(in, out, stream);
	/* like stdin and stdout: the same open files are shared with someone else */
	in_copy = dup(in[0]);
	out_copy = dup(out[1]);
	bridge = pl_ctl_bridge_new(in[0], out[1], stream[0]);
	pl_ctl_bridge_run_async(bridge, cancellable, store_result_cb, &result);
	g_assert_cmpint(write(in[1], "x", 1), ==, 1);
	WAIT_FOR(pl_ctl_bridge_get_bytes_sent(bridge) == 1);
	g_assert_true(fd_is_nonblocking(in_copy));
	g_assert_true(fd_is_nonblocking(out_copy));
	g_cancellable_cancel(cancellable);
	error = finish_bridge(bridge, &result);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_false(fd_is_nonblocking(in_copy));
	g_assert_false(fd_is_nonblocking(out_copy));
	/* the stream is closed: the peer reads what was sent, then the end */
	g_assert_cmpint(read(stream[1], &byte, 1), ==, 1);
	g_assert_cmpint(read(stream[1], &byte, 1), ==, 0);
	clear_fd(&in_copy);
	clear_fd(&out_copy);
	clear_fd(&in[1]);
	clear_fd(&out[0]);
	clear_fd(&stream[1]);
}

/* Nobody reads stdout any more: an output error, not a stream error. */
static void
test_output_error(void)
{
	gint in[2], out[2], stream[2];
	g_autoptr(PlCtlBridge) bridge = NULL;
	g_autoptr(GError) error = NULL;

	make_ends(in, out, stream);
	clear_fd(&out[0]);
	g_assert_cmpint(write(stream[1], "data", 4), ==, 4);
	bridge = pl_ctl_bridge_new(in[0], out[1], stream[0]);
	error = run_bridge(bridge);
	g_assert_error(error, PL_CTL_BRIDGE_ERROR, PL_CTL_BRIDGE_ERROR_OUTPUT);
	g_test_message("%s", error->message);
	clear_fd(&in[1]);
	clear_fd(&stream[1]);
}

int
main(int argc, char *argv[])
{
	signal(SIGPIPE, SIG_IGN);
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerlink/ctl/bridge/mebibyte", test_mebibyte);
	g_test_add_data_func("/peerlink/ctl/bridge/input-eof-first", GINT_TO_POINTER(FALSE),
	                     test_input_eof_first);
	g_test_add_data_func("/peerlink/ctl/bridge/no-input", GINT_TO_POINTER(TRUE),
	                     test_input_eof_first);
	g_test_add_data_func("/peerlink/ctl/bridge/stream-eof-first", GINT_TO_POINTER(FALSE),
	                     test_stream_eof_first);
	g_test_add_func("/peerlink/ctl/bridge/stream-closed", test_stream_closed);
	g_test_add_data_func("/peerlink/ctl/bridge/end-input", GINT_TO_POINTER(TRUE),
	                     test_stream_eof_first);
	g_test_add_func("/peerlink/ctl/bridge/reset", test_reset);
	g_test_add_data_func("/peerlink/ctl/bridge/back-pressure/downstream",
	                     GINT_TO_POINTER(FALSE), test_back_pressure);
	g_test_add_data_func("/peerlink/ctl/bridge/back-pressure/upstream", GINT_TO_POINTER(TRUE),
	                     test_back_pressure);
	g_test_add_func("/peerlink/ctl/bridge/file-input", test_file_input);
	g_test_add_func("/peerlink/ctl/bridge/cancel-restores-flags", test_cancel_restores_flags);
	g_test_add_func("/peerlink/ctl/bridge/output-error", test_output_error);
	return g_test_run();
}
