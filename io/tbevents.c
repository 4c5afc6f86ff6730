/* TensorBoard event files (see tbevents.h). CRC32C comes from ISA-L (crc32_iscsi). */
#include "tbevents.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <isa-l/crc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "fsutil.h"
#include "tbevent.pb-c.h"

#define TB_PREFIX "events.out.tfevents."

struct rt_tb_writer {
    char *path;
    FILE *f;
    int failed; /* a write failed: later calls report it */
};

uint32_t rt_tb_crc32c(const void *p, size_t n) {
    /* ISA-L's crc32_iscsi takes the running register and leaves out the final inversion: with
       init 0xffffffff and the result inverted it is the standard CRC-32C (tested with the check
       value of "123456789", 0xe3069283). Lengths beyond INT_MAX go in pieces. */
    const unsigned char *b = p;
    uint32_t c = 0xffffffffu;
    while (n > 0) {
        int k = n > (1u << 30) ? (1 << 30) : (int)n;
        c = crc32_iscsi((unsigned char *)b, k, c);
        b += k;
        n -= (size_t)k;
    }
    return ~c;
}

uint32_t rt_tb_mask_crc(uint32_t crc) {
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

static void put_le(uint8_t *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

void rt_tb_frame(const void *payload, size_t n, uint8_t head[12], uint8_t foot[4]) {
    put_le(head, (uint64_t)n, 8);
    put_le(head + 8, rt_tb_mask_crc(rt_tb_crc32c(head, 8)), 4);
    put_le(foot, rt_tb_mask_crc(rt_tb_crc32c(payload, n)), 4);
}

static double wall_now(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec * 1e-6;
}

/* Serializes ev and appends it as one record. */
static rt_status write_event(rt_tb_writer *w, Ringtune__Tb__Event *ev) {
    if (w->failed) return rt_error(RT_ERR_IO, "%s: an earlier write failed", w->path);
    size_t n = ringtune__tb__event__get_packed_size(ev);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) return rt_error(RT_ERR_MEMORY, "%s: out of memory for an event", w->path);
    ringtune__tb__event__pack(ev, buf);
    uint8_t head[12], foot[4];
    rt_tb_frame(buf, n, head, foot);
    int ok = fwrite(head, 1, 12, w->f) == 12 && fwrite(buf, 1, n, w->f) == n &&
             fwrite(foot, 1, 4, w->f) == 4;
    int err = errno;
    free(buf);
    if (!ok) {
        w->failed = 1;
        return rt_error(RT_ERR_IO, "%s: cannot write a TensorBoard event: %s", w->path,
                        strerror(err));
    }
    return RT_OK;
}

/* The first second after every existing event file's in dir, or now if later. */
static long long file_seconds(const char *dir) {
    long long t = (long long)time(NULL);
    DIR *d = opendir(dir);
    if (!d) return t;
    struct dirent *e;
    size_t np = strlen(TB_PREFIX);
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, TB_PREFIX, np) != 0) continue;
        long long s = strtoll(e->d_name + np, NULL, 10);
        if (s >= t) t = s + 1;
    }
    closedir(d);
    return t;
}

/* Creates a new file named like TensorFlow's in dir; *fd and *path on success. */
static rt_status create_file(const char *dir, int *fd, char **path) {
    char host[256] = "localhost";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0]) snprintf(host, sizeof host, "host");
    host[sizeof host - 1] = 0;
    long long secs = file_seconds(dir);
    for (int n = 0; n < 1000; n++) {
        char name[512];
        snprintf(name, sizeof name, "%s%010lld.%s.%ld.%d", TB_PREFIX, secs, host, (long)getpid(),
                 n);
        char *p = rt_fs_join(dir, name);
        if (!p) return rt_error(RT_ERR_MEMORY, "out of memory");
        *fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (*fd >= 0) {
            *path = p;
            return RT_OK;
        }
        int err = errno;
        if (err != EEXIST) {
            rt_status s = rt_error(RT_ERR_IO, "%s: cannot create the TensorBoard event file: %s", p,
                                   strerror(err));
            free(p);
            return s;
        }
        free(p);
    }
    return rt_error(RT_ERR_IO, "%s: no free TensorBoard event file name", dir);
}

