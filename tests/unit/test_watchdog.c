/* io/watchdog: the polling collectives give what the blocking ones give; a rank waiting for a
   late peer sleeps instead of spinning a core (its CPU time is measured against the wall time
   and printed next to MPI's own blocking barrier); start/stop/re-arm and argument checks.
   (Expiry itself ends the process: tests/ckpt/watchdog.sh checks it end to end.) */
#include <check.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "watchdog.h"

static int rank, nranks;

static double wall_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

START_TEST(test_collectives_match_blocking) {
    ck_assert_int_eq(rt_watchdog_start(MPI_COMM_WORLD, 600, "test.timeout"), RT_OK);
    double x[3] = {rank + 1.0, 2.0 * rank, -rank}, a[3], b[3];
    MPI_Allreduce(x, a, 3, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    ck_assert_int_eq(rt_wd_allreduce(x, b, 3, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, "t"),
                     MPI_SUCCESS);
    ck_assert_mem_eq(a, b, sizeof a);
    double ra = -1, rb = -1;
    MPI_Reduce(x, &ra, 1, MPI_DOUBLE, MPI_MAX, nranks - 1, MPI_COMM_WORLD);
    ck_assert_int_eq(rt_wd_reduce(x, &rb, 1, MPI_DOUBLE, MPI_MAX, nranks - 1, MPI_COMM_WORLD, "t"),
                     MPI_SUCCESS);
    if (rank == nranks - 1) ck_assert(ra == rb && rb == nranks);
    int v = rank == nranks - 1 ? 4242 : 0;
    ck_assert_int_eq(rt_wd_bcast(&v, 1, MPI_INT, nranks - 1, MPI_COMM_WORLD, "t"), MPI_SUCCESS);
    ck_assert_int_eq(v, 4242);
    int *all = calloc((size_t)nranks * 2, sizeof(int)), *cnt = calloc((size_t)nranks, sizeof(int)),
        *dsp = calloc((size_t)nranks, sizeof(int));
    for (int r = 0; r < nranks; r++) {
        cnt[r] = r % 2 + 1; /* uneven counts */
        dsp[r] = 2 * r;
    }
    int mine[2] = {10 * rank, 10 * rank + 1};
    ck_assert_int_eq(
        rt_wd_gatherv(mine, cnt[rank], MPI_INT, all, cnt, dsp, MPI_INT, 0, MPI_COMM_WORLD, "t"),
        MPI_SUCCESS);
    if (rank == 0)
        for (int r = 0; r < nranks; r++)
            for (int k = 0; k < cnt[r]; k++) ck_assert_int_eq(all[2 * r + k], 10 * r + k);
    ck_assert_int_eq(rt_wd_gather(&rank, 1, MPI_INT, all, 1, MPI_INT, 0, MPI_COMM_WORLD, "t"),
                     MPI_SUCCESS);
    if (rank == 0)
        for (int r = 0; r < nranks; r++) ck_assert_int_eq(all[r], r);
    memset(all, 0, sizeof(int) * (size_t)nranks);
    ck_assert_int_eq(rt_wd_allgather(&rank, 1, MPI_INT, all, 1, MPI_INT, MPI_COMM_WORLD, "t"),
                     MPI_SUCCESS);
    for (int r = 0; r < nranks; r++) ck_assert_int_eq(all[r], r);
    /* a ring exchange by point-to-point: send right (buffered by even/odd order), receive left */
    int right = (rank + 1) % nranks, left = (rank + nranks - 1) % nranks, got = -1;
    if (nranks > 1) {
        if (rank % 2 == 0) {
            ck_assert_int_eq(rt_wd_send(&rank, 1, MPI_INT, right, 7, MPI_COMM_WORLD, "t"), 0);
            ck_assert_int_eq(rt_wd_recv(&got, 1, MPI_INT, left, 7, MPI_COMM_WORLD, "t"), 0);
        } else {
            ck_assert_int_eq(rt_wd_recv(&got, 1, MPI_INT, left, 7, MPI_COMM_WORLD, "t"), 0);
            ck_assert_int_eq(rt_wd_send(&rank, 1, MPI_INT, right, 7, MPI_COMM_WORLD, "t"), 0);
        }
        ck_assert_int_eq(got, left);
    }
    ck_assert_int_eq(rt_wd_barrier(MPI_COMM_WORLD, "t"), MPI_SUCCESS);
    free(all);
    free(cnt);
    free(dsp);
}
END_TEST

/* Rank 0 waits about `late` seconds in a barrier for the last rank; returns rank 0's CPU time
   over wall time of that wait (every rank gets it). */
static double waiting_cpu_share(int polling, double late) {
    MPI_Barrier(MPI_COMM_WORLD);
    double w0 = wall_s(), c0 = cpu_s();
    if (rank == nranks - 1) {
        struct timespec ts = {(time_t)late, (long)((late - floor(late)) * 1e9)};
        nanosleep(&ts, NULL);
    }
    if (polling)
        ck_assert_int_eq(rt_wd_barrier(MPI_COMM_WORLD, "late peer"), MPI_SUCCESS);
    else
        MPI_Barrier(MPI_COMM_WORLD);
    double share = (cpu_s() - c0) / (wall_s() - w0);
    MPI_Bcast(&share, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    return share;
}

START_TEST(test_waiting_rank_sleeps) {
    if (nranks < 2) return;
    ck_assert_int_eq(rt_watchdog_start(MPI_COMM_WORLD, 600, "test.timeout"), RT_OK);
    double blocking = waiting_cpu_share(0, 1.5), polling = waiting_cpu_share(1, 1.5);
    if (rank == 0)
        printf("watchdog: rank 0 waiting 1.5 s for a late rank used %.1f%% of a core in "
               "MPI_Barrier, %.1f%% in rt_wd_barrier (bound 25%%)\n",
               100 * blocking, 100 * polling);
    /* load can only lower a sleeping rank's share; the bound leaves room for a slow start */
    ck_assert_msg(polling < 0.25, "a waiting rank used %.1f%% of a core", 100 * polling);
}
END_TEST

START_TEST(test_start_stop_and_arguments) {
    ck_assert_int_eq(rt_watchdog_start(MPI_COMM_WORLD, -1, "x"), RT_ERR_ARG);
    ck_assert_int_eq(rt_watchdog_start(MPI_COMM_WORLD, NAN, "x"), RT_ERR_ARG);
    ck_assert_int_eq(rt_watchdog_start(MPI_COMM_WORLD, 0, "x"), RT_OK);   /* off */
    ck_assert_int_eq(rt_watchdog_start(MPI_COMM_WORLD, 0.5, "x"), RT_OK); /* re-armed */
    /* scopes nest and progress restarts the clock; a wait shorter than the timeout passes */
    rt_wd_scope outer, inner;
    rt_watchdog_enter(&outer, "outer", RT_WD_ALL, RT_WD_ALL);
    rt_watchdog_enter(&inner, "inner", 0, RT_WD_NONE);
    for (int i = 0; i < 4; i++) {
        struct timespec ts = {0, 200000000L};
        nanosleep(&ts, NULL); /* 0.8 s in all, 0.2 s between progress marks */
        rt_watchdog_progress(0, RT_WD_NONE);
    }
    rt_watchdog_leave(&inner);
    rt_watchdog_leave(&outer);
    const char *old = rt_watchdog_phase("testing");
    ck_assert_str_eq(rt_watchdog_phase(old), "testing");
    rt_watchdog_stop();
    rt_watchdog_stop(); /* idempotent */
    ck_assert_int_eq(rt_wd_barrier(MPI_COMM_WORLD, "after stop"), MPI_SUCCESS);
}
END_TEST

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    Suite *s = suite_create("watchdog");
    TCase *tc = tcase_create("mpi");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_collectives_match_blocking);
    tcase_add_test(tc, test_waiting_rank_sleeps);
    tcase_add_test(tc, test_start_stop_and_arguments);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, rank == 0 ? CK_NORMAL : CK_SILENT);
    int nf = srunner_ntests_failed(sr), any = 0;
    srunner_free(sr);
    MPI_Allreduce(&nf, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    rt_watchdog_stop();
    MPI_Finalize();
    return any ? 1 : 0;
}
