# Sharded checkpoints: saved by 3 ranks, resumed at 1-4 (sub-communicators of one 4-rank job),
# damaged checkpoints, piece boundaries, the serial loader.
add_executable(test_ckpt ${CMAKE_CURRENT_LIST_DIR}/test_ckpt.c)
target_link_libraries(test_ckpt PRIVATE rt_dist PkgConfig::CHECK m)
add_test(NAME test_ckpt_np4
         COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 4 ${MPIEXEC_PREFLAGS}
                 $<TARGET_FILE:test_ckpt> ${MPIEXEC_POSTFLAGS})
# HDF5 1.10 leaks the metadata-cache entry of an object header that fails its checksum (this test
# opens damaged files on purpose); its shutdown then gives up ("infinite loop closing library")
# and its free lists stay allocated. Those leaks are HDF5's; ours still show.
set(RT_LSAN_CKPT_SUPP ${CMAKE_BINARY_DIR}/lsan-ckpt.supp)
file(READ ${RT_LSAN_MPI_SUPP} rt_supp_mpi)
file(WRITE ${RT_LSAN_CKPT_SUPP} "${rt_supp_mpi}leak:libhdf5_openmpi.so\n")
set_tests_properties(test_ckpt_np4 PROPERTIES PROCESSORS 4 TIMEOUT 600 LABELS mpi
                     ENVIRONMENT "CK_DEFAULT_TIMEOUT=600;OMP_NUM_THREADS=1;ASAN_OPTIONS=fast_unwind_on_malloc=0;LSAN_OPTIONS=suppressions=${RT_LSAN_CKPT_SUPP}")
