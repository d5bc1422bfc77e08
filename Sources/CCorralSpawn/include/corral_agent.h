#ifndef CORRAL_AGENT_H
#define CORRAL_AGENT_H

#ifdef __cplusplus
extern "C" {
#endif

/// `CLOCK_BOOTTIME` in nanoseconds: time since the kernel started, suspend included.
unsigned long long corral_agent_boottime_ns(void);

/// Blocks `signals` in the calling thread and returns a close-on-exec, non-blocking
/// `signalfd` that reports them, or -1 with errno set.
int corral_agent_signalfd(const int *signals, int count);

/// Reads one pending signal from a `corral_agent_signalfd` descriptor: its number,
/// 0 when none is pending, or -1 with errno set.
int corral_agent_read_signal(int fd);

/// `mount(2)`. Returns 0, or -1 with errno set.
int corral_agent_mount(const char *source, const char *target, const char *fstype, unsigned long flags,
                       const char *data);

/// `sync()` then `reboot(RB_POWER_OFF)`. Returns only on failure, with -1 and errno set.
/// Only meaningful for PID 1 of a machine; callers must check that they are.
int corral_agent_power_off(void);

#ifdef __cplusplus
}
#endif

#endif
