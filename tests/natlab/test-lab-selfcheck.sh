#!/usr/bin/env bash
# Checks the NAT lab itself, without peerlink sessions: that every router
# behaves as its behaviour says (mapping and filtering, seen from a reflector
# on the public server and by coturn's RFC 5780 discovery), that coturn
# allocates relays over UDP and TCP with the rendezvous' credentials scheme,
# that the rendezvous answers from behind every NAT, that agents behind
# different NATs all connect to it, and that lab_down leaves nothing behind.
#
# Exit 0: every check passed; 1: a check failed; 77: skipped (not root, or
# ip, nft, turnserver, python3 or curl missing).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$here/lab.sh"
lab_require_or_skip python3

failures=0
checks=0

check() {
	local description=$1
	shift
	checks=$((checks + 1))
	if lab_deadline_passed; then
		echo "not ok $checks - $description # the test's deadline passed"
		failures=$((failures + 1))
	elif "$@"; then
		echo "ok $checks - $description"
	else
		echo "not ok $checks - $description"
		failures=$((failures + 1))
	fi
}

lab_on_failure() {
	lab_diagnose hc hs
}

echo_py=("python3" "$here/lab-echo.py")
server=$LAB_SERVER_IP
alt=$LAB_SERVER_ALT_IP
echo_a=${LAB_ECHO_PORTS[0]}
echo_b=${LAB_ECHO_PORTS[1]}

lab_init
# meson gives 300 s; fail on our own, with diagnostics, well before
lab_set_deadline 240
lab_add_public_server server
# one router of each behaviour, one host behind each
declare -A router_of=([hc]=rc [hf]=rf [hs]=rs [hu]=ru [hn]=rn)
lab_add_router rc cone
lab_add_router rf full-cone
lab_add_router rs symmetric
lab_add_router ru udp-blocked
lab_add_router rn none
for host in hc hf hs hu hn; do
	lab_add_host "$host" "${router_of[$host]}"
done
lab_add_host hc2 rc # a second host behind the cone router
lab_add_router rc2 cone
lab_add_host hd rc2 # a host behind a second cone
lab_add_router rs2 symmetric
lab_add_host ht rs2 # a host behind a second symmetric router
have_upnp=0
if command -v miniupnpd >/dev/null && command -v upnpc >/dev/null; then
	have_upnp=1
	lab_add_router rp cone
	lab_add_host hp rp
	lab_router_upnp rp
fi

# --- the namespaces themselves ---------------------------------------------
lo_up_everywhere() {
	local node
	for node in "${!LAB_NS[@]}"; do
		ip -n "${LAB_NS[$node]}" link show lo | grep -q "UP" || return 1
	done
}
check "loopback is up in every namespace" lo_up_everywhere

lan_reaches_lan() {
	lab_exec hc ping -c 1 -W 2 "${LAB_IP[hc2]}" >/dev/null
}
if command -v ping >/dev/null; then
	check "two hosts behind one router reach each other on their LAN" lan_reaches_lan
fi

private_lan_unreachable() {
	# no route to another router's private LAN: the lab is honest
	! lab_exec hs ping -c 1 -W 1 "${LAB_IP[hc]}" >/dev/null 2>&1
}
public_lan_reachable() {
	lab_exec hs ping -c 1 -W 2 "${LAB_IP[hn]}" >/dev/null
}
if command -v ping >/dev/null; then
	check "a private LAN is not reachable from outside it" private_lan_unreachable
	check "a public host behind 'none' is reachable from behind a NAT" public_lan_reachable
fi

# --- mapping: one local port, three destinations -----------------------------
# "DEST seen ADDR PORT" lines from the reflector, in $mapped
probe_mapping() {
	local host=$1
	mapped=$(lab_exec "$host" "${echo_py[@]}" udp --local-port 40000 \
		"$server:$echo_a" "$server:$echo_b" "$alt:$echo_a" 2>&1) || true
	echo "# $host (${LAB_BEHAVIOUR[${router_of[$host]}]}): $(echo "$mapped" | tr '\n' ';')"
}

# every destination saw ADDRESS and, if given, PORT
seen_all_from() {
	local address=$1 port=${2:-} ports
	[[ $(echo "$mapped" | grep -c " seen ") == 3 ]] || return 1
	[[ -z $(echo "$mapped" | awk -v a="$address" '$2 == "seen" && $3 != a') ]] || return 1
	ports=$(echo "$mapped" | awk '$2 == "seen" {print $4}' | sort -u)
	if [[ -n $port ]]; then
		[[ $ports == "$port" ]]
	else
		[[ $(echo "$ports" | wc -l) == 1 ]]
	fi
}

seen_three_ports() {
	[[ $(echo "$mapped" | awk '$2 == "seen" {print $4}' | sort -u | wc -l) == 3 ]]
}

