#!/usr/bin/env bash
# The acceptance test of peer sessions through NATs, with real agents, the
# real rendezvous and coturn in the NAT lab (README.md):
#   - two hosts behind two "cone" routers get a direct path (their routers'
#     public addresses on both ends, no relay candidate);
#   - two hosts behind two "symmetric" routers get a relay path (coturn);
# as reported by `peerlinkctl --json ping PEER`:
#   {"peer", "path": "direct"|"relay", "rtt_ms", "setup_ms",
#    "local_candidate": {"type", "address", "port", "transport"},
#    "remote_candidate": {...}}   type: host, srflx, prflx or relay;
# and over each path a 1 MiB random file goes from `peerlinkctl connect PEER
# SERVICE < in` on one host to `peerlinkctl listen SERVICE > out` on the other,
# unchanged (sha256sum). On failure it prints both agents' status and logs.
#
# Exit 0: passed; 1: failed; 77: skipped (not root, or a tool missing).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$here/lab.sh"
lab_require_or_skip sha256sum head timeout

# every peerlinkctl call ends by then (ICE through a relay included)
export LAB_CTL_TIMEOUT=60
TRANSFER_BYTES=$((1024 * 1024))
SERVICE=natlab-file

failures=0
failed_pairs=()

lab_on_failure() {
	lab_diagnose ca cb sa sb
}

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

lab_init
# meson gives 300 s; fail on our own, with diagnostics, well before
lab_set_deadline 240
lab_add_public_server server
lab_add_router rca cone
lab_add_router rcb cone
lab_add_router rsa symmetric
lab_add_router rsb symmetric
lab_add_host ca rca
lab_add_host cb rcb
lab_add_host sa rsa
lab_add_host sb rsb
for host in ca cb sa sb; do
	lab_start_agent "$host"
done
for host in ca cb sa sb; do
	lab_wait_rendezvous "$host" 30 ||
		lab_die "the agent of $host did not connect to the rendezvous"
done

# check_candidate JSON WHICH: WHICH (local_candidate, remote_candidate) is
# well formed; prints its type
check_candidate() {
	local json=$1 which=$2 type address port transport
	type=$(echo "$json" | lab_json "$which.type")
	address=$(echo "$json" | lab_json "$which.address")
	port=$(echo "$json" | lab_json "$which.port")
	transport=$(echo "$json" | lab_json "$which.transport")
	case $type in
	host | srflx | prflx | relay) ;;
	*)
		echo "$which.type is \"$type\", not host, srflx, prflx or relay" >&2
		return 1
		;;
	esac
	if ! python3 -c 'import ipaddress, sys; ipaddress.ip_address(sys.argv[1])' "$address" 2>/dev/null; then
		echo "$which.address \"$address\" is not an IP address" >&2
		return 1
	fi
	if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
		echo "$which.port \"$port\" is not a port" >&2
		return 1
	fi
	if [[ $transport != udp && $transport != tcp && $transport != tcp-active &&
		$transport != tcp-passive && $transport != tcp-so ]]; then
		echo "$which.transport \"$transport\" is not udp or tcp" >&2
		return 1
	fi
	echo "$type"
}

# check_ping FROM TO EXPECTED_PATH: `peerlinkctl --json ping` from FROM to TO
# reports EXPECTED_PATH with a consistent candidate pair.
check_ping() {
	local from=$1 to=$2 expected=$3 peer json status=0 path local_type remote_type
	local remote_address rtt setup
	peer=$(lab_peer_id "$to")
	json=$(lab_ctl "$from" --json ping "$peer" 2>"$LAB_DIR/ping-$from-$to.err") || status=$?
	echo "--- $from -> $to: peerlinkctl --json ping (exit $status)"
	echo "$json"
	if ((status != 0)); then
		# --json puts the error on stdout
		fail "$from -> $to: ping failed (exit $status):" \
			"$(echo "$json" | lab_json error.message 2>/dev/null)" \
			"$(cat "$LAB_DIR/ping-$from-$to.err")"
		return 1
	fi
	path=$(echo "$json" | lab_json path) || {
		fail "$from -> $to: ping did not print JSON"
		return 1
	}
	if [[ $(echo "$json" | lab_json peer) != "$peer" ]]; then
		fail "$from -> $to: \"peer\" is not $peer"
	fi
	if [[ $path != "$expected" ]]; then
		fail "$from -> $to: path is \"$path\", expected \"$expected\""
		return 1
	fi
	local_type=$(check_candidate "$json" local_candidate) ||
		{
			fail "$from -> $to: bad local_candidate"
			return 1
		}
	remote_type=$(check_candidate "$json" remote_candidate) ||
		{
			fail "$from -> $to: bad remote_candidate"
			return 1
		}
	remote_address=$(echo "$json" | lab_json remote_candidate.address)
	rtt=$(echo "$json" | lab_json rtt_ms)
	setup=$(echo "$json" | lab_json setup_ms)
	[[ -n $rtt ]] || fail "$from -> $to: no rtt_ms"
	[[ -n $setup ]] || fail "$from -> $to: no setup_ms"
	case $expected in
	direct)
		if [[ $local_type == relay || $remote_type == relay ]]; then
			fail "$from -> $to: \"direct\" over a relay candidate ($local_type/$remote_type)"
		fi
		# two LANs apart: only the routers' public addresses can meet
		if [[ $remote_address != "${LAB_WAN_IP[${LAB_ROUTER_OF[$to]}]}" ]]; then
			fail "$from -> $to: direct path to $remote_address, not to $to's router" \
				"${LAB_WAN_IP[${LAB_ROUTER_OF[$to]}]}"
		fi
		;;
	relay)
		if [[ $local_type != relay && $remote_type != relay ]]; then
			fail "$from -> $to: \"relay\" without a relay candidate ($local_type/$remote_type)"
		fi
		;;
	esac
	echo "$from -> $to: $path, $local_type -> $remote_type $remote_address, rtt $rtt ms, setup $setup ms"
}

