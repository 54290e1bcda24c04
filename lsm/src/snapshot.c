/*
 * snapshot.c — explicit snapshots: a list of live sequence numbers, oldest first.
 *
 * A snapshot is just the last sequence at the time it was taken; reads through it ignore
 * newer entries.  The list exists so compaction knows the oldest sequence anyone may still
 * read (snapshot_oldest) and keeps the versions that sequence can see.
 */
#include <stdlib.h>

#include "db_impl.h"

const lsm_snapshot *lsm_snapshot_new(lsm_db *db)
{
    struct lsm_snapshot *s = malloc(sizeof *s);
    if (!s) return NULL;
    pthread_mutex_lock(&db->mu);
    s->seq = db->last_seq;
    s->next = &db->snapshots; /* newest at the tail */
    s->prev = db->snapshots.prev;
    s->prev->next = s;
    db->snapshots.prev = s;
    pthread_mutex_unlock(&db->mu);
    return s;
}

void lsm_snapshot_release(lsm_db *db, const lsm_snapshot *snap)
{
    if (!snap) return;
    struct lsm_snapshot *s = (struct lsm_snapshot *)snap;
    pthread_mutex_lock(&db->mu);
    s->prev->next = s->next;
    s->next->prev = s->prev;
    pthread_mutex_unlock(&db->mu);
    free(s);
}

uint64_t snapshot_oldest(lsm_db *db)
{
    if (db->snapshots.next != &db->snapshots) return db->snapshots.next->seq;
    return db->last_seq;
}
