/*
 * Tiny servers on 127.0.0.1 for the netcheck tests, driven by the test's main
 * context: they say nothing, answer garbage, or answer what a function makes
 * of each request (UDP datagrams; over TCP, STUN-framed messages).
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* the reply to one request, or NULL for none */
typedef GBytes *(*NetcheckTestReplyFunc)(const guint8 *request, gsize len, gpointer user_data);

/* 1 to 200 random bytes that cannot start a STUN message */
GBytes *netcheck_test_reply_garbage(const guint8 *request, gsize len, gpointer user_data);

typedef struct _NetcheckTestResponder NetcheckTestResponder;

/* reply NULL: silent. A TCP responder accepts connections and keeps them */
NetcheckTestResponder *netcheck_test_responder_new_udp(NetcheckTestReplyFunc reply,
                                                       gpointer user_data);
NetcheckTestResponder *netcheck_test_responder_new_tcp(NetcheckTestReplyFunc reply,
                                                       gpointer user_data);
void netcheck_test_responder_free(NetcheckTestResponder *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetcheckTestResponder, netcheck_test_responder_free)

guint16 netcheck_test_responder_get_port(NetcheckTestResponder *self);
/* datagrams (UDP) or whole messages (TCP) received so far */
guint netcheck_test_responder_get_requests(NetcheckTestResponder *self);
/* over TCP: send each reply in two writes 50 ms apart */
void netcheck_test_responder_set_split_writes(NetcheckTestResponder *self, gboolean split);
/* over UDP: the source port of the last request */
guint16 netcheck_test_responder_get_last_peer_port(NetcheckTestResponder *self);

G_END_DECLS
