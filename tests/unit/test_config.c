/* The run configuration: defaults, the example file, command-line overrides, errors that name
   the key, the place and what is allowed (unknown keys, wrong types, out-of-range values,
   conflicting keys, malformed YAML), the gradient-accumulation rule, and write -> parse round
   trips that give an identical struct. */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"

#define CONFIGS RT_CONFIGS_DIR
#define REQUIRED "model: {path: m}\ndata: {corpus: c.h5}\noutput: {dir: out}\n"

/* Loads inline YAML (named "inline.yaml" in messages) plus overrides. */
static rt_status load_text(rt_run_config *cfg, const char *yaml, int n, char **ov) {
    return rt_config_load_string(cfg, yaml, yaml ? strlen(yaml) : 0, "inline.yaml", n, ov);
}

/* The recorded message contains every one of the NULL-terminated substrings. */
static void expect_message(const char *first, ...) {
    const char *msg = rt_error_message();
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *))
        ck_assert_msg(strstr(msg, s) != NULL, "message\n  %s\nlacks\n  %s", msg, s);
    va_end(ap);
}
#define EXPECT_MSG(...) expect_message(__VA_ARGS__, (const char *)NULL)

/* Loading yaml fails with status st and a message holding the substrings. */
#define EXPECT_FAIL(yaml, st, ...)                                                                 \
    do {                                                                                           \
        rt_run_config c_;                                                                          \
        rt_status s_ = load_text(&c_, (yaml), 0, NULL);                                            \
        ck_assert_msg(s_ == (st), "status %s for\n%s\nmessage: %s", rt_status_name(s_), (yaml),    \
                      rt_error_message());                                                         \
        EXPECT_MSG(__VA_ARGS__);                                                                   \
        ck_assert_ptr_null(c_.origin); /* nothing left to free */                                  \
    } while (0)

START_TEST(test_defaults) {
    rt_run_config c;
    ck_assert_int_eq(rt_config_defaults(&c), RT_OK);
    ck_assert_ptr_null(c.model.path);
    ck_assert(isnan(c.model.dropout.embd) && isnan(c.model.dropout.attn) &&
              isnan(c.model.dropout.resid));
    ck_assert_ptr_null(c.data.corpus);
    ck_assert_ptr_null(c.data.val_corpus);
    ck_assert_int_eq(c.data.seq_len, 256);
    ck_assert_uint_eq(c.data.seed, 1234);
    ck_assert_int_eq(c.train.global_batch, 64);
    ck_assert_int_eq(c.train.micro_batch, 8);
    ck_assert_int_eq(c.train.max_steps, RT_CONFIG_NULL_INT);
    ck_assert_double_eq(c.train.epochs, 1.0);
    ck_assert_uint_eq(c.train.seed, 1234);
    ck_assert_int_eq(c.train.nan_policy, RT_NAN_POLICY_STOP);
    ck_assert_double_eq(c.optim.lr, 5e-5);
    ck_assert_double_eq(c.optim.min_lr, 0.0);
    ck_assert_int_eq(c.optim.warmup_steps, 0);
    ck_assert_double_eq(c.optim.warmup_ratio, 0.0);
    ck_assert_int_eq(c.optim.schedule, RT_SCHED_LINEAR);
    ck_assert_double_eq(c.optim.weight_decay, 0.0);
    ck_assert_double_eq(c.optim.beta1, 0.9);
    ck_assert_double_eq(c.optim.beta2, 0.999);
    ck_assert_double_eq(c.optim.eps, 1e-8);
    ck_assert_double_eq(c.optim.clip_norm, 1.0);
    ck_assert_int_eq(c.finetune.mode, RT_FINETUNE_MODE_FULL);
    ck_assert_int_eq(c.finetune.last_n_blocks, 2);
    ck_assert_int_eq(c.finetune.unfreeze_every, 100);
    ck_assert_int_eq(c.finetune.unfreeze_unit, RT_UNFREEZE_UNIT_STEPS);
    ck_assert_int_eq(c.eval.every_steps, 0);
    ck_assert_int_eq(c.eval.max_batches, RT_CONFIG_NULL_INT);
    ck_assert_int_eq(c.eval.micro_batch, RT_CONFIG_NULL_INT);
    ck_assert(!c.eval.at_start);
    ck_assert_int_eq(c.eval.early_stopping.patience, 0);
    ck_assert_double_eq(c.eval.early_stopping.min_delta, 0.0);
    ck_assert_double_eq(c.dist.bucket_mb, 25.0);
    ck_assert(c.dist.overlap && c.dist.zero1);
    ck_assert_int_eq(c.dist.threads_per_rank, 0);
    ck_assert_ptr_null(c.output.dir);
    ck_assert_int_eq(c.output.log_every, 1);
    ck_assert_str_eq(c.output.metrics_file, "metrics.jsonl");
    ck_assert(!c.output.tensorboard);
    ck_assert_int_eq(c.checkpoint.every_steps, 0);
    ck_assert_int_eq(c.checkpoint.keep_last, 2);
    ck_assert(c.checkpoint.keep_best);
    ck_assert_ptr_null(c.checkpoint.resume);
    /* the defaults lack the required keys */
    ck_assert_int_eq(rt_config_validate(&c), RT_ERR_ARG);
    EXPECT_MSG("missing required key 'model.path'", "model.path=...");
    rt_config_free(&c);
    ck_assert_ptr_null(c.origin);
    rt_config_free(&c); /* twice is fine */

    /* the minimal file: the three required keys, all else default */
    rt_run_config m, d;
    ck_assert_int_eq(rt_config_load(&m, CONFIGS "/minimal.yaml", 0, NULL), RT_OK);
    ck_assert_str_eq(m.model.path, "checkpoints/gpt2");
    ck_assert_str_eq(m.data.corpus, "data/legal.h5");
    ck_assert_str_eq(m.output.dir, "runs/minimal");
    ck_assert_int_eq(rt_config_defaults(&d), RT_OK);
    ck_assert(!rt_config_equal(&m, &d));
    free(d.model.path), free(d.data.corpus), free(d.output.dir);
    d.model.path = strdup("checkpoints/gpt2");
    d.data.corpus = strdup("data/legal.h5");
    d.output.dir = strdup("runs/minimal");
    ck_assert(rt_config_equal(&m, &d));
    ck_assert_int_eq(rt_config_validate(&d), RT_OK); /* a struct filled in code validates too */
    rt_config_free(&d);
    rt_config_free(&m);

    /* required keys given only on the command line; no file at all */
    char *ov[] = {"model.path=m", "data.corpus=c.h5", "output.dir=out"};
    ck_assert_int_eq(rt_config_load(&m, NULL, 3, ov), RT_OK);
    ck_assert_str_eq(m.output.dir, "out");
    rt_config_free(&m);
    ck_assert_int_eq(rt_config_load(&m, NULL, 2, ov), RT_ERR_ARG);
    EXPECT_MSG("missing required key 'output.dir'");
}
END_TEST

