/* lsan_probe: checks on the LeakSanitizer setup of RT_SANITIZE builds (tests/unit/lsan.cmake).
 *
 *   lsan_probe dtls MODULE K   K 16-byte allocations, then dlopen MODULE and use its TLS; exit 0.
 *   lsan_probe leak            MPI singleton init and finalize (as `ringtune prep` and a 1-process
 *                              `ringtune train` do), then leak 77 bytes from our own code.
 *
 * Why `dtls`: gcc 12's LeakSanitizer records where each dynamic TLS block (the TLS of a dlopened
 * module, e.g. an Open MPI component) lies. When glibc's block, allocated with malloc, starts 16
 * bytes past a 4 KiB boundary, it takes the 16 bytes before it (ASan's chunk header) for a glibc
 * 2.19 TLS header and records {start, size} = {an allocation stack id, a huge size}; at exit the
 * leak check scans from that small address and dies: "Tracer caught signal 11: addr=0x3b68".
 * Where the block lands depends only on how many allocations came before it, so a machine state
 * that changes those (paths, pid digits, environment) fails every run. K = 0..127 covers every
 * position of a 32-byte slot in a page. The builds turn that recording off
 * (cmake/sanitizer_defaults.c), and every K must pass. */
#include <dlfcn.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *keep[1024];
static void *leaked;

/* Allocates and drops the only pointer to it: must be reported as a direct leak. */
static __attribute__((noinline)) void leak_on_purpose(void) {
    char *p = malloc(77);
    if (p) memset(p, 1, 77);
    leaked = p;
    leaked = NULL;
}

static int dtls(const char *module, int k) {
    if (k < 0 || k > (int)(sizeof keep / sizeof *keep)) return 2;
    for (int i = 0; i < k; i++) keep[i] = malloc(16);
    void *h = dlopen(module, RTLD_NOW);
    if (!h) {
        fprintf(stderr, "lsan_probe: %s\n", dlerror());
        return 1;
    }
    void *(*slot)(void) = (void *(*)(void))dlsym(h, "rt_tls_module_slot");
    if (!slot) return 1;
    *(void **)slot() = keep[0];
    return 0; /* the module stays loaded, its TLS block alive, for the check at exit */
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "dtls")) return dtls(argv[2], atoi(argv[3]));
    if (argc == 2 && !strcmp(argv[1], "leak")) {
        int provided;
        MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        MPI_Finalize();
        leak_on_purpose();
        return 0;
    }
    fprintf(stderr, "usage: lsan_probe dtls MODULE K | lsan_probe leak\n");
    return 2;
}
