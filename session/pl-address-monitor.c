/*
 * This host's addresses come from one rtnetlink dump (RTM_GETLINK for the
 * interface names and flags, RTM_GETADDR for the addresses with their IPv6
 * flags, which getifaddrs() does not report). The monitor listens on the
 * address and link groups of a second rtnetlink socket, waits for a burst of
 * notifications to settle, and compares a fresh dump with the last one: the
 * lifetime refreshes the kernel announces on every router advertisement
 * change nothing and are not reported. A receive-buffer overrun (ENOBUFS)
 * loses notifications, so it is reported as a change whatever the dump says.
 */
#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pl-address-monitor.h"

/* a burst that never settles is still reported, this long after it began */
#define PL_ADDRESS_MONITOR_MAX_BURST_MS (10 * PL_ADDRESS_MONITOR_SETTLE_MS)
/* datagrams read per wake-up; the source fires again while more wait */
#define PL_ADDRESS_MONITOR_MAX_READS 64
/* a dump answers at once; this only guards against a kernel that does not */
#define PL_NETLINK_DUMP_TIMEOUT_S 2
#define PL_NETLINK_DUMP_MAX_READS 100000
#define PL_NETLINK_BUFFER_SIZE    32768

typedef struct {
	gchar name[IF_NAMESIZE];
	guint flags; /* IFF_* */
} PlLink;

typedef gboolean (*PlNetlinkFunc)(const struct nlmsghdr *hdr, gpointer user_data, GError **error);

static gint
pl_netlink_open(guint32 groups, GError **error)
{
	struct sockaddr_nl local = {.nl_family = AF_NETLINK, .nl_groups = groups};
	gint fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
	gint saved_errno;

	if (fd < 0) {
		saved_errno = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved_errno),
		            "cannot open an rtnetlink socket: %s", g_strerror(saved_errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&local, sizeof(local)) != 0) {
		saved_errno = errno;
		close(fd);
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved_errno),
		            "cannot bind an rtnetlink socket: %s", g_strerror(saved_errno));
		return -1;
	}
	return fd;
}

static gboolean
pl_netlink_wait_readable(gint fd, GError **error)
{
	GPollFD pfd = {.fd = fd, .events = G_IO_IN};
	gint rc;

	do {
		rc = g_poll(&pfd, 1, PL_NETLINK_DUMP_TIMEOUT_S * 1000);
	} while (rc < 0 && errno == EINTR);
	if (rc > 0)
		return TRUE;
	g_set_error_literal(error, G_IO_ERROR, rc == 0 ? G_IO_ERROR_TIMED_OUT : G_IO_ERROR_FAILED,
	                    "rtnetlink did not answer a dump request");
	return FALSE;
}

/* Sends one dump request and hands every answer of that request to func. */
static gboolean
pl_netlink_dump(gint fd,
                guint16 type,
                guint32 seq,
                guint8 *buffer,
                PlNetlinkFunc func,
                gpointer user_data,
                GError **error)
{
	struct {
		struct nlmsghdr hdr;
		union {
			struct ifinfomsg link;
			struct ifaddrmsg addr;
		} body;
	} request;
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	gint len;

	memset(&request, 0, sizeof(request));
	request.hdr.nlmsg_len = NLMSG_LENGTH(type == RTM_GETLINK ? sizeof(struct ifinfomsg)
	                                                         : sizeof(struct ifaddrmsg));
	request.hdr.nlmsg_type = type;
	request.hdr.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	request.hdr.nlmsg_seq = seq;
	/* AF_UNSPEC in either header: every family */
	if (sendto(fd, &request, request.hdr.nlmsg_len, 0, (struct sockaddr *)&kernel,
	           sizeof(kernel)) < 0) {
		gint saved_errno = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved_errno),
		            "cannot send an rtnetlink request: %s", g_strerror(saved_errno));
		return FALSE;
	}
	for (guint reads = 0; reads < PL_NETLINK_DUMP_MAX_READS; reads++) {
		struct sockaddr_nl from = {0};
		socklen_t from_len = sizeof(from);
		ssize_t n = recvfrom(fd, buffer, PL_NETLINK_BUFFER_SIZE, MSG_TRUNC,
		                     (struct sockaddr *)&from, &from_len);

		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (errno != EINTR && !pl_netlink_wait_readable(fd, error))
				return FALSE;
			continue;
		}
		if (n < 0) {
			gint saved_errno = errno;
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved_errno),
			            "cannot read an rtnetlink answer: %s", g_strerror(saved_errno));
			return FALSE;
		}
		if (n > PL_NETLINK_BUFFER_SIZE) {
			g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
			                    "an rtnetlink answer did not fit the buffer");
			return FALSE;
		}
		if (from.nl_pid != 0)
			continue; /* not from the kernel */
		len = (gint)n;
		for (struct nlmsghdr *hdr = (struct nlmsghdr *)buffer; NLMSG_OK(hdr, len);
		     hdr = NLMSG_NEXT(hdr, len)) {
			if (hdr->nlmsg_seq != seq)
				continue;
			if (hdr->nlmsg_type == NLMSG_DONE)
				return TRUE;
			if (hdr->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *err = NLMSG_DATA(hdr);
				if (hdr->nlmsg_len < NLMSG_LENGTH(sizeof(*err)) || err->error == 0)
					continue;
				g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-err->error),
				            "rtnetlink refused a dump: %s",
				            g_strerror(-err->error));
				return FALSE;
			}
			if (!func(hdr, user_data, error))
				return FALSE;
		}
	}
	g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_FAILED, "an rtnetlink dump did not end");
	return FALSE;
}

