#!/bin/bash
# fs_bench.sh — the filesystem benchmark: the same phases (see fs_bench.c) on a native directory,
# on libfuse's high-level passthrough example, and on an lsmfs mount, in one run, with the
# ratios lsmfs/passthrough and lsmfs/native.
#
# Target lsmfs_do is lsmfs mounted with -o opens=daemon (every open asks the daemon; the default
# is opens=kernel), with its own ratio columns do/pt and do/native.  Target lsmfs_ur is lsmfs
# served through FUSE over io_uring (fs/fuse_uring.h): the script sets the fuse module's
# enable_uring parameter (root) for it, and clears it for lsmfs and lsmfs_do, which then use
# /dev/fuse; the old value is put back at exit.  Columns ur/pt and ur/native.
#
# After fs_bench, fsync_stall (fsync_stall.c) runs on each target for --stall-secs seconds a
# round (default 5; 0 skips it): phases meta_alone, meta_fsync and fsyncs.
#
# usage: tests/bench/fs_bench.sh [BUILD_DIR] [--targets native,passthrough,lsmfs[,lsmfs_do,lsmfs_ur]]
#                                [--repeat K] [--stall-secs S]
#                                [--lsmfs-opts OPTS] [fs_bench options: --files N --dirs D
#                                 --flat M --big-mib S --renames R]
#
# The passthrough example is compiled from /usr/share/doc/libfuse3-dev/examples (copied, and
# gunzipped if needed, into BUILD_DIR/tests/bench/passthrough-src; nothing of it is committed).
# It mirrors "/", so its target is MOUNT/<native scratch path>.  Scratch space is
# $FS_BENCH_ROOT (default /tmp/lsmfs_bench.PID on the same disk as the native target).
# Everything this script mounts is unmounted on exit, also on failure or interrupt (trap), and
# the daemons run with -o auto_unmount in case the script itself is killed.
# Results: tests/bench/results/fs_bench.tsv (or $FS_BENCH_OUT) and a table on stdout.
set -u

BUILD=build
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then BUILD=$1; shift; fi
TARGETS=native,passthrough,lsmfs
REPEAT=1
STALL_SECS=5
LSMFS_OPTS=""
ARGS=()
while [ $# -gt 0 ]; do
    case $1 in
        --targets) TARGETS=$2; shift 2 ;;
        --repeat) REPEAT=$2; shift 2 ;;
        --stall-secs) STALL_SECS=$2; shift 2 ;;
        --lsmfs-opts) LSMFS_OPTS=$2; shift 2 ;;
        --help|-h) sed -n '2,23p' "$0"; exit 0 ;;
        *) ARGS+=("$1" "$2"); shift 2 ;;
    esac
done

FS_BENCH=$BUILD/tests/bench/fs_bench
FSYNC_STALL=$BUILD/tests/bench/fsync_stall
LSMFS=$BUILD/lsmfs
PT=$BUILD/tests/bench/passthrough
ROOT=${FS_BENCH_ROOT:-/tmp/lsmfs_bench.$$}
OUT=${FS_BENCH_OUT:-tests/bench/results/fs_bench.tsv}
RAW=$ROOT/raw.tsv
MOUNTS=()
PIDS=()
URING_PARAM=/sys/module/fuse/parameters/enable_uring
URING_OLD=$(cat "$URING_PARAM" 2>/dev/null)
# uring_param Y|N: offer FUSE over io_uring to the next mount, or not (quietly a no-op on a
# kernel without it: lsmfs_ur then fails to mount with uring=on).
uring_param() { [ -n "$URING_OLD" ] && echo "$1" > "$URING_PARAM" 2>/dev/null; return 0; }

cleanup() {
    for m in "${MOUNTS[@]}"; do
        if mountpoint -q "$m" 2>/dev/null; then
            fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m"
        fi
    done
    for p in "${PIDS[@]}"; do
        # Give a daemon time to close its store cleanly after the unmount, then insist.
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill "$p" 2>/dev/null
    done
    rm -rf "$ROOT"
    [ -n "$URING_OLD" ] && echo "$URING_OLD" > "$URING_PARAM" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "fs_bench.sh: $*" >&2; exit 1; }

