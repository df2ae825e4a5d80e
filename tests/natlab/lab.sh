# shellcheck shell=bash disable=SC2034 # (state variables are for the tests that source this)
#
# A NAT lab in network namespaces, for tests to source (see README.md):
#
#   source "$PEERLINK_SOURCE_DIR/tests/natlab/lab.sh"
#   lab_require_or_skip          # exit 77 unless root with ip, nft, turnserver, python3
#   lab_init                     # the "internet", traps that tear everything down
#   lab_set_deadline 240         # every wait and peerlinkctl call ends by then
#   lab_add_public_server        # peerlink-rendezvous + coturn + a reflector, 203.0.113.10
#   lab_add_router home cone     # cone | full-cone | symmetric | udp-blocked | none
#   lab_add_host alice home      # 10.N.0.x behind the router (public for "none")
#                                # [ipv6 | dual]: see lab_enable_ipv6
#   lab_start_agent alice        # peerlinkd with its own config, state dir and socket
#   lab_wait_rendezvous alice    # until it is connected to the rendezvous
#   lab_ctl alice --json status  # peerlinkctl against that agent, inside its namespace
#   lab_down                     # (also from the traps) every process and namespace gone
#
# Everything it creates is named after a prefix unique to the run ("pl<pid>"),
# lives in namespaces of its own and goes away with them; it never touches the
# host's interfaces, routes or nftables ruleset. Every wait is bounded.

# --- addresses ------------------------------------------------------------
LAB_PUBLIC_PREFIX=203.0.113    # the "internet" segment (TEST-NET-3)
LAB_GATEWAY_IP=203.0.113.1     # the internet namespace routes between segments
LAB_SERVER_IP=203.0.113.10     # rendezvous, STUN/TURN, reflector
LAB_SERVER_ALT_IP=203.0.113.11 # second STUN address (RFC 5780 behaviour discovery)
LAB_PUBLIC_LAN_PREFIX=198.51.100 # /28 per "none" router (TEST-NET-2)
LAB_RENDEZVOUS_PORT=8480
LAB_TURN_PORT=3478
LAB_TURN_ALT_PORT=3479
LAB_ECHO_PORTS=(7000 7001)
LAB_UPNP_PORT=5000
LAB_TURN_SECRET=natlab-secret
LAB_TURN_REALM=peerlink.lab
LAB_RENDEZVOUS_URL="http://$LAB_SERVER_IP:$LAB_RENDEZVOUS_PORT"
# IPv6 (lab_enable_ipv6), all in 2001:db8::/32: the internet segment is
# 2001:db8::/64, router N has 2001:db8::(100+N) on its wan and routes
# 2001:db8:N::/64 on its LAN
LAB_PUBLIC6_PREFIX=2001:db8:
LAB_GATEWAY6_IP=2001:db8::1
LAB_SERVER6_IP=2001:db8::10
LAB_SERVER6_ALT_IP=2001:db8::11
LAB_RENDEZVOUS6_URL="http://[$LAB_SERVER6_IP]:$LAB_RENDEZVOUS_PORT"
# the addresses a router gets when it "reboots" with a new public address
LAB_SPARE_WAN_FIRST=200

LAB_DIR_OF_SCRIPT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_BEHAVIOURS="cone full-cone symmetric udp-blocked none"

# --- state of this run ----------------------------------------------------
LAB_PREFIX=
LAB_DIR=
LAB_NAMESPACES=() # in creation order
LAB_PIDS=()       # every process started, each "ip netns exec NS PROG" itself
LAB_DOWN_DONE=0
LAB_INET_PORTS=0  # veth ports on the internet bridge
LAB_ROUTER_COUNT=0
declare -A LAB_NS=()         # node → namespace
declare -A LAB_KIND=()       # node → server | router | host
declare -A LAB_BEHAVIOUR=()  # router → behaviour
declare -A LAB_INDEX=()      # router → N (10.N.0.0/24)
declare -A LAB_WAN_IP=()     # router → its public address
declare -A LAB_LAN_IP=()     # router → its LAN address (the hosts' gateway)
declare -A LAB_N_HOSTS=()    # router → hosts behind it
declare -A LAB_ROUTER_OF=()  # host → router
declare -A LAB_IP=()         # host or server → its address
declare -A LAB_AGENT_PID=()  # host → peerlinkd pid
declare -A LAB_UPNP_PID=()   # router → miniupnpd pid
LAB_IPV6=0                   # lab_enable_ipv6 was called
LAB_SPARE_WANS=0             # spare public addresses handed out (lab_router_reboot)
declare -A LAB_FAMILY=()     # host → ipv4 | ipv6 | dual
declare -A LAB_IP6=()        # host or server → its IPv6 address (with lab_enable_ipv6)
declare -A LAB_WAN_IP6=()    # router → its public IPv6 address
declare -A LAB_LAN_IP6=()    # router → its LAN IPv6 address (the hosts' gateway)
declare -A LAB_REBOOTS=()    # router → times lab_router_reboot ran

lab_log() {
	echo "natlab: $*" >&2
}

lab_die() {
	lab_log "error: $*"
	exit 1
}

# Exits 77 (skipped) unless this can run: root, and every tool the lab needs.
lab_require_or_skip() {
	local tool
	if ((EUID != 0)); then
		lab_log "skipped: the NAT lab needs root (network namespaces)"
		exit 77
	fi
	for tool in ip nft turnserver python3 curl "$@"; do
		if ! command -v "$tool" >/dev/null 2>&1; then
			lab_log "skipped: $tool is not installed (scripts/install-deps)"
			exit 77
		fi
	done
	if ! ip netns list >/dev/null 2>&1; then
		lab_log "skipped: ip netns does not work here"
		exit 77
	fi
}

# lab_set_deadline SECONDS: from now on every lab_wait and lab_ctl ends by
# then (a test that knows its own time limit fails with diagnostics instead of
# being killed by the test runner).
lab_set_deadline() {
	LAB_DEADLINE=$((SECONDS + $1))
}

lab_deadline_passed() {
	[[ -n ${LAB_DEADLINE:-} ]] && ((SECONDS >= LAB_DEADLINE))
}

# lab_bound SECONDS: SECONDS, or less if the deadline comes first (at least 1)
lab_bound() {
	local seconds=$1 left
	if [[ -n ${LAB_DEADLINE:-} ]]; then
		left=$((LAB_DEADLINE - SECONDS))
		((left >= seconds)) || seconds=$left
		((seconds >= 1)) || seconds=1
	fi
	echo "$seconds"
}

# lab_now_us: the wall clock in microseconds
lab_now_us() {
	echo "${EPOCHREALTIME//[.,]/}"
}

# lab_wait SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds or
# SECONDS pass (or the deadline), by the clock, however long COMMAND takes;
# the status of the last run.
lab_wait() {
	local end
	end=$(($(lab_now_us) + $(lab_bound "$1") * 1000000))
	shift
	while (($(lab_now_us) < end)); do
		if "$@"; then
			return 0
		fi
		sleep 0.1
	done
	"$@"
}

lab_ns() {
	local node=$1
	[[ -n ${LAB_NS[$node]:-} ]] || lab_die "no such node: $node"
	echo "${LAB_NS[$node]}"
}

