/* The sweep's schedule without MPI: ASHA's rungs, the trials successive halving keeps and prunes
   at each rung, decisions taken early only when certain and independent of the order results
   come in (any number of groups), failures and early stops, interrupted jobs queued again, the
   state file's replay, and the results table's order (dist/sweep_sched.h, dist/sweep_state.h,
   dist/sweep_table.h). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "rng.h"
#include "sweep_sched.h"
#include "sweep_state.h"

START_TEST(test_rungs) {
    long r[8];
    ck_assert_int_eq(rt_sweep_rungs(2, 8, 2, r, 8), 3);
    ck_assert(r[0] == 2 && r[1] == 4 && r[2] == 8);
    ck_assert_int_eq(rt_sweep_rungs(4, 20, 3, r, 8), 3); /* max_steps is the last rung */
    ck_assert(r[0] == 4 && r[1] == 12 && r[2] == 20);
    ck_assert_int_eq(rt_sweep_rungs(1, 2, 3, r, 8), 2);
    ck_assert(r[0] == 1 && r[1] == 2);
}
END_TEST

/* The metric trial i reports at rung k: trial i's quality is q[i] (lower is better), improving
   a little with each rung. */
static const double q[8] = {5.0, 3.0, 7.0, 1.0, 6.0, 2.0, 8.0, 4.0};
static rt_job_result ok_result(int trial, int rung) {
    rt_job_result r = {trial,      rung, RT_JOB_OK, q[trial] - 0.1 * rung, q[trial] - 0.1 * rung,
                       2L << rung, 1.0,  ""};
    return r;
}

/* Runs the whole schedule with `groups` workers that finish their jobs in a seeded random
   order; returns the states, and checks every job is handed out once. */
static void simulate(rt_sweep_sched *s, int groups, uint64_t seed) {
    int busy_t[8], busy_k[8], n_busy = 0;
    for (uint64_t step = 0;; step++) {
        while (n_busy < groups) {
            int t, k;
            rt_next_kind kind = rt_sweep_sched_next(s, &t, &k);
            if (kind != RT_NEXT_JOB) {
                ck_assert(kind == RT_NEXT_WAIT || (kind == RT_NEXT_DONE && n_busy == 0));
                break;
            }
            busy_t[n_busy] = t;
            busy_k[n_busy++] = k;
        }
        if (n_busy == 0) break;
        int pick = (int)(rt_mix64(seed ^ step) % (uint64_t)n_busy);
        rt_job_result r = ok_result(busy_t[pick], busy_k[pick]);
        ck_assert_int_eq(rt_sweep_sched_report(s, &r), RT_OK);
        busy_t[pick] = busy_t[--n_busy];
        busy_k[pick] = busy_k[n_busy];
    }
    int t, k;
    ck_assert_int_eq(rt_sweep_sched_next(s, &t, &k), RT_NEXT_DONE);
}

START_TEST(test_asha_prunes_expected) {
    long rungs[3] = {2, 4, 8};
    rt_sweep_sched s;
    ck_assert_int_eq(rt_sweep_sched_init(&s, 8, rungs, 3, 2, 0), RT_OK);
    simulate(&s, 1, 1);
    /* rung 0: 8 reach it, the best 4 go on (trials 3, 5, 1, 7); rung 1: the best 2 of those
       (3, 5); they run the whole budget */
    static const rt_trial_state want[8] = {RT_TRIAL_PRUNED, RT_TRIAL_PRUNED, RT_TRIAL_PRUNED,
                                           RT_TRIAL_DONE,   RT_TRIAL_PRUNED, RT_TRIAL_DONE,
                                           RT_TRIAL_PRUNED, RT_TRIAL_PRUNED};
    static const int reached[8] = {0, 1, 0, 2, 0, 2, 0, 1};
    for (int i = 0; i < 8; i++) {
        ck_assert_msg(s.t[i].state == want[i], "trial %d: state %d", i, (int)s.t[i].state);
        ck_assert_int_eq(s.t[i].reached, reached[i]);
    }
    rt_sweep_sched_free(&s);
}
END_TEST

/* The same results in any order and with any number of groups: the same decisions. */
START_TEST(test_order_independent) {
    long rungs[3] = {2, 4, 8};
    rt_sweep_sched ref;
    ck_assert_int_eq(rt_sweep_sched_init(&ref, 8, rungs, 3, 2, 0), RT_OK);
    simulate(&ref, 1, 1);
    for (int groups = 1; groups <= 5; groups++)
        for (uint64_t seed = 0; seed < 20; seed++) {
            rt_sweep_sched s;
            ck_assert_int_eq(rt_sweep_sched_init(&s, 8, rungs, 3, 2, 0), RT_OK);
            simulate(&s, groups, seed);
            for (int i = 0; i < 8; i++) {
                ck_assert_int_eq(s.t[i].state, ref.t[i].state);
                ck_assert_int_eq(s.t[i].reached, ref.t[i].reached);
            }
            rt_sweep_sched_free(&s);
        }
    rt_sweep_sched_free(&ref);
}
END_TEST

