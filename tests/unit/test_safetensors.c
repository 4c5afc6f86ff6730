/* safetensors reader and writer: bit-exact round trips, every malformed header the reader must
   reject (status and a message naming the file and the tensor or field), F16/BF16 widening, and
   atomic replacement that leaves an existing file intact when a write fails. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "safetensors.h"

/* ---- temp directory helpers ---- */

static void rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
                char sub[4096];
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                rm_rf(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static char tmpdir[256];

static void setup(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rt_test_st_XXXXXX");
    ck_assert_msg(mkdtemp(tmpdir) != NULL, "mkdtemp: %s", strerror(errno));
}

static void teardown(void) {
    rm_rf(tmpdir);
}

static const char *tpath(char *buf, const char *name) {
    snprintf(buf, 512, "%s/%s", tmpdir, name);
    return buf;
}

static size_t file_size(const char *path) {
    struct stat st;
    ck_assert_msg(stat(path, &st) == 0, "stat %s", path);
    return (size_t)st.st_size;
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    ck_assert_msg(fp != NULL, "open %s", path);
    *n = file_size(path);
    unsigned char *b = malloc(*n + 1);
    ck_assert(fread(b, 1, *n, fp) == *n);
    fclose(fp);
    return b;
}

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *fp = fopen(path, "wb");
    ck_assert(fp != NULL);
    ck_assert(fwrite(p, 1, n, fp) == n);
    fclose(fp);
}

/* A raw file: u64 header length (hlen, or strlen(header) when hlen < 0), header, data_len
   bytes of pattern data. */
