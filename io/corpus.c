/* The HDF5 corpus (io/CORPUS.md): a serial, chunk-buffered writer that commits through a temp
   file, and a validating reader with hyperslab reads. HDF5's own error printing is switched off
   inside these functions; failures are turned into one rt_error message naming the file. */
#include "mpiagree.h"
#include "corpus.h"
#include <xxhash.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <hdf5.h>
#include "corpus_check.h"
#include "corpus_labels.h"
#include "corpus_pairs.h"
#include "fsutil.h"
#include "h5util.h"

#ifndef RT_VERSION
#define RT_VERSION "unknown"
#endif

/* Reader chunk cache per dataset: 8 MiB holds 64 default chunks of uint16 tokens. */
#define CACHE_BYTES (8u << 20)
#define CACHE_SLOTS 1009 /* prime, ~16x the chunks that fit */

static const char *const split_names[2] = {"train", "validation"};

int rt_corpus_token_bytes(int vocab_size) {
    return vocab_size <= 65536 ? 2 : 4;
}

const char *rt_corpus_split_name(rt_corpus_split s) {
    return (unsigned)s < 2 ? split_names[s] : "?";
}

/* ---- writer ------------------------------------------------------------------------------- */

typedef struct {
    hid_t grp, tokens, offsets, index;
    unsigned char *tbuf; /* (chunk * tbytes) buffered token ids */
    uint64_t *obuf;      /* (chunk) buffered doc_offsets entries */
    uint64_t *ibuf;      /* (chunk) buffered doc_index entries */
    size_t tlen, olen, ilen;
    uint64_t t_done, o_done, i_done; /* elements already written to each dataset */
    uint64_t n_docs, n_tokens;
} wsplit;

struct rt_corpus_writer {
    char *path, *tmp;
    int overwrite;
    hid_t file;
    hid_t ftype, mtype; /* token id type in the file / in memory */
    int tbytes;
    size_t chunk;
    wsplit sp[2];
    rt_corpus_info info;     /* the attribute values, for RT_CORPUS_HASH_ATTR (strings owned) */
    rt_corpus_wlabels *lab;  /* kind "labeled" (io/corpus_labels.c), else NULL */
    rt_corpus_wpairs *pairs; /* kind "pairs" (io/corpus_pairs.c), else NULL */
};

static hid_t make_dataset(hid_t grp, const char *name, hid_t ftype, size_t chunk) {
    hsize_t dims = 0, maxdims = H5S_UNLIMITED, c = chunk;
    hid_t s = H5Screate_simple(1, &dims, &maxdims);
    hid_t p = H5Pcreate(H5P_DATASET_CREATE);
    hid_t d = -1;
    if (s >= 0 && p >= 0 && H5Pset_chunk(p, 1, &c) >= 0 && H5Pset_fletcher32(p) >= 0 &&
        H5Pset_fill_time(p, H5D_FILL_TIME_NEVER) >= 0 && H5Pset_obj_track_times(p, 0) >= 0)
        d = H5Dcreate2(grp, name, ftype, s, H5P_DEFAULT, p, H5P_DEFAULT);
    if (p >= 0) H5Pclose(p);
    if (s >= 0) H5Sclose(s);
    return d;
}

/* Appends n elements of buf to the 1-D dataset d that holds *done elements. */
static int append(hid_t d, hid_t mtype, const void *buf, uint64_t *done, size_t n) {
    if (n == 0) return 1;
    hsize_t start = *done, count = n, size = *done + n;
    if (H5Dset_extent(d, &size) < 0) return 0;
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, &count, NULL);
    int ok = fs >= 0 && ms >= 0 &&
             H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL) >= 0 &&
             H5Dwrite(d, mtype, ms, fs, H5P_DEFAULT, buf) >= 0;
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    if (ok) *done += n;
    return ok;
}

static void writer_free(rt_corpus_writer *w) {
    rt_corpus_wlabels_free(&w->lab);
    rt_corpus_wpairs_free(&w->pairs);
    rt_corpus_info_labels_free(&w->info);
    rt_corpus_info_pairs_free(&w->info);
    for (int k = 0; k < 2; k++) {
        wsplit *s = &w->sp[k];
        rt_h5_close(&s->tokens, H5Dclose);
        rt_h5_close(&s->offsets, H5Dclose);
        rt_h5_close(&s->index, H5Dclose);
        rt_h5_close(&s->grp, H5Gclose);
        free(s->tbuf);
        free(s->obuf);
        free(s->ibuf);
    }
    rt_h5_close(&w->file, H5Fclose);
    free(w->info.sources);
    free(w->info.command_line);
    free(w->info.ringtune_version);
    free(w->path);
    free(w->tmp);
    free(w);
}

static int valid_sha(const char *s) {
    if (!s || strlen(s) != 64) return 0;
    for (int i = 0; i < 64; i++)
        if (!strchr("0123456789abcdef", s[i])) return 0;
    return 1;
}

