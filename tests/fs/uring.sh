#!/usr/bin/env bash
# tests/fs/uring.sh BUILD_DIR — FUSE over io_uring (fs/fuse_uring.c).  The kernel offers it
# only while the fuse module's parameter enable_uring is Y; this test sets it (root) and puts
# the old value back when it ends, also on failure.
#   1. with the parameter Y, a mount serves every CREATE, WRITE, LOOKUP and READDIR of a small
#      workload through the rings (counted in the daemon's debug log: libfuse logs every
#      request, the rings log theirs), and FORGETs through /dev/fuse;
#   2. fsyncs of many processes at once all return (they run on helper threads, beside the
#      queue threads), and what they wrote reads back;
#   3. -o uring=off serves nothing through the rings; -o uring=on with the parameter N is
#      refused with one line and a non-zero exit, and nothing is mounted;
#   4. SIGTERM unmounts cleanly, and a SIGKILL during writes leaves a store that remounts
#      and that `lsmfs-ctl check` finds clean;
#   5. the user workflows, errno checks, atime table, persistence, crash and concurrency
#      suites and a shorter fsx run, all through the rings (URING_SUITES="a b ..." picks
#      fewer: the ThreadSanitizer pass runs concurrency alone).
. "$(dirname "$0")/lib.sh" "$@"
[ "$T_NATIVE" = 1 ] && { note "lsmfs only: nothing to do in native mode"; exit 0; }
here=$(cd "$(dirname "$0")" && pwd)
ctl=$T_BUILD/lsmfs-ctl
param=/sys/module/fuse/parameters/enable_uring
if [ ! -e "$param" ]; then
    note "this kernel has no FUSE over io_uring ($param): nothing to test"
    note PASS
    exit 0
fi
old=$(cat "$param")
T_EXTRA_CLEANUP2="echo '$old' >$param"
echo Y >"$param" || fail "cannot set $param (root?)"
log=$T_TMP/daemon.log
mark=0 # count only what the log got since the last `mark=$(wc -l <"$log")`
count() { tail -n +$((mark + 1)) "$log" | grep -c "$1"; }

