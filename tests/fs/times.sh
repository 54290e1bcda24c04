#!/usr/bin/env bash
# tests/fs/times.sh BUILD_DIR | --native DIR — which of atime, mtime and ctime each operation
# moves, as POSIX and Linux's relatime (the default mount) say, checked against a fixed table
# that a local ext4 or tmpfs directory also passes (--native).  Then the mount options:
# noatime (reads never move atime), strictatime (every read does), nodiratime (listings do
# not).  The kernel never moves a FUSE inode's atime: the daemon does it at open for reading,
# opendir and readlink.
. "$(dirname "$0")/lib.sh" "$@"

# chk WANT TARGET CMD...: run CMD and compare "a? m? c?" (1 = that time moved) with WANT.
chk() {
    local want=$1 tgt=$2 before after ba bm bc aa am ac got
    shift 2
    before=$(stat -c '%x|%y|%z' "$tgt") || fail "stat $tgt"
    sleep 0.02
    "$@" >/dev/null 2>&1 || fail "'$*' failed"
    after=$(stat -c '%x|%y|%z' "$tgt") || fail "stat $tgt after '$*'"
    IFS='|' read -r ba bm bc <<<"$before"
    IFS='|' read -r aa am ac <<<"$after"
    got="a$([ "$ba" != "$aa" ] && echo 1 || echo 0) m$([ "$bm" != "$am" ] && echo 1 || echo 0)"
    got="$got c$([ "$bc" != "$ac" ] && echo 1 || echo 0)"
    [ "$got" = "$want" ] || fail "'$*' on $tgt moved '$got', expected '$want'"
}

