#!/usr/bin/env bash
# The traversal matrix: which path two agents get for every pair of kinds of
# network they can sit behind, both directions, with real agents, the real
# rendezvous, coturn and miniupnpd in the NAT lab (README.md).
#
# Kinds (one host of each behind its own router, two for pairs of a kind):
#   cone         masquerade: endpoint-independent mapping (EIM), address and
#                port dependent filtering (APDF): the "port-restricted cone"
#   full-cone    EIM, endpoint-independent filtering (EIF)
#   symmetric    address-and-port-dependent mapping (APDM), APDF
#   udp-blocked  no UDP leaves the LAN: only TURN over TCP works
#   none         a public host, no NAT, no filter
#   upnp         a cone router with miniupnpd, the agent with upnp=true: its
#                port mapping is EIF for the mapped port
#   lan          two hosts behind ONE cone router: a host↔host path
#   ipv6         two IPv6-only hosts, each behind a router that is a stateful
#                IPv6 firewall (no NAT, APDF), meeting through the IPv6
#                rendezvous and coturn (lab_enable_ipv6)
#
# For every row `peerlinkctl --json ping` from one host to the other reports
# the path ("ping"), then 256 KiB go through `peerlinkctl connect` / `listen`
# (sha256 checked) on a session that is held open until 2.5 s after it began,
# when `peerlinkctl --json sessions` gives the path ICE settled on
# ("settled"): both must be the expected one, and nothing may fail. Each host's
# agent is started once and serves every row it is in. At the end the matrix
# is printed as a table; any row that differs fails the test.
#
# Exit 0: passed; 1: failed; 77: skipped (not root, or a tool missing).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$here/lab.sh"
lab_require_or_skip sha256sum head timeout conntrack miniupnpd

export LAB_CTL_TIMEOUT=60
TRANSFER_BYTES=$((256 * 1024))
SETTLE_MS=2500
started=$SECONDS

# --- expectations ---------------------------------------------------------
# RFC 4787 reasoning with what the lab's routers really do. A direct path
# needs, for some pair of candidates, that each side's packets reach the
# other: the receiving side's filter must admit the sender's mapping towards
# it. An APDF NAT admits only the address:port it has itself sent to, so it
# needs the other side's mapping to be predictable (EIM: the srflx candidate
# it learned from STUN is the one used towards everyone).
declare -A EXPECT=() EXPECT_SETUP=()
expect() {
	EXPECT["$1|$2"]=$3
	EXPECT["$2|$1"]=$3
}
# expect_setup KIND KIND PATHS: the paths "ping" (the path at setup) may
# report when it may differ from the one ICE settles on, as "a|b"
expect_setup() {
	EXPECT_SETUP["$1|$2"]=$3
	EXPECT_SETUP["$2|$1"]=$3
}
# both EIM: each side's check to the other's srflx opens its own filter for
# the other's srflx (hole punching)
expect cone cone direct
# EIF on one side admits the cone's checks from its EIM srflx
expect cone full-cone direct
# APDM gives the symmetric side a new port towards the cone; the cone's APDF
# filter only admits the symmetric side's srflx port it sent to, and the
# symmetric side's filter only the cone's port it sent to from that new
# port: port-restricted cone vs symmetric is the classic failure (it would
# work against an address-restricted cone, which the lab does not build)
expect cone symmetric relay
# no UDP from the udp-blocked side at all: its only candidate is a TURN relay
# allocated over TCP
expect cone udp-blocked relay
# no NAT, no filter on the public side: the cone's check from its srflx
# reaches the public host, whose answer matches the cone's mapping
expect cone none direct
# the upnp side is a cone too (hole punching), and its mapped port is EIF
expect cone upnp direct
expect full-cone full-cone direct
# EIF admits the symmetric side's checks from any new port; the full-cone's
# answers come from the port the symmetric side sent to
expect full-cone symmetric direct
expect full-cone udp-blocked relay
expect full-cone none direct
expect full-cone upnp direct
# APDM on both sides: neither srflx is the port used towards the other, and
# both filters drop what they did not send to: only TURN
expect symmetric symmetric relay
expect symmetric udp-blocked relay
# no filter on the public side; its answers go to the port the symmetric
# side's check came from, which its mapping admits
expect symmetric none direct
# the UPnP mapping forwards whatever reaches the mapped port (EIF): the
# symmetric side's checks from any port get in, the answers match. But the
# agent asks for the mapping when its ICE generation starts, and the router
# makes it 100-200 ms later (SSDP search, description, AddPortMapping), after
# a relayed pair already carries the stream: the symmetric side's first check
# to the mapped port is dropped and its retransmission 500 ms later gets in.
# So the stream starts relayed ("ping" may say relay) and moves to the
# direct pair as soon as that works ("settled" must say direct).
expect symmetric upnp direct
expect_setup symmetric upnp "relay|direct"
expect udp-blocked udp-blocked relay
expect udp-blocked none relay
expect udp-blocked upnp relay
expect none none direct
expect none upnp direct
# Every direct pair with a UPnP side races its mapping the same way (seen in
# the NAT lab for cone, full-cone and upnp peers, about one run in three):
# the stream may start on the relay and must settle on the direct pair.
for kind in cone full-cone none; do
	expect_setup "$kind" upnp "relay|direct"
