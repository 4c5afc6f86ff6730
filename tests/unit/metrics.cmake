# Classification metrics (compute/metrics.c) against scikit-learn's figures.
rt_unit_test(test_metrics ${CMAKE_CURRENT_LIST_DIR}/test_metrics.c LIBS rt_compute PkgConfig::JANSSON THREADS 1)
