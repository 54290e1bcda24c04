/*
 * ctl_kv.c — the key-value view of an unmounted store: get, put, rm, ls, scan.
 *
 * Everything goes through fscore (fs/fscore.h), the same code the FUSE daemon runs, so a
 * file put here is a file on the next mount and the other way round.  The store must not be
 * mounted (its lock file keeps a second process out); we say so clearly when it is.
 * `scan --raw` bypasses the filesystem layer and lists the engine's keys themselves (see
 * fs/SCHEMA.md for what they mean), escaped as printable text.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "fscore.h"
#include "ctl_fs.h"

/* ---------------- shared helpers (declared in ctl_fs.h) ---------------- */

int ctl_fs_normalize(const char *in, char *out, size_t outlen)
{
    if (in[0] != '/') {
        ctl_errorf("%s: store paths are absolute (start with /)", in);
        return -EINVAL;
    }
    size_t w = 0;
    const char *p = in;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
            ctl_errorf("%s: '.' and '..' are not allowed in store paths", in);
            return -EINVAL;
        }
        if (w + 1 + n + 1 > outlen) {
            ctl_errorf("%s: path too long", in);
            return -ENAMETOOLONG;
        }
        out[w++] = '/';
        memcpy(out + w, p, n);
        w += n;
        p += n;
    }
    if (w == 0)
        out[w++] = '/';
    out[w] = '\0';
    return 0;
}

int ctl_fs_open(const char *arg, int read_only, int create, ctl_target *t, fscore **out)
{
    *out = NULL;
    if (ctl_target_resolve(arg, create, t) != 0)
        return -ENOENT;
    if (t->mounted) {
        ctl_errorf("%s: store is mounted at %s; use the mount point (or unmount it first)",
                   t->store, t->mountpoint);
        return LSM_EINUSE;
    }
    lsm_options opt;
    lsm_options_init(&opt);
    opt.create_if_missing = create;
    ctl_store_wait_released(t);
    int rc = fscore_open(t->store, &opt, read_only, out);
    if (rc == LSM_EINUSE)
        ctl_errorf("%s: store in use by another process (mounted, or another lsmfs-ctl); "
                   "use the mount point or try again later",
                   t->store);
    else if (rc != 0)
        ctl_errorf("%s: cannot open store: %s", t->store, ctl_fs_message(rc));
    return rc;
}

const char *ctl_fs_message(int rc)
{
    if (rc == LSM_ENOTSTORE)
        return "not an lsmfs store (no filesystem metadata; is it a bare liblsm store?)";
    if (rc == -EPROTONOSUPPORT)
        return "written by a newer lsmfs (its store format is unknown here)";
    if (rc == LSM_ECORRUPT || rc == LSM_EIO || rc == -ENOSPC || rc == LSM_ECLOSED)
        return ctl_lsm_message(rc);
    return strerror(rc < 0 ? -rc : rc);
}

int ctl_fs_close(fscore *fs, const char *store)
{
    int rc = fscore_close(fs);
    if (rc != 0)
        ctl_errorf("%s: close: %s", store, ctl_fs_message(rc));
    return rc;
}

static int fs_list_add(void *arg, const char *name, size_t len, const struct stat *st)
{
    ctl_fs_list *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        ctl_fs_entry *e = realloc(l->e, cap * sizeof(*e));
        if (!e)
            return -ENOMEM;
        l->e = e;
        l->cap = cap;
    }
    char *copy = strndup(name, len);
    if (!copy)
        return -ENOMEM;
    l->e[l->n].name = copy;
    l->e[l->n].st = *st;
    l->n++;
    return 0;
}

int ctl_fs_list_dir(fscore *fs, const char *path, ctl_fs_list *l)
{
    memset(l, 0, sizeof(*l));
    int rc = fscore_readdir(fs, path, fs_list_add, l);
    if (rc != 0)
        ctl_fs_list_free(l);
    return rc;
}

void ctl_fs_list_free(ctl_fs_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->e[i].name);
    free(l->e);
    memset(l, 0, sizeof(*l));
}

