#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <locale.h>
#include <signal.h>
#include <sys/resource.h>

#include "pl-config.h"
#include "pl-daemon.h"

typedef struct {
	gchar *config_path;
	gchar *socket_path;
	gchar *state_dir;
	gchar *rendezvous_url;
	gchar *rendezvous_ca;
	gchar **stun_servers;
	gchar **turn_servers;
	gboolean no_upnp;
	gboolean verbose;
	gboolean version;
} PlOptions;

static void
pl_options_clear(PlOptions *options)
{
	g_free(options->config_path);
	g_free(options->socket_path);
	g_free(options->state_dir);
	g_free(options->rendezvous_url);
	g_free(options->rendezvous_ca);
	g_strfreev(options->stun_servers);
	g_strfreev(options->turn_servers);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(PlOptions, pl_options_clear)

static gboolean
parse_options(PlOptions *options, gint *argc, gchar ***argv, GError **error)
{
	const GOptionEntry entries[] = {
	        {"config", 'c', G_OPTION_FLAG_NONE, G_OPTION_ARG_FILENAME, &options->config_path,
	         N_("Read settings from FILE instead of the system and user files"), N_("FILE")},
	        {"socket", 's', G_OPTION_FLAG_NONE, G_OPTION_ARG_FILENAME, &options->socket_path,
	         N_("Listen for apps on the Unix socket PATH"), N_("PATH")},
	        {"state-dir", 'd', G_OPTION_FLAG_NONE, G_OPTION_ARG_FILENAME, &options->state_dir,
	         N_("Keep the identity and state in DIR"), N_("DIR")},
	        {"rendezvous", 0, G_OPTION_FLAG_NONE, G_OPTION_ARG_STRING, &options->rendezvous_url,
	         N_("Use the rendezvous service at URL (http or https; empty: none)"), N_("URL")},
	        {"rendezvous-ca", 0, G_OPTION_FLAG_NONE, G_OPTION_ARG_FILENAME,
	         &options->rendezvous_ca,
	         N_("Trust the CA or certificate in the PEM FILE for the rendezvous service"),
	         N_("FILE")},
	        {"stun", 0, G_OPTION_FLAG_NONE, G_OPTION_ARG_STRING_ARRAY, &options->stun_servers,
	         N_("Learn the public address from the STUN server HOST:PORT (repeatable)"),
	         N_("HOST:PORT")},
	        {"turn", 0, G_OPTION_FLAG_NONE, G_OPTION_ARG_STRING_ARRAY, &options->turn_servers,
	         N_("Relay through the TURN server URI, "
	            "turn:USER:PASSWORD@HOST:PORT?transport=udp|tcp "
	            "(repeatable)"),
	         N_("URI")},
	        {"no-upnp", 0, G_OPTION_FLAG_NONE, G_OPTION_ARG_NONE, &options->no_upnp,
	         N_("Do not ask the router for port mappings over UPnP-IGD"), NULL},
	        {"verbose", 'v', G_OPTION_FLAG_NONE, G_OPTION_ARG_NONE, &options->verbose,
	         N_("Log debug messages"), NULL},
	        {"version", 'V', G_OPTION_FLAG_NONE, G_OPTION_ARG_NONE, &options->version,
	         N_("Print the version and exit"), NULL},
	        {NULL},
	};
	g_autoptr(GOptionContext) context = g_option_context_new(NULL);

	g_option_context_set_summary(context, _("The peerlink agent: NAT traversal for the apps "
	                                        "of this user session."));
	g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
	g_option_context_set_translation_domain(context, GETTEXT_PACKAGE);
	if (!g_option_context_parse(context, argc, argv, error))
		return FALSE;
	if (*argc > 1) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
		            _("unexpected argument \"%s\""), (*argv)[1]);
		return FALSE;
	}
	return TRUE;
}

/* repeated options replace the configured list */
static gboolean
set_list_option(
        PlConfig *config, const gchar *key, gchar **values, const gchar *source, GError **error)
{
	g_autofree gchar *joined = NULL;

	if (values == NULL)
		return TRUE;
	joined = g_strjoinv(",", values);
	return pl_config_set(config, key, joined, source, error);
}

