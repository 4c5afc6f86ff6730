# End-to-end checks of the collective-wait watchdog and of error propagation through `ringtune
# train` under mpirun (tests/ckpt/watchdog.sh, first_error.sh): a stopped rank ends the job with
# exit code 69 within dist.timeout_s plus a bound, the last checkpoint intact and resumable; a
# read failure on one rank is reported as itself while the others have reductions in flight.
# watchdog takes about a minute (two 10 s timeouts, five runs): labelled slow.
set(RT_WD_E2E_DIR ${CMAKE_CURRENT_LIST_DIR}/../ckpt)
string(REPLACE ";" " " RT_WD_E2E_PREFLAGS "${MPIEXEC_PREFLAGS}")
foreach(t watchdog first_error)
  add_test(NAME ckpt_e2e_${t}
           COMMAND bash ${RT_WD_E2E_DIR}/${t}.sh $<TARGET_FILE:ringtune>
                   ${CMAKE_BINARY_DIR}/ckpt_e2e/${t})
  set(labels mpi)
  if(t STREQUAL watchdog)
    set(labels "mpi;slow")
  endif()
  set_tests_properties(ckpt_e2e_${t} PROPERTIES PROCESSORS 2 TIMEOUT 300 LABELS "${labels}"
                       ENVIRONMENT "RT_MPIEXEC=${MPIEXEC_EXECUTABLE};RT_MPIEXEC_PREFLAGS=${RT_WD_E2E_PREFLAGS};OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}")
endforeach()

# io/watchdog: the polling collectives and the CPU share of a waiting rank, at 1, 2 and 3 ranks.
add_executable(test_watchdog ${CMAKE_CURRENT_LIST_DIR}/test_watchdog.c)
target_link_libraries(test_watchdog PRIVATE rt_io PkgConfig::CHECK m)
foreach(P 1 2 3)
  add_test(NAME test_watchdog_np${P}
           COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${P} ${MPIEXEC_PREFLAGS}
                   $<TARGET_FILE:test_watchdog> ${MPIEXEC_POSTFLAGS})
  set_tests_properties(test_watchdog_np${P} PROPERTIES PROCESSORS ${P} TIMEOUT 120 LABELS mpi
                       ENVIRONMENT "CK_DEFAULT_TIMEOUT=120;OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}")
endforeach()