static gboolean
pl_netlink_add_link(const struct nlmsghdr *hdr, gpointer user_data, GError **error)
{
	GHashTable *links = user_data;
	const struct ifinfomsg *ifi = NLMSG_DATA(hdr);
	gint len;
	PlLink *link;

	if (hdr->nlmsg_type != RTM_NEWLINK || hdr->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return TRUE;
	link = g_new0(PlLink, 1);
	link->flags = ifi->ifi_flags;
	len = (gint)IFLA_PAYLOAD(hdr);
	for (const struct rtattr *rta = IFLA_RTA(ifi); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		if (rta->rta_type == IFLA_IFNAME && RTA_PAYLOAD(rta) > 0)
			g_strlcpy(link->name, RTA_DATA(rta),
			          MIN(sizeof(link->name), RTA_PAYLOAD(rta)));
	}
	if (link->name[0] == '\0')
		g_snprintf(link->name, sizeof(link->name), "%d", ifi->ifi_index);
	g_hash_table_replace(links, GINT_TO_POINTER(ifi->ifi_index), link);
	return TRUE;
}

typedef struct {
	GHashTable *links; /* ifindex → PlLink */
	GPtrArray *addresses;
	gboolean include_loopback;
	gboolean include_link_local;
} PlAddressDump;

static gboolean
pl_netlink_add_address(const struct nlmsghdr *hdr, gpointer user_data, GError **error)
{
	PlAddressDump *dump = user_data;
	const struct ifaddrmsg *ifa = NLMSG_DATA(hdr);
	const guint8 *local = NULL;
	const guint8 *address = NULL;
	guint32 flags;
	gsize size;
	gint len;
	const PlLink *link;
	g_autoptr(GInetAddress) inet = NULL;
	g_autofree gchar *text = NULL;

	if (hdr->nlmsg_type != RTM_NEWADDR || hdr->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)))
		return TRUE;
	if (ifa->ifa_family == AF_INET)
		size = 4;
	else if (ifa->ifa_family == AF_INET6)
		size = 16;
	else
		return TRUE;
	flags = ifa->ifa_flags;
	len = (gint)IFA_PAYLOAD(hdr);
	for (const struct rtattr *rta = IFA_RTA(ifa); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		if (rta->rta_type == IFA_LOCAL && RTA_PAYLOAD(rta) == size)
			local = RTA_DATA(rta);
		else if (rta->rta_type == IFA_ADDRESS && RTA_PAYLOAD(rta) == size)
			address = RTA_DATA(rta);
		else if (rta->rta_type == IFA_FLAGS && RTA_PAYLOAD(rta) == sizeof(guint32))
			memcpy(&flags, RTA_DATA(rta), sizeof(flags)); /* all 32 bits */
	}
	/* on a point-to-point link IFA_ADDRESS is the far end, IFA_LOCAL ours */
	if (local == NULL)
		local = address;
	if (local == NULL)
		return TRUE;
	if ((flags & (IFA_F_TENTATIVE | IFA_F_DEPRECATED | IFA_F_DADFAILED)) != 0)
		return TRUE;
	link = g_hash_table_lookup(dump->links, GINT_TO_POINTER((gint)ifa->ifa_index));
	if (link == NULL || (link->flags & IFF_UP) == 0)
		return TRUE;
	inet = g_inet_address_new_from_bytes(
	        local, ifa->ifa_family == AF_INET ? G_SOCKET_FAMILY_IPV4 : G_SOCKET_FAMILY_IPV6);
	if (!dump->include_loopback &&
	    ((link->flags & IFF_LOOPBACK) != 0 || g_inet_address_get_is_loopback(inet)))
		return TRUE;
	if (!dump->include_link_local && g_inet_address_get_is_link_local(inet))
		return TRUE;
	text = g_inet_address_to_string(inet);
	if (ifa->ifa_family == AF_INET6 && g_inet_address_get_is_link_local(inet))
		g_ptr_array_add(dump->addresses, g_strdup_printf("%s%%%s", text, link->name));
	else
		g_ptr_array_add(dump->addresses, g_steal_pointer(&text));
	return TRUE;
}

