#define _GNU_SOURCE
#include "corral_spawn.h"
#include "corral_linux.h"
#include "child.h"

#include <errno.h>
#include <linux/sched.h>
#include <stdint.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

struct child_report {
    int stage;
    int error;
    int index;
};

static void child_fail(int report_fd, int stage, int index) {
    struct child_report report = { stage, errno, index };
    ssize_t ignored = write(report_fd, &report, sizeof report);
    (void)ignored;
    _exit(127);
}

static int move_fd(int from, int to) {
    if (from == to) {
        int flags = fcntl(from, F_GETFD);
        if (flags < 0) return -1;
        return fcntl(from, F_SETFD, flags & ~FD_CLOEXEC);
    }
    return dup2(from, to) < 0 ? -1 : 0;
}

/* In the child: `fds[i]` becomes 3 + i. Every source is first copied above the
   targets (and the report pipe moved there), so no target overwrites a source
   not yet moved. Returns how many were passed, or -1. */
static int pass_descriptors(const int *fds, int count, int *report_fd) {
    if (count <= 0) return 0;
    int floor = 3 + count;
    if (*report_fd < floor) {
        int moved = fcntl(*report_fd, F_DUPFD_CLOEXEC, floor);
        if (moved < 0) return -1;
        *report_fd = moved;
    }
    int copies[count];
    for (int i = 0; i < count; i++) {
        copies[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, floor);
        if (copies[i] < 0) return -1;
    }
    for (int i = 0; i < count; i++) {
        if (dup2(copies[i], 3 + i) < 0) return -1;
    }
    return count;
}

static void child_main(int report_fd, const corral_spawn_options *options, int cgroup_count) {
    corral_child_reset_signals();

    for (int i = 0; i < cgroup_count; i++) {
        if (write(options->cgroup_join_fds[i], "0", 1) != 1) child_fail(report_fd, CORRAL_SPAWN_STAGE_CGROUP, i);
    }
    if (options->new_session && setsid() < 0) child_fail(report_fd, CORRAL_SPAWN_STAGE_SETSID, 0);
    if (options->private_mounts) {
        int failed = -1;
        if (corral_enter_private_mounts(options->detach_mounts, options->detach_mount_count, &failed) != 0) {
            child_fail(report_fd, CORRAL_SPAWN_STAGE_MOUNTS, failed);
        }
    }

    /* The report pipe must not land on 0-2 before those are set. */
    if (report_fd <= 2) {
        int moved = fcntl(report_fd, F_DUPFD_CLOEXEC, 3);
        if (moved < 0) _exit(127);
        report_fd = moved;
    }
    if (move_fd(options->stdin_fd, 0) < 0) child_fail(report_fd, CORRAL_SPAWN_STAGE_STDIO, 0);
    if (move_fd(options->stdout_fd, 1) < 0) child_fail(report_fd, CORRAL_SPAWN_STAGE_STDIO, 1);
    if (move_fd(options->stderr_fd, 2) < 0) child_fail(report_fd, CORRAL_SPAWN_STAGE_STDIO, 2);
    int kept = pass_descriptors(options->pass_fds, options->pass_fd_count, &report_fd);
    if (kept < 0) child_fail(report_fd, CORRAL_SPAWN_STAGE_STDIO, 3);
    if (options->cwd != NULL && chdir(options->cwd) < 0) child_fail(report_fd, CORRAL_SPAWN_STAGE_CHDIR, 0);

    /* Only 0-2 and the passed ones reach the workload, whatever the caller forgot to mark. */
    (void)syscall(SYS_close_range, 3U + (unsigned)kept, ~0U, CLOSE_RANGE_CLOEXEC);

    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);
    execve(options->path, options->argv, options->envp);
    child_fail(report_fd, CORRAL_SPAWN_STAGE_EXEC, 0);
}

/* fork(2) semantics (no CLONE_VM), but the child starts in the cgroup. Returns
   the pid in the parent, 0 in the child, -1 with errno on failure. */
static pid_t clone_into_cgroup(int cgroup2_fd) {
#if defined(SYS_clone3) && defined(CLONE_INTO_CGROUP)
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = (uint64_t)cgroup2_fd;
    return (pid_t)syscall(SYS_clone3, &args, sizeof args);
#else
    (void)cgroup2_fd;
    errno = ENOSYS;
    return -1;
#endif
}

