#!/usr/bin/env bash
# tests/fs/smoke_daemon.sh BUILD_DIR — F1's smoke test of the lsmfs daemon's own surfaces (the
# POSIX behaviour is F2's suites): start-up errors (one line, non-zero, nothing mounted), the
# control socket protocol (stat, stat-json, flush, compact, checkpoint, unknown command, mode
# 0600, refused for another uid), SIGTERM unmounting cleanly with every file kept, the
# checkpoint mounting as a copy, fscore_check through lsmfs-ctl on the closed store.
# Bounded (< 1 min), cleans up its mounts even on failure.
set -u
build=${1:-build}
lsmfs=$(cd "$(dirname "$build/lsmfs")" && pwd)/lsmfs
ctl=$build/lsmfs-ctl
tmp=$(mktemp -d /tmp/lsmfs-smoke.XXXXXX)
mounts=()
cleanup() {
    for m in "${mounts[@]}"; do fusermount3 -u -z "$m" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "[smoke_daemon] FAIL: $*"; exit 1; }
ok() { echo "ok   $*"; }
is_mounted() { grep -q " $1 fuse.lsmfs " /proc/mounts; }
# Wait until the daemon that owned store $1 has closed it (the LOCK file is free).
wait_closed() { for _ in $(seq 100); do fuser -s "$1/LOCK" 2>/dev/null || return 0; sleep 0.1; done; return 1; }
# One control request: send a line, print the reply.
ctl_req() {
    python3 - "$1" "$2" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(60)
s.connect(sys.argv[1])
s.sendall((sys.argv[2] + "\n").encode())
out = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    out += d
sys.stdout.write(out.decode())
EOF
}

st=$tmp/store mnt=$tmp/mnt
mkdir -p "$mnt" "$tmp/full"
touch "$tmp/full/x"

# --- start-up errors: one line on stderr, non-zero exit, no mount
for args in "$st $tmp/missing" "$st $tmp/full" "-o sync=bogus $st $mnt" "-o compaction=x $st $mnt"; do
    # shellcheck disable=SC2086
    out=$("$lsmfs" $args 2>&1); rc=$?
    [ $rc -ne 0 ] || fail "lsmfs $args exited 0"
    [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "lsmfs $args: not one line: $out"
    is_mounted "$mnt" && fail "lsmfs $args left a mount"
    ok "refused: lsmfs $args -> $out"
done

# --- mount, files, control socket
"$lsmfs" -o auto_unmount "$st" "$mnt" || fail "mount"
mounts+=("$mnt")
is_mounted "$mnt" || fail "not in /proc/mounts as fuse.lsmfs"
grep -q "^$(cd "$st" && pwd) $mnt fuse.lsmfs" /proc/mounts || fail "fsname is not the absolute store path"
ok "mounted, fsname = store path, type fuse.lsmfs"
out=$("$lsmfs" "$st" "$tmp/full" -o nonempty 2>&1) && fail "second daemon on the same store started"
ok "store in use refused: $out"
mkdir -p "$mnt/d/e"
head -c 300000 /dev/urandom >"$mnt/d/big"
echo small >"$mnt/d/e/small"
ln "$mnt/d/big" "$mnt/d/big.link"
sum_before=$(cd "$mnt" && find . -type f -exec md5sum {} + | sort)

sock=$st/control.sock
[ -S "$sock" ] || fail "no control socket"
[ "$(stat -c %a "$sock")" = 600 ] || fail "control socket mode $(stat -c %a "$sock")"
ok "control socket exists, mode 0600"
r=$(ctl_req "$sock" stat); [ "$(printf '%s\n' "$r" | tail -1)" = OK ] || fail "stat: $r"
[ "$(printf '%s\n' "$r" | wc -l)" -gt 1 ] || fail "stat printed nothing"
ok "stat: $(printf '%s\n' "$r" | wc -l) lines, OK"
r=$(ctl_req "$sock" stat-json)
printf '%s\n' "$r" | head -n -1 | python3 -c 'import json,sys; json.load(sys.stdin)' || fail "stat-json is not JSON: $r"
ok "stat-json parses"
r=$(ctl_req "$sock" flush); [ "$r" = OK ] || fail "flush: $r"
ok "flush"
r=$(ctl_req "$sock" compact)
printf '%s\n' "$r" | grep -q '^PROGRESS ' || fail "compact sent no PROGRESS: $r"
[ "$(printf '%s\n' "$r" | tail -1)" = OK ] || fail "compact: $r"
ok "compact with progress"
r=$(ctl_req "$sock" "checkpoint relative/dir"); case $r in ERR*) ;; *) fail "relative checkpoint accepted: $r" ;; esac
r=$(ctl_req "$sock" "frobnicate"); case $r in ERR*) ;; *) fail "unknown command accepted: $r" ;; esac
ok "bad requests answered with ERR"
r=$(ctl_req "$sock" "checkpoint $tmp/ckpt"); [ "$r" = OK ] || fail "checkpoint: $r"
ok "checkpoint"
if id nobody >/dev/null 2>&1; then
    chmod 0711 "$tmp" "$st"
    chmod 0666 "$sock"
    r=$(setpriv --reuid=nobody --regid=nogroup --clear-groups bash -c "$(declare -f ctl_req); ctl_req '$sock' stat" 2>&1)
    chmod 0600 "$sock"
    case $r in ERR*permission*) ok "other uid refused: $r" ;; *) fail "uid nobody was served: $r" ;; esac
