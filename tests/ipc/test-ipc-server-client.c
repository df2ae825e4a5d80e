#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "pl-client.h"
#include "pl-ipc-params.h"
#include "pl-ipc-server.h"
#include "pl-ipc-test-util.h"
#include "pl-test-util.h"

typedef struct {
	gchar *tmpdir;
	gchar *socket_path; /* in a subdirectory that listen_path has to create */
	PlIpcServer *server;
	GPtrArray *held; /* PlIpcRequest kept unanswered by "hold" */
	guint n_connection_closed;
	gint pipe_write_fd; /* write end of the pipe whose read end "pipe" returned */
	guint n_fds_before;
} Fixture;

/* What a client saw, attached to it as object data. */
typedef struct {
	GPtrArray *event_names;
	GPtrArray *event_params; /* JsonObject */
	guint n_closed;
	GError *close_error;
} ClientWatch;

static guint
path_mode(const gchar *path)
{
	GStatBuf st;

	g_assert_cmpint(g_lstat(path, &st), ==, 0);
	return st.st_mode;
}

/* method handlers */

static void
echo_cb(PlIpcRequest *request, gpointer user_data)
{
	pl_ipc_request_return(request, pl_ipc_request_get_params(request), NULL);
}

static gboolean
answer_later_cb(gpointer user_data)
{
	PlIpcRequest *request = PL_IPC_REQUEST(user_data);
	g_autoptr(JsonObject) result = json_object_new();

	json_object_set_boolean_member(result, "later", TRUE);
	pl_ipc_request_return(request, result, NULL);
	return G_SOURCE_REMOVE;
}

/* answers from a timeout, after the handler returned */
static void
later_cb(PlIpcRequest *request, gpointer user_data)
{
	g_timeout_add_full(G_PRIORITY_DEFAULT, 50, answer_later_cb, g_object_ref(request),
	                   g_object_unref);
}

static void
hold_cb(PlIpcRequest *request, gpointer user_data)
{
	Fixture *fixture = user_data;

	g_ptr_array_add(fixture->held, g_object_ref(request));
}

static void
drop_cb(PlIpcRequest *request, gpointer user_data)
{
}

static void
fail_cb(PlIpcRequest *request, gpointer user_data)
{
	g_autoptr(GError) error =
	        g_error_new_literal(PL_IPC_ERROR, PL_IPC_ERROR_INVALID_PARAMS, "no \"peer\" given");

	pl_ipc_request_return_error(request, error);
}

static void
pipe_cb(PlIpcRequest *request, gpointer user_data)
{
	Fixture *fixture = user_data;
	g_autoptr(GUnixFDList) fd_list = g_unix_fd_list_new();
	g_autoptr(JsonObject) result = json_object_new();
	g_autoptr(GError) error = NULL;
	gint fds[2];

	g_assert_cmpint(fixture->pipe_write_fd, ==, -1);
	g_assert_cmpint(pipe2(fds, O_CLOEXEC), ==, 0);
	g_assert_cmpint(g_unix_fd_list_append(fd_list, fds[0], &error), ==, 0);
	g_assert_no_error(error);
	close(fds[0]);
	fixture->pipe_write_fd = fds[1];
	json_object_set_int_member(result, "index", 0);
	pl_ipc_request_return(request, result, fd_list);
}

/* reads every descriptor the client sent and returns the contents */
static void
read_fds_cb(PlIpcRequest *request, gpointer user_data)
{
	GUnixFDList *fd_list = pl_ipc_request_get_fd_list(request);
	g_autoptr(JsonObject) result = json_object_new();
	JsonArray *contents = json_array_new();

	for (gint i = 0; fd_list != NULL && i < g_unix_fd_list_get_length(fd_list); i++) {
		const gint *fds = g_unix_fd_list_peek_fds(fd_list, NULL);
		gchar buffer[256] = {0};
		gssize n = read(fds[i], buffer, sizeof(buffer) - 1);

		g_assert_cmpint(n, >=, 0);
		json_array_add_string_element(contents, buffer);
	}
	json_object_set_array_member(result, "contents", contents);
	pl_ipc_request_return(request, result, NULL);
}

static void
on_connection_closed(PlIpcServer *server, PlIpcConnection *connection, gpointer user_data)
{
	Fixture *fixture = user_data;

	g_assert_true(PL_IS_IPC_CONNECTION(connection));
	fixture->n_connection_closed++;
}

/* fixture */

static void
fixture_setup(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;

	fixture->n_fds_before = pl_test_count_fds(0);
	fixture->tmpdir = g_dir_make_tmp("peerlink-test-ipc-XXXXXX", &error);
	g_assert_no_error(error);
	fixture->socket_path = g_build_filename(fixture->tmpdir, "run", "agent.sock", NULL);
	fixture->held = g_ptr_array_new_with_free_func(g_object_unref);
	fixture->pipe_write_fd = -1;
	fixture->server = pl_ipc_server_new();
	pl_ipc_server_add_method(fixture->server, "echo", echo_cb, fixture);
	pl_ipc_server_add_method(fixture->server, "later", later_cb, fixture);
	pl_ipc_server_add_method(fixture->server, "hold", hold_cb, fixture);
	pl_ipc_server_add_method(fixture->server, "drop", drop_cb, fixture);
	pl_ipc_server_add_method(fixture->server, "fail", fail_cb, fixture);
	pl_ipc_server_add_method(fixture->server, "pipe", pipe_cb, fixture);
	pl_ipc_server_add_method(fixture->server, "read-fds", read_fds_cb, fixture);
	g_signal_connect(fixture->server, "connection-closed", G_CALLBACK(on_connection_closed),
	                 fixture);
}

