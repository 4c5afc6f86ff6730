# Multi-host end-to-end test on emulated hosts (tests/netns/multihost.sh): 3 network namespaces
# with their own addresses and hostnames, ringtune train over TCP between them (equal to a local
# run), a SIGUSR1 preemption there and a resume on 2 of them. Needs root (namespaces); without
# them it is skipped (exit 77) with the reason printed. Every mpirun is bounded by `timeout`.
string(REPLACE ";" " " RT_NETNS_E2E_PREFLAGS "${MPIEXEC_PREFLAGS}")
add_test(NAME netns_e2e_multihost
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/../netns/multihost.sh $<TARGET_FILE:ringtune>
                 ${CMAKE_BINARY_DIR}/netns_e2e/multihost)
set_tests_properties(netns_e2e_multihost PROPERTIES PROCESSORS 2 TIMEOUT 300 LABELS "mpi;e2e"
                     ${RT_E2E_SKIP} RUN_SERIAL TRUE
                     ENVIRONMENT "RT_MPIEXEC=${MPIEXEC_EXECUTABLE};RT_MPIEXEC_PREFLAGS=${RT_NETNS_E2E_PREFLAGS};OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}")
