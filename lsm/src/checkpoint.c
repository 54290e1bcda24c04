/*
 * checkpoint.c — lsm_checkpoint: an openable copy of a live store.
 *
 * The memtable is flushed first, so the copy needs no WAL.  Then, holding work_mu (no flush or
 * compaction can change the table set meanwhile; writers keep going into the memtable), every
 * table of the current version is hard-linked into the new directory (tables are immutable,
 * so a link is a copy), and a fresh manifest listing exactly those tables is written there
 * with its CURRENT, then the directory is fsynced.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "db_impl.h"
#include "filename.h"
#include "manifest.h"
#include "status.h"

/* Copy a file byte for byte (for file systems where link() is not possible). */
static int copy_file(lsm_env *env, const char *from, const char *to)
{
    int in = env->open(env, from, O_RDONLY | O_CLOEXEC, 0);
    if (in < 0) return lsm_error(in, "%s: cannot open: %s", from, strerror(-in));
    int out = env->open(env, to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        env->close(env, in);
        return lsm_error(out, "%s: cannot create: %s", to, strerror(-out));
    }
    uint64_t size = 0, off = 0;
    int rc = env->fsize(env, in, &size);
    char *b = malloc(1 << 20);
    if (!b) rc = LSM_ENOMEM;
    while (rc >= 0 && off < size) {
        size_t n = size - off < (1 << 20) ? (size_t)(size - off) : (1 << 20);
        rc = env_read_full(env, in, b, n, (off_t)off);
        if (rc >= 0) rc = env_write_full(env, out, b, n, (off_t)off);
        off += n;
    }
    if (rc >= 0) rc = env->fsync(env, out);
    free(b);
    env->close(env, in);
    env->close(env, out);
    return rc < 0 ? lsm_error(rc, "%s: copy to %s failed: %s", from, to, strerror(-rc)) : 0;
}

int lsm_checkpoint(lsm_db *db, const char *dest)
{
    lsm_env *env = db->env;
    if (db->read_only && (memtable_entries(db->mem) > 0 || db->nimm > 0))
        /* Its WAL data cannot be flushed without writing to the store. */
        return lsm_error(LSM_EINVAL, "%s: read-only store has unflushed WAL data; open it "
                         "writable (or close it cleanly) before a checkpoint", db->dir);
    int rc = env->stat(env, dest, NULL);
    if (rc == 0) return lsm_error(LSM_EEXIST, "%s: checkpoint destination already exists", dest);
    rc = env->mkdir(env, dest, 0700);
    if (rc < 0) return lsm_error(rc, "%s: cannot create checkpoint directory: %s", dest, strerror(-rc));
    rc = lsm_flush(db);
    if (rc) return rc;

    pthread_mutex_lock(&db->work_mu);
    pthread_mutex_lock(&db->mu);
    version *v = db->vs.current;
    version_ref(v);
    vset tmp;
    int irc = vset_init(&tmp, env, dest, NULL);
    if (!irc) {
        /* The copy is a store of its own: same counters, no WAL to replay. */
        tmp.next_file = db->vs.next_file + 2;
        tmp.last_seq = db->last_seq;
        tmp.log_number = db->vs.next_file;
        version_unref(tmp.current);
        tmp.current = v;
        version_ref(v);
    }
    pthread_mutex_unlock(&db->mu);
    rc = irc;
    for (int l = 0; l < LSM_NUM_LEVELS && !rc; l++)
        for (size_t i = 0; i < v->nfiles[l] && !rc; i++) {
            char *from = table_file_name(db->dir, v->files[l][i]->number);
            char *to = table_file_name(dest, v->files[l][i]->number);
            if (!from || !to) rc = lsm_error(LSM_ENOMEM, "checkpoint: out of memory");
            else if ((rc = env->link(env, from, to)) < 0) {
                if (rc == -EXDEV || rc == -EPERM || rc == -EMLINK) rc = copy_file(env, from, to);
                else rc = lsm_error(rc, "%s: cannot link to %s: %s", from, to, strerror(-rc));
            }
            free(from);
            free(to);
        }
    if (!rc) rc = manifest_write_snapshot(&tmp, db->vs.next_file + 1);
    pthread_mutex_unlock(&db->work_mu);
    if (!irc) vset_destroy(&tmp); /* drops tmp's reference on v */
    version_unref(v);
    if (!rc) {
        rc = env->fsync_dir(env, dest);
        if (rc < 0) rc = lsm_error(rc, "%s: directory fsync failed: %s", dest, strerror(-rc));
    }
    return rc;
}
