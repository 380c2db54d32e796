/*
 * test_config.c — the config loader: every file in configs/ loads, defaults
 * are complete, and every kind of bad value is refused with its JSON path.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sl_config.h"

static void test_every_shipped_config_loads(void **state) {
    (void)state;
    const char *src = getenv("SL_SOURCE_DIR");
    assert_non_null(src);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/configs", src);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int loaded = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
            continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        sl_config *cfg;
        sl_err err;
        if (sl_config_load(path, &cfg, &err) != SL_OK)
            fail_msg("%s", err.msg);
        sl_config_destroy(cfg);
        loaded++;
    }
    closedir(d);
    assert_true(loaded >= 3);
}

static void test_default_runs_everything(void **state) {
    (void)state;
    const char *src = getenv("SL_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/configs/default.json", src);
    sl_config *cfg;
    sl_err err;
    assert_int_equal(sl_config_load(path, &cfg, &err), SL_OK);
    /* One model for each family (the field-aware FM: in ads.json), covering
     * every surface. */
    bool kind_seen[SL_MODEL_KIND_COUNT] = {0};
    bool surface_seen[SL_SURFACE_COUNT] = {0};
    for (int i = 0; i < cfg->n_models; i++) {
        kind_seen[cfg->models[i].kind] = true;
        surface_seen[cfg->models[i].surface] = true;
    }
    for (int k = 0; k < SL_MODEL_KIND_COUNT; k++) /* the FFM costs O(n·F·k): in ads.json */
        assert_true(kind_seen[k] || k == SL_MODEL_FFM);
    for (int s = 0; s < SL_SURFACE_COUNT; s++)
        assert_true(surface_seen[s]);
    assert_string_equal(cfg->kafka.brokers, "");
    sl_config_destroy(cfg);
    snprintf(path, sizeof path, "%s/configs/ads.json", src);
    assert_int_equal(sl_config_load(path, &cfg, &err), SL_OK);
    bool ffm = false;
    for (int i = 0; i < cfg->n_models; i++)
        ffm = ffm || cfg->models[i].kind == SL_MODEL_FFM;
    assert_true(ffm);
    sl_config_destroy(cfg);
}

static void test_defaults(void **state) {
    (void)state;
    sl_config *cfg;
    sl_err err;
    assert_int_equal(sl_config_defaults(&cfg, &err), SL_OK);
    assert_int_equal(cfg->engine.batch_size, 4096);
    assert_int_equal(cfg->engine.max_event_bytes, 65536);
    assert_int_equal(cfg->surfaces[SL_SURFACE_ADS].window_ms, 900000);
    assert_int_equal(cfg->surfaces[SL_SURFACE_EVENTS].window_ms, 604800000);
    assert_int_equal(cfg->kafka.n_topics_in, 1);
    assert_string_equal(cfg->kafka.topics_in[0], "events");
    assert_int_equal(cfg->n_models, 4);
    const sl_config_model *m = sl_config_model_find(cfg, "click");
    assert_non_null(m);
    assert_int_equal(m->kind, SL_MODEL_FTRL_LR);
    assert_true(m->alpha == 0.05);
    m = sl_config_model_find(cfg, "feed");
    assert_non_null(m);
    assert_int_equal(m->n_hidden, 2);
    assert_int_equal(m->hidden[0], 128);
    sl_config_destroy(cfg);
}

static void expect_error(const char *json, sl_status want, const char *msg_part) {
    sl_config *cfg = NULL;
    sl_err err = {{0}};
    sl_status st = sl_config_load_string(json, strlen(json), "t.json", &cfg, &err);
    if (st != want)
        fail_msg("%s: want %s, got %s (%s)", json, sl_status_str(want), sl_status_str(st), err.msg);
    assert_null(cfg);
    if (!strstr(err.msg, msg_part))
        fail_msg("%s: message \"%s\" lacks \"%s\"", json, err.msg, msg_part);
}

