# Gradient checks: layer kernels (GPT-2's and T5's) and the whole GPT-2 model against finite
# differences, and AdamW, LR schedules and gradient clipping against scalar references.
rt_unit_test(test_layers ${CMAKE_CURRENT_LIST_DIR}/test_layers.c LIBS rt_compute)
rt_unit_test(test_layers_t5 ${CMAKE_CURRENT_LIST_DIR}/test_layers_t5.c LIBS rt_compute)
rt_unit_test(test_gpt2_fd ${CMAKE_CURRENT_LIST_DIR}/test_gpt2_fd.c LIBS rt_compute)
rt_unit_test(test_optim ${CMAKE_CURRENT_LIST_DIR}/test_optim.c LIBS rt_compute)
rt_unit_test(test_t5_fd ${CMAKE_CURRENT_LIST_DIR}/test_t5_fd.c LIBS rt_compute)
