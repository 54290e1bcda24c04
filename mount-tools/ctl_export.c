/*
 * ctl_export.c — `lsmfs-ctl export STORE DIR`: copy a store's tree out to a directory.
 *
 * The inverse of import: walks the store depth-first through fscore (read-only open), creates
 * directories, files (zero-filled 64 KiB pieces are skipped with lseek so sparse files stay
 * sparse; the final size is set with ftruncate), symlinks, hard links (by store inode number),
 * FIFOs and devices, and then restores xattrs, owners (as root), modes and times; directory
 * times last, after their children.  DIR must not exist or be empty.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <dirent.h>
#include <unistd.h>

#include "ctl_fs.h"

struct export_link {
    ino_t ino;
    char *path; /* destination path of the first name met */
};

struct export_state {
    fscore *fs;
    const char *store;
    void *links;
    ctl_progress progress;
    uint64_t bytes, files, dirs, symlinks, hardlinks, specials, warnings;
};

struct export_sink {
    int fd;
    off_t off;
    struct export_state *s;
};

static int export_link_cmp(const void *a, const void *b)
{
    const struct export_link *x = a, *y = b;
    return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int export_fail(const char *what, const char *path, int rc)
{
    ctl_errorf("%s: %s: %s", path, what, strerror(-rc));
    return rc;
}

static int export_is_zero(const unsigned char *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static int export_write_sink(void *arg, const void *data, size_t n)
{
    struct export_sink *k = arg;
    if (!export_is_zero(data, n)) {
        const char *p = data;
        size_t left = n;
        off_t off = k->off;
        while (left > 0) {
            ssize_t w = pwrite(k->fd, p, left, off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return -errno;
            p += w;
            left -= (size_t)w;
            off += w;
        }
    }
    k->off += (off_t)n;
    k->s->bytes += n;
    ctl_progress_update(&k->s->progress, k->s->files, 0);
    return 0;
}

static void export_xattrs(struct export_state *s, const char *spath, const char *dpath)
{
    int n = fscore_listxattr(s->fs, spath, NULL, 0);
    if (n <= 0)
        return;
    char *names = malloc((size_t)n);
    if (!names)
        return;
    n = fscore_listxattr(s->fs, spath, names, (size_t)n);
    for (int off = 0; n > 0 && off < n; off += (int)strlen(names + off) + 1) {
        const char *name = names + off;
        int vl = fscore_getxattr(s->fs, spath, name, NULL, 0);
        if (vl < 0)
            continue;
        char *val = malloc((size_t)vl + 1);
        if (!val)
            break;
        vl = fscore_getxattr(s->fs, spath, name, val, (size_t)vl);
        if (vl >= 0 && lsetxattr(dpath, name, val, (size_t)vl, 0) != 0) {
            ctl_errorf("warning: %s: xattr %s: %s", dpath, name, strerror(errno));
            s->warnings++;
        }
        free(val);
    }
    free(names);
}

static int export_attrs(struct export_state *s, const char *spath, const char *dpath,
                        const struct stat *st)
{
    export_xattrs(s, spath, dpath);
    if (geteuid() == 0 && (st->st_uid != geteuid() || st->st_gid != getegid()) &&
        lchown(dpath, st->st_uid, st->st_gid) != 0)
        return export_fail("chown", dpath, -errno);
    if (!S_ISLNK(st->st_mode) && chmod(dpath, st->st_mode & 07777) != 0)
        return export_fail("chmod", dpath, -errno);
    struct timespec tv[2] = {st->st_atim, st->st_mtim};
    if (utimensat(AT_FDCWD, dpath, tv, AT_SYMLINK_NOFOLLOW) != 0)
        return export_fail("utimes", dpath, -errno);
    return 0;
}

static int export_tree(struct export_state *s, const char *spath, const char *dpath);

static int export_entry(struct export_state *s, const char *spath, const char *dpath,
                        const struct stat *st)
{
    int rc = 0;
    if (!S_ISDIR(st->st_mode) && st->st_nlink > 1) {
        struct export_link key = {st->st_ino, NULL};
        struct export_link **found = tfind(&key, &s->links, export_link_cmp);
        if (found) {
            if (link((*found)->path, dpath) != 0)
                return export_fail("link", dpath, -errno);
            s->hardlinks++;
            return 0;
        }
        struct export_link *l = malloc(sizeof(*l));
        if (l) {
            l->ino = st->st_ino;
            l->path = strdup(dpath);
        }
        if (!l || !l->path || !tsearch(l, &s->links, export_link_cmp)) {
            if (l)
                free(l->path);
            free(l);
            return export_fail("link table", dpath, -ENOMEM);
        }
    }
    if (S_ISDIR(st->st_mode)) {
        if (mkdir(dpath, 0700) != 0)
            return export_fail("mkdir", dpath, -errno);
        rc = export_tree(s, spath, dpath);
        if (rc != 0)
            return rc;
        s->dirs++;
    } else if (S_ISREG(st->st_mode)) {
        int fd = open(dpath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
            return export_fail("create", dpath, -errno);
        struct export_sink k = {fd, 0, s};
        rc = fscore_read_file(s->fs, spath, export_write_sink, &k);
        if (rc == 0 && ftruncate(fd, k.off) != 0)
            rc = -errno;
        if (close(fd) != 0 && rc == 0)
            rc = -errno;
        if (rc != 0) {
            ctl_errorf("%s: %s", spath,
                       ctl_fs_message(rc));
            return rc;
        }
        s->files++;
    } else if (S_ISLNK(st->st_mode)) {
        char target[PATH_MAX + 1];
        rc = fscore_readlink(s->fs, spath, target, sizeof(target));
        if (rc < 0)
            return export_fail("readlink", spath, rc);
        if (symlink(target, dpath) != 0)
            return export_fail("symlink", dpath, -errno);
        s->symlinks++;
    } else {
        if (mknod(dpath, st->st_mode & (S_IFMT | 07777), st->st_rdev) != 0)
            return export_fail("mknod", dpath, -errno);
        s->specials++;
    }
    return export_attrs(s, spath, dpath, st);
}

static int export_tree(struct export_state *s, const char *spath, const char *dpath)
{
    ctl_fs_list l;
    int rc = ctl_fs_list_dir(s->fs, spath, &l);
    if (rc != 0)
        return export_fail("readdir", spath, rc);
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        char cs[PATH_MAX], cd[PATH_MAX];
        if (ctl_fs_join(cs, sizeof(cs), spath, l.e[i].name) != 0 ||
            (size_t)snprintf(cd, sizeof(cd), "%s/%s", dpath, l.e[i].name) >= sizeof(cd)) {
            rc = export_fail("path", l.e[i].name, -ENAMETOOLONG);
            break;
        }
        rc = export_entry(s, cs, cd, &l.e[i].st);
    }
    ctl_fs_list_free(&l);
    return rc;
}

static void export_link_free(void *p)
{
    struct export_link *l = p;
    free(l->path);
    free(l);
}

static void export_usage(FILE *out)
{
    fprintf(out, "usage: lsmfs-ctl export [--json] STORE DIR\n"
                 "Copy the tree of the unmounted STORE into DIR (created; must be empty if it\n"
                 "exists), with modes, owners (as root), times, symlinks, hard links, sparse\n"
                 "files and extended attributes.  Shows progress on a terminal.\n");
}

int ctl_cmd_export(int argc, char **argv)
{
    int json = 0;
    int done = ctl_parse_json_opts(argc, argv, export_usage, 2, &json);
    if (done >= 0)
        return done;
    const char *dest = argv[optind + 1];
    if (mkdir(dest, 0700) != 0) {
        int e = errno;
        DIR *d = e == EEXIST ? opendir(dest) : NULL;
        int empty = d != NULL;
        struct dirent *de;
        while (d && (de = readdir(d)))
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                empty = 0;
        if (d)
            closedir(d);
        if (!empty) {
            ctl_errorf("%s: %s", dest,
                       e == EEXIST ? "exists and is not an empty directory" : strerror(e));
            return CTL_EXIT_FAIL;
        }
    }
    ctl_target t;
    struct export_state s = {0};
    int rc = ctl_fs_open(argv[optind], 1, 0, &t, &s.fs);
    if (rc != 0)
        return ctl_exit_for(rc);
    s.store = t.store;
    ctl_progress_init(&s.progress, "exporting files", !json);
    rc = export_tree(&s, "/", dest);
    struct stat rst;
    if (rc == 0 && (rc = fscore_stat(s.fs, "/", &rst)) == 0)
        rc = export_attrs(&s, "/", dest, &rst);
    ctl_progress_finish(&s.progress);
    int crc = ctl_fs_close(s.fs, t.store);
    if (rc == 0)
        rc = crc;
    tdestroy(s.links, export_link_free);
    if (rc != 0) {
        ctl_errorf("export of %s to %s failed (the copy in %s is incomplete)", t.store, dest,
                   dest);
        return CTL_EXIT_FAIL;
    }
    if (json) {
        printf("{\"store\":");
        ctl_json_string(stdout, t.store, strlen(t.store));
        printf(",\"dest\":");
        ctl_json_string(stdout, dest, strlen(dest));
        printf(",\"files\":%llu,\"dirs\":%llu,\"symlinks\":%llu,\"hardlinks\":%llu,"
               "\"specials\":%llu,\"bytes\":%llu,\"warnings\":%llu}\n",
               (unsigned long long)s.files, (unsigned long long)s.dirs,
               (unsigned long long)s.symlinks, (unsigned long long)s.hardlinks,
               (unsigned long long)s.specials, (unsigned long long)s.bytes,
               (unsigned long long)s.warnings);
    } else {
        printf("exported %s to %s: %llu files (%llu bytes), %llu directories, %llu symlinks, "
               "%llu hard links, %llu special files\n",
               t.store, dest, (unsigned long long)s.files, (unsigned long long)s.bytes,
               (unsigned long long)s.dirs, (unsigned long long)s.symlinks,
               (unsigned long long)s.hardlinks, (unsigned long long)s.specials);
    }
    return CTL_EXIT_OK;
}