static void test_errors_name_the_path(void **state) {
    (void)state;
    expect_error("{\"models\":{\"click\":{\"kind\":\"ftrl_lr\",\"alpha\":-1}}}", SL_ERR_CONFIG,
                 "t.json: models.click.alpha: must be > 0, got -1");
    expect_error("{\"models\":{\"click\":{\"kind\":\"ftrl_lr\",\"alpha\":\"fast\"}}}",
                 SL_ERR_CONFIG, "models.click.alpha: must be a number, got a string");
    expect_error("{\"models\":{\"click\":{\"kind\":\"ftrl_lr\",\"factors\":4}}}", SL_ERR_CONFIG,
                 "models.click.factors: is not a setting of kind ftrl_lr");
    expect_error("{\"models\":{\"m\":{\"kind\":\"svm\"}}}", SL_ERR_CONFIG,
                 "models.m.kind: must be ftrl_lr, fm, ffm, mtl or rank, got \"svm\"");
    expect_error("{\"models\":{\"m\":{\"kind\":\"mtl\",\"surface\":\"ads\"}}}", SL_ERR_CONFIG,
                 "models.m.surface: an mtl model serves the feed surface");
    expect_error("{\"models\":{\"a b\":{}}}", SL_ERR_CONFIG, "models.a b: a model name");
    expect_error("{\"engine\":{\"batchsize\":3}}", SL_ERR_CONFIG,
                 "engine.batchsize: unknown key (known: batch_size");
    expect_error("{\"engine\":{\"batch_size\":3.5}}", SL_ERR_CONFIG,
                 "engine.batch_size: must be an integer, got 3.5");
    expect_error("{\"engine\":{\"batch_size\":0}}", SL_ERR_CONFIG,
                 "engine.batch_size: must be between 1 and 1048576, got 0");
    expect_error("{\"kafka\":{\"input_topics\":[]}}", SL_ERR_CONFIG,
                 "kafka.input_topics: must not be empty");
    expect_error("{\"kafka\":{\"input_topics\":[\"a\",7]}}", SL_ERR_CONFIG,
                 "kafka.input_topics[1]: must be a string, got an integer");
    expect_error("{\"kafka\":{\"consumer\":{\"x\":[1]}}}", SL_ERR_CONFIG,
                 "kafka.consumer.x: must be a string, number or boolean");
    expect_error("{\"surfaces\":{\"tv\":{}}}", SL_ERR_CONFIG, "surfaces.tv: unknown surface");
    expect_error("{\"surfaces\":{\"ads\":{\"window_ms\":-5}}}", SL_ERR_CONFIG,
                 "surfaces.ads.window_ms: must be between 1 and");
    expect_error("{\"features\":{\"crosses\":[\"a*\"]}}", SL_ERR_CONFIG,
                 "features.crosses[0]: must be two or three fields");
    expect_error(
        "{\"models\":{\"f\":{\"kind\":\"mtl\",\"surface\":\"feed\",\"blend\":{\"clicks\":1}}}}",
        SL_ERR_CONFIG, "models.f.blend.clicks: unknown key");
    expect_error("{\"models\":{\"c\":{\"fast_fields\":[\"item\",\"nope\"]}}}", SL_ERR_CONFIG,
                 "models.c.fast_fields[1]: \"nope\" is not in features.categorical");
    expect_error("{\"models\":{\"f\":{\"kind\":\"ffm\",\"factors\":33}}}", SL_ERR_CONFIG,
                 "models.f.factors: an ffm model takes at most 32 factors, got 33");
    expect_error("{\"models\":{\"f\":{\"kind\":\"ffm\",\"embed_dim\":4}}}", SL_ERR_CONFIG,
                 "models.f.embed_dim");
    expect_error("{\"surfaces\":{\"feed\":{\"base_rate\":1}}}", SL_ERR_CONFIG,
                 "surfaces.feed.base_rate: must be > 0 and < 1, got 1");
    expect_error("{\"surfaces\":{\"ads\":{\"base_rate\":0}}}", SL_ERR_CONFIG,
                 "surfaces.ads.base_rate: must be > 0 and < 1, got 0");
    expect_error("{\"engine\":{}, \"engine\":{}}", SL_ERR_PARSE, "duplicate");
    expect_error("{\"engine\":", SL_ERR_PARSE, "t.json: line 1");
    expect_error("[]", SL_ERR_CONFIG, "must be a JSON object");
    expect_error("", SL_ERR_PARSE, "t.json");
}

