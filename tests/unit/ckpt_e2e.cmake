# End-to-end checks of sharded checkpoints through `ringtune train` under mpirun (tests/ckpt/*.sh):
# a rank killed at every phase of a save and damaged checkpoints refused on resume (GPT-2 and
# T5), SIGUSR1/SIGTERM preemption, a full disk, and the resume errors of the CLI. Each script
# makes its own tiny model and corpus in its scratch folder under the build tree and bounds every
# mpirun with `timeout`; the resumed runs are compared bit for bit with uninterrupted ones.
set(RT_CKPT_E2E_DIR ${CMAKE_CURRENT_LIST_DIR}/../ckpt)
# the scripts split the flags on spaces (an environment entry cannot hold a CMake list)
string(REPLACE ";" " " RT_CKPT_E2E_PREFLAGS "${MPIEXEC_PREFLAGS}")
foreach(t faults signals diskfull resume_errors)
  add_test(NAME ckpt_e2e_${t}
           COMMAND bash ${RT_CKPT_E2E_DIR}/${t}.sh $<TARGET_FILE:ringtune>
                   ${CMAKE_BINARY_DIR}/ckpt_e2e/${t})
  set_tests_properties(ckpt_e2e_${t} PROPERTIES PROCESSORS 2 TIMEOUT 300 LABELS mpi
                       ENVIRONMENT "RT_MPIEXEC=${MPIEXEC_EXECUTABLE};RT_MPIEXEC_PREFLAGS=${RT_CKPT_E2E_PREFLAGS};OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}")
endforeach()
# faults.sh on a tiny T5 trained on pairs (data.task seq2seq): the same kill phases and damaged
# checkpoints (RT_CKPT_MODEL=t5, tests/ckpt/common.sh ck_make_data_t5)
add_test(NAME ckpt_e2e_faults_t5
         COMMAND bash ${RT_CKPT_E2E_DIR}/faults.sh $<TARGET_FILE:ringtune>
                 ${CMAKE_BINARY_DIR}/ckpt_e2e/faults_t5)
set_tests_properties(ckpt_e2e_faults_t5 PROPERTIES PROCESSORS 2 TIMEOUT 300 LABELS "mpi;slow"
                     ENVIRONMENT "RT_CKPT_MODEL=t5;RT_MPIEXEC=${MPIEXEC_EXECUTABLE};RT_MPIEXEC_PREFLAGS=${RT_CKPT_E2E_PREFLAGS};OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}")
# A checkpoint of the format before the model interface still inspects, exports and resumes bit
# for bit (tests/fixtures/ckpt_v_old, tests/fixtures/gen_ckpt_v_old.sh).
add_test(NAME ckpt_e2e_old_format
         COMMAND bash ${RT_CKPT_E2E_DIR}/old_format.sh $<TARGET_FILE:ringtune>
                 ${CMAKE_BINARY_DIR}/ckpt_e2e/old_format)
# bit for bit against the fixture's numbers (made by a Release build) only in Release builds
if(CMAKE_BUILD_TYPE STREQUAL "Release")
  set(RT_OLD_FORMAT_EXACT 1)
else()
  set(RT_OLD_FORMAT_EXACT 0)
endif()
set_tests_properties(ckpt_e2e_old_format PROPERTIES TIMEOUT 120 LABELS mpi
                     ENVIRONMENT "RT_MPIEXEC=${MPIEXEC_EXECUTABLE};RT_BITEXACT=${RT_OLD_FORMAT_EXACT};OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}")
