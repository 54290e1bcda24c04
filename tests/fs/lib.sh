# tests/fs/lib.sh — shared helpers for the lsmfs integration tests (sourced, not run).
#
# Every test script is called either as
#     tests/fs/NAME.sh BUILD_DIR            run against real lsmfs mounts (BUILD_DIR/lsmfs)
#     tests/fs/NAME.sh --native DIR         run the same POSIX checks against a plain directory
# and sources this file, which parses those arguments and provides:
#
#   T_TMP          a private temporary directory, removed at exit
#   T_NATIVE       1 in --native mode, else 0
#   T_BUILD        the build directory (helpers are $T_BUILD/tests/fs/<name>)
#   t_helper NAME  path of a compiled C helper (fails the test if it was not built)
#   t_mount STORE MNT [OPTS]    (plus $LSMFS_OPTS if set) start a daemon in the foreground (-f) as a background job so we
#                  know its pid, wait until MNT is a mountpoint; in native mode MNT is simply a
#                  directory.  Sets T_PID (daemon pid).  Fails (returns 1) after 20 s.
#   t_umount MNT   fusermount3 -u, wait for the daemon to exit (clean unmount flushes the store)
#   t_kill9 MNT    SIGKILL the daemon of MNT and clean up the dead mount (fusermount3 -u -z)
#   t_fs [OPTS]    "fresh filesystem": in lsmfs mode mount a new store, in native mode create a
#                  fresh subdirectory of the native DIR; sets T_MNT to it.  Never call it (or
#                  t_mount) inside $(...): the mount must be registered in THIS shell so that
#                  the cleanup trap unmounts it.
#   fail MSG       print "FAIL: MSG" and exit 1 (the EXIT trap unmounts everything)
#   note MSG       print a progress line
#
# Cleanup (EXIT/INT/TERM trap): every mount made through t_mount is lazily unmounted and its
# daemon SIGKILLed, so a failing or interrupted test never leaves a mount behind; mounts also
# carry -o auto_unmount so even a SIGKILL of this shell cannot leave one.

