# The MFU denominator (dist/peak.h) measured by 2 ranks at once, the MFU cap, and the FLOPs that
# backward really performs with frozen tensors (rt_gpt2_flops_done).
add_executable(test_peak ${CMAKE_CURRENT_LIST_DIR}/test_peak.c)
target_link_libraries(test_peak PRIVATE rt_dist PkgConfig::CHECK m)
add_test(NAME test_peak_np2
         COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 ${MPIEXEC_PREFLAGS}
                 $<TARGET_FILE:test_peak> ${MPIEXEC_POSTFLAGS})
set_tests_properties(test_peak_np2 PROPERTIES PROCESSORS 2 TIMEOUT 120 LABELS mpi
                     ENVIRONMENT "CK_DEFAULT_TIMEOUT=120;OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}")
