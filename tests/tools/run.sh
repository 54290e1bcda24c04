#!/usr/bin/env bash
# tests/tools/run.sh BUILD_DIR — integration tests of mount-tools and packaging.
#
#   ctl_usage      every lsmfs-ctl subcommand answers --help (0); bad command lines exit 2
#   ctl_kv         put/get/ls/scan/rm on an unmounted store; --json parsed with jq; exit 3 on
#                  missing paths; stat/compact/checkpoint offline; check on a good store exits 0
#   ctl_transfer   import DIR STORE + export STORE DIR round trip: diff -r byte for byte, and
#                  types, modes, link counts, sizes, symlink targets, mtimes identical
#   ctl_check      a flipped byte in an .sst: check exits 4 naming the file; --repair then
#                  leaves a store that checks clean
#   ctl_check_manifest  a damaged MANIFEST: check exits 4 naming it, --repair 1, then clean and
#                  the data identical to the source tree
#   ctl_fsrepair   an orphan chunk planted through liblsm: check exits 4 with an fs-level report,
#                  --repair exits 1, then check exits 0 and the files are intact
#   ctl_mounted    stat/compact/checkpoint on a live mount (by mount point and by store), the
#                  offline commands refuse it (exit 4 naming the mount point), the checkpoint
#                  opens offline with the files written through the mount
#   store_privacy  store directory 0700, its files and control socket 0600, another user cannot
#                  use the control channel (issue 5)
#   mount_helper   real `mount -t fuse.lsmfs` / `mount -t lsmfs` / `umount`, and
#                  `mount -T TMPFSTAB -a` over a temporary fstab line (root only)
#   install        `make install DESTDIR=... PREFIX=/usr` layout; install to a temp prefix, build
#                  and run a C program with `pkg-config --cflags --libs liblsm`; uninstall
#   deb            `make deb`, dpkg -i, mount with the installed binaries, use it, unmount,
#                  dpkg -r (root only, and only if no lsmfs package is installed already)
#
# Bounded: every daemon/tool call runs under `timeout`; mounts use -o auto_unmount and the EXIT
# trap unmounts whatever is still mounted below our temp dir, removes the temporary mount
# helper links and the test package.  Set TOOLS_TESTS="ctl_kv deb" to run a subset.
set -u

BUILD_ARG=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$ROOT" && cd "$BUILD_ARG" 2>/dev/null && pwd) || { echo "no build dir $BUILD_ARG" >&2; exit 2; }
CTL=$BUILD/lsmfs-ctl
LSMFS=$BUILD/lsmfs
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lsmfs-tools.XXXXXX")
CREATED_LINKS=""
DEB_INSTALLED=0
FAILED=""
PASSED=""
SKIPPED=""

note() { echo "  [$CUR] $*"; }
fail() { echo "  [$CUR] FAIL: $*" >&2; return 1; }

# umount returns before the FUSE daemon has flushed and closed its store; wait for the store's
# lock (flock on STORE/LOCK, as liblsm takes it) to be free before the next open of the store.
wait_released() { [ ! -e "$1/LOCK" ] || flock -w 20 "$1/LOCK" true; }

mounted_at() { awk -v m="$1" '$2 == m && $3 ~ /^fuse/ { found = 1 } END { exit !found }' /proc/mounts; }

unmount() {
    local m=$1 i
    mounted_at "$m" || return 0
    fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null
    for i in $(seq 1 100); do mounted_at "$m" || return 0; sleep 0.1; done
    fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
    return 1
}

