/* Metric names (what a config's early-stopping metric and the logs say), their direction, and
   each one's value in an rt_metrics. */
#include "metrics.h"
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    rt_metric_dir dir;
} metric_table[RT_METRIC_COUNT] = {
    [RT_METRIC_LOSS] = {"loss", RT_METRIC_LOWER_IS_BETTER},
    [RT_METRIC_ACCURACY] = {"accuracy", RT_METRIC_HIGHER_IS_BETTER},
    [RT_METRIC_F1_MACRO] = {"f1_macro", RT_METRIC_HIGHER_IS_BETTER},
    [RT_METRIC_F1_MICRO] = {"f1_micro", RT_METRIC_HIGHER_IS_BETTER},
    [RT_METRIC_F1_WEIGHTED] = {"f1_weighted", RT_METRIC_HIGHER_IS_BETTER},
    [RT_METRIC_PRECISION_MACRO] = {"precision_macro", RT_METRIC_HIGHER_IS_BETTER},
    [RT_METRIC_PRECISION_MICRO] = {"precision_micro", RT_METRIC_HIGHER_IS_BETTER},
    [RT_METRIC_PRECISION_WEIGHTED] = {"precision_weighted", RT_METRIC_HIGHER_IS_BETTER},
    [RT_METRIC_RECALL_MACRO] = {"recall_macro", RT_METRIC_HIGHER_IS_BETTER},
    [RT_METRIC_RECALL_MICRO] = {"recall_micro", RT_METRIC_HIGHER_IS_BETTER},
    [RT_METRIC_RECALL_WEIGHTED] = {"recall_weighted", RT_METRIC_HIGHER_IS_BETTER},
    [RT_METRIC_PRECISION_BINARY] = {"precision_binary", RT_METRIC_HIGHER_IS_BETTER},
    [RT_METRIC_RECALL_BINARY] = {"recall_binary", RT_METRIC_HIGHER_IS_BETTER},
    [RT_METRIC_F1_BINARY] = {"f1_binary", RT_METRIC_HIGHER_IS_BETTER},
};

const char *rt_metric_name(rt_metric_id id) {
    return (unsigned)id < RT_METRIC_COUNT ? metric_table[id].name : NULL;
}

rt_metric_dir rt_metric_direction(rt_metric_id id) {
    return (unsigned)id < RT_METRIC_COUNT ? metric_table[id].dir : RT_METRIC_HIGHER_IS_BETTER;
}

rt_status rt_metric_by_name(const char *name, rt_metric_id *id, rt_metric_dir *dir) {
    for (int i = 0; name && i < RT_METRIC_COUNT; i++) {
        if (strcmp(name, metric_table[i].name) == 0) {
            if (id) *id = (rt_metric_id)i;
            if (dir) *dir = metric_table[i].dir;
            return RT_OK;
        }
    }
    char list[512];
    size_t off = 0;
    for (int i = 0; i < RT_METRIC_COUNT && off < sizeof list; i++)
        off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "",
                                metric_table[i].name);
    return rt_error(RT_ERR_ARG, "unknown metric '%s': expected one of %s", name ? name : "(null)",
                    list);
}

/* the figure of one rt_prf that id names (precision, recall or F1) and its undefined bit */
static void prf_pick(const rt_prf *p, int which, double *value, int *undef) {
    static const unsigned bits[3] = {RT_UNDEF_PRECISION, RT_UNDEF_RECALL, RT_UNDEF_F1};
    *value = which == 0 ? p->precision : which == 1 ? p->recall : p->f1;
    *undef = (p->undefined & bits[which]) != 0;
}

rt_status rt_metrics_value(const rt_metrics *m, rt_metric_id id, double *value, int *undef) {
    int u = 0;
    switch (id) {
    case RT_METRIC_ACCURACY:
        *value = m->accuracy, u = m->accuracy_undef;
        break;
    case RT_METRIC_PRECISION_MACRO:
        prf_pick(&m->macro, 0, value, &u);
        break;
    case RT_METRIC_RECALL_MACRO:
        prf_pick(&m->macro, 1, value, &u);
        break;
    case RT_METRIC_F1_MACRO:
        prf_pick(&m->macro, 2, value, &u);
        break;
    case RT_METRIC_PRECISION_MICRO:
        prf_pick(&m->micro, 0, value, &u);
        break;
    case RT_METRIC_RECALL_MICRO:
        prf_pick(&m->micro, 1, value, &u);
        break;
    case RT_METRIC_F1_MICRO:
        prf_pick(&m->micro, 2, value, &u);
        break;
    case RT_METRIC_PRECISION_WEIGHTED:
        prf_pick(&m->weighted, 0, value, &u);
        break;
    case RT_METRIC_RECALL_WEIGHTED:
        prf_pick(&m->weighted, 1, value, &u);
        break;
    case RT_METRIC_F1_WEIGHTED:
        prf_pick(&m->weighted, 2, value, &u);
        break;
    case RT_METRIC_PRECISION_BINARY:
    case RT_METRIC_RECALL_BINARY:
    case RT_METRIC_F1_BINARY:
        if (m->num_labels != 2)
            return rt_error(RT_ERR_ARG, "metric %s needs exactly 2 labels, the model has %d",
                            rt_metric_name(id), m->num_labels);
        prf_pick(&m->per_class[1], (int)(id - RT_METRIC_PRECISION_BINARY), value, &u);
        break;
    case RT_METRIC_LOSS:
        return rt_error(RT_ERR_ARG, "metric loss is the trainer's mean cross-entropy, not a "
                                    "confusion-matrix figure");
    default:
        return rt_error(RT_ERR_ARG, "metric id %d out of range", (int)id);
    }
    if (undef) *undef = u;
    return RT_OK;
}
