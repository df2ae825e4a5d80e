/*
 * connect and listen: streams to and from peers, bridged to stdin/stdout like
 * nc, or handed to a command per stream like inetd.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <signal.h>
#include <unistd.h>

#include "pl-ctl-bridge.h"
#include "pl-ctl.h"
#include "pl-ipc-params.h"

#define STREAM_DEFAULT_TIMEOUT_S 30
#define STREAM_MAX_TIMEOUT_S     300
/* the agent answers connect by itself after timeout_ms; this is in case it does not */
#define STREAM_TIMEOUT_GRACE_S 5
/* how long a reset stream waits for the agent's session-closed event to say why */
#define SESSION_CLOSED_WAIT_MS 1000

typedef struct {
	JsonObject *session;
	gint fd;
} PlCtlIncoming;

typedef struct {
	PlCtl *ctl;
	const gchar *service; /* listen: the service */
	const gchar *exec;    /* listen --exec: the command for each stream */
	gboolean accepting;   /* listen without --exec: no stream taken yet */
	GHashTable *closed;   /* session id → params of its session-closed event */
	GQueue incoming;      /* PlCtlIncoming: streams not taken yet */
	GHashTable *children; /* listen --exec: GPid → child watch id */
	GError *lost;         /* the connection to the agent is gone: why */
	PlCtlBridge *bridge;  /* while a stream is bridged */
	gboolean interrupted;
	gboolean timed_out;
	guint sigint_id;
	guint sigterm_id;
	gulong event_id;
	gulong closed_id;
} PlCtlStream;

static void
pl_ctl_incoming_free(PlCtlIncoming *incoming)
{
	json_object_unref(incoming->session);
	if (incoming->fd >= 0)
		close(incoming->fd);
	g_free(incoming);
}

static gint64
session_id(JsonObject *session)
{
	gint64 id = -1;

	if (session != NULL)
		pl_ipc_json_get_int(session, "id", &id);
	return id;
}

/* events and signals */

static void
remember_closed(PlCtlStream *self, JsonObject *params)
{
	gint64 id;

	if (!pl_ipc_json_get_int(params, "session", &id)) {
		g_debug("session-closed event without a session id");
		return;
	}
	g_debug("session %" G_GINT64_FORMAT " closed: %s (%s)", id,
	        pl_ipc_json_get_string(params, "code"), pl_ipc_json_get_string(params, "message"));
	g_hash_table_replace(self->closed, g_memdup2(&id, sizeof(id)), json_object_ref(params));
}

static void
print_connection(PlCtlStream *self, JsonObject *session)
{
	g_autofree gchar *id = g_strdup_printf("%" G_GINT64_FORMAT, session_id(session));
	const gchar *peer = pl_ipc_json_get_string(session, "peer");

	if (self->ctl->json) {
		g_autoptr(JsonObject) notice = json_object_new();
		json_object_set_string_member(notice, "event", "incoming");
		json_object_set_string_member(notice, "service", self->service);
		json_object_set_object_member(notice, "session", json_object_ref(session));
		pl_ctl_print_json_notice(notice);
		return;
	}
	/* TRANSLATORS: on stderr when a peer's stream arrives: the peer ID, the session number */
	g_printerr(_("connection from %s (session %s)\n"), peer != NULL ? peer : "?", id);
}

/* The command inherits neither our ignored SIGPIPE nor anything else of ours. */
static void
child_setup(gpointer user_data)
{
	signal(SIGPIPE, SIG_DFL);
}

static void
on_child_exited(GPid pid, gint wait_status, gpointer user_data)
{
	PlCtlStream *self = user_data;
	g_autoptr(GError) error = NULL;

	g_hash_table_remove(self->children, GINT_TO_POINTER(pid));
	if (!g_spawn_check_wait_status(wait_status, &error))
		g_debug("handler %d: %s", (gint)pid, error->message);
	g_spawn_close_pid(pid);
}