static void
fixture_listen(Fixture *fixture)
{
	g_autoptr(GError) error = NULL;

	g_assert_true(pl_ipc_server_listen_path(fixture->server, fixture->socket_path, &error));
	g_assert_no_error(error);
}

static void
fixture_setup_listening(Fixture *fixture, gconstpointer user_data)
{
	fixture_setup(fixture, user_data);
	fixture_listen(fixture);
}

static void
fixture_teardown(Fixture *fixture, gconstpointer user_data)
{
	g_clear_pointer(&fixture->held, g_ptr_array_unref);
	if (fixture->server != NULL)
		g_signal_handlers_disconnect_by_data(fixture->server, fixture);
	g_clear_object(&fixture->server);
	if (fixture->pipe_write_fd >= 0)
		close(fixture->pipe_write_fd);
	pl_test_drain();
	pl_test_remove_tree(fixture->tmpdir);
	g_free(fixture->tmpdir);
	g_free(fixture->socket_path);
	/* servers, clients and passed descriptors all went away */
	g_assert_cmpuint(pl_test_count_fds(0), ==, fixture->n_fds_before);
}

/* client helpers */

static void
client_watch_free(ClientWatch *watch)
{
	g_ptr_array_unref(watch->event_names);
	g_ptr_array_unref(watch->event_params);
	g_clear_error(&watch->close_error);
	g_free(watch);
}

static void
on_client_event(PlClient *client,
                const gchar *name,
                JsonObject *params,
                GUnixFDList *fd_list,
                gpointer user_data)
{
	ClientWatch *watch = user_data;

	g_assert_nonnull(params);
	g_ptr_array_add(watch->event_names, g_strdup(name));
	g_ptr_array_add(watch->event_params, json_object_ref(params));
}

static void
on_client_closed(PlClient *client, GError *error, gpointer user_data)
{
	ClientWatch *watch = user_data;

	g_test_message("client closed: %s", error != NULL ? error->message : "(no error)");
	watch->n_closed++;
	if (error != NULL && watch->close_error == NULL)
		watch->close_error = g_error_copy(error);
}

static ClientWatch *
client_watch(PlClient *client)
{
	ClientWatch *watch = g_object_get_data(G_OBJECT(client), "test-watch");

	g_assert_nonnull(watch);
	return watch;
}

static void
store_result_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	GAsyncResult **out = user_data;

	g_assert_null(*out);
	*out = g_object_ref(result);
}

static PlClient *
client_new_watched(const gchar *path)
{
	PlClient *client = pl_client_new(path);
	ClientWatch *watch = g_new0(ClientWatch, 1);

	watch->event_names = g_ptr_array_new_with_free_func(g_free);
	watch->event_params = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
	g_object_set_data_full(G_OBJECT(client), "test-watch", watch,
	                       (GDestroyNotify)client_watch_free);
	g_signal_connect(client, "event", G_CALLBACK(on_client_event), watch);
	g_signal_connect(client, "closed", G_CALLBACK(on_client_closed), watch);
	return client;
}

static gboolean
client_connect(PlClient *client, GError **error)
{
	g_autoptr(GAsyncResult) result = NULL;

	pl_client_connect_async(client, NULL, store_result_cb, &result);
	PL_TEST_WAIT_FOR(result != NULL);
	return pl_client_connect_finish(client, result, error);
}

static PlClient *
client_new_connected(const gchar *path)
{
	g_autoptr(PlClient) client = client_new_watched(path);
	g_autoptr(GError) error = NULL;

	g_assert_true(client_connect(client, &error));
	g_assert_no_error(error);
	g_assert_true(pl_client_is_connected(client));
	g_assert_cmpstr(pl_client_get_socket_path(client), ==, path);
	return g_steal_pointer(&client);
}

static JsonObject *
client_call(PlClient *client,
            const gchar *method,
            JsonObject *params,
            GUnixFDList *fd_list,
            GUnixFDList **out_fd_list,
            GError **error)
{
	g_autoptr(GAsyncResult) result = NULL;

	pl_client_call_async(client, method, params, fd_list, NULL, store_result_cb, &result);
	PL_TEST_WAIT_FOR(result != NULL);
	return pl_client_call_finish(client, result, out_fd_list, error);
}