set -u
T_NAME=$(basename "$0" .sh)
T_NATIVE=0
T_BUILD=
T_NATIVE_DIR=
if [ "${1:-}" = "--native" ]; then
    [ -n "${2:-}" ] || { echo "usage: $0 BUILD_DIR | --native DIR" >&2; exit 2; }
    T_NATIVE=1
    T_NATIVE_DIR=$(cd "$2" && pwd) || exit 2
    T_BUILD=${3:-build}
    shift 2
    [ $# -gt 0 ] && shift
else
    T_BUILD=${1:-build}
    [ $# -gt 0 ] && shift
fi
T_BUILD=$(cd "$T_BUILD" 2>/dev/null && pwd) || { echo "$T_NAME: no build dir ${T_BUILD}" >&2; exit 2; }
T_LSMFS=$T_BUILD/lsmfs
T_SEED=${SEED:-$(( $(date +%s) % 100000 ))}

if [ "$T_NATIVE" = 1 ]; then
    T_TMP=$(mktemp -d "$T_NATIVE_DIR/lsmfs-$T_NAME.XXXXXX")
else
    # /var/tmp by default: /tmp may be a tmpfs, which (before Linux 6.6) has no user xattrs.
    T_TMP=$(mktemp -d "${TMPDIR:-/var/tmp}/lsmfs-$T_NAME.XXXXXX")
fi
T_MOUNTS=""      # mountpoints we mounted (space separated)
T_PIDS=""        # daemon pids we started
T_EXTRA_CLEANUP=""   # commands run first at cleanup (e.g. umount of a tmpfs)

note() { echo "[$T_NAME] $*"; }
fail() { echo "[$T_NAME] FAIL: $*" >&2; exit 1; }

t_helper() {
    local p="$T_BUILD/tests/fs/$1"
    [ -x "$p" ] || fail "helper $p not built (make unit-bins)"
    echo "$p"
}

t_is_mounted() { grep -q " $(realpath -m "$1") fuse" /proc/mounts; }

# _t_wait_mount MNT PID: wait up to 20 s for MNT to become a fuse mount; 1 if the daemon died.
_t_wait_mount() {
    local mnt=$1 pid=$2 i
    for i in $(seq 1 200); do
        t_is_mounted "$mnt" && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

t_mount() {
    local store=$1 mnt=$2 opts=${3:-}
    mkdir -p "$mnt"
    if [ "$T_NATIVE" = 1 ]; then T_PID=; return 0; fi
    [ -x "$T_LSMFS" ] || fail "daemon $T_LSMFS not built"
    local o="auto_unmount"
    # LSMFS_OPTS (e.g. writeback=on) adds options to every mount of the suite.
    [ -n "${LSMFS_OPTS:-}" ] && o="$o,$LSMFS_OPTS"
    [ -n "$opts" ] && o="$o,$opts"
    # A non-interactive shell starts background jobs with SIGINT ignored, and libfuse keeps an
    # ignored SIGINT ignored: restore the default so the daemon sees SIGINT as a user's would.
    env --default-signal=INT "$T_LSMFS" -f -o "$o" "$store" "$mnt" >>"$T_TMP/daemon.log" 2>&1 &
    T_PID=$!
    T_PIDS="$T_PIDS $T_PID"
    T_MOUNTS="$T_MOUNTS $mnt"
    if ! _t_wait_mount "$mnt" "$T_PID"; then
        echo "--- daemon log:" >&2; tail -20 "$T_TMP/daemon.log" >&2
        return 1
    fi
    echo "$T_PID" >"$T_TMP/pid.$(echo "$mnt" | tr / _)"
    return 0
}

_t_pid_of() { cat "$T_TMP/pid.$(echo "$1" | tr / _)" 2>/dev/null; }

t_umount() {
    local mnt=$1 pid i
    [ "$T_NATIVE" = 1 ] && return 0
    pid=$(_t_pid_of "$mnt")
    fusermount3 -u "$mnt" || { note "fusermount3 -u $mnt failed"; return 1; }
    # A clean unmount makes the daemon flush and close the store: wait for it (<= 60 s).
    if [ -n "$pid" ]; then
        for i in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then note "daemon $pid still alive 60 s after unmount"; return 1; fi
        wait "$pid" 2>/dev/null
        local rc=$?
        [ "$rc" = 0 ] || { note "daemon $pid exited with status $rc after unmount"; return 1; }
    fi
    return 0
}

t_kill9() {
    local mnt=$1 pid
    [ "$T_NATIVE" = 1 ] && return 0
    pid=$(_t_pid_of "$mnt")
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    [ -n "$pid" ] && wait "$pid" 2>/dev/null
    fusermount3 -u -z "$mnt" 2>/dev/null
    # auto_unmount's helper may race us to it; either way the mount must go.
    local i
    for i in $(seq 1 50); do t_is_mounted "$mnt" || return 0; sleep 0.1; done
    return 1
}

T_FS_N=0
T_MNT=
t_fs() {
    T_FS_N=$((T_FS_N + 1))
    if [ "$T_NATIVE" = 1 ]; then
        T_MNT=$T_TMP/fs$T_FS_N; mkdir -p "$T_MNT"; return 0
    fi
    T_MNT=$T_TMP/mnt$T_FS_N
    t_mount "$T_TMP/store$T_FS_N" "$T_MNT" "${1:-}"
}

t_cleanup() {
    local rc=$? m p
    set +e
    [ -n "$T_EXTRA_CLEANUP" ] && eval "$T_EXTRA_CLEANUP"
    # First a normal unmount (the daemon then exits by itself), lazy if the mount is busy or
    # dead; daemons still alive after 5 s are killed.
    for m in $T_MOUNTS; do
        if t_is_mounted "$m"; then fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null; fi
    done
    for p in $T_PIDS; do
        for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    for m in $T_MOUNTS; do
        t_is_mounted "$m" && { sleep 0.5; fusermount3 -u -z "$m" 2>/dev/null; }
        t_is_mounted "$m" && echo "[$T_NAME] WARNING: $m still mounted" >&2
    done
    [ -n "$T_EXTRA_CLEANUP2" ] && eval "$T_EXTRA_CLEANUP2"
    # A sanitizer build of the daemon reports to its stderr: any report fails the test.
    if grep -q "Sanitizer" "$T_TMP/daemon.log" 2>/dev/null; then
        echo "[$T_NAME] FAIL: sanitizer report from the daemon:" >&2
        grep -A 30 -m 1 "Sanitizer" "$T_TMP/daemon.log" >&2
        rc=1
    fi
    if [ "$rc" != 0 ] && [ -s "$T_TMP/daemon.log" ]; then
        echo "[$T_NAME] --- daemon log tail:" >&2; tail -15 "$T_TMP/daemon.log" >&2
    fi
    # Never let rm descend into a mount that is somehow still there.
    if grep -qF " $T_TMP/" /proc/mounts; then
        echo "[$T_NAME] WARNING: mounts remain under $T_TMP; not removing it" >&2
    else
        rm -rf "$T_TMP" 2>/dev/null
    fi
    exit "$rc"
}
T_EXTRA_CLEANUP2=""
trap t_cleanup EXIT
trap 'exit 130' INT TERM

# t_make_tree DIR SEED [fifo] — build the standard test tree: nested and deep dirs, an empty
# dir, empty/small/chunk-boundary/large (several MiB) files, text files, odd names (spaces,
# newline, tab, leading dash, UTF-8), relative/absolute/dangling/dir symlinks, hard links
# (also across directories), several modes, fixed mtimes, user xattrs, and with "fifo" a FIFO.
t_make_tree() {
    local d=$1 s=$2 gen
    gen=$(t_helper gen)
    mkdir -p "$d/a/b/c/d" "$d/empty dir" "$d/ünïcödé/日本語" "$d/deep/1/2/3/4/5/6/7/8/9" "$d/many" || return 1
    : >"$d/empty"
    : >"$d/a/b/c/d/empty too"
    "$gen" "$s" 3M >"$d/big.bin"
    "$gen" $((s + 1)) 5300000 >"$d/a/b/bigger.bin"
    "$gen" $((s + 2)) 100 >"$d/a/small"
    local n
    for n in 1 4095 4096 4097 65535 65536 65537 131072 200001; do
        "$gen" $((s + n)) "$n" >"$d/a/b/size-$n"
    done
    "$gen" $((s + 3)) 200K text >"$d/a/b/c/text.txt"
    "$gen" $((s + 4)) 3K text >"$d/ünïcödé/日本語/файл.txt"
    for n in $(seq 1 60); do "$gen" $((s + 100 + n)) $((n * 37)) text >"$d/many/file$n.txt"; done
    echo "needle in a haystack" >>"$d/many/file7.txt"
    echo "needle again" >"$d/deep/1/2/3/4/5/6/7/8/9/bottom.txt"
    echo spaces >"$d/with  two spaces"
    echo newline >"$d/new"$'\n'"line"
    echo tab >"$d/tab"$'\t'"name"
    echo dash >"$d/-leading-dash"
    echo hidden >"$d/.hidden"
    echo star >"$d/a/star*and?query"
    ln -s big.bin "$d/link-to-big"
    ln -s ../small "$d/a/b/up-link"
    ln -s b/c "$d/a/dirlink"
    ln -s /nonexistent/target "$d/dangling"
    ln -s "ünïcödé/日本語/файл.txt" "$d/utf8-link"
    ln "$d/a/small" "$d/a/b/c/small.hardlink"
    ln "$d/big.bin" "$d/many/big.hardlink"
    ln "$d/many/file1.txt" "$d/many/file1.second"
    ln "$d/many/file1.txt" "$d/many/file1.third"
    chmod 600 "$d/a/small"
    chmod 755 "$d/a/b/size-1"
    chmod 444 "$d/a/b/size-4096"
    chmod 700 "$d/deep/1"
    chmod 2775 "$d/many"
    if [ "${3:-}" = fifo ]; then mkfifo "$d/fifo"; fi
    setfattr -n user.color -v red "$d/a/small" || return 1
    setfattr -n user.empty "$d/big.bin" || return 1
    setfattr -n user.dir -v 0x00ff00ff "$d/a/b" || return 1
    touch -h -d '2001-02-03 04:05:06.123456789' "$d/link-to-big"
    find "$d" -depth -not -type l -exec touch -d '2010-01-01 00:00:00.5' {} + 2>/dev/null
    touch -d '1999-12-31 23:59:59.999999999' "$d/a/b/bigger.bin"
    return 0
}
