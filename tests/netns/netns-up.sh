#!/bin/bash
# usage: netns-up.sh N   (root; environment RT_NETNS_PREFIX, RT_NETNS_SUBNET: see common.sh)
# Creates N "hosts" (network namespaces ${PREFIX}h1..hN, eth0 = SUBNET.i/24, lo up) whose veth
# peers hang on bridge br0 in namespace ${PREFIX}sw. Refuses when any namespace of this prefix
# already exists (run netns-down.sh first); on a failure half-way it removes what it made.
# Exit codes: 0 made, 1 failed (nothing of ours left), 2 usage.
set -euo pipefail
D=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
source "$D/common.sh"
N=${1:-}
[[ "$N" =~ ^[1-9][0-9]?$ ]] || { echo "usage: $0 N (1..99 hosts)" >&2; exit 2; }
left=$(netns_ours | tr '\n' ' ')
[ -z "$left" ] || { echo "netns-up: namespaces of prefix $RT_NETNS_PREFIX exist: $left(netns-down.sh)" >&2; exit 1; }
made=()
undo() {
    local ns
    for ns in "${made[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
}
on_exit() {
    local rc=$?
    if [ "$rc" != 0 ]; then undo; echo "netns-up: failed, removed what it made" >&2; fi
}
trap on_exit EXIT
sw=$(netns_switch)
ip netns add "$sw"; made+=("$sw")
ip -n "$sw" link add br0 type bridge
ip -n "$sw" link set br0 up
ip -n "$sw" link set lo up
for i in $(seq 1 "$N"); do
    ns=$(netns_host "$i")
    ip netns add "$ns"; made+=("$ns")
    # the veth pair is created inside the host namespace, its peer moved into the switch's
    ip -n "$ns" link add eth0 type veth peer name "p$i" netns "$sw"
    ip -n "$sw" link set "p$i" master br0
    ip -n "$sw" link set "p$i" up
    ip -n "$ns" addr add "$RT_NETNS_SUBNET.$i/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
done
echo "netns-up: $N hosts h1..h$N = $(netns_host 1)..$(netns_host "$N") ($RT_NETNS_SUBNET.1..$N), switch $sw"
