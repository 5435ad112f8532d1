/* `sparkshim ctl ...`: a command-line client of the control endpoint.
 * docs/control.md documents the commands and exit codes. */
#ifndef SPARKSHIM_CTL_CLI_H
#define SPARKSHIM_CTL_CLI_H

enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_ERROR = 1,        /* unexpected status or local failure */
	CTL_EXIT_UNREACHABLE = 2,  /* nothing answers at the address, or timeout */
	CTL_EXIT_REJECTED = 3,     /* the server refused: token, argument, state */
	CTL_EXIT_NOT_SERVING = 4,  /* `health`: the service is not SERVING */
	CTL_EXIT_NOT_RUNNING = 5,  /* --state-file: no file, or its process is gone */
	CTL_EXIT_USAGE = 64,       /* bad command line (same as sparkshim's EXIT_USAGE) */
};

/* argv[0] is "ctl". Writes results to stdout, diagnostics to stderr.
 * Initializes and shuts down gRPC itself. Returns an enum ctl_exit. */
int ctl_main(int argc, char **argv);

#endif