cleanup() {
    local m
    for m in $(awk -v t="$TMP" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r); do
        fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
    done
    # Unmounted daemons still flush and close their stores: wait for their locks before rm.
    find "$TMP" -name LOCK -type f 2>/dev/null | while read -r l; do flock -w 20 "$l" true; done
    for l in $CREATED_LINKS; do rm -f "$l"; done
    if [ "$DEB_INSTALLED" = 1 ]; then dpkg -r lsmfs >/dev/null 2>&1; fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ctl() { timeout 300 "$CTL" "$@"; }
# Start the daemon; it returns once the mount is ready.
mount_lsmfs() { timeout 60 "$LSMFS" -o auto_unmount "$@"; }

# ----------------------------------------------------------------------------------------------

test_ctl_usage() {
    local c rc
    "$CTL" --help >/dev/null || { fail "lsmfs-ctl --help"; return 1; }
    "$CTL" --version | grep -q lsmfs-ctl || { fail "--version"; return 1; }
    for c in stat compact check checkpoint get put rm ls scan import export; do
        "$CTL" "$c" --help | grep -q "usage: lsmfs-ctl $c" || { fail "$c --help"; return 1; }
    done
    "$CTL" frobnicate >/dev/null 2>&1; rc=$?
    [ "$rc" = 2 ] || { fail "unknown command exit $rc, want 2"; return 1; }
    "$CTL" get >/dev/null 2>&1; rc=$?
    [ "$rc" = 2 ] || { fail "get without args exit $rc, want 2"; return 1; }
    "$CTL" check >/dev/null 2>&1; rc=$?
    [ "$rc" = 16 ] || { fail "check without args exit $rc, want 16 (fsck usage)"; return 1; }
    "$CTL" stat "$TMP/does-not-exist" >/dev/null 2>&1; rc=$?
    [ "$rc" = 1 ] || { fail "stat of a missing store exit $rc, want 1"; return 1; }
}

test_ctl_kv() {
    local S=$TMP/kv-store out rc
    printf 'hello\n' | ctl put "$S" /hello.txt || { fail "put from stdin"; return 1; }
    head -c 3000000 /dev/urandom > "$TMP/big.bin"
    ctl put -p "$S" /a/b/c/big.bin "$TMP/big.bin" || { fail "put -p big file"; return 1; }
    ctl put --mode 600 "$S" /a/secret "$TMP/big.bin" || { fail "put --mode"; return 1; }
    out=$(ctl get "$S" /hello.txt) && [ "$out" = hello ] || { fail "get hello: '$out'"; return 1; }
    ctl get "$S" /a/b/c/big.bin | cmp - "$TMP/big.bin" || { fail "get big differs"; return 1; }
    ctl get "$S" /missing >/dev/null 2>&1; rc=$?
    [ "$rc" = 3 ] || { fail "get missing exit $rc, want 3"; return 1; }
    ctl get "$S" relative >/dev/null 2>&1; rc=$?
    [ "$rc" = 2 ] || { fail "get relative path exit $rc, want 2"; return 1; }
    out=$(ctl ls "$S" /) && [ "$out" = "$(printf 'a\nhello.txt')" ] || { fail "ls /: '$out'"; return 1; }
    ctl ls -l "$S" /a | grep -q '^-rw------- .* secret$' || { fail "ls -l mode of /a/secret"; return 1; }
    ctl ls --json "$S" /a | jq -e 'length == 2 and .[0].name == "b" and .[0].type == "dir"
        and .[1].name == "secret" and .[1].mode == "0600" and .[1].size == 3000000' >/dev/null \
        || { fail "ls --json"; return 1; }
    out=$(ctl scan "$S" | awk '{ print $1, $3 }' | tr '\n' ' ')
    [ "$out" = "d /a d /a/b d /a/b/c - /a/b/c/big.bin - /a/secret - /hello.txt " ] \
        || { fail "scan: '$out'"; return 1; }
    ctl scan --json --prefix /a/b "$S" | jq -e '[.[].path] == ["/a/b/c", "/a/b/c/big.bin"]' \
        >/dev/null || { fail "scan --prefix --json"; return 1; }
    [ "$(ctl scan --raw "$S" | wc -l)" -ge 6 ] || { fail "scan --raw lists too few keys"; return 1; }
    ctl scan --raw --json "$S" | jq -e 'length >= 6 and all(.[]; has("key") and has("value_len"))' \
        >/dev/null || { fail "scan --raw --json"; return 1; }
    # root's children are exactly the keys 'E' '\0' NAME (fs/SCHEMA.md)
    out=$(ctl scan --raw --prefix 'E\x00' "$S" | cut -f1 | tr '\n' ' ')
    [ "$out" = 'E\x00a E\x00hello.txt ' ] || { fail "scan --raw --prefix 'E\\x00': '$out'"; return 1; }
    ctl scan --raw --values --prefix 'E\x00hello' "$S" | grep -q 'hello\\x0a' \
        || { fail "scan --raw --values does not show the inline contents"; return 1; }
    ctl scan --raw --prefix 'E\x0' "$S" >/dev/null 2>&1; rc=$?
    [ "$rc" = 2 ] || { fail "bad escape in --prefix exit $rc, want 2"; return 1; }
    ctl rm "$S" /a >/dev/null 2>&1; rc=$?
    [ "$rc" = 1 ] || { fail "rm of a non-empty dir without -r exit $rc, want 1"; return 1; }
    ctl rm "$S" /hello.txt && ctl rm -r "$S" /a/b || { fail "rm / rm -r"; return 1; }
    ctl rm "$S" /hello.txt 2>/dev/null; rc=$?
    [ "$rc" = 3 ] || { fail "rm missing exit $rc, want 3"; return 1; }
    out=$(ctl ls "$S") && [ "$out" = a ] || { fail "after rm: '$out'"; return 1; }
    # statistics and maintenance on the unmounted store
    ctl stat "$S" | grep -q "not mounted" || { fail "stat text"; return 1; }
    ctl stat --json "$S" | jq -e '.mounted == false and (.stats | type) == "object"' >/dev/null \
        || { fail "stat --json"; return 1; }
    ctl compact --json "$S" | jq -e '.status == "ok" and .mounted == false' >/dev/null \
        || { fail "compact"; return 1; }
    ctl checkpoint "$S" "$TMP/kv-ckpt" >/dev/null || { fail "checkpoint offline"; return 1; }
    ctl get "$TMP/kv-ckpt" /a/secret | cmp - "$TMP/big.bin" || { fail "checkpoint content"; return 1; }
    ctl checkpoint "$S" "$TMP/kv-ckpt" >/dev/null 2>&1 && { fail "checkpoint over an existing dest"; return 1; }
    ctl check "$S" >/dev/null; rc=$?
    [ "$rc" = 0 ] || { fail "check of a good store exit $rc, want 0"; return 1; }
    ctl check --json "$TMP/kv-ckpt" | jq -e '.exit == 0 and .problems_found == 0' >/dev/null \
        || { fail "check --json of the checkpoint"; return 1; }
}

# A tree with nested dirs, small/empty/large/sparse files, symlinks, hard links, odd names.
make_tree() {
    local d=$1
    mkdir -p "$d/sub/deeper/deepest" "$d/empty dir" "$d/ünïcødé"
    printf 'small\n' > "$d/small.txt"
    : > "$d/empty"
    head -c 12000000 /dev/urandom > "$d/sub/large.bin"
    head -c 70000 /dev/urandom > "$d/sub/deeper/medium.bin"
    truncate -s 20M "$d/sparse.img"
    printf 'tail' | dd of="$d/sparse.img" bs=1 seek=15000000 conv=notrunc status=none
    printf 'x%.0s' $(seq 1 5000) > "$d/sub/deeper/deepest/x.txt"
    printf 'spaces\n' > "$d/with  spaces and\ttab"
    printf 'nl\n' > "$d/new
line"
    printf 'utf\n' > "$d/ünïcødé/日本語.txt"
    ln -s small.txt "$d/link-to-small"
    ln -s /nonexistent/target "$d/dangling"
    ln -s ../.. "$d/sub/deeper/up"
    ln "$d/small.txt" "$d/sub/hardlink-to-small"
    ln "$d/sub/large.bin" "$d/sub/deeper/hardlink-large"
    mkfifo "$d/fifo"
    chmod 0750 "$d/sub"; chmod 0600 "$d/sub/large.bin"; chmod 0755 "$d/small.txt"
    touch -d '2020-02-02 02:02:02.123456789' "$d/empty" "$d/sub/deeper/medium.bin"
}

# Types, modes, link counts, sizes, symlink targets, mtimes (ns) of every entry below $1.
describe_tree() {
    (cd "$1" && find . -mindepth 1 -printf '%P|%y|%m|%n|%s|%l|%T@\n' | LC_ALL=C sort) \
        | awk -F'|' '{ if ($2 == "d") $5 = "-"; print }' OFS='|'
}

test_ctl_transfer() {
    local src=$TMP/tree S=$TMP/imported out=$TMP/exported
    make_tree "$src"
    ctl import "$src" "$S" >/dev/null || { fail "import"; return 1; }
    ctl import "$src" "$S" >/dev/null 2>&1 && { fail "import into an existing store succeeded"; return 1; }
    ctl export "$S" "$out" >/dev/null || { fail "export"; return 1; }
    # (diff cannot compare FIFOs; describe_tree checks the FIFO's type and mode)
    diff -r --no-dereference --exclude=fifo "$src" "$out" || { fail "diff -r after import/export"; return 1; }
    diff <(describe_tree "$src") <(describe_tree "$out") \
        || { fail "types/modes/links/sizes/targets/mtimes differ"; return 1; }
    [ "$(stat -c %b "$out/sparse.img")" -lt 4096 ] || { fail "sparse file exported dense"; return 1; }
    ctl export --json "$S" "$TMP/exported2" | jq -e '.hardlinks == 2 and .symlinks == 3' >/dev/null \
        || { fail "export --json counts"; return 1; }
    ctl check "$S" >/dev/null || { fail "check after import"; return 1; }
    # progress: a bar on a terminal (script(1) gives us one), nothing when stderr is a file
    ctl import "$src" "$TMP/imported-quiet" 2>"$TMP/import.err" >/dev/null || { fail "import (2)"; return 1; }
    [ ! -s "$TMP/import.err" ] || { fail "progress output without a terminal: $(cat -v "$TMP/import.err")"; return 1; }
    if command -v script >/dev/null; then
        script -qec "$CTL check $S" "$TMP/typescript" >/dev/null 2>&1 \
            || { fail "check under script(1)"; return 1; }
        grep -q 'verifying \[#' "$TMP/typescript" || { fail "no progress bar on a terminal"; return 1; }
    fi
}

test_ctl_check() {
    local S=$TMP/corrupt sst out rc
    make_tree "$TMP/ctree"
    ctl import "$TMP/ctree" "$S" >/dev/null || { fail "import"; return 1; }
    ctl check "$S" >/dev/null || { fail "check before corruption"; return 1; }
    sst=$(find "$S" -name '*.sst' -size +100k | head -1)
    [ -n "$sst" ] || { fail "no .sst file of at least 100 KiB in the store"; return 1; }
    local size; size=$(stat -c %s "$sst")
    local off=$((size / 2)) byte
    byte=$(od -An -tu1 -j "$off" -N1 "$sst" | tr -d ' ')
    printf "$(printf '\\%03o' $(( (byte ^ 0x55) & 255 )))" \
        | dd of="$sst" bs=1 seek="$off" conv=notrunc status=none
    out=$(ctl check "$S" 2>&1); rc=$?
    [ "$rc" = 4 ] || { fail "check of a corrupted store exit $rc, want 4: $out"; return 1; }
    echo "$out" | grep -q "$(basename "$sst")" || { fail "check output does not name $(basename "$sst"): $out"; return 1; }
    ctl check --json "$S" | jq -e '.exit == 4 and .problems_found > 0' >/dev/null \
        || { fail "check --json on the corrupted store"; return 1; }
    out=$(ctl check --repair "$S" 2>&1); rc=$?
    [ "$rc" = 1 ] || { fail "check --repair exit $rc, want 1: $out"; return 1; }
    out=$(ctl check "$S" 2>&1); rc=$?
    [ "$rc" = 0 ] || { fail "check after repair exit $rc, want 0: $out"; return 1; }
    ctl ls "$S" / >/dev/null || { fail "ls after repair"; return 1; }
    ctl check "$TMP/no-such-store" >/dev/null 2>&1; rc=$?
    [ "$rc" = 8 ] || { fail "check of a missing store exit $rc, want 8"; return 1; }
}

# Filesystem-level damage the engine cannot see: an orphan chunk (a 'C' key whose inode has
# no entry, fs/SCHEMA.md) planted through liblsm.  check finds it (4), --repair removes it (1),
# then the store is clean (0) and its files are intact.
# A damaged manifest (the list of live tables): check exits 4 naming it, --repair rebuilds it
# from the tables (exit 1), then the store checks clean and exports identical to the source.
test_ctl_check_manifest() {
    local S=$TMP/badmanifest out rc m
    make_tree "$TMP/mtree"
    ctl import "$TMP/mtree" "$S" >/dev/null || { fail "import"; return 1; }
    m=$(cd "$S" && ls MANIFEST-* | head -1)
    [ -n "$m" ] || { fail "no MANIFEST file"; return 1; }
    printf 'Z' | dd of="$S/$m" bs=1 seek=10 conv=notrunc status=none
    out=$(ctl check "$S" 2>&1); rc=$?
    [ "$rc" = 4 ] || { fail "check with a damaged manifest exit $rc, want 4: $out"; return 1; }
    echo "$out" | grep -q "$m" || { fail "check output does not name $m: $out"; return 1; }
    out=$(ctl check --repair "$S" 2>&1); rc=$?
    [ "$rc" = 1 ] || { fail "check --repair exit $rc, want 1: $out"; return 1; }
    out=$(ctl check "$S" 2>&1); rc=$?
    [ "$rc" = 0 ] || { fail "check after repair exit $rc, want 0: $out"; return 1; }
    ctl export "$S" "$TMP/mtree-out" >/dev/null || { fail "export after repair"; return 1; }
    diff -r --no-dereference --exclude=fifo "$TMP/mtree" "$TMP/mtree-out" || { fail "data differs after repair"; return 1; }
}

test_ctl_fsrepair() {
    local S=$TMP/fsrepair out rc
    printf 'keep me\n' | ctl put "$S" /keep || { fail "put"; return 1; }
    cat > "$TMP/orphan.c" <<'EOF'
#include <lsm.h>
#include <stdio.h>
int main(int argc, char **argv)
{
    /* 'C' + be64(ino) + be64(index): an inode number no entry uses */
    const unsigned char key[17] = {'C', 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 0, 0, 0, 0, 0, 0};
    lsm_db *db;
    lsm_options opt;
    lsm_options_init(&opt);
    opt.create_if_missing = 0;
    if (argc != 2 || lsm_open(argv[1], &opt, &db) != 0) { fprintf(stderr, "open: %s\n", lsm_last_error()); return 1; }
    if (lsm_put(db, NULL, key, sizeof key, "orphan", 6) != 0) return 1;
    return lsm_close(db) != 0;
}
EOF
    local san=
    case $BUILD in */asan) san="-fsanitize=address,undefined" ;; */tsan) san="-fsanitize=thread" ;; esac
    cc $san -I"$ROOT/lsm/include" "$TMP/orphan.c" -o "$TMP/orphan" "$BUILD/liblsm.a" -llz4 -lpthread \
        || { fail "build the orphan planter"; return 1; }
    "$TMP/orphan" "$S" || { fail "plant the orphan chunk"; return 1; }
    out=$(ctl check "$S" 2>&1); rc=$?
    [ "$rc" = 4 ] || { fail "check with an orphan chunk exit $rc, want 4: $out"; return 1; }
    echo "$out" | grep -q '^fs: ' || { fail "no fs-level report: $out"; return 1; }
    out=$(ctl check --repair "$S" 2>&1); rc=$?
    [ "$rc" = 1 ] || { fail "check --repair exit $rc, want 1: $out"; return 1; }
    out=$(ctl check --json "$S"); rc=$?
    [ "$rc" = 0 ] || { fail "check after repair exit $rc, want 0: $out"; return 1; }
    [ "$(ctl get "$S" /keep)" = "keep me" ] || { fail "file lost by the repair"; return 1; }
    ctl scan --raw "$S" | grep -q '^C\\x7f' && { fail "orphan chunk still there"; return 1; }
    return 0
}

