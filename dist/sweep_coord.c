/* The sweep's coordinator on world rank 0 (dist/sweep_internal.h): the schedule, the state file
   and the tables under one lock; the thread that serves the other groups' requests; and the
   listener thread of the other groups' leaders. */
#include "sweep_internal.h"
#include "config.h"
#include "fsutil.h"
#include "signals.h"
#include "sweep_table.h"
#include "sweep_trial.h"
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- under the lock ---- */

/* Hands out no further job; rank 0's own running trial (whose ranks did not see a signal) is
   asked to checkpoint, as the other groups' are by their listeners. */
static void begin_stop(sw_sweep *w, int signalled) {
    sw_coord *co = w->co;
    co->signalled |= signalled;
    if (co->sched.stopping) return;
    co->sched.stopping = 1;
    if (co->local_running && rt_signals_pending() == 0) kill(getpid(), SIGUSR1);
    pthread_cond_broadcast(&co->changed);
}

static void set_fatal(sw_sweep *w, rt_status st, const char *msg) {
    sw_coord *co = w->co;
    if (co->fatal == RT_OK) {
        co->fatal = st;
        snprintf(co->fatal_msg, sizeof co->fatal_msg, "%s", msg);
    }
    begin_stop(w, 0);
}

static void log_result(sw_sweep *w, const rt_job_result *r) {
    if (!w->log) return;
    fprintf(w->log, "sweep: trial %d rung %d ", r->trial, r->rung);
    if (r->status == RT_JOB_FAILED)
        fprintf(w->log, "failed at step %ld: %.*s", r->steps, (int)strcspn(r->error, "\n"),
                r->error);
    else if (r->status == RT_JOB_INTERRUPTED)
        fprintf(w->log, "interrupted: checkpointed at step %ld", r->steps);
    else
        fprintf(w->log, "%s at step %ld: %s best %.6g, last %.6g",
                r->status == RT_JOB_STOPPED_EARLY ? "stopped early" : "reached its steps", r->steps,
                w->co->spec.metric, r->best, r->last);
    fprintf(w->log, " (%.1f s)\n", r->seconds);
    fflush(w->log);
}

static void write_tables(sw_sweep *w) {
    sw_coord *co = w->co;
    if (rt_sweep_write_results(w->out, &co->spec, &co->trials, &co->sched, NULL) != RT_OK)
        set_fatal(w, RT_ERR_IO, rt_error_message());
}

/* A job's result: into the state file, then the schedule (the state file first, so a crash in
   between reruns the job rather than losing it). fatal: an error every trial would meet. */
static void record(sw_sweep *w, const rt_job_result *r, int fatal) {
    sw_coord *co = w->co;
    log_result(w, r);
    if (fatal) {
        set_fatal(w, RT_ERR_ARG, r->error);
        return;
    }
    rt_status st = rt_sweep_state_append(&co->state, r);
    if (st == RT_OK) st = rt_sweep_sched_report(&co->sched, r);
    if (st != RT_OK) {
        set_fatal(w, st, rt_error_message());
        return;
    }
    if (r->status == RT_JOB_INTERRUPTED) begin_stop(w, 1);
    write_tables(w);
    pthread_cond_broadcast(&co->changed);
}

static rt_status job_message(sw_sweep *w, int t, int k, char **msg, int *len) {
    sw_coord *co = w->co;
    char dir[4096];
    rt_sweep_trial_dir(w->out, co->trials.n_trials, t, dir, sizeof dir);
    rt_run_config cfg;
    RT_CALL(rt_sweep_trial_config(&co->spec, &co->trials, t, dir, co->rungs[k], &cfg));
    size_t n = 0;
    FILE *m = open_memstream(msg, &n);
    rt_status st = m ? RT_OK : rt_error(RT_ERR_MEMORY, "out of memory");
    if (m) {
        fprintf(m, "job %d %d\n", t, k);
        st = rt_config_write_yaml(&cfg, m);
        fclose(m);
    }
    rt_config_free(&cfg);
    *len = (int)n;
    return st;
}

