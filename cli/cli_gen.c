/* cli_gen.c — `streamlearn gen` (placeholder). */
#include "cli.h"
int cli_gen_main(int argc, char **argv) { (void)argc; (void)argv; return 2; }
