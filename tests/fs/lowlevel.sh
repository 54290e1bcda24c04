#!/usr/bin/env bash
# tests/fs/lowlevel.sh BUILD_DIR | --native DIR — what the low-level daemon promises beyond
# POSIX calls one at a time:
#   1. the node table itself (nodes_model.c: random names, renames, forgets against a model);
#   2. hard links are one kernel inode: with the writeback cache on (-o writeback=on, unless
#      LSMFS_OPTS asks for writeback=off), size, mtime,
#      mode and contents written through one name are seen through every name at once, while
#      the writer still holds dirty pages; and after a remount;
#   3. an open file that is unlinked stays usable with the writeback cache: written, read,
#      stat'ed and even reopened through /proc/self/fd; no .fuse_hidden names; its data goes
#      at the last close (the store checks clean);
#   4. (lsmfs only, root) lookup counts are honoured: after 50,000 files are looked up and the
#      kernel drops its caches, the daemon's node table shrinks back, twice, and the daemon's
#      RSS does not grow from the first round to the second.
. "$(dirname "$0")/lib.sh" "$@"
case ${LSMFS_OPTS:-} in *writeback=*) ;; *) export LSMFS_OPTS=${LSMFS_OPTS:+$LSMFS_OPTS,}writeback=on ;; esac

"$(t_helper nodes_model)" "$T_SEED" || fail "node table model (seed $T_SEED)"
note "node table model passed (seed $T_SEED)"

t_fs || fail "mount failed"
mnt=$T_MNT
store=$T_TMP/store$T_FS_N

# ---- 2. hard links: one inode ----
cd "$mnt" || fail "cd $mnt"
mkdir d || fail mkdir
echo hello >a && ln a b && ln a d/c || fail "link"
ino=$(stat -c %i a)
for n in b d/c; do [ "$(stat -c %i $n)" = "$ino" ] || fail "$n has inode $(stat -c %i $n), a has $ino"; done
[ "$(ls -i d/c | awk '{print $1}')" = "$ino" ] || fail "ls -i disagrees with stat"
# same size/mtime/ctime/mode/nlink through every name: "name size mtime ctime mode nlink"
same() {
    local want=$1 n got
    for n in a b d/c; do
        got=$(stat -c '%s %.9Y %.9Z %a %h' "$n") || fail "stat $n"
        [ "$got" = "$want" ] || fail "$2: $n shows '$got', expected '$want'"
    done
}
exec 3>>a                          # held open: the kernel keeps dirty pages
printf 'more' >&3
s=$(stat -c '%s %.9Y %.9Z %a %h' a)
[ "${s%% *}" = 10 ] || fail "size through the writer's name is ${s%% *}, not 10"
same "$s" "after an append through a (fd still open)"
exec 4>>b
printf 'X' >&4
s=$(stat -c '%s %.9Y %.9Z %a %h' d/c)
[ "${s%% *}" = 11 ] || fail "size after appends through a and b is ${s%% *}, not 11"
same "$s" "after an append through b"
[ "$(cat d/c)" = "$(printf 'hello\nmoreX')" ] || fail "contents through d/c: $(cat d/c | od -c | head -3)"
truncate -s 3 d/c || fail truncate
same "$(stat -c '%s %.9Y %.9Z %a %h' b)" "after truncate through d/c"
[ "$(cat a)" = hel ] || fail "a after truncate through d/c: $(cat a)"
printf 'abcdefgh' | dd of=b bs=1 seek=2 conv=notrunc status=none || fail "dd into b"
[ "$(cat d/c)" = heabcdefgh ] || fail "d/c after dd into b: $(cat d/c)"
exec 3>&- 4>&-
touch -d '2001-01-01 01:01:01.5' b && chmod 640 d/c || fail "touch/chmod"
s=$(stat -c '%s %.9Y %.9Z %a %h' a)
[ "$(stat -c '%a %.9Y' a)" = "640 $(date -d '2001-01-01 01:01:01.5' +%s).500000000" ] ||
    fail "mode/mtime through a: $(stat -c '%a %.9Y' a)"