test_ctl_mounted() {
    local S=$TMP/live M=$TMP/live-mnt out rc
    mkdir -p "$M"
    mount_lsmfs "$S" "$M" || { fail "lsmfs did not mount"; return 1; }
    mounted_at "$M" || { fail "not in /proc/mounts"; return 1; }
    for i in $(seq 1 200); do printf 'file %d\n' "$i" > "$M/f$i"; done
    mkdir "$M/dir" && head -c 1000000 /dev/urandom > "$M/dir/blob"
    ctl stat "$M" | grep -q "mounted at $M" || { fail "stat by mount point"; return 1; }
    ctl stat --json "$M" | jq -e --arg s "$S" --arg m "$M" \
        '.mounted == true and .store == $s and .mountpoint == $m and (.stats | type) == "object"' \
        >/dev/null || { fail "stat --json by mount point"; return 1; }
    ctl stat --json "$S" | jq -e '.mounted == true' >/dev/null || { fail "stat by store path"; return 1; }
    ctl compact "$M" >/dev/null || { fail "compact on the mount"; return 1; }
    ctl compact --json "$S" | jq -e '.mounted == true and .status == "ok"' >/dev/null \
        || { fail "compact --json by store path"; return 1; }
    ctl checkpoint "$M" "$TMP/live-ckpt" >/dev/null || { fail "checkpoint of the mount"; return 1; }
    out=$(ctl ls "$S" 2>&1); rc=$?
    [ "$rc" = 4 ] || { fail "ls on a mounted store exit $rc, want 4"; return 1; }
    echo "$out" | grep -q "mounted at $M" || { fail "message does not name the mount point: $out"; return 1; }
    ctl check "$S" >/dev/null 2>&1; rc=$?
    [ "$rc" = 8 ] || { fail "check of a mounted store exit $rc, want 8"; return 1; }
    echo "after checkpoint" > "$M/late"
    cmp "$M/dir/blob" <(ctl get "$TMP/live-ckpt" /dir/blob) || { fail "checkpoint blob"; return 1; }
    [ "$(ctl get "$TMP/live-ckpt" /f200)" = "file 200" ] || { fail "checkpoint small file"; return 1; }
    ctl get "$TMP/live-ckpt" /late >/dev/null 2>&1; rc=$?
    [ "$rc" = 3 ] || { fail "checkpoint contains a file written after it (exit $rc)"; return 1; }
    ctl check "$TMP/live-ckpt" >/dev/null || { fail "checkpoint does not check clean"; return 1; }
    unmount "$M" || { fail "unmount"; return 1; }
    [ "$(ctl get "$S" /late)" = "after checkpoint" ] || { fail "data after unmount"; return 1; }
    ctl check "$S" >/dev/null || { fail "check after unmount"; return 1; }
}