static void log_job(sw_sweep *w, int gid, int t, int k) {
    sw_coord *co = w->co;
    if (!w->log) return;
    fprintf(w->log, "sweep: trial %d [", t);
    for (int p = 0; p < co->spec.n_params; p++)
        fprintf(w->log, "%s%s=%s", p ? ", " : "", co->spec.params[p].key,
                rt_sweep_trial_value(&co->trials, t, p));
    fprintf(w->log, "] -> group %d (ranks %d-%d): rung %d", gid, gid * w->k, gid * w->k + w->k - 1,
            k);
    if (co->rungs[k] > 0) fprintf(w->log, ", %ld steps", co->rungs[k]);
    fprintf(w->log, "\n");
    fflush(w->log);
}

static char *text_copy(const char *s, int *len) {
    *len = (int)strlen(s);
    return strdup(s);
}

/* The next reply for group gid. */
static rt_status next_reply(sw_sweep *w, int gid, char **msg, int *len) {
    sw_coord *co = w->co;
    for (;;) {
        int t = -1, k = 0;
        rt_next_kind kind = rt_sweep_sched_next(&co->sched, &t, &k);
        char stop[16];
        if (kind == RT_NEXT_WAIT)
            return (*msg = text_copy("wait\n", len)) ? RT_OK
                                                     : rt_error(RT_ERR_MEMORY, "out of memory");
        if (kind == RT_NEXT_DONE || kind == RT_NEXT_STOP) {
            co->finished[gid] = 1;
            if (gid != 0) co->remote_left--;
            snprintf(stop, sizeof stop, "stop %d\n", co->stop_sent[gid]);
            *msg = text_copy(kind == RT_NEXT_DONE ? "done\n" : stop, len);
            return *msg ? RT_OK : rt_error(RT_ERR_MEMORY, "out of memory");
        }
        if (job_message(w, t, k, msg, len) == RT_OK) {
            log_job(w, gid, t, k);
            return RT_OK;
        }
        /* its config does not build now (it did when the sweep began): the trial fails */
        rt_job_result r = {t, k, RT_JOB_FAILED, NAN, NAN, 0, 0.0, ""};
        rt_sweep_error_text(r.error, sizeof r.error);
        record(w, &r, 0);
    }
}

/* A request: "req SIG FATAL\n" and the last result, if any. */
static rt_status parse_request(const char *buf, int len, int *sig, int *fatal, rt_job_result *r,
                               int *have) {
    int used = 0;
    if (sscanf(buf, "req %d %d\n%n", sig, fatal, &used) != 2 || used <= 0)
        return rt_error(RT_ERR_INTERNAL, "sweep: a malformed request from a group");
    *have = used < len;
    return *have ? rt_sweep_result_parse(buf + used, (size_t)(len - used), "a group's result", r)
                 : RT_OK;
}

/* One request of group gid, under the lock: its result, then its next reply. */
static rt_status handle(sw_sweep *w, int gid, const char *req, int len, char **msg, int *mlen) {
    int sig, fatal, have;
    rt_job_result r;
    RT_CALL(parse_request(req, len, &sig, &fatal, &r, &have));
    if (sig) begin_stop(w, 1);
    if (have) record(w, &r, fatal);
    return next_reply(w, gid, msg, mlen);
}

/* ---- world rank 0's own group ---- */

char *sw_request_text(const rt_job_result *r, int have, int fatal, int *len) {
    char *text = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&text, &n);
    if (!m) return NULL;
    fprintf(m, "req %d %d\n", rt_signals_pending() > 0, fatal);
    if (have) rt_sweep_result_write(m, r);
    fclose(m);
    *len = (int)n;
    return text;
}

rt_status sw_coord_local(sw_sweep *w, const rt_job_result *r, int have, int fatal, char **msg,
                         int *len) {
    sw_coord *co = w->co;
    int rlen;
    char *req = sw_request_text(r, have, fatal, &rlen);
    if (!req) return rt_error(RT_ERR_MEMORY, "out of memory");
    pthread_mutex_lock(&co->lock);
    co->local_running = 0;
    rt_status st = handle(w, 0, req, rlen, msg, len);
    if (st == RT_OK && !strcmp(*msg, "wait\n")) {
        /* until a result may have queued a job (or half a second, for the group's watchdog) */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 500000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&co->changed, &co->lock, &until);
    }
    if (st == RT_OK && !strncmp(*msg, "job ", 4)) co->local_running = 1;
    pthread_mutex_unlock(&co->lock);
    free(req);
    return st;
}

/* ---- the thread serving the other groups ---- */