static gint
pl_compare_strings(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const gchar *const *)a, *(const gchar *const *)b);
}

static gboolean
pl_local_addresses_dump(GPtrArray *addresses,
                        gboolean include_loopback,
                        gboolean include_link_local,
                        GError **error)
{
	g_autoptr(GHashTable) links = g_hash_table_new_full(NULL, NULL, NULL, g_free);
	g_autofree guint8 *buffer = g_malloc(PL_NETLINK_BUFFER_SIZE);
	PlAddressDump dump = {
	        .links = links,
	        .addresses = addresses,
	        .include_loopback = include_loopback,
	        .include_link_local = include_link_local,
	};
	gint fd = pl_netlink_open(0, error);
	gboolean ok;

	if (fd < 0)
		return FALSE;
	ok = pl_netlink_dump(fd, RTM_GETLINK, 1, buffer, pl_netlink_add_link, links, error) &&
	     pl_netlink_dump(fd, RTM_GETADDR, 2, buffer, pl_netlink_add_address, &dump, error);
	close(fd);
	return ok;
}

GPtrArray *
pl_local_addresses_get(gboolean include_loopback, gboolean include_link_local)
{
	g_autoptr(GPtrArray) addresses = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error = NULL;

	if (!pl_local_addresses_dump(addresses, include_loopback, include_link_local, &error)) {
		g_message("cannot list the local addresses: %s", error->message);
		g_ptr_array_set_size(addresses, 0);
		return g_steal_pointer(&addresses);
	}
	g_ptr_array_sort(addresses, pl_compare_strings);
	/* one address on two interfaces is one address */
	for (guint i = 1; i < addresses->len;) {
		if (g_strcmp0(addresses->pdata[i - 1], addresses->pdata[i]) == 0)
			g_ptr_array_remove_index(addresses, i);
		else
			i++;
	}
	return g_steal_pointer(&addresses);
}

struct _PlAddressMonitor {
	GObject parent_instance;
	GMainContext *context;
	gint fd;
	GSource *fd_source;
	GSource *settle_source;
	gint64 burst_start_us; /* the first notification of the burst; 0: none pending */
	gboolean overrun;      /* notifications were lost in this burst */
	GPtrArray *addresses;  /* every address, as last reported */
	guint8 buffer[8192];
};

enum { SIGNAL_CHANGED, SIGNAL_LAST };
static guint signals[SIGNAL_LAST] = {0};

static void pl_address_monitor_initable_iface_init(GInitableIface *iface);

G_DEFINE_TYPE_WITH_CODE(PlAddressMonitor,
                        pl_address_monitor,
                        G_TYPE_OBJECT,
                        G_IMPLEMENT_INTERFACE(G_TYPE_INITABLE,
                                              pl_address_monitor_initable_iface_init))

static gboolean
pl_address_lists_equal(GPtrArray *a, GPtrArray *b)
{
	if (a->len != b->len)
		return FALSE;
	for (guint i = 0; i < a->len; i++) {
		if (g_strcmp0(a->pdata[i], b->pdata[i]) != 0)
			return FALSE;
	}
	return TRUE;
}

static gboolean
pl_address_monitor_settle_cb(gpointer user_data)
{
	PlAddressMonitor *self = user_data;
	g_autoptr(GPtrArray) addresses = pl_local_addresses_get(TRUE, TRUE);
	gboolean changed = self->overrun || !pl_address_lists_equal(addresses, self->addresses);

	g_clear_pointer(&self->settle_source, g_source_unref);
	self->burst_start_us = 0;
	self->overrun = FALSE;
	if (!changed) {
		g_debug("address notifications settled, nothing changed");
		return G_SOURCE_REMOVE;
	}
	g_debug("local addresses changed (%u now)", addresses->len);
	g_ptr_array_unref(self->addresses);
	self->addresses = g_steal_pointer(&addresses);
	g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
	return G_SOURCE_REMOVE;
}

/* (Re)starts the settle timer: it fires SETTLE_MS after the last notification. */
static void
pl_address_monitor_schedule(PlAddressMonitor *self)
{
	gint64 now = g_get_monotonic_time();

	if (self->burst_start_us == 0)
		self->burst_start_us = now;
	else if (self->settle_source != NULL &&
	         now - self->burst_start_us >= PL_ADDRESS_MONITOR_MAX_BURST_MS * 1000)
		return; /* a burst that goes on and on: let the pending timer fire */
	if (self->settle_source != NULL) {
		g_source_destroy(self->settle_source);
		g_source_unref(self->settle_source);
	}
	self->settle_source = g_timeout_source_new(PL_ADDRESS_MONITOR_SETTLE_MS);
	g_source_set_name(self->settle_source, "[peerlink] address monitor settle");
	g_source_set_callback(self->settle_source, pl_address_monitor_settle_cb, self, NULL);
	g_source_attach(self->settle_source, self->context);
}