/* inetd-style: the stream is the command's stdin and stdout */
static void
run_handler(PlCtlStream *self, JsonObject *session, gint fd)
{
	const gchar *argv[] = {"/bin/sh", "-c", self->exec, NULL};
	const gchar *peer = pl_ipc_json_get_string(session, "peer");
	g_autofree gchar *id = g_strdup_printf("%" G_GINT64_FORMAT, session_id(session));
	g_auto(GStrv) envp = g_get_environ();
	g_autoptr(GError) error = NULL;
	GPid pid;

	envp = g_environ_setenv(envp, "PEERLINK_PEER", peer != NULL ? peer : "", TRUE);
	envp = g_environ_setenv(envp, "PEERLINK_SERVICE", self->service, TRUE);
	envp = g_environ_setenv(envp, "PEERLINK_SESSION", id, TRUE);
	/* an ordinary blocking socket, whatever the agent made of its end */
	g_unix_set_fd_nonblocking(fd, FALSE, NULL);
	if (!g_spawn_async_with_pipes_and_fds(NULL, argv, (const gchar *const *)envp,
	                                      G_SPAWN_DO_NOT_REAP_CHILD, child_setup, NULL, fd, fd,
	                                      -1, NULL, NULL, 0, &pid, NULL, NULL, NULL, &error)) {
		g_printerr(_("peerlinkctl: cannot run “%s”: %s\n"), self->exec, error->message);
	} else {
		g_debug("session %s: handler %d", id, (gint)pid);
		g_hash_table_insert(
		        self->children, GINT_TO_POINTER(pid),
		        GUINT_TO_POINTER(g_child_watch_add(pid, on_child_exited, self)));
	}
	close(fd); /* the command has it now; the session ends when it closes it */
}

static void
take_incoming(PlCtlStream *self, JsonObject *params, GUnixFDList *fds)
{
	JsonObject *session = pl_ctl_json_get_object(params, "session");
	g_autoptr(GError) error = NULL;
	PlCtlIncoming *incoming;
	gint fd;

	if (fds == NULL || g_unix_fd_list_get_length(fds) < 1 || session == NULL) {
		g_debug("incoming event without a session or a stream");
		return;
	}
	fd = g_unix_fd_list_get(fds, 0, &error);
	if (fd < 0) {
		g_debug("cannot take the incoming stream: %s", error->message);
		return;
	}
	if (self->exec != NULL) {
		print_connection(self, session);
		run_handler(self, session, fd);
		return;
	}
	if (!self->accepting) { /* one stream only; the peer sees it reset */
		g_debug("declining session %" G_GINT64_FORMAT, session_id(session));
		close(fd);
		return;
	}
	self->accepting = FALSE;
	incoming = g_new0(PlCtlIncoming, 1);
	incoming->session = json_object_ref(session);
	incoming->fd = fd;
	g_queue_push_tail(&self->incoming, incoming);
}

static void
on_event(PlClient *client,
         const gchar *name,
         JsonObject *params,
         GUnixFDList *fds,
         gpointer user_data)
{
	PlCtlStream *self = user_data;

	if (g_strcmp0(name, "session-closed") == 0)
		remember_closed(self, params);
	else if (g_strcmp0(name, "incoming") == 0)
		take_incoming(self, params, fds);
}

static void
on_closed(PlClient *client, GError *error, gpointer user_data)
{
	PlCtlStream *self = user_data;

	if (self->lost == NULL)
		self->lost = g_error_copy(error);
	/* without its agent the stream carries nothing more: write out what came, then stop */
	if (self->bridge != NULL)
		pl_ctl_bridge_end_input(self->bridge);
	g_main_context_wakeup(NULL);
}

static gboolean
on_signal(gpointer user_data)
{
	PlCtlStream *self = user_data;

	self->interrupted = TRUE;
	g_cancellable_cancel(self->ctl->cancellable);
	return G_SOURCE_CONTINUE;
}

