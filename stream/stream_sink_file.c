/* stream_sink_file.c — the file sinks of replay (see stream_sink.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stream_sink.h"

typedef struct sink_files {
    char dir[1024];            /* output directory */
    FILE *f[OP_CHANNEL_COUNT]; /* JSON Lines files (NULL for snapshots) */
} sink_files;

sl_status stream_mkdirs(const char *dir, sl_err *err) {
    char path[1024];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return sl_err_set(err, SL_ERR_IO, "%s: path too long", dir);
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(path, 0777) != 0 && errno != EEXIST)
                return sl_err_set(err, SL_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
            *p = c;
            if (!c)
                break;
        }
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return sl_err_set(err, SL_ERR_IO, "%s: not a directory", dir);
    return SL_OK;
}

static sl_status files_write(void *ctx, const op_batch *b, sl_err *err) {
    sink_files *s = ctx;
    for (int c = 0; c < OP_CHANNEL_COUNT; c++) {
        const op_outbox *o = &b->out[c];
        for (uint32_t i = 0; i < o->n; i++) {
            const op_out *r = &o->recs[i];
            if (c == OP_CHANNEL_SNAPSHOTS) {
                /* DIR/snapshots/NAME.snap holds the latest snapshot of a
                 * model (as the compacted topic does). Written to a
                 * temporary file, synced, then renamed over the old one, so
                 * a reader or a crash never sees half a snapshot. */
                char path[1200], tmp[1210];
                snprintf(path, sizeof path, "%s/snapshots/%.*s.snap", s->dir, (int)r->key_len,
                         o->data.p + r->key_off);
                snprintf(tmp, sizeof tmp, "%s.tmp", path);
                FILE *f = fopen(tmp, "wb");
                bool ok = f && fwrite(o->data.p + r->val_off, 1, r->val_len, f) == r->val_len &&
                          fflush(f) == 0 && fdatasync(fileno(f)) == 0;
                if (f && fclose(f) != 0)
                    ok = false;
                if (!ok || rename(tmp, path) != 0)
                    return sl_err_set(err, SL_ERR_IO, "%s: cannot write: %s", path,
                                      strerror(errno));
                continue;
            }
            if (fwrite(o->data.p + r->val_off, 1, r->val_len, s->f[c]) != r->val_len ||
                putc('\n', s->f[c]) == EOF)
                return sl_err_set(err, SL_ERR_IO, "%s/%s.jsonl: write failed: %s", s->dir,
                                  op_channel_str((op_channel)c), strerror(errno));
        }
    }
    return SL_OK;
}

static sl_status files_flush(void *ctx, sl_err *err) {
    sink_files *s = ctx;
    for (int c = 0; c < OP_CHANNEL_COUNT; c++)
        if (s->f[c] && (fflush(s->f[c]) != 0 || fdatasync(fileno(s->f[c])) != 0))
            return sl_err_set(err, SL_ERR_IO, "%s/%s.jsonl: flush failed: %s", s->dir,
                              op_channel_str((op_channel)c), strerror(errno));
    return SL_OK;
}

static void files_destroy(void *ctx) {
    sink_files *s = ctx;
    if (!s)
        return;
    for (int c = 0; c < OP_CHANNEL_COUNT; c++)
        if (s->f[c])
            fclose(s->f[c]);
    free(s);
}

static const stream_sink_vtable files_vtable = {
    .name = "files",
    .write = files_write,
    .flush = files_flush,
    .destroy = files_destroy,
};

void stream_sink_files_sizes(const stream_sink *sink, uint64_t sizes[OP_CHANNEL_COUNT]) {
    const sink_files *s = sink->ctx;
    for (int c = 0; c < OP_CHANNEL_COUNT; c++) {
        long pos = s->f[c] ? ftell(s->f[c]) : 0;
        sizes[c] = pos > 0 ? (uint64_t)pos : 0;
    }
}

sl_status stream_sink_files_create(const char *dir, const uint64_t *resume_sizes, stream_sink *out,
                                   sl_err *err) {
    char snaps[1100];
    snprintf(snaps, sizeof snaps, "%s/snapshots", dir);
    sl_status st = stream_mkdirs(snaps, err);
    if (st)
        return st;
    sink_files *s = calloc(1, sizeof *s);
    if (!s)
        return sl_err_set(err, SL_ERR_NOMEM, "out of memory");
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    for (int c = 0; c < OP_CHANNEL_COUNT; c++) {
        if (c == OP_CHANNEL_SNAPSHOTS)
            continue;
        char path[1200];
        snprintf(path, sizeof path, "%s/%s.jsonl", dir, op_channel_str((op_channel)c));
        if (resume_sizes) {
            /* Cut back to what the checkpoint recorded, then append. */
            s->f[c] = fopen(path, "r+");
            if (!s->f[c] && errno == ENOENT && resume_sizes[c] == 0)
                s->f[c] = fopen(path, "w");
            if (s->f[c] &&
                (ftruncate(fileno(s->f[c]), (off_t)resume_sizes[c]) != 0 ||
                 fseek(s->f[c], 0, SEEK_END) != 0 || ftell(s->f[c]) != (long)resume_sizes[c])) {
                st = sl_err_set(err, SL_ERR_IO,
                                "%s: cannot resume at byte %llu (shorter than the checkpoint "
                                "says? remove the state directory to start over)",
                                path, (unsigned long long)resume_sizes[c]);
                files_destroy(s);
                return st;
            }
        } else {
            s->f[c] = fopen(path, "w");
        }
        if (!s->f[c]) {
            st = sl_err_set(err, SL_ERR_IO, "%s: cannot %s: %s", path,
                            resume_sizes ? "reopen" : "create", strerror(errno));
            files_destroy(s);
            return st;
        }
        setvbuf(s->f[c], NULL, _IOFBF, 1 << 20);
    }
    out->vt = &files_vtable;
    out->ctx = s;
    return SL_OK;
}
