#!/usr/bin/env bash
# tests/fs/concurrency.sh BUILD_DIR | --native DIR — several writer and reader processes in
# parallel on one mount (conc.c: writers in their own dirs, readers verifying finished files,
# stripers writing disjoint ranges of one shared file with pwrite and mmap, O_APPEND
# appenders), then full verification; then the same tree is checked again after a remount.
# CONC_SECS (default 20) sets the duration.
. "$(dirname "$0")/lib.sh" "$@"
conc=$(t_helper conc)
treesum=$(t_helper treesum)
store=$T_TMP/store
mnt=$T_TMP/mnt
t_mount "$store" "$mnt" || fail "mount failed"
nice "$conc" -t "${CONC_SECS:-20}" -s "$T_SEED" "$mnt" || fail "concurrent workload failed (seed $T_SEED)"
# A second, read-heavy run with more readers than writers, in a subdirectory.
mkdir "$mnt/second" || fail "mkdir"
nice "$conc" -t 8 -w 2 -r 6 -k 2 -a 2 -s $((T_SEED + 1)) "$mnt/second" || fail "read-heavy workload failed (seed $((T_SEED + 1)))"
"$treesum" -t "$mnt" >"$T_TMP/before" || fail "treesum"
t_umount "$mnt" || fail "unmount"
t_mount "$store" "$mnt" || fail "remount"
"$treesum" -t "$mnt" >"$T_TMP/after" || fail "treesum after remount"
diff -u "$T_TMP/before" "$T_TMP/after" | head -40
cmp -s "$T_TMP/before" "$T_TMP/after" || fail "tree changed across remount after the concurrent workload"
t_umount "$mnt" || fail "final unmount"
note PASS
