/*
 * A ping request: round trips of a small probe over a session to the peer's
 * echo service (peerlink.echo), answered with the median round trip and the
 * session's path and candidates.
 */
#pragma once

#include "pl-ipc-request.h"
#include "pl-session.h"

G_BEGIN_DECLS

#define PL_PING_DEFAULT_COUNT 4
#define PL_PING_MAX_COUNT     100

typedef struct _PlPing PlPing;

PlPing *pl_ping_new(PlIpcRequest *request, guint count);
void pl_ping_free(PlPing *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlPing, pl_ping_free)

/* the session is established: take its stream and send the first probe */
void pl_ping_start(PlPing *self, PlSession *session);
/* the session ended: answers with ipc_error unless the request was answered */
void pl_ping_session_closed(PlPing *self, const GError *ipc_error);

G_END_DECLS
