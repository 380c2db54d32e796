/* sl_log.c — stderr logging (see sl_log.h). */
#include "sl_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static sl_log_level threshold(void) {
    const char *e = getenv("STREAMLEARN_LOG");
    if (!e)
        return SL_LOG_INFO;
    if (!strcmp(e, "debug"))
        return SL_LOG_DEBUG;
    if (!strcmp(e, "warn"))
        return SL_LOG_WARN;
    if (!strcmp(e, "error"))
        return SL_LOG_ERROR;
    return SL_LOG_INFO;
}

int sl_log_enabled(sl_log_level level) { return level >= threshold(); }

void sl_log(sl_log_level level, const char *fmt, ...) {
    if (level < threshold())
        return;
    static const char *const names[] = {"debug", "info ", "warn ", "error"};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
            names[level], msg);
}