rt_status rt_corpus_writer_create(rt_corpus_writer **out, const char *path, int overwrite,
                                  const rt_corpus_meta *m) {
    *out = NULL;
    if (!path || !*path) return rt_error(RT_ERR_ARG, "corpus writer: no output path");
    if (!m || m->vocab_size <= 0 || m->eos_id < 0 || m->eos_id >= m->vocab_size)
        return rt_error(RT_ERR_ARG, "%s: eos id %d outside the vocabulary of %d", path,
                        m ? m->eos_id : -1, m ? m->vocab_size : 0);
    if (!valid_sha(m->tokenizer_sha256))
        return rt_error(RT_ERR_ARG, "%s: tokenizer sha256 '%s' is not 64 lowercase hex digits",
                        path, m->tokenizer_sha256 ? m->tokenizer_sha256 : "(null)");
    if (!(m->validation_ratio >= 0 && m->validation_ratio <= 1))
        return rt_error(RT_ERR_ARG, "%s: validation ratio %g outside [0, 1]", path,
                        m->validation_ratio);
    if (m->split_seed > (uint64_t)INT64_MAX)
        return rt_error(RT_ERR_ARG, "%s: split seed %llu does not fit in int64", path,
                        (unsigned long long)m->split_seed);
    const char *kind = m->kind ? m->kind : "text";
    if (strcmp(kind, "text") != 0 && strcmp(kind, "labeled") != 0 && strcmp(kind, "pairs") != 0)
        return rt_error(RT_ERR_ARG, "%s: corpus kind '%s' is not text, labeled or pairs", path,
                        kind);
    if (!strcmp(kind, "labeled") != (m->labels != NULL))
        return rt_error(RT_ERR_ARG, "%s: label metadata %s for corpus kind '%s'", path,
                        m->labels ? "given" : "missing", kind);
    if (!strcmp(kind, "pairs") != (m->pairs != NULL))
        return rt_error(RT_ERR_ARG, "%s: pair metadata %s for corpus kind '%s'", path,
                        m->pairs ? "given" : "missing", kind);
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return rt_error(RT_ERR_IO, "output %s is a directory", path);
        if (!overwrite)
            return rt_error(RT_ERR_IO, "output %s exists; pass --overwrite to replace it", path);
    }

    rt_corpus_writer *w = calloc(1, sizeof *w);
    if (!w) return rt_error(RT_ERR_MEMORY, "corpus writer: out of memory");
    w->file = H5I_INVALID_HID;
    for (int k = 0; k < 2; k++)
        w->sp[k].grp = w->sp[k].tokens = w->sp[k].offsets = w->sp[k].index = H5I_INVALID_HID;
    w->overwrite = overwrite;
    w->chunk = m->chunk ? m->chunk : RT_CORPUS_CHUNK_DEFAULT;
    w->tbytes = rt_corpus_token_bytes(m->vocab_size);
    w->ftype = w->tbytes == 2 ? H5T_STD_U16LE : H5T_STD_U32LE;
    w->mtype = w->tbytes == 2 ? H5T_NATIVE_UINT16 : H5T_NATIVE_UINT32;
    w->path = strdup(path);
    size_t tn = strlen(path) + 32;
    w->tmp = malloc(tn);
    rt_corpus_info *in = &w->info;
    in->format_version = RT_CORPUS_FORMAT_VERSION;
    snprintf(in->kind, sizeof in->kind, "%s", kind);
    in->vocab_size = m->vocab_size;
    in->eos_id = m->eos_id;
    in->token_bytes = w->tbytes;
    snprintf(in->tokenizer_sha256, sizeof in->tokenizer_sha256, "%s", m->tokenizer_sha256);
    in->split_seed = m->split_seed;
    in->validation_ratio = m->validation_ratio;
    in->sources = strdup(m->sources ? m->sources : "");
    in->command_line = strdup(m->command_line ? m->command_line : "");
    in->ringtune_version = strdup(RT_VERSION);
    if (!w->path || !w->tmp || !in->sources || !in->command_line || !in->ringtune_version) {
        writer_free(w);
        return rt_error(RT_ERR_MEMORY, "corpus writer: out of memory");
    }
    snprintf(w->tmp, tn, "%s.tmp.%ld", path, (long)getpid());
    for (int k = 0; k < 2; k++) {
        wsplit *s = &w->sp[k];
        s->tbuf = malloc(w->chunk * (size_t)w->tbytes);
        s->obuf = malloc(w->chunk * sizeof *s->obuf);
        s->ibuf = malloc(w->chunk * sizeof *s->ibuf);
        if (!s->tbuf || !s->obuf || !s->ibuf) {
            writer_free(w);
            return rt_error(RT_ERR_MEMORY, "corpus writer: out of memory for %zu-element chunks",
                            w->chunk);
        }
        s->obuf[s->olen++] = 0; /* doc_offsets starts at 0 */
    }

    rt_h5quiet q;
    rt_h5_quiet_on(&q);
    rt_status st_ = RT_OK;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), fcpl = H5Pcreate(H5P_FILE_CREATE);
    /* the checksummed file format (io/CORPUS.md); all root attributes in the root group's
       object header (checksummed) rather than in dense storage */
    if (fapl >= 0 && fcpl >= 0 && rt_h5_file_access(fapl) && rt_h5_checksummed_format(fapl) &&
        H5Pset_attr_phase_change(fcpl, 64, 48) >= 0 && H5Pset_obj_track_times(fcpl, 0) >= 0)
        w->file = H5Fcreate(w->tmp, H5F_ACC_EXCL, fcpl, fapl);
    if (fcpl >= 0) H5Pclose(fcpl);
    if (fapl >= 0) H5Pclose(fapl);
    if (w->file < 0) {
        st_ = rt_h5_fail("cannot create %s", w->tmp);
        free(w->tmp); /* nothing was created: do not remove someone else's file */
        w->tmp = NULL;
        writer_free(w);
        rt_h5_quiet_off(&q);
        return st_;
    }
    char dtype[8];
    snprintf(dtype, sizeof dtype, "uint%d", 8 * w->tbytes);
    hid_t f = w->file;
    /* fixed-length strings: stored in the attribute messages themselves, which the object header
       checksum covers (variable-length ones live in the unchecksummed global heap) */
    int ok = rt_h5_put_fixed_str(f, "format", RT_CORPUS_FORMAT) &&
             rt_h5_put_i32(f, "format_version", RT_CORPUS_FORMAT_VERSION) &&
             rt_h5_put_fixed_str(f, "kind", kind) &&
             rt_h5_put_i32(f, "vocab_size", m->vocab_size) &&
             rt_h5_put_i32(f, "eos_id", m->eos_id) &&
             rt_h5_put_fixed_str(f, "tokenizer_sha256", m->tokenizer_sha256) &&
             rt_h5_put_fixed_str(f, "token_dtype", dtype) &&
             rt_h5_put_fixed_utf8(f, "sources", in->sources) &&
             rt_h5_put_i64(f, "split_seed", (int64_t)m->split_seed) &&
             rt_h5_put_f64(f, "validation_ratio", m->validation_ratio) &&
             rt_h5_put_fixed_utf8(f, "ringtune_version", in->ringtune_version) &&
             rt_h5_put_fixed_utf8(f, "command_line", in->command_line);
    hid_t gcpl = ok ? H5Pcreate(H5P_GROUP_CREATE) : -1;
    ok = ok && gcpl >= 0 && H5Pset_obj_track_times(gcpl, 0) >= 0;
    for (int k = 0; k < 2 && ok; k++) {
        wsplit *s = &w->sp[k];
        s->grp = H5Gcreate2(f, split_names[k], H5P_DEFAULT, gcpl, H5P_DEFAULT);
        ok = s->grp >= 0 && (s->tokens = make_dataset(s->grp, "tokens", w->ftype, w->chunk)) >= 0 &&
             (s->offsets = make_dataset(s->grp, "doc_offsets", H5T_STD_U64LE, w->chunk)) >= 0 &&
             (s->index = make_dataset(s->grp, "doc_index", H5T_STD_U64LE, w->chunk)) >= 0;
    }
    if (gcpl >= 0) H5Pclose(gcpl);
    if (!ok) st_ = rt_h5_fail("cannot lay out the corpus in %s", w->tmp);
    if (ok && m->labels) {
        hid_t grp[2] = {w->sp[0].grp, w->sp[1].grp};
        st_ = rt_corpus_wlabels_create(&w->lab, f, grp, w->tmp, m->labels, w->chunk, in);
        ok = st_ == RT_OK;
    }
    if (ok && m->pairs) {
        hid_t grp[2] = {w->sp[0].grp, w->sp[1].grp};
        st_ = rt_corpus_wpairs_create(&w->pairs, f, grp, w->tmp, m->pairs, w->ftype, w->mtype,
                                      w->tbytes, w->chunk, in);
        ok = st_ == RT_OK;
    }
    if (!ok) {
        rt_corpus_writer_abort(&w);
        rt_h5_quiet_off(&q);
        return st_;
    }
    rt_h5_quiet_off(&q);
    *out = w;
    return RT_OK;
}

int rt_corpus_writer_token_bytes(const rt_corpus_writer *w) {
    return w->tbytes;
}

uint64_t rt_corpus_writer_n_docs(const rt_corpus_writer *w, rt_corpus_split split) {
    return w->sp[split].n_docs;
}

uint64_t rt_corpus_writer_n_tokens(const rt_corpus_writer *w, rt_corpus_split split) {
    return w->sp[split].n_tokens;
}

/* Writes the full buffers of split k (all buffers when all != 0). */
static rt_status flush_split(rt_corpus_writer *w, int k, int all) {
    wsplit *s = &w->sp[k];
    if ((all || s->tlen == w->chunk) && !append(s->tokens, w->mtype, s->tbuf, &s->t_done, s->tlen))
        return rt_h5_fail("%s: cannot write /%s/tokens", w->tmp, split_names[k]);
    if (all || s->tlen == w->chunk) s->tlen = 0;
    if ((all || s->olen == w->chunk) &&
        !append(s->offsets, H5T_NATIVE_UINT64, s->obuf, &s->o_done, s->olen))
        return rt_h5_fail("%s: cannot write /%s/doc_offsets", w->tmp, split_names[k]);
    if (all || s->olen == w->chunk) s->olen = 0;
    if ((all || s->ilen == w->chunk) &&
        !append(s->index, H5T_NATIVE_UINT64, s->ibuf, &s->i_done, s->ilen))
        return rt_h5_fail("%s: cannot write /%s/doc_index", w->tmp, split_names[k]);
    if (all || s->ilen == w->chunk) s->ilen = 0;
    return RT_OK;
}

