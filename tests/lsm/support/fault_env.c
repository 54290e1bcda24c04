/*
 * fault_env.c — the fault-injecting env of fault_env.h.
 *
 * Each hook forwards to the POSIX env after counting the operation and consulting the armed
 * failure.  For the power-cut simulation the env keeps, per file path written through it, the
 * size at its last fsync, an undo list of synced bytes overwritten since (newest first), and
 * whether its creation is still waiting for a directory fsync; and a list of renames still
 * waiting for one.  fault_env_drop_unsynced undoes, in order: pending renames (newest first),
 * pending creations, then every file's unsynced content.
 */
#include "fault_env.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FAULT_MAX_SAVED (64u * 1024u * 1024u) /* largest replaced file a rename can restore */

typedef struct undo {
    uint64_t off;
    size_t len;
    uint8_t *data;
    struct undo *next;
} undo;

typedef struct ftrack {
    char *path;         /* current name */
    int gone;           /* unlinked or replaced by a rename: no longer simulated */
    int created;        /* creation not yet made durable by an fsync_dir */
    char *create_dir;   /* canonical parent directory at creation */
    uint64_t synced;    /* size at the last fsync */
    undo *undos;        /* synced bytes changed since, newest first */
    int undo_lost;      /* an undo record could not be saved */
    struct ftrack *next;
} ftrack;

/* A name change not yet made durable: a rename (from -> to), or an unlink (of from; to is
 * NULL) whose file comes back with its durable contents if the directory is not synced. */
typedef struct rename_rec {
    char *from, *to;
    char *from_dir, *to_dir; /* canonical; set to NULL once fsync_dir'ed */
    ftrack *file;            /* the renamed file's record, or NULL if untracked */
    int had_target;
    uint8_t *target;         /* the replaced (or unlinked) file's durable contents */
    size_t target_len;
    struct rename_rec *next; /* older */
} rename_rec;

typedef struct fault_state {
    lsm_env env;
    lsm_env *base;
    pthread_mutex_t mu;
    uint64_t count, per_op[FAULT_OP_COUNT_], injected;
    /* armed failure */
    unsigned fail_mask;
    uint64_t fail_n, fail_seen;
    int fail_err, fail_sticky;
    /* armed short write */
    uint64_t short_n, short_seen;
    size_t short_keep;
    unsigned fsync_delay_us; /* see fault_env_fsync_delay */
    ftrack *files;
    rename_rec *renames;
    ftrack **fds; /* descriptor -> tracked file (NULL: untracked or read-only) */
    size_t nfds;
} fault_state;

static fault_state *st_of(lsm_env *env) { return (fault_state *)env->ctx; }

/* Count op and decide whether to inject its failure.  Returns 0 or the error to return.
 * REQUIRES: mu held. */
static int account(fault_state *s, enum fault_op op)
{
    s->count++;
    s->per_op[op]++;
    if (!s->fail_n || !(s->fail_mask & FAULT_MASK(op))) return 0;
    s->fail_seen++;
    if (s->fail_seen == s->fail_n || (s->fail_sticky && s->fail_seen > s->fail_n)) {
        s->injected++;
        return s->fail_err;
    }
    return 0;
}

/* Canonical form of directory dir, malloc'd (the literal string if it cannot be resolved). */
static char *canon_dir(const char *dir)
{
    char *r = realpath(dir, NULL);
    return r ? r : strdup(dir);
}

static char *parent_canon(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = !slash ? strdup(".") : slash == path ? strdup("/")
                                                     : strndup(path, (size_t)(slash - path));
    if (!dir) return NULL;
    char *c = canon_dir(dir);
    free(dir);
    return c;
}

static ftrack *find_file(fault_state *s, const char *path)
{
    for (ftrack *f = s->files; f; f = f->next)
        if (!f->gone && strcmp(f->path, path) == 0) return f;
    return NULL;
}

static ftrack *new_file(fault_state *s, const char *path, uint64_t synced)
{
    ftrack *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->path = strdup(path);
    if (!f->path) {
        free(f);
        return NULL;
    }
    f->synced = synced;
    f->next = s->files;
    s->files = f;
    return f;
}

static void free_undos(ftrack *f)
{
    for (undo *u = f->undos, *n; u; u = n) {
        n = u->next;
        free(u->data);
        free(u);
    }
    f->undos = NULL;
}

/* Remember file bytes [off, off + len) clipped to the synced prefix, before they change.
 * On failure the file is marked so that the power cut reports it could not be exact. */
