/*
 * db_stats.h — counters the db keeps for lsm_property ("lsm.stats", "lsm.stats.json").
 *
 * Every field is updated with relaxed atomic adds from whichever thread does the work, and read
 * the same way: figures are statistics, not synchronisation.
 */
#ifndef LSM_DB_STATS_H
#define LSM_DB_STATS_H

#include <stdint.h>

#include "version_edit.h"

typedef struct db_stats {
    uint64_t user_bytes, user_ops;  /* keys + values handed to put/delete/write */
    uint64_t wal_bytes, wal_syncs;  /* bytes appended to WALs (incl. framing) */
    uint64_t flush_bytes, flushes;  /* L0 tables written by flushes */
    uint64_t comp_read[LSM_NUM_LEVELS], comp_written[LSM_NUM_LEVELS], comp_count[LSM_NUM_LEVELS];
    uint64_t trivial_moves;
    uint64_t idle_compactions;      /* compactions done because the store was idle */
    uint64_t subcompactions;        /* key spans merged by parallel threads (0: none split) */
    uint64_t stall_count, stall_us, slowdown_count, slowdown_us;
    uint64_t bloom_checked, bloom_useful;
    uint64_t gets, salvaged_bytes;
    uint64_t ingest_bytes, ingest_direct_bytes; /* table bytes ingested; of them with O_DIRECT */
} db_stats;

static inline void stat_add(uint64_t *field, uint64_t v)
{
    __atomic_fetch_add(field, v, __ATOMIC_RELAXED);
}
static inline uint64_t stat_get(const uint64_t *field)
{
    return __atomic_load_n(field, __ATOMIC_RELAXED);
}

struct lsm_db;
/* Render the stats property (json != 0: one JSON object) into a malloc'd string. */
int db_stats_render(struct lsm_db *db, int json, char **out);

#endif
