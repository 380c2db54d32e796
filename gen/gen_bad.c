/*
 * gen_bad.c — malformed lines: one writer per kind of gen_bad, each
 * imitating a real event of the simulated world (a click, a view, a dwell)
 * broken in one specific way, so the engine's dead-letter path sees the
 * mistakes real producers make. Every variant of a kind must be refused by
 * sl_event_parse() with that kind's reason (gen_bad_reason()); the test
 * holds the generator to it.
 */
#include "gen_internal.h"

#define GEN_HUGE_BYTES 100000 /* the huge string: well past the 64 KiB limit */

static const char *const gen_bad_names[] = {
#define GEN_BAD_NAME_(name, text, reason) text,
    GEN_BAD_LIST(GEN_BAD_NAME_)
#undef GEN_BAD_NAME_
};

static const sl_reason gen_bad_reasons[] = {
#define GEN_BAD_REASON_(name, text, reason) reason,
    GEN_BAD_LIST(GEN_BAD_REASON_)
#undef GEN_BAD_REASON_
};

const char *gen_bad_str(gen_bad b) { return (unsigned)b < GEN_BAD_COUNT ? gen_bad_names[b] : "?"; }

sl_reason gen_bad_reason(gen_bad b) {
    return (unsigned)b < GEN_BAD_COUNT ? gen_bad_reasons[b] : SL_REASON_COUNT;
}

/* `{"type":"click","ts":T,"user":"uU"` — the common head, object left open. */
static char *head(char *o, const char *type, int64_t ts, uint32_t user) {
    GEN_PUT_LIT(o, "{\"type\":\"");
    o = gen__put_str(o, type);
    GEN_PUT_LIT(o, "\",\"ts\":");
    o = gen__put_i64(o, ts);
    GEN_PUT_LIT(o, ",\"user\":");
    return gen__put_id(o, "u", 1, user);
}

/* A complete, valid click line. */
static char *click(char *o, int64_t ts, uint32_t user, uint64_t view) {
    o = head(o, "click", ts, user);
    GEN_PUT_LIT(o, ",\"view_id\":");
    o = gen__put_id(o, "v", 1, view);
    *o++ = '}';
    return o;
}

/* A complete, valid feed view line. */
static char *view(char *o, int64_t ts, uint32_t user, uint64_t view_no) {
    o = head(o, "view", ts, user);
    GEN_PUT_LIT(o, ",\"surface\":\"feed\",\"item\":\"p7\",\"view_id\":");
    o = gen__put_id(o, "v", 1, view_no);
    GEN_PUT_LIT(o, ",\"ctx\":{\"device\":\"ios\",\"hour\":9,\"position\":2}}");
    return o;
}