# Relatime: a read moves atime only when atime is not after mtime/ctime (or is a day old).
t_fs || fail "mount failed"
cd "$T_MNT" || fail "cd"
echo data >f && mkdir d && ln -s f s && : >g || fail setup
ln f alias || fail "ln"                 # the same inode under a name that stays put
chk "a0 m0 c1" alias mv f f2
mv f2 f && rm alias || fail "mv back"
chk "a0 m1 c1" . mv f f2
mv f2 f
chk "a0 m0 c1" f ln f h
chk "a0 m1 c1" . ln f h2
chk "a0 m0 c1" f rm h
chk "a0 m1 c1" f truncate -s 3 f
chk "a0 m1 c1" f truncate -s 3 f    # ftruncate to the same size too, as on ext4
chk "a0 m1 c1" f sh -c ': > f'
chk "a0 m1 c1" g sh -c ': > g'   # O_TRUNC of an empty file still marks mtime and ctime
chk "a0 m0 c1" f chmod 644 f
chk "a0 m0 c1" f chown 0 f
chk "a1 m0 c1" f touch -a f
chk "a0 m1 c1" d mkdir d/x
chk "a0 m1 c1" d rmdir d/x
chk "a0 m1 c1" d touch d/y
chk "a0 m1 c1" d mv d/y d/z
chk "a0 m1 c1" d rm d/z
chk "a1 m0 c0" f cat f            # first read since the last change
chk "a0 m0 c0" f cat f            # relatime: not again
# The daemon tells the kernel of the new atime only when the kernel may read without asking it
# (after a READ it drops its atime itself): a file it has pages of, and an empty file.
head -c 8192 /dev/zero >p || fail "write p"   # whole pages: the kernel keeps them
chk "a1 m0 c0" p cat p
chk "a0 m0 c0" p cat p
chk "a1 m0 c0" g cat g            # nothing to read in an empty file, atime moves all the same
chk "a0 m0 c0" g cat g
dd if=/dev/zero of=p bs=4096 count=1 seek=1 conv=notrunc status=none || fail "rewrite p"
chk "a1 m0 c0" p cat p            # read from the page cache, first since the change
# changes that move only ctime owe the next read an atime too, also a read the kernel serves
# from its page cache (with kernel opens the daemon makes that read ask it first); no stat
# between the change and the read
chk "a1 m0 c1" p sh -c 'mv p p2 && mv p2 p && cat p'
chk "a1 m0 c1" p sh -c 'ln p p3 && rm p3 && cat p'
chk "a1 m0 c1" p sh -c 'setfattr -n user.t -v 1 p && cat p'
chk "a1 m0 c1" p sh -c 'chmod 600 p && cat p'
chk "a1 m0 c1" p sh -c 'chmod 644 p && dd if=p of=/dev/null bs=100 count=1 status=none'
chk "a0 m0 c0" p cat p
chk "a0 m1 c1" f sh -c 'echo x >> f'
chk "a1 m0 c0" d ls d
chk "a0 m0 c0" d ls d
chk "a1 m0 c0" s readlink s
chk "a0 m1 c1" d mkfifo d/ff
chk "a0 m1 c1" f fallocate -l 100 f
chk "a0 m1 c1" f fallocate -p -o 0 -l 2 f
# ext4 moves both on every fallocate (file_modified), also when nothing changes size or data
chk "a0 m1 c1" f fallocate -n -o 1M -l 64K f       # KEEP_SIZE past the end
chk "a0 m1 c1" f fallocate -n -o 0 -l 2 f          # KEEP_SIZE inside
chk "a0 m1 c1" f fallocate -p -o 1M -l 100000 f    # punch past the end
chk "a0 m1 c1" f fallocate -z -n -o 1M -l 100 f    # zero range past the end, KEEP_SIZE
chk "a0 m0 c1" f setfattr -n user.t -v one f
# The same value: ext4 changes nothing.  Under -o writeback=on the kernel moves ctime itself
# after every setxattr (fuse_update_ctime), whatever the daemon does.
case ",${LSMFS_OPTS:-}," in
*,writeback=on,*) ;;
*) chk "a0 m0 c0" f setfattr -n user.t -v one f ;;
esac
chk "a0 m0 c1" f setfattr -n user.t -v two f
chk "a0 m0 c1" f setfattr -x user.t f
# A file created write-only and not yet written, read by another process: atime moves, with
# no stat in between (lsmfs gives the creator's kernel long-lived attributes and has them
# dropped at the next request about another node: fs/atime_defer.h).
fresh_read() { # NAME CMD: CMD creates NAME write-only and reads it; then atime is after mtime
    local name=$1 a m
    shift
    sh -c "$*" >/dev/null 2>&1 || fail "'$*' failed"
    a=$(stat -c %x "$name") && m=$(stat -c %y "$name") || fail "stat $name"
    [[ "$a" > "$m" ]] || fail "'$*': atime $a not after mtime $m"
}
fresh_read n1 ': > n1 && sleep 0.02 && cat n1'
fresh_read d/n2 ': > d/n2 && sleep 0.02 && cat d/n2'
fresh_read n3 'exec 3>n3 && sleep 0.02 && cat n3'             # while the creator holds it
fresh_read n4 ': > n4 && sleep 0.02 && head -c 1 n4 && ls -l n4' # the read first, then a stat
# a day-old atime moves on read even if it is after mtime
touch -a -d '1 day ago' f && touch -m -d '2 days ago' f || fail "touch -d"
chk "a1 m0 c0" f cat f
# atime, not ctime, survives a remount
a=$(stat -c %x f)
if [ "$T_NATIVE" = 0 ]; then
    cd / && t_umount "$T_MNT" && t_mount "$T_TMP/store$T_FS_N" "$T_MNT" || fail remount
    cd "$T_MNT" || fail cd
    [ "$(stat -c %x f)" = "$a" ] || fail "atime after remount: $(stat -c %x f), expected $a"
fi
note "relatime table passed"

[ "$T_NATIVE" = 1 ] && exit 0

# The mount options.
opt_case() {
    local opts=$1 file_read=$2 second_read=$3 dir_read=$4
    cd /
    t_fs "$opts" || fail "mount -o $opts"
    cd "$T_MNT" || fail cd
    echo x >f && mkdir d || fail setup
    chk "$file_read" f cat f
    chk "$second_read" f cat f
    chk "$dir_read" d ls d
    note "-o $opts passed"
}
opt_case noatime "a0 m0 c0" "a0 m0 c0" "a0 m0 c0"
opt_case strictatime "a1 m0 c0" "a1 m0 c0" "a1 m0 c0"
opt_case nodiratime "a1 m0 c0" "a0 m0 c0" "a0 m0 c0"
exit 0
