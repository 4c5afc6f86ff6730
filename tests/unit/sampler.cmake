rt_unit_test(test_sampler ${CMAKE_CURRENT_LIST_DIR}/test_sampler.c LIBS rt_dist)
rt_unit_test(test_pairs ${CMAKE_CURRENT_LIST_DIR}/test_pairs.c LIBS rt_dist)
