# `ringtune sweep`: the sweep file and its sampler, the checks before any trial (dist/sweep_spec.c,
# sweep_space.c, sweep_trial.c), and the schedule with successive halving, the state file and the
# results table's order (sweep_sched.c, sweep_state.c) — no MPI, one thread each.
rt_unit_test(test_sweep_space ${CMAKE_CURRENT_LIST_DIR}/test_sweep_space.c LIBS rt_dist TIMEOUT 60
             THREADS 1)
rt_unit_test(test_sweep_sched ${CMAKE_CURRENT_LIST_DIR}/test_sweep_sched.c LIBS rt_dist TIMEOUT 60
             THREADS 1)