static gboolean
pl_address_monitor_is_change(guint16 type)
{
	return type == RTM_NEWADDR || type == RTM_DELADDR || type == RTM_NEWLINK ||
	       type == RTM_DELLINK;
}

static gboolean
pl_address_monitor_readable_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	PlAddressMonitor *self = user_data;
	gboolean changed = FALSE;

	/* an overrun shows as G_IO_ERR and is read as ENOBUFS */
	for (guint i = 0; i < PL_ADDRESS_MONITOR_MAX_READS; i++) {
		struct sockaddr_nl from = {0};
		socklen_t from_len = sizeof(from);
		ssize_t n = recvfrom(fd, self->buffer, sizeof(self->buffer), MSG_DONTWAIT,
		                     (struct sockaddr *)&from, &from_len);
		gint len;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0 && errno == ENOBUFS) {
			g_debug("rtnetlink notifications overran the socket buffer");
			self->overrun = TRUE;
			changed = TRUE;
			continue;
		}
		if (n < 0) {
			g_message("stopped watching the local addresses: %s", g_strerror(errno));
			g_clear_pointer(&self->fd_source, g_source_unref);
			return G_SOURCE_REMOVE;
		}
		if (from.nl_pid != 0)
			continue; /* not from the kernel */
		/* a truncated datagram still starts with a whole header */
		len = (gint)MIN(n, (ssize_t)sizeof(self->buffer));
		for (struct nlmsghdr *hdr = (struct nlmsghdr *)self->buffer; NLMSG_OK(hdr, len);
		     hdr = NLMSG_NEXT(hdr, len)) {
			if (pl_address_monitor_is_change(hdr->nlmsg_type))
				changed = TRUE;
		}
	}
	if (changed)
		pl_address_monitor_schedule(self);
	return G_SOURCE_CONTINUE;
}

static gboolean
pl_address_monitor_initable_init(GInitable *initable, GCancellable *cancellable, GError **error)
{
	PlAddressMonitor *self = PL_ADDRESS_MONITOR(initable);

	g_return_val_if_fail(self->fd < 0, FALSE);
	self->fd = pl_netlink_open(RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR, error);
	if (self->fd < 0)
		return FALSE;
	/* subscribed first: a change during this dump is seen by the next one */
	self->addresses = pl_local_addresses_get(TRUE, TRUE);
	self->fd_source = g_unix_fd_source_new(self->fd, G_IO_IN | G_IO_ERR | G_IO_HUP);
	g_source_set_name(self->fd_source, "[peerlink] address monitor");
	g_source_set_callback(self->fd_source, G_SOURCE_FUNC(pl_address_monitor_readable_cb), self,
	                      NULL);
	g_source_attach(self->fd_source, self->context);
	return TRUE;
}

static void
pl_address_monitor_initable_iface_init(GInitableIface *iface)
{
	iface->init = pl_address_monitor_initable_init;
}

static void
pl_address_monitor_clear_source(GSource **source)
{
	if (*source == NULL)
		return;
	g_source_destroy(*source);
	g_clear_pointer(source, g_source_unref);
}

static void
pl_address_monitor_dispose(GObject *object)
{
	PlAddressMonitor *self = PL_ADDRESS_MONITOR(object);

	pl_address_monitor_clear_source(&self->fd_source);
	pl_address_monitor_clear_source(&self->settle_source);
	if (self->fd >= 0) {
		close(self->fd);
		self->fd = -1;
	}
	G_OBJECT_CLASS(pl_address_monitor_parent_class)->dispose(object);
}

static void
pl_address_monitor_finalize(GObject *object)
{
	PlAddressMonitor *self = PL_ADDRESS_MONITOR(object);

	g_clear_pointer(&self->addresses, g_ptr_array_unref);
	g_main_context_unref(self->context);
	G_OBJECT_CLASS(pl_address_monitor_parent_class)->finalize(object);
}

static void
pl_address_monitor_class_init(PlAddressMonitorClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = pl_address_monitor_dispose;
	object_class->finalize = pl_address_monitor_finalize;
	signals[SIGNAL_CHANGED] =
	        g_signal_new("changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
	                     NULL, G_TYPE_NONE, 0);
}

static void
pl_address_monitor_init(PlAddressMonitor *self)
{
	self->fd = -1;
	self->context = g_main_context_ref_thread_default();
}

PlAddressMonitor *
pl_address_monitor_new(GError **error)
{
	return g_initable_new(PL_TYPE_ADDRESS_MONITOR, NULL, error, NULL);
}
