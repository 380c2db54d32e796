/*
 * sl_config.c — the configuration schema table and the loader it drives.
 *
 * Each section is an array of sl_cf_field rows: key, kind, where the value
 * lives (offsetof), its range, its default written as JSON text, and a line
 * of documentation. Defaults are applied by feeding that JSON text through
 * the very setter a user's value goes through, so a default can never be a
 * value the loader would refuse, and the describe table cannot drift from
 * what the loader does.
 */
#include "sl_config.h"

#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_arena.h"

typedef enum sl_cf_kind {
    SL_CF_INT,        /* int */
    SL_CF_I64,        /* int64_t */
    SL_CF_U64,        /* uint64_t (non-negative JSON integer) */
    SL_CF_DOUBLE,     /* double */
    SL_CF_STRING,     /* char * */
    SL_CF_STRLIST,    /* char *[max], count at count_off */
    SL_CF_INTLIST,    /* int[max], count at count_off */
    SL_CF_I64LIST,    /* int64_t[max], count at count_off */
    SL_CF_DBL4,       /* double[4] given as an object of named weights */
    SL_CF_PROPS,      /* sl_config_prop[max], count at count_off */
    SL_CF_SURFACE,    /* sl_surface */
    SL_CF_MODEL_KIND, /* sl_model_kind */
    SL_CF_SECTION,    /* a nested object described by sub */
    SL_CF_MODELS      /* the models map */
} sl_cf_kind;

#define SL_CF_MIN_EXCL 1u /* value must be > min (not >=) */
#define SL_CF_NONEMPTY 2u /* strings and lists must not be empty */
#define SL_CF_MAX_EXCL 4u /* value must be < max (not <=) */

typedef struct sl_cf_section sl_cf_section;

typedef struct sl_cf_field {
    const char *key;          /* JSON key */
    sl_cf_kind kind;          /* how to read it */
    size_t off;               /* offset in the parent struct */
    size_t count_off;         /* lists: offset of the int count */
    int max_items;            /* lists: capacity */
    double min, max;          /* numbers, list items: allowed range */
    unsigned flags;           /* SL_CF_* */
    unsigned kinds;           /* models: bit set of kinds it applies to (0 = all) */
    const char *def;          /* default, as JSON text (NULL: section) */
    const char *doc;          /* one line for docs/CONFIG.md */
    const sl_cf_section *sub; /* SL_CF_SECTION */
    const char *const *names; /* SL_CF_DBL4: the four key names */
} sl_cf_field;

struct sl_cf_section {
    const char *doc;           /* what the section is for */
    const sl_cf_field *fields; /* rows */
    int n;                     /* rows in fields */
};

#define SL_ARRAY_LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define K(kind)         (1u << (kind))

/* ---- the schema ------------------------------------------------------- */

#define E_(f) offsetof(sl_config_engine, f)
static const sl_cf_field engine_fields[] = {
    {"batch_size", SL_CF_INT, E_(batch_size), 0, 0, 1, 1 << 20, 0, 0, "4096",
     "Events per batch through the operator graph.", NULL, NULL},
    {"max_event_bytes", SL_CF_INT, E_(max_event_bytes), 0, 0, 256, 16 << 20, 0, 0, "65536",
     "Longest accepted event message; longer ones are dead-lettered as too_large.", NULL, NULL},
    {"max_line_bytes", SL_CF_INT, E_(max_line_bytes), 0, 0, 1024, 256 << 20, 0, 0, "1048576",
     "Replay: lines longer than this are cut (the dead letter keeps this many bytes).", NULL, NULL},
    {"arena_limit_mb", SL_CF_INT, E_(arena_limit_mb), 0, 0, 1, 65536, 0, 0, "512",
     "Hard cap on one batch's scratch memory.", NULL, NULL},
    {"graph", SL_CF_STRING, E_(graph), 0, 0, 0, 0, SL_CF_NONEMPTY, 0, "\"full\"",
     "full: parse -> route -> join (features, scores, labels); validate: parse -> route "
     "only (check a log, measure the plumbing).",
     NULL, NULL},
};
#undef E_

#define KF_(f) offsetof(sl_config_kafka, f)
static const sl_cf_field kafka_fields[] = {
    {"brokers", SL_CF_STRING, KF_(brokers), 0, 0, 0, 0, 0, 0, "\"\"",
     "Bootstrap servers (host:port,...); empty starts the embedded mock cluster.", NULL, NULL},
    {"group_id", SL_CF_STRING, KF_(group_id), 0, 0, 0, 0, SL_CF_NONEMPTY, 0, "\"streamlearn\"",
     "Consumer group of the engine.", NULL, NULL},
    {"client_id", SL_CF_STRING, KF_(client_id), 0, 0, 0, 0, SL_CF_NONEMPTY, 0, "\"streamlearn\"",
     "client.id of the consumer and the producer.", NULL, NULL},
    {"input_topics", SL_CF_STRLIST, KF_(topics_in), KF_(n_topics_in), SL_CONFIG_MAX_TOPICS, 0, 0,
     SL_CF_NONEMPTY, 0, "[\"events\"]", "Topics the engine consumes events from.", NULL, NULL},
    {"scores_topic", SL_CF_STRING, KF_(topic_scores), 0, 0, 0, 0, SL_CF_NONEMPTY, 0, "\"scores\"",
     "Sink of scores (key: user).", NULL, NULL},
    {"examples_topic", SL_CF_STRING, KF_(topic_examples), 0, 0, 0, 0, SL_CF_NONEMPTY, 0,
     "\"examples\"", "Sink of finished examples (key: view_id).", NULL, NULL},
    {"snapshots_topic", SL_CF_STRING, KF_(topic_snapshots), 0, 0, 0, 0, SL_CF_NONEMPTY, 0,
     "\"snapshots\"", "Compacted sink of model snapshots (key: model name).", NULL, NULL},
    {"metrics_topic", SL_CF_STRING, KF_(topic_metrics), 0, 0, 0, 0, SL_CF_NONEMPTY, 0,
     "\"metrics\"", "Sink of windowed metrics (key: surface).", NULL, NULL},
    {"deadletter_topic", SL_CF_STRING, KF_(topic_deadletter), 0, 0, 0, 0, SL_CF_NONEMPTY, 0,
     "\"deadletter\"", "Sink of refused messages with reason and source coordinates.", NULL, NULL},
    {"embedded_partitions", SL_CF_INT, KF_(embedded_partitions), 0, 0, 1, 256, 0, 0, "4",
     "Partitions per topic in the embedded cluster.", NULL, NULL},
    {"consumer", SL_CF_PROPS, KF_(consumer), KF_(n_consumer), SL_CONFIG_MAX_PROPS, 0, 0, 0, 0, "{}",
     "librdkafka consumer properties, passed through (e.g. security.protocol).", NULL, NULL},
    {"producer", SL_CF_PROPS, KF_(producer), KF_(n_producer), SL_CONFIG_MAX_PROPS, 0, 0, 0, 0, "{}",
     "librdkafka producer properties, passed through.", NULL, NULL},
};
#undef KF_

