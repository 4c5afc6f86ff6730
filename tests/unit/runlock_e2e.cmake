# One run per output.dir through `ringtune train` (tests/ckpt/runlock.sh): a live holder (this
# host or another) refuses the run before anything is cleaned, a dead one is taken over.
string(REPLACE ";" " " RT_RUNLOCK_PREFLAGS "${MPIEXEC_PREFLAGS}")
add_test(NAME ckpt_e2e_runlock
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/../ckpt/runlock.sh $<TARGET_FILE:ringtune>
                 ${CMAKE_BINARY_DIR}/ckpt_e2e/runlock)
set_tests_properties(ckpt_e2e_runlock PROPERTIES TIMEOUT 300 LABELS mpi
                     ENVIRONMENT "RT_MPIEXEC=${MPIEXEC_EXECUTABLE};RT_MPIEXEC_PREFLAGS=${RT_RUNLOCK_PREFLAGS};OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}")
