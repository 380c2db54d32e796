/* sl_status.c — the status table and the message buffer helpers. */
#include "sl_status.h"

#include <stdio.h>
#include <string.h>

static const char *const sl_status_text[SL_STATUS_COUNT] = {
#define SL_STATUS_TEXT_(name, text) text,
    SL_STATUS_LIST(SL_STATUS_TEXT_)
#undef SL_STATUS_TEXT_
};

const char *sl_status_str(sl_status st) {
    if ((unsigned)st >= SL_STATUS_COUNT)
        return "unknown status";
    return sl_status_text[st];
}

sl_status sl_err_set(sl_err *err, sl_status st, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return st;
}

void sl_err_prefix(sl_err *err, const char *fmt, ...) {
    if (!err)
        return;
    char prefix[256];
    char old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = '\0';
    size_t n = strlen(prefix);
    if (n > sizeof err->msg - 3)
        n = sizeof err->msg - 3;
    memcpy(err->msg, prefix, n);
    memcpy(err->msg + n, ": ", 2);
    size_t room = sizeof err->msg - n - 3;
    size_t m = strlen(old);
    if (m > room)
        m = room;
    memcpy(err->msg + n + 2, old, m);
    err->msg[n + 2 + m] = '\0';
}