# lab_exec NODE COMMAND...: runs COMMAND in the namespace of NODE, in the foreground.
lab_exec() {
	local ns
	ns=$(lab_ns "$1") || return 1
	shift
	ip netns exec "$ns" "$@"
}

# lab_spawn NODE LOG COMMAND...: starts COMMAND in NODE's namespace in the
# background, output to LOG; its pid is in LAB_LAST_PID and killed by lab_down.
# Call it directly, never in $( ) or a pipe: the pid must be this shell's child.
lab_spawn() {
	local node=$1 log=$2 ns
	shift 2
	ns=${LAB_NS[$node]:-}
	[[ -n $ns ]] || lab_die "no such node: $node"
	ip netns exec "$ns" "$@" </dev/null >>"$log" 2>&1 &
	LAB_LAST_PID=$!
	LAB_PIDS+=("$LAB_LAST_PID")
}

_lab_alive() {
	local pid=$1 state
	[[ -r /proc/$pid/stat ]] || return 1
	state=$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null) || return 1
	[[ $state != Z ]]
}

# lab_stop_pid PID: SIGTERM, then SIGKILL after 5 s; reaps it.
lab_stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		_lab_alive "$pid" || break
		sleep 0.1
	done
	if _lab_alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

_lab_new_ns() {
	local node=$1 kind=$2 ns
	[[ $node =~ ^[a-z][a-z0-9]{0,11}$ ]] ||
		lab_die "node names are 1-12 lower-case letters and digits: $node"
	[[ -z ${LAB_NS[$node]:-} ]] || lab_die "node $node exists already"
	ns="$LAB_PREFIX-$node"
	ip netns add "$ns" || lab_die "cannot create namespace $ns"
	LAB_NAMESPACES+=("$ns")
	LAB_NS[$node]=$ns
	LAB_KIND[$node]=$kind
	ip -n "$ns" link set lo up
	# IPv4 only: no link-local IPv6 candidates, no duplicate address detection
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1 || true
}

# _lab_ipv6_on NODE: IPv6 in NODE's namespace after all, on every interface
# it has and will have, without duplicate address detection (addresses are
# usable at once). Link-local addresses appear too; agents do not offer them.
_lab_ipv6_on() {
	local ns=${LAB_NS[$1]} ifname
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0 \
		net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.disable_ipv6=0 \
		net.ipv6.conf.all.disable_ipv6=0 >/dev/null
	for ifname in $(ip -n "$ns" -o link show | awk -F': ' '{print $2}' | cut -d@ -f1); do
		ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$ifname.accept_dad=0" \
			"net.ipv6.conf.$ifname.disable_ipv6=0" >/dev/null
	done
}

# _lab_attach_inet NODE IFNAME ADDRESS/LEN: a veth from the internet bridge to NODE.
_lab_attach_inet() {
	local node=$1 ifname=$2 address=$3 ns port
	ns=${LAB_NS[$node]}
	LAB_INET_PORTS=$((LAB_INET_PORTS + 1))
	port="p$LAB_INET_PORTS"
	ip -n "$LAB_PREFIX-inet" link add "$port" type veth peer name "$ifname" netns "$ns"
	ip -n "$LAB_PREFIX-inet" link set "$port" master br0 up
	ip -n "$ns" addr add "$address" dev "$ifname"
	ip -n "$ns" link set "$ifname" up
}

# A guard in a session of its own, out of reach of a test runner that kills
# the test's process group: when this shell is gone without lab_down (SIGKILL),
# it kills what runs in the lab's namespaces and removes them.
_lab_start_reaper() {
	setsid python3 -c '
import os, subprocess, sys, time
parent, prefix = int(sys.argv[1]), sys.argv[2] + "-"
def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
deadline = time.monotonic() + 24 * 3600
while alive(parent) and time.monotonic() < deadline:
    time.sleep(0.5)
listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
for ns in [line.split()[0] for line in listing.splitlines() if line.startswith(prefix)]:
    pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
    for pid in pids.split():
        try:
            os.kill(int(pid), 9)
        except OSError:
            pass
    subprocess.run(["ip", "netns", "del", ns])
' "$$" "$LAB_PREFIX" </dev/null >/dev/null 2>&1 &
	LAB_REAPER_PID=$!
}

_lab_on_exit() {
	local status=$?
	lab_down "$status"
}

# A signal (Ctrl-C, or a test runner's timeout, which may follow with SIGKILL
# within a second): no diagnostics, no grace, just everything gone.
_lab_on_signal() {
	local status=$1
	lab_log "interrupted: stopping everything"
	LAB_FAST=1
	lab_down "$status"
	trap - EXIT
	exit "$status"
}

# lab_init: the internet (a bridge in a namespace of its own, 203.0.113.0/24,
# with a gateway that routes the public LANs of "none" routers) and the
# traps that remove everything on EXIT, INT and TERM.
lab_init() {
	local ns stale
	[[ -z $LAB_PREFIX ]] || lab_die "lab_init runs once"
	LAB_PREFIX="pl$$"
	# namespaces of a dead run that had our pid: theirs is gone, so they are stale
	for stale in $(ip netns list | awk '{print $1}' | grep "^$LAB_PREFIX-" || true); do
		if [[ -n $(ip netns pids "$stale" 2>/dev/null) ]]; then
			lab_die "namespace $stale exists and is in use"
		fi
		lab_log "removing stale namespace $stale"
		ip netns del "$stale"
	done
	LAB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/natlab-XXXXXX")
	trap _lab_on_exit EXIT
	trap '_lab_on_signal 130' INT
	trap '_lab_on_signal 143' TERM
	trap '_lab_on_signal 129' HUP
	_lab_start_reaper

	_lab_new_ns inet internet
	ns=$LAB_PREFIX-inet
	ip -n "$ns" link add br0 type bridge
	ip -n "$ns" addr add "$LAB_GATEWAY_IP/24" dev br0
	ip -n "$ns" link set br0 up
	ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 \
		net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.default.send_redirects=0 \
		net.ipv4.conf.br0.send_redirects=0 >/dev/null
	lab_log "lab $LAB_PREFIX in $LAB_DIR"
}

