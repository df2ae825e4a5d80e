#!/bin/sh
# Every endpoint of peerlink-rendezvous through real curl, with bad input of
# many kinds: each gets the documented status and JSON error, and the service
# still answers /v1/health afterwards. TAP output.
#
# Usage: test-rendezvous-curl.sh PEERLINK_RENDEZVOUS
set -u

if [ $# -ne 1 ]; then
	echo "usage: $0 PEERLINK_RENDEZVOUS" >&2
	exit 2
fi
binary=$1

if ! command -v curl >/dev/null 2>&1; then
	echo "1..0 # SKIP curl is not installed"
	exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/peerlink-rendezvous-curl.XXXXXX")
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

"$binary" --listen 127.0.0.1:0 --max-message-size 1024 >"$tmp/log" 2>&1 &
pid=$!
base=
i=0
while [ -z "$base" ] && [ "$i" -lt 100 ]; do
	base=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$tmp/log" | head -n 1)
	[ -n "$base" ] || sleep 0.05
	i=$((i + 1))
done
if [ -z "$base" ]; then
	echo "Bail out! the service did not start"
	sed 's/^/# /' "$tmp/log"
	exit 1
fi

fds_at_start=$(ls "/proc/$pid/fd" | wc -l)
n=0
failed=0
ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}
not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
}

