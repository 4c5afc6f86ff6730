/* The run lock of an output directory (io/runlock.h). */
#define _GNU_SOURCE
#include "runlock.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "fsutil.h"

struct rt_runlock {
    char *dir, *path;
    int created_dir; /* dir did not exist before */
    dev_t dev;       /* identity of our lock file */
    ino_t ino;
    int heartbeat_s;
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    int lost_warned;
    struct rt_runlock *next; /* held locks (released at exit) */
};

/* What a lock file says. */
typedef struct {
    char host[256], boot_id[64], started[64];
    long pid;
    long long pid_start;
} lock_info;

static pthread_mutex_t held_mu = PTHREAD_MUTEX_INITIALIZER;
static rt_runlock *held;
static int atexit_done;

/* ---- identity ----------------------------------------------------------------------------- */

void rt_runlock_host(char *host, size_t hcap, char *boot_id, size_t bcap) {
    if (gethostname(host, hcap) != 0) host[0] = 0;
    host[hcap - 1] = 0;
    boot_id[0] = 0;
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f) {
        if (!fgets(boot_id, (int)bcap, f)) boot_id[0] = 0;
        fclose(f);
    }
    boot_id[strcspn(boot_id, "\r\n")] = 0;
}

long long rt_runlock_pid_start(long pid) {
    char p[64], buf[1024];
    snprintf(p, sizeof p, "/proc/%ld/stat", pid);
    FILE *f = fopen(p, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* the command name (field 2) may hold spaces and parentheses: count from the last ')' */
    char *s = strrchr(buf, ')');
    if (!s) return -1;
    s++;
    for (int field = 3; field < 22; field++) {
        s = strchr(s + 1, ' ');
        if (!s) return -1;
    }
    return strtoll(s + 1, NULL, 10);
}

static void utc_now(char *buf, size_t cap) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- the file ----------------------------------------------------------------------------- */

static int parse_lock(const char *text, lock_info *li) {
    memset(li, 0, sizeof *li);
    li->pid = -1;
    li->pid_start = -1;
    int have_host = 0;
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (sscanf(l, "host: %255s", li->host) == 1) have_host = 1;
        sscanf(l, "pid: %ld", &li->pid);
        sscanf(l, "pid_start: %lld", &li->pid_start);
        sscanf(l, "boot_id: %63s", li->boot_id);
        sscanf(l, "started: %63s", li->started);
    }
    return have_host && li->pid > 0;
}

/* Writes our lock content into a new private file next to the lock; returns its path (caller
   frees and unlinks) or NULL with the error set. */
static char *write_candidate(const char *dir) {
    char host[256], boot[64], started[64], name[400];
    rt_runlock_host(host, sizeof host, boot, sizeof boot);
    utc_now(started, sizeof started);
    snprintf(name, sizeof name, "%s.%s.%ld.new", RT_RUNLOCK_NAME, host, (long)getpid());
    char *p = rt_fs_join(dir, name);
    if (!p) {
        rt_error(RT_ERR_MEMORY, "out of memory");
        return NULL;
    }
    char text[1024];
    int n = snprintf(text, sizeof text,
                     "ringtune run lock: a `ringtune train` is using this directory; removed when "
                     "it ends\nhost: %s\npid: %ld\npid_start: %lld\nboot_id: %s\nstarted: %s\n",
                     host, (long)getpid(), rt_runlock_pid_start((long)getpid()),
                     boot[0] ? boot : "-", started);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, text, (size_t)n) != n || fsync(fd) != 0) {
        rt_error(RT_ERR_IO, "%s: cannot write the run lock: %s", p, strerror(errno));
        if (fd >= 0) close(fd);
        unlink(p);
        free(p);
        return NULL;
    }
    close(fd);
    return p;
}

/* Creates the lock from the candidate: 0 created, 1 the name exists, -1 error (set). */
static int link_lock(const char *cand, const char *path) {
    if (link(cand, path) == 0) return 0;
    int e = errno;
    struct stat st;
    /* NFS: a retried link may report EEXIST although it succeeded; then cand has 2 links */
    if (e == EEXIST && stat(cand, &st) == 0 && st.st_nlink == 2) return 0;
    if (e == EEXIST) return 1;
    rt_error(RT_ERR_IO, "%s: cannot create the run lock: %s", path, strerror(e));
    return -1;
}

/* ---- staleness ---------------------------------------------------------------------------- */

/* 1 when pid is running (not a zombie waiting to be reaped: kill(pid, 0) succeeds on those). */
static int pid_running(long pid) {
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) return 0;
    char p[64], buf[512];
    snprintf(p, sizeof p, "/proc/%ld/stat", pid);
    FILE *f = fopen(p, "r");
    if (!f) return 1; /* no /proc: trust kill() */
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *s = strrchr(buf, ')');
    return !(s && s[1] == ' ' && (s[2] == 'Z' || s[2] == 'X'));
}