# lab_enable_ipv6: IPv6 on the internet as well, right after lab_init. The
# internet gets 2001:db8::/64 (gateway ::1), and from then on:
#   - the public server also has 2001:db8::10 and ::11; coturn listens and
#     relays on them too (an allocation has the family of the client's
#     connection), and a second rendezvous, LAB_RENDEZVOUS6_URL, listens on
#     [2001:db8::10]:8480 and hands out that server's IPv6 STUN and TURN
#     (the agent takes the first STUN server it is given, so one rendezvous
#     cannot serve IPv4-only and IPv6-only agents both);
#   - every router is dual-stack: 2001:db8::(100+N) on wan0, 2001:db8:N::/64
#     routed to its LAN, no translation; a NATing router's ruleset filters
#     IPv6 as its IPv4 conntrack does (a stateful firewall: only answers get
#     in, address and port dependent), a "none" router filters nothing;
#   - lab_add_host HOST ROUTER ipv6 gives a host IPv6 only (2001:db8:N::(10+k),
#     no IPv4 address; its agent uses LAB_RENDEZVOUS6_URL), "dual" both.
# Hosts stay IPv4-only unless asked, so that a pair meant to cross IPv4 NATs
# cannot go around them over IPv6.
lab_enable_ipv6() {
	local ns=$LAB_PREFIX-inet
	[[ -n $LAB_PREFIX ]] || lab_die "lab_init first"
	((${#LAB_NAMESPACES[@]} == 1)) || lab_die "lab_enable_ipv6 comes before any node"
	LAB_IPV6=1
	_lab_ipv6_on inet
	ip -n "$ns" addr add "$LAB_GATEWAY6_IP/64" dev br0 nodad
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.forwarding=1 >/dev/null
	lab_log "IPv6: the internet is 2001:db8::/64"
}

# lab_down [STATUS]: stops every process the lab started, removes its
# namespaces, and its directory unless STATUS is a failure or LAB_KEEP=1.
# Runs from the traps; calling it again does nothing.
lab_down() {
	local status=${1:-0} pid ns i
	((LAB_DOWN_DONE == 0)) || return 0
	LAB_DOWN_DONE=1
	# tearing down goes on whatever fails on the way
	set +e
	if ((status != 0 && status != 77 && ${LAB_FAST:-0} == 0)) &&
		declare -F lab_on_failure >/dev/null; then
		(lab_on_failure)
	fi
	for pid in "${LAB_PIDS[@]}"; do
		if ((${LAB_FAST:-0})); then
			kill -KILL "$pid" 2>/dev/null
		else
			kill -TERM "$pid" 2>/dev/null
		fi
	done
	for pid in "${LAB_PIDS[@]}"; do
		lab_stop_pid "$pid"
	done
	# anything else still running in our namespaces was started by us too
	for ns in "${LAB_NAMESPACES[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null || true
		done
	done
	for ((i = ${#LAB_NAMESPACES[@]} - 1; i >= 0; i--)); do
		ip netns del "${LAB_NAMESPACES[i]}" 2>/dev/null ||
			lab_log "cannot remove namespace ${LAB_NAMESPACES[i]}"
	done
	# everything is gone: the guard has nothing left to do
	if [[ -n ${LAB_REAPER_PID:-} ]]; then
		kill -TERM "$LAB_REAPER_PID" 2>/dev/null
		wait "$LAB_REAPER_PID" 2>/dev/null
	fi
	if [[ -n $LAB_DIR && -d $LAB_DIR ]]; then
		if ((status != 0 && status != 77)) || [[ ${LAB_KEEP:-0} == 1 ]]; then
			lab_log "logs kept in $LAB_DIR"
		else
			rm -rf "$LAB_DIR"
		fi
	fi
}

# --- the public server ----------------------------------------------------

# lab_turn_credentials NAME [TTL]: "USERNAME PASSWORD" in coturn's REST scheme
# for the lab's secret, as the rendezvous hands them out.
lab_turn_credentials() {
	python3 - "$LAB_TURN_SECRET" "$1" "${2:-600}" <<'EOF'
import base64, hashlib, hmac, sys, time
secret, name, ttl = sys.argv[1], sys.argv[2], int(sys.argv[3])
username = f"{int(time.time()) + ttl}:{name}"
digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
print(username, base64.b64encode(digest).decode())
EOF
}

_lab_log_has() {
	grep -q -- "$2" "$1" 2>/dev/null
}

_lab_rendezvous_healthy() {
	lab_exec "$1" curl -sf --max-time 2 -o /dev/null "${2:-$LAB_RENDEZVOUS_URL}/v1/health"
}

# lab_stun_answers NODE ADDRESS: a STUN binding request from NODE to ADDRESS
# (IPv4 or IPv6) on the TURN port gets its answer within 2 s
lab_stun_answers() {
	lab_exec "$1" timeout 3 python3 - "$2" "$LAB_TURN_PORT" <<'EOF'
import os, socket, struct, sys
host, port = sys.argv[1], int(sys.argv[2])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
sock = socket.socket(family, socket.SOCK_DGRAM)
sock.settimeout(0.5)
request = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + os.urandom(12)
for _ in range(4):
    sock.sendto(request, (host, port))
    try:
        answer = sock.recv(1500)
    except socket.timeout:
        continue
    if answer[:2] == b"\x01\x01" and answer[8:20] == request[8:20]:
        sys.exit(0)
sys.exit(1)
EOF
}

# lab_add_public_server [NAME]: a host on the internet at 203.0.113.10 (and
# .11) running coturn (UDP and TCP on 3478, RFC 5780 on .11 and 3479, relays
# from .10), peerlink-rendezvous on :8480 handing out TURN REST credentials
# for that coturn, and the lab-echo.py reflector on UDP 7000 and 7001 (TCP 7000).
lab_add_public_server() {
	local node=${1:-server} dir ns
	[[ -n ${PEERLINK_RENDEZVOUS:-} && -x ${PEERLINK_RENDEZVOUS:-} ]] ||
		lab_die "PEERLINK_RENDEZVOUS must name the built peerlink-rendezvous"
	_lab_new_ns "$node" server
	ns=${LAB_NS[$node]}
	dir=$LAB_DIR/$node
	mkdir -p "$dir"
	_lab_attach_inet "$node" eth0 "$LAB_SERVER_IP/24"
	ip -n "$ns" addr add "$LAB_SERVER_ALT_IP/24" dev eth0
	ip -n "$ns" route add default via "$LAB_GATEWAY_IP"
	LAB_IP[$node]=$LAB_SERVER_IP
	LAB_SERVER_NODE=$node
	local turn_ipv6=()
	if ((LAB_IPV6)); then
		_lab_ipv6_on "$node"
		ip -n "$ns" addr add "$LAB_SERVER6_IP/64" dev eth0 nodad
		ip -n "$ns" addr add "$LAB_SERVER6_ALT_IP/64" dev eth0 nodad
		ip -n "$ns" -6 route add default via "$LAB_GATEWAY6_IP"
		LAB_IP6[$node]=$LAB_SERVER6_IP
		# an IPv6 client gets an IPv6 relay (RFC 6156 would give IPv4
		# unless asked otherwise, useless to an IPv6-only peer)
		turn_ipv6=(--listening-ip="$LAB_SERVER6_IP" --listening-ip="$LAB_SERVER6_ALT_IP"
			--relay-ip="$LAB_SERVER6_IP" --allocation-default-address-family=keep)
	fi

	LAB_TURN_ARGS=(--listening-ip="$LAB_SERVER_IP" --listening-ip="$LAB_SERVER_ALT_IP"
		--listening-port="$LAB_TURN_PORT" --alt-listening-port="$LAB_TURN_ALT_PORT"
		--relay-ip="$LAB_SERVER_IP" "${turn_ipv6[@]}" --min-port=49152 --max-port=65535
		--use-auth-secret --static-auth-secret="$LAB_TURN_SECRET" --realm="$LAB_TURN_REALM"
		--no-tls --no-dtls --no-cli --log-file=stdout --simple-log --verbose
		--pidfile="$dir/turnserver.pid" --userdb="$dir/turndb" --relay-threads=1)
	lab_spawn "$node" "$dir/turnserver.log" turnserver -n "${LAB_TURN_ARGS[@]}"
	LAB_TURN_PID=$LAB_LAST_PID
	lab_wait 10 _lab_log_has "$dir/turnserver.log" "Total General servers" ||
		lab_die "coturn did not start (see $dir/turnserver.log)"

	lab_spawn "$node" "$dir/rendezvous.log" "$PEERLINK_RENDEZVOUS" -v \
		--listen "$LAB_SERVER_IP:$LAB_RENDEZVOUS_PORT" \
		--turn-secret "$LAB_TURN_SECRET" \
		--turn-uri "turn:$LAB_SERVER_IP:$LAB_TURN_PORT?transport=udp" \
		--turn-uri "turn:$LAB_SERVER_IP:$LAB_TURN_PORT?transport=tcp" \
		--stun-uri "stun:$LAB_SERVER_IP:$LAB_TURN_PORT"
	LAB_RENDEZVOUS_PID=$LAB_LAST_PID
	lab_wait 10 _lab_rendezvous_healthy "$node" ||
		lab_die "peerlink-rendezvous did not start (see $dir/rendezvous.log)"
	if ((LAB_IPV6)); then
		lab_spawn "$node" "$dir/rendezvous6.log" "$PEERLINK_RENDEZVOUS" -v \
			--listen "[$LAB_SERVER6_IP]:$LAB_RENDEZVOUS_PORT" \
			--turn-secret "$LAB_TURN_SECRET" \
			--turn-uri "turn:[$LAB_SERVER6_IP]:$LAB_TURN_PORT?transport=udp" \
			--turn-uri "turn:[$LAB_SERVER6_IP]:$LAB_TURN_PORT?transport=tcp" \
			--stun-uri "stun:[$LAB_SERVER6_IP]:$LAB_TURN_PORT"
		LAB_RENDEZVOUS6_PID=$LAB_LAST_PID
		lab_wait 10 _lab_rendezvous_healthy "$node" "$LAB_RENDEZVOUS6_URL" ||
			lab_die "the IPv6 peerlink-rendezvous did not start (see $dir/rendezvous6.log)"
	fi
	# "Total General servers" comes before every listener answers
	lab_wait 10 lab_stun_answers "$node" "$LAB_SERVER_IP" ||
		lab_die "coturn does not answer STUN (see $dir/turnserver.log)"

	lab_spawn "$node" "$dir/echo.log" python3 -u "$LAB_DIR_OF_SCRIPT/lab-echo.py" server \
		--bind "$LAB_SERVER_IP" --bind "$LAB_SERVER_ALT_IP" \
		"${LAB_ECHO_PORTS[@]}"
	LAB_ECHO_PID=$LAB_LAST_PID
	lab_wait 10 _lab_log_has "$dir/echo.log" "listening" ||
		lab_die "the reflector did not start (see $dir/echo.log)"
	lab_log "public server $node: rendezvous $LAB_RENDEZVOUS_URL, STUN/TURN $LAB_SERVER_IP:$LAB_TURN_PORT"
}

# lab_server_kill_turn [SIGNAL]: the public server's coturn dies at once
# (SIGKILL unless SIGNAL is given: a crash, no deallocation, nothing said to
# its clients) and is reaped; lab_server_alive fails until
# lab_server_start_turn. The rendezvous goes on handing out its URIs.
lab_server_kill_turn() {
	local signal=${1:-KILL} pid=${LAB_TURN_PID:-} status=0
	if [[ -z $pid ]] || ! _lab_alive "$pid"; then
		lab_die "coturn does not run"
	fi
	kill -"$signal" "$pid"
	lab_wait 5 _lab_gone "$pid" || lab_die "coturn (pid $pid) survived SIG$signal"
	wait "$pid" 2>/dev/null || status=$?
	# reaped: lab_down must not signal a pid that may be another's by then
	_lab_forget_pid "$pid"
	LAB_TURN_PID=
	LAB_TURN_EXIT="killed by SIG$signal (pid $pid, status $status)"
	lab_log "coturn $LAB_TURN_EXIT"
}

# lab_server_start_turn: coturn again, as lab_add_public_server started it
# (same addresses, ports, secret; its log goes on in the same file), after
# lab_server_kill_turn; returns once it answers a STUN request.
lab_server_start_turn() {
	local node=${LAB_SERVER_NODE:-}
	[[ -n $node ]] || lab_die "lab_add_public_server first"
	[[ -z ${LAB_TURN_PID:-} ]] || ! _lab_alive "$LAB_TURN_PID" || lab_die "coturn runs already"
	echo "--- natlab: coturn started again" >>"$LAB_DIR/$node/turnserver.log"
	lab_spawn "$node" "$LAB_DIR/$node/turnserver.log" turnserver -n "${LAB_TURN_ARGS[@]}"
	LAB_TURN_PID=$LAB_LAST_PID
	LAB_TURN_EXIT=
	lab_wait 10 lab_stun_answers "$node" "$LAB_SERVER_IP" ||
		lab_die "coturn did not start again (see $LAB_DIR/$node/turnserver.log)"
	lab_log "coturn started again (pid $LAB_TURN_PID)"
}

_lab_gone() {
	! _lab_alive "$1"
}

# _lab_forget_pid PID: PID (reaped) is no longer one of the lab's processes
_lab_forget_pid() {
	local pid kept=()
	for pid in "${LAB_PIDS[@]}"; do
		[[ $pid == "$1" ]] || kept+=("$pid")
	done
	LAB_PIDS=("${kept[@]}")
}

# --- routers and hosts ----------------------------------------------------

# The router's nftables ruleset for a behaviour (RFC 4787 terms):
#   cone        masquerade: endpoint-independent mapping, port kept when free;
#               conntrack filters inbound by address and port
#   full-cone   cone + inbound UDP to any port DNATed to the first host
#               (endpoint-independent filtering)
#   symmetric   masquerade random,fully-random: a new random port per destination
#   udp-blocked cone for TCP, no UDP leaves the LAN
#   none        plain routing of a public /28, no NAT, no filter
# Like a home router, it drops what comes unasked to its own wan address: the
# conntrack entry of such a packet is then never confirmed. Accepted, it would
# take the reply tuple of the mapping a LAN host is about to punch for that
# peer, the router would pick another port, and hole punching between two
# cones would fail for a reason no real router has.
# IPv6 (lab_enable_ipv6) is never translated: the same forward chain makes it
# a stateful firewall (only answers get in, address and port dependent), and
# the router itself takes ICMPv6 (neighbour discovery) on wan0.
_lab_router_ruleset() {
	local behaviour=$1 first_host=$2 masquerade="masquerade" dnat="" udp_drop=""
	case $behaviour in
	cone) ;;
	full-cone) dnat="iifname \"wan0\" meta nfproto ipv4 meta l4proto udp dnat ip to $first_host" ;;
	symmetric) masquerade="masquerade random,fully-random" ;;
	udp-blocked) udp_drop="iifname \"lan0\" meta l4proto udp drop" ;;
	*) lab_die "no NAT ruleset for $behaviour" ;;
	esac
	# the empty *_miniupnpd chains are where miniupnpd puts its port
	# mappings, when lab_router_upnp starts one
	cat <<EOF
table inet natlab {
	chain prerouting_miniupnpd {
	}
	chain postrouting_miniupnpd {
	}
	chain miniupnpd {
	}
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		iifname "wan0" jump prerouting_miniupnpd
		$dnat
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wan0" jump postrouting_miniupnpd
		oifname "wan0" meta nfproto ipv4 $masquerade
	}
	chain input {
		type filter hook input priority filter; policy accept;
		iifname "wan0" ct state established,related accept
		iifname "wan0" meta l4proto ipv6-icmp accept
		iifname "wan0" drop
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		$udp_drop
		ct state established,related accept
		ct status dnat accept
		iifname "wan0" jump miniupnpd
		iifname "lan0" oifname "lan0" accept
		iifname "lan0" oifname "wan0" accept
	}
}
EOF
}