done
# mapped port on both sides (and cones anyway); the same race, on both sides
expect upnp upnp direct
expect_setup upnp upnp "relay|direct"
# one LAN: host candidates reach each other on the bridge, the router is
# never involved (the lab's routers do not hairpin: srflx↔srflx would fail)
expect lan lan direct
# public IPv6 addresses, no translation; each firewall admits the other's
# host candidate once it has sent to it (hole punching through APDF)
expect ipv6 ipv6 direct

KINDS=(cone full-cone symmetric udp-blocked none upnp)
declare -A FIRST=([cone]=c1 [full-cone]=f1 [symmetric]=s1 [udp-blocked]=u1 [none]=n1 [upnp]=p1
	[lan]=l1 [ipv6]=v6a)
declare -A SECOND=([cone]=c2 [full-cone]=f2 [symmetric]=s2 [udp-blocked]=u2 [none]=n2 [upnp]=p2
	[lan]=l2 [ipv6]=v6b)
declare -A KIND_OF=()
for kind in "${!FIRST[@]}"; do
	KIND_OF[${FIRST[$kind]}]=$kind
	KIND_OF[${SECOND[$kind]}]=$kind
done
HOSTS=(c1 c2 f1 f2 s1 s2 u1 u2 n1 n2 p1 p2 l1 l2 v6a v6b)

# --- the lab --------------------------------------------------------------
failed_hosts=()
lab_on_failure() {
	local hosts
	read -r -a hosts <<<"$(printf '%s\n' "${failed_hosts[@]:-c1}" | sort -u | tr '\n' ' ')"
	LAB_LOG_LINES=25 lab_diagnose "${hosts[@]}"
}

lab_init
# meson gives 600 s: fail on our own, with diagnostics, well before
lab_set_deadline 560
lab_enable_ipv6
lab_add_public_server server
lab_add_router rc1 cone
lab_add_router rc2 cone
lab_add_router rf1 full-cone
lab_add_router rf2 full-cone
lab_add_router rs1 symmetric
lab_add_router rs2 symmetric
lab_add_router ru1 udp-blocked
lab_add_router ru2 udp-blocked
lab_add_router rn1 none
lab_add_router rn2 none
lab_add_router rp1 cone
lab_add_router rp2 cone
lab_add_router rl cone
lab_router_upnp rp1
lab_router_upnp rp2
lab_add_host c1 rc1
lab_add_host c2 rc2
lab_add_host v6a rc1 ipv6
lab_add_host v6b rc2 ipv6
lab_add_host f1 rf1
lab_add_host f2 rf2
lab_add_host s1 rs1
lab_add_host s2 rs2
lab_add_host u1 ru1
lab_add_host u2 ru2
lab_add_host n1 rn1
lab_add_host n2 rn2
lab_add_host p1 rp1
lab_add_host p2 rp2
lab_add_host l1 rl
lab_add_host l2 rl
for host in "${HOSTS[@]}"; do
	if [[ ${KIND_OF[$host]} == upnp ]]; then
		lab_start_agent "$host" upnp=true
	else
		lab_start_agent "$host"
	fi
done
for host in "${HOSTS[@]}"; do
	lab_wait_rendezvous "$host" 30 ||
		lab_die "the agent of $host did not connect to the rendezvous"
done
declare -A PEER=()
for host in "${HOSTS[@]}"; do
	PEER[$host]=$(lab_peer_id "$host")
done
lab_log "lab ready after $((SECONDS - started)) s"

# --- one row --------------------------------------------------------------
rows=()      # "from to" in order
declare -A R_EXPECT=() R_PING=() R_SETTLED=() R_TYPES=() R_STYPES=() R_SETUP=() R_XFER=() R_NOTE=()
declare -A R_OK=()
failures=0

