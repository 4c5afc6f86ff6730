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
# Label slow (the Release pass only): ranks, lr and asha repeat under ASan paths that resume and
# errors cover there (the coordinator's threads, stops, replay, failures; 63, 28 and 52 s under
# the sanitizers on the 2-core machine), while their point (the same numbers at any rank count,
# the winner, the prunings) is the Release build's.
foreach(t ranks:4:slow resume:4: lr:2:slow asha:2:slow errors:3:)
  string(REPLACE ":" ";" tp "${t}")
  list(GET tp 0 name)
  list(GET tp 1 procs)
  list(LENGTH tp n)
  set(labels mpi)
  if(n GREATER 2)
    list(GET tp 2 extra)
    if(extra)
      list(APPEND labels ${extra})
    endif()
  endif()
  add_test(NAME sweep_e2e_${name}
           COMMAND bash ${RT_SWEEP_E2E_DIR}/${name}.sh $<TARGET_FILE:ringtune>
                   ${CMAKE_BINARY_DIR}/sweep_e2e/${name})
  set_tests_properties(sweep_e2e_${name} PROPERTIES PROCESSORS ${procs} TIMEOUT 300
                       LABELS "${labels}" ENVIRONMENT "${RT_SWEEP_E2E_ENV}")
endforeach()
