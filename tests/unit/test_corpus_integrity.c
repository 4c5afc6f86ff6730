/* Corpus integrity (io/corpus.h, io/CORPUS.md): every byte of HDF5 metadata in a small corpus
   flipped one at a time must be detected (open or read fails) or be provably without effect
   (everything the reader returns is identical); every byte of the raw data chunks is caught by
   fletcher32 with a message naming the file, dataset and range; the committed corpus of the
   superblock-0 format (tests/fixtures/corpus/v0.h5) still reads identically; a corpus truncated,
   rewritten, replaced or removed under an open reader fails the next read with a message saying
   what changed.
   `test_corpus_integrity --scan FILE [--all-bits]` runs the flip scan over any corpus (a pairs
   corpus's target datasets read and compared too) and prints the counts (how the figures for the
   old format, labeled and pairs corpora were measured). */
#define _GNU_SOURCE /* memmem */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <hdf5.h>
#include "corpus_fixture.h"
#include "fsutil.h"

static char dir[1024];

static const char *path_in(const char *name) {
    static char buf[4][1200];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* ---- what a reader gets from a corpus ------------------------------------------------------ */

typedef struct {
    rt_corpus_info in; /* strings owned */
    int32_t *tok[2];
    uint64_t *off[2], *idx[2];
    int32_t *ttok[2]; /* kind "pairs": target_tokens and target_offsets */
    uint64_t *toff[2];
} snap;

static void snap_free(snap *s) {
    free(s->in.sources);
    free(s->in.ringtune_version);
    free(s->in.command_line);
    free(s->in.source_prefix);
    for (int k = 0; k < 2; k++) free(s->tok[k]), free(s->off[k]), free(s->idx[k]);
    for (int k = 0; k < 2; k++) free(s->ttok[k]), free(s->toff[k]);
    memset(s, 0, sizeof *s);
}

/* Opens path and reads every attribute (rt_corpus_info) and every element of every dataset.
   Returns 1 when all of it succeeded, 0 when the open failed, -1 when the open succeeded but a
   read failed. When ref is given and the opened sizes differ from it, stops after the open with
   2 (nothing is read with sizes that are already wrong). */
static int snap_take(const char *path, snap *s, const snap *ref) {
    memset(s, 0, sizeof *s);
    rt_corpus *c = NULL;
    if (rt_corpus_open(&c, path, MPI_COMM_NULL) != RT_OK) return 0;
    s->in = *rt_corpus_get_info(c);
    s->in.sources = strdup(s->in.sources);
    s->in.ringtune_version = strdup(s->in.ringtune_version);
    s->in.command_line = strdup(s->in.command_line);
    s->in.source_prefix = s->in.source_prefix ? strdup(s->in.source_prefix) : NULL;
    s->in.label_names = NULL; /* owned by c; not compared */
    s->in.label_counts[0] = s->in.label_counts[1] = NULL;
    int r = 1;
    for (int k = 0; k < 2 && ref; k++)
        if (s->in.n_tokens[k] != ref->in.n_tokens[k] || s->in.n_docs[k] != ref->in.n_docs[k]) r = 2;
    for (int k = 0; k < 2 && r == 1; k++) {
        size_t nt = s->in.n_tokens[k], nd = s->in.n_docs[k];
        s->tok[k] = malloc(4 * nt + 4);
        s->off[k] = malloc(8 * nd + 8);
        s->idx[k] = malloc(8 * nd + 8);
        if (rt_corpus_read_tokens(c, k, 0, nt, s->tok[k]) != RT_OK ||
            rt_corpus_read_doc_offsets(c, k, 0, nd + 1, s->off[k]) != RT_OK ||
            rt_corpus_read_doc_index(c, k, 0, nd, s->idx[k]) != RT_OK)
            r = -1;
        if (r != 1 || strcmp(s->in.kind, "pairs")) continue;
        size_t ntt = s->in.n_target_tokens[k];
        s->ttok[k] = malloc(4 * ntt + 4);
        s->toff[k] = malloc(8 * nd + 8);
        if (rt_corpus_read_target_tokens(c, k, 0, ntt, s->ttok[k]) != RT_OK ||
            rt_corpus_read_target_offsets(c, k, 0, nd + 1, s->toff[k]) != RT_OK)
            r = -1;
    }
    rt_corpus_close(&c);
    return r;
}

static int str_eq(const char *a, const char *b) {
    return !strcmp(a ? a : "", b ? b : "");
}

/* What a kind "pairs" corpus adds: its pair attributes and both target datasets. */
static int pairs_eq(const snap *a, const snap *b) {
    const rt_corpus_info *x = &a->in, *y = &b->in;
    if (x->max_source_length != y->max_source_length ||
        x->max_target_length != y->max_target_length ||
        x->n_truncated_source != y->n_truncated_source ||
        x->n_truncated_target != y->n_truncated_target ||
        !str_eq(x->source_prefix, y->source_prefix))
        return 0;
    for (int k = 0; k < 2; k++) {
        size_t nt = x->n_target_tokens[k], nd = x->n_docs[k];
        if (nt != y->n_target_tokens[k] || !a->ttok[k] || !b->ttok[k] ||
            memcmp(a->ttok[k], b->ttok[k], 4 * nt) || memcmp(a->toff[k], b->toff[k], 8 * (nd + 1)))
            return 0;
    }
    return 1;
}

static int snap_eq(const snap *a, const snap *b) {
    const rt_corpus_info *x = &a->in, *y = &b->in;
    if (x->format_version != y->format_version || strcmp(x->kind, y->kind) ||
        x->vocab_size != y->vocab_size || x->eos_id != y->eos_id ||
        x->token_bytes != y->token_bytes || strcmp(x->tokenizer_sha256, y->tokenizer_sha256) ||
        x->split_seed != y->split_seed ||
        memcmp(&x->validation_ratio, &y->validation_ratio, sizeof(double)) ||
        x->n_documents != y->n_documents || x->n_skipped_empty != y->n_skipped_empty ||
        x->n_skipped_bad_json != y->n_skipped_bad_json ||
        x->n_replaced_utf8 != y->n_replaced_utf8 || !str_eq(x->sources, y->sources) ||
        !str_eq(x->ringtune_version, y->ringtune_version) ||
        !str_eq(x->command_line, y->command_line))
        return 0;
    for (int k = 0; k < 2; k++) {
        size_t nt = x->n_tokens[k], nd = x->n_docs[k];
        if (nt != y->n_tokens[k] || nd != y->n_docs[k]) return 0;
        if (!a->tok[k] || !b->tok[k] || memcmp(a->tok[k], b->tok[k], 4 * nt) ||
            memcmp(a->off[k], b->off[k], 8 * (nd + 1)) || memcmp(a->idx[k], b->idx[k], 8 * nd))
            return 0;
    }
    return strcmp(x->kind, "pairs") || pairs_eq(a, b);
}

/* The fixture's contents straight from the rule in corpus_fixture.h. */
static void check_fixture_contents(const snap *s) {
    ck_assert_str_eq(s->in.kind, "text");
    ck_assert_int_eq(s->in.vocab_size, FX_VOCAB);
    ck_assert_int_eq(s->in.eos_id, FX_EOS);
    ck_assert_int_eq(s->in.token_bytes, 2);
    ck_assert_str_eq(s->in.tokenizer_sha256, FX_SHA);
    ck_assert_str_eq(s->in.sources, FX_SOURCES);
    ck_assert_str_eq(s->in.command_line, FX_COMMAND);
    ck_assert_int_eq((int)s->in.split_seed, 77);
    ck_assert(s->in.validation_ratio == 0.25);
    ck_assert_int_eq((int)s->in.n_documents, FX_DOCS);
    ck_assert_int_eq((int)s->in.n_skipped_empty, 3);
    ck_assert_int_eq((int)s->in.n_skipped_bad_json, 2);
    ck_assert_int_eq((int)s->in.n_replaced_utf8, 1);
    uint64_t pos[2] = {0, 0}, nd[2] = {0, 0};
    for (int d = 0; d < FX_DOCS; d++) {
        int k = fx_split(d);
        ck_assert_int_eq(s->idx[k][nd[k]], d);
        ck_assert_int_eq(s->off[k][nd[k]], pos[k]);
        for (int i = 0; i < fx_doc_len(d); i++) ck_assert_int_eq(s->tok[k][pos[k]++], fx_id(d, i));
        nd[k]++;
        ck_assert_int_eq(s->off[k][nd[k]], pos[k]);
    }
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(s->in.n_tokens[k], pos[k]);
        ck_assert_int_eq(s->in.n_docs[k], nd[k]);
    }
}