static void
assert_echo_works(PlClient *client)
{
	g_autoptr(JsonObject) params = json_object_new();
	g_autoptr(JsonObject) result = NULL;
	g_autoptr(GError) error = NULL;

	json_object_set_string_member(params, "ping", "pong");
	result = client_call(client, "echo", params, NULL, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(result);
	g_assert_cmpstr(json_object_get_string_member(result, "ping"), ==, "pong");
}

static gint
pipe_with_content(const gchar *content)
{
	gint fds[2];

	g_assert_cmpint(pipe2(fds, O_CLOEXEC), ==, 0);
	g_assert_cmpint(write(fds[1], content, strlen(content)), ==, (gssize)strlen(content));
	close(fds[1]);
	return fds[0];
}

/* tests */

static void
test_listen_creates_private_paths(Fixture *fixture, gconstpointer user_data)
{
	g_autofree gchar *dir = g_path_get_dirname(fixture->socket_path);
	g_autofree gchar *lax_path = g_build_filename(fixture->tmpdir, "lax", "agent.sock", NULL);
	g_autoptr(PlIpcServer) lax = pl_ipc_server_new();
	g_autoptr(GError) error = NULL;
	mode_t old_umask;

	g_assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));
	/* a permissive umask must not leak into the modes */
	old_umask = umask(0);
	fixture_listen(fixture);
	umask(old_umask);

	g_assert_true(S_ISDIR(path_mode(dir)));
	g_assert_cmpuint(path_mode(dir) & 07777, ==, 0700);
	g_assert_true(S_ISSOCK(path_mode(fixture->socket_path)));
	g_assert_cmpuint(path_mode(fixture->socket_path) & 07777, ==, 0600);
	g_assert_cmpstr(pl_ipc_server_get_socket_path(fixture->server), ==, fixture->socket_path);
	g_assert_cmpuint(pl_ipc_server_get_n_clients(fixture->server), ==, 0);

	/* the same with the usual umask, in a second directory */
	g_assert_true(pl_ipc_server_listen_path(lax, lax_path, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(path_mode(lax_path) & 07777, ==, 0600);
	g_clear_object(&lax);
	/* a server that goes away takes its socket with it */
	g_assert_false(g_file_test(lax_path, G_FILE_TEST_EXISTS));
}

static void
test_call_echo(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(PlClient) client = client_new_connected(fixture->socket_path);
	g_autoptr(JsonObject) params = json_object_new();
	g_autoptr(JsonObject) result = NULL;
	g_autoptr(GUnixFDList) out_fds = NULL;
	g_autoptr(GError) error = NULL;

	json_object_set_string_member(params, "text", "h\xc3\xa9llo\nworld \"quoted\"");
	json_object_set_int_member(params, "number", -12);
	result = client_call(client, "echo", params, NULL, &out_fds, &error);
	g_assert_no_error(error);
	g_assert_nonnull(result);
	g_assert_true(json_object_equal(result, params));
	g_assert_null(out_fds);
	PL_TEST_WAIT_FOR(pl_ipc_server_get_n_clients(fixture->server) == 1);

	/* several calls in flight at once are matched by id */
	{
		g_autoptr(GAsyncResult) slow = NULL;
		g_autoptr(GAsyncResult) fast = NULL;
		g_autoptr(JsonObject) slow_result = NULL;
		g_autoptr(JsonObject) fast_result = NULL;

		pl_client_call_async(client, "later", NULL, NULL, NULL, store_result_cb, &slow);
		pl_client_call_async(client, "echo", params, NULL, NULL, store_result_cb, &fast);
		PL_TEST_WAIT_FOR(fast != NULL);
		g_assert_null(slow);
		PL_TEST_WAIT_FOR(slow != NULL);
		fast_result = pl_client_call_finish(client, fast, NULL, &error);
		g_assert_no_error(error);
		g_assert_cmpint(json_object_get_int_member(fast_result, "number"), ==, -12);
		slow_result = pl_client_call_finish(client, slow, NULL, &error);
		g_assert_no_error(error);
		g_assert_true(json_object_get_boolean_member(slow_result, "later"));
	}
	g_assert_cmpuint(client_watch(client)->n_closed, ==, 0);
}

static void
test_call_answered_later(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(PlClient) client = client_new_connected(fixture->socket_path);
	g_autoptr(JsonObject) result = NULL;
	g_autoptr(GError) error = NULL;
	gint64 start = g_get_monotonic_time();

	result = client_call(client, "later", NULL, NULL, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(result);
	g_assert_true(json_object_get_boolean_member(result, "later"));
	g_assert_cmpint(g_get_monotonic_time() - start, >=, 45 * 1000);
}

static void
test_fds_from_server(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(PlClient) client = client_new_connected(fixture->socket_path);
	g_autoptr(JsonObject) result = NULL;
	g_autoptr(GUnixFDList) out_fds = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *data = "written after the reply";
	gchar buffer[64] = {0};
	gint fd;

	result = client_call(client, "pipe", NULL, NULL, &out_fds, &error);
	g_assert_no_error(error);
	g_assert_nonnull(result);
	g_assert_nonnull(out_fds);
	g_assert_cmpint(g_unix_fd_list_get_length(out_fds), ==, 1);
	fd = g_unix_fd_list_peek_fds(out_fds, NULL)[0];
	g_assert_cmpint(fixture->pipe_write_fd, >=, 0);

	g_assert_cmpint(write(fixture->pipe_write_fd, data, strlen(data)), ==,
	                (gssize)strlen(data));
	close(fixture->pipe_write_fd);
	fixture->pipe_write_fd = -1;
	g_assert_cmpint(read(fd, buffer, sizeof(buffer) - 1), ==, (gssize)strlen(data));
	g_assert_cmpstr(buffer, ==, data);
	g_assert_cmpint(read(fd, buffer, sizeof(buffer)), ==, 0);
}

static void
test_fds_to_server(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(PlClient) client = client_new_connected(fixture->socket_path);
	g_autoptr(GUnixFDList) fd_list = g_unix_fd_list_new();
	g_autoptr(JsonObject) result = NULL;
	g_autoptr(GError) error = NULL;
	JsonArray *contents;

	for (guint i = 0; i < 2; i++) {
		g_autofree gchar *content = g_strdup_printf("client pipe %u", i);
		gint fd = pipe_with_content(content);

		g_assert_cmpint(g_unix_fd_list_append(fd_list, fd, &error), ==, i);
		close(fd);
	}
	result = client_call(client, "read-fds", NULL, fd_list, NULL, &error);
	g_assert_no_error(error);
	contents = json_object_get_array_member(result, "contents");
	g_assert_cmpuint(json_array_get_length(contents), ==, 2);
	g_assert_cmpstr(json_array_get_string_element(contents, 0), ==, "client pipe 0");
	g_assert_cmpstr(json_array_get_string_element(contents, 1), ==, "client pipe 1");
}

static void
test_unknown_method(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(PlClient) client = client_new_connected(fixture->socket_path);
	g_autoptr(JsonObject) result = NULL;
	g_autoptr(GError) error = NULL;

	result = client_call(client, "no-such-method", NULL, NULL, NULL, &error);
	g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_UNKNOWN_METHOD);
	g_assert_nonnull(strstr(error->message, "no-such-method"));
	g_assert_null(result);
	/* the connection survives */
	assert_echo_works(client);
	g_assert_cmpuint(client_watch(client)->n_closed, ==, 0);
}

static void
test_method_error(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(PlClient) client = client_new_connected(fixture->socket_path);
	g_autoptr(JsonObject) result = NULL;
	g_autoptr(GError) error = NULL;

	result = client_call(client, "fail", NULL, NULL, NULL, &error);
	g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_PARAMS);
	g_assert_cmpstr(error->message, ==, "no \"peer\" given");
	g_assert_null(result);
	assert_echo_works(client);
}

