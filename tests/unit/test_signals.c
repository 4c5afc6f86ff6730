/* The stop signals of `ringtune train` (dist/checkpoint.h rt_signals_*): SIGUSR1, SIGTERM and
   SIGINT set the flag; further SIGTERM/SIGUSR1 are absorbed; a SIGINT while a stop is pending
   (Ctrl-C twice) ends the process by SIGINT; a SIGINT ignored on entry stays ignored; restore
   puts the previous handlers back. Each case runs in a child process. */
#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "checkpoint.h"

/* Runs fn in a child; returns its wait status. */
static int in_child(void (*fn)(void)) {
    pid_t p = fork();
    ck_assert_int_ge(p, 0);
    if (p == 0) {
        fn();
        _exit(0);
    }
    int ws = 0;
    ck_assert_int_eq(waitpid(p, &ws, 0), p);
    return ws;
}

static void term_twice(void) {
    rt_signals_install();
    raise(SIGTERM);
    raise(SIGTERM);
    if (rt_signals_pending() != 2 || rt_signals_last() != SIGTERM) _exit(3);
    raise(SIGUSR1);
    if (rt_signals_pending() != 3 || rt_signals_last() != SIGUSR1) _exit(4);
    _exit(0);
}

static void int_twice(void) {
    rt_signals_install();
    raise(SIGINT);
    if (rt_signals_pending() != 1 || rt_signals_last() != SIGINT) _exit(3);
    raise(SIGINT); /* the hard stop: does not return */
    _exit(5);
}

static void term_then_int(void) {
    rt_signals_install();
    raise(SIGTERM);
    raise(SIGINT); /* Ctrl-C while the stop asked by SIGTERM is pending: stops at once */
    _exit(5);
}

static void int_ignored(void) {
    signal(SIGINT, SIG_IGN);
    rt_signals_install();
    raise(SIGINT);
    if (rt_signals_pending() != 0) _exit(3);
    rt_signals_restore();
    struct sigaction sa;
    sigaction(SIGINT, NULL, &sa);
    _exit(sa.sa_handler == SIG_IGN ? 0 : 4);
}

static void restore_previous(void) {
    struct sigaction before[3], after[3];
    const int sigs[3] = {SIGINT, SIGTERM, SIGUSR1};
    for (int i = 0; i < 3; i++) sigaction(sigs[i], NULL, &before[i]);
    rt_signals_install();
    rt_signals_install(); /* idempotent */
    rt_signals_restore();
    for (int i = 0; i < 3; i++) {
        sigaction(sigs[i], NULL, &after[i]);
        if (after[i].sa_handler != before[i].sa_handler) _exit(3 + i);
    }
    _exit(0);
}

START_TEST(test_term_absorbed) {
    int ws = in_child(term_twice);
    ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "wait status %d", ws);
}
END_TEST

START_TEST(test_second_int_stops) {
    int ws = in_child(int_twice);
    ck_assert_msg(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGINT, "wait status %d", ws);
    ws = in_child(term_then_int);
    ck_assert_msg(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGINT, "wait status %d", ws);
}
END_TEST

START_TEST(test_ignored_int_and_restore) {
    int ws = in_child(int_ignored);
    ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "wait status %d", ws);
    ws = in_child(restore_previous);
    ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "wait status %d", ws);
}
END_TEST

START_TEST(test_names) {
    ck_assert_str_eq(rt_signals_name(SIGINT), "SIGINT");
    ck_assert_str_eq(rt_signals_name(SIGTERM), "SIGTERM");
    ck_assert_str_eq(rt_signals_name(SIGUSR1), "SIGUSR1");
}
END_TEST

int main(void) {
    Suite *s = suite_create("signals");
    TCase *tc = tcase_create("signals");
    tcase_add_test(tc, test_term_absorbed);
    tcase_add_test(tc, test_second_int_stops);
    tcase_add_test(tc, test_ignored_int_and_restore);
    tcase_add_test(tc, test_names);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
