/* The sweep file's parser (dist/sweep_spec.h): a libyaml document walked key by key; the search
   space's values are kept as YAML scalar texts for the run config's override parser. */
#include "sweep_spec.h"
#include "fsutil.h"
#include "metrics.h"
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define RT_SWEEP_MAX_TRIALS 100000 /* a grid or a random search larger than this is refused */

typedef struct {
    rt_sweep_spec *s;
    yaml_document_t *doc;
    int seen_trials, seen_direction; /* keys whose default depends on others */
} spec_ctx;

static const char *const top_keys = "base_config, base, method, trials, seed, space, metric, "
                                    "direction, budget";
static const char *const budget_keys = "policy, steps, patience, min_delta, min_steps, max_steps, "
                                       "eta";

static int line_of(const yaml_node_t *n) {
    return (int)n->start_mark.line + 1;
}

static rt_status bad(const spec_ctx *c, const yaml_node_t *n, const char *key, const char *what) {
    return rt_error(RT_ERR_ARG, "%s:%d: '%s': %s", c->s->path, line_of(n), key, what);
}

static const char *scalar(const yaml_node_t *n) {
    return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int is_plain(const yaml_node_t *n) {
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* The scalar as an override's YAML text: plain scalars as written, others single-quoted (so a
   quoted "1e-3" stays a string). NULL when out of memory. */
static char *value_text(const yaml_node_t *n) {
    const char *v = scalar(n);
    if (is_plain(n)) return strdup(v);
    size_t len = strlen(v), q = 0;
    for (size_t i = 0; i < len; i++) q += v[i] == '\'';
    char *t = malloc(len + q + 3), *w = t;
    if (!t) return NULL;
    *w++ = '\'';
    for (size_t i = 0; i < len; i++) {
        if (v[i] == '\'') *w++ = '\'';
        *w++ = v[i];
    }
    *w++ = '\'';
    *w = 0;
    return t;
}

static rt_status get_long(const spec_ctx *c, const yaml_node_t *n, const char *key, long lo,
                          long *out) {
    const char *v = scalar(n);
    char *end;
    errno = 0;
    long x = v && is_plain(n) ? strtol(v, &end, 10) : 0;
    if (!v || !is_plain(n) || !*v || *end || errno || x < lo) {
        char what[128];
        snprintf(what, sizeof what, "expected an integer >= %ld, got %s%s%s", lo, v ? "'" : "",
                 v ? v : "a list or mapping", v ? "'" : "");
        return bad(c, n, key, what);
    }
    *out = x;
    return RT_OK;
}

static rt_status get_number(const spec_ctx *c, const yaml_node_t *n, const char *key, double *out) {
    const char *v = scalar(n);
    char *end;
    double x = v && is_plain(n) ? strtod(v, &end) : NAN;
    if (!v || !is_plain(n) || !*v || *end || !isfinite(x)) {
        char what[160];
        snprintf(what, sizeof what, "expected a finite number, got %s%s%s", v ? "'" : "",
                 v ? v : "a list or mapping", v ? "'" : "");
        return bad(c, n, key, what);
    }
    *out = x;
    return RT_OK;
}

static rt_status get_string(const spec_ctx *c, const yaml_node_t *n, const char *key, char **out) {
    const char *v = scalar(n);
    if (!v || !*v) return bad(c, n, key, "expected a non-empty string");
    free(*out);
    if (!(*out = strdup(v))) return rt_error(RT_ERR_MEMORY, "out of memory");
    return RT_OK;
}

/* 1 when key looks like a run-config key: dotted lower-case words. */
static int key_syntax_ok(const char *key) {
    if (!*key || key[0] == '.' || key[strlen(key) - 1] == '.' || strstr(key, "..")) return 0;
    for (const char *p = key; *p; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_' && *p != '.')
            return 0;
    return 1;
}

/* ---- base: a mapping of run-config keys, nested or dotted, flattened into overrides ---- */

static rt_status add_base(spec_ctx *c, const char *key, const yaml_node_t *v) {
    rt_sweep_spec *s = c->s;
    char *text = value_text(v);
    size_t n = strlen(key) + (text ? strlen(text) : 0) + 2;
    char **nb = realloc(s->base, sizeof *nb * (size_t)(s->n_base + 1));
    if (nb) s->base = nb;
    int *nl = realloc(s->base_line, sizeof *nl * (size_t)(s->n_base + 1));
    if (nl) s->base_line = nl;
    char *ov = malloc(n);
    if (!text || !nb || !nl || !ov) {
        free(text);
        free(ov);
        return rt_error(RT_ERR_MEMORY, "out of memory");
    }
    snprintf(ov, n, "%s=%s", key, text);
    free(text);
    s->base[s->n_base] = ov;
    s->base_line[s->n_base++] = line_of(v);
    return RT_OK;
}

static rt_status walk_base(spec_ctx *c, const yaml_node_t *n, const char *path) {
    if (n->type == YAML_SEQUENCE_NODE)
        return bad(c, n, path, "a list; run-config keys take a scalar (or a mapping of keys)");
    if (n->type == YAML_SCALAR_NODE) {
        if (!*path)
            return bad(c, n, "base",
                       "expected a mapping of run-config keys (e.g. {optim: "
                       "{lr: 1e-4}} or {optim.lr: 1e-4})");
        return add_base(c, path, n);
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        char child[256];
        const char *name = scalar(k);
        int w = snprintf(child, sizeof child, "%s%s%s", path, *path ? "." : "", name ? name : "");
        if (!name || w < 0 || (size_t)w >= sizeof child || !key_syntax_ok(child))
            return bad(c, k, *path ? path : "base",
                       "expected run-config key names such as "
                       "optim.lr (lower case, dotted)");
        RT_CALL(walk_base(c, v, child));
    }
    return RT_OK;
}

/* ---- space ---- */

static rt_status list_values(spec_ctx *c, const yaml_node_t *n, const char *key,
                             rt_space_param *p) {
    if (n->type != YAML_SEQUENCE_NODE || n->data.sequence.items.top == n->data.sequence.items.start)
        return bad(c, n, key, "expected a non-empty list of values");
    int cnt = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (!(p->values = calloc((size_t)cnt, sizeof *p->values)))
        return rt_error(RT_ERR_MEMORY, "out of memory");
    for (int i = 0; i < cnt; i++) {
        yaml_node_t *v = yaml_document_get_node(c->doc, n->data.sequence.items.start[i]);
        if (v->type != YAML_SCALAR_NODE)
            return bad(c, v, key, "a value of the list is a list or mapping; expected scalars");
        if (!(p->values[i] = value_text(v))) return rt_error(RT_ERR_MEMORY, "out of memory");
        p->n_values = i + 1;
        for (int j = 0; j < i; j++)
            if (!strcmp(p->values[j], p->values[i]))
                return bad(c, v, key, "a value appears twice in the list");
    }
    return RT_OK;
}

static rt_status range_values(spec_ctx *c, const yaml_node_t *n, const char *key,
                              rt_space_param *p) {
    const char *dist = p->kind == RT_SPACE_UNIFORM ? "uniform" : "log_uniform";
    char what[200];
    if (n->type != YAML_SEQUENCE_NODE ||
        n->data.sequence.items.top - n->data.sequence.items.start != 2) {
        snprintf(what, sizeof what, "%s: expected [low, high]", dist);
        return bad(c, n, key, what);
    }
    yaml_node_t *lo = yaml_document_get_node(c->doc, n->data.sequence.items.start[0]);
    yaml_node_t *hi = yaml_document_get_node(c->doc, n->data.sequence.items.start[1]);
    RT_CALL(get_number(c, lo, key, &p->low));
    RT_CALL(get_number(c, hi, key, &p->high));
    if (!(p->low < p->high)) {
        snprintf(what, sizeof what, "%s: low %g must be below high %g", dist, p->low, p->high);
        return bad(c, n, key, what);
    }
    if (p->kind == RT_SPACE_LOG_UNIFORM && p->low <= 0) {
        snprintf(what, sizeof what, "log_uniform: low %g must be > 0 (its logarithm is sampled)",
                 p->low);
        return bad(c, n, key, what);
    }
    return RT_OK;
}

static rt_status distribution(spec_ctx *c, const yaml_node_t *n, const char *key,
                              rt_space_param *p) {
    static const char *const expect = "expected a list of values or one of {choice: [...]}, "
                                      "{uniform: [low, high]}, {log_uniform: [low, high]}";
    if (n->type == YAML_SEQUENCE_NODE) {
        p->kind = RT_SPACE_LIST;
        return list_values(c, n, key, p);
    }
    if (n->type != YAML_MAPPING_NODE ||
        n->data.mapping.pairs.top - n->data.mapping.pairs.start != 1)
        return bad(c, n, key, expect);
    yaml_node_pair_t *pr = n->data.mapping.pairs.start;
    yaml_node_t *k = yaml_document_get_node(c->doc, pr->key);
    yaml_node_t *v = yaml_document_get_node(c->doc, pr->value);
    const char *d = scalar(k) ? scalar(k) : "";
    if (!strcmp(d, "choice")) {
        p->kind = RT_SPACE_CHOICE;
        return list_values(c, v, key, p);
    }
    if (!strcmp(d, "uniform") || !strcmp(d, "log_uniform")) {
        p->kind = !strcmp(d, "uniform") ? RT_SPACE_UNIFORM : RT_SPACE_LOG_UNIFORM;
        return range_values(c, v, key, p);
    }
    char what[300];
    snprintf(what, sizeof what, "unknown distribution '%s'; %s", d, expect);
    return bad(c, k, key, what);
}

static rt_status set_space(spec_ctx *c, const yaml_node_t *n) {
    rt_sweep_spec *s = c->s;
    if (n->type != YAML_MAPPING_NODE || n->data.mapping.pairs.top == n->data.mapping.pairs.start)
        return bad(c, n, "space",
                   "expected a non-empty mapping of run-config keys to values "
                   "(e.g. optim.lr: [1e-4, 3e-4])");
    int cnt = (int)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (!(s->params = calloc((size_t)cnt, sizeof *s->params)))
        return rt_error(RT_ERR_MEMORY, "out of memory");
    for (int i = 0; i < cnt; i++) {
        yaml_node_pair_t *pr = n->data.mapping.pairs.start + i;
        yaml_node_t *k = yaml_document_get_node(c->doc, pr->key);
        rt_space_param *p = &s->params[i];
        const char *key = scalar(k);
        if (!key || !key_syntax_ok(key))
            return bad(c, k, "space", "expected run-config keys as dotted names (optim.lr)");
        for (int j = 0; j < i; j++)
            if (!strcmp(s->params[j].key, key)) return bad(c, k, key, "appears twice in space");
        if (!(p->key = strdup(key))) return rt_error(RT_ERR_MEMORY, "out of memory");
        p->line = line_of(k);
        s->n_params = i + 1;
        RT_CALL(distribution(c, yaml_document_get_node(c->doc, pr->value), key, p));
    }
    return RT_OK;
}

/* ---- budget ---- */

static rt_status set_policy(spec_ctx *c, const yaml_node_t *v) {
    static const char *const names[] = {"fixed", "early_stopping", "asha"};
    const char *t = scalar(v);
    for (int i = 0; t && i < 3; i++)
        if (!strcmp(t, names[i])) {
            c->s->budget.policy = (rt_budget_policy)i;
            return RT_OK;
        }
    return bad(c, v, "budget.policy", "expected fixed, early_stopping or asha");
}

static rt_status budget_key(spec_ctx *c, const char *name, const yaml_node_t *v) {
    rt_sweep_budget *b = &c->s->budget;
    long x;
    char key[64];
    snprintf(key, sizeof key, "budget.%s", name);
    if (!strcmp(name, "policy")) return set_policy(c, v);
    if (!strcmp(name, "min_delta")) {
        RT_CALL(get_number(c, v, key, &b->min_delta));
        return b->min_delta >= 0 ? RT_OK : bad(c, v, key, "expected a number >= 0");
    }
    if (!strcmp(name, "steps")) return get_long(c, v, key, 1, &b->steps);
    if (!strcmp(name, "min_steps")) return get_long(c, v, key, 1, &b->min_steps);
    if (!strcmp(name, "max_steps")) return get_long(c, v, key, 1, &b->max_steps);
    if (!strcmp(name, "patience") || !strcmp(name, "eta")) {
        RT_CALL(get_long(c, v, key, !strcmp(name, "eta") ? 2 : 1, &x));
        if (x > INT_MAX) return bad(c, v, key, "too large");
        *(!strcmp(name, "eta") ? &b->eta : &b->patience) = (int)x;
        return RT_OK;
    }
    char what[200];
    snprintf(what, sizeof what, "unknown key; allowed under budget: %s", budget_keys);
    return bad(c, v, key, what);
}

/* The keys that belong to the policy: each other one is an error naming the policy. */
static rt_status check_budget(spec_ctx *c, const yaml_node_t *n) {
    rt_sweep_budget *b = &c->s->budget;
    const char *pol = b->policy == RT_BUDGET_ASHA             ? "asha"
                      : b->policy == RT_BUDGET_EARLY_STOPPING ? "early_stopping"
                                                              : "fixed";
    char what[256];
    int asha = b->policy == RT_BUDGET_ASHA;
    if (asha && (b->min_steps < 0 || b->max_steps < 0))
        return bad(c, n, "budget", "policy asha needs min_steps and max_steps");
    if (asha && b->min_steps >= b->max_steps) {
        snprintf(what, sizeof what, "policy asha: min_steps %ld must be below max_steps %ld",
                 b->min_steps, b->max_steps);
        return bad(c, n, "budget", what);
    }
    if (!asha && (b->min_steps >= 0 || b->max_steps >= 0 || b->eta > 0)) {
        snprintf(what, sizeof what, "min_steps, max_steps and eta belong to policy asha, not %s",
                 pol);
        return bad(c, n, "budget", what);
    }
    if (asha && b->steps >= 0)
        return bad(c, n, "budget", "policy asha: the steps are min_steps .. max_steps, not steps");
    if (b->policy == RT_BUDGET_EARLY_STOPPING && b->patience < 1)
        return bad(c, n, "budget", "policy early_stopping needs patience (>= 1 evaluations)");
    if (b->policy != RT_BUDGET_EARLY_STOPPING && (b->patience > 0 || b->min_delta > 0)) {
        snprintf(what, sizeof what,
                 "patience and min_delta belong to policy early_stopping, not %s", pol);
        return bad(c, n, "budget", what);
    }
    if (asha && b->eta == 0) b->eta = 3; /* Hyperband's and ASHA's usual reduction factor */
    return RT_OK;
}

static rt_status set_budget(spec_ctx *c, const yaml_node_t *n) {
    if (n->type != YAML_MAPPING_NODE)
        return bad(c, n, "budget",
                   "expected a mapping (policy: fixed | early_stopping | asha, ...)");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        const char *name = scalar(k) ? scalar(k) : "";
        RT_CALL(budget_key(c, name, yaml_document_get_node(c->doc, p->value)));
    }
    return check_budget(c, n);
}

/* ---- the top level ---- */

static rt_status set_method(spec_ctx *c, const yaml_node_t *v) {
    const char *t = scalar(v);
    if (t && !strcmp(t, "grid")) {
        c->s->method = RT_SWEEP_GRID;
    } else if (t && !strcmp(t, "random")) {
        c->s->method = RT_SWEEP_RANDOM;
    } else {
        return bad(c, v, "method", "expected grid or random");
    }
    return RT_OK;
}

static rt_status set_direction(spec_ctx *c, const yaml_node_t *v) {
    const char *t = scalar(v);
    if (!t || (strcmp(t, "minimize") && strcmp(t, "maximize")))
        return bad(c, v, "direction", "expected minimize or maximize");
    c->s->maximize = !strcmp(t, "maximize");
    c->seen_direction = 1;
    return RT_OK;
}

static rt_status set_metric(spec_ctx *c, const yaml_node_t *v) {
    const char *t = scalar(v);
    if (!t || !key_syntax_ok(t) || strchr(t, '.'))
        return bad(c, v, "metric",
                   "expected the name of an evaluation figure of metrics.jsonl "
                   "(val_loss, val_accuracy, val_f1_macro, ...)");
    size_t n = strlen(t) + 5;
    free(c->s->metric);
    if (!(c->s->metric = malloc(n))) return rt_error(RT_ERR_MEMORY, "out of memory");
    snprintf(c->s->metric, n, "%s%s", strncmp(t, "val_", 4) ? "val_" : "", t);
    return RT_OK;
}

static rt_status set_base_config(spec_ctx *c, const yaml_node_t *v) {
    char *rel = NULL;
    RT_CALL(get_string(c, v, "base_config", &rel));
    /* relative to the sweep file's folder */
    const char *slash = strrchr(c->s->path, '/');
    size_t dn = rel[0] == '/' || !slash ? 0 : (size_t)(slash - c->s->path) + 1;
    free(c->s->base_config);
    c->s->base_config = malloc(dn + strlen(rel) + 1);
    if (c->s->base_config) {
        memcpy(c->s->base_config, c->s->path, dn);
        strcpy(c->s->base_config + dn, rel);
    }
    free(rel);
    return c->s->base_config ? RT_OK : rt_error(RT_ERR_MEMORY, "out of memory");
}

static rt_status top_key(spec_ctx *c, const char *name, const yaml_node_t *v) {
    rt_sweep_spec *s = c->s;
    long x;
    if (!strcmp(name, "base_config")) return set_base_config(c, v);
    if (!strcmp(name, "base")) {
        if (v->type != YAML_MAPPING_NODE)
            return bad(c, v, "base",
                       "expected a mapping of run-config keys (e.g. {optim: {lr: "
                       "1e-4}} or {optim.lr: 1e-4})");
        return walk_base(c, v, "");
    }
    if (!strcmp(name, "method")) return set_method(c, v);
    if (!strcmp(name, "trials")) {
        RT_CALL(get_long(c, v, "trials", 1, &x));
        if (x > RT_SWEEP_MAX_TRIALS) return bad(c, v, "trials", "more than 100000 trials");
        s->n_trials = (int)x;
        c->seen_trials = line_of(v);
        return RT_OK;
    }
    if (!strcmp(name, "seed")) {
        RT_CALL(get_long(c, v, "seed", 0, &x));
        s->seed = (uint64_t)x;
        return RT_OK;
    }
    if (!strcmp(name, "space")) return set_space(c, v);
    if (!strcmp(name, "metric")) return set_metric(c, v);
    if (!strcmp(name, "direction")) return set_direction(c, v);
    if (!strcmp(name, "budget")) return set_budget(c, v);
    char what[200];
    snprintf(what, sizeof what, "unknown key; allowed top-level keys: %s", top_keys);
    return bad(c, v, name, what);
}

/* ---- rules across keys ---- */

/* The default direction of a metric: lower for losses and perplexities, the trainer's own for
   its eval.metric names; -1 when unknown. */
static int default_maximize(const char *metric) {
    const char *m = metric + 4; /* after "val_" */
    if (strstr(m, "loss") || !strcmp(m, "ppl")) return 0;
    rt_metric_id id;
    rt_metric_dir dir;
    if (rt_metric_by_name(m, &id, &dir) == RT_OK) return dir == RT_METRIC_HIGHER_IS_BETTER;
    if (!strcmp(m, "bleu") || !strcmp(m, "chrf") || !strncmp(m, "rouge", 5) ||
        !strcmp(m, "exact_match"))
        return 1;
    return -1;
}

static rt_status grid_size(const rt_sweep_spec *s, int *n) {
    double total = 1;
    for (int i = 0; i < s->n_params; i++) {
        if (s->params[i].kind != RT_SPACE_LIST)
            return rt_error(RT_ERR_ARG,
                            "%s:%d: '%s': a distribution needs method: random (a grid search "
                            "takes lists of values)",
                            s->path, s->params[i].line, s->params[i].key);
        total *= s->params[i].n_values;
    }
    if (total > RT_SWEEP_MAX_TRIALS)
        return rt_error(RT_ERR_ARG, "%s: the grid has %.0f points, more than %d", s->path, total,
                        RT_SWEEP_MAX_TRIALS);
    *n = (int)total;
    return RT_OK;
}

static rt_status finish(spec_ctx *c) {
    rt_sweep_spec *s = c->s;
    if (!s->n_params)
        return rt_error(RT_ERR_ARG,
                        "%s: no 'space': expected a mapping of run-config keys to the "
                        "values to search (e.g. optim.lr: [1e-4, 3e-4])",
                        s->path);
    if (!s->base_config && !s->n_base)
        return rt_error(RT_ERR_ARG,
                        "%s: neither 'base_config' (a `ringtune train` YAML) nor "
                        "'base' (run-config keys) is set: the trials need a run config",
                        s->path);
    if (s->method == RT_SWEEP_GRID && c->seen_trials)
        return rt_error(RT_ERR_ARG,
                        "%s:%d: 'trials': a grid search runs every point of the grid; "
                        "'trials' is for method: random",
                        s->path, c->seen_trials);
    if (s->method == RT_SWEEP_GRID) RT_CALL(grid_size(s, &s->n_trials));
    if (s->method == RT_SWEEP_RANDOM && !c->seen_trials)
        return rt_error(RT_ERR_ARG, "%s: method random needs 'trials' (how many to draw)", s->path);
    if (!s->metric && !(s->metric = strdup("val_loss")))
        return rt_error(RT_ERR_MEMORY, "out of memory");
    int dflt = default_maximize(s->metric);
    if (!c->seen_direction && dflt < 0)
        return rt_error(RT_ERR_ARG,
                        "%s: 'direction' (minimize or maximize) is needed for metric "
                        "'%s'",
                        s->path, s->metric);
    if (!c->seen_direction) s->maximize = dflt;
    return RT_OK;
}

/* ---- public ---- */

static rt_status walk(spec_ctx *c, yaml_node_t *root) {
    if (!root || root->type != YAML_MAPPING_NODE)
        return rt_error(RT_ERR_ARG, "%s: expected a mapping at the top (keys: %s)", c->s->path,
                        top_keys);
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        const char *name = scalar(k) ? scalar(k) : "";
        for (yaml_node_pair_t *q = root->data.mapping.pairs.start; q < p; q++) {
            const char *o = scalar(yaml_document_get_node(c->doc, q->key));
            if (o && !strcmp(o, name)) return bad(c, k, name, "appears twice");
        }
        RT_CALL(top_key(c, name, yaml_document_get_node(c->doc, p->value)));
    }
    return finish(c);
}