static void
test_dropped_request(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(PlClient) client = client_new_connected(fixture->socket_path);
	g_autoptr(JsonObject) result = NULL;
	g_autoptr(GError) error = NULL;

	result = client_call(client, "drop", NULL, NULL, NULL, &error);
	g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_INTERNAL);
	g_assert_null(result);
	assert_echo_works(client);
}

static void
test_events(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(PlClient) client = client_new_connected(fixture->socket_path);
	g_autoptr(PlClient) bystander = client_new_connected(fixture->socket_path);
	const gchar *events[] = {"test-event", NULL};
	g_autoptr(GAsyncResult) subscribed = NULL;
	g_autoptr(GError) error = NULL;
	ClientWatch *watch = client_watch(client);

	pl_client_subscribe_async(client, events, NULL, store_result_cb, &subscribed);
	PL_TEST_WAIT_FOR(subscribed != NULL);
	g_assert_true(pl_client_subscribe_finish(client, subscribed, &error));
	g_assert_no_error(error);
	/* the bystander is known to the server before the events go out */
	assert_echo_works(bystander);

	for (gint i = 1; i <= 2; i++) {
		g_autoptr(JsonObject) params = json_object_new();

		json_object_set_int_member(params, "n", i);
		pl_ipc_server_emit_event(fixture->server, "other-event", params);
		pl_ipc_server_emit_event(fixture->server, "test-event", params);
	}
	PL_TEST_WAIT_FOR(watch->event_names->len >= 2);
	/* events arrive in order, so an unwanted one would have come before the second */
	pl_test_drain();
	g_assert_cmpuint(watch->event_names->len, ==, 2);
	for (guint i = 0; i < 2; i++) {
		g_assert_cmpstr(g_ptr_array_index(watch->event_names, i), ==, "test-event");
		g_assert_cmpint(
		        json_object_get_int_member(g_ptr_array_index(watch->event_params, i), "n"),
		        ==, i + 1);
	}
	/* nobody else subscribed: a round trip later the bystander still has nothing */
	assert_echo_works(bystander);
	g_assert_cmpuint(client_watch(bystander)->event_names->len, ==, 0);
}