int corral_spawn(
    const char *path, char *const argv[], char *const envp[], const char *cwd,
    int cgroup2_fd, const int *cgroup_join_fds, int cgroup_join_count,
    int stdin_fd, int stdout_fd, int stderr_fd,
    const int *pass_fds, int pass_fd_count,
    corral_spawn_result *result
) {
    corral_spawn_options options;
    memset(&options, 0, sizeof options);
    options.path = path;
    options.argv = argv;
    options.envp = envp;
    options.cwd = cwd;
    options.cgroup2_fd = cgroup2_fd;
    options.cgroup_join_fds = cgroup_join_fds;
    options.cgroup_join_count = cgroup_join_count;
    options.stdin_fd = stdin_fd;
    options.stdout_fd = stdout_fd;
    options.stderr_fd = stderr_fd;
    options.pass_fds = pass_fds;
    options.pass_fd_count = pass_fd_count;
    options.new_session = 1;
    return corral_spawn_with(&options, result);
}

int corral_spawn_with(const corral_spawn_options *options, corral_spawn_result *result) {
    memset(result, 0, sizeof *result);
    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0) {
        result->stage = CORRAL_SPAWN_STAGE_PIPE;
        result->error = errno;
        return -1;
    }

    int cgroup_join_count = options->cgroup_join_count;
    pid_t pid = -1;
    if (options->cgroup2_fd >= 0) {
        pid = clone_into_cgroup(options->cgroup2_fd);
        if (pid > 0 || pid == 0) {
            cgroup_join_count = 0;
        } else if (errno != ENOSYS && errno != EINVAL && errno != E2BIG && errno != EOPNOTSUPP) {
            result->stage = CORRAL_SPAWN_STAGE_CGROUP;
            result->error = errno;
            close(report[0]);
            close(report[1]);
            return -1;
        }
    }
    if (pid < 0) pid = fork();
    if (pid < 0) {
        result->stage = CORRAL_SPAWN_STAGE_FORK;
        result->error = errno;
        close(report[0]);
        close(report[1]);
        return -1;
    }
    if (pid == 0) {
        close(report[0]);
        child_main(report[1], options, cgroup_join_count);
        _exit(127);
    }

    close(report[1]);
    struct child_report child_report;
    ssize_t n = corral_child_await_report(report[0], pid, &child_report, sizeof child_report);
    if (n == 0) {
        result->pid = pid;
        return 0;
    }
    if (n == (ssize_t)sizeof child_report) {
        result->stage = child_report.stage;
        result->error = child_report.error;
        result->index = child_report.index;
    } else {
        result->stage = CORRAL_SPAWN_STAGE_EXEC;
        result->error = EIO;
    }
    return -1;
}

int corral_spawn_detached(
    const char *path, char *const argv[], char *const envp[], const int *extra_fds, int extra_count, pid_t *pid
) {
    if (extra_count < 0 || extra_count > 16) return EINVAL;
    /* Copies above every target, so one dup2 cannot overwrite a later source. */
    int copies[16];
    for (int i = 0; i < extra_count; i++) {
        copies[i] = fcntl(extra_fds[i], F_DUPFD_CLOEXEC, 3 + extra_count);
        if (copies[i] < 0) {
            int error = errno;
            while (i-- > 0) close(copies[i]);
            return error;
        }
    }
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) {
        for (int i = 0; i < extra_count; i++) close(copies[i]);
        return rc;
    }
    rc = posix_spawnattr_init(&attributes);
    if (rc != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return rc;
    }

    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    if (rc == 0) rc = posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&attributes, &all);
    if (rc == 0) rc = posix_spawnattr_setsigmask(&attributes, &none);
    /* 3 onwards first: the caller's descriptors may themselves be 0-2. */
    for (int i = 0; rc == 0 && i < extra_count; i++) rc = posix_spawn_file_actions_adddup2(&actions, copies[i], 3 + i);
    if (rc == 0) rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0) rc = posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    if (rc == 0) rc = posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3 + extra_count);
    if (rc == 0) rc = posix_spawn(pid, path, &actions, &attributes, argv, envp);

    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    for (int i = 0; i < extra_count; i++) close(copies[i]);
    return rc;
}