# Make mount(8) find our helper: it only looks in /sbin.  Link the build's helper there for the
# test (removed at exit) unless a helper is already installed, which we leave alone.
link_helper() {
    local name
    for name in mount.lsmfs mount.fuse.lsmfs; do
        if [ -e "/sbin/$name" ] || [ -L "/sbin/$name" ]; then
            note "/sbin/$name already exists (installed?): not replacing it"
            return 1
        fi
    done
    for name in mount.lsmfs mount.fuse.lsmfs; do
        ln -s "$BUILD/mount.lsmfs" "/sbin/$name" || return 1
        CREATED_LINKS="$CREATED_LINKS /sbin/$name"
    done
}

unlink_helper() {
    for l in $CREATED_LINKS; do rm -f "$l"; done
    CREATED_LINKS=""
}

test_store_privacy() {
    local S=$TMP/private M=$TMP/private-mnt out
    mkdir -p "$M"
    mount_lsmfs "$S" "$M" || { fail "lsmfs did not mount"; return 1; }
    head -c 300000 /dev/urandom > "$M/data"
    ctl compact "$M" >/dev/null || { fail "compact (to get table files)"; return 1; }
    [ "$(stat -c %a "$S")" = 700 ] || { fail "store directory mode $(stat -c %a "$S"), want 700"; return 1; }
    [ "$(stat -c %a "$S/control.sock")" = 600 ] || { fail "control.sock mode, want 600"; return 1; }
    if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
        setpriv --reuid=nobody --regid=nogroup --clear-groups "$CTL" stat "$M" >/dev/null 2>&1 \
            && { fail "user nobody could read the daemon's statistics"; return 1; }
    fi
    out=$(find "$S" -type f ! -perm 0600 -printf '%P:%m ')
    [ -z "$out" ] || { fail "store files not 0600: $out"; return 1; }
    unmount "$M" || { fail "unmount"; return 1; }
}

