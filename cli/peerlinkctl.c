#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>
#include <signal.h>
#include <string.h>

#include "pl-ctl.h"

static const PlCtlCommand commands[] = {
        {"status", "",
         N_("Show the agent's version, identity, uptime, rendezvous, NAT and sessions"),
         pl_ctl_status},
        {"id", "", N_("Print this agent's peer ID"), pl_ctl_id},
        {"connect", "PEER SERVICE",
         N_("Open a stream to a service of a peer and connect it to stdin and stdout"),
         pl_ctl_connect_stream},
        {"listen", "SERVICE",
         N_("Accept a stream for a service on stdin and stdout, or run a command for each"),
         pl_ctl_listen},
        {"sessions", "", N_("List the sessions with peers"), pl_ctl_sessions},
        {"close", "SESSION", N_("End a session at once"), pl_ctl_close},
        {"ping", "PEER", N_("Open a session to a peer and measure its round trip and network path"),
         pl_ctl_ping},
        {"rendezvous-ping", "PEER", N_("Measure the round trip through the rendezvous service"),
         pl_ctl_rendezvous_ping},
        {"netcheck", "",
         N_("Find out what this network lets peerlink do: NAT behaviour, UDP, UPnP, TURN"),
         pl_ctl_netcheck},
};

static const PlCtlCommand *
find_command(const gchar *name)
{
	for (guint i = 0; i < G_N_ELEMENTS(commands); i++) {
		if (g_strcmp0(commands[i].name, name) == 0)
			return &commands[i];
	}
	return NULL;
}

static gchar *
describe_commands(void)
{
	GString *text = g_string_new(_("Commands:"));
	gint width = 0;

	g_string_append_c(text, '\n');
	for (guint i = 0; i < G_N_ELEMENTS(commands); i++)
		width = MAX(width, (gint)strlen(commands[i].name));
	for (guint i = 0; i < G_N_ELEMENTS(commands); i++)
		g_string_append_printf(text, "  %-*s  %s\n", width, commands[i].name,
		                       _(commands[i].summary));
	g_string_append_printf(text, "\n%s",
	                       _("Run “peerlinkctl COMMAND --help” for the options of a command."));
	return g_string_free(text, FALSE);
}

static GOptionContext *
new_global_context(PlCtl *ctl)
{
	const GOptionEntry entries[] = {
	        {"socket", 's', G_OPTION_FLAG_NONE, G_OPTION_ARG_FILENAME, &ctl->socket_path,
	         N_("Talk to the agent on the Unix socket PATH"), N_("PATH")},
	        {"json", 'j', G_OPTION_FLAG_NONE, G_OPTION_ARG_NONE, &ctl->json,
	         N_("Print machine-readable JSON"), NULL},
	        {NULL},
	};
	g_autofree gchar *description = describe_commands();
	GOptionContext *context = g_option_context_new(_("COMMAND [ARGS…]"));

	g_option_context_set_summary(context, _("Inspect and use the peerlink agent."));
	g_option_context_set_description(context, description);
	g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
	g_option_context_set_translation_domain(context, GETTEXT_PACKAGE);
	g_option_context_set_strict_posix(context, TRUE); /* options after COMMAND are its own */
	return context;
}

static void
setup_i18n(void)
{
	const gchar *localedir = g_getenv("PEERLINK_LOCALEDIR"); /* for the uninstalled build */

	setlocale(LC_ALL, "");
	bindtextdomain(GETTEXT_PACKAGE, localedir != NULL ? localedir : LOCALEDIR);
	bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
	textdomain(GETTEXT_PACKAGE);
}

int
main(int argc, char *argv[])
{
	g_auto(PlCtl) ctl = {0};
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(GError) error = NULL;
	const PlCtlCommand *command;

	setup_i18n();
	signal(SIGPIPE, SIG_IGN);
	context = new_global_context(&ctl);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		g_printerr("peerlinkctl: %s\n", error->message);
		return PL_CTL_EXIT_USAGE;
	}
	if (argc < 2) {
		g_autofree gchar *help = g_option_context_get_help(context, TRUE, NULL);
		g_printerr("%s", help);
		return PL_CTL_EXIT_USAGE;
	}
	command = find_command(argv[1]);
	if (command == NULL) {
		g_printerr(_("peerlinkctl: unknown command “%s” (see peerlinkctl --help)\n"),
		           argv[1]);
		return PL_CTL_EXIT_USAGE;
	}
	return command->run(&ctl, command, argc - 1, argv + 1);
}