# lab_add_router NAME BEHAVIOUR: a router between the internet (wan0,
# 203.0.113.(100+N)) and a LAN bridge (lan0, 10.N.0.1/24; for "none" a public
# 198.51.100.16N/28) with the NAT behaviour (see _lab_router_ruleset).
lab_add_router() {
	local node=$1 behaviour=$2 ns n wan lan
	[[ " $LAB_BEHAVIOURS " == *" $behaviour "* ]] ||
		lab_die "unknown behaviour $behaviour (one of: $LAB_BEHAVIOURS)"
	((LAB_ROUTER_COUNT < 15)) || lab_die "at most 15 routers"
	LAB_ROUTER_COUNT=$((LAB_ROUTER_COUNT + 1))
	n=$LAB_ROUTER_COUNT
	_lab_new_ns "$node" router
	ns=${LAB_NS[$node]}
	LAB_BEHAVIOUR[$node]=$behaviour
	LAB_INDEX[$node]=$n
	LAB_N_HOSTS[$node]=0
	wan="$LAB_PUBLIC_PREFIX.$((100 + n))"
	LAB_WAN_IP[$node]=$wan
	_lab_attach_inet "$node" wan0 "$wan/24"
	ip -n "$ns" route add default via "$LAB_GATEWAY_IP"
	ip -n "$ns" link add lan0 type bridge
	if [[ $behaviour == none ]]; then
		lan="$LAB_PUBLIC_LAN_PREFIX.$((16 * n + 1))"
		ip -n "$ns" addr add "$lan/28" dev lan0
		ip -n "$LAB_PREFIX-inet" route add "$LAB_PUBLIC_LAN_PREFIX.$((16 * n))/28" via "$wan"
	else
		lan="10.$n.0.1"
		ip -n "$ns" addr add "$lan/24" dev lan0
	fi
	LAB_LAN_IP[$node]=$lan
	if ((LAB_IPV6)); then
		_lab_ipv6_on "$node"
		LAB_WAN_IP6[$node]="${LAB_PUBLIC6_PREFIX}:$((100 + n))"
		LAB_LAN_IP6[$node]="$LAB_PUBLIC6_PREFIX$n::1"
		ip -n "$ns" addr add "${LAB_WAN_IP6[$node]}/64" dev wan0 nodad
		ip -n "$ns" addr add "${LAB_LAN_IP6[$node]}/64" dev lan0 nodad
		ip -n "$ns" -6 route add default via "$LAB_GATEWAY6_IP"
		ip -n "$LAB_PREFIX-inet" -6 route add "$LAB_PUBLIC6_PREFIX$n::/64" via "${LAB_WAN_IP6[$node]}"
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.forwarding=1 >/dev/null
	fi
	ip -n "$ns" link set lan0 up
	ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 >/dev/null
	# where br_netfilter is loaded, frames between two LAN hosts would meet
	# the forward chain: they are switched, not routed
	ip netns exec "$ns" sysctl -qw net.bridge.bridge-nf-call-iptables=0 >/dev/null 2>&1 || true
	if [[ $behaviour != none ]]; then
		_lab_router_ruleset "$behaviour" "10.$n.0.10" | ip netns exec "$ns" nft -f - ||
			lab_die "cannot load the nftables ruleset of $node"
	fi
	lab_log "router $node ($behaviour): wan $wan, lan $lan${LAB_WAN_IP6[$node]:+; wan ${LAB_WAN_IP6[$node]}, lan ${LAB_LAN_IP6[$node]}/64}"
}