same "$s" "after touch/chmod through other names"
rm a || fail "rm a"
[ "$(stat -c '%h %s' b)" = "2 10" ] || fail "b after rm a: $(stat -c '%h %s' b)"
[ "$(cat d/c)" = heabcdefgh ] || fail "d/c after rm a"
mv b d/moved && [ "$(stat -c %i d/moved)" = "$ino" ] || fail "rename of a linked name"
echo again >>d/c
[ "$(stat -c %s d/moved)" = 16 ] || fail "size through the renamed name: $(stat -c %s d/moved)"
note "hard links: one inode, size/mtime/mode seen through every name"

# times set while a writer holds the file open survive a later chmod and the writer's close
exec 6>>t
printf abc >&6
touch -d '2005-05-05 05:05:05' t && chmod 600 t || fail "touch/chmod of an open file"
exec 6>&-
t_want="600 $(date -d '2005-05-05 05:05:05' +%s) 3"
[ "$(stat -c '%a %Y %s' t)" = "$t_want" ] || fail "t: $(stat -c '%a %Y %s' t), expected $t_want"

# ---- 3. unlink of an open file ----
exec 5<>f
head -c 100000 /dev/zero | tr '\0' 'x' >&5 || fail "write f"
rm f || fail "rm f"
[ ! -e f ] || fail "f still visible after rm"
printf 'tail' >&5
[ "$(stat -L -c %s /proc/self/fd/5)" = 100004 ] || fail "size of the unlinked file: $(stat -L -c %s /proc/self/fd/5)"
[ "$(tail -c 4 /proc/self/fd/5)" = tail ] || fail "reopen of the unlinked file through /proc"
[ "$(head -c 100000 /proc/self/fd/5 | tr -d x | wc -c)" = 0 ] || fail "contents of the unlinked file"
ls -a | grep -q fuse_hidden && fail "a .fuse_hidden name appeared"
exec 5>&-
cd / || fail "cd /"
t_umount "$mnt" || fail "unmount"
if [ "$T_NATIVE" = 0 ]; then
    out=$("$T_BUILD/lsmfs-ctl" check "$store" 2>&1) || fail "store not clean after the unlinked file was closed: $out"
fi
t_mount "$store" "$mnt" || fail "remount"
[ "$(stat -c '%i %h %s' "$mnt/d/moved" "$mnt/d/c" | sort -u)" = "$ino 2 16" ] ||
    fail "after remount: $(stat -c '%i %h %s' "$mnt/d/moved" "$mnt/d/c")"
[ "$(cat "$mnt/d/c")" = "$(printf 'heabcdefghagain')" ] || fail "contents after remount: $(cat "$mnt/d/c")"
[ "$(stat -c '%a %Y %s' "$mnt/t")" = "$t_want" ] || fail "t after remount: $(stat -c '%a %Y %s' "$mnt/t")"
note "unlinked open file: usable, no hidden names, gone at close"

# ---- 3b. a hard-linked file that loses the name it was opened by, while its other name was
# never looked up since the mount (the daemon does not know it): still the same open file ----
t_umount "$mnt" || fail "unmount"
t_mount "$store" "$mnt" || fail "remount"
exec 6<>"$mnt/d/moved" || fail "open d/moved"
rm "$mnt/d/moved" || fail "rm d/moved"
[ "$(cat <&6)" = heabcdefghagain ] || fail "read through the fd after its name went"
[ "$(stat -L -c '%h %s' /proc/self/fd/6)" = "1 16" ] ||
    fail "fstat after the name went: $(stat -L -c '%h %s' /proc/self/fd/6 2>&1)"
printf more >&6 || fail "write through the fd after its name went"
truncate -s 18 /proc/self/fd/6 || fail "truncate through the fd after its name went"
ln -L /proc/self/fd/6 "$mnt/d/again" || fail "link(2) through the fd after its name went"
exec 6>&-
[ "$(stat -c '%i %h' "$mnt/d/again")" = "$(stat -c '%i %h' "$mnt/d/c")" ] &&
    [ "$(stat -c %h "$mnt/d/c")" = 2 ] || fail "d/again and d/c: $(stat -c '%i %h' "$mnt/d/again" "$mnt/d/c")"
rm "$mnt/d/again" || fail "rm d/again"
[ "$(cat "$mnt/d/c")" = "$(printf 'heabcdefghagain\nmo')" ] || fail "d/c after writes through the other name: $(cat "$mnt/d/c")"
[ "$(stat -c %h "$mnt/d/c")" = 1 ] || fail "d/c link count $(stat -c %h "$mnt/d/c")"
note "hard link opened by a name that went: read, fstat, write, truncate, link through the fd"

