rt_unit_test(test_gpt2_golden ${CMAKE_CURRENT_LIST_DIR}/test_gpt2_golden.c LIBS rt_io PkgConfig::JANSSON)
rt_unit_test(test_t5_golden ${CMAKE_CURRENT_LIST_DIR}/test_t5_golden.c LIBS rt_io PkgConfig::JANSSON)
rt_unit_test(test_t5_decode ${CMAKE_CURRENT_LIST_DIR}/test_t5_decode.c LIBS rt_io PkgConfig::JANSSON)
rt_unit_test(test_lora_golden ${CMAKE_CURRENT_LIST_DIR}/test_lora_golden.c LIBS rt_io PkgConfig::JANSSON)
