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
	GCancellable *cancellable; /* if set, calls give up when it is cancelled */
	gboolean data_on_stdout;   /* stdout carries a stream: report on stderr only */
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
gint pl_ctl_fail_request(PlCtl *ctl, const GError *error);
gboolean pl_ctl_parse_command_options(PlCtl *ctl,
                                      const PlCtlCommand *command,
                                      const GOptionEntry *entries,
                                      gint n_args,
                                      gint *argc,
                                      gchar ***argv,
                                      gint *exit_code);
void pl_ctl_print_json(JsonObject *object);
void pl_ctl_print_json_notice(JsonObject *object);

typedef void (*PlCtlPrintFunc)(JsonObject *result, gpointer user_data);
/* Sends a request and reports: the result as JSON with --json, else through print (NULL:
 * nothing); a failure as pl_ctl_fail_request() does. The exit code. */
gint pl_ctl_request(PlCtl *ctl,
                    const gchar *method,
                    JsonObject *params,
                    PlCtlPrintFunc print,
                    gpointer user_data);

void pl_ctl_store_result_cb(GObject *source, GAsyncResult *result, gpointer user_data);
GAsyncResult *pl_ctl_wait_for_result(GAsyncResult **slot);

JsonObject *pl_ctl_json_get_object(JsonObject *object, const gchar *key);
JsonArray *pl_ctl_json_get_array(JsonObject *object, const gchar *key);
gboolean pl_ctl_json_get_number(JsonObject *object, const gchar *key, gdouble *value);
/* the candidate object at key as pl_ctl_format_candidate() shows it; missing if there is none */
gchar *pl_ctl_json_describe_candidate(JsonObject *object,
                                      const gchar *key,
                                      const gchar *missing,
                                      gboolean compact);

gint pl_ctl_status(PlCtl *ctl, const PlCtlCommand *command, gint argc, gchar **argv);
gint pl_ctl_id(PlCtl *ctl, const PlCtlCommand *command, gint argc, gchar **argv);
gint pl_ctl_ping(PlCtl *ctl, const PlCtlCommand *command, gint argc, gchar **argv);
gint pl_ctl_rendezvous_ping(PlCtl *ctl, const PlCtlCommand *command, gint argc, gchar **argv);
gint pl_ctl_connect_stream(PlCtl *ctl, const PlCtlCommand *command, gint argc, gchar **argv);
gint pl_ctl_listen(PlCtl *ctl, const PlCtlCommand *command, gint argc, gchar **argv);
gint pl_ctl_sessions(PlCtl *ctl, const PlCtlCommand *command, gint argc, gchar **argv);
gint pl_ctl_close(PlCtl *ctl, const PlCtlCommand *command, gint argc, gchar **argv);
gint pl_ctl_netcheck(PlCtl *ctl, const PlCtlCommand *command, gint argc, gchar **argv);

/* the session table of "sessions" and "status" */
void pl_ctl_print_sessions(JsonArray *sessions);

G_END_DECLS
