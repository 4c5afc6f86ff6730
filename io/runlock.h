/* The run lock of an output directory: one `ringtune train` at a time per output.dir, also on
   shared file systems where flock/fcntl locks may not work (NFS, Lustre, GPFS set-ups).

   The lock is the file DIR/.lock, created atomically with its full content (written to a private
   file, then link()ed to the lock name: link fails when the name exists, on NFS too). It holds the
   holder's host name, pid, the pid's start time (/proc/PID/stat), the boot id
   (/proc/sys/kernel/random/boot_id) and the start time. While held, a thread refreshes the file's
   modification time every heartbeat_s seconds (the heartbeat; the file server's clock).

   A lock is stale when its holder is gone: on the same host and boot, its pid is not running (a
   zombie counts as gone; a live holder is given 10 s to exit, as a rank 0 may outlive its aborted
   mpirun by a moment) or is another process now (its start time differs); on the same host with
   another boot id, the host rebooted; on another host, its heartbeat is older than stale_s seconds
   (measured against a file this process creates in DIR, so on the file server's clock, not this
   host's). A stale lock is taken over atomically (renamed away, checked to be the one judged stale,
   then created anew) with a warning; a live one refuses the new run with a message naming its host,
   pid and start time. Host names must be unique among the hosts that share DIR.

   Not collective: the caller (rank 0 of a run) takes it for the whole job. */
#pragma once
#include <stdio.h>
#include "status.h"

#define RT_RUNLOCK_NAME ".lock"
#define RT_RUNLOCK_HEARTBEAT_S 15 /* default heartbeat period */
#define RT_RUNLOCK_STALE_S 120    /* default: another host's lock is stale after 2 min */

typedef struct rt_runlock rt_runlock;

typedef struct {
    int heartbeat_s; /* <= 0: RT_RUNLOCK_HEARTBEAT_S */
    int stale_s;     /* <= 0: RT_RUNLOCK_STALE_S */
} rt_runlock_opts;

/* Takes the run lock of dir (created, with its parents, when missing). o may be NULL (defaults);
   log (may be NULL) gets the warning when a stale lock is taken over. On success *out is the
   caller's: rt_runlock_release, which also runs at exit() for a lock still held. RT_ERR_ARG when
   another run holds it (the message names dir, the holder's host, pid and start time),
   RT_ERR_FORMAT when the lock file cannot be understood (the message says to remove it if no run
   uses dir), RT_ERR_IO otherwise. */
rt_status rt_runlock_acquire(const char *dir, const rt_runlock_opts *o, FILE *log,
                             rt_runlock **out);

/* Stops the heartbeat and removes the lock file when it is still this lock's (not when another
   run has taken it over), and dir when the lock had created it and it is empty. Frees *l and sets
   it to NULL; safe on NULL. */
void rt_runlock_release(rt_runlock **l);

/* Releases every lock this process still holds (as rt_runlock_release). Runs at exit(); call it
   before exit paths that skip atexit handlers (MPI_Abort, _exit), e.g. a watchdog's. Not
   async-signal-safe. */
void rt_runlock_release_held(void);

/* This host's identity as the lock records it (for tests): host name and boot id into the
   caller's buffers ("" when unknown), and the start time of process pid (clock ticks after boot,
   field 22 of /proc/PID/stat; -1 when unknown). */
void rt_runlock_host(char *host, size_t hcap, char *boot_id, size_t bcap);
long long rt_runlock_pid_start(long pid);
