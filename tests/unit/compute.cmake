rt_unit_test(test_gemm ${CMAKE_CURRENT_LIST_DIR}/test_gemm.c LIBS rt_compute)
rt_unit_test(test_sbgemm ${CMAKE_CURRENT_LIST_DIR}/test_sbgemm.c LIBS rt_compute THREADS 2)
rt_unit_test(test_lora_fd ${CMAKE_CURRENT_LIST_DIR}/test_lora_fd.c LIBS rt_compute)
# bf16 products: the kernel this CPU gets, then the emulated one every CPU has
rt_unit_test(test_gemm_bf16 ${CMAKE_CURRENT_LIST_DIR}/test_gemm_bf16.c LIBS rt_compute)
add_test(NAME test_gemm_bf16_emulated COMMAND test_gemm_bf16)
set_tests_properties(test_gemm_bf16_emulated PROPERTIES TIMEOUT 300 PROCESSORS 2
  ENVIRONMENT "CK_DEFAULT_TIMEOUT=300;OMP_NUM_THREADS=2;RT_BF16_KERNEL=emulated")
