/* The shim's command line: `sparkshim [shim options] [--] [spark-submit args]`.
 * Shim options are recognised anywhere before the primary resource; with
 * `--` everything after it goes to spark-submit untouched. Each shim option
 * is stored as a sparkshim.* key so a config file or
 * --conf spark.sparkshim.<key>=... can set the same thing. */
#ifndef SPARKSHIM_CLI_H
#define SPARKSHIM_CLI_H

#include <stdio.h>

#include "base/conf.h"
#include "base/strvec.h"

struct cli {
	struct conf shim;        /* sparkshim.* from options */
	char *spark_home;        /* --spark-home, or NULL */
	char *java_home;         /* --java-home, or NULL */
	char *config_file;       /* --config, or NULL */
	struct strvec spark_args;
	int help, version;
	int print_launch;        /* --print-launch-command: print the driver command, exit */
};

void cli_init(struct cli *c);
void cli_free(struct cli *c);
/* 0 / -1 (err: one line naming the bad argument). */
int cli_parse(int argc, char **argv, struct cli *c, char *err, size_t errlen);
void cli_usage(FILE *out);

#endif
