#include "config.h"

#include <string.h>
#include <sys/socket.h>

#include <glib/gi18n.h>

#include "pl-ice-path.h"
#include "pl-udp-batch.h"

#define PL_ICE_PATH_SOCKET_BUFFER (4 * 1024 * 1024)
#define PL_ICE_PATH_HELD_MAX      (64 * 1024) /* bytes held until the first pair */

struct _PlIcePath {
	GObject parent_instance;
	NiceAgent *agent; /* NULL once closed */
	guint stream_id;
	guint generation;
	gboolean upnp;
	gboolean allow_local_remotes;
	GPtrArray *local_addresses; /* gchar* */
	GPtrArray *stun_servers;    /* PlStunServer*, borrowed from the config's owner */
	GPtrArray *turn_servers;    /* PlTurnServer*, borrowed */
	GCancellable *cancellable;
	guint pending_lookups;
	gboolean stun_set;
	NiceComponentState state;
	NiceCandidate *local_selected;
	NiceCandidate *remote_selected;
	PlUdpBatch *batch; /* sends on a direct UDP pair, bypassing libnice */
	GQueue held;       /* GBytes: sent before this agent had a pair */
	gsize held_bytes;
	guint n_refused_remotes;
	guint n_remotes;       /* accepted */
	guint local_types[4];  /* candidates gathered, by NiceCandidateType */
	guint remote_types[4]; /* candidates of the peer taken, by NiceCandidateType */
	PlIcePathReceiveFunc receive_func;
	gpointer receive_data;
};

enum {
	SIGNAL_CANDIDATE,
	SIGNAL_GATHERING_DONE,
	SIGNAL_STATE_CHANGED,
	SIGNAL_SELECTED_PAIR,
	SIGNAL_LAST,
};
static guint signals[SIGNAL_LAST];

G_DEFINE_TYPE(PlIcePath, pl_ice_path, G_TYPE_OBJECT)

static void
agent_closed_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_object_unref(source);
}

/* what a closing agent receives: TURN and STUN answers are handled inside
 * libnice before this; data from the peer has nowhere to go any more */
static void
discard_receive(NiceAgent *agent,
                guint stream_id,
                guint component_id,
                guint len,
                gchar *buf,
                gpointer user_data)
{
}

void
pl_ice_path_close(PlIcePath *self)
{
	NiceAgent *agent = g_steal_pointer(&self->agent);

	g_cancellable_cancel(self->cancellable);
	g_clear_pointer(&self->batch, pl_udp_batch_free);
	g_queue_clear_full(&self->held, (GDestroyNotify)g_bytes_unref);
	self->held_bytes = 0;
	if (agent == NULL)
		return;
	g_signal_handlers_disconnect_by_data(agent, self);
	/*
	 * The agent lives on until its TURN allocations are released (and then
	 * its UPnP mappings). It must go on reading its sockets meanwhile:
	 * libnice reads them only for a receive callback, so without one the
	 * answers to the deallocations were never read (each waited for its
	 * retransmissions to time out, about 2 s) and the unread sockets stayed
	 * ready, the main loop dispatching them some 20,000 times a second and
	 * starving everything of lower priority, such as the next session's offer.
	 */
	nice_agent_attach_recv(agent, self->stream_id, NICE_COMPONENT_TYPE_RTP,
	                       g_main_context_get_thread_default(), discard_receive, NULL);
	nice_agent_close_async(agent, agent_closed_cb, NULL);
}

static void
pl_ice_path_dispose(GObject *object)
{
	PlIcePath *self = PL_ICE_PATH(object);

	pl_ice_path_close(self);
	G_OBJECT_CLASS(pl_ice_path_parent_class)->dispose(object);
}

static void
pl_ice_path_finalize(GObject *object)
{
	PlIcePath *self = PL_ICE_PATH(object);

	g_clear_pointer(&self->local_selected, nice_candidate_free);
	g_clear_pointer(&self->remote_selected, nice_candidate_free);
	g_ptr_array_unref(self->local_addresses);
	g_ptr_array_unref(self->stun_servers);
	g_ptr_array_unref(self->turn_servers);
	g_object_unref(self->cancellable);
	G_OBJECT_CLASS(pl_ice_path_parent_class)->finalize(object);
}

