/*
 * ctl_import.c — `lsmfs-ctl import DIR STORE`: copy a directory tree into a new store.
 *
 * Speed comes from the engine configuration rather than from a separate table writer: the
 * store is opened with a large memtable (64 MiB) and no WAL syncing, so writes are sequential
 * WAL appends plus memtable inserts, and flushes produce large sorted tables; fscore_close
 * flushes and syncs everything at the end (an import is only complete when the command exits
 * 0; an interrupted import leaves a store to delete).  Files up to 8 MiB go in as one batch
 * each; larger files stream through an fs_file, skipping holes (SEEK_DATA/SEEK_HOLE), so they
 * stay sparse.  Hard links are kept (by source dev/inode), as are modes, owners (when run as
 * root), times, symlinks, FIFOs/devices and extended attributes.
 *
 * The walk is depth-first, parents before children; directory times are set after their
 * children are written (writing a child changes the parent's mtime).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ctl_fs.h"

#define IMPORT_ATOMIC_LIMIT (8u << 20)

struct import_link {
    dev_t dev;
    ino_t ino;
    char *path; /* store path of the first name met */
};

struct import_state {
    fscore *fs;
    const char *store;
    void *links; /* tsearch tree of struct import_link */
    ctl_progress progress;
    uint64_t total_bytes, total_entries; /* from the counting pass */
    uint64_t done_bytes, done_entries;
    uint64_t files, dirs, symlinks, specials, hardlinks, xattrs;
    char *buf; /* 1 MiB copy buffer */
};

static int import_link_cmp(const void *a, const void *b)
{
    const struct import_link *x = a, *y = b;
    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    if (x->ino != y->ino)
        return x->ino < y->ino ? -1 : 1;
    return 0;
}

static void import_tick(struct import_state *s)
{
    ctl_progress_update(&s->progress, s->done_bytes + s->done_entries * 512,
                        s->total_bytes + s->total_entries * 512);
}

/* Counting pass for the progress bar: bytes of regular files and number of entries. */
static void import_count(const char *dir, uint64_t *bytes, uint64_t *entries)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char p[PATH_MAX];
        if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) >= sizeof(p))
            continue;
        struct stat st;
        if (lstat(p, &st) != 0)
            continue;
        (*entries)++;
        if (S_ISREG(st.st_mode))
            *bytes += (uint64_t)st.st_size;
        else if (S_ISDIR(st.st_mode))
            import_count(p, bytes, entries);
    }
    closedir(d);
}

static int import_report(const char *src, const char *what, int rc)
{
    ctl_errorf("%s: %s: %s", src, what, ctl_fs_message(rc));
    return rc;
}

static int import_xattrs(struct import_state *s, const char *src, const char *dst)
{
    ssize_t n = llistxattr(src, NULL, 0);
    if (n <= 0)
        return 0; /* none, or unsupported by the source file system */
    char *names = malloc((size_t)n);
    if (!names)
        return -ENOMEM;
    n = llistxattr(src, names, (size_t)n);
    int rc = 0;
    for (ssize_t off = 0; n > 0 && off < n && rc == 0; off += (ssize_t)strlen(names + off) + 1) {
        const char *name = names + off;
        ssize_t vl = lgetxattr(src, name, NULL, 0);
        if (vl < 0)
            continue;
        char *val = malloc((size_t)vl + 1);
        if (!val) {
            rc = -ENOMEM;
            break;
        }
        vl = lgetxattr(src, name, val, (size_t)vl);
        if (vl >= 0) {
            rc = fscore_setxattr(s->fs, dst, name, val, (size_t)vl, 0);
            if (rc == 0)
                s->xattrs++;
        }
        free(val);
    }
    free(names);
    return rc;
}

/* Owner, permission bits, xattrs and times of dst from the source's st. */
static int import_attrs(struct import_state *s, const char *src, const char *dst,
                        const struct stat *st)
{
    /* Each attribute change is a batch of its own: skip the ones creation already got right. */
    struct stat cur;
    int rc = fscore_stat(s->fs, dst, &cur);
    if (rc != 0)
        return rc;
    if (geteuid() == 0 && (cur.st_uid != st->st_uid || cur.st_gid != st->st_gid))
        rc = fscore_chown(s->fs, dst, st->st_uid, st->st_gid);
    if (rc == 0 && !S_ISLNK(st->st_mode) &&
        ((cur.st_mode & 07777) != (st->st_mode & 07777) || cur.st_uid != st->st_uid ||
         cur.st_gid != st->st_gid))
        rc = fscore_chmod(s->fs, dst, st->st_mode & 07777); /* after chown, which may clear s-bits */
    if (rc == 0)
        rc = import_xattrs(s, src, dst);
    if (rc == 0) {
        struct timespec tv[2] = {st->st_atim, st->st_mtim};
        rc = fscore_utimens(s->fs, dst, tv);
    }
    return rc;
}

