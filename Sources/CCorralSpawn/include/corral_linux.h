#ifndef CORRAL_LINUX_H
#define CORRAL_LINUX_H

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <stddef.h>
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

/// Moves the calling thread's process (which must be single-threaded) into a new
/// mount namespace whose mounts receive the host's mount events but propagate none
/// back, then lazily unmounts each of `detach` there (a path that is not a mount
/// point is skipped). Returns 0, or -1 with errno set and `*failed_index` set to
/// the index of the path that failed (-1: the namespace itself).
int corral_enter_private_mounts(char *const *detach, int count, int *failed_index);

/// Mounts an overlay file system at `target`: `lower` read-only, `upper` and `work`
/// on the same file system. The paths must not contain `,`, `:` or `\`.
/// Returns 0, or -1 with errno set.
int corral_mount_overlay(const char *lower, const char *upper, const char *work, const char *target);

/// `openat2(2)` of `path` relative to `root_fd` with `RESOLVE_IN_ROOT |
/// RESOLVE_NO_MAGICLINKS`: `..` and absolute symlinks cannot leave `root_fd`.
/// `flags` gains `O_CLOEXEC`. Returns a descriptor, or -1 with errno set (ENOSYS
/// on kernels before 5.6).
int corral_open_in_root(int root_fd, const char *path, int flags, unsigned int mode);

/// An `O_PATH | O_DIRECTORY` descriptor (close-on-exec) of `path`, following
/// symlinks and magic links in `path`. Returns a descriptor, or -1 with errno set.
int corral_open_directory_path(const char *path);

/// `corral_open_in_root` of a directory, as an `O_PATH` descriptor.
int corral_open_directory_in_root(int root_fd, const char *path);

/// An anonymous memory file (`memfd_create`, close-on-exec) holding `length` bytes
/// of `bytes`, positioned at its start. Returns a descriptor, or -1 with errno set.
int corral_memfd_with(const void *bytes, size_t length);

/// `CLOCK_MONOTONIC` in nanoseconds.
unsigned long long corral_monotonic_ns(void);

/// `CLOCK_REALTIME` in nanoseconds since the Unix epoch.
long long corral_realtime_ns(void);

/// Sets the host name of the UTS namespace process `pid` is in, from a short-lived
/// thread that joins that namespace (the caller's threads never change theirs).
/// Returns 0, or -1 with errno set.
int corral_set_hostname_of(pid_t pid, const char *name);

#ifdef __cplusplus
}
#endif

#endif