# check DESCRIPTION STATUS CODE CURL-ARGS...: status, JSON error code, then health
check() {
	description=$1
	want_status=$2
	want_code=$3
	shift 3
	status=$(curl -s -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' --max-time 10 "$@")
	body=$(cat "$tmp/body")
	if [ "$status" != "$want_status" ]; then
		not_ok "$description: status $status, not $want_status: $body"
	elif [ -n "$want_code" ] && ! grep -q "\"code\":\"$want_code\"" "$tmp/body"; then
		not_ok "$description: body $body has no code $want_code"
	elif [ -n "$want_code" ] && ! grep -qi '^content-type: application/json' "$tmp/headers"; then
		not_ok "$description: not application/json"
	else
		ok "$description → $status $want_code"
	fi
	health=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$base/v1/health")
	if [ "$health" != 200 ]; then
		not_ok "health after: $description ($health)"
	fi
}

# check_header DESCRIPTION HEADER-REGEX: on the last response
check_header() {
	if grep -qi "$2" "$tmp/headers"; then
		ok "$1"
	else
		not_ok "$1: no header matching $2"
	fi
}

json='Content-Type: application/json'
peer=UHURKYC-U4BH2ZC-M25HZHK-EZM3QD2-LW6E5IW-CVU5B77-DOBUSTN-AP2OCX5
token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA

# health and metrics
check "GET /v1/health" 200 "" "$base/v1/health"
if grep -q '"status":"ok"' "$tmp/body" && grep -q '"backend":"memory"' "$tmp/body"; then
	ok "health body: $(cat "$tmp/body")"
else
	not_ok "health body: $(cat "$tmp/body")"
fi
check "GET /metrics" 200 "" "$base/metrics"
check_header "metrics are Prometheus text" '^content-type: text/plain; version=0.0.4'
if grep -q '^peerlink_rendezvous_peers_online 0$' "$tmp/body" &&
	grep -q '^peerlink_rendezvous_messages_relayed_total 0$' "$tmp/body" &&
	grep -q '^peerlink_rendezvous_auth_total{result="ok"} 0$' "$tmp/body"; then
	ok "metrics body"
else
	not_ok "metrics body: $(cat "$tmp/body")"
fi

# POST /v1/auth/challenge
check "challenge" 200 "" -X POST -H "$json" -d "{\"peer_id\":\"$peer\"}" "$base/v1/auth/challenge"
if grep -q '"expires_in":30' "$tmp/body" && grep -q "\"audience\":\"${base#http://}\"" "$tmp/body"; then
	ok "challenge body: audience is the Host"
else
	not_ok "challenge body: $(cat "$tmp/body")"
fi
check "challenge: lower case, no dashes" 200 "" -X POST -H "$json" \
	-d '{"peer_id":"uhurkycu4bh2zcm25hzhkezm3qd2lw6e5iwcvu5b77dobustnap2ocx5"}' "$base/v1/auth/challenge"
check "challenge: malformed JSON" 400 bad-request -X POST -H "$json" -d '{"peer_id":' "$base/v1/auth/challenge"
check "challenge: not an object" 400 bad-request -X POST -H "$json" -d '"x"' "$base/v1/auth/challenge"
check "challenge: empty body" 400 bad-request -X POST -H "$json" "$base/v1/auth/challenge"
check "challenge: null" 400 bad-request -X POST -H "$json" -d 'null' "$base/v1/auth/challenge"
check "challenge: missing field" 400 bad-request -X POST -H "$json" -d '{}' "$base/v1/auth/challenge"
check "challenge: wrong type" 400 bad-request -X POST -H "$json" -d '{"peer_id":42}' "$base/v1/auth/challenge"
check "challenge: bad check value" 400 bad-request -X POST -H "$json" \
	-d '{"peer_id":"UHURKYC-U4BH2ZC-M25HZHK-EZM3QD2-LW6E5IW-CVU5B77-DOBUSTN-AP2OCX6"}' "$base/v1/auth/challenge"
head -c 2000 /dev/urandom >"$tmp/garbage"
check "challenge: binary garbage" 400 bad-request -X POST -H "$json" --data-binary @"$tmp/garbage" \
	"$base/v1/auth/challenge"
check "challenge: form encoded" 415 unsupported-media-type -X POST -d "peer_id=$peer" "$base/v1/auth/challenge"
check "challenge: text/plain" 415 unsupported-media-type -X POST -H 'Content-Type: text/plain' \
	-d "{\"peer_id\":\"$peer\"}" "$base/v1/auth/challenge"
check "challenge: GET" 405 method-not-allowed "$base/v1/auth/challenge"
check_header "405 says Allow: POST" '^allow: POST'
head -c 100000 /dev/zero | tr '\0' ' ' >"$tmp/huge"
check "challenge: 100 KB body" 413 too-large -X POST -H "$json" --data-binary @"$tmp/huge" "$base/v1/auth/challenge"
check "challenge: 100 KB chunked body" 413 too-large -X POST -H "$json" -H 'Transfer-Encoding: chunked' \
	--data-binary @"$tmp/huge" "$base/v1/auth/challenge"

# POST and DELETE /v1/auth/session
check "session: missing fields" 400 bad-request -X POST -H "$json" -d "{\"peer_id\":\"$peer\"}" "$base/v1/auth/session"
check "session: bad base64" 400 bad-request -X POST -H "$json" \
	-d "{\"peer_id\":\"$peer\",\"public_key\":\"!!\",\"challenge\":\"$token\",\"signature\":\"AA\"}" "$base/v1/auth/session"
check "session: short signature" 400 bad-request -X POST -H "$json" \
	-d "{\"peer_id\":\"$peer\",\"public_key\":\"AAAA\",\"challenge\":\"$token\",\"signature\":\"AAAA\"}" "$base/v1/auth/session"
sig=$(head -c 64 /dev/zero | base64 -w0 | tr '+/' '-_' | tr -d '=')
check "session: unknown challenge" 401 challenge-invalid -X POST -H "$json" \
	-d "{\"peer_id\":\"$peer\",\"public_key\":\"AAAA\",\"challenge\":\"$token\",\"signature\":\"$sig\"}" "$base/v1/auth/session"
check "session: PUT" 405 method-not-allowed -X PUT "$base/v1/auth/session"
check_header "405 says Allow: POST, DELETE" '^allow: POST, DELETE'
check "session: DELETE without token" 401 unauthorized -X DELETE "$base/v1/auth/session"
check "session: DELETE with unknown token" 401 unauthorized -X DELETE -H "Authorization: Bearer $token" "$base/v1/auth/session"
check "session: DELETE with basic auth" 401 unauthorized -X DELETE -u user:pw "$base/v1/auth/session"

# GET /v1/ice
check "ice: no token" 401 unauthorized "$base/v1/ice"
check "ice: unknown token" 401 unauthorized -H "Authorization: Bearer $token" "$base/v1/ice"
check "ice: malformed token" 401 unauthorized -H 'Authorization: Bearer !!!' "$base/v1/ice"
check "ice: POST" 405 method-not-allowed -X POST -H "$json" -d '{}' "$base/v1/ice"

# GET /v1/ws
check "ws: no token" 401 unauthorized "$base/v1/ws"
check "ws: upgrade without token" 401 unauthorized -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
	-H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
	-H 'Sec-WebSocket-Protocol: peerlink-rendezvous.v1' "$base/v1/ws"
check "ws: upgrade with unknown token" 401 unauthorized -H "Authorization: Bearer $token" \
	-H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
	-H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$base/v1/ws"
check "ws: DELETE" 405 method-not-allowed -X DELETE "$base/v1/ws"

# POST /v1/messages
check "messages: no token" 401 unauthorized -X POST -H "$json" -d "{\"to\":\"$peer\",\"kind\":\"offer\",\"body\":{}}" "$base/v1/messages"
check "messages: unknown token" 401 unauthorized -X POST -H "$json" -H "Authorization: Bearer $token" \
	-d "{\"to\":\"$peer\",\"kind\":\"offer\",\"body\":{}}" "$base/v1/messages"
check "messages: GET" 405 method-not-allowed "$base/v1/messages"
check "messages: text/plain" 415 unsupported-media-type -X POST -H 'Content-Type: text/plain' -d x "$base/v1/messages"
check "messages: 100 KB body" 413 too-large -X POST -H "$json" --data-binary @"$tmp/huge" "$base/v1/messages"

# GET /v1/peers/<id>
check "peers: no token" 401 unauthorized "$base/v1/peers/$peer"
check "peers: POST" 405 method-not-allowed -X POST -H "$json" -d '{}' "$base/v1/peers/$peer"
check "peers: nothing after the slash" 404 not-found "$base/v1/peers/"
check "peers: deeper path" 404 not-found "$base/v1/peers/$peer/x"

# unknown paths and odd requests
check "unknown path" 404 not-found "$base/nope"
check "root" 404 not-found "$base/"
check "v2" 404 not-found "$base/v2/health"
check "trailing slash" 404 not-found "$base/v1/health/"
check "percent-encoded path" 200 "" "$base/v1/%68ealth"
check "dot segments" 404 not-found --path-as-is "$base/v1/../../etc/passwd"
check "health: DELETE" 405 method-not-allowed -X DELETE "$base/v1/health"
check "metrics: POST" 405 method-not-allowed -X POST -H "$json" -d '{}' "$base/metrics"
check "HTTP/1.0" 200 "" --http1.0 "$base/v1/health"
check "percent-encoded garbage" 404 not-found "$base/%ff%fe"
if iconv -f UTF-8 -t UTF-8 "$tmp/body" >/dev/null 2>&1; then
	ok "the error echoes no invalid UTF-8"
else
	not_ok "the error echoes invalid UTF-8: $(od -c "$tmp/body" | head -3)"
fi
check "NUL in the path" 400 bad-request "$base/v1/peers/%00"
check "odd method" 405 method-not-allowed -X 'BREW' "$base/v1/health"

# errors were counted
curl -s "$base/metrics" >"$tmp/metrics"
if grep -q '^peerlink_rendezvous_errors_total{kind="bad-request"} [1-9]' "$tmp/metrics" &&
	grep -q '^peerlink_rendezvous_errors_total{kind="unauthorized"} [1-9]' "$tmp/metrics" &&
	grep -q '^peerlink_rendezvous_errors_total{kind="too-large"} [1-9]' "$tmp/metrics"; then
	ok "errors counted in /metrics"
else
	not_ok "errors counted in /metrics: $(grep errors_total "$tmp/metrics" | tr '\n' ' ')"
fi

# every curl above opened and closed its own connection: none may linger
i=0
while [ "$(ls "/proc/$pid/fd" | wc -l)" -gt "$fds_at_start" ] && [ "$i" -lt 40 ]; do
	sleep 0.05
	i=$((i + 1))
done
fds_now=$(ls "/proc/$pid/fd" | wc -l)
if [ "$fds_now" -le "$fds_at_start" ]; then
	ok "no descriptors left behind by closed connections ($fds_now)"
else
	not_ok "descriptors left behind: $fds_now now, $fds_at_start at start"
fi

# SIGTERM: a clean exit
kill -TERM "$pid"
if wait "$pid"; then
	ok "exit status 0 after SIGTERM"
else
	not_ok "exit status after SIGTERM"
	sed 's/^/# /' "$tmp/log"
fi
pid=

echo "1..$n"
[ "$failed" -eq 0 ]
