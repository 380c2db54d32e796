/*
 * cli_main.c — the streamlearn binary: dispatches to a subcommand.
 *
 * Business logic lives below (stream/, operators/, state/, models/); a
 * subcommand only turns arguments and the config into calls.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *to) {
    fputs("usage: streamlearn COMMAND [ARGS]\n"
          "\n"
          "commands:\n"
          "  run      --config FILE [--brokers HOST:PORT,...] [--until-idle SECS]\n"
          "           the live engine on Kafka (embedded Kafka when no brokers)\n"
          "  replay   --config FILE --input EVENTS.jsonl[.gz]|- [--out DIR]\n"
          "           run the operator graph over a file: scores, examples, metrics,\n"
          "           dead letters and a summary in DIR\n"
          "  gen      --events N --seed S [--surfaces ads,feed,events] [--out FILE]\n"
          "           [--truth FILE] [--bad RATE] ...   simulate a world of users and items\n"
          "  config   check FILE | show FILE | describe\n"
          "           validate a config, print it with defaults, or list every key\n"
          "  features get --config FILE [--state DIR] [--at TS] user|item ID\n"
          "           an entity's features from the last checkpoint, as JSON\n"
          "  snapshot inspect FILE | fetch --config FILE --out FILE MODEL\n"
          "           check a model snapshot and print its header and statistics, or\n"
          "           fetch a model's newest snapshot from the snapshots topic\n"
          "  version  print the version\n"
          "\n"
          "`streamlearn COMMAND --help` shows a command's options.\n",
          to);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "replay"))
        return cli_replay_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "run"))
        return cli_run_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "gen"))
        return cli_gen_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "config"))
        return cli_config_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "features"))
        return cli_features_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "snapshot"))
        return cli_snapshot_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("streamlearn %s\n", SL_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "streamlearn: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
