/*
 * The two pieces of the systemd protocol the agent speaks, without libsystemd:
 * socket activation (LISTEN_FDS) and readiness notification (NOTIFY_SOCKET).
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

#define PL_SYSTEMD_LISTEN_FDS_START 3

gboolean pl_systemd_parse_listen_env(const gchar *listen_pid,
                                     const gchar *listen_fds,
                                     pid_t self_pid,
                                     guint *n_fds,
                                     GError **error);
gint pl_systemd_take_listen_fd(GError **error);
void pl_systemd_notify(const gchar *state);

G_END_DECLS
