rt_unit_test(test_gemm ${CMAKE_CURRENT_LIST_DIR}/test_gemm.c LIBS rt_compute)
rt_unit_test(test_sbgemm ${CMAKE_CURRENT_LIST_DIR}/test_sbgemm.c LIBS rt_compute THREADS 2)
rt_unit_test(test_lora_fd ${CMAKE_CURRENT_LIST_DIR}/test_lora_fd.c LIBS rt_compute)
# bf16 products: the kernel this CPU gets, then oneDNN's and the emulated one (a CPU that lacks
# what a kernel needs falls back to the one it has, with a notice)
rt_unit_test(test_gemm_bf16 ${CMAKE_CURRENT_LIST_DIR}/test_gemm_bf16.c LIBS rt_compute)
foreach(k onednn emulated)
  add_test(NAME test_gemm_bf16_${k} COMMAND test_gemm_bf16)
  set_tests_properties(test_gemm_bf16_${k} PROPERTIES TIMEOUT 300 PROCESSORS 2
    ENVIRONMENT "CK_DEFAULT_TIMEOUT=300;OMP_NUM_THREADS=2;RT_BF16_KERNEL=${k}")
endforeach()