# lab_add_host NAME ROUTER [FAMILY]: a host on ROUTER's LAN (10.N.0.10, .11,
# …; behind "none" 198.51.100.16N+2, …) with a default route through it.
# FAMILY (after lab_enable_ipv6): "ipv4" (the default), "ipv6" (only
# 2001:db8:N::(10+k), the same k as the IPv4 address it does not get) or
# "dual" (both).
lab_add_host() {
	local node=$1 router=$2 family=${3:-ipv4} ns rns k n address len
	[[ ${LAB_KIND[$router]:-} == router ]] || lab_die "no such router: $router"
	case $family in
	ipv4) ;;
	ipv6 | dual) ((LAB_IPV6)) || lab_die "host $node: $family needs lab_enable_ipv6" ;;
	*) lab_die "host $node: family is ipv4, ipv6 or dual, not $family" ;;
	esac
	_lab_new_ns "$node" host
	ns=${LAB_NS[$node]}
	rns=${LAB_NS[$router]}
	k=${LAB_N_HOSTS[$router]}
	n=${LAB_INDEX[$router]}
	if [[ ${LAB_BEHAVIOUR[$router]} == none ]]; then
		((k < 13)) || lab_die "at most 13 hosts behind a public router"
		address="$LAB_PUBLIC_LAN_PREFIX.$((16 * n + 2 + k))"
		len=28
	else
		((k < 200)) || lab_die "at most 200 hosts behind a router"
		address="10.$n.0.$((10 + k))"
		len=24
	fi
	LAB_N_HOSTS[$router]=$((k + 1))
	LAB_ROUTER_OF[$node]=$router
	LAB_FAMILY[$node]=$family
	ip -n "$rns" link add "h$k" type veth peer name eth0 netns "$ns"
	ip -n "$rns" link set "h$k" master lan0 up
	if [[ $family != ipv6 ]]; then
		LAB_IP[$node]=$address
		ip -n "$ns" addr add "$address/$len" dev eth0
	fi
	if [[ $family != ipv4 ]]; then
		_lab_ipv6_on "$node"
		LAB_IP6[$node]="$LAB_PUBLIC6_PREFIX$n::$((10 + k))"
		ip -n "$ns" addr add "${LAB_IP6[$node]}/64" dev eth0 nodad
		[[ $family == dual ]] || LAB_IP[$node]=${LAB_IP6[$node]}
	fi
	ip -n "$ns" link set eth0 up
	if [[ $family != ipv6 ]]; then
		ip -n "$ns" route add default via "${LAB_LAN_IP[$router]}"
	fi
	if [[ $family != ipv4 ]]; then
		ip -n "$ns" -6 route add default via "${LAB_LAN_IP6[$router]}"
	fi
	case $family in
	ipv4) lab_log "host $node behind $router: $address" ;;
	ipv6) lab_log "host $node behind $router: ${LAB_IP6[$node]} (IPv6 only)" ;;
	dual) lab_log "host $node behind $router: $address and ${LAB_IP6[$node]}" ;;
	esac
}