[ -x "$FS_BENCH" ] || die "$FS_BENCH not built (make bench-bins)"
[ "$STALL_SECS" = 0 ] || [ -x "$FSYNC_STALL" ] || die "$FSYNC_STALL not built (make bench-bins)"
mkdir -p "$ROOT" "$(dirname "$OUT")" || die "cannot create $ROOT"

# Wait (up to 10 s) until $1 is a mount point served by process $2.
wait_mounted() {
    for _ in $(seq 100); do
        mountpoint -q "$1" && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

unmount() {
    fusermount3 -u "$1" 2>/dev/null || umount "$1"
    for _ in $(seq 100); do kill -0 "$2" 2>/dev/null || return 0; sleep 0.1; done
    echo "fs_bench.sh: daemon $2 still running 10 s after unmount" >&2
}

build_passthrough() {
    local src=$BUILD/tests/bench/passthrough-src ex=/usr/share/doc/libfuse3-dev/examples
    mkdir -p "$src"
    for f in passthrough.c passthrough_helpers.h; do
        if [ -f "$ex/$f" ]; then cp "$ex/$f" "$src/$f"
        elif [ -f "$ex/$f.gz" ]; then gunzip -c "$ex/$f.gz" > "$src/$f"
        else die "libfuse example $ex/$f not found (apt-get install libfuse3-dev)"; fi
    done
    cc -O2 -Wall -D_FILE_OFFSET_BITS=64 $(pkg-config --cflags fuse3) "$src/passthrough.c" \
        -o "$PT" $(pkg-config --libs fuse3) || die "cannot build the passthrough example"
}

: > "$RAW"
failed=0
run_target() { # label dir [daemon pid]
    local label=$1 dir=$2 pid=${3:-}
    echo "== $label ($dir)" >&2
    local extra=()
    [ -n "$pid" ] && extra=(--fd-pid "$pid")
    if ! "$FS_BENCH" --dir "$dir" --label "$label" "${ARGS[@]}" "${extra[@]}" >> "$RAW"; then
        echo "fs_bench.sh: $label failed" >&2
        failed=1
    fi
    if [ "$STALL_SECS" != 0 ]; then
        mkdir -p "$dir/stall"
        if ! "$FSYNC_STALL" "$dir/stall" "$label" "$STALL_SECS" >> "$RAW"; then
            echo "fs_bench.sh: fsync_stall on $label failed" >&2
            failed=1
        fi
        rm -rf "$dir/stall"
    fi
}

run_lsmfs() { # label extra-options
    local label=$1 opts=auto_unmount m=$ROOT/mnt_$1.$rep s=$ROOT/store_$1.$rep pid
    [ -x "$LSMFS" ] || die "$LSMFS not built (make)"
    mkdir -p "$m"
    [ -n "$LSMFS_OPTS" ] && opts="$opts,$LSMFS_OPTS"
    [ -n "$2" ] && opts="$opts,$2"
    "$LSMFS" -f -o "$opts" "$s" "$m" 2>"$ROOT/$label.log" &
    pid=$!; PIDS+=("$pid"); MOUNTS+=("$m")
    if wait_mounted "$m" "$pid"; then
        run_target "$label" "$m" "$pid"
        unmount "$m" "$pid"
    else
        echo "fs_bench.sh: $label did not mount:" >&2; cat "$ROOT/$label.log" >&2
        failed=1
    fi
    rm -rf "$s"
}

for rep in $(seq "$REPEAT"); do
    for t in ${TARGETS//,/ }; do
        case $t in
        native)
            d=$ROOT/native.$rep; mkdir -p "$d"
            run_target native "$d"
            rm -rf "$d" ;;
        passthrough)
            [ -x "$PT" ] || build_passthrough
            m=$ROOT/mnt_pt.$rep; d=$ROOT/pt_backing.$rep; mkdir -p "$m" "$d"
            "$PT" -f -o auto_unmount "$m" 2>"$ROOT/passthrough.log" &
            pid=$!; PIDS+=("$pid"); MOUNTS+=("$m")
            if wait_mounted "$m" "$pid"; then
                run_target passthrough "$m$d" "$pid"
                unmount "$m" "$pid"
            else
                echo "fs_bench.sh: passthrough did not mount:" >&2; cat "$ROOT/passthrough.log" >&2
                failed=1
            fi
            rm -rf "$d" ;;
        lsmfs) uring_param N; run_lsmfs lsmfs "" ;;
        lsmfs_do) uring_param N; run_lsmfs lsmfs_do opens=daemon ;;
        lsmfs_ur) uring_param Y; run_lsmfs lsmfs_ur uring=on ;;
        *) die "unknown target $t" ;;
        esac
    done
