/* Tensor tables and aligned arenas. */
#include "arena.h"
#include <stdlib.h>
#include <string.h>

void rt_table_init(rt_tensor_table *tab) {
    memset(tab, 0, sizeof *tab);
}

void rt_table_free(rt_tensor_table *tab) {
    free(tab->t);
    memset(tab, 0, sizeof *tab);
}

int rt_table_add(rt_tensor_table *tab, const char *name, int ndim, const int64_t *shape,
                 int decay) {
    if (ndim < 1 || ndim > RT_MAX_DIMS || strlen(name) >= RT_NAME_MAX) return -1;
    if (tab->n == tab->cap) {
        int cap = tab->cap ? tab->cap * 2 : 64;
        rt_tensor_info *t = realloc(tab->t, (size_t)cap * sizeof *t);
        if (!t) return -1;
        tab->t = t;
        tab->cap = cap;
    }
    rt_tensor_info *ti = &tab->t[tab->n];
    memset(ti, 0, sizeof *ti);
    strcpy(ti->name, name);
    ti->ndim = ndim;
    ti->numel = 1;
    for (int i = 0; i < ndim; i++) {
        ti->shape[i] = shape[i];
        ti->numel *= (size_t)shape[i];
    }
    ti->offset = (tab->total + 15) & ~(size_t)15;
    ti->decay = decay;
    ti->trainable = 1;
    tab->total = ti->offset + ti->numel;
    return tab->n++;
}

int rt_table_find(const rt_tensor_table *tab, const char *name) {
    for (int i = 0; i < tab->n; i++)
        if (strcmp(tab->t[i].name, name) == 0) return i;
    return -1;
}

float *rt_alloc_floats(size_t n) {
    size_t bytes = ((n ? n : 1) * sizeof(float) + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void rt_free_floats(float **p) {
    if (p && *p) {
        free(*p);
        *p = NULL;
    }
}

rt_status rt_redirect_set(float ***pat, float ***gat, int n, int idx, float *param, float *grad) {
    if (idx < 0 || idx >= n)
        return rt_error(RT_ERR_ARG, "redirect of tensor %d: the table holds %d", idx, n);
    if (!*pat) {
        *pat = calloc((size_t)n, sizeof **pat);
        *gat = calloc((size_t)n, sizeof **gat);
        if (!*pat || !*gat) return rt_error(RT_ERR_MEMORY, "out of memory");
    }
    (*pat)[idx] = param;
    (*gat)[idx] = grad;
    return RT_OK;
}
