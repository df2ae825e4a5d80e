#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pl-ipc-connection.h"
#include "pl-ipc-test-util.h"
#include "pl-test-util.h"

/* One side of a socketpair wrapped in a PlIpcConnection, recording what it sees. */
typedef struct {
	PlIpcConnection *connection;
	GPtrArray *messages;       /* PlIpcMessage */
	GArray *invalid_ids;       /* gint64 */
	GPtrArray *invalid_errors; /* GError */
	guint n_closed;
	GError *close_error;
} Endpoint;

typedef struct {
	gint raw_fd; /* the other side when it is not wrapped, else -1 */
	Endpoint a;
	Endpoint b; /* only when both sides are wrapped */
	guint n_fds_before;
} Fixture;

static void
on_message(PlIpcConnection *connection, PlIpcMessage *message, gpointer user_data)
{
	Endpoint *endpoint = user_data;

	g_assert_true(connection == endpoint->connection);
	g_ptr_array_add(endpoint->messages, g_object_ref(message));
}

static void
on_invalid_message(PlIpcConnection *connection, gint64 id, GError *error, gpointer user_data)
{
	Endpoint *endpoint = user_data;

	g_assert_nonnull(error);
	g_test_message("invalid message (id %" G_GINT64_FORMAT "): %s", id, error->message);
	g_array_append_val(endpoint->invalid_ids, id);
	g_ptr_array_add(endpoint->invalid_errors, g_error_copy(error));
}

static void
on_closed(PlIpcConnection *connection, GError *error, gpointer user_data)
{
	Endpoint *endpoint = user_data;

	g_test_message("closed: %s", error != NULL ? error->message : "(no error)");
	endpoint->n_closed++;
	g_assert_true(pl_ipc_connection_is_closed(connection));
	if (error != NULL && endpoint->close_error == NULL)
		endpoint->close_error = g_error_copy(error);
}

static void
endpoint_init(Endpoint *endpoint, gint fd)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocket) socket = g_socket_new_from_fd(fd, &error);

	g_assert_no_error(error);
	g_assert_nonnull(socket);
	endpoint->connection = pl_ipc_connection_new(socket);
	endpoint->messages = g_ptr_array_new_with_free_func(g_object_unref);
	endpoint->invalid_ids = g_array_new(FALSE, FALSE, sizeof(gint64));
	endpoint->invalid_errors = g_ptr_array_new_with_free_func((GDestroyNotify)g_error_free);
	g_signal_connect(endpoint->connection, "message", G_CALLBACK(on_message), endpoint);
	g_signal_connect(endpoint->connection, "invalid-message", G_CALLBACK(on_invalid_message),
	                 endpoint);
	g_signal_connect(endpoint->connection, "closed", G_CALLBACK(on_closed), endpoint);
}

static void
endpoint_clear(Endpoint *endpoint)
{
	if (endpoint->connection == NULL)
		return;
	g_signal_handlers_disconnect_by_data(endpoint->connection, endpoint);
	g_clear_object(&endpoint->connection);
	g_clear_pointer(&endpoint->messages, g_ptr_array_unref);
	g_clear_pointer(&endpoint->invalid_ids, g_array_unref);
	g_clear_pointer(&endpoint->invalid_errors, g_ptr_array_unref);
	g_clear_error(&endpoint->close_error);
}

static void
make_socketpair(gint fds[2])
{
	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
}

/* The connection under test on one end, raw syscalls on the other. */
static void
fixture_setup_raw(Fixture *fixture, gconstpointer user_data)
{
	gint fds[2];

	fixture->n_fds_before = pl_test_count_fds(0);
	make_socketpair(fds);
	endpoint_init(&fixture->a, fds[0]);
	fixture->raw_fd = fds[1];
	pl_ipc_connection_start(fixture->a.connection);
}

/* Connections on both ends. */
static void
fixture_setup_pair(Fixture *fixture, gconstpointer user_data)
{
	gint fds[2];

	fixture->n_fds_before = pl_test_count_fds(0);
	make_socketpair(fds);
	endpoint_init(&fixture->a, fds[0]);
	endpoint_init(&fixture->b, fds[1]);
	fixture->raw_fd = -1;
	pl_ipc_connection_start(fixture->a.connection);
	pl_ipc_connection_start(fixture->b.connection);
}

static void
fixture_teardown(Fixture *fixture, gconstpointer user_data)
{
	endpoint_clear(&fixture->a);
	endpoint_clear(&fixture->b);
	if (fixture->raw_fd >= 0)
		close(fixture->raw_fd);
	pl_test_drain();
	/* every test leaves the process with the descriptors it found */
	g_assert_cmpuint(pl_test_count_fds(0), ==, fixture->n_fds_before);
}

/* raw side */

static void
raw_write(gint fd, const gchar *data, gsize len)
{
	while (len > 0) {
		gssize n = send(fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		g_assert_cmpint(n, >, 0);
		data += n;
		len -= (gsize)n;
	}
}

static void
raw_write_str(gint fd, const gchar *text)
{
	raw_write(fd, text, strlen(text));
}

/* One sendmsg carrying @data and @n_fds descriptors via SCM_RIGHTS. */
static void
raw_sendmsg_fds(gint fd, const gchar *data, gsize len, const gint *fds, guint n_fds)
{
	struct iovec iov = {(gpointer)data, len};
	struct msghdr msg = {0};
	gsize control_len = CMSG_SPACE(sizeof(gint) * n_fds);
	g_autofree guint8 *control = g_malloc0(control_len);
	struct cmsghdr *cmsg;

	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = control;
	msg.msg_controllen = control_len;
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(gint) * n_fds);
	memcpy(CMSG_DATA(cmsg), fds, sizeof(gint) * n_fds);
	g_assert_cmpint(sendmsg(fd, &msg, MSG_NOSIGNAL), ==, (gssize)len);
}

