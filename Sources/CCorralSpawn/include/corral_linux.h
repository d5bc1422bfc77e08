#ifndef CORRAL_LINUX_H
#define CORRAL_LINUX_H

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/// `pidfd_open(2)`: a close-on-exec descriptor referring to process `pid`, or -1
/// with errno set.
int corral_pidfd_open(pid_t pid);

/// `pidfd_send_signal(2)` without siginfo: 0, or -1 with errno set.
int corral_pidfd_send_signal(int pidfd, int signal);

/// `pipe2(fds, O_CLOEXEC)`: 0, or -1 with errno set.
int corral_pipe_cloexec(int fds[2]);

/// `prctl(PR_SET_CHILD_SUBREAPER, 1)`: 0, or -1 with errno set.
int corral_set_child_subreaper(void);

/// `CLOCK_MONOTONIC` in nanoseconds.
unsigned long long corral_monotonic_ns(void);

/// `CLOCK_REALTIME` in nanoseconds since the Unix epoch.
long long corral_realtime_ns(void);

#ifdef __cplusplus
}
#endif

#endif