#define S_(f) offsetof(sl_config_state, f)
static const sl_cf_field state_fields[] = {
    {"dir", SL_CF_STRING, S_(dir), 0, 0, 0, 0, 0, 0, "\"\"",
     "RocksDB directory; empty keeps state in memory only (no recovery).", NULL, NULL},
    {"checkpoint_interval_ms", SL_CF_INT, S_(checkpoint_interval_ms), 0, 0, 10, 86400000, 0, 0,
     "1000", "Checkpoint at least this often.", NULL, NULL},
    {"checkpoint_events", SL_CF_INT, S_(checkpoint_events), 0, 0, 1, 1 << 30, 0, 0, "100000",
     "... or after this many events.", NULL, NULL},
    {"cache_mb", SL_CF_INT, S_(cache_mb), 0, 0, 1, 1 << 20, 0, 0, "256",
     "Write-back cache cap; reaching it forces an early checkpoint.", NULL, NULL},
    {"block_cache_mb", SL_CF_INT, S_(block_cache_mb), 0, 0, 1, 1 << 20, 0, 0, "64",
     "RocksDB block cache.", NULL, NULL},
    {"write_buffer_mb", SL_CF_INT, S_(write_buffer_mb), 0, 0, 1, 1 << 16, 0, 0, "32",
     "RocksDB memtable size per column family; all memtables together are capped at twice "
     "this.",
     NULL, NULL},
};
#undef S_

#define SF_(f) offsetof(sl_config_surface, f)
/* The same for every surface. */
#define SURFACE_BASE_RATE                                                                          \
    {"base_rate", SL_CF_DOUBLE, SF_(base_rate), 0, 0, 0, 1, SL_CF_MIN_EXCL | SL_CF_MAX_EXCL, 0,    \
     "0.5",                                                                                        \
     "Rate of the surface's target label (ads, feed: click; events: register) expected before "    \
     "any label arrives: the prior starts there (as two pseudo-examples), every ftrl_lr, fm and "  \
     "ffm model of the surface adds its log-odds to the margin and an mtl model's click head "     \
     "starts at it, so an untrained model predicts it instead of 0.5.",                            \
     NULL, NULL}
static const sl_cf_field ads_fields[] = {
    {"window_ms", SL_CF_I64, SF_(window_ms), 0, 0, 1, 31536000000.0, 0, 0, "900000",
     "Attribution window of an ad view (15 min).", NULL, NULL},
    {"lateness_ms", SL_CF_I64, SF_(lateness_ms), 0, 0, 0, 86400000, 0, 0, "60000",
     "Allowed lateness behind the max event time.", NULL, NULL},
    SURFACE_BASE_RATE,
};
static const sl_cf_field feed_fields[] = {
    {"window_ms", SL_CF_I64, SF_(window_ms), 0, 0, 1, 31536000000.0, 0, 0, "1800000",
     "Attribution window of a feed view (30 min).", NULL, NULL},
    {"lateness_ms", SL_CF_I64, SF_(lateness_ms), 0, 0, 0, 86400000, 0, 0, "60000",
     "Allowed lateness behind the max event time.", NULL, NULL},
    SURFACE_BASE_RATE,
};
static const sl_cf_field events_fields[] = {
    {"window_ms", SL_CF_I64, SF_(window_ms), 0, 0, 1, 31536000000.0, 0, 0, "604800000",
     "Attribution window of an event page view (7 days).", NULL, NULL},
    {"lateness_ms", SL_CF_I64, SF_(lateness_ms), 0, 0, 0, 86400000, 0, 0, "300000",
     "Allowed lateness behind the max event time.", NULL, NULL},
    SURFACE_BASE_RATE,
};
#undef SURFACE_BASE_RATE
#undef SF_
static const sl_cf_section ads_section = {"", ads_fields, SL_ARRAY_LEN(ads_fields)};
static const sl_cf_section feed_section = {"", feed_fields, SL_ARRAY_LEN(feed_fields)};
static const sl_cf_section events_section = {"", events_fields, SL_ARRAY_LEN(events_fields)};

#define SS_(s) (offsetof(sl_config, surfaces) + (s) * sizeof(sl_config_surface))
static const sl_cf_field surfaces_fields[] = {
    {"ads", SL_CF_SECTION, 0, 0, 0, 0, 0, 0, 0, NULL, "The ads surface.", &ads_section, NULL},
    {"feed", SL_CF_SECTION, 0, 0, 0, 0, 0, 0, 0, NULL, "The news feed.", &feed_section, NULL},
    {"events", SL_CF_SECTION, 0, 0, 0, 0, 0, 0, 0, NULL, "Event pages.", &events_section, NULL},
};
static const size_t surfaces_offsets[] = {SS_(SL_SURFACE_ADS), SS_(SL_SURFACE_FEED),
                                          SS_(SL_SURFACE_EVENTS)};
#undef SS_

#define FE_(f) offsetof(sl_config_features, f)
static const sl_cf_field features_fields[] = {
    {"hash_bits", SL_CF_INT, FE_(hash_bits), 0, 0, 8, 30, 0, 0, "22",
     "Hashed feature space: 2^bits buckets.", NULL, NULL},
    {"categorical", SL_CF_STRLIST, FE_(categorical), FE_(n_categorical), SL_CONFIG_MAX_FIELDS, 0, 0,
     0, 0, "[\"item\",\"ctx.device\",\"ctx.hour\",\"ctx.position\",\"item.category\"]",
     "Fields hashed as categorical features (namespace=value).", NULL, NULL},
    {"crosses", SL_CF_STRLIST, FE_(crosses), FE_(n_crosses), SL_CONFIG_MAX_FIELDS, 0, 0, 0, 0,
     "[\"user*item.category\",\"ctx.device*item\"]",
     "Crosses of two or three fields, written a*b or a*b*c.", NULL, NULL},
    {"half_lives_ms", SL_CF_I64LIST, FE_(half_lives_ms), FE_(n_half_lives), 4, 1, 31536000000.0,
     SL_CF_NONEMPTY, 0, "[3600000,86400000]", "Half-lives of the decayed aggregates.", NULL, NULL},
};
#undef FE_
static const sl_cf_section features_section = {"Feature hashing and decayed aggregates.",
                                               features_fields, SL_ARRAY_LEN(features_fields)};

