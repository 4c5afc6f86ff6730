/* Tokenizer files of Hugging Face model directories (see hf_tokenizer.h). */
#include "hf_tokenizer.h"
#include "bpe.h"
#include "fsutil.h"
#include "spm.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/evp.h>

static const char *const TOKENIZER_FILES[] = {"vocab.json",
                                              "merges.txt",
                                              "spiece.model",
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

rt_status rt_hf_tokenizer_kind(const char *dir, rt_tokenizer_kind *kind) {
    char *vj = rt_fs_join(dir, "vocab.json"), *mt = rt_fs_join(dir, "merges.txt");
    char *sp = rt_fs_join(dir, "spiece.model");
    rt_status s = vj && mt && sp ? RT_OK : rt_error(RT_ERR_MEMORY, "%s: out of memory", dir);
    int bpe = s == RT_OK && rt_fs_exists(vj) && rt_fs_exists(mt);
    int spm = s == RT_OK && rt_fs_exists(sp);
    if (s == RT_OK && bpe && spm)
        s = rt_error(RT_ERR_ARG,
                     "tokenizer directory %s holds both a GPT-2 tokenizer (vocab.json + "
                     "merges.txt) and a SentencePiece one (spiece.model); point --tokenizer at a "
                     "directory with one of them",
                     dir);
    else if (s == RT_OK && !bpe && !spm)
        s = rt_error(rt_fs_exists(dir) ? RT_ERR_ARG : RT_ERR_IO,
                     "tokenizer directory %s holds no tokenizer: expected vocab.json + merges.txt "
                     "(GPT-2 BPE) or spiece.model (SentencePiece, T5)%s",
                     dir, rt_fs_exists(dir) ? "" : " (it does not exist)");
    *kind = bpe ? RT_TOKENIZER_BPE : RT_TOKENIZER_SPM;
    free(vj);
    free(mt);
    free(sp);
    return s;
}

rt_status rt_hf_spm_sha256(const char *spiece_model, const char *tokenizer_json, char out[65]) {
    const char *paths[2] = {spiece_model, tokenizer_json};
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    rt_status s = RT_OK;
    for (int i = 0; i < 2 && ok && s == RT_OK && paths[i]; i++) {
        char *buf = NULL;
        size_t len = 0;
        s = rt_fs_read_file(paths[i], &buf, &len);
        if (s == RT_OK) ok = EVP_DigestUpdate(ctx, buf, len);
        free(buf);
    }
    ok = ok && s == RT_OK && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    if (s != RT_OK) return s;
    if (!ok) return rt_error(RT_ERR_INTERNAL, "OpenSSL sha256 failed");
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
    return RT_OK;
}

static rt_status check_one(const rt_corpus *c, const char *dir, const char *files,
                           const char *sha) {
    const char *have = rt_corpus_tokenizer_sha256(c);
    if (strcmp(have, sha) == 0) return RT_OK;
    return rt_error(RT_ERR_ARG,
                    "%s: the corpus was tokenized with another tokenizer than the model's: it "
                    "records tokenizer sha256 %s, but %s have sha256 %s; re-run `ringtune prep "
                    "--tokenizer %s ...` to tokenize the text with the model's tokenizer",
                    rt_corpus_path(c), have, files, sha, dir);
}

/* The identity of dir's tokenizer as prep records it: GPT-2's vocab.json + merges.txt, else
   SentencePiece's spiece.model (+ tokenizer.json); files (cap bytes) names them, "" when dir has
   none. */
static rt_status model_tokenizer_sha(const char *dir, char sha[65], char *files, size_t cap) {
    int found;
    files[0] = '\0';
    RT_CALL(rt_hf_tokenizer_sha256(dir, sha, &found));
    if (found) {
        snprintf(files, cap, "%s/vocab.json + %s/merges.txt", dir, dir);
        return RT_OK;
    }
    char *sp = rt_fs_join(dir, "spiece.model"), *tj = rt_fs_join(dir, "tokenizer.json");
    rt_status st = sp && tj ? RT_OK : rt_error(RT_ERR_MEMORY, "%s: out of memory", dir);
    if (st == RT_OK && rt_fs_exists(sp)) {
        int json = rt_fs_exists(tj);
        st = rt_hf_spm_sha256(sp, json ? tj : NULL, sha);
        snprintf(files, cap, json ? "%s + %s" : "%s", sp, tj);
    }
    free(sp);
    free(tj);
    return st;
}

rt_status rt_hf_check_corpus_tokenizer(const rt_corpus *c, const rt_corpus *cv,
                                       const char *model_dir, FILE *log) {
    char sha[65], files[8192];
    RT_CALL(model_tokenizer_sha(model_dir, sha, files, sizeof files));
    if (!files[0]) {
        if (log)
            fprintf(log,
                    "note: %s has no tokenizer files (vocab.json + merges.txt, or spiece.model), "
                    "so the corpus's tokenizer is not compared with the model's\n",
                    model_dir);
        return RT_OK;
    }
    RT_CALL(check_one(c, model_dir, files, sha));
    if (cv) RT_CALL(check_one(cv, model_dir, files, sha));
    return RT_OK;
}

/* The same file (or directory) by device and inode. */
static int same_dir(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

rt_status rt_hf_spm_load_dir(const char *dir, rt_spm **out, char *sha) {
    *out = NULL;
    char *sp = rt_fs_join(dir, "spiece.model"), *tj = rt_fs_join(dir, "tokenizer.json");
    rt_status st = sp && tj ? RT_OK : rt_error(RT_ERR_MEMORY, "out of memory");
    const char *json = st == RT_OK && rt_fs_exists(tj) ? tj : NULL;
    if (st == RT_OK && !rt_fs_exists(sp))
        st = rt_error(RT_ERR_IO,
                      "%s: no such file (a SentencePiece tokenizer directory holds "
                      "spiece.model)",
                      sp);
    if (st == RT_OK) st = rt_spm_load(out, sp, json);
    if (st == RT_OK && sha) st = rt_hf_spm_sha256(sp, json, sha);
    if (st != RT_OK) rt_spm_destroy(out);
    free(sp);
    free(tj);
    return st;
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