test_mount_helper() {
    local S=$TMP/fstab-store M=$TMP/fstab-mnt out
    if [ "$(id -u)" != 0 ]; then echo "SKIP (needs root for mount(8))"; return 77; fi
    link_helper || { echo "SKIP (a mount helper is already installed in /sbin)"; return 77; }
    mkdir -p "$M"
    # the helper itself: -f prints the daemon command with mount-only options filtered out
    out=$(PATH="$BUILD:$PATH" "$BUILD/mount.lsmfs" "$S" "$M" -f -o rw,noauto,user,_netdev,nofail,x-systemd.automount,memtable_size=1048576,allow_other 2>&1)
    echo "$out" | grep -q -- "-o memtable_size=1048576,allow_other$" \
        || { fail "option filtering: $out"; unlink_helper; return 1; }
    # mount -t fuse.lsmfs (helper mount.fuse.lsmfs)
    PATH="$BUILD:$PATH" timeout 60 mount -t fuse.lsmfs "$S" "$M" -o auto_unmount,_netdev,memtable_size=1048576 \
        || { fail "mount -t fuse.lsmfs"; unlink_helper; return 1; }
    mounted_at "$M" || { fail "mount -t fuse.lsmfs: nothing mounted"; unlink_helper; return 1; }
    awk -v m="$M" -v s="$S" '$2 == m && $1 == s && $3 == "fuse.lsmfs"' /proc/mounts | grep -q . \
        || { fail "/proc/mounts does not show '$S $M fuse.lsmfs'"; unlink_helper; return 1; }
    echo one > "$M/one" && [ "$(cat "$M/one")" = one ] || { fail "use the mount"; unlink_helper; return 1; }
    timeout 60 umount "$M" || { fail "umount"; unlink_helper; return 1; }
    mounted_at "$M" && { fail "still mounted after umount"; unlink_helper; return 1; }
    wait_released "$S" || { fail "daemon did not release the store after umount"; unlink_helper; return 1; }
    # mount -t lsmfs (helper mount.lsmfs)
    PATH="$BUILD:$PATH" timeout 60 mount -t lsmfs "$S" "$M" -o auto_unmount \
        || { fail "mount -t lsmfs"; unlink_helper; return 1; }
    [ "$(cat "$M/one")" = one ] || { fail "data after remount"; unlink_helper; return 1; }
    timeout 60 umount "$M" || { fail "umount (2)"; unlink_helper; return 1; }
    wait_released "$S" || { fail "store not released (2)"; unlink_helper; return 1; }
    # fstab: mount -T FILE -a, then by mount point alone
    printf '# test fstab\n%s %s fuse.lsmfs defaults,_netdev,nofail,auto_unmount,compaction=tiered 0 0\n' \
        "$S" "$M" > "$TMP/fstab"
    PATH="$BUILD:$PATH" timeout 60 mount -T "$TMP/fstab" -a || { fail "mount -T fstab -a"; unlink_helper; return 1; }
    mounted_at "$M" || { fail "mount -a: nothing mounted"; unlink_helper; return 1; }
    echo two > "$M/two"
    timeout 60 umount "$M" || { fail "umount after mount -a"; unlink_helper; return 1; }
    wait_released "$S" || { fail "store not released (3)"; unlink_helper; return 1; }
    PATH="$BUILD:$PATH" timeout 60 mount -T "$TMP/fstab" "$M" || { fail "mount -T fstab MNT"; unlink_helper; return 1; }
    [ "$(cat "$M/two")" = two ] || { fail "data after fstab remount"; unlink_helper; return 1; }
    timeout 60 umount "$M" || { fail "umount (3)"; unlink_helper; return 1; }
    unlink_helper
    [ "$(ctl get "$S" /two)" = two ] || { fail "offline get after umount"; return 1; }
}

