rt_unit_test(test_gpt2_golden ${CMAKE_CURRENT_LIST_DIR}/test_gpt2_golden.c LIBS rt_io PkgConfig::JANSSON)
rt_unit_test(test_t5_golden ${CMAKE_CURRENT_LIST_DIR}/test_t5_golden.c LIBS rt_io PkgConfig::JANSSON)
rt_unit_test(test_t5_decode ${CMAKE_CURRENT_LIST_DIR}/test_t5_decode.c LIBS rt_io PkgConfig::JANSSON)
rt_unit_test(test_lora_golden ${CMAKE_CURRENT_LIST_DIR}/test_lora_golden.c LIBS rt_io PkgConfig::JANSSON)
rt_unit_test(test_bf16_golden ${CMAKE_CURRENT_LIST_DIR}/test_bf16_golden.c LIBS rt_io PkgConfig::JANSSON)
# train.precision bf16 end to end (tests/bf16/train.sh): the 200-step loss curve in a band of
# fp32's, checkpoints resumed across precisions, T5 in bf16
add_test(NAME bf16_e2e_train
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/../bf16/train.sh $<TARGET_FILE:ringtune>
                 ${CMAKE_BINARY_DIR}/bf16_e2e/train)
set_tests_properties(bf16_e2e_train PROPERTIES PROCESSORS 2 TIMEOUT 400 LABELS "mpi;slow"
                     ENVIRONMENT "RT_MPIEXEC=${MPIEXEC_EXECUTABLE};RT_MPIEXEC_PREFLAGS=${RT_CKPT_E2E_PREFLAGS};OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}")
