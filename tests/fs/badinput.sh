#!/usr/bin/env bash
# tests/fs/badinput.sh BUILD_DIR — bad input to the daemon command (lsmfs only; in --native
# mode there is nothing to test and it passes trivially).
#
# `lsmfs STORE MNT` (backgrounding, as users run it) with: a missing mountpoint; a non-empty
# mountpoint (and then that -o nonempty works); a store already in use by another daemon; a
# corrupted store (bytes flipped in CURRENT, in the manifest only, in every file); a store path
# that is a regular file; a non-empty directory that is not a store; a store written by a newer
# lsmfs (format above 2); bad option values.  Each must print ONE error
# line on stderr, exit non-zero, and leave no mount and no daemon process behind.
. "$(dirname "$0")/lib.sh" "$@"
gen=$(t_helper gen)
[ "$T_NATIVE" = 1 ] && { note "PASS (native: nothing to test without the daemon)"; exit 0; }
[ -x "$T_LSMFS" ] || fail "daemon $T_LSMFS not built"

daemon_pids() {   # pids of lsmfs daemons whose command line names store $1 (a unique temp path)
    local p c
    for p in /proc/[0-9]*; do
        c=$({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null)
        case "$c" in *lsmfs*" $1 "*) echo "${p#/proc/}" ;; esac
    done
}
# bad_input DESC STORE MNT [ARGS...]: run the daemon in background mode; it must fail cleanly.
bad_input() {
    local desc=$1 store=$2 m=$3
    shift 3
    timeout 30 "$T_LSMFS" "$@" "$store" "$m" >"$T_TMP/out" 2>"$T_TMP/err"
    local rc=$? lines
    lines=$(grep -c . "$T_TMP/err")
    if t_is_mounted "$m"; then
        T_MOUNTS="$T_MOUNTS $m"; T_PIDS="$T_PIDS $(daemon_pids "$store")"
        fail "$desc: a mount was left behind (rc $rc)"
    fi
    local left="" p
    for p in $(daemon_pids "$store"); do
        case " $T_PIDS " in *" $p "*) ;; *) left="$left $p" ;; esac   # not a daemon we started
    done
    [ -n "$left" ] && { T_PIDS="$T_PIDS $left"; fail "$desc: daemon process(es) $left left running"; }
    [ $rc = 124 ] && fail "$desc: the command hung"
    [ $rc != 0 ] || fail "$desc: exit status 0"
    [ "$lines" = 1 ] || { cat "$T_TMP/err"; fail "$desc: $lines lines on stderr, expected one clear error line"; }
    note "$desc: rc $rc, '$(cat "$T_TMP/err")'"
}

good=$T_TMP/good
mkdir -p "$T_TMP/m1" "$T_TMP/m2"
bad_input "missing mountpoint" "$good" "$T_TMP/no/such/dir"
mkdir -p "$T_TMP/nonempty" && echo x >"$T_TMP/nonempty/file"
bad_input "non-empty mountpoint" "$good" "$T_TMP/nonempty"
t_mount "$good" "$T_TMP/nonempty" nonempty || fail "-o nonempty did not allow mounting over a non-empty dir"
echo data >"$T_TMP/nonempty/new" || fail "write on the nonempty mount"
bad_input "store in use by another daemon" "$good" "$T_TMP/m2"
[ "$(cat "$T_TMP/nonempty/new")" = data ] || fail "first mount broken by the refused second daemon"
t_umount "$T_TMP/nonempty" || fail "unmount of the nonempty mount"
[ -f "$T_TMP/nonempty/file" ] || fail "the directory's own file is gone after unmount"

# Bad option values: one line naming the option.  And the request loop without polling works.
for opt in poll_us=abc poll_us=-1 poll_us=2000000 memtable_size=12x compaction=sideways \
           readahead=1x readahead=2G readahead=512; do
    bad_input "-o $opt" "$good" "$T_TMP/m1" -o "$opt"
    grep -q "${opt%%=*}" "$T_TMP/err" || fail "-o $opt: the error does not name ${opt%%=*}"
done
t_mount "$good" "$T_TMP/m1" poll_us=0 || fail "mount with -o poll_us=0"
echo unpolled >"$T_TMP/m1/p" && [ "$(cat "$T_TMP/m1/p")" = unpolled ] || fail "write and read with poll_us=0"
t_umount "$T_TMP/m1" || fail "unmount of the poll_us=0 mount"