START_TEST(test_example_file) {
    rt_run_config c;
    rt_status s = rt_config_load(&c, CONFIGS "/example.yaml", 0, NULL);
    ck_assert_msg(s == RT_OK, "%s", rt_error_message());
    ck_assert_str_eq(c.model.path, "checkpoints/gpt2");
    ck_assert_double_eq(c.model.dropout.embd, 0.1);
    ck_assert_double_eq(c.model.dropout.attn, 0.1);
    ck_assert(isnan(c.model.dropout.resid));
    ck_assert_str_eq(c.data.corpus, "data/legal.h5");
    ck_assert_ptr_null(c.data.val_corpus);
    ck_assert_int_eq(c.data.seq_len, 512);
    ck_assert_uint_eq(c.data.seed, 42);
    ck_assert_int_eq(c.train.global_batch, 96);
    ck_assert_int_eq(c.train.micro_batch, 4);
    ck_assert_int_eq(c.train.max_steps, 2000);
    ck_assert(isnan(c.train.epochs)); /* the default epochs gave way to the file's max_steps */
    ck_assert_uint_eq(c.train.seed, 42);
    ck_assert_int_eq(c.train.nan_policy, RT_NAN_POLICY_SKIP);
    ck_assert_double_eq(c.optim.lr, 3e-5);
    ck_assert_double_eq(c.optim.min_lr, 3e-6);
    ck_assert_int_eq(c.optim.warmup_steps, 200);
    ck_assert_double_eq(c.optim.warmup_ratio, 0.0);
    ck_assert_int_eq(c.optim.schedule, RT_SCHED_COSINE);
    ck_assert_double_eq(c.optim.weight_decay, 0.01);
    ck_assert_double_eq(c.optim.beta1, 0.9);
    ck_assert_double_eq(c.optim.beta2, 0.98);
    ck_assert_double_eq(c.optim.eps, 1e-8);
    ck_assert_double_eq(c.optim.clip_norm, 1.0);
    ck_assert_int_eq(c.finetune.mode, RT_FINETUNE_MODE_PARTIAL);
    ck_assert_int_eq(c.finetune.last_n_blocks, 4);
    ck_assert_int_eq(c.finetune.unfreeze_every, 100);
    ck_assert_int_eq(c.finetune.unfreeze_unit, RT_UNFREEZE_UNIT_STEPS);
    ck_assert_int_eq(c.eval.every_steps, 200);
    ck_assert_int_eq(c.eval.max_batches, 50);
    ck_assert_int_eq(c.eval.micro_batch, 8);
    ck_assert(c.eval.at_start);
    ck_assert_int_eq(c.eval.early_stopping.patience, 5);
    ck_assert_double_eq(c.eval.early_stopping.min_delta, 0.001);
    ck_assert_double_eq(c.dist.bucket_mb, 25);
    ck_assert(c.dist.overlap && c.dist.zero1);
    ck_assert_int_eq(c.dist.threads_per_rank, 0);
    ck_assert_str_eq(c.output.dir, "runs/gpt2-legal");
    ck_assert_int_eq(c.output.log_every, 10);
    ck_assert_str_eq(c.output.metrics_file, "metrics.jsonl");
    ck_assert(!c.output.tensorboard);
    ck_assert_int_eq(c.checkpoint.every_steps, 500);
    ck_assert_int_eq(c.checkpoint.keep_last, 3);
    ck_assert(c.checkpoint.keep_best);
    ck_assert_str_eq(c.checkpoint.resume, "latest");
    /* the comment in the file: 24, 12, 8, 6 micro-batches per step on 1..4 ranks */
    static const int want[] = {24, 12, 8, 6};
    for (int p = 1; p <= 4; p++) {
        int ga = 0;
        ck_assert_int_eq(rt_config_derive(&c, p, &ga), RT_OK);
        ck_assert_int_eq(ga, want[p - 1]);
    }
    rt_config_free(&c);
}
END_TEST

