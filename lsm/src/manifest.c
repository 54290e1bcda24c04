/*
 * manifest.c — writing and replaying manifests and CURRENT (see manifest.h).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "filename.h"
#include "manifest.h"
#include "status.h"

static int snapshot_edit(vset *vs, version_edit *e)
{
    edit_set_log_number(e, vs->log_number);
    edit_set_next_file(e, vs->next_file);
    edit_set_last_seq(e, vs->last_seq);
    for (int l = 0; l < LSM_NUM_LEVELS; l++) {
        if (vs->pointer[l].len && edit_set_pointer(e, l, vs->pointer[l].data, vs->pointer[l].len))
            return LSM_ENOMEM;
        for (size_t i = 0; i < vs->current->nfiles[l]; i++)
            if (edit_add_file(e, l, vs->current->files[l][i])) return LSM_ENOMEM;
    }
    return 0;
}

int manifest_write_snapshot(vset *vs, uint64_t number)
{
    char *path = manifest_file_name(vs->dir, number);
    if (!path) return lsm_error(LSM_ENOMEM, "manifest: out of memory");
    version_edit e;
    edit_init(&e);
    buf rec = {0};
    wal_writer *w = NULL;
    int rc = snapshot_edit(vs, &e);
    if (!rc) rc = edit_encode(&e, &rec);
    if (!rc) rc = wal_writer_open(vs->env, path, &w);
    if (!rc) rc = wal_append(w, rec.data, rec.len);
    if (!rc) rc = wal_sync(w);
    if (!rc) rc = current_write(vs->env, vs->dir, number);
    edit_clear(&e);
    buf_free(&rec);
    if (rc) {
        if (w) wal_writer_close(w);
        /* If the rename of CURRENT happened (only its directory fsync failed), CURRENT may
         * name the new manifest: it must stay. */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", lsm_last_error());
        uint64_t named = 0;
        int keep = current_read(vs->env, vs->dir, &named) == 0 && named == number;
        if (!keep) vs->env->unlink(vs->env, path);
        free(path);
        return lsm_error(rc, "%s", msg);
    }
    free(path);
    __atomic_fetch_add(&vs->manifest_bytes, wal_size(w), __ATOMIC_RELAXED);
    if (vs->manifest) {
        wal_writer_close(vs->manifest);
        char *old = manifest_file_name(vs->dir, vs->manifest_number);
        if (old && vs->manifest_number != number) vs->env->unlink(vs->env, old);
        free(old);
    }
    vs->manifest = w;
    vs->manifest_number = number;
    return 0;
}

int manifest_log(vset *vs, const version_edit *e)
{
    if (!vs->manifest) return lsm_error(LSM_EINVAL, "%s: no open manifest (read-only)", vs->dir);
    buf rec = {0};
    int rc = edit_encode(e, &rec);
    uint64_t before = wal_size(vs->manifest);
    if (!rc) rc = wal_append(vs->manifest, rec.data, rec.len);
    if (!rc) rc = wal_sync(vs->manifest);
    buf_free(&rec);
    __atomic_fetch_add(&vs->manifest_bytes, wal_size(vs->manifest) - before, __ATOMIC_RELAXED);
    return rc;
}

int current_write(lsm_env *env, const char *dir, uint64_t number)
{
    char content[64];
    int len = snprintf(content, sizeof content, "MANIFEST-%06" PRIu64 "\n", number);
    char *tmp = dir_file_name(dir, "CURRENT.tmp"), *cur = dir_file_name(dir, "CURRENT");
    int rc = 0, fd = -1;
    if (!tmp || !cur) {
        rc = lsm_error(LSM_ENOMEM, "CURRENT: out of memory");
        goto out;
    }
    fd = env->open(env, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = lsm_error(fd, "%s: cannot create: %s", tmp, strerror(-fd));
        goto out;
    }
    rc = env_write_full(env, fd, content, (size_t)len, 0);
    if (rc < 0) {
        lsm_error(rc, "%s: write failed: %s", tmp, strerror(-rc));
        goto out;
    }
    rc = env->fsync(env, fd);
    if (rc < 0) {
        lsm_error(rc, "%s: fsync failed: %s", tmp, strerror(-rc));
        goto out;
    }
    env->close(env, fd);
    fd = -1;
    rc = env->rename(env, tmp, cur);
    if (rc < 0) {
        lsm_error(rc, "%s: rename to CURRENT failed: %s", tmp, strerror(-rc));
        goto out;
    }
    rc = env->fsync_dir(env, dir);
    if (rc < 0) lsm_error(rc, "%s: directory fsync failed: %s", dir, strerror(-rc));
out:
    if (fd >= 0) env->close(env, fd);
    if (rc && tmp) env->unlink(env, tmp);
    free(tmp);
    free(cur);
    return rc < 0 ? rc : 0;
}

