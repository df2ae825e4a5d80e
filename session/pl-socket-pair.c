#include "config.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pl-socket-pair.h"

/* a listening TCP socket on an ephemeral loopback port, or -1 */
static gint
listen_on_loopback(struct sockaddr_in *address)
{
	socklen_t len = sizeof(*address);
	gint fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	address->sin_family = AF_INET;
	address->sin_port = 0;
	address->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)address, sizeof(*address)) == 0 &&
	    getsockname(fd, (struct sockaddr *)address, &len) == 0 && listen(fd, 4) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

/* the connection from client_address, turning away anyone else racing for the port */
static gint
accept_own(gint listener, const struct sockaddr_in *client_address)
{
	for (guint attempt = 0; attempt < 8; attempt++) {
		struct sockaddr_in peer = {0};
		socklen_t len = sizeof(peer);
		gint fd = accept4(listener, (struct sockaddr *)&peer, &len,
		                  SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0)
			return -1;
		if (peer.sin_port == client_address->sin_port &&
		    peer.sin_addr.s_addr == client_address->sin_addr.s_addr)
			return fd;
		close(fd);
	}
	errno = ECONNREFUSED;
	return -1;
}

void
pl_socket_pair_set_abortive(gint fd, gboolean abortive)
{
	struct linger linger = {.l_onoff = abortive, .l_linger = 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, sizeof(linger));
}

gboolean
pl_socket_pair_new(gint *ours, gint *theirs, GError **error)
{
	struct sockaddr_in address = {0};
	struct sockaddr_in client_address = {0};
	socklen_t len = sizeof(client_address);
	gint listener = listen_on_loopback(&address);
	gint client = -1;
	gint accepted = -1;
	gint saved_errno;
	gint one = 1;

	if (listener >= 0)
		client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (client >= 0 && connect(client, (struct sockaddr *)&address, sizeof(address)) == 0 &&
	    getsockname(client, (struct sockaddr *)&client_address, &len) == 0)
		accepted = accept_own(listener, &client_address);
	saved_errno = errno;
	if (listener >= 0)
		close(listener);
	if (accepted < 0) {
		if (client >= 0)
			close(client);
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved_errno),
		            _("cannot create the app's stream socket: %s"),
		            g_strerror(saved_errno));
		return FALSE;
	}
	setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(accepted, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* an agent that dies resets its apps' streams instead of ending them cleanly */
	pl_socket_pair_set_abortive(accepted, TRUE);
	*ours = accepted;
	*theirs = client;
	return TRUE;
}
