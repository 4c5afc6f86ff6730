/* The sweep's state file and its JSON result lines (dist/sweep_state.h). */
#include "sweep_state.h"
#include "fsutil.h"
#include "sweep_json.h"
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HEADER_KEY "ringtune_sweep"
#define HEADER_VERSION 1

static const char *const status_names[] = {"ok", "stopped_early", "failed", "interrupted"};

void rt_sweep_result_write(FILE *f, const rt_job_result *r) {
    fprintf(f, "{\"trial\": %d, \"rung\": %d, \"status\": \"%s\", \"best\": ", r->trial, r->rung,
            status_names[r->status]);
    rt_json_put_number(f, r->best);
    fputs(", \"last\": ", f);
    rt_json_put_number(f, r->last);
    fprintf(f, ", \"steps\": %ld, \"seconds\": ", r->steps);
    rt_json_put_number(f, r->seconds);
    if (r->status == RT_JOB_FAILED) {
        fputs(", \"error\": ", f);
        rt_json_put_string(f, r->error);
    }
    fputs("}\n", f);
}

/* A number field: a JSON number, or null for NAN. */
static int get_real(json_t *o, const char *key, double *out) {
    json_t *v = json_object_get(o, key);
    if (json_is_null(v)) {
        *out = NAN;
        return 1;
    }
    if (!json_is_number(v)) return 0;
    *out = json_number_value(v);
    return 1;
}

static int get_status(json_t *o, rt_job_status *out) {
    const char *s = json_string_value(json_object_get(o, "status"));
    for (int i = 0; s && i < 4; i++)
        if (!strcmp(s, status_names[i])) {
            *out = (rt_job_status)i;
            return 1;
        }
    return 0;
}

rt_status rt_sweep_result_parse(const char *line, size_t len, const char *where, rt_job_result *r) {
    memset(r, 0, sizeof *r);
    json_error_t e;
    json_t *o = json_loadb(line, len, 0, &e);
    if (!o) return rt_error(RT_ERR_FORMAT, "%s: not a JSON line (%s)", where, e.text);
    json_t *t = json_object_get(o, "trial"), *k = json_object_get(o, "rung");
    json_t *n = json_object_get(o, "steps");
    int ok = json_is_integer(t) && json_is_integer(k) && json_is_integer(n) &&
             get_status(o, &r->status) && get_real(o, "best", &r->best) &&
             get_real(o, "last", &r->last) && get_real(o, "seconds", &r->seconds);
    if (ok) {
        r->trial = (int)json_integer_value(t);
        r->rung = (int)json_integer_value(k);
        r->steps = (long)json_integer_value(n);
        const char *msg = json_string_value(json_object_get(o, "error"));
        snprintf(r->error, sizeof r->error, "%s", msg ? msg : "");
    }
    json_decref(o);
    if (!ok)
        return rt_error(RT_ERR_FORMAT,
                        "%s: expected a job result {\"trial\", \"rung\", \"status\" (ok, "
                        "stopped_early, failed, interrupted), \"best\", \"last\", \"steps\", "
                        "\"seconds\"}",
                        where);
    return RT_OK;
}

/* ---- the file ---- */

static rt_status check_header(const char *path, const char *line, size_t len,
                              const char *fingerprint) {
    json_error_t e;
    json_t *o = json_loadb(line, len, 0, &e);
    const char *fp = o ? json_string_value(json_object_get(o, "fingerprint")) : NULL;
    json_int_t v = o ? json_integer_value(json_object_get(o, HEADER_KEY)) : 0;
    rt_status st = RT_OK;
    if (!fp || v != HEADER_VERSION)
        st = rt_error(RT_ERR_FORMAT, "%s:1: not a ringtune sweep state header", path);
    else if (strcmp(fp, fingerprint))
        st = rt_error(RT_ERR_ARG,
                      "%s was written by another sweep (fingerprint %s, this sweep's %s: its "
                      "trials, budget or metric differ): use another --out, or remove the "
                      "directory to start over",
                      path, fp, fingerprint);
    json_decref(o);
    return st;
}