/* A trial is promoted before its rung is complete only when no pending result could change it,
   so a group need not wait for the slowest trial of the rung. */
START_TEST(test_early_decisions) {
    long rungs[2] = {2, 8};
    rt_sweep_sched s;
    ck_assert_int_eq(rt_sweep_sched_init(&s, 8, rungs, 2, 2, 0), RT_OK);
    int t, k;
    for (int i = 0; i < 8; i++) ck_assert_int_eq(rt_sweep_sched_next(&s, &t, &k), RT_NEXT_JOB);
    /* 7 of 8 report (all but trial 6, the worst): keep 3 or 4 of them. Trials 3 and 5 (the
       best two) are in whatever trial 6 does; 1 and 7 (third and fourth) not yet; 0, 4 and 2
       (fifth to seventh) are out */
    for (int i = 0; i < 8; i++) {
        if (i == 6) continue;
        rt_job_result r = ok_result(i, 0);
        ck_assert_int_eq(rt_sweep_sched_report(&s, &r), RT_OK);
    }
    ck_assert_int_eq(s.t[3].state, RT_TRIAL_QUEUED);
    ck_assert_int_eq(s.t[3].rung, 1);
    ck_assert_int_eq(s.t[5].state, RT_TRIAL_QUEUED);
    ck_assert_int_eq(s.t[1].state, RT_TRIAL_PAUSED);
    ck_assert_int_eq(s.t[7].state, RT_TRIAL_PAUSED);
    ck_assert_int_eq(s.t[0].state, RT_TRIAL_PRUNED);
    ck_assert_int_eq(s.t[4].state, RT_TRIAL_PRUNED);
    ck_assert_int_eq(s.t[2].state, RT_TRIAL_PRUNED);
    /* promotions first */
    ck_assert_int_eq(rt_sweep_sched_next(&s, &t, &k), RT_NEXT_JOB);
    ck_assert_int_eq(t, 3);
    ck_assert_int_eq(k, 1);
    rt_job_result r = ok_result(6, 0);
    ck_assert_int_eq(rt_sweep_sched_report(&s, &r), RT_OK);
    ck_assert_int_eq(s.t[1].state, RT_TRIAL_QUEUED);
    ck_assert_int_eq(s.t[7].state, RT_TRIAL_QUEUED);
    ck_assert_int_eq(s.t[6].state, RT_TRIAL_PRUNED);
    rt_sweep_sched_free(&s);
}
END_TEST

START_TEST(test_failures_and_interruptions) {
    long rungs[2] = {2, 8};
    rt_sweep_sched s;
    ck_assert_int_eq(rt_sweep_sched_init(&s, 5, rungs, 2, 2, 1), RT_OK); /* higher is better */
    ck_assert_int_eq(rt_sweep_sched_fail(&s, 4, "trial 4: optim.lr -1"), RT_OK);
    int t, k;
    for (int i = 0; i < 4; i++) ck_assert_int_eq(rt_sweep_sched_next(&s, &t, &k), RT_NEXT_JOB);
    ck_assert_int_eq(rt_sweep_sched_next(&s, &t, &k), RT_NEXT_WAIT);
    rt_job_result r0 = {0, 0, RT_JOB_INTERRUPTED, NAN, NAN, 1, 0.5, ""};
    ck_assert_int_eq(rt_sweep_sched_report(&s, &r0), RT_OK);
    ck_assert_int_eq(s.t[0].state, RT_TRIAL_QUEUED); /* resumes at the same rung */
    ck_assert_int_eq(rt_sweep_sched_next(&s, &t, &k), RT_NEXT_JOB);
    ck_assert(t == 0 && k == 0);
    rt_job_result a = {0, 0, RT_JOB_OK, 0.9, 0.9, 2, 0.7, ""};
    rt_job_result b = {1, 0, RT_JOB_FAILED, NAN, NAN, 1, 0.1, "non-finite loss"};
    rt_job_result c = {2, 0, RT_JOB_STOPPED_EARLY, 0.95, 0.8, 1, 0.2, ""};
    rt_job_result d = {3, 0, RT_JOB_OK, 0.5, 0.5, 2, 0.3, ""};
    ck_assert_int_eq(rt_sweep_sched_report(&s, &a), RT_OK);
    ck_assert_int_eq(rt_sweep_sched_report(&s, &b), RT_OK);
    ck_assert_int_eq(rt_sweep_sched_report(&s, &c), RT_OK);
    ck_assert_int_eq(rt_sweep_sched_report(&s, &d), RT_OK);
    /* reached rung 0: trials 0 and 3 (failed and stopped ones do not), keep 1: trial 0 */
    ck_assert_int_eq(s.t[0].state, RT_TRIAL_QUEUED);
    ck_assert_int_eq(s.t[3].state, RT_TRIAL_PRUNED);
    ck_assert_int_eq(s.t[1].state, RT_TRIAL_FAILED);
    ck_assert_str_eq(s.t[1].error, "non-finite loss");
    ck_assert_int_eq(s.t[2].state, RT_TRIAL_STOPPED);
    ck_assert(fabs(s.t[0].seconds - 1.2) < 1e-12); /* the interrupted job's time counts */
    /* a result nobody waits for */
    ck_assert_int_eq(rt_sweep_sched_report(&s, &d), RT_ERR_ARG);
    /* the table: finished by the metric (higher is better), pruned, failed last */
    rt_job_result e = {0, 1, RT_JOB_OK, 0.97, 0.97, 8, 1.0, ""};
    ck_assert_int_eq(rt_sweep_sched_next(&s, &t, &k), RT_NEXT_JOB);
    ck_assert_int_eq(rt_sweep_sched_report(&s, &e), RT_OK);
    int order[5];
    ck_assert_int_eq(rt_sweep_sched_rank(&s, order), 0);
    static const int want[5] = {0, 2, 3, 1, 4};
    for (int i = 0; i < 5; i++) ck_assert_int_eq(order[i], want[i]);
    ck_assert_int_eq(rt_sweep_sched_next(&s, &t, &k), RT_NEXT_DONE);
    s.stopping = 1;
    ck_assert_int_eq(rt_sweep_sched_next(&s, &t, &k), RT_NEXT_STOP);
    rt_sweep_sched_free(&s);
}
END_TEST