# lab_router_upnp ROUTER: runs miniupnpd on ROUTER (UPnP IGD on
# http://LAN-IP:5000/rootDesc.xml, and NAT-PMP) for the hosts of its LAN, with
# mappings in the ruleset's *_miniupnpd chains. It learns its public address
# by STUN against the public server (a documentation address is "reserved").
# Agents that should use it get upnp=true (lab_start_agent HOST upnp=true).
lab_router_upnp() {
	local router=$1 dir ns n
	[[ ${LAB_KIND[$router]:-} == router ]] || lab_die "no such router: $router"
	[[ ${LAB_BEHAVIOUR[$router]} != none ]] || lab_die "$router does no NAT: no UPnP"
	[[ -n ${LAB_SERVER_NODE:-} ]] || lab_die "lab_add_public_server first (STUN)"
	command -v miniupnpd >/dev/null || lab_die "miniupnpd is not installed (miniupnpd-nftables)"
	ns=${LAB_NS[$router]}
	n=${LAB_INDEX[$router]}
	dir=$LAB_DIR/$router
	mkdir -p "$dir"
	# its STUN test wants the answers from the other address and port too,
	# which the router's input chain would drop as unasked
	ip netns exec "$ns" nft insert rule inet natlab input iifname "wan0" \
		ip saddr "{ $LAB_SERVER_IP, $LAB_SERVER_ALT_IP }" \
		udp sport "{ $LAB_TURN_PORT, $LAB_TURN_ALT_PORT }" accept
	cat >"$dir/miniupnpd.conf" <<EOF
ext_ifname=wan0
listening_ip=lan0
http_port=$LAB_UPNP_PORT
enable_natpmp=yes
enable_upnp=yes
secure_mode=yes
system_uptime=yes
notify_interval=30
clean_ruleset_interval=600
uuid=$(python3 -c 'import uuid; print(uuid.uuid4())')
lease_file=$dir/miniupnpd.leases
ext_perform_stun=yes
ext_stun_host=$LAB_SERVER_IP
ext_stun_port=$LAB_TURN_PORT
upnp_table_name=natlab
upnp_nat_table_name=natlab
upnp_forward_chain=miniupnpd
upnp_nat_chain=prerouting_miniupnpd
upnp_nat_postrouting_chain=postrouting_miniupnpd
allow 1024-65535 10.$n.0.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
EOF
	lab_spawn "$router" "$dir/miniupnpd.log" miniupnpd -d -f "$dir/miniupnpd.conf" \
		-P "$dir/miniupnpd.pid"
	LAB_UPNP_PID[$router]=$LAB_LAST_PID
	lab_wait 10 _lab_upnp_answers "$router" ||
		lab_die "miniupnpd did not start on $router (see $dir/miniupnpd.log)"
	lab_log "UPnP IGD on $router ($ns): $(lab_upnp_url "$router")"
}

# lab_upnp_url ROUTER: the root description of ROUTER's IGD (for upnpc -u)
lab_upnp_url() {
	echo "http://${LAB_LAN_IP[$1]}:$LAB_UPNP_PORT/rootDesc.xml"
}

_lab_upnp_answers() {
	lab_exec "$1" curl -sf --max-time 2 -o /dev/null "$(lab_upnp_url "$1")"
}

# --- network events -------------------------------------------------------
# What happens to a home network while sessions run over it: a NAT that
# forgets idle mappings early, a router that reboots (and comes back with
# another public address), a host that gets a new address, a lossy line.

_lab_nat_router() {
	[[ ${LAB_KIND[$1]:-} == router ]] || lab_die "no such router: $1"
	[[ ${LAB_BEHAVIOUR[$1]} != none ]] || lab_die "$1 does no NAT"
}

# lab_router_udp_timeout ROUTER SECONDS [STREAM_SECONDS]: how long ROUTER's
# connection tracking keeps an idle UDP mapping (net.netfilter.
# nf_conntrack_udp_timeout, for a flow seen one way or once each way, and
# _udp_timeout_stream, for one that goes on both ways; defaults 30 and 120 s).
# These are per network namespace: the host's values do not change.
lab_router_udp_timeout() {
	local router=$1 seconds=$2 stream=${3:-$2}
	_lab_nat_router "$router"
	lab_exec "$router" sysctl -qw "net.netfilter.nf_conntrack_udp_timeout=$seconds" \
		"net.netfilter.nf_conntrack_udp_timeout_stream=$stream" >/dev/null
}

# lab_router_reboot ROUTER [SECONDS_DOWN]: ROUTER goes dark (every packet
# through it or to it vanishes, SECONDS_DOWN, default 2), forgets every
# mapping (conntrack -F), reloads its NAT ruleset, and comes back with a new
# public address from a spare range (203.0.113.200 and up; LAB_WAN_IP is
# updated), as a home router does when its ISP hands it another lease: every
# mapping its hosts had is gone and the new ones are elsewhere. Not for
# "none" routers (nothing to forget) nor UPnP ones (miniupnpd would keep the
# old address). Only IPv4 is renumbered; IPv6 firewall state is forgotten too.
lab_router_reboot() {
	local router=$1 down=${2:-2} ns old new n
	_lab_nat_router "$router"
	[[ -z ${LAB_UPNP_PID[$router]:-} ]] || lab_die "$router runs miniupnpd: no reboot"
	command -v conntrack >/dev/null || lab_die "conntrack is not installed"
	ns=${LAB_NS[$router]}
	n=${LAB_INDEX[$router]}
	old=${LAB_WAN_IP[$router]}
	((LAB_SPARE_WAN_FIRST + LAB_SPARE_WANS < 255)) || lab_die "no spare public address left"
	new="$LAB_PUBLIC_PREFIX.$((LAB_SPARE_WAN_FIRST + LAB_SPARE_WANS))"
	LAB_SPARE_WANS=$((LAB_SPARE_WANS + 1))
	# dark: dropped before connection tracking sees anything, no ICMP
	ip netns exec "$ns" nft -f - <<EOF
table inet natlab_dark {
	chain prerouting {
		type filter hook prerouting priority raw - 10; policy drop;
	}
	chain output {
		type filter hook output priority raw - 10; policy drop;
	}
}
EOF
	sleep "$down"
	ip netns exec "$ns" nft delete table inet natlab
	ip netns exec "$ns" conntrack -F >/dev/null 2>&1
	ip netns exec "$ns" conntrack -F -f ipv6 >/dev/null 2>&1 || true
	ip -n "$ns" addr del "$old/24" dev wan0
	ip -n "$ns" addr add "$new/24" dev wan0
	ip -n "$ns" route replace default via "$LAB_GATEWAY_IP"
	_lab_router_ruleset "${LAB_BEHAVIOUR[$router]}" "10.$n.0.10" | ip netns exec "$ns" nft -f - ||
		lab_die "cannot reload the nftables ruleset of $router"
	# loss (lab_router_loss) is a property of the line: it survives
	ip netns exec "$ns" nft delete table inet natlab_dark
	LAB_WAN_IP[$router]=$new
	LAB_REBOOTS[$router]=$((${LAB_REBOOTS[$router]:-0} + 1))
	lab_log "router $router rebooted: wan $old → $new after ${down} s dark"
}