static rt_status writer_add(rt_corpus_writer *w, rt_corpus_split split, uint64_t doc_index,
                            const void *tokens, size_t n);

rt_status rt_corpus_writer_add(rt_corpus_writer *w, rt_corpus_split split, uint64_t doc_index,
                               const void *tokens, size_t n) {
    if (w->lab)
        return rt_error(RT_ERR_ARG, "%s: a labeled corpus takes documents with their labels",
                        w->path);
    if (w->pairs)
        return rt_error(RT_ERR_ARG, "%s: a pairs corpus takes pairs (rt_corpus_writer_add_pair)",
                        w->path);
    return writer_add(w, split, doc_index, tokens, n);
}

/* Id i of the tbytes-wide ids at p. */
static uint32_t id_at(const void *p, int tbytes, size_t i) {
    if (tbytes == 2) {
        uint16_t v;
        memcpy(&v, (const unsigned char *)p + 2 * i, 2);
        return v;
    }
    uint32_t v;
    memcpy(&v, (const unsigned char *)p + 4 * i, 4);
    return v;
}

/* One side of a pair: 1..max ids (max 0: no limit), the last one eos. */
static rt_status check_side(const rt_corpus_writer *w, uint64_t doc_index, const char *side,
                            const void *ids, size_t n, int max) {
    if (n == 0)
        return rt_error(RT_ERR_ARG, "%s: pair %llu: the %s is empty", w->path,
                        (unsigned long long)doc_index, side);
    if (max > 0 && n > (size_t)max)
        return rt_error(RT_ERR_ARG,
                        "%s: pair %llu: the %s has %zu tokens, more than max_%s_length %d", w->path,
                        (unsigned long long)doc_index, side, n, side, max);
    uint32_t last = id_at(ids, w->tbytes, n - 1);
    if (last != (uint32_t)w->info.eos_id)
        return rt_error(RT_ERR_ARG, "%s: pair %llu: the %s ends in id %u, not eos %d", w->path,
                        (unsigned long long)doc_index, side, last, w->info.eos_id);
    return RT_OK;
}

rt_status rt_corpus_writer_add_pair(rt_corpus_writer *w, rt_corpus_split split, uint64_t doc_index,
                                    const void *src, size_t n_src, const void *tgt, size_t n_tgt) {
    if (!w->pairs)
        return rt_error(RT_ERR_ARG, "%s: a %s corpus has no pairs", w->path, w->info.kind);
    if ((unsigned)split > 1)
        return rt_error(RT_ERR_ARG, "%s: pair %llu: bad split %d", w->path,
                        (unsigned long long)doc_index, (int)split);
    RT_CALL(check_side(w, doc_index, "source", src, n_src, w->info.max_source_length));
    RT_CALL(check_side(w, doc_index, "target", tgt, n_tgt, w->info.max_target_length));
    RT_CALL(writer_add(w, split, doc_index, src, n_src));
    rt_h5quiet q;
    rt_h5_quiet_on(&q);
    rt_status st = rt_corpus_wpairs_add(w->pairs, (int)split, tgt, n_tgt, w->tmp);
    rt_h5_quiet_off(&q);
    return st;
}

rt_status rt_corpus_writer_add_labeled(rt_corpus_writer *w, rt_corpus_split split,
                                       uint64_t doc_index, int32_t label, const void *tokens,
                                       size_t n) {
    if (!w->lab)
        return rt_error(RT_ERR_ARG, "%s: a %s corpus has no labels", w->path, w->info.kind);
    if ((unsigned)split > 1 || label < 0 || label >= w->info.num_labels)
        return rt_error(RT_ERR_ARG, "%s: document %llu: bad split %d or label %d outside [0, %d)",
                        w->path, (unsigned long long)doc_index, (int)split, label,
                        w->info.num_labels);
    if (n > (size_t)w->info.max_length)
        return rt_error(RT_ERR_ARG, "%s: document %llu has %zu tokens, more than max_length %d",
                        w->path, (unsigned long long)doc_index, n, w->info.max_length);
    RT_CALL(writer_add(w, split, doc_index, tokens, n));
    rt_h5quiet q;
    rt_h5_quiet_on(&q);
    rt_status st = rt_corpus_wlabels_add(w->lab, (int)split, label, w->tmp);
    rt_h5_quiet_off(&q);
    return st;
}

static rt_status writer_add(rt_corpus_writer *w, rt_corpus_split split, uint64_t doc_index,
                            const void *tokens, size_t n) {
    if ((unsigned)split > 1 || n == 0)
        return rt_error(RT_ERR_ARG, "corpus writer: bad split %d or empty document %llu",
                        (int)split, (unsigned long long)doc_index);
    wsplit *s = &w->sp[split];
    rt_h5quiet q;
    rt_h5_quiet_on(&q);
    rt_status st = RT_OK;
    const unsigned char *p = tokens;
    size_t left = n;
    while (left > 0 && st == RT_OK) {
        size_t take = w->chunk - s->tlen;
        if (take > left) take = left;
        memcpy(s->tbuf + s->tlen * (size_t)w->tbytes, p, take * (size_t)w->tbytes);
        s->tlen += take;
        p += take * (size_t)w->tbytes;
        left -= take;
        if (s->tlen == w->chunk) st = flush_split(w, split, 0);
    }
    if (st == RT_OK) {
        s->n_tokens += n;
        s->n_docs++;
        s->obuf[s->olen++] = s->n_tokens;
        s->ibuf[s->ilen++] = doc_index;
        st = flush_split(w, split, 0);
    }
    rt_h5_quiet_off(&q);
    return st;
}