/* ---- where the raw data lies --------------------------------------------------------------- */

typedef struct {
    uint64_t lo, hi; /* file byte range of one stored chunk (data and its fletcher32) */
} range;

/* The stored chunks of every dataset of the corpus at path (at most max). */
static int data_ranges(const char *path, range *r, int max) {
    static const char *const ds[] = {
        "/train/tokens",
        "/train/doc_offsets",
        "/train/doc_index",
        "/validation/tokens",
        "/validation/doc_offsets",
        "/validation/doc_index",
        "/train/target_tokens",
        "/train/target_offsets",
        "/validation/target_tokens",
        "/validation/target_offsets"}; /* the last four: kind "pairs" only */
    int n = 0;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert(f >= 0);
    for (int i = 0; i < 10; i++) {
        if (i >= 6 && H5Lexists(f, ds[i], H5P_DEFAULT) <= 0) continue;
        hid_t d = H5Dopen2(f, ds[i], H5P_DEFAULT);
        hid_t sp = H5Dget_space(d);
        hsize_t nch = 0;
        ck_assert(H5Dget_num_chunks(d, sp, &nch) >= 0);
        for (hsize_t j = 0; j < nch; j++) {
            hsize_t coord[1];
            unsigned mask;
            haddr_t addr;
            hsize_t size;
            ck_assert(H5Dget_chunk_info(d, sp, j, coord, &mask, &addr, &size) >= 0);
            ck_assert(n < max);
            r[n].lo = addr;
            r[n].hi = addr + size;
            n++;
        }
        H5Sclose(sp);
        H5Dclose(d);
    }
    H5Fclose(f);
    return n;
}

