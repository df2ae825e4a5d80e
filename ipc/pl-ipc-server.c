#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "pl-ipc-params.h"
#include "pl-ipc-server.h"

typedef struct {
	PlIpcMethodFunc func;
	gpointer user_data;
} PlMethod;

typedef struct {
	PlIpcServer *server;
	PlIpcConnection *connection;
	gchar **events; /* subscriptions; "*" means all */
} PlServerClient;

struct _PlIpcServer {
	GObject parent_instance;
	GSocket *listener;
	GSource *accept_source;
	gchar *socket_path;
	gboolean owns_socket_path; /* FALSE when systemd handed the socket over */
	gint lock_fd;
	guint max_clients;
	guint stall_timeout_ms;
	GHashTable *methods; /* name → PlMethod */
	GHashTable *clients; /* PlIpcConnection → PlServerClient */
};

enum { SIGNAL_CONNECTION_CLOSED, SIGNAL_LAST };
static guint signals[SIGNAL_LAST] = {0};

G_DEFINE_TYPE(PlIpcServer, pl_ipc_server, G_TYPE_OBJECT)

static void
pl_server_client_free(PlServerClient *client)
{
	g_signal_handlers_disconnect_by_data(client->connection, client);
	pl_ipc_connection_close(client->connection, NULL);
	g_object_unref(client->connection);
	g_strfreev(client->events);
	g_free(client);
}

static void
stop_listening(PlIpcServer *self)
{
	if (self->accept_source != NULL) {
		g_source_destroy(self->accept_source);
		g_clear_pointer(&self->accept_source, g_source_unref);
	}
	if (self->listener != NULL) {
		g_socket_close(self->listener, NULL);
		g_clear_object(&self->listener);
		if (self->owns_socket_path && g_unlink(self->socket_path) != 0)
			g_debug("cannot remove %s: %s", self->socket_path, g_strerror(errno));
	}
	if (self->lock_fd >= 0) {
		close(self->lock_fd);
		self->lock_fd = -1;
	}
}

static void
pl_ipc_server_dispose(GObject *object)
{
	PlIpcServer *self = PL_IPC_SERVER(object);

	stop_listening(self);
	if (self->clients != NULL)
		g_hash_table_remove_all(self->clients);
	G_OBJECT_CLASS(pl_ipc_server_parent_class)->dispose(object);
}

static void
pl_ipc_server_finalize(GObject *object)
{
	PlIpcServer *self = PL_IPC_SERVER(object);

	g_hash_table_unref(self->methods);
	g_hash_table_unref(self->clients);
	g_free(self->socket_path);
	G_OBJECT_CLASS(pl_ipc_server_parent_class)->finalize(object);
}

static void
pl_ipc_server_class_init(PlIpcServerClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = pl_ipc_server_dispose;
	object_class->finalize = pl_ipc_server_finalize;

	/* a client went away: whatever it registered must go with it */
	signals[SIGNAL_CONNECTION_CLOSED] =
	        g_signal_new("connection-closed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
	                     NULL, NULL, NULL, G_TYPE_NONE, 1, PL_TYPE_IPC_CONNECTION);
}

static void subscribe_cb(PlIpcRequest *request, gpointer user_data);

static void
pl_ipc_server_init(PlIpcServer *self)
{
	self->lock_fd = -1;
	self->max_clients = PL_IPC_DEFAULT_MAX_CLIENTS;
	self->stall_timeout_ms = PL_IPC_DEFAULT_STALL_TIMEOUT_MS;
	self->methods = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	self->clients = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
	                                      (GDestroyNotify)pl_server_client_free);
	pl_ipc_server_add_method(self, "subscribe", subscribe_cb, self);
}

PlIpcServer *
pl_ipc_server_new(void)
{
	return g_object_new(PL_TYPE_IPC_SERVER, NULL);
}

void
pl_ipc_server_set_max_clients(PlIpcServer *self, guint max_clients)
{
	self->max_clients = max_clients;
}

void
pl_ipc_server_set_stall_timeout(PlIpcServer *self, guint timeout_ms)
{
	self->stall_timeout_ms = timeout_ms;
}

const gchar *
pl_ipc_server_get_socket_path(PlIpcServer *self)
{
	return self->socket_path;
}

guint
pl_ipc_server_get_n_clients(PlIpcServer *self)
{
	return g_hash_table_size(self->clients);
}

void
pl_ipc_server_add_method(PlIpcServer *self,
                         const gchar *method,
                         PlIpcMethodFunc func,
                         gpointer user_data)
{
	PlMethod *entry = g_new0(PlMethod, 1);

	entry->func = func;
	entry->user_data = user_data;
	g_hash_table_replace(self->methods, g_strdup(method), entry);
}