static void fsync_path(const char *path, int dir) {
    int fd = open(path, dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Moves tmp to path: rename when overwriting; otherwise link (fails if path exists) + unlink, or,
   where the file system has no hard links, an existence check + rename. */
static rt_status move_into_place(const char *tmp, const char *path, int overwrite) {
    if (!overwrite) {
        if (link(tmp, path) == 0) {
            unlink(tmp);
            return RT_OK;
        }
        if (errno == EEXIST)
            return rt_error(RT_ERR_IO, "output %s appeared while prep ran; pass --overwrite", path);
        if (rt_fs_exists(path))
            return rt_error(RT_ERR_IO, "output %s exists; pass --overwrite to replace it", path);
    }
    if (rename(tmp, path) != 0)
        return rt_error(RT_ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    return RT_OK;
}

rt_status rt_corpus_writer_commit(rt_corpus_writer **wp, const rt_corpus_counts *counts) {
    rt_corpus_writer *w = *wp;
    if (!w) return rt_error(RT_ERR_ARG, "corpus writer: commit without a writer");
    rt_h5quiet q;
    rt_h5_quiet_on(&q);
    rt_status st = flush_split(w, 0, 1);
    if (st == RT_OK) st = flush_split(w, 1, 1);
    rt_corpus_counts zero = {0};
    if (!counts) counts = &zero;
    rt_corpus_info *in = &w->info;
    in->n_documents = w->sp[0].n_docs + w->sp[1].n_docs;
    in->n_skipped_empty = counts->n_skipped_empty;
    in->n_skipped_bad_json = counts->n_skipped_bad_json;
    in->n_replaced_utf8 = counts->n_replaced_utf8;
    for (int k = 0; k < 2; k++) {
        in->n_docs[k] = w->sp[k].n_docs;
        in->n_tokens[k] = w->sp[k].n_tokens;
    }
    if (st == RT_OK && w->lab) {
        hid_t grp[2] = {w->sp[0].grp, w->sp[1].grp};
        st = rt_corpus_wlabels_commit(w->lab, w->file, grp, w->tmp, counts, in);
    }
    if (st == RT_OK && w->pairs)
        st = rt_corpus_wpairs_commit(w->pairs, w->file, w->tmp, counts, in);
    uint64_t hash = rt_corpus_info_hash(in);
    if (st == RT_OK &&
        !(rt_h5_put_i64(w->file, "n_documents", (int64_t)in->n_documents) &&
          rt_h5_put_i64(w->file, "n_skipped_empty", (int64_t)counts->n_skipped_empty) &&
          rt_h5_put_i64(w->file, "n_skipped_bad_json", (int64_t)counts->n_skipped_bad_json) &&
          rt_h5_put_i64(w->file, "n_replaced_utf8", (int64_t)counts->n_replaced_utf8) &&
          rt_h5_put_attr(w->file, RT_CORPUS_HASH_ATTR, H5T_STD_U64LE, H5T_NATIVE_UINT64, &hash)))
        st = rt_h5_fail("%s: cannot write the count attributes", w->tmp);
    for (int k = 0; k < 2; k++) {
        wsplit *s = &w->sp[k];
        hid_t *ids[4] = {&s->tokens, &s->offsets, &s->index, &s->grp};
        for (int i = 0; i < 4; i++) {
            if (*ids[i] >= 0 && (i < 3 ? H5Dclose(*ids[i]) : H5Gclose(*ids[i])) < 0 && st == RT_OK)
                st = rt_h5_fail("%s: cannot close /%s", w->tmp, split_names[k]);
            *ids[i] = H5I_INVALID_HID;
        }
    }
    if (w->file >= 0 && H5Fclose(w->file) < 0 && st == RT_OK)
        st = rt_h5_fail("%s: cannot close the file", w->tmp);
    w->file = H5I_INVALID_HID;
    rt_h5_quiet_off(&q);
    if (st == RT_OK) {
        fsync_path(w->tmp, 0);
        st = move_into_place(w->tmp, w->path, w->overwrite);
    }
    if (st == RT_OK) {
        char *dir = strdup(w->path);
        if (dir) {
            char *slash = strrchr(dir, '/');
            if (!slash)
                strcpy(dir, ".");
            else
                slash[slash == dir] = 0;
            fsync_path(dir, 1);
            free(dir);
        }
    } else {
        unlink(w->tmp);
    }
    writer_free(w);
    *wp = NULL;
    return st;
}

void rt_corpus_writer_abort(rt_corpus_writer **wp) {
    rt_corpus_writer *w = *wp;
    if (!w) return;
    rt_h5quiet q;
    rt_h5_quiet_on(&q);
    char *tmp = w->tmp;
    w->tmp = NULL;
    writer_free(w); /* closes the file before it is removed */
    H5Eclear2(H5E_DEFAULT);
    rt_h5_quiet_off(&q);
    if (tmp) unlink(tmp);
    free(tmp);
    *wp = NULL;
}

/* ---- reader ------------------------------------------------------------------------------- */

struct rt_corpus {
    char *path;
    hid_t file;
    hid_t tokens[2], offsets[2], index[2];
    rt_corpus_info info;
    rt_corpus_file_id fid;   /* the file HDF5 opened, checked after every read */
    rt_corpus_rlabels *lab;  /* kind "labeled" (io/corpus_labels.c), else NULL */
    rt_corpus_rpairs *pairs; /* kind "pairs" (io/corpus_pairs.c), else NULL */
};

static const char *const rebuild = "the corpus file is damaged; rebuild it with `ringtune prep`";

/* rt_h5_fail for the reader: a checksum failure on HDF5's error stack is named as such, with
   what to do about it. */
static rt_status h5_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static rt_status h5_fail(const char *fmt, ...) {
    char what[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int sum = rt_h5_checksum_failure();
    if (!sum) return rt_h5_fail("%s", what);
    H5Eclear2(H5E_DEFAULT);
    return rt_error(RT_ERR_HDF5, "%s: HDF5 %s checksum failure: %s", what,
                    sum == RT_H5_DATA_CHECKSUM ? "data (fletcher32)" : "metadata", rebuild);
}

/* The error of a failed read of /split/what[a, b): the file changing under the reader first (it
   explains any HDF5 error), then a checksum failure, then HDF5's own description. */
static rt_status read_fail(const rt_corpus *c, int k, const char *what, uint64_t a, uint64_t b) {
    rt_status st = rt_corpus_file_check(c->path, &c->fid);
    int sum = st == RT_OK ? rt_h5_checksum_failure() : 0;
    if (st != RT_OK || sum) H5Eclear2(H5E_DEFAULT);
    if (st != RT_OK) return st;
    if (sum == RT_H5_DATA_CHECKSUM)
        return rt_error(RT_ERR_HDF5,
                        "%s: checksum failure (fletcher32) in dataset /%s/%s, elements [%llu, "
                        "%llu): %s",
                        c->path, split_names[k], what, (unsigned long long)a, (unsigned long long)b,
                        rebuild);
    return h5_fail("%s: cannot read /%s/%s[%llu, %llu)", c->path, split_names[k], what,
                   (unsigned long long)a, (unsigned long long)b);
}

static const char *const not_corpus = " (is this a corpus written by `ringtune prep`?)";

static rt_status attr_open(const rt_corpus *c, const char *name, H5T_class_t cls, const char *what,
                           hid_t *a) {
    *a = H5I_INVALID_HID;
    htri_t there = H5Aexists(c->file, name);
    if (there < 0) return h5_fail("%s: cannot look up attribute '%s'", c->path, name);
    if (there == 0)
        return rt_error(RT_ERR_FORMAT, "%s: missing attribute '%s'%s", c->path, name,
                        !strcmp(name, "format") ? not_corpus : "");
    *a = H5Aopen(c->file, name, H5P_DEFAULT);
    if (*a < 0) return h5_fail("%s: cannot open attribute '%s'", c->path, name);
    hid_t t = H5Aget_type(*a);
    H5T_class_t got = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    if (t >= 0) H5Tclose(t);
    hid_t s = H5Aget_space(*a);
    hssize_t npts = s >= 0 ? H5Sget_simple_extent_npoints(s) : -1;
    if (s >= 0) H5Sclose(s);
    if (got != cls || npts != 1) {
        H5Aclose(*a);
        *a = H5I_INVALID_HID;
        return rt_error(RT_ERR_FORMAT, "%s: attribute '%s' is not %s", c->path, name, what);
    }
    return RT_OK;
}

/* Reads a string attribute (variable- or fixed-length) into a new string. */
static rt_status attr_str(const rt_corpus *c, const char *name, char **out) {
    hid_t a;
    RT_CALL(attr_open(c, name, H5T_STRING, "a string", &a));
    hid_t ft = H5Aget_type(a), mt = H5I_INVALID_HID;
    rt_status st = RT_OK;
    if (H5Tis_variable_str(ft) > 0) {
        char *s = NULL;
        mt = H5Tcopy(H5T_C_S1);
        if (mt < 0 || H5Tset_size(mt, H5T_VARIABLE) < 0 || H5Tset_cset(mt, H5Tget_cset(ft)) < 0 ||
            H5Aread(a, mt, &s) < 0)
            st = h5_fail("%s: cannot read attribute '%s'", c->path, name);
        else if (!(*out = strdup(s ? s : "")))
            st = rt_error(RT_ERR_MEMORY, "out of memory");
        if (s) H5free_memory(s);
    } else {
        size_t n = H5Tget_size(ft);
        char *buf = calloc(n + 1, 1);
        if (!buf)
            st = rt_error(RT_ERR_MEMORY, "out of memory");
        else if (H5Aread(a, ft, buf) < 0) {
            free(buf);
            st = h5_fail("%s: cannot read attribute '%s'", c->path, name);
        } else
            *out = buf;
    }
    if (mt >= 0) H5Tclose(mt);
    H5Tclose(ft);
    H5Aclose(a);
    return st;
}

static rt_status attr_i64(const rt_corpus *c, const char *name, int64_t *v) {
    hid_t a;
    RT_CALL(attr_open(c, name, H5T_INTEGER, "an integer", &a));
    rt_status st = H5Aread(a, H5T_NATIVE_INT64, v) < 0
                       ? h5_fail("%s: cannot read attribute '%s'", c->path, name)
                       : RT_OK;
    H5Aclose(a);
    return st;
}

static rt_status attr_count(const rt_corpus *c, const char *name, uint64_t *v) {
    int64_t x;
    RT_CALL(attr_i64(c, name, &x));
    if (x < 0)
        return rt_error(RT_ERR_FORMAT, "%s: attribute '%s' is %lld, expected >= 0", c->path, name,
                        (long long)x);
    *v = (uint64_t)x;
    return RT_OK;
}

static rt_status attr_f64(const rt_corpus *c, const char *name, double *v) {
    hid_t a;
    RT_CALL(attr_open(c, name, H5T_FLOAT, "a floating-point number", &a));
    rt_status st = H5Aread(a, H5T_NATIVE_DOUBLE, v) < 0
                       ? h5_fail("%s: cannot read attribute '%s'", c->path, name)
                       : RT_OK;
    H5Aclose(a);
    return st;
}

/* Opens /split/name, checks it is 1-D unsigned integers of elem_bytes, returns its length. */
static rt_status open_dataset(rt_corpus *c, int k, const char *name, size_t elem_bytes, hid_t *d,
                              uint64_t *len) {
    char full[64];
    snprintf(full, sizeof full, "/%s/%s", split_names[k], name);
    htri_t there = H5Lexists(c->file, split_names[k], H5P_DEFAULT);
    if (there > 0) there = H5Lexists(c->file, full, H5P_DEFAULT);
    if (there < 0) return h5_fail("%s: cannot look up dataset %s", c->path, full);
    if (there == 0) return rt_error(RT_ERR_FORMAT, "%s: missing dataset %s", c->path, full);
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (dapl >= 0) H5Pset_chunk_cache(dapl, CACHE_SLOTS, CACHE_BYTES, 0.75);
    *d = H5Dopen2(c->file, full, dapl >= 0 ? dapl : H5P_DEFAULT);
    hid_t err = *d < 0 ? H5Eget_current_stack() : H5I_INVALID_HID;
    if (dapl >= 0) H5Pclose(dapl);
    if (err >= 0) H5Eset_current_stack(err);
    if (*d < 0) return h5_fail("%s: cannot open dataset %s", c->path, full);
    hid_t t = H5Dget_type(*d), s = H5Dget_space(*d);
    int ok = t >= 0 && s >= 0 && H5Tget_class(t) == H5T_INTEGER && H5Tget_sign(t) == H5T_SGN_NONE &&
             H5Tget_size(t) == elem_bytes && H5Sget_simple_extent_ndims(s) == 1;
    hsize_t dims = 0;
    if (ok) H5Sget_simple_extent_dims(s, &dims, NULL);
    if (t >= 0) H5Tclose(t);
    if (s >= 0) H5Sclose(s);
    if (!ok)
        return rt_error(RT_ERR_FORMAT, "%s: dataset %s is not a 1-D array of uint%zu", c->path,
                        full, 8 * elem_bytes);
    *len = dims;
    return RT_OK;
}

/* Reads elements [start, start + count) of the 1-D dataset d (/split k/what) as mtype into dst,
   then checks that the file is still the one opened: past the end of a truncated file HDF5
   returns zeros, which pass fletcher32. */
static rt_status read_slab(const rt_corpus *c, hid_t d, hid_t mtype, int k, const char *what,
                           uint64_t start, size_t count, void *dst) {
    hsize_t s0 = start, n = count;
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, &n, NULL), err = H5I_INVALID_HID;
    int ok = fs >= 0 && ms >= 0 &&
             H5Sselect_hyperslab(fs, H5S_SELECT_SET, &s0, NULL, &n, NULL) >= 0 &&
             H5Dread(d, mtype, ms, fs, H5P_DEFAULT, dst) >= 0;
    if (!ok) err = H5Eget_current_stack(); /* the next API call would clear it */
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    if (err >= 0) H5Eset_current_stack(err); /* and closes err */
    if (!ok) return read_fail(c, k, what, start, start + count);
    return rt_corpus_file_check(c->path, &c->fid);
}

static rt_status read_u64(rt_corpus *c, hid_t d, const char *what, int k, uint64_t start,
                          size_t count, uint64_t *dst) {
    return read_slab(c, d, H5T_NATIVE_UINT64, k, what, start, count, dst);
}

/* Compares RT_CORPUS_HASH_ATTR, when the file has it, with the values read. */
static rt_status check_hash(const rt_corpus *c) {
    htri_t there = H5Aexists(c->file, RT_CORPUS_HASH_ATTR);
    if (there < 0)
        return h5_fail("%s: cannot look up attribute '%s'", c->path, RT_CORPUS_HASH_ATTR);
    if (there == 0) return RT_OK; /* written before it existed */
    hid_t a;
    uint64_t stored = 0;
    RT_CALL(attr_open(c, RT_CORPUS_HASH_ATTR, H5T_INTEGER, "an integer", &a));
    rt_status st = H5Aread(a, H5T_NATIVE_UINT64, &stored) < 0
                       ? h5_fail("%s: cannot read attribute '%s'", c->path, RT_CORPUS_HASH_ATTR)
                       : RT_OK;
    H5Aclose(a);
    RT_CALL(st);
    uint64_t got = rt_corpus_info_hash(&c->info);
    if (got != stored)
        return rt_error(RT_ERR_FORMAT,
                        "%s: the root attributes and dataset sizes do not match their checksum "
                        "'%s' (stored %016llx, computed %016llx): %s",
                        c->path, RT_CORPUS_HASH_ATTR, (unsigned long long)stored,
                        (unsigned long long)got, rebuild);
    return RT_OK;
}

static rt_status open_local(rt_corpus *c, const char *path) {
    if (access(path, R_OK) != 0)
        return rt_error(RT_ERR_IO, "cannot open corpus %s: %s", path, strerror(errno));
    if (H5Fis_hdf5(path) <= 0)
        return rt_error(RT_ERR_FORMAT, "%s: not an HDF5 file%s", path, not_corpus);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0 && rt_h5_file_access(fapl)) c->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    hid_t err = c->file < 0 ? H5Eget_current_stack() : H5I_INVALID_HID;
    if (fapl >= 0) H5Pclose(fapl);
    if (err >= 0) H5Eset_current_stack(err);
    if (c->file < 0) return h5_fail("cannot open corpus %s", path);
    int *fd = NULL;
    if (H5Fget_vfd_handle(c->file, H5P_DEFAULT, (void **)&fd) < 0 || !fd)
        return h5_fail("%s: cannot get the file descriptor", path);
    RT_CALL(rt_corpus_file_id_get(*fd, path, &c->fid));

    rt_corpus_info *in = &c->info;
    char *s = NULL;
    RT_CALL(attr_str(c, "format", &s));
    int fmt_ok = !strcmp(s, RT_CORPUS_FORMAT);
    if (!fmt_ok) {
        rt_error(RT_ERR_FORMAT, "%s: attribute 'format' is '%.100s', expected '%s'%s", path, s,
                 RT_CORPUS_FORMAT, not_corpus);
        free(s);
        return RT_ERR_FORMAT;
    }
    free(s);
    int64_t v;
    RT_CALL(attr_i64(c, "format_version", &v));
    if (v != RT_CORPUS_FORMAT_VERSION)
        return rt_error(RT_ERR_FORMAT,
                        "%s: attribute 'format_version' is %lld; this ringtune (%s) reads "
                        "version %d",
                        path, (long long)v, RT_VERSION, RT_CORPUS_FORMAT_VERSION);
    in->format_version = (int)v;
    RT_CALL(attr_str(c, "kind", &s));
    int kind_ok = !strcmp(s, "text") || !strcmp(s, "labeled") || !strcmp(s, "pairs");
    snprintf(in->kind, sizeof in->kind, "%s", s);
    free(s);
    if (!kind_ok)
        return rt_error(RT_ERR_FORMAT,
                        "%s: attribute 'kind' is '%s', expected text, labeled or pairs", path,
                        in->kind);
    RT_CALL(attr_i64(c, "vocab_size", &v));
    if (v <= 0 || v > INT32_MAX)
        return rt_error(RT_ERR_FORMAT, "%s: attribute 'vocab_size' is %lld", path, (long long)v);
    in->vocab_size = (int)v;
    RT_CALL(attr_i64(c, "eos_id", &v));
    if (v < 0 || v >= in->vocab_size)
        return rt_error(RT_ERR_FORMAT,
                        "%s: attribute 'eos_id' is %lld, outside the vocabulary [0, %d)", path,
                        (long long)v, in->vocab_size);
    in->eos_id = (int)v;
    RT_CALL(attr_str(c, "tokenizer_sha256", &s));
    int sha_ok = valid_sha(s);
    snprintf(in->tokenizer_sha256, sizeof in->tokenizer_sha256, "%s", s ? s : "");
    free(s);
    if (!sha_ok)
        return rt_error(RT_ERR_FORMAT,
                        "%s: attribute 'tokenizer_sha256' is not 64 lowercase hex digits", path);
    RT_CALL(attr_str(c, "token_dtype", &s));
    in->token_bytes = !strcmp(s, "uint16") ? 2 : !strcmp(s, "uint32") ? 4 : 0;
    if (!in->token_bytes || (in->token_bytes == 2 && in->vocab_size > 65536)) {
        rt_error(RT_ERR_FORMAT,
                 "%s: attribute 'token_dtype' is '%.20s', expected uint16 or uint32 holding "
                 "vocab_size %d",
                 path, s, in->vocab_size);
        free(s);
        return RT_ERR_FORMAT;
    }
    free(s);
    RT_CALL(attr_str(c, "sources", &in->sources));
    RT_CALL(attr_str(c, "ringtune_version", &in->ringtune_version));
    RT_CALL(attr_str(c, "command_line", &in->command_line));
    RT_CALL(attr_count(c, "split_seed", &in->split_seed));
    RT_CALL(attr_f64(c, "validation_ratio", &in->validation_ratio));
    if (!(in->validation_ratio >= 0 && in->validation_ratio <= 1))
        return rt_error(RT_ERR_FORMAT, "%s: attribute 'validation_ratio' is %g, outside [0, 1]",
                        path, in->validation_ratio);
    RT_CALL(attr_count(c, "n_documents", &in->n_documents));
    RT_CALL(attr_count(c, "n_skipped_empty", &in->n_skipped_empty));
    RT_CALL(attr_count(c, "n_replaced_utf8", &in->n_replaced_utf8));
    htri_t bad_json = H5Aexists(c->file, "n_skipped_bad_json");
    if (bad_json < 0) return h5_fail("%s: cannot look up attribute 'n_skipped_bad_json'", path);
    if (bad_json > 0) /* ours; not required by CORPUS.md */
        RT_CALL(attr_count(c, "n_skipped_bad_json", &in->n_skipped_bad_json));

    for (int k = 0; k < 2; k++) {
        uint64_t n_off, n_idx, ends[2];
        RT_CALL(
            open_dataset(c, k, "tokens", (size_t)in->token_bytes, &c->tokens[k], &in->n_tokens[k]));
        RT_CALL(open_dataset(c, k, "doc_offsets", 8, &c->offsets[k], &n_off));
        RT_CALL(open_dataset(c, k, "doc_index", 8, &c->index[k], &n_idx));
        if (n_off != n_idx + 1)
            return rt_error(
                RT_ERR_FORMAT, "%s: /%s/doc_offsets has %llu entries, expected n_docs + 1 = %llu",
                path, split_names[k], (unsigned long long)n_off, (unsigned long long)n_idx + 1);
        in->n_docs[k] = n_idx;
        RT_CALL(read_u64(c, c->offsets[k], "doc_offsets", k, 0, 1, &ends[0]));
        RT_CALL(read_u64(c, c->offsets[k], "doc_offsets", k, n_idx, 1, &ends[1]));
        if (ends[0] != 0 || ends[1] != in->n_tokens[k])
            return rt_error(RT_ERR_FORMAT,
                            "%s: /%s/doc_offsets runs from %llu to %llu, expected 0 to %llu "
                            "(the length of /%s/tokens)",
                            path, split_names[k], (unsigned long long)ends[0],
                            (unsigned long long)ends[1], (unsigned long long)in->n_tokens[k],
                            split_names[k]);
    }
    if (in->n_docs[0] + in->n_docs[1] != in->n_documents)
        return rt_error(RT_ERR_FORMAT,
                        "%s: attribute 'n_documents' is %llu but the splits hold %llu + %llu", path,
                        (unsigned long long)in->n_documents, (unsigned long long)in->n_docs[0],
                        (unsigned long long)in->n_docs[1]);
    if (!strcmp(in->kind, "labeled"))
        RT_CALL(rt_corpus_rlabels_open(&c->lab, c->file, path, in, c->offsets, &c->fid));
    if (!strcmp(in->kind, "pairs"))
        RT_CALL(rt_corpus_rpairs_open(&c->pairs, c->file, path, in, c->offsets, &c->fid));
    return check_hash(c);
}

rt_status rt_corpus_open(rt_corpus **out, const char *path, MPI_Comm comm) {
    *out = NULL;
    rt_status st = RT_OK;
    rt_corpus *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(path))) {
        free(c);
        c = NULL;
        st = rt_error(RT_ERR_MEMORY, "cannot open corpus %s: out of memory", path);
    } else {
        c->file = H5I_INVALID_HID;
        for (int k = 0; k < 2; k++) c->tokens[k] = c->offsets[k] = c->index[k] = H5I_INVALID_HID;
        rt_h5quiet q;
        rt_h5_quiet_on(&q);
        st = open_local(c, path);
        rt_h5_quiet_off(&q);
    }
    if (comm != MPI_COMM_NULL) st = rt_mpi_agree(comm, st);
    if (st != RT_OK) {
        rt_corpus_close(&c);
        return st;
    }
    *out = c;
    return RT_OK;
}

