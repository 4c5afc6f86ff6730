# Non-finite weights are never exported; train.max_skipped_ratio; superseded metrics lines after a
# resume are dropped (dist/guard.h, dist/metrics_resume.h).
add_executable(test_guard ${CMAKE_CURRENT_LIST_DIR}/test_guard.c)
target_link_libraries(test_guard PRIVATE rt_dist PkgConfig::CHECK m)
add_test(NAME test_guard_np2
         COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 ${MPIEXEC_PREFLAGS}
                 $<TARGET_FILE:test_guard> ${MPIEXEC_POSTFLAGS})
set_tests_properties(test_guard_np2 PROPERTIES PROCESSORS 2 TIMEOUT 300 LABELS mpi
                     ENVIRONMENT "CK_DEFAULT_TIMEOUT=300;OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}")
