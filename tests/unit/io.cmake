rt_unit_test(test_safetensors ${CMAKE_CURRENT_LIST_DIR}/test_safetensors.c LIBS rt_io THREADS 1)
rt_unit_test(test_hf_gpt2 ${CMAKE_CURRENT_LIST_DIR}/test_hf_gpt2.c LIBS rt_io)
rt_unit_test(test_model ${CMAKE_CURRENT_LIST_DIR}/test_model.c LIBS rt_io)
# T5ForConditionalGeneration directories: tests/fixtures/t5_hf_small (gen_t5_hf_fixtures.py) and
# the golden t5_tied / t5_gated_odd; RT_T5_EXPORT_DIR keeps the exports for check_t5_export.py.
rt_unit_test(test_hf_t5 ${CMAKE_CURRENT_LIST_DIR}/test_hf_t5.c LIBS rt_io)