/* Reads until end of stream (the connection closed its end); bounded by a poll timeout. */
static gchar *
raw_read_to_eof(gint fd)
{
	GString *text = g_string_new(NULL);

	for (;;) {
		struct pollfd pfd = {fd, POLLIN, 0};
		gchar buffer[4096];
		gssize n;

		g_assert_cmpint(poll(&pfd, 1, (gint)(PL_TEST_WAIT_TIMEOUT_US / 1000)), ==, 1);
		n = recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		/* a peer that closes with unread input resets the stream after its data */
		if (n < 0 && errno == ECONNRESET)
			break;
		g_assert_cmpint(n, >=, 0);
		if (n == 0)
			break;
		g_string_append_len(text, buffer, n);
	}
	return g_string_free(text, FALSE);
}

/* Asserts that @text is exactly one error line with "id": null and @code. */
static void
assert_single_error_line(const gchar *text, PlIpcErrorCode code)
{
	g_autoptr(PlIpcMessage) message = NULL;
	g_autoptr(GError) error = NULL;
	gsize len = strlen(text);

	g_test_message("the connection said: %s", text);
	g_assert_cmpuint(len, >, 0);
	g_assert_cmpint(text[len - 1], ==, '\n');
	g_assert_null(memchr(text, '\n', len - 1));
	message = pl_ipc_message_decode(text, len - 1, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpint(pl_ipc_message_get_kind(message), ==, PL_IPC_MESSAGE_KIND_ERROR);
	g_assert_cmpint(pl_ipc_message_get_id(message), ==, PL_IPC_ID_NONE);
	g_assert_cmpstr(pl_ipc_message_get_error_code(message), ==, pl_ipc_error_to_string(code));
	g_assert_nonnull(strstr(text, "\"id\":null"));
}

static gchar *
encode_to_string(PlIpcMessage *message)
{
	g_autoptr(GBytes) bytes = pl_ipc_message_encode(message);

	return g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
}

static gchar *
request_line(gint64 id, const gchar *method)
{
	g_autoptr(PlIpcMessage) message = pl_ipc_message_new_request(id, method, NULL);

	return encode_to_string(message);
}

/* A pipe whose read end carries @content and is already at EOF on the write side. */
static gint
pipe_with_content(const gchar *content)
{
	gint fds[2];

	g_assert_cmpint(pipe2(fds, O_CLOEXEC), ==, 0);
	g_assert_cmpint(write(fds[1], content, strlen(content)), ==, (gssize)strlen(content));
	close(fds[1]);
	return fds[0];
}

static gchar *
read_fd_to_eof(gint fd)
{
	GString *text = g_string_new(NULL);
	gchar buffer[256];
	gssize n;

	while ((n = read(fd, buffer, sizeof(buffer))) > 0)
		g_string_append_len(text, buffer, n);
	g_assert_cmpint(n, ==, 0);
	return g_string_free(text, FALSE);
}

static PlIpcMessage *
message_at(Endpoint *endpoint, guint i)
{
	g_assert_cmpuint(i, <, endpoint->messages->len);
	return g_ptr_array_index(endpoint->messages, i);
}

/* tests */

static void
test_both_ways(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(JsonObject) params = json_object_new();
	g_autoptr(JsonObject) result = json_object_new();
	g_autoptr(PlIpcMessage) request = NULL;
	g_autoptr(PlIpcMessage) response = NULL;
	g_autoptr(PlIpcMessage) event = NULL;
	g_autoptr(GError) error = NULL;
	PlIpcMessage *got;

	g_assert_cmpuint(pl_ipc_connection_get_serial(fixture->a.connection), !=,
	                 pl_ipc_connection_get_serial(fixture->b.connection));

	json_object_set_string_member(params, "peer",
	                              "b\xc3\xb6"
	                              "b\nline");
	request = pl_ipc_message_new_request(1, "ping", params);
	g_assert_true(pl_ipc_connection_send(fixture->a.connection, request, &error));
	g_assert_no_error(error);
	PL_TEST_WAIT_FOR(fixture->b.messages->len == 1);
	got = message_at(&fixture->b, 0);
	g_assert_cmpint(pl_ipc_message_get_kind(got), ==, PL_IPC_MESSAGE_KIND_REQUEST);
	g_assert_cmpint(pl_ipc_message_get_id(got), ==, 1);
	g_assert_cmpstr(pl_ipc_message_get_name(got), ==, "ping");
	g_assert_cmpstr(json_object_get_string_member(pl_ipc_message_get_body(got), "peer"), ==,
	                "b\xc3\xb6"
	                "b\nline");
	g_assert_null(pl_ipc_message_get_fd_list(got));

	json_object_set_boolean_member(result, "pong", TRUE);
	response = pl_ipc_message_new_response(1, result);
	event = pl_ipc_message_new_event("tick", NULL);
	g_assert_true(pl_ipc_connection_send(fixture->b.connection, response, &error));
	g_assert_true(pl_ipc_connection_send(fixture->b.connection, event, &error));
	g_assert_no_error(error);
	PL_TEST_WAIT_FOR(fixture->a.messages->len == 2);
	got = message_at(&fixture->a, 0);
	g_assert_cmpint(pl_ipc_message_get_kind(got), ==, PL_IPC_MESSAGE_KIND_RESPONSE);
	g_assert_true(json_object_get_boolean_member(pl_ipc_message_get_body(got), "pong"));
	got = message_at(&fixture->a, 1);
	g_assert_cmpint(pl_ipc_message_get_kind(got), ==, PL_IPC_MESSAGE_KIND_EVENT);
	g_assert_cmpstr(pl_ipc_message_get_name(got), ==, "tick");

	g_assert_cmpuint(pl_ipc_connection_get_queued_output(fixture->a.connection), ==, 0);
	g_assert_cmpuint(pl_ipc_connection_get_queued_output(fixture->b.connection), ==, 0);
	g_assert_cmpuint(fixture->a.invalid_ids->len + fixture->b.invalid_ids->len, ==, 0);
	g_assert_cmpuint(fixture->a.n_closed + fixture->b.n_closed, ==, 0);
}

/* Bigger than the socket buffers together, so the output queue and partial writes are used. */
static void
test_burst_in_order(Fixture *fixture, gconstpointer user_data)
{
	const guint n_messages = 200;
	g_autofree gchar *padding = g_strnfill(4000, 'p');
	gboolean queued = FALSE;

	for (guint i = 0; i < n_messages; i++) {
		g_autoptr(JsonObject) params = json_object_new();
		g_autoptr(PlIpcMessage) message = NULL;
		g_autoptr(GError) error = NULL;

		json_object_set_int_member(params, "index", i);
		json_object_set_string_member(params, "padding", padding);
		message = pl_ipc_message_new_request(i, "burst", params);
		g_assert_true(pl_ipc_connection_send(fixture->a.connection, message, &error));
		g_assert_no_error(error);
		if (pl_ipc_connection_get_queued_output(fixture->a.connection) > 0)
			queued = TRUE;
	}
	/* nobody read yet: the rest waits in the bounded output queue */
	g_assert_true(queued);
	PL_TEST_WAIT_FOR(fixture->b.messages->len == n_messages);
	for (guint i = 0; i < n_messages; i++) {
		PlIpcMessage *message = message_at(&fixture->b, i);
		JsonObject *params = pl_ipc_message_get_body(message);

		g_assert_cmpint(pl_ipc_message_get_id(message), ==, i);
		g_assert_cmpint(json_object_get_int_member(params, "index"), ==, i);
		g_assert_cmpstr(json_object_get_string_member(params, "padding"), ==, padding);
	}
	PL_TEST_WAIT_FOR(pl_ipc_connection_get_queued_output(fixture->a.connection) == 0);
	g_assert_cmpuint(fixture->b.invalid_ids->len, ==, 0);
	g_assert_cmpuint(fixture->a.n_closed + fixture->b.n_closed, ==, 0);
}

static void
test_one_byte_writes(Fixture *fixture, gconstpointer user_data)
{
	/* multi-byte UTF-8 gets split between reads too */
	const gchar *line = "{\"v\":1,\"id\":42,\"method\":\"slow\",\"params\":{\"s\":"
	                    "\"\xe2\x98\x83\xf0\x9f\x98\x80\"}}\n";
	gsize len = strlen(line);
	PlIpcMessage *message;

	for (gsize i = 0; i < len; i++) {
		raw_write(fixture->raw_fd, line + i, 1);
		pl_test_drain();
		if (i + 1 < len)
			g_assert_cmpuint(fixture->a.messages->len, ==, 0);
	}
	PL_TEST_WAIT_FOR(fixture->a.messages->len == 1);
	message = message_at(&fixture->a, 0);
	g_assert_cmpint(pl_ipc_message_get_id(message), ==, 42);
	g_assert_cmpstr(pl_ipc_message_get_name(message), ==, "slow");
	g_assert_cmpstr(json_object_get_string_member(pl_ipc_message_get_body(message), "s"), ==,
	                "\xe2\x98\x83\xf0\x9f\x98\x80");
	g_assert_cmpuint(fixture->a.invalid_ids->len, ==, 0);
	g_assert_cmpuint(fixture->a.n_closed, ==, 0);
}

static void
test_several_in_one_write(Fixture *fixture, gconstpointer user_data)
{
	g_autofree gchar *one = request_line(1, "first");
	g_autofree gchar *two = request_line(2, "second");
	g_autofree gchar *three = request_line(3, "third");
	g_autofree gchar *four = request_line(4, "fourth");
	g_autofree gchar *batch = g_strconcat(one, two, three, NULL);
	gsize half = strlen(four) / 2;

	/* three whole messages and half of a fourth in one write */
	raw_write_str(fixture->raw_fd, batch);
	raw_write(fixture->raw_fd, four, half);
	PL_TEST_WAIT_FOR(fixture->a.messages->len == 3);
	pl_test_drain();
	g_assert_cmpuint(fixture->a.messages->len, ==, 3);
	raw_write_str(fixture->raw_fd, four + half);
	PL_TEST_WAIT_FOR(fixture->a.messages->len == 4);
	for (guint i = 0; i < 4; i++)
		g_assert_cmpint(pl_ipc_message_get_id(message_at(&fixture->a, i)), ==, i + 1);
	g_assert_cmpstr(pl_ipc_message_get_name(message_at(&fixture->a, 2)), ==, "third");
	g_assert_cmpstr(pl_ipc_message_get_name(message_at(&fixture->a, 3)), ==, "fourth");
	g_assert_cmpuint(fixture->a.invalid_ids->len, ==, 0);
}

static void
test_blank_lines(Fixture *fixture, gconstpointer user_data)
{
	g_autofree gchar *one = request_line(1, "one");
	g_autofree gchar *two = request_line(2, "two");
	g_autofree gchar *text = g_strconcat("\n\n   \n\t\n\r\n", one, "\n \n", two, "\n", NULL);

	raw_write_str(fixture->raw_fd, text);
	PL_TEST_WAIT_FOR(fixture->a.messages->len == 2);
	pl_test_drain();
	g_assert_cmpuint(fixture->a.messages->len, ==, 2);
	g_assert_cmpint(pl_ipc_message_get_id(message_at(&fixture->a, 0)), ==, 1);
	g_assert_cmpint(pl_ipc_message_get_id(message_at(&fixture->a, 1)), ==, 2);
	g_assert_cmpuint(fixture->a.invalid_ids->len, ==, 0);
	g_assert_cmpuint(fixture->a.n_closed, ==, 0);
}

static void
test_fds_travel(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(GUnixFDList) fd_list = g_unix_fd_list_new();
	g_autoptr(PlIpcMessage) request = pl_ipc_message_new_request(7, "open", NULL);
	g_autoptr(PlIpcMessage) after = pl_ipc_message_new_request(8, "plain", NULL);
	g_autoptr(GError) error = NULL;
	GUnixFDList *received;
	PlIpcMessage *message;

	for (guint i = 0; i < 3; i++) {
		g_autofree gchar *content = g_strdup_printf("payload number %u", i);
		gint fd = pipe_with_content(content);

		g_assert_cmpint(g_unix_fd_list_append(fd_list, fd, &error), ==, i);
		g_assert_no_error(error);
		close(fd);
	}
	pl_ipc_message_set_fd_list(request, fd_list);
	g_assert_true(pl_ipc_connection_send(fixture->a.connection, request, &error));
	g_assert_true(pl_ipc_connection_send(fixture->a.connection, after, &error));
	g_assert_no_error(error);
	g_clear_object(&request);
	g_clear_object(&fd_list);

	PL_TEST_WAIT_FOR(fixture->b.messages->len == 2);
	message = message_at(&fixture->b, 0);
	g_assert_cmpint(pl_ipc_message_get_id(message), ==, 7);
	g_assert_cmpuint(pl_ipc_message_get_n_fds(message), ==, 3);
	received = pl_ipc_message_get_fd_list(message);
	g_assert_nonnull(received);
	g_assert_cmpint(g_unix_fd_list_get_length(received), ==, 3);
	for (guint i = 0; i < 3; i++) {
		g_autofree gchar *expected = g_strdup_printf("payload number %u", i);
		g_autofree gchar *content = NULL;
		const gint *fds = g_unix_fd_list_peek_fds(received, NULL);

		/* new descriptors, distinct from each other and from what was sent */
		for (guint j = 0; j < i; j++)
			g_assert_cmpint(fds[i], !=, fds[j]);
		g_assert_cmpint(fcntl(fds[i], F_GETFD), >=, 0);
		content = read_fd_to_eof(fds[i]);
		g_assert_cmpstr(content, ==, expected);
	}
	/* the next message gets none of them */
	message = message_at(&fixture->b, 1);
	g_assert_cmpint(pl_ipc_message_get_id(message), ==, 8);
	g_assert_null(pl_ipc_message_get_fd_list(message));
	g_assert_cmpuint(fixture->b.n_closed, ==, 0);
}

/* Descriptors without a message that declares them are closed by the receiver. */
static void
test_stray_fds_closed(Fixture *fixture, gconstpointer user_data)
{
	g_autofree gchar *line = request_line(1, "after-the-fds");
	gint write_ends[3];
	gint read_ends[3];
	guint n_fds;

	for (guint i = 0; i < 3; i++) {
		gint fds[2];

		g_assert_cmpint(pipe2(fds, O_CLOEXEC), ==, 0);
		read_ends[i] = fds[0];
		write_ends[i] = fds[1];
	}
	n_fds = pl_test_count_fds(0);
	raw_sendmsg_fds(fixture->raw_fd, "\n", 1, read_ends, 3);
	for (guint i = 0; i < 3; i++)
		close(read_ends[i]);
	/* the read ends now exist only in flight, then in the receiver */
	g_assert_cmpuint(pl_test_count_fds(0), ==, n_fds - 3);
	raw_write_str(fixture->raw_fd, line);
	PL_TEST_WAIT_FOR(fixture->a.messages->len == 1);
	pl_test_drain();
	g_assert_null(pl_ipc_message_get_fd_list(message_at(&fixture->a, 0)));
	g_assert_cmpuint(pl_test_count_fds(0), ==, n_fds - 3);
	/* and nobody holds a read end any more: the pipes are broken */
	for (guint i = 0; i < 3; i++) {
		g_assert_cmpint(write(write_ends[i], "x", 1), ==, -1);
		g_assert_cmpint(errno, ==, EPIPE);
		close(write_ends[i]);
	}
	g_assert_cmpuint(fixture->a.n_closed, ==, 0);
}

/* Descriptors belong to the message whose first byte they came with: stray ones must never be
 * handed to a later message that declares descriptors but sent none. */
static void
test_stray_fds_not_reused(Fixture *fixture, gconstpointer user_data)
{
	const gchar *line = "{\"v\":1,\"id\":4,\"method\":\"m\",\"fds\":1}\n";
	gint fds[2];

	g_assert_cmpint(pipe2(fds, O_CLOEXEC), ==, 0);
	raw_sendmsg_fds(fixture->raw_fd, "\n", 1, &fds[0], 1);
	close(fds[0]);
	/* a separate write, without descriptors, that claims one */
	raw_write_str(fixture->raw_fd, line);
	PL_TEST_WAIT_FOR(fixture->a.n_closed == 1 || fixture->a.messages->len == 1);
	if (fixture->a.messages->len == 1) {
		GUnixFDList *fd_list = pl_ipc_message_get_fd_list(message_at(&fixture->a, 0));
		g_test_message("the message got %d descriptor(s) it never sent",
		               fd_list != NULL ? g_unix_fd_list_get_length(fd_list) : 0);
	}
	close(fds[1]);
	g_assert_cmpuint(fixture->a.messages->len, ==, 0);
	g_assert_cmpuint(fixture->a.n_closed, ==, 1);
	g_assert_error(fixture->a.close_error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_REQUEST);
}

static void
test_missing_fds(Fixture *fixture, gconstpointer user_data)
{
	const gchar *line = "{\"v\":1,\"id\":5,\"method\":\"m\",\"fds\":2}\n";
	g_autofree gchar *reply = NULL;
	gint fds[2];

	/* one descriptor travels, two are declared */
	g_assert_cmpint(pipe2(fds, O_CLOEXEC), ==, 0);
	raw_sendmsg_fds(fixture->raw_fd, line, strlen(line), &fds[0], 1);
	close(fds[0]);

	PL_TEST_WAIT_FOR(fixture->a.n_closed == 1);
	g_assert_error(fixture->a.close_error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_REQUEST);
	g_assert_cmpuint(fixture->a.messages->len, ==, 0);
	reply = raw_read_to_eof(fixture->raw_fd);
	assert_single_error_line(reply, PL_IPC_ERROR_INVALID_REQUEST);
	/* the descriptor that did arrive was closed with the connection */
	g_assert_cmpint(write(fds[1], "x", 1), ==, -1);
	g_assert_cmpint(errno, ==, EPIPE);
	close(fds[1]);
}

static void
test_missing_fds_none_sent(Fixture *fixture, gconstpointer user_data)
{
	g_autofree gchar *reply = NULL;

	raw_write_str(fixture->raw_fd, "{\"v\":1,\"id\":6,\"result\":{},\"fds\":1}\n");
	PL_TEST_WAIT_FOR(fixture->a.n_closed == 1);
	g_assert_error(fixture->a.close_error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_REQUEST);
	g_assert_cmpuint(fixture->a.messages->len, ==, 0);
	reply = raw_read_to_eof(fixture->raw_fd);
	assert_single_error_line(reply, PL_IPC_ERROR_INVALID_REQUEST);
}

static void
test_too_many_pending_fds(Fixture *fixture, gconstpointer user_data)
{
	g_autofree gchar *reply = NULL;
	const gchar *partial = "{\"v\":1,\"id\":1,";
	guint n_sends = PL_IPC_MAX_PENDING_FDS / PL_IPC_MAX_FDS_PER_MESSAGE + 1;

	/* one partial message keeps collecting descriptors */
	for (guint i = 0; i < n_sends; i++) {
		gint fds[PL_IPC_MAX_FDS_PER_MESSAGE];

		for (guint j = 0; j < G_N_ELEMENTS(fds); j++)
			fds[j] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		raw_sendmsg_fds(fixture->raw_fd, partial + (i % strlen(partial)), 1, fds,
		                G_N_ELEMENTS(fds));
		for (guint j = 0; j < G_N_ELEMENTS(fds); j++)
			close(fds[j]);
	}
	PL_TEST_WAIT_FOR(fixture->a.n_closed == 1);
	g_assert_error(fixture->a.close_error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_REQUEST);
	reply = raw_read_to_eof(fixture->raw_fd);
	assert_single_error_line(reply, PL_IPC_ERROR_INVALID_REQUEST);
	/* the fixture teardown checks that all of them were closed */
}

static void
test_too_large(Fixture *fixture, gconstpointer user_data)
{
	g_autofree gchar *big = g_strnfill(70 * 1024, 'x');
	g_autofree gchar *reply = NULL;

	raw_write_str(fixture->raw_fd, big);
	PL_TEST_WAIT_FOR(fixture->a.n_closed == 1);
	g_assert_error(fixture->a.close_error, PL_IPC_ERROR, PL_IPC_ERROR_MESSAGE_TOO_LARGE);
	g_assert_true(pl_ipc_connection_is_closed(fixture->a.connection));
	g_assert_cmpuint(fixture->a.messages->len, ==, 0);
	g_assert_cmpuint(fixture->a.invalid_ids->len, ==, 0);
	reply = raw_read_to_eof(fixture->raw_fd);
	assert_single_error_line(reply, PL_IPC_ERROR_MESSAGE_TOO_LARGE);
}

/* A request line of exactly @len bytes without its '\n'. */
static gchar *
line_of_size(gsize len)
{
	const gchar *head = "{\"v\":1,\"id\":1,\"method\":\"m\",\"params\":{\"pad\":\"";
	const gchar *tail = "\"}}";
	gsize pad = len - strlen(head) - strlen(tail);
	g_autofree gchar *padding = g_strnfill(pad, 'a');
	gchar *line = g_strconcat(head, padding, tail, "\n", NULL);

	g_assert_cmpuint(strlen(line), ==, len + 1);
	return line;
}

static void
test_size_limit_boundary(Fixture *fixture, gconstpointer user_data)
{
	g_autofree gchar *at_limit = line_of_size(PL_IPC_DEFAULT_MAX_MESSAGE_SIZE);
	g_autofree gchar *over_limit = line_of_size(PL_IPC_DEFAULT_MAX_MESSAGE_SIZE + 1);
	g_autofree gchar *reply = NULL;

	raw_write_str(fixture->raw_fd, at_limit);
	PL_TEST_WAIT_FOR(fixture->a.messages->len == 1);
	g_assert_cmpuint(fixture->a.n_closed, ==, 0);

	raw_write_str(fixture->raw_fd, over_limit);
	PL_TEST_WAIT_FOR(fixture->a.n_closed == 1);
	g_assert_error(fixture->a.close_error, PL_IPC_ERROR, PL_IPC_ERROR_MESSAGE_TOO_LARGE);
	g_assert_cmpuint(fixture->a.messages->len, ==, 1);
	reply = raw_read_to_eof(fixture->raw_fd);
	assert_single_error_line(reply, PL_IPC_ERROR_MESSAGE_TOO_LARGE);
}

static void
test_max_message_size_setting(Fixture *fixture, gconstpointer user_data)
{
	g_autofree gchar *big = line_of_size(100 * 1024);
	g_autofree gchar *too_big = line_of_size(100 * 1024 + 1);
	g_autofree gchar *reply = NULL;

	pl_ipc_connection_set_max_message_size(fixture->a.connection, 100 * 1024);
	raw_write_str(fixture->raw_fd, big);
	PL_TEST_WAIT_FOR(fixture->a.messages->len == 1);
	raw_write_str(fixture->raw_fd, too_big);
	PL_TEST_WAIT_FOR(fixture->a.n_closed == 1);
	g_assert_error(fixture->a.close_error, PL_IPC_ERROR, PL_IPC_ERROR_MESSAGE_TOO_LARGE);
	reply = raw_read_to_eof(fixture->raw_fd);
	assert_single_error_line(reply, PL_IPC_ERROR_MESSAGE_TOO_LARGE);
}

static void
test_stall_timeout(Fixture *fixture, gconstpointer user_data)
{
	g_autofree gchar *reply = NULL;
	gint64 start;
	gint64 elapsed_ms;

	pl_ipc_connection_set_stall_timeout(fixture->a.connection, 200);
	start = g_get_monotonic_time();
	raw_write_str(fixture->raw_fd, "{\"v\":1,\"id\":1,\"meth");
	PL_TEST_WAIT_FOR(fixture->a.n_closed == 1);
	elapsed_ms = (g_get_monotonic_time() - start) / 1000;
	g_test_message("closed after %" G_GINT64_FORMAT " ms", elapsed_ms);
	g_assert_cmpint(elapsed_ms, >=, 190);
	g_assert_error(fixture->a.close_error, PL_IPC_ERROR, PL_IPC_ERROR_TIMED_OUT);
	g_assert_cmpuint(fixture->a.messages->len, ==, 0);
	reply = raw_read_to_eof(fixture->raw_fd);
	assert_single_error_line(reply, PL_IPC_ERROR_TIMED_OUT);
}

/* Complete lines never stall, however long the connection stays idle. */
static void
test_idle_is_not_a_stall(Fixture *fixture, gconstpointer user_data)
{
	g_autofree gchar *line = request_line(1, "m");

	pl_ipc_connection_set_stall_timeout(fixture->a.connection, 100);
	raw_write_str(fixture->raw_fd, line);
	PL_TEST_WAIT_FOR(fixture->a.messages->len == 1);
	pl_test_run_for(300);
	g_assert_cmpuint(fixture->a.n_closed, ==, 0);
}

/* A stream that keeps completing messages must not be cut because the buffer is never empty
 * between reads: each write completes one line and starts the next, so every message completes
 * 50 ms after its first byte; the stall timeout is 250 ms and the stream lasts ~650 ms. */
static void
test_stall_timer_restarts(Fixture *fixture, gconstpointer user_data)
{
	const guint n_messages = 12;
	g_autoptr(GString) stream = g_string_new(NULL);
	gsize cuts[13];
	gsize offset = 0;

	pl_ipc_connection_set_stall_timeout(fixture->a.connection, 250);
	for (guint i = 0; i < n_messages; i++) {
		g_autofree gchar *line = request_line(i, "trickle");

		cuts[i] = stream->len + 5; /* five bytes into line i */
		g_string_append(stream, line);
	}
	cuts[n_messages] = stream->len;
	for (guint i = 0; i <= n_messages && fixture->a.n_closed == 0; i++) {
		raw_write(fixture->raw_fd, stream->str + offset, cuts[i] - offset);
		offset = cuts[i];
		pl_test_run_for(50);
	}
	g_assert_no_error(fixture->a.close_error);
	g_assert_cmpuint(fixture->a.n_closed, ==, 0);
	PL_TEST_WAIT_FOR(fixture->a.messages->len == n_messages);
}

static void
test_invalid_line_keeps_stream(Fixture *fixture, gconstpointer user_data)
{
	g_autofree gchar *valid = request_line(9, "still-works");
	g_autofree gchar *text =
	        g_strconcat("this is not json\n", "{\"v\":1,\"id\":7,\"method\":\"\"}\n",
	                    "{\"v\":2,\"id\":8,\"method\":\"m\"}\n", "[1,2,3]\n", valid, NULL);
	GError *error;

	raw_write_str(fixture->raw_fd, text);
	PL_TEST_WAIT_FOR(fixture->a.messages->len == 1);
	g_assert_cmpuint(fixture->a.invalid_ids->len, ==, 4);

	g_assert_cmpint(g_array_index(fixture->a.invalid_ids, gint64, 0), ==, PL_IPC_ID_NONE);
	error = g_ptr_array_index(fixture->a.invalid_errors, 0);
	g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_JSON);

	g_assert_cmpint(g_array_index(fixture->a.invalid_ids, gint64, 1), ==, 7);
	error = g_ptr_array_index(fixture->a.invalid_errors, 1);
	g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_REQUEST);

	g_assert_cmpint(g_array_index(fixture->a.invalid_ids, gint64, 2), ==, 8);
	error = g_ptr_array_index(fixture->a.invalid_errors, 2);
	g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_UNSUPPORTED_VERSION);

	g_assert_cmpint(g_array_index(fixture->a.invalid_ids, gint64, 3), ==, PL_IPC_ID_NONE);
	error = g_ptr_array_index(fixture->a.invalid_errors, 3);
	g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_NOT_AN_OBJECT);

	g_assert_cmpint(pl_ipc_message_get_id(message_at(&fixture->a, 0)), ==, 9);
	g_assert_false(pl_ipc_connection_is_closed(fixture->a.connection));
	g_assert_cmpuint(fixture->a.n_closed, ==, 0);

	/* and a later write is still read */
	raw_write_str(fixture->raw_fd, valid);
	PL_TEST_WAIT_FOR(fixture->a.messages->len == 2);
}

