# dist/ring + dist/mpictx: MPI tests at 1, 2, 3 and 4 ranks (3 catches uneven chunks; 4 on 2 cores
# runs oversubscribed through MPIEXEC_PREFLAGS).
add_executable(test_ring ${CMAKE_CURRENT_LIST_DIR}/test_ring.c)
target_link_libraries(test_ring PRIVATE rt_dist PkgConfig::CHECK m)

foreach(P 1 2 3 4)
  add_test(NAME test_ring_np${P}
           COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${P} ${MPIEXEC_PREFLAGS}
                   $<TARGET_FILE:test_ring> ${MPIEXEC_POSTFLAGS})
  set_tests_properties(test_ring_np${P} PROPERTIES PROCESSORS ${P} TIMEOUT 120 LABELS mpi
                       ENVIRONMENT "CK_DEFAULT_TIMEOUT=120;OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}")
endforeach()