START_TEST(test_overrides) {
    char *ov[] = {
        "optim.lr=1e-4",                  /* scientific notation */
        "model.dropout.resid=0.05",       /* nested */
        "model.dropout.embd=null",        /* null */
        "optim.schedule=constant",        /* enum */
        "train.epochs=2.5",               /* clears the file's max_steps */
        "eval.early_stopping.patience=0", /* two levels deep */
        "checkpoint.keep_last=null",      /* nullable integer */
        "checkpoint.resume=",             /* empty: null */
        "data.val_corpus=data/val.h5",    /* string */
        "dist.overlap=false",             /* boolean */
        "finetune.mode=gradual_unfreeze", /* enum with an underscore */
        "finetune.unfreeze_unit=epochs",
        "output.metrics_file='null'", /* quoted: the string, not null */
        "train.global_batch=32",
        "train.global_batch=48", /* the last one wins */
        "eval.max_batches=1e3",  /* an integral number is an integer */
    };
    int n = (int)(sizeof ov / sizeof ov[0]);
    rt_run_config c;
    rt_status s = rt_config_load(&c, CONFIGS "/example.yaml", n, ov);
    ck_assert_msg(s == RT_OK, "%s", rt_error_message());
    ck_assert_double_eq(c.optim.lr, 1e-4);
    ck_assert_double_eq(c.model.dropout.resid, 0.05);
    ck_assert(isnan(c.model.dropout.embd));
    ck_assert_double_eq(c.model.dropout.attn, 0.1); /* untouched */
    ck_assert_int_eq(c.optim.schedule, RT_SCHED_CONSTANT);
    ck_assert_double_eq(c.train.epochs, 2.5);
    ck_assert_int_eq(c.train.max_steps, RT_CONFIG_NULL_INT);
    ck_assert_int_eq(c.eval.early_stopping.patience, 0);
    ck_assert_int_eq(c.checkpoint.keep_last, RT_CONFIG_NULL_INT);
    ck_assert_ptr_null(c.checkpoint.resume);
    ck_assert_str_eq(c.data.val_corpus, "data/val.h5");
    ck_assert(!c.dist.overlap);
    ck_assert_int_eq(c.finetune.mode, RT_FINETUNE_MODE_GRADUAL_UNFREEZE);
    ck_assert_int_eq(c.finetune.unfreeze_unit, RT_UNFREEZE_UNIT_EPOCHS);
    ck_assert_str_eq(c.output.metrics_file, "null");
    ck_assert_int_eq(c.train.global_batch, 48);
    ck_assert_int_eq(c.eval.max_batches, 1000);
    rt_config_free(&c);

    /* a section as a flow mapping; a section set to null goes back to its defaults */
    char *ov2[] = {"model.dropout={attn: 0.2, resid: 0.3}", "eval=null"};
    ck_assert_int_eq(rt_config_load(&c, CONFIGS "/example.yaml", 2, ov2), RT_OK);
    ck_assert_double_eq(c.model.dropout.embd, 0.1);
    ck_assert_double_eq(c.model.dropout.attn, 0.2);
    ck_assert_double_eq(c.model.dropout.resid, 0.3);
    ck_assert_int_eq(c.eval.every_steps, 0);
    ck_assert_int_eq(c.eval.early_stopping.patience, 0);
    rt_config_free(&c);

    /* a bad override is named */
    struct {
        char *arg;
        const char *msg[3];
    } bad[] = {
        {"optim.lr=abc", {"'optim.lr'", "command line argument 'optim.lr=abc'", "a number > 0"}},
        {"optim.lr", {"command line argument 'optim.lr'", "key.sub=value"}},
        {"=3", {"command line argument '=3'", "key.sub=value"}},
        {"optim.lrr=3e-5",
         {"unknown key 'optim.lrr' in command line argument 'optim.lrr=3e-5'",
          "allowed keys under 'optim': lr, min_lr, warmup_steps", "did you mean 'optim.lr'?"}},
        {"optimizer.lr=1", {"unknown key 'optimizer.lr'", "allowed top-level keys: model, data"}},
        {"train.lr=1e-4", {"unknown key 'train.lr'", "did you mean 'optim.lr'?"}},
        {"Optim.LR=1", {"unknown key 'Optim.LR'"}},
        {"optim=3", {"'optim' in command line argument 'optim=3' is a section", "lr, min_lr"}},
        {"optim.schedule=cosin", {"'optim.schedule'", "one of constant, linear, cosine"}},
        {"train.micro_batch=[1, 2]", {"'train.micro_batch'", "got a list"}},
        {"model.dropout={embd: 0.1, embd: 0.2}", {"duplicate key 'model.dropout.embd'"}},
        {"model.path=null", {"'model.path'", "got null"}},
        {"model.path=@x", {"command line argument 'model.path=@x'", "not valid YAML"}},
    };
    char *req[] = {"model.path=m", "data.corpus=c", "output.dir=o", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        req[3] = bad[i].arg;
        s = rt_config_load(&c, NULL, 4, req);
        ck_assert_msg(s == RT_ERR_ARG, "%s: %s", bad[i].arg, rt_status_name(s));
        for (int j = 0; j < 3 && bad[i].msg[j]; j++)
            ck_assert_msg(strstr(rt_error_message(), bad[i].msg[j]), "%s: message\n%s\nlacks %s",
                          bad[i].arg, rt_error_message(), bad[i].msg[j]);
    }
}
END_TEST