static const char *const head_names[] = {"click", "like", "share", "dwell"};

#define M_(f) offsetof(sl_config_model, f)
#define FMS   (K(SL_MODEL_FM) | K(SL_MODEL_FFM))
#define LIN   (K(SL_MODEL_FTRL_LR) | FMS | K(SL_MODEL_RANK))
static const sl_cf_field model_fields[] = {
    {"kind", SL_CF_MODEL_KIND, M_(kind), 0, 0, 0, 0, 0, 0, "\"ftrl_lr\"",
     "Model family: ftrl_lr, fm, ffm (field-aware fm), mtl or rank.", NULL, NULL},
    {"surface", SL_CF_SURFACE, M_(surface), 0, 0, 0, 0, 0, 0, "\"ads\"",
     "Surface whose views the model scores.", NULL, NULL},
    {"seed", SL_CF_U64, M_(seed), 0, 0, 0, 9007199254740991.0, 0, 0, "1",
     "Seed of every random initialization.", NULL, NULL},
    {"neg_weight", SL_CF_DOUBLE, M_(neg_weight), 0, 0, 1, 1e6, 0, 0, "1",
     "Negative down-sampling: each kept negative stands for w (= 1 / the sampling rate); "
     "predictions are recalibrated to p/(p+(1-p)*w).",
     NULL, NULL},
    {"snapshot_interval_ms", SL_CF_I64, M_(snapshot_interval_ms), 0, 0, 0, 31536000000.0, 0, 0,
     "3600000",
     "Event time between two snapshots of the model to the snapshots sink (0 = only when the run "
     "ends: end of a replay, graceful stop of the engine).",
     NULL, NULL},
    {"alpha", SL_CF_DOUBLE, M_(alpha), 0, 0, 0, 1e3, SL_CF_MIN_EXCL, LIN, "0.05",
     "FTRL-Proximal learning rate.", NULL, NULL},
    {"beta", SL_CF_DOUBLE, M_(beta), 0, 0, 0, 1e3, 0, LIN, "1", "FTRL-Proximal smoothing term.",
     NULL, NULL},
    {"l1", SL_CF_DOUBLE, M_(l1), 0, 0, 0, 1e6, 0, LIN, "1", "L1 regularization.", NULL, NULL},
    {"l2", SL_CF_DOUBLE, M_(l2), 0, 0, 0, 1e6, 0, 0, "1", "L2 regularization.", NULL, NULL},
    {"fast_fields", SL_CF_STRLIST, M_(fast_fields), M_(n_fast_fields), SL_CONFIG_MAX_FIELDS, 0, 0,
     0, K(SL_MODEL_FTRL_LR) | FMS, "[]",
     "Configured features and crosses (as written under features) whose weights learn at "
     "fast_alpha: those with many values and few events each, such as user or user*item.",
     NULL, NULL},
    {"fast_alpha", SL_CF_DOUBLE, M_(fast_alpha), 0, 0, 0, 1e3, SL_CF_MIN_EXCL,
     K(SL_MODEL_FTRL_LR) | FMS, "0.2",
     "FTRL-Proximal learning rate of the fast_fields (the FM: of their linear weights).", NULL,
     NULL},
    {"factors", SL_CF_INT, M_(factors), 0, 0, 1, 256, 0, FMS, "8",
     "FM: factors per feature (k); ffm: per feature and field, at most 32.", NULL, NULL},
    {"factor_lr", SL_CF_DOUBLE, M_(factor_lr), 0, 0, 0, 10, SL_CF_MIN_EXCL, FMS, "0.05",
     "FM: AdaGrad step of the factors.", NULL, NULL},
    {"factor_l2", SL_CF_DOUBLE, M_(factor_l2), 0, 0, 0, 1e3, 0, FMS, "0.0001",
     "FM: L2 on the factors.", NULL, NULL},
    {"init_std", SL_CF_DOUBLE, M_(init_std), 0, 0, 0, 1, 0, FMS | K(SL_MODEL_MTL),
     "0.01", "Standard deviation of the random initialization.", NULL, NULL},
    {"embed_dim", SL_CF_INT, M_(embed_dim), 0, 0, 1, 512, 0, K(SL_MODEL_MTL), "16",
     "MTL: embedding width per field.", NULL, NULL},
    {"hidden", SL_CF_INTLIST, M_(hidden), M_(n_hidden), SL_CONFIG_MAX_LAYERS, 1, 4096,
     SL_CF_NONEMPTY, K(SL_MODEL_MTL), "[128,64]", "MTL: widths of the shared layers.", NULL, NULL},
    {"mini_batch", SL_CF_INT, M_(mini_batch), 0, 0, 1, 65536, 0, K(SL_MODEL_MTL), "64",
     "MTL: finished examples per update step.", NULL, NULL},
    {"lr", SL_CF_DOUBLE, M_(lr), 0, 0, 0, 10, SL_CF_MIN_EXCL, K(SL_MODEL_MTL), "0.001",
     "MTL: optimizer step size.", NULL, NULL},
    {"optimizer", SL_CF_STRING, M_(optimizer), 0, 0, 0, 0, SL_CF_NONEMPTY, K(SL_MODEL_MTL),
     "\"adam\"", "MTL: adam, adagrad or momentum (SGD with momentum 0.9).", NULL, NULL},
    {"emb_bits", SL_CF_INT, M_(emb_bits), 0, 0, 4, 24, 0, K(SL_MODEL_MTL), "17",
     "MTL: 2^emb_bits hashed embedding rows (17: 24 MiB with Adam at embed_dim 16).", NULL,
     NULL},
    {"head_weights", SL_CF_DBL4, M_(head_weights), 0, 0, 0, 1e3, 0, K(SL_MODEL_MTL),
     "{\"click\":1,\"like\":1,\"share\":1,\"dwell\":0.5}", "MTL: loss weight per head.", NULL,
     head_names},
    {"blend", SL_CF_DBL4, M_(blend), 0, 0, -1e3, 1e3, 0, K(SL_MODEL_MTL),
     "{\"click\":1,\"like\":2,\"share\":4,\"dwell\":0.0001}",
     "MTL: feed score = sum of weight x head output.", NULL, head_names},
    {"like_base_rate", SL_CF_DOUBLE, M_(like_base_rate), 0, 0, 0, 1,
     SL_CF_MIN_EXCL | SL_CF_MAX_EXCL, K(SL_MODEL_MTL), "0.5",
     "MTL: rate of likes expected before any label; the like head starts there (the click "
     "head starts at the surface's base_rate).",
     NULL, NULL},
    {"share_base_rate", SL_CF_DOUBLE, M_(share_base_rate), 0, 0, 0, 1,
     SL_CF_MIN_EXCL | SL_CF_MAX_EXCL, K(SL_MODEL_MTL), "0.5",
     "MTL: rate of shares expected before any label; the share head starts there.", NULL, NULL},
    {"focal_gamma", SL_CF_DOUBLE, M_(focal_gamma), 0, 0, 0, 10, 0, K(SL_MODEL_RANK), "0",
     "Rank: focal loss gamma (0 = log loss).", NULL, NULL},
};
#undef M_
#undef LIN
static const sl_cf_section model_section = {"One model.", model_fields, SL_ARRAY_LEN(model_fields)};