test_install() {
    local D=$TMP/destdir P=$TMP/prefix f
    if [ "$BUILD" != "$ROOT/build" ]; then echo "SKIP (packaging is tested on the plain build only)"; return 77; fi
    make -s -C "$ROOT" install DESTDIR="$D" PREFIX=/usr >"$TMP/install.log" 2>&1 \
        || { cat "$TMP/install.log"; fail "make install DESTDIR"; return 1; }
    for f in usr/bin/lsmfs usr/bin/lsmfs-ctl usr/sbin/mount.lsmfs usr/lib/liblsm.a \
             usr/lib/liblsm.so.0.1.0 usr/include/lsm.h usr/lib/pkgconfig/liblsm.pc \
             usr/share/man/man8/lsmfs.8 usr/share/man/man8/mount.lsmfs.8 usr/share/man/man8/lsmfs-ctl.8; do
        [ -f "$D/$f" ] || { fail "missing $f"; return 1; }
    done
    [ "$(readlink "$D/usr/lib/liblsm.so.0")" = liblsm.so.0.1.0 ] || { fail "liblsm.so.0 link"; return 1; }
    [ "$(readlink "$D/usr/lib/liblsm.so")" = liblsm.so.0 ] || { fail "liblsm.so link"; return 1; }
    [ "$(readlink "$D/usr/sbin/mount.fuse.lsmfs")" = mount.lsmfs ] || { fail "mount.fuse.lsmfs link"; return 1; }
    objdump -p "$D/usr/lib/liblsm.so.0.1.0" | grep -q 'SONAME *liblsm.so.0$' || { fail "soname"; return 1; }
    grep -qx 'prefix=/usr' "$D/usr/lib/pkgconfig/liblsm.pc" || { fail "pc prefix"; return 1; }
    [ -f "$D/usr/share/man/man8/mount.fuse.lsmfs.8" ] || { fail "missing mount.fuse.lsmfs.8"; return 1; }
    command -v man >/dev/null && for f in "$D"/usr/share/man/man8/{lsmfs,mount.lsmfs,lsmfs-ctl}.8; do
        [ -z "$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)" ] || { fail "man warnings in $f"; return 1; }
    done
    # A real prefix: build and run a program against the installed library.
    make -s -C "$ROOT" install PREFIX="$P" >"$TMP/install2.log" 2>&1 \
        || { cat "$TMP/install2.log"; fail "make install PREFIX"; return 1; }
    cat > "$TMP/prog.c" <<'EOF'
#include <lsm.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv)
{
    lsm_db *db;
    if (argc != 2 || lsm_open(argv[1], NULL, &db) != 0) { fprintf(stderr, "open: %s\n", lsm_last_error()); return 1; }
    if (lsm_put(db, NULL, "k", 1, "value", 5) != 0) return 1;
    void *v; size_t n;
    if (lsm_get(db, NULL, "k", 1, &v, &n) != 0 || n != 5 || memcmp(v, "value", 5) != 0) return 1;
    lsm_free(v);
    if (lsm_close(db) != 0) return 1;
    printf("liblsm %s ok\n", lsm_version());
    return 0;
}
EOF
    local cflags libs
    cflags=$(PKG_CONFIG_PATH=$P/lib/pkgconfig pkg-config --cflags liblsm) || { fail "pkg-config --cflags"; return 1; }
    libs=$(PKG_CONFIG_PATH=$P/lib/pkgconfig pkg-config --libs liblsm) || { fail "pkg-config --libs"; return 1; }
    cc $cflags "$TMP/prog.c" -o "$TMP/prog" $libs || { fail "build against installed liblsm (shared)"; return 1; }
    LD_LIBRARY_PATH=$P/lib "$TMP/prog" "$TMP/prog-store" | grep -q "^liblsm .* ok$" || { fail "run (shared)"; return 1; }
    ldd "$TMP/prog" | grep -q "liblsm.so.0 => $P/lib/liblsm.so.0" 2>/dev/null || LD_LIBRARY_PATH=$P/lib ldd "$TMP/prog" | grep -q "$P/lib/liblsm.so.0" \
        || { fail "program not linked to the installed liblsm.so.0"; return 1; }
    cc $cflags "$TMP/prog.c" -o "$TMP/prog-static" -L"$P/lib" -l:liblsm.a \
        $(PKG_CONFIG_PATH=$P/lib/pkgconfig pkg-config --static --libs-only-other --libs-only-l liblsm | sed 's/-llsm//') \
        || { fail "build against installed liblsm.a"; return 1; }
    "$TMP/prog-static" "$TMP/prog-store2" | grep -q ok || { fail "run (static)"; return 1; }
    make -s -C "$ROOT" uninstall PREFIX="$P" >/dev/null 2>&1 || { fail "make uninstall"; return 1; }
    [ -z "$(find "$P" -type f -o -type l)" ] || { fail "uninstall left files: $(find "$P" -type f -o -type l)"; return 1; }
}

