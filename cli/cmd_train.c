/* `ringtune train RUN.yaml [key.sub=value ...]`: the data-parallel trainer under mpirun or srun
   (or alone, as one rank). Every rank reads the same file and overrides. */
#include <stdio.h>
#include <string.h>
#include <mpi.h>
#include "config.h"
#include "mpictx.h"
#include "train.h"

int rt_cmd_train(int argc, char **argv);

int rt_cmd_train(int argc, char **argv) {
    if (argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        printf("usage: ringtune train RUN.yaml [key.sub=value ...]\n"
               "  e.g. mpirun -n 4 ringtune train run.yaml optim.lr=3e-5 train.max_steps=500\n"
               "  `ringtune train --help-config` lists every key.\n");
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
    rt_run_config cfg;
    rt_status st = rt_config_load(&cfg, argv[0], argc - 1, argv + 1);
    st = rt_mpi_ctx_agree(ctx, st);
    if (st == RT_OK) {
        rt_train_result res;
        st = rt_train(&cfg, ctx, stdout, &res);
        rt_config_free(&cfg);
        rc = st == RT_OK ? 0 : 1;
    }
    if (st != RT_OK && ctx->rank == 0) fprintf(stderr, "ringtune train: %s\n", rt_error_message());
    rt_mpi_ctx_destroy(&ctx);
    MPI_Finalize();
    return rc;
}
