/* TensorBoard event files (output.tensorboard): CRC32C against the standard check values and
   TensorBoard's own masked CRC, the writer's TFRecord framing and file naming, a committed
   fixture (tests/fixtures/tensorboard/, made and checked with PyPI tensorboard by
   gen_tensorboard_check.py) read by this test's reader exactly as tensorboard read it, and the
   events of a fresh run with a resume in the middle against its metrics.jsonl. The reader here is
   independent of the writer's code except for the CRC function, which the fixture (accepted by
   tensorboard's CRC-checking reader) and the check values pin down. */
#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "config.h"
#include "mpictx.h"
#include "tbevent.pb-c.h"
#include "tbevents.h"
#include "train.h"
#include "train_fixture.h"

static char dir[256];
static rt_mpi_ctx *world;

/* ---- a small reader: TFRecords, CRCs checked, TensorBoard's purge on SessionLog START ---- */

typedef struct {
    long step;
    char tag[64];
    float v;
} point;

typedef struct {
    point p[4096];
    int n;
    long starts[16]; /* SessionLog START steps, in file order */
    int nstarts, nfiles, nrecords;
} tbread;

static uint64_t get_le(const uint8_t *p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Reads one event file into r; fails the test on a bad record. */
static void read_file(const char *path, tbread *r) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f, "cannot open %s", path);
    uint8_t head[12], foot[4];
    int first = 1;
    while (fread(head, 1, 12, f) == 12) {
        uint64_t len = get_le(head, 8);
        ck_assert_msg(get_le(head + 8, 4) == rt_tb_mask_crc(rt_tb_crc32c(head, 8)),
                      "%s: record %d: bad length CRC", path, r->nrecords);
        ck_assert_msg(len < 65536, "%s: record of %llu bytes", path, (unsigned long long)len);
        uint8_t *buf = malloc(len ? len : 1);
        ck_assert(buf);
        ck_assert_msg(fread(buf, 1, len, f) == len && fread(foot, 1, 4, f) == 4,
                      "%s: truncated record", path);
        ck_assert_msg(get_le(foot, 4) == rt_tb_mask_crc(rt_tb_crc32c(buf, len)),
                      "%s: record %d: bad data CRC", path, r->nrecords);
        Ringtune__Tb__Event *ev = ringtune__tb__event__unpack(NULL, len, buf);
        ck_assert_msg(ev, "%s: record %d is no Event", path, r->nrecords);
        if (first)
            ck_assert_msg(ev->what_case == RINGTUNE__TB__EVENT__WHAT_FILE_VERSION &&
                              !strcmp(ev->file_version, "brain.Event:2"),
                          "%s: the first record is no file_version brain.Event:2", path);
        first = 0;
        if (ev->what_case == RINGTUNE__TB__EVENT__WHAT_SESSION_LOG &&
            ev->session_log->status == RINGTUNE__TB__SESSION_LOG__SESSION_STATUS__START) {
            /* EventAccumulator._Purge(by_tags=False): keep what has step < the START's */
            int k = 0;
            for (int i = 0; i < r->n; i++)
                if (r->p[i].step < ev->step) r->p[k++] = r->p[i];
            r->n = k;
            ck_assert(r->nstarts < 16);
            r->starts[r->nstarts++] = (long)ev->step;
        }
        if (ev->what_case == RINGTUNE__TB__EVENT__WHAT_SUMMARY)
            for (size_t i = 0; i < ev->summary->n_value; i++) {
                const Ringtune__Tb__Summary__Value *v = ev->summary->value[i];
                ck_assert(v->value_case == RINGTUNE__TB__SUMMARY__VALUE__VALUE_SIMPLE_VALUE);
                ck_assert(r->n < 4096 && strlen(v->tag) < 64);
                point *p = &r->p[r->n++];
                p->step = (long)ev->step;
                snprintf(p->tag, sizeof p->tag, "%s", v->tag);
                p->v = v->simple_value;
            }
        ringtune__tb__event__free_unpacked(ev, NULL);
        free(buf);
        r->nrecords++;
    }
    ck_assert_msg(feof(f) && !ferror(f), "%s: trailing bytes after the last record", path);
    fclose(f);
}

