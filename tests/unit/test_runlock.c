/* The run lock of an output directory (io/runlock.h): a held lock refuses a second holder with a
   message naming host, pid and start time; locks of a dead pid, a reused pid, an earlier boot or
   another host without a recent heartbeat are taken over (with a warning); another host's fresh
   lock is refused; a malformed lock is refused; the heartbeat refreshes the file; release removes
   only our own lock and the directory it created. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "runlock.h"

static char dir[256], lockp[300];

static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/rt_runlock_XXXXXX");
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(lockp, sizeof lockp, "%s/%s", dir, RT_RUNLOCK_NAME);
}

static void teardown(void) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

/* Writes a lock file as another holder would, its mtime age_s seconds in the past. */
static void write_lock(const char *host, long pid, long long pid_start, const char *boot,
                       int age_s) {
    FILE *f = fopen(lockp, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "ringtune run lock\nhost: %s\npid: %ld\npid_start: %lld\nboot_id: %s\n"
            "started: 2026-01-02T03:04:05Z\n",
            host, pid, pid_start, boot);
    fclose(f);
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= age_s;
    ts[1] = ts[0];
    ck_assert_int_eq(utimensat(AT_FDCWD, lockp, ts, 0), 0);
}

static void me(char *host, char *boot) {
    rt_runlock_host(host, 256, boot, 64);
    ck_assert_msg(host[0] && boot[0], "host name or boot id unknown");
}

/* a pid that has just exited (reaped) */
static long dead_pid(void) {
    pid_t p = fork();
    ck_assert_int_ge(p, 0);
    if (p == 0) _exit(0);
    waitpid(p, NULL, 0);
    return (long)p;
}

static char *slurp(const char *path) {
    static char buf[4096];
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

START_TEST(test_acquire_release) {
    rt_runlock *l = NULL;
    ck_assert_int_eq(rt_runlock_acquire(dir, NULL, stderr, &l), RT_OK);
    char host[256], boot[64], want[400];
    me(host, boot);
    const char *t = slurp(lockp);
    ck_assert_ptr_nonnull(t);
    snprintf(want, sizeof want, "host: %s\npid: %ld\n", host, (long)getpid());
    ck_assert_msg(strstr(t, want) && strstr(t, boot) && strstr(t, "started: "), "lock content:\n%s",
                  t);
    /* no private candidate files are left next to it */
    char cmd[400];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) = 1", dir);
    ck_assert_int_eq(system(cmd), 0);
    rt_runlock_release(&l);
    ck_assert_ptr_null(l);
    ck_assert_int_ne(access(lockp, F_OK), 0);
    rt_runlock_release(&l); /* NULL: no-op */
    /* the exit-path release: the lock goes, the handle's later release is a no-op */
    ck_assert_int_eq(rt_runlock_acquire(dir, NULL, stderr, &l), RT_OK);
    rt_runlock_release_held();
    ck_assert_int_ne(access(lockp, F_OK), 0);
    rt_runlock_release(&l);
}
END_TEST

START_TEST(test_second_holder_refused) {
    rt_runlock *a = NULL, *b = NULL;
    ck_assert_int_eq(rt_runlock_acquire(dir, NULL, stderr, &a), RT_OK);
    char host[256], boot[64], want[400];
    me(host, boot);
    ck_assert_int_eq(rt_runlock_acquire(dir, NULL, stderr, &b), RT_ERR_ARG);
    ck_assert_ptr_null(b);
    const char *m = rt_error_message();
    snprintf(want, sizeof want, "host %s, pid %ld, started 20", host, (long)getpid());
    ck_assert_msg(strstr(m, dir) && strstr(m, "in use by another run") && strstr(m, want),
                  "message: %s", m);
    ck_assert_int_eq(access(lockp, F_OK), 0); /* the holder's lock is untouched */
    rt_runlock_release(&a);
}
END_TEST

START_TEST(test_dead_pid_taken_over) {
    char host[256], boot[64];
    me(host, boot);
    long pid = dead_pid();
    write_lock(host, pid, 12345, boot, 0);
    char *buf = NULL;
    size_t n = 0;
    FILE *log = open_memstream(&buf, &n);
    rt_runlock *l = NULL;
    ck_assert_int_eq(rt_runlock_acquire(dir, NULL, log, &l), RT_OK);
    fclose(log);
    char want[100];
    snprintf(want, sizeof want, "pid %ld is not running", pid);
    ck_assert_msg(strstr(buf, "warning") && strstr(buf, "took over") && strstr(buf, want),
                  "log: %s", buf);
    free(buf);
    char mine[100];
    snprintf(mine, sizeof mine, "pid: %ld\n", (long)getpid());
    ck_assert_ptr_nonnull(strstr(slurp(lockp), mine));
    rt_runlock_release(&l);
}
END_TEST

START_TEST(test_zombie_taken_over) {
    char host[256], boot[64];
    me(host, boot);
    pid_t p = fork();
    ck_assert_int_ge(p, 0);
    if (p == 0) _exit(0);
    /* not reaped yet: a zombie, which kill(pid, 0) still reports */
    char path[64], st[512] = "";
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)p);
    for (int i = 0; i < 600 && !strstr(st, ") Z"); i++) {
        usleep(100000);
        FILE *f = fopen(path, "r");
        if (f) {
            size_t n = fread(st, 1, sizeof st - 1, f);
            st[n] = 0;
            fclose(f);
        }
    }
    ck_assert_msg(strstr(st, ") Z"), "child %ld did not become a zombie: %s", (long)p, st);
    write_lock(host, (long)p, rt_runlock_pid_start(p), boot, 0);
    rt_runlock *l = NULL;
    ck_assert_int_eq(rt_runlock_acquire(dir, NULL, NULL, &l), RT_OK);
    rt_runlock_release(&l);
    waitpid(p, NULL, 0);
}
END_TEST