START_TEST(test_unknown_keys) {
    rt_run_config c;
    ck_assert_int_eq(rt_config_load(&c, CONFIGS "/unknown_key.yaml", 0, NULL), RT_ERR_ARG);
    EXPECT_MSG("unknown key 'optim.lrr' in " CONFIGS "/unknown_key.yaml:7; allowed keys under "
               "'optim': lr, min_lr, warmup_steps, warmup_ratio, schedule, weight_decay, beta1, "
               "beta2, eps, clip_norm",
               "did you mean 'optim.lr'?");
    EXPECT_FAIL(REQUIRED "optimizer:\n  lr: 1\n", RT_ERR_ARG,
                "unknown key 'optimizer' in inline.yaml:4; allowed top-level keys: model, data, "
                "train, optim, finetune, lora, eval, dist, output, checkpoint");
    EXPECT_FAIL("model:\n  path: m\n  dropout:\n    emb: 0.1\n", RT_ERR_ARG,
                "unknown key 'model.dropout.emb' in inline.yaml:4; allowed keys under "
                "'model.dropout': embd, attn, resid",
                "did you mean 'model.dropout.embd'?");
    EXPECT_FAIL("eval:\n  early_stopping:\n    patience: 2\n    min_delat: 0.1\n", RT_ERR_ARG,
                "unknown key 'eval.early_stopping.min_delat' in inline.yaml:4");
    char longkey[400] = "optim:\n  ";
    memset(longkey + strlen(longkey), 'x', 300);
    strcat(longkey, ": 1\n");
    EXPECT_FAIL(longkey, RT_ERR_ARG, "unknown key 'optim.xxxx", "...' in inline.yaml:2");
    EXPECT_FAIL("optim:\n  '': 1\n", RT_ERR_ARG, "unknown key 'optim.' in inline.yaml:2");
    EXPECT_FAIL("optim.lr: 1e-4\n", RT_ERR_ARG, "unknown key 'optim.lr' in inline.yaml:1",
                "nest the keys");
    EXPECT_FAIL("base: &b {lr: 1e-4}\noptim:\n  <<: *b\n", RT_ERR_ARG, "unknown key 'base'");
    EXPECT_FAIL("optim:\n  <<: {lr: 1e-4}\n", RT_ERR_ARG, "inline.yaml:2", "merge keys");
    EXPECT_FAIL(REQUIRED "optim:\n  lr: 1e-4\n  lr: 2e-4\n", RT_ERR_ARG,
                "duplicate key 'optim.lr' in inline.yaml:6 (first at line 5)");
    EXPECT_FAIL(REQUIRED "output: {dir: again}\n", RT_ERR_ARG,
                "duplicate key 'output' in inline.yaml:4 (first at line 3)");
}
END_TEST