static gboolean
on_timeout(gpointer user_data)
{
	PlCtlStream *self = user_data;

	self->timed_out = TRUE;
	g_cancellable_cancel(self->ctl->cancellable);
	return G_SOURCE_REMOVE;
}

static gboolean
set_flag_cb(gpointer user_data)
{
	gboolean *flag = user_data;

	*flag = TRUE;
	return G_SOURCE_REMOVE;
}

/* setting up and tearing down */

static void
stream_init(PlCtlStream *self, PlCtl *ctl)
{
	self->ctl = ctl;
	self->closed = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
	                                     (GDestroyNotify)json_object_unref);
	self->children = g_hash_table_new(NULL, NULL);
	g_queue_init(&self->incoming);
	ctl->cancellable = g_cancellable_new();
	self->sigint_id = g_unix_signal_add(SIGINT, on_signal, self);
	self->sigterm_id = g_unix_signal_add(SIGTERM, on_signal, self);
}

static void
stream_clear(PlCtlStream *self)
{
	GHashTableIter iter;
	gpointer watch_id;

	if (self->ctl->client != NULL) {
		g_clear_signal_handler(&self->event_id, self->ctl->client);
		g_clear_signal_handler(&self->closed_id, self->ctl->client);
	}
	g_clear_handle_id(&self->sigint_id, g_source_remove);
	g_clear_handle_id(&self->sigterm_id, g_source_remove);
	g_hash_table_iter_init(&iter, self->children);
	while (g_hash_table_iter_next(&iter, NULL, &watch_id)) /* they run on by themselves */
		g_source_remove(GPOINTER_TO_UINT(watch_id));
	g_hash_table_unref(self->children);
	g_queue_clear_full(&self->incoming, (GDestroyNotify)pl_ctl_incoming_free);
	g_hash_table_unref(self->closed);
	g_clear_error(&self->lost);
}

/* Connects and asks for the events about our sessions (incoming, session-closed). */
static gboolean
stream_connect(PlCtlStream *self, GError **error)
{
	const gchar *events[] = {"incoming", "session-closed", NULL};
	g_autoptr(GAsyncResult) result = NULL;

	if (!pl_ctl_connect(self->ctl, error))
		return FALSE;
	self->event_id = g_signal_connect(self->ctl->client, "event", G_CALLBACK(on_event), self);
	self->closed_id =
	        g_signal_connect(self->ctl->client, "closed", G_CALLBACK(on_closed), self);
	pl_client_subscribe_async(self->ctl->client, events, self->ctl->cancellable,
	                          pl_ctl_store_result_cb, &result);
	return pl_client_subscribe_finish(self->ctl->client, pl_ctl_wait_for_result(&result),
	                                  error);
}

/* A failure, unless Ctrl-C or our own timeout is the real story. */
static gint
stream_fail(PlCtlStream *self, const GError *error)
{
	g_autoptr(GError) reason = NULL;

	if (self->interrupted)
		reason = g_error_new_literal(PL_IPC_ERROR, PL_IPC_ERROR_FAILED, _("interrupted"));
	else if (self->timed_out)
		reason = g_error_new_literal(PL_IPC_ERROR, PL_IPC_ERROR_TIMED_OUT,
		                             _("the agent did not answer in time"));
	if (reason != NULL)
		return pl_ctl_fail(self->ctl, reason);
	return pl_ctl_fail_request(self->ctl, error);
}

/* bridging */

/* Our own descriptor for stdin; -1 if there is none (the stream is half-closed at once). */
static gint
take_stdin(void)
{
	return fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
}

/* Our own descriptor for stdout; stdout itself becomes /dev/null, so that closing ours
 * when the stream ends is the end-of-file for whoever reads it. */
static gint
take_stdout(void)
{
	gint fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
	gint null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return null_fd;
	if (null_fd >= 0) {
		dup2(null_fd, STDOUT_FILENO);
		close(null_fd);
	}
	return fd;
}