static int import_large(struct import_state *s, int fd, const char *dst, const struct stat *st)
{
    fs_cred who = {st->st_uid, st->st_gid};
    fs_file *f;
    int rc = fs_file_create(s->fs, dst, st->st_mode & 07777, 1, &who, &f);
    if (rc != 0)
        return rc;
    rc = fs_file_truncate(f, st->st_size);
    off_t pos = 0;
    while (rc == 0 && pos < st->st_size) {
        off_t data = lseek(fd, pos, SEEK_DATA);
        if (data < 0) {
            if (errno == ENXIO)
                break; /* only a hole remains */
            data = pos; /* SEEK_DATA unsupported: copy everything */
        }
        off_t hole = lseek(fd, data, SEEK_HOLE);
        if (hole < 0 || hole <= data)
            hole = st->st_size;
        for (off_t off = data; rc == 0 && off < hole;) {
            size_t want = (size_t)(hole - off < (1 << 20) ? hole - off : (1 << 20));
            ssize_t n = pread(fd, s->buf, want, off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                rc = n < 0 ? -errno : -EIO; /* the file shrank under us */
                break;
            }
            ssize_t w = fs_file_write(f, s->buf, (size_t)n, off);
            if (w < 0)
                rc = (int)w;
            off += n;
            s->done_bytes += (uint64_t)n;
            import_tick(s);
        }
        pos = hole;
    }
    int crc = fs_file_close(f);
    return rc ? rc : crc;
}

static int import_file(struct import_state *s, const char *src, const char *dst,
                       const struct stat *st)
{
    int fd = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    int rc = 0;
    if ((uint64_t)st->st_size > IMPORT_ATOMIC_LIMIT) {
        rc = import_large(s, fd, dst, st);
    } else {
        void *data = NULL;
        if (st->st_size > 0) {
            data = mmap(NULL, (size_t)st->st_size, PROT_READ, MAP_PRIVATE, fd, 0);
            if (data == MAP_FAILED)
                rc = -errno;
        }
        if (rc == 0)
            rc = fscore_write_file(s->fs, dst, data ? data : "", (size_t)st->st_size,
                                   st->st_mode & 07777);
        if (data && data != MAP_FAILED)
            munmap(data, (size_t)st->st_size);
        s->done_bytes += (uint64_t)st->st_size;
    }
    close(fd);
    return rc;
}

/* Import entry src (already lstat'ed into st) as store path dst; recurses into directories. */
static int import_entry(struct import_state *s, const char *src, const char *dst,
                        const struct stat *st);

static int import_dir_contents(struct import_state *s, const char *src, const char *dst)
{
    DIR *d = opendir(src);
    if (!d)
        return import_report(src, "opendir", -errno);
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (errno = 0, de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char csrc[PATH_MAX], cdst[PATH_MAX];
        if ((size_t)snprintf(csrc, sizeof(csrc), "%s/%s", src, de->d_name) >= sizeof(csrc) ||
            ctl_fs_join(cdst, sizeof(cdst), dst, de->d_name) != 0) {
            rc = import_report(src, de->d_name, -ENAMETOOLONG);
            break;
        }
        struct stat cst;
        if (lstat(csrc, &cst) != 0) {
            rc = import_report(csrc, "lstat", -errno);
            break;
        }
        rc = import_entry(s, csrc, cdst, &cst);
    }
    if (rc == 0 && errno != 0)
        rc = import_report(src, "readdir", -errno);
    closedir(d);
    return rc;
}

static int import_entry(struct import_state *s, const char *src, const char *dst,
                        const struct stat *st)
{
    int rc;
    fs_cred who = {st->st_uid, st->st_gid};
    if (!S_ISDIR(st->st_mode) && st->st_nlink > 1) {
        struct import_link key = {st->st_dev, st->st_ino, NULL};
        struct import_link **found = tfind(&key, &s->links, import_link_cmp);
        if (found) {
            rc = fscore_link(s->fs, (*found)->path, dst);
            if (rc != 0)
                return import_report(src, "link", rc);
            s->hardlinks++;
            s->done_entries++;
            return 0;
        }
        struct import_link *l = malloc(sizeof(*l));
        if (!l || !(l->path = strdup(dst))) {
            free(l);
            return import_report(src, "link table", -ENOMEM);
        }
        l->dev = st->st_dev;
        l->ino = st->st_ino;
        if (!tsearch(l, &s->links, import_link_cmp)) {
            free(l->path);
            free(l);
            return import_report(src, "link table", -ENOMEM);
        }
    }
    if (S_ISDIR(st->st_mode)) {
        rc = fscore_mkdir_as(s->fs, dst, 0700, &who);
        if (rc != 0)
            return import_report(src, "mkdir", rc);
        rc = import_dir_contents(s, src, dst); /* reports its own errors */
        if (rc != 0)
            return rc;
        s->dirs++;
    } else if (S_ISREG(st->st_mode)) {
        rc = import_file(s, src, dst, st);
        s->files++;
    } else if (S_ISLNK(st->st_mode)) {
        char target[PATH_MAX + 1];
        ssize_t n = readlink(src, target, sizeof(target) - 1);
        if (n < 0)
            return import_report(src, "readlink", -errno);
        target[n] = '\0';
        rc = fscore_symlink_as(s->fs, target, dst, &who);
        s->symlinks++;
    } else {
        rc = fscore_mknod(s->fs, dst, st->st_mode, st->st_rdev, &who);
        s->specials++;
    }
    if (rc != 0)
        return import_report(src, "write", rc);
    rc = import_attrs(s, src, dst, st);
    if (rc != 0)
        return import_report(src, "attributes", rc);
    s->done_entries++;
    import_tick(s);
    return 0;
}