#define MT_(f) offsetof(sl_config_metrics, f)
static const sl_cf_field metrics_fields[] = {
    {"window_events", SL_CF_INT, MT_(window_events), 0, 0, 1, 1 << 30, 0, 0, "10000",
     "Examples per tumbling metrics window.", NULL, NULL},
    {"auc_window", SL_CF_INT, MT_(auc_window), 0, 0, 10, 1 << 24, 0, 0, "100000",
     "Examples in the sliding AUC window.", NULL, NULL},
};
#undef MT_

static const sl_cf_section engine_section = {"The batch pipeline.", engine_fields,
                                             SL_ARRAY_LEN(engine_fields)};
static const sl_cf_section kafka_section = {"Kafka sources and sinks.", kafka_fields,
                                            SL_ARRAY_LEN(kafka_fields)};
static const sl_cf_section state_section = {"The RocksDB state store.", state_fields,
                                            SL_ARRAY_LEN(state_fields)};
static const sl_cf_section surfaces_section = {"Label join windows per surface.", surfaces_fields,
                                               SL_ARRAY_LEN(surfaces_fields)};
static const sl_cf_section metrics_section = {"Online metrics.", metrics_fields,
                                              SL_ARRAY_LEN(metrics_fields)};

#define DEFAULT_MODELS                                                                             \
    "{\"click\":{\"kind\":\"ftrl_lr\",\"surface\":\"ads\"},"                                       \
    "\"click_fm\":{\"kind\":\"fm\",\"surface\":\"ads\"},"                                          \
    "\"feed\":{\"kind\":\"mtl\",\"surface\":\"feed\"},"                                            \
    "\"rank\":{\"kind\":\"rank\",\"surface\":\"events\"}}"

static const sl_cf_field root_fields[] = {
    {"engine", SL_CF_SECTION, offsetof(sl_config, engine), 0, 0, 0, 0, 0, 0, NULL,
     "The batch pipeline.", &engine_section, NULL},
    {"kafka", SL_CF_SECTION, offsetof(sl_config, kafka), 0, 0, 0, 0, 0, 0, NULL,
     "Kafka sources and sinks.", &kafka_section, NULL},
    {"state", SL_CF_SECTION, offsetof(sl_config, state), 0, 0, 0, 0, 0, 0, NULL, "The state store.",
     &state_section, NULL},
    {"surfaces", SL_CF_SECTION, 0, 0, 0, 0, 0, 0, 0, NULL, "Label join windows per surface.",
     &surfaces_section, NULL},
    {"features", SL_CF_SECTION, offsetof(sl_config, features), 0, 0, 0, 0, 0, 0, NULL,
     "Feature hashing and decayed aggregates.", &features_section, NULL},
    {"models", SL_CF_MODELS, 0, 0, SL_CONFIG_MAX_MODELS, 0, 0, 0, 0, DEFAULT_MODELS,
     "Models by name; each is an object of the keys below (models.NAME.KEY).", &model_section,
     NULL},
    {"metrics", SL_CF_SECTION, offsetof(sl_config, metrics), 0, 0, 0, 0, 0, 0, NULL,
     "Online metrics.", &metrics_section, NULL},
};
static const sl_cf_section root_section = {"", root_fields, SL_ARRAY_LEN(root_fields)};

static const char *const model_kind_names[] = {
#define SL_MODEL_KIND_NAME_(name, text) text,
    SL_MODEL_KIND_LIST(SL_MODEL_KIND_NAME_)
#undef SL_MODEL_KIND_NAME_
};

const char *sl_model_kind_str(sl_model_kind k) {
    return (unsigned)k < SL_MODEL_KIND_COUNT ? model_kind_names[k] : "?";
}

/* ---- the loader -------------------------------------------------------- */

typedef struct sl_cf_ctx {
    const char *file; /* for messages */
    sl_err *err;      /* where messages go */
    sl_config *root;  /* the config being built (models and surfaces live here) */
} sl_cf_ctx;