# ---- 4. lookup counts and forgets ----
if [ "$T_NATIVE" = 1 ] || [ "$(id -u)" != 0 ]; then
    note "skipping the node-table churn (lsmfs as root only)"
    t_umount "$mnt" || fail "unmount"
    note PASS
    exit 0
fi
t_umount "$mnt" || fail "unmount"
# a small memtable and cache, so that the store's own memory does not hide the table's
t_fs memtable_size=4M,cache_size=4M || fail "mount for the churn"
mnt=$T_MNT
manyfiles=$(t_helper manyfiles)
nodes() { "$T_BUILD/lsmfs-ctl" stat "$mnt" | awk '/nodes known to the kernel/ {print $3}'; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$T_PID/status"; }
# after drop_caches the kernel sends its FORGETs asynchronously: wait for them
wait_nodes_below() {
    local i n
    for i in $(seq 1 100); do
        n=$(nodes)
        [ -n "$n" ] && [ "$n" -lt "$1" ] && return 0
        sync; echo 3 >/proc/sys/vm/drop_caches; sleep 0.2
    done
    fail "node table still holds $n entries after drop_caches (expected < $1)"
}
rss1=0
for round in 1 2; do
    mkdir "$mnt/many$round" || fail mkdir
    "$manyfiles" create "$mnt/many$round" f 0 50000 || fail "create 50000 files"
    # A stat (or readdirplus entry) of each.  Another process's drop_caches (a benchmark on the
    # same machine) empties the kernel's inode cache, and with it the table: list again then.
    for try in 1 2 3; do
        n=$(ls -l "$mnt/many$round" | grep -c '^-')
        [ "$n" = 50000 ] || fail "ls -l listed $n files"
        held=$(nodes)
        [ "$held" -ge 10000 ] && break
        note "node table holds $held entries after ls -l (try $try): listing again"
    done
    [ "$held" -ge 10000 ] || fail "node table holds only $held entries after stat of 50000 new files"
    sync; echo 3 >/proc/sys/vm/drop_caches
    wait_nodes_below 1000
    note "round $round: $held nodes while cached, $(nodes) after drop_caches, RSS $(rss) KiB"
    [ "$round" = 1 ] && rss1=$(rss)
    rss2=$(rss)
    "$manyfiles" unlink "$mnt/many$round" f 0 50000 || fail "unlink 50000 files"
done
# A bare listing of a cold directory: in auto mode the first READDIRPLUS gives attributes to
# its first 4 KiB of entries only and plain READDIRs bring the rest, so every name comes back
# once and the node table grows by those few entries, not by the directory.
mkdir "$mnt/bare" || fail mkdir
"$manyfiles" create "$mnt/bare" f 0 3000 || fail "create 3000 files"
echo extra > "$mnt/bare/zz_last"
sync; echo 3 >/proc/sys/vm/drop_caches
wait_nodes_below 1000
before=$(nodes)
listed=$(ls -f "$mnt/bare" | sort)
[ "$(printf '%s\n' "$listed" | wc -l)" = 3003 ] || fail "bare listing gave $(printf '%s\n' "$listed" | wc -l) names, not 3003"
[ "$(printf '%s\n' "$listed" | uniq | wc -l)" = 3003 ] || fail "bare listing repeated a name"
grown=$(( $(nodes) - before ))
[ "$grown" -lt 100 ] || fail "a bare listing of 3001 entries added $grown nodes"
[ "$(ls -l "$mnt/bare" | grep -c '^-')" = 3001 ] || fail "ls -l after the bare listing"
[ "$(stat -c %s "$mnt/bare/zz_last")" = 6 ] || fail "size of zz_last after the listing"
sync; echo 3 >/proc/sys/vm/drop_caches
wait_nodes_below 1000
note "bare listing of 3001 entries: $grown nodes added, counts exact after drop_caches"
# the second round reuses the memory the first one freed (16 MiB of slack for the store);
# not under AddressSanitizer, whose quarantine keeps freed memory on purpose
if grep -q libasan "/proc/$T_PID/maps"; then
    note "RSS check skipped: the daemon runs under AddressSanitizer"
else
    [ "$rss2" -le $((rss1 + 16384)) ] || fail "daemon RSS grew from $rss1 KiB to $rss2 KiB"
fi
t_umount "$mnt" || fail "unmount"
note PASS
