/* Tokenizer files of Hugging Face model directories (see hf_tokenizer.h). */
#include "hf_tokenizer.h"
#include "bpe.h"
#include "fsutil.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const TOKENIZER_FILES[] = {"vocab.json",
                                              "merges.txt",
                                              "tokenizer.json",
                                              "tokenizer_config.json",
                                              "special_tokens_map.json",
                                              "added_tokens.json"};

rt_status rt_hf_tokenizer_sha256(const char *dir, char sha[65], int *found) {
    sha[0] = 0;
    *found = 0;
    char *vj = rt_fs_join(dir, "vocab.json"), *mt = rt_fs_join(dir, "merges.txt");
    rt_status s = vj && mt ? RT_OK : rt_error(RT_ERR_MEMORY, "%s: out of memory", dir);
    if (s == RT_OK && rt_fs_exists(vj) && rt_fs_exists(mt)) {
        s = rt_bpe_files_sha256(vj, mt, sha);
        *found = s == RT_OK;
    }
    free(vj);
    free(mt);
    return s;
}

static rt_status check_one(const rt_corpus *c, const char *dir, const char *sha) {
    const char *have = rt_corpus_tokenizer_sha256(c);
    if (strcmp(have, sha) == 0) return RT_OK;
    return rt_error(RT_ERR_ARG,
                    "%s: the corpus was tokenized with another tokenizer than the model's: it "
                    "records tokenizer sha256 %s, but %s/vocab.json + %s/merges.txt have sha256 "
                    "%s; re-run `ringtune prep --tokenizer %s ...` to tokenize the text with the "
                    "model's tokenizer",
                    rt_corpus_path(c), have, dir, dir, sha, dir);
}

rt_status rt_hf_check_corpus_tokenizer(const rt_corpus *c, const rt_corpus *cv,
                                       const char *model_dir, FILE *log) {
    char sha[65];
    int found;
    RT_CALL(rt_hf_tokenizer_sha256(model_dir, sha, &found));
    if (!found) {
        if (log)
            fprintf(log,
                    "note: %s has no vocab.json + merges.txt, so the corpus's tokenizer is not "
                    "compared with the model's\n",
                    model_dir);
        return RT_OK;
    }
    RT_CALL(check_one(c, model_dir, sha));
    if (cv) RT_CALL(check_one(cv, model_dir, sha));
    return RT_OK;
}

/* The same file (or directory) by device and inode. */
static int same_dir(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

rt_status rt_hf_copy_tokenizer(const char *src_dir, const char *dst_dir, int *copied) {
    int n = 0;
    rt_status s = RT_OK;
    if (!same_dir(src_dir, dst_dir)) {
        for (size_t i = 0; i < sizeof TOKENIZER_FILES / sizeof *TOKENIZER_FILES && s == RT_OK;
             i++) {
            char *from = rt_fs_join(src_dir, TOKENIZER_FILES[i]);
            char *to = rt_fs_join(dst_dir, TOKENIZER_FILES[i]);
            char *buf = NULL;
            size_t len = 0;
            if (!from || !to)
                s = rt_error(RT_ERR_MEMORY, "%s: out of memory", dst_dir);
            else if (rt_fs_exists(from)) {
                s = rt_fs_read_file(from, &buf, &len);
                if (s == RT_OK) s = rt_fs_write_file_atomic(to, buf, len);
                n += s == RT_OK;
            }
            free(buf);
            free(from);
            free(to);
        }
    }
    if (copied) *copied = n;
    return s;
}