static void
test_slow_reader(Fixture *fixture, gconstpointer user_data)
{
	const gsize max_output = 64 * 1024;
	g_autofree gchar *padding = g_strnfill(1000, 'z');
	g_autoptr(GError) error = NULL;
	g_autoptr(PlIpcMessage) after = pl_ipc_message_new_event("after", NULL);
	guint i;

	pl_ipc_connection_set_max_output(fixture->a.connection, max_output);
	/* the raw end never reads: kernel buffers fill up first, then the output queue */
	for (i = 0; i < 20000; i++) {
		g_autoptr(JsonObject) params = json_object_new();
		g_autoptr(PlIpcMessage) event = NULL;

		json_object_set_string_member(params, "padding", padding);
		event = pl_ipc_message_new_event("flood", params);
		if (!pl_ipc_connection_send(fixture->a.connection, event, &error))
			break;
		g_assert_cmpuint(pl_ipc_connection_get_queued_output(fixture->a.connection), <=,
		                 max_output);
		if (i % 64 == 0)
			pl_test_drain();
	}
	g_test_message("refused after %u messages", i);
	g_assert_cmpuint(i, <, 20000);
	g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_SLOW_CLIENT);
	g_assert_true(pl_ipc_connection_is_closed(fixture->a.connection));
	g_assert_cmpuint(fixture->a.n_closed, ==, 1);
	g_assert_error(fixture->a.close_error, PL_IPC_ERROR, PL_IPC_ERROR_SLOW_CLIENT);
	g_assert_cmpuint(pl_ipc_connection_get_queued_output(fixture->a.connection), ==, 0);

	/* closed means closed */
	g_clear_error(&error);
	g_assert_false(pl_ipc_connection_send(fixture->a.connection, after, &error));
	g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_DISCONNECTED);
	g_assert_cmpuint(fixture->a.n_closed, ==, 1);
}

