/* Small HDF5 helpers (io/h5util.h). */
#include "h5util.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- HDF5 error handling ------------------------------------------------------------------ */

void rt_h5_quiet_on(rt_h5quiet *q) {
    H5Eget_auto2(H5E_DEFAULT, &q->fn, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void rt_h5_quiet_off(const rt_h5quiet *q) {
    H5Eset_auto2(H5E_DEFAULT, q->fn, q->data);
}

static herr_t innermost_cb(unsigned n, const H5E_error2_t *e, void *data) {
    if (n == 0 && e->desc) {
        snprintf((char *)data, 512, "%s", e->desc);
        for (char *c = data; *c; c++)
            if (*c == '\n') *c = ' '; /* one-line messages */
    }
    return 0;
}

/* Records RT_ERR_HDF5 with the caller's text and the innermost HDF5 error description. */
rt_status rt_h5_fail(const char *fmt, ...) {
    char what[2048], detail[512] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_cb, detail);
    H5Eclear2(H5E_DEFAULT);
    return rt_error(RT_ERR_HDF5, "%s%s%s", what, detail[0] ? ": " : "", detail);
}

static herr_t checksum_cb(unsigned n, const H5E_error2_t *e, void *data) {
    (void)n;
    int *kind = data;
    if (!e->desc) return 0;
    /* H5Zfletcher32.c: "data error detected by Fletcher32 checksum"; H5C.c: "incorrect metadata
       checksum after all read attempts" */
    if (strstr(e->desc, "Fletcher32"))
        *kind = RT_H5_DATA_CHECKSUM;
    else if (strstr(e->desc, "checksum") && *kind == 0)
        *kind = RT_H5_META_CHECKSUM;
    return 0;
}

int rt_h5_checksum_failure(void) {
    int kind = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, checksum_cb, &kind);
    return kind;
}

void rt_h5_close(hid_t *id, herr_t (*fn)(hid_t)) {
    if (*id >= 0) fn(*id);
    *id = H5I_INVALID_HID;
}

/* Plain POSIX I/O (serial, any file system). HDF5 1.10 locks files with flock(); where the file
   system does not implement it (some NFS/Lustre mounts) go on without the lock instead of failing
   with "unable to lock file". */
int rt_h5_file_access(hid_t fapl) {
    return H5Pset_fapl_sec2(fapl) >= 0 && H5Pset_file_locking(fapl, 1, 1) >= 0;
}

int rt_h5_checksummed_format(hid_t fapl) {
    return H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_LATEST) >= 0 &&
           H5Pset_meta_block_size(fapl, 0) >= 0 && H5Pset_small_data_block_size(fapl, 0) >= 0;
}

/* ---- attributes --------------------------------------------------------------------------- */

int rt_h5_put_attr(hid_t obj, const char *name, hid_t ftype, hid_t mtype, const void *v) {
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = s < 0 ? -1 : H5Acreate2(obj, name, ftype, s, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, mtype, v) >= 0;
    if (a >= 0) H5Aclose(a);
    if (s >= 0) H5Sclose(s);
    return ok;
}

int rt_h5_put_str(hid_t obj, const char *name, const char *v) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return 0;
    int ok = H5Tset_size(t, H5T_VARIABLE) >= 0 && H5Tset_cset(t, H5T_CSET_UTF8) >= 0;
    const char *s = v ? v : "";
    ok = ok && rt_h5_put_attr(obj, name, t, t, &s);
    H5Tclose(t);
    return ok;
}

int rt_h5_put_i64(hid_t obj, const char *name, int64_t v) {
    return rt_h5_put_attr(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}

int rt_h5_put_i32(hid_t obj, const char *name, int32_t v) {
    return rt_h5_put_attr(obj, name, H5T_STD_I32LE, H5T_NATIVE_INT32, &v);
}

int rt_h5_put_f64(hid_t obj, const char *name, double v) {
    return rt_h5_put_attr(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

static int put_fixed(hid_t obj, const char *name, const char *v, H5T_cset_t cset) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return 0;
    int ok = H5Tset_size(t, strlen(v) + 1) >= 0 && H5Tset_strpad(t, H5T_STR_NULLTERM) >= 0 &&
             H5Tset_cset(t, cset) >= 0;
    ok = ok && rt_h5_put_attr(obj, name, t, t, v);
    H5Tclose(t);
    return ok;
}

int rt_h5_put_fixed_str(hid_t obj, const char *name, const char *v) {
    return put_fixed(obj, name, v, H5T_CSET_ASCII);
}

int rt_h5_put_fixed_utf8(hid_t obj, const char *name, const char *v) {
    return put_fixed(obj, name, v ? v : "", H5T_CSET_UTF8);
}
