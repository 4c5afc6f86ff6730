/* The results table of a sweep (dist/sweep_table.h). */
#include "sweep_table.h"
#include "fsutil.h"
#include "sweep_json.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *state_word(rt_trial_state st) {
    static const char *const w[] = {"queued",        "running", "paused", "done",
                                    "stopped_early", "pruned",  "failed"};
    return w[st];
}

void rt_sweep_status_text(const rt_sweep_sched *sc, int t, char *buf, size_t cap) {
    const rt_trial_rec *r = &sc->t[t];
    if (r->state == RT_TRIAL_PRUNED)
        snprintf(buf, cap, "pruned at rung %d (%ld steps)", r->reached, sc->rung_steps[r->reached]);
    else if (r->state == RT_TRIAL_STOPPED)
        snprintf(buf, cap, "stopped early");
    else if (r->state == RT_TRIAL_PAUSED)
        snprintf(buf, cap, "paused at rung %d", r->reached);
    else
        snprintf(buf, cap, "%s", state_word(r->state));
}

/* A value of the space as JSON: a number, true/false/null, or the string (unquoted). */
static void value_json(FILE *f, const char *v) {
    char *end;
    double x = strtod(v, &end);
    if (*v && !*end && isfinite(x) && v[0] != '\'') {
        rt_json_put_number(f, x);
        return;
    }
    if (!strcmp(v, "true") || !strcmp(v, "false") || !strcmp(v, "null")) {
        fputs(v, f);
        return;
    }
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '\'' && v[n - 1] == '\'') { /* our single quoting: '' is one quote */
        char *u = malloc(n), *w = u;
        if (!u) return;
        for (size_t i = 1; i + 1 < n; i++) {
            *w++ = v[i];
            if (v[i] == '\'' && v[i + 1] == '\'') i++;
        }
        *w = 0;
        rt_json_put_string(f, u);
        free(u);
        return;
    }
    rt_json_put_string(f, v);
}

static void trial_json(FILE *f, const rt_sweep_spec *s, const rt_sweep_trials *tr,
                       const rt_sweep_sched *sc, int t) {
    const rt_trial_rec *r = &sc->t[t];
    fprintf(f, "{\"trial\": %d, \"params\": {", t);
    for (int p = 0; p < s->n_params; p++) {
        fputs(p ? ", " : "", f);
        rt_json_put_string(f, s->params[p].key);
        fputs(": ", f);
        value_json(f, rt_sweep_trial_value(tr, t, p));
    }
    fprintf(f, "}, \"status\": \"%s\", \"rung\": %d, \"metric\": ", state_word(r->state),
            r->reached);
    rt_json_put_string(f, s->metric);
    fputs(", \"best\": ", f);
    rt_json_put_number(f, r->best);
    fputs(", \"last\": ", f);
    rt_json_put_number(f, r->last);
    fprintf(f, ", \"steps\": %ld, \"seconds\": ", r->steps);
    rt_json_put_number(f, round(r->seconds * 1000) / 1000);
    if (r->error) {
        fputs(", \"error\": ", f);
        rt_json_put_string(f, r->error);
    }
    fputs("}\n", f);
}

/* A cell: the first line of text, '|' escaped, at most max bytes. */
static void md_cell(FILE *f, const char *text, size_t max) {
    size_t n = strcspn(text, "\n");
    for (size_t i = 0; i < n && i < max; i++) {
        if (text[i] == '|') fputc('\\', f);
        fputc(text[i], f);
    }
    if (n > max) fputs("...", f);
}

static void md_header(FILE *f, const rt_sweep_spec *s) {
    fprintf(f, "| rank | trial |");
    for (int p = 0; p < s->n_params; p++) fprintf(f, " %s |", s->params[p].key);
    fprintf(f, " best %s | steps | status | wall s |\n|---:|---:|", s->metric);
    for (int p = 0; p < s->n_params; p++) fputs("---|", f);
    fputs("---:|---:|---|---:|\n", f);
}

void rt_sweep_table_md(FILE *f, const rt_sweep_spec *s, const rt_sweep_trials *tr,
                       const rt_sweep_sched *sc) {
    int *order = malloc(sizeof *order * (size_t)sc->n_trials);
    if (!order) return;
    rt_sweep_sched_rank(sc, order);
    md_header(f, s);
    for (int i = 0; i < sc->n_trials; i++) {
        int t = order[i];
        const rt_trial_rec *r = &sc->t[t];
        fprintf(f, "| %d | %d |", i + 1, t);
        for (int p = 0; p < s->n_params; p++) {
            fputc(' ', f);
            md_cell(f, rt_sweep_trial_value(tr, t, p), 60);
            fputs(" |", f);
        }
        if (isnan(r->best))
            fputs(" |", f);
        else
            fprintf(f, " %.6g |", r->best);
        char st[128];
        rt_sweep_status_text(sc, t, st, sizeof st);
        fprintf(f, " %ld | %s", r->steps, st);
        if (r->error) {
            fputs(": ", f);
            md_cell(f, r->error, 160);
        }
        fprintf(f, " | %.1f |\n", r->seconds);
    }
    free(order);
}

static rt_status write_one(const char *out, const char *name, const char *text, size_t n) {
    char *path = rt_fs_join(out, name);
    rt_status st =
        path ? rt_fs_write_file_atomic(path, text, n) : rt_error(RT_ERR_MEMORY, "out of memory");
    free(path);
    return st;
}

rt_status rt_sweep_write_results(const char *out, const rt_sweep_spec *s, const rt_sweep_trials *tr,
                                 const rt_sweep_sched *sc, int *best) {
    char *js = NULL, *md = NULL;
    size_t njs = 0, nmd = 0;
    FILE *fj = open_memstream(&js, &njs), *fm = open_memstream(&md, &nmd);
    rt_status st = fj && fm ? RT_OK : rt_error(RT_ERR_MEMORY, "out of memory");
    if (st == RT_OK) {
        for (int t = 0; t < sc->n_trials; t++) trial_json(fj, s, tr, sc, t);
        fprintf(fm, "# Sweep %s\n\nmetric %s (%s); %d trials\n\n", s->path, s->metric,
                s->maximize ? "higher is better" : "lower is better", sc->n_trials);
        rt_sweep_table_md(fm, s, tr, sc);
    }
    if (fj) fclose(fj);
    if (fm) fclose(fm);
    if (st == RT_OK) st = write_one(out, "results.jsonl", js, njs);
    if (st == RT_OK) st = write_one(out, "results.md", md, nmd);
    free(js);
    free(md);
    if (st == RT_OK && best) {
        int *order = malloc(sizeof *order * (size_t)sc->n_trials);
        *best = order ? rt_sweep_sched_rank(sc, order) : -1;
        free(order);
    }
    return st;
}