# 1. Requests go through the rings.
t_fs "debug" || fail "mount with the rings"
# the queues register just after FUSE_INIT, which the mount already waited for
for _ in $(seq 50); do grep -q "FUSE over io_uring: [0-9]* queues" "$log" && break; sleep 0.1; done
grep -q "FUSE over io_uring: [0-9]* queues" "$log" || fail "the daemon did not start its rings"
cd "$T_MNT" || fail cd
mkdir d || fail mkdir
for i in $(seq 40); do echo "file $i" >"d/f$i" || fail "write d/f$i"; done
[ "$(ls d | wc -l)" = 40 ] || fail "ls d lists $(ls d | wc -l) entries"
[ "$(cat d/f17)" = "file 17" ] || fail "d/f17 reads '$(cat d/f17)'"
rm -r d || fail "rm -r"
cd /
sleep 0.3
for op in 35:CREATE 16:WRITE 1:LOOKUP 28:READDIR; do
    n=${op%%:*} name=${op#*:}
    all=$(count "opcode: $name ($n)") ring=$(count "^ring [0-9]*: unique [0-9]*, opcode $n\$")
    [ "$all" -ge 1 ] && [ "$ring" = "$all" ] ||
        fail "$name: $ring of $all requests came through the rings"
done
[ "$(count "^ring [0-9]*: unique [0-9]*, opcode 2\$")" = 0 ] ||
    fail "a FORGET came through a ring (the kernel sends them to /dev/fuse)"
t_umount "$T_MNT" || fail "unmount"
note "CREATE, WRITE, LOOKUP and READDIR all came through the rings"

# 2. Fsyncs of many processes at once.
t_fs || fail "mount for fsyncs"
for p in $(seq 8); do
    (for i in $(seq 20); do
        printf 'p%s i%s\n' "$p" "$i" >>"$T_MNT/s$p" && sync "$T_MNT/s$p" || exit 1
    done) &
done
for p in $(seq 8); do wait -n || fail "an fsync loop failed"; done
for p in $(seq 8); do
    [ "$(wc -l <"$T_MNT/s$p")" = 20 ] || fail "s$p has $(wc -l <"$T_MNT/s$p") lines, not 20"
done
t_umount "$T_MNT" || fail "unmount after fsyncs"
note "160 fsyncs from 8 processes at once returned, and their data reads back"

# 3. uring=off, and uring=on refused without the kernel's offer.
mark=$(wc -l <"$log")
t_fs "debug,uring=off" || fail "mount -o uring=off"
ls "$T_MNT" >/dev/null && echo x >"$T_MNT/x" || fail "write with uring=off"
sleep 0.2
[ "$(count '^ring ')" = 0 ] || fail "uring=off: requests came through the rings"
t_umount "$T_MNT" || fail "unmount uring=off"
echo N >"$param" || fail "cannot clear $param"
mkdir -p "$T_TMP/refused"
out=$(timeout 10 "$T_LSMFS" -f -o uring=on "$T_TMP/refused-store" "$T_TMP/refused" 2>&1)
rc=$?
echo Y >"$param" || fail "cannot set $param again"
[ "$rc" != 0 ] || fail "uring=on mounted without the kernel's offer"
[ "$(echo "$out" | wc -l)" = 1 ] && echo "$out" | grep -q "enable_uring" ||
    fail "uring=on without the offer said: $out"
t_is_mounted "$T_TMP/refused" && fail "uring=on without the offer left a mount"
note "uring=off uses /dev/fuse; uring=on without the offer is refused: $out"

# 4. SIGTERM, then SIGKILL during writes.
t_fs || fail "mount for signals"
store=$T_TMP/store$T_FS_N
echo kept >"$T_MNT/kept" || fail "write kept"
pid=$(_t_pid_of "$T_MNT")
kill -TERM "$pid"
for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "the daemon is alive 10 s after SIGTERM"
wait "$pid" 2>/dev/null
t_is_mounted "$T_MNT" && fail "SIGTERM left the mount"
t_mount "$store" "$T_MNT" || fail "remount after SIGTERM"
[ "$(cat "$T_MNT/kept")" = kept ] || fail "kept reads '$(cat "$T_MNT/kept")' after SIGTERM"
(for i in $(seq 2000); do echo "line $i" >"$T_MNT/w$((i % 50))" || exit 0; done) &
writer=$!
sleep 0.5
t_kill9 "$T_MNT" || fail "kill -9"
wait "$writer" 2>/dev/null
"$ctl" check "$store" >"$T_TMP/check.out" 2>&1 || { cat "$T_TMP/check.out" >&2; fail "check after SIGKILL"; }
t_mount "$store" "$T_MNT" || fail "remount after SIGKILL"
[ "$(cat "$T_MNT/kept")" = kept ] || fail "kept reads '$(cat "$T_MNT/kept")' after SIGKILL"
t_umount "$T_MNT" || fail "unmount after SIGKILL"
note "SIGTERM unmounts cleanly; after a SIGKILL during writes the store checks clean"

# 5. The other suites through the rings.
for s in ${URING_SUITES:-workflows errno times persistence crash concurrency fsx}; do
    [ "$s" = fsx ] && continue
    CONC_SECS=8 bash "$here/$s.sh" "$T_BUILD" >"$T_TMP/$s.log" 2>&1 ||
        { tail -20 "$T_TMP/$s.log" >&2; fail "$s suite through the rings"; }
    note "$s suite passed through the rings"
done
case " ${URING_SUITES:-fsx} " in *" fsx "*)
    FSX_OPS=20000 FSX_SMALL_OPS=5000 FSX_TWO_OPS=10000 bash "$here/fsx.sh" "$T_BUILD" >"$T_TMP/fsx.log" 2>&1 ||
        { tail -20 "$T_TMP/fsx.log" >&2; fail "fsx through the rings"; }
    note "fsx passed through the rings" ;;
esac
note PASS
