#include "child.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void corral_child_reset_signals(void) {
    struct sigaction default_action;
    memset(&default_action, 0, sizeof default_action);
    default_action.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        sigaction(sig, &default_action, NULL);
    }
}

ssize_t corral_child_await_report(int read_fd, pid_t pid, void *report, size_t size) {
    ssize_t n;
    do {
        n = read(read_fd, report, size);
    } while (n < 0 && errno == EINTR);
    close(read_fd);
    if (n != 0) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    }
    return n;
}