int ctl_fs_join(char *out, size_t outlen, const char *dir, const char *name)
{
    int n = snprintf(out, outlen, "%s/%s", strcmp(dir, "/") ? dir : "", name);
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

char ctl_fs_type_char(mode_t m)
{
    if (S_ISDIR(m))
        return 'd';
    if (S_ISLNK(m))
        return 'l';
    if (S_ISFIFO(m))
        return 'p';
    if (S_ISSOCK(m))
        return 's';
    if (S_ISCHR(m))
        return 'c';
    if (S_ISBLK(m))
        return 'b';
    return '-';
}

static const char *fs_type_name(mode_t m)
{
    switch (ctl_fs_type_char(m)) {
    case 'd': return "dir";
    case 'l': return "symlink";
    case 'p': return "fifo";
    case 's': return "socket";
    case 'c': return "chardev";
    case 'b': return "blockdev";
    default: return "file";
    }
}

/* Parse "--help"/"--json" style options shared by the kv commands.  Returns -1 to continue, or
 * an exit code to return at once. */
struct kv_opts {
    int json, long_fmt, recursive, parents, raw, values;
    const char *prefix;
    long mode;
};

static int kv_parse(int argc, char **argv, struct kv_opts *o, const char *usage, int nmin,
                    int nmax)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},      {"help", no_argument, NULL, 'h'},
        {"long", no_argument, NULL, 'l'},      {"recursive", no_argument, NULL, 'r'},
        {"parents", no_argument, NULL, 'p'},   {"raw", no_argument, NULL, 'R'},
        {"values", no_argument, NULL, 'v'},    {"prefix", required_argument, NULL, 'P'},
        {"mode", required_argument, NULL, 'm'}, {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof(*o));
    o->mode = -1;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "jhlrpRvP:m:", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': o->json = 1; break;
        case 'l': o->long_fmt = 1; break;
        case 'r': o->recursive = 1; break;
        case 'p': o->parents = 1; break;
        case 'R': o->raw = 1; break;
        case 'v': o->values = 1; break;
        case 'P': o->prefix = optarg; break;
        case 'm': {
            char *end;
            o->mode = strtol(optarg, &end, 8);
            if (*end || o->mode < 0 || o->mode > 07777) {
                ctl_errorf("--mode %s: expected octal permission bits", optarg);
                return CTL_EXIT_USAGE;
            }
            break;
        }
        case 'h': fputs(usage, stdout); return CTL_EXIT_OK;
        default: fputs(usage, stderr); return CTL_EXIT_USAGE;
        }
    }
    int n = argc - optind;
    if (n < nmin || n > nmax) {
        fputs(usage, stderr);
        return CTL_EXIT_USAGE;
    }
    return -1;
}

/* The tail every kv command shares: flush stdout when the command printed, report a failure
 * against path (with an optional hint), close the store (a close error counts only when the
 * command itself succeeded) and map the result to an exit code. */
static int kv_finish(fscore *fs, const ctl_target *t, const char *path, int rc, int printed,
                     const char *hint)
{
    if (rc == 0 && printed && fflush(stdout) != 0)
        rc = -EIO;
    if (rc != 0 && path)
        ctl_errorf("%s: %s: %s%s", t->store, path, ctl_fs_message(rc), hint ? hint : "");
    int crc = ctl_fs_close(fs, t->store);
    if (rc == 0 && crc != 0)
        rc = crc;
    return rc == -EINVAL && !path ? CTL_EXIT_USAGE : ctl_exit_for(rc);
}

/* ---------------- get ---------------- */

static int get_sink(void *arg, const void *data, size_t n)
{
    (void)arg;
    return fwrite(data, 1, n, stdout) == n ? 0 : -EIO;
}