# ping_fields JSON: "path ltype laddr lport ltransport rtype raddr rport setup_ms"
ping_fields() {
	python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except ValueError:
    print("- - - - - - - - -"); sys.exit(0)
l, r = d.get("local_candidate") or {}, d.get("remote_candidate") or {}
fields = [d.get("path"), l.get("type"), l.get("address"), l.get("port"), l.get("transport"),
          r.get("type"), r.get("address"), r.get("port"), d.get("setup_ms")]
print(" ".join("-" if f is None else str(f) for f in fields))
'
}

# session_fields HOST SERVICE: "path ltype rtype restarts" of HOST's session of SERVICE
session_fields() {
	lab_ctl "$1" --json sessions 2>/dev/null | python3 -c '
import json, sys
try:
    sessions = json.load(sys.stdin)["sessions"]
except (ValueError, KeyError):
    sessions = []
for s in sessions:
    if s.get("service") == sys.argv[1]:
        l, r = s.get("local_candidate") or {}, s.get("remote_candidate") or {}
        print(s.get("path") or "-", l.get("type", "-"), r.get("type", "-"), s.get("restarts"))
        break
else:
    print("- - - -")
' "$2"
}

_size_at_least() {
	[[ $(stat -c %s "$1" 2>/dev/null || echo 0) -ge $2 ]]
}

_gone() {
	! _lab_alive "$1"
}

# evidence that HOST (udp-blocked) reached TURN over TCP during this row
# (coturn's log from line FROM_LINE on): coturn says a TCP client connected
# from the router's address, and the router tracks a TCP connection from HOST
# to the TURN port (its UDP never leaves: the router drops it, which the
# self-check shows). The JSON cannot show it: a relay candidate's transport
# is that of the relayed side, UDP. Prints what is missing.
_coturn_saw_tcp_from() {
	tail -n "+$1" "$LAB_DIR/$LAB_SERVER_NODE/turnserver.log" |
		grep -q "tcp or tls connected to: $2:"
}

turn_over_tcp() {
	local host=$1 from_line=$2 router
	router=${LAB_ROUTER_OF[$host]}
	if ! lab_wait 2 _coturn_saw_tcp_from "$from_line" "${LAB_WAN_IP[$router]}"; then
		echo "no TCP client from ${LAB_WAN_IP[$router]} in coturn's log since the row began"
		return 1
	fi
	if ! lab_exec "$router" conntrack -L -p tcp --dport "$LAB_TURN_PORT" 2>/dev/null |
		grep -q "src=${LAB_IP[$host]} "; then
		echo "$router tracks no TCP from ${LAB_IP[$host]} to port $LAB_TURN_PORT"
		return 1
	fi
}

# did HOST's router map PORT by UPnP (miniupnpd's log)?
upnp_mapped() {
	grep -q "AddPortMapping: ext port $2 to ${LAB_IP[$1]}:" \
		"$LAB_DIR/${LAB_ROUTER_OF[$1]}/miniupnpd.log" 2>/dev/null
}

