/*
 * A small world of real processes for integration tests: a peerlink-rendezvous
 * on a loopback port (HTTP or HTTPS, stopped and started at will) and peerlinkd
 * agents that use it, each in its own directory with its own socket, state and
 * log, all killed with the test; peerlinkctl and IPC clients to drive them.
 * The daemons run under the test's checker (valgrind, sanitizers: see
 * pl-test-checker.h); what it finds fails the test when they are stopped.
 */
#pragma once

#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <json-glib/json-glib.h>

#include "pl-client.h"

G_BEGIN_DECLS

typedef struct {
	gchar *name;
	gchar *dir;
	gchar *socket_path;
	gchar *log_path;
	gchar *peer_id;
	GSubprocess *process;
	gchar *state_dir;   /* DIR/state */
	gchar *config_path; /* DIR/peerlink.conf */
} PlTestAgent;

typedef struct {
	gchar *dir;
	guint port;
	gchar *url;
	gchar *log_path;
	gchar *cert_path; /* HTTPS: the service's self-signed certificate and key, else NULL */
	gchar *key_path;
	GSubprocess *service;
	GPtrArray *agents;  /* PlTestAgent* */
	GStrv service_args; /* more arguments for the service (e.g. --rate N), or NULL */
} PlTestNet;

/* the agent's config for sessions on loopback, without UPnP */
#define PL_TEST_LOOPBACK_CONFIG "addresses=127.0.0.1\nloopback=true\nupnp=false\n"

/* the directory, the port and a running service */
PlTestNet *pl_test_net_new(void);
/* the same, the service not started yet */
PlTestNet *pl_test_net_new_stopped(void);
void pl_test_net_free(PlTestNet *net);
/* prints every process's log to stderr */
void pl_test_net_dump_logs(PlTestNet *net);
/* before the service starts: a self-signed certificate for 127.0.0.1, net->url in https;
 * FALSE if certtool (gnutls-bin) is not installed */
gboolean pl_test_net_use_https(PlTestNet *net);
/* starts peerlink-rendezvous on net->port (again, after a stop) and waits until it listens */
void pl_test_net_start_service(PlTestNet *net);
void pl_test_net_stop_service(PlTestNet *net);
/* the service dies of signal_number at once (SIGKILL: no goodbye to anyone) */
void pl_test_net_kill_service(PlTestNet *net, gint signal_number);
/* extra_config: lines for the [agent] group; waits until the agent is online */
PlTestAgent *pl_test_net_start_agent(PlTestNet *net, const gchar *name, const gchar *extra_config);
/* the same, but waits only until the agent answers (its peer ID is known): the service may
 * be down or out of reach */
PlTestAgent *pl_test_net_spawn_agent(PlTestNet *net, const gchar *name, const gchar *extra_config);
void pl_test_agent_kill(PlTestAgent *agent, gint signal_number);
/* writes the agent's directory and config and starts it, waiting for nothing: it may fail to
 * start (see pl_test_agent_wait_ready) */
PlTestAgent *pl_test_net_launch_agent(PlTestNet *net, const gchar *name, const gchar *extra_config);
/* starts a stopped or killed agent again with the same directory, config, socket and
 * identity, waiting for nothing */
void pl_test_agent_relaunch(PlTestAgent *agent);
/* TRUE once the agent answers (and is online, if online); FALSE if its process exited first
 * (agent->process then holds its exit status); after timeout_ms the test fails */
gboolean
pl_test_agent_wait_ready(PlTestNet *net, PlTestAgent *agent, gboolean online, guint timeout_ms);
/* what the agent logged so far, over all its runs (each run appends to the log) */
gchar *pl_test_agent_get_log(PlTestAgent *agent);
/* VmRSS of a running process in KiB, from /proc; 0 if it is gone */
guint64 pl_test_process_rss_kib(GSubprocess *process);

/* our environment for a daemon that keeps everything in dir: XDG_RUNTIME_DIR, XDG_CONFIG_HOME
 * and XDG_STATE_HOME there, no session bus, no fatal warnings (its messages are not ours) */
gchar **pl_test_daemon_env(const gchar *dir);

/* runs $PEERLINKCTL ARGS… (NULL-terminated) with env (NULL: ours without G_DEBUG) and returns
 * its exit status; out and err (may be NULL) get what it printed */
gint pl_test_run_ctl(gchar **env, gchar **out, gchar **err, ...) G_GNUC_NULL_TERMINATED;
/* the same with --socket of agent first */
gint pl_test_agent_ctl(PlTestAgent *agent, gchar **out, gchar **err, ...) G_GNUC_NULL_TERMINATED;

/* a connected client for the agent */
PlClient *pl_test_agent_client(PlTestAgent *agent);
/* a call that waits (at most timeout_ms) on the thread-default main context */
JsonObject *pl_test_call(PlClient *client,
                         const gchar *method,
                         JsonObject *params,
                         GUnixFDList **out_fd_list,
                         guint timeout_ms,
                         GError **error);
/* queues the fd of every "incoming" event of client (GINT_TO_POINTER) */
void pl_test_collect_incoming(PlClient *client, GQueue *fds);
/* the next queued fd, waiting at most timeout_ms; -1 if none came */
gint pl_test_pop_incoming(GQueue *fds, guint timeout_ms);
/* runs the thread-default main context until *flag is TRUE or timeout_ms passes */
gboolean pl_test_wait_for(gboolean *flag, guint timeout_ms);

G_END_DECLS