test_deb() {
    local S=$TMP/deb-store M=$TMP/deb-mnt deb
    if [ "$(id -u)" != 0 ]; then echo "SKIP (needs root to install packages)"; return 77; fi
    if [ "$BUILD" != "$ROOT/build" ]; then echo "SKIP (packaging is tested on the plain build only)"; return 77; fi
    if dpkg -s lsmfs >/dev/null 2>&1; then echo "SKIP (an lsmfs package is already installed)"; return 77; fi
    if [ -e /sbin/mount.lsmfs ] || [ -e /usr/bin/lsmfs ]; then echo "SKIP (lsmfs files already in /usr or /sbin)"; return 77; fi
    make -s -C "$ROOT" deb >"$TMP/deb.log" 2>&1 || { cat "$TMP/deb.log"; fail "make deb"; return 1; }
    deb=$(ls "$ROOT"/build/lsmfs_*.deb | head -1)
    dpkg-deb --info "$deb" | grep -q "Package: lsmfs" || { fail "deb info"; return 1; }
    DEB_INSTALLED=1
    dpkg -i "$deb" >"$TMP/dpkg.log" 2>&1 || { cat "$TMP/dpkg.log"; fail "dpkg -i"; return 1; }
    [ -x /usr/bin/lsmfs ] && [ -x /usr/bin/lsmfs-ctl ] && [ -x /sbin/mount.fuse.lsmfs ] \
        || { fail "installed files missing"; return 1; }
    [ -f /usr/share/man/man8/lsmfs-ctl.8.gz ] || { fail "man page not installed"; return 1; }
    mkdir -p "$M"
    # Installed binaries only: PATH without the build directory.
    env PATH=/usr/sbin:/usr/bin:/sbin:/bin timeout 60 mount -t fuse.lsmfs "$S" "$M" -o auto_unmount \
        || { fail "mount with the installed helper"; return 1; }
    # (from /proc rather than ps: procps is not in a minimal Debian)
    for p in /proc/[0-9]*/cmdline; do { tr '\0' ' ' < "$p"; } 2>/dev/null; echo; done \
        | grep -q "^/usr/bin/lsmfs .*$M" || { fail "daemon is not the installed /usr/bin/lsmfs"; return 1; }
    cp -a "$ROOT/packaging" "$M/" && diff -r "$ROOT/packaging" "$M/packaging" || { fail "use the mount"; return 1; }
    env PATH=/usr/bin:/bin lsmfs-ctl stat --json "$M" | jq -e '.mounted == true' >/dev/null \
        || { fail "installed lsmfs-ctl stat"; return 1; }
    timeout 60 umount "$M" || { fail "umount"; return 1; }
    env PATH=/usr/bin:/bin lsmfs-ctl check "$S" >/dev/null || { fail "installed lsmfs-ctl check"; return 1; }
    dpkg -r lsmfs >"$TMP/dpkg-r.log" 2>&1 || { cat "$TMP/dpkg-r.log"; fail "dpkg -r"; return 1; }
    DEB_INSTALLED=0
    [ ! -e /usr/bin/lsmfs ] && [ ! -e /sbin/mount.lsmfs ] || { fail "files left after dpkg -r"; return 1; }
}