START_TEST(test_reused_pid_and_reboot_taken_over) {
    char host[256], boot[64];
    me(host, boot);
    /* our own (live) pid, but another start time: the pid was reused */
    write_lock(host, (long)getpid(), rt_runlock_pid_start(getpid()) + 1, boot, 0);
    rt_runlock *l = NULL;
    ck_assert_int_eq(rt_runlock_acquire(dir, NULL, NULL, &l), RT_OK);
    rt_runlock_release(&l);
    /* a live pid, but written before a reboot */
    write_lock(host, (long)getpid(), rt_runlock_pid_start(getpid()),
               "00000000-0000-0000-0000-000000000000", 0);
    ck_assert_int_eq(rt_runlock_acquire(dir, NULL, NULL, &l), RT_OK);
    rt_runlock_release(&l);
}
END_TEST

START_TEST(test_other_host) {
    rt_runlock *l = NULL;
    rt_runlock_opts o = {0, 60};
    /* fresh heartbeat: refused, whatever its pid */
    write_lock("node-elsewhere-17", 1, 1, "b", 5);
    ck_assert_int_eq(rt_runlock_acquire(dir, &o, NULL, &l), RT_ERR_ARG);
    const char *m = rt_error_message();
    ck_assert_msg(strstr(m, "host node-elsewhere-17, pid 1, started 2026-01-02T03:04:05Z") &&
                      strstr(m, "heartbeat") && strstr(m, "60 s"),
                  "message: %s", m);
    /* no heartbeat for longer than the bound: taken over */
    write_lock("node-elsewhere-17", 1, 1, "b", 600);
    char *buf = NULL;
    size_t n = 0;
    FILE *log = open_memstream(&buf, &n);
    ck_assert_int_eq(rt_runlock_acquire(dir, &o, log, &l), RT_OK);
    fclose(log);
    ck_assert_msg(strstr(buf, "no heartbeat for") && strstr(buf, "node-elsewhere-17"), "log: %s",
                  buf);
    free(buf);
    rt_runlock_release(&l);
}
END_TEST

START_TEST(test_malformed_refused) {
    FILE *f = fopen(lockp, "w");
    fputs("something else\n", f);
    fclose(f);
    rt_runlock *l = NULL;
    ck_assert_int_eq(rt_runlock_acquire(dir, NULL, NULL, &l), RT_ERR_FORMAT);
    ck_assert_msg(strstr(rt_error_message(), "remove it"), "%s", rt_error_message());
    ck_assert_str_eq(slurp(lockp), "something else\n");
}
END_TEST

START_TEST(test_heartbeat_refreshes) {
    rt_runlock *l = NULL;
    rt_runlock_opts o = {1, 0};
    ck_assert_int_eq(rt_runlock_acquire(dir, &o, NULL, &l), RT_OK);
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= 1000;
    ts[1] = ts[0];
    ck_assert_int_eq(utimensat(AT_FDCWD, lockp, ts, 0), 0);
    struct stat st;
    int refreshed = 0;
    for (int i = 0; i < 600 && !refreshed; i++) { /* up to 60 s (a loaded machine) */
        usleep(100000);
        refreshed = stat(lockp, &st) == 0 && st.st_mtime > ts[0].tv_sec + 500;
    }
    ck_assert_msg(refreshed, "the heartbeat did not refresh %s", lockp);
    rt_runlock_release(&l);
}
END_TEST

START_TEST(test_release_keeps_a_replaced_lock) {
    rt_runlock *l = NULL;
    ck_assert_int_eq(rt_runlock_acquire(dir, NULL, NULL, &l), RT_OK);
    /* another run replaced the lock (a new file under the name) */
    char tmp[320];
    snprintf(tmp, sizeof tmp, "%s/other", dir);
    FILE *f = fopen(tmp, "w");
    fputs("host: other\npid: 7\n", f);
    fclose(f);
    ck_assert_int_eq(rename(tmp, lockp), 0);
    rt_runlock_release(&l);
    ck_assert_str_eq(slurp(lockp), "host: other\npid: 7\n");
}
END_TEST

START_TEST(test_creates_and_removes_missing_dir) {
    char sub[300];
    snprintf(sub, sizeof sub, "%s/a/b", dir);
    rt_runlock *l = NULL;
    ck_assert_int_eq(rt_runlock_acquire(sub, NULL, NULL, &l), RT_OK);
    struct stat st;
    ck_assert_int_eq(stat(sub, &st), 0);
    rt_runlock_release(&l);
    ck_assert_int_ne(stat(sub, &st), 0); /* created by the lock and empty: removed */
}
END_TEST

int main(void) {
    Suite *s = suite_create("runlock");
    TCase *tc = tcase_create("runlock");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_acquire_release);
    tcase_add_test(tc, test_second_holder_refused);
    tcase_add_test(tc, test_dead_pid_taken_over);
    tcase_add_test(tc, test_zombie_taken_over);
    tcase_add_test(tc, test_reused_pid_and_reboot_taken_over);
    tcase_add_test(tc, test_other_host);
    tcase_add_test(tc, test_malformed_refused);
    tcase_add_test(tc, test_heartbeat_refreshes);
    tcase_add_test(tc, test_release_keeps_a_replaced_lock);
    tcase_add_test(tc, test_creates_and_removes_missing_dir);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
