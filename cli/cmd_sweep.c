/* `ringtune sweep SWEEP.yaml [--ranks-per-trial K] [--out DIR]`: a hyperparameter search under
   mpirun or srun (or alone, as one rank), trials in parallel on groups of K ranks
   (dist/sweep.h, docs/sweep.md). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "checkpoint.h"
#include "mpictx.h"
#include "sweep.h"
#include "watchdog.h"

int rt_cmd_sweep(int argc, char **argv);

static void usage(FILE *f) {
    fprintf(f,
            "usage: ringtune sweep SWEEP.yaml [--ranks-per-trial K] [--out DIR]\n"
            "  e.g. mpirun -n 8 ringtune sweep lr.yaml --ranks-per-trial 2 --out sweeps/lr\n"
            "  The ranks form groups of K (default 1; K must divide the rank count); each group\n"
            "  runs trials one after another, each with `ringtune train`'s loop on K ranks.\n"
            "  --out DIR (default: the sweep file's path without .yaml, plus .out) gets\n"
            "  trial-NNN/ per trial, results.md, results.jsonl, best.yaml and the state file;\n"
            "  the same command again continues a stopped sweep. Format: docs/sweep.md.\n"
            "exit codes: 0 finished, 1 failed (or no trial finished), 2 usage, %d a rank waited\n"
            "  dist.timeout_s for another without progress, %d stopped by SIGUSR1, SIGTERM or\n"
            "  SIGINT after the running trials checkpointed (run the same command to resume).\n",
            RT_EXIT_PEER_TIMEOUT, RT_EXIT_CHECKPOINTED);
}

/* The default out dir: the sweep file's path, its .yaml / .yml cut, plus ".out". */
static char *default_out(const char *file) {
    size_t n = strlen(file);
    if (n > 5 && !strcmp(file + n - 5, ".yaml"))
        n -= 5;
    else if (n > 4 && !strcmp(file + n - 4, ".yml"))
        n -= 4;
    char *out = malloc(n + 5);
    if (out) snprintf(out, n + 5, "%.*s.out", (int)n, file);
    return out;
}

/* Parses the options; returns 0 on a usage error (printed). */
static int parse_args(int argc, char **argv, rt_sweep_opts *o) {
    o->sweep_file = NULL;
    o->out = NULL;
    o->ranks_per_trial = 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--out") && i + 1 < argc) {
            o->out = argv[++i];
        } else if (!strcmp(a, "--ranks-per-trial") && i + 1 < argc) {
            const char *v = argv[++i];
            char *end;
            long k = strtol(v, &end, 10);
            if (!*v || *end || k < 1 || k > 1 << 20) {
                fprintf(stderr,
                        "ringtune sweep: --ranks-per-trial '%s': expected an integer "
                        ">= 1\n",
                        v);
                return 0;
            }
            o->ranks_per_trial = (int)k;
        } else if (a[0] != '-' && !o->sweep_file) {
            o->sweep_file = a;
        } else {
            fprintf(stderr, "ringtune sweep: unexpected argument '%s'\n", a);
            usage(stderr);
            return 0;
        }
    }
    if (!o->sweep_file) {
        usage(stderr);
        return 0;
    }
    return 1;
}

static int exit_code(rt_status st, const rt_sweep_outcome *res, int rank) {
    if (st != RT_OK) {
        if (rank == 0) fprintf(stderr, "ringtune sweep: %s\n", rt_error_message());
        return 1;
    }
    if (res->interrupted) return RT_EXIT_CHECKPOINTED;
    if (res->best < 0) {
        if (rank == 0)
            fprintf(stderr,
                    "ringtune sweep: no trial finished (%d failed, %d pruned): see the "
                    "errors in results.md\n",
                    res->failed, res->pruned);
        return 1;
    }
    return 0;
}

int rt_cmd_sweep(int argc, char **argv) {
    if (argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        usage(stdout);
        return 0;
    }
    rt_sweep_opts o;
    if (!parse_args(argc, argv, &o)) return 2;
    char *dflt = o.out ? NULL : default_out(o.sweep_file);
    if (!o.out) o.out = dflt;
    int provided;
    /* the coordinator serves the other groups from a thread while its own group trains */
    MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided);
    rt_mpi_ctx *ctx = NULL;
    if (!o.out || rt_mpi_ctx_create(&ctx) != RT_OK) {
        fprintf(stderr, "ringtune sweep: %s\n", o.out ? rt_error_message() : "out of memory");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    /* the coordination under the default timeout; each trial arms it with its own config's */
    if (rt_watchdog_start(ctx->comm, RT_WD_TIMEOUT_DEFAULT, "dist.timeout_s") != RT_OK) {
        fprintf(stderr, "ringtune sweep: %s\n", rt_error_message());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    rt_sweep_outcome res;
    rt_status st = rt_sweep_run(&o, ctx, ctx->rank == 0 ? stdout : NULL, &res);
    int rc = exit_code(st, &res, ctx->rank);
    rt_wd_scope s; /* a peer stopped after the last collective would hang these */
    rt_watchdog_enter(&s, "MPI_Finalize", RT_WD_ALL, RT_WD_ALL);
    rt_mpi_ctx_destroy(&ctx);
    MPI_Finalize();
    rt_watchdog_leave(&s);
    rt_watchdog_stop();
    free(dflt);
    return rc;
}
