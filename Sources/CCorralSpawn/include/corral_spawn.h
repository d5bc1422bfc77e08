#ifndef CORRAL_SPAWN_H
#define CORRAL_SPAWN_H

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The step of `corral_spawn` that failed.
typedef enum {
    CORRAL_SPAWN_STAGE_NONE = 0,
    CORRAL_SPAWN_STAGE_PIPE = 1,
    CORRAL_SPAWN_STAGE_FORK = 2,
    CORRAL_SPAWN_STAGE_CGROUP = 3,
    CORRAL_SPAWN_STAGE_SETSID = 4,
    CORRAL_SPAWN_STAGE_STDIO = 5,
    CORRAL_SPAWN_STAGE_CHDIR = 6,
    CORRAL_SPAWN_STAGE_EXEC = 7,
    CORRAL_SPAWN_STAGE_MOUNTS = 8,
} corral_spawn_stage;

/// What `corral_spawn` did.
typedef struct {
    /// The child's pid on success.
    pid_t pid;
    /// `CORRAL_SPAWN_STAGE_NONE` on success, else the step that failed.
    int stage;
    /// `errno` of the failed step.
    int error;
    /// For `CORRAL_SPAWN_STAGE_CGROUP`: the index of the cgroup descriptor that failed.
    int index;
} corral_spawn_result;

/// Forks and execs `path` with the work posix_spawn cannot do in between.
///
/// With `cgroup2_fd` (an open cgroup v2 directory, or -1) the child is created
/// directly in that cgroup with `clone3(CLONE_INTO_CGROUP)`, and the join
/// descriptors are not used; where the kernel lacks it, this falls back to `fork`.
///
/// In the child, in this order: every signal disposition is reset to default;
/// unless it was cloned into its cgroup, `"0"` is written to each descriptor in
/// `cgroup_join_fds` (open v1 `tasks` or v2 `cgroup.procs` files), so the child is
/// in its cgroups before its first instruction; `setsid`
/// makes it lead its own session and process group; `stdin_fd`, `stdout_fd` and
/// `stderr_fd` become 0, 1 and 2, and `pass_fds[i]` becomes `3 + i`; it changes
/// to `cwd`; every other descriptor is marked close-on-exec; the signal mask is cleared; then `execve`.
///
/// Returns 0 once the exec has succeeded (a close-on-exec pipe reports a failure
/// of any child step, with its errno). Returns -1 and fills `result` on failure;
/// a child that failed has been reaped.
int corral_spawn(
    const char *path,
    char *const argv[],
    char *const envp[],
    const char *cwd,
    int cgroup2_fd,
    const int *cgroup_join_fds,
    int cgroup_join_count,
    int stdin_fd,
    int stdout_fd,
    int stderr_fd,
    const int *pass_fds,
    int pass_fd_count,
    corral_spawn_result *result
);

/// Everything `corral_spawn_with` does between fork and exec.
typedef struct {
    const char *path;
    char *const *argv;
    char *const *envp;
    /// The directory to change to; NULL keeps the caller's.
    const char *cwd;
    /// An open cgroup v2 directory to clone the child into, or -1.
    int cgroup2_fd;
    /// Open v1 `tasks` or v2 `cgroup.procs` files the child writes `"0"` to.
    const int *cgroup_join_fds;
    int cgroup_join_count;
    int stdin_fd;
    int stdout_fd;
    int stderr_fd;
    /// Non-zero: the child leads a new session (`setsid`).
    int new_session;
    /// Non-zero: the child moves to a new mount namespace whose mounts receive the
    /// host's mount events but propagate none back (`MS_REC | MS_SLAVE` on `/`),
    /// then lazily unmounts each path of `detach_mounts` there.
    int private_mounts;
    char *const *detach_mounts;
    int detach_mount_count;
    /// Descriptors the child keeps: `pass_fds[i]` becomes descriptor `3 + i`.
    const int *pass_fds;
    int pass_fd_count;
} corral_spawn_options;

/// `corral_spawn` with every step chosen by `options`. In the child, in this order:
/// signal dispositions reset; cgroups joined (unless cloned into one); `setsid` if
/// asked; the private mount namespace if asked; stdio; `pass_fds` as 3 onwards;
/// `cwd`; every other descriptor close-on-exec; signal mask cleared; `execve`.
///
/// Returns 0 once the exec has succeeded, or -1 with `result` filled (the failed
/// child has been reaped). With `private_mounts`, `CORRAL_SPAWN_STAGE_MOUNTS`
/// reports a failure of `unshare`, of the propagation change, or (`index` ≥ 0) of
/// unmounting `detach_mounts[index]`; a path that is not a mount point is skipped.
int corral_spawn_with(const corral_spawn_options *options, corral_spawn_result *result);

/// Starts a detached supervisor with `posix_spawn`: in a new session, with every
/// signal at its default disposition and unblocked, stdin, stdout and stderr on
/// `/dev/null`, `extra_fds[i]` as descriptor `3 + i`, and no other descriptor
/// inherited.
///
/// Returns 0 and sets `*pid`, or returns an errno value.
int corral_spawn_detached(
    const char *path, char *const argv[], char *const envp[], const int *extra_fds, int extra_count, pid_t *pid);


#ifdef __cplusplus
}
#endif

#endif