static int in_data(const range *r, int n, uint64_t off) {
    for (int i = 0; i < n; i++)
        if (off >= r[i].lo && off < r[i].hi) return 1;
    return 0;
}

/* ---- the flip scan --------------------------------------------------------------------------- */

enum { DETECTED, NO_EFFECT, SILENT, CRASHED, N_OUTCOMES };
static const char *const outcome_names[] = {"detected", "without effect", "silently wrong",
                                            "crashed or hung"};

typedef struct {
    long n[N_OUTCOMES];
    long first[N_OUTCOMES]; /* file offset of the first byte with each outcome, -1 none */
    int first_mask[N_OUTCOMES];
    long data_flips, data_detected_checksum; /* flips inside data chunks, caught as checksums */
} scan_result;

static rlim_t child_mem_limit; /* RLIMIT_AS of the scan's children; 0: none (ASan needs none) */

/* In a child process: opens and reads the damaged file and classifies the result. */
static int classify(const char *path, const snap *ref, int want_data_msg) {
    snap s;
    int r = snap_take(path, &s, ref);
    int out = r == 2 || (r == 1 && !snap_eq(&s, ref)) ? SILENT : r == 1 ? NO_EFFECT : DETECTED;
    if (out == DETECTED && want_data_msg && !strstr(rt_error_message(), "checksum failure"))
        out = N_OUTCOMES; /* detected, but not named a checksum failure */
    snap_free(&s);
    return out;
}

/* Flips every byte of path (inside the data chunks when data, else outside them) with each mask
   in turn (nmasks 0: one bit per byte, bit (offset % 8), so every bit position is hit across the
   file), each damaged file opened in a fresh process, and counts the outcomes. */