# The readahead window (fs/readahead.h): 1 MiB by default, as asked, or the kernel's own.
ra_kb() { local d; d=$(stat -c %d "$1") && cat "/sys/class/bdi/$((d >> 8)):$((d & 255))/read_ahead_kb"; }
if [ "$(id -u)" = 0 ]; then
    for want in :1024 readahead=4M:4096 readahead=192K:192; do
        t_mount "$good" "$T_TMP/m1" "${want%%:*}" || fail "mount with '${want%%:*}'"
        got=$(ra_kb "$T_TMP/m1")
        t_umount "$T_TMP/m1" || fail "unmount of the '${want%%:*}' mount"
        [ "$got" = "${want#*:}" ] || fail "'${want%%:*}': read_ahead_kb is $got, expected ${want#*:}"
    done
    t_mount "$good" "$T_TMP/m1" readahead=0 || fail "mount with readahead=0"
    got=$(ra_kb "$T_TMP/m1")
    t_umount "$T_TMP/m1" || fail "unmount of the readahead=0 mount"
    [ "$got" -lt 1024 ] || fail "readahead=0: read_ahead_kb is $got, expected the kernel's default"
    note "readahead: 1024 KiB by default, 4096 and 192 as asked, $got KiB (the kernel's) with 0"
fi

# Corrupted stores: write some data, unmount, copy the store, flip bytes in chosen files.
pristine=$T_TMP/pristine
t_mount "$pristine" "$T_TMP/m1" || fail "mount of the store to corrupt"
for i in $(seq 1 20); do "$gen" $((T_SEED + i)) 50K >"$T_TMP/m1/file$i"; done
t_umount "$T_TMP/m1" || fail "unmount of the store to corrupt"
note "store files: $(ls "$pristine" | tr '\n' ' ')"
corrupt() {   # corrupt LABEL GLOB: copy the pristine store, flip bytes in files matching GLOB
    local bad=$T_TMP/bad-$1 f size off n=0
    rm -rf "$bad"; cp -a "$pristine" "$bad"
    for f in "$bad"/$2; do
        [ -f "$f" ] || continue
        case "$(basename "$f")" in LOCK|*.sock) continue ;; esac
        size=$(stat -c %s "$f")
        [ "$size" -gt 0 ] || continue
        for off in 0 $((size / 2)) $((size - 1)); do
            printf '\xa5\x5a\xff' | dd of="$f" bs=1 seek="$off" conv=notrunc status=none 2>/dev/null
        done
        n=$((n + 1))
    done
    [ $n -gt 0 ] || fail "no store file matches $2"
    bad_input "corrupted store ($1)" "$bad" "$T_TMP/m1"
}
corrupt current 'CURRENT'
corrupt manifest 'MANIFEST-*'
corrupt all '*'

# Store formats: a store stays at format 1 until a file is preallocated past its end (format 2,
# which daemons before it must not write to); one from a newer lsmfs is refused, unrepaired.
fmt=$(t_helper storeformat)
fstore=$T_TMP/fmt
t_mount "$fstore" "$T_TMP/m1" || fail "mount of a new store"
echo small >"$T_TMP/m1/f" || fail "write"
t_umount "$T_TMP/m1" || fail "unmount"
[ "$("$fmt" "$fstore")" = 1 ] || fail "a new store has format $("$fmt" "$fstore"), not 1"
t_mount "$fstore" "$T_TMP/m1" || fail "remount"
fallocate -n -l 1M "$T_TMP/m1/f" || fail "fallocate -n past the end"
t_umount "$T_TMP/m1" || fail "unmount"
[ "$("$fmt" "$fstore")" = 2 ] || fail "preallocation left format $("$fmt" "$fstore"), not 2"
t_mount "$fstore" "$T_TMP/m1" || fail "mount of a format 2 store"
[ "$(cat "$T_TMP/m1/f")" = small ] && [ "$(stat -c %b "$T_TMP/m1/f")" -ge 2048 ] ||
    fail "the preallocated file after remount: $(stat -c '%s bytes, %b blocks' "$T_TMP/m1/f")"
t_umount "$T_TMP/m1" || fail "unmount"
"$fmt" "$fstore" 3 || fail "storeformat"
bad_input "store format from a newer lsmfs" "$fstore" "$T_TMP/m1"
grep -q newer "$T_TMP/err" || fail "the error does not say the store is newer"
"$T_BUILD/lsmfs-ctl" check --repair "$fstore" >/dev/null 2>&1; rc=$?
[ $rc = 8 ] || fail "lsmfs-ctl check --repair of a newer store exited $rc, not 8 (could not check)"
[ "$("$fmt" "$fstore")" = 3 ] || fail "the newer store was changed"

echo "not a directory" >"$T_TMP/plainfile"
bad_input "store path is a regular file" "$T_TMP/plainfile" "$T_TMP/m1"
mkdir -p "$T_TMP/notastore" && echo hello >"$T_TMP/notastore/readme.txt"
bad_input "non-empty directory that is not a store" "$T_TMP/notastore" "$T_TMP/m1"
[ "$(cat "$T_TMP/notastore/readme.txt")" = hello ] || fail "the non-store directory was modified"
note PASS