static void write_raw(const char *path, const char *header, long long hlen, size_t data_len) {
    size_t n = strlen(header);
    unsigned long long h = hlen < 0 ? (unsigned long long)n : (unsigned long long)hlen;
    unsigned char *b = malloc(8 + n + data_len + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(h >> (8 * i));
    memcpy(b + 8, header, n);
    for (size_t i = 0; i < data_len; i++) b[8 + n + i] = (unsigned char)(i * 7 + 1);
    write_bytes(path, b, 8 + n + data_len);
    free(b);
}

/* Number of entries in tmpdir whose name contains ".tmp.". */
static int count_temp_files(void) {
    DIR *d = opendir(tmpdir);
    ck_assert(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

/* ---- round trip ---- */

START_TEST(test_round_trip) {
    char path[512];
    tpath(path, "rt.safetensors");
    /* F32 with the awkward values: NaN with a payload, -0, infinities, a subnormal. */
    uint32_t f32_bits[12] = {0x3f800000u, 0x80000000u, 0x7fc01234u, 0x7f800000u,
                             0xff800000u, 0x00000001u, 0x3eaaaaabu, 0xc2f6e979u,
                             0x00800000u, 0x7f7fffffu, 0x12345678u, 0xdeadbeefu};
    uint16_t f16[6] = {0x3c00, 0x8000, 0x7e00, 0x0001, 0x7bff, 0xc000};
    uint16_t bf16[4] = {0x3f80, 0xbf80, 0x7fc0, 0x0001};
    int64_t i64[3] = {INT64_MIN, -1, INT64_MAX};
    unsigned char u8[5] = {0, 1, 127, 128, 255};
    unsigned char boolv[2] = {0, 1};
    double f64[1] = {3.141592653589793};
    int32_t i32[1] = {-7}; /* scalar, shape [] */

    rt_st_writer *w = NULL;
    ck_assert(rt_st_writer_create(&w) == RT_OK);
    ck_assert(rt_st_writer_add(w, "h.0.attn.c_attn.weight", RT_ST_F32, 2, (int64_t[]){3, 4},
                               f32_bits) == RT_OK);
    ck_assert(rt_st_writer_add(w, "half", RT_ST_F16, 3, (int64_t[]){1, 2, 3}, f16) == RT_OK);
    ck_assert(rt_st_writer_add(w, "brain", RT_ST_BF16, 1, (int64_t[]){4}, bf16) == RT_OK);
    ck_assert(rt_st_writer_add(w, "empty", RT_ST_F32, 2, (int64_t[]){0, 5}, NULL) == RT_OK);
    ck_assert(rt_st_writer_add(w, "ints", RT_ST_I64, 1, (int64_t[]){3}, i64) == RT_OK);
    ck_assert(rt_st_writer_add(w, "bytes", RT_ST_U8, 1, (int64_t[]){5}, u8) == RT_OK);
    ck_assert(rt_st_writer_add(w, "mask", RT_ST_BOOL, 2, (int64_t[]){1, 2}, boolv) == RT_OK);
    ck_assert(rt_st_writer_add(w, "pi", RT_ST_F64, 1, (int64_t[]){1}, f64) == RT_OK);
    ck_assert(rt_st_writer_add(w, "scalar", RT_ST_I32, 0, NULL, i32) == RT_OK);
    const char *keys[] = {"step", "note"}, *vals[] = {"42", "r\xc3\xa9sum\xc3\xa9 \"quoted\""};
    rt_status st = rt_st_writer_write(w, path, keys, vals, 2);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    rt_st_writer_destroy(&w);
    ck_assert(w == NULL);
    ck_assert_int_eq(count_temp_files(), 0);

    /* Header length is a multiple of 8 and padded with spaces. */
    size_t n;
    unsigned char *raw = slurp(path, &n);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | raw[i];
    ck_assert_uint_eq(hlen % 8, 0);
    ck_assert(raw[8] == '{');
    size_t data = sizeof f32_bits + sizeof f16 + sizeof bf16 + sizeof i64 + sizeof u8 +
                  sizeof boolv + sizeof f64 + sizeof i32;
    ck_assert_uint_eq(n, 8 + hlen + data);
    for (size_t i = 8 + hlen - 1; raw[i] != '}'; i--) ck_assert(raw[i] == ' ');
    free(raw);

    rt_st_file *f = NULL;
    st = rt_st_open(&f, path);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    ck_assert_str_eq(rt_st_path(f), path);
    ck_assert_int_eq(rt_st_count(f), 9);
    ck_assert_str_eq(rt_st_metadata(f, "format"), "pt");
    ck_assert_str_eq(rt_st_metadata(f, "step"), "42");
    ck_assert_str_eq(rt_st_metadata(f, "note"), vals[1]);
    ck_assert_ptr_null(rt_st_metadata(f, "nope"));
    ck_assert_int_eq(rt_st_metadata_count(f), 3);

    /* Data-offset order is the order added (the empty tensor sits at its offset). */
    const char *order[] = {"h.0.attn.c_attn.weight",
                           "half",
                           "brain",
                           "empty",
                           "ints",
                           "bytes",
                           "mask",
                           "pi",
                           "scalar"};
    size_t off = 0;
    for (int i = 0; i < 9; i++) {
        const rt_st_tensor *t = rt_st_get(f, i);
        ck_assert_str_eq(t->name, order[i]);
        ck_assert_uint_eq(t->offset, off);
        ck_assert_ptr_eq(rt_st_find(f, order[i]), t);
        off += t->nbytes;
    }
    ck_assert_ptr_null(rt_st_get(f, 9));
    ck_assert_ptr_null(rt_st_get(f, -1));
    ck_assert_ptr_null(rt_st_find(f, "missing"));

    const rt_st_tensor *t = rt_st_find(f, "h.0.attn.c_attn.weight");
    ck_assert(t->dtype == RT_ST_F32 && t->ndim == 2 && t->shape[0] == 3 && t->shape[1] == 4);
    ck_assert_uint_eq(t->numel, 12);
    ck_assert(memcmp(t->data, f32_bits, sizeof f32_bits) == 0);
    t = rt_st_find(f, "half");
    ck_assert(t->dtype == RT_ST_F16 && t->ndim == 3 && t->shape[2] == 3);
    ck_assert(memcmp(t->data, f16, sizeof f16) == 0);
    t = rt_st_find(f, "brain");
    ck_assert(t->dtype == RT_ST_BF16 && memcmp(t->data, bf16, sizeof bf16) == 0);
    t = rt_st_find(f, "empty");
    ck_assert(t->ndim == 2 && t->shape[0] == 0 && t->shape[1] == 5 && t->nbytes == 0);
    t = rt_st_find(f, "ints");
    ck_assert(t->dtype == RT_ST_I64 && memcmp(t->data, i64, sizeof i64) == 0);
    t = rt_st_find(f, "bytes");
    ck_assert(t->dtype == RT_ST_U8 && memcmp(t->data, u8, sizeof u8) == 0);
    t = rt_st_find(f, "mask");
    ck_assert(t->dtype == RT_ST_BOOL && memcmp(t->data, boolv, sizeof boolv) == 0);
    t = rt_st_find(f, "pi");
    ck_assert(t->dtype == RT_ST_F64 && memcmp(t->data, f64, sizeof f64) == 0);
    t = rt_st_find(f, "scalar");
    ck_assert(t->dtype == RT_ST_I32 && t->ndim == 0 && t->numel == 1);
    ck_assert(memcmp(t->data, i32, sizeof i32) == 0);

    float got[12];
    ck_assert(rt_st_read_f32(f, "h.0.attn.c_attn.weight", got, 12) == RT_OK);
    ck_assert(memcmp(got, f32_bits, sizeof got) == 0);
    rt_st_close(&f);
    ck_assert_ptr_null(f);
    rt_st_close(&f); /* closing NULL is fine */
}
END_TEST

START_TEST(test_empty_file_round_trip) {
    char path[512];
    tpath(path, "empty.safetensors");
    rt_st_writer *w = NULL;
    ck_assert(rt_st_writer_create(&w) == RT_OK);
    ck_assert(rt_st_writer_write(w, path, NULL, NULL, 0) == RT_OK);
    rt_st_writer_destroy(&w);
    rt_st_file *f = NULL;
    ck_assert_msg(rt_st_open(&f, path) == RT_OK, "%s", rt_error_message());
    ck_assert_int_eq(rt_st_count(f), 0);
    ck_assert_str_eq(rt_st_metadata(f, "format"), "pt");
    rt_st_close(&f);
}
END_TEST

/* A file written by the Python safetensors library (through transformers). */
START_TEST(test_reads_reference_file) {
    const char *path = RT_FIXTURES "/gpt2_tiny/hf/model.safetensors";
    rt_st_file *f = NULL;
    rt_status st = rt_st_open(&f, path);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    ck_assert_str_eq(rt_st_metadata(f, "format"), "pt");
    ck_assert_int_gt(rt_st_count(f), 10);
    const rt_st_tensor *t = rt_st_find(f, "transformer.wte.weight");
    if (!t) t = rt_st_find(f, "wte.weight");
    ck_assert_ptr_nonnull(t);
    ck_assert(t->dtype == RT_ST_F32 && t->ndim == 2);
    rt_st_close(&f);
}
END_TEST

/* ---- malformed files ---- */

#define T8x4 "\"dtype\":\"F32\",\"shape\":[8,4]"
#define W2 "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"

typedef struct {
    const char *what;
    const char *header;
    long long hlen; /* -1: the header's length */
    size_t data;    /* data bytes after the header */
    const char *expect[3];
} bad_case;

static const bad_case BAD[] = {
    {"bad JSON", "{\"w\": ", -1, 0, {"not valid JSON"}},
    {"not an object", "[1, 2]", -1, 0, {"expected a JSON object"}},
    {"string top level", "\"w\"", -1, 0, {"expected a JSON object"}},
    {"entry not an object", "{\"w\": [1]}", -1, 0, {"'w'", "expected an object"}},
    {"missing dtype", "{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", -1, 8, {"'w'", "dtype"}},
    {"missing shape",
     "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}",
     -1,
     8,
     {"'w'", "shape"}},
    {"missing offsets",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}",
     -1,
     8,
     {"'w'", "data_offsets"}},
    {"dtype not a string",
     "{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}",
     -1,
     4,
     {"'w'", "dtype", "expected a string"}},
    {"unknown dtype",
     "{\"w\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}",
     -1,
     4,
     {"'w'", "F33", "F32"}},
    {"shape not an array",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}",
     -1,
     8,
     {"'w'", "shape", "expected an array"}},
    {"shape with a string",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}",
     -1,
     8,
     {"'w'", "shape", "non-negative integer"}},
    {"shape with a real",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}",
     -1,
     8,
     {"'w'", "shape", "real"}},
    {"negative dim",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}",
     -1,
     8,
     {"'w'", "shape", "-2"}},
    {"too many dims",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
     -1,
     4,
     {"'w'", "9 dimensions"}},
    {"offsets wrong length",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}",
     -1,
     8,
     {"'w'", "data_offsets", "[begin, end]"}},
    {"offsets wrong type",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":\"0-8\"}}",
     -1,
     8,
     {"'w'", "data_offsets"}},
    {"offset a string",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[\"0\",8]}}",
     -1,
     8,
     {"'w'", "data_offsets", "a string"}},
    {"negative offset",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}",
     -1,
     8,
     {"'w'", "data_offsets", "negative"}},
    {"end before begin",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}",
     -1,
     8,
     {"'w'", "[8, 0)", "ends before"}},
    {"size mismatch",
     "{\"h.0.attn.c_attn.weight\":{" T8x4 ",\"data_offsets\":[0,100]}}",
     -1,
     100,
     {"tensor 'h.0.attn.c_attn.weight'", "[0, 100) hold 100 bytes", "[8,4] F32 needs 128"}},
    {"overlap",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     -1,
     12,
     {"tensor 'b'", "overlap tensor 'a'"}},
    {"gap",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
     -1,
     20,
     {"tensor 'b'", "gap of 4 bytes", "after tensor 'a'"}},
    {"not starting at 0",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     -1,
     12,
     {"tensor 'a'", "must begin at 0"}},
    {"duplicate name", "{" W2 "," W2 "}", -1, 8, {"duplicate", "w"}},
    {"trailing bytes", "{" W2 "}", -1, 9, {"file is", "trailing bytes"}},
    {"truncated data", "{" W2 "}", -1, 5, {"file is", "truncated"}},
    {"metadata not an object", "{\"__metadata__\":5}", -1, 0, {"'__metadata__'", "an object"}},
    {"metadata value not a string",
     "{\"__metadata__\":{\"format\":1}}",
     -1,
     0,
     {"'__metadata__'", "'format'", "expected a string"}},
    {"header longer than 100 MB", "{}", 200000000, 0, {"header length 200000000", "limit"}},
    {"header longer than the file", "{}", 1000, 0, {"header length 1000", "end of the file"}},
};