run_row() {
	local from=$1 to=$2 kf kt expected key json status=0
	local path ltype laddr lport ltrans rtype raddr rport setup note="" ok=1 turn_log_line why
	kf=${KIND_OF[$from]}
	kt=${KIND_OF[$to]}
	expected=${EXPECT["$kf|$kt"]}
	key="$from $to"
	rows+=("$key")
	R_EXPECT[$key]=$expected
	echo "=== $from ($kf) -> $to ($kt): expecting $expected"
	turn_log_line=$(($(wc -l <"$LAB_DIR/$LAB_SERVER_NODE/turnserver.log") + 1))

	json=$(lab_ctl "$from" --json ping "${PEER[$to]}" 2>"$LAB_DIR/ping-$from-$to.err") || status=$?
	echo "$json" >"$LAB_DIR/ping-$from-$to.json"
	read -r path ltype laddr lport ltrans rtype raddr rport setup < <(echo "$json" | ping_fields)
	R_PING[$key]=$path
	R_TYPES[$key]="$ltype/$ltrans->$rtype"
	R_SETUP[$key]=$setup
	if ((status != 0)); then
		note+="ping failed (exit $status: $(echo "$json" | lab_json error.message 2>/dev/null)); "
		ok=0
	else
		echo "ping: $path, $ltype $laddr:$lport ($ltrans) → $rtype $raddr:$rport, setup $setup ms;" \
			"$(echo "$json" | lab_json candidates.explanation)"
		if [[ -n ${EXPECT_SETUP["$kf|$kt"]:-} ]]; then
			[[ "|${EXPECT_SETUP["$kf|$kt"]}|" == *"|$path|"* ]] || {
				note+="ping path $path; "
				ok=0
			}
			[[ $path == "$expected" ]] || note+="relayed at setup; "
		elif [[ $path != "$expected" ]]; then
			note+="ping path $path; "
			ok=0
		fi
		case $path in
		direct) [[ $ltype != relay && $rtype != relay ]] || {
			note+="direct over a relay candidate; "
			ok=0
		} ;;
		relay) [[ $ltype == relay || $rtype == relay ]] || {
			note+="relay without a relay candidate; "
			ok=0
		} ;;
		esac
		# the udp-blocked side can only have its relay candidate
		if [[ $kf == udp-blocked && $ltype != relay ]] || [[ $kt == udp-blocked && $rtype != relay ]]; then
			note+="udp-blocked side not on its relay candidate; "
			ok=0
		fi
		case $kf in
		lan) [[ $ltype == host && $rtype == host && $raddr == "${LAB_IP[$to]}" ]] || {
			note+="not host↔host on the LAN; "
			ok=0
		} ;;
		ipv6) [[ $raddr == "${LAB_IP6[$to]}" ]] || {
			note+="not to $to's IPv6 address; "
			ok=0
		} ;;
		esac
		if [[ $kt == upnp && $raddr == "${LAB_WAN_IP[${LAB_ROUTER_OF[$to]}]}" ]] &&
			upnp_mapped "$to" "$rport"; then
			note+="$to's port $rport UPnP-mapped; "
		fi
		if [[ $kf == upnp && $laddr == "${LAB_WAN_IP[${LAB_ROUTER_OF[$from]}]}" ]] &&
			upnp_mapped "$from" "$lport"; then
			note+="$from's port $lport UPnP-mapped; "
		fi
	fi
	for host in "$from" "$to"; do
		if [[ ${KIND_OF[$host]} == udp-blocked ]]; then
			if why=$(turn_over_tcp "$host" "$turn_log_line"); then
				note+="$host: TURN over TCP; "
			else
				note+="$host: no TURN-over-TCP evidence ($why); "
				ok=0
			fi
		fi
	done

	transfer_row "$from" "$to" || ok=0
	if [[ ${R_SETTLED[$key]} != "$expected" ]]; then
		note+="settled path ${R_SETTLED[$key]}; "
		ok=0
	fi
	if [[ ${R_SETTLED[$key]} != "${R_PING[$key]}" ]]; then
		note+="settled on ${R_STYPES[$key]:-?}; "
	fi
	R_NOTE[$key]=$note
	R_OK[$key]=$ok
	if ((ok == 0)); then
		failures=$((failures + 1))
		failed_hosts+=("$from" "$to")
		echo "FAIL: $from -> $to: $note"
	fi
}

# transfer_row FROM TO: 256 KiB through a session held open SETTLE_MS after it
# began; sets R_SETTLED and R_XFER
transfer_row() {
	local from=$1 to=$2 key="$1 $2" dir service listen_pid connect_pid start_ns
	local settled lt rt restarts elapsed_ms
	dir=$LAB_DIR/xfer-$from-$to
	service=mx-$from-$to
	mkdir -p "$dir"
	head -c "$TRANSFER_BYTES" /dev/urandom >"$dir/in"
	mkfifo "$dir/fifo"
	R_SETTLED[$key]=-
	R_XFER[$key]=failed

	lab_ctl_spawn "$to" /dev/null "$dir/out" "$dir/listen.err" listen "$service"
	listen_pid=$LAB_LAST_PID
	lab_wait 15 grep -qs "listening on $service" "$dir/listen.err" || true
	start_ns=$(date +%s%N)
	lab_spawn "$from" "$dir/pace.log" python3 "$here/lab-pace.py" --hold "$dir/release" \
		--max-wait 60 "$dir/in" "$dir/fifo"
	lab_ctl_spawn "$from" "$dir/fifo" "$dir/connect.out" "$dir/connect.err" connect \
		"${PEER[$to]}" "$service"
	connect_pid=$LAB_LAST_PID
	if lab_wait 30 _size_at_least "$dir/out" "$TRANSFER_BYTES"; then
		elapsed_ms=$((($(date +%s%N) - start_ns) / 1000000))
		if ((elapsed_ms < SETTLE_MS)); then
			sleep "$(printf '%d.%03d' $(((SETTLE_MS - elapsed_ms) / 1000)) \
				$(((SETTLE_MS - elapsed_ms) % 1000)))"
		fi
		read -r settled lt rt restarts < <(session_fields "$from" "$service")
		R_SETTLED[$key]=$settled
		R_STYPES[$key]="$lt->$rt"
		echo "settled: $settled, $lt → $rt, restarts $restarts"
	fi
	touch "$dir/release"
	lab_wait 15 _gone "$listen_pid" || true
	lab_wait 5 _gone "$connect_pid" || true
	lab_stop_pid "$listen_pid"
	lab_stop_pid "$connect_pid"
	if [[ -s $dir/out && $(sha256sum <"$dir/in") == $(sha256sum <"$dir/out") ]]; then
		R_XFER[$key]=ok
		echo "transfer: $TRANSFER_BYTES bytes arrived unchanged"
		return 0
	fi
	echo "transfer: FAILED, $(stat -c %s "$dir/out" 2>/dev/null || echo 0) of $TRANSFER_BYTES bytes;" \
		"connect: $(tail -n 2 "$dir/connect.err" | tr '\n' ' ') listen: $(tail -n 2 "$dir/listen.err" | tr '\n' ' ')"
	return 1
}