static sl_status bad(sl_cf_ctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static sl_status bad(sl_cf_ctx *c, const char *path, const char *fmt, ...) {
    char what[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return sl_err_set(c->err, SL_ERR_CONFIG, "%s: %s: %s", c->file, path, what);
}

static const char *json_kind(const json_t *j) {
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

static void join(char *out, size_t cap, const char *path, const char *key) {
    if (path[0])
        snprintf(out, cap, "%s.%s", path, key);
    else
        snprintf(out, cap, "%s", key);
}

/* Checks a number against the field's range; the message shows the rule. */
static sl_status check_range(sl_cf_ctx *c, const sl_cf_field *f, const char *path, double v) {
    bool lo_ok = (f->flags & SL_CF_MIN_EXCL) ? v > f->min : v >= f->min;
    bool hi_ok = (f->flags & SL_CF_MAX_EXCL) ? v < f->max : v <= f->max;
    if (lo_ok && hi_ok)
        return SL_OK;
    if (f->flags & SL_CF_MAX_EXCL)
        return bad(c, path, "must be %s %.15g and < %.15g, got %.15g",
                   (f->flags & SL_CF_MIN_EXCL) ? ">" : ">=", f->min, f->max, v);
    if (!lo_ok && f->max >= 1e300)
        return bad(c, path, "must be %s %.15g, got %.15g",
                   (f->flags & SL_CF_MIN_EXCL) ? ">" : ">=", f->min, v);
    if (!lo_ok && (f->flags & SL_CF_MIN_EXCL))
        return bad(c, path, "must be > %.15g, got %.15g", f->min, v);
    return bad(c, path, "must be between %.15g and %.15g, got %.15g", f->min, f->max, v);
}

static sl_status read_number(sl_cf_ctx *c, const sl_cf_field *f, const char *path, const json_t *j,
                             bool integer, double *out) {
    if (integer && !json_is_integer(j)) {
        if (json_is_real(j))
            return bad(c, path, "must be an integer, got %g", json_real_value(j));
        return bad(c, path, "must be an integer, got %s", json_kind(j));
    }
    if (!json_is_number(j))
        return bad(c, path, "must be a number, got %s", json_kind(j));
    double v = json_number_value(j);
    if (!isfinite(v))
        return bad(c, path, "must be finite");
    *out = v;
    return check_range(c, f, path, v);
}

static sl_status set_string(char **slot, const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p)
        return SL_ERR_NOMEM;
    memcpy(p, s, n);
    p[n] = '\0';
    free(*slot);
    *slot = p;
    return SL_OK;
}

static sl_status apply_section(sl_cf_ctx *c, const sl_cf_section *sec, void *base,
                               const json_t *obj, const char *path, unsigned kind_mask);
static sl_status apply_models(sl_cf_ctx *c, sl_config *cfg, const json_t *obj, const char *path);

static sl_status apply_field(sl_cf_ctx *c, const sl_cf_field *f, void *base, const json_t *j,
                             const char *path) {
    void *at = (char *)base + f->off; /* the field, of the type f->kind says */
    double v;
    sl_status st;
    switch (f->kind) {
    case SL_CF_INT:
        if ((st = read_number(c, f, path, j, true, &v)))
            return st;
        *(int *)at = (int)v;
        return SL_OK;
    case SL_CF_I64:
        if ((st = read_number(c, f, path, j, true, &v)))
            return st;
        *(int64_t *)at = (int64_t)json_integer_value(j);
        return SL_OK;
    case SL_CF_U64:
        if ((st = read_number(c, f, path, j, true, &v)))
            return st;
        *(uint64_t *)at = (uint64_t)json_integer_value(j);
        return SL_OK;
    case SL_CF_DOUBLE:
        if ((st = read_number(c, f, path, j, false, &v)))
            return st;
        *(double *)at = v;
        return SL_OK;
    case SL_CF_STRING:
        if (!json_is_string(j))
            return bad(c, path, "must be a string, got %s", json_kind(j));
        if ((f->flags & SL_CF_NONEMPTY) && json_string_length(j) == 0)
            return bad(c, path, "must not be empty");
        if (memchr(json_string_value(j), '\0', json_string_length(j)))
            return bad(c, path, "must not contain NUL");
        return set_string((char **)at, json_string_value(j), json_string_length(j));
    case SL_CF_SURFACE: {
        if (!json_is_string(j))
            return bad(c, path, "must be a string, got %s", json_kind(j));
        sl_surface s = sl_surface_parse(json_string_value(j), json_string_length(j));
        if (s == SL_SURFACE_NONE)
            return bad(c, path, "must be ads, feed or events, got \"%s\"", json_string_value(j));
        *(sl_surface *)at = s;
        return SL_OK;
    }
    case SL_CF_MODEL_KIND:
        if (!json_is_string(j))
            return bad(c, path, "must be a string, got %s", json_kind(j));
        for (int k = 0; k < SL_MODEL_KIND_COUNT; k++)
            if (!strcmp(json_string_value(j), model_kind_names[k])) {
                *(sl_model_kind *)at = (sl_model_kind)k;
                return SL_OK;
            }
        return bad(c, path, "must be ftrl_lr, fm, ffm, mtl or rank, got \"%s\"", json_string_value(j));
    case SL_CF_STRLIST:
    case SL_CF_INTLIST:
    case SL_CF_I64LIST: {
        if (!json_is_array(j))
            return bad(c, path, "must be an array, got %s", json_kind(j));
        size_t n = json_array_size(j);
        if (n > (size_t)f->max_items)
            return bad(c, path, "has %zu entries, the limit is %d", n, f->max_items);
        if (n == 0 && (f->flags & SL_CF_NONEMPTY))
            return bad(c, path, "must not be empty");
        int *count = (int *)(void *)((char *)base + f->count_off);
        if (f->kind == SL_CF_STRLIST)
            for (int i = 0; i < *count; i++) {
                free(((char **)at)[i]);
                ((char **)at)[i] = NULL;
            }
        *count = 0;
        for (size_t i = 0; i < n; i++) {
            const json_t *e = json_array_get(j, i);
            char ip[300];
            snprintf(ip, sizeof ip, "%s[%zu]", path, i);
            if (f->kind == SL_CF_STRLIST) {
                if (!json_is_string(e))
                    return bad(c, ip, "must be a string, got %s", json_kind(e));
                if (json_string_length(e) == 0)
                    return bad(c, ip, "must not be empty");
                if ((st = set_string(&((char **)at)[i], json_string_value(e),
                                     json_string_length(e))))
                    return st;
            } else {
                if ((st = read_number(c, f, ip, e, true, &v)))
                    return st;
                if (f->kind == SL_CF_INTLIST)
                    ((int *)at)[i] = (int)v;
                else
                    ((int64_t *)at)[i] = (int64_t)json_integer_value(e);
            }
            *count = (int)i + 1;
        }
        return SL_OK;
    }
    case SL_CF_DBL4: {
        if (!json_is_object(j))
            return bad(c, path, "must be an object with keys click, like, share, dwell, got %s",
                       json_kind(j));
        const char *key;
        const json_t *e;
        json_object_foreach((json_t *)j, key, e) {
            char kp[300];
            join(kp, sizeof kp, path, key);
            int slot = -1;
            for (int i = 0; i < 4; i++)
                if (!strcmp(key, f->names[i]))
                    slot = i;
            if (slot < 0)
                return bad(c, kp, "unknown key (known: click, like, share, dwell)");
            if ((st = read_number(c, f, kp, e, false, &v)))
                return st;
            ((double *)at)[slot] = v;
        }
        return SL_OK;
    }
    case SL_CF_PROPS: {
        if (!json_is_object(j))
            return bad(c, path, "must be an object of librdkafka properties, got %s", json_kind(j));
        int *count = (int *)((char *)base + f->count_off);
        sl_config_prop *props = (sl_config_prop *)at;
        const char *key;
        const json_t *e;
        json_object_foreach((json_t *)j, key, e) {
            char kp[300];
            join(kp, sizeof kp, path, key);
            char num[64];
            const char *val;
            if (json_is_string(e))
                val = json_string_value(e);
            else if (json_is_integer(e)) {
                snprintf(num, sizeof num, "%lld", (long long)json_integer_value(e));
                val = num;
            } else if (json_is_real(e)) {
                snprintf(num, sizeof num, "%.17g", json_real_value(e));
                val = num;
            } else if (json_is_boolean(e))
                val = json_is_true(e) ? "true" : "false";
            else
                return bad(c, kp, "must be a string, number or boolean, got %s", json_kind(e));
            int slot = *count;
            for (int i = 0; i < *count; i++)
                if (!strcmp(props[i].key, key))
                    slot = i;
            if (slot == f->max_items)
                return bad(c, path, "more than %d properties", f->max_items);
            if ((st = set_string(&props[slot].key, key, strlen(key))) ||
                (st = set_string(&props[slot].value, val, strlen(val))))
                return st;
            if (slot == *count)
                (*count)++;
        }
        return SL_OK;
    }
    case SL_CF_SECTION:
        if (!json_is_object(j))
            return bad(c, path, "must be an object, got %s", json_kind(j));
        if (f->sub == &surfaces_section) {
            /* Surfaces live in an array indexed by sl_surface, not at one offset. */
            const char *key;
            const json_t *e;
            json_object_foreach((json_t *)j, key, e) {
                char kp[300];
                join(kp, sizeof kp, path, key);
                sl_surface s = sl_surface_parse(key, strlen(key));
                if (s == SL_SURFACE_NONE)
                    return bad(c, kp, "unknown surface (known: ads, feed, events)");
                if (!json_is_object(e))
                    return bad(c, kp, "must be an object, got %s", json_kind(e));
                if ((st = apply_section(c, surfaces_fields[s].sub,
                                        (char *)c->root + surfaces_offsets[s], e, kp, 0)))
                    return st;
            }
            return SL_OK;
        }
        return apply_section(c, f->sub, at, j, path, 0);
    case SL_CF_MODELS: return apply_models(c, c->root, j, path);
    }
    return SL_ERR_INVALID;
}

static sl_status apply_section(sl_cf_ctx *c, const sl_cf_section *sec, void *base,
                               const json_t *obj, const char *path, unsigned kind_mask) {
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        char kp[300];
        join(kp, sizeof kp, path, key);
        const sl_cf_field *f = NULL;
        for (int i = 0; i < sec->n; i++)
            if (!strcmp(sec->fields[i].key, key))
                f = &sec->fields[i];
        if (!f) {
            char known[256] = "";
            size_t o = 0;
            for (int i = 0; i < sec->n && o < sizeof known - 40; i++)
                o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", i ? ", " : "",
                                      sec->fields[i].key);
            return bad(c, kp, "unknown key (known: %s)", known);
        }
        if (kind_mask && f->kinds && !(f->kinds & kind_mask)) {
            char kinds[96] = "";
            size_t o = 0;
            for (int k = 0; k < SL_MODEL_KIND_COUNT; k++)
                if (f->kinds & K(k))
                    o += (size_t)snprintf(kinds + o, sizeof kinds - o, "%s%s", o ? ", " : "",
                                          model_kind_names[k]);
            int kind = __builtin_ctz(kind_mask);
            return bad(c, kp, "is not a setting of kind %s (it applies to %s)",
                       model_kind_names[kind], kinds);
        }
        sl_status st = apply_field(c, f, base, v, kp);
        if (st)
            return st;
    }
    return SL_OK;
}