static JsonObject *
wait_for_session_closed(PlCtlStream *self, gint64 id)
{
	gboolean waited = FALSE;
	guint timeout_id;
	JsonObject *closed;

	closed = g_hash_table_lookup(self->closed, &id);
	if (closed != NULL || self->lost != NULL)
		return closed;
	timeout_id = g_timeout_add(SESSION_CLOSED_WAIT_MS, set_flag_cb, &waited);
	while ((closed = g_hash_table_lookup(self->closed, &id)) == NULL && !waited &&
	       self->lost == NULL && !self->interrupted)
		g_main_context_iteration(NULL, TRUE);
	if (!waited)
		g_source_remove(timeout_id);
	return closed;
}

/* The stream was reset (error: how it showed), or the agent said the session broke (NULL):
 * the agent's session-closed event says why, if it comes in time. */
static GError *
explain_reset(PlCtlStream *self, gint64 id, const GError *error)
{
	JsonObject *closed = wait_for_session_closed(self, id);
	const gchar *code = closed != NULL ? pl_ipc_json_get_string(closed, "code") : NULL;
	const gchar *message = closed != NULL ? pl_ipc_json_get_string(closed, "message") : NULL;

	if (message != NULL && g_strcmp0(code, "done") != 0)
		return g_error_new(PL_IPC_ERROR, pl_ipc_error_from_string(code),
		                   _("the stream was reset: %s"), message);
	if (error == NULL) /* a session-closed without a message */
		return g_error_new(PL_IPC_ERROR, pl_ipc_error_from_string(code),
		                   _("the stream was reset: %s"), code != NULL ? code : "?");
	return g_error_new_literal(PL_IPC_ERROR, PL_IPC_ERROR_SESSION_FAILED, error->message);
}

static gint
bridge_session(PlCtlStream *self, JsonObject *session, gint stream_fd)
{
	gint64 id = session_id(session);
	g_autoptr(PlCtlBridge) bridge = NULL;
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(GError) error = NULL;

	bridge = pl_ctl_bridge_new(take_stdin(), take_stdout(), stream_fd);
	pl_ctl_bridge_run_async(bridge, self->ctl->cancellable, pl_ctl_store_result_cb, &result);
	self->bridge = bridge;
	if (self->lost != NULL) /* gone already */
		pl_ctl_bridge_end_input(bridge);
	pl_ctl_wait_for_result(&result);
	self->bridge = NULL;
	if (pl_ctl_bridge_run_finish(bridge, result, &error)) {
		JsonObject *closed = g_hash_table_lookup(self->closed, &id);
		const gchar *code = closed != NULL ? pl_ipc_json_get_string(closed, "code") : NULL;
		/* the agent said the session broke: the end we saw may not be the peer's */
		if (closed != NULL && g_strcmp0(code, "done") != 0) {
			g_autoptr(GError) reason = explain_reset(self, id, NULL);
			return pl_ctl_fail(self->ctl, reason);
		}
		/* the agent went away while we were at it: the same */
		if (self->lost != NULL && closed == NULL)
			return pl_ctl_fail(self->ctl, self->lost);
		return PL_CTL_EXIT_OK;
	}
	if (g_error_matches(error, PL_CTL_BRIDGE_ERROR, PL_CTL_BRIDGE_ERROR_RESET)) {
		g_autoptr(GError) reason = explain_reset(self, id, error);
		return pl_ctl_fail(self->ctl, reason);
	}
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return stream_fail(self, error);
	return pl_ctl_fail(self->ctl, error);
}

/* The agent hands the stream over as the one descriptor of the reply or event. */
static gint
take_stream(GUnixFDList *fds, GError **error)
{
	if (fds == NULL || g_unix_fd_list_get_length(fds) < 1) {
		g_set_error_literal(error, PL_IPC_ERROR, PL_IPC_ERROR_FAILED,
		                    _("the agent sent no stream"));
		return -1;
	}
	return g_unix_fd_list_get(fds, 0, error);
}

