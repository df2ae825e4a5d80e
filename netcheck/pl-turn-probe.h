/*
 * Is this TURN server usable: an Allocate (RFC 5766) over the server's
 * transport (UDP, or TCP framed as RFC 5766 2.1 says), then a Refresh with
 * lifetime 0 to release what was allocated.
 *
 * The first Allocate carries no credentials; the server's 401 names the realm
 * and nonce, and the second one is signed with the long-term key. A 438
 * (stale nonce) is retried with the new nonce; a 401 to signed requests means
 * wrong credentials. The latency is the round trip of the first Allocate.
 * Authenticated answers must carry a correct MESSAGE-INTEGRITY when they
 * carry one at all.
 *
 * One deadline covers resolving, connecting and allocating; releasing gets
 * what is left, at least 500 ms.
 */
#pragma once

#include <gio/gio.h>

#include "pl-ice-servers.h"

G_BEGIN_DECLS

typedef struct {
	GInetSocketAddress *server;  /* the address that was used */
	GInetSocketAddress *relayed; /* XOR-RELAYED-ADDRESS */
	GInetSocketAddress *mapped;  /* XOR-MAPPED-ADDRESS, or NULL */
	guint rtt_ms;
	guint32 lifetime_s;
	gboolean released; /* the Refresh with lifetime 0 succeeded */
} PlTurnProbeResult;

void pl_turn_probe_result_free(PlTurnProbeResult *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlTurnProbeResult, pl_turn_probe_result_free)

#define PL_TYPE_TURN_PROBE (pl_turn_probe_get_type())
G_DECLARE_FINAL_TYPE(PlTurnProbe, pl_turn_probe, PL, TURN_PROBE, GObject)

/* server is copied */
PlTurnProbe *pl_turn_probe_new(const PlTurnServer *server, guint timeout_ms);

/* once per object; errors have messages for humans (G_IO_ERROR_TIMED_OUT,
 * G_IO_ERROR_PERMISSION_DENIED for refused credentials, G_IO_ERROR_INVALID_DATA
 * for answers that are not TURN, G_IO_ERROR_FAILED for other refusals, or the
 * resolver's and socket's errors) */
void pl_turn_probe_run_async(PlTurnProbe *self,
                             GCancellable *cancellable,
                             GAsyncReadyCallback callback,
                             gpointer user_data);
PlTurnProbeResult *
pl_turn_probe_run_finish(PlTurnProbe *self, GAsyncResult *result, GError **error);

G_END_DECLS
