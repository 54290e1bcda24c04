#!/usr/bin/env bash
# tests/fs/differ.sh BUILD_DIR — the differential random test (differ.py): the same random
# operations on a private ext4 (a loop image, or this test's temporary directory when that is
# on ext4 already) and on a fresh lsmfs mount, results, errno values, contents, times and trees
# compared after each one.  DIFFER_ROUNDS rounds (default 4) of DIFFER_OPS operations (default
# 2000), seeds SEED, SEED+1, ...; a failure prints the seed, so
#     SEED=N DIFFER_ROUNDS=1 tests/fs/run.sh build differ
# replays it.  lsmfs only: the reference is ext4 itself.
. "$(dirname "$0")/lib.sh" "$@"
[ "$T_NATIVE" = 0 ] || { note "lsmfs only (its reference is ext4 itself): nothing to do"; exit 0; }
command -v python3 >/dev/null || fail "python3 is missing (make deps installs it)"
t_fs allow_other || fail "mount failed"
ref=$T_TMP/ext4
mkdir -p "$ref" || fail "mkdir $ref"
if command -v mkfs.ext4 >/dev/null && truncate -s 256M "$T_TMP/ext4.img" &&
   mkfs.ext4 -q -F -b 4096 "$T_TMP/ext4.img" && mount -o loop "$T_TMP/ext4.img" "$ref"; then
    T_EXTRA_CLEANUP2="umount '$ref' 2>/dev/null || umount -l '$ref'"
    note "reference: a private ext4 loop image"
else
    [ "$(stat -f -c %T "$T_TMP")" = "ext2/ext3" ] ||
        fail "no ext4 to compare with: no loop mount, and $T_TMP is on $(stat -f -c %T "$T_TMP")"
    note "reference: $ref (no loop mount; $T_TMP is on ext4)"
fi
# The operations run as uid 65534 too: every ancestor must be searchable by others.
chmod 755 "$T_TMP"
for d in "$ref" "$T_MNT"; do
    p=$d
    while [ "$p" != / ]; do
        p=$(dirname "$p")
        [ "$(( 0$(stat -c %a "$p") & 1 ))" = 1 ] ||
            fail "$p is not searchable by other users: set TMPDIR to a world-searchable directory"
    done
done
rounds=${DIFFER_ROUNDS:-4}
ops=${DIFFER_OPS:-2000}
for i in $(seq 0 $((rounds - 1))); do
    seed=$((T_SEED + i))
    mkdir "$ref/r$i" "$T_MNT/r$i" && chmod 1777 "$ref/r$i" "$T_MNT/r$i" || fail "mkdir r$i"
    python3 "$(dirname "$0")/differ.py" "$ref/r$i" "$T_MNT/r$i" "$seed" "$ops" ||
        fail "lsmfs differs from ext4 (seed $seed; replay: SEED=$seed DIFFER_ROUNDS=1)"
done
t_umount "$T_MNT" || fail "unmount"
note PASS