/* The state file: results appended, replayed into a fresh schedule at a restart (a torn last
   line dropped), and refused when written by another sweep. */
START_TEST(test_state_file) {
    char path[] = "/tmp/rt_sweep_state_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    unlink(path);
    long rungs[3] = {2, 4, 8};
    rt_sweep_sched a, b;
    ck_assert_int_eq(rt_sweep_sched_init(&a, 8, rungs, 3, 2, 0), RT_OK);
    rt_sweep_state st;
    int replayed;
    ck_assert_int_eq(rt_sweep_state_open(&st, path, "00ff", &a, &replayed), RT_OK);
    ck_assert_int_eq(replayed, 0);
    int t, k, n = 0;
    while (rt_sweep_sched_next(&a, &t, &k) == RT_NEXT_JOB && n < 10) {
        rt_job_result r = ok_result(t, k);
        if (n == 3) {
            r.status = RT_JOB_FAILED;
            snprintf(r.error, sizeof r.error, "a \"quoted\"\nmessage");
        }
        ck_assert_int_eq(rt_sweep_sched_report(&a, &r), RT_OK);
        ck_assert_int_eq(rt_sweep_state_append(&st, &r), RT_OK);
        n++;
    }
    rt_sweep_state_close(&st);
    FILE *f = fopen(path, "a");
    fputs("{\"trial\": 5, \"ru", f); /* a crash mid-write */
    fclose(f);
    ck_assert_int_eq(rt_sweep_sched_init(&b, 8, rungs, 3, 2, 0), RT_OK);
    ck_assert_int_eq(rt_sweep_state_open(&st, path, "00ff", &b, &replayed), RT_OK);
    ck_assert_int_eq(replayed, n);
    for (int i = 0; i < 8; i++) {
        /* the job handed out last was never reported: queued again */
        rt_trial_state want = a.t[i].state == RT_TRIAL_RUNNING ? RT_TRIAL_QUEUED : a.t[i].state;
        ck_assert_int_eq(b.t[i].state, want);
        ck_assert_int_eq(b.t[i].rung, a.t[i].rung);
        ck_assert(b.t[i].best == a.t[i].best || (isnan(a.t[i].best) && isnan(b.t[i].best)));
    }
    ck_assert_str_eq(b.t[3].error, "a \"quoted\"\nmessage");
    rt_sweep_state_close(&st);
    rt_sweep_sched_free(&b);
    /* another sweep's state */
    ck_assert_int_eq(rt_sweep_sched_init(&b, 8, rungs, 3, 2, 0), RT_OK);
    ck_assert_int_eq(rt_sweep_state_open(&st, path, "1234", &b, &replayed), RT_ERR_ARG);
    ck_assert(strstr(rt_error_message(), "was written by another sweep"));
    rt_sweep_sched_free(&b);
    rt_sweep_sched_free(&a);
    unlink(path);
}
END_TEST

int main(void) {
    Suite *s = suite_create("sweep_sched");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_rungs);
    tcase_add_test(tc, test_asha_prunes_expected);
    tcase_add_test(tc, test_order_independent);
    tcase_add_test(tc, test_early_decisions);
    tcase_add_test(tc, test_failures_and_interruptions);
    tcase_add_test(tc, test_state_file);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
