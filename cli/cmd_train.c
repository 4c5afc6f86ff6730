/* `ringtune train RUN.yaml [key.sub=value ...]`: the data-parallel trainer under mpirun or srun
   (or alone, as one rank). Every rank reads the same file and overrides. */
#include <stdio.h>
#include <string.h>
#include <mpi.h>
#include <stdlib.h>
#include "checkpoint.h"
#include "config.h"
#include "mpictx.h"
#include "train.h"
#include "watchdog.h"

int rt_cmd_train(int argc, char **argv);

/* Under Slurm rank 0 names the job, its restart count (a requeued job counts up) and nodes. */
static void print_slurm_line(const rt_mpi_ctx *ctx) {
    const char *job = getenv("SLURM_JOB_ID");
    if (ctx->rank != 0 || !job) return;
    const char *restart = getenv("SLURM_RESTART_COUNT"), *nodes = getenv("SLURM_JOB_NODELIST");
    printf("ringtune train: slurm job %s, restart %s, nodes: %s\n", job, restart ? restart : "0",
           nodes ? nodes : "?");
    fflush(stdout);
}

int rt_cmd_train(int argc, char **argv) {
    if (argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        printf("usage: ringtune train RUN.yaml [--resume latest|auto|DIR] [key.sub=value ...]\n"
               "  e.g. mpirun -n 4 ringtune train run.yaml optim.lr=3e-5 train.max_steps=500\n"
               "  --resume X is checkpoint.resume=X: 'latest' (output.dir/latest), 'auto'\n"
               "  (latest if there is one, else start fresh) or a step-N directory.\n"
               "  `ringtune train --help-config` lists every key.\n"
               "exit codes: 0 finished, 1 failed, 2 usage, %d a rank waited dist.timeout_s for\n"
               "  another without progress (a stopped or hung rank: resume from the last\n"
               "  checkpoint), %d checkpointed after SIGUSR1, SIGTERM or SIGINT (preempted or\n"
               "  stopped: requeue or resume). Under mpirun, stop a job with ringtune-mpirun\n"
               "  (Ctrl-C, kill, timeout) or SIGUSR1 to mpirun.\n",
               RT_EXIT_PEER_TIMEOUT, RT_EXIT_CHECKPOINTED);
        return 0;
    }
    if (argc >= 1 && !strcmp(argv[0], "--help-config")) {
        rt_config_write_reference(stdout);
        return 0;
    }
    if (argc < 1 || argv[0][0] == '-') {
        fprintf(stderr, "usage: ringtune train RUN.yaml [key.sub=value ...]\n");
        return 2;
    }
    int provided;
    MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    rt_mpi_ctx *ctx = NULL;
    int rc = 1;
    if (rt_mpi_ctx_create(&ctx) != RT_OK) {
        fprintf(stderr, "ringtune train: %s\n", rt_error_message());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    print_slurm_line(ctx);
    /* the startup agreements under the default timeout; rt_train re-arms it with the config's */
    if (rt_watchdog_start(ctx->comm, RT_WD_TIMEOUT_DEFAULT, "dist.timeout_s") != RT_OK) {
        fprintf(stderr, "ringtune train: %s\n", rt_error_message());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    /* --resume X becomes the override checkpoint.resume=X (in its place among the others) */
    char **ov = calloc((size_t)argc + 1, sizeof *ov), resume[4200] = "";
    int nov = 0;
    for (int i = 1; ov && i < argc; i++) {
        if (!strcmp(argv[i], "--resume") && i + 1 < argc) {
            snprintf(resume, sizeof resume, "checkpoint.resume='%s'", argv[++i]);
            ov[nov++] = resume;
        } else if (!strncmp(argv[i], "--resume=", 9)) {
            snprintf(resume, sizeof resume, "checkpoint.resume='%s'", argv[i] + 9);
            ov[nov++] = resume;
        } else {
            ov[nov++] = argv[i];
        }
    }
    rt_run_config cfg;
    rt_status st =
        ov ? rt_config_load(&cfg, argv[0], nov, ov) : rt_error(RT_ERR_MEMORY, "out of memory");
    free(ov);
    st = rt_mpi_ctx_agree(ctx, st);
    if (st == RT_OK) {
        rt_train_result res;
        st = rt_train(&cfg, ctx, stdout, &res);
        rt_config_free(&cfg);
        rc = st != RT_OK ? 1 : res.checkpointed ? RT_EXIT_CHECKPOINTED : 0;
    }
    if (st != RT_OK && ctx->rank == 0) fprintf(stderr, "ringtune train: %s\n", rt_error_message());
    rt_wd_scope s; /* a peer stopped after the last collective would hang these */
    rt_watchdog_enter(&s, "MPI_Finalize", RT_WD_ALL, RT_WD_ALL);
    rt_mpi_ctx_destroy(&ctx);
    MPI_Finalize();
    rt_watchdog_leave(&s);
    rt_watchdog_stop();
    return rc;
}
