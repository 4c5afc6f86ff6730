# Text metrics (compute/metrics_text.c) against sacrebleu's and rouge-score's figures.
rt_unit_test(test_text_metrics ${CMAKE_CURRENT_LIST_DIR}/test_text_metrics.c LIBS rt_compute PkgConfig::JANSSON THREADS 1)
