/* `ringtune prep` coordination: input expansion and streaming on rank 0, byte-balanced rounds of
   documents dealt to the ranks, tokenization on every rank, and the ids gathered back to rank 0,
   which appends them in input order with the serial corpus writer (io/corpus.h).

   Why rank 0 writes serially instead of every rank writing its block with parallel HDF5: the
   datasets carry the fletcher32 filter, and HDF5 1.10.8 refuses independent writes to filtered
   datasets ("Can't perform independent write with filters in pipeline"); collective filtered
   writes work, but an HDF5 failure inside a collective call on one rank leaves the others waiting
   inside HDF5 where no status agreement can reach them. Tokenizing runs at a few MB/s per rank,
   the ids are ~0.6 bytes per input byte, and rank 0 writes them at hundreds of MB/s, so the
   serial writer costs well under 1% while giving a file that is byte-for-byte the same for any
   rank count, plain POSIX I/O that works on NFS, and errors that stay local to rank 0. */
#include "mpiagree.h"
#include "prep.h"
#include "peak.h"
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include "bpe.h"
#include "corpus.h"
#include "fsutil.h"
#include "hf_tokenizer.h"
#include "prep_labels.h"
#include "prep_pairs.h"
#include "rng.h"
#include "text.h"
#include "watchdog.h"

#define DOC_MAX ((size_t)1 << 30)       /* largest single document (bytes) */
#define ROUND_MAX ((size_t)1 << 30)     /* largest round_bytes */
#define ROUND_RECORDS ((size_t)1 << 20) /* at most this many records per round */
#define MSG_MAX ((size_t)1 << 30)       /* largest single MPI message (bytes) */
#define REC_WEIGHT 64                   /* per-record cost added to its bytes when balancing */
enum { TAG_META = 101, TAG_BYTES, TAG_NTOK, TAG_TOKENS };

void rt_prep_opts_default(rt_prep_opts *o) {
    memset(o, 0, sizeof *o);
    o->format = RT_PREP_TEXT;
    o->text_field = "text";
    o->val_ratio = 0.05;
    o->split_seed = 1234;
    o->round_bytes = (size_t)32 << 20;
    o->timeout_s = RT_WD_TIMEOUT_DEFAULT;
}

uint64_t rt_prep_split_hash(uint64_t seed, uint64_t doc_index) {
    return rt_mix64(rt_mix64(seed) ^ doc_index); /* splitmix64 (prep.h) */
}

int rt_prep_is_validation(uint64_t seed, uint64_t doc_index, double val_ratio) {
    uint64_t h = rt_prep_split_hash(seed, doc_index);
    return (double)(h >> 11) * 0x1.0p-53 < val_ratio;
}

/* ---- growable arrays ---------------------------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}

typedef struct {
    char **v;
    size_t n, cap;
} strvec;

static rt_status strvec_push(strvec *s, const char *x) {
    char *d = strdup(x);
    if (!d || !grow((void **)&s->v, &s->cap, s->n + 1, sizeof *s->v)) {
        free(d);
        return rt_error(RT_ERR_MEMORY, "prep: out of memory listing inputs");
    }
    s->v[s->n++] = d;
    return RT_OK;
}

static void strvec_free(strvec *s) {
    for (size_t i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* ---- MPI helpers (errors in MPI itself abort the job: the communicator keeps
        MPI_ERRORS_ARE_FATAL) ------------------------------------------------------------------ */

static void send_bytes(const void *buf, size_t n, int dest, int tag, MPI_Comm comm) {
    const char *p = buf;
    do {
        size_t k = n < MSG_MAX ? n : MSG_MAX;
        rt_wd_send(p, (int)k, MPI_BYTE, dest, tag, comm, "prep data (MPI_Send)");
        p += k;
        n -= k;
    } while (n > 0);
}

static void recv_bytes(void *buf, size_t n, int src, int tag, MPI_Comm comm) {
    char *p = buf;
    do {
        size_t k = n < MSG_MAX ? n : MSG_MAX;
        rt_wd_recv(p, (int)k, MPI_BYTE, src, tag, comm, "prep data (MPI_Recv)");
        p += k;
        n -= k;
    } while (n > 0);
}

/* ---- input expansion (rank 0) ------------------------------------------------------------- */

static rt_status walk_dir(strvec *files, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return rt_error(RT_ERR_IO, "cannot read input directory %s: %s", dir, strerror(errno));
    rt_status st = RT_OK;
    struct dirent *e;
    while (st == RT_OK && (errno = 0, e = readdir(d))) {
        if (e->d_name[0] == '.') continue; /* hidden files, "." and ".." */
        char *p = rt_fs_join(dir, e->d_name);
        struct stat sb;
        if (!p) {
            st = rt_error(RT_ERR_MEMORY, "prep: out of memory listing %s", dir);
        } else if (lstat(p, &sb) != 0) {
            st = rt_error(RT_ERR_IO, "cannot read input %s: %s", p, strerror(errno));
        } else if (S_ISDIR(sb.st_mode)) {
            st = walk_dir(files, p);
        } else if (S_ISREG(sb.st_mode) ||
                   (S_ISLNK(sb.st_mode) && stat(p, &sb) == 0 && S_ISREG(sb.st_mode))) {
            st = strvec_push(files, p); /* symlinked directories are not followed (cycles) */
        }
        free(p);
    }
    if (st == RT_OK && errno != 0)
        st = rt_error(RT_ERR_IO, "cannot read input directory %s: %s", dir, strerror(errno));
    closedir(d);
    return st;
}

