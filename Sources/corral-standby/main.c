/*
 * corral-standby: the first process of a standby container.
 *
 * The container driver keeps a few containers of recently run images created
 * ahead of time ("standbys"): crun has already made their namespaces, mounted
 * their root, applied their cgroups, capabilities and seccomp filter, and exec'd
 * this program (from a descriptor: `/proc/self/fd/4`, nothing is added to the
 * image) as their init. When an instance of that image is created, the driver
 * sends the workload on descriptor 3 and this program becomes it with one
 * execve, so the workload is the container's pid 1 exactly as under a plain
 * `crun run`.
 *
 * Descriptor 3 is one end of a SOCK_SEQPACKET socket pair whose other end the
 * daemon holds. The one message is a sequence of NUL-terminated fields:
 *
 *   corral-standby 1, uid, gid, n, n supplementary gids, cwd,
 *   argc, argc arguments, envc, envc environment entries
 *
 * The reply is end of file (the descriptor is close-on-exec: the exec has
 * succeeded) or one message "error", stage, errno, text; the program then exits
 * 127. End of file before any message (the daemon discarded the standby, or
 * died) ends it with exit code 0 and nothing run.
 *
 * The user switch is the one crun makes: supplementary groups, gid, then uid.
 * For a non-root uid the kernel clears the permitted and effective capabilities
 * at setresuid (no PR_SET_KEEPCAPS), the same set crun's workload keeps across
 * its exec. The working directory is created when missing, as crun does.
 *
 * Static and libc-only: it runs inside any image's root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

enum { CHANNEL_FD = 3, SELF_FD = 4, MAX_MESSAGE = 1 << 20, MAX_GROUPS = 65536 };

static int channel = CHANNEL_FD;

static void fail(const char *stage, int error, const char *text) {
    char reply[4096];
    int n = snprintf(reply, sizeof reply, "error%c%s%c%d%c%s", 0, stage, 0, error, 0, text);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof reply) n = (int)sizeof reply - 1;
    ssize_t ignored = send(channel, reply, (size_t)n + 1, MSG_NOSIGNAL);
    (void)ignored;
    _exit(127);
}

/* Walks the message's NUL-terminated fields. */
struct fields {
    char *next;
    char *end;
};

static char *field(struct fields *f) {
    if (f->next >= f->end) fail("message", EINVAL, "the launch message is cut short");
    char *value = f->next;
    char *nul = memchr(value, 0, (size_t)(f->end - value));
    if (nul == NULL) fail("message", EINVAL, "the launch message is cut short");
    f->next = nul + 1;
    return value;
}

static unsigned long number(struct fields *f, unsigned long max) {
    char *text = field(f), *rest = NULL;
    errno = 0;
    unsigned long value = strtoul(text, &rest, 10);
    if (errno != 0 || rest == text || *rest != 0 || value > max) fail("message", EINVAL, "a number in the launch message is malformed");
    return value;
}

/* mkdir -p, as root, before the user switch (crun creates a missing cwd too). */
static void make_directories(const char *path) {
    char buffer[PATH_MAX];
    if (strlen(path) >= sizeof buffer) return;
    strcpy(buffer, path);
    for (char *p = buffer + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        (void)mkdir(buffer, 0755);
        *p = '/';
    }
    (void)mkdir(buffer, 0755);
}

/* The program to exec: a name with a slash as it is, else the first executable
 * regular file named so in the workload's PATH (crun's rule). */
static const char *resolve(const char *name, char *const env[], char *buffer, size_t size) {
    if (strchr(name, '/') != NULL) return name;
    const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (char *const *e = env; *e != NULL; e++) {
        if (strncmp(*e, "PATH=", 5) == 0) {
            path = *e + 5;
            break;
        }
    }
    int last_error = ENOENT;
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t length = colon ? (size_t)(colon - path) : strlen(path);
        if (length > 0 && length + 1 + strlen(name) < size) {
            memcpy(buffer, path, length);
            buffer[length] = '/';
            strcpy(buffer + length + 1, name);
            struct stat st;
            if (stat(buffer, &st) == 0 && S_ISREG(st.st_mode)) {
                if (access(buffer, X_OK) == 0) return buffer;
                last_error = EACCES;
            }
        }
        if (!colon) break;
        path = colon + 1;
    }
    char text[512];
    snprintf(text, sizeof text, "executable file `%s` not found in $PATH: %s", name, strerror(last_error));
    fail("exec", last_error, text);
    return NULL;
}

int main(void) {
    static char message[MAX_MESSAGE];
    ssize_t n;
    do {
        n = recv(channel, message, sizeof message, MSG_TRUNC);
    } while (n < 0 && errno == EINTR);
    if (n == 0) _exit(0);
    if (n < 0) _exit(126);
    if ((size_t)n > sizeof message) fail("message", E2BIG, "the launch message is too large");

    struct fields f = { message, message + n };
    if (strcmp(field(&f), "corral-standby 1") != 0) fail("message", EPROTO, "unknown launch message version");
    uid_t uid = (uid_t)number(&f, UINT_MAX - 1);
    gid_t gid = (gid_t)number(&f, UINT_MAX - 1);
    size_t group_count = number(&f, MAX_GROUPS);
    gid_t *groups = calloc(group_count ? group_count : 1, sizeof *groups);
    if (groups == NULL) fail("message", ENOMEM, "out of memory");
    for (size_t i = 0; i < group_count; i++) groups[i] = (gid_t)number(&f, UINT_MAX - 1);
    const char *cwd = field(&f);
    size_t argc = number(&f, MAX_MESSAGE);
    char **argv = calloc(argc + 1, sizeof *argv);
    if (argv == NULL || argc == 0) fail("message", EINVAL, "the launch message has no command");
    for (size_t i = 0; i < argc; i++) argv[i] = field(&f);
    size_t envc = number(&f, MAX_MESSAGE);
    char **env = calloc(envc + 1, sizeof *env);
    if (env == NULL) fail("message", ENOMEM, "out of memory");
    for (size_t i = 0; i < envc; i++) env[i] = field(&f);

    char text[PATH_MAX + 64];
    if (chdir(cwd) < 0) {
        make_directories(cwd);
        if (chdir(cwd) < 0) {
            int error = errno;
            snprintf(text, sizeof text, "chdir to cwd (\"%s\") set in config.json failed: %s", cwd, strerror(error));
            fail("cwd", error, text);
        }
    }
    if (setgroups(group_count, groups) < 0) fail("user", errno, "setgroups failed");
    if (setresgid(gid, gid, gid) < 0) fail("user", errno, "setresgid failed");
    if (setresuid(uid, uid, uid) < 0) fail("user", errno, "setresuid failed");

    char found[PATH_MAX];
    const char *program = resolve(argv[0], env, found, sizeof found);
    if (fcntl(channel, F_SETFD, FD_CLOEXEC) < 0) fail("exec", errno, "cannot mark the launch channel close-on-exec");
    close(SELF_FD);
    execve(program, argv, env);
    int error = errno;
    snprintf(text, sizeof text, "exec `%s`: %s", program, strerror(error));
    fail("exec", error, text);
    return 127;
}