void rt_corpus_close(rt_corpus **cp) {
    rt_corpus *c = *cp;
    if (!c) return;
    rt_h5quiet q;
    rt_h5_quiet_on(&q);
    for (int k = 0; k < 2; k++) {
        rt_h5_close(&c->tokens[k], H5Dclose);
        rt_h5_close(&c->offsets[k], H5Dclose);
        rt_h5_close(&c->index[k], H5Dclose);
    }
    rt_corpus_rlabels_close(&c->lab);
    rt_corpus_rpairs_close(&c->pairs);
    rt_h5_close(&c->file, H5Fclose);
    H5Eclear2(H5E_DEFAULT);
    rt_h5_quiet_off(&q);
    rt_corpus_info_labels_free(&c->info);
    rt_corpus_info_pairs_free(&c->info);
    free(c->info.sources);
    free(c->info.ringtune_version);
    free(c->info.command_line);
    free(c->path);
    free(c);
    *cp = NULL;
}

const rt_corpus_info *rt_corpus_get_info(const rt_corpus *c) {
    return &c->info;
}
const char *rt_corpus_path(const rt_corpus *c) {
    return c->path;
}
uint64_t rt_corpus_n_tokens(const rt_corpus *c, rt_corpus_split split) {
    return (unsigned)split < 2 ? c->info.n_tokens[split] : 0;
}
uint64_t rt_corpus_n_docs(const rt_corpus *c, rt_corpus_split split) {
    return (unsigned)split < 2 ? c->info.n_docs[split] : 0;
}
int rt_corpus_vocab_size(const rt_corpus *c) {
    return c->info.vocab_size;
}
int rt_corpus_eos_id(const rt_corpus *c) {
    return c->info.eos_id;
}
const char *rt_corpus_tokenizer_sha256(const rt_corpus *c) {
    return c->info.tokenizer_sha256;
}

