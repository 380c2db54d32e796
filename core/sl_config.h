/*
 * sl_config.h — the configuration: one JSON file parsed once into typed,
 * immutable structs.
 *
 * Every key is declared once, in a table in sl_config.c, with its type, its
 * range, its default and a line of documentation. The same table drives the
 * loader (unknown keys and bad values are refused with the JSON path:
 * "configs/ads.json: models.click.alpha: must be > 0, got -1"), the defaults
 * and `streamlearn config describe`, from which docs/CONFIG.md is generated
 * (a test checks that it is). A key missing from the file takes its default,
 * so `{}` is a complete configuration.
 *
 * Ownership: sl_config_load() returns a heap object owned by the caller and
 * freed by sl_config_destroy(); every string inside belongs to it. After
 * loading nothing changes it, so any thread may read it.
 */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "sl_event.h"
#include "sl_status.h"

#define SL_CONFIG_MAX_TOPICS 16 /* input topics */
#define SL_CONFIG_MAX_PROPS  64 /* pass-through librdkafka properties per client */
#define SL_CONFIG_MAX_MODELS 16 /* models side by side */
#define SL_CONFIG_MAX_LAYERS 8  /* hidden layers of the feed model */
#define SL_CONFIG_MAX_FIELDS 64 /* categorical features / crosses */

typedef struct sl_config_prop {
    char *key;   /* librdkafka property name, e.g. "security.protocol" */
    char *value; /* its value, always passed as a string */
} sl_config_prop;

typedef struct sl_config_engine {
    int batch_size;      /* events per batch through the graph */
    int max_event_bytes; /* larger messages are dead-lettered (too_large) */
    int max_line_bytes;  /* replay: longer lines are cut and dead-lettered */
    int arena_limit_mb;  /* hard cap on one batch's scratch memory */
    char *graph;         /* "full" or "validate" (parse -> route only) */
} sl_config_engine;

typedef struct sl_config_kafka {
    char *brokers;                         /* "" = embedded mock cluster */
    char *group_id;                        /* consumer group */
    char *client_id;                       /* client.id of both clients */
    char *topics_in[SL_CONFIG_MAX_TOPICS]; /* input topics */
    int n_topics_in;                       /* entries in topics_in */
    char *topic_scores;                    /* sink topic names */
    char *topic_examples;
    char *topic_snapshots;
    char *topic_metrics;
    char *topic_deadletter;
    int embedded_partitions;                      /* partitions per topic in the embedded cluster */
    sl_config_prop consumer[SL_CONFIG_MAX_PROPS]; /* kafka.consumer.* */
    int n_consumer;
    sl_config_prop producer[SL_CONFIG_MAX_PROPS]; /* kafka.producer.* */
    int n_producer;
} sl_config_kafka;

typedef struct sl_config_state {
    char *dir;                  /* RocksDB directory; "" = no persistent state */
    int checkpoint_interval_ms; /* checkpoint at least this often (event time) */
    int checkpoint_events;      /* ... or after this many events */
    int cache_mb;               /* write-back cache cap; full forces a checkpoint */
    int block_cache_mb;         /* RocksDB block cache */
    int write_buffer_mb;        /* RocksDB memtable budget */
} sl_config_state;

typedef struct sl_config_surface {
    int64_t window_ms;   /* attribution window of a view */
    int64_t lateness_ms; /* allowed lateness behind the max event time */
    double base_rate;    /* the target's rate expected before any label: the prior's
                          * start, the click models' margin offset */
} sl_config_surface;

typedef struct sl_config_features {
    int hash_bits;                           /* 2^bits hashed buckets */
    char *categorical[SL_CONFIG_MAX_FIELDS]; /* fields hashed one by one */
    int n_categorical;
    char *crosses[SL_CONFIG_MAX_FIELDS]; /* "a*b" or "a*b*c" */
    int n_crosses;
    int64_t half_lives_ms[4]; /* decayed aggregate half-lives */
    int n_half_lives;
} sl_config_features;

#define SL_MODEL_KIND_LIST(X)                                                                      \
    X(SL_MODEL_FTRL_LR, "ftrl_lr") /* logistic regression, FTRL-Proximal */                        \
    X(SL_MODEL_FM, "fm")           /* factorization machine */                                     \
    X(SL_MODEL_MTL, "mtl")         /* multi-task MLP (feed) */                                     \
    X(SL_MODEL_RANK, "rank")       /* pointwise event ranker */                                    \
    X(SL_MODEL_FFM, "ffm")         /* field-aware factorization machine */

