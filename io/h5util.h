/* Small HDF5 helpers shared by the io files that use HDF5 (corpus, checkpoint shards): quiet
   error printing, one rt_error message from HDF5's error stack, plain POSIX file access, scalar
   attributes. Not thread-safe (Debian's parallel HDF5 is built without thread safety). */
#pragma once
#include <stdint.h>
#include <hdf5.h>
#include "status.h"

/* HDF5's automatic error printing, saved and switched off between quiet_on and quiet_off. */
typedef struct {
    H5E_auto2_t fn;
    void *data;
} rt_h5quiet;
void rt_h5_quiet_on(rt_h5quiet *q);
void rt_h5_quiet_off(const rt_h5quiet *q);

/* Records RT_ERR_HDF5 with the caller's text and the innermost HDF5 error description, and
   clears HDF5's error stack. */
rt_status rt_h5_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Which checksum HDF5's error stack reports, looked at without clearing it (call before
   rt_h5_fail): RT_H5_DATA_CHECKSUM when a raw data chunk failed its filter checksum (fletcher32),
   RT_H5_META_CHECKSUM when a block of HDF5's own metadata failed its checksum, 0 otherwise. */
enum { RT_H5_DATA_CHECKSUM = 1, RT_H5_META_CHECKSUM = 2 };
int rt_h5_checksum_failure(void);

/* Closes *id with fn when it is valid and sets it to H5I_INVALID_HID. */
void rt_h5_close(hid_t *id, herr_t (*fn)(hid_t));

/* Plain POSIX I/O (serial, any file system). HDF5 1.10 locks files with flock(); where the file
   system does not implement it (some NFS/Lustre mounts) go on without the lock instead of failing
   with "unable to lock file". Returns 1 on success. */
int rt_h5_file_access(hid_t fapl);

/* Sets fapl to write the HDF5 1.10 file format: superblock version 3, version 2 object headers
   and chunk indexes (extensible and fixed arrays, version 2 B-trees) whose every metadata block
   carries a checksum that HDF5 verifies when it reads the block; and no aggregation slack, so no
   stale bytes lie between the blocks. Files written so need HDF5 >= 1.10 to read. Returns 1 on
   success. */
int rt_h5_checksummed_format(hid_t fapl);

/* Scalar attributes on obj; return 1 on success. */
int rt_h5_put_attr(hid_t obj, const char *name, hid_t ftype, hid_t mtype, const void *v);
int rt_h5_put_str(hid_t obj, const char *name, const char *v);
/* A fixed-length string: stored in the object header (checksummed in the 1.8+ format), not in
   the global heap as variable-length strings are. */
int rt_h5_put_fixed_str(hid_t obj, const char *name, const char *v);
/* The same with character set UTF-8 (for text such as file names). */
int rt_h5_put_fixed_utf8(hid_t obj, const char *name, const char *v);
int rt_h5_put_i64(hid_t obj, const char *name, int64_t v);
int rt_h5_put_i32(hid_t obj, const char *name, int32_t v);
int rt_h5_put_f64(hid_t obj, const char *name, double v);
