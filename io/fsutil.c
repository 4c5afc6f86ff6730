/* Atomic file replacement, whole-file reads and mkdir -p. A crash or error at any point leaves
   either the old file or the new one at the final path, never a torn one. */
#include "fsutil.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static char *fs_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

char *rt_fs_join(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    int slash = na > 0 && a[na - 1] != '/';
    char *s = malloc(na + (size_t)slash + nb + 1);
    if (!s) return NULL;
    memcpy(s, a, na);
    if (slash) s[na] = '/';
    memcpy(s + na + slash, b, nb + 1);
    return s;
}

int rt_fs_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static void fs_release(rt_fs_atomic *a) {
    free(a->path);
    free(a->tmp);
    a->path = a->tmp = NULL;
    a->fd = -1;
}

rt_status rt_fs_atomic_open(rt_fs_atomic *a, const char *path) {
    a->fd = -1;
    a->path = fs_strdup(path);
    size_t n = strlen(path) + 32;
    a->tmp = malloc(n);
    if (!a->path || !a->tmp) {
        fs_release(a);
        return rt_error(RT_ERR_MEMORY, "%s: out of memory", path);
    }
    snprintf(a->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    a->fd = open(a->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (a->fd < 0) {
        int e = errno;
        rt_status s = rt_error(RT_ERR_IO, "%s: cannot create temporary file %s: %s", path, a->tmp,
                               strerror(e));
        fs_release(a); /* nothing was created: do not unlink whatever is at tmp */
        return s;
    }
    return RT_OK;
}

void rt_fs_atomic_abort(rt_fs_atomic *a) {
    if (a->fd >= 0) {
        close(a->fd);
        if (a->tmp) unlink(a->tmp);
    }
    fs_release(a);
}

rt_status rt_fs_atomic_write(rt_fs_atomic *a, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        size_t chunk = n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n;
        ssize_t w = write(a->fd, p, chunk);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            rt_status s =
                rt_error(RT_ERR_IO, "%s: writing %s failed: %s", a->path, a->tmp, strerror(e));
            rt_fs_atomic_abort(a);
            return s;
        }
        p += w;
        n -= (size_t)w;
    }
    return RT_OK;
}

rt_status rt_fs_sync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return rt_error(RT_ERR_IO, "cannot open directory %s to fsync it: %s", dir,
                        strerror(errno));
    rt_status s = RT_OK;
    /* Some filesystems cannot fsync a directory (EINVAL); the rename is done regardless. */
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
        s = rt_error(RT_ERR_IO, "fsync of directory %s failed: %s", dir, strerror(errno));
    close(fd);
    return s;
}

rt_status rt_fs_sync_parent(const char *path) {
    char *dir = fs_strdup(path);
    if (!dir) return rt_error(RT_ERR_MEMORY, "%s: out of memory", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;
    rt_status s = rt_fs_sync_dir(dir);
    free(dir);
    return s;
}

rt_status rt_fs_atomic_commit(rt_fs_atomic *a) {
    if (a->fd < 0) {
        fs_release(a);
        return rt_error(RT_ERR_INTERNAL, "rt_fs_atomic_commit on a closed file");
    }
    if (fsync(a->fd) != 0) {
        rt_status s =
            rt_error(RT_ERR_IO, "%s: fsync of %s failed: %s", a->path, a->tmp, strerror(errno));
        rt_fs_atomic_abort(a);
        return s;
    }
    int fd = a->fd;
    a->fd = -1;
    if (close(fd) != 0) {
        rt_status s =
            rt_error(RT_ERR_IO, "%s: closing %s failed: %s", a->path, a->tmp, strerror(errno));
        unlink(a->tmp);
        fs_release(a);
        return s;
    }
    if (rename(a->tmp, a->path) != 0) {
        rt_status s = rt_error(RT_ERR_IO, "%s: renaming %s over it failed: %s", a->path, a->tmp,
                               strerror(errno));
        unlink(a->tmp);
        fs_release(a);
        return s;
    }
    rt_status s = rt_fs_sync_parent(a->path);
    fs_release(a);
    return s;
}

rt_status rt_fs_write_file_atomic(const char *path, const void *buf, size_t n) {
    rt_fs_atomic a;
    RT_CALL(rt_fs_atomic_open(&a, path));
    RT_CALL(rt_fs_atomic_write(&a, buf, n));
    RT_CALL(rt_fs_atomic_commit(&a));
    return RT_OK;
}

rt_status rt_fs_read_file(const char *path, char **out, size_t *n) {
    *out = NULL;
    *n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rt_error(RT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    int fst = fstat(fd, &st);
    if (fst != 0 || !S_ISREG(st.st_mode)) {
        int e = fst != 0 ? errno : 0;
        close(fd);
        return rt_error(RT_ERR_IO, "%s: not a readable regular file%s%s", path, e ? ": " : "",
                        e ? strerror(e) : "");
    }
    size_t size = (size_t)st.st_size;
    char *buf = malloc(size + 1);
    if (!buf) {
        close(fd);
        return rt_error(RT_ERR_MEMORY, "%s: cannot allocate %zu bytes", path, size + 1);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            free(buf);
            return rt_error(RT_ERR_IO, "%s: read failed: %s", path, strerror(e));
        }
        if (r == 0) break; /* shrank while reading: take what is there */
        got += (size_t)r;
    }
    close(fd);
    buf[got] = 0;
    *out = buf;
    *n = got;
    return RT_OK;
}

rt_status rt_fs_mkdir_p(const char *dir) {
    char *p = fs_strdup(dir);
    if (!p) return rt_error(RT_ERR_MEMORY, "%s: out of memory", dir);
    size_t len = strlen(p);
    while (len > 1 && p[len - 1] == '/') p[--len] = 0;
    for (size_t i = 1; i <= len; i++) {
        if (p[i] != '/' && p[i] != 0) continue;
        char c = p[i];
        p[i] = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            rt_status s =
                rt_error(RT_ERR_IO, "%s: cannot create directory %s: %s", dir, p, strerror(errno));
            free(p);
            return s;
        }
        p[i] = c;
    }
    struct stat st;
    rt_status s = RT_OK;
    if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
        s = rt_error(RT_ERR_IO, "%s: exists and is not a directory", dir);
    free(p);
    return s;
}
