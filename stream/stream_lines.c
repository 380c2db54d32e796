/* stream_lines.c — zero-copy line splitting over gzread (see stream_lines.h). */
#include "stream_lines.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

struct stream_lines {
    gzFile gz;         /* the input */
    char *buf;         /* [0, fill) holds input bytes */
    size_t cap;        /* bytes allocated */
    size_t pos;        /* next unread byte */
    size_t fill;       /* bytes held */
    uint32_t max_line; /* longest line kept whole */
    bool eof;          /* gzread returned 0 */
    uint64_t line_no;  /* lines handed out */
    uint64_t total;    /* file size, 0 if unknown */
    char name[256];    /* for messages */
};

sl_status stream_lines_open(const char *path, uint32_t max_line, stream_lines **out, sl_err *err) {
    *out = NULL;
    int fd = strcmp(path, "-") == 0 ? dup(STDIN_FILENO) : open(path, O_RDONLY);
    if (fd < 0)
        return sl_err_set(err, SL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        close(fd);
        return sl_err_set(err, SL_ERR_IO, "%s: is a directory", path);
    }
    stream_lines *r = calloc(1, sizeof *r);
    if (!r) {
        close(fd);
        return sl_err_set(err, SL_ERR_NOMEM, "out of memory");
    }
    r->total = S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
    r->max_line = max_line;
    r->cap = (size_t)max_line * 2 + (4u << 20);
    r->buf = malloc(r->cap);
    r->gz = gzdopen(fd, "rb");
    if (!r->buf || !r->gz) {
        if (!r->gz)
            close(fd);
        stream_lines_close(r);
        return sl_err_set(err, SL_ERR_NOMEM, "%s: cannot set up the reader", path);
    }
    gzbuffer(r->gz, 1u << 20);
    snprintf(r->name, sizeof r->name, "%s", path);
    *out = r;
    return SL_OK;
}

/* Reads into [fill, cap). */
static sl_status read_more(stream_lines *r, sl_err *err) {
    if (r->eof || r->fill == r->cap)
        return SL_OK;
    size_t room = r->cap - r->fill;
    int n = gzread(r->gz, r->buf + r->fill, room > (1u << 30) ? (1u << 30) : (unsigned)room);
    if (n < 0) {
        int zerr;
        const char *msg = gzerror(r->gz, &zerr);
        return sl_err_set(err, SL_ERR_IO, "%s: read error: %s", r->name,
                          zerr == Z_ERRNO ? strerror(errno) : msg);
    }
    if (n == 0)
        r->eof = true;
    r->fill += (size_t)n;
    return SL_OK;
}

sl_status stream_lines_refill(stream_lines *r, sl_err *err) {
    if (r->pos) {
        memmove(r->buf, r->buf + r->pos, r->fill - r->pos);
        r->fill -= r->pos;
        r->pos = 0;
    }
    return read_more(r, err);
}

int stream_lines_next(stream_lines *r, stream_line *line) {
    size_t avail = r->fill - r->pos;
    if (avail == 0)
        return r->eof ? -1 : 0;
    char *start = r->buf + r->pos;
    size_t look = avail < r->max_line + 1u ? avail : r->max_line + 1u;
    char *nl = memchr(start, '\n', look);
    if (nl) {
        size_t len = (size_t)(nl - start);
        *line = (stream_line){start, (uint32_t)len, false, len, ++r->line_no};
        r->pos += len + 1;
        return 1;
    }
    if (avail <= r->max_line && !r->eof)
        return 0;               /* a line in progress: needs more input */
    if (avail <= r->max_line) { /* the last line has no newline */
        *line = (stream_line){start, (uint32_t)avail, false, avail, ++r->line_no};
        r->pos = r->fill;
        return 1;
    }
    /* Too long: keep max_line bytes, count and drop the rest of the line,
     * using the buffer after the kept bytes as scratch. */
    size_t keep_end = r->pos + r->max_line;
    uint64_t full = r->max_line;
    size_t scan = keep_end;
    for (;;) {
        char *q = memchr(r->buf + scan, '\n', r->fill - scan);
        if (q) {
            full += (uint64_t)(q - (r->buf + scan));
            size_t rest = r->fill - (size_t)(q + 1 - r->buf);
            memmove(r->buf + keep_end, q + 1, rest);
            r->fill = keep_end + rest;
            break;
        }
        full += r->fill - scan;
        r->fill = keep_end;
        scan = keep_end;
        if (r->eof || read_more(r, NULL) != SL_OK || r->fill == keep_end)
            break;
    }
    *line = (stream_line){start, r->max_line, true, full, ++r->line_no};
    r->pos = keep_end;
    return 1;
}

void stream_lines_progress(const stream_lines *r, uint64_t *done, uint64_t *total) {
    z_off_t off = r->gz ? gzoffset(r->gz) : 0;
    *done = off > 0 ? (uint64_t)off : 0;
    *total = r->total;
}

void stream_lines_close(stream_lines *r) {
    if (!r)
        return;
    if (r->gz)
        gzclose(r->gz);
    free(r->buf);
    free(r);
}
