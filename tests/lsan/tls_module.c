/* A module with thread-local storage, loaded by lsan_probe with dlopen: its TLS block is
   allocated with malloc on first use, the case that trips gcc 12's LeakSanitizer (lsan_probe.c). */
void *rt_tls_module_slot(void);

static __thread void *slot;

/* The address of this thread's slot (allocates the TLS block on the first call in a thread). */
void *rt_tls_module_slot(void) {
    return &slot;
}