_gone() {
	! _lab_alive "$1"
}

_listener_done() {
	local pid=$1 output=$2
	! _lab_alive "$pid" || [[ $(stat -c %s "$output" 2>/dev/null || echo 0) -ge $TRANSFER_BYTES ]]
}

# check_transfer FROM TO: 1 MiB from FROM (connect) to TO (listen), unchanged.
check_transfer() {
	local from=$1 to=$2 dir peer input output listen_pid status=0 i
	dir=$LAB_DIR/transfer-$from-$to
	mkdir -p "$dir"
	input=$dir/in
	output=$dir/out
	head -c "$TRANSFER_BYTES" /dev/urandom >"$input"
	peer=$(lab_peer_id "$to")

	lab_ctl_spawn "$to" /dev/null "$output" "$dir/listen.err" listen "$SERVICE"
	listen_pid=$LAB_LAST_PID
	# it says so on stderr once the agent has the service
	if ! lab_wait 15 grep -q "listening on $SERVICE" "$dir/listen.err"; then
		echo "(no \"listening on $SERVICE\" from the listener on $to after 15 s:" \
			"$(tail -n 3 "$dir/listen.err"))"
	fi
	# and should the agent be slower than its word, a few bounded tries
	for ((i = 0; i < 10; i++)); do
		lab_deadline_passed && break
		status=0
		lab_ctl "$from" connect "$peer" "$SERVICE" <"$input" >"$dir/connect.out" \
			2>"$dir/connect.err" || status=$?
		if ((status == 0)) || ! grep -qi "unknown-service\|nobody listens" "$dir/connect.err"; then
			break
		fi
		_lab_alive "$listen_pid" || break
		sleep 0.5
	done
	# the listener writes what it got and ends with the stream
	lab_wait 30 _listener_done "$listen_pid" "$output" || true
	lab_wait 5 _gone "$listen_pid" || true
	if _lab_alive "$listen_pid"; then
		echo "(the listener on $to was still running; stopped)"
	fi
	lab_stop_pid "$listen_pid"
	if ((status != 0)); then
		fail "$from -> $to: connect failed (exit $status): $(tail -n 5 "$dir/connect.err")"
		echo "listen on $to said: $(tail -n 5 "$dir/listen.err")"
		return 1
	fi
	if [[ $(sha256sum <"$input") != $(sha256sum <"$output") ]]; then
		fail "$from -> $to: the file arrived changed: $(stat -c %s "$output") of" \
			"$TRANSFER_BYTES bytes; listen said: $(tail -n 5 "$dir/listen.err")"
		return 1
	fi
	echo "$from -> $to: $TRANSFER_BYTES bytes arrived unchanged"
}

run_pair() {
	local from=$1 to=$2 expected=$3 before=$failures
	echo "=== $from (${LAB_BEHAVIOUR[${LAB_ROUTER_OF[$from]}]}) -> $to" \
		"(${LAB_BEHAVIOUR[${LAB_ROUTER_OF[$to]}]}): expecting a $expected path"
	if check_ping "$from" "$to" "$expected"; then
		check_transfer "$from" "$to" || true
	fi
	if ((failures > before)); then
		failed_pairs+=("$from" "$to")
	fi
}

run_pair ca cb direct
run_pair sa sb relay

if ((failures > 0)); then
	echo "=== $failures failure(s); the agents involved:"
	lab_diagnose "${failed_pairs[@]}" 2>&1
	# diagnosed already: lab_down need not do it again
	unset -f lab_on_failure
	exit 1
fi
echo "all sessions as expected"