/* subscriptions */

static gboolean
client_wants_event(PlServerClient *client, const gchar *event)
{
	return client->events != NULL &&
	       (g_strv_contains((const gchar *const *)client->events, "*") ||
	        g_strv_contains((const gchar *const *)client->events, event));
}

static void
subscribe_cb(PlIpcRequest *request, gpointer user_data)
{
	PlIpcServer *self = PL_IPC_SERVER(user_data);
	PlServerClient *client =
	        g_hash_table_lookup(self->clients, pl_ipc_request_get_connection(request));
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) events = NULL;
	g_autoptr(JsonObject) result = json_object_new();
	JsonArray *array;

	if (!pl_ipc_params_get_strv(pl_ipc_request_get_params(request), "events", &events,
	                            &error)) {
		pl_ipc_request_return_error(request, error);
		return;
	}
	array = json_array_new();
	if (events == NULL)
		events = g_strdupv((gchar *[]){"*", NULL});
	for (guint i = 0; events[i] != NULL; i++)
		json_array_add_string_element(array, events[i]);
	g_strfreev(client->events);
	client->events = g_steal_pointer(&events);
	json_object_set_array_member(result, "events", array);
	pl_ipc_request_return(request, result, NULL);
}

/* Sending may close a connection and drop its client: iterate over a snapshot. */
static GPtrArray *
snapshot_connections(PlIpcServer *self)
{
	GPtrArray *connections = g_ptr_array_new_with_free_func(g_object_unref);
	GHashTableIter iter;
	gpointer key;

	g_hash_table_iter_init(&iter, self->clients);
	while (g_hash_table_iter_next(&iter, &key, NULL))
		g_ptr_array_add(connections, g_object_ref(key));
	return connections;
}

void
pl_ipc_server_emit_event(PlIpcServer *self, const gchar *event, JsonObject *params)
{
	g_autoptr(PlIpcMessage) message = pl_ipc_message_new_event(event, params);
	g_autoptr(GPtrArray) connections = snapshot_connections(self);

	for (guint i = 0; i < connections->len; i++) {
		PlServerClient *client = g_hash_table_lookup(self->clients, connections->pdata[i]);
		if (client != NULL && client_wants_event(client, event))
			pl_ipc_connection_send(client->connection, message, NULL);
	}
}

/* dispatch */

static void
reply_error(PlIpcConnection *connection, gint64 id, PlIpcErrorCode code, const gchar *text)
{
	g_autoptr(PlIpcMessage) reply = pl_ipc_message_new_error(id, code, text);
	pl_ipc_connection_send(connection, reply, NULL);
}

static void
on_client_message(PlIpcConnection *connection, PlIpcMessage *message, gpointer user_data)
{
	PlIpcServer *self = ((PlServerClient *)user_data)->server;
	g_autoptr(PlIpcRequest) request = NULL;
	g_autofree gchar *text = NULL;
	PlMethod *method;

	if (pl_ipc_message_get_kind(message) != PL_IPC_MESSAGE_KIND_REQUEST) {
		reply_error(connection, pl_ipc_message_get_id(message),
		            PL_IPC_ERROR_INVALID_REQUEST, _("clients may only send requests"));
		return;
	}
	method = g_hash_table_lookup(self->methods, pl_ipc_message_get_name(message));
	if (method == NULL) {
		text = g_strdup_printf(_("unknown method \"%s\""),
		                       pl_ipc_message_get_name(message));
		reply_error(connection, pl_ipc_message_get_id(message), PL_IPC_ERROR_UNKNOWN_METHOD,
		            text);
		return;
	}
	request = pl_ipc_request_new(connection, message);
	method->func(request, method->user_data);
}

static void
on_client_invalid_message(PlIpcConnection *connection, gint64 id, GError *error, gpointer user_data)
{
	g_autoptr(PlIpcMessage) reply = pl_ipc_message_new_error_from_gerror(id, error);

	g_debug("client %" G_GUINT64_FORMAT ": %s", pl_ipc_connection_get_serial(connection),
	        error->message);
	pl_ipc_connection_send(connection, reply, NULL);
}

static void
on_client_closed(PlIpcConnection *connection, GError *error, gpointer user_data)
{
	PlIpcServer *self = ((PlServerClient *)user_data)->server;
	g_autoptr(PlIpcConnection) keep = g_object_ref(connection);

	g_debug("client %" G_GUINT64_FORMAT " gone: %s", pl_ipc_connection_get_serial(connection),
	        error != NULL ? error->message : "closed by the client");
	g_hash_table_remove(self->clients, connection);
	g_signal_emit(self, signals[SIGNAL_CONNECTION_CLOSED], 0, connection);
}

