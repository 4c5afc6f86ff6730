# TensorBoard event files: CRC32C, framing, the tensorboard-read fixture, a resumed run's events
# against its metrics.jsonl (one rank).
add_executable(test_tbevents ${CMAKE_CURRENT_LIST_DIR}/test_tbevents.c)
target_link_libraries(test_tbevents PRIVATE rt_dist PkgConfig::CHECK m)
target_compile_definitions(test_tbevents PRIVATE RT_FIXTURES="${RT_FIXTURES_DIR}")
add_test(NAME test_tbevents
         COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 1 ${MPIEXEC_PREFLAGS}
                 $<TARGET_FILE:test_tbevents> ${MPIEXEC_POSTFLAGS})
set_tests_properties(test_tbevents PROPERTIES TIMEOUT 300 LABELS mpi
                     ENVIRONMENT "CK_DEFAULT_TIMEOUT=300;OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}")
