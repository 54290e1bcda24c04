#!/usr/bin/env bash
# tests/fs/stress.sh BUILD_DIR | --native DIR — stress-ng's file system stressors on a mount.
#
# stress-ng (Debian's package) runs every stressor of its filesystem class, then those of its
# other classes that work on files (readahead, seek, sendfile, splice, hdd with fsync and
# random reads and writes, mmap of a file, msync, copy-file), one after the other, two
# instances each for STRESS_SECS seconds (default 3), with --verify: a stressor fails on a
# wrong result (data read back, an errno, a link count, a lock that was not exclusive...).
# Left out: stressors that test something other than the file system under the directory
# (bind-mount, binderfs, fanotify, procfs, verity), and io-uring, whose STATX completions fail
# with ENOENT on ext4 too with this stress-ng (0.15) and kernel.
# Then the daemon must still be alive and answering, unmount cleanly, and `lsmfs-ctl check`
# must find the store clean.
. "$(dirname "$0")/lib.sh" "$@"
command -v stress-ng >/dev/null || fail "stress-ng is not installed (make deps installs it)"
secs=${STRESS_SECS:-3}

t_fs || fail "mount failed"
mnt=$T_MNT
work=$mnt/stress
mkdir -p "$work" || fail "mkdir $work"

# stress-ng's exit status: 0 when every stressor passed (one that finds its feature missing,
# such as fiemap on FUSE, skips itself and still counts as passed).
run() {
    local label=$1
    shift
    (cd "$work" && timeout -k 10 600 stress-ng --temp-path "$work" -t "$secs" --verify "$@") \
        >"$T_TMP/stress-$label.log" 2>&1
    local rc=$?
    grep -E "fail|error" "$T_TMP/stress-$label.log" | head -20
    [ $rc = 0 ] || { tail -20 "$T_TMP/stress-$label.log"; fail "stress-ng ($label) exited $rc"; }
    note "$label: $(grep -o 'successful run completed in [0-9.]*s' "$T_TMP/stress-$label.log")"
}

run filesystem --seq 2 --class filesystem -x bind-mount,binderfs,fanotify,procfs,verity
run files --seq 2 --readahead 2 --seek 2 --sendfile 2 --splice 2 --hdd 2 \
    --hdd-opts fsync,wr-rnd,rd-rnd --mmap 2 --mmap-file --msync 2 --copy-file 2

if [ "$T_NATIVE" = 0 ]; then
    kill -0 "$T_PID" 2>/dev/null || fail "the daemon died under stress"
    ls "$mnt" >/dev/null || fail "the mount does not answer after the stress run"
fi
rm -rf "$work" || fail "rm -r of what stress-ng left"
t_umount "$mnt" || fail "unmount after the stress run"
if [ "$T_NATIVE" = 0 ]; then
    timeout 300 "$T_BUILD/lsmfs-ctl" check "$T_TMP/store$T_FS_N" >"$T_TMP/check.out" 2>&1 ||
        { tail -20 "$T_TMP/check.out"; fail "lsmfs-ctl check after the stress run"; }
fi
note PASS
