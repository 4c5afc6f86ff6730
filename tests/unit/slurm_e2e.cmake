# End-to-end checks of ringtune under Slurm (tests/slurm/*.sh): each script starts a throw-away
# 2-node Slurm cluster on this machine (slurm/local-cluster-up.sh: private munged, slurmctld, two
# emulated slurmd) and stops it by pid at the end; `srun --mpi=pmix` against mpirun, preemption
# through slurm/ringtune.sbatch (SIGUSR1 -> checkpoint -> requeue -> resume, bit for bit), a
# 3-task job resumed by a 2-task one, and the benchmark suite through slurm/bench-suite.sbatch
# (run_suite.sh --quick and bench_scaling.sh across the 2 nodes, about a minute). Where no cluster
# can start (not root, Slurm not installed) the scripts exit 77 and ctest reports them as skipped.
string(REPLACE ";" " " RT_SLURM_E2E_PREFLAGS "${MPIEXEC_PREFLAGS}")
foreach(t srun_train preempt_requeue reshard bench_suite sweep_preempt)
  add_test(NAME slurm_e2e_${t}
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/../slurm/${t}.sh $<TARGET_FILE:ringtune>
                   ${CMAKE_BINARY_DIR}/slurm_e2e/${t})
  set_tests_properties(slurm_e2e_${t} PROPERTIES PROCESSORS 2 TIMEOUT 300 LABELS "mpi;slurm;e2e"
                       ${RT_E2E_SKIP} RUN_SERIAL TRUE
                       ENVIRONMENT "RT_MPIEXEC=${MPIEXEC_EXECUTABLE};RT_MPIEXEC_PREFLAGS=${RT_SLURM_E2E_PREFLAGS};OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}")
endforeach()
# preemption -> requeue -> resume through ringtune.sbatch for a tiny T5 on pairs (data.task
# seq2seq; RT_CKPT_MODEL=t5)
add_test(NAME slurm_e2e_preempt_requeue_t5
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/../slurm/preempt_requeue.sh $<TARGET_FILE:ringtune>
                 ${CMAKE_BINARY_DIR}/slurm_e2e/preempt_requeue_t5)
set_tests_properties(slurm_e2e_preempt_requeue_t5 PROPERTIES PROCESSORS 2 TIMEOUT 300
                     LABELS "mpi;slurm;e2e" ${RT_E2E_SKIP} RUN_SERIAL TRUE
                     ENVIRONMENT "RT_CKPT_MODEL=t5;RT_MPIEXEC=${MPIEXEC_EXECUTABLE};RT_MPIEXEC_PREFLAGS=${RT_SLURM_E2E_PREFLAGS};OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}")
# the requeue decision alone (no cluster: a stand-in for scontrol)
add_test(NAME slurm_requeue_helper COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/../slurm/requeue_helper.sh)
