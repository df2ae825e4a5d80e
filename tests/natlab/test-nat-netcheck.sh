#!/usr/bin/env bash
# `peerlinkctl netcheck` behind every kind of router of the NAT lab: the NAT
# mapping and filtering it reports (RFC 5780, against the lab's coturn, which
# answers from two addresses) and its verdict must match what the lab built.
#
#   router      mapping                     filtering                   verdict
#   none        none                        endpoint-independent        direct connections likely
#   full-cone   endpoint-independent        endpoint-independent        direct connections likely
#   cone        endpoint-independent        address-and-port-dependent  direct … most peers; symmetric need a relay
#   symmetric   address-and-port-dependent  address-and-port-dependent  only relayed … symmetric or port-restricted
#   udp-blocked (no UDP)                    (no UDP)                    no UDP at all: only relayed connections over TCP
#   cone+UPnP   endpoint-independent        address-and-port-dependent  direct connections likely: the router maps ports (UPnP)
#
# Exit 0: passed; 1: failed; 77: skipped (not root, or a tool missing).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$here/lab.sh"
lab_require_or_skip timeout

export LAB_CTL_TIMEOUT=60
failures=0

# host router-behaviour mapping filtering udp verdict
expectations=(
	"hn none none endpoint-independent true direct connections likely"
	"hf full-cone endpoint-independent endpoint-independent true direct connections likely"
	"hc cone endpoint-independent address-and-port-dependent true direct connections to most peers; peers behind symmetric NATs need a relay"
	"hs symmetric address-and-port-dependent address-and-port-dependent true only relayed connections to peers behind symmetric or port-restricted NATs"
	"hu udp-blocked unknown unknown false no UDP at all: only relayed connections over TCP"
	"hp cone-upnp endpoint-independent address-and-port-dependent true direct connections likely: the router maps ports (UPnP)"
)

lab_on_failure() {
	lab_diagnose hn hf hc hs hu hp
}

lab_init
lab_set_deadline 240
lab_add_public_server server
lab_add_router rn none
lab_add_router rf full-cone
lab_add_router rc cone
lab_add_router rs symmetric
lab_add_router ru udp-blocked
lab_add_router rp cone
lab_router_upnp rp
lab_add_host hn rn
lab_add_host hf rf
lab_add_host hc rc
lab_add_host hs rs
lab_add_host hu ru
lab_add_host hp rp
for host in hn hf hc hs hu; do
	lab_start_agent "$host"
done
lab_start_agent hp upnp=true
for host in hn hf hc hs hu hp; do
	lab_wait_rendezvous "$host" 30 ||
		lab_die "the agent of $host did not connect to the rendezvous"
done

printf '%-4s %-12s %-28s %-28s %s\n' host router mapping filtering verdict
for row in "${expectations[@]}"; do
	read -r host kind mapping filtering udp verdict <<<"$row"
	report=$(lab_ctl "$host" --json netcheck) || {
		echo "FAIL: $host ($kind): peerlinkctl netcheck failed"
		failures=$((failures + 1))
		continue
	}
	got_mapping=$(echo "$report" | lab_json mapping)
	got_filtering=$(echo "$report" | lab_json filtering)
	got_udp=$(echo "$report" | lab_json udp)
	got_verdict=$(echo "$report" | lab_json verdict)
	printf '%-4s %-12s %-28s %-28s %s\n' "$host" "$kind" "$got_mapping" "$got_filtering" "$got_verdict"
	if [[ $got_mapping != "$mapping" || $got_filtering != "$filtering" ||
		${got_udp,,} != "$udp" || $got_verdict != "$verdict" ]]; then
		echo "FAIL: $host ($kind): expected $mapping / $filtering / udp $udp / \"$verdict\""
		echo "$report"
		failures=$((failures + 1))
	fi
done

if ((failures > 0)); then
	echo "=== $failures failure(s)"
	exit 1
fi
echo "every verdict matches its router"