static PlConfig *
load_config(PlOptions *options, GError **error)
{
	g_autoptr(PlConfig) config = pl_config_new();
	g_autofree gchar *system_path = pl_config_get_system_path();
	g_autofree gchar *user_path = pl_config_get_user_path();
	const gchar *source = _("command line");

	if (options->config_path != NULL) {
		if (!pl_config_load_file(config, options->config_path, TRUE, error))
			return NULL;
	} else if (!pl_config_load_file(config, system_path, FALSE, error) ||
	           !pl_config_load_file(config, user_path, FALSE, error)) {
		return NULL;
	}
	if (options->socket_path != NULL &&
	    !pl_config_set(config, "socket", options->socket_path, source, error))
		return NULL;
	if (options->state_dir != NULL &&
	    !pl_config_set(config, "state-dir", options->state_dir, source, error))
		return NULL;
	if (options->rendezvous_url != NULL &&
	    !pl_config_set(config, "rendezvous", options->rendezvous_url, source, error))
		return NULL;
	if (options->rendezvous_ca != NULL &&
	    !pl_config_set(config, "rendezvous-ca", options->rendezvous_ca, source, error))
		return NULL;
	if (!set_list_option(config, "stun", options->stun_servers, source, error) ||
	    !set_list_option(config, "turn", options->turn_servers, source, error))
		return NULL;
	if (options->no_upnp)
		config->upnp = FALSE;
	if (options->verbose)
		config->verbose = TRUE;
	if (!pl_config_validate(config, error))
		return NULL;
	return g_steal_pointer(&config);
}

/*
 * Each session holds three descriptors (its UDP socket, our end of the app's
 * TCP socket pair, the eventfd of libnice's per-component context) and each
 * app connection one: the usual soft limit of 1,024 would stop the agent at
 * about 330 sessions. The hard limit is ours to take. (GLib polls with poll(),
 * not select(), so descriptors above 1,024 are fine.)
 */
static void
raise_fd_limit(void)
{
	struct rlimit limit;

	if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max)
		return;
	limit.rlim_cur = limit.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &limit) != 0)
		g_debug("cannot raise the limit of open files: %s", g_strerror(errno));
}

static gboolean
on_quit_signal(gpointer user_data)
{
	g_main_loop_quit(user_data);
	return G_SOURCE_CONTINUE;
}

int
main(int argc, char *argv[])
{
	g_auto(PlOptions) options = {0};
	g_autoptr(PlConfig) config = NULL;
	g_autoptr(PlDaemon) daemon = NULL;
	g_autoptr(GMainLoop) loop = NULL;
	g_autoptr(GError) error = NULL;

	setlocale(LC_ALL, "");
	bindtextdomain(GETTEXT_PACKAGE,
	               g_getenv("PEERLINK_LOCALEDIR") != NULL
	                       ? g_getenv("PEERLINK_LOCALEDIR") /* uninstalled build */
	                       : LOCALEDIR);
	bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
	textdomain(GETTEXT_PACKAGE);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();

	if (!parse_options(&options, &argc, &argv, &error)) {
		g_printerr("peerlinkd: %s\n", error->message);
		return 1;
	}
	if (options.version) {
		g_print("peerlinkd %s\n", PACKAGE_VERSION);
		return 0;
	}
	config = load_config(&options, &error);
	if (config == NULL) {
		g_printerr("peerlinkd: %s\n", error->message);
		return 1;
	}
	/* our own debug messages, not those of every library underneath */
	if (config->verbose && g_getenv("G_MESSAGES_DEBUG") == NULL)
		g_setenv("G_MESSAGES_DEBUG",
		         "peerlink-agent peerlink-ipc peerlink-identity peerlink-rendezvous "
		         "peerlink-session",
		         TRUE);

	loop = g_main_loop_new(NULL, FALSE);
	daemon = pl_daemon_new(config);
	if (!pl_daemon_start(daemon, &error)) {
		g_printerr("peerlinkd: %s\n", error->message);
		return 1;
	}
	g_unix_signal_add(SIGTERM, on_quit_signal, loop);
	g_unix_signal_add(SIGINT, on_quit_signal, loop);
	g_main_loop_run(loop);
	pl_daemon_stop(daemon, _("stopped by signal"));
	/* let what is already queued go out (the rendezvous close frame); never wait */
	for (guint i = 0; i < 100 && g_main_context_iteration(NULL, FALSE); i++)
		continue;
	return 0;
}