static void
test_eof(Fixture *fixture, gconstpointer user_data)
{
	g_autofree gchar *line = request_line(3, "last-words");
	g_autoptr(PlIpcMessage) late = pl_ipc_message_new_event("late", NULL);
	g_autoptr(GError) error = NULL;

	/* a message right before the end of the stream is still delivered */
	raw_write_str(fixture->raw_fd, line);
	close(fixture->raw_fd);
	fixture->raw_fd = -1;
	PL_TEST_WAIT_FOR(fixture->a.n_closed == 1);
	g_assert_cmpuint(fixture->a.messages->len, ==, 1);
	g_assert_cmpint(pl_ipc_message_get_id(message_at(&fixture->a, 0)), ==, 3);
	g_assert_null(fixture->a.close_error);
	g_assert_true(pl_ipc_connection_is_closed(fixture->a.connection));

	g_assert_false(pl_ipc_connection_send(fixture->a.connection, late, &error));
	g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_DISCONNECTED);
	pl_test_run_for(50);
	g_assert_cmpuint(fixture->a.n_closed, ==, 1);
}

static void
test_local_close(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(GError) reason =
	        g_error_new_literal(PL_IPC_ERROR, PL_IPC_ERROR_SHUTTING_DOWN, "bye");

	pl_ipc_connection_close(fixture->a.connection, reason);
	g_assert_cmpuint(fixture->a.n_closed, ==, 1);
	g_assert_error(fixture->a.close_error, PL_IPC_ERROR, PL_IPC_ERROR_SHUTTING_DOWN);
	/* once only */
	pl_ipc_connection_close(fixture->a.connection, NULL);
	g_assert_cmpuint(fixture->a.n_closed, ==, 1);
	PL_TEST_WAIT_FOR(fixture->b.n_closed == 1);
	g_assert_null(fixture->b.close_error);
}