START_TEST(test_wrong_types) {
    EXPECT_FAIL(REQUIRED "optim:\n  lr: [1e-4, 2e-4]\n", RT_ERR_ARG,
                "invalid value for 'optim.lr' in inline.yaml:5: expected a number > 0 and <= 1, "
                "got a list");
    EXPECT_FAIL("data:\n  seq_len: {tokens: 512}\n", RT_ERR_ARG, "'data.seq_len' in inline.yaml:2",
                "got a mapping");
    EXPECT_FAIL(REQUIRED "optim: 3e-5\n", RT_ERR_ARG,
                "'optim' in inline.yaml:4 is a section: expected a mapping of its keys (lr, "
                "min_lr");
    EXPECT_FAIL(REQUIRED "eval:\n  - every_steps: 10\n", RT_ERR_ARG, "'eval' in inline.yaml:4",
                "got a list");
    EXPECT_FAIL("- model\n- data\n", RT_ERR_ARG, "top level of inline.yaml must be a mapping",
                "got a list");
    EXPECT_FAIL(REQUIRED "optim:\n  lr: \"5e-5\"\n", RT_ERR_ARG, "'optim.lr' in inline.yaml:5",
                "quoted string \"5e-5\" (write it without quotes)");
    EXPECT_FAIL(REQUIRED "optim:\n  lr: fast\n", RT_ERR_ARG, "got 'fast'");
    EXPECT_FAIL(REQUIRED "optim:\n  lr: .inf\n", RT_ERR_ARG, "'optim.lr'", "got '.inf'");
    EXPECT_FAIL(REQUIRED "optim:\n  lr: 0x10\n", RT_ERR_ARG, "'optim.lr'", "got '0x10'");
    EXPECT_FAIL(REQUIRED "optim:\n  lr: null\n", RT_ERR_ARG, "'optim.lr'", "got null");
    EXPECT_FAIL(REQUIRED "optim:\n  lr:\n", RT_ERR_ARG, "'optim.lr'", "got null");
    EXPECT_FAIL(REQUIRED "dist:\n  overlap: yes\n", RT_ERR_ARG,
                "'dist.overlap' in inline.yaml:5: expected true or false, got 'yes'");
    EXPECT_FAIL(REQUIRED "dist:\n  overlap: 1\n", RT_ERR_ARG, "'dist.overlap'", "true or false");
    EXPECT_FAIL(REQUIRED "dist:\n  overlap: \"true\"\n", RT_ERR_ARG, "'dist.overlap'",
                "quoted string");
    EXPECT_FAIL(REQUIRED "train:\n  micro_batch: 2.5\n", RT_ERR_ARG,
                "'train.micro_batch' in inline.yaml:5: expected an integer >= 1", "got '2.5'");
    EXPECT_FAIL(REQUIRED "train:\n  nan_policy: ignore\n", RT_ERR_ARG,
                "'train.nan_policy' in inline.yaml:5: expected one of stop, skip, got 'ignore'");
    EXPECT_FAIL(REQUIRED "finetune:\n  mode: Full\n", RT_ERR_ARG,
                "one of full, partial, feature_extraction, gradual_unfreeze");
    EXPECT_FAIL("data:\n  val_corpus: ''\n", RT_ERR_ARG, "'data.val_corpus'", "non-empty string");
    EXPECT_FAIL("model:\n  path: [a, b]\n", RT_ERR_ARG, "'model.path' in inline.yaml:2",
                "got a list");
    EXPECT_FAIL(REQUIRED "train: {seed: !custom 5}\n", RT_ERR_ARG, "unsupported YAML tag");
    EXPECT_FAIL(REQUIRED "? [a, b]\n: 1\n", RT_ERR_ARG,
                "inline.yaml:4: a key under '(top)' must "
                "be a name");

    /* the accepted spellings */
    rt_run_config c;
    ck_assert_int_eq(load_text(&c,
                               REQUIRED "optim: {lr: 5E-5, eps: 1.e-8, beta1: .5, clip_norm: 0}\n"
                                        "train: {max_steps: 1e4, seed: +7, micro_batch: 8.0}\n"
                                        "dist: {overlap: False, zero1: TRUE}\n"
                                        "model: {dropout: {embd: 0, attn: ~, resid: 0.999}}\n",
                               0, NULL),
                     RT_ERR_ARG); /* 'model' twice */
    EXPECT_MSG("duplicate key 'model'");
    rt_status s = load_text(&c,
                            "model: {path: m, dropout: {embd: 0, attn: ~, resid: 0.999}}\n"
                            "data: {corpus: 2024}\noutput: {dir: \"out dir: #1\"}\n"
                            "optim: {lr: 5E-5, eps: 1.e-8, beta1: .5, clip_norm: 0}\n"
                            "train: {max_steps: 1e4, seed: +7, micro_batch: 8.0}\n"
                            "dist: {overlap: False, zero1: TRUE}\n"
                            "eval:\ncheckpoint: {every_steps: 00100}\n",
                            0, NULL);
    ck_assert_msg(s == RT_OK, "%s", rt_error_message());
    ck_assert_double_eq(c.optim.lr, 5e-5);
    ck_assert_double_eq(c.optim.eps, 1e-8);
    ck_assert_double_eq(c.optim.beta1, 0.5);
    ck_assert_double_eq(c.optim.clip_norm, 0);
    ck_assert_int_eq(c.train.max_steps, 10000);
    ck_assert_uint_eq(c.train.seed, 7);
    ck_assert_int_eq(c.train.micro_batch, 8);
    ck_assert(!c.dist.overlap && c.dist.zero1);
    ck_assert_double_eq(c.model.dropout.embd, 0);
    ck_assert(isnan(c.model.dropout.attn));
    ck_assert_double_eq(c.model.dropout.resid, 0.999);
    ck_assert_str_eq(c.data.corpus, "2024"); /* a string key takes any scalar's text */
    ck_assert_str_eq(c.output.dir, "out dir: #1");
    ck_assert_int_eq(c.checkpoint.every_steps, 100);
    rt_config_free(&c);
}
END_TEST

START_TEST(test_ranges) {
    static const struct {
        const char *yaml, *msg;
    } bad[] = {
        {"optim: {lr: 0}", "'optim.lr' in inline.yaml:1: expected a number > 0 and <= 1, got '0'"},
        {"optim: {lr: -1e-4}", "expected a number > 0 and <= 1, got '-1e-4'"},
        {"optim: {lr: 2}", "'optim.lr'"},
        {"optim: {lr: 1e999}", "got '1e999'"},
        {"optim: {beta1: 1.0}", "'optim.beta1' in inline.yaml:1: expected a number >= 0 and < 1"},
        {"optim: {beta2: -0.1}", "'optim.beta2'"},
        {"optim: {eps: 0}", "'optim.eps'"},
        {"optim: {warmup_ratio: 1}", "'optim.warmup_ratio'"},
        {"optim: {warmup_steps: -5}", "'optim.warmup_steps'"},
        {"optim: {weight_decay: 1.5}", "'optim.weight_decay'"},
        {"optim: {clip_norm: -1}", "'optim.clip_norm'"},
        {"model: {dropout: {attn: 1.0}}",
         "'model.dropout.attn' in inline.yaml:1: expected a number >= 0 and < 1, or null"},
        {"model: {dropout: {embd: -0.1}}", "'model.dropout.embd'"},
        {"data: {seq_len: 0}", "'data.seq_len' in inline.yaml:1: expected an integer >= 1 and "
                               "<= 1048576"},
        {"data: {seed: -1}", "'data.seed' in inline.yaml:1: expected an integer >= 0 and < 2^63"},
        {"data: {seed: 99999999999999999999}", "'data.seed'"},
        {"train: {micro_batch: 0}", "'train.micro_batch'"},
        {"train: {global_batch: 3000000000}", "'train.global_batch'"},
        {"train: {max_steps: 0}", "'train.max_steps'"},
        {"train: {epochs: 0}", "'train.epochs' in inline.yaml:1: expected a number > 0"},
        {"dist: {threads_per_rank: 5000}", "'dist.threads_per_rank'"},
        {"dist: {bucket_mb: 0}", "'dist.bucket_mb'"},
        {"checkpoint: {keep_last: 0}", "'checkpoint.keep_last'"},
        {"eval: {max_batches: 0}", "'eval.max_batches'"},
        {"output: {log_every: -1}", "'output.log_every'"},
        {"finetune: {unfreeze_every: 0}", "'finetune.unfreeze_every'"},
    };
    char yaml[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(yaml, sizeof yaml, "%s\n", bad[i].yaml); /* fails before the required check */
        EXPECT_FAIL(yaml, RT_ERR_ARG, bad[i].msg);
    }
    /* the edges that are allowed */
    rt_run_config c;
    rt_status s = load_text(&c,
                            "model: {path: m}\noutput: {dir: o}\n"
                            "optim: {lr: 1, min_lr: 1, beta1: 0, warmup_ratio: 0.99}\n"
                            "data: {corpus: c, seed: 9223372036854775807}\n",
                            0, NULL);
    ck_assert_msg(s == RT_OK, "%s", rt_error_message());
    ck_assert_uint_eq(c.data.seed, 9223372036854775807ull);
    rt_config_free(&c);
}
END_TEST