static void
test_second_server_refused(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(PlIpcServer) second = pl_ipc_server_new();
	g_autoptr(PlClient) client = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_false(pl_ipc_server_listen_path(second, fixture->socket_path, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
	g_test_message("%s", error->message);
	g_clear_object(&second);
	/* the first one keeps its socket and keeps serving */
	g_assert_true(S_ISSOCK(path_mode(fixture->socket_path)));
	client = client_new_connected(fixture->socket_path);
	assert_echo_works(client);

	/* the lock, not only the live socket, keeps a second agent out: even with the socket
	 * file gone, the running server still owns the path */
	g_assert_cmpint(g_unlink(fixture->socket_path), ==, 0);
	second = pl_ipc_server_new();
	g_clear_error(&error);
	g_assert_false(pl_ipc_server_listen_path(second, fixture->socket_path, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
	g_assert_false(g_file_test(fixture->socket_path, G_FILE_TEST_EXISTS));
	g_clear_object(&second);
	assert_echo_works(client);
}

static void
test_stale_socket_replaced(Fixture *fixture, gconstpointer user_data)
{
	g_autofree gchar *dir = g_path_get_dirname(fixture->socket_path);
	g_autoptr(GSocketAddress) address = g_unix_socket_address_new(fixture->socket_path);
	g_autoptr(GSocket) stale = NULL;
	g_autoptr(PlClient) nobody = NULL;
	g_autoptr(PlClient) client = NULL;
	g_autoptr(GError) error = NULL;

	/* a crashed agent leaves its socket file behind */
	g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
	stale = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
	                     &error);
	g_assert_no_error(error);
	g_assert_true(g_socket_bind(stale, address, FALSE, &error));
	g_assert_no_error(error);
	g_assert_true(g_socket_close(stale, &error));
	g_assert_true(S_ISSOCK(path_mode(fixture->socket_path)));

	/* nobody answers on it */
	nobody = client_new_watched(fixture->socket_path);
	g_assert_false(client_connect(nobody, &error));
	g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_NOT_RUNNING);
	g_clear_error(&error);

	fixture_listen(fixture);
	client = client_new_connected(fixture->socket_path);
	assert_echo_works(client);
}

static void
test_regular_file_refused(Fixture *fixture, gconstpointer user_data)
{
	g_autofree gchar *dir = g_path_get_dirname(fixture->socket_path);
	const gchar *precious = "not a socket, keep me\n";
	g_autofree gchar *content = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
	g_assert_true(g_file_set_contents(fixture->socket_path, precious, -1, &error));
	g_assert_cmpint(g_chmod(fixture->socket_path, 0640), ==, 0);

	g_assert_false(pl_ipc_server_listen_path(fixture->server, fixture->socket_path, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS);
	g_test_message("%s", error->message);
	/* the message says where and why */
	g_assert_nonnull(strstr(error->message, fixture->socket_path));
	g_assert_nonnull(strstr(error->message, "not a socket"));
	g_clear_error(&error);

	g_assert_true(S_ISREG(path_mode(fixture->socket_path)));
	g_assert_cmpuint(path_mode(fixture->socket_path) & 07777, ==, 0640);
	g_assert_true(g_file_get_contents(fixture->socket_path, &content, NULL, &error));
	g_assert_cmpstr(content, ==, precious);

	/* and the refusal leaves the server able to listen elsewhere */
	g_free(fixture->socket_path);
	fixture->socket_path = g_build_filename(fixture->tmpdir, "run", "other.sock", NULL);
	fixture_listen(fixture);
}

static void
test_bad_paths(Fixture *fixture, gconstpointer user_data)
{
	gsize max = sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1; /* 107 on Linux */
	gsize base = strlen(fixture->tmpdir) + 1;
	g_autofree gchar *name_ok = NULL;
	g_autofree gchar *name_long = NULL;
	g_autofree gchar *path_ok = NULL;
	g_autofree gchar *path_long = NULL;
	g_autoptr(PlIpcServer) server = pl_ipc_server_new();
	g_autoptr(PlClient) client = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_cmpuint(base + 10, <, max);
	name_ok = g_strnfill(max - base, 's');
	name_long = g_strnfill(max - base + 1, 's');
	path_ok = g_build_filename(fixture->tmpdir, name_ok, NULL);
	path_long = g_build_filename(fixture->tmpdir, name_long, NULL);
	g_assert_cmpuint(strlen(path_ok), ==, max);
	g_assert_cmpuint(strlen(path_long), ==, max + 1);

	g_assert_false(pl_ipc_server_listen_path(server, path_long, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG);
	g_clear_error(&error);
	g_assert_false(g_file_test(path_long, G_FILE_TEST_EXISTS));

	g_assert_false(pl_ipc_server_listen_path(server, "relative/agent.sock", &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);

	/* the longest path that fits works */
	g_assert_true(pl_ipc_server_listen_path(server, path_ok, &error));
	g_assert_no_error(error);
	client = client_new_connected(path_ok);
	g_clear_object(&client);
	g_clear_object(&server);
	pl_test_drain();
}

static void
test_shutdown(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(PlClient) client = client_new_connected(fixture->socket_path);
	g_autoptr(PlClient) late = NULL;
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(JsonObject) reply = NULL;
	g_autoptr(GError) error = NULL;
	ClientWatch *watch = client_watch(client);

	pl_client_call_async(client, "hold", NULL, NULL, NULL, store_result_cb, &result);
	PL_TEST_WAIT_FOR(fixture->held->len == 1);
	g_assert_null(result);

	pl_ipc_server_shutdown(fixture->server, "test over");
	g_assert_false(g_file_test(fixture->socket_path, G_FILE_TEST_EXISTS));
	g_assert_cmpuint(pl_ipc_server_get_n_clients(fixture->server), ==, 0);

	PL_TEST_WAIT_FOR(result != NULL && watch->n_closed == 1);
	reply = pl_client_call_finish(client, result, NULL, &error);
	g_assert_null(reply);
	g_test_message("pending call: %s", error->message);
	g_assert_true(g_error_matches(error, PL_IPC_ERROR, PL_IPC_ERROR_SHUTTING_DOWN) ||
	              g_error_matches(error, PL_IPC_ERROR, PL_IPC_ERROR_DISCONNECTED));
	g_assert_nonnull(watch->close_error);
	g_assert_true(
	        g_error_matches(watch->close_error, PL_IPC_ERROR, PL_IPC_ERROR_SHUTTING_DOWN) ||
	        g_error_matches(watch->close_error, PL_IPC_ERROR, PL_IPC_ERROR_DISCONNECTED));
	g_assert_false(pl_client_is_connected(client));
	/* the announcement itself reached the client */
	g_assert_cmpuint(watch->event_names->len, ==, 1);
	g_assert_cmpstr(g_ptr_array_index(watch->event_names, 0), ==, "shutdown");
	g_assert_cmpstr(
	        json_object_get_string_member(g_ptr_array_index(watch->event_params, 0), "reason"),
	        ==, "test over");

	/* answering a request of a gone client is harmless */
	pl_ipc_request_return(g_ptr_array_index(fixture->held, 0), NULL, NULL);
	g_ptr_array_set_size(fixture->held, 0);

	/* a call on the closed client fails right away */
	g_clear_object(&result);
	g_clear_error(&error);
	pl_client_call_async(client, "echo", NULL, NULL, NULL, store_result_cb, &result);
	PL_TEST_WAIT_FOR(result != NULL);
	g_assert_null(pl_client_call_finish(client, result, NULL, &error));
	g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_DISCONNECTED);
	g_clear_error(&error);

	/* nobody listens any more */
	late = client_new_watched(fixture->socket_path);
	g_assert_false(client_connect(late, &error));
	g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_NOT_RUNNING);
}

static void
test_connection_closed_signal(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(PlClient) client = client_new_connected(fixture->socket_path);
	g_autoptr(PlClient) other = client_new_connected(fixture->socket_path);
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(GError) error = NULL;

	assert_echo_works(client);
	assert_echo_works(other);
	g_assert_cmpuint(pl_ipc_server_get_n_clients(fixture->server), ==, 2);

	/* a pending call fails locally when the client closes */
	pl_client_call_async(client, "hold", NULL, NULL, NULL, store_result_cb, &result);
	PL_TEST_WAIT_FOR(fixture->held->len == 1);
	pl_client_close(client);
	g_assert_false(pl_client_is_connected(client));
	PL_TEST_WAIT_FOR(result != NULL);
	g_assert_null(pl_client_call_finish(client, result, NULL, &error));
	g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_DISCONNECTED);

	PL_TEST_WAIT_FOR(fixture->n_connection_closed == 1);
	g_assert_cmpuint(pl_ipc_server_get_n_clients(fixture->server), ==, 1);
	/* the held request of the gone client can still be released */
	g_ptr_array_set_size(fixture->held, 0);

	/* dropping the object closes as well */
	g_clear_object(&other);
	PL_TEST_WAIT_FOR(fixture->n_connection_closed == 2);
	g_assert_cmpuint(pl_ipc_server_get_n_clients(fixture->server), ==, 0);
}

static void
test_max_clients(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(PlClient) first = NULL;
	g_autoptr(PlClient) second = NULL;
	g_autoptr(PlClient) third = NULL;
	g_autoptr(PlClient) fourth = NULL;
	g_autoptr(GError) error = NULL;
	ClientWatch *watch;

	pl_ipc_server_set_max_clients(fixture->server, 2);
	first = client_new_connected(fixture->socket_path);
	second = client_new_connected(fixture->socket_path);
	PL_TEST_WAIT_FOR(pl_ipc_server_get_n_clients(fixture->server) == 2);

	/* the kernel accepts the connection; the server then turns it away */
	third = client_new_connected(fixture->socket_path);
	watch = client_watch(third);
	PL_TEST_WAIT_FOR(watch->n_closed == 1);
	g_assert_error(watch->close_error, PL_IPC_ERROR, PL_IPC_ERROR_TOO_MANY_CLIENTS);
	g_assert_false(pl_client_is_connected(third));
	g_assert_cmpuint(pl_ipc_server_get_n_clients(fixture->server), ==, 2);

	/* the admitted ones are unaffected */
	assert_echo_works(first);
	assert_echo_works(second);

	/* a freed slot can be taken again */
	g_clear_object(&first);
	PL_TEST_WAIT_FOR(pl_ipc_server_get_n_clients(fixture->server) == 1);
	fourth = client_new_connected(fixture->socket_path);
	assert_echo_works(fourth);
	g_assert_cmpuint(client_watch(fourth)->n_closed, ==, 0);
}

static void
test_cancel(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(PlClient) client = client_new_connected(fixture->socket_path);
	g_autoptr(GCancellable) cancellable = g_cancellable_new();
	g_autoptr(GCancellable) cancelled = g_cancellable_new();
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(JsonObject) reply = NULL;
	g_autoptr(JsonObject) late = json_object_new();
	g_autoptr(GError) error = NULL;

	pl_client_call_async(client, "hold", NULL, NULL, cancellable, store_result_cb, &result);
	PL_TEST_WAIT_FOR(fixture->held->len == 1);
	g_assert_null(result);
	g_cancellable_cancel(cancellable);
	PL_TEST_WAIT_FOR(result != NULL);
	reply = pl_client_call_finish(client, result, NULL, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_null(reply);
	g_clear_error(&error);
	g_clear_object(&result);

	/* the answer still arrives, for a call nobody waits for any more */
	json_object_set_string_member(late, "too", "late");
	pl_ipc_request_return(g_ptr_array_index(fixture->held, 0), late, NULL);
	g_ptr_array_set_size(fixture->held, 0);
	assert_echo_works(client);

	/* cancelled before it is even sent */
	g_cancellable_cancel(cancelled);
	pl_client_call_async(client, "echo", NULL, NULL, cancelled, store_result_cb, &result);
	PL_TEST_WAIT_FOR(result != NULL);
	g_assert_null(pl_client_call_finish(client, result, NULL, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	assert_echo_works(client);
	g_assert_cmpuint(client_watch(client)->n_closed, ==, 0);
}

static void
test_not_running(Fixture *fixture, gconstpointer user_data)
{
	g_autofree gchar *path = g_build_filename(fixture->tmpdir, "nothing-here.sock", NULL);
	g_autoptr(PlClient) client = client_new_watched(path);
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_false(client_connect(client, &error));
	g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_NOT_RUNNING);
	g_assert_nonnull(strstr(error->message, path));
	g_assert_false(pl_client_is_connected(client));
	g_clear_error(&error);

	pl_client_call_async(client, "echo", NULL, NULL, NULL, store_result_cb, &result);
	PL_TEST_WAIT_FOR(result != NULL);
	g_assert_null(pl_client_call_finish(client, result, NULL, &error));
	g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_DISCONNECTED);
}

/* The server side of the protocol, driven by a connection that writes raw lines. */
typedef struct {
	GPtrArray *replies; /* PlIpcMessage */
	guint n_closed;
} RawPeer;

static void
on_raw_message(PlIpcConnection *connection, PlIpcMessage *message, gpointer user_data)
{
	RawPeer *peer = user_data;

	g_ptr_array_add(peer->replies, g_object_ref(message));
}

static void
on_raw_closed(PlIpcConnection *connection, GError *error, gpointer user_data)
{
	RawPeer *peer = user_data;

	peer->n_closed++;
}

static PlIpcConnection *
raw_connect(Fixture *fixture, RawPeer *peer, gint *fd)
{
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GSocketAddress) address = g_unix_socket_address_new(fixture->socket_path);
	g_autoptr(GError) error = NULL;
	PlIpcConnection *connection;

	socket = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
	                      &error);
	g_assert_no_error(error);
	g_assert_true(g_socket_connect(socket, address, NULL, &error));
	g_assert_no_error(error);
	*fd = g_socket_get_fd(socket);
	connection = pl_ipc_connection_new(socket);
	g_signal_connect(connection, "message", G_CALLBACK(on_raw_message), peer);
	g_signal_connect(connection, "closed", G_CALLBACK(on_raw_closed), peer);
	pl_ipc_connection_start(connection);
	return connection;
}

static void
raw_write_str(gint fd, const gchar *text)
{
	g_assert_cmpint(send(fd, text, strlen(text), MSG_NOSIGNAL), ==, (gssize)strlen(text));
}

static PlIpcMessage *
reply_at(RawPeer *peer, guint i)
{
	g_assert_cmpuint(i, <, peer->replies->len);
	return g_ptr_array_index(peer->replies, i);
}

static void
test_server_protocol_errors(Fixture *fixture, gconstpointer user_data)
{
	RawPeer peer = {g_ptr_array_new_with_free_func(g_object_unref), 0};
	g_autoptr(PlIpcConnection) connection = NULL;
	gint fd = -1;
	PlIpcMessage *reply;

	connection = raw_connect(fixture, &peer, &fd);
	raw_write_str(fd, "this is not json\n"
	                  "{\"v\":2,\"id\":5,\"method\":\"echo\"}\n"
	                  "{\"v\":1,\"event\":\"from-a-client\"}\n"
	                  "{\"v\":1,\"id\":6,\"result\":{}}\n"
	                  "{\"v\":1,\"id\":7,\"method\":\"echo\",\"params\":{\"x\":1}}\n");
	PL_TEST_WAIT_FOR(peer.replies->len == 5);

	/* every bad line gets an error, with the id when there is one */
	reply = reply_at(&peer, 0);
	g_assert_cmpint(pl_ipc_message_get_kind(reply), ==, PL_IPC_MESSAGE_KIND_ERROR);
	g_assert_cmpint(pl_ipc_message_get_id(reply), ==, PL_IPC_ID_NONE);
	g_assert_cmpstr(pl_ipc_message_get_error_code(reply), ==, "invalid-json");
	reply = reply_at(&peer, 1);
	g_assert_cmpint(pl_ipc_message_get_id(reply), ==, 5);
	g_assert_cmpstr(pl_ipc_message_get_error_code(reply), ==, "unsupported-version");
	reply = reply_at(&peer, 2);
	g_assert_cmpint(pl_ipc_message_get_id(reply), ==, PL_IPC_ID_NONE);
	g_assert_cmpstr(pl_ipc_message_get_error_code(reply), ==, "invalid-request");
	reply = reply_at(&peer, 3);
	g_assert_cmpint(pl_ipc_message_get_id(reply), ==, 6);
	g_assert_cmpstr(pl_ipc_message_get_error_code(reply), ==, "invalid-request");
	/* and the stream goes on */
	reply = reply_at(&peer, 4);
	g_assert_cmpint(pl_ipc_message_get_kind(reply), ==, PL_IPC_MESSAGE_KIND_RESPONSE);
	g_assert_cmpint(pl_ipc_message_get_id(reply), ==, 7);
	g_assert_cmpint(json_object_get_int_member(pl_ipc_message_get_body(reply), "x"), ==, 1);
	g_assert_cmpuint(peer.n_closed, ==, 0);
	g_assert_cmpuint(pl_ipc_server_get_n_clients(fixture->server), ==, 1);

	g_signal_handlers_disconnect_by_data(connection, &peer);
	g_clear_object(&connection);
	g_ptr_array_unref(peer.replies);
	PL_TEST_WAIT_FOR(fixture->n_connection_closed == 1);
}

static void
test_server_stall_timeout(Fixture *fixture, gconstpointer user_data)
{
	RawPeer peer = {g_ptr_array_new_with_free_func(g_object_unref), 0};
	g_autoptr(PlIpcConnection) connection = NULL;
	gint fd = -1;

	pl_ipc_server_set_stall_timeout(fixture->server, 150);
	connection = raw_connect(fixture, &peer, &fd);
	raw_write_str(fd, "{\"v\":1,\"id\":1,\"meth");
	PL_TEST_WAIT_FOR(peer.n_closed == 1 && fixture->n_connection_closed == 1);
	g_assert_cmpuint(peer.replies->len, ==, 1);
	g_assert_cmpstr(pl_ipc_message_get_error_code(reply_at(&peer, 0)), ==, "timed-out");
	g_assert_cmpuint(pl_ipc_server_get_n_clients(fixture->server), ==, 0);

	g_signal_handlers_disconnect_by_data(connection, &peer);
	g_clear_object(&connection);
	g_ptr_array_unref(peer.replies);
}

static void
test_subscribe_invalid_params(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(PlClient) client = NULL;
	g_autoptr(JsonObject) params = json_object_new();
	g_autoptr(JsonObject) result = NULL;
	g_autoptr(GError) error = NULL;

	client = client_new_connected(fixture->socket_path);
	json_object_set_int_member(params, "events", 5);
	result = client_call(client, "subscribe", params, NULL, NULL, &error);
	g_assert_error(error, PL_IPC_ERROR, PL_IPC_ERROR_INVALID_PARAMS);
	g_assert_nonnull(strstr(error->message, "\"events\""));
	g_assert_null(result);
	assert_echo_works(client);
}

/* GLib creates some process-wide descriptors on first use (the default main context, the worker
 * context of GTask's thread pool): make them exist before the tests count descriptors. */
static void
warm_up(void)
{
	g_autofree gchar *tmpdir = g_dir_make_tmp("peerlink-test-ipc-XXXXXX", NULL);
	g_autofree gchar *path = NULL;
	g_autoptr(PlClient) client = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_nonnull(tmpdir);
	path = g_build_filename(tmpdir, "none.sock", NULL);
	client = client_new_watched(path);
	g_assert_false(client_connect(client, &error));
	g_clear_object(&client);
	pl_test_drain();
	pl_test_remove_tree(tmpdir);
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	g_test_init(&argc, &argv, NULL);
	warm_up();

#define ADD(path, setup, func)                                                                     \
	g_test_add("/peerlink/ipc/server-client/" path, Fixture, NULL, setup, func,                \
	           fixture_teardown)

	ADD("listen-creates-private-paths", fixture_setup, test_listen_creates_private_paths);
	ADD("call-echo", fixture_setup_listening, test_call_echo);
	ADD("call-answered-later", fixture_setup_listening, test_call_answered_later);
	ADD("fds-from-server", fixture_setup_listening, test_fds_from_server);
	ADD("fds-to-server", fixture_setup_listening, test_fds_to_server);
	ADD("unknown-method", fixture_setup_listening, test_unknown_method);
	ADD("method-error", fixture_setup_listening, test_method_error);
	ADD("dropped-request", fixture_setup_listening, test_dropped_request);
	ADD("events", fixture_setup_listening, test_events);
	ADD("second-server-refused", fixture_setup_listening, test_second_server_refused);
	ADD("stale-socket-replaced", fixture_setup, test_stale_socket_replaced);
	ADD("regular-file-refused", fixture_setup, test_regular_file_refused);
	ADD("bad-paths", fixture_setup, test_bad_paths);
	ADD("shutdown", fixture_setup_listening, test_shutdown);
	ADD("connection-closed-signal", fixture_setup_listening, test_connection_closed_signal);
	ADD("max-clients", fixture_setup_listening, test_max_clients);
	ADD("cancel", fixture_setup_listening, test_cancel);
	ADD("not-running", fixture_setup, test_not_running);
	ADD("server-protocol-errors", fixture_setup_listening, test_server_protocol_errors);
	ADD("server-stall-timeout", fixture_setup_listening, test_server_stall_timeout);
	ADD("subscribe-invalid-params", fixture_setup_listening, test_subscribe_invalid_params);
	return g_test_run();
}
