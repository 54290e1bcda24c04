/*
 * control.h — the daemon's control channel: a unix socket STORE_DIR/control.sock for lsmfs-ctl.
 *
 * Protocol (one exchange per connection): the client sends one line — `stat`, `stat-json`,
 * `compact`, `flush` or `checkpoint <absolute dest dir>` — and the server answers zero or more
 * lines (`compact` sends `PROGRESS <done> <total>` lines), then a final line `OK` or
 * `ERR <message>`, and closes.  Lines end with '\n'.  Only the daemon's own uid and root may
 * connect (SO_PEERCRED); the socket is mode 0600 and removed when the server stops.
 * The line helpers are shared with the client (lsmfs-ctl).
 */
#ifndef FS_CONTROL_H
#define FS_CONTROL_H

#include <stddef.h>

#include "fscore.h"

typedef struct fsctl fsctl; /* opaque: a running control server */

/* Extra "name: value" lines the daemon adds to the text form of `stat` (e.g. its node table),
 * written into buf (size bytes, NUL-terminated). */
typedef void (*fsctl_info_fn)(void *arg, char *buf, size_t size);

/* Create the socket in fscore_store_dir(fs) and start the server thread.  The store must be
 * open (its lock guarantees that a leftover socket file is stale and may be replaced).  info
 * (may be NULL) is called from the server thread with arg. */
int fsctl_start(fscore *fs, fsctl_info_fn info, void *arg, fsctl **out);

/* Stop the thread, close and remove the socket, free c.  NULL is a no-op. */
void fsctl_stop(fsctl *c);

/* Read one line from fd into buf (without the '\n', NUL-terminated).  Returns its length, 0 at
 * end of stream, -ENAMETOOLONG if the line does not fit in size-1 bytes, or -errno. */
int fsctl_read_line(int fd, char *buf, size_t size);

/* Write the formatted text and a '\n' to fd, all of it (MSG_NOSIGNAL); 0 or -errno. */
int fsctl_write_line(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Connect to the control socket of the store in store_dir; returns the fd or -errno. */
int fsctl_connect(const char *store_dir);

#endif
