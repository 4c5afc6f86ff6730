/* The piece trie of a SentencePiece model (see spm_internal.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "spm_internal.h"

/* ---- piece trie ----

   A double-array trie: node x's child by byte c is slot y = base[x] + c, valid when check[y] is
   x + 1; each slot also carries the id and score of the piece that ends there. Following an edge
   and scoring the piece found is one 16-byte read, no string compares, so the lattice walk from
   each position costs one read per byte of the longest piece prefix starting there; T5's ~82k
   nodes fit in ~1.6 MB (about a core's L2 cache), which is what makes the walk fast: a hash of
   (node, byte) edges is as few reads but needs ~4 MB at a load factor that keeps probes short,
   and a 256-way table per node ~100 MB. The trie is first built with such a hash, then laid out
   breadth first, each node's children at the first base where all their slots are free. */

#define MAX_NODES (1u << 23)

/* Build scaffolding: edges (node, byte) -> child in an open-addressing hash. */
typedef struct {
    uint32_t key; /* (node << 8) | byte, 0 when free (node >= 1: the root's edges are direct) */
    uint32_t child;
} edge;

static inline uint32_t edge_hash(uint32_t key) {
    return (key * 0x9E3779B1u) ^ (key >> 15);
}

static inline edge *edge_slot(edge *tab, uint32_t mask, uint32_t key) {
    uint32_t i = edge_hash(key) & mask;
    while (tab[i].key != key && tab[i].key != 0) i = (i + 1) & mask;
    return &tab[i];
}

typedef struct {
    uint32_t parent, child;
    uint8_t c;
} edge_rec;

static int edge_rec_cmp(const void *a, const void *b) {
    const edge_rec *x = a, *y = b;
    if (x->parent != y->parent) return x->parent < y->parent ? -1 : 1;
    return (int)x->c - (int)y->c;
}

/* Lays out the trie of n_nodes nodes (node 0 the root; recs sorted by parent, then byte; pid and
   score per node) as the double array. */
/* The first free slot >= i (nf: next-free links with path halving; nf[i] == i when free). */
static size_t next_free(size_t *nf, size_t i) {
    while (nf[i] != i) {
        nf[i] = nf[nf[i]];
        i = nf[i];
    }
    return i;
}

static rt_status layout(rt_spm *t, const edge_rec *recs, size_t n_recs, uint32_t n_nodes,
                        const int32_t *pid, const float *score) {
    /* recs of node x: [first[x], first[x+1]) */
    size_t *first = calloc((size_t)n_nodes + 1, sizeof *first);
    uint32_t *queue = malloc((size_t)n_nodes * sizeof *queue);
    uint32_t *slot = malloc((size_t)n_nodes * sizeof *slot);
    size_t cap = (size_t)n_nodes * 2 + 1024, used = 1;
    da_unit *da = calloc(cap, sizeof *da);
    size_t *nf = malloc(cap * sizeof *nf);
    rt_status s = RT_OK;
    if (!first || !queue || !slot || !da || !nf) {
        s = rt_error(RT_ERR_MEMORY, "%s: out of memory", t->source);
        goto done;
    }
    for (size_t i = 0; i < cap; i++) nf[i] = i;
    nf[0] = 1; /* the root */
    for (size_t i = 0; i < n_recs; i++) first[recs[i].parent + 1]++;
    for (uint32_t x = 0; x < n_nodes; x++) first[x + 1] += first[x];
    size_t head = 0, tail = 0;
    queue[tail++] = 0;
    slot[0] = 0;
    da[0] = (da_unit){0, 1, -1, 0.0f};
    while (head < tail) {
        uint32_t x = queue[head++];
        size_t r0 = first[x], r1 = first[x + 1];
        if (r0 == r1) continue;
        const size_t c0 = recs[r0].c;
        /* candidate bases put the first child on a free slot (and leave base >= 1) */
        size_t b;
        for (size_t f = next_free(nf, c0 + 1);; f = next_free(nf, f + 1)) {
            if (f + 256 >= cap) { /* grow: slots and next-free links */
                size_t nc = cap * 2;
                da_unit *p = realloc(da, nc * sizeof *da);
                size_t *q = p ? realloc(nf, nc * sizeof *nf) : NULL;
                if (p) da = p;
                if (q) nf = q;
                if (!p || !q) {
                    s = rt_error(RT_ERR_MEMORY, "%s: out of memory", t->source);
                    goto done;
                }
                memset(da + cap, 0, (nc - cap) * sizeof *da);
                for (size_t i = cap; i < nc; i++) nf[i] = i;
                cap = nc;
            }
            b = f - c0;
            size_t r = r0 + 1;
            while (r < r1 && !da[b + recs[r].c].check) r++;
            if (r == r1) break;
        }
        da[slot[x]].base = (int32_t)b;
        for (size_t r = r0; r < r1; r++) {
            uint32_t y = recs[r].child;
            size_t at = b + recs[r].c;
            slot[y] = (uint32_t)at;
            da[at] = (da_unit){0, slot[x] + 1, pid[y], score[y]};
            nf[at] = at + 1;
            if (at + 1 > used) used = at + 1;
            queue[tail++] = y;
        }
    }
    t->da = da;
    t->n_da = used + 256 <= cap ? used + 256 : cap; /* base + byte stays inside */
    da = NULL;
done:
    free(first);
    free(queue);
    free(slot);
    free(da);
    free(nf);
    return s;
}

