#include "config.h"

#include <glib-unix.h>
#include <locale.h>
#include <stdlib.h>

#include "pl-memory-store.h"
#include "pl-redis-store.h"
#include "pl-rendezvous-server.h"
#include "pl-turn-credentials.h"

#define PL_RENDEZVOUS_DEFAULT_LISTEN    "127.0.0.1:8480"
#define PL_RENDEZVOUS_SHUTDOWN_GRACE_MS 500
/* a message body and its envelope must fit in a 64 KiB request */
#define PL_RENDEZVOUS_MAX_MESSAGE_LIMIT (PL_RENDEZVOUS_MAX_REQUEST_SIZE - 4096)

typedef struct {
	GMainLoop *loop;
	PlRendezvousServer *server;
	PlMemoryStore *memory_store; /* NULL with Redis */
	const gchar *state_file;
	guint grace_id;
	gint exit_status;
} PlRendezvousMain;

static gboolean
pl_rendezvous_main_finish_cb(gpointer user_data)
{
	PlRendezvousMain *self = user_data;
	g_autoptr(GError) error = NULL;

	self->grace_id = 0;
	if (self->memory_store != NULL && self->state_file != NULL) {
		if (pl_memory_store_save(self->memory_store, self->state_file, &error)) {
			g_message("saved state to %s", self->state_file);
		} else {
			g_printerr("peerlink-rendezvous: cannot save state: %s\n", error->message);
			self->exit_status = EXIT_FAILURE;
		}
	}
	g_main_loop_quit(self->loop);
	return G_SOURCE_REMOVE;
}

static gboolean
pl_rendezvous_main_signal_cb(gpointer user_data)
{
	PlRendezvousMain *self = user_data;

	if (self->grace_id != 0)
		return G_SOURCE_CONTINUE;
	g_message("shutting down");
	/* peers offline now; a moment for the close frames to leave */
	pl_rendezvous_server_shutdown(self->server);
	self->grace_id = g_timeout_add(pl_rendezvous_server_get_n_websockets(self->server) > 0
	                                       ? PL_RENDEZVOUS_SHUTDOWN_GRACE_MS
	                                       : 0,
	                               pl_rendezvous_main_finish_cb, self);
	return G_SOURCE_CONTINUE;
}

static gboolean
pl_rendezvous_main_check_range(
        const gchar *option, gint64 value, gint64 min, gint64 max, GError **error)
{
	if (value >= min && value <= max)
		return TRUE;
	g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
	            "%s must be from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT
	            ", not %" G_GINT64_FORMAT,
	            option, min, max, value);
	return FALSE;
}

static int
pl_rendezvous_main_fail(const GError *error)
{
	g_printerr("peerlink-rendezvous: %s\n", error->message);
	return EXIT_FAILURE;
}

