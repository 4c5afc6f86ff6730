# Checksum-valid manifests with untrusted sizes (tests/ckpt/manifest_bounds.sh): ckpt_forge
# rewrites a checkpoint's manifest and recomputes its checksums; the resume and `inspect` must
# refuse it with a message, never crash.
add_executable(ckpt_forge ${CMAKE_CURRENT_LIST_DIR}/../ckpt/ckpt_forge.c)
target_link_libraries(ckpt_forge PRIVATE rt_io)
add_test(NAME ckpt_e2e_manifest_bounds
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/../ckpt/manifest_bounds.sh $<TARGET_FILE:ringtune>
                 $<TARGET_FILE:ckpt_forge> ${CMAKE_BINARY_DIR}/ckpt_e2e/manifest_bounds)
string(REPLACE ";" " " rt_bounds_preflags "${MPIEXEC_PREFLAGS}")
set_tests_properties(ckpt_e2e_manifest_bounds PROPERTIES PROCESSORS 2 TIMEOUT 300 LABELS mpi
                     ENVIRONMENT "RT_MPIEXEC=${MPIEXEC_EXECUTABLE};RT_MPIEXEC_PREFLAGS=${rt_bounds_preflags};OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}")