char *gen__bad_line(char *o, gen_bad b, sl_rand *r, uint32_t user, uint64_t view_no, int64_t ts) {
    unsigned variant = (unsigned)sl_rand_below(r, 4);
    switch (b) {
    case GEN_BAD_NONE:
    case GEN_BAD_COUNT: return click(o, ts, user, view_no);
    case GEN_BAD_TRUNCATED: {
        /* Any proper, non-empty prefix of an object is unterminated JSON. */
        char *start = o;
        char *end = variant & 1 ? view(o, ts, user, view_no) : click(o, ts, user, view_no);
        size_t len = (size_t)(end - start);
        return start + 1 + sl_rand_below(r, len - 1);
    }
    case GEN_BAD_WRONG_TYPE:
        switch (variant) {
        case 0: /* the classic: a string where the time goes */
            GEN_PUT_LIT(o, "{\"type\":\"click\",\"ts\":\"x\",\"user\":");
            o = gen__put_id(o, "u", 1, user);
            GEN_PUT_LIT(o, ",\"view_id\":");
            o = gen__put_id(o, "v", 1, view_no);
            *o++ = '}';
            return o;
        case 1: /* a numeric user id */
            GEN_PUT_LIT(o, "{\"type\":\"click\",\"ts\":");
            o = gen__put_i64(o, ts);
            GEN_PUT_LIT(o, ",\"user\":");
            o = gen__put_u64(o, user);
            GEN_PUT_LIT(o, ",\"view_id\":");
            o = gen__put_id(o, "v", 1, view_no);
            *o++ = '}';
            return o;
        case 2: /* a dwell with units in the value */
            o = head(o, "dwell", ts, user);
            GEN_PUT_LIT(o, ",\"view_id\":");
            o = gen__put_id(o, "v", 1, view_no);
            GEN_PUT_LIT(o, ",\"dwell_ms\":\"12s\"}");
            return o;
        default: /* ctx flattened to a string */
            o = head(o, "view", ts, user);
            GEN_PUT_LIT(o, ",\"surface\":\"ads\",\"item\":\"a1\",\"view_id\":");
            o = gen__put_id(o, "v", 1, view_no);
            GEN_PUT_LIT(o, ",\"ctx\":\"mobile\"}");
            return o;
        }
    case GEN_BAD_MISSING:
        switch (variant) {
        case 0: /* no ts */
            GEN_PUT_LIT(o, "{\"type\":\"click\",\"user\":");
            o = gen__put_id(o, "u", 1, user);
            GEN_PUT_LIT(o, ",\"view_id\":");
            o = gen__put_id(o, "v", 1, view_no);
            *o++ = '}';
            return o;
        case 1: /* no user */
            GEN_PUT_LIT(o, "{\"type\":\"click\",\"ts\":");
            o = gen__put_i64(o, ts);
            GEN_PUT_LIT(o, ",\"view_id\":");
            o = gen__put_id(o, "v", 1, view_no);
            *o++ = '}';
            return o;
        case 2: /* a click without its view_id */
            o = head(o, "click", ts, user);
            GEN_PUT_LIT(o, ",\"item\":\"a3\"}");
            return o;
        default: /* no type at all */
            GEN_PUT_LIT(o, "{\"ts\":");
            o = gen__put_i64(o, ts);
            GEN_PUT_LIT(o, ",\"user\":");
            o = gen__put_id(o, "u", 1, user);
            GEN_PUT_LIT(o, ",\"view_id\":");
            o = gen__put_id(o, "v", 1, view_no);
            *o++ = '}';
            return o;
        }
    case GEN_BAD_UNKNOWN_TYPE: {
        static const char *const types[4] = {"purchase", "impression", "Click", "page_view"};
        o = head(o, types[variant], ts, user);
        GEN_PUT_LIT(o, ",\"view_id\":");
        o = gen__put_id(o, "v", 1, view_no);
        *o++ = '}';
        return o;
    }
    case GEN_BAD_RANGE:
        switch (variant) {
        case 0: /* seconds where milliseconds are due */ return click(o, ts / 1000, user, view_no);
        case 1: /* a surface that does not exist */
            o = head(o, "view", ts, user);
            GEN_PUT_LIT(o, ",\"surface\":\"mobile\",\"item\":\"a1\",\"view_id\":");
            o = gen__put_id(o, "v", 1, view_no);
            *o++ = '}';
            return o;
        case 2: /* negative dwell */
            o = head(o, "dwell", ts, user);
            GEN_PUT_LIT(o, ",\"view_id\":");
            o = gen__put_id(o, "v", 1, view_no);
            GEN_PUT_LIT(o, ",\"dwell_ms\":-250}");
            return o;
        default: /* befriending oneself */
            o = head(o, "friend", ts, user);
            GEN_PUT_LIT(o, ",\"other\":");
            o = gen__put_id(o, "u", 1, user);
            *o++ = '}';
            return o;
        }
    case GEN_BAD_NAN:
    case GEN_BAD_INFINITY: {
        static const char *const tokens[2][2] = {{"NaN", "nan"}, {"Infinity", "-Infinity"}};
        o = head(o, "dwell", ts, user);
        GEN_PUT_LIT(o, ",\"view_id\":");
        o = gen__put_id(o, "v", 1, view_no);
        GEN_PUT_LIT(o, ",\"dwell_ms\":");
        o = gen__put_str(o, tokens[b == GEN_BAD_INFINITY][variant & 1]);
        *o++ = '}';
        return o;
    }
    case GEN_BAD_HUGE:
        /* A view whose ctx carries a runaway string (a stack trace, a
         * serialized blob): the line passes the 64 KiB message limit. */
        o = head(o, "view", ts, user);
        GEN_PUT_LIT(o, ",\"surface\":\"feed\",\"item\":\"p1\",\"view_id\":");
        o = gen__put_id(o, "v", 1, view_no);
        GEN_PUT_LIT(o, ",\"ctx\":{\"note\":\"");
        memset(o, 'x', GEN_HUGE_BYTES);
        o += GEN_HUGE_BYTES;
        GEN_PUT_LIT(o, "\"}}");
        return o;
    case GEN_BAD_UTF8: {
        /* A lone 0xFF, a cut 2-byte sequence, an overlong '/', a surrogate. */
        static const char *const bytes[4] = {"\xFF", "\xC3(", "\xC0\xAF", "\xED\xA0\x80"};
        GEN_PUT_LIT(o, "{\"type\":\"click\",\"ts\":");
        o = gen__put_i64(o, ts);
        GEN_PUT_LIT(o, ",\"user\":\"u");
        o = gen__put_u64(o, user);
        o = gen__put_str(o, bytes[variant]);
        GEN_PUT_LIT(o, "\",\"view_id\":");
        o = gen__put_id(o, "v", 1, view_no);
        *o++ = '}';
        return o;
    }
    case GEN_BAD_EMPTY:
        if (variant == 1)
            GEN_PUT_LIT(o, "   ");
        else if (variant == 2)
            GEN_PUT_LIT(o, "\t");
        return o;
    case GEN_BAD_ARRAY:
        if (variant == 0) {
            GEN_PUT_LIT(o, "[]");
            return o;
        }
        *o++ = '[';
        o = click(o, ts, user, view_no);
        *o++ = ']';
        return o;
    case GEN_BAD_DUP_KEY:
        o = head(o, "click", ts, user);
        if (variant & 1) {
            GEN_PUT_LIT(o, ",\"user\":");
            o = gen__put_id(o, "u", 1, user + 1);
        } else {
            GEN_PUT_LIT(o, ",\"ts\":");
            o = gen__put_i64(o, ts + 1);
        }
        GEN_PUT_LIT(o, ",\"view_id\":");
        o = gen__put_id(o, "v", 1, view_no);
        *o++ = '}';
        return o;
    }
    return o;
}