static void flip_scan(const char *path, const snap *ref, const range *r, int nr, int data,
                      const unsigned char *masks, int nmasks, scan_result *res) {
    memset(res, 0, sizeof *res);
    for (int i = 0; i < N_OUTCOMES; i++) res->first[i] = -1;
    int fd = open(path, O_RDWR);
    ck_assert(fd >= 0);
    struct stat sb;
    ck_assert(fstat(fd, &sb) == 0);
    for (off_t off = 0; off < sb.st_size; off++) {
        if (in_data(r, nr, (uint64_t)off) != data) continue;
        unsigned char orig;
        ck_assert(pread(fd, &orig, 1, off) == 1);
        unsigned char one = (unsigned char)(1u << (off % 8));
        for (int m = 0; m < (nmasks ? nmasks : 1); m++) {
            unsigned char mask = nmasks ? masks[m] : one;
            unsigned char b = orig ^ mask;
            ck_assert(pwrite(fd, &b, 1, off) == 1);
            pid_t pid = fork();
            ck_assert(pid >= 0);
            if (pid == 0) {
                /* a hang shows up as a crash, never as a pass (by the default action: Check's
                   inherited SIGALRM handler would kill the whole test) */
                signal(SIGALRM, SIG_DFL);
                alarm(child_mem_limit ? 15 : 120);
                if (child_mem_limit) { /* --scan: a damaged size may ask for gigabytes */
                    struct rlimit rl = {child_mem_limit, child_mem_limit};
                    setrlimit(RLIMIT_AS, &rl);
                }
                _exit(classify(path, ref, data));
            }
            int ws = 0;
            ck_assert(waitpid(pid, &ws, 0) == pid);
            int out = WIFEXITED(ws) && WEXITSTATUS(ws) <= N_OUTCOMES ? WEXITSTATUS(ws) : CRASHED;
            if (data) {
                res->data_flips++;
                if (out == DETECTED) res->data_detected_checksum++;
                if (out == N_OUTCOMES) out = DETECTED;
            }
            if (res->first[out] < 0) res->first[out] = (long)off, res->first_mask[out] = mask;
            res->n[out]++;
        }
        ck_assert(pwrite(fd, &orig, 1, off) == 1);
        if (child_mem_limit && off % 1024 == 1023) {
            fprintf(stderr, "  byte %lld:", (long long)off);
            for (int i = 0; i < N_OUTCOMES; i++) fprintf(stderr, " %ld", res->n[i]);
            fprintf(stderr, "\n");
        }
    }
    close(fd);
}

static void print_scan(const char *what, const scan_result *s) {
    printf("%s:", what);
    for (int i = 0; i < N_OUTCOMES; i++) {
        printf(" %ld %s", s->n[i], outcome_names[i]);
        if (i >= SILENT && s->first[i] >= 0)
            printf(" (first at byte %ld, xor 0x%02x)", s->first[i], s->first_mask[i]);
        printf(i + 1 < N_OUTCOMES ? "," : "\n");
    }
    fflush(stdout);
}

static const unsigned char all_bits[8] = {1, 2, 4, 8, 16, 32, 64, 128};

/* Copies src to dst byte for byte. */
static void copy_file(const char *src, const char *dst) {
    char *b = NULL;
    size_t n = 0;
    ck_assert_msg(rt_fs_read_file(src, &b, &n) == RT_OK, "%s", rt_error_message());
    FILE *f = fopen(dst, "wb");
    ck_assert(f && fwrite(b, 1, n, f) == n && fclose(f) == 0);
    free(b);
}

/* ---- tests --------------------------------------------------------------------------------- */

/* Every metadata byte of a corpus written by this build, one bit of each flipped (all 8 bits of
   every byte: `--scan FILE --all-bits`, ~8x the time; measured 45056 of 45056 detected). */
START_TEST(test_every_metadata_bit_flip) {
    const char *p = path_in("flip.h5");
    ck_assert_msg(fx_write(p) == RT_OK, "%s", rt_error_message());
    snap ref;
    ck_assert_int_eq(snap_take(p, &ref, NULL), 1);
    check_fixture_contents(&ref);
    range r[64];
    int nr = data_ranges(p, r, 64);
    struct stat sb;
    ck_assert(stat(p, &sb) == 0);
    uint64_t data_bytes = 0;
    for (int i = 0; i < nr; i++) data_bytes += r[i].hi - r[i].lo;
    printf("corpus of %lld bytes: %d data chunks (%llu bytes), %llu bytes of metadata\n",
           (long long)sb.st_size, nr, (unsigned long long)data_bytes,
           (unsigned long long)(sb.st_size - data_bytes));
    scan_result s;
    flip_scan(p, &ref, r, nr, 0, NULL, 0, &s);
    print_scan("metadata bytes, one bit each", &s);
    ck_assert_int_eq(s.n[DETECTED] + s.n[NO_EFFECT], sb.st_size - (long long)data_bytes);
    ck_assert_msg(s.n[SILENT] == 0, "%ld metadata bit flips read back silently wrong", s.n[SILENT]);
    ck_assert_msg(s.n[CRASHED] == 0, "%ld metadata bit flips crashed or hung the reader",
                  s.n[CRASHED]);
    /* the metadata is nearly all checksummed: only unused bytes can be without effect */
    ck_assert(s.n[DETECTED] > 0);
    snap_free(&ref);
}
END_TEST