START_TEST(test_malformed) {
    const bad_case *c = &BAD[_i];
    char path[512];
    tpath(path, "bad_model.safetensors");
    write_raw(path, c->header, c->hlen, c->data);
    rt_st_file *f = NULL;
    rt_error_clear();
    rt_status st = rt_st_open(&f, path);
    const char *msg = rt_error_message();
    ck_assert_msg(st == RT_ERR_FORMAT, "%s: status %s (%s)", c->what, rt_status_name(st), msg);
    ck_assert_ptr_null(f);
    ck_assert_msg(strstr(msg, "bad_model.safetensors"), "%s: no file name in: %s", c->what, msg);
    for (int k = 0; k < 3 && c->expect[k]; k++)
        ck_assert_msg(strstr(msg, c->expect[k]), "%s: expected \"%s\" in: %s", c->what,
                      c->expect[k], msg);
}
END_TEST

START_TEST(test_short_files) {
    char path[512];
    tpath(path, "short.safetensors");
    for (size_t n = 0; n < 8; n++) {
        write_bytes(path, "\x10\0\0\0\0\0\0\0", n);
        rt_st_file *f = NULL;
        ck_assert_int_eq(rt_st_open(&f, path), RT_ERR_FORMAT);
        ck_assert(strstr(rt_error_message(), "short.safetensors") &&
                  strstr(rt_error_message(), "too short"));
    }
    rt_st_file *f = NULL;
    tpath(path, "missing.safetensors");
    ck_assert_int_eq(rt_st_open(&f, path), RT_ERR_IO);
    ck_assert(strstr(rt_error_message(), "missing.safetensors"));
}
END_TEST

