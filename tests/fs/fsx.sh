#!/usr/bin/env bash
# tests/fs/fsx.sh BUILD_DIR | --native DIR — run the random file exerciser (fsx.c) on a fresh
# lsmfs mount (or in a native directory): 100,000 operations on a file of up to 1 MiB, then 20,000
# on a small file (up to 16 KiB, around the inline-data threshold), 30,000 through two separate
# opens of one file (-2); then all three files must equal fsx's model after a remount, and
# `lsmfs-ctl check` must find the store clean.  FSX_OPS / FSX_SMALL_OPS / FSX_TWO_OPS override the counts.
. "$(dirname "$0")/lib.sh" "$@"
fsx=$(t_helper fsx)
t_fs || fail "mount failed"
mnt=$T_MNT
note "seed base $T_SEED"
nice "$fsx" -q -n "${FSX_OPS:-100000}" -s "$T_SEED" -d "$T_TMP/model.big" "$mnt/fsx.big" || fail "fsx (1 MiB files) failed, seed $T_SEED"
nice "$fsx" -q -n "${FSX_SMALL_OPS:-20000}" -s $((T_SEED + 1)) -d "$T_TMP/model.small" -l 16384 -o 4096 "$mnt/fsx.small" || fail "fsx (small files) failed, seed $((T_SEED + 1))"
nice "$fsx" -q -2 -n "${FSX_TWO_OPS:-30000}" -s $((T_SEED + 2)) -d "$T_TMP/model.two" "$mnt/fsx.two" || fail "fsx (two descriptors) failed, seed $((T_SEED + 2))"
# The files as fsx left them (holes, punched and zeroed ranges, mmap writes) survive a remount.
t_umount "$mnt" || fail "unmount"
if [ "$T_NATIVE" = 0 ]; then
    t_mount "$T_TMP/store$T_FS_N" "$mnt" || fail "remount"
fi
cmp "$mnt/fsx.big" "$T_TMP/model.big" || fail "fsx.big differs from fsx's model after remount"
cmp "$mnt/fsx.small" "$T_TMP/model.small" || fail "fsx.small differs from fsx's model after remount"
cmp "$mnt/fsx.two" "$T_TMP/model.two" || fail "fsx.two differs from fsx's model after remount"
note "all three files identical to fsx's model after remount"
t_umount "$mnt" || fail "unmount"
# The store agrees with itself: no chunk past a size fallocate did not allocate there, chunk
# and unwritten counts right.
if [ "$T_NATIVE" = 0 ]; then
    timeout 120 "$T_BUILD/lsmfs-ctl" check "$T_TMP/store$T_FS_N" >"$T_TMP/check.out" 2>&1 ||
        { tail -20 "$T_TMP/check.out"; fail "lsmfs-ctl check after fsx"; }
    note "lsmfs-ctl check: clean"
fi
note PASS