static void test_overrides_and_props(void **state) {
    (void)state;
    const char *j = "{\"kafka\":{\"brokers\":\"h:1\",\"consumer\":{\"fetch.max.bytes\":1048576,"
                    "\"enable.partition.eof\":true,\"security.protocol\":\"SSL\"}},"
                    "\"models\":{\"only\":{\"kind\":\"fm\",\"factors\":4}}}";
    sl_config *cfg;
    sl_err err;
    assert_int_equal(sl_config_load_string(j, strlen(j), "t", &cfg, &err), SL_OK);
    assert_string_equal(cfg->kafka.brokers, "h:1");
    assert_int_equal(cfg->kafka.n_consumer, 3);
    assert_string_equal(cfg->kafka.consumer[0].key, "fetch.max.bytes");
    assert_string_equal(cfg->kafka.consumer[0].value, "1048576");
    assert_string_equal(cfg->kafka.consumer[1].value, "true");
    /* A models object replaces the default set. */
    assert_int_equal(cfg->n_models, 1);
    assert_int_equal(cfg->models[0].factors, 4);
    assert_true(cfg->models[0].factor_lr == 0.05); /* default for the rest */
    sl_config_destroy(cfg);
    /* A surface's base_rate reaches its models; 0 and 1 are refused. */
    j = "{\"surfaces\":{\"ads\":{\"base_rate\":0.02}},"
        "\"models\":{\"a\":{\"surface\":\"ads\"},\"f\":{\"kind\":\"mtl\",\"surface\":\"feed\"}}}";
    assert_int_equal(sl_config_load_string(j, strlen(j), "t", &cfg, &err), SL_OK);
    assert_true(cfg->models[0].base_rate == 0.02 && cfg->models[1].base_rate == 0.5);
    sl_config_destroy(cfg);
    /* The field-aware FM takes the FM's keys. */
    j = "{\"models\":{\"f\":{\"kind\":\"ffm\",\"factors\":4,\"factor_lr\":0.1,\"alpha\":0.2}}}";
    assert_int_equal(sl_config_load_string(j, strlen(j), "t", &cfg, &err), SL_OK);
    assert_int_equal(cfg->models[0].kind, SL_MODEL_FFM);
    assert_int_equal(cfg->models[0].factors, 4);
    assert_true(cfg->models[0].factor_lr == 0.1 && cfg->models[0].alpha == 0.2);
    sl_config_destroy(cfg);
    /* fast_fields resolve to field ids: categorical first, then crosses. */
    j = "{\"features\":{\"categorical\":[\"user\",\"item\"],\"crosses\":[\"user*item\"]},"
        "\"models\":{\"c\":{\"fast_fields\":[\"user*item\",\"user\"],\"fast_alpha\":0.3}}}";
    assert_int_equal(sl_config_load_string(j, strlen(j), "t", &cfg, &err), SL_OK);
    assert_int_equal(cfg->models[0].n_fast_fields, 2);
    assert_int_equal(cfg->models[0].fast_field_ids[0], 2);
    assert_int_equal(cfg->models[0].fast_field_ids[1], 0);
    assert_true(cfg->models[0].fast_alpha == 0.3);
    sl_config_destroy(cfg);
}

static void test_round_trip(void **state) {
    (void)state;
    sl_config *cfg, *again;
    sl_err err;
    assert_int_equal(sl_config_defaults(&cfg, &err), SL_OK);
    char *a = sl_config_to_json(cfg);
    assert_int_equal(sl_config_load_string(a, strlen(a), "show", &again, &err), SL_OK);
    char *b = sl_config_to_json(again);
    assert_string_equal(a, b);
    free(a);
    free(b);
    sl_config_destroy(cfg);
    sl_config_destroy(again);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_shipped_config_loads),
        cmocka_unit_test(test_default_runs_everything),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_errors_name_the_path),
        cmocka_unit_test(test_overrides_and_props),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