int ctl_cmd_get(int argc, char **argv)
{
    static const char usage[] =
        "usage: lsmfs-ctl get STORE /path\n"
        "Write the contents of the file /path of an unmounted store to stdout (a symlink's\n"
        "target, followed by a newline).  Exit 3 if the path does not exist.\n";
    struct kv_opts o;
    int rc = kv_parse(argc, argv, &o, usage, 2, 2);
    if (rc >= 0)
        return rc;
    char path[PATH_MAX];
    if (ctl_fs_normalize(argv[optind + 1], path, sizeof(path)) != 0)
        return CTL_EXIT_USAGE;
    ctl_target t;
    fscore *fs;
    if ((rc = ctl_fs_open(argv[optind], 1, 0, &t, &fs)) != 0)
        return ctl_exit_for(rc);
    struct stat st;
    rc = fscore_stat(fs, path, &st);
    if (rc == 0 && S_ISDIR(st.st_mode))
        rc = -EISDIR;
    if (rc == 0 && S_ISLNK(st.st_mode)) {
        char target[PATH_MAX + 1];
        rc = fscore_readlink(fs, path, target, sizeof(target));
        if (rc >= 0) {
            printf("%s\n", target);
            rc = 0;
        }
    } else if (rc == 0) {
        rc = fscore_read_file(fs, path, get_sink, NULL);
    }
    return kv_finish(fs, &t, path, rc, 1, NULL);
}

/* ---------------- put ---------------- */

/* Above this size a file is streamed through fs_file in bounded batches instead of being
 * written as one batch (which keeps small puts atomic and large ones within memory). */
#define PUT_ATOMIC_LIMIT (8u << 20)

int ctl_fs_mkdir_parents(fscore *fs, const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = fscore_mkdir(fs, buf, 0755);
        *p = '/';
        if (rc != 0 && rc != -EEXIST)
            return rc;
    }
    return 0;
}

/* Stream fd into path through an fs_file (for large inputs). */
static int put_stream(fscore *fs, const char *path, int fd, mode_t mode)
{
    fs_cred who = {getuid(), getgid()};
    fs_file *f;
    int rc = fs_file_create(fs, path, mode, 0, &who, &f);
    if (rc != 0)
        return rc;
    rc = fs_file_truncate(f, 0);
    enum { BUF = 1 << 20 };
    char *buf = malloc(BUF);
    if (!buf)
        rc = rc ? rc : -ENOMEM;
    off_t off = 0;
    while (rc == 0) {
        ssize_t n = read(fd, buf, BUF);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            break;
        }
        if (n == 0)
            break;
        ssize_t w = fs_file_write(f, buf, (size_t)n, off);
        if (w < 0)
            rc = (int)w;
        off += n;
    }
    free(buf);
    if (rc == 0)
        rc = fs_file_chmod(f, mode);
    int crc = fs_file_close(f);
    return rc ? rc : crc;
}

int ctl_cmd_put(int argc, char **argv)
{
    static const char usage[] =
        "usage: lsmfs-ctl put [-p] [--mode OCTAL] STORE /path [FILE|-]\n"
        "Create or replace the file /path of an unmounted store (created if missing) with\n"
        "the contents of FILE, or of stdin when FILE is - or absent.  -p creates missing\n"
        "parent directories.  The mode defaults to FILE's, or 0644 less the umask.\n"
        "Files up to 8 MiB are written atomically (all or nothing after a crash).\n";
    struct kv_opts o;
    int rc = kv_parse(argc, argv, &o, usage, 2, 3);
    if (rc >= 0)
        return rc;
    char path[PATH_MAX];
    if (ctl_fs_normalize(argv[optind + 1], path, sizeof(path)) != 0)
        return CTL_EXIT_USAGE;
    if (!strcmp(path, "/")) {
        ctl_errorf("/: is the root directory");
        return CTL_EXIT_USAGE;
    }
    const char *src = argc - optind == 3 ? argv[optind + 2] : "-";
    int fd = STDIN_FILENO;
    if (strcmp(src, "-") != 0 && (fd = open(src, O_RDONLY | O_CLOEXEC)) < 0) {
        ctl_errorf("%s: %s", src, strerror(errno));
        return CTL_EXIT_FAIL;
    }
    struct stat sst;
    if (fstat(fd, &sst) != 0) {
        ctl_errorf("%s: %s", src, strerror(errno));
        if (fd != STDIN_FILENO)
            close(fd);
        return CTL_EXIT_FAIL;
    }
    mode_t mode;
    if (o.mode >= 0) {
        mode = (mode_t)o.mode;
    } else if (fd != STDIN_FILENO) {
        mode = sst.st_mode & 07777;
    } else {
        mode_t um = umask(0);
        umask(um);
        mode = 0644 & ~um;
    }
    ctl_target t;
    fscore *fs;
    if ((rc = ctl_fs_open(argv[optind], 0, 1, &t, &fs)) != 0) {
        if (fd != STDIN_FILENO)
            close(fd);
        return ctl_exit_for(rc);
    }
    if (o.parents)
        rc = ctl_fs_mkdir_parents(fs, path);
    if (rc == 0 && S_ISREG(sst.st_mode) && (uint64_t)sst.st_size <= PUT_ATOMIC_LIMIT) {
        void *data = NULL;
        if (sst.st_size > 0) {
            data = mmap(NULL, (size_t)sst.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
            if (data == MAP_FAILED)
                rc = -errno;
        }
        if (rc == 0)
            rc = fscore_write_file(fs, path, sst.st_size ? data : "", (size_t)sst.st_size, mode);
        if (data && data != MAP_FAILED)
            munmap(data, (size_t)sst.st_size);
    } else if (rc == 0) {
        rc = put_stream(fs, path, fd, mode);
    }
    if (fd != STDIN_FILENO)
        close(fd);
    return kv_finish(fs, &t, path, rc, 0, NULL);
}

/* ---------------- rm ---------------- */

int ctl_fs_remove_tree(fscore *fs, const char *path)
{
    ctl_fs_list l;
    int rc = ctl_fs_list_dir(fs, path, &l);
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        char child[PATH_MAX];
        rc = ctl_fs_join(child, sizeof(child), path, l.e[i].name);
        if (rc == 0)
            rc = S_ISDIR(l.e[i].st.st_mode) ? ctl_fs_remove_tree(fs, child)
                                            : fscore_unlink(fs, child);
    }
    ctl_fs_list_free(&l);
    if (rc == 0 && strcmp(path, "/") != 0)
        rc = fscore_rmdir(fs, path);
    return rc;
}