static void save_synced(ftrack *f, uint64_t off, uint64_t len, uint64_t cur_size)
{
    uint64_t end = off + len;
    if (end > f->synced) end = f->synced;
    if (end > cur_size) end = cur_size;
    if (off >= end) return;
    undo *u = calloc(1, sizeof *u);
    if (!u) {
        f->undo_lost = 1;
        return;
    }
    u->off = off;
    u->len = (size_t)(end - off);
    u->data = malloc(u->len);
    /* The caller's descriptor may be write-only: read through a descriptor of our own. */
    int rfd = open(f->path, O_RDONLY | O_CLOEXEC);
    ssize_t got = rfd >= 0 && u->data ? pread(rfd, u->data, u->len, (off_t)off) : -1;
    if (rfd >= 0) close(rfd);
    if (got != (ssize_t)u->len) {
        free(u->data);
        free(u);
        f->undo_lost = 1;
        return;
    }
    u->next = f->undos;
    f->undos = u;
}

static void map_fd(fault_state *s, int fd, ftrack *f)
{
    if ((size_t)fd >= s->nfds) {
        size_t n = (size_t)fd * 2 + 16;
        ftrack **nf = realloc(s->fds, n * sizeof *nf);
        if (!nf) return;
        memset(nf + s->nfds, 0, (n - s->nfds) * sizeof *nf);
        s->fds = nf;
        s->nfds = n;
    }
    s->fds[fd] = f;
}

static ftrack *fd_file(fault_state *s, int fd)
{
    return fd >= 0 && (size_t)fd < s->nfds ? s->fds[fd] : NULL;
}

