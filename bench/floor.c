/*
 * floor: the cost of starting a process, the floor under any instance start.
 *
 * Runs `argv[2..]` N (= argv[1]) times, one at a time. Each time it measures
 * from just before fork() to the moment exec has succeeded, which it learns
 * from a CLOEXEC pipe: the child holds the write end, exec closes it, and the
 * parent's read() returns 0. A failed exec writes errno into the pipe instead.
 * The child is then killed and reaped outside the measured interval.
 *
 * Prints one human line and one JSON line:
 *   floor: n=200 p50=0.412ms p99=0.913ms mean=0.450ms min=0.301ms max=1.204ms
 *   {"n":200,"p50_ms":0.412,...}
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static double percentile(const double *sorted, int n, double p) {
    int rank = (int)(p / 100.0 * n + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return sorted[rank - 1];
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s N command [args...]\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[1]);
    if (n < 1 || n > 1000000) {
        fprintf(stderr, "floor: N must be between 1 and 1000000\n");
        return 2;
    }
    char **cmd = &argv[2];
    double *samples = calloc((size_t)n, sizeof(double));
    if (samples == NULL) {
        perror("floor: calloc");
        return 1;
    }

    for (int i = 0; i < n; i++) {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0) {
            perror("floor: pipe2");
            return 1;
        }
        double t0 = now_ms();
        pid_t pid = fork();
        if (pid < 0) {
            perror("floor: fork");
            return 1;
        }
        if (pid == 0) {
            close(fds[0]);
            execvp(cmd[0], cmd);
            int err = errno;
            ssize_t unused = write(fds[1], &err, sizeof err);
            (void)unused;
            _exit(127);
        }
        close(fds[1]);
        int child_errno = 0;
        ssize_t got;
        do {
            got = read(fds[0], &child_errno, sizeof child_errno);
        } while (got < 0 && errno == EINTR);
        double t1 = now_ms();
        close(fds[0]);
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        if (got != 0) {
            fprintf(stderr, "floor: exec %s failed: %s\n", cmd[0],
                    got > 0 ? strerror(child_errno) : "read error");
            return 1;
        }
        samples[i] = t1 - t0;
    }

    double sum = 0;
    for (int i = 0; i < n; i++) sum += samples[i];
    qsort(samples, (size_t)n, sizeof(double), cmp_double);
    double p50 = percentile(samples, n, 50), p99 = percentile(samples, n, 99);
    double mean = sum / n, min = samples[0], max = samples[n - 1];
    printf("floor: n=%d p50=%.3fms p99=%.3fms mean=%.3fms min=%.3fms max=%.3fms\n",
           n, p50, p99, mean, min, max);
    printf("{\"n\":%d,\"p50_ms\":%.4f,\"p99_ms\":%.4f,\"mean_ms\":%.4f,\"min_ms\":%.4f,\"max_ms\":%.4f}\n",
           n, p50, p99, mean, min, max);
    free(samples);
    return 0;
}
