/*
 * cli.h — the subcommands of the streamlearn binary. Each takes the
 * arguments after its name (argv[0] is the subcommand) and returns the
 * process exit code: 0 done, 1 the work failed, 2 bad usage or unusable
 * inputs (config, files).
 */
#ifndef CLI_H
#define CLI_H

int cli_gen_main(int argc, char **argv);
int cli_replay_main(int argc, char **argv);
int cli_config_main(int argc, char **argv);
int cli_run_main(int argc, char **argv);
int cli_features_main(int argc, char **argv);
int cli_snapshot_main(int argc, char **argv);

#endif