rt_status rt_spm_build_trie(rt_spm *t, size_t total_bytes) {
    if (total_bytes + 1 >= MAX_NODES)
        return rt_error(RT_ERR_FORMAT, "%s: pieces: %zu bytes in all (expected fewer than %u)",
                        t->source, total_bytes, MAX_NODES);
    uint32_t cap = 16;
    while (cap < 2 * (total_bytes + 1)) cap *= 2;
    const uint32_t mask = cap - 1;
    uint32_t root[256] = {0};
    edge *tab = calloc(cap, sizeof *tab);
    int32_t *pid = malloc((total_bytes + 1) * sizeof *pid);
    float *score = malloc((total_bytes + 1) * sizeof *score);
    edge_rec *recs = malloc((total_bytes + 1) * sizeof *recs);
    rt_status s = RT_OK;
    if (!tab || !pid || !score || !recs) {
        s = rt_error(RT_ERR_MEMORY, "%s: out of memory", t->source);
        goto done;
    }
    uint32_t n_nodes = 1;
    size_t n_recs = 0;
    pid[0] = -1;
    score[0] = 0.0f;
    for (int id = 0; id < t->n_pieces && s == RT_OK; id++) {
        /* the pieces Viterbi can choose: sentencepiece's trie holds the normal, user-defined and
           unused ones (the last are skipped when met); control, unknown and byte pieces are
           reachable by id only */
        int ty = t->type[id];
        if (ty != SPM_NORMAL && ty != SPM_USER && ty != SPM_UNUSED) continue;
        const uint8_t *p = (const uint8_t *)t->text + t->off[id];
        size_t n = strlen((const char *)p);
        uint32_t node = 0;
        for (size_t k = 0; k < n; k++) {
            uint32_t *child;
            if (node == 0)
                child = &root[p[k]];
            else {
                edge *e = edge_slot(tab, mask, node << 8 | p[k]);
                e->key = node << 8 | p[k];
                child = &e->child;
            }
            if (!*child) {
                *child = n_nodes++;
                pid[*child] = -1;
                score[*child] = 0.0f;
                recs[n_recs++] = (edge_rec){node, *child, p[k]};
            }
            node = *child;
        }
        if (pid[node] != -1) {
            s = rt_error(RT_ERR_FORMAT,
                         "%s: pieces[%d].piece \"%s\" is the same as pieces[%d] (expected every "
                         "piece once)",
                         t->source, id, (const char *)p,
                         pid[node] >= 0 ? pid[node] : -2 - pid[node]);
            break;
        }
        pid[node] = ty == SPM_UNUSED ? -2 - id : id;
        score[node] = ty == SPM_USER ? INFINITY : t->score[id];
    }
    if (s == RT_OK) {
        for (uint32_t x = 0; x < n_nodes; x++)
            if (pid[x] < -1) pid[x] = -1; /* unused pieces: walked through, never chosen */
        qsort(recs, n_recs, sizeof *recs, edge_rec_cmp);
        s = layout(t, recs, n_recs, n_nodes, pid, score);
    }
done:
    free(tab);
    free(pid);
    free(score);
    free(recs);
    return s;
}
