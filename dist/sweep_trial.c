/* The trials' run configs, the checks before a sweep, a trial's metrics and the best trial's
   config (dist/sweep_trial.h). */
#include "sweep_trial.h"
#include "ckpt.h"
#include "corpus.h"
#include "fsutil.h"
#include "model_registry.h"
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rt_sweep_error_text(char *dst, size_t cap) {
    static const char phrase[] = "command line argument ";
    const char *m = rt_error_message();
    size_t u = 0, end = strlen(m);
    const char *trace = strstr(m, "\n  at ");
    if (trace) end = (size_t)(trace - m);
    for (size_t i = 0; i < end && u + 1 < cap;) {
        if (!strncmp(m + i, phrase, sizeof phrase - 1)) {
            int w = snprintf(dst + u, cap - u, "override ");
            u += w > 0 && (size_t)w < cap - u ? (size_t)w : 0;
            i += sizeof phrase - 1;
        } else {
            dst[u++] = m[i++];
        }
    }
    dst[u] = 0;
}

void rt_sweep_trial_dir(const char *out, int n_trials, int t, char *buf, size_t cap) {
    int width = 3;
    for (int n = n_trials - 1; n >= 1000; n /= 10) width++;
    snprintf(buf, cap, "%s/trial-%0*d", out, width, t);
}

/* ---- override lists ---- */

typedef struct {
    char **v;
    int n, cap;
} ov_list;

static rt_status ov_add(ov_list *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static rt_status ov_add(ov_list *l, const char *fmt, ...) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->v, sizeof *v * (size_t)cap);
        if (!v) return rt_error(RT_ERR_MEMORY, "out of memory");
        l->v = v;
        l->cap = cap;
    }
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int w = vsnprintf(NULL, 0, fmt, ap);
    char *t = w >= 0 ? malloc((size_t)w + 1) : NULL;
    if (t) vsnprintf(t, (size_t)w + 1, fmt, again);
    va_end(again);
    va_end(ap);
    if (!t) return rt_error(RT_ERR_MEMORY, "out of memory");
    l->v[l->n++] = t;
    return RT_OK;
}

