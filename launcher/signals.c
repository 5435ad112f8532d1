#include "launcher/signals.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* Not SIGUSR2: HotSpot uses it to suspend/resume threads. Not SIGCHLD:
 * Java's process reaper waits for its own children. */
static const int owned[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1};

int signals_setup(void)
{
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
		sigaddset(&set, owned[i]);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	/* A closed engine-log pipe must give EPIPE, not kill the engine. */
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

int signals_next(int fd)
{
	struct signalfd_siginfo si;
	ssize_t r = read(fd, &si, sizeof(si));
	if (r != (ssize_t)sizeof(si))
		return 0;
	return (int)si.ssi_signo;
}

const char *signal_name(int sig)
{
	switch (sig) {
	case SIGTERM: return "SIGTERM";
	case SIGINT: return "SIGINT";
	case SIGHUP: return "SIGHUP";
	case SIGQUIT: return "SIGQUIT";
	case SIGUSR1: return "SIGUSR1";
	default: return strsignal(sig);
	}
}
