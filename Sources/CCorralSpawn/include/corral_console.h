#ifndef CORRAL_CONSOLE_H
#define CORRAL_CONSOLE_H

#ifdef __cplusplus
extern "C" {
#endif

/// A non-blocking, close-on-exec unix stream socket listening at `path` (which
/// must not exist), for an OCI runtime's `--console-socket`. Returns the
/// descriptor, or -1 with errno set (ENAMETOOLONG when `path` does not fit).
int corral_console_listen(const char *path);

/// Accepts one connection on a listening socket from `corral_console_listen`:
/// a non-blocking, close-on-exec descriptor, or -1 with errno set (EAGAIN when
/// nobody has connected yet).
int corral_console_accept(int listener);

/// Receives the terminal master a runtime sends over a console socket
/// connection (one descriptor in an SCM_RIGHTS message), without blocking.
/// Returns it (close-on-exec), or -1 with errno set: EAGAIN when nothing has
/// arrived yet, EPROTO when the message carried no descriptor, ECONNRESET when
/// the peer closed first. Extra descriptors in the message are closed.
int corral_console_receive(int connection);

/// Sets the window size of the terminal `fd` refers to (TIOCSWINSZ): 0, or -1
/// with errno set.
int corral_terminal_set_size(int fd, unsigned short columns, unsigned short rows);

#ifdef __cplusplus
}
#endif

#endif