static void ov_free(ov_list *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* A path as a single-quoted YAML scalar. */
static rt_status add_path(ov_list *l, const char *key, const char *path) {
    size_t n = strlen(path), q = 0;
    for (size_t i = 0; i < n; i++) q += path[i] == '\'';
    char *t = malloc(n + q + 1), *w = t;
    if (!t) return rt_error(RT_ERR_MEMORY, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (path[i] == '\'') *w++ = '\'';
        *w++ = path[i];
    }
    *w = 0;
    rt_status st = ov_add(l, "%s='%s'", key, t);
    free(t);
    return st;
}

/* The keys the sweep sets itself, after the trial's: where each trial writes, how it resumes, its
   budget and the metric its early stopping and best weights follow. */
static rt_status sweep_keys(const rt_sweep_spec *s, const char *dir, long steps, ov_list *l) {
    const rt_sweep_budget *b = &s->budget;
    char metric[64];
    RT_CALL(add_path(l, "output.dir", dir));
    RT_CALL(ov_add(l, "output.metrics_file=metrics.jsonl"));
    RT_CALL(ov_add(l, "checkpoint.resume=auto"));
    rt_sweep_spec_eval_metric(s, metric, sizeof metric);
    if (metric[0]) RT_CALL(ov_add(l, "eval.metric=%s", metric));
    if (steps > 0) {
        RT_CALL(ov_add(l, "train.max_steps=%ld", steps));
        RT_CALL(ov_add(l, "train.epochs=null"));
    }
    if (b->policy == RT_BUDGET_ASHA) RT_CALL(ov_add(l, "optim.schedule_steps=%ld", b->max_steps));
    if (b->policy == RT_BUDGET_EARLY_STOPPING) {
        RT_CALL(ov_add(l, "eval.early_stopping.patience=%d", b->patience));
        RT_CALL(ov_add(l, "eval.early_stopping.min_delta=%.17g", b->min_delta));
    }
    return RT_OK;
}

static rt_status trial_overrides(const rt_sweep_spec *s, const rt_sweep_trials *tr, int t,
                                 const char *dir, long steps, ov_list *l) {
    for (int i = 0; i < s->n_base; i++) RT_CALL(ov_add(l, "%s", s->base[i]));
    for (int p = 0; t >= 0 && p < s->n_params; p++)
        RT_CALL(ov_add(l, "%s=%s", s->params[p].key, rt_sweep_trial_value(tr, t, p)));
    return sweep_keys(s, dir, steps, l);
}

/* "key=value, key=value" of trial t. */
static void values_text(const rt_sweep_spec *s, const rt_sweep_trials *tr, int t, char *buf,
                        size_t cap) {
    size_t u = 0;
    buf[0] = 0;
    for (int p = 0; p < s->n_params && u + 1 < cap; p++) {
        int w = snprintf(buf + u, cap - u, "%s%s=%s", p ? ", " : "", s->params[p].key,
                         rt_sweep_trial_value(tr, t, p));
        if (w < 0) break;
        u += (size_t)w < cap - u ? (size_t)w : cap - u - 1;
    }
}

/* The message of an invalid base config, with the sweep file's line of a `base:` key it names. */
static rt_status base_failure(const rt_sweep_spec *s, rt_status st) {
    char msg[4096], at[300] = "";
    rt_sweep_error_text(msg, sizeof msg);
    for (int i = 0; i < s->n_base; i++) {
        char quoted[1100];
        snprintf(quoted, sizeof quoted, "override '%s'", s->base[i]);
        if (strstr(msg, quoted)) {
            snprintf(at, sizeof at, " (%s:%d, under base:)", s->path, s->base_line[i]);
            break;
        }
    }
    return rt_error(st, "%s: the base run config (%s%s) is invalid%s: %s", s->path,
                    s->base_config ? s->base_config : "",
                    s->base_config ? " and base:" : "base:", at, msg);
}

rt_status rt_sweep_trial_config(const rt_sweep_spec *s, const rt_sweep_trials *tr, int t,
                                const char *dir, long steps, rt_run_config *cfg) {
    ov_list l = {0};
    rt_status st = trial_overrides(s, tr, t, dir, steps, &l);
    if (st == RT_OK)
        st = rt_config_load_string(cfg, s->base_text, s->base_len, s->base_config, l.n, l.v);
    ov_free(&l);
    if (st == RT_OK || st == RT_ERR_MEMORY) return st;
    if (t < 0) return base_failure(s, st);
    char msg[4096], vals[1024];
    rt_sweep_error_text(msg, sizeof msg);
    values_text(s, tr, t, vals, sizeof vals);
    return rt_error(st, "trial %d of %s (%s): %s", t, s->path, vals, msg);
}

/* ---- checks before the sweep ---- */

/* 1 when key is a run-config key: `ringtune train --help-config` lists each, one per line, the
   key first. */
static int is_config_key(const char *key) {
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (!m) return 1; /* cannot tell: the trials' configs will say */
    rt_config_write_reference(m);
    fclose(m);
    int found = 0;
    size_t n = strlen(key);
    for (const char *p = text; p && *p && !found; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        found = !strncmp(p, key, n) && p[n] == ' ';
    free(text);
    return found;
}

static rt_status check_space(const rt_sweep_spec *s, long first_steps) {
    ov_list own = {0};
    RT_CALL(sweep_keys(s, "dir", first_steps, &own));
    rt_status st = RT_OK;
    for (int p = 0; p < s->n_params && st == RT_OK; p++) {
        const char *key = s->params[p].key;
        if (!is_config_key(key))
            st = rt_error(RT_ERR_ARG,
                          "%s:%d: space key '%s' is not a run-config key (`ringtune train "
                          "--help-config` lists them)",
                          s->path, s->params[p].line, key);
        for (int i = 0; i < own.n && st == RT_OK; i++) {
            size_t n = strcspn(own.v[i], "=");
            if (strlen(key) == n && !strncmp(own.v[i], key, n))
                st = rt_error(RT_ERR_ARG,
                              "%s:%d: space key '%s' is set by the sweep itself (each trial's "
                              "output, resume and budget; see the budget: section)",
                              s->path, s->params[p].line, key);
        }
    }
    ov_free(&own);
    return st;
}

static int in_space(const rt_sweep_spec *s, const char *key) {
    for (int p = 0; p < s->n_params; p++)
        if (!strcmp(s->params[p].key, key)) return 1;
    return 0;
}

static rt_status check_corpus(const rt_sweep_spec *s, const char *key, const char *path) {
    rt_corpus *c = NULL;
    rt_status st = rt_corpus_open(&c, path, MPI_COMM_NULL);
    if (st != RT_OK) {
        char msg[4096];
        snprintf(msg, sizeof msg, "%s", rt_error_message());
        return rt_error(st, "%s: %s of the base run config: %s", s->path, key, msg);
    }
    rt_corpus_close(&c);
    return RT_OK;
}

static rt_status check_files(const rt_sweep_spec *s, const rt_run_config *c) {
    if (!in_space(s, "model.path") && !rt_ckpt_is_checkpoint(c->model.path) &&
        rt_hf_check_model_type(c->model.path) != RT_OK) {
        char msg[4096];
        snprintf(msg, sizeof msg, "%s", rt_error_message());
        return rt_error(RT_ERR_ARG, "%s: model.path of the base run config: %s", s->path, msg);
    }
    if (!in_space(s, "data.corpus")) RT_CALL(check_corpus(s, "data.corpus", c->data.corpus));
    if (c->data.val_corpus && !in_space(s, "data.val_corpus"))
        RT_CALL(check_corpus(s, "data.val_corpus", c->data.val_corpus));
    return RT_OK;
}

rt_status rt_sweep_check(const rt_sweep_spec *s, const char *out, long first_steps) {
    RT_CALL(check_space(s, first_steps));
    rt_run_config c;
    char dir[4096];
    rt_sweep_trial_dir(out, s->n_trials, 0, dir, sizeof dir);
    RT_CALL(rt_sweep_trial_config(s, NULL, -1, dir, first_steps, &c));
    rt_status st = check_files(s, &c);
    rt_config_free(&c);
    return st;
}

/* ---- a trial's metrics ---- */

typedef struct {
    double best, last;
    long last_step, steps;
    int named; /* lines naming the metric (parsed or not: a non-finite value is not JSON) */
} metric_scan;

static void scan_line(const char *line, size_t len, const char *metric, int maximize,
                      metric_scan *m) {
    char key[160];
    int kn = snprintf(key, sizeof key, "\"%s\":", metric);
    for (size_t i = 0; kn > 0 && (size_t)kn <= len && i + (size_t)kn <= len && !m->named; i++)
        m->named = !memcmp(line + i, key, (size_t)kn);
    json_t *o = json_loadb(line, len, 0, NULL);
    json_t *step = o ? json_object_get(o, "step") : NULL;
    if (json_is_integer(step)) {
        long st = (long)json_integer_value(step);
        if (st > m->steps) m->steps = st;
        json_t *v = json_object_get(o, metric);
        if (st > 0 && json_is_number(v)) {
            double x = json_number_value(v);
            if (isnan(m->best) || (maximize ? x > m->best : x < m->best)) m->best = x;
            if (st >= m->last_step) {
                m->last = x;
                m->last_step = st;
            }
        }
    }
    json_decref(o);
}

rt_status rt_sweep_read_metrics(const char *path, const char *metric, int maximize, double *best,
                                double *last, long *steps, int *has_metric) {
    char *buf;
    size_t n;
    RT_CALL(rt_fs_read_file(path, &buf, &n));
    metric_scan m = {NAN, NAN, 0, 0, 0};
    for (size_t at = 0; at < n;) {
        const char *e = memchr(buf + at, '\n', n - at);
        size_t end = e ? (size_t)(e - buf) : n;
        scan_line(buf + at, end - at, metric, maximize, &m);
        at = end + 1;
    }
    free(buf);
    *best = m.best;
    *last = m.last;
    *steps = m.steps;
    *has_metric = m.named > 0;
    return RT_OK;
}

void rt_sweep_metric_fields(const char *path, char *buf, size_t cap) {
    char *text;
    size_t n, u = 0;
    buf[0] = 0;
    if (rt_fs_read_file(path, &text, &n) != RT_OK) return;
    for (char *line = strtok(text, "\n"); line && !u; line = strtok(NULL, "\n")) {
        json_t *o = json_loads(line, 0, NULL);
        const char *k;
        json_t *v;
        if (o && json_object_get(o, "val_loss")) json_object_foreach(o, k, v) {
                if (strncmp(k, "val_", 4) || u + 1 >= cap) continue;
                int w = snprintf(buf + u, cap - u, "%s%s", u ? ", " : "", k);
                if (w > 0) u += (size_t)w < cap - u ? (size_t)w : cap - u - 1;
            }
        json_decref(o);
    }
    free(text);
}

/* ---- fingerprint and the best trial ---- */

static void fnv(uint64_t *h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) *h = (*h ^ b[i]) * 0x100000001b3ull;
}

static void fnv_str(uint64_t *h, const char *s) {
    fnv(h, s, strlen(s) + 1);
}

void rt_sweep_fingerprint(const rt_sweep_spec *s, const rt_sweep_trials *tr, const long *rungs,
                          int n_rungs, char *buf, size_t cap) {
    uint64_t h = 0xcbf29ce484222325ull;
    char num[64];
    snprintf(num, sizeof num, "v1 %d %d %d %d %s", tr->n_trials, tr->n_params, n_rungs,
             s->budget.policy == RT_BUDGET_ASHA ? s->budget.eta : 0, s->maximize ? "max" : "min");
    fnv_str(&h, num);
    fnv_str(&h, s->metric);
    for (int k = 0; k < n_rungs; k++) fnv(&h, &rungs[k], sizeof rungs[k]);
    snprintf(num, sizeof num, "%d %.17g", s->budget.patience, s->budget.min_delta);
    fnv_str(&h, num);
    for (int p = 0; p < s->n_params; p++) fnv_str(&h, s->params[p].key);
    for (size_t i = 0; i < (size_t)tr->n_trials * tr->n_params; i++) fnv_str(&h, tr->values[i]);
    snprintf(buf, cap, "%016llx", (unsigned long long)h);
}

rt_status rt_sweep_write_best(const rt_sweep_spec *s, const rt_sweep_trials *tr, int t, long steps,
                              const char *out) {
    char *dir = rt_fs_join(out, "best"), *path = rt_fs_join(out, "best.yaml");
    rt_run_config c;
    rt_status st = dir && path ? rt_sweep_trial_config(s, tr, t, dir, steps, &c)
                               : rt_error(RT_ERR_MEMORY, "out of memory");
    if (st == RT_OK) {
        free(c.checkpoint.resume); /* a fresh run of the trial's whole budget */
        c.checkpoint.resume = NULL;
        c.optim.schedule_steps = RT_CONFIG_NULL_INT;
        st = rt_config_save(&c, path);
        rt_config_free(&c);
    }
    free(dir);
    free(path);
    return st;
}
