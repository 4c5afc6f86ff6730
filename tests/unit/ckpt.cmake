# Sharded checkpoints: saved by 3 ranks, resumed at 1-4 (sub-communicators of one 4-rank job),
# damaged checkpoints, piece boundaries, the serial loader.
add_executable(test_ckpt ${CMAKE_CURRENT_LIST_DIR}/test_ckpt.c)
target_link_libraries(test_ckpt PRIVATE rt_dist PkgConfig::CHECK m)
add_test(NAME test_ckpt_np4
         COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 4 ${MPIEXEC_PREFLAGS}
                 $<TARGET_FILE:test_ckpt> ${MPIEXEC_POSTFLAGS})
set_tests_properties(test_ckpt_np4 PROPERTIES PROCESSORS 4 TIMEOUT 600 LABELS mpi
                     ENVIRONMENT "CK_DEFAULT_TIMEOUT=600;OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}")