static void
pl_ice_path_class_init(PlIcePathClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = pl_ice_path_dispose;
	object_class->finalize = pl_ice_path_finalize;
	signals[SIGNAL_CANDIDATE] =
	        g_signal_new("candidate", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
	                     NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
	signals[SIGNAL_GATHERING_DONE] =
	        g_signal_new("gathering-done", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
	                     NULL, NULL, G_TYPE_NONE, 0);
	signals[SIGNAL_STATE_CHANGED] =
	        g_signal_new("state-changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
	                     NULL, NULL, G_TYPE_NONE, 1, G_TYPE_UINT);
	signals[SIGNAL_SELECTED_PAIR] =
	        g_signal_new("selected-pair", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
	                     NULL, NULL, G_TYPE_NONE, 0);
}

static void
pl_ice_path_init(PlIcePath *self)
{
	self->cancellable = g_cancellable_new();
	self->state = NICE_COMPONENT_STATE_DISCONNECTED;
}

/* libnice callbacks */

static void
on_new_candidate(NiceAgent *agent, NiceCandidate *candidate, gpointer user_data)
{
	PlIcePath *self = PL_ICE_PATH(user_data);
	g_autofree gchar *sdp = nice_agent_generate_local_candidate_sdp(agent, candidate);
	const gchar *line = g_str_has_prefix(sdp, "a=") ? sdp + 2 : sdp;

	if ((guint)candidate->type < G_N_ELEMENTS(self->local_types))
		self->local_types[candidate->type]++;
	g_signal_emit(self, signals[SIGNAL_CANDIDATE], 0, line);
}

static void
on_gathering_done(NiceAgent *agent, guint stream_id, gpointer user_data)
{
	g_signal_emit(user_data, signals[SIGNAL_GATHERING_DONE], 0);
}

static void
on_component_state_changed(
        NiceAgent *agent, guint stream_id, guint component_id, guint state, gpointer user_data)
{
	PlIcePath *self = PL_ICE_PATH(user_data);

	g_debug("ICE generation %u: %s", self->generation, nice_component_state_to_string(state));
	self->state = state;
	g_signal_emit(self, signals[SIGNAL_STATE_CHANGED], 0, state);
}

static const gchar *
candidate_type_to_string(NiceCandidateType type)
{
	switch (type) {
	case NICE_CANDIDATE_TYPE_HOST:
		return "host";
	case NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE:
		return "srflx";
	case NICE_CANDIDATE_TYPE_PEER_REFLEXIVE:
		return "prflx";
	case NICE_CANDIDATE_TYPE_RELAYED:
		return "relay";
	default:
		return "unknown";
	}
}

/* A direct UDP pair is sent on straight from its socket, in batches;
 * relayed and TCP pairs need libnice's framing. */
static void
setup_batch(PlIcePath *self)
{
	g_autoptr(GSocket) socket = NULL;
	struct sockaddr_storage to = {0};

	g_clear_pointer(&self->batch, pl_udp_batch_free);
	if (self->local_selected->transport != NICE_CANDIDATE_TRANSPORT_UDP ||
	    self->local_selected->type == NICE_CANDIDATE_TYPE_RELAYED ||
	    self->remote_selected->type == NICE_CANDIDATE_TYPE_RELAYED)
		return;
	socket = nice_agent_get_selected_socket(self->agent, self->stream_id,
	                                        NICE_COMPONENT_TYPE_RTP);
	if (socket == NULL)
		return;
	nice_address_copy_to_sockaddr(&self->remote_selected->addr, (struct sockaddr *)&to);
	self->batch = pl_udp_batch_new(socket, (struct sockaddr *)&to,
	                               to.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                                        : sizeof(struct sockaddr_in));
}

static gboolean send_now(PlIcePath *self, const guint8 *data, gsize len);

static void
send_held(PlIcePath *self)
{
	GBytes *bytes;

	while ((bytes = g_queue_pop_head(&self->held)) != NULL) {
		gsize len;
		const guint8 *data = g_bytes_get_data(bytes, &len);

		send_now(self, data, len);
		g_bytes_unref(bytes);
	}
	self->held_bytes = 0;
}

static void
on_selected_pair(NiceAgent *agent,
                 guint stream_id,
                 guint component_id,
                 NiceCandidate *local,
                 NiceCandidate *remote,
                 gpointer user_data)
{
	PlIcePath *self = PL_ICE_PATH(user_data);

	g_clear_pointer(&self->local_selected, nice_candidate_free);
	g_clear_pointer(&self->remote_selected, nice_candidate_free);
	self->local_selected = nice_candidate_copy(local);
	self->remote_selected = nice_candidate_copy(remote);
	g_debug("ICE generation %u: selected pair %s → %s", self->generation,
	        candidate_type_to_string(local->type), candidate_type_to_string(remote->type));
	setup_batch(self);
	send_held(self);
	g_signal_emit(self, signals[SIGNAL_SELECTED_PAIR], 0);
}

static void
on_receive(NiceAgent *agent,
           guint stream_id,
           guint component_id,
           guint len,
           gchar *buf,
           gpointer user_data)
{
	PlIcePath *self = PL_ICE_PATH(user_data);

	if (self->receive_func != NULL)
		self->receive_func((const guint8 *)buf, len, self->receive_data);
}

static void
add_local_addresses(PlIcePath *self)
{
	for (guint i = 0; i < self->local_addresses->len; i++) {
		const gchar *text = g_ptr_array_index(self->local_addresses, i);
		NiceAddress address;

		nice_address_init(&address);
		if (!nice_address_set_from_string(&address, text)) {
			g_debug("skipping local address %s: not numeric", text);
			continue;
		}
		nice_agent_add_local_address(self->agent, &address);
	}
}

PlIcePath *
pl_ice_path_new(const PlIcePathConfig *config, gboolean controlling, guint generation)
{
	PlIcePath *self = g_object_new(PL_TYPE_ICE_PATH, NULL);
	/*
	 * Nomination: libnice's regular nomination nominates once, as soon as
	 * two pairs work, relayed ones included, and never again; a direct
	 * pair that works a retransmission later (500 ms: e.g. the peer's
	 * UPnP mapping was made after its first check arrived) then never
	 * carries the stream. With libnice's "aggressive" nomination every
	 * check nominates, and both agents move to a nominated pair whenever
	 * it ranks above the one they use (direct above relayed, UDP above
	 * TCP): the best working pair wins. The stream starts on the first
	 * working pair either way (pl-session.c).
	 */
	NiceAgentOption options =
	        NICE_AGENT_OPTION_ICE_TRICKLE | NICE_AGENT_OPTION_CONSENT_FRESHNESS;

	self->generation = generation;
	self->upnp = config->upnp;
	self->allow_local_remotes = config->allow_local_remotes;
	self->local_addresses = g_ptr_array_ref(config->local_addresses);
	self->stun_servers = g_ptr_array_ref(config->stun_servers);
	self->turn_servers = g_ptr_array_ref(config->turn_servers);
	self->agent = nice_agent_new_full(g_main_context_get_thread_default(),
	                                  NICE_COMPATIBILITY_RFC5245, options);
	/* Ta of 5 ms, the floor RFC 8445 allows: the checks of a handful of
	 * pairs go out within a few ms, not 40+ ms */
	g_object_set(self->agent, "controlling-mode", controlling, "ice-tcp", FALSE, "upnp",
	             config->upnp, "upnp-timeout", 2000, "stun-pacing-timer", 5, NULL);
	add_local_addresses(self);
	self->stream_id = nice_agent_add_stream(self->agent, 1);
	nice_agent_set_stream_name(self->agent, self->stream_id, "application");
	g_signal_connect(self->agent, "new-candidate-full", G_CALLBACK(on_new_candidate), self);
	g_signal_connect(self->agent, "candidate-gathering-done", G_CALLBACK(on_gathering_done),
	                 self);
	g_signal_connect(self->agent, "component-state-changed",
	                 G_CALLBACK(on_component_state_changed), self);
	g_signal_connect(self->agent, "new-selected-pair-full", G_CALLBACK(on_selected_pair), self);
	nice_agent_attach_recv(self->agent, self->stream_id, NICE_COMPONENT_TYPE_RTP,
	                       g_main_context_get_thread_default(), on_receive, self);
	return self;
}

guint
pl_ice_path_get_generation(PlIcePath *self)
{
	return self->generation;
}

void
pl_ice_path_set_receive_func(PlIcePath *self, PlIcePathReceiveFunc func, gpointer user_data)
{
	self->receive_func = func;
	self->receive_data = user_data;
}

/* gathering, after every server name is resolved */

static void
use_stun_server(PlIcePath *self, const gchar *ip, guint16 port)
{
	if (self->stun_set)
		return;
	self->stun_set = TRUE;
	g_object_set(self->agent, "stun-server", ip, "stun-server-port", (guint)port, NULL);
}

static void
use_turn_server(PlIcePath *self, const gchar *ip, const PlTurnServer *turn)
{
	NiceRelayType type = turn->transport == PL_ICE_TRANSPORT_TCP ? NICE_RELAY_TYPE_TURN_TCP
	                                                             : NICE_RELAY_TYPE_TURN_UDP;

	nice_agent_set_relay_info(self->agent, self->stream_id, NICE_COMPONENT_TYPE_RTP, ip,
	                          turn->port, turn->username != NULL ? turn->username : "",
	                          turn->password != NULL ? turn->password : "", type);
}

/* Room for a full PseudoTCP window in flight: the default buffers overflow
 * at a few hundred MB/s and every drop costs a retransmission timeout.
 * Root may exceed net.core.rmem_max; others get what the kernel allows. */
static void
enlarge_socket_buffers(PlIcePath *self)
{
	g_autoptr(GPtrArray) sockets =
	        nice_agent_get_sockets(self->agent, self->stream_id, NICE_COMPONENT_TYPE_RTP);
	gint size = PL_ICE_PATH_SOCKET_BUFFER;

	for (guint i = 0; sockets != NULL && i < sockets->len; i++) {
		gint fd = g_socket_get_fd(g_ptr_array_index(sockets, i));
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	}
}

static void
start_gathering(PlIcePath *self)
{
	if (self->agent == NULL)
		return;
	if (!nice_agent_gather_candidates(self->agent, self->stream_id)) {
		g_message("ICE: cannot gather candidates (no usable local address?)");
		return;
	}
	enlarge_socket_buffers(self);
}

/* A server name to resolve: which server, of which kind. */
typedef struct {
	PlIcePath *path;
	gpointer server; /* PlStunServer* or PlTurnServer* */
	gboolean is_turn;
} PlLookup;

static void
lookup_done(PlIcePath *self)
{
	if (--self->pending_lookups == 0)
		start_gathering(self);
}

static void
lookup_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autofree PlLookup *lookup = user_data;
	g_autoptr(PlIcePath) self = lookup->path;
	g_autoptr(GError) error = NULL;
	GList *addresses = g_resolver_lookup_by_name_finish(G_RESOLVER(source), result, &error);
	g_autofree gchar *ip = NULL;

	if (addresses == NULL) {
		if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			g_message("ICE: cannot resolve a server: %s", error->message);
		if (self->agent != NULL)
			lookup_done(self);
		return;
	}
	ip = g_inet_address_to_string(addresses->data);
	g_resolver_free_addresses(addresses);
	if (self->agent == NULL)
		return;
	if (lookup->is_turn)
		use_turn_server(self, ip, lookup->server);
	else
		use_stun_server(self, ip, ((PlStunServer *)lookup->server)->port);
	lookup_done(self);
}

