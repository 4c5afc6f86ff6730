/* The signals that stop a run at the next step boundary with a checkpoint (SIGUSR1/SIGTERM/
   SIGINT: preemption, `kill`, Ctrl-C). Process-wide state; not collective (the training loop
   carries the flag in a reduction so that every rank takes the same decision). */
#pragma once

/* Signals. rt_signals_install catches SIGUSR1, SIGTERM and SIGINT (SIGINT only when it is not
   ignored on entry): a flag; the run checkpoints at the next step boundary and exits 75. Further
   SIGUSR1/SIGTERM are absorbed; a SIGINT while a stop is pending (Ctrl-C twice) ends the process
   at once with SIGINT's default action. Idempotent. rt_signals_pending returns the number of
   signals caught, rt_signals_last the last one's number, rt_signals_name its name. */
void rt_signals_install(void);
void rt_signals_restore(void);
/* rt_signals_keep(1) makes rt_signals_restore a no-op until rt_signals_keep(0): a caller that
   runs several trainings one after another (`ringtune sweep`) keeps the handlers between them,
   where a signal would otherwise kill the process. */
void rt_signals_keep(int on);
int rt_signals_pending(void);
int rt_signals_last(void);
const char *rt_signals_name(int sig);