# lab_router_loss ROUTER PERCENT: from now on ROUTER drops PERCENT % of the
# packets it forwards, each way, at random (nftables numgen, in a table of
# its own ahead of the NAT's filter); 0 ends it. Works on every router kind.
lab_router_loss() {
	local router=$1 percent=$2 ns
	[[ ${LAB_KIND[$router]:-} == router ]] || lab_die "no such router: $router"
	if ! [[ $percent =~ ^[0-9]+$ ]] || ((percent > 100)); then
		lab_die "loss is 0-100 %, not $percent"
	fi
	ns=${LAB_NS[$router]}
	ip netns exec "$ns" nft delete table inet natlab_loss 2>/dev/null || true
	((percent > 0)) || return 0
	ip netns exec "$ns" nft -f - <<EOF
table inet natlab_loss {
	chain forward {
		type filter hook forward priority filter - 10; policy accept;
		numgen random mod 100 < $percent counter drop
	}
}
EOF
}

# lab_router_loss_dropped ROUTER: packets the loss rule dropped so far
lab_router_loss_dropped() {
	lab_exec "$1" nft list table inet natlab_loss 2>/dev/null |
		sed -n 's/.*counter packets \([0-9]*\) .*/\1/p'
}

# lab_host_renumber HOST: HOST moves to a new IPv4 address on its LAN (the
# next free 10.N.0.x): the new address is added, the default route switched to
# it, then the old address removed (DHCP handing out another lease, or a
# laptop moving between two networks of one router). LAB_IP is updated.
lab_host_renumber() {
	local host=$1 ns router k n old new
	[[ ${LAB_KIND[$host]:-} == host ]] || lab_die "no such host: $host"
	[[ ${LAB_FAMILY[$host]} == ipv4 ]] || lab_die "$host: only IPv4-only hosts are renumbered"
	router=${LAB_ROUTER_OF[$host]}
	[[ ${LAB_BEHAVIOUR[$router]} != none ]] || lab_die "$host: not behind a public router"
	ns=${LAB_NS[$host]}
	n=${LAB_INDEX[$router]}
	k=${LAB_N_HOSTS[$router]}
	((k < 200)) || lab_die "no address left behind $router"
	LAB_N_HOSTS[$router]=$((k + 1))
	old=${LAB_IP[$host]}
	new="10.$n.0.$((10 + k))"
	# the new address must survive the old (primary) one's removal
	ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.promote_secondaries=1 \
		net.ipv4.conf.eth0.promote_secondaries=1 >/dev/null
	ip -n "$ns" addr add "$new/24" dev eth0
	ip -n "$ns" route replace default via "${LAB_LAN_IP[$router]}" src "$new"
	ip -n "$ns" addr del "$old/24" dev eth0
	ip -n "$ns" route replace default via "${LAB_LAN_IP[$router]}" src "$new"
	LAB_IP[$host]=$new
	lab_log "host $host renumbered: $old → $new"
}

# --- agents ---------------------------------------------------------------

lab_host_dir() {
	echo "$LAB_DIR/$1"
}

lab_agent_socket() {
	echo "$LAB_DIR/$1/run/agent.sock"
}

lab_agent_log() {
	echo "$LAB_DIR/$1/peerlinkd.log"
}

# lab_ctl HOST ARGS...: peerlinkctl against HOST's agent, inside HOST's
# namespace; killed after LAB_CTL_TIMEOUT seconds (default 120, status 124)
# or at the deadline (lab_set_deadline).
lab_ctl() {
	local host=$1 ns
	shift
	[[ ${LAB_KIND[$host]:-} == host ]] || lab_die "no such host: $host"
	ns=${LAB_NS[$host]}
	[[ -n ${PEERLINKCTL:-} ]] || lab_die "PEERLINKCTL must name the built peerlinkctl"
	timeout --foreground "$(lab_bound "${LAB_CTL_TIMEOUT:-120}")" ip netns exec "$ns" "$PEERLINKCTL" \
		--socket "$(lab_agent_socket "$host")" "$@"
}

# lab_ctl_spawn HOST STDIN STDOUT STDERR ARGS...: lab_ctl in the background,
# pid in LAB_LAST_PID (killed by lab_down, or after LAB_CTL_TIMEOUT seconds).
# Call it directly, not in $( ).
lab_ctl_spawn() {
	local host=$1 input=$2 output=$3 errors=$4 ns
	shift 4
	[[ ${LAB_KIND[$host]:-} == host ]] || lab_die "no such host: $host"
	ns=${LAB_NS[$host]}
	timeout --foreground "$(lab_bound "${LAB_CTL_TIMEOUT:-120}")" ip netns exec "$ns" "$PEERLINKCTL" \
		--socket "$(lab_agent_socket "$host")" "$@" <"$input" >"$output" 2>"$errors" &
	LAB_LAST_PID=$!
	LAB_PIDS+=("$LAB_LAST_PID")
}

# lab_json PATH [FILE]: the value at a dotted PATH ("rendezvous.state",
# "local_candidate.type") of the JSON in FILE or stdin; empty when absent.
lab_json() {
	python3 -c '
import json, sys
try:
    value = json.load(open(sys.argv[2]) if len(sys.argv) > 2 else sys.stdin)
except ValueError:
    sys.exit(1)
for key in sys.argv[1].split("."):
    if isinstance(value, dict) and key in value:
        value = value[key]
    else:
        sys.exit(0)
if isinstance(value, (dict, list)):
    print(json.dumps(value))
elif isinstance(value, bool):
    print("true" if value else "false")
elif value is not None:
    print(value)
' "$@"
}

_lab_agent_answers() {
	lab_ctl "$1" status >/dev/null 2>&1
}

_lab_agent_up_or_gone() {
	_lab_agent_answers "$1" || ! _lab_alive "${LAB_AGENT_PID[$1]}"
}

_lab_write_agent_config() {
	local host=$1 dir=$2 upnp=$3 rendezvous=$4
	shift 4
	{
		echo "[agent]"
		echo "socket=$dir/run/agent.sock"
		echo "state-dir=$dir/state"
		echo "rendezvous=$rendezvous"
		echo "verbose=true"
		echo "upnp=$upnp"
		local line
		for line in "$@"; do
			[[ $line == upnp=* || $line == rendezvous=* ]] || echo "$line"
		done
	} >"$dir/peerlink.conf"
}

# LAB_AGENT_WRAPPER, split into words, goes before peerlinkd: e.g.
# "gdb -q -batch -ex run -ex bt --args" puts a crash's backtrace in its log.
_lab_spawn_agent() {
	local host=$1 dir=$2 wrapper=()
	read -r -a wrapper <<<"${LAB_AGENT_WRAPPER:-}"
	lab_spawn "$host" "$dir/peerlinkd.log" env HOME="$dir" XDG_RUNTIME_DIR="$dir" \
		"${wrapper[@]}" "$PEERLINKD" --config "$dir/peerlink.conf"
	LAB_AGENT_PID[$host]=$LAB_LAST_PID
	lab_wait 15 _lab_agent_up_or_gone "$host" || true
}

