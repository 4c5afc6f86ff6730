/* Superseded metrics lines after a resume (dist/metrics_resume.h). */
#include "metrics_resume.h"
#include "fsutil.h"
#include <stdlib.h>
#include <string.h>

/* 1 when the line [s, e) is superseded: a torn last line, or {"step": N with N > step. */
static int superseded(const char *s, const char *e, int has_newline, long step) {
    if (!has_newline) return 1;
    static const char key[] = "{\"step\":";
    size_t k = sizeof key - 1;
    if ((size_t)(e - s) <= k || memcmp(s, key, k) != 0) return 0;
    char *end;
    long n = strtol(s + k, &end, 10);
    return end != s + k && n > step;
}

rt_status rt_metrics_drop_after(const char *path, long step, long *dropped) {
    if (dropped) *dropped = 0;
    if (!rt_fs_exists(path)) return RT_OK;
    char *buf;
    size_t n;
    RT_CALL(rt_fs_read_file(path, &buf, &n));
    size_t w = 0; /* kept bytes, compacted in place */
    long drop = 0;
    for (size_t r = 0; r < n;) {
        char *nl = memchr(buf + r, '\n', n - r);
        size_t e = nl ? (size_t)(nl - buf) + 1 : n;
        if (superseded(buf + r, buf + e, nl != NULL, step)) {
            drop++;
        } else {
            memmove(buf + w, buf + r, e - r);
            w += e - r;
        }
        r = e;
    }
    rt_status st = drop ? rt_fs_write_file_atomic(path, buf, w) : RT_OK;
    free(buf);
    if (st == RT_OK && dropped) *dropped = drop;
    return st;
}

rt_status rt_metrics_resume(rt_mpi_ctx *ctx, const rt_run_config *cfg, long step, FILE *log) {
    rt_status st = RT_OK;
    if (ctx->rank == 0 && cfg->output.metrics_file) {
        char *path = rt_fs_join(cfg->output.dir, cfg->output.metrics_file);
        long dropped = 0;
        st = path ? rt_metrics_drop_after(path, step, &dropped)
                  : rt_error(RT_ERR_MEMORY, "out of memory");
        if (st == RT_OK && dropped && log)
            fprintf(log,
                    "resume: dropped %ld line%s of %s after step %ld (this run computes those "
                    "steps again)\n",
                    dropped, dropped == 1 ? "" : "s", path, step);
        free(path);
    }
    return rt_mpi_ctx_agree(ctx, st);
}
