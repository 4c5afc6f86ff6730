/* AddressSanitizer defaults of RT_SANITIZE builds, linked into every target (CMakeLists.txt);
 * ASAN_OPTIONS still overrides them.
 *
 * intercept_tls_get_addr=0: gcc 12's runtime (Debian 12) records each dynamic TLS block (the TLS
 * of a dlopened module: Open MPI's components) and guesses its bounds; when glibc's block happens
 * to start 16 bytes past a page boundary it reads ASan's own chunk header as a glibc TLS header,
 * and the leak check at exit scans from a small bogus address and crashes ("Tracer caught signal
 * 11", "LeakSanitizer has encountered a fatal error"). Where the block lands depends on how many
 * allocations came before it, so it fails every run in some machine states (paths, pid digits,
 * environment) and never in others (tests/lsan/lsan_probe.c reproduces it). Without the
 * interception those blocks are not scanned: pointers kept only there could be reported as
 * leaks, never hidden; our own thread-local storage is static TLS and is still scanned. Leak
 * checking stays on (test lsan_catches_our_leak). */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
    return "intercept_tls_get_addr=0";
}
