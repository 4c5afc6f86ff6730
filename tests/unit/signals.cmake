# The stop signals of `ringtune train` (dist/checkpoint.c rt_signals_*): absorbed SIGTERM, a second
# SIGINT stops at once, an ignored SIGINT stays ignored. And cli/ringtune-mpirun's signal handling
# against a stand-in mpirun (tests/ckpt/launcher.sh): no MPI, no timing.
rt_unit_test(test_signals ${CMAKE_CURRENT_LIST_DIR}/test_signals.c LIBS rt_dist TIMEOUT 60 THREADS 1)
add_test(NAME launcher_signals
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/../ckpt/launcher.sh
                 ${CMAKE_BINARY_DIR}/cli/ringtune-mpirun ${CMAKE_BINARY_DIR}/launcher_signals)
set_tests_properties(launcher_signals PROPERTIES TIMEOUT 120)