static int is_events(const struct dirent *e) {
    return !strncmp(e->d_name, "events.out.tfevents.", 20);
}

/* Reads every event file of d in name order (the order TensorBoard loads them). */
static void read_dir(const char *d, tbread *r) {
    memset(r, 0, sizeof *r);
    struct dirent **names;
    int n = scandir(d, &names, is_events, alphasort);
    ck_assert_msg(n > 0, "no event files in %s", d);
    for (int i = 0; i < n; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", d, names[i]->d_name);
        read_file(p, r);
        free(names[i]);
    }
    free(names);
    r->nfiles = n;
}

/* The points of tag, in file order; returns the count. */
static int points_of(const tbread *r, const char *tag, const point **out, int cap) {
    int k = 0;
    for (int i = 0; i < r->n && k < cap; i++)
        if (!strcmp(r->p[i].tag, tag)) out[k++] = &r->p[i];
    return k;
}

/* ---- CRC and framing ---- */

START_TEST(test_crc32c_check_values) {
    /* CRC-32C check value; RFC 3720 B.4: 32 zero bytes, 32 bytes 0xff; "" */
    uint8_t z[32] = {0}, ff[32];
    memset(ff, 0xff, sizeof ff);
    ck_assert_uint_eq(rt_tb_crc32c("123456789", 9), 0xe3069283u);
    ck_assert_uint_eq(rt_tb_crc32c(z, 32), 0x8a9136aau);
    ck_assert_uint_eq(rt_tb_crc32c(ff, 32), 0x62a8ab43u);
    ck_assert_uint_eq(rt_tb_crc32c("", 0), 0u);
    /* tensorboard's masked_crc32c (tensorflow_stub) of b"123456789" and of b"" */
    ck_assert_uint_eq(rt_tb_mask_crc(rt_tb_crc32c("123456789", 9)), 0xc78ab0e5u);
    ck_assert_uint_eq(rt_tb_mask_crc(rt_tb_crc32c("", 0)), 0xa282ead8u);
    uint8_t head[12], foot[4];
    rt_tb_frame("123456789", 9, head, foot);
    ck_assert_uint_eq(get_le(head, 8), 9);
    ck_assert_uint_eq(get_le(foot, 4), 0xc78ab0e5u);
    printf("tbevents: CRC-32C check values and tensorboard's masked CRC match\n");
}
END_TEST

START_TEST(test_writer_records_and_names) {
    char d[512];
    snprintf(d, sizeof d, "%s/writer/sub", dir);
    rt_tb_writer *w;
    ck_assert_msg(rt_tb_open(&w, d) == RT_OK, "%s", rt_error_message());
    char first[1024];
    snprintf(first, sizeof first, "%s", rt_tb_path(w));
    const char *tags[] = {"a/zero", "a/big", "a/neg"};
    double v[] = {0.0, 3.0e38, -1.25};
    ck_assert(rt_tb_session_start(w, 7) == RT_OK);
    ck_assert(rt_tb_scalars(w, 7, 3, tags, v) == RT_OK);
    ck_assert(rt_tb_scalars(w, 9, 1, tags + 2, v + 2) == RT_OK);
    ck_assert(rt_tb_close(&w) == RT_OK && !w);
    /* an event file from "the future" in the directory: the next name still sorts after it */
    time_t now = time(NULL);
    char fut[1024];
    snprintf(fut, sizeof fut, "%s/events.out.tfevents.%010lld.other.1.0", d, (long long)now + 100);
    FILE *f = fopen(fut, "wb");
    ck_assert(f);
    uint8_t head[12], foot[4];
    const char *fv = "\x1a\x0d"
                     "brain.Event:2"; /* field 3, length 13 */
    rt_tb_frame(fv, 15, head, foot);
    ck_assert(fwrite(head, 1, 12, f) == 12 && fwrite(fv, 1, 15, f) == 15 &&
              fwrite(foot, 1, 4, f) == 4);
    fclose(f);
    ck_assert(rt_tb_open(&w, d) == RT_OK);
    const char *last = strrchr(rt_tb_path(w), '/') + 1;
    ck_assert_msg(strcmp(last, strrchr(fut, '/') + 1) > 0 &&
                      strcmp(last, strrchr(first, '/') + 1) > 0,
                  "%s does not sort after the existing files", last);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    char want[512];
    snprintf(want, sizeof want, "events.out.tfevents.%010lld.%s.%ld.0", (long long)now + 101, host,
             (long)getpid());
    ck_assert_str_eq(last, want);
    ck_assert(rt_tb_close(&w) == RT_OK);
    tbread *r = malloc(sizeof *r);
    memset(r, 0, sizeof *r);
    read_file(first, r);
    ck_assert_int_eq(r->nrecords, 4); /* file_version, START, two summaries */
    ck_assert_int_eq(r->nstarts, 1);
    ck_assert_int_eq(r->starts[0], 7);
    ck_assert_int_eq(r->n, 4);
    ck_assert(r->p[0].step == 7 && !strcmp(r->p[0].tag, "a/zero") && r->p[0].v == 0.0f);
    ck_assert(r->p[1].step == 7 && !strcmp(r->p[1].tag, "a/big") && r->p[1].v == 3.0e38f);
    ck_assert(r->p[2].step == 7 && !strcmp(r->p[2].tag, "a/neg") && r->p[2].v == -1.25f);
    ck_assert(r->p[3].step == 9 && !strcmp(r->p[3].tag, "a/neg"));
    read_dir(d, r);
    ck_assert_int_eq(r->nfiles, 3);
    free(r);
    /* a directory that cannot be made: the error names it */
    ck_assert(rt_tb_open(&w, "/proc/no/such/dir") == RT_ERR_IO && !w);
    ck_assert_msg(strstr(rt_error_message(), "/proc/no"), "%s", rt_error_message());
    printf("tbevents: writer framing, START, float values and file names as expected\n");
}
END_TEST

