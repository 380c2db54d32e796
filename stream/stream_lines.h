/*
 * stream_lines.h — JSON Lines input: a file, a gzip file or stdin, split
 * into lines without copying them.
 *
 * Lines point into the reader's buffer and stay valid until the next
 * stream_lines_refill(); a batch takes lines, is processed, and only then is
 * the buffer refilled. A line longer than max_line bytes is cut: the reader
 * returns its first max_line bytes with `cut` set and its full length, and
 * skips the rest, so memory stays bounded whatever the input. Reading uses
 * zlib's gz* calls, which read plain files transparently, so `.gz` needs no
 * flag. Not thread-safe.
 */
#ifndef STREAM_LINES_H
#define STREAM_LINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_status.h"

typedef struct stream_lines stream_lines;

typedef struct stream_line {
    const char *p;     /* first byte; valid until the next refill */
    uint32_t len;      /* bytes, without the newline */
    bool cut;          /* the line was longer than max_line */
    uint64_t full_len; /* its real length (== len unless cut) */
    uint64_t number;   /* 1-based line number */
} stream_line;

/* Opens path ("-" = stdin). OUT: *out. SL_ERR_IO with the reason in err. */
sl_status stream_lines_open(const char *path, uint32_t max_line, stream_lines **out, sl_err *err);
/* 1: *line filled; 0: the buffered data is used up (refill, then retry);
 * -1: end of input. */
int stream_lines_next(stream_lines *r, stream_line *line);
/* Drops the lines handed out so far and reads more input. SL_ERR_IO on a
 * read error (e.g. a corrupt gzip stream), with the reason in err. */
sl_status stream_lines_refill(stream_lines *r, sl_err *err);
/* Input bytes consumed so far (compressed bytes for gzip) and the input's
 * size (0 when unknown, e.g. stdin): for progress. */
void stream_lines_progress(const stream_lines *r, uint64_t *done, uint64_t *total);
void stream_lines_close(stream_lines *r);

#endif
