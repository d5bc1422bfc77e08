#define _GNU_SOURCE
#include "corral_agent.h"
#include "child.h"

#include <errno.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

unsigned long long corral_agent_boottime_ns(void) {
    struct timespec now;
    if (clock_gettime(CLOCK_BOOTTIME, &now) != 0) return 0;
    return (unsigned long long)now.tv_sec * 1000000000ULL + (unsigned long long)now.tv_nsec;
}

int corral_agent_signalfd(const int *signals, int count) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

int corral_agent_read_signal(int fd) {
    struct signalfd_siginfo info;
    for (;;) {
        ssize_t n = read(fd, &info, sizeof info);
        if (n == (ssize_t)sizeof info) return (int)info.ssi_signo;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        if (n >= 0) errno = EIO;
        return -1;
    }
}

int corral_agent_mount(const char *source, const char *target, const char *fstype, unsigned long flags,
                       const char *data) {
    return mount(source, target, fstype, flags, data);
}

int corral_agent_power_off(void) {
    sync();
    return reboot(RB_POWER_OFF);
}

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>

int corral_agent_load_module(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    /* MODULE_INIT_COMPRESSED_FILE: the kernel decompresses .ko.xz/.ko.zst/.ko.gz itself. */
    size_t length = strlen(path);
    int flags = length >= 3 && strcmp(path + length - 3, ".ko") == 0 ? 0 : 4;
    long rc = syscall(SYS_finit_module, fd, "", flags);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc == 0 ? 0 : -1;
}

int corral_agent_disable_ctrl_alt_del(void) {
    return reboot(RB_DISABLE_CAD);
}

int corral_agent_switch_root(const char *new_root) {
    if (chdir(new_root) != 0) return -1;
    if (mount(".", "/", NULL, MS_MOVE, NULL) != 0) return -1;
    if (chroot(".") != 0) return -1;
    return chdir("/");
}

int corral_agent_move_mount(const char *source, const char *target) {
    return mount(source, target, NULL, MS_MOVE, NULL);
}

int corral_agent_remount_read_only(const char *target) {
    return mount(NULL, target, NULL, MS_REMOUNT | MS_RDONLY, NULL);
}

int corral_agent_set_hostname(const char *name) {
    return sethostname(name, strlen(name));
}