/* Applies every default of a section (recursing into subsections). */
static sl_status apply_defaults(sl_cf_ctx *c, const sl_cf_section *sec, void *base,
                                const char *path) {
    for (int i = 0; i < sec->n; i++) {
        const sl_cf_field *f = &sec->fields[i];
        char kp[300];
        join(kp, sizeof kp, path, f->key);
        sl_status st = SL_OK;
        if (f->kind == SL_CF_SECTION && f->sub == &surfaces_section) {
            for (int s = 0; s < SL_SURFACE_COUNT && !st; s++)
                st = apply_defaults(c, surfaces_fields[s].sub,
                                    (char *)c->root + surfaces_offsets[s], kp);
        } else if (f->kind == SL_CF_SECTION) {
            st = apply_defaults(c, f->sub, (char *)base + f->off, kp);
        } else {
            json_error_t jerr;
            json_t *j = json_loads(f->def, JSON_DECODE_ANY, &jerr);
            if (!j)
                return sl_err_set(c->err, SL_ERR_INVALID, "built-in default of %s: %s", kp,
                                  jerr.text);
            st = apply_field(c, f, base, j, kp);
            json_decref(j);
        }
        if (st)
            return st;
    }
    return SL_OK;
}

static void model_clear(sl_config_model *m) {
    free(m->name);
    free(m->optimizer);
    for (int i = 0; i < m->n_fast_fields; i++)
        free(m->fast_fields[i]);
    memset(m, 0, sizeof *m);
}

static sl_status apply_models(sl_cf_ctx *c, sl_config *cfg, const json_t *obj, const char *path) {
    if (!json_is_object(obj))
        return bad(c, path, "must be an object of models by name, got %s", json_kind(obj));
    if (json_object_size(obj) > SL_CONFIG_MAX_MODELS)
        return bad(c, path, "has %zu models, the limit is %d", json_object_size(obj),
                   SL_CONFIG_MAX_MODELS);
    /* A models object replaces the defaults whole: that is how a model is removed. */
    for (int i = 0; i < cfg->n_models; i++)
        model_clear(&cfg->models[i]);
    cfg->n_models = 0;
    const char *name;
    const json_t *m;
    json_object_foreach((json_t *)obj, name, m) {
        char mp[300];
        join(mp, sizeof mp, path, name);
        size_t n = strlen(name);
        if (n == 0 || n > 64)
            return bad(c, mp, "a model name must be 1 to 64 characters");
        for (size_t i = 0; i < n; i++) {
            char ch = name[i];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
                return bad(c, mp, "a model name may use letters, digits, '_' and '-' only");
        }
        if (!json_is_object(m))
            return bad(c, mp, "must be an object, got %s", json_kind(m));
        sl_config_model *dst = &cfg->models[cfg->n_models++];
        memset(dst, 0, sizeof *dst);
        sl_status st = apply_defaults(c, &model_section, dst, mp);
        if (!st)
            st = set_string(&dst->name, name, n);
        /* Read the kind first: it decides which other keys are allowed. */
        const json_t *kind = json_object_get(m, "kind");
        if (!st && kind) {
            char kp[300];
            join(kp, sizeof kp, mp, "kind");
            st = apply_field(c, &model_fields[0], dst, kind, kp);
        }
        if (!st)
            st = apply_section(c, &model_section, dst, m, mp, K(dst->kind));
        if (st)
            return st;
    }
    return SL_OK;
}

