#!/usr/bin/env bash
# tests/fs/fsx.sh BUILD_DIR | --native DIR — run the random file exerciser (fsx.c) on a fresh
# lsmfs mount (or in a native directory): 100,000 operations on a file of up to 1 MiB, then 20,000
# on a small file (up to 16 KiB, around the inline-data threshold).  FSX_OPS / FSX_SMALL_OPS override the counts.
. "$(dirname "$0")/lib.sh" "$@"
fsx=$(t_helper fsx)
t_fs || fail "mount failed"
mnt=$T_MNT
note "seed base $T_SEED"
nice "$fsx" -q -n "${FSX_OPS:-100000}" -s "$T_SEED" "$mnt/fsx.big" || fail "fsx (1 MiB files) failed, seed $T_SEED"
nice "$fsx" -q -n "${FSX_SMALL_OPS:-20000}" -s $((T_SEED + 1)) -l 16384 -o 4096 "$mnt/fsx.small" || fail "fsx (small files) failed, seed $((T_SEED + 1))"
t_umount "$mnt" || fail "unmount"
note PASS
