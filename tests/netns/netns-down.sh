#!/bin/bash
# usage: netns-down.sh   (root; RT_NETNS_PREFIX as for netns-up.sh)
# Removes the namespaces of this prefix that netns-up.sh made (deleting a namespace deletes its
# veth and bridge ends), after SIGKILL to the processes still running inside them (only those:
# `ip netns pids`). Namespaces of other prefixes are left alone. Always exits 0.
D=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
source "$D/common.sh"
for ns in $(netns_ours); do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
done
for ns in $(netns_ours); do
    ip netns del "$ns" 2>/dev/null || echo "netns-down: could not delete $ns" >&2
done
exit 0
