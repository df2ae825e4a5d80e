#!/bin/sh
# Socket activation: systemd-socket-activate holds the listening socket and
# starts peerlinkd on the first connection, passing the socket as fd 3
# (LISTEN_FDS/LISTEN_PID), as peerlinkd.socket does in a user session.
#
# Usage: test-socket-activation.sh PEERLINKD PEERLINKCTL
set -eu

if [ $# -ne 2 ]; then
	echo "usage: $0 PEERLINKD PEERLINKCTL" >&2
	exit 2
fi
peerlinkd=$1
peerlinkctl=$2

if ! command -v systemd-socket-activate >/dev/null 2>&1; then
	echo "SKIP: systemd-socket-activate not found (package systemd)"
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/peerlink-sockact.XXXXXX")
pid=

cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		i=0
		while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# a private environment: no session bus, no user configuration
mkdir -m 0700 "$tmp/runtime" "$tmp/config"
export XDG_RUNTIME_DIR="$tmp/runtime"
export XDG_CONFIG_HOME="$tmp/config"
export XDG_STATE_HOME="$tmp/state-home"
unset DBUS_SESSION_BUS_ADDRESS || true

sock="$tmp/agent.sock"
systemd-socket-activate -l "$sock" "$peerlinkd" --state-dir "$tmp/state" &
pid=$!

i=0
while [ ! -S "$sock" ]; do
	kill -0 "$pid" 2>/dev/null || fail "systemd-socket-activate exited early"
	[ "$i" -lt 100 ] || fail "no listening socket at $sock after 10 s"
	sleep 0.1
	i=$((i + 1))
done

# the first connection starts the agent
json=$(timeout 20 "$peerlinkctl" --socket "$sock" --json status) ||
	fail "peerlinkctl --json status failed"
echo "status: $json"
peer_id=$(printf '%s' "$json" | tr -d '\n' |
	sed -n 's/.*"peer_id"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
printf '%s\n' "$peer_id" | grep -Eq '^[A-Z2-7]{7}(-[A-Z2-7]{7}){7}$' ||
	fail "no valid peer_id in the status: '$peer_id'"

# the agent is the activated process and still serves the same identity
kill -0 "$pid" 2>/dev/null || fail "the agent exited after the first request"
id=$(timeout 20 "$peerlinkctl" --socket "$sock" id) || fail "peerlinkctl id failed"
[ "$id" = "$peer_id" ] || fail "peerlinkctl id gave '$id', status gave '$peer_id'"

[ -d "$tmp/state" ] || fail "the agent did not use --state-dir $tmp/state"

echo "PASS: socket-activated agent $peer_id"
