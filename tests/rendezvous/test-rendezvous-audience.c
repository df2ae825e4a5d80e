/*
 * pl_rendezvous_audience_from_uri() against what libsoup really puts in the
 * Host header: the client signs the former, the service compares it with the
 * latter. A separate program because libsoup 3.2's SoupServer leaks its
 * listeners' addresses, which valgrind counts as definite leaks: this test is
 * in the 'external' suite, out of valgrind runs.
 */
#include "config.h"

#include <libsoup/soup.h>
#include <string.h>

#include "pl-rendezvous-protocol.h"

typedef struct {
	guint port;
	gboolean port80;
	gchar *host;   /* the last Host header received */
	gboolean done; /* set by the client thread */
	GMainContext *main_context;
} AudienceTest;

static void
audience_server_cb(SoupServer *server,
                   SoupServerMessage *msg,
                   const gchar *path,
                   GHashTable *query,
                   gpointer user_data)
{
	AudienceTest *self = user_data;
	SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);

	g_free(self->host);
	self->host = g_strdup(soup_message_headers_get_one(headers, "Host"));
	soup_server_message_set_status(msg, 204, NULL);
}

static gboolean
audience_client_done_cb(gpointer user_data)
{
	AudienceTest *self = user_data;
	self->done = TRUE;
	return G_SOURCE_REMOVE;
}

/* the client runs in its own thread (libsoup's sync API), the server in the main context */
static gpointer
audience_client_thread(gpointer user_data)
{
	AudienceTest *self = user_data;
	g_autoptr(GMainContext) context = g_main_context_new();
	g_autoptr(SoupSession) session = NULL;
	const gchar *formats[] = {"http://127.0.0.1:PORT/",  "http://LocalHost:PORT/x?y=1",
	                          "http://[::1]:PORT/",      "http://[0:0::1]:PORT/",
	                          "http://127.0.0.1:80/",    "http://127.0.0.1/",
	                          "http://localhost.:PORT/", "http://u:p@127.0.0.1:PORT/"};

	g_main_context_push_thread_default(context);
	session = soup_session_new();
	for (guint i = 0; i < G_N_ELEMENTS(formats); i++) {
		g_autoptr(GString) uri_text = g_string_new(formats[i]);
		g_autofree gchar *port = g_strdup_printf("%u", self->port);
		g_autoptr(SoupMessage) msg = NULL;
		g_autoptr(GBytes) body = NULL;
		g_autoptr(GError) error = NULL;
		g_autoptr(GUri) uri = NULL;
		g_autofree gchar *audience = NULL;
		g_autofree gchar *audience2 = NULL;
		g_autofree gchar *host = NULL;

		g_string_replace(uri_text, "PORT", port, 0);
		if (!self->port80 && strstr(formats[i], "PORT") == NULL) {
			g_test_message("port 80 not available: skipping %s", uri_text->str);
			continue;
		}
		msg = soup_message_new("GET", uri_text->str);
		g_assert_nonnull(msg);
		body = soup_session_send_and_read(session, msg, NULL, &error);
		if (error != NULL && g_str_has_prefix(uri_text->str, "http://[")) {
			g_test_message("no IPv6 loopback: %s", error->message);
			continue;
		}
		g_assert_no_error(error);
		/* the handler ran before the reply was sent */
		host = g_steal_pointer(&self->host);
		audience = pl_rendezvous_audience_from_uri(soup_message_get_uri(msg));
		g_test_message("%s: Host %s", uri_text->str, host);
		g_assert_cmpstr(audience, ==, host);
		/* and from the URI as the application parsed it */
		uri = g_uri_parse(uri_text->str, G_URI_FLAGS_NONE, NULL);
		audience2 = pl_rendezvous_audience_from_uri(uri);
		g_assert_cmpstr(audience2, ==, host);
	}
	soup_session_abort(session);
	g_clear_object(&session);
	while (g_main_context_pending(context))
		g_main_context_iteration(context, FALSE);
	g_main_context_pop_thread_default(context);
	g_main_context_invoke(self->main_context, audience_client_done_cb, self);
	return NULL;
}

static void
test_audience_libsoup(void)
{
	AudienceTest self = {0};
	g_autoptr(SoupServer) server = soup_server_new(NULL, NULL);
	g_autoptr(GSocketAddress) addr80 = g_inet_socket_address_new_from_string("127.0.0.1", 80);
	g_autoptr(GError) error = NULL;
	GSList *uris;
	GThread *thread;

	self.main_context = g_main_context_default();
	soup_server_add_handler(server, NULL, audience_server_cb, &self, NULL);
	if (!soup_server_listen_local(server, 0, 0, &error))
		g_error("cannot listen: %s", error->message);
	/* the default port is only testable where we may bind it */
	self.port80 = soup_server_listen(server, addr80, 0, NULL);
	uris = soup_server_get_uris(server);
	for (GSList *l = uris; l != NULL; l = l->next) {
		if (g_uri_get_port(l->data) != 80)
			self.port = (guint)g_uri_get_port(l->data);
	}
	g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);

	thread = g_thread_new("audience-client", audience_client_thread, &self);
	while (!self.done)
		g_main_context_iteration(NULL, TRUE);
	g_thread_join(thread);
	soup_server_disconnect(server);
	while (g_main_context_pending(NULL))
		g_main_context_iteration(NULL, FALSE);
	g_free(self.host);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerlink/rendezvous/audience/libsoup", test_audience_libsoup);
	return g_test_run();
}
