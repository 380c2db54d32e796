/* stream_snapfile.c — reading snapshot files (stream_snapfile.h). */
#include "stream_snapfile.h"

#include "op_graph.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

sl_status stream_snapfile_read(const char *path, void **buf, size_t *len, sl_err *err) {
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return sl_err_set(err, SL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    sl_status st = SL_OK;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = sl_err_set(err, SL_ERR_IO, "%s: not a regular file", path);
        goto out;
    }
    if (sb.st_size == 0 || (uint64_t)sb.st_size > STREAM_SNAPFILE_MAX) {
        st = sl_err_set(err, SL_ERR_IO, "%s: %lld bytes is not a snapshot size (1..%zu)", path,
                        (long long)sb.st_size, STREAM_SNAPFILE_MAX);
        goto out;
    }
    size_t n = (size_t)sb.st_size;
    void *p = aligned_alloc(8, (n + 7) & ~(size_t)7); /* aligned: zero-copy float views */
    if (!p) {
        st = sl_err_set(err, SL_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n);
        goto out;
    }
    if (fread(p, 1, n, f) != n) {
        free(p);
        st = sl_err_set(err, SL_ERR_IO, "%s: read failed: %s", path,
                        ferror(f) ? strerror(errno) : "the file shrank");
        goto out;
    }
    *buf = p;
    *len = n;
out:
    fclose(f);
    return st;
}

void stream_snapfile_free(void *buf) { free(buf); }

sl_status stream_snapfile_read_all(const char *const *paths, uint32_t n, op_warm_start *warm,
                                   sl_err *err) {
    memset(warm, 0, n * sizeof *warm);
    for (uint32_t i = 0; i < n; i++) {
        void *b;
        size_t len;
        sl_status st = stream_snapfile_read(paths[i], &b, &len, err);
        if (st) {
            stream_snapfile_free_all(warm, i);
            return st;
        }
        warm[i] = (op_warm_start){b, len, paths[i]};
    }
    return SL_OK;
}

sl_status stream_snapfile_graph_create(const sl_config *cfg, state_store *store,
                                       const char *const *paths, uint32_t n, sl_status bad,
                                       op_graph **g, sl_err *err) {
    op_warm_start warm[STREAM_SNAPFILE_WARM_MAX];
    if (n > STREAM_SNAPFILE_WARM_MAX)
        return sl_err_set(err, bad, "at most %d --warm-start files", STREAM_SNAPFILE_WARM_MAX);
    sl_status st = stream_snapfile_read_all(paths, n, warm, err);
    if (st)
        return st == SL_ERR_IO ? bad : st;
    st = op_graph_create_warm(cfg, store, warm, n, g, err);
    stream_snapfile_free_all(warm, n);
    if (n && (st == SL_ERR_INVALID || st == SL_ERR_CORRUPT))
        st = bad; /* an unusable warm start is a bad input */
    return st;
}

void stream_snapfile_free_all(op_warm_start *warm, uint32_t n) {
    for (uint32_t i = 0; warm && i < n; i++)
        free((void *)warm[i].blob);
}
