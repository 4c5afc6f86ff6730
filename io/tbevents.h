/* TensorBoard event files: the records TensorFlow's summary writers produce, so TensorBoard (and
   anything reading its format) shows ringtune's scalars. A file is a sequence of TFRecords
     uint64 length (little endian), uint32 masked CRC32C of those 8 bytes,
     `length` bytes of a serialized Event (proto/tbevent.proto), uint32 masked CRC32C of them
   with mask(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8; the first Event holds file_version
   "brain.Event:2". Files are named events.out.tfevents.<unix seconds>.<host>.<pid>.<n> as
   TensorFlow names them; the seconds are advanced past any event file already in the directory
   so that names sort in the order the files were written (readers load them in name order).
   Not collective and no MPI: the trainer calls these on one rank. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "status.h"

typedef struct rt_tb_writer rt_tb_writer;

/* Creates dir (and parents) if needed and a new event file in it (never replacing one), and
   writes the file_version record. *w owns the file; close it with rt_tb_close. On failure *w is
   NULL and RT_ERR_IO names the directory or file and the OS error. */
rt_status rt_tb_open(rt_tb_writer **w, const char *dir);

/* Appends a SessionLog START record at step: the run (re)starts there. TensorBoard then drops the
   events of steps >= step read earlier (from this directory's older files), which is how a
   resumed run supersedes what a crashed run wrote after its last checkpoint. */
rt_status rt_tb_session_start(rt_tb_writer *w, long step);

/* Appends one Event at step holding n scalar values (tags[i], values[i] rounded to float, the
   type TensorBoard stores). Values are buffered: call rt_tb_flush to push them to the file. */
rt_status rt_tb_scalars(rt_tb_writer *w, long step, int n, const char *const *tags,
                        const double *values);

/* Writes buffered records to the file (no fsync). */
rt_status rt_tb_flush(rt_tb_writer *w);

/* Flushes, closes and frees *w (NULL is fine) and sets it to NULL; RT_ERR_IO if the last writes
   failed. */
rt_status rt_tb_close(rt_tb_writer **w);

/* Closes and frees *w (NULL is fine) without reporting: for cleanup paths, where a failure of
   the last flush was already reported (or another error is being returned). */
void rt_tb_free(rt_tb_writer **w);

/* The file's path (owned by w). */
const char *rt_tb_path(const rt_tb_writer *w);

/* CRC-32C (Castagnoli; init and final xor 0xffffffff) of n bytes, and the TFRecord mask. */
uint32_t rt_tb_crc32c(const void *p, size_t n);
uint32_t rt_tb_mask_crc(uint32_t crc);

/* Frames a payload of n bytes as one TFRecord: writes the 12-byte header to head and the 4-byte
   footer to foot. */
void rt_tb_frame(const void *payload, size_t n, uint8_t head[12], uint8_t foot[4]);