static void config_free_strings(sl_config *cfg) {
    free(cfg->path);
    free(cfg->engine.graph);
    sl_config_kafka *k = &cfg->kafka;
    free(k->brokers);
    free(k->group_id);
    free(k->client_id);
    for (int i = 0; i < k->n_topics_in; i++)
        free(k->topics_in[i]);
    free(k->topic_scores);
    free(k->topic_examples);
    free(k->topic_snapshots);
    free(k->topic_metrics);
    free(k->topic_deadletter);
    for (int i = 0; i < k->n_consumer; i++) {
        free(k->consumer[i].key);
        free(k->consumer[i].value);
    }
    for (int i = 0; i < k->n_producer; i++) {
        free(k->producer[i].key);
        free(k->producer[i].value);
    }
    free(cfg->state.dir);
    for (int i = 0; i < cfg->features.n_categorical; i++)
        free(cfg->features.categorical[i]);
    for (int i = 0; i < cfg->features.n_crosses; i++)
        free(cfg->features.crosses[i]);
    for (int i = 0; i < cfg->n_models; i++)
        model_clear(&cfg->models[i]);
}

void sl_config_destroy(sl_config *cfg) {
    if (!cfg)
        return;
    config_free_strings(cfg);
    free(cfg);
}

/* Cross-field rules that no single row can express, and the names that
 * resolve against another section (a model's fast_fields to field ids). */
static sl_status check_whole(sl_cf_ctx *c, sl_config *cfg) {
    if (strcmp(cfg->engine.graph, "full") != 0 && strcmp(cfg->engine.graph, "validate") != 0)
        return bad(c, "engine.graph", "must be full or validate, got \"%s\"", cfg->engine.graph);
    for (int i = 0; i < cfg->features.n_crosses; i++) {
        const char *x = cfg->features.crosses[i];
        int stars = 0;
        for (const char *p = x; *p; p++)
            stars += *p == '*';
        char path[64];
        snprintf(path, sizeof path, "features.crosses[%d]", i);
        if (stars < 1 || stars > 2 || x[0] == '*' || x[strlen(x) - 1] == '*' || strstr(x, "**"))
            return bad(c, path, "must be two or three fields joined by '*', got \"%s\"", x);
    }
    for (int i = 0; i < cfg->n_models; i++) {
        const sl_config_model *m = &cfg->models[i];
        char path[128];
        snprintf(path, sizeof path, "models.%s.surface", m->name);
        if (m->kind == SL_MODEL_MTL && m->surface != SL_SURFACE_FEED)
            return bad(c, path, "an mtl model serves the feed surface, got %s",
                       sl_surface_str(m->surface));
        if (m->kind == SL_MODEL_RANK && m->surface != SL_SURFACE_EVENTS)
            return bad(c, path, "a rank model serves the events surface, got %s",
                       sl_surface_str(m->surface));
        cfg->models[i].base_rate = cfg->surfaces[m->surface].base_rate;
        if (m->kind == SL_MODEL_FFM && m->factors > 32) { /* MODEL_FFM_MAX_K */
            snprintf(path, sizeof path, "models.%s.factors", m->name);
            return bad(c, path, "an ffm model takes at most 32 factors, got %d", m->factors);
        }
        for (int f = 0; f < m->n_fast_fields; f++) { /* a field id: categorical, then crosses */
            const sl_config_features *fe = &cfg->features;
            int id = -1;
            for (int a = 0; a < fe->n_categorical && id < 0; a++)
                if (!strcmp(fe->categorical[a], m->fast_fields[f]))
                    id = a;
            for (int a = 0; a < fe->n_crosses && id < 0; a++)
                if (!strcmp(fe->crosses[a], m->fast_fields[f]))
                    id = fe->n_categorical + a;
            snprintf(path, sizeof path, "models.%s.fast_fields[%d]", m->name, f);
            if (id < 0)
                return bad(c, path, "\"%s\" is not in features.categorical or features.crosses",
                           m->fast_fields[f]);
            cfg->models[i].fast_field_ids[f] = id;
        }
        if (m->optimizer && strcmp(m->optimizer, "adam") != 0 &&
            strcmp(m->optimizer, "adagrad") != 0 && strcmp(m->optimizer, "momentum") != 0) {
            snprintf(path, sizeof path, "models.%s.optimizer", m->name);
            return bad(c, path, "must be adam, adagrad or momentum, got \"%s\"", m->optimizer);
        }
    }
    return SL_OK;
}

sl_status sl_config_load_string(const char *text, size_t len, const char *name, sl_config **out,
                                sl_err *err) {
    *out = NULL;
    sl_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return sl_err_set(err, SL_ERR_NOMEM, "%s: out of memory", name);
    sl_cf_ctx c = {name, err, cfg};
    sl_status st = set_string(&cfg->path, name, strlen(name));
    if (!st)
        st = apply_defaults(&c, &root_section, cfg, "");
    if (st)
        goto fail;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        st = sl_err_set(err, SL_ERR_PARSE, "%s: line %d column %d: %s", name, jerr.line,
                        jerr.column, jerr.text);
        goto fail;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        st = sl_err_set(err, SL_ERR_CONFIG, "%s: the configuration must be a JSON object", name);
        goto fail;
    }
    st = apply_section(&c, &root_section, cfg, root, "", 0);
    json_decref(root);
    if (!st)
        st = check_whole(&c, cfg);
    if (st)
        goto fail;
    *out = cfg;
    return SL_OK;
fail:
    sl_config_destroy(cfg);
    return st;
}

