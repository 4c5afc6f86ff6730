# `ringtune sweep` end to end under mpirun (tests/sweep/*.sh, on tests/ckpt/common.sh's helpers):
# each script makes a tiny GPT-2 and corpus in its scratch folder under the build tree and bounds
# every mpirun with `timeout`. PROCESSORS: the most ranks a script runs at once.
set(RT_SWEEP_E2E_DIR ${CMAKE_CURRENT_LIST_DIR}/../sweep)
string(REPLACE ";" " " RT_SWEEP_E2E_PREFLAGS "${MPIEXEC_PREFLAGS}")
set(RT_SWEEP_E2E_ENV "RT_MPIEXEC=${MPIEXEC_EXECUTABLE};RT_MPIEXEC_PREFLAGS=${RT_SWEEP_E2E_PREFLAGS};OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}")
# ranks: the same sweep at 1, 2, 4 ranks, 1 or 2 per trial; resume: after SIGTERM to the launcher
# and to one rank; lr: a learning-rate grid finds the known best, failing trials are recorded;
# asha: the prunings at each rung, promoted trials continue from their checkpoints, early
# stopping; errors: what would fail every trial stops the sweep before any runs.
foreach(t ranks:4 resume:4 lr:2 asha:2 errors:3)
  string(REPLACE ":" ";" tp ${t})
  list(GET tp 0 name)
  list(GET tp 1 procs)
  add_test(NAME sweep_e2e_${name}
           COMMAND bash ${RT_SWEEP_E2E_DIR}/${name}.sh $<TARGET_FILE:ringtune>
                   ${CMAKE_BINARY_DIR}/sweep_e2e/${name})
  set_tests_properties(sweep_e2e_${name} PROPERTIES PROCESSORS ${procs} TIMEOUT 300 LABELS mpi
                       ENVIRONMENT "${RT_SWEEP_E2E_ENV}")
endforeach()