static rt_status check_range(const rt_corpus *c, rt_corpus_split split, const char *what,
                             uint64_t start, size_t count, uint64_t len) {
    if ((unsigned)split > 1) return rt_error(RT_ERR_ARG, "%s: bad split %d", c->path, (int)split);
    if (start > len || count > len - start)
        return rt_error(RT_ERR_ARG, "%s: /%s/%s[%llu, %llu) is outside its %llu entries", c->path,
                        split_names[split], what, (unsigned long long)start,
                        (unsigned long long)start + count, (unsigned long long)len);
    return RT_OK;
}

rt_status rt_corpus_read_tokens(rt_corpus *c, rt_corpus_split split, uint64_t start, size_t count,
                                int32_t *dst) {
    RT_CALL(check_range(c, split, "tokens", start, count, rt_corpus_n_tokens(c, split)));
    if (count == 0) return RT_OK;
    rt_corpus_fault_point(c->path, c->fid.size);
    rt_h5quiet q;
    rt_h5_quiet_on(&q);
    rt_status st =
        read_slab(c, c->tokens[split], H5T_NATIVE_INT32, (int)split, "tokens", start, count, dst);
    rt_h5_quiet_off(&q);
    if (st != RT_OK) return st;
    const uint32_t vocab = (uint32_t)c->info.vocab_size;
    for (size_t i = 0; i < count; i++)
        if ((uint32_t)dst[i] >= vocab)
            return rt_error(
                RT_ERR_FORMAT, "%s: /%s/tokens[%llu] is %u, outside the vocabulary of %u", c->path,
                split_names[split], (unsigned long long)(start + i), (uint32_t)dst[i], vocab);
    return RT_OK;
}

