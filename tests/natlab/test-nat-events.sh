#!/usr/bin/env bash
# What happens to a running session when the network under it changes, with
# real agents, the real rendezvous and coturn in the NAT lab (README.md). Each
# event has a host of its own behind a cone router of its own, streaming to
# one listener (b, behind another cone), so that one event cannot spoil the
# next:
#
#   (a) expiry    the router forgets idle UDP mappings after 10 s (per
#                 namespace nf_conntrack_udp_timeout and _stream); a session
#                 idle for 35 s must still carry data without an ICE restart:
#                 consent checks and keepalives hold the binding. Checked: the
#                 router's conntrack entry of the path is the same one (same
#                 id) before and after, no DESTROY event for it, restarts 0;
#                 and, as a control, a plain UDP flow's entry does expire.
#   (b) reboot    the router goes dark for 2 s, forgets every mapping, and comes
#                 back with another public address (lab_router_reboot), while
#                 a paced transfer runs: the session must restart ICE (restarts
#                 >= 1 on both sides, the new address in the local candidate),
#                 the stream must move again within RESUME_BOUND s of the
#                 restart, and the data arrive unchanged.
#   (c) renumber  the host gets a new LAN address, its default route moves to
#                 it and the old one goes (lab_host_renumber), mid-transfer: the
#                 agent (rtnetlink) restarts ICE and the session survives, as
#                 in (b).
#   (d) loss      the router drops 0, 5 and 20 % of what it forwards, each way
#                 (nftables numgen): 4 MiB must arrive unchanged, within
#                 LOSS_BOUND s; the throughput of each is printed, not judged.
#   (e) relay-lost coturn is killed (SIGKILL) under a paced transfer between two
#                 hosts behind symmetric NATs of their own (arelay → brelay,
#                 only a relay joins them, checked): ICE restarts, finds no
#                 path without the relay, and within LOST_BOUND s both
#                 `peerlinkctl connect` and `listen` exit non-zero with the
#                 reason ("lost the path to the peer ...") as their last line;
#                 both agents still run, answer, have no session left and no
#                 GLib warning in their logs. Then coturn starts again and a
#                 new relayed session between the same agents carries 512 KiB
#                 unchanged within RECOVER_BOUND s. Alongside, when miniupnpd
#                 is there, a transfer from arelay to pupnp (behind UPnP),
#                 which starts relayed and moves to a direct pair, must carry
#                 on through the kill without a restart.
#
# They run in the order (a), (d), (b), (c), (e): renumbering after the others,
# as it replaces the agent's rendezvous connection under the service (see
# below); the relay's death last, as it concerns every session.
#
# Transfers are `peerlinkctl connect` fed by lab-pace.py through a FIFO (a
# rate-limited or paused writer that keeps the session open until the test
# has looked at it) into `peerlinkctl listen`, sha256-checked. Every wait is
# bounded; on failure the agents' status and logs are printed.
#
# NATLAB_EVENTS chooses the events to run, by name, separated by spaces or
# commas (e.g. NATLAB_EVENTS=renumber); unset or empty: all of them. Only the
# hosts and routers of the chosen events are built.
#
# Exit 0: passed; 1: failed; 77: skipped (not root, or a tool missing).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$here/lab.sh"
lab_require_or_skip sha256sum head timeout conntrack sysctl

export LAB_CTL_TIMEOUT=60
UDP_TIMEOUT=10      # s, the router's UDP conntrack timeouts in (a)
IDLE=35             # s of silence in (a): 3.5 timeouts
STREAM_BYTES=$((2 * 1024 * 1024))
STREAM_RATE=131072  # B/s: a 16 s transfer, the event 4 s into it
RESTART_BOUND=30    # s from the event to restarts >= 1 and established
RESUME_BOUND=20     # s from the restart to data moving again
STREAM_BOUND=120    # s from the event to the last byte
LOSS_BYTES=$((4 * 1024 * 1024))
LOSS_BOUND=120      # s per lossy transfer
LOST_BOUND=60       # s from coturn's death to both ends of the relayed session gone
RECOVER_BOUND=30    # s from coturn's restart to a new relayed session's last byte
started=$SECONDS