/* Every byte of every raw data chunk (one bit each): fletcher32, named as a checksum failure. */
START_TEST(test_every_data_byte_flip) {
    const char *p = path_in("flipdata.h5");
    ck_assert_msg(fx_write(p) == RT_OK, "%s", rt_error_message());
    snap ref;
    ck_assert_int_eq(snap_take(p, &ref, NULL), 1);
    range r[64];
    int nr = data_ranges(p, r, 64);
    scan_result s;
    flip_scan(p, &ref, r, nr, 1, NULL, 0, &s);
    print_scan("data chunk bytes, one bit each", &s);
    printf("  of them named a checksum failure: %ld of %ld\n", s.data_detected_checksum,
           s.data_flips);
    ck_assert(s.data_flips > 0);
    ck_assert_int_eq(s.data_detected_checksum, s.data_flips);
    snap_free(&ref);
}
END_TEST

START_TEST(test_checksum_failure_message) {
    const char *p = path_in("msg.h5");
    ck_assert_msg(fx_write(p) == RT_OK, "%s", rt_error_message());
    range r[64];
    data_ranges(p, r, 64);
    /* r[1]: the second chunk of /train/tokens, elements [8, 16) */
    int fd = open(p, O_RDWR);
    unsigned char b;
    ck_assert(pread(fd, &b, 1, (off_t)r[1].lo + 3) == 1);
    b ^= 0x10;
    ck_assert(pwrite(fd, &b, 1, (off_t)r[1].lo + 3) == 1);
    close(fd);
    rt_corpus *c = NULL;
    ck_assert_msg(rt_corpus_open(&c, p, MPI_COMM_NULL) == RT_OK, "%s", rt_error_message());
    int32_t t[12];
    ck_assert(rt_corpus_read_tokens(c, RT_SPLIT_TRAIN, 0, 8, t) == RT_OK);
    ck_assert_int_eq(rt_corpus_read_tokens(c, RT_SPLIT_TRAIN, 4, 12, t), RT_ERR_HDF5);
    const char *m = rt_error_message();
    printf("message: %s\n", m);
    ck_assert_msg(strstr(m, p) &&
                      strstr(m, "checksum failure (fletcher32) in dataset "
                                "/train/tokens, elements [4, 16)") &&
                      strstr(m, "rebuild it with `ringtune prep`"),
                  "%s", m);
    rt_corpus_close(&c);
}
END_TEST

/* The committed corpus of the superblock-0 format reads exactly as the same corpus written by
   this build, and as the rule it was generated from. */
START_TEST(test_old_format_reads_identically) {
    const char *old = RT_FIXTURES "/corpus/v0.h5", *p = path_in("new.h5");
    hid_t f = H5Fopen(old, H5F_ACC_RDONLY, H5P_DEFAULT), fcpl = H5Fget_create_plist(f);
    H5F_info2_t fi;
    ck_assert(H5Fget_info2(f, &fi) >= 0);
    ck_assert_int_eq(fi.super.version, 0); /* what the fixture is there for */
    H5Pclose(fcpl), H5Fclose(f);
    ck_assert_msg(fx_write(p) == RT_OK, "%s", rt_error_message());
    f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert(H5Fget_info2(f, &fi) >= 0);
    ck_assert_int_ge(fi.super.version, 2); /* checksummed superblock */
    H5Fclose(f);
    snap a, b;
    ck_assert_msg(snap_take(old, &a, NULL) == 1, "%s", rt_error_message());
    ck_assert_msg(snap_take(p, &b, NULL) == 1, "%s", rt_error_message());
    check_fixture_contents(&a);
    ck_assert(snap_eq(&a, &b));
    snap_free(&a);
    snap_free(&b);
}
END_TEST

/* A damaged attribute that HDF5's checksums would not see (rewritten consistently through the
   API) is caught by the hash of the attribute values. */
START_TEST(test_attribute_hash) {
    const char *p = path_in("hash.h5");
    ck_assert_msg(fx_write(p) == RT_OK, "%s", rt_error_message());
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT), a = H5Aopen(f, "vocab_size", H5P_DEFAULT);
    int32_t v = 2064;
    ck_assert(H5Awrite(a, H5T_NATIVE_INT32, &v) >= 0);
    H5Aclose(a), H5Fclose(f);
    rt_corpus *c = NULL;
    ck_assert_int_eq(rt_corpus_open(&c, p, MPI_COMM_NULL), RT_ERR_FORMAT);
    ck_assert_msg(strstr(rt_error_message(), "do not match their checksum 'metadata_xxh3'") &&
                      strstr(rt_error_message(), "rebuild it with `ringtune prep`"),
                  "%s", rt_error_message());
}
END_TEST