static rt_status parse(spec_ctx *c, const char *text, size_t len) {
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return rt_error(RT_ERR_MEMORY, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    rt_status st;
    if (!yaml_parser_load(&parser, &doc)) {
        st = rt_error(RT_ERR_FORMAT, "malformed YAML in %s:%d:%d: %s", c->s->path,
                      (int)parser.problem_mark.line + 1, (int)parser.problem_mark.column + 1,
                      parser.problem ? parser.problem : "syntax error");
    } else {
        c->doc = &doc;
        st = walk(c, yaml_document_get_root_node(&doc));
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    return st;
}

static rt_status read_base(rt_sweep_spec *s) {
    rt_status st = rt_fs_read_file(s->base_config, &s->base_text, &s->base_len);
    if (st != RT_OK) {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", rt_error_message());
        return rt_error(st, "%s: base_config: cannot read the run config: %s", s->path, msg);
    }
    return RT_OK;
}

rt_status rt_sweep_spec_load_string(rt_sweep_spec *s, const char *text, size_t len,
                                    const char *path) {
    memset(s, 0, sizeof *s);
    s->budget = (rt_sweep_budget){RT_BUDGET_FIXED, -1, 0, 0.0, -1, -1, 0};
    if (!(s->path = strdup(path ? path : "(sweep file)")))
        return rt_error(RT_ERR_MEMORY, "out of memory");
    spec_ctx c = {s, NULL, 0, 0};
    rt_status st = parse(&c, text, len);
    if (st == RT_OK && s->base_config) st = read_base(s);
    if (st != RT_OK) rt_sweep_spec_free(s);
    return st;
}

rt_status rt_sweep_spec_load(rt_sweep_spec *s, const char *path) {
    char *text;
    size_t len;
    memset(s, 0, sizeof *s);
    rt_status st = rt_fs_read_file(path, &text, &len);
    if (st != RT_OK) {
        char msg[2048];
        snprintf(msg, sizeof msg, "cannot read the sweep file: %s", rt_error_message());
        return rt_error(st, "%s", msg);
    }
    st = rt_sweep_spec_load_string(s, text, len, path);
    free(text);
    return st;
}

void rt_sweep_spec_free(rt_sweep_spec *s) {
    if (!s) return;
    for (int i = 0; i < s->n_base; i++) free(s->base[i]);
    for (int i = 0; i < s->n_params; i++) {
        for (int j = 0; j < s->params[i].n_values; j++) free(s->params[i].values[j]);
        free(s->params[i].values);
        free(s->params[i].key);
    }
    free(s->params);
    free(s->base);
    free(s->base_line);
    free(s->base_config);
    free(s->base_text);
    free(s->metric);
    free(s->path);
    memset(s, 0, sizeof *s);
}

void rt_sweep_spec_eval_metric(const rt_sweep_spec *s, char *buf, size_t cap) {
    rt_metric_id id;
    rt_metric_dir dir;
    const char *m = s->metric + 4;
    snprintf(buf, cap, "%s", rt_metric_by_name(m, &id, &dir) == RT_OK ? m : "");
}
