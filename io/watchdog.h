/* A watchdog over the waits of collective operations (as NCCL's watchdog does for PyTorch), and
   the waits themselves.

   A rank that stops (SIGSTOP, a hung file system, a stuck node) is not dead: MPI sees nothing
   wrong and every other rank waits for it forever. So every wait of a collective operation runs
   inside a scope (rt_watchdog_enter/leave) that says what it waits in and for whom, and a thread
   started by rt_watchdog_start checks the scope a few times a second: when a wait has made no
   progress for timeout_s seconds, it prints one line on stderr ("rank 1: dist.timeout_s 30 s
   expired at step 12 (training) in ring all-reduce of gradient bucket 3, waiting to receive from
   rank 2 (host h, pid p)") and ends the process with RT_EXIT_PEER_TIMEOUT. A blocked blocking MPI
   call cannot be interrupted from inside, and the thread never calls MPI (the library is
   initialised MPI_THREAD_FUNNELED), so it ends the process with _exit: mpirun (or srun
   --kill-on-bad-exit) then ends the job, the stopped rank included. Checkpoints stay intact: a
   save commits by renames (dist/checkpoint.c), so a job ended mid-save keeps the last committed
   one.

   The waits (rt_wd_wait and the rt_wd_* collectives) poll MPI_Test: they spin for the first
   RT_WD_SPIN_S seconds without progress, then sleep between tests (growing to RT_WD_SLEEP_MAX_NS),
   so a rank waiting for a stopped or slow peer does not burn a core. They work, and the scopes
   are cheap no-ops for the message, before rt_watchdog_start or after rt_watchdog_stop.

   All state is process-wide; every function here is called by the thread that calls MPI. */
#pragma once
#include <mpi.h>
#include <stdint.h>
#include "status.h"

/* The exit status of a process the watchdog ended (EX_UNAVAILABLE of sysexits.h: a peer the job
   needs is unavailable). Distinct from 0 finished, 1 error, 2 usage, 75 checkpointed. */
#define RT_EXIT_PEER_TIMEOUT 69

/* The default of dist.timeout_s: 30 minutes, torch.distributed's default. A CPU trainer's steps
   and checkpoint writes are slower than a GPU's, and an expiry ends a healthy but slow job,
   while a late one only costs time. */
#define RT_WD_TIMEOUT_DEFAULT 1800.0

#define RT_WD_SPIN_S 0.002          /* a wait spins this long without progress before sleeping */
#define RT_WD_SLEEP_MAX_NS 1000000L /* longest sleep between tests of a waiting rank: 1 ms */
#define RT_WD_ALL (-2)              /* peer of enter/progress: every other rank (a collective) */
#define RT_WD_NONE (-1)             /* no peer in that direction */

/* Starts (or re-arms, when already running) the watchdog with timeout_s seconds (0 = off: the
   waits still poll, nothing ends the process) and gathers every rank's host name and pid over
   comm for the message (ranks in the messages are ranks of comm). `setting` names the setting
   the message cites (e.g. "dist.timeout_s"; copied). Collective over comm. Returns RT_ERR_ARG
   for a negative or non-finite timeout, RT_ERR_MEMORY, RT_ERR_MPI. */
rt_status rt_watchdog_start(MPI_Comm comm, double timeout_s, const char *setting);

/* Stops and joins the thread and frees the table; no-op when not running. Local. */
void rt_watchdog_stop(void);

/* The step the rank is at (printed as "at step N"; 0 = none yet) and the phase ("training",
   "evaluation", "checkpoint save", ...; a string that outlives its use, not copied). Local.
   rt_watchdog_phase returns the previous phase, for restoring it. */
void rt_watchdog_step(long step);
const char *rt_watchdog_phase(const char *phase);

/* One wait: what it waits in (copied; "ring all-reduce of gradient bucket 3", "status
   agreement (MPI_Allreduce)") and for whom: the rank it receives from and the rank it sends to
   (RT_WD_NONE), or RT_WD_ALL for a collective. Scopes nest (the innermost is reported); leave
   restores the enclosing one. Local. */
typedef struct rt_wd_scope {
    struct rt_wd_scope *outer;
    char what[160];
    int from, to;
    double since;
} rt_wd_scope;
void rt_watchdog_enter(rt_wd_scope *s, const char *what, int from, int to);
/* The innermost wait made progress: its clock starts again; from/to update its peers. Local. */
void rt_watchdog_progress(int from, int to);
void rt_watchdog_leave(rt_wd_scope *s);

/* Polling backoff of a wait loop: rt_wd_idle after a test that found nothing (spins, then
   sleeps longer and longer), rt_wd_busy after one that found progress. Local. */
typedef struct {
    double idle_since; /* 0: not idle */
    long sleep_ns;
} rt_wd_backoff;
void rt_wd_idle(rt_wd_backoff *b);
void rt_wd_busy(rt_wd_backoff *b);

/* MPI_Wait by polling MPI_Test inside a scope (what, from, to as rt_watchdog_enter). Returns
   MPI's error code. Local (but waits on peers). */
int rt_wd_wait(MPI_Request *req, const char *what, int from, int to);

/* The blocking collectives as their nonblocking versions plus rt_wd_wait inside a scope named
   `what`: same arguments and return codes as MPI_Allreduce etc. Collective over comm. */
int rt_wd_allreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype type, MPI_Op op,
                    MPI_Comm comm, const char *what);
int rt_wd_reduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype type, MPI_Op op,
                 int root, MPI_Comm comm, const char *what);
int rt_wd_bcast(void *buf, int count, MPI_Datatype type, int root, MPI_Comm comm, const char *what);
int rt_wd_gather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                 int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm, const char *what);
int rt_wd_gatherv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                  const int *recvcounts, const int *displs, MPI_Datatype recvtype, int root,
                  MPI_Comm comm, const char *what);
int rt_wd_allgather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                    int recvcount, MPI_Datatype recvtype, MPI_Comm comm, const char *what);
int rt_wd_barrier(MPI_Comm comm, const char *what);
/* Point-to-point: MPI_Isend / MPI_Irecv plus rt_wd_wait (peer dest / src). */
int rt_wd_send(const void *buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm,
               const char *what);
int rt_wd_recv(void *buf, int count, MPI_Datatype type, int src, int tag, MPI_Comm comm,
               const char *what);