int current_read(lsm_env *env, const char *dir, uint64_t *number)
{
    char *cur = dir_file_name(dir, "CURRENT");
    if (!cur) return lsm_error(LSM_ENOMEM, "CURRENT: out of memory");
    char content[64];
    uint64_t size = 0;
    int rc, fd = env->open(env, cur, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        rc = lsm_error(fd == -ENOENT ? LSM_ECORRUPT : fd, "%s: cannot open: %s", cur,
                       strerror(-fd));
        free(cur);
        return rc;
    }
    rc = env->fsize(env, fd, &size);
    if (rc >= 0 && (size < 10 || size >= sizeof content))
        rc = lsm_error(LSM_ECORRUPT, "%s: malformed (size %llu)", cur, (unsigned long long)size);
    else if (rc < 0)
        lsm_error(rc, "%s: cannot stat: %s", cur, strerror(-rc));
    else {
        rc = env_read_full(env, fd, content, (size_t)size, 0);
        if (rc < 0) lsm_error(rc, "%s: read failed: %s", cur, strerror(-rc));
    }
    env->close(env, fd);
    if (rc < 0) {
        free(cur);
        return rc;
    }
    content[size] = '\0';
    uint64_t n = 0;
    size_t i = 9;
    int ok = strncmp(content, "MANIFEST-", 9) == 0 && content[size - 1] == '\n';
    for (; ok && i < size - 1; i++) {
        if (content[i] < '0' || content[i] > '9') ok = 0;
        else n = n * 10 + (uint64_t)(content[i] - '0');
    }
    if (!ok || i == 9) {
        rc = lsm_error(LSM_ECORRUPT, "%s: malformed contents (expected MANIFEST-NNNNNN)", cur);
        free(cur);
        return rc;
    }
    free(cur);
    *number = n;
    return 0;
}

/* The reader dropped the tail from offset off as torn.  A crash during an append leaves a
 * short record; a record whose header is intact and whose length reaches exactly the end of
 * the file, but whose payload checksum fails, was written completely and then damaged:
 * report it rather than silently replaying an older state. */
static int check_torn_tail(lsm_env *env, const char *path, uint64_t off)
{
    int fd = env->open(env, path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) return 0;
    uint8_t h[12];
    uint64_t size = 0;
    int rc = 0;
    if (env->fsize(env, fd, &size) >= 0 && size >= off + sizeof h &&
        env_read_full(env, fd, h, sizeof h, (off_t)off) == 0 &&
        crc32c_unmask(get_fixed32(h)) == crc32c_value(h + 4, 8) &&
        off + sizeof h + get_fixed32(h + 4) == size)
        rc = lsm_error(LSM_ECORRUPT, "%s: manifest record at offset %llu: checksum mismatch",
                       path, (unsigned long long)off);
    env->close(env, fd);
    return rc;
}

int manifest_recover(vset *vs)
{
    uint64_t number;
    int rc = current_read(vs->env, vs->dir, &number);
    if (rc) return rc;
    char *path = manifest_file_name(vs->dir, number);
    if (!path) return lsm_error(LSM_ENOMEM, "manifest: out of memory");
    wal_reader *r;
    rc = wal_reader_open(vs->env, path, 0, &r);
    if (rc) {
        if (rc == -ENOENT)
            rc = lsm_error(LSM_ECORRUPT, "%s: manifest named by CURRENT is missing", path);
        free(path);
        return rc;
    }
    int records = 0;
    for (;;) {
        const uint8_t *rec;
        size_t n;
        uint64_t off = wal_reader_offset(r);
        rc = wal_read(r, &rec, &n);
        if (rc <= 0) break;
        version_edit e;
        edit_init(&e);
        rc = edit_decode(&e, rec, n);
        version *v = NULL;
        if (!rc) rc = vset_apply(vs, &e, &v);
        edit_clear(&e);
        if (rc) {
            lsm_error_prefix(rc, "%s: manifest record at offset %llu", path,
                             (unsigned long long)off);
            break;
        }
        vset_install(vs, v, 0);
        records++;
    }
    if (rc == 0 && records == 0)
        rc = lsm_error(LSM_ECORRUPT, "%s: manifest has no complete record at offset 0", path);
    if (rc == 0 && wal_reader_torn(r) > 0) rc = check_torn_tail(vs->env, path, wal_reader_offset(r));
    wal_reader_close(r);
    free(path);
    if (rc == 0) vs->manifest_number = number;
    return rc;
}
