/* systemd Type=notify support. Without NOTIFY_SOCKET every call is a no-op,
 * so the shim behaves the same under systemd, a gateway or a terminal. */
#ifndef SPARKSHIM_SDNOTIFY_H
#define SPARKSHIM_SDNOTIFY_H

#include <stdint.h>

void sdn_init(void);
int sdn_enabled(void);
uint64_t sdn_watchdog_usec(void);   /* 0 = no watchdog */
void sdn_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sdn_ready(const char *status);
void sdn_stopping(const char *status);
void sdn_extend_timeout(uint64_t usec);
void sdn_watchdog(void);
void sdn_mainpid(void);

#endif
