/* Guards against non-finite weights and runs of skipped steps (dist/guard.h). */
#include "guard.h"
#include <math.h>

rt_status rt_guard_weights(const rt_model *m, const char *what) {
    size_t bad = 0, all = 0;
    int first = -1;
    for (int i = 0; i < m->params->n; i++) {
        const rt_tensor_info *t = &m->params->t[i];
        all += t->numel;
        const float *p = m->params_mem + t->offset;
        for (size_t k = 0; k < t->numel; k++)
            if (!isfinite(p[k])) {
                bad++;
                if (first < 0) first = i;
            }
    }
    if (!bad) return RT_OK;
    return rt_error(RT_ERR_NUMERIC,
                    "%zu of %zu weights are not finite (the first in %s): refusing %s", bad, all,
                    m->params->t[first].name, what);
}

rt_status rt_guard_skips(long skipped, long done, long ran, long steps, double max_ratio, long step,
                         int final) {
    if ((double)skipped > max_ratio * (double)steps)
        return rt_error(RT_ERR_NUMERIC,
                        "step %ld: %ld step%s skipped for a non-finite loss or gradient, more than "
                        "train.max_skipped_ratio %g of the run's %ld steps allows (%g): the model "
                        "or the data is broken; stopping without exporting",
                        step, skipped, skipped == 1 ? "" : "s", max_ratio, steps,
                        floor(max_ratio * (double)steps));
    if (final && ran > 0 && done == 0)
        return rt_error(RT_ERR_NUMERIC,
                        "all %ld steps of this run were skipped for a non-finite loss or "
                        "gradient: nothing was trained; not exporting",
                        ran);
    return RT_OK;
}
