# Corpus integrity: every metadata byte of a small corpus flipped (test_corpus_integrity), the
# committed corpus of the superblock-0 format still read identically, checksum failures and files
# that change under a reader named in the message.
add_executable(gen_corpus_fixture ${CMAKE_SOURCE_DIR}/tests/fixtures/gen_corpus_fixture.c)
target_include_directories(gen_corpus_fixture PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(gen_corpus_fixture PRIVATE rt_io)
rt_unit_test(test_corpus_integrity ${CMAKE_CURRENT_LIST_DIR}/test_corpus_integrity.c LIBS rt_io
             TIMEOUT 600 THREADS 1)
# the same through `ringtune train` on 2 ranks (tests/ckpt/corpus_changed.sh, with the scripts'
# helpers): a corpus truncated mid-run ends every rank with the message, no export
add_test(NAME corpus_changed_np2
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/../ckpt/corpus_changed.sh $<TARGET_FILE:ringtune>
                 ${CMAKE_BINARY_DIR}/ckpt_e2e/corpus_changed)
string(REPLACE ";" " " RT_CORPUS_E2E_PREFLAGS "${MPIEXEC_PREFLAGS}")
set_tests_properties(corpus_changed_np2 PROPERTIES PROCESSORS 2 TIMEOUT 300 LABELS mpi
                     ENVIRONMENT "RT_MPIEXEC=${MPIEXEC_EXECUTABLE};RT_MPIEXEC_PREFLAGS=${RT_CORPUS_E2E_PREFLAGS};OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}")