/* admission */

static gboolean
peer_is_allowed(PlIpcConnection *connection, GError **error)
{
	uid_t uid = (uid_t)-1;
	pid_t pid = 0;

	if (!pl_ipc_connection_get_peer_credentials(connection, &uid, &pid)) {
		g_set_error_literal(error, PL_IPC_ERROR, PL_IPC_ERROR_PERMISSION_DENIED,
		                    _("cannot read the credentials of the connecting process"));
		return FALSE;
	}
	if (uid != geteuid() && uid != 0) {
		g_set_error(error, PL_IPC_ERROR, PL_IPC_ERROR_PERMISSION_DENIED,
		            _("uid %u may not use the agent of uid %u"), (guint)uid,
		            (guint)geteuid());
		return FALSE;
	}
	g_debug("client %" G_GUINT64_FORMAT ": uid %u pid %d",
	        pl_ipc_connection_get_serial(connection), (guint)uid, (gint)pid);
	return TRUE;
}

static void
turn_away(PlIpcConnection *connection, const GError *error)
{
	g_autoptr(PlIpcMessage) reply = pl_ipc_message_new_error_from_gerror(PL_IPC_ID_NONE, error);

	g_message("refusing IPC client: %s", error->message);
	if (pl_ipc_connection_send(connection, reply, NULL))
		pl_ipc_connection_close_after_flush(connection, error);
}

static void
admit(PlIpcServer *self, GSocket *socket)
{
	g_autoptr(PlIpcConnection) connection = pl_ipc_connection_new(socket);
	g_autoptr(GError) error = NULL;
	PlServerClient *client;

	if (!peer_is_allowed(connection, &error)) {
		turn_away(connection, error);
		return;
	}
	if (g_hash_table_size(self->clients) >= self->max_clients) {
		g_set_error(&error, PL_IPC_ERROR, PL_IPC_ERROR_TOO_MANY_CLIENTS,
		            g_dngettext(GETTEXT_PACKAGE, "the agent already serves %u client",
		                        "the agent already serves %u clients", self->max_clients),
		            self->max_clients);
		turn_away(connection, error);
		return;
	}
	client = g_new0(PlServerClient, 1);
	client->server = self;
	client->connection = g_object_ref(connection);
	pl_ipc_connection_set_stall_timeout(connection, self->stall_timeout_ms);
	g_signal_connect(connection, "message", G_CALLBACK(on_client_message), client);
	g_signal_connect(connection, "invalid-message", G_CALLBACK(on_client_invalid_message),
	                 client);
	g_signal_connect(connection, "closed", G_CALLBACK(on_client_closed), client);
	g_hash_table_insert(self->clients, connection, client);
	pl_ipc_connection_start(connection);
}

static gboolean
on_listener_readable(GSocket *listener, GIOCondition condition, gpointer user_data)
{
	PlIpcServer *self = PL_IPC_SERVER(user_data);

	for (guint i = 0; i < 32; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GSocket) socket = g_socket_accept(listener, NULL, &error);
		if (socket == NULL) {
			if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
				g_message("cannot accept an IPC client: %s", error->message);
			break;
		}
		admit(self, socket);
	}
	return G_SOURCE_CONTINUE;
}

static void
start_accepting(PlIpcServer *self, GSocket *listener)
{
	self->listener = g_object_ref(listener);
	g_socket_set_blocking(listener, FALSE);
	self->accept_source = g_socket_create_source(listener, G_IO_IN, NULL);
	g_source_set_callback(self->accept_source, G_SOURCE_FUNC(on_listener_readable), self, NULL);
	g_source_attach(self->accept_source, g_main_context_get_thread_default());
}

/* listening on a path */

static gboolean
ensure_private_dir(const gchar *dir, GError **error)
{
	struct stat st;

	if (g_mkdir_with_parents(dir, 0700) != 0 || g_lstat(dir, &st) != 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
		            _("cannot create the socket directory %s: %s"), dir, g_strerror(errno));
		return FALSE;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
		            _("%s must be a directory owned by uid %u"), dir, (guint)geteuid());
		return FALSE;
	}
	if ((st.st_mode & 077) != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
		            _("the socket directory %s is open to other users (mode %04o); "
		              "use a directory only you can access"),
		            dir, (guint)(st.st_mode & 07777));
		return FALSE;
	}
	return TRUE;
}