int
main(int argc, char **argv)
{
	g_auto(GStrv) listen = NULL;
	g_autofree gchar *tls_cert = NULL;
	g_autofree gchar *tls_key = NULL;
	g_autofree gchar *turn_secret = NULL;
	g_auto(GStrv) turn_uris = NULL;
	g_auto(GStrv) stun_uris = NULL;
	gint64 turn_ttl = PL_TURN_DEFAULT_TTL_S;
	g_autofree gchar *redis = NULL;
	g_autofree gchar *state_file = NULL;
	gint64 max_message_size = 16 * 1024;
	gint64 max_inbox = 256;
	gint64 message_ttl = 60;
	gdouble rate = 50;
	gint64 burst = 200;
	gint64 presence_timeout = 30;
	gboolean verbose = FALSE;
	gboolean version = FALSE;
	const GOptionEntry entries[] = {
	        {"listen", 0, 0, G_OPTION_ARG_STRING_ARRAY, &listen,
	         "Listen on ADDR:PORT, [ADDR]:PORT for IPv6 (repeatable; "
	         "default " PL_RENDEZVOUS_DEFAULT_LISTEN ")",
	         "ADDR:PORT"},
	        {"tls-cert", 0, 0, G_OPTION_ARG_FILENAME, &tls_cert,
	         "Serve HTTPS with this PEM certificate (chain)", "FILE"},
	        {"tls-key", 0, 0, G_OPTION_ARG_FILENAME, &tls_key,
	         "The PEM private key of --tls-cert", "FILE"},
	        {"turn-secret", 0, 0, G_OPTION_ARG_STRING, &turn_secret,
	         "Shared secret of the TURN servers (coturn static-auth-secret)", "SECRET"},
	        {"turn-uri", 0, 0, G_OPTION_ARG_STRING_ARRAY, &turn_uris,
	         "A TURN server, turn:HOST[:PORT][?transport=udp|tcp] (repeatable)", "URI"},
	        {"stun-uri", 0, 0, G_OPTION_ARG_STRING_ARRAY, &stun_uris,
	         "A STUN server, stun:HOST[:PORT] (repeatable; default: the TURN hosts)", "URI"},
	        {"turn-ttl", 0, 0, G_OPTION_ARG_INT64, &turn_ttl,
	         "Lifetime of TURN credentials (default 43200, at most 86400)", "SECONDS"},
	        {"redis", 0, 0, G_OPTION_ARG_STRING, &redis,
	         "Keep the state in Redis, shared with other instances", "redis://HOST:PORT[/DB]"},
	        {"state-file", 0, 0, G_OPTION_ARG_FILENAME, &state_file,
	         "Memory backend: load the state at start, save it on SIGTERM/SIGINT", "FILE"},
	        {"max-message-size", 0, 0, G_OPTION_ARG_INT64, &max_message_size,
	         "Largest message body (default 16384)", "BYTES"},
	        {"max-inbox", 0, 0, G_OPTION_ARG_INT64, &max_inbox,
	         "Undelivered messages per recipient (default 256)", "N"},
	        {"message-ttl", 0, 0, G_OPTION_ARG_INT64, &message_ttl,
	         "Age after which an undelivered message is dropped (default 60)", "SECONDS"},
	        {"rate", 0, 0, G_OPTION_ARG_DOUBLE, &rate,
	         "Messages per second per sender (default 50)", "N"},
	        {"burst", 0, 0, G_OPTION_ARG_INT64, &burst,
	         "Messages a sender may send at once (default 200)", "N"},
	        {"presence-timeout", 0, 0, G_OPTION_ARG_INT64, &presence_timeout,
	         "Close WebSockets silent for this long (default 30)", "SECONDS"},
	        {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log debug messages", NULL},
	        {"version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL},
	        {NULL},
	};
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(PlStore) store = NULL;
	g_autoptr(PlRendezvousService) service = NULL;
	g_autoptr(PlRendezvousServer) server = NULL;
	g_autoptr(GTlsCertificate) certificate = NULL;
	g_autoptr(GMainLoop) loop = NULL;
	g_auto(GStrv) uris = NULL;
	PlRendezvousServiceConfig config;
	PlRendezvousMain self = {0};
	const gchar *default_listen[] = {PL_RENDEZVOUS_DEFAULT_LISTEN, NULL};
	const gchar *const *addresses;
	guint sigterm_id;
	guint sigint_id;

	setlocale(LC_ALL, "");
	context = g_option_context_new(NULL);
	g_option_context_set_summary(context,
	                             "The peerlink rendezvous service: authenticates peers by "
	                             "key, relays signaling messages, hands out TURN credentials.");
	g_option_context_add_main_entries(context, entries, NULL);
	if (!g_option_context_parse(context, &argc, &argv, &error))
		return pl_rendezvous_main_fail(error);
	if (version) {
		g_print("peerlink-rendezvous %s\n", PACKAGE_VERSION);
		return EXIT_SUCCESS;
	}
	if (argc > 1) {
		g_printerr("peerlink-rendezvous: unexpected argument \"%s\"\n", argv[1]);
		return EXIT_FAILURE;
	}
	/* our own debug messages, not those of every library underneath */
	if (verbose && g_getenv("G_MESSAGES_DEBUG") == NULL)
		g_setenv("G_MESSAGES_DEBUG", "peerlink-rendezvous peerlink-identity", TRUE);

	/* check every value before starting anything */
	if (!pl_rendezvous_main_check_range("--turn-ttl", turn_ttl, 1, PL_TURN_MAX_TTL_S, &error) ||
	    !pl_rendezvous_main_check_range("--max-message-size", max_message_size, 1,
	                                    PL_RENDEZVOUS_MAX_MESSAGE_LIMIT, &error) ||
	    !pl_rendezvous_main_check_range("--max-inbox", max_inbox, 1, 100000, &error) ||
	    !pl_rendezvous_main_check_range("--message-ttl", message_ttl, 1, 86400, &error) ||
	    !pl_rendezvous_main_check_range("--burst", burst, 1, 1000000, &error) ||
	    !pl_rendezvous_main_check_range("--presence-timeout", presence_timeout, 1, 3600,
	                                    &error))
		return pl_rendezvous_main_fail(error);
	if (!(rate > 0 && rate <= 1000000)) {
		g_printerr("peerlink-rendezvous: --rate must be more than 0 and at most 1000000\n");
		return EXIT_FAILURE;
	}
	if ((tls_cert == NULL) != (tls_key == NULL)) {
		g_printerr("peerlink-rendezvous: --tls-cert and --tls-key go together\n");
		return EXIT_FAILURE;
	}
	if (redis != NULL && state_file != NULL) {
		g_printerr("peerlink-rendezvous: --state-file is for the memory backend, not "
		           "--redis\n");
		return EXIT_FAILURE;
	}
	if (turn_secret != NULL && turn_secret[0] == '\0') {
		g_printerr("peerlink-rendezvous: --turn-secret must not be empty\n");
		return EXIT_FAILURE;
	}
	for (guint i = 0; turn_uris != NULL && turn_uris[i] != NULL; i++) {
		if (!pl_turn_uri_check(turn_uris[i], TRUE, &error))
			return pl_rendezvous_main_fail(error);
	}
	for (guint i = 0; stun_uris != NULL && stun_uris[i] != NULL; i++) {
		if (!pl_turn_uri_check(stun_uris[i], FALSE, &error))
			return pl_rendezvous_main_fail(error);
	}
	if (turn_secret != NULL && (turn_uris == NULL || turn_uris[0] == NULL)) {
		g_printerr("peerlink-rendezvous: --turn-secret needs at least one --turn-uri\n");
		return EXIT_FAILURE;
	}
	addresses = listen != NULL ? (const gchar *const *)listen : default_listen;
	for (guint i = 0; addresses[i] != NULL; i++) {
		g_autoptr(GSocketAddress) address =
		        pl_rendezvous_parse_listen_address(addresses[i], &error);
		if (address == NULL)
			return pl_rendezvous_main_fail(error);
	}
	if (tls_cert != NULL) {
		certificate = g_tls_certificate_new_from_files(tls_cert, tls_key, &error);
		if (certificate == NULL) {
			g_prefix_error(&error, "cannot load --tls-cert/--tls-key: ");
			return pl_rendezvous_main_fail(error);
		}
	}

	/* the store */
	if (redis != NULL) {
		PlRedisStore *redis_store = pl_redis_store_new(redis, &error);
		if (redis_store == NULL) {
			g_prefix_error(&error, "--redis %s: ", redis);
			return pl_rendezvous_main_fail(error);
		}
		store = PL_STORE(redis_store);
	} else {
		PlMemoryStore *memory_store = pl_memory_store_new();
		store = PL_STORE(memory_store);
		if (state_file != NULL) {
			if (pl_memory_store_load(memory_store, state_file, &error)) {
				g_message("loaded state from %s", state_file);
			} else if (g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
				g_clear_error(&error);
			} else {
				g_prefix_error(&error, "cannot load --state-file: ");
				return pl_rendezvous_main_fail(error);
			}
			self.memory_store = memory_store;
			self.state_file = state_file;
		}
	}

	pl_rendezvous_service_config_init(&config);
	config.max_message_size = (gsize)max_message_size;
	config.max_inbox = (guint)max_inbox;
	config.message_ttl_s = (guint)message_ttl;
	config.rate = rate;
	config.burst = (guint)burst;
	config.presence_timeout_s = (guint)presence_timeout;
	config.turn_secret = turn_secret;
	config.turn_uris = turn_uris;
	config.stun_uris = stun_uris;
	config.turn_ttl_s = (guint)turn_ttl;
	service = pl_rendezvous_service_new(store, &config); /* copies the config */

	server = pl_rendezvous_server_new(service, certificate);
	for (guint i = 0; addresses[i] != NULL; i++) {
		if (!pl_rendezvous_server_listen(server, addresses[i], &error))
			return pl_rendezvous_main_fail(error);
	}
	uris = pl_rendezvous_server_get_uris(server);
	for (guint i = 0; uris[i] != NULL; i++)
		g_message("listening on %s", uris[i]);
	g_message("backend: %s", pl_store_get_backend_name(store));

	loop = g_main_loop_new(NULL, FALSE);
	self.loop = loop;
	self.server = server;
	self.exit_status = EXIT_SUCCESS;
	sigterm_id = g_unix_signal_add(SIGTERM, pl_rendezvous_main_signal_cb, &self);
	sigint_id = g_unix_signal_add(SIGINT, pl_rendezvous_main_signal_cb, &self);
	g_main_loop_run(loop);
	g_source_remove(sigterm_id);
	g_source_remove(sigint_id);
	g_clear_handle_id(&self.grace_id, g_source_remove);
	return self.exit_status;
}
