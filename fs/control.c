/*
 * control.c — the control server: one thread, one connection at a time (see control.h).
 *
 * The thread polls the listening socket and a pipe that fsctl_stop writes to.  Commands are
 * short except compact and checkpoint, which hold the connection while the store works; the
 * filesystem keeps serving meanwhile (liblsm is thread-safe).  A client that sends nothing is
 * dropped after a receive timeout, so it cannot wedge the server.
 */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define FSCTL_SOCK "control.sock"

struct fsctl {
    fscore *fs;
    fsctl_info_fn info;
    void *info_arg;
    int listen_fd;
    int stop_pipe[2];
    int dir_fd; /* the store directory, for unlinking the socket at stop */
    pthread_t thread;
};

int fsctl_read_line(int fd, char *buf, size_t size)
{
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t r = recv(fd, &c, 1, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            break;
        if (c == '\n')
            break;
        if (n + 1 >= size)
            return -ENAMETOOLONG;
        buf[n++] = c;
    }
    buf[n] = '\0';
    return (int)n;
}

int fsctl_write_line(int fd, const char *fmt, ...)
{
    char small[1024];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (len < 0)
        return -EINVAL;
    char *p = small;
    if ((size_t)len + 2 > sizeof small) {
        p = malloc((size_t)len + 2);
        if (!p)
            return -ENOMEM;
        va_start(ap, fmt);
        vsnprintf(p, (size_t)len + 1, fmt, ap);
        va_end(ap);
    }
    p[len] = '\n';
    size_t done = 0, total = (size_t)len + 1;
    int r = 0;
    while (done < total) {
        ssize_t w = send(fd, p + done, total - done, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            break;
        }
        done += (size_t)w;
    }
    if (p != small)
        free(p);
    return r;
}

/* bind/connect to dir/control.sock whatever the length of dir: through /proc/self/fd. */
static int sock_addr(int dir_fd, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    int n = snprintf(sa->sun_path, sizeof sa->sun_path, "/proc/self/fd/%d/" FSCTL_SOCK, dir_fd);
    return n < 0 || (size_t)n >= sizeof sa->sun_path ? -ENAMETOOLONG : 0;
}

int fsctl_connect(const char *store_dir)
{
    int dfd = open(store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    struct sockaddr_un sa;
    int r = sock_addr(dfd, &sa);
    int fd = -1;
    if (r == 0) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            r = -errno;
    }
    if (r == 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        r = -errno;
    close(dfd);
    if (r) {
        if (fd >= 0)
            close(fd);
        return r;
    }
    return fd;
}

static void send_text(int fd, const char *text)
{
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        fsctl_write_line(fd, "%.*s", (int)n, p);
        p += n + (nl ? 1 : 0);
    }
}

static void reply_status(int fd, int r, const char *what)
{
    if (r == 0)
        fsctl_write_line(fd, "OK");
    else {
        const char *m = lsm_last_error();
        fsctl_write_line(fd, "ERR %s: %s%s%s", what, strerror(-r), m && *m ? ": " : "",
                         m ? m : "");
    }
}