static uint64_t fd_size(int fd)
{
    struct stat sb;
    return fstat(fd, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/* ---- hooks ---- */

static int f_open(lsm_env *env, const char *path, int flags, mode_t mode)
{
    fault_state *s = st_of(env);
    int mutating = (flags & (O_CREAT | O_TRUNC)) != 0;
    int writing = (flags & O_ACCMODE) != O_RDONLY;
    if (!mutating && !writing) return s->base->open(s->base, path, flags, mode);
    pthread_mutex_lock(&s->mu);
    int rc = mutating ? account(s, FAULT_OP_CREATE) : 0;
    if (rc < 0) {
        pthread_mutex_unlock(&s->mu);
        return rc;
    }
    struct stat sb;
    int existed = stat(path, &sb) == 0;
    /* Open without O_TRUNC first, so truncated synced bytes can be saved for the undo. */
    int fd = s->base->open(s->base, path, flags & ~O_TRUNC, mode);
    if (fd < 0) {
        pthread_mutex_unlock(&s->mu);
        return fd;
    }
    ftrack *f = find_file(s, path);
    if (!f) {
        f = new_file(s, path, existed ? (uint64_t)sb.st_size : 0);
        if (f && !existed) {
            f->created = 1;
            f->create_dir = parent_canon(path);
        }
    }
    if (flags & O_TRUNC) {
        if (f) save_synced(f, 0, UINT64_MAX / 2, fd_size(fd));
        if (ftruncate(fd, 0) < 0) {
            int e = -errno;
            s->base->close(s->base, fd);
            pthread_mutex_unlock(&s->mu);
            return e;
        }
    }
    map_fd(s, fd, f);
    pthread_mutex_unlock(&s->mu);
    return fd;
}

static int f_close(lsm_env *env, int fd)
{
    fault_state *s = st_of(env);
    pthread_mutex_lock(&s->mu);
    if (fd_file(s, fd)) s->fds[fd] = NULL;
    pthread_mutex_unlock(&s->mu);
    return s->base->close(s->base, fd);
}

static ssize_t f_pread(lsm_env *env, int fd, void *buf, size_t n, off_t off)
{
    fault_state *s = st_of(env);
    return s->base->pread(s->base, fd, buf, n, off);
}

static ssize_t f_pwrite(lsm_env *env, int fd, const void *buf, size_t n, off_t off)
{
    fault_state *s = st_of(env);
    pthread_mutex_lock(&s->mu);
    int rc = account(s, FAULT_OP_WRITE);
    if (rc < 0) {
        pthread_mutex_unlock(&s->mu);
        return rc;
    }
    if (s->short_n && ++s->short_seen == s->short_n && n > 0) {
        size_t keep = s->short_keep < n - 1 ? s->short_keep : n - 1;
        n = keep;
        s->injected++;
    }
    ftrack *f = fd_file(s, fd);
    if (f) save_synced(f, (uint64_t)off, n, fd_size(fd));
    ssize_t w = n ? s->base->pwrite(s->base, fd, buf, n, off) : 0;
    pthread_mutex_unlock(&s->mu);
    return w;
}

static int f_fsync(lsm_env *env, int fd)
{
    fault_state *s = st_of(env);
    pthread_mutex_lock(&s->mu);
    int rc = account(s, FAULT_OP_FSYNC);
    if (rc == 0) {
        ftrack *f = fd_file(s, fd);
        if (f) {
            f->synced = fd_size(fd);
            free_undos(f);
            f->undo_lost = 0;
        }
    }
    unsigned delay = s->fsync_delay_us;
    pthread_mutex_unlock(&s->mu);
    if (delay) usleep(delay);
    return rc;
}

static int f_ftruncate(lsm_env *env, int fd, off_t len)
{
    fault_state *s = st_of(env);
    pthread_mutex_lock(&s->mu);
    int rc = account(s, FAULT_OP_TRUNCATE);
    if (rc == 0) {
        ftrack *f = fd_file(s, fd);
        uint64_t cur = fd_size(fd);
        if (f && (uint64_t)len < cur) save_synced(f, (uint64_t)len, cur - (uint64_t)len, cur);
        rc = s->base->ftruncate(s->base, fd, len);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int f_fsize(lsm_env *env, int fd, uint64_t *size)
{
    fault_state *s = st_of(env);
    return s->base->fsize(s->base, fd, size);
}

/* The real file system's room: the simulation injects ENOSPC itself, it has no quota. */
static int f_free_space(lsm_env *env, int fd, uint64_t *bytes)
{
    fault_state *s = st_of(env);
    return s->base->free_space(s->base, fd, bytes);
}

/* The contents path would have after a power cut now (its synced bytes, per its record if the
 * env tracks it), malloc'd into *out.  Returns 0, or -1 when it cannot be saved (too big,
 * unreadable, not a regular file), in which case the name change is not undoable.
 * REQUIRES: mu held. */
static void free_rename(struct rename_rec *r);

static int durable_content(fault_state *s, const char *path, uint8_t **out, size_t *len)
{
    struct stat sb;
    if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > FAULT_MAX_SAVED)
        return -1;
    ftrack *f = find_file(s, path);
    if (f && f->created) return -1; /* its creation is not durable: it would not come back */
    size_t n = (size_t)sb.st_size, keep = f ? (size_t)f->synced : n;
    uint8_t *b = calloc(1, (n > keep ? n : keep) + 1);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 && b ? pread(fd, b, n, 0) : -1;
    if (fd >= 0) close(fd);
    if (got != (ssize_t)n) {
        free(b);
        return -1;
    }
    if (f) {
        if (keep > n) memset(b + n, 0, keep - n);
        for (undo *u = f->undos; u; u = u->next) memcpy(b + u->off, u->data, u->len);
    }
    *out = b;
    *len = keep;
    return 0;
}

static int f_rename(lsm_env *env, const char *from, const char *to)
{
    fault_state *s = st_of(env);
    pthread_mutex_lock(&s->mu);
    int rc = account(s, FAULT_OP_RENAME);
    if (rc < 0) goto out;
    rename_rec *r = calloc(1, sizeof *r);
    if (r && durable_content(s, to, &r->target, &r->target_len) == 0) r->had_target = 1;
    rc = s->base->rename(s->base, from, to);
    if (rc < 0 || !r) {
        if (r) free(r->target);
        free(r);
        goto out;
    }
    ftrack *old_target = find_file(s, to);
    if (old_target) old_target->gone = 1;
    ftrack *f = find_file(s, from);
    if (f) {
        char *np = strdup(to);
        if (np) {
            free(f->path);
            f->path = np;
        }
    }
    r->from = strdup(from);
    r->to = strdup(to);
    r->from_dir = parent_canon(from);
    r->to_dir = parent_canon(to);
    r->file = f;
    r->next = s->renames;
    s->renames = r;
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int f_unlink(lsm_env *env, const char *path)
{
    fault_state *s = st_of(env);
    pthread_mutex_lock(&s->mu);
    int rc = account(s, FAULT_OP_UNLINK);
    if (rc < 0) goto out;
    rename_rec *r = calloc(1, sizeof *r);
    if (r && durable_content(s, path, &r->target, &r->target_len) == 0) r->had_target = 1;
    rc = s->base->unlink(s->base, path);
    if (rc == 0) {
        ftrack *f = find_file(s, path);
        if (f) f->gone = 1;
    }
    if (rc == 0 && r && r->had_target && (r->from = strdup(path)) &&
        (r->from_dir = parent_canon(path))) {
        r->next = s->renames;
        s->renames = r;
        r = NULL;
    }
    if (r) free_rename(r);
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int f_link(lsm_env *env, const char *from, const char *to)
{
    fault_state *s = st_of(env);
    pthread_mutex_lock(&s->mu);
    int rc = account(s, FAULT_OP_LINK);
    if (rc == 0) rc = s->base->link(s->base, from, to);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int f_mkdir(lsm_env *env, const char *path, mode_t mode)
{
    fault_state *s = st_of(env);
    pthread_mutex_lock(&s->mu);
    int rc = account(s, FAULT_OP_MKDIR);
    if (rc == 0) rc = s->base->mkdir(s->base, path, mode);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void free_rename(rename_rec *r)
{
    free(r->from);
    free(r->to);
    free(r->from_dir);
    free(r->to_dir);
    free(r->target);
    free(r);
}

static int f_fsync_dir(lsm_env *env, const char *dir)
{
    fault_state *s = st_of(env);
    pthread_mutex_lock(&s->mu);
    int rc = account(s, FAULT_OP_FSYNC_DIR);
    if (rc == 0) {
        struct stat sb;
        if (stat(dir, &sb) < 0) rc = -errno;
    }
    if (rc == 0) {
        char *c = canon_dir(dir);
        for (ftrack *f = s->files; c && f; f = f->next)
            if (f->created && f->create_dir && strcmp(f->create_dir, c) == 0) f->created = 0;
        for (rename_rec **pr = &s->renames; c && *pr;) {
            rename_rec *r = *pr;
            if (r->from_dir && strcmp(r->from_dir, c) == 0) {
                free(r->from_dir);
                r->from_dir = NULL;
            }
            if (r->to_dir && strcmp(r->to_dir, c) == 0) {
                free(r->to_dir);
                r->to_dir = NULL;
            }
            if (!r->from_dir && !r->to_dir) {
                *pr = r->next;
                free_rename(r);
            } else {
                pr = &r->next;
            }
        }
        free(c);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int f_list_dir(lsm_env *env, const char *dir, char ***names, size_t *count)
{
    fault_state *s = st_of(env);
    return s->base->list_dir(s->base, dir, names, count);
}

static int f_stat(lsm_env *env, const char *path, int *is_dir)
{
    fault_state *s = st_of(env);
    return s->base->stat(s->base, path, is_dir);
}

static int f_lock(lsm_env *env, const char *path)
{
    fault_state *s = st_of(env);
    return s->base->lock(s->base, path);
}

/* ---- controls ---- */

lsm_env *fault_env_new(void)
{
    fault_state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->base = lsm_env_posix();
    pthread_mutex_init(&s->mu, NULL);
    s->env = (lsm_env){
        .open = f_open,         .close = f_close,       .pread = f_pread,
        .pwrite = f_pwrite,     .fsync = f_fsync,       .ftruncate = f_ftruncate,
        .fsize = f_fsize,       .rename = f_rename,     .unlink = f_unlink,
        .link = f_link,         .mkdir = f_mkdir,       .fsync_dir = f_fsync_dir,
        .fdatasync = f_fsync, /* a data sync is a sync for the power-cut simulation */
        .list_dir = f_list_dir, .stat = f_stat,         .lock = f_lock,
        .free_space = f_free_space, .ctx = s,
    };
    return &s->env;
}

/* Forget all simulation state.  REQUIRES: mu held. */
static void forget_all(fault_state *s)
{
    for (rename_rec *r = s->renames, *n; r; r = n) {
        n = r->next;
        free_rename(r);
    }
    s->renames = NULL;
    for (ftrack *f = s->files, *n; f; f = n) {
        n = f->next;
        free_undos(f);
        free(f->path);
        free(f->create_dir);
        free(f);
    }
    s->files = NULL;
    if (s->fds) memset(s->fds, 0, s->nfds * sizeof *s->fds);
}

void fault_env_free(lsm_env *env)
{
    if (!env) return;
    fault_state *s = st_of(env);
    forget_all(s);
    free(s->fds);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void fault_env_fail(lsm_env *env, unsigned mask, uint64_t n, int err, int sticky)
{
    fault_state *s = st_of(env);
    pthread_mutex_lock(&s->mu);
    s->fail_mask = mask;
    s->fail_n = n;
    s->fail_seen = 0;
    s->fail_err = err < 0 ? err : -EIO;
    s->fail_sticky = sticky;
    pthread_mutex_unlock(&s->mu);
}

void fault_env_short_write(lsm_env *env, uint64_t n, size_t keep)
{
    fault_state *s = st_of(env);
    pthread_mutex_lock(&s->mu);
    s->short_n = n;
    s->short_seen = 0;
    s->short_keep = keep;
    pthread_mutex_unlock(&s->mu);
}

void fault_env_fsync_delay(lsm_env *env, unsigned usec)
{
    fault_state *s = st_of(env);
    pthread_mutex_lock(&s->mu);
    s->fsync_delay_us = usec;
    pthread_mutex_unlock(&s->mu);
}

void fault_env_clear(lsm_env *env)
{
    fault_state *s = st_of(env);
    pthread_mutex_lock(&s->mu);
    s->fail_n = 0;
    s->short_n = 0;
    pthread_mutex_unlock(&s->mu);
}

uint64_t fault_env_count(lsm_env *env)
{
    fault_state *s = st_of(env);
    pthread_mutex_lock(&s->mu);
    uint64_t c = s->count;
    pthread_mutex_unlock(&s->mu);
    return c;
}

uint64_t fault_env_count_op(lsm_env *env, enum fault_op op)
{
    fault_state *s = st_of(env);
    pthread_mutex_lock(&s->mu);
    uint64_t c = (unsigned)op < FAULT_OP_COUNT_ ? s->per_op[op] : 0;
    pthread_mutex_unlock(&s->mu);
    return c;
}

uint64_t fault_env_injected(lsm_env *env)
{
    fault_state *s = st_of(env);
    pthread_mutex_lock(&s->mu);
    uint64_t c = s->injected;
    pthread_mutex_unlock(&s->mu);
    return c;
}

void fault_env_reset_counts(lsm_env *env)
{
    fault_state *s = st_of(env);
    pthread_mutex_lock(&s->mu);
    s->count = 0;
    s->injected = 0;
    memset(s->per_op, 0, sizeof s->per_op);
    pthread_mutex_unlock(&s->mu);
}

/* Write data as the whole content of path (created if needed). */
static int put_file(const char *path, const uint8_t *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return -errno;
    int rc = 0;
    if (n && pwrite(fd, data, n, 0) != (ssize_t)n) rc = -EIO;
    close(fd);
    return rc;
}

int fault_env_drop_unsynced(lsm_env *env)
{
    fault_state *s = st_of(env);
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    /* 1. Creations never made durable: the name is gone, and with it the data.  First, so
     * that a name whose old file is restored below is not then deleted. */
    for (ftrack *f = s->files; f; f = f->next) {
        if (f->gone || !f->created) continue;
        if (unlink(f->path) < 0 && errno != ENOENT && rc == 0) rc = -errno;
        f->gone = 1;
    }
    /* 2. Renames and unlinks never made durable, newest first, so chains unwind in order.
     * A renamed file deleted in step 1 is simply not there to move back. */
    for (rename_rec *r = s->renames; r; r = r->next) {
        if (r->to && rename(r->to, r->from) < 0 && errno != ENOENT && rc == 0) rc = -errno;
        if (r->to && r->file) {
            char *p = strdup(r->from);
            if (p) {
                free(r->file->path);
                r->file->path = p;
            }
        }
        if (r->had_target) {
            int e = put_file(r->to ? r->to : r->from, r->target, r->target_len);
            if (e < 0 && rc == 0) rc = e;
        }
    }
    /* 3. Contents: back to the synced size, then the synced bytes changed since. */
    for (ftrack *f = s->files; f; f = f->next) {
        if (f->gone) continue;
        int fd = open(f->path, O_WRONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno != ENOENT && rc == 0) rc = -errno;
            continue;
        }
        if (ftruncate(fd, (off_t)f->synced) < 0 && rc == 0) rc = -errno;
        for (undo *u = f->undos; u; u = u->next)
            if (pwrite(fd, u->data, u->len, (off_t)u->off) != (ssize_t)u->len && rc == 0) rc = -EIO;
        if (f->undo_lost && rc == 0) rc = -EIO;
        close(fd);
    }
    forget_all(s);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int fault_env_power_off(lsm_env *env)
{
    /* Arm first: an operation already inside the env finishes before the drop (both take the
     * mutex), and every later one fails, so the drop sees the final state. */
    fault_env_fail(env, FAULT_OPS_ALL, 1, -EIO, 1);
    return fault_env_drop_unsynced(env);
}
