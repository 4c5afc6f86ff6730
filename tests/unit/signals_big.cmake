# Stopping a job whose state is >= 1 GB (tests/ckpt/signals_big.sh): SIGTERM and SIGINT to
# cli/ringtune-mpirun end with a committed, verified checkpoint and exit 75, and the run resumes
# from it. Label slow: in the Release pass, not under the sanitizers (gigabytes of shards).
add_test(NAME ckpt_e2e_signals_big
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/../ckpt/signals_big.sh $<TARGET_FILE:ringtune>
                 ${CMAKE_BINARY_DIR}/ckpt_e2e/signals_big)
string(REPLACE ";" " " RT_SIGBIG_PREFLAGS "${MPIEXEC_PREFLAGS}")
set_tests_properties(ckpt_e2e_signals_big PROPERTIES PROCESSORS 2 TIMEOUT 600 LABELS "mpi;slow"
                     ENVIRONMENT "RT_MPIEXEC=${MPIEXEC_EXECUTABLE};RT_MPIEXEC_PREFLAGS=${RT_SIGBIG_PREFLAGS};OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}")
