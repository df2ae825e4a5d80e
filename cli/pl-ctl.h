/*
 * What every peerlinkctl command shares: the connection to the agent, the
 * output mode, and how failures are reported.
 */
#pragma once

#include "pl-client.h"

G_BEGIN_DECLS

#define PL_CTL_EXIT_OK          0
#define PL_CTL_EXIT_FAILURE     1
#define PL_CTL_EXIT_USAGE       2
#define PL_CTL_EXIT_NOT_RUNNING 3

typedef struct {
	gchar *socket_path;
	gboolean json;
	PlClient *client;
} PlCtl;

typedef struct _PlCtlCommand PlCtlCommand;
typedef gint (*PlCtlCommandFunc)(PlCtl *ctl, const PlCtlCommand *command, gint argc, gchar **argv);

struct _PlCtlCommand {
	const gchar *name;
	const gchar *parameters; /* untranslated, e.g. "PEER SERVICE" */
	const gchar *summary;    /* N_() */
	PlCtlCommandFunc run;
};

void pl_ctl_clear(PlCtl *ctl);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(PlCtl, pl_ctl_clear)

gboolean pl_ctl_connect(PlCtl *ctl, GError **error);
JsonObject *pl_ctl_call(PlCtl *ctl,
                        const gchar *method,
                        JsonObject *params,
                        GUnixFDList **out_fd_list,
                        GError **error);
gint pl_ctl_fail(PlCtl *ctl, const GError *error);
gboolean pl_ctl_parse_command_options(PlCtl *ctl,
                                      const PlCtlCommand *command,
                                      const GOptionEntry *entries,
                                      gint n_args,
                                      gint *argc,
                                      gchar ***argv,
                                      gint *exit_code);
void pl_ctl_print_json(JsonObject *object);

gint pl_ctl_status(PlCtl *ctl, const PlCtlCommand *command, gint argc, gchar **argv);
gint pl_ctl_id(PlCtl *ctl, const PlCtlCommand *command, gint argc, gchar **argv);
gint pl_ctl_ping(PlCtl *ctl, const PlCtlCommand *command, gint argc, gchar **argv);

G_END_DECLS