/* A sources list too long for the object header (300 KB: HDF5 stores it outside, in dense
   attribute storage, where the value itself carries no HDF5 checksum) round-trips, and a flipped
   byte inside it is caught by the attribute hash. */
START_TEST(test_long_sources) {
    const char *p = path_in("long.h5");
    size_t n = 300000;
    char *src = malloc(n + 32);
    size_t len = 0;
    for (int i = 0; len < n; i++) len += (size_t)sprintf(src + len, "dir/file-%06d.txt\n", i);
    rt_corpus_meta m = fx_meta();
    m.sources = src;
    rt_corpus_writer *w = NULL;
    ck_assert_msg(rt_corpus_writer_create(&w, p, 1, &m) == RT_OK, "%s", rt_error_message());
    uint16_t ids[2] = {5, FX_EOS};
    ck_assert(rt_corpus_writer_add(w, RT_SPLIT_TRAIN, 0, ids, 2) == RT_OK);
    ck_assert_msg(rt_corpus_writer_commit(&w, NULL) == RT_OK, "%s", rt_error_message());
    snap a;
    ck_assert_msg(snap_take(p, &a, NULL) == 1, "%s", rt_error_message());
    ck_assert_str_eq(a.in.sources, src);
    snap_free(&a);
    char *b = NULL;
    size_t fn = 0;
    ck_assert(rt_fs_read_file(p, &b, &fn) == RT_OK);
    char *hit = memmem(b, fn, "file-012345.txt", 15);
    ck_assert(hit != NULL);
    long off = (long)(hit - b) + 7;
    free(b);
    int fd = open(p, O_RDWR);
    unsigned char x = '9'; /* file-012345 -> file-012945 */
    ck_assert(pwrite(fd, &x, 1, off) == 1);
    close(fd);
    rt_corpus *c = NULL;
    ck_assert(rt_corpus_open(&c, p, MPI_COMM_NULL) != RT_OK);
    printf("long sources, byte %ld changed: %s\n", off, rt_error_message());
    free(src);
}
END_TEST

/* ---- a corpus that changes under a reader ------------------------------------------------- */

static rt_corpus *open_fixture(const char *p, int32_t *t) {
    ck_assert_msg(fx_write(p) == RT_OK, "%s", rt_error_message());
    rt_corpus *c = NULL;
    ck_assert_msg(rt_corpus_open(&c, p, MPI_COMM_NULL) == RT_OK, "%s", rt_error_message());
    ck_assert_msg(rt_corpus_read_tokens(c, RT_SPLIT_TRAIN, 0, 8, t) == RT_OK, "%s",
                  rt_error_message());
    return c;
}

static void expect_read_error(rt_corpus *c, const char *what) {
    int32_t t[33];
    ck_assert_int_eq(rt_corpus_read_tokens(c, RT_SPLIT_TRAIN, 20, 13, t), RT_ERR_IO);
    const char *m = rt_error_message();
    printf("message: %s\n", m);
    ck_assert_msg(strstr(m, rt_corpus_path(c)) && strstr(m, what) &&
                      strstr(m, "must not change while a job reads it"),
                  "%s", m);
    uint64_t o;
    ck_assert_int_eq(rt_corpus_read_doc_offsets(c, RT_SPLIT_TRAIN, 0, 1, &o), RT_ERR_IO);
}

START_TEST(test_truncated_to_zero) {
    int32_t t[8];
    rt_corpus *c = open_fixture(path_in("t0.h5"), t);
    struct stat sb;
    ck_assert(stat(rt_corpus_path(c), &sb) == 0);
    ck_assert(truncate(rt_corpus_path(c), 0) == 0);
    char what[128];
    snprintf(what, sizeof what, "was truncated from %lld to 0 bytes", (long long)sb.st_size);
    expect_read_error(c, what);
    rt_corpus_close(&c);
}
END_TEST