fi

# --- SIGTERM: clean unmount, everything kept
pid=$(fuser "$st/LOCK" 2>/dev/null | tr -d ' ')
[ -n "$pid" ] || fail "cannot find the daemon's pid"
kill -TERM "$pid"
for _ in $(seq 100); do is_mounted "$mnt" || break; sleep 0.1; done
is_mounted "$mnt" && fail "still mounted after SIGTERM"
wait_closed "$st" || fail "store still locked after SIGTERM"
[ -e "$sock" ] && fail "control socket left behind"
ok "SIGTERM unmounted, store closed, socket removed"
"$lsmfs" -o auto_unmount "$st" "$mnt" || fail "remount"
sum_after=$(cd "$mnt" && find . -type f -exec md5sum {} + | sort)
[ "$sum_before" = "$sum_after" ] || fail "contents differ after SIGTERM + remount"
[ "$(stat -c %h "$mnt/d/big")" = 2 ] || fail "hard link count lost"
ok "contents identical after remount"
fusermount3 -u "$mnt"
wait_closed "$st" || fail "store still locked after unmount"

# --- the checkpoint is a mountable copy; the closed store passes lsmfs-ctl check
mkdir -p "$tmp/mnt2"
"$lsmfs" -o auto_unmount "$tmp/ckpt" "$tmp/mnt2" || fail "checkpoint does not mount"
mounts+=("$tmp/mnt2")
sum_ckpt=$(cd "$tmp/mnt2" && find . -type f -exec md5sum {} + | sort)
[ "$sum_before" = "$sum_ckpt" ] || fail "checkpoint contents differ"
fusermount3 -u "$tmp/mnt2"
ok "checkpoint mounts with identical contents"
if [ -x "$ctl" ]; then
    out=$("$ctl" check "$st" 2>&1) || fail "lsmfs-ctl check on a clean store: $out"
    ok "lsmfs-ctl check: $out"
fi
# --- fscore_check finds damage and --repair removes it (fsck exit codes of lsmfs-ctl check)
corrupt=$build/tests/fs/smoke_corrupt
if [ -x "$ctl" ] && [ -x "$corrupt" ]; then
    "$corrupt" "$st" || fail "could not damage the store"
    out=$("$ctl" check "$st" 2>&1); rc=$?
    [ $rc = 4 ] || fail "check of a damaged store exited $rc (want 4): $out"
    for what in "orphan chunk" "xattr of a missing inode" "open-but-unlinked"; do
        printf '%s\n' "$out" | grep -q "$what" || fail "check did not report '$what': $out"
    done
    ok "check reports the damage (exit 4)"
    out=$("$ctl" check --repair "$st" 2>&1); rc=$?
    [ $rc = 1 ] || fail "check --repair exited $rc (want 1): $out"
    out=$("$ctl" check "$st" 2>&1) || fail "store not clean after --repair: $out"
    ok "check --repair fixed it, then clean"
    "$lsmfs" -o auto_unmount "$st" "$mnt" || fail "mount after repair"
    sum_rep=$(cd "$mnt" && find . -type f -exec md5sum {} + | sort)
    [ "$sum_before" = "$sum_rep" ] || fail "contents changed by the repair"
    fusermount3 -u "$mnt"
    wait_closed "$st" || fail "store still locked after the last unmount"
    ok "contents intact after repair"
fi
echo "[smoke_daemon] PASS"