int ctl_cmd_rm(int argc, char **argv)
{
    static const char usage[] =
        "usage: lsmfs-ctl rm [-r] STORE /path\n"
        "Remove a file, symlink or empty directory of an unmounted store; -r removes a\n"
        "directory with everything in it.  Exit 3 if the path does not exist.\n";
    struct kv_opts o;
    int rc = kv_parse(argc, argv, &o, usage, 2, 2);
    if (rc >= 0)
        return rc;
    char path[PATH_MAX];
    if (ctl_fs_normalize(argv[optind + 1], path, sizeof(path)) != 0)
        return CTL_EXIT_USAGE;
    ctl_target t;
    fscore *fs;
    if ((rc = ctl_fs_open(argv[optind], 0, 0, &t, &fs)) != 0)
        return ctl_exit_for(rc);
    struct stat st;
    rc = fscore_stat(fs, path, &st);
    if (rc == 0) {
        if (!S_ISDIR(st.st_mode))
            rc = fscore_unlink(fs, path);
        else if (o.recursive)
            rc = ctl_fs_remove_tree(fs, path);
        else if (!strcmp(path, "/"))
            rc = -EBUSY;
        else
            rc = fscore_rmdir(fs, path);
    }
    return kv_finish(fs, &t, path, rc, 0,
                     rc == -ENOTEMPTY ? " (use -r to remove it with its contents)" : NULL);
}

/* ---------------- ls ---------------- */

static void ls_print(fscore *fs, const char *dir, const char *name, const struct stat *st,
                     const struct kv_opts *o, int first)
{
    char full[PATH_MAX], target[PATH_MAX + 1] = "";
    if (S_ISLNK(st->st_mode) && ctl_fs_join(full, sizeof(full), dir, name) == 0 &&
        fscore_readlink(fs, full, target, sizeof(target)) < 0)
        target[0] = '\0';
    if (o->json) {
        printf("%s{\"name\":", first ? "" : ",");
        ctl_json_string(stdout, name, strlen(name));
        printf(",\"type\":\"%s\",\"mode\":\"%04o\",\"size\":%lld,\"nlink\":%lu,\"uid\":%u,"
               "\"gid\":%u,\"ino\":%llu,\"mtime\":%lld.%09ld",
               fs_type_name(st->st_mode), (unsigned)(st->st_mode & 07777), (long long)st->st_size,
               (unsigned long)st->st_nlink, (unsigned)st->st_uid, (unsigned)st->st_gid,
               (unsigned long long)st->st_ino, (long long)st->st_mtim.tv_sec,
               st->st_mtim.tv_nsec);
        if (S_ISLNK(st->st_mode)) {
            printf(",\"target\":");
            ctl_json_string(stdout, target, strlen(target));
        }
        printf("}");
        return;
    }
    if (!o->long_fmt) {
        printf("%s\n", name);
        return;
    }
    char perms[11];
    mode_t m = st->st_mode;
    perms[0] = ctl_fs_type_char(m);
    const char *rwx = "rwxrwxrwx";
    for (int i = 0; i < 9; i++)
        perms[i + 1] = (m & (0400 >> i)) ? rwx[i] : '-';
    perms[10] = '\0';
    char when[32];
    struct tm tm;
    time_t sec = st->st_mtim.tv_sec;
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M", localtime_r(&sec, &tm));
    printf("%s %3lu %5u %5u %10lld %s %s%s%s\n", perms, (unsigned long)st->st_nlink,
           (unsigned)st->st_uid, (unsigned)st->st_gid, (long long)st->st_size, when, name,
           target[0] ? " -> " : "", target);
}