/* A valid file cut at every length must be rejected, never read out of bounds. */
START_TEST(test_truncated_everywhere) {
    char path[512], cut[512];
    tpath(path, "whole.safetensors");
    tpath(cut, "cut.safetensors");
    float x[6] = {1, 2, 3, 4, 5, 6};
    rt_st_writer *w = NULL;
    ck_assert(rt_st_writer_create(&w) == RT_OK);
    ck_assert(rt_st_writer_add(w, "a", RT_ST_F32, 1, (int64_t[]){2}, x) == RT_OK);
    ck_assert(rt_st_writer_add(w, "b", RT_ST_F32, 2, (int64_t[]){2, 2}, x + 2) == RT_OK);
    ck_assert(rt_st_writer_write(w, path, NULL, NULL, 0) == RT_OK);
    rt_st_writer_destroy(&w);
    size_t n;
    unsigned char *b = slurp(path, &n);
    for (size_t len = 0; len < n; len++) {
        write_bytes(cut, b, len);
        rt_st_file *f = NULL;
        rt_status st = rt_st_open(&f, cut);
        ck_assert_msg(st == RT_ERR_FORMAT, "cut at %zu: %s", len, rt_error_message());
        ck_assert(strstr(rt_error_message(), "cut.safetensors"));
    }
    free(b);
}
END_TEST

