#!/bin/bash
# usage: run-ns-mpi.sh HOSTS PER_HOST [mpirun options] PROGRAM ARGS...
# Runs mpirun inside host h1's namespace (hostname h1) with PER_HOST ranks on each of the hosts
# h1..hHOSTS made by netns-up.sh (HOSTS x PER_HOST ranks in all, by slot: ranks 0..PER_HOST-1 on
# h1, ...), started on the other hosts through nsrsh, talking TCP only over the namespaces'
# subnet (btl tcp,self; TCP and OOB interface filters). --bind-to none: every emulated host would
# otherwise bind its first rank to the same physical core. Root is allowed to run MPI here.
# The exit status is mpirun's (the command ends in exec mpirun, so a signal to this script's
# process reaches mpirun). RT_NETNS_BTL replaces the btl list (tcp,self), e.g. tcp,vader,self to
# let ranks of one host use shared memory as on a real node. RT_NETNS_YIELD=1 (the default) adds --mca mpi_yield_when_idle 1: each
# "host" has few slots, so Open MPI does not see that all hosts share this machine's cores, and
# ranks spinning on a busy-poll starve the others (3 ranks on 2 cores: 1 MiB all-reduce 60 ms
# spinning, 2.8 ms yielding).
set -eu
D=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
source "$D/common.sh"
if ! { [ $# -ge 3 ] && [[ "$1" =~ ^[1-9][0-9]?$ ]] && [[ "$2" =~ ^[1-9][0-9]*$ ]]; }; then
    echo "usage: $0 HOSTS PER_HOST [mpirun options] PROGRAM ARGS..." >&2
    exit 2
fi
hosts=$1 per=$2
shift 2
list=
for i in $(seq 1 "$hosts"); do list+="${list:+,}$RT_NETNS_SUBNET.$i:$per"; done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# shellcheck disable=SC2054  # the commas are Open MPI's list syntax
cmd=(mpirun --host "$list" -np $((hosts * per)) --bind-to none
     --mca plm_rsh_agent "$D/nsrsh" --mca btl "${RT_NETNS_BTL:-tcp,self}"
     --mca btl_tcp_if_include "$RT_NETNS_SUBNET.0/24" --mca oob_tcp_if_include "$RT_NETNS_SUBNET.0/24"
     "$@")
[ "${RT_NETNS_YIELD:-1}" = 0 ] || cmd=("${cmd[@]:0:1}" --mca mpi_yield_when_idle 1 "${cmd[@]:1}")
exec ip netns exec "$(netns_host 1)" unshare --uts /bin/sh -c 'hostname h1; exec "$@"' sh "${cmd[@]}"
