# The run lock of an output directory (io/runlock.c): refusal, stale takeover, heartbeat.
rt_unit_test(test_runlock ${CMAKE_CURRENT_LIST_DIR}/test_runlock.c LIBS rt_io TIMEOUT 200 THREADS 1)