static void send_stops(sw_sweep *w) {
    sw_coord *co = w->co;
    static const char stop[] = "stop";
    for (int g = 1; g < w->groups; g++) {
        if (co->finished[g] || co->stop_sent[g]) continue;
        if (MPI_Isend(stop, (int)sizeof stop, MPI_CHAR, g * w->k, SW_TAG_STOP, w->comm,
                      &co->stop_req[g]) == MPI_SUCCESS)
            co->stop_sent[g] = 1;
    }
}

static void serve_failed(const char *what) {
    fprintf(stderr, "ringtune sweep: the coordinator %s: %s\n", what, rt_error_message());
    MPI_Abort(MPI_COMM_WORLD, 1); /* the groups cannot be told any more */
}

static void serve_one(sw_sweep *w, int src, const char *buf, int len) {
    sw_coord *co = w->co;
    char *msg = NULL;
    int mlen = 0;
    pthread_mutex_lock(&co->lock);
    rt_status st = handle(w, src / w->k, buf, len, &msg, &mlen);
    if (st == RT_OK && co->sched.stopping) send_stops(w);
    pthread_mutex_unlock(&co->lock);
    if (st != RT_OK) serve_failed("cannot answer a request");
    if (sw_send(w->comm, src, SW_TAG_REP, msg, mlen, 0, NULL) != RT_OK)
        serve_failed("cannot reply");
    free(msg);
}

static void *serve_main(void *arg) {
    sw_sweep *w = arg;
    sw_coord *co = w->co;
    double nap = 0;
    for (;;) {
        pthread_mutex_lock(&co->lock);
        if (rt_signals_pending() > 0) begin_stop(w, 1);
        if (co->sched.stopping) send_stops(w);
        int left = co->remote_left;
        pthread_mutex_unlock(&co->lock);
        if (!left) break;
        char *buf = NULL;
        int src = 0, len = 0;
        rt_status st;
        if (sw_try_recv(w->comm, SW_TAG_REQ, &src, &buf, &len, &st)) {
            serve_one(w, src, buf, len);
            free(buf);
            nap = 0;
        } else if (st != RT_OK) {
            serve_failed("cannot receive a request");
        } else {
            sw_nap(&nap, 0.01);
        }
    }
    for (int g = 1; g < w->groups; g++) {
        double n2 = 0;
        int done = !co->stop_sent[g];
        while (!done && MPI_Test(&co->stop_req[g], &done, MPI_STATUS_IGNORE) == MPI_SUCCESS &&
               !done)
            sw_nap(&n2, 0.01);
    }
    return NULL;
}

rt_status sw_coord_start(sw_sweep *w) {
    if (w->groups == 1) return RT_OK;
    if (pthread_create(&w->co->thread, NULL, serve_main, w) != 0)
        return rt_error(RT_ERR_INTERNAL, "sweep: cannot start the coordinator's thread");
    w->co->thread_on = 1;
    return RT_OK;
}

void sw_coord_join(sw_sweep *w) {
    if (w->co && w->co->thread_on) pthread_join(w->co->thread, NULL);
    if (w->co) w->co->thread_on = 0;
}

/* ---- the listener of the other groups' leaders ---- */

static void *listen_main(void *arg) {
    sw_sweep *w = arg;
    double nap = 0;
    for (;;) {
        MPI_Status ps;
        int flag = 0;
        if (MPI_Iprobe(0, SW_TAG_STOP, w->comm, &flag, &ps) != MPI_SUCCESS) break;
        if (flag) {
            char buf[8];
            MPI_Recv(buf, (int)sizeof buf, MPI_CHAR, 0, SW_TAG_STOP, w->comm, MPI_STATUS_IGNORE);
            kill(getpid(), SIGUSR1); /* the running trial checkpoints at its next step */
            break;
        }
        if (atomic_load(&w->listener_quit) && !atomic_load(&w->expect_stop)) break;
        sw_nap(&nap, 0.05);
    }
    return NULL;
}

rt_status sw_listener_start(sw_sweep *w) {
    if (pthread_create(&w->listener, NULL, listen_main, w) != 0)
        return rt_error(RT_ERR_INTERNAL, "sweep: cannot start the stop listener");
    w->listener_on = 1;
    return RT_OK;
}

void sw_listener_stop(sw_sweep *w) {
    if (!w->listener_on) return;
    atomic_store(&w->listener_quit, 1);
    pthread_join(w->listener, NULL);
    w->listener_on = 0;
}
