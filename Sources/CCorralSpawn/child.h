#ifndef CORRAL_SPAWN_CHILD_H
#define CORRAL_SPAWN_CHILD_H

/* What every fork-then-exec of this target shares (spawn.c, agent.c). */

#include <stddef.h>
#include <sys/types.h>

/* In the child: every catchable signal back to its default disposition. */
void corral_child_reset_signals(void);

/* In the parent: reads the child's failure report from `read_fd` (close-on-exec,
 * so a successful exec reads end of file) and closes it. On a failure, or a
 * short read, reaps `pid`. Returns what read returned: 0 is success, `size` a
 * whole report in `report`, anything else a child that died without one. */
ssize_t corral_child_await_report(int read_fd, pid_t pid, void *report, size_t size);

#endif
