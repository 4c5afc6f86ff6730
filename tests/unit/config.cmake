# The run configuration (YAML + key.sub=value overrides): parsing, errors, validation, round trips.
# The example and error-case configs live in tests/configs.
rt_unit_test(test_config ${CMAKE_CURRENT_LIST_DIR}/test_config.c LIBS rt_dist TIMEOUT 60 THREADS 1)
target_compile_definitions(test_config PRIVATE
                           RT_CONFIGS_DIR="${CMAKE_CURRENT_LIST_DIR}/../configs")
