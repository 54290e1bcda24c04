#!/usr/bin/env bash
# tests/fs/persistence.sh BUILD_DIR | --native DIR — everything survives unmount + remount.
#
# Round 1: build the standard tree (with a FIFO, xattrs, hard links, odd names, fixed mtimes,
# chown'd files) directly on the mount, plus a 20 MiB file and a sparse file; take a tree
# checksum (treesum -t: paths, types, modes, owners, nlink, sizes, contents, symlink targets,
# xattrs, hard-link groups, mtimes); clean unmount; remount; the checksum must be identical.
# Round 2: modify (rm, rename of a directory subtree, overwrite, truncate, append, xattr
# changes, new hard link), checksum, remount with a small memtable (so the store flushes
# tables), identical.  Round 3: stop the daemon with SIGTERM, remount with other engine
# options, identical again.  Round 4: stop it with SIGINT, remount, identical.
. "$(dirname "$0")/lib.sh" "$@"
treesum=$(t_helper treesum)
gen=$(t_helper gen)
store=$T_TMP/store
mnt=$T_TMP/mnt

# check_same LABEL: compare the mount's checksum with $T_TMP/sum.expected.  A difference is
# reported and counted, and the next rounds still run (so one run shows every problem).
failures=0
check_same() {
    "$treesum" -t "$mnt" >"$T_TMP/sum.now" || fail "$1: treesum failed on the mount"
    if ! diff -u "$T_TMP/sum.expected" "$T_TMP/sum.now" >"$T_TMP/sum.diff"; then
        head -60 "$T_TMP/sum.diff"
        note "FAIL: $1: tree differs after remount (diff above: - before, + after)"
        failures=$((failures + 1))
        return
    fi
    note "$1: $(wc -l <"$T_TMP/sum.now") entries identical"
}

t_mount "$store" "$mnt" || fail "first mount failed"
t_make_tree "$mnt/tree" "$T_SEED" fifo || fail "building the tree on the mount"
"$gen" $((T_SEED + 9)) 20M >"$mnt/twenty-mib" || fail "writing 20 MiB"
"$gen" $((T_SEED + 10)) 4K >"$mnt/chowned"
chown 1234:5678 "$mnt/chowned" && chmod 4751 "$mnt/chowned" || fail "chown/chmod"
dd if=/dev/zero of="$mnt/sparse" bs=1 count=0 seek=300M status=none
printf 'middle' | dd of="$mnt/sparse" bs=1 seek=150M conv=notrunc status=none
touch -d '2020-02-29 12:34:56.789012345' "$mnt/sparse"
mkdir -p "$mnt/dir with xattr" && setfattr -n user.k -v "some value" "$mnt/dir with xattr"
"$treesum" -t "$mnt" >"$T_TMP/sum.expected" || fail "treesum on the mount"
t_umount "$mnt" || fail "unmount 1"
t_mount "$store" "$mnt" || fail "remount 1"
check_same "round 1 (create, remount)"

# Round 2: modifications, then a remount with a small memtable.
rm -r "$mnt/tree/deep/1/2/3" "$mnt/tree/a/b/size-65536" || fail "rm"
mv "$mnt/tree/a/b" "$mnt/tree/b-moved" || fail "mv dir"
mv "$mnt/tree/many" "$mnt/tree/empty dir/many" || fail "mv dir into dir"
"$gen" $((T_SEED + 11)) 70000 >"$mnt/tree/big.bin" || fail "overwrite"
truncate -s 123457 "$mnt/twenty-mib" || fail "truncate"
echo appended >>"$mnt/tree/b-moved/size-4097" || fail "append"
setfattr -x user.color "$mnt/tree/a/small" && setfattr -n user.new -v 0xdeadbeef "$mnt/tree/a/small" || fail "xattr change"
ln "$mnt/tree/b-moved/size-200001" "$mnt/tree/hardlink-new" || fail "ln"
touch -d '2011-11-11 11:11:11' "$mnt/tree/b-moved/size-200001"
"$treesum" -t "$mnt" >"$T_TMP/sum.expected" || fail "treesum on the mount"
t_umount "$mnt" || fail "unmount 2"
t_mount "$store" "$mnt" "memtable_size=1048576" || fail "remount 2 (memtable_size=1048576)"
check_same "round 2 (modify, remount with a small memtable)"
# Writes with the small memtable, so they go through several flushes.
for i in $(seq 1 40); do "$gen" $((T_SEED + 1000 + i)) 100K >"$mnt/flush-$i" || fail "write flush-$i"; done
"$treesum" -t "$mnt" >"$T_TMP/sum.expected" || fail "treesum on the mount"
# This time the daemon is stopped with SIGTERM (it must unmount, flush and exit 0 by itself).
signal_umount() {   # signal_umount SIG: stop the daemon of $mnt with SIG, wait for a clean exit
    [ "$T_NATIVE" = 1 ] && return 0
    local pid=$T_PID i rc
    kill "-$1" "$pid" || fail "kill -$1 $pid"
    for i in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && fail "daemon still running 30 s after SIG$1"
    wait "$pid"; rc=$?
    [ $rc = 0 ] || fail "daemon exited with status $rc after SIG$1"
    t_is_mounted "$mnt" && fail "mount still there after the daemon exited on SIG$1"
    note "SIG$1: daemon unmounted and exited 0"
}
signal_umount TERM
t_mount "$store" "$mnt" "compaction=tiered,cache_size=1048576,sync=always" || fail "remount 3 (tiered, small cache, sync=always)"
check_same "round 3 (after flushes and SIGTERM, other options)"
echo "after sigint" >"$mnt/sigint-file" || fail "write"
"$treesum" -t "$mnt" >"$T_TMP/sum.expected" || fail "treesum on the mount"
signal_umount INT
t_mount "$store" "$mnt" || fail "remount 4"
check_same "round 4 (after SIGINT)"
# Round 5: `umount` returns before the daemon has flushed and released the store; a remount
# right away, as a script does it, must wait for the store instead of failing "in use".
"$gen" $((T_SEED + 12)) 30M >"$mnt/thirty-mib" || fail "writing 30 MiB"
"$treesum" -t "$mnt" >"$T_TMP/sum.expected" || fail "treesum on the mount"
if [ "$T_NATIVE" != 1 ]; then
    fusermount3 -u "$mnt" || fail "unmount 5"
    T_MOUNTS="$T_MOUNTS $mnt"
    "$T_LSMFS" -o auto_unmount "$store" "$mnt" 2>>"$T_TMP/daemon.log" \
        || fail "remount right after umount failed: $(tail -1 "$T_TMP/daemon.log")"
fi
check_same "round 5 (remount right after umount)"
t_umount "$mnt" || fail "final unmount"
# That last daemon was started in the background, so t_umount knows no pid to wait for.
for i in $(seq 1 300); do pgrep -f -- "$store" >/dev/null || break; sleep 0.1; done
pgrep -f -- "$store" >/dev/null && fail "daemon still running 30 s after the final unmount"
[ "$failures" = 0 ] || fail "$failures of 5 rounds differed after remount"
note PASS
