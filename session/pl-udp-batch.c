#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>

#include "pl-udp-batch.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

#define MAX_DATAGRAM 1500

struct _PlUdpBatch {
	GSocket *socket;
	struct sockaddr_storage to;
	socklen_t to_len;
	guint8 *buffer; /* PL_UDP_BATCH_MAX_SEGMENTS * MAX_DATAGRAM, touched only when used */
	gsize used;
	guint n_segments;
	gsize segment_size;     /* of every queued datagram but the last */
	gboolean last_is_short; /* the last one is shorter: nothing may follow it */
	gboolean no_offload;    /* the kernel refused UDP_SEGMENT once */
	guint flush_id;
};

PlUdpBatch *
pl_udp_batch_new(GSocket *socket, const struct sockaddr *to, socklen_t to_len)
{
	PlUdpBatch *self = g_new0(PlUdpBatch, 1);

	self->buffer = g_malloc(PL_UDP_BATCH_MAX_SEGMENTS * MAX_DATAGRAM);

	self->socket = g_object_ref(socket);
	memcpy(&self->to, to, MIN(to_len, sizeof(self->to)));
	self->to_len = to_len;
	return self;
}

void
pl_udp_batch_free(PlUdpBatch *self)
{
	pl_udp_batch_flush(self);
	g_object_unref(self->socket);
	g_free(self->buffer);
	g_free(self);
}

/* one at a time: the fallback, and a batch of one */
static void
send_each(PlUdpBatch *self, gint fd)
{
	gsize offset = 0;

	for (guint i = 0; i < self->n_segments; i++) {
		gsize len = MIN(self->segment_size, self->used - offset);
		/* a full socket buffer drops the datagram: the protocol above resends */
		sendto(fd, self->buffer + offset, len, MSG_DONTWAIT, (struct sockaddr *)&self->to,
		       self->to_len);
		offset += len;
	}
}

static gboolean
send_offloaded(PlUdpBatch *self, gint fd)
{
	union {
		gchar buf[CMSG_SPACE(sizeof(guint16))];
		struct cmsghdr align;
	} control = {0};
	struct iovec iov = {.iov_base = self->buffer, .iov_len = self->used};
	struct msghdr msg = {
	        .msg_name = &self->to,
	        .msg_namelen = self->to_len,
	        .msg_iov = &iov,
	        .msg_iovlen = 1,
	        .msg_control = control.buf,
	        .msg_controllen = sizeof(control.buf),
	};
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
	guint16 segment = (guint16)self->segment_size;

	cmsg->cmsg_level = SOL_UDP;
	cmsg->cmsg_type = UDP_SEGMENT;
	cmsg->cmsg_len = CMSG_LEN(sizeof(segment));
	memcpy(CMSG_DATA(cmsg), &segment, sizeof(segment));
	if (sendmsg(fd, &msg, MSG_DONTWAIT) >= 0 || errno == EAGAIN || errno == ENOBUFS)
		return TRUE;
	if (errno == EINVAL || errno == ENOPROTOOPT || errno == EIO || errno == EOPNOTSUPP) {
		g_debug("UDP segmentation offload refused (%s): sending one by one",
		        g_strerror(errno));
		self->no_offload = TRUE;
		return FALSE;
	}
	return TRUE;
}

void
pl_udp_batch_flush(PlUdpBatch *self)
{
	gint fd = g_socket_get_fd(self->socket);

	g_clear_handle_id(&self->flush_id, g_source_remove);
	if (self->n_segments == 0)
		return;
	if (self->n_segments == 1 || self->no_offload || !send_offloaded(self, fd))
		send_each(self, fd);
	self->used = 0;
	self->n_segments = 0;
	self->last_is_short = FALSE;
}

static gboolean
flush_cb(gpointer user_data)
{
	PlUdpBatch *self = user_data;

	self->flush_id = 0;
	pl_udp_batch_flush(self);
	return G_SOURCE_REMOVE;
}

gboolean
pl_udp_batch_add(PlUdpBatch *self, const guint8 *data, gsize len)
{
	if (len == 0 || len > MAX_DATAGRAM)
		return FALSE;
	/* a batch is equal-sized datagrams, the last one maybe shorter */
	if (self->n_segments > 0 && (self->last_is_short || len > self->segment_size ||
	                             self->n_segments == PL_UDP_BATCH_MAX_SEGMENTS))
		pl_udp_batch_flush(self);
	if (self->n_segments == 0)
		self->segment_size = len;
	else if (len < self->segment_size)
		self->last_is_short = TRUE;
	memcpy(self->buffer + self->used, data, len);
	self->used += len;
	self->n_segments++;
	if (self->flush_id == 0)
		self->flush_id = g_idle_add_full(G_PRIORITY_HIGH, flush_cb, self, NULL);
	return TRUE;
}