sl_status sl_config_load(const char *path, sl_config **out, sl_err *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return sl_err_set(err, SL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    sl_buf b;
    sl_buf_init(&b, 16u << 20);
    char chunk[8192];
    size_t n;
    sl_status st = SL_OK;
    while (!st && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        st = sl_buf_append(&b, chunk, n);
    bool rerr = ferror(f);
    fclose(f);
    if (st || rerr) {
        sl_buf_deinit(&b);
        return sl_err_set(err, SL_ERR_IO, "%s: %s", path, st ? "larger than 16 MiB" : "read error");
    }
    st = sl_config_load_string(b.p ? b.p : "", b.len, path, out, err);
    sl_buf_deinit(&b);
    return st;
}

sl_status sl_config_defaults(sl_config **out, sl_err *err) {
    return sl_config_load_string("{}", 2, "(defaults)", out, err);
}

const sl_config_model *sl_config_model_find(const sl_config *cfg, const char *name) {
    for (int i = 0; i < cfg->n_models; i++)
        if (!strcmp(cfg->models[i].name, name))
            return &cfg->models[i];
    return NULL;
}

/* ---- output: effective config and the key reference -------------------- */

static json_t *field_to_json(const sl_cf_field *f, const void *base, const sl_config *cfg);

static json_t *section_to_json(const sl_cf_section *sec, const void *base, const sl_config *cfg,
                               unsigned kind_mask) {
    json_t *o = json_object();
    for (int i = 0; i < sec->n; i++) {
        const sl_cf_field *f = &sec->fields[i];
        if (kind_mask && f->kinds && !(f->kinds & kind_mask))
            continue;
        json_object_set_new(o, f->key, field_to_json(f, base, cfg));
    }
    return o;
}

static json_t *field_to_json(const sl_cf_field *f, const void *base, const sl_config *cfg) {
    const void *at = (const char *)base + f->off; /* the field, of the type f->kind says */
    int count = f->count_off ? *(const int *)(const void *)((const char *)base + f->count_off) : 0;
    switch (f->kind) {
    case SL_CF_INT: return json_integer(*(const int *)at);
    case SL_CF_I64: return json_integer(*(const int64_t *)at);
    case SL_CF_U64: return json_integer((json_int_t) * (const uint64_t *)at);
    case SL_CF_DOUBLE: return json_real(*(const double *)at);
    case SL_CF_STRING: return json_string(*(char *const *)at ? *(char *const *)at : "");
    case SL_CF_SURFACE: return json_string(sl_surface_str(*(const sl_surface *)at));
    case SL_CF_MODEL_KIND: return json_string(sl_model_kind_str(*(const sl_model_kind *)at));
    case SL_CF_STRLIST: {
        json_t *a = json_array();
        for (int i = 0; i < count; i++)
            json_array_append_new(a, json_string(((char *const *)at)[i]));
        return a;
    }
    case SL_CF_INTLIST: {
        json_t *a = json_array();
        for (int i = 0; i < count; i++)
            json_array_append_new(a, json_integer(((const int *)at)[i]));
        return a;
    }
    case SL_CF_I64LIST: {
        json_t *a = json_array();
        for (int i = 0; i < count; i++)
            json_array_append_new(a, json_integer(((const int64_t *)at)[i]));
        return a;
    }
    case SL_CF_DBL4: {
        json_t *o = json_object();
        for (int i = 0; i < 4; i++)
            json_object_set_new(o, f->names[i], json_real(((const double *)at)[i]));
        return o;
    }
    case SL_CF_PROPS: {
        json_t *o = json_object();
        const sl_config_prop *p = (const sl_config_prop *)at;
        for (int i = 0; i < count; i++)
            json_object_set_new(o, p[i].key, json_string(p[i].value));
        return o;
    }
    case SL_CF_SECTION:
        if (f->sub == &surfaces_section) {
            json_t *o = json_object();
            for (int s = 0; s < SL_SURFACE_COUNT; s++)
                json_object_set_new(o, surfaces_fields[s].key,
                                    section_to_json(surfaces_fields[s].sub,
                                                    (const char *)cfg + surfaces_offsets[s], cfg,
                                                    0));
            return o;
        }
        return section_to_json(f->sub, at, cfg, 0);
    case SL_CF_MODELS: {
        json_t *o = json_object();
        for (int i = 0; i < cfg->n_models; i++)
            json_object_set_new(
                o, cfg->models[i].name,
                section_to_json(&model_section, &cfg->models[i], cfg, K(cfg->models[i].kind)));
        return o;
    }
    }
    return json_null();
}

char *sl_config_to_json(const sl_config *cfg) {
    json_t *o = section_to_json(&root_section, cfg, cfg, 0);
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    json_decref(o);
    return s;
}

static const char *type_name(const sl_cf_field *f, char *buf, size_t cap) {
    switch (f->kind) {
    case SL_CF_INT:
    case SL_CF_I64:
    case SL_CF_U64: snprintf(buf, cap, "integer, %.15g..%.15g", f->min, f->max); return buf;
    case SL_CF_DOUBLE:
        snprintf(buf, cap, "number, %s%g..%s%g", (f->flags & SL_CF_MIN_EXCL) ? ">" : "", f->min,
                 (f->flags & SL_CF_MAX_EXCL) ? "<" : "", f->max);
        return buf;
    case SL_CF_STRING: return "string";
    case SL_CF_SURFACE: return "ads, feed or events";
    case SL_CF_MODEL_KIND: return "ftrl_lr, fm, ffm, mtl or rank";
    case SL_CF_STRLIST: return "list of strings";
    case SL_CF_INTLIST:
    case SL_CF_I64LIST:
        snprintf(buf, cap, "list of integers, %.15g..%.15g", f->min, f->max);
        return buf;
    case SL_CF_DBL4: return "object: click, like, share, dwell";
    case SL_CF_PROPS: return "object of properties";
    case SL_CF_SECTION: return "object";
    case SL_CF_MODELS: return "object of models";
    }
    return "?";
}

static void describe_section(sl_buf *b, const sl_cf_section *sec, const char *path) {
    for (int i = 0; i < sec->n; i++) {
        const sl_cf_field *f = &sec->fields[i];
        char kp[300];
        join(kp, sizeof kp, path, f->key);
        if (f->kind == SL_CF_SECTION && f->sub == &surfaces_section) {
            for (int s = 0; s < SL_SURFACE_COUNT; s++) {
                char sp[300];
                join(sp, sizeof sp, kp, surfaces_fields[s].key);
                describe_section(b, surfaces_fields[s].sub, sp);
            }
            continue;
        }
        if (f->kind == SL_CF_SECTION) {
            describe_section(b, f->sub, kp);
            continue;
        }
        char tb[96];
        if (f->kind == SL_CF_MODELS) {
            sl_buf_printf(b, "| `%s` | %s | see below | %s |\n", kp, type_name(f, tb, sizeof tb),
                          f->doc);
            continue;
        }
        char kinds[96] = "";
        if (f->kinds) {
            size_t o = 0;
            o += (size_t)snprintf(kinds, sizeof kinds, " (");
            for (int k = 0; k < SL_MODEL_KIND_COUNT; k++)
                if (f->kinds & K(k))
                    o += (size_t)snprintf(kinds + o, sizeof kinds - o, "%s%s", o > 2 ? ", " : "",
                                          model_kind_names[k]);
            snprintf(kinds + o, sizeof kinds - o, ")");
        }
        sl_buf_printf(b, "| `%s` | %s | `%s` | %s%s |\n", kp, type_name(f, tb, sizeof tb), f->def,
                      f->doc, kinds);
    }
}

char *sl_config_describe(void) {
    sl_buf b;
    sl_buf_init(&b, 1 << 20);
    sl_buf_printf(&b, "| key | type | default | meaning |\n|---|---|---|---|\n");
    describe_section(&b, &root_section, "");
    sl_buf_printf(&b, "\nThe default `models` are:\n\n```json\n%s\n```\n\n", DEFAULT_MODELS);
    sl_buf_printf(&b, "Each model (`models.NAME.KEY`; a key marked with kinds applies to those "
                      "kinds only):\n\n| key | type | default | meaning |\n|---|---|---|---|\n");
    describe_section(&b, &model_section, "models.NAME");
    return b.p;
}
