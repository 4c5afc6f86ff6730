# shellcheck shell=bash
# Names shared by the network-namespace scripts (sourced). N emulated "hosts" are network
# namespaces ${RT_NETNS_PREFIX}h1..hN with addresses ${RT_NETNS_SUBNET}.1..N/24 on a bridge that
# lives in its own namespace ${RT_NETNS_PREFIX}sw. The addresses exist only inside these
# namespaces: nothing here adds an address or a route to the root namespace, and nothing may send
# traffic to the subnet from the root namespace (it would leave the machine by the default route).
# Different prefixes give independent sets (a test and a person may use the same subnet at once:
# each set has its own bridge, invisible to the other).
RT_NETNS_PREFIX=${RT_NETNS_PREFIX:-rtn}
RT_NETNS_SUBNET=${RT_NETNS_SUBNET:-10.77.0}
export RT_NETNS_PREFIX RT_NETNS_SUBNET
netns_host() { echo "${RT_NETNS_PREFIX}h$1"; }   # namespace of host N
netns_switch() { echo "${RT_NETNS_PREFIX}sw"; }  # namespace of the bridge
# the namespaces of this prefix that exist now, one a line
netns_ours() {
    ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${RT_NETNS_PREFIX}(h[0-9]+|sw)\$" || true
}