START_TEST(test_writer_write_failure) {
    /* a file size limit stands in for a full disk: writes fail with EFBIG (SIGXFSZ ignored) */
    char d[512];
    snprintf(d, sizeof d, "%s/full", dir);
    rt_tb_writer *w;
    ck_assert(rt_tb_open(&w, d) == RT_OK);
    struct rlimit old, lim;
    ck_assert(getrlimit(RLIMIT_FSIZE, &old) == 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = 4096;
    ck_assert(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    const char *tag = "train/loss";
    double v = 1.0;
    rt_status st = RT_OK;
    for (int i = 0; i < 1000 && st == RT_OK; i++) {
        st = rt_tb_scalars(w, i, 1, &tag, &v);
        if (st == RT_OK) st = rt_tb_flush(w);
    }
    ck_assert(setrlimit(RLIMIT_FSIZE, &old) == 0);
    signal(SIGXFSZ, prev);
    ck_assert_int_eq(st, RT_ERR_IO);
    ck_assert_msg(strstr(rt_error_message(), rt_tb_path(w)), "%s", rt_error_message());
    printf("tbevents: full file reported: %s\n", rt_error_message());
    ck_assert(rt_tb_scalars(w, 0, 1, &tag, &v) == RT_ERR_IO); /* and stays failed */
    ck_assert(rt_tb_close(&w) == RT_ERR_IO && !w);
}
END_TEST

/* ---- the committed fixture, as tensorboard read it ---- */

START_TEST(test_fixture_reads_as_tensorboard_did) {
    tbread *r = malloc(sizeof *r);
    read_dir(RT_FIXTURES "/tensorboard", r);
    json_error_t err;
    json_t *want = json_load_file(RT_FIXTURES "/tensorboard/tensorboard_read.json", 0, &err);
    ck_assert_msg(want, "tensorboard_read.json: %s", err.text);
    const char *tag;
    json_t *pts;
    int total = 0, ntags = 0;
    json_object_foreach(want, tag, pts) {
        const point *got[512];
        int n = points_of(r, tag, got, 512);
        ck_assert_msg(n == (int)json_array_size(pts), "%s: %d points, tensorboard read %zu", tag, n,
                      json_array_size(pts));
        for (int i = 0; i < n; i++) {
            json_t *pt = json_array_get(pts, (size_t)i);
            long step = (long)json_integer_value(json_array_get(pt, 0));
            double v = json_number_value(json_array_get(pt, 1));
            ck_assert_msg(got[i]->step == step && got[i]->v == (float)v,
                          "%s point %d: step %ld value %.9g, tensorboard: step %ld value %.9g", tag,
                          i, got[i]->step, got[i]->v, step, v);
        }
        total += n;
        ntags++;
    }
    ck_assert_msg(total == r->n, "%d points read, tensorboard read %d", r->n, total);
    printf("tbevents: fixture: %d scalars in %d tags (%d files, START at %ld and %ld) exactly as "
           "tensorboard read them\n",
           total, ntags, r->nfiles, r->starts[0], r->starts[1]);
    json_decref(want);
    free(r);
}
END_TEST

/* ---- a fresh run, resumed in the middle, against its metrics.jsonl ---- */

/* A run into dir/out with the base settings and key=value overrides (NULL-terminated). */
static rt_status train(const char *out, const char *const *ov) {
    char yaml[4096];
    snprintf(yaml, sizeof yaml,
             "model: {path: %s/base}\n"
             "data: {corpus: %s/rand.h5, seq_len: 16}\n"
             "train: {global_batch: 4, micro_batch: 2}\n"
             "optim: {lr: 3.0e-3, warmup_steps: 2, schedule: cosine}\n"
             "eval: {every_steps: 2, max_batches: 2}\n"
             "output: {dir: %s/%s, log_every: 0}\n"
             "checkpoint: {every_steps: 2, keep_last: null}\n"
             "dist: {threads_per_rank: 1}\n",
             dir, dir, dir, out);
    int n = 0;
    while (ov[n]) n++;
    rt_run_config cfg;
    rt_status st = rt_config_load_string(&cfg, yaml, strlen(yaml), "test.yaml", n, (char **)ov);
    if (st != RT_OK) return st;
    rt_train_result res;
    st = rt_train(&cfg, world, NULL, &res);
    rt_config_free(&cfg);
    return st;
}

/* metrics.jsonl's key for a tag, and how many digits it prints (0: full precision) */
static const struct {
    const char *tag, *key;
    double printed; /* half a unit of the last printed digit; 0: exact as float32 */
} fields[] = {
    {"train/loss", "loss", 0},           {"train/lr", "lr", 0},
    {"train/grad_norm", "grad_norm", 0}, {"train/tokens_per_s", "tokens_per_s", 0.05},
    {"train/epoch", "epoch", 5e-7},      {"train/mfu", "mfu", 5e-5},
    {"eval/loss", "val_loss", 0},        {"eval/perplexity", "val_loss", 0}, /* exp(val_loss) */
};

/* Compares tag's points with the last metrics.jsonl value of each step; returns the count. */
static int compare_tag(const tbread *r, const char *metrics, int fi, long *steps, int *nsteps) {
    FILE *f = fopen(metrics, "r");
    ck_assert(f);
    double want[64];
    int have[64] = {0};
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        ck_assert_msg(j, "%s: not JSON: %s", metrics, line);
        long s = (long)json_integer_value(json_object_get(j, "step"));
        json_t *v = json_object_get(j, fields[fi].key);
        if (v && s >= 0 && s < 64) {
            double x = json_number_value(v);
            want[s] = strcmp(fields[fi].tag, "eval/perplexity") ? x : exp(x);
            have[s] = 1;
        }
        json_decref(j);
    }
    fclose(f);
    const point *got[64];
    int n = points_of(r, fields[fi].tag, got, 64), k = 0;
    *nsteps = 0;
    for (int s = 0; s < 64; s++) {
        if (!have[s]) continue;
        ck_assert_msg(k < n && got[k]->step == s, "%s: step %d of metrics.jsonl not in the events",
                      fields[fi].tag, s);
        float w = (float)want[s];
        double d = fabs((double)got[k]->v - want[s]);
        ck_assert_msg(fields[fi].printed == 0 ? got[k]->v == w
                                              : d <= fields[fi].printed + fabs(want[s]) * 0x1p-23,
                      "%s step %d: events %.9g, metrics.jsonl %.17g", fields[fi].tag, s, got[k]->v,
                      want[s]);
        steps[(*nsteps)++] = s;
        k++;
    }
    ck_assert_msg(k == n, "%s: %d points in the events, %d in metrics.jsonl", fields[fi].tag, n, k);
    return n;
}

START_TEST(test_run_with_resume_matches_metrics) {
    const char *first[] = {"train.max_steps=6", "eval.at_start=true", "output.tensorboard=true",
                           NULL};
    ck_assert_msg(train("run", first) == RT_OK, "%s", rt_error_message());
    char resume[600];
    snprintf(resume, sizeof resume, "checkpoint.resume=%s/run/step-00000004", dir);
    const char *second[] = {"train.max_steps=8", "output.tensorboard=true", resume, NULL};
    ck_assert_msg(train("run", second) == RT_OK, "%s", rt_error_message());
    char d[512], metrics[512];
    snprintf(d, sizeof d, "%s/run/tensorboard", dir);
    snprintf(metrics, sizeof metrics, "%s/run/metrics.jsonl", dir);
    tbread *r = malloc(sizeof *r);
    read_dir(d, r);
    ck_assert_int_eq(r->nfiles, 2);
    ck_assert_int_eq(r->nstarts, 2);
    ck_assert_int_eq(r->starts[0], 0);
    ck_assert_int_eq(r->starts[1], 5); /* resumed after step 4 */
    int total = 0;
    long steps[64];
    int ns;
    for (int fi = 0; fi < (int)(sizeof fields / sizeof fields[0]); fi++) {
        total += compare_tag(r, metrics, fi, steps, &ns);
        if (!strcmp(fields[fi].tag, "train/loss")) {
            ck_assert_int_eq(ns, 8); /* steps 1-8 */
            ck_assert(steps[0] == 1 && steps[7] == 8);
        }
        if (!strcmp(fields[fi].tag, "eval/loss")) {
            /* before training (at_start), periodic 2, 4, 6 and the final evaluation at 8 */
            ck_assert_int_eq(ns, 5);
            ck_assert(steps[0] == 0 && steps[1] == 2 && steps[3] == 6 && steps[4] == 8);
        }
    }
    ck_assert_msg(total == r->n, "%d scalars in the events, %d compared", r->n, total);
    printf("tbevents: run resumed at step 4: %d scalars in %d files equal metrics.jsonl (float32; "
           "tokens_per_s, epoch, mfu to its printed digits)\n",
           total, r->nfiles);
    free(r);
}
END_TEST

START_TEST(test_keys_off) {
    /* at_start off: no step-0 evaluation logged; tensorboard off: no event directory */
    const char *ov[] = {"train.max_steps=2", NULL};
    ck_assert_msg(train("off", ov) == RT_OK, "%s", rt_error_message());
    char p[512], line[4096];
    snprintf(p, sizeof p, "%s/off/tensorboard", dir);
    struct stat sb;
    ck_assert_msg(stat(p, &sb) != 0, "%s exists with output.tensorboard off", p);
    snprintf(p, sizeof p, "%s/off/metrics.jsonl", dir);
    FILE *f = fopen(p, "r");
    ck_assert(f);
    int evals = 0;
    while (fgets(line, sizeof line, f)) {
        ck_assert_msg(!strstr(line, "\"step\": 0,"), "a step-0 line without at_start: %s", line);
        evals += strstr(line, "\"val_loss\"") != NULL;
    }
    fclose(f);
    ck_assert_int_eq(evals, 1); /* the final evaluation, at step 2 */
}
END_TEST

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    snprintf(dir, sizeof dir, "/tmp/rt_tbevents_XXXXXX");
    if (!mkdtemp(dir)) MPI_Abort(MPI_COMM_WORLD, 1);
    rt_mpi_ctx_create(&world);
    rt_gpt2 *m = fixture_standard_files(dir);
    rt_gpt2_destroy(&m);
    Suite *s = suite_create("tbevents");
    TCase *tc = tcase_create("tbevents");
    tcase_add_test(tc, test_crc32c_check_values);
    tcase_add_test(tc, test_writer_records_and_names);
    tcase_add_test(tc, test_writer_write_failure);
    tcase_add_test(tc, test_fixture_reads_as_tensorboard_did);
    tcase_add_test(tc, test_run_with_resume_matches_metrics);
    tcase_add_test(tc, test_keys_off);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    rt_mpi_ctx_destroy(&world);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) nf++;
    MPI_Finalize();
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