int ctl_cmd_ls(int argc, char **argv)
{
    static const char usage[] =
        "usage: lsmfs-ctl ls [-l] [--json] STORE [/dir]\n"
        "List a directory (default /) of an unmounted store, in key order.  -l shows type,\n"
        "mode, links, owner, size and mtime; --json prints an array of objects.\n";
    struct kv_opts o;
    int rc = kv_parse(argc, argv, &o, usage, 1, 2);
    if (rc >= 0)
        return rc;
    char path[PATH_MAX];
    if (ctl_fs_normalize(argc - optind == 2 ? argv[optind + 1] : "/", path, sizeof(path)) != 0)
        return CTL_EXIT_USAGE;
    ctl_target t;
    fscore *fs;
    if ((rc = ctl_fs_open(argv[optind], 1, 0, &t, &fs)) != 0)
        return ctl_exit_for(rc);
    struct stat st;
    rc = fscore_stat(fs, path, &st);
    if (o.json)
        printf("[");
    if (rc == 0 && !S_ISDIR(st.st_mode)) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", path);
        char *slash = strrchr(dir, '/');
        const char *name = path + (slash - dir) + 1;
        if (slash == dir)
            dir[1] = '\0';
        else
            *slash = '\0';
        ls_print(fs, dir, name, &st, &o, 1);
    } else if (rc == 0) {
        ctl_fs_list l;
        rc = ctl_fs_list_dir(fs, path, &l);
        for (size_t i = 0; rc == 0 && i < l.n; i++)
            ls_print(fs, path, l.e[i].name, &l.e[i].st, &o, i == 0);
        ctl_fs_list_free(&l);
    }
    if (o.json)
        printf("]\n");
    return kv_finish(fs, &t, path, rc, 1, NULL);
}

/* ---------------- scan ---------------- */

struct scan_state {
    fscore *fs;
    const struct kv_opts *o;
    int first;
    uint64_t count;
};

static void scan_emit(struct scan_state *s, const char *path, const struct stat *st)
{
    if (s->o->json) {
        printf("%s{\"path\":", s->first ? "" : ",");
        ctl_json_string(stdout, path, strlen(path));
        printf(",\"type\":\"%s\",\"size\":%lld,\"mode\":\"%04o\"}", fs_type_name(st->st_mode),
               (long long)st->st_size, (unsigned)(st->st_mode & 07777));
    } else {
        printf("%c %12lld %s\n", ctl_fs_type_char(st->st_mode), (long long)st->st_size, path);
    }
    s->first = 0;
    s->count++;
}

static int scan_tree(struct scan_state *s, const char *dir)
{
    ctl_fs_list l;
    int rc = ctl_fs_list_dir(s->fs, dir, &l);
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        char child[PATH_MAX];
        rc = ctl_fs_join(child, sizeof(child), dir, l.e[i].name);
        if (rc != 0)
            break;
        scan_emit(s, child, &l.e[i].st);
        if (S_ISDIR(l.e[i].st.st_mode))
            rc = scan_tree(s, child);
    }
    ctl_fs_list_free(&l);
    return rc;
}