typedef enum sl_model_kind {
#define SL_MODEL_KIND_ENUM_(name, text) name,
    SL_MODEL_KIND_LIST(SL_MODEL_KIND_ENUM_)
#undef SL_MODEL_KIND_ENUM_
        SL_MODEL_KIND_COUNT
} sl_model_kind;

typedef struct sl_config_model {
    char *name;         /* the key under "models" */
    sl_model_kind kind; /* which family */
    sl_surface surface; /* which surface's views it scores */
    uint64_t seed;      /* initialization seed */
    double neg_weight;  /* negative down-sampling weight w (1 = none) */
    double base_rate;   /* resolved: its surface's base_rate */
    int64_t snapshot_interval_ms; /* event time between snapshots; 0 = at the end only */
    /* ftrl_lr, fm and ffm (linear part), rank */
    double alpha; /* FTRL learning rate */
    double beta;  /* FTRL smoothing */
    double l1;    /* L1 strength */
    double l2;    /* L2 strength */
    char *fast_fields[SL_CONFIG_MAX_FIELDS]; /* features (as configured) learning at fast_alpha */
    int n_fast_fields;
    int fast_field_ids[SL_CONFIG_MAX_FIELDS]; /* (n_fast_fields) their field ids, resolved */
    double fast_alpha;                        /* FTRL learning rate of the fast_fields */
    /* fm, ffm */
    int factors;      /* k */
    double factor_lr; /* AdaGrad rate of the factors */
    double factor_l2; /* L2 on the factors */
    double init_std;  /* factor init standard deviation */
    /* mtl */
    int embed_dim;                    /* embedding width per field */
    int hidden[SL_CONFIG_MAX_LAYERS]; /* hidden layer widths */
    int n_hidden;
    int mini_batch;         /* examples per update */
    double lr;              /* optimizer step */
    char *optimizer;        /* "adam", "adagrad" or "momentum" (SGD with momentum) */
    int emb_bits;           /* 2^emb_bits hashed embedding rows */
    double head_weights[4]; /* loss weights: click, like, share, dwell */
    double blend[4];        /* feed score weights: click, like, share, dwell */
    double like_base_rate;  /* like head's expected rate before any label */
    double share_base_rate; /* share head's */
    /* rank */
    double focal_gamma; /* 0 = plain log loss */
} sl_config_model;

typedef struct sl_config_metrics {
    int window_events; /* tumbling window of the metrics sink, in examples */
    int auc_window;    /* examples in the sliding AUC window */
} sl_config_metrics;

typedef struct sl_config {
    char *path; /* file it came from, or "(defaults)" */
    sl_config_engine engine;
    sl_config_kafka kafka;
    sl_config_state state;
    sl_config_surface surfaces[SL_SURFACE_COUNT];
    sl_config_features features;
    sl_config_model models[SL_CONFIG_MAX_MODELS];
    int n_models;
    sl_config_metrics metrics;
} sl_config;

/*
 * Loads FILE. On success *out (OUT:) is a new config owned by the caller.
 * Returns SL_ERR_IO (unreadable), SL_ERR_PARSE (not JSON: line and column in
 * err) or SL_ERR_CONFIG (a key or value refused: the JSON path in err).
 */
sl_status sl_config_load(const char *path, sl_config **out, sl_err *err);
/* Same from a string; `name` stands for the file name in messages. */
sl_status sl_config_load_string(const char *text, size_t len, const char *name, sl_config **out,
                                sl_err *err);
/* The built-in defaults (the same as loading "{}"). */
sl_status sl_config_defaults(sl_config **out, sl_err *err);
void sl_config_destroy(sl_config *cfg);

/* Writes the effective configuration as JSON (every key, defaults included). */
char *sl_config_to_json(const sl_config *cfg);
/* Writes the key reference (Markdown table) to a malloc'd string. */
char *sl_config_describe(void);

const char *sl_model_kind_str(sl_model_kind k);
/* Finds a model by name; NULL if none. */
const sl_config_model *sl_config_model_find(const sl_config *cfg, const char *name);

#endif