/* Why the holder li (whose file was last refreshed at mtime, on the clock where `now` was read)
   is gone, into why; 0 when it may be alive. */
static int is_stale(const lock_info *li, time_t mtime, time_t now, int stale_s, char *why,
                    size_t cap) {
    char host[256], boot[64];
    rt_runlock_host(host, sizeof host, boot, sizeof boot);
    if (!strcmp(li->host, host)) {
        if (boot[0] && strcmp(li->boot_id, boot) != 0) {
            snprintf(why, cap, "the host has rebooted since (boot id %s, now %s)", li->boot_id,
                     boot);
            return 1;
        }
        long long s = rt_runlock_pid_start(li->pid);
        if (li->pid_start >= 0 && s >= 0 && s != li->pid_start) {
            snprintf(why, cap, "pid %ld is another process now", li->pid);
            return 1;
        }
        /* a rank 0 whose job was just aborted may outlive mpirun by a moment (SIGKILL comes
           ~2 s after the abort): give it up to 10 s */
        for (int i = 0; i < 100 && pid_running(li->pid); i++) usleep(100000);
        if (!pid_running(li->pid)) {
            snprintf(why, cap, "pid %ld is not running", li->pid);
            return 1;
        }
        return 0;
    }
    if (now - mtime > stale_s) {
        snprintf(why, cap, "no heartbeat for %lld s (stale after %d s)", (long long)(now - mtime),
                 stale_s);
        return 1;
    }
    return 0;
}

/* Renames the stale lock (identity judged) away and removes it: 1 done, 0 the lock changed in
   between (judge again), -1 error. */
static int take_over(const char *dir, const char *path, const struct stat *judged) {
    char name[400];
    snprintf(name, sizeof name, "%s.stale.%ld", RT_RUNLOCK_NAME, (long)getpid());
    char *aside = rt_fs_join(dir, name);
    if (!aside) {
        rt_error(RT_ERR_MEMORY, "out of memory");
        return -1;
    }
    int r = 1;
    struct stat st;
    if (rename(path, aside) != 0) {
        r = errno == ENOENT ? 0 : -1;
        if (r < 0)
            rt_error(RT_ERR_IO, "%s: cannot take over the run lock: %s", path, strerror(errno));
    } else if (stat(aside, &st) != 0 || st.st_ino != judged->st_ino ||
               st.st_dev != judged->st_dev) {
        /* another run replaced it meanwhile: put its lock back (unless yet another exists) */
        if (link(aside, path) != 0 && errno != EEXIST)
            r = -1;
        else
            r = 0;
        if (r < 0)
            rt_error(RT_ERR_IO, "%s: cannot restore the run lock: %s", path, strerror(errno));
    }
    unlink(aside);
    free(aside);
    return r;
}

/* ---- heartbeat ---------------------------------------------------------------------------- */