START_TEST(test_cross_field) {
    rt_run_config c;
    /* LoRA trains adapters on a frozen base: mode full only; the rank from one place */
    EXPECT_FAIL(REQUIRED "lora: {r: 4}\nfinetune: {mode: partial}\n", RT_ERR_ARG,
                "'lora.r' / 'lora.adapter' (inline.yaml:4)", "'finetune.mode' must be full",
                "not partial");
    EXPECT_FAIL(REQUIRED "lora: {r: 4, adapter: a}\n", RT_ERR_ARG, "'lora.r' (inline.yaml:4)",
                "set one of them");
    EXPECT_FAIL(REQUIRED "lora: {r: 0}\n", RT_ERR_ARG, "lora.r");
    EXPECT_FAIL(REQUIRED "lora: {bias: some}\n", RT_ERR_ARG, "lora.bias");
    ck_assert_int_eq(rt_config_load(&c, CONFIGS "/conflict.yaml", 0, NULL), RT_ERR_ARG);
    EXPECT_MSG("'train.max_steps' (" CONFIGS "/conflict.yaml:7) and 'train.epochs' (" CONFIGS
               "/conflict.yaml:8) are mutually exclusive");
    /* the command line's choice replaces the file's */
    char *steps[] = {"train.max_steps=10"};
    ck_assert_int_eq(rt_config_load(&c, CONFIGS "/minimal.yaml", 1, steps), RT_OK);
    ck_assert_int_eq(c.train.max_steps, 10);
    ck_assert(isnan(c.train.epochs));
    rt_config_free(&c);
    char *epochs[] = {"train.epochs=0.5"};
    ck_assert_int_eq(rt_config_load(&c, CONFIGS "/example.yaml", 1, epochs), RT_OK);
    ck_assert_double_eq(c.train.epochs, 0.5);
    ck_assert_int_eq(c.train.max_steps, RT_CONFIG_NULL_INT);
    rt_config_free(&c);
    char *both[] = {"train.epochs=0.5", "train.max_steps=10"};
    ck_assert_int_eq(rt_config_load(&c, CONFIGS "/example.yaml", 2, both), RT_ERR_ARG);
    EXPECT_MSG("'train.max_steps' (command line argument 'train.max_steps=10') and "
               "'train.epochs' (command line argument 'train.epochs=0.5') are mutually exclusive");
    char *ratio[] = {"optim.warmup_ratio=0.1"};
    ck_assert_int_eq(rt_config_load(&c, CONFIGS "/example.yaml", 1, ratio), RT_OK);
    ck_assert_int_eq(c.optim.warmup_steps, 0);
    ck_assert_double_eq(c.optim.warmup_ratio, 0.1);
    rt_config_free(&c);
    char *none[] = {"train.max_steps=null"}; /* the file's epochs gave way; now neither */
    ck_assert_int_eq(rt_config_load(&c, CONFIGS "/example.yaml", 1, none), RT_ERR_ARG);
    EXPECT_MSG("one of 'train.max_steps' and 'train.epochs' must be set");

    EXPECT_FAIL(REQUIRED "optim: {warmup_steps: 10, warmup_ratio: 0.1}\n", RT_ERR_ARG,
                "'optim.warmup_steps' (inline.yaml:4) and 'optim.warmup_ratio' (inline.yaml:4) "
                "are mutually exclusive");
    EXPECT_FAIL(REQUIRED "train: {max_steps: 100}\noptim: {warmup_steps: 101}\n", RT_ERR_ARG,
                "'optim.warmup_steps' = 101 (inline.yaml:5) exceeds 'train.max_steps' = 100 "
                "(inline.yaml:4)");
    EXPECT_FAIL(REQUIRED "optim: {lr: 1e-5, min_lr: 2e-5}\n", RT_ERR_ARG,
                "'optim.min_lr' = 2e-05 (inline.yaml:4) must be <= 'optim.lr' = 1e-05");
    EXPECT_FAIL(REQUIRED "train: {global_batch: 8, micro_batch: 16}\n", RT_ERR_ARG,
                "'train.micro_batch' = 16 (inline.yaml:4) must be <= 'train.global_batch' = 8");
    EXPECT_FAIL(REQUIRED "train: {global_batch: 24, micro_batch: 5}\n", RT_ERR_ARG,
                "'train.global_batch' = 24 (inline.yaml:4) must be a multiple of "
                "'train.micro_batch' = 5");
    EXPECT_FAIL(REQUIRED "train: {micro_batch: 5}\n", RT_ERR_ARG,
                "'train.global_batch' = 64 (default) must be a multiple");
    EXPECT_FAIL(REQUIRED "finetune: {mode: partial, last_n_blocks: 0}\n", RT_ERR_ARG,
                "'finetune.last_n_blocks' = 0 (inline.yaml:4): finetune.mode partial",
                "feature_extraction");
    EXPECT_FAIL(REQUIRED "eval: {early_stopping: {patience: 3}}\n", RT_ERR_ARG,
                "'eval.early_stopping.patience' = 3 (inline.yaml:4) needs periodic evaluation",
                "'eval.every_steps' = 0");
    /* last_n_blocks 0 is fine where it does not apply */
    ck_assert_int_eq(load_text(&c, REQUIRED "finetune: {last_n_blocks: 0}\n", 0, NULL), RT_OK);
    rt_config_free(&c);

    /* a struct edited in code is checked the same way */
    ck_assert_int_eq(rt_config_load(&c, CONFIGS "/example.yaml", 0, NULL), RT_OK);
    c.train.epochs = 3;
    ck_assert_int_eq(rt_config_validate(&c), RT_ERR_ARG);
    EXPECT_MSG("'train.max_steps' = 2000", "'train.epochs' = 3", "mutually exclusive");
    c.train.epochs = NAN;
    c.optim.beta2 = 1.5;
    ck_assert_int_eq(rt_config_validate(&c), RT_ERR_ARG);
    EXPECT_MSG("invalid value for 'optim.beta2'", "got 1.5");
    c.optim.beta2 = 0.999;
    c.optim.schedule = (rt_sched_kind)7;
    ck_assert_int_eq(rt_config_validate(&c), RT_ERR_ARG);
    EXPECT_MSG("'optim.schedule'");
    c.optim.schedule = RT_SCHED_LINEAR;
    free(c.output.dir);
    c.output.dir = NULL;
    ck_assert_int_eq(rt_config_validate(&c), RT_ERR_ARG);
    EXPECT_MSG("missing required key 'output.dir'", CONFIGS "/example.yaml");
    rt_config_free(&c);
}
END_TEST