static void
resolve_server(PlIcePath *self, const gchar *host, gpointer server, gboolean is_turn)
{
	g_autoptr(GResolver) resolver = NULL;
	g_autoptr(GInetAddress) numeric = g_inet_address_new_from_string(host);
	PlLookup *lookup;

	if (numeric != NULL) {
		if (is_turn)
			use_turn_server(self, host, server);
		else
			use_stun_server(self, host, ((PlStunServer *)server)->port);
		return;
	}
	lookup = g_new0(PlLookup, 1);
	lookup->path = g_object_ref(self);
	lookup->server = server;
	lookup->is_turn = is_turn;
	self->pending_lookups++;
	resolver = g_resolver_get_default();
	g_resolver_lookup_by_name_async(resolver, host, self->cancellable, lookup_cb, lookup);
}

void
pl_ice_path_gather(PlIcePath *self)
{
	/* held until every lookup finished, so the count cannot reach 0 early */
	self->pending_lookups++;
	for (guint i = 0; i < self->stun_servers->len; i++) {
		PlStunServer *stun = g_ptr_array_index(self->stun_servers, i);
		resolve_server(self, stun->host, stun, FALSE);
	}
	for (guint i = 0; i < self->turn_servers->len; i++) {
		PlTurnServer *turn = g_ptr_array_index(self->turn_servers, i);
		resolve_server(self, turn->host, turn, TRUE);
	}
	lookup_done(self);
}