ALL_EVENTS=(expiry loss reboot renumber relay-lost)
events_text=${NATLAB_EVENTS:-}
read -r -a EVENTS <<<"${events_text//,/ }"
((${#EVENTS[@]} > 0)) || EVENTS=("${ALL_EVENTS[@]}")
for event in "${EVENTS[@]}"; do
	[[ " ${ALL_EVENTS[*]} " == *" $event "* ]] ||
		{ echo "NATLAB_EVENTS: unknown event \"$event\" (known: ${ALL_EVENTS[*]})" >&2; exit 1; }
done

# wanted EVENT: EVENT is one of those to run
wanted() {
	[[ " ${EVENTS[*]} " == *" $1 "* ]]
}

failures=0
involved=(b)
results=()

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

result() {
	results+=("$*")
	echo "result: $*"
}

lab_on_failure() {
	local hosts
	read -r -a hosts <<<"$(printf '%s\n' "${involved[@]}" | sort -u | tr '\n' ' ')"
	LAB_LOG_LINES=40 lab_diagnose "${hosts[@]}"
}

now() {
	echo "$EPOCHREALTIME"
}

since() {
	python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.1f}")' "$1" "$(now)"
}

size_of() {
	stat -c %s "$1" 2>/dev/null || echo 0
}

_size_at_least() {
	[[ $(size_of "$1") -ge $2 ]]
}

_gone() {
	! _lab_alive "$1"
}

# session_info HOST SERVICE: "state restarts path laddr lport raddr rport" of
# HOST's session of SERVICE (the selected pair), or "none"
session_info() {
	lab_ctl "$1" --json sessions 2>/dev/null | python3 -c '
import json, sys
try:
    sessions = json.load(sys.stdin)["sessions"]
except (ValueError, KeyError):
    sessions = []
for s in sessions:
    if s.get("service") == sys.argv[1]:
        l, r = s.get("local_candidate") or {}, s.get("remote_candidate") or {}
        print(s["state"], s["restarts"], s.get("path") or "-", l.get("address", "-"),
              l.get("port", "-"), r.get("address", "-"), r.get("port", "-"))
        break
else:
    print("none")
' "$2"
}

# the rendezvous and coturn still run: without them no event can be judged
server_alive() {
	lab_server_alive && return 0
	fail "$1: the public server lost a daemon: $(lab_diagnose 2>&1 | grep -E '^=== .* (gone|killed|exited)' | tr '\n' ' ')"
	return 1
}

# --- the lab --------------------------------------------------------------
lab_init
# meson gives 600 s: fail on our own, with diagnostics, well before
lab_set_deadline 570
lab_add_public_server server
lab_add_router rb cone
lab_add_host b rb
hosts=(b)
# event host router
for spec in "expiry aexp rexp" "loss aloss rloss" "reboot aboot rboot" "renumber anum rnum"; do
	read -r event host router <<<"$spec"
	wanted "$event" || continue
	lab_add_router "$router" cone
	lab_add_host "$host" "$router"
	hosts+=("$host")
done
# (e): only a relay joins two symmetric NATs (natlab-matrix); symmetric to
# UPnP starts relayed and moves to a direct pair once the mapping is made
# (README.md, "The traversal matrix")
declare -A agent_options=()
with_upnp=0
if wanted relay-lost; then
	for host in arelay brelay; do
		lab_add_router "r$host" symmetric
		lab_add_host "$host" "r$host"
		hosts+=("$host")
	done
	if command -v miniupnpd >/dev/null; then
		with_upnp=1
		lab_add_router rpupnp cone
		lab_router_upnp rpupnp
		lab_add_host pupnp rpupnp
		hosts+=(pupnp)
		agent_options[pupnp]=upnp=true
	fi
fi
lab_log "events: ${EVENTS[*]}"
for host in "${hosts[@]}"; do
	# shellcheck disable=SC2086 # none or one KEY=VALUE
	lab_start_agent "$host" ${agent_options[$host]:-}
done
for host in "${hosts[@]}"; do
	lab_wait_rendezvous "$host" 30 ||
		lab_die "the agent of $host did not connect to the rendezvous"
done
PEER_B=$(lab_peer_id b)
lab_log "lab ready after $((SECONDS - started)) s"

# stream_start NAME FROM [lab-pace.py options...]: a listener on b (or on
# STREAM_TO, whose peer ID is STREAM_TO_PEER) for service NAME (output
# LAB_DIR/NAME/out), a writer of LAB_DIR/NAME/in into a FIFO, `peerlinkctl
# connect` from FROM reading it; the writer holds the session open until
# LAB_DIR/NAME/release exists
stream_start() {
	local name=$1 from=$2 dir to=${STREAM_TO:-b} peer=${STREAM_TO_PEER:-$PEER_B}
	shift 2
	dir=$LAB_DIR/$name
	mkdir -p "$dir"
	[[ -f $dir/in ]] || head -c "$STREAM_BYTES" /dev/urandom >"$dir/in"
	mkfifo "$dir/fifo"
	# both ends live as long as the stream may (lab_ctl_spawn's own limit)
	LAB_CTL_TIMEOUT=300 lab_ctl_spawn "$to" /dev/null "$dir/out" "$dir/listen.err" listen "$name"
	STREAM_LISTEN_PID=$LAB_LAST_PID
	lab_wait 15 grep -qs "listening on $name" "$dir/listen.err" || true
	lab_spawn "$from" "$dir/pace.log" python3 "$here/lab-pace.py" --hold "$dir/release" \
		--max-wait 200 "$@" "$dir/in" "$dir/fifo"
	STREAM_PACE_PID=$LAB_LAST_PID
	LAB_CTL_TIMEOUT=300 lab_ctl_spawn "$from" "$dir/fifo" "$dir/connect.out" \
		"$dir/connect.err" connect --timeout 60 "$peer" "$name"
	STREAM_CONNECT_PID=$LAB_LAST_PID
}

# stream_finish NAME [quiet]: releases the writer, waits (bounded) for both
# ends, checks the data (unless quiet: a failure told already); 0 if it
# arrived unchanged
stream_finish() {
	local name=$1 dir=$LAB_DIR/$1
	touch "$dir/release"
	lab_wait 20 _gone "$STREAM_LISTEN_PID" || true
	lab_wait 5 _gone "$STREAM_CONNECT_PID" || true
	lab_stop_pid "$STREAM_LISTEN_PID"
	lab_stop_pid "$STREAM_CONNECT_PID"
	[[ ${2:-} != quiet ]] || return 1
	if [[ $(sha256sum <"$dir/in") == $(sha256sum <"$dir/out") ]]; then
		echo "$name: $(size_of "$dir/in") bytes arrived unchanged"
		return 0
	fi
	fail "$name: the data did not arrive unchanged: $(size_of "$dir/out") of" \
		"$(size_of "$dir/in") bytes; connect: $(tail -n 2 "$dir/connect.err" | tr '\n' ' ')" \
		"listen: $(tail -n 2 "$dir/listen.err" | tr '\n' ' ')"
	return 1
}

# --- (a) NAT binding expiry -----------------------------------------------
event_expiry() {
	local name=expiry dir=$LAB_DIR/expiry host_before host_after value other info
	local state restarts path laddr lport raddr rport entry_before entry_after t0
	echo "=== (a) expiry: $IDLE s idle behind a router that forgets UDP after $UDP_TIMEOUT s"
	involved+=(aexp)
	server_alive "$name" || return 0
	host_before=$(sysctl -n net.netfilter.nf_conntrack_udp_timeout \
		net.netfilter.nf_conntrack_udp_timeout_stream | tr '\n' ' ')
	lab_router_udp_timeout rexp "$UDP_TIMEOUT"
	value=$(lab_exec rexp sysctl -n net.netfilter.nf_conntrack_udp_timeout \
		net.netfilter.nf_conntrack_udp_timeout_stream | tr '\n' ' ')
	other=$(lab_exec rb sysctl -n net.netfilter.nf_conntrack_udp_timeout | tr '\n' ' ')
	host_after=$(sysctl -n net.netfilter.nf_conntrack_udp_timeout \
		net.netfilter.nf_conntrack_udp_timeout_stream | tr '\n' ' ')
	echo "udp timeouts: rexp $value; rb $other; this host's namespace $host_before→ $host_after"
	[[ $value == "$UDP_TIMEOUT $UDP_TIMEOUT " ]] || fail "expiry: rexp's timeouts are $value"
	[[ $host_before == "$host_after" ]] ||
		fail "expiry: the sysctl is not per namespace: the host's changed to $host_after"

	mkdir -p "$dir"
	head -c $((256 * 1024)) /dev/urandom >"$dir/in"
	stream_start "$name" aexp --pause-at "$((128 * 1024)):$dir/resume"
	if ! lab_wait 30 _size_at_least "$dir/out" $((128 * 1024)); then
		fail "expiry: the first 128 KiB did not arrive"
		stream_finish "$name" || true
		return
	fi
	read -r state restarts path laddr lport raddr rport < <(session_info aexp "$name")
	echo "before: $state, restarts $restarts, $path $laddr:$lport → $raddr:$rport"
	entry_before=$(mapping_entry rexp "$lport" "$raddr" "$rport")
	echo "rexp's conntrack entry of the path: $entry_before"
	lab_spawn rexp "$dir/conntrack-events.log" conntrack -E -e DESTROY -p udp -o id
	# the control: a plain UDP exchange with the reflector, then silence
	lab_exec aexp python3 "$here/lab-echo.py" udp --local-port 41999 \
		"$LAB_SERVER_IP:${LAB_ECHO_PORTS[0]}" >/dev/null
	local control_before
	control_before=$(lab_exec rexp conntrack -L -p udp --orig-port-src 41999 2>/dev/null | wc -l)
	t0=$(now)
	sleep "$IDLE"
	read -r state restarts path laddr lport raddr rport < <(session_info aexp "$name")
	entry_after=$(mapping_entry rexp "$lport" "$raddr" "$rport")
	local control_after
	control_after=$(lab_exec rexp conntrack -L -p udp --orig-port-src 41999 2>/dev/null | wc -l)
	echo "after $(since "$t0") s idle: $state, restarts $restarts, $path $laddr:$lport → $raddr:$rport;" \
		"its conntrack entry: $entry_after"
	echo "control flow (port 41999): $control_before entry before, $control_after after"
	touch "$dir/resume"
	lab_wait 30 _size_at_least "$dir/out" $((256 * 1024)) || true
	read -r state restarts path laddr lport raddr rport < <(session_info aexp "$name")
	local b_restarts
	b_restarts=$(session_info b "$name" | awk '{print $2}')
	stream_finish "$name" || true
	((control_before == 1 && control_after == 0)) ||
		fail "expiry: the control flow's mapping did not expire ($control_before → $control_after)"
	[[ -n $entry_before && $entry_before == "$entry_after" ]] ||
		fail "expiry: the path's mapping changed: \"$entry_before\" → \"$entry_after\""
	if grep -q "src=$raddr dst=${LAB_WAN_IP[rexp]} sport=$rport dport=$lport " \
		"$dir/conntrack-events.log"; then
		fail "expiry: the router destroyed the path's mapping: $(grep "sport=$rport dport=$lport " \
			"$dir/conntrack-events.log" | head -n 2)"
	fi
	[[ $restarts == 0 && $b_restarts == 0 ]] ||
		fail "expiry: ICE restarted (restarts: aexp $restarts, b $b_restarts)"
	result "(a) expiry: $IDLE s idle at a $UDP_TIMEOUT s UDP timeout: restarts aexp $restarts," \
		"b $b_restarts; mapping kept: $([[ $entry_before == "$entry_after" ]] && echo yes || echo no);" \
		"control flow expired: $([[ $control_after == 0 ]] && echo yes || echo no)"
}

# mapping_entry ROUTER PORT RADDR RPORT: "id=N" of ROUTER's UDP entry of the
# flow from RADDR:RPORT to its public PORT (the path's mapping), or nothing
mapping_entry() {
	lab_exec "$1" conntrack -L -p udp -o id 2>/dev/null | python3 -c '
import re, sys
port, raddr, rport = sys.argv[1:4]
for line in sys.stdin:
    tuples = re.findall(r"src=(\S+) dst=\S+ sport=(\d+) dport=(\d+)", line)
    ident = re.search(r"id=(\d+)", line)
    if len(tuples) == 2 and tuples[1] == (raddr, rport, port) and ident:
        print(f"id={ident.group(1)}")
        break
' "$2" "$3" "$4"
}

# --- (b), (c): a change under a running transfer ---------------------------
# event_under_stream NAME HOST WHAT COMMAND...: a paced transfer from HOST to
# b; 4 s into it COMMAND changes the network; then it must restart ICE and
# carry on
event_under_stream() {
	local name=$1 host=$2 what=$3 dir=$LAB_DIR/$1 t_event base info
	shift 3
	local state restarts path laddr lport raddr rport
	local t_restart="" t_resume="" t_done="" old_address
	echo "=== $what"
	involved+=("$host")
	server_alive "$name" || return 0
	stream_start "$name" "$host" --rate "$STREAM_RATE"
	if ! lab_wait 30 _size_at_least "$dir/out" $((256 * 1024)); then
		fail "$name: the transfer did not start"
		stream_finish "$name" || true
		return
	fi
	sleep 2
	read -r state restarts path laddr lport raddr rport < <(session_info "$host" "$name")
	old_address=$laddr
	echo "before: $state, restarts $restarts, $path from $laddr:$lport"
	base=$(size_of "$dir/out")
	t_event=$(now)
	"$@"
	echo "event done after $(since "$t_event") s; $base bytes had arrived"
	while ! lab_deadline_passed; do
		local elapsed
		elapsed=$(since "$t_event")
		read -r state restarts path laddr lport raddr rport < <(session_info "$host" "$name")
		if [[ -z $t_restart && $state == established && $restarts =~ ^[0-9]+$ ]] &&
			((restarts >= 1)); then
			t_restart=$elapsed
			echo "+$elapsed s: restarted ($restarts), $path from $laddr:$lport"
		fi
		if [[ -n $t_restart && -z $t_resume ]] &&
			(($(size_of "$dir/out") >= base + 128 * 1024)); then
			t_resume=$elapsed
			echo "+$elapsed s: the stream moves again ($(size_of "$dir/out") bytes)"
		fi
		if (($(size_of "$dir/out") >= STREAM_BYTES)); then
			t_done=$elapsed
			echo "+$elapsed s: all $STREAM_BYTES bytes arrived"
			break
		fi
		if [[ $state == none ]] && _gone "$STREAM_CONNECT_PID"; then
			echo "+$elapsed s: the session is gone:" \
				"$(tail -n 1 "$dir/connect.err" 2>/dev/null)"
			break
		fi
		if python3 -c 'import sys; sys.exit(float(sys.argv[1]) < float(sys.argv[2]))' \
			"$elapsed" "$STREAM_BOUND"; then
			echo "+$elapsed s: giving up: $(size_of "$dir/out") of $STREAM_BYTES bytes"
			break
		fi
		sleep 0.5
	done
	read -r state restarts path laddr lport raddr rport < <(session_info "$host" "$name")
	local b_restarts
	b_restarts=$(session_info b "$name" | awk '{print $2}')
	echo "after: $state, restarts $host $restarts, b $b_restarts, $path from $laddr:$lport"
	stream_finish "$name" || true
	if [[ -z $t_restart ]]; then
		fail "$name: no ICE restart brought the session back"
	elif python3 -c 'import sys; sys.exit(float(sys.argv[1]) <= float(sys.argv[2]))' \
		"$t_restart" "$RESTART_BOUND"; then
		fail "$name: the restart took $t_restart s (bound $RESTART_BOUND s)"
	fi
	if [[ -n $t_restart ]]; then
		if [[ -z $t_resume ]]; then
			fail "$name: the stream never moved again after the restart"
		elif python3 -c 'import sys; sys.exit(float(sys.argv[1]) - float(sys.argv[2]) <= float(sys.argv[3]))' \
			"$t_resume" "$t_restart" "$RESUME_BOUND"; then
			fail "$name: the stream stood still for $(python3 -c 'import sys; print(f"{float(sys.argv[1]) - float(sys.argv[2]):.1f}")' \
				"$t_resume" "$t_restart") s after the restart (bound $RESUME_BOUND s)"
		fi
	fi
	[[ $state == none || $laddr != "$old_address" || $name == renumber ]] ||
		fail "$name: the local candidate is still $laddr"
	result "$what: restarted +${t_restart:-never} s, moving again +${t_resume:-never} s," \
		"done +${t_done:-never} s after the event; restarts $host ${restarts:-?}, b ${b_restarts:-?}"
}

# --- (d) loss ---------------------------------------------------------------
# all of it arrived, or the connecting side gave up
_loss_over() {
	_size_at_least "$1" "$LOSS_BYTES" || _gone "$STREAM_CONNECT_PID"
}

event_loss() {
	local percent=$1 name=loss$1 dir=$LAB_DIR/loss$1 t0 seconds rate bytes
	echo "=== (d) loss: $percent % each way on aloss's router, $LOSS_BYTES bytes"
	involved+=(aloss)
	mkdir -p "$dir"
	head -c "$LOSS_BYTES" /dev/urandom >"$dir/in"
	server_alive "$name" || return 0
	lab_router_loss rloss "$percent"
	t0=$(now)
	stream_start "$name" aloss
	lab_wait "$LOSS_BOUND" _loss_over "$dir/out" || true
	seconds=$(since "$t0")
	bytes=$(size_of "$dir/out")
	rate=$(python3 -c 'import sys; print(f"{int(sys.argv[1]) / float(sys.argv[2]) / 1024:.0f}")' \
		"$bytes" "$seconds")
	local info
	info=$(session_info aloss "$name")
	echo "$percent % loss: $bytes of $LOSS_BYTES bytes in $seconds s: $rate KiB/s;" \
		"dropped $(lab_router_loss_dropped rloss || echo 0) packets; session: $info"
	lab_router_loss rloss 0
	if ((bytes < LOSS_BYTES)); then
		fail "$name: only $bytes of $LOSS_BYTES bytes after $seconds s (bound $LOSS_BOUND s);" \
			"connect: $(tail -n 1 "$dir/connect.err" | tr '\n' ' ')"
		stream_finish "$name" quiet || true
	else
		stream_finish "$name" || true
	fi
	result "(d) loss $percent %: $bytes of $LOSS_BYTES bytes in $seconds s ($rate KiB/s)"
}

# --- (e) coturn killed under a relayed session -----------------------------
# end_status PID: the exit status of that child, reaped, in END_STATUS;
# "running" if it still ran (then it is stopped)
end_status() {
	END_STATUS=0
	if _gone "$1"; then
		wait "$1" 2>/dev/null || END_STATUS=$?
	else
		END_STATUS=running
		lab_stop_pid "$1"
	fi
}

_both_ends_gone() {
	_gone "$STREAM_CONNECT_PID" && _gone "$STREAM_LISTEN_PID"
}

# seconds_over A B: A > B (floats)
seconds_over() {
	python3 -c 'import sys; sys.exit(float(sys.argv[1]) <= float(sys.argv[2]))' "$1" "$2"
}

# agent_healthy HOST WHAT SERVICE: its daemon runs, answers, has no session of
# SERVICE left, and its log has no GLib warning or critical
agent_healthy() {
	local host=$1 what=$2 service=$3 lines
	if ! _lab_alive "${LAB_AGENT_PID[$host]}"; then
		fail "$what: the agent of $host is gone"
		return
	fi
	lab_ctl "$host" status >/dev/null 2>&1 || fail "$what: the agent of $host does not answer"
	[[ $(session_info "$host" "$service") == none ]] ||
		fail "$what: $host still has a session of $service: $(session_info "$host" "$service")"
	lines=$(grep -E -- '-(WARNING|CRITICAL) \*\*' "$(lab_agent_log "$host")" | head -n 3 || true)
	[[ -z $lines ]] || fail "$what: GLib warnings in the log of $host: $lines"
}

# relay_lost_variant_start: (e)'s variant, a transfer from arelay (symmetric)
# to pupnp (UPnP) that may start relayed and settles on a direct pair;
# VARIANT_* keep its processes while (e) runs its own stream
relay_lost_variant_start() {
	local name=relaydirect state restarts path laddr lport raddr rport log_from pairs
	((with_upnp)) || return 0
	involved+=(pupnp)
	log_from=$(($(wc -l <"$(lab_agent_log arelay)") + 1))
	STREAM_TO=pupnp STREAM_TO_PEER=$(lab_peer_id pupnp) stream_start "$name" arelay \
		--rate "$STREAM_RATE"
	VARIANT_LISTEN_PID=$STREAM_LISTEN_PID VARIANT_CONNECT_PID=$STREAM_CONNECT_PID
	VARIANT_PACE_PID=$STREAM_PACE_PID
	lab_wait 30 _size_at_least "$LAB_DIR/$name/out" $((128 * 1024)) || true
	# settled: the direct pair works within 2.5 s (natlab-matrix)
	sleep 2.5
	read -r state restarts path laddr lport raddr rport < <(session_info arelay "$name")
	# arelay has no other session yet: its pairs are this one's
	pairs=$(tail -n "+$log_from" "$(lab_agent_log arelay)" |
		sed -n 's/.*ICE generation 0: selected pair //p' | paste -sd ',' - | sed 's/,/, then /g')
	echo "variant arelay → pupnp (UPnP): pairs ${pairs:-?}; settled: $state, $path" \
		"$laddr:$lport → $raddr:$rport"
	[[ $path == direct ]] ||
		fail "relay-lost variant: arelay → pupnp is on \"$path\", not direct, before the kill"
}

# relay_lost_variant_check T_KILL: the variant's transfer went on without
# the relay and arrived unchanged
relay_lost_variant_check() {
	local name=relaydirect dir=$LAB_DIR/relaydirect state restarts path laddr lport raddr rport
	local t_done="" verdict
	if ((!with_upnp)); then
		result "(e) relay-lost variant (symmetric → UPnP): skipped, miniupnpd is not installed"
		return 0
	fi
	if lab_wait 40 _size_at_least "$dir/out" "$STREAM_BYTES"; then
		t_done=$(since "$1")
	fi
	read -r state restarts path laddr lport raddr rport < <(session_info arelay "$name")
	echo "variant after the kill: $state, restarts $restarts, $path $laddr:$lport → $raddr:$rport;" \
		"all arrived +${t_done:-never} s after the kill"
	STREAM_LISTEN_PID=$VARIANT_LISTEN_PID STREAM_CONNECT_PID=$VARIANT_CONNECT_PID
	if [[ -z $t_done ]]; then
		fail "relay-lost variant: $(size_of "$dir/out") of $STREAM_BYTES bytes without the relay;" \
			"connect: $(tail -n 1 "$dir/connect.err")"
		stream_finish "$name" quiet || true
		verdict="broke"
	elif stream_finish "$name"; then
		verdict="carried on"
	else
		verdict="arrived changed"
	fi
	lab_stop_pid "$VARIANT_PACE_PID"
	[[ $restarts == 0 ]] || fail "relay-lost variant: ICE restarted ($restarts) on a direct path"
	result "(e) relay-lost variant, arelay (symmetric) → pupnp (UPnP), direct since +2.5 s:" \
		"$verdict without the relay, restarts ${restarts:-?}, all $STREAM_BYTES bytes" \
		"+${t_done:-never} s after the kill"
}

event_relay_lost() {
	local name=relaylost dir=$LAB_DIR/relaylost STREAM_TO=brelay STREAM_TO_PEER
	local state restarts path laddr lport raddr rport b_path t_kill elapsed base
	local t_restart="" b_restart="" t_connect="" t_listen="" connect_status listen_status
	local connect_reason listen_reason end t status reason gathered
	echo "=== (e) relay-lost: coturn killed (SIGKILL) under a relayed transfer, arelay → brelay," \
		"both behind symmetric NATs"
	involved+=(arelay brelay)
	server_alive relay-lost || return 0
	relay_lost_variant_start
	STREAM_TO_PEER=$(lab_peer_id brelay)
	stream_start "$name" arelay --rate "$STREAM_RATE"
	if ! lab_wait 30 _size_at_least "$dir/out" $((256 * 1024)); then
		fail "relay-lost: the relayed transfer did not start"
		stream_finish "$name" quiet || true
		return
	fi
	read -r state restarts path laddr lport raddr rport < <(session_info arelay "$name")
	b_path=$(session_info brelay "$name" | awk '{print $3}')
	echo "before: $state, $path $laddr:$lport → $raddr:$rport; brelay: $b_path"
	[[ $path == relay && $b_path == relay ]] ||
		fail "relay-lost: the path is \"$path\" (brelay \"$b_path\"), not relay"
	base=$(size_of "$dir/out")
	t_kill=$(now)
	lab_server_kill_turn KILL
	echo "coturn killed; $base bytes had arrived"
	while ! lab_deadline_passed; do
		elapsed=$(since "$t_kill")
		if [[ -z $t_restart ]] && _lab_alive "$STREAM_CONNECT_PID"; then
			read -r state restarts path laddr lport raddr rport < <(session_info arelay "$name")
			if [[ $state == restarting ]]; then
				t_restart=$elapsed
				echo "+$elapsed s: arelay restarts ICE"
			fi
		fi
		if [[ -z $b_restart ]] && _lab_alive "$STREAM_LISTEN_PID" &&
			[[ $(session_info brelay "$name" | awk '{print $1}') == restarting ]]; then
			b_restart=$elapsed
			echo "+$elapsed s: brelay restarts ICE"
		fi
		if [[ -z $t_connect ]] && _gone "$STREAM_CONNECT_PID"; then
			t_connect=$elapsed
			echo "+$elapsed s: connect ended: $(tail -n 1 "$dir/connect.err")"
		fi
		if [[ -z $t_listen ]] && _gone "$STREAM_LISTEN_PID"; then
			t_listen=$elapsed
			echo "+$elapsed s: listen ended: $(tail -n 1 "$dir/listen.err")"
		fi
		[[ -z $t_connect || -z $t_listen ]] || break
		if seconds_over "$elapsed" $((LOST_BOUND + 15)); then
			echo "+$elapsed s: giving up waiting for the session to end"
			break
		fi
		sleep 0.25
	done
	touch "$dir/release"
	lab_stop_pid "$STREAM_PACE_PID"
	# one still running hangs (a failure, below)
	end_status "$STREAM_CONNECT_PID"
	connect_status=$END_STATUS
	end_status "$STREAM_LISTEN_PID"
	listen_status=$END_STATUS
	connect_reason=$(tail -n 1 "$dir/connect.err")
	listen_reason=$(tail -n 1 "$dir/listen.err")
	echo "connect: status $connect_status, stderr: $connect_reason"
	echo "listen: status $listen_status, stderr: $listen_reason"
	# only this session restarts: generation 1 is its restart
	gathered=$(sed -n 's/.*(generation 1, \([0-9]*\) candidates.*/\1/p' \
		"$(lab_agent_log arelay)" | awk '{ n += $1 } END { print n + 0 }')
	echo "arrived: $(size_of "$dir/out") of $STREAM_BYTES bytes; arelay's restart offered" \
		"$gathered candidate(s) (host only: coturn was its STUN server too)"
	for end in connect listen; do
		if [[ $end == connect ]]; then
			t=$t_connect status=$connect_status reason=$connect_reason
		else
			t=$t_listen status=$listen_status reason=$listen_reason
		fi
		if [[ -z $t ]]; then
			fail "relay-lost: $end still ran $LOST_BOUND s after coturn died"
		elif seconds_over "$t" "$LOST_BOUND"; then
			fail "relay-lost: $end ended $t s after coturn died (bound $LOST_BOUND s)"
		fi
		if [[ $status == 0 ]]; then
			fail "relay-lost: $end exited 0 although the stream broke"
		fi
		# one line that says what happened, not a timeout of ours nor a bare reset
		if [[ $reason != *"lost the path to the peer"* ]]; then
			fail "relay-lost: $end's reason is not the lost path: \"$reason\""
		fi
	done
	agent_healthy arelay relay-lost "$name"
	agent_healthy brelay relay-lost "$name"
	result "(e) relay-lost: after the kill ICE restarts +${t_restart:-never} s (arelay)," \
		"+${b_restart:-never} s (brelay); connect ends +${t_connect:-never} s (status" \
		"$connect_status), listen +${t_listen:-never} s (status $listen_status): $connect_reason"
	relay_lost_variant_check "$t_kill"

	# coturn back: a new session between the same agents, relayed again
	local again=relayagain t_start t_up t_done=""
	t_start=$(now)
	lab_server_start_turn
	t_up=$(since "$t_start")
	echo "coturn answers again after $t_up s"
	mkdir -p "$LAB_DIR/$again"
	head -c $((512 * 1024)) /dev/urandom >"$LAB_DIR/$again/in"
	stream_start "$again" arelay
	if lab_wait "$RECOVER_BOUND" _size_at_least "$LAB_DIR/$again/out" $((512 * 1024)); then
		t_done=$(since "$t_start")
	fi
	read -r state restarts path laddr lport raddr rport < <(session_info arelay "$again")
	b_path=$(session_info brelay "$again" | awk '{print $3}')
	echo "new session: $state, $path $laddr:$lport → $raddr:$rport; brelay: $b_path;" \
		"all arrived +${t_done:-never} s after coturn's restart"
	if [[ -z $t_done ]]; then
		fail "relay-lost: a new session after coturn's restart did not carry 512 KiB within" \
			"$RECOVER_BOUND s; connect: $(tail -n 1 "$LAB_DIR/$again/connect.err")"
		stream_finish "$again" quiet || true
	else
		[[ $path == relay && $b_path == relay ]] ||
			fail "relay-lost: the new session's path is \"$path\" (brelay \"$b_path\"), not relay"
		stream_finish "$again" || true
	fi
	result "(e) relay-lost, recovery: coturn up again in $t_up s, a new relayed session" \
		"(${path:-?}) carried 512 KiB unchanged +${t_done:-never} s after coturn's restart"
}

# renumbering last: the agent drops its rendezvous connection, dead with its
# address, and signs in again at once (pl_rendezvous_client_network_changed);
# the service replaces the old connection and sweeps it later as silent, which
# once ended in a libsoup CRITICAL (rendezvous/pl-rendezvous-server.c)
if wanted expiry; then
	event_expiry
fi
if wanted loss; then
	for percent in 0 5 20; do
		event_loss "$percent"
	done
fi
if wanted reboot; then
	event_under_stream reboot aboot \
		"(b) reboot: aboot's router dark for 2 s, then a new public address" \
		lab_router_reboot rboot 2
fi
if wanted renumber; then
	event_under_stream renumber anum \
		"(c) renumber: anum moves to a new LAN address mid-transfer" \
		lab_host_renumber anum
fi
# last: it takes the relay away from everyone for a while
if wanted relay-lost; then
	event_relay_lost
fi
server_alive "the end" || true

echo
echo "=== results ($((SECONDS - started)) s in all)"
printf '%s\n' "${results[@]}"
if ((failures > 0)); then
	echo "=== $failures failure(s)"
	exit 1
fi
echo "every event as expected"
