/*
 * sl_status.h — the one status enum of streamlearn.
 *
 * Every fallible function in the project returns an sl_status; results go
 * through OUT: parameters and a caller-provided message buffer (sl_err) carries
 * the context a person needs ("configs/ads.json: models.click.alpha: must be
 * > 0, got -1"). Foreign error codes (rdkafka, RocksDB, jansson, libuv) are
 * translated to these once, at the boundary of the folder that wraps them.
 *
 * The enum and its string table are generated from one X-macro so they cannot
 * drift apart. Thread-safe: everything here is constant data.
 */
#ifndef SL_STATUS_H
#define SL_STATUS_H

#include <stdarg.h>
#include <stddef.h>

#define SL_STATUS_LIST(X)                                                                          \
    X(SL_OK, "ok")                        /* success */                                            \
    X(SL_ERR_NOMEM, "out of memory")      /* malloc or a hard cap */                               \
    X(SL_ERR_INVALID, "invalid argument") /* caller passed nonsense */                             \
    X(SL_ERR_CONFIG, "bad configuration") /* config rejected */                                    \
    X(SL_ERR_IO, "i/o error")             /* file or socket */                                     \
    X(SL_ERR_PARSE, "parse error")        /* malformed input */                                    \
    X(SL_ERR_LIMIT, "limit exceeded")     /* a hard size limit */                                  \
    X(SL_ERR_NOT_FOUND, "not found")      /* lookup missed */                                      \
    X(SL_ERR_STATE, "state store error")  /* RocksDB said no */                                    \
    X(SL_ERR_KAFKA, "kafka error")        /* librdkafka said no */                                 \
    X(SL_ERR_CORRUPT, "corrupt data")     /* checksum/magic wrong */                               \
    X(SL_ERR_UNSUPPORTED, "unsupported")  /* known but not built */                                \
    X(SL_ERR_STOPPED, "stopped")          /* shutdown requested */

typedef enum sl_status {
#define SL_STATUS_ENUM_(name, text) name,
    SL_STATUS_LIST(SL_STATUS_ENUM_)
#undef SL_STATUS_ENUM_
        SL_STATUS_COUNT
} sl_status;

/* Human text for a status; never NULL (unknown values give "unknown status"). */
const char *sl_status_str(sl_status st);

/*
 * A fixed-size message buffer threaded through fallible calls. Functions that
 * fail write one line of context into it; success leaves it untouched.
 */
typedef struct sl_err {
    char msg[512]; /* NUL-terminated, truncated if longer */
} sl_err;

/* Formats into err (if not NULL) and returns st, so callers can write
 * `return sl_err_set(err, SL_ERR_CONFIG, "%s: must be > 0", path);`. */
sl_status sl_err_set(sl_err *err, sl_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with "prefix: " (e.g. a file name). */
void sl_err_prefix(sl_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
