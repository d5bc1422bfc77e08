#define _GNU_SOURCE
#include "corral_linux.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int corral_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int corral_pidfd_send_signal(int pidfd, int signal) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0);
}

unsigned long long corral_monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (unsigned long long)now.tv_sec * 1000000000ULL + (unsigned long long)now.tv_nsec;
}

long long corral_realtime_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (long long)now.tv_sec * 1000000000LL + (long long)now.tv_nsec;
}

int corral_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

int corral_set_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

int corral_enter_private_mounts(char *const *detach, int count, int *failed_index) {
    *failed_index = -1;
    if (unshare(CLONE_NEWNS) != 0) return -1;
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) != 0) return -1;
    for (int i = 0; i < count; i++) {
        if (umount2(detach[i], MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
            *failed_index = i;
            return -1;
        }
    }
    return 0;
}

int corral_mount_overlay(const char *lower, const char *upper, const char *work, const char *target) {
    char data[4096];
    int n = snprintf(data, sizeof data, "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
    if (n < 0 || (size_t)n >= sizeof data) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return mount("overlay", target, "overlay", MS_NODEV, data);
}

int corral_open_in_root(int root_fd, const char *path, int flags, unsigned int mode) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (unsigned long long)(flags | O_CLOEXEC);
    if (flags & (O_CREAT | O_TMPFILE)) how.mode = mode;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    long fd;
    do {
        fd = syscall(SYS_openat2, root_fd, path, &how, sizeof how);
    } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
    return (int)fd;
}

int corral_open_directory_path(const char *path) {
    return open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

int corral_open_directory_in_root(int root_fd, const char *path) {
    return corral_open_in_root(root_fd, path, O_PATH | O_DIRECTORY, 0);
}

int corral_memfd_with(const void *bytes, size_t length) {
    int fd = memfd_create("corral-stdin", MFD_CLOEXEC);
    if (fd < 0) return -1;
    const char *cursor = bytes;
    size_t left = length;
    while (left > 0) {
        ssize_t n = write(fd, cursor, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
        cursor += n;
        left -= (size_t)n;
    }
    if (lseek(fd, 0, SEEK_SET) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

struct hostname_request {
    int namespace_fd;
    const char *name;
    int error;
};

/* setns(CLONE_NEWUTS) changes only the calling thread's namespace: this thread
   exists for that and ends with it. */
static void *set_hostname_thread(void *argument) {
    struct hostname_request *request = argument;
    if (setns(request->namespace_fd, CLONE_NEWUTS) < 0) {
        request->error = errno;
    } else if (sethostname(request->name, strlen(request->name)) < 0) {
        request->error = errno;
    }
    return NULL;
}

int corral_set_hostname_of(pid_t pid, const char *name) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/uts", (int)pid);
    struct hostname_request request = { open(path, O_RDONLY | O_CLOEXEC), name, 0 };
    if (request.namespace_fd < 0) return -1;
    pthread_t thread;
    int rc = pthread_create(&thread, NULL, set_hostname_thread, &request);
    if (rc == 0) rc = pthread_join(thread, NULL);
    close(request.namespace_fd);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    if (request.error != 0) {
        errno = request.error;
        return -1;
    }
    return 0;
}