/* Replays the lines after the header; *keep is the length of the complete lines. */
static rt_status replay(const char *path, const char *buf, size_t n, rt_sweep_sched *sched,
                        int *replayed, size_t *keep) {
    const char *nl = memchr(buf, '\n', n);
    size_t at = nl ? (size_t)(nl - buf) + 1 : n;
    int line = 1;
    *keep = at;
    while (at < n) {
        const char *e = memchr(buf + at, '\n', n - at);
        if (!e) break; /* torn by a crash mid-write: dropped */
        char where[4200];
        snprintf(where, sizeof where, "%s:%d", path, ++line);
        rt_job_result r;
        RT_CALL(rt_sweep_result_parse(buf + at, (size_t)(e - buf) - at, where, &r));
        rt_status st = rt_sweep_sched_report(sched, &r);
        if (st != RT_OK) {
            char msg[2048];
            snprintf(msg, sizeof msg, "%s", rt_error_message());
            return rt_error(RT_ERR_FORMAT, "%s: %s", where, msg);
        }
        (*replayed)++;
        at = (size_t)(e - buf) + 1;
        *keep = at;
    }
    return RT_OK;
}

static rt_status open_existing(rt_sweep_state *st, const char *fingerprint, rt_sweep_sched *sched,
                               int *replayed) {
    char *buf;
    size_t n, keep = 0;
    RT_CALL(rt_fs_read_file(st->path, &buf, &n));
    const char *nl = memchr(buf, '\n', n);
    rt_status s = check_header(st->path, buf, nl ? (size_t)(nl - buf) : n, fingerprint);
    if (s == RT_OK) s = replay(st->path, buf, n, sched, replayed, &keep);
    free(buf);
    RT_CALL(s);
    if (keep < n && truncate(st->path, (off_t)keep) != 0)
        return rt_error(RT_ERR_IO, "%s: cannot drop its torn last line: %s", st->path,
                        strerror(errno));
    if (!(st->f = fopen(st->path, "a")))
        return rt_error(RT_ERR_IO, "%s: cannot open for appending: %s", st->path, strerror(errno));
    return RT_OK;
}

static rt_status create_new(rt_sweep_state *st, const char *fingerprint, int n_trials) {
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (!m) return rt_error(RT_ERR_MEMORY, "out of memory");
    fprintf(m, "{\"%s\": %d, \"fingerprint\": ", HEADER_KEY, HEADER_VERSION);
    rt_json_put_string(m, fingerprint);
    fprintf(m, ", \"trials\": %d}\n", n_trials);
    fclose(m);
    rt_status s = rt_fs_write_file_atomic(st->path, text, len);
    free(text);
    RT_CALL(s);
    if (!(st->f = fopen(st->path, "a")))
        return rt_error(RT_ERR_IO, "%s: cannot open for appending: %s", st->path, strerror(errno));
    return RT_OK;
}

rt_status rt_sweep_state_open(rt_sweep_state *st, const char *path, const char *fingerprint,
                              rt_sweep_sched *sched, int *replayed) {
    memset(st, 0, sizeof *st);
    *replayed = 0;
    if (!(st->path = strdup(path))) return rt_error(RT_ERR_MEMORY, "out of memory");
    rt_status s = rt_fs_exists(path) ? open_existing(st, fingerprint, sched, replayed)
                                     : create_new(st, fingerprint, sched->n_trials);
    if (s != RT_OK) rt_sweep_state_close(st);
    return s;
}

rt_status rt_sweep_state_append(rt_sweep_state *st, const rt_job_result *r) {
    rt_sweep_result_write(st->f, r);
    if (fflush(st->f) != 0 || fsync(fileno(st->f)) != 0)
        return rt_error(RT_ERR_IO, "%s: cannot write a job result: %s", st->path, strerror(errno));
    return RT_OK;
}

void rt_sweep_state_close(rt_sweep_state *st) {
    if (!st) return;
    if (st->f) fclose(st->f);
    free(st->path);
    memset(st, 0, sizeof *st);
}