# --- the matrix -----------------------------------------------------------
matrix_started=$SECONDS
for ((i = 0; i < ${#KINDS[@]}; i++)); do
	for ((j = i; j < ${#KINDS[@]}; j++)); do
		a=${KINDS[i]} b=${KINDS[j]}
		if [[ $a == "$b" ]]; then
			run_row "${FIRST[$a]}" "${SECOND[$a]}"
			run_row "${SECOND[$a]}" "${FIRST[$a]}"
		else
			run_row "${FIRST[$a]}" "${FIRST[$b]}"
			run_row "${FIRST[$b]}" "${FIRST[$a]}"
		fi
		lab_deadline_passed && lab_die "out of time after ${#rows[@]} rows"
	done
done
for kind in lan ipv6; do
	run_row "${FIRST[$kind]}" "${SECOND[$kind]}"
	run_row "${SECOND[$kind]}" "${FIRST[$kind]}"
done

# --- UPnP mappings are released -------------------------------------------
# every session of the matrix has ended: the mappings the agents asked the
# UPnP routers for must be gone (libnice removes them when the ICE agent of a
# session closes), not left open on the router
_upnp_mappings_gone() {
	local router
	for router in rp1 rp2; do
		# miniupnpd's forwards: "iif wan0 … th dport PORT dnat ip to HOST:PORT"
		if lab_exec "$router" nft list ruleset | grep -q "th dport .* dnat"; then
			return 1
		fi
	done
}
echo "=== UPnP mappings once every session ended"
if lab_wait 15 _upnp_mappings_gone; then
	echo "released: no port mapping left on rp1 or rp2"
	grep -h "DeletePortMapping\|removing\|remove" "$LAB_DIR"/rp[12]/miniupnpd.log 2>/dev/null | tail -4 || true
else
	failures=$((failures + 1))
	echo "FAIL: port mappings left 15 s after the last session ended:"
	for router in rp1 rp2; do
		lab_exec "$router" nft list ruleset | grep "th dport .* dnat"
	done
fi

# --- the table ------------------------------------------------------------
echo
echo "=== the traversal matrix (${#rows[@]} rows in $((SECONDS - matrix_started)) s," \
	"$((SECONDS - started)) s in all)"
printf '%-27s %-8s %-8s %-8s %-26s %9s %-6s %s\n' pair expected ping settled \
	"candidates local->remote" "setup ms" bytes notes
for key in "${rows[@]}"; do
	read -r from to <<<"$key"
	printf '%-27s %-8s %-8s %-8s %-26s %9s %-6s %s%s\n' \
		"$from (${KIND_OF[$from]}) -> $to" "${R_EXPECT[$key]}" "${R_PING[$key]}" \
		"${R_SETTLED[$key]}" "${R_TYPES[$key]}" "${R_SETUP[$key]}" "${R_XFER[$key]}" \
		"$( ((R_OK[$key])) && echo "" || echo "FAIL: ")" "${R_NOTE[$key]}"
done
if ((failures > 0)); then
	echo "=== $failures of ${#rows[@]} rows differ from the expectation"
	exit 1
fi
echo "all ${#rows[@]} rows as expected"