rt_status rt_tb_open(rt_tb_writer **out, const char *dir) {
    *out = NULL;
    RT_CALL(rt_fs_mkdir_p(dir));
    rt_tb_writer *w = calloc(1, sizeof *w);
    if (!w) return rt_error(RT_ERR_MEMORY, "out of memory");
    int fd = -1;
    rt_status st = create_file(dir, &fd, &w->path);
    if (st != RT_OK) {
        free(w);
        return st;
    }
    if (!(w->f = fdopen(fd, "wb"))) {
        st = rt_error(RT_ERR_IO, "%s: %s", w->path, strerror(errno));
        close(fd);
        unlink(w->path);
        free(w->path);
        free(w);
        return st;
    }
    Ringtune__Tb__Event ev = RINGTUNE__TB__EVENT__INIT;
    ev.wall_time = wall_now();
    ev.what_case = RINGTUNE__TB__EVENT__WHAT_FILE_VERSION;
    ev.file_version = "brain.Event:2";
    st = write_event(w, &ev);
    if (st == RT_OK) st = rt_tb_flush(w);
    if (st != RT_OK) {
        rt_tb_close(&w);
        return st;
    }
    *out = w;
    return RT_OK;
}

rt_status rt_tb_session_start(rt_tb_writer *w, long step) {
    Ringtune__Tb__SessionLog sl = RINGTUNE__TB__SESSION_LOG__INIT;
    sl.status = RINGTUNE__TB__SESSION_LOG__SESSION_STATUS__START;
    Ringtune__Tb__Event ev = RINGTUNE__TB__EVENT__INIT;
    ev.wall_time = wall_now();
    ev.step = step;
    ev.what_case = RINGTUNE__TB__EVENT__WHAT_SESSION_LOG;
    ev.session_log = &sl;
    return write_event(w, &ev);
}

rt_status rt_tb_scalars(rt_tb_writer *w, long step, int n, const char *const *tags,
                        const double *values) {
    enum { MAX = 32 };
    if (n < 0 || n > MAX)
        return rt_error(RT_ERR_INTERNAL, "rt_tb_scalars: %d values (at most %d)", n, MAX);
    Ringtune__Tb__Summary__Value v[MAX], *vp[MAX];
    for (int i = 0; i < n; i++) {
        ringtune__tb__summary__value__init(&v[i]);
        v[i].tag = (char *)tags[i];
        v[i].value_case = RINGTUNE__TB__SUMMARY__VALUE__VALUE_SIMPLE_VALUE;
        v[i].simple_value = (float)values[i];
        vp[i] = &v[i];
    }
    Ringtune__Tb__Summary sum = RINGTUNE__TB__SUMMARY__INIT;
    sum.n_value = (size_t)n;
    sum.value = vp;
    Ringtune__Tb__Event ev = RINGTUNE__TB__EVENT__INIT;
    ev.wall_time = wall_now();
    ev.step = step;
    ev.what_case = RINGTUNE__TB__EVENT__WHAT_SUMMARY;
    ev.summary = &sum;
    return write_event(w, &ev);
}

rt_status rt_tb_flush(rt_tb_writer *w) {
    if (w->failed) return rt_error(RT_ERR_IO, "%s: an earlier write failed", w->path);
    if (fflush(w->f) != 0) {
        w->failed = 1;
        return rt_error(RT_ERR_IO, "%s: cannot write TensorBoard events: %s", w->path,
                        strerror(errno));
    }
    return RT_OK;
}

rt_status rt_tb_close(rt_tb_writer **wp) {
    rt_tb_writer *w = *wp;
    if (!w) return RT_OK;
    *wp = NULL;
    rt_status st = RT_OK;
    int err = 0;
    if (fclose(w->f) != 0) err = errno;
    if (w->failed || err)
        st = rt_error(RT_ERR_IO, "%s: cannot write TensorBoard events%s%s", w->path,
                      err ? ": " : "", err ? strerror(err) : "");
    free(w->path);
    free(w);
    return st;
}

void rt_tb_free(rt_tb_writer **wp) {
    rt_tb_writer *w = *wp;
    if (!w) return;
    *wp = NULL;
    fclose(w->f);
    free(w->path);
    free(w);
}

const char *rt_tb_path(const rt_tb_writer *w) {
    return w->path;
}