none_seen() {
	[[ $(echo "$mapped" | grep -c " timeout") == 3 ]]
}

probe_mapping hc
check "cone: endpoint-independent mapping, port 40000 kept" \
	seen_all_from "${LAB_WAN_IP[rc]}" 40000
probe_mapping hf
check "full-cone: endpoint-independent mapping, port 40000 kept" \
	seen_all_from "${LAB_WAN_IP[rf]}" 40000
probe_mapping hs
check "symmetric: a new port for every destination" seen_three_ports
symmetric_address() {
	[[ -z $(echo "$mapped" | awk -v a="${LAB_WAN_IP[rs]}" '$2 == "seen" && $3 != a') ]] &&
		[[ $(echo "$mapped" | grep -c " seen ") == 3 ]]
}
check "symmetric: every destination sees the router's address" symmetric_address
probe_mapping hn
check "none: the host's own address and port" seen_all_from "${LAB_IP[hn]}" 40000
probe_mapping hu
check "udp-blocked: no UDP gets out" none_seen

# --- filtering: an answer from another port of the same server --------------
# did the answer from the other port get in? (yes or no)
other_port_gets_in() {
	local host=$1 expected=$2 out
	out=$(lab_exec "$host" "${echo_py[@]}" udp --local-port 40001 --other "$server:$echo_a" 2>&1) ||
		true
	echo "# $host filtering: $(echo "$out" | tr '\n' ';')"
	[[ $(echo "$out" | awk '$2 == "other" {print $3}') == "$expected" ]]
}
check "cone: filters by address and port" other_port_gets_in hc no
check "full-cone: lets in UDP from anyone" other_port_gets_in hf yes
check "symmetric: filters by address and port" other_port_gets_in hs no
check "none: no filter" other_port_gets_in hn yes

# --- hole punching, as ICE does it, without peerlink ---------------------
# A starts first (its datagrams reach B's router unasked), B half a second
# later; both must hear the other, from the peer router's port 42000
punch_pair() {
	local a=$1 b=$2 status_a=0 status_b=0 wan_a wan_b
	wan_a=${LAB_WAN_IP[${LAB_ROUTER_OF[$a]}]}
	wan_b=${LAB_WAN_IP[${LAB_ROUTER_OF[$b]}]}
	lab_spawn "$a" "$LAB_DIR/punch-$a.log" "${echo_py[@]}" punch --local-port 42000 "$wan_b:42000"
	local pid_a=$LAB_LAST_PID
	sleep 0.5
	lab_spawn "$b" "$LAB_DIR/punch-$b.log" "${echo_py[@]}" punch --local-port 42000 "$wan_a:42000"
	wait "$LAB_LAST_PID" || status_b=$?
	wait "$pid_a" || status_a=$?
	echo "# punch $a: $(cat "$LAB_DIR/punch-$a.log"); $b: $(cat "$LAB_DIR/punch-$b.log")"
	((status_a == 0 && status_b == 0)) &&
		grep -qx "from $wan_b 42000" "$LAB_DIR/punch-$a.log" &&
		grep -qx "from $wan_a 42000" "$LAB_DIR/punch-$b.log"
}
punch_fails() {
	! punch_pair "$@"
}
check "cone <-> cone: UDP hole punching works" punch_pair hc hd
check "symmetric <-> symmetric: UDP hole punching fails" punch_fails hs ht

# --- TCP leaves every router ---------------------------------------------------
tcp_seen_from() {
	local host=$1 address=$2 out
	out=$(lab_exec "$host" "${echo_py[@]}" tcp "$server:$echo_a" 2>&1) || return 1
	echo "# $host tcp: $out"
	[[ $(echo "$out" | awk '{print $3}') == "$address" ]]
}
for host in hc hf hs hu hn; do
	router=${router_of[$host]}
	expected=${LAB_WAN_IP[$router]}
	[[ ${LAB_BEHAVIOUR[$router]} != none ]] || expected=${LAB_IP[$host]}
	check "${LAB_BEHAVIOUR[$router]}: TCP gets out as $expected" tcp_seen_from "$host" "$expected"
done

# --- coturn's own verdict (RFC 5780 behaviour discovery) ----------------------
natdiscovery_says() {
	local host=$1 mapping=$2 filtering=$3 out
	out=$(lab_exec "$host" timeout --foreground 20 turnutils_natdiscovery -m -f "$server" 2>&1) || true
	echo "# $host natdiscovery: $(echo "$out" | grep '^NAT with' | tr '\n' ' ')"
	echo "$out" | grep -q "NAT with $mapping Mapping" &&
		echo "$out" | grep -q "NAT with $filtering Filtering"
}
if command -v turnutils_natdiscovery >/dev/null; then
	check "natdiscovery: cone is EIM, address-and-port-dependent filtering" \
		natdiscovery_says hc "Endpoint Independent" "Address and Port Dependent"
	check "natdiscovery: full-cone is EIM, endpoint-independent filtering" \
		natdiscovery_says hf "Endpoint Independent" "Endpoint Independent"
	check "natdiscovery: symmetric is address-and-port-dependent mapping" \
		natdiscovery_says hs "Address and Port Dependent" "Address and Port Dependent"
