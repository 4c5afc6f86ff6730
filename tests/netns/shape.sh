#!/bin/bash
# usage: shape.sh RATE|off   e.g. shape.sh 1gbit   (root; RT_NETNS_PREFIX as for netns-up.sh)
# Egress token-bucket filter (TBF) on eth0 of every host namespace of this prefix (this kernel
# has no netem, so no delay). "off" removes it. Prints host 1's queueing discipline.
set -u
D=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
source "$D/common.sh"
rate=${1:-}
[ -n "$rate" ] || { echo "usage: $0 RATE|off" >&2; exit 2; }
for ns in $(netns_ours | grep -v 'sw$'); do
    ip netns exec "$ns" tc qdisc del dev eth0 root 2>/dev/null || true
    if [ "$rate" != off ]; then
        ip netns exec "$ns" tc qdisc add dev eth0 root tbf rate "$rate" burst 1mb latency 200ms || exit 1
    fi
done
ip netns exec "$(netns_host 1)" tc qdisc show dev eth0