static void *heartbeat(void *arg) {
    rt_runlock *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += l->heartbeat_s;
        while (!l->stop && pthread_cond_timedwait(&l->cv, &l->mu, &until) != ETIMEDOUT) {
        }
        if (l->stop) break;
        struct stat st;
        if (stat(l->path, &st) != 0 || st.st_ino != l->ino || st.st_dev != l->dev) {
            if (!l->lost_warned)
                fprintf(stderr,
                        "ringtune: warning: the run lock %s was removed or replaced by another "
                        "run: two runs may now share this output.dir\n",
                        l->path);
            l->lost_warned = 1;
        } else {
            utimensat(AT_FDCWD, l->path, NULL, 0);
        }
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

void rt_runlock_release_held(void) {
    for (;;) {
        pthread_mutex_lock(&held_mu);
        rt_runlock *l = held;
        pthread_mutex_unlock(&held_mu);
        if (!l) break;
        rt_runlock_release(&l);
    }
}

/* ---- acquire / release -------------------------------------------------------------------- */

static rt_status refuse(const char *dir, const char *path, const lock_info *li, time_t age,
                        int stale_s) {
    return rt_error(RT_ERR_ARG,
                    "output.dir %s: in use by another run: host %s, pid %ld, started %s (lock "
                    "file %s, heartbeat %lld s ago). Two runs on one output.dir would remove each "
                    "other's checkpoints: wait for that run to end, stop it, or choose another "
                    "output.dir. A lock left by a run that died is taken over automatically (on "
                    "its host once its pid is gone, from other hosts %d s after its last "
                    "heartbeat)",
                    dir, li->host, li->pid, li->started[0] ? li->started : "?", path,
                    (long long)age, stale_s);
}

/* One attempt: 0 acquired, 1 try again (the lock changed under us), else the status. */
static int try_acquire(const char *dir, const char *path, const char *cand, int stale_s, FILE *log,
                       rt_status *st) {
    int r = link_lock(cand, path);
    if (r <= 0) {
        *st = r == 0 ? RT_OK : RT_ERR_IO;
        return r == 0 ? 0 : 2;
    }
    struct stat ls, cs;
    char *text = NULL;
    size_t n;
    if (stat(path, &ls) != 0) return 1; /* released meanwhile */
    if (rt_fs_read_file(path, &text, &n) != RT_OK) {
        if (!rt_fs_exists(path)) return 1;
        *st = RT_ERR_IO;
        return 2;
    }
    lock_info li;
    int ok = parse_lock(text, &li);
    free(text);
    if (!ok) {
        *st = rt_error(RT_ERR_FORMAT,
                       "output.dir %s: the run lock %s is not a ringtune lock (no host and pid "
                       "lines): remove it if no run is using the directory",
                       dir, path);
        return 2;
    }
    /* the candidate was just written: its mtime is "now" on the file server's clock */
    time_t now = stat(cand, &cs) == 0 ? cs.st_mtime : time(NULL);
    char why[256];
    if (!is_stale(&li, ls.st_mtime, now, stale_s, why, sizeof why)) {
        *st = refuse(dir, path, &li, now - ls.st_mtime, stale_s);
        return 2;
    }
    r = take_over(dir, path, &ls);
    if (r < 0) {
        *st = RT_ERR_IO;
        return 2;
    }
    if (r == 1 && log)
        fprintf(log,
                "ringtune: warning: output.dir %s: took over the run lock of a run that is gone "
                "(host %s, pid %ld, started %s: %s)\n",
                dir, li.host, li.pid, li.started[0] ? li.started : "?", why);
    return 1;
}

static rt_runlock *lock_new(const char *dir, const char *path, int created, int hb) {
    rt_runlock *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->dir = strdup(dir);
    l->path = strdup(path);
    l->created_dir = created;
    l->heartbeat_s = hb;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    struct stat st;
    if (!l->dir || !l->path || stat(path, &st) != 0) {
        free(l->dir);
        free(l->path);
        free(l);
        return NULL;
    }
    l->dev = st.st_dev;
    l->ino = st.st_ino;
    return l;
}

rt_status rt_runlock_acquire(const char *dir, const rt_runlock_opts *o, FILE *log,
                             rt_runlock **out) {
    *out = NULL;
    int hb = o && o->heartbeat_s > 0 ? o->heartbeat_s : RT_RUNLOCK_HEARTBEAT_S;
    int stale_s = o && o->stale_s > 0 ? o->stale_s : RT_RUNLOCK_STALE_S;
    int created = !rt_fs_exists(dir);
    RT_CALL(rt_fs_mkdir_p(dir));
    char *path = rt_fs_join(dir, RT_RUNLOCK_NAME);
    char *cand = path ? write_candidate(dir) : NULL;
    rt_status st = path ? RT_OK : rt_error(RT_ERR_MEMORY, "out of memory");
    if (path && !cand) st = RT_ERR_IO;
    int r = 1;
    for (int tries = 0; st == RT_OK && r == 1; tries++) {
        if (tries == 10) {
            st = rt_error(RT_ERR_IO, "%s: the run lock keeps changing (10 attempts)", path);
            break;
        }
        r = try_acquire(dir, path, cand, stale_s, log, &st);
    }
    rt_runlock *l = NULL;
    if (st == RT_OK && !(l = lock_new(dir, path, created, hb))) {
        unlink(path);
        st = rt_error(RT_ERR_MEMORY, "out of memory");
    }
    if (cand) unlink(cand);
    free(cand);
    free(path);
    if (st != RT_OK) {
        if (created) rmdir(dir);
        return st;
    }
    rt_fs_sync_dir(dir);
    /* the heartbeat thread takes no signals: they go to the threads that expect them */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    l->thread_started = pthread_create(&l->thread, NULL, heartbeat, l) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_mutex_lock(&held_mu);
    l->next = held;
    held = l;
    if (!atexit_done) atexit_done = atexit(rt_runlock_release_held) == 0;
    pthread_mutex_unlock(&held_mu);
    *out = l;
    return RT_OK;
}

void rt_runlock_release(rt_runlock **lp) {
    rt_runlock *l = lp ? *lp : NULL;
    if (!l) return;
    *lp = NULL;
    pthread_mutex_lock(&held_mu);
    int found = 0;
    for (rt_runlock **p = &held; *p; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            found = 1;
            break;
        }
    pthread_mutex_unlock(&held_mu);
    if (!found) return; /* released already (at exit) */
    if (l->thread_started) {
        pthread_mutex_lock(&l->mu);
        l->stop = 1;
        pthread_cond_signal(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
    }
    struct stat st;
    if (stat(l->path, &st) == 0 && st.st_ino == l->ino && st.st_dev == l->dev) unlink(l->path);
    if (l->created_dir) rmdir(l->dir); /* only when empty */
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l->dir);
    free(l->path);
    free(l);
}
