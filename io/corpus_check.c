/* Integrity checks of the corpus reader (io/corpus_check.h). */
#include "corpus_check.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

static void put_u64(XXH3_state_t *s, uint64_t v) {
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i)); /* little-endian always */
    XXH3_64bits_update(s, b, sizeof b);
}

static void put_str(XXH3_state_t *s, const char *v) {
    size_t n = v ? strlen(v) : 0;
    put_u64(s, n);
    if (n) XXH3_64bits_update(s, v, n);
}

/* What a kind "labeled" corpus adds (io/CORPUS.md): its label attributes and label_counts. */
static void put_labels(XXH3_state_t *s, const rt_corpus_info *in) {
    put_u64(s, (uint64_t)in->num_labels);
    for (int i = 0; i < in->num_labels; i++) put_str(s, in->label_names ? in->label_names[i] : "");
    put_str(s, in->label_order);
    put_str(s, in->truncation);
    put_u64(s, (uint64_t)in->max_length);
    put_u64(s, in->n_truncated);
    put_u64(s, in->n_skipped_bad_label);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < in->num_labels; i++)
            put_u64(s, in->label_counts[k] ? in->label_counts[k][i] : 0);
}

/* What a kind "pairs" corpus adds (io/CORPUS.md): its pair attributes and target lengths. */
static void put_pairs(XXH3_state_t *s, const rt_corpus_info *in) {
    put_u64(s, in->n_target_tokens[0]);
    put_u64(s, in->n_target_tokens[1]);
    put_u64(s, (uint64_t)in->max_source_length);
    put_u64(s, (uint64_t)in->max_target_length);
    put_u64(s, in->n_truncated_source);
    put_u64(s, in->n_truncated_target);
    put_str(s, in->source_prefix);
}

uint64_t rt_corpus_info_hash(const rt_corpus_info *in) {
    XXH3_state_t *s = XXH3_createState();
    if (!s) return 0;
    XXH3_64bits_reset(s);
    uint64_t ratio;
    memcpy(&ratio, &in->validation_ratio, sizeof ratio);
    put_str(s, RT_CORPUS_FORMAT);
    put_u64(s, (uint64_t)in->format_version);
    put_str(s, in->kind);
    put_u64(s, (uint64_t)in->vocab_size);
    put_u64(s, (uint64_t)in->eos_id);
    put_u64(s, (uint64_t)in->token_bytes);
    put_str(s, in->tokenizer_sha256);
    put_u64(s, in->split_seed);
    put_u64(s, ratio);
    put_u64(s, in->n_documents);
    put_u64(s, in->n_skipped_empty);
    put_u64(s, in->n_skipped_bad_json);
    put_u64(s, in->n_replaced_utf8);
    for (int k = 0; k < 2; k++) {
        put_u64(s, in->n_docs[k]);
        put_u64(s, in->n_tokens[k]);
    }
    put_str(s, in->sources);
    put_str(s, in->ringtune_version);
    put_str(s, in->command_line);
    if (!strcmp(in->kind, "labeled")) /* older and text files: the hash above, unchanged */
        put_labels(s, in);
    if (!strcmp(in->kind, "pairs")) put_pairs(s, in);
    uint64_t h = (uint64_t)XXH3_64bits_digest(s);
    XXH3_freeState(s);
    return h;
}

rt_status rt_corpus_file_id_get(int fd, const char *path, rt_corpus_file_id *id) {
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return rt_error(RT_ERR_IO, "cannot stat corpus %s: %s", path, strerror(errno));
    id->dev = sb.st_dev;
    id->ino = sb.st_ino;
    id->size = sb.st_size;
    id->mtime = sb.st_mtim;
    return RT_OK;
}

static const char *const advice =
    "a corpus must not change while a job reads it: the tokens read from it can no longer be "
    "trusted (restore or rebuild it with `ringtune prep`, then resume from the last checkpoint)";

rt_status rt_corpus_file_check(const char *path, const rt_corpus_file_id *id) {
    struct stat sb;
    if (stat(path, &sb) != 0)
        return rt_error(RT_ERR_IO, "corpus %s was removed while this job read it (%s); %s", path,
                        strerror(errno), advice);
    if (sb.st_dev != id->dev || sb.st_ino != id->ino)
        return rt_error(RT_ERR_IO,
                        "corpus %s was replaced by another file while this job read it (inode "
                        "%llu, now %llu); %s",
                        path, (unsigned long long)id->ino, (unsigned long long)sb.st_ino, advice);
    if (sb.st_size != id->size)
        return rt_error(RT_ERR_IO,
                        "corpus %s %s from %lld to %lld bytes while this job read it; %s", path,
                        sb.st_size < id->size ? "was truncated" : "grew", (long long)id->size,
                        (long long)sb.st_size, advice);
    if (sb.st_mtim.tv_sec != id->mtime.tv_sec || sb.st_mtim.tv_nsec != id->mtime.tv_nsec)
        return rt_error(RT_ERR_IO,
                        "corpus %s was modified while this job read it (its modification time "
                        "changed, size %lld bytes unchanged); %s",
                        path, (long long)sb.st_size, advice);
    return RT_OK;
}

static long fault_reads; /* token reads of this process */

void rt_corpus_fault_point(const char *path, off_t open_size) {
    const char *f = getenv("RINGTUNE_CORPUS_FAULT");
    if (!f || !*f) return;
    char what[16] = "";
    long n = 0;
    fault_reads++;
    if (sscanf(f, "%15[a-z]:%ld", what, &n) != 2 || n != fault_reads) return;
    off_t to = !strcmp(what, "half") ? open_size / 2 : 0;
    if (strcmp(what, "half") != 0 && strcmp(what, "truncate") != 0) return;
    fprintf(stderr,
            "ringtune: RINGTUNE_CORPUS_FAULT: truncating %s to %lld bytes before read %ld\n", path,
            (long long)to, n);
    fflush(stderr);
    if (truncate(path, to) != 0)
        fprintf(stderr, "ringtune: RINGTUNE_CORPUS_FAULT: truncate failed: %s\n", strerror(errno));
}
