#!/usr/bin/env bash
# tests/fs/crash.sh BUILD_DIR | --native DIR — SIGKILL the daemon during a write workload.
#
# Each round: mount the store, start two crashwriter processes (each in its own directory,
# logging every operation only after it completed: files written and closed, replaced via
# rename, deleted, directories made and renamed), let them run for a few seconds, kill -9 the
# daemon, clean up the dead mount (fusermount3 -u -z), remount and verify every round so far:
# every file recorded as closed is intact, nothing deleted reappears, no directory is
# half-renamed (also a 2,000-entry directory renamed back and forth by a third process).
# Then unmount cleanly and, if build/lsmfs-ctl exists, run `lsmfs-ctl check` on
# the store (must exit 0).  CRASH_ROUNDS (default 4) rounds.  In --native mode the writers are
# killed instead (this checks the workload and verifier themselves).
. "$(dirname "$0")/lib.sh" "$@"
cw=$(t_helper crashwriter)
mf=$(t_helper manyfiles)
ctl=$T_BUILD/lsmfs-ctl
store=$T_TMP/store
mnt=$T_TMP/mnt
rounds=${CRASH_ROUNDS:-4}
RANDOM=$T_SEED
note "seed $T_SEED, $rounds rounds"

verify_all() {   # verify_all UPTO: verify rounds 1..UPTO (prints the summary of round UPTO)
    local k w
    for k in $(seq 1 "$1"); do
        for w in 0 1; do
            "$cw" verify "$mnt/r$k/w$w" "$T_TMP/log.$k.$w" >"$T_TMP/verify.out" 2>&1 || {
                cat "$T_TMP/verify.out"; fail "round $k writer $w: verification failed after crash $1"; }
            [ "$k" = "$1" ] && tail -1 "$T_TMP/verify.out" | sed "s/^/[crash] round $k: /"
        done
    done
}

# A directory subtree (1,500 files + a subdirectory of 500) that a third process renames back
# and forth between ren/A and ren/B during every round: after each crash exactly one of the two
# names must exist, holding all 2,000 entries — a directory rename is all or nothing.
check_renamed() {
    local a=$mnt/ren/A b=$mnt/ren/B d n s
    if [ -d "$a" ] && [ ! -e "$b" ]; then d=$a; elif [ -d "$b" ] && [ ! -e "$a" ]; then d=$b
    else fail "round $1: ren/A and ren/B: $(ls -d "$a" "$b" 2>&1 | tr '\n' ' ') — a half-done directory rename"; fi
    n=$(ls -f "$d" | grep -c '^f')
    s=$(ls -f "$d/sub" | grep -c '^g')
    [ "$n" = 1500 ] && [ "$s" = 500 ] || fail "round $1: renamed directory $d holds $n + $s entries, expected 1500 + 500"
    note "round $1: renamed directory intact at $(basename "$d") (1500 + 500 entries)"
}

for round in $(seq 1 "$rounds"); do
    t_mount "$store" "$mnt" || fail "round $round: mount failed"
    mkdir -p "$mnt/r$round/w0" "$mnt/r$round/w1" || fail "mkdir"
    if [ "$round" = 1 ]; then
        mkdir -p "$mnt/ren/A/sub" && "$mf" create "$mnt/ren/A" f 0 1500 && "$mf" create "$mnt/ren/A/sub" g 0 500 ||
            fail "creating the directory to rename"
    fi
    : >"$T_TMP/renames"
    ( while :; do
        if [ -d "$mnt/ren/A" ]; then mv "$mnt/ren/A" "$mnt/ren/B" || exit 3; else mv "$mnt/ren/B" "$mnt/ren/A" || exit 3; fi
        echo >>"$T_TMP/renames"
      done ) 2>/dev/null &
    rn=$!
    "$cw" write "$mnt/r$round/w0" "$T_TMP/log.$round.0" $((T_SEED * 100 + round * 2)) 2>"$T_TMP/w0.err" &
    w0=$!
    "$cw" write "$mnt/r$round/w1" "$T_TMP/log.$round.1" $((T_SEED * 100 + round * 2 + 1)) 2>"$T_TMP/w1.err" &
    w1=$!
    ms=$((1500 + RANDOM % 3000))
    sleep "$(awk -v m="$ms" 'BEGIN{printf "%.3f", m/1000}')"
    kill -0 $w0 2>/dev/null && kill -0 $w1 2>/dev/null || { cat "$T_TMP"/w*.err; fail "round $round: a writer died before the kill"; }
    disown $w0 $w1 $rn   # they are about to be killed: no "Killed" job reports, please
    kill -0 $rn 2>/dev/null || fail "round $round: the renamer died before the kill"
    if [ "$T_NATIVE" = 1 ]; then
        kill -9 $w0 $w1 $rn
    else
        t_kill9 "$mnt" || fail "round $round: dead mount could not be cleaned up"
    fi
    # Writers now fail (ENOTCONN) or were killed; they must not hang.
    for p in $w0 $w1 $rn; do
        for i in $(seq 1 100); do kill -0 $p 2>/dev/null || break; sleep 0.1; done
        kill -0 $p 2>/dev/null && { kill -9 $p; fail "round $round: writer $p hung after the daemon was killed"; }
        wait $p 2>/dev/null
    done
    note "round $round: killed after ${ms} ms; $(grep -c '^C' "$T_TMP/log.$round.0") + $(grep -c '^C' "$T_TMP/log.$round.1") operations committed, $(wc -l <"$T_TMP/renames") directory renames"
    t_mount "$store" "$mnt" || fail "round $round: remount after SIGKILL failed"
    verify_all "$round"
    check_renamed "$round"
    t_umount "$mnt" || fail "round $round: clean unmount failed"
    if [ "$T_NATIVE" = 0 ] && [ -x "$ctl" ]; then
        timeout 120 "$ctl" check "$store" >"$T_TMP/check.out" 2>&1; rc=$?
        [ $rc = 0 ] || { tail -20 "$T_TMP/check.out"; fail "round $round: lsmfs-ctl check exited $rc"; }
        note "round $round: lsmfs-ctl check OK"
    fi
done
[ -x "$ctl" ] || note "no $ctl: store check skipped"
note PASS
