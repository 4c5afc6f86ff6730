/* What the parts of `ringtune sweep` share (dist/sweep.c: the groups and their jobs;
   dist/sweep_coord.c: the coordinator; dist/sweep_msg.c: the messages). Private to dist/sweep*.

   The messages, on the sweep's own duplicate of the world communicator, are text:
     request (group leader -> world rank 0, SW_TAG_REQ): "req SIG FATAL\n" then the last job's
       result as a state-file JSON line (none for the first request); SIG: a signal is pending on
       the leader; FATAL: the result is an error that every trial would meet;
     reply (world rank 0 -> leader, SW_TAG_REP; then broadcast in the group): "job T K\n" and the
       trial's run config as canonical YAML, "wait\n" (ask again shortly), "done\n", or
       "stop S\n" (S = 1: a STOP was also sent to the leader's listener);
     stop (world rank 0 -> a leader's listener thread, SW_TAG_STOP): "stop": raise SIGUSR1 here,
       so the group's running trial checkpoints at its next step and the sweep can end. */
#pragma once
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include "mpictx.h"
#include "runlock.h"
#include "sweep_sched.h"
#include "sweep_space.h"
#include "sweep_spec.h"
#include "sweep_state.h"

enum { SW_TAG_REQ = 7101, SW_TAG_REP = 7102, SW_TAG_STOP = 7103 };
#define SW_MAX_RUNGS 32

/* The coordinator's state (world rank 0). Everything below lock is shared by the main thread
   (its own group's requests) and the serving thread (the other groups'). */
typedef struct {
    rt_sweep_spec spec;
    rt_sweep_trials trials;
    long rungs[SW_MAX_RUNGS]; /* the steps of each rung (one rung: the whole budget, -1: the run
                                 config's own) */
    int n_rungs;
    rt_runlock *runlock; /* the out dir's: one sweep per out dir */
    int replayed;        /* results read back from the state file */
    pthread_mutex_t lock;
    pthread_cond_t changed; /* a result came in, or stopping began */
    rt_sweep_sched sched;
    rt_sweep_state state;
    rt_status fatal; /* an error that ends the sweep; message in fatal_msg */
    char fatal_msg[4096];
    int signalled;         /* stopping began on a signal (or a trial interrupted by one) */
    int local_running;     /* rank 0's own group is running a job */
    int *finished;         /* (groups) the group got its last reply */
    int *stop_sent;        /* (groups) its leader's listener was sent a STOP */
    MPI_Request *stop_req; /* (groups) those sends */
    int remote_left;       /* groups other than rank 0's still to get their last reply */
    pthread_t thread;      /* serves the other groups */
    int thread_on;
} sw_coord;

typedef struct {
    rt_mpi_ctx *world;  /* borrowed */
    rt_mpi_ctx *group;  /* this rank's group: the trials' communicator; owned */
    MPI_Comm comm;      /* the sweep's duplicate of world->comm; owned */
    int k, groups, gid; /* ranks per trial, groups, this rank's group (world rank / k) */
    const char *out;    /* the sweep's out dir */
    FILE *log;          /* world rank 0's progress lines, or NULL */
    char metric[128];   /* the sweep's metric (every rank: group leaders read their trials') */
    int maximize;
    sw_coord *co;       /* world rank 0 only */
    pthread_t listener; /* the other groups' leaders: STOP -> SIGUSR1 */
    int listener_on;
    atomic_int listener_quit, expect_stop;
} sw_sweep;

/* ---- messages (dist/sweep_msg.c) ---- */

/* Sends len bytes to dest and waits for the send by polling with a backoff. scope != 0: inside a
   watchdog scope named what (the main thread only; the coordinator's thread passes 0). */
rt_status sw_send(MPI_Comm comm, int dest, int tag, const char *buf, int len, int scope,
                  const char *what);
/* Waits (polling with a backoff, in a watchdog scope when scope != 0) for a message from src
   with tag and receives it into a new NUL-terminated buffer *buf (caller frees) of *len bytes. */
rt_status sw_recv(MPI_Comm comm, int src, int tag, char **buf, int *len, int scope,
                  const char *what);
/* Receives a message with tag from any rank if one is there: 1 and *src, *buf (caller frees),
 *len; 0 when none. *st gets an MPI error. Never waits. */
int sw_try_recv(MPI_Comm comm, int tag, int *src, char **buf, int *len, rt_status *st);
/* Broadcasts group rank 0's *buf (*len bytes) to the group: the others get a new buffer.
   Collective over g->comm. */
rt_status sw_bcast(rt_mpi_ctx *g, char **buf, int *len);
/* One sleep of a polling loop that found nothing: *nap grows from 0.1 ms to max_s. */
void sw_nap(double *nap, double max_s);

/* ---- the coordinator (dist/sweep_coord.c), world rank 0 ---- */

/* A request's text (see above) with r when have; *len its length. NULL when out of memory. */
char *sw_request_text(const rt_job_result *r, int have, int fatal, int *len);

/* Reads the sweep file, draws the trials, checks what would fail them all, takes the out dir's
   lock, replays its state file and writes the first tables. Local (world rank 0). */
rt_status sw_coord_prepare(sw_sweep *w, const char *sweep_file);
/* Rank 0's own group: records its last result (have = 0: none) and returns its next reply in
 *msg (caller frees); waits a while on a "wait". */
rt_status sw_coord_local(sw_sweep *w, const rt_job_result *r, int have, int fatal, char **msg,
                         int *len);
/* Starts / joins the thread serving the other groups (only when groups > 1). */
rt_status sw_coord_start(sw_sweep *w);
void sw_coord_join(sw_sweep *w);
/* After every group finished (the serving thread joined): the final tables, best.yaml (when
   every trial finished), the table and a summary on the log; outcome[0..n_outcome) gets
   interrupted, best, trials, done, stopped early, pruned, failed (rt_sweep_outcome's order).
   Returns the error that ended the sweep, if one did. Local (world rank 0). */
rt_status sw_coord_finish(sw_sweep *w, int *outcome, int n_outcome);
/* Frees the coordinator's state (releasing the out dir's lock) and sets *co to NULL; NULL is a
   no-op. Local. */
void sw_coord_free(sw_coord **co);

/* The other groups' leaders: the thread that turns the coordinator's STOP into SIGUSR1
   (started after the split; stop joins it, after waiting for a STOP the coordinator announced
   in its last reply). Local. */
rt_status sw_listener_start(sw_sweep *w);
void sw_listener_stop(sw_sweep *w);
