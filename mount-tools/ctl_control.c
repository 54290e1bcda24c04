/*
 * ctl_control.c — client side of the lsmfs daemon's control channel.
 *
 * Protocol (the server is fs/control.c): connect to the unix socket STORE/control.sock, send
 * one request line, read reply lines until the daemon's final "OK" or "ERR <message>", after
 * which it closes.  The daemon checks SO_PEERCRED, so only its own uid and root get through.
 *
 * sun_path holds only ~107 bytes, so a long store path is reached through
 * /proc/self/fd/N/control.sock with N an O_PATH descriptor of the store directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"

static int control_connect(const char *store_dir, char *err, size_t errlen)
{
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    int dirfd = -1;
    if ((size_t)snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/control.sock", store_dir) >=
        sizeof(addr.sun_path)) {
        dirfd = open(store_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0) {
            int e = errno;
            snprintf(err, errlen, "%s: %s", store_dir, strerror(e));
            return -e;
        }
        snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d/control.sock", dirfd);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "socket: %s", strerror(e));
        if (dirfd >= 0)
            close(dirfd);
        return -e;
    }
    int rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
    int e = errno;
    if (dirfd >= 0)
        close(dirfd);
    if (rc != 0) {
        close(fd);
        if (e == ENOENT || e == ECONNREFUSED)
            snprintf(err, errlen,
                     "%s/control.sock: the daemon's control channel is not answering (%s)",
                     store_dir, strerror(e));
        else if (e == EACCES)
            snprintf(err, errlen,
                     "%s/control.sock: permission denied (only the mount's owner and root may "
                     "use it)",
                     store_dir);
        else
            snprintf(err, errlen, "%s/control.sock: %s", store_dir, strerror(e));
        return -e;
    }
    return fd;
}

static int control_write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

int ctl_control_request(const char *store_dir, const char *request, ctl_reply_fn on_line,
                        void *arg, char *err, size_t errlen)
{
    err[0] = '\0';
    if (strchr(request, '\n')) {
        snprintf(err, errlen, "request contains a newline");
        return -EINVAL;
    }
    int fd = control_connect(store_dir, err, errlen);
    if (fd < 0)
        return fd;
    int rc = control_write_all(fd, request, strlen(request));
    if (rc == 0)
        rc = control_write_all(fd, "\n", 1);
    if (rc != 0) {
        snprintf(err, errlen, "control.sock: write: %s", strerror(-rc));
        close(fd);
        return rc;
    }
    FILE *in = fdopen(fd, "r");
    if (!in) {
        int e = errno;
        close(fd);
        snprintf(err, errlen, "fdopen: %s", strerror(e));
        return -e;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    rc = -EPROTO;
    snprintf(err, errlen, "the daemon closed the control channel without a final OK/ERR");
    while ((len = getline(&line, &cap, in)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (!strcmp(line, "OK")) {
            rc = 0;
            err[0] = '\0';
            break;
        }
        if (!strncmp(line, "ERR", 3) && (line[3] == ' ' || line[3] == '\0')) {
            rc = -EIO;
            snprintf(err, errlen, "%s", line[3] ? line + 4 : "error without a message");
            break;
        }
        if (on_line)
            on_line(arg, line);
    }
    free(line);
    fclose(in);
    return rc;
}