/* ---- conversion ---- */

static float f16_reference(uint16_t h) {
    int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
    float v;
    if (exp == 0)
        v = ldexpf((float)mant, -24);
    else if (exp == 31)
        v = mant ? NAN : INFINITY;
    else
        v = ldexpf((float)(1024 + mant), exp - 25);
    return sign ? -v : v;
}

START_TEST(test_f16_bf16_conversion) {
    for (uint32_t h = 0; h < 65536; h++) {
        float got = rt_st_f16_to_f32((uint16_t)h), ref = f16_reference((uint16_t)h);
        if (isnan(ref)) {
            ck_assert_msg(isnan(got), "f16 0x%04x", h);
            continue;
        }
        ck_assert_msg(memcmp(&got, &ref, sizeof got) == 0, "f16 0x%04x: %a vs %a", h, (double)got,
                      (double)ref);
    }
    ck_assert(rt_st_bf16_to_f32(0x3f80) == 1.0f);
    ck_assert(rt_st_bf16_to_f32(0xc040) == -3.0f);
    ck_assert(isinf(rt_st_bf16_to_f32(0x7f80)));

    /* rt_st_read_f32 on each float dtype, plus its errors. */
    char path[512];
    tpath(path, "conv.safetensors");
    uint16_t h[3] = {0x3c00, 0xc000, 0x3555}; /* 1, -2, 0.333251953125 */
    uint16_t bf[3] = {0x3f80, 0xc000, 0x3eab};
    int64_t i[2] = {1, 2};
    rt_st_writer *w = NULL;
    ck_assert(rt_st_writer_create(&w) == RT_OK);
    ck_assert(rt_st_writer_add(w, "h", RT_ST_F16, 1, (int64_t[]){3}, h) == RT_OK);
    ck_assert(rt_st_writer_add(w, "bf", RT_ST_BF16, 1, (int64_t[]){3}, bf) == RT_OK);
    ck_assert(rt_st_writer_add(w, "i", RT_ST_I64, 1, (int64_t[]){2}, i) == RT_OK);
    ck_assert(rt_st_writer_write(w, path, NULL, NULL, 0) == RT_OK);
    rt_st_writer_destroy(&w);
    rt_st_file *f = NULL;
    ck_assert(rt_st_open(&f, path) == RT_OK);
    float out[3];
    ck_assert(rt_st_read_f32(f, "h", out, 3) == RT_OK);
    ck_assert(out[0] == 1.0f && out[1] == -2.0f && out[2] == 0.333251953125f);
    ck_assert(rt_st_read_f32(f, "bf", out, 3) == RT_OK);
    ck_assert(out[0] == 1.0f && out[1] == -2.0f && out[2] == rt_st_bf16_to_f32(0x3eab));
    ck_assert_int_eq(rt_st_read_f32(f, "h", out, 2), RT_ERR_FORMAT);
    ck_assert(strstr(rt_error_message(), "'h'") && strstr(rt_error_message(), "3 elements"));
    ck_assert_int_eq(rt_st_read_f32(f, "i", out, 2), RT_ERR_FORMAT);
    ck_assert(strstr(rt_error_message(), "I64") && strstr(rt_error_message(), "conv.safetensors"));
    ck_assert_int_eq(rt_st_read_f32(f, "nope", out, 1), RT_ERR_FORMAT);
    ck_assert(strstr(rt_error_message(), "'nope'") &&
              strstr(rt_error_message(), "conv.safetensors"));
    rt_st_close(&f);
}
END_TEST

