/*
 * The socket an app gets for its stream: one end of a TCP connection on
 * loopback that the agent makes to itself. A TCP socket, not a Unix
 * socketpair, because a reset reaches the app as ECONNRESET, where a
 * socketpair could only say end-of-file. The listening port lives for
 * microseconds, and a connection from anyone else racing for it is refused.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* *ours is non-blocking and abortive; both are close-on-exec and have TCP_NODELAY */
gboolean pl_socket_pair_new(gint *ours, gint *theirs, GError **error);
/* abortive: closing the socket, or the death of its process, sends a reset
 * (SO_LINGER 0); otherwise an orderly FIN */
void pl_socket_pair_set_abortive(gint fd, gboolean abortive);

G_END_DECLS