static void
test_close_after_flush(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(GError) reason =
	        g_error_new_literal(PL_IPC_ERROR, PL_IPC_ERROR_SHUTTING_DOWN, "bye");
	g_autofree gchar *padding = g_strnfill(300 * 1024, 'f');
	g_autoptr(JsonObject) params = json_object_new();
	g_autoptr(PlIpcMessage) big = NULL;
	g_autoptr(GError) error = NULL;

	/* bigger than the kernel buffers: the tail is still queued when closing starts */
	json_object_set_string_member(params, "padding", padding);
	big = pl_ipc_message_new_event("goodbye", params);
	pl_ipc_connection_set_max_message_size(fixture->b.connection, 512 * 1024);
	g_assert_true(pl_ipc_connection_send(fixture->a.connection, big, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(pl_ipc_connection_get_queued_output(fixture->a.connection), >, 0);
	pl_ipc_connection_close_after_flush(fixture->a.connection, reason);
	g_assert_false(pl_ipc_connection_send(fixture->a.connection, big, &error));
	g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_DISCONNECTED);

	PL_TEST_WAIT_FOR(fixture->b.n_closed == 1 && fixture->a.n_closed == 1);
	g_assert_cmpuint(fixture->b.messages->len, ==, 1);
	g_assert_cmpstr(pl_ipc_message_get_name(message_at(&fixture->b, 0)), ==, "goodbye");
	g_assert_null(fixture->b.close_error);
	g_assert_error(fixture->a.close_error, PL_IPC_ERROR, PL_IPC_ERROR_SHUTTING_DOWN);
}

static void
test_peer_credentials(Fixture *fixture, gconstpointer user_data)
{
	uid_t uid = (uid_t)-1;
	pid_t pid = 0;

	g_assert_true(pl_ipc_connection_get_peer_credentials(fixture->a.connection, &uid, &pid));
	g_assert_cmpuint(uid, ==, getuid());
	g_assert_cmpint(pid, ==, getpid());
	g_assert_true(pl_ipc_connection_get_peer_credentials(fixture->a.connection, NULL, NULL));
}

int
main(int argc, char **argv)
{
	/* writes to a closed peer must fail with EPIPE, not kill the test */
	signal(SIGPIPE, SIG_IGN);
	g_test_init(&argc, &argv, NULL);
	/* create the default context (and its wakeup fd) before the tests count descriptors */
	pl_test_drain();

#define ADD_RAW(path, func)                                                                        \
	g_test_add("/peerlink/ipc/connection/" path, Fixture, NULL, fixture_setup_raw, func,       \
	           fixture_teardown)
#define ADD_PAIR(path, func)                                                                       \
	g_test_add("/peerlink/ipc/connection/" path, Fixture, NULL, fixture_setup_pair, func,      \
	           fixture_teardown)

	ADD_PAIR("both-ways", test_both_ways);
	ADD_PAIR("burst-in-order", test_burst_in_order);
	ADD_RAW("one-byte-writes", test_one_byte_writes);
	ADD_RAW("several-in-one-write", test_several_in_one_write);
	ADD_RAW("blank-lines", test_blank_lines);
	ADD_PAIR("fds-travel", test_fds_travel);
	ADD_RAW("stray-fds-closed", test_stray_fds_closed);
	ADD_RAW("stray-fds-not-reused", test_stray_fds_not_reused);
	ADD_RAW("missing-fds", test_missing_fds);
	ADD_RAW("missing-fds-none-sent", test_missing_fds_none_sent);
	ADD_RAW("too-many-pending-fds", test_too_many_pending_fds);
	ADD_RAW("too-large", test_too_large);
	ADD_RAW("size-limit-boundary", test_size_limit_boundary);
	ADD_RAW("max-message-size-setting", test_max_message_size_setting);
	ADD_RAW("stall-timeout", test_stall_timeout);
	ADD_RAW("idle-is-not-a-stall", test_idle_is_not_a_stall);
	ADD_RAW("stall-timer-restarts", test_stall_timer_restarts);
	ADD_RAW("invalid-line-keeps-stream", test_invalid_line_keeps_stream);
	ADD_RAW("slow-reader", test_slow_reader);
	ADD_RAW("eof", test_eof);
	ADD_PAIR("local-close", test_local_close);
	ADD_PAIR("close-after-flush", test_close_after_flush);
	ADD_RAW("peer-credentials", test_peer_credentials);
	return g_test_run();
}