void
pl_ice_path_get_local_credentials(PlIcePath *self, gchar **ufrag, gchar **pwd)
{
	nice_agent_get_local_credentials(self->agent, self->stream_id, ufrag, pwd);
}

void
pl_ice_path_set_remote_credentials(PlIcePath *self, const gchar *ufrag, const gchar *pwd)
{
	if (self->agent != NULL)
		nice_agent_set_remote_credentials(self->agent, self->stream_id, ufrag, pwd);
}

/* loopback and link-local candidates of a peer would let it make us send to
 * our own host or LAN neighbours: refused unless the agent is set up for that */
static gboolean
remote_address_allowed(PlIcePath *self, const NiceAddress *address)
{
	gchar text[NICE_ADDRESS_STRING_LEN];
	g_autoptr(GInetAddress) inet = NULL;

	nice_address_to_string(address, text);
	inet = g_inet_address_new_from_string(text);
	if (inet != NULL && g_inet_address_get_family(inet) == G_SOCKET_FAMILY_IPV6) {
		/* ::ffff:a.b.c.d is the IPv4 address a.b.c.d: judge that one */
		static const guint8 v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		const guint8 *bytes = g_inet_address_to_bytes(inet);

		if (memcmp(bytes, v4_mapped, sizeof(v4_mapped)) == 0) {
			GInetAddress *v4 = g_inet_address_new_from_bytes(bytes + sizeof(v4_mapped),
			                                                 G_SOCKET_FAMILY_IPV4);
			g_object_unref(inet);
			inet = v4;
		}
	}
	if (inet == NULL || g_inet_address_get_is_any(inet) ||
	    g_inet_address_get_is_multicast(inet))
		return FALSE;
	if (g_inet_address_get_is_loopback(inet) || g_inet_address_get_is_link_local(inet))
		return self->allow_local_remotes;
	return TRUE;
}

