/* cli_config.c — `streamlearn config check|show|describe`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sl_config.h"

int cli_config_main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "describe")) {
        char *d = sl_config_describe();
        if (!d)
            return 1;
        fputs(d, stdout);
        free(d);
        return 0;
    }
    if (argc != 3 || (strcmp(argv[1], "check") && strcmp(argv[1], "show"))) {
        fputs("usage: streamlearn config check FILE | show FILE | describe\n", stderr);
        return 2;
    }
    sl_err err;
    sl_config *cfg;
    if (sl_config_load(argv[2], &cfg, &err)) {
        fprintf(stderr, "streamlearn: %s\n", err.msg);
        return 2;
    }
    if (!strcmp(argv[1], "show")) {
        char *s = sl_config_to_json(cfg);
        puts(s ? s : "{}");
        free(s);
    } else {
        printf("%s: ok (%d models)\n", argv[2], cfg->n_models);
    }
    sl_config_destroy(cfg);
    return 0;
}