START_TEST(test_truncated_to_half) {
    int32_t t[8];
    rt_corpus *c = open_fixture(path_in("t2.h5"), t);
    struct stat sb;
    ck_assert(stat(rt_corpus_path(c), &sb) == 0);
    ck_assert(truncate(rt_corpus_path(c), sb.st_size / 2) == 0);
    expect_read_error(c, "was truncated from");
    rt_corpus_close(&c);
}
END_TEST

START_TEST(test_replaced_and_removed) {
    int32_t t[8];
    const char *p = path_in("rep.h5"), *q = path_in("rep2.h5");
    rt_corpus *c = open_fixture(p, t);
    ck_assert(fx_write(q) == RT_OK);
    ck_assert(rename(q, p) == 0); /* same bytes, another file */
    expect_read_error(c, "was replaced by another file");
    rt_corpus_close(&c);
    c = open_fixture(p, t);
    ck_assert(unlink(p) == 0);
    expect_read_error(c, "was removed");
    rt_corpus_close(&c);
}
END_TEST

START_TEST(test_rewritten_in_place) {
    int32_t t[8];
    const char *p = path_in("rw.h5");
    rt_corpus *c = open_fixture(p, t);
    struct timespec ts[2] = {{0, UTIME_OMIT}, {12345, 0}};
    ck_assert(utimensat(AT_FDCWD, p, ts, 0) == 0);
    expect_read_error(c, "was modified while this job read it");
    rt_corpus_close(&c);
}
END_TEST

/* The test hook that the train CLI test uses: the 2nd token read of the process truncates. */
START_TEST(test_fault_hook) {
    setenv("RINGTUNE_CORPUS_FAULT", "truncate:2", 1);
    int32_t t[8];
    rt_corpus *c = open_fixture(path_in("hook.h5"), t); /* read 1 */
    expect_read_error(c, "was truncated from");         /* read 2 */
    unsetenv("RINGTUNE_CORPUS_FAULT");
    rt_corpus_close(&c);
}
END_TEST

static const char *scan_path;
static int scan_all;

/* --scan FILE [--all-bits] */
START_TEST(test_scan) {
    const char *path = scan_path;
    int all = scan_all;
    snap ref;
    ck_assert_msg(snap_take(path, &ref, NULL) == 1, "%s", rt_error_message());
    range r[4096];
    int nr = data_ranges(path, r, 4096);
    char *copy = malloc(strlen(dir) + 32);
    sprintf(copy, "%s/scan.h5", dir);
    copy_file(path, copy);
    scan_result s;
    flip_scan(copy, &ref, r, nr, 0, all_bits, all ? 8 : 0, &s);
    print_scan(all ? "metadata bytes, every bit flipped" : "metadata bytes, one bit each", &s);
    flip_scan(copy, &ref, r, nr, 1, NULL, 0, &s);
    print_scan("data chunk bytes, one bit each", &s);
    printf("  named a checksum failure: %ld of %ld\n", s.data_detected_checksum, s.data_flips);
    free(copy);
    snap_free(&ref);
}
END_TEST

int main(int argc, char **argv) {
    snprintf(dir, sizeof dir, "%s/corpus_integrity_tests", RT_BUILD_DIR);
    rt_fs_mkdir_p(dir);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    Suite *s = suite_create("corpus_integrity");
    TCase *tc = tcase_create("serial");
    if (argc >= 3 && !strcmp(argv[1], "--scan")) {
        scan_path = argv[2];
        scan_all = argc > 3 && !strcmp(argv[3], "--all-bits");
        child_mem_limit = (rlim_t)2 << 30;
        tcase_set_timeout(tc, 0);
        tcase_add_test(tc, test_scan);
        suite_add_tcase(s, tc);
        goto run;
    }
    TCase *flips = tcase_create("flips");
    tcase_add_test(flips, test_every_metadata_bit_flip);
    tcase_add_test(flips, test_every_data_byte_flip);
    suite_add_tcase(s, flips);
    tcase_add_test(tc, test_checksum_failure_message);
    tcase_add_test(tc, test_old_format_reads_identically);
    tcase_add_test(tc, test_attribute_hash);
    tcase_add_test(tc, test_long_sources);
    tcase_add_test(tc, test_truncated_to_zero);
    tcase_add_test(tc, test_truncated_to_half);
    tcase_add_test(tc, test_replaced_and_removed);
    tcase_add_test(tc, test_rewritten_in_place);
    tcase_add_test(tc, test_fault_hook);
    suite_add_tcase(s, tc);
run:;
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