void
pl_ice_path_add_remote_candidates(PlIcePath *self, GPtrArray *candidates)
{
	GSList *list = NULL;

	if (self->agent == NULL)
		return;
	for (guint i = 0; i < candidates->len; i++) {
		g_autofree gchar *sdp = g_strconcat("a=", g_ptr_array_index(candidates, i), NULL);
		NiceCandidate *candidate =
		        nice_agent_parse_remote_candidate_sdp(self->agent, self->stream_id, sdp);

		if (candidate == NULL || candidate->component_id != NICE_COMPONENT_TYPE_RTP ||
		    !remote_address_allowed(self, &candidate->addr)) {
			g_debug("refusing remote candidate %s", sdp + 2);
			g_clear_pointer(&candidate, nice_candidate_free);
			self->n_refused_remotes++;
			continue;
		}
		list = g_slist_prepend(list, candidate);
		self->n_remotes++;
		if ((guint)candidate->type < G_N_ELEMENTS(self->remote_types))
			self->remote_types[candidate->type]++;
	}
	if (list != NULL)
		nice_agent_set_remote_candidates(self->agent, self->stream_id,
		                                 NICE_COMPONENT_TYPE_RTP, list);
	g_slist_free_full(list, (GDestroyNotify)nice_candidate_free);
}

void
pl_ice_path_set_remote_gathering_done(PlIcePath *self)
{
	if (self->agent != NULL)
		nice_agent_peer_candidate_gathering_done(self->agent, self->stream_id);
}

NiceComponentState
pl_ice_path_get_state(PlIcePath *self)
{
	return self->state;
}

gboolean
pl_ice_path_has_selected_pair(PlIcePath *self)
{
	return self->local_selected != NULL;
}

/*
 * The type of the selected remote candidate. A peer-reflexive one on a TURN
 * server's address is the peer's relayed address: its checks came through
 * the relay before its relayed candidate was trickled (seen in the NAT lab: a
 * UDP-blocked peer reported as "direct").
 */
static NiceCandidateType
remote_selected_type(PlIcePath *self)
{
	gchar address[NICE_ADDRESS_STRING_LEN];

	if (self->remote_selected->type != NICE_CANDIDATE_TYPE_PEER_REFLEXIVE)
		return self->remote_selected->type;
	nice_address_to_string(&self->remote_selected->addr, address);
	for (guint i = 0; i < self->turn_servers->len; i++) {
		PlTurnServer *server = g_ptr_array_index(self->turn_servers, i);
		if (g_strcmp0(server->host, address) == 0)
			return NICE_CANDIDATE_TYPE_RELAYED;
	}
	return NICE_CANDIDATE_TYPE_PEER_REFLEXIVE;
}

gboolean
pl_ice_path_is_relayed(PlIcePath *self)
{
	return self->local_selected != NULL &&
	       (self->local_selected->type == NICE_CANDIDATE_TYPE_RELAYED ||
	        remote_selected_type(self) == NICE_CANDIDATE_TYPE_RELAYED);
}