static void import_link_free(void *p)
{
    struct import_link *l = p;
    free(l->path);
    free(l);
}

static void import_usage(FILE *out)
{
    fprintf(out,
            "usage: lsmfs-ctl import [--json] DIR STORE\n"
            "Copy the directory tree DIR into STORE, which must not exist yet (or be an empty\n"
            "directory).  Keeps file contents (sparse files stay sparse), directories,\n"
            "symlinks, hard links, FIFOs, modes, owners (as root), times and extended\n"
            "attributes.  Shows progress on a terminal.  If it fails, delete STORE.\n");
}

int ctl_cmd_import(int argc, char **argv)
{
    int json = 0;
    int done = ctl_parse_json_opts(argc, argv, import_usage, 2, &json);
    if (done >= 0)
        return done;
    const char *src = argv[optind], *store = argv[optind + 1];
    struct stat sst;
    if (stat(src, &sst) != 0 || !S_ISDIR(sst.st_mode)) {
        ctl_errorf("%s: %s", src, errno ? strerror(errno) : "not a directory");
        return CTL_EXIT_FAIL;
    }
    DIR *d = opendir(store);
    if (d) {
        struct dirent *de;
        int empty = 1;
        while ((de = readdir(d)))
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                empty = 0;
        closedir(d);
        if (!empty) {
            ctl_errorf("%s: exists and is not empty (import makes a new store)", store);
            return CTL_EXIT_FAIL;
        }
    }
    ctl_target t;
    if (ctl_target_resolve(store, 1, &t) != 0)
        return CTL_EXIT_FAIL;
    lsm_options opt;
    lsm_options_init(&opt);
    opt.memtable_size = 64u << 20;
    opt.sync_policy = LSM_SYNC_NONE;
    opt.target_file_size = 8u << 20;
    struct import_state s = {.store = t.store};
    int rc = fscore_open(t.store, &opt, 0, &s.fs);
    if (rc != 0) {
        ctl_errorf("%s: cannot create store: %s", t.store,
                   ctl_fs_message(rc));
        return ctl_exit_for(rc);
    }
    s.buf = malloc(1 << 20);
    if (!s.buf) {
        fscore_close(s.fs);
        ctl_errorf("out of memory");
        return CTL_EXIT_FAIL;
    }
    ctl_progress_init(&s.progress, "importing", !json);
    s.progress.bytes = 1; /* file bytes plus 512 per entry */
    if (s.progress.enabled)
        import_count(src, &s.total_bytes, &s.total_entries);
    rc = import_dir_contents(&s, src, "/");
    if (rc == 0)
        rc = import_attrs(&s, src, "/", &sst);
    ctl_progress_finish(&s.progress);
    int crc = fscore_close(s.fs);
    if (rc == 0 && crc != 0)
        rc = import_report(t.store, "close", crc);
    tdestroy(s.links, import_link_free);
    free(s.buf);
    if (rc != 0) {
        ctl_errorf("import into %s failed; the store is incomplete, delete it", t.store);
        return CTL_EXIT_FAIL;
    }
    if (json) {
        printf("{\"store\":");
        ctl_json_string(stdout, t.store, strlen(t.store));
        printf(",\"files\":%llu,\"dirs\":%llu,\"symlinks\":%llu,\"hardlinks\":%llu,"
               "\"specials\":%llu,\"xattrs\":%llu,\"bytes\":%llu}\n",
               (unsigned long long)s.files, (unsigned long long)s.dirs,
               (unsigned long long)s.symlinks, (unsigned long long)s.hardlinks,
               (unsigned long long)s.specials, (unsigned long long)s.xattrs,
               (unsigned long long)s.done_bytes);
        return CTL_EXIT_OK;
    }
    printf("imported %s into %s: %llu files (%llu bytes), %llu directories, %llu symlinks, "
               "%llu hard links, %llu special files\n",
               src, t.store, (unsigned long long)s.files, (unsigned long long)s.done_bytes,
               (unsigned long long)s.dirs, (unsigned long long)s.symlinks,
               (unsigned long long)s.hardlinks, (unsigned long long)s.specials);
    return CTL_EXIT_OK;
}