static int scan_raw(struct scan_state *s, const char *prefix_arg)
{
    char *prefix = strdup(prefix_arg ? prefix_arg : "");
    if (!prefix)
        return -ENOMEM;
    long plen = ctl_unescape(prefix);
    if (plen < 0) {
        ctl_errorf("--prefix %s: bad escape (use \\\\ or \\xNN)", prefix_arg);
        free(prefix);
        return -EINVAL;
    }
    /* upper bound: the prefix with its last non-0xff byte incremented, others dropped */
    lsm_read_options ro;
    lsm_read_options_init(&ro);
    ro.fill_cache = 0;
    ro.lower_bound = prefix;
    ro.lower_bound_len = (size_t)plen;
    char *upper = malloc((size_t)plen + 1);
    long ulen = plen;
    if (upper) {
        memcpy(upper, prefix, (size_t)plen);
        while (ulen > 0 && (unsigned char)upper[ulen - 1] == 0xff)
            ulen--;
        if (ulen > 0) {
            upper[ulen - 1]++;
            ro.upper_bound = upper;
            ro.upper_bound_len = (size_t)ulen;
        }
    }
    lsm_iter *it;
    int rc = lsm_iter_new(fscore_db(s->fs), &ro, &it);
    if (rc == 0) {
        for (lsm_iter_seek(it, prefix, (size_t)plen); lsm_iter_valid(it); lsm_iter_next(it)) {
            size_t kl, vl;
            const char *k = lsm_iter_key(it, &kl);
            const char *v = lsm_iter_value(it, &vl);
            if (kl < (size_t)plen || memcmp(k, prefix, (size_t)plen) != 0)
                break;
            if (s->o->json) {
                printf("%s{\"key\":", s->first ? "" : ",");
                ctl_json_string(stdout, k, kl);
                printf(",\"value_len\":%zu", vl);
                if (s->o->values) {
                    printf(",\"value\":");
                    ctl_json_string(stdout, v, vl);
                }
                printf("}");
            } else {
                ctl_escape(stdout, k, kl);
                printf("\t%zu", vl);
                if (s->o->values) {
                    putchar('\t');
                    ctl_escape(stdout, v, vl);
                }
                putchar('\n');
            }
            s->first = 0;
            s->count++;
        }
        rc = lsm_iter_status(it);
        if (rc != 0)
            ctl_errorf("scan stopped: %s", ctl_lsm_message(rc));
        lsm_iter_free(it);
    }
    free(upper);
    free(prefix);
    return rc;
}

int ctl_cmd_scan(int argc, char **argv)
{
    static const char usage[] =
        "usage: lsmfs-ctl scan [--prefix /dir] [--json] STORE\n"
        "       lsmfs-ctl scan --raw [--prefix BYTES] [--values] [--json] STORE\n"
        "List every entry under /dir (default: the whole tree) of an unmounted store, one\n"
        "per line: type, size, path.  --raw lists the engine's keys instead (escaped: \\\\ and\n"
        "\\xNN) with value lengths, --values adds the values; see fs/SCHEMA.md.\n";
    struct kv_opts o;
    int rc = kv_parse(argc, argv, &o, usage, 1, 1);
    if (rc >= 0)
        return rc;
    ctl_target t;
    fscore *fs;
    if ((rc = ctl_fs_open(argv[optind], 1, 0, &t, &fs)) != 0)
        return ctl_exit_for(rc);
    struct scan_state s = {.fs = fs, .o = &o, .first = 1};
    if (o.json)
        printf("[");
    if (o.raw) {
        rc = scan_raw(&s, o.prefix);
    } else {
        char path[PATH_MAX];
        rc = ctl_fs_normalize(o.prefix ? o.prefix : "/", path, sizeof(path));
        struct stat st;
        if (rc == 0)
            rc = fscore_stat(fs, path, &st);
        if (rc == 0 && !S_ISDIR(st.st_mode))
            scan_emit(&s, path, &st);
        else if (rc == 0)
            rc = scan_tree(&s, path);
        if (rc != 0 && rc != -EINVAL)
            ctl_errorf("%s: %s: %s", t.store, path, strerror(-rc));
    }
    if (o.json)
        printf("]\n");
    return kv_finish(fs, &t, NULL, rc, 1, NULL);
}
