rt_unit_test(test_sampler ${CMAKE_CURRENT_LIST_DIR}/test_sampler.c LIBS rt_dist THREADS 1)
rt_unit_test(test_pairs ${CMAKE_CURRENT_LIST_DIR}/test_pairs.c LIBS rt_dist THREADS 1)
# dist/s2s_eval.c: generation tallies of a real T5 fixture against the metrics computed directly
rt_unit_test(test_s2s_eval ${CMAKE_CURRENT_LIST_DIR}/test_s2s_eval.c LIBS rt_dist TIMEOUT 120)
target_compile_definitions(test_s2s_eval PRIVATE RT_T5_TOKENIZER="${RT_TOKENIZERS_DIR}/t5")