static rt_status add_input(strvec *files, const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0)
        return rt_error(RT_ERR_IO, "cannot read input %s: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) return walk_dir(files, path);
    if (!S_ISREG(sb.st_mode))
        return rt_error(RT_ERR_IO, "input %s is not a regular file or directory", path);
    return strvec_push(files, path);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files of all inputs (directories walked, globs expanded), sorted by path, duplicates removed,
   each checked to be readable; sizes[i] gets file i's size. */
static rt_status expand_inputs(const rt_prep_opts *o, strvec *files, uint64_t **sizes) {
    *sizes = NULL;
    if (o->n_inputs <= 0) return rt_error(RT_ERR_ARG, "prep: no input files given");
    for (int i = 0; i < o->n_inputs; i++) {
        const char *in = o->inputs[i];
        struct stat sb;
        if (stat(in, &sb) != 0 && errno == ENOENT && strpbrk(in, "*?[")) {
            glob_t g;
            int r = glob(in, 0, NULL, &g);
            if (r == GLOB_NOMATCH) return rt_error(RT_ERR_IO, "no input files match '%s'", in);
            if (r != 0) {
                globfree(&g);
                return rt_error(RT_ERR_IO, "cannot expand input pattern '%s'", in);
            }
            rt_status st = RT_OK;
            for (size_t k = 0; k < g.gl_pathc && st == RT_OK; k++)
                st = add_input(files, g.gl_pathv[k]);
            globfree(&g);
            RT_CALL(st);
        } else {
            RT_CALL(add_input(files, in));
        }
    }
    if (files->n == 0) return rt_error(RT_ERR_IO, "no input files found in the given inputs");
    qsort(files->v, files->n, sizeof *files->v, cmp_str);
    size_t m = 0;
    for (size_t i = 0; i < files->n; i++) {
        if (m > 0 && !strcmp(files->v[m - 1], files->v[i]))
            free(files->v[i]);
        else
            files->v[m++] = files->v[i];
    }
    files->n = m;
    *sizes = calloc(files->n, sizeof **sizes);
    if (!*sizes) return rt_error(RT_ERR_MEMORY, "prep: out of memory");
    struct stat ob;
    int out_exists = stat(o->out, &ob) == 0;
    for (size_t i = 0; i < files->n; i++) {
        FILE *f = fopen(files->v[i], "rb");
        struct stat sb;
        if (!f || fstat(fileno(f), &sb) != 0) {
            rt_status st =
                rt_error(RT_ERR_IO, "cannot read input %s: %s", files->v[i], strerror(errno));
            if (f) fclose(f);
            return st;
        }
        fclose(f);
        if (out_exists && sb.st_dev == ob.st_dev && sb.st_ino == ob.st_ino)
            return rt_error(RT_ERR_ARG, "output %s is also an input", o->out);
        (*sizes)[i] = (uint64_t)sb.st_size;
    }
    return RT_OK;
}

/* ---- streaming records (rank 0) ----------------------------------------------------------- */

/* One record: a whole document (text) or one JSON line (jsonl), with where it came from. */
typedef struct {
    int64_t len;  /* bytes */
    int64_t file; /* index into the sorted file list */
    int64_t line; /* 1-based line of its first byte */
    int64_t off;  /* byte offset of its first byte in the file */
} recmeta;

typedef struct {
    char *bytes; /* records' bytes, concatenated */
    size_t n, cap;
    recmeta *m;
    size_t nm, capm;
} round_buf;

typedef struct {
    const rt_prep_opts *o;
    const strvec *files;
    const uint64_t *sizes;
    size_t fi;     /* current file */
    FILE *f;       /* open current file, or NULL */
    int64_t line;  /* line number of the next unread line */
    int64_t off;   /* byte offset of the next unread byte */
    uint64_t done; /* bytes of files finished before fi */
    char *lbuf;
    size_t lcap;
} reader;

static rt_status rb_append(round_buf *rb, const char *p, size_t n) {
    if (!grow((void **)&rb->bytes, &rb->cap, rb->n + n + 1, 1))
        return rt_error(RT_ERR_MEMORY, "prep: out of memory for a round of %zu bytes", rb->n + n);
    memcpy(rb->bytes + rb->n, p, n);
    rb->n += n;
    return RT_OK;
}

static rt_status rb_record(round_buf *rb, const recmeta *m) {
    if (!grow((void **)&rb->m, &rb->capm, rb->nm + 1, sizeof *rb->m))
        return rt_error(RT_ERR_MEMORY, "prep: out of memory");
    rb->m[rb->nm++] = *m;
    return RT_OK;
}

static int is_blank(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\n\r\v\f", p[i]) || p[i] == 0) return 0;
    return 1;
}

static void reader_close_file(reader *r) {
    if (r->f) fclose(r->f);
    r->f = NULL;
    r->done += r->sizes[r->fi];
    r->fi++;
}

static rt_status too_big(reader *r, int64_t line) {
    return rt_error(
        RT_ERR_ARG, "%s:%lld: document larger than %zu MiB (one document must fit in memory%s)",
        r->files->v[r->fi], (long long)line, DOC_MAX >> 20,
        r->o->format == RT_PREP_TEXT && !r->o->delimiter ? "; split the file or give --delimiter"
                                                         : "");
}

/* Reads the next line (with its '\n') into r->lbuf; *len 0 at end of file. */
static rt_status read_line(reader *r, size_t *len) {
    errno = 0;
    ssize_t k = getline(&r->lbuf, &r->lcap, r->f);
    if (k < 0) {
        if (ferror(r->f))
            return rt_error(RT_ERR_IO, "error reading %s: %s", r->files->v[r->fi],
                            strerror(errno ? errno : EIO));
        k = 0;
    }
    *len = (size_t)k;
    return RT_OK;
}

/* Appends the next record to rb; *got 0 when every file is done. */
static rt_status reader_next(reader *r, round_buf *rb, int *got) {
    *got = 0;
    const rt_prep_opts *o = r->o;
    while (r->fi < r->files->n) {
        const char *name = r->files->v[r->fi];
        if (!r->f) {
            r->f = fopen(name, "rb");
            if (!r->f)
                return rt_error(RT_ERR_IO, "cannot read input %s: %s", name, strerror(errno));
            r->line = 1;
            r->off = 0;
        }
        recmeta m = {0, (int64_t)r->fi, r->line, r->off};
        size_t start = rb->n;
        if (o->format == RT_PREP_TEXT && !o->delimiter) { /* the whole file */
            char buf[1 << 16];
            size_t k;
            while ((k = fread(buf, 1, sizeof buf, r->f)) > 0) {
                if (rb->n - start + k > DOC_MAX) return too_big(r, 1);
                RT_CALL(rb_append(rb, buf, k));
            }
            if (ferror(r->f))
                return rt_error(RT_ERR_IO, "error reading %s: %s", name, strerror(errno));
            m.len = (int64_t)(rb->n - start);
            reader_close_file(r);
            RT_CALL(rb_record(rb, &m));
            *got = 1;
            return RT_OK;
        }
        if (o->format == RT_PREP_TEXT) { /* lines up to a delimiter line */
            size_t dl = strlen(o->delimiter);
            for (;;) {
                size_t k;
                RT_CALL(read_line(r, &k));
                if (k == 0) { /* end of file: the remainder is a document unless it is 0 bytes */
                    reader_close_file(r);
                    if (rb->n == start) break;
                    m.len = (int64_t)(rb->n - start);
                    RT_CALL(rb_record(rb, &m));
                    *got = 1;
                    return RT_OK;
                }
                r->line++;
                r->off += (int64_t)k;
                size_t c = k - (r->lbuf[k - 1] == '\n');
                if (c > 0 && r->lbuf[c - 1] == '\r') c--;
                if (c == dl && !memcmp(r->lbuf, o->delimiter, dl)) {
                    m.len = (int64_t)(rb->n - start);
                    RT_CALL(rb_record(rb, &m));
                    *got = 1;
                    return RT_OK;
                }
                if (rb->n - start + k > DOC_MAX) return too_big(r, m.line);
                RT_CALL(rb_append(rb, r->lbuf, k));
            }
            continue;
        }
        /* jsonl: one record per non-blank line */
        for (;;) {
            size_t k;
            RT_CALL(read_line(r, &k));
            if (k == 0) {
                reader_close_file(r);
                break;
            }
            m.line = r->line++;
            m.off = r->off;
            r->off += (int64_t)k;
            if (r->lbuf[k - 1] == '\n') k--;
            if (is_blank(r->lbuf, k)) continue;
            if (k > DOC_MAX) return too_big(r, m.line);
            RT_CALL(rb_append(rb, r->lbuf, k));
            m.len = (int64_t)k;
            RT_CALL(rb_record(rb, &m));
            *got = 1;
            return RT_OK;
        }
    }
    return RT_OK;
}

/* Fills rb with the next round: records until about round_bytes. rb->nm == 0: input exhausted. */
static rt_status reader_round(reader *r, round_buf *rb) {
    rb->n = rb->nm = 0;
    int got = 1;
    while (got && rb->n < r->o->round_bytes && rb->nm < ROUND_RECORDS)
        RT_CALL(reader_next(r, rb, &got));
    return RT_OK;
}

/* ---- per-rank tokenization ---------------------------------------------------------------- */

typedef struct {
    const rt_prep_opts *o;
    const strvec *files; /* every rank has the names, for messages */
    const rt_bpe *bpe;
    rt_bpe_scratch *scratch;
    int tbytes, eos, vocab;
    int32_t *ids;
    size_t nids, capids;
    char *clean; /* sanitized copy of a record */
    size_t capclean;
    unsigned char *tok; /* this round's ids in the corpus dtype */
    size_t ntok_bytes, captok;
    uint64_t *ntok; /* per record of this round: ids written (0 = skipped) */
    size_t capntok;
    uint64_t n_empty, n_bad_json, n_replaced;
    /* kind "labeled" (o->label_field): in the label pass a record's "ids" are its label
       (label_payload) and unit is 1 byte; otherwise unit = tbytes */
    int label_pass, unit, max_len;
    uint64_t n_bad_label, n_truncated;
    /* kind "pairs" (dist/prep_pairs.h): a record's ids are its source's then its target's */
    const rt_spm *spm;
    rt_prep_pair_buf pb;
    uint64_t *nsrc; /* per record of this round: the source's ids (0 = skipped) */
    size_t capnsrc;
    uint64_t n_cut_src, n_cut_tgt;
} worker;

/* Makes text[0..n) valid UTF-8: returns it unchanged, a sanitized copy (replace mode), or fails
   naming the file, line and byte offset of the first bad byte. */
static rt_status clean_utf8(worker *w, const recmeta *m, const char **text, size_t *n) {
    const unsigned char *p = (const unsigned char *)*text;
    size_t bad = rt_utf8_first_invalid(p, *n);
    if (bad == *n) return RT_OK;
    if (!w->o->replace_invalid_utf8) {
        int64_t line = m->line;
        for (size_t i = 0; i < bad; i++) line += p[i] == '\n';
        return rt_error(RT_ERR_FORMAT,
                        "%s:%lld: invalid UTF-8 (byte 0x%02x at byte offset %lld of the file); "
                        "--replace-invalid-utf8 replaces such bytes with U+FFFD",
                        w->files->v[m->file], (long long)line, p[bad],
                        (long long)(m->off + (int64_t)bad));
    }
    if (!grow((void **)&w->clean, &w->capclean, 3 * *n + 1, 1))
        return rt_error(RT_ERR_MEMORY, "prep: out of memory");
    size_t o = 0, i = 0, sub;
    memcpy(w->clean, p, bad);
    o = i = bad;
    while (i < *n) {
        size_t k = p[i] < 0x80 ? 1 : rt_utf8_seq(p + i, *n - i, &sub);
        if (k) {
            memcpy(w->clean + o, p + i, k);
            o += k;
            i += k;
        } else {
            memcpy(w->clean + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += sub;
            w->n_replaced++;
        }
    }
    *text = w->clean;
    *n = o;
    return RT_OK;
}

/* A JSONL record that cannot be used: an error, or a count when skipping. */
static rt_status bad_json(worker *w, const recmeta *m, int *skip, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static rt_status bad_json(worker *w, const recmeta *m, int *skip, const char *fmt, ...) {
    if (w->o->skip_bad_json) {
        w->n_bad_json++;
        *skip = 1;
        return RT_OK;
    }
    char why[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return rt_error(RT_ERR_FORMAT, "%s:%lld: %s (--skip-bad-json skips such lines)",
                    w->files->v[m->file], (long long)m->line, why);
}

static const char *json_kind(const json_t *j) {
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* An example with a bad label: an error naming file:line, or a count when skipping. */
static rt_status bad_label(worker *w, const recmeta *m, int *skip, const char *why) {
    if (w->o->skip_bad_labels) {
        w->n_bad_label++;
        *skip = 1;
        return RT_OK;
    }
    return rt_error(RT_ERR_FORMAT, "%s:%lld: %s (--skip-bad-labels skips such examples)",
                    w->files->v[m->file], (long long)m->line, why);
}

/* jsonl: parses text[0..n) into *root (freed by the caller) and points *text, *n at the text
   field; with a label field, checks the label into *lab. *skip when the line is skipped. For
   pairs (w->spm) only parses it and checks it is an object. */
static rt_status json_record(worker *w, const recmeta *m, json_t **root, const char **text,
                             size_t *n, rt_prep_label *lab, int *skip) {
    json_error_t je;
    *root = json_loadb(*text, *n, JSON_ALLOW_NUL | JSON_DECODE_ANY, &je);
    const char *field = w->o->text_field;
    if (!*root) return bad_json(w, m, skip, "malformed JSON: %s (column %d)", je.text, je.column);
    if (!json_is_object(*root))
        return bad_json(w, m, skip, "expected a JSON object, got %s", json_kind(*root));
    if (w->spm) return RT_OK; /* pairs: the fields are read by work_pair */
    json_t *v = json_object_get(*root, field);
    if (!v) return bad_json(w, m, skip, "no field \"%s\" in the JSON object", field);
    if (!json_is_string(v))
        return bad_json(w, m, skip, "field \"%s\" is %s, expected a string", field, json_kind(v));
    *text = json_string_value(v);
    *n = json_string_length(v);
    if (!w->o->label_field) return RT_OK;
    char why[1024];
    rt_status st = rt_prep_label_get(w->o, *root, lab, why, sizeof why);
    if (st != RT_OK)
        return rt_error(st, "%s:%lld: %s", w->files->v[m->file], (long long)m->line, why);
    return why[0] ? bad_label(w, m, skip, why) : RT_OK;
}

/* The label pass: a record's payload is 's' + the label's bytes or 'i' + its int64 id. */
static rt_status label_payload(worker *w, const rt_prep_label *lab, uint64_t *ntok) {
    size_t len = 1 + (lab->is_string ? lab->n : sizeof lab->id);
    if (!grow((void **)&w->tok, &w->captok, w->ntok_bytes + len, 1))
        return rt_error(RT_ERR_MEMORY, "prep: out of memory for labels");
    unsigned char *q = w->tok + w->ntok_bytes;
    q[0] = lab->is_string ? 's' : 'i';
    if (lab->is_string)
        memcpy(q + 1, lab->s, lab->n);
    else
        memcpy(q + 1, &lab->id, sizeof lab->id);
    w->ntok_bytes += len;
    *ntok = len;
    return RT_OK;
}

/* Tokenizes text, then appends eos (text corpus) or cuts to max_len (labeled), into w->ids. */
static rt_status encode(worker *w, const recmeta *m, const char *text, size_t n) {
    rt_bpe_encode_opts eo = {w->o->allow_special, 0, w->files->v[m->file], (long)m->line};
    w->nids = 0;
    RT_CALL(rt_bpe_encode(w->bpe, w->scratch, text, n, &eo, &w->ids, &w->nids, &w->capids, NULL));
    if (!grow((void **)&w->ids, &w->capids, w->nids + 1, sizeof *w->ids))
        return rt_error(RT_ERR_MEMORY, "prep: out of memory");
    if (!w->o->label_field) {
        w->ids[w->nids++] = w->eos;
    } else if (w->nids > (size_t)w->max_len) {
        w->n_truncated++;
        if (w->o->truncate_left)
            memmove(w->ids, w->ids + (w->nids - (size_t)w->max_len),
                    (size_t)w->max_len * sizeof *w->ids);
        w->nids = (size_t)w->max_len;
    }
    return RT_OK;
}

/* Appends ids[0..n) to w->tok in the corpus dtype, checking each is in the vocabulary. */
static rt_status put_ids(worker *w, const recmeta *m, const int32_t *ids, size_t n) {
    size_t need = w->ntok_bytes + n * (size_t)w->tbytes;
    if (!grow((void **)&w->tok, &w->captok, need, 1))
        return rt_error(RT_ERR_MEMORY, "prep: out of memory for %zu ids", n);
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= w->vocab) {
            return rt_error(RT_ERR_INTERNAL, "%s:%lld: tokenizer produced id %d outside [0, %d)",
                            w->files->v[m->file], (long long)m->line, id, w->vocab);
        } else if (w->tbytes == 2) {
            uint16_t v = (uint16_t)id;
            memcpy(w->tok + w->ntok_bytes + 2 * i, &v, 2);
        } else {
            uint32_t v = (uint32_t)id;
            memcpy(w->tok + w->ntok_bytes + 4 * i, &v, 4);
        }
    }
    w->ntok_bytes = need;
    return RT_OK;
}

/* Kind "pairs": one JSON line into its source's and target's ids (w->tok); their count in *ntok,
   the source's in *nsrc, both 0 when the line is skipped (--skip-bad-json). */
static rt_status work_pair(worker *w, const recmeta *m, const char *text, size_t n, uint64_t *ntok,
                           uint64_t *nsrc) {
    *ntok = *nsrc = 0;
    json_t *root = NULL;
    const char *t = text;
    size_t tn = n;
    int skip = 0;
    rt_status st = json_record(w, m, &root, &t, &tn, NULL, &skip);
    rt_prep_pair_text pt;
    char why[1024] = "";
    if (st == RT_OK && !skip) st = rt_prep_pair_fields(w->o, root, &pt, why, sizeof why);
    if (st == RT_OK && !skip && why[0]) st = bad_json(w, m, &skip, "%s", why);
    rt_prep_pair_ids r;
    if (st == RT_OK && !skip) st = rt_prep_pair_encode(w->o, w->spm, &pt, &w->pb, &r);
    if (st == RT_OK && !skip && r.empty_target)
        st = rt_error(RT_ERR_FORMAT,
                      "%s:%lld: target field \"%s\" is empty (or only whitespace): every pair "
                      "needs a target",
                      w->files->v[m->file], (long long)m->line, w->o->target_field);
    if (st == RT_OK && !skip) st = put_ids(w, m, w->pb.ids, r.n_src + r.n_tgt);
    if (st == RT_OK && !skip) {
        *ntok = r.n_src + r.n_tgt;
        *nsrc = r.n_src;
        w->n_cut_src += (uint64_t)r.cut_src;
        w->n_cut_tgt += (uint64_t)r.cut_tgt;
    }
    json_decref(root);
    return st;
}

/* Tokenizes one record, appending its ids (+ eos for a text corpus) to w->tok; *ntok 0 when it
   is skipped. In the label pass, appends its label instead (label_payload). For pairs
   (work_pair), *nsrc gets the source's share of *ntok (0 otherwise). */
static rt_status work_record(worker *w, const recmeta *m, const char *raw, uint64_t *ntok,
                             uint64_t *nsrc) {
    *ntok = *nsrc = 0;
    const char *text = raw;
    size_t n = (size_t)m->len;
    RT_CALL(clean_utf8(w, m, &text, &n));
    if (w->spm) {
        rt_status st = work_pair(w, m, text, n, ntok, nsrc);
        if (st != RT_OK) rt_error_trace(__FILE__, __LINE__, __func__);
        return st;
    }
    json_t *root = NULL;
    rt_prep_label lab;
    memset(&lab, 0, sizeof lab);
    if (w->o->format == RT_PREP_JSONL) {
        int skip = 0;
        rt_status st = json_record(w, m, &root, &text, &n, &lab, &skip);
        if (st != RT_OK || skip) {
            json_decref(root);
            return st;
        }
    }
    rt_status st = RT_OK;
    if (is_blank(text, n)) {
        w->n_empty++;
    } else if (w->label_pass) {
        st = label_payload(w, &lab, ntok);
    } else {
        st = encode(w, m, text, n);
        if (st == RT_OK) st = put_ids(w, m, w->ids, w->nids);
        if (st == RT_OK) *ntok = w->nids;
    }
    json_decref(root);
    if (st != RT_OK) rt_error_trace(__FILE__, __LINE__, __func__);
    return st;
}

/* ---- the run ------------------------------------------------------------------------------ */

typedef struct {
    rt_prep_opts o;
    MPI_Comm comm;
    int rank, size;
    strvec files;
    uint64_t *sizes; /* rank 0 */
    uint64_t total_bytes;
    const rt_bpe *bpe; /* owned_bpe or the caller's (text and labeled corpora) */
    rt_bpe *owned_bpe;
    rt_spm *spm;      /* pairs: the SentencePiece tokenizer */
    char spm_sha[65]; /* pairs: its identity (rt_hf_spm_sha256) */
    worker w;
    rt_corpus_writer *writer; /* rank 0 */
    reader rd;                /* rank 0 */
    round_buf rb;             /* rank 0: the round; other ranks: their share */
    uint64_t *all_ntok;       /* rank 0: ntok of every record of the round */
    size_t cap_all_ntok;
    unsigned char *all_tok; /* rank 0: the round's ids from all ranks */
    size_t cap_all_tok;
    uint64_t next_doc;  /* rank 0: global index of the next document */
    int labeled;        /* kind "labeled" (o.label_field) */
    int pairs;          /* kind "pairs" (o.source_field, o.target_field) */
    uint64_t *all_nsrc; /* rank 0: nsrc of every record of the round (pairs) */
    size_t cap_all_nsrc;
    uint64_t n_tgt_tokens[2]; /* rank 0: target tokens written per split (pairs) */
    rt_prep_labeling lab;     /* rank 0: what the label pass found (dist/prep_labels.h) */
    double t_labels;
    double t0, last_print;
    double t_setup, t_read, t_tok, t_write; /* t_tok: the slowest rank's, per round, summed */
} prep;

static rt_status check_label_opts(const rt_prep_opts *o) {
    int given = o->n_label_names > 0 || o->num_labels != 0 || o->max_length != 0 ||
                o->truncate_left || o->skip_bad_labels;
    if (!o->label_field)
        return given ? rt_error(RT_ERR_ARG, "prep: --labels, --num-labels, --max-length, "
                                            "--truncation and --skip-bad-labels need --label-field")
                     : RT_OK;
    if (o->format != RT_PREP_JSONL || !*o->label_field)
        return rt_error(RT_ERR_ARG, "prep: a label field applies to jsonl input");
    if (o->num_labels < 0 || o->n_label_names < 0 || o->max_length < 0)
        return rt_error(RT_ERR_ARG, "prep: negative --num-labels, label count or --max-length");
    if (o->num_labels && o->n_label_names && o->num_labels != o->n_label_names)
        return rt_error(RT_ERR_ARG, "prep: --num-labels %d but %d names in --labels", o->num_labels,
                        o->n_label_names);
    for (int i = 0; i < o->n_label_names; i++) {
        if (!o->label_names || !o->label_names[i])
            return rt_error(RT_ERR_ARG, "prep: label name %d missing", i);
        for (int j = 0; j < i; j++)
            if (!strcmp(o->label_names[i], o->label_names[j]))
                return rt_error(RT_ERR_ARG, "prep: --labels names '%s' twice", o->label_names[i]);
    }
    return RT_OK;
}

static rt_status check_opts(const rt_prep_opts *o) {
    if (!o->tokenizer && (!o->tokenizer_dir || !*o->tokenizer_dir))
        return rt_error(RT_ERR_ARG, "prep: no tokenizer directory given (--tokenizer DIR)");
    if (!o->out || !*o->out) return rt_error(RT_ERR_ARG, "prep: no output file given (--out FILE)");
    if (o->format != RT_PREP_TEXT && o->format != RT_PREP_JSONL)
        return rt_error(RT_ERR_ARG, "prep: unknown input format %d", (int)o->format);
    if (o->format == RT_PREP_JSONL && o->delimiter)
        return rt_error(RT_ERR_ARG, "prep: a delimiter applies to text input, not jsonl");
    if (o->format == RT_PREP_JSONL && (!o->text_field || !*o->text_field))
        return rt_error(RT_ERR_ARG, "prep: jsonl input needs a text field name");
    if (o->delimiter && strchr(o->delimiter, '\n'))
        return rt_error(RT_ERR_ARG, "prep: the delimiter is one line; it cannot hold a newline");
    if (!(o->val_ratio >= 0 && o->val_ratio <= 1))
        return rt_error(RT_ERR_ARG, "prep: validation ratio %g outside [0, 1]", o->val_ratio);
    if (o->split_seed > (uint64_t)INT64_MAX)
        return rt_error(RT_ERR_ARG, "prep: split seed must be below 2^63");
    if (o->round_bytes == 0 || o->round_bytes > ROUND_MAX)
        return rt_error(RT_ERR_ARG, "prep: round size %zu bytes outside [1, %zu]", o->round_bytes,
                        ROUND_MAX);
    RT_CALL(check_label_opts(o));
    return rt_prep_pair_opts_check(o);
}

/* Rank 0 expands the inputs; every rank receives the sorted file names. */
static rt_status share_inputs(prep *p) {
    rt_status st = RT_OK;
    if (p->rank == 0) st = expand_inputs(&p->o, &p->files, &p->sizes);
    RT_CALL(rt_mpi_agree(p->comm, st));
    uint64_t len = 0;
    char *pack = NULL;
    if (p->rank == 0) {
        for (size_t i = 0; i < p->files.n; i++) {
            len += strlen(p->files.v[i]) + 1;
            p->total_bytes += p->sizes[i];
        }
        pack = malloc(len);
        st = pack ? RT_OK : rt_error(RT_ERR_MEMORY, "prep: out of memory");
        if (pack) {
            char *q = pack;
            for (size_t i = 0; i < p->files.n; i++) q = stpcpy(q, p->files.v[i]) + 1;
        }
    }
    if ((st = rt_mpi_agree(p->comm, st)) != RT_OK) {
        free(pack);
        return st;
    }
    rt_wd_bcast(&len, 1, MPI_UINT64_T, 0, p->comm, "input list size (MPI_Bcast)");
    rt_wd_bcast(&p->total_bytes, 1, MPI_UINT64_T, 0, p->comm, "input size (MPI_Bcast)");
    if (p->rank != 0) {
        pack = malloc(len);
        st = pack ? RT_OK : rt_error(RT_ERR_MEMORY, "prep: out of memory");
    }
    if ((st = rt_mpi_agree(p->comm, st)) != RT_OK) {
        free(pack);
        return st;
    }
    /* Bcast in pieces: a file list may pass 2 GiB only in theory, but counts are ints */
    for (uint64_t at = 0; at < len; at += MSG_MAX) {
        uint64_t k = len - at < MSG_MAX ? len - at : MSG_MAX;
        rt_wd_bcast(pack + at, (int)k, MPI_BYTE, 0, p->comm, "input list (MPI_Bcast)");
    }
    if (p->rank != 0)
        for (uint64_t at = 0; at < len && st == RT_OK; at += strlen(pack + at) + 1)
            st = strvec_push(&p->files, pack + at);
    free(pack);
    return rt_mpi_agree(p->comm, st);
}

/* Pairs: the directory's spiece.model (+ tokenizer.json when present) and its sha256. */
static rt_status load_spm(prep *p) {
    RT_CALL(rt_hf_spm_load_dir(p->o.tokenizer_dir, &p->spm, p->spm_sha));
    if (rt_spm_eos_id(p->spm) < 0)
        return rt_error(RT_ERR_FORMAT,
                        "%s/spiece.model: the SentencePiece model has no </s> "
                        "(eos) piece",
                        p->o.tokenizer_dir);
    return RT_OK;
}

/* The tokenizer the directory holds must be the kind's: byte-level BPE for text and labeled
   corpora, SentencePiece for pairs. */
static rt_status tokenizer_kind(prep *p) {
    if (p->o.tokenizer) return RT_OK; /* a preloaded BPE tokenizer (pairs refuse it) */
    rt_tokenizer_kind k;
    RT_CALL(rt_hf_tokenizer_kind(p->o.tokenizer_dir, &k));
    if (p->pairs && k != RT_TOKENIZER_SPM)
        return rt_error(RT_ERR_ARG,
                        "tokenizer directory %s holds a BPE tokenizer (vocab.json + "
                        "merges.txt); a pairs corpus (--source-field/--target-field) needs a "
                        "SentencePiece one (spiece.model)",
                        p->o.tokenizer_dir);
    if (!p->pairs && k != RT_TOKENIZER_BPE)
        return rt_error(RT_ERR_ARG,
                        "tokenizer directory %s holds a SentencePiece tokenizer (spiece.model), "
                        "which prep uses for pairs only (--source-field/--target-field); text "
                        "and labeled corpora need a byte-level BPE one (vocab.json + merges.txt)",
                        p->o.tokenizer_dir);
    return RT_OK;
}

/* Text and labeled corpora: the caller's BPE tokenizer or vocab.json + merges.txt. */
static rt_status load_bpe(prep *p) {
    rt_status st = RT_OK;
    if (p->o.tokenizer) {
        p->bpe = p->o.tokenizer;
    } else {
        char *vj = rt_fs_join(p->o.tokenizer_dir, "vocab.json");
        char *mt = rt_fs_join(p->o.tokenizer_dir, "merges.txt");
        if (!vj || !mt)
            st = rt_error(RT_ERR_MEMORY, "prep: out of memory");
        else
            st = rt_bpe_load(&p->owned_bpe, vj, mt);
        p->bpe = p->owned_bpe;
        free(vj);
        free(mt);
    }
    if (st == RT_OK) st = rt_bpe_scratch_create(&p->w.scratch);
    if (st == RT_OK && rt_bpe_eos_id(p->bpe) < 0)
        st = rt_error(RT_ERR_FORMAT, "%s: the tokenizer has no <|endoftext|> token for eos",
                      p->o.tokenizer_dir ? p->o.tokenizer_dir : "prep");
    return st;
}

/* Every rank loads the tokenizer of the kind (collective: one status for all). */
static rt_status load_tokenizer(prep *p) {
    rt_status st = tokenizer_kind(p);
    if (st == RT_OK) st = p->pairs ? load_spm(p) : load_bpe(p);
    return rt_mpi_agree(p->comm, st);
}

static rt_status create_writer(prep *p) {
    rt_status st = RT_OK;
    if (p->rank == 0) {
        size_t len = 1;
        for (size_t i = 0; i < p->files.n; i++) len += strlen(p->files.v[i]) + 1;
        char *src = malloc(len), *q = src;
        if (!src) return rt_mpi_agree(p->comm, rt_error(RT_ERR_MEMORY, "prep: out of memory"));
        *q = 0;
        for (size_t i = 0; i < p->files.n; i++) {
            if (i) *q++ = '\n';
            q = stpcpy(q, p->files.v[i]);
        }
        rt_corpus_label_meta lm = {p->lab.num_labels, p->lab.names, p->lab.label_order,
                                   p->w.max_len, p->o.truncate_left ? "left" : "right"};
        rt_corpus_pair_meta pm = {p->o.max_source_len, p->o.max_target_len, p->o.source_prefix};
        rt_corpus_meta m = {p->labeled ? "labeled"
                            : p->pairs ? "pairs"
                                       : "text",
                            p->w.vocab,
                            p->w.eos,
                            p->pairs ? p->spm_sha : rt_bpe_sha256(p->bpe),
                            src,
                            p->o.split_seed,
                            p->o.val_ratio,
                            p->o.command_line,
                            p->o.chunk,
                            p->labeled ? &lm : NULL,
                            p->pairs ? &pm : NULL};
        st = rt_corpus_writer_create(&p->writer, p->o.out, p->o.overwrite, &m);
        free(src);
    }
    return rt_mpi_agree(p->comm, st);
}

static void fmt_eta(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e7)
        snprintf(buf, n, "?");
    else if (s >= 3600)
        snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else
        snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

static void progress(prep *p, int final) {
    FILE *f = p->o.progress;
    if (!f || p->rank != 0) return;
    /* the rate of the input since it began to flow: the one-off setup (the tokenizer) excluded */
    double now = MPI_Wtime(), el = now - p->t0 - p->t_setup;
    int tty = isatty(fileno(f));
    if (!final && now - p->last_print < (tty ? 0.5 : 10.0)) return;
    p->last_print = now;
    uint64_t done = p->rd.done + (p->rd.f ? (uint64_t)p->rd.off : 0);
    double mb = done / 1e6, total = p->total_bytes / 1e6, rate = el > 0 ? mb / el : 0;
    char eta[32];
    fmt_eta(eta, sizeof eta, rt_eta_s(mb, total, el));
    fprintf(f, "%sprep: %llu docs, %.1f / %.1f MB (%.0f%%), %.2f MB/s, ETA %s%s", tty ? "\r" : "",
            (unsigned long long)p->next_doc, mb, total, total > 0 ? 100.0 * mb / total : 100.0,
            rate, final ? "0m00s" : eta, tty && !final ? "   " : "\n");
    fflush(f);
}

/* Rank 0, pairs: the n ids of a record are its source's (n_src) then its target's. */
static rt_status write_pair(prep *p, rt_corpus_split sp, uint64_t d, const unsigned char *ids,
                            size_t n, size_t n_src) {
    if (n_src == 0 || n_src >= n)
        return rt_error(RT_ERR_INTERNAL, "prep: pair %llu of %zu ids has a source of %zu",
                        (unsigned long long)d, n, n_src);
    p->n_tgt_tokens[sp] += n - n_src;
    return rt_corpus_writer_add_pair(p->writer, sp, d, ids, n_src, ids + n_src * (size_t)p->w.unit,
                                     n - n_src);
}

/* One round: deal rank 0's records, tokenize, gather, write. *done 1 when the input is
   exhausted. */
static rt_status run_round(prep *p, int *done) {
    rt_status st = RT_OK;
    double t = MPI_Wtime();
    if (p->rank == 0) st = reader_round(&p->rd, &p->rb);
    p->t_read += MPI_Wtime() - t;
    RT_CALL(rt_mpi_agree(p->comm, st));
    uint64_t n_total = p->rank == 0 ? p->rb.nm : 0;
    rt_wd_bcast(&n_total, 1, MPI_UINT64_T, 0, p->comm, "round size (MPI_Bcast)");
    *done = n_total == 0;
    if (*done) return RT_OK;

    /* deal: rank k takes records [bound[k], bound[k+1]), balanced by bytes */
    int64_t mine[2] = {0, 0}; /* records, bytes */
    size_t *bound = NULL;
    if (p->rank == 0) {
        bound = malloc((size_t)(p->size + 1) * sizeof *bound);
        if (!bound) {
            fprintf(stderr, "ringtune prep: rank 0: out of memory\n");
            MPI_Abort(p->comm, 1); /* the other ranks wait in MPI_Recv: end the job */
        }
        uint64_t total = 0, pre = 0;
        for (size_t i = 0; i < p->rb.nm; i++) total += (uint64_t)p->rb.m[i].len + REC_WEIGHT;
        size_t i = 0;
        for (int k = 0; k < p->size; k++) {
            uint64_t target = total * (uint64_t)k / (uint64_t)p->size;
            while (i < p->rb.nm && pre < target) pre += (uint64_t)p->rb.m[i++].len + REC_WEIGHT;
            bound[k] = i;
        }
        bound[p->size] = p->rb.nm;
        size_t at = 0;
        for (int k = 0; k < p->size; k++) {
            size_t nb = 0;
            for (size_t j = bound[k]; j < bound[k + 1]; j++) nb += (size_t)p->rb.m[j].len;
            int64_t hdr[2] = {(int64_t)(bound[k + 1] - bound[k]), (int64_t)nb};
            if (k == 0) {
                mine[0] = hdr[0];
                mine[1] = hdr[1];
            } else {
                rt_wd_send(hdr, 2, MPI_INT64_T, k, TAG_META, p->comm, "round header (MPI_Send)");
                send_bytes(p->rb.m + bound[k], (size_t)hdr[0] * sizeof(recmeta), k, TAG_META,
                           p->comm);
                send_bytes(p->rb.bytes + at, nb, k, TAG_BYTES, p->comm);
            }
            at += nb;
        }
    } else {
        rt_wd_recv(mine, 2, MPI_INT64_T, 0, TAG_META, p->comm, "round header (MPI_Recv)");
        if (!grow((void **)&p->rb.m, &p->rb.capm, (size_t)mine[0] + 1, sizeof *p->rb.m) ||
            !grow((void **)&p->rb.bytes, &p->rb.cap, (size_t)mine[1] + 1, 1)) {
            /* cannot take the messages: end the job rather than leave rank 0 blocked in Send */
            fprintf(stderr, "ringtune prep: rank %d: out of memory for a round of %lld bytes\n",
                    p->rank, (long long)mine[1]);
            MPI_Abort(p->comm, 1);
        }
        recv_bytes(p->rb.m, (size_t)mine[0] * sizeof(recmeta), 0, TAG_META, p->comm);
        recv_bytes(p->rb.bytes, (size_t)mine[1], 0, TAG_BYTES, p->comm);
        p->rb.nm = (size_t)mine[0];
        p->rb.n = (size_t)mine[1];
    }

    /* tokenize this rank's records */
    worker *w = &p->w;
    w->ntok_bytes = 0;
    size_t nrec = (size_t)mine[0];
    if (!grow((void **)&w->ntok, &w->capntok, nrec + 1, sizeof *w->ntok) ||
        !grow((void **)&w->nsrc, &w->capnsrc, nrec + 1, sizeof *w->nsrc))
        st = rt_error(RT_ERR_MEMORY, "prep: out of memory");
    size_t at = 0;
    t = MPI_Wtime();
    for (size_t i = 0; i < nrec && st == RT_OK; i++) {
        /* an empty input file gives a 0-byte record and maybe no buffer (NULL + 0 is UB) */
        st = work_record(w, &p->rb.m[i], p->rb.bytes ? p->rb.bytes + at : "", &w->ntok[i],
                         &w->nsrc[i]);
        at += (size_t)p->rb.m[i].len;
    }
    double dt = MPI_Wtime() - t, dt_max = 0;
    rt_wd_reduce(&dt, &dt_max, 1, MPI_DOUBLE, MPI_MAX, 0, p->comm, "tokenizing time (MPI_Reduce)");
    p->t_tok += dt_max;
    if ((st = rt_mpi_agree(p->comm, st)) != RT_OK) {
        free(bound);
        return st;
    }

    /* gather ids to rank 0, in rank order = input order */
    if (p->rank != 0) {
        int64_t nb = (int64_t)w->ntok_bytes;
        rt_wd_send(&nb, 1, MPI_INT64_T, 0, TAG_NTOK, p->comm, "token count (MPI_Send)");
        send_bytes(w->ntok, nrec * sizeof *w->ntok, 0, TAG_NTOK, p->comm);
        if (p->pairs) send_bytes(w->nsrc, nrec * sizeof *w->nsrc, 0, TAG_NTOK, p->comm);
        send_bytes(w->tok, w->ntok_bytes, 0, TAG_TOKENS, p->comm);
    } else {
        if (!grow((void **)&p->all_ntok, &p->cap_all_ntok, p->rb.nm, sizeof *p->all_ntok) ||
            !grow((void **)&p->all_nsrc, &p->cap_all_nsrc, p->rb.nm, sizeof *p->all_nsrc)) {
            fprintf(stderr, "ringtune prep: rank 0: out of memory gathering a round\n");
            MPI_Abort(p->comm, 1);
        }
        memcpy(p->all_ntok, w->ntok, nrec * sizeof *w->ntok);
        memcpy(p->all_nsrc, w->nsrc, nrec * sizeof *w->nsrc);
        size_t others = 0; /* bytes of ids from ranks 1.. in all_tok */
        for (int k = 1; k < p->size; k++) {
            int64_t nb;
            rt_wd_recv(&nb, 1, MPI_INT64_T, k, TAG_NTOK, p->comm, "token count (MPI_Recv)");
            recv_bytes(p->all_ntok + bound[k], (bound[k + 1] - bound[k]) * sizeof *p->all_ntok, k,
                       TAG_NTOK, p->comm);
            if (p->pairs)
                recv_bytes(p->all_nsrc + bound[k], (bound[k + 1] - bound[k]) * sizeof *p->all_nsrc,
                           k, TAG_NTOK, p->comm);
            if (!grow((void **)&p->all_tok, &p->cap_all_tok, others + (size_t)nb + 1, 1)) {
                fprintf(stderr, "ringtune prep: rank 0: out of memory gathering a round\n");
                MPI_Abort(p->comm, 1);
            }
            recv_bytes(p->all_tok + others, (size_t)nb, k, TAG_TOKENS, p->comm);
            others += (size_t)nb;
        }
        /* rank 0's own ids are in w->tok, the other ranks' in all_tok, both in input order */
        t = MPI_Wtime();
        size_t off_own = 0, off_others = 0;
        for (size_t i = 0; i < p->rb.nm && st == RT_OK; i++) {
            size_t n = (size_t)p->all_ntok[i], nb = n * (size_t)w->unit;
            if (n == 0) continue;
            const unsigned char *ids;
            if (i < bound[1]) {
                ids = w->tok + off_own;
                off_own += nb;
            } else {
                ids = p->all_tok + off_others;
                off_others += nb;
            }
            uint64_t d = p->next_doc++;
            if (w->label_pass) {
                const recmeta *m = &p->rb.m[i];
                st = rt_prep_labeling_add(&p->lab, p->files.v[m->file], m->line, ids, n);
            } else if (p->labeled) {
                st = d < p->lab.n
                         ? rt_corpus_writer_add_labeled(
                               p->writer, p->lab.is_val[d] ? RT_SPLIT_VALIDATION : RT_SPLIT_TRAIN,
                               d, p->lab.doc_label[d], ids, n)
                         : rt_error(RT_ERR_INTERNAL,
                                    "prep: more examples than the label pass found");
            } else {
                rt_corpus_split sp = rt_prep_is_validation(p->o.split_seed, d, p->o.val_ratio)
                                         ? RT_SPLIT_VALIDATION
                                         : RT_SPLIT_TRAIN;
                st = p->pairs ? write_pair(p, sp, d, ids, n, (size_t)p->all_nsrc[i])
                              : rt_corpus_writer_add(p->writer, sp, d, ids, n);
            }
        }
        p->t_write += MPI_Wtime() - t;
        if (!w->label_pass) progress(p, 0);
    }
    free(bound);
    return rt_mpi_agree(p->comm, st);
}

/* The tokens kept per example: --max-length, else the tokenizer directory's
   tokenizer_config.json "model_max_length" when it is a sane integer (transformers writes 1e30
   for "no limit"), else 1024. The same on every rank. */
static int default_max_length(const rt_prep_opts *o) {
    if (o->max_length > 0) return o->max_length;
    int n = 1024;
    char *path = o->tokenizer_dir ? rt_fs_join(o->tokenizer_dir, "tokenizer_config.json") : NULL;
    json_t *j = path && rt_fs_exists(path) ? json_load_file(path, 0, NULL) : NULL;
    json_t *v = j ? json_object_get(j, "model_max_length") : NULL;
    if (v && json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= (1 << 24))
        n = (int)json_integer_value(v);
    json_decref(j);
    free(path);
    return n;
}

/* Kind "labeled": the first pass over the input, reading only the labels (so that the label set
   and the stratified split are known before the first example is written), then the writer.
   Collective over p->comm. */
static rt_status label_pass(prep *p) {
    double t = MPI_Wtime();
    rt_status st = RT_OK;
    if (p->rank == 0 && !p->o.overwrite && rt_fs_exists(p->o.out))
        st = rt_error(RT_ERR_IO, "output %s exists; pass --overwrite to replace it", p->o.out);
    st = rt_mpi_agree(p->comm, st);
    p->lab.lab_kind = -1;
    p->w.label_pass = 1;
    p->w.unit = 1;
    int done = 0;
    while (st == RT_OK && !done) st = run_round(p, &done);
    if (st == RT_OK)
        st = rt_mpi_agree(p->comm, p->rank ? RT_OK : rt_prep_labeling_finish(&p->lab, &p->o));
    /* the second pass reads everything again and counts again */
    if (p->rd.f) fclose(p->rd.f);
    p->rd.f = NULL;
    p->rd.fi = 0;
    p->rd.done = 0;
    p->rd.off = 0;
    p->w.n_empty = p->w.n_bad_json = p->w.n_replaced = p->w.n_bad_label = p->w.n_truncated = 0;
    p->next_doc = 0;
    p->w.label_pass = 0;
    p->w.unit = p->w.tbytes;
    if (st == RT_OK && p->o.progress && p->rank == 0)
        fprintf(p->o.progress, "prep: labels: %d classes (%s), %llu examples, %.2f s\n",
                p->lab.num_labels, p->lab.label_order, (unsigned long long)p->lab.n,
                MPI_Wtime() - t);
    if (st == RT_OK) st = create_writer(p);
    p->t_labels = MPI_Wtime() - t;
    return st;
}

static void prep_free(prep *p) {
    rt_corpus_writer_abort(&p->writer);
    /* no rank returns before rank 0 has removed an uncommitted temp file */
    if (p->comm != MPI_COMM_NULL) rt_wd_barrier(p->comm, "prep end (MPI_Barrier)");
    if (p->rd.f) fclose(p->rd.f);
    free(p->rd.lbuf);
    strvec_free(&p->files);
    free(p->sizes);
    rt_bpe_scratch_destroy(&p->w.scratch);
    rt_bpe_destroy(&p->owned_bpe);
    rt_spm_destroy(&p->spm);
    rt_prep_pair_buf_free(&p->w.pb);
    free(p->w.nsrc);
    free(p->all_nsrc);
    free(p->w.ids);
    free(p->w.clean);
    free(p->w.tok);
    free(p->w.ntok);
    free(p->rb.bytes);
    free(p->rb.m);
    free(p->all_ntok);
    free(p->all_tok);
    rt_prep_labeling_free(&p->lab);
    if (p->comm != MPI_COMM_NULL) MPI_Comm_free(&p->comm);
}

rt_status rt_prep_run(const rt_prep_opts *opts, MPI_Comm comm, rt_prep_result *res) {
    prep p;
    memset(&p, 0, sizeof p);
    p.o = *opts;
    p.comm = MPI_COMM_NULL;
    MPI_Comm_dup(comm, &p.comm); /* our tags never meet the caller's messages */
    MPI_Comm_rank(p.comm, &p.rank);
    MPI_Comm_size(p.comm, &p.size);
    p.t0 = p.last_print = MPI_Wtime();
    if (res) memset(res, 0, sizeof *res);

    rt_status st = rt_mpi_agree(p.comm, check_opts(&p.o));
    /* every wait of prep under the watchdog (--timeout-s) */
    if (st == RT_OK)
        st = rt_mpi_agree(p.comm, rt_watchdog_start(p.comm, p.o.timeout_s, "--timeout-s"));
    if (st == RT_OK) rt_watchdog_phase("prep");
    p.pairs = rt_prep_is_pairs(&p.o);
    if (st == RT_OK) st = share_inputs(&p);
    if (st == RT_OK) st = load_tokenizer(&p);
    if (st == RT_OK) {
        p.w.o = &p.o;
        p.w.files = &p.files;
        p.w.bpe = p.bpe;
        p.w.spm = p.spm;
        p.w.vocab = p.pairs ? rt_spm_vocab_size(p.spm) : rt_bpe_vocab_size(p.bpe);
        p.w.eos = p.pairs ? rt_spm_eos_id(p.spm) : rt_bpe_eos_id(p.bpe);
        p.w.tbytes = p.w.unit = rt_corpus_token_bytes(p.w.vocab);
        p.w.max_len = default_max_length(&p.o);
        p.labeled = p.o.label_field != NULL;
        p.rd.o = &p.o;
        p.rd.files = &p.files;
        p.rd.sizes = p.sizes;
        if (!p.labeled) st = create_writer(&p);
    }
    p.t_setup = MPI_Wtime() - p.t0;
    if (st == RT_OK && p.labeled) st = label_pass(&p);
    int done = 0;
    while (st == RT_OK && !done) st = run_round(&p, &done);

    uint64_t local[7] = {p.w.n_empty,     p.w.n_bad_json, p.w.n_replaced, p.w.n_truncated,
                         p.w.n_bad_label, p.w.n_cut_src,  p.w.n_cut_tgt},
             sum[7] = {0, 0, 0, 0, 0, 0, 0};
    rt_prep_result r;
    memset(&r, 0, sizeof r);
    if (st == RT_OK) {
        rt_wd_allreduce(local, sum, 7, MPI_UINT64_T, MPI_SUM, p.comm,
                        "skip counts (MPI_Allreduce)");
        if (p.rank == 0) {
            for (int k = 0; k < 2; k++) {
                r.n_docs[k] = rt_corpus_writer_n_docs(p.writer, (rt_corpus_split)k);
                r.n_tokens[k] = rt_corpus_writer_n_tokens(p.writer, (rt_corpus_split)k);
            }
            rt_corpus_counts counts = {sum[0], sum[1], sum[2], sum[3], sum[4], sum[5], sum[6]};
            r.num_labels = p.lab.num_labels;
            r.n_target_tokens[0] = p.n_tgt_tokens[0];
            r.n_target_tokens[1] = p.n_tgt_tokens[1];
            if (p.labeled && p.lab.n != r.n_docs[0] + r.n_docs[1])
                st = rt_error(RT_ERR_INTERNAL,
                              "prep: the label pass found %llu examples, the "
                              "second pass %llu",
                              (unsigned long long)p.lab.n,
                              (unsigned long long)(r.n_docs[0] + r.n_docs[1]));
            progress(&p, 1);
            double t = MPI_Wtime();
            if (st == RT_OK) st = rt_corpus_writer_commit(&p.writer, &counts);
            p.t_write += MPI_Wtime() - t;
            r.t_read = p.t_read;
            r.t_write = p.t_write;
            r.t_tokenize = p.t_tok;
        }
        st = rt_mpi_agree(p.comm, st);
    }
    if (st == RT_OK) {
        rt_wd_bcast(&r, (int)sizeof r, MPI_BYTE, 0, p.comm, "result (MPI_Bcast)");
        r.n_files = p.files.n;
        r.bytes_in = p.total_bytes;
        r.n_documents = r.n_docs[0] + r.n_docs[1];
        r.n_skipped_empty = sum[0];
        r.n_skipped_bad_json = sum[1];
        r.n_replaced_utf8 = sum[2];
        r.n_truncated = sum[3];
        r.n_skipped_bad_label = sum[4];
        r.max_length = p.labeled ? p.w.max_len : 0;
        r.n_truncated_source = sum[5];
        r.n_truncated_target = sum[6];
        r.max_source_len = p.pairs ? p.o.max_source_len : 0;
        r.max_target_len = p.pairs ? p.o.max_target_len : 0;
        r.t_labels = p.t_labels;
        r.token_bytes = p.w.tbytes;
        r.n_ranks = p.size;
        r.seconds = MPI_Wtime() - p.t0;
        r.t_setup = p.t_setup;
        if (res) *res = r;
    }
    prep_free(&p); /* aborts (removes the temp file) if the writer was not committed */
    return st;
}