rt_status rt_corpus_read_doc_offsets(rt_corpus *c, rt_corpus_split split, uint64_t start,
                                     size_t count, uint64_t *dst) {
    RT_CALL(check_range(c, split, "doc_offsets", start, count, rt_corpus_n_docs(c, split) + 1));
    if (count == 0) return RT_OK;
    rt_h5quiet q;
    rt_h5_quiet_on(&q);
    rt_status st = read_u64(c, c->offsets[split], "doc_offsets", split, start, count, dst);
    rt_h5_quiet_off(&q);
    return st;
}

rt_status rt_corpus_read_doc_index(rt_corpus *c, rt_corpus_split split, uint64_t start,
                                   size_t count, uint64_t *dst) {
    RT_CALL(check_range(c, split, "doc_index", start, count, rt_corpus_n_docs(c, split)));
    if (count == 0) return RT_OK;
    rt_h5quiet q;
    rt_h5_quiet_on(&q);
    rt_status st = read_u64(c, c->index[split], "doc_index", split, start, count, dst);
    rt_h5_quiet_off(&q);
    return st;
}

/* ---- kind "labeled" (the datasets: io/corpus_labels.c) ------------------------------------ */

rt_status rt_corpus_read_labels(rt_corpus *c, rt_corpus_split split, uint64_t start, size_t count,
                                int32_t *dst) {
    if (!c->lab)
        return rt_error(RT_ERR_ARG, "%s: a %s corpus has no labels", c->path, c->info.kind);
    RT_CALL(check_range(c, split, "labels", start, count, rt_corpus_n_docs(c, split)));
    if (count == 0) return RT_OK;
    rt_h5quiet q;
    rt_h5_quiet_on(&q);
    rt_status st = rt_corpus_rlabels_read(c->lab, c->path, &c->fid, (int)split, start, count, dst);
    rt_h5_quiet_off(&q);
    return st;
}

/* Example i's label and tokens: all of them (cut 0: more than cap is an error) or the first cap
   (cut 1); *n its full length. */
static rt_status read_example(rt_corpus *c, rt_corpus_split split, uint64_t i, int32_t *dst,
                              size_t cap, size_t *n, int32_t *label, int cut) {
    *n = 0;
    RT_CALL(rt_corpus_read_labels(c, split, i, 1, label));
    uint64_t off[2];
    RT_CALL(rt_corpus_read_doc_offsets(c, split, i, 2, off));
    size_t len = (size_t)(off[1] - off[0]);
    if (len > cap && !cut)
        return rt_error(RT_ERR_ARG, "%s: /%s example %llu has %llu tokens, more than the %zu given",
                        c->path, split_names[split], (unsigned long long)i, (unsigned long long)len,
                        cap);
    RT_CALL(rt_corpus_read_tokens(c, split, off[0], len < cap ? len : cap, dst));
    *n = len;
    return RT_OK;
}

rt_status rt_corpus_read_example(rt_corpus *c, rt_corpus_split split, uint64_t i, int32_t *dst,
                                 size_t cap, size_t *n, int32_t *label) {
    return read_example(c, split, i, dst, cap, n, label, 0);
}

rt_status rt_corpus_read_example_head(rt_corpus *c, rt_corpus_split split, uint64_t i, int32_t *dst,
                                      size_t cap, size_t *n, int32_t *label) {
    return read_example(c, split, i, dst, cap, n, label, 1);
}

const char *rt_corpus_label_name(const rt_corpus *c, int32_t id) {
    if (!c->info.label_names || id < 0 || id >= c->info.num_labels) return NULL;
    return c->info.label_names[id];
}

/* ---- kind "pairs" (the target datasets: io/corpus_pairs.c) -------------------------------- */

static rt_status need_pairs(const rt_corpus *c) {
    if (c->pairs) return RT_OK;
    return rt_error(RT_ERR_ARG,
                    "%s: a %s corpus has no pairs (make one with `ringtune prep --source-field F "
                    "--target-field G`)",
                    c->path, c->info.kind);
}

/* Ids read from /split/dataset[start, start + n) must be in the vocabulary. */
static rt_status check_ids(const rt_corpus *c, int split, const char *dataset, uint64_t start,
                           const int32_t *ids, size_t n) {
    const uint32_t vocab = (uint32_t)c->info.vocab_size;
    for (size_t i = 0; i < n; i++)
        if ((uint32_t)ids[i] >= vocab)
            return rt_error(RT_ERR_FORMAT, "%s: /%s/%s[%llu] is %u, outside the vocabulary of %u",
                            c->path, split_names[split], dataset, (unsigned long long)(start + i),
                            (uint32_t)ids[i], vocab);
    return RT_OK;
}