/* commands */

gint
pl_ctl_connect_stream(PlCtl *ctl, const PlCtlCommand *command, gint argc, gchar **argv)
{
	gint timeout_s = STREAM_DEFAULT_TIMEOUT_S;
	const GOptionEntry entries[] = {
	        {"timeout", 't', G_OPTION_FLAG_NONE, G_OPTION_ARG_INT, &timeout_s,
	         N_("Give up if the stream is not set up within SECONDS (1 to 300, default 30)"),
	         N_("SECONDS")},
	        {NULL},
	};
	PlCtlStream self = {0};
	g_autoptr(JsonObject) params = json_object_new();
	g_autoptr(JsonObject) reply = NULL;
	g_autoptr(GUnixFDList) fds = NULL;
	g_autoptr(GError) error = NULL;
	JsonObject *session;
	gint exit_code = PL_CTL_EXIT_OK;
	guint timeout_id;
	gint fd;

	if (!pl_ctl_parse_command_options(ctl, command, entries, 2, &argc, &argv, &exit_code))
		return exit_code;
	if (timeout_s < 1 || timeout_s > STREAM_MAX_TIMEOUT_S) {
		g_printerr(_("peerlinkctl %s: --timeout must be between 1 and %d\n"), command->name,
		           STREAM_MAX_TIMEOUT_S);
		return PL_CTL_EXIT_USAGE;
	}
	ctl->data_on_stdout = TRUE;
	stream_init(&self, ctl);
	if (!stream_connect(&self, &error)) {
		exit_code = stream_fail(&self, error);
		stream_clear(&self);
		return exit_code;
	}
	json_object_set_string_member(params, "peer", argv[1]);
	json_object_set_string_member(params, "service", argv[2]);
	json_object_set_int_member(params, "timeout_ms", (gint64)timeout_s * 1000);
	timeout_id = g_timeout_add_seconds(timeout_s + STREAM_TIMEOUT_GRACE_S, on_timeout, &self);
	reply = pl_ctl_call(ctl, "connect", params, &fds, &error);
	if (!self.timed_out)
		g_source_remove(timeout_id);
	session = reply != NULL ? pl_ctl_json_get_object(reply, "session") : NULL;
	if (reply == NULL) {
		exit_code = stream_fail(&self, error);
	} else if ((fd = take_stream(fds, &error)) < 0) {
		exit_code = pl_ctl_fail(ctl, error);
	} else {
		if (ctl->json) {
			g_autoptr(JsonObject) notice = json_object_new();
			json_object_set_string_member(notice, "event", "connected");
			if (session != NULL)
				json_object_set_object_member(notice, "session",
				                              json_object_ref(session));
			pl_ctl_print_json_notice(notice);
		}
		g_debug("connected: session %" G_GINT64_FORMAT, session_id(session));
		exit_code = bridge_session(&self, session, fd);
	}
	stream_clear(&self);
	return exit_code;
}

static gchar *
ask_peer_id(PlCtl *ctl, GError **error)
{
	g_autoptr(JsonObject) status = pl_ctl_call(ctl, "status", NULL, NULL, error);
	const gchar *peer_id;

	if (status == NULL)
		return NULL;
	peer_id = pl_ipc_json_get_string(status, "peer_id");
	return g_strdup(peer_id != NULL ? peer_id : "?");
}