START_TEST(test_grad_accum) {
    rt_run_config c;
    char *ov[] = {"train.global_batch=24", "train.micro_batch=4"};
    ck_assert_int_eq(rt_config_load(&c, CONFIGS "/minimal.yaml", 2, ov), RT_OK);
    static const int want[] = {6, 3, 2};
    for (int p = 1; p <= 3; p++) {
        int ga = -1;
        ck_assert_int_eq(rt_config_derive(&c, p, &ga), RT_OK);
        ck_assert_int_eq(ga, want[p - 1]);
    }
    int ga = -1;
    ck_assert_int_eq(rt_config_derive(&c, 4, &ga), RT_ERR_ARG);
    ck_assert_int_eq(ga, -1);
    EXPECT_MSG("train.global_batch = 24 (command line argument 'train.global_batch=24')",
               "train.micro_batch = 4 (command line argument 'train.micro_batch=4')",
               "world size 4 = 16", "train.micro_batch one of 1, 2, 3, 6",
               "a multiple of 16 (e.g. 16 or 32)");
    ck_assert_int_eq(rt_config_derive(&c, 5, &ga), RT_ERR_ARG);
    EXPECT_MSG("world size 5 = 20", "5 ranks cannot split 24 sequences evenly");
    ck_assert_int_eq(rt_config_derive(&c, 7, &ga), RT_ERR_ARG);
    EXPECT_MSG("world size 7 = 28", "a multiple of 28 (e.g. 28)");
    ck_assert_int_eq(rt_config_derive(&c, 0, &ga), RT_ERR_ARG);
    EXPECT_MSG("world size 0");
    c.train.micro_batch = 1;
    for (int p = 1; p <= 4; p++) {
        ck_assert_int_eq(rt_config_derive(&c, p, &ga), RT_OK);
        ck_assert_int_eq(ga, 24 / p);
    }
    ck_assert_int_eq(rt_config_derive(&c, 24, &ga), RT_OK);
    ck_assert_int_eq(ga, 1);
    rt_config_free(&c);
}
END_TEST

/* cfg -> YAML text (caller frees) */
static char *to_yaml(const rt_run_config *cfg) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(rt_config_write_yaml(cfg, f), RT_OK);
    fclose(f);
    return buf;
}

static void check_round_trip(const rt_run_config *a) {
    char *text = to_yaml(a);
    rt_run_config b;
    rt_status s = rt_config_load_string(&b, text, strlen(text), "written.yaml", 0, NULL);
    ck_assert_msg(s == RT_OK, "%s\n---\n%s", rt_error_message(), text);
    ck_assert_msg(rt_config_equal(a, &b), "round trip changed the config:\n%s", text);
    char *again = to_yaml(&b);
    ck_assert_str_eq(text, again); /* canonical: the same text again */
    free(again);
    free(text);
    rt_config_free(&b);
}