rt_status rt_corpus_read_target_tokens(rt_corpus *c, rt_corpus_split split, uint64_t start,
                                       size_t count, int32_t *dst) {
    RT_CALL(need_pairs(c));
    RT_CALL(check_range(c, split, "target_tokens", start, count,
                        (unsigned)split < 2 ? c->info.n_target_tokens[split] : 0));
    if (count == 0) return RT_OK;
    rt_corpus_fault_point(c->path, c->fid.size);
    rt_h5quiet q;
    rt_h5_quiet_on(&q);
    rt_status st =
        rt_corpus_rpairs_read_tokens(c->pairs, c->path, &c->fid, (int)split, start, count, dst);
    rt_h5_quiet_off(&q);
    RT_CALL(st);
    return check_ids(c, (int)split, "target_tokens", start, dst, count);
}

rt_status rt_corpus_read_target_offsets(rt_corpus *c, rt_corpus_split split, uint64_t start,
                                        size_t count, uint64_t *dst) {
    RT_CALL(need_pairs(c));
    RT_CALL(check_range(c, split, "target_offsets", start, count, rt_corpus_n_docs(c, split) + 1));
    if (count == 0) return RT_OK;
    rt_h5quiet q;
    rt_h5_quiet_on(&q);
    rt_status st =
        rt_corpus_rpairs_read_offsets(c->pairs, c->path, &c->fid, (int)split, start, count, dst);
    rt_h5_quiet_off(&q);
    return st;
}

/* Pair i's source range in tokens (s) and target range in target_tokens (t). */
static rt_status pair_ranges(rt_corpus *c, rt_corpus_split split, uint64_t i, uint64_t s[2],
                             uint64_t t[2]) {
    RT_CALL(need_pairs(c));
    RT_CALL(check_range(c, split, "pairs", i, 1, rt_corpus_n_docs(c, split)));
    RT_CALL(rt_corpus_read_doc_offsets(c, split, i, 2, s));
    return rt_corpus_read_target_offsets(c, split, i, 2, t);
}

rt_status rt_corpus_pair_lengths(rt_corpus *c, rt_corpus_split split, uint64_t i, size_t *n_src,
                                 size_t *n_tgt) {
    uint64_t s[2], t[2];
    *n_src = *n_tgt = 0;
    RT_CALL(pair_ranges(c, split, i, s, t));
    *n_src = (size_t)(s[1] - s[0]);
    *n_tgt = (size_t)(t[1] - t[0]);
    return RT_OK;
}

rt_status rt_corpus_read_pair(rt_corpus *c, rt_corpus_split split, uint64_t i, int32_t *src,
                              size_t src_cap, size_t *n_src, int32_t *tgt, size_t tgt_cap,
                              size_t *n_tgt) {
    uint64_t s[2], t[2];
    *n_src = *n_tgt = 0;
    RT_CALL(pair_ranges(c, split, i, s, t));
    *n_src = (size_t)(s[1] - s[0]);
    *n_tgt = (size_t)(t[1] - t[0]);
    if (*n_src > src_cap || *n_tgt > tgt_cap)
        return rt_error(RT_ERR_ARG,
                        "%s: /%s pair %llu has %zu source and %zu target tokens, more than the "
                        "%zu and %zu given",
                        c->path, split_names[split], (unsigned long long)i, *n_src, *n_tgt, src_cap,
                        tgt_cap);
    RT_CALL(rt_corpus_read_tokens(c, split, s[0], *n_src, src));
    RT_CALL(rt_corpus_read_target_tokens(c, split, t[0], *n_tgt, tgt));
    if (src[*n_src - 1] != c->info.eos_id || tgt[*n_tgt - 1] != c->info.eos_id)
        return rt_error(
            RT_ERR_FORMAT, "%s: /%s pair %llu: its %s does not end in eos %d (ends in %d): %s",
            c->path, split_names[split], (unsigned long long)i,
            src[*n_src - 1] != c->info.eos_id ? "source" : "target", c->info.eos_id,
            src[*n_src - 1] != c->info.eos_id ? src[*n_src - 1] : tgt[*n_tgt - 1], rebuild);
    return RT_OK;
}

rt_status rt_corpus_check_model(const rt_corpus *c, int model_vocab_size,
                                const char *tokenizer_sha256) {
    if (c->info.vocab_size > model_vocab_size)
        return rt_error(RT_ERR_ARG,
                        "%s: the corpus was tokenized with vocab_size %d but the model has only "
                        "%d token embeddings",
                        c->path, c->info.vocab_size, model_vocab_size);
    if (tokenizer_sha256 && strcmp(tokenizer_sha256, c->info.tokenizer_sha256) != 0)
        return rt_error(RT_ERR_ARG,
                        "%s: the corpus was tokenized with tokenizer sha256 %s but the model's "
                        "tokenizer has sha256 %s",
                        c->path, c->info.tokenizer_sha256, tokenizer_sha256);
    return RT_OK;
}

/* ---- identity ---------------------------------------------------------------------------- */

rt_status rt_corpus_fingerprint(rt_corpus *c, uint64_t *out) {
    const rt_corpus_info *ci = rt_corpus_get_info(c);
    XXH3_state_t *h = XXH3_createState();
    if (!h) return rt_error(RT_ERR_MEMORY, "out of memory");
    XXH3_64bits_reset(h);
    XXH3_64bits_update(h, ci->n_tokens, sizeof ci->n_tokens);
    XXH3_64bits_update(h, ci->n_docs, sizeof ci->n_docs);
    XXH3_64bits_update(h, ci->tokenizer_sha256, strlen(ci->tokenizer_sha256));
    XXH3_64bits_update(h, &ci->vocab_size, sizeof ci->vocab_size);
    XXH3_64bits_update(h, &ci->split_seed, sizeof ci->split_seed);
    XXH3_64bits_update(h, &ci->validation_ratio, sizeof ci->validation_ratio);
    int32_t buf[4096];
    rt_status st = RT_OK;
    for (int s = 0; s < 2 && st == RT_OK; s++) {
        uint64_t n = ci->n_tokens[s], k = n < 4096 ? n : 4096;
        st = rt_corpus_read_tokens(c, (rt_corpus_split)s, 0, (size_t)k, buf);
        if (st == RT_OK) XXH3_64bits_update(h, buf, (size_t)k * sizeof(int32_t));
        if (st == RT_OK) st = rt_corpus_read_tokens(c, (rt_corpus_split)s, n - k, (size_t)k, buf);
        if (st == RT_OK) XXH3_64bits_update(h, buf, (size_t)k * sizeof(int32_t));
    }
    if (c->pairs) { /* the target side too (text and labeled fingerprints are unchanged) */
        XXH3_64bits_update(h, ci->n_target_tokens, sizeof ci->n_target_tokens);
        for (int s = 0; s < 2 && st == RT_OK; s++) {
            uint64_t n = ci->n_target_tokens[s], k = n < 4096 ? n : 4096;
            st = rt_corpus_read_target_tokens(c, (rt_corpus_split)s, 0, (size_t)k, buf);
            if (st == RT_OK) XXH3_64bits_update(h, buf, (size_t)k * sizeof(int32_t));
            if (st == RT_OK)
                st = rt_corpus_read_target_tokens(c, (rt_corpus_split)s, n - k, (size_t)k, buf);
            if (st == RT_OK) XXH3_64bits_update(h, buf, (size_t)k * sizeof(int32_t));
        }
    }
    *out = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return st;
}
