/* Shared by the libFuzzer targets of tests/fuzz (README.md there): a private scratch directory
   (removed at exit) and writing an input to a file there, for the parsers that read files. */
#pragma once
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char fz_dir_buf[64];

static void fz_remove_dir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fz_dir_buf);
    if (fz_dir_buf[0] && system(cmd) != 0) fprintf(stderr, "fuzz: cannot remove %s\n", fz_dir_buf);
}

/* The scratch directory of this process (created on first use). */
static inline const char *fz_dir(void) {
    if (!fz_dir_buf[0]) {
        /* memory-backed where there is one: the corpus writer fsyncs */
        snprintf(fz_dir_buf, sizeof fz_dir_buf, "%s/rt-fuzz-XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(fz_dir_buf)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(fz_remove_dir);
    }
    return fz_dir_buf;
}

/* Writes data to fz_dir()/name; returns the path (static buffer). */
static inline const char *fz_write(const char *name, const uint8_t *data, size_t size) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", fz_dir(), name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}

/* A setup step of a target that must work (not the code under test): aborts with the message. */
#define FZ_CALL(expr)                                                                              \
    do {                                                                                           \
        if ((expr) != RT_OK) {                                                                     \
            fprintf(stderr, "fuzz setup: %s: %s\n", #expr, rt_error_message());                    \
            abort();                                                                               \
        }                                                                                          \
    } while (0)
