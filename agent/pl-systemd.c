#include "config.h"

#include <fcntl.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gi18n.h>
#include <unistd.h>

#include "pl-systemd.h"

/* Returns FALSE with no error when the variables are not for this process. */
gboolean
pl_systemd_parse_listen_env(const gchar *listen_pid,
                            const gchar *listen_fds,
                            pid_t self_pid,
                            guint *n_fds,
                            GError **error)
{
	guint64 pid = 0;
	guint64 fds = 0;

	*n_fds = 0;
	if (listen_pid == NULL || listen_fds == NULL)
		return FALSE;
	if (!g_ascii_string_to_unsigned(listen_pid, 10, 1, G_MAXINT32, &pid, NULL) ||
	    (pid_t)pid != self_pid)
		return FALSE;
	if (!g_ascii_string_to_unsigned(listen_fds, 10, 0, 1024, &fds, NULL)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		            _("LISTEN_FDS=%s is not a number of file descriptors"), listen_fds);
		return FALSE;
	}
	if (fds != 1) {
		g_set_error(
		        error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		        g_dngettext(
		                GETTEXT_PACKAGE,
		                "socket activation passed %u socket; peerlinkd takes exactly one",
		                "socket activation passed %u sockets; peerlinkd takes exactly one",
		                (gulong)fds),
		        (guint)fds);
		return FALSE;
	}
	*n_fds = (guint)fds;
	return TRUE;
}

/* The activated socket, or -1 (and no error) when not socket-activated. */
gint
pl_systemd_take_listen_fd(GError **error)
{
	g_autoptr(GError) error_local = NULL;
	guint n_fds = 0;
	gint fd = PL_SYSTEMD_LISTEN_FDS_START;

	if (!pl_systemd_parse_listen_env(g_getenv("LISTEN_PID"), g_getenv("LISTEN_FDS"), getpid(),
	                                 &n_fds, &error_local)) {
		if (error_local != NULL) {
			g_propagate_error(error, g_steal_pointer(&error_local));
			return -2;
		}
		return -1;
	}
	g_unsetenv("LISTEN_PID");
	g_unsetenv("LISTEN_FDS");
	g_unsetenv("LISTEN_FDNAMES");
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		            _("socket activation fd %d is unusable"), fd);
		return -2;
	}
	return fd;
}

void
pl_systemd_notify(const gchar *state)
{
	const gchar *path = g_getenv("NOTIFY_SOCKET");
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GSocketAddress) address = NULL;
	g_autoptr(GError) error = NULL;

	if (path == NULL || path[0] == '\0')
		return;
	if (path[0] == '@')
		address = g_unix_socket_address_new_with_type(path + 1, -1,
		                                              G_UNIX_SOCKET_ADDRESS_ABSTRACT);
	else
		address = g_unix_socket_address_new(path);
	socket = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_DATAGRAM,
	                      G_SOCKET_PROTOCOL_DEFAULT, &error);
	if (socket == NULL ||
	    g_socket_send_to(socket, address, state, strlen(state), NULL, &error) < 0)
		g_debug("cannot notify systemd (%s): %s", state, error->message);
}