/* ---- writer arguments and atomicity ---- */

START_TEST(test_writer_rejects_bad_tensors) {
    rt_st_writer *w = NULL;
    float x[4] = {0};
    ck_assert(rt_st_writer_create(&w) == RT_OK);
    ck_assert(rt_st_writer_add(w, "a", RT_ST_F32, 1, (int64_t[]){4}, x) == RT_OK);
    ck_assert_int_eq(rt_st_writer_add(w, "a", RT_ST_F32, 1, (int64_t[]){4}, x), RT_ERR_ARG);
    ck_assert(strstr(rt_error_message(), "'a'"));
    ck_assert_int_eq(rt_st_writer_add(w, "__metadata__", RT_ST_F32, 1, (int64_t[]){4}, x),
                     RT_ERR_ARG);
    ck_assert_int_eq(rt_st_writer_add(w, "b", RT_ST_F32, 1, (int64_t[]){-1}, x), RT_ERR_ARG);
    ck_assert_int_eq(rt_st_writer_add(w, "c", RT_ST_F32, 9, (int64_t[9]){0}, x), RT_ERR_ARG);
    ck_assert_int_eq(rt_st_writer_add(w, "d", RT_ST_NDTYPES, 1, (int64_t[]){4}, x), RT_ERR_ARG);
    ck_assert_int_eq(rt_st_writer_add(w, "e", RT_ST_F32, 1, (int64_t[]){4}, NULL), RT_ERR_ARG);
    rt_st_writer_destroy(&w);
}
END_TEST

static rt_status write_one(const char *path, const float *x, int64_t n) {
    rt_st_writer *w = NULL;
    ck_assert(rt_st_writer_create(&w) == RT_OK);
    ck_assert(rt_st_writer_add(w, "x", RT_ST_F32, 1, &n, x) == RT_OK);
    rt_status st = rt_st_writer_write(w, path, NULL, NULL, 0);
    rt_st_writer_destroy(&w);
    return st;
}

START_TEST(test_write_into_missing_directory) {
    char path[512];
    tpath(path, "no/such/dir/model.safetensors");
    float x[2] = {1, 2};
    ck_assert_int_eq(write_one(path, x, 2), RT_ERR_IO);
    ck_assert_msg(strstr(rt_error_message(), "no/such/dir/model.safetensors"), "%s",
                  rt_error_message());
    ck_assert(access(path, F_OK) != 0);
    char dir[512];
    ck_assert(access(tpath(dir, "no"), F_OK) != 0);
}
END_TEST