# ----------------------------------------------------------------------------------------------

ALL_TESTS="ctl_usage ctl_kv ctl_transfer ctl_check_manifest ctl_check ctl_fsrepair ctl_mounted store_privacy mount_helper install deb"
command -v jq >/dev/null || { echo "tests/tools: jq is required (make deps)" >&2; exit 2; }
for bin in "$CTL" "$LSMFS" "$BUILD/mount.lsmfs"; do
    [ -x "$bin" ] || { echo "tests/tools: $bin not built" >&2; exit 1; }
done

for t in ${TOOLS_TESTS:-$ALL_TESTS}; do
    CUR=$t
    start=$EPOCHREALTIME
    echo "== tools/$t"
    # In this shell, not a subshell: the EXIT trap must see CREATED_LINKS / DEB_INSTALLED.
    "test_$t" 2>&1
    rc=$?
    secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    case $rc in
    0) echo "PASS tools/$t (${secs}s)"; PASSED="$PASSED $t" ;;
    77) echo "SKIP tools/$t"; SKIPPED="$SKIPPED $t" ;;
    *) echo "FAIL tools/$t (${secs}s)"; FAILED="$FAILED $t" ;;
    esac
done
echo "tools: passed:${PASSED:- none}; skipped:${SKIPPED:- none}; failed:${FAILED:- none}"
[ -z "$FAILED" ]
