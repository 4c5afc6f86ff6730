/* What a run must not do with broken numbers: export or finally checkpoint non-finite weights,
   or carry on when nan_policy skip drops too many steps. */
#pragma once
#include "model.h"
#include "status.h"

/* RT_OK when every parameter of m is finite; else RT_ERR_NUMERIC naming how many are not, the
   first tensor holding one and `what` was refused (e.g. "the final checkpoint and export").
   Local (every rank holds the same parameters; agree on the result). */
rt_status rt_guard_weights(const rt_model *m, const char *what);

/* train.max_skipped_ratio: RT_OK while `skipped` steps of a run of `steps` are at most
   max_ratio * steps, else RT_ERR_NUMERIC naming the count (checked at each skip, so a run whose
   every step is skipped stops early; `skipped` counts earlier runs of a resumed run too). final
   != 0 also refuses a run that went through ran > 0 steps and took (done) none of them. Local
   and pure. */
rt_status rt_guard_skips(long skipped, long done, long ran, long steps, double max_ratio, long step,
                         int final);