START_TEST(test_overwrite_replaces_atomically) {
    char path[512];
    tpath(path, "model.safetensors");
    float a[3] = {1, 2, 3}, b[5] = {5, 6, 7, 8, 9};
    ck_assert(write_one(path, a, 3) == RT_OK);
    struct stat st1, st2;
    ck_assert(stat(path, &st1) == 0);
    ck_assert(write_one(path, b, 5) == RT_OK);
    ck_assert(stat(path, &st2) == 0);
    ck_assert_msg(st1.st_ino != st2.st_ino, "replaced in place, not renamed over");
    ck_assert_int_eq(count_temp_files(), 0);
    rt_st_file *f = NULL;
    ck_assert(rt_st_open(&f, path) == RT_OK);
    float got[5];
    ck_assert(rt_st_read_f32(f, "x", got, 5) == RT_OK);
    ck_assert(memcmp(got, b, sizeof b) == 0);
    rt_st_close(&f);
}
END_TEST

/* The temp path is taken by a directory: the write fails and the old file is untouched. */
START_TEST(test_failed_create_keeps_old_file) {
    char path[512], tmp[600];
    tpath(path, "model.safetensors");
    float a[3] = {1, 2, 3}, b[5] = {5, 6, 7, 8, 9};
    ck_assert(write_one(path, a, 3) == RT_OK);
    size_t n0;
    unsigned char *before = slurp(path, &n0);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    ck_assert(mkdir(tmp, 0700) == 0);
    ck_assert_int_eq(write_one(path, b, 5), RT_ERR_IO);
    ck_assert(strstr(rt_error_message(), "model.safetensors"));
    size_t n1;
    unsigned char *after = slurp(path, &n1);
    ck_assert(n0 == n1 && memcmp(before, after, n0) == 0);
    struct stat st;
    ck_assert(stat(tmp, &st) == 0 && S_ISDIR(st.st_mode)); /* not ours: left alone */
    rmdir(tmp);
    free(before);
    free(after);
}
END_TEST

/* The file size limit stops the write half-way: the temp file is removed, the old file stays. */
START_TEST(test_failed_write_keeps_old_file) {
    char path[512];
    tpath(path, "model.safetensors");
    float a[3] = {1, 2, 3};
    ck_assert(write_one(path, a, 3) == RT_OK);
    size_t n0;
    unsigned char *before = slurp(path, &n0);

    enum { N = 1 << 16 };
    float *big = calloc(N, sizeof(float));
    struct rlimit old, lim;
    ck_assert(getrlimit(RLIMIT_FSIZE, &old) == 0);
    lim = old;
    lim.rlim_cur = 4096;
    void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
    ck_assert(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    rt_status st = write_one(path, big, N);
    ck_assert(setrlimit(RLIMIT_FSIZE, &old) == 0);
    signal(SIGXFSZ, oldsig);
    free(big);

    ck_assert_int_eq(st, RT_ERR_IO);
    ck_assert(strstr(rt_error_message(), "model.safetensors"));
    ck_assert_int_eq(count_temp_files(), 0);
    size_t n1;
    unsigned char *after = slurp(path, &n1);
    ck_assert(n0 == n1 && memcmp(before, after, n0) == 0);
    free(before);
    free(after);
}
END_TEST

int main(void) {
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_empty_file_round_trip);
    tcase_add_test(tc, test_reads_reference_file);
    tcase_add_loop_test(tc, test_malformed, 0, (int)(sizeof BAD / sizeof BAD[0]));
    tcase_add_test(tc, test_short_files);
    tcase_add_test(tc, test_truncated_everywhere);
    tcase_add_test(tc, test_f16_bf16_conversion);
    tcase_add_test(tc, test_writer_rejects_bad_tensors);
    tcase_add_test(tc, test_write_into_missing_directory);
    tcase_add_test(tc, test_overwrite_replaces_atomically);
    tcase_add_test(tc, test_failed_create_keeps_old_file);
    tcase_add_test(tc, test_failed_write_keeps_old_file);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