START_TEST(test_round_trip) {
    rt_run_config c;
    ck_assert_int_eq(rt_config_load(&c, CONFIGS "/example.yaml", 0, NULL), RT_OK);
    check_round_trip(&c);
    char *text = to_yaml(&c);
    /* canonical form: nested sections, floats with a decimal point, strings quoted, null */
    ck_assert_ptr_nonnull(strstr(text, "\nmodel:\n  path: \"checkpoints/gpt2\"\n  dropout:\n"
                                       "    embd: 0.1\n    attn: 0.1\n    resid: null\n"));
    ck_assert_ptr_nonnull(strstr(text, "  lr: 3.0e-05\n"));
    ck_assert_ptr_nonnull(strstr(text, "  max_steps: 2000\n  epochs: null\n"));
    ck_assert_ptr_nonnull(strstr(text, "  bucket_mb: 25.0\n"));
    ck_assert_ptr_nonnull(strstr(text, "  early_stopping:\n    patience: 5\n    min_delta: 0.001\n"
                                       "\ndist:\n"));
    free(text);
    rt_config_free(&c);

    /* awkward values: strings YAML would misread unquoted, doubles without a short form */
    char *ov[] = {
        "model.path='null'",
        "data.corpus=\"tab\\there \\\"q\\\" back\\\\slash: #x \\u00e9\"",
        "output.dir='-dash: [x]'",
        "checkpoint.resume=latest",
        "optim.lr=0.000123456789012345678",
        "train.epochs=0.1",
        "model.dropout.attn=0",
        "optim.clip_norm=1e20",
        "data.seed=9223372036854775807",
        "optim.schedule=cosine",
        "finetune.mode=feature_extraction",
        "eval.micro_batch=3",
        "output.metrics_file=null",
    };
    rt_status s = rt_config_load(&c, NULL, (int)(sizeof ov / sizeof ov[0]), ov);
    ck_assert_msg(s == RT_OK, "%s", rt_error_message());
    ck_assert_str_eq(c.model.path, "null");
    ck_assert_str_eq(c.data.corpus, "tab\there \"q\" back\\slash: #x \xc3\xa9");
    ck_assert_str_eq(c.output.dir, "-dash: [x]");
    c.optim.lr = 1.0 / 3.0; /* a double with no short decimal form */
    check_round_trip(&c);

    /* rt_config_save writes the same text to a file that loads back */
    char path[512];
    snprintf(path, sizeof path, "%s/test_config_saved.yaml", RT_BUILD_DIR);
    ck_assert_int_eq(rt_config_save(&c, path), RT_OK);
    rt_run_config d;
    ck_assert_int_eq(rt_config_load(&d, path, 0, NULL), RT_OK);
    ck_assert(rt_config_equal(&c, &d));
    d.optim.lr = nextafter(d.optim.lr, 1.0);
    ck_assert(!rt_config_equal(&c, &d));
    rt_config_free(&d);
    remove(path);
    rt_config_free(&c);

    /* the defaults (plus the required keys) */
    ck_assert_int_eq(rt_config_load(&c, CONFIGS "/minimal.yaml", 0, NULL), RT_OK);
    check_round_trip(&c);
    rt_config_free(&c);
}
END_TEST

START_TEST(test_malformed) {
    rt_run_config c;
    ck_assert_int_eq(rt_config_load(&c, CONFIGS "/malformed.yaml", 0, NULL), RT_ERR_FORMAT);
    EXPECT_MSG("malformed YAML in " CONFIGS "/malformed.yaml:5");
    ck_assert_ptr_null(c.origin);
    EXPECT_FAIL("model:\n  path: \"unterminated\n", RT_ERR_FORMAT,
                "malformed YAML in inline.yaml:", "while scanning a quoted scalar at line 2");
    EXPECT_FAIL("model:\n\tpath: m\n", RT_ERR_FORMAT, "malformed YAML in inline.yaml:2");
    EXPECT_FAIL("optim: {lr: 1e-4\n", RT_ERR_FORMAT, "malformed YAML in inline.yaml:");
    EXPECT_FAIL("optim:\n  lr: *nowhere\n", RT_ERR_FORMAT, "malformed YAML in inline.yaml:2",
                "undefined alias");
    EXPECT_FAIL(REQUIRED "---\noptim: {lr: 1e-4}\n", RT_ERR_FORMAT,
                "inline.yaml:5: a second YAML document");
    EXPECT_FAIL("# bad byte on line 2\nmodel: {path: \"\xff\"}\n", RT_ERR_FORMAT,
                "malformed YAML in inline.yaml:2 (byte 36)", "invalid leading UTF-8 octet");
    /* empty and comment-only files are valid YAML: only the required keys are missing */
    EXPECT_FAIL("# nothing\n", RT_ERR_ARG, "missing required key 'model.path'", "inline.yaml");
    EXPECT_FAIL("", RT_ERR_ARG, "missing required key 'model.path'");
    ck_assert_int_eq(rt_config_load(&c, CONFIGS "/no_such_file.yaml", 0, NULL), RT_ERR_IO);
    EXPECT_MSG("cannot read run config", "no_such_file.yaml");
    ck_assert_ptr_null(c.origin);
}
END_TEST

START_TEST(test_reference) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    rt_config_write_reference(f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "model.path"));
    ck_assert_ptr_nonnull(strstr(buf, "(required)"));
    ck_assert_ptr_nonnull(strstr(buf, "optim.lr                       a number > 0 and <= 1; "
                                      "default 5e-5\n"));
    ck_assert_ptr_nonnull(strstr(buf, "checkpoint.resume"));
    free(buf);
}
END_TEST

int main(void) {
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_example_file);
    tcase_add_test(tc, test_overrides);
    tcase_add_test(tc, test_unknown_keys);
    tcase_add_test(tc, test_wrong_types);
    tcase_add_test(tc, test_ranges);
    tcase_add_test(tc, test_cross_field);
    tcase_add_test(tc, test_grad_accum);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_reference);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