static gboolean
start_listening(PlCtlStream *self, gchar **allow, GError **error)
{
	g_autoptr(JsonObject) params = json_object_new();
	g_autoptr(JsonObject) reply = NULL;
	g_autofree gchar *peer_id = ask_peer_id(self->ctl, error);
	const gchar *service;

	if (peer_id == NULL)
		return FALSE;
	json_object_set_string_member(params, "service", self->service);
	if (allow != NULL) {
		JsonArray *array = json_array_new();
		for (guint i = 0; allow[i] != NULL; i++)
			json_array_add_string_element(array, allow[i]);
		json_object_set_array_member(params, "allow", array);
	}
	self->accepting = TRUE;
	reply = pl_ctl_call(self->ctl, "listen", params, NULL, error);
	if (reply == NULL)
		return FALSE;
	service = pl_ipc_json_get_string(reply, "service");
	if (service == NULL)
		service = self->service;
	if (self->ctl->json) {
		g_autoptr(JsonObject) notice = json_object_new();
		json_object_set_string_member(notice, "event", "listening");
		json_object_set_string_member(notice, "service", service);
		json_object_set_string_member(notice, "peer_id", peer_id);
		pl_ctl_print_json_notice(notice);
	} else {
		/* TRANSLATORS: on stderr: the service, this agent's peer ID */
		g_printerr(_("listening on %s as %s\n"), service, peer_id);
	}
	return TRUE;
}

/* The first stream is ours; give the service up so that others are not left waiting. */
static void
stop_listening(PlCtlStream *self)
{
	g_autoptr(JsonObject) params = json_object_new();
	g_autoptr(JsonObject) reply = NULL;
	g_autoptr(GError) error = NULL;

	json_object_set_string_member(params, "service", self->service);
	reply = pl_ctl_call(self->ctl, "unlisten", params, NULL, &error);
	if (reply == NULL)
		g_debug("unlisten: %s", error->message);
}

static gint
serve(PlCtlStream *self)
{
	while (!self->interrupted && self->lost == NULL)
		g_main_context_iteration(NULL, TRUE);
	if (self->interrupted) /* SIGINT, SIGTERM: a normal way to stop a server */
		return PL_CTL_EXIT_OK;
	return pl_ctl_fail(self->ctl, self->lost);
}

static gint
accept_one(PlCtlStream *self)
{
	PlCtlIncoming *incoming;
	gint exit_code;
	gint fd;

	while (g_queue_is_empty(&self->incoming) && !self->interrupted && self->lost == NULL)
		g_main_context_iteration(NULL, TRUE);
	if (self->interrupted)
		return stream_fail(self, NULL);
	if (g_queue_is_empty(&self->incoming))
		return pl_ctl_fail(self->ctl, self->lost);
	incoming = g_queue_pop_head(&self->incoming);
	fd = g_steal_fd(&incoming->fd);
	print_connection(self, incoming->session);
	stop_listening(self);
	exit_code = bridge_session(self, incoming->session, fd);
	pl_ctl_incoming_free(incoming);
	return exit_code;
}

gint
pl_ctl_listen(PlCtl *ctl, const PlCtlCommand *command, gint argc, gchar **argv)
{
	g_autofree gchar *exec = NULL;
	g_auto(GStrv) allow = NULL;
	const GOptionEntry entries[] = {
	        {"exec", 'e', G_OPTION_FLAG_NONE, G_OPTION_ARG_STRING, &exec,
	         N_("Keep listening and run CMD with /bin/sh for every stream, the stream as its "
	            "stdin and stdout"),
	         N_("CMD")},
	        {"allow", 'a', G_OPTION_FLAG_NONE, G_OPTION_ARG_STRING_ARRAY, &allow,
	         N_("Accept streams only from PEER (repeat for more peers)"), N_("PEER")},
	        {NULL},
	};
	PlCtlStream self = {0};
	g_autoptr(GError) error = NULL;
	gint exit_code = PL_CTL_EXIT_OK;

	if (!pl_ctl_parse_command_options(ctl, command, entries, 1, &argc, &argv, &exit_code))
		return exit_code;
	ctl->data_on_stdout = exec == NULL;
	stream_init(&self, ctl);
	self.service = argv[1];
	self.exec = exec;
	if (!stream_connect(&self, &error) || !start_listening(&self, allow, &error))
		exit_code = stream_fail(&self, error);
	else if (exec != NULL)
		exit_code = serve(&self);
	else
		exit_code = accept_one(&self);
	stream_clear(&self);
	return exit_code;
}