JsonObject *
pl_ice_path_describe_candidate(PlIcePath *self, gboolean local)
{
	NiceCandidate *candidate = local ? self->local_selected : self->remote_selected;
	gchar address[NICE_ADDRESS_STRING_LEN];
	JsonObject *object;

	if (candidate == NULL)
		return NULL;
	object = json_object_new();
	nice_address_to_string(&candidate->addr, address);
	json_object_set_string_member(
	        object, "type",
	        candidate_type_to_string(local ? candidate->type : remote_selected_type(self)));
	json_object_set_string_member(object, "address", address);
	json_object_set_int_member(object, "port", nice_address_get_port(&candidate->addr));
	json_object_set_string_member(object, "transport",
	                              candidate->transport == NICE_CANDIDATE_TRANSPORT_UDP ? "udp"
	                                                                                   : "tcp");
	return object;
}

static JsonObject *
count_types(const guint *counts)
{
	JsonObject *object = json_object_new();

	for (guint type = 0; type < 4; type++)
		json_object_set_int_member(object, candidate_type_to_string(type), counts[type]);
	return object;
}

/* the candidates each side had, and in words why the path is what it is */
static gchar *
explain(PlIcePath *self)
{
	const guint *local = self->local_types;
	const guint *remote = self->remote_types;

	if (self->local_selected == NULL)
		return g_strdup(_("no candidate pair works yet"));
	if (!pl_ice_path_is_relayed(self))
		return g_strdup_printf(
		        _("direct: a %s candidate here reached a %s candidate of the "
		          "peer"),
		        candidate_type_to_string(self->local_selected->type),
		        candidate_type_to_string(self->remote_selected->type));
	if (local[NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE] == 0 &&
	    remote[NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE] == 0)
		return g_strdup(
		        _("relayed: neither side learned its public address (no STUN "
		          "answer, or UDP blocked), so no direct pair could cross the NATs"));
	if (remote[NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE] == 0)
		return g_strdup(_("relayed: the peer sent no public (srflx) candidate — its STUN "
		                  "server did not answer, or UDP is blocked there"));
	if (local[NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE] == 0)
		return g_strdup(
		        _("relayed: this agent learned no public (srflx) address — the STUN "
		          "server did not answer, or UDP is blocked here"));
	return g_strdup_printf(
	        _("relayed: every direct pair (%u host and srflx candidates here, "
	          "%u at the peer) was checked and none answered in time: the "
	          "NATs filter them (a symmetric NAT on one side and a filtering "
	          "one on the other)"),
	        local[NICE_CANDIDATE_TYPE_HOST] + local[NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE],
	        remote[NICE_CANDIDATE_TYPE_HOST] + remote[NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE]);
}

JsonObject *
pl_ice_path_describe_checks(PlIcePath *self)
{
	JsonObject *object = json_object_new();
	g_autofree gchar *explanation = explain(self);

	json_object_set_object_member(object, "local", count_types(self->local_types));
	json_object_set_object_member(object, "remote", count_types(self->remote_types));
	json_object_set_int_member(object, "remote_refused", self->n_refused_remotes);
	json_object_set_string_member(object, "explanation", explanation);
	return object;
}

guint
pl_ice_path_get_n_remotes(PlIcePath *self)
{
	return self->n_remotes;
}

guint
pl_ice_path_get_n_refused_remotes(PlIcePath *self)
{
	return self->n_refused_remotes;
}

static gboolean
send_now(PlIcePath *self, const guint8 *data, gsize len)
{
	if (self->batch != NULL && pl_udp_batch_add(self->batch, data, len))
		return TRUE;
	return nice_agent_send(self->agent, self->stream_id, NICE_COMPONENT_TYPE_RTP, (guint)len,
	                       (const gchar *)data) == (gint)len;
}

gboolean
pl_ice_path_send(PlIcePath *self, const guint8 *data, gsize len)
{
	if (self->agent == NULL)
		return FALSE;
	/*
	 * The peer starts the stream once its check of a pair succeeds; this
	 * agent selects that pair a round trip later, when its own check of it
	 * does. What it sends in between (the answer to the peer's first
	 * packet) would be lost and cost a retransmission timeout: it waits
	 * for the pair instead.
	 */
	if (self->local_selected == NULL) {
		if (self->held_bytes + len > PL_ICE_PATH_HELD_MAX)
			return FALSE;
		g_queue_push_tail(&self->held, g_bytes_new(data, len));
		self->held_bytes += len;
		return TRUE;
	}
	return send_now(self, data, len);
}
