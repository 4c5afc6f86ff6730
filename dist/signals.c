/* Preemption signals (dist/signals.h). */
#include "signals.h"
#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t sig_count, sig_last;
static struct sigaction old_usr1, old_term, old_int;
static int sig_installed, sig_kept;

static void on_signal(int sig) {
    if (sig == SIGINT && sig_count > 0) {
        /* Ctrl-C while a checkpoint-and-stop is pending: stop at once, as a second Ctrl-C does
           in PyTorch and most trainers; the save under way is not committed (earlier ones are
           intact, its step-N.tmp is removed at the next start) */
        static const char msg[] = "ringtune: interrupted again: stopping now, without the "
                                  "checkpoint being written (the last committed one is intact)\n";
        if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
        }
        signal(SIGINT, SIG_DFL);
        raise(SIGINT);
        return;
    }
    sig_last = sig;
    if (sig_count < 1000) sig_count++;
}

void rt_signals_install(void) {
    if (sig_installed) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, &old_usr1);
    sigaction(SIGTERM, &sa, &old_term);
    /* SIGINT ignored on entry (nohup, a background job of a non-interactive shell) stays
       ignored, as Python does with its KeyboardInterrupt handler */
    sigaction(SIGINT, NULL, &old_int);
    if (old_int.sa_handler != SIG_IGN) sigaction(SIGINT, &sa, NULL);
    sig_installed = 1;
}

void rt_signals_keep(int on) {
    sig_kept = on;
}

void rt_signals_restore(void) {
    if (!sig_installed || sig_kept) return;
    sigaction(SIGUSR1, &old_usr1, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGINT, &old_int, NULL);
    sig_installed = 0;
}

const char *rt_signals_name(int sig) {
    return sig == SIGUSR1   ? "SIGUSR1"
           : sig == SIGTERM ? "SIGTERM"
           : sig == SIGINT  ? "SIGINT"
                            : "a signal";
}

int rt_signals_pending(void) {
    return (int)sig_count;
}

int rt_signals_last(void) {
    return (int)sig_last;
}
