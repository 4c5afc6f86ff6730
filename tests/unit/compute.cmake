rt_unit_test(test_gemm ${CMAKE_CURRENT_LIST_DIR}/test_gemm.c LIBS rt_compute)
rt_unit_test(test_sbgemm ${CMAKE_CURRENT_LIST_DIR}/test_sbgemm.c LIBS rt_compute THREADS 2)
rt_unit_test(test_lora_fd ${CMAKE_CURRENT_LIST_DIR}/test_lora_fd.c LIBS rt_compute)