fi

# --- coturn relays, with credentials in the rendezvous' scheme -------------
read -r turn_user turn_password < <(lab_turn_credentials natlab-selfcheck)
# allocates a relay and sends a message through it and back
turn_allocates() {
	local host=$1 seconds=$2 out
	shift 2
	out=$(lab_exec "$host" timeout --foreground "$seconds" turnutils_uclient "$@" -u "$turn_user" \
		-w "$turn_password" -n 1 -m 1 -y -e "$server" "$server" 2>&1) || return 1
	echo "$out" | grep -q "Total lost packets 0 "
}
turn_fails() {
	! turn_allocates "$@"
}
if command -v turnutils_uclient >/dev/null; then
	check "coturn: relay over UDP from behind cone" turn_allocates hc 20
	check "coturn: relay over UDP from behind symmetric" turn_allocates hs 20
	check "coturn: relay over TCP from behind symmetric" turn_allocates hs 20 -t
	check "coturn: relay over TCP from behind udp-blocked" turn_allocates hu 20 -t
	check "coturn: no relay over UDP from behind udp-blocked" turn_fails hu 8
fi

# --- UPnP: a port mapping lets in what the cone filters -------------------------
# unasked datagrams from the server to the router's PORT reach the host's PORT?
unasked_gets_in() {
	local host=$1 port=$2 out status=0
	lab_spawn "$host" "$LAB_DIR/recv-$port.log" "${echo_py[@]}" recv --local-port "$port" \
		--timeout 3
	sleep 0.3
	lab_exec server "${echo_py[@]}" send "${LAB_WAN_IP[${LAB_ROUTER_OF[$host]}]}:$port" unasked
	wait "$LAB_LAST_PID" || status=$?
	out=$(cat "$LAB_DIR/recv-$port.log")
	echo "# $host port $port: $out"
	((status == 0))
}
unasked_blocked() {
	! unasked_gets_in "$@"
}
upnp_maps() {
	lab_exec hp timeout --foreground 20 upnpc -u "$(lab_upnp_url rp)" -e natlab -a "${LAB_IP[hp]}" 41000 \
		41000 UDP | grep -q "is redirected to internal ${LAB_IP[hp]}:41000"
}
if ((have_upnp)); then
	check "upnp: without a mapping the cone router drops unasked UDP" unasked_blocked hp 41000
	check "upnp: upnpc maps a port on the router's miniupnpd" upnp_maps
	check "upnp: the mapping lets unasked UDP in" unasked_gets_in hp 41000
fi

# --- the rendezvous from behind every NAT, and agents connected to it -------
for host in hc hf hs hu hn; do
	lab_start_agent "$host"
done
rendezvous_health() {
	[[ $(lab_exec "$1" curl -sf --max-time 5 "$LAB_RENDEZVOUS_URL/v1/health" | lab_json status) == ok ]]
}
# a challenge for the host's own peer ID, bound to the URL the agents use
rendezvous_challenge() {
	local host=$1 answer
	answer=$(lab_exec "$host" curl -sf --max-time 5 -H 'Content-Type: application/json' \
		-d "{\"peer_id\":\"$(lab_peer_id "$host")\"}" "$LAB_RENDEZVOUS_URL/v1/auth/challenge")
	[[ $(echo "$answer" | lab_json audience) == "$server:$LAB_RENDEZVOUS_PORT" &&
		-n $(echo "$answer" | lab_json challenge) ]]
}
for host in hc hf hs hu hn; do
	behaviour=${LAB_BEHAVIOUR[${router_of[$host]}]}
	check "$behaviour: rendezvous health answers" rendezvous_health "$host"
	check "$behaviour: rendezvous hands out a challenge" rendezvous_challenge "$host"
	check "$behaviour: the agent is connected to the rendezvous" lab_wait_rendezvous "$host" 30
done

# --- teardown ----------------------------------------------------------------------
pids=("${LAB_PIDS[@]}")
prefix=$LAB_PREFIX
if ((failures > 0)); then
	lab_diagnose hc hs
fi
lab_down "$failures"
nothing_left() {
	local pid
	! ip netns list | awk '{print $1}' | grep -q "^$prefix-" || return 1
	for pid in "${pids[@]}"; do
		! _lab_alive "$pid" || return 1
	done
}
check "lab_down removes every namespace and process" nothing_left

echo "1..$checks"
echo "$((checks - failures)) passed, $failures failed"
((failures == 0))