done

{
    echo "# fs_bench $(date -u +%Y-%m-%dT%H:%M:%SZ) targets=$TARGETS repeat=$REPEAT args=${ARGS[*]:-defaults} lsmfs_opts=${LSMFS_OPTS:-none} kernel=$(uname -r) cpus=$(nproc)"
    echo -e "target\tphase\tops\tbytes\tseconds\tcold"
    cat "$RAW"
} > "$OUT"

# The table: median ops/s (and MB/s where bytes move) per target and phase, then the ratios.
awk -F'\t' -v targets="$TARGETS" '
    /^#/ || $1 == "target" { next }
    $2 == "daemon_fds" { fds[$1] = $3; next }
    {
        key = $1 SUBSEP $2
        n[key]++; ops[key, n[key]] = ($5 > 0 ? $3 / $5 : 0); mb[key, n[key]] = ($5 > 0 ? $4 / 1048576 / $5 : 0)
        if (!($2 in seen)) { seen[$2] = 1; order[++np] = $2 }
    }
    function median(arr, key, cnt,    i, j, t, v) {
        for (i = 1; i <= cnt; i++) v[i] = arr[key, i]
        for (i = 1; i <= cnt; i++) for (j = i + 1; j <= cnt; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
        return cnt % 2 ? v[(cnt + 1) / 2] : (v[cnt / 2] + v[cnt / 2 + 1]) / 2
    }
    END {
        nt = split(targets, T, ",")
        printf "%-12s", "phase"
        for (i = 1; i <= nt; i++) printf " %14s", T[i] " ops/s"
        printf " %10s %10s", "lsm/pt", "lsm/native"
        for (i = 1; i <= nt; i++) if (T[i] ~ /^lsmfs_/) printf " %10s %10s", substr(T[i], 7) "/pt", substr(T[i], 7) "/native"
        printf "%s\n", "  (MB/s for bigwrite/bigread)"
        for (p = 1; p <= np; p++) {
            ph = order[p]; big = (ph == "bigwrite" || ph == "bigread")
            printf "%-12s", ph
            for (i = 1; i <= nt; i++) {
                k = T[i] SUBSEP ph
                if (n[k]) { v[i] = big ? median(mb, k, n[k]) : median(ops, k, n[k]); printf " %14.1f", v[i] }
                else { v[i] = -1; printf " %14s", "-" }
            }
            l = -1; pt = -1; nat = -1
            for (i = 1; i <= nt; i++) { if (T[i] == "lsmfs") l = v[i]; if (T[i] == "passthrough") pt = v[i]; if (T[i] == "native") nat = v[i] }
            if (l > 0 && pt > 0) printf " %9.2fx", l / pt; else printf " %10s", "-"
            if (l > 0 && nat > 0) printf " %9.2fx", l / nat; else printf " %10s", "-"
            for (i = 1; i <= nt; i++) {
                if (T[i] !~ /^lsmfs_/) continue
                alt = v[i]
                if (alt > 0 && pt > 0) printf " %9.2fx", alt / pt; else printf " %10s", "-"
                if (alt > 0 && nat > 0) printf " %9.2fx", alt / nat; else printf " %10s", "-"
            }
            printf "%s\n", big ? "  MB/s" : ""
        }
        for (t in fds) printf "%s daemon open descriptors after create: %s\n", t, fds[t]
    }' "$OUT"
echo "results written to $OUT"
exit $failed