static int interface_socket(void) {
    return socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

static void set_address(struct sockaddr *target, in_addr_t address) {
    struct sockaddr_in in;
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = address;
    memcpy(target, &in, sizeof in);
}

int corral_agent_interface_up(const char *name) {
    int fd = interface_socket();
    if (fd < 0) return -1;
    struct ifreq request;
    memset(&request, 0, sizeof request);
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    int rc = ioctl(fd, SIOCGIFFLAGS, &request);
    if (rc == 0) {
        request.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(fd, SIOCSIFFLAGS, &request);
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int corral_agent_interface_address(const char *name, const char *address, int prefix_length) {
    struct in_addr parsed;
    if (prefix_length < 0 || prefix_length > 32 || inet_pton(AF_INET, address, &parsed) != 1) {
        errno = EINVAL;
        return -1;
    }
    int fd = interface_socket();
    if (fd < 0) return -1;
    struct ifreq request;
    memset(&request, 0, sizeof request);
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    set_address(&request.ifr_addr, parsed.s_addr);
    int rc = ioctl(fd, SIOCSIFADDR, &request);
    if (rc == 0) {
        uint32_t mask = prefix_length == 0 ? 0 : htonl(~((1U << (32 - prefix_length)) - 1U));
        set_address(&request.ifr_netmask, mask);
        rc = ioctl(fd, SIOCSIFNETMASK, &request);
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int corral_agent_add_default_route(const char *gateway) {
    struct in_addr parsed;
    if (inet_pton(AF_INET, gateway, &parsed) != 1) {
        errno = EINVAL;
        return -1;
    }
    int fd = interface_socket();
    if (fd < 0) return -1;
    struct rtentry route;
    memset(&route, 0, sizeof route);
    set_address(&route.rt_dst, INADDR_ANY);
    set_address(&route.rt_genmask, INADDR_ANY);
    set_address(&route.rt_gateway, parsed.s_addr);
    route.rt_flags = RTF_UP | RTF_GATEWAY;
    int rc = ioctl(fd, SIOCADDRT, &route);
    int saved = errno;
    close(fd);
    errno = saved;
    if (rc != 0 && saved == EEXIST) return 0;
    return rc;
}

int corral_agent_open_terminal(int *master, int *slave, unsigned short columns, unsigned short rows) {
    int primary = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    if (primary < 0) return -1;
    char name[128];
    if (grantpt(primary) != 0 || unlockpt(primary) != 0 || ptsname_r(primary, name, sizeof name) != 0) {
        int saved = errno;
        close(primary);
        errno = saved;
        return -1;
    }
    int secondary = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (secondary < 0) {
        int saved = errno;
        close(primary);
        errno = saved;
        return -1;
    }
    struct winsize size = { .ws_row = rows, .ws_col = columns };
    (void)ioctl(primary, TIOCSWINSZ, &size);
    *master = primary;
    *slave = secondary;
    return 0;
}

struct agent_child_report {
    int stage;
    int error;
};

static void agent_child_fail(int fd, int stage) {
    struct agent_child_report report = { stage, errno };
    ssize_t ignored = write(fd, &report, sizeof report);
    (void)ignored;
    _exit(127);
}

int corral_agent_spawn(const corral_agent_spawn_options *options, corral_agent_spawn_result *result) {
    memset(result, 0, sizeof *result);
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        result->stage = CORRAL_AGENT_SPAWN_FORK;
        result->error = errno;
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        result->stage = CORRAL_AGENT_SPAWN_FORK;
        result->error = errno;
        close(report[0]);
        close(report[1]);
        return -1;
    }
    if (pid == 0) {
        int fd = report[1];
        corral_child_reset_signals();
        if (setsid() < 0) agent_child_fail(fd, CORRAL_AGENT_SPAWN_SETSID);
        if (options->controlling_terminal && ioctl(options->stdin_fd, TIOCSCTTY, 0) != 0)
            agent_child_fail(fd, CORRAL_AGENT_SPAWN_TERMINAL);
        if (fd <= 2) {
            int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
            if (moved < 0) _exit(127);
            fd = moved;
        }
        int stdio[3] = { options->stdin_fd, options->stdout_fd, options->stderr_fd };
        for (int i = 0; i < 3; i++) {
            if (stdio[i] == i) {
                int flags = fcntl(i, F_GETFD);
                if (flags < 0 || fcntl(i, F_SETFD, flags & ~FD_CLOEXEC) < 0) agent_child_fail(fd, CORRAL_AGENT_SPAWN_STDIO);
            } else if (dup2(stdio[i], i) < 0) {
                agent_child_fail(fd, CORRAL_AGENT_SPAWN_STDIO);
            }
        }
        if (options->cwd != NULL && chdir(options->cwd) != 0) agent_child_fail(fd, CORRAL_AGENT_SPAWN_CHDIR);
        if (options->set_identity) {
            if (setgroups((size_t)options->group_count, options->groups) != 0) agent_child_fail(fd, CORRAL_AGENT_SPAWN_IDENTITY);
            if (setgid(options->gid) != 0) agent_child_fail(fd, CORRAL_AGENT_SPAWN_IDENTITY);
            if (setuid(options->uid) != 0) agent_child_fail(fd, CORRAL_AGENT_SPAWN_IDENTITY);
        }
        (void)syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);
        sigset_t empty;
        sigemptyset(&empty);
        sigprocmask(SIG_SETMASK, &empty, NULL);
        execve(options->path, options->argv, options->envp);
        agent_child_fail(fd, CORRAL_AGENT_SPAWN_EXEC);
    }
    close(report[1]);
    struct agent_child_report child;
    ssize_t n = corral_child_await_report(report[0], pid, &child, sizeof child);
    if (n == 0) {
        result->pid = pid;
        return 0;
    }
    result->stage = n == (ssize_t)sizeof child ? child.stage : CORRAL_AGENT_SPAWN_EXEC;
    result->error = n == (ssize_t)sizeof child ? child.error : EIO;
    return -1;
}

/* The Swift runtime's static initialisers (the backtracer's among them) look up the
   runtime's own path through /proc/self/exe and abort when they cannot, before any
   Swift code runs. As PID 1 of an initramfs (run as `/init`, or `corral-agent init`)
   there is no /proc yet, so mount it first: priority constructors run before the
   default-priority C++ initialisers of libswiftCore. This file is linked into every
   Corral binary: only the agent as PID 1 (`/init` or `corral-agent`, not running
   `serve`) acts; corrald or the shim as PID 1 of some container leave this alone. */
__attribute__((constructor(101))) static void corral_agent_early_proc(int argc, char **argv, char **envp) {
    (void)envp;
    if (getpid() != 1 || argc < 1 || argv == NULL || argv[0] == NULL) return;
    const char *slash = strrchr(argv[0], '/');
    const char *program = slash != NULL ? slash + 1 : argv[0];
    if (strcmp(program, "init") != 0 && strcmp(program, "corral-agent") != 0) return;
    if (argc >= 2 && argv[1] != NULL && strcmp(argv[1], "serve") == 0) return;
    /* The runtime seeds its hashing with a blocking getrandom(); early in a guest
       without a hardware RNG that waits about a second for the kernel's entropy.
       PID 1 hashes only what it is told by the host, so a fixed seed is fine;
       the workload and exec'd commands get environments of their own. */
    (void)setenv("SWIFT_DETERMINISTIC_HASHING", "1", 0);
    if (access("/proc/self/exe", F_OK) == 0) return;
    (void)mkdir("/proc", 0755);
    (void)mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}
