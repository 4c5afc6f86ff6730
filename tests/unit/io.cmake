rt_unit_test(test_safetensors ${CMAKE_CURRENT_LIST_DIR}/test_safetensors.c LIBS rt_io)
rt_unit_test(test_hf_gpt2 ${CMAKE_CURRENT_LIST_DIR}/test_hf_gpt2.c LIBS rt_io)
rt_unit_test(test_model ${CMAKE_CURRENT_LIST_DIR}/test_model.c LIBS rt_io)