# lab_start_agent HOST [KEY=VALUE...]: peerlinkd in HOST's namespace with its
# own config (LAB_DIR/HOST/peerlink.conf), state dir and socket, talking to
# the lab's rendezvous (which hands out the lab's STUN and TURN): an IPv6-only
# host to LAB_RENDEZVOUS6_URL, others to LAB_RENDEZVOUS_URL, unless
# rendezvous=URL is given. UPnP is off unless upnp=true is given. Returns
# once the agent answers on its socket.
lab_start_agent() {
	local host=$1 dir upnp=false rendezvous=$LAB_RENDEZVOUS_URL line
	shift
	[[ ${LAB_KIND[$host]:-} == host ]] || lab_die "no such host: $host"
	[[ -n ${PEERLINKD:-} && -x ${PEERLINKD:-} ]] || lab_die "PEERLINKD must name the built peerlinkd"
	[[ -n ${LAB_SERVER_NODE:-} ]] || lab_die "lab_add_public_server first"
	[[ ${LAB_FAMILY[$host]:-ipv4} != ipv6 ]] || rendezvous=$LAB_RENDEZVOUS6_URL
	for line in "$@"; do
		[[ $line != upnp=* ]] || upnp=${line#upnp=}
		[[ $line != rendezvous=* ]] || rendezvous=${line#rendezvous=}
	done
	dir=$(lab_host_dir "$host")
	# the agent wants directories only its user can access
	mkdir -p "$dir/run" "$dir/state"
	chmod 700 "$dir/run" "$dir/state"
	_lab_write_agent_config "$host" "$dir" "$upnp" "$rendezvous" "$@"
	_lab_spawn_agent "$host" "$dir"
	if ! _lab_agent_answers "$host"; then
		tail -n 20 "$dir/peerlinkd.log" >&2
		lab_die "the agent of $host did not start"
	fi
	lab_log "agent on $host: $(lab_peer_id "$host")"
}

# lab_stop_agent HOST
lab_stop_agent() {
	local host=$1
	[[ -n ${LAB_AGENT_PID[$host]:-} ]] || return 0
	lab_stop_pid "${LAB_AGENT_PID[$host]}"
	unset "LAB_AGENT_PID[$host]"
}

# lab_peer_id HOST: the peer ID of HOST's agent.
lab_peer_id() {
	lab_ctl "$1" id
}

_lab_rendezvous_connected() {
	[[ $(lab_ctl "$1" --json status 2>/dev/null | lab_json rendezvous.state) == connected ]]
}

# lab_wait_rendezvous HOST [SECONDS]: until HOST's agent is connected to the
# rendezvous (default 20 s); fails otherwise.
lab_wait_rendezvous() {
	lab_wait "${2:-20}" _lab_rendezvous_connected "$1"
}

# says how HOST's agent ended, if it did (a crash shows here, not in its log)
_lab_agent_exit_status() {
	local host=$1 pid status=0
	pid=${LAB_AGENT_PID[$host]:-}
	[[ -n $pid ]] && ! _lab_alive "$pid" || return 0
	wait "$pid" 2>/dev/null || status=$?
	if ((status == 127)); then
		echo "=== $host: peerlinkd (pid $pid) is gone"
	elif ((status > 128)); then
		echo "=== $host: peerlinkd (pid $pid) was killed by SIG$(kill -l $((status - 128)))"
	else
		echo "=== $host: peerlinkd (pid $pid) exited with status $status"
	fi
}

# _lab_daemon_status NAME PID: says how a daemon of the public server ended, if it did
_lab_daemon_status() {
	local name=$1 pid=$2 status=0
	[[ -n $pid ]] && ! _lab_alive "$pid" || return 0
	wait "$pid" 2>/dev/null || status=$?
	if ((status == 127)); then
		echo "=== $name (pid $pid) is gone"
	elif ((status > 128)); then
		echo "=== $name (pid $pid) was killed by SIG$(kill -l $((status - 128)))"
	else
		echo "=== $name (pid $pid) exited with status $status"
	fi
}

# lab_server_alive: the public server's rendezvous (both, with IPv6) and
# coturn still run
lab_server_alive() {
	local pid
	for pid in "${LAB_RENDEZVOUS_PID:-}" "${LAB_RENDEZVOUS6_PID:-}" "${LAB_TURN_PID:-}"; do
		[[ -z $pid ]] || _lab_alive "$pid" || return 1
	done
	# killed on purpose (lab_server_kill_turn) and not started again
	[[ -z ${LAB_TURN_EXIT:-} ]]
}

# lab_diagnose HOST...: each agent's status and the end of its log, and the
# end of the rendezvous and coturn logs: for a test that failed.
lab_diagnose() {
	local host
	for host in "$@"; do
		[[ ${LAB_KIND[$host]:-} == host ]] || continue
		echo "=== $host (${LAB_IP[$host]} behind ${LAB_ROUTER_OF[$host]}," \
			"${LAB_BEHAVIOUR[${LAB_ROUTER_OF[$host]}]}): peerlinkctl --json status"
		lab_ctl "$host" --json status 2>&1 || true
		_lab_agent_exit_status "$host"
		echo "=== $host: last lines of $(lab_agent_log "$host")"
		tail -n "${LAB_LOG_LINES:-40}" "$(lab_agent_log "$host")" 2>&1 || true
		echo "=== $host: addresses and the router's connection tracking"
		lab_exec "$host" ip -br addr 2>&1 || true
		if command -v conntrack >/dev/null; then
			lab_exec "${LAB_ROUTER_OF[$host]}" conntrack -L 2>/dev/null | tail -n 20 || true
			if ((LAB_IPV6)); then
				lab_exec "${LAB_ROUTER_OF[$host]}" conntrack -L -f ipv6 2>/dev/null |
					tail -n 20 || true
			fi
		fi
	done
	if [[ -n ${LAB_SERVER_NODE:-} ]]; then
		_lab_daemon_status rendezvous "${LAB_RENDEZVOUS_PID:-}"
		_lab_daemon_status "IPv6 rendezvous" "${LAB_RENDEZVOUS6_PID:-}"
		_lab_daemon_status coturn "${LAB_TURN_PID:-}"
		[[ -z ${LAB_TURN_EXIT:-} ]] ||
			echo "=== coturn was $LAB_TURN_EXIT by lab_server_kill_turn, not started again"
		echo "=== rendezvous: last lines"
		tail -n 20 "$LAB_DIR/$LAB_SERVER_NODE/rendezvous.log" 2>&1 || true
		if ((LAB_IPV6)); then
			echo "=== IPv6 rendezvous: last lines"
			tail -n 20 "$LAB_DIR/$LAB_SERVER_NODE/rendezvous6.log" 2>&1 || true
		fi
		echo "=== coturn: last lines"
		tail -n 20 "$LAB_DIR/$LAB_SERVER_NODE/turnserver.log" 2>&1 || true
	fi
} >&2
