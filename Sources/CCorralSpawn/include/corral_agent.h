#ifndef CORRAL_AGENT_H
#define CORRAL_AGENT_H

#include <sys/types.h>

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

/// Loads the kernel module file at `path` (`finit_module`, no parameters); a name
/// not ending in `.ko` is handed over as compressed, for the kernel to decompress.
/// Returns 0, or -1 with errno set (EEXIST: already loaded or built in).
int corral_agent_load_module(const char *path);

/// `reboot(RB_DISABLE_CAD)`: ctrl-alt-del sends SIGINT to PID 1 instead of rebooting.
int corral_agent_disable_ctrl_alt_del(void);

/// Makes `new_root` (a mount point) the root: chdir into it, move it onto `/`,
/// chroot there and chdir to the new `/`. The way out of an initramfs, which
/// cannot be `pivot_root`ed. Returns 0, or -1 with errno set.
int corral_agent_switch_root(const char *new_root);

/// `mount(source, target, NULL, MS_MOVE, NULL)`. Returns 0, or -1 with errno set.
int corral_agent_move_mount(const char *source, const char *target);

/// Remounts the file system at `target` read-only. Returns 0, or -1 with errno set.
int corral_agent_remount_read_only(const char *target);

/// `sethostname(2)`. Returns 0, or -1 with errno set.
int corral_agent_set_hostname(const char *name);

/// Sets `IFF_UP` on interface `name`. Returns 0, or -1 with errno set.
int corral_agent_interface_up(const char *name);

/// Gives interface `name` the IPv4 `address` (dotted) with `prefix_length`.
/// Returns 0, or -1 with errno set (EINVAL: unparsable address or prefix).
int corral_agent_interface_address(const char *name, const char *address, int prefix_length);

/// Adds a default IPv4 route via `gateway` (dotted); an existing one is kept.
/// Returns 0, or -1 with errno set.
int corral_agent_add_default_route(const char *gateway);

/// The step of `corral_agent_spawn` that failed.
enum {
    CORRAL_AGENT_SPAWN_NONE = 0,
    CORRAL_AGENT_SPAWN_FORK = 1,
    CORRAL_AGENT_SPAWN_SETSID = 2,
    CORRAL_AGENT_SPAWN_STDIO = 3,
    CORRAL_AGENT_SPAWN_CHDIR = 4,
    CORRAL_AGENT_SPAWN_IDENTITY = 5,
    CORRAL_AGENT_SPAWN_EXEC = 6,
    CORRAL_AGENT_SPAWN_TERMINAL = 7,
};

typedef struct {
    const char *path;
    char *const *argv;
    char *const *envp;
    /// NULL keeps the caller's directory.
    const char *cwd;
    int stdin_fd;
    int stdout_fd;
    int stderr_fd;
    /// Non-zero: `setgroups(groups)`, `setgid(gid)`, `setuid(uid)` before exec.
    int set_identity;
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    int group_count;
    /// Non-zero: after `setsid`, stdin (a terminal's slave) becomes the
    /// controlling terminal (`TIOCSCTTY`).
    int controlling_terminal;
} corral_agent_spawn_options;

typedef struct {
    pid_t pid;
    int stage;
    int error;
} corral_agent_spawn_result;

/// Opens a new pseudo-terminal of `columns` x `rows`: `*master` (non-blocking)
/// and `*slave`, both close-on-exec and neither becoming the caller's
/// controlling terminal. Returns 0, or -1 with errno set (nothing left open).
int corral_agent_open_terminal(int *master, int *slave, unsigned short columns, unsigned short rows);

/// Forks and execs a process of the guest: in the child, signal dispositions reset,
/// `setsid`, the controlling terminal if asked, stdio from the three descriptors, `cwd`, the identity if asked, every
/// other descriptor close-on-exec, signal mask cleared, `execve`. Returns 0 once
/// the exec succeeded, or -1 with `result` naming the failed step and its errno
/// (the failed child has been reaped).
int corral_agent_spawn(const corral_agent_spawn_options *options, corral_agent_spawn_result *result);

#ifdef __cplusplus
}
#endif

#endif