static void serve(fsctl *c, int fd)
{
    char line[4096];
    int n = fsctl_read_line(fd, line, sizeof line);
    if (n < 0) {
        fsctl_write_line(fd, "ERR bad request");
        return;
    }
    lsm_db *db = fscore_db(c->fs);
    if (strcmp(line, "stat") == 0 || strcmp(line, "stat-json") == 0) {
        char *text = NULL;
        int r = lsm_property(db, line[4] ? "lsm.stats.json" : "lsm.stats", &text);
        if (r == 0) {
            send_text(fd, text);
            lsm_free(text);
        }
        if (r == 0 && !line[4] && c->info) {
            char extra[1024] = "";
            c->info(c->info_arg, extra, sizeof extra);
            send_text(fd, extra);
        }
        reply_status(fd, r, "stat");
    } else if (strcmp(line, "compact") == 0) {
        fsctl_write_line(fd, "PROGRESS 0 1");
        int r = fscore_sync(c->fs);
        if (r == 0)
            r = lsm_compact_range(db, NULL, 0, NULL, 0);
        if (r == 0)
            fsctl_write_line(fd, "PROGRESS 1 1");
        reply_status(fd, r, "compact");
    } else if (strcmp(line, "flush") == 0) {
        int r = fscore_sync(c->fs);
        if (r == 0)
            r = lsm_flush(db);
        reply_status(fd, r, "flush");
    } else if (strncmp(line, "checkpoint ", 11) == 0) {
        const char *dest = line + 11;
        if (dest[0] != '/') {
            fsctl_write_line(fd, "ERR checkpoint: destination must be an absolute path");
            return;
        }
        int r = fscore_sync(c->fs);
        if (r == 0)
            r = lsm_checkpoint(db, dest);
        reply_status(fd, r, "checkpoint");
    } else {
        fsctl_write_line(fd, "ERR unknown command '%s' (stat, stat-json, compact, flush, "
                             "checkpoint DIR)",
                         line);
    }
}

static void *server_main(void *arg)
{
    fsctl *c = arg;
    for (;;) {
        struct pollfd p[2] = {{c->listen_fd, POLLIN, 0}, {c->stop_pipe[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        struct ucred cred;
        socklen_t len = sizeof cred;
        struct timeval tv = {10, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
            (cred.uid != 0 && cred.uid != geteuid())) {
            /* read the request first, so the client is not cut off while sending it */
            char line[4096];
            fsctl_read_line(fd, line, sizeof line);
            fsctl_write_line(fd, "ERR permission denied: only uid %u and root may control "
                                 "this filesystem",
                             (unsigned)geteuid());
        } else {
            serve(c, fd);
        }
        close(fd);
    }
    return NULL;
}

int fsctl_start(fscore *fs, fsctl_info_fn info, void *arg, fsctl **out)
{
    *out = NULL;
    fsctl *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->fs = fs;
    c->info = info;
    c->info_arg = arg;
    c->listen_fd = c->stop_pipe[0] = c->stop_pipe[1] = -1;
    int r = 0;
    c->dir_fd = open(fscore_store_dir(fs), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (c->dir_fd < 0)
        r = -errno;
    struct sockaddr_un sa;
    if (r == 0)
        r = sock_addr(c->dir_fd, &sa);
    if (r == 0 && pipe2(c->stop_pipe, O_CLOEXEC) != 0)
        r = -errno;
    if (r == 0) {
        c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->listen_fd < 0)
            r = -errno;
    }
    if (r == 0) {
        unlinkat(c->dir_fd, FSCTL_SOCK, 0); /* stale: we hold the store's lock */
        mode_t old = umask(0077);
        if (bind(c->listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0)
            r = -errno;
        umask(old);
    }
    if (r == 0 && fchmodat(c->dir_fd, FSCTL_SOCK, 0600, 0) != 0)
        r = -errno;
    if (r == 0 && listen(c->listen_fd, 8) != 0)
        r = -errno;
    if (r == 0 && (r = -pthread_create(&c->thread, NULL, server_main, c)) == 0) {
        *out = c;
        return 0;
    }
    if (c->listen_fd >= 0) {
        close(c->listen_fd);
        unlinkat(c->dir_fd, FSCTL_SOCK, 0);
    }
    if (c->stop_pipe[0] >= 0) {
        close(c->stop_pipe[0]);
        close(c->stop_pipe[1]);
    }
    if (c->dir_fd >= 0)
        close(c->dir_fd);
    free(c);
    return r;
}

void fsctl_stop(fsctl *c)
{
    if (!c)
        return;
    ssize_t w = write(c->stop_pipe[1], "x", 1);
    (void)w;
    pthread_join(c->thread, NULL);
    close(c->listen_fd);
    unlinkat(c->dir_fd, FSCTL_SOCK, 0);
    close(c->stop_pipe[0]);
    close(c->stop_pipe[1]);
    close(c->dir_fd);
    free(c);
}
