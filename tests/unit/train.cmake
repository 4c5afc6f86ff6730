# ringtune train at 2 and 3 ranks (each compares with a 1-rank run inside the same job).
add_executable(test_train ${CMAKE_CURRENT_LIST_DIR}/test_train.c)
target_link_libraries(test_train PRIVATE rt_dist PkgConfig::CHECK m)
foreach(P 2 3)
  add_test(NAME test_train_np${P}
           COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${P} ${MPIEXEC_PREFLAGS}
                   $<TARGET_FILE:test_train> ${MPIEXEC_POSTFLAGS})
  set_tests_properties(test_train_np${P} PROPERTIES PROCESSORS ${P} TIMEOUT 300 LABELS mpi
                       ENVIRONMENT "CK_DEFAULT_TIMEOUT=300;OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}")
endforeach()