static gboolean
take_lock(PlIpcServer *self, const gchar *path, GError **error)
{
	g_autofree gchar *lock_path = g_strconcat(path, ".lock", NULL);
	gint fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
		            _("cannot open %s: %s"), lock_path, g_strerror(errno));
		return FALSE;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		close(fd);
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
		            _("another peerlinkd is already running on %s"), path);
		return FALSE;
	}
	self->lock_fd = fd;
	return TRUE;
}

static gboolean
socket_answers(const gchar *path)
{
	g_autoptr(GSocket) probe = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
	                                        G_SOCKET_PROTOCOL_DEFAULT, NULL);
	g_autoptr(GSocketAddress) address = g_unix_socket_address_new(path);

	return probe != NULL && g_socket_connect(probe, address, NULL, NULL);
}

/* Never steal a live socket; a stale one left by a crash is replaced. */
static gboolean
remove_stale_socket(const gchar *path, GError **error)
{
	struct stat st;

	if (g_lstat(path, &st) != 0)
		return TRUE;
	if (!S_ISSOCK(st.st_mode)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS,
		            _("%s exists and is not a socket; not replacing it"), path);
		return FALSE;
	}
	if (socket_answers(path)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
		            _("another agent is already listening on %s"), path);
		return FALSE;
	}
	g_debug("removing stale socket %s", path);
	if (g_unlink(path) != 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
		            _("cannot remove the stale socket %s: %s"), path, g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

static GSocket *
bind_private_socket(const gchar *path, GError **error)
{
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GSocketAddress) address = g_unix_socket_address_new(path);
	mode_t old_umask;
	gboolean bound;

	socket = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
	                      error);
	if (socket == NULL)
		return NULL;
	old_umask = umask(0177);
	bound = g_socket_bind(socket, address, FALSE, error);
	umask(old_umask);
	if (!bound)
		return NULL;
	if (g_chmod(path, 0600) != 0 || !g_socket_listen(socket, error)) {
		if (error != NULL && *error == NULL)
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
			            _("cannot restrict %s: %s"), path, g_strerror(errno));
		g_unlink(path);
		return NULL;
	}
	return g_steal_pointer(&socket);
}

gboolean
pl_ipc_server_listen_path(PlIpcServer *self, const gchar *path, GError **error)
{
	g_autofree gchar *dir = NULL;
	g_autoptr(GSocket) socket = NULL;

	g_return_val_if_fail(self->listener == NULL, FALSE);
	if (!g_path_is_absolute(path)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		            _("socket path %s is not absolute"), path);
		return FALSE;
	}
	if (strlen(path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
		            _("socket path %s is too long (at most %u bytes)"), path,
		            (guint)sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
		return FALSE;
	}
	dir = g_path_get_dirname(path);
	if (!ensure_private_dir(dir, error))
		return FALSE;
	if (!take_lock(self, path, error))
		return FALSE;
	if (!remove_stale_socket(path, error) ||
	    (socket = bind_private_socket(path, error)) == NULL) {
		stop_listening(self);
		return FALSE;
	}
	self->socket_path = g_strdup(path);
	self->owns_socket_path = TRUE;
	start_accepting(self, socket);
	return TRUE;
}

gboolean
pl_ipc_server_listen_fd(PlIpcServer *self, gint fd, GError **error)
{
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GSocketAddress) address = NULL;

	g_return_val_if_fail(self->listener == NULL, FALSE);
	socket = g_socket_new_from_fd(fd, error);
	if (socket == NULL)
		return FALSE;
	if (g_socket_get_family(socket) != G_SOCKET_FAMILY_UNIX ||
	    g_socket_get_socket_type(socket) != G_SOCKET_TYPE_STREAM) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		            _("the socket passed in fd %d is not a Unix stream socket"), fd);
		return FALSE;
	}
	address = g_socket_get_local_address(socket, error);
	if (address == NULL)
		return FALSE;
	self->socket_path =
	        g_strdup(g_unix_socket_address_get_path(G_UNIX_SOCKET_ADDRESS(address)));
	self->owns_socket_path = FALSE;
	start_accepting(self, socket);
	return TRUE;
}

void
pl_ipc_server_shutdown(PlIpcServer *self, const gchar *reason)
{
	g_autoptr(JsonObject) params = json_object_new();
	g_autoptr(PlIpcMessage) message = NULL;
	g_autoptr(GPtrArray) connections = snapshot_connections(self);

	stop_listening(self);
	json_object_set_string_member(params, "reason", reason);
	message = pl_ipc_message_new_event("shutdown", params);
	for (guint i = 0; i < connections->len; i++)
		pl_ipc_connection_send(connections->pdata[i], message, NULL);
	g_hash_table_remove_all(self->clients);
}
