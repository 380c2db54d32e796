/*
 * sl_log.h — one-line log messages on stderr: "2026-11-29T06:40:01.123Z
 * warn  kafka: broker 127.0.0.1:9092 down; waiting (outputs are queued)".
 *
 * The level threshold comes from STREAMLEARN_LOG (debug, info, warn, error;
 * default info). Thread-safe (one fprintf per message). Timestamps are wall
 * clock for people reading the log; processing never depends on them.
 */
#ifndef SL_LOG_H
#define SL_LOG_H

typedef enum sl_log_level {
    SL_LOG_DEBUG, /* plumbing details */
    SL_LOG_INFO,  /* what the engine is doing */
    SL_LOG_WARN,  /* something is wrong but handled */
    SL_LOG_ERROR  /* something failed */
} sl_log_level;

void sl_log(sl_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True when messages of this level are printed (to skip costly formatting). */
int sl_log_enabled(sl_log_level level);

#endif
