/*
 * options.c — defaults for the public option structs, the version string and lsm_free.
 *
 * The defaults are the ones documented next to each field in lsm.h; keep the two in step.
 */
#include <stdlib.h>
#include <string.h>

#include "lsm.h"

void lsm_options_init(lsm_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->create_if_missing = 1;
    opt->memtable_size = 4u << 20;
    opt->max_immutable_memtables = 2;
    opt->block_size = 4096;
    opt->block_restart_interval = 16;
    opt->block_cache_size = 8u << 20;
    opt->max_open_tables = 256;
    opt->bloom_bits_per_key = 10;
    opt->compression = LSM_COMPRESSION_LZ4;
    opt->sync_policy = LSM_SYNC_EXPLICIT;
    opt->compaction_style = LSM_COMPACTION_LEVELED;
    opt->l0_compaction_trigger = 4;
    opt->l0_slowdown_trigger = 8;
    opt->l0_stop_trigger = 12;
    opt->target_file_size = 2u << 20;
    opt->level1_max_bytes = 10u << 20;
    opt->level_multiplier = 10;
    opt->tiered_min_merge_width = 4;
    opt->max_subcompactions = 2;
}

void lsm_read_options_init(lsm_read_options *ropt)
{
    memset(ropt, 0, sizeof *ropt);
    ropt->fill_cache = 1;
}

void lsm_write_options_init(lsm_write_options *wopt) { memset(wopt, 0, sizeof *wopt); }

void lsm_free(void *p) { free(p); }

const char *lsm_version(void) { return LSM_VERSION_STRING; }
