"""sparkshim's exit codes for the tests: the names and numbers of
base/exitcodes.c's table (tests/unit/test_exitcodes.c checks that every
line here matches it and that every named code is here)."""

EXIT_CLEAN = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 64
EXIT_BAD_SPARK_HOME = 66
EXIT_NO_JAVA = 67
EXIT_JVM_CREATE = 68
EXIT_SPARK_START = 69
EXIT_PORT_IN_USE = 70
EXIT_START_TIMEOUT = 71
EXIT_ALREADY_RUNNING = 72
EXIT_REGISTER = 73
EXIT_SUBMIT_EXPIRED = 74
EXIT_JVM_CRASH = 75
EXIT_SPARK_DIED = 76
EXIT_JVM_OOM = 77
EXIT_STOP_TIMEOUT = 78
EXIT_BAD_HOST = 79
EXIT_SIGNAL_BASE = 128


def forced_by(sig):
    """The exit code of a stop forced by signal sig (a second SIGTERM)."""
    return EXIT_SIGNAL_BASE + int(sig)
