/* Filesystem helpers for the io layer: replace a file atomically (write a temp file beside it,
   fsync, rename over, fsync the directory), read a whole small file, and mkdir -p.
   Not collective: each function acts on the calling process's view of the filesystem. */
#pragma once
#include <stddef.h>
#include "status.h"

/* A file being written atomically: bytes go to "<path>.tmp.<pid>" until rt_fs_atomic_commit. */
typedef struct {
    char *path; /* owned copy of the final path */
    char *tmp;  /* owned "<path>.tmp.<pid>" */
    int fd;     /* -1 when closed */
} rt_fs_atomic;

/* Creates (truncates) the temp file for path. On failure nothing is left behind and *a needs no
   cleanup. Returns RT_ERR_IO (message names the temp path and the OS error) or RT_ERR_MEMORY. */
rt_status rt_fs_atomic_open(rt_fs_atomic *a, const char *path);
/* Appends n bytes (retrying short writes). On failure removes the temp file (the final path is
   untouched) and returns RT_ERR_IO; *a is then closed and needs no abort. */
rt_status rt_fs_atomic_write(rt_fs_atomic *a, const void *buf, size_t n);
/* fsyncs and closes the temp file, renames it over the final path and fsyncs the directory.
   On failure before the rename the temp file is removed and an existing file at path is
   untouched. *a is closed and freed either way. */
rt_status rt_fs_atomic_commit(rt_fs_atomic *a);
/* Closes and removes the temp file and frees *a; safe on a closed or committed *a. */
void rt_fs_atomic_abort(rt_fs_atomic *a);

/* Writes n bytes of buf to path atomically (open, write, commit). */
rt_status rt_fs_write_file_atomic(const char *path, const void *buf, size_t n);

/* Reads the whole regular file at path into a new buffer with a NUL appended (not counted in
 *n). Caller frees *out with free(). RT_ERR_IO names the path and the OS error. */
rt_status rt_fs_read_file(const char *path, char **out, size_t *n);

/* Creates dir and its missing parents with mode 0777 (umask applies); existing directories are
   fine, an existing non-directory is RT_ERR_IO. */
rt_status rt_fs_mkdir_p(const char *dir);

/* fsyncs directory dir (filesystems that cannot fsync a directory are tolerated), or the
   directory holding path, so a rename or create inside it is durable. */
rt_status rt_fs_sync_dir(const char *dir);
rt_status rt_fs_sync_parent(const char *path);

/* 1 when path exists (any file type), else 0. */
int rt_fs_exists(const char *path);

/* Returns a new string "a/b" (no doubled slash when a ends with one). Caller frees; NULL when
   out of memory. */
char *rt_fs_join(const char *a, const char *b);
