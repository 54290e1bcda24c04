#!/bin/bash
# plot.sh — turn the benchmark results in tests/bench/results/*.tsv into SVG bar charts there,
# for the README.  Needs gnuplot (Debian: apt-get install gnuplot-nox).
#
# usage: tests/bench/plot.sh [RESULTS_DIR]
#
#   db_bench.tsv             -> db_bench_ops.svg          ops/s per workload and engine (log)
#   db_bench_compaction.tsv  -> db_bench_compaction.svg   ops/s per strategy, and
#                               db_bench_amplification.svg write/space amplification
#   db_bench_open.tsv        -> db_bench_open.svg         open time, clean vs after SIGKILL
#   fs_bench.tsv             -> fs_bench.svg              ops/s (MB/s for big files) per target
# Missing inputs are skipped.  Each chart is a clustered histogram of median values.
set -eu
RES=${1:-tests/bench/results}
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# pivot FILE COLS ROW... : a table "row col1 col2 ..." of medians from a db_bench TSV
# (engine metric median ...), rows are metric names, columns engines; "-" where missing.
pivot_db() {
    local file=$1 cols=$2; shift 2
    awk -F'\t' -v cols="$cols" -v rows="$*" '
        /^#/ || $1 == "engine" { next }
        { v[$1, $2] = $3 }
        END {
            nc = split(cols, C, ","); nr = split(rows, R, " ")
            printf "row"; for (c = 1; c <= nc; c++) printf "\t%s", C[c]; printf "\n"
            for (r = 1; r <= nr; r++) {
                split(R[r], part, "=")   # metric=label
                printf "%s", (part[2] != "" ? part[2] : part[1])
                for (c = 1; c <= nc; c++) { k = C[c] SUBSEP part[1]; printf "\t%s", ((k in v) && v[k] >= 0 ? v[k] : "-") }
                printf "\n"
            }
        }' "$file"
}

# engines present in a db_bench TSV, in first-seen order
engines_of() {
    awk -F'\t' '/^#/ || $1 == "engine" { next } !($1 in s) { s[$1] = 1; printf "%s%s", (n++ ? "," : ""), $1 }' "$1"
}

# histogram DATA OUT TITLE YLABEL LOG(0/1) NCOLS
histogram() {
    local data=$1 out=$2 title=$3 ylabel=$4 log=$5 ncols=$6
    {
        echo "set terminal svg size 1100,520 dynamic noenhanced font 'sans,12' background rgb 'white'"
        echo "set output '$out'"
        echo "set title \"$title\""
        echo "set ylabel \"$ylabel\""
        echo "set style data histograms"
        echo "set style histogram clustered gap 1"
        echo "set style fill solid 0.85 border -1"
        echo "set boxwidth 0.9"
        echo "set datafile separator '\t'"
        echo "set datafile missing '-'"
        echo "set key top right autotitle columnheader"
        echo "set xtics nomirror font ',10'"
        echo "set grid ytics"
        echo "set yrange [0:*]"
        if [ "$log" = 1 ]; then echo "set logscale y"; echo "set yrange [*:*]"; echo "set format y \"%.0s%c\""; fi
        printf "plot '%s' using 2:xtic(1)" "$data"
        for i in $(seq 3 $((ncols + 1))); do printf ", '' using %d" "$i"; done
        echo
    } > "$TMP/plot.gp"
    gnuplot "$TMP/plot.gp"
    echo "wrote $out"
}

if [ -f "$RES/db_bench.tsv" ]; then
    e=$(engines_of "$RES/db_bench.tsv")
    rows=""
    for w in fillseq fillsync fillrandom overwrite readrandom readmissing readseq seekrandom deleterandom; do
        rows="$rows $w.ops_s=$w"
    done
    pivot_db "$RES/db_bench.tsv" "$e" $rows > "$TMP/db.dat"
    histogram "$TMP/db.dat" "$RES/db_bench_ops.svg" \
        "db_bench: liblsm vs LevelDB vs RocksDB (median ops/s, 16 B keys, 100 B values)" \
        "operations per second (log)" 1 "$(echo "$e" | tr ',' '\n' | wc -l)"
fi

if [ -f "$RES/db_bench_compaction.tsv" ]; then
    e=$(engines_of "$RES/db_bench_compaction.tsv")
    n=$(echo "$e" | tr ',' '\n' | wc -l)
    pivot_db "$RES/db_bench_compaction.tsv" "$e" fillrandom.ops_s=fillrandom \
        overwrite.ops_s=overwrite readrandom.ops_s=readrandom update_heavy.ops_s=update-heavy \
        > "$TMP/comp.dat"
    histogram "$TMP/comp.dat" "$RES/db_bench_compaction.svg" \
        "compaction strategies: throughput (median ops/s)" "operations per second" 0 "$n"
    pivot_db "$RES/db_bench_compaction.tsv" "$e" "cycle.wamp_engine=write-amp(engine)" \
        "cycle.wamp_io=write-amp(wchar)" cycle.samp=space-amp \
        update_heavy.samp_tables=update-heavy-space-amp \
        update_heavy.samp_tables_idle=update-heavy-after-idle \
        update_heavy.samp_tables_compacted=after-full-compaction > "$TMP/amp.dat"
    histogram "$TMP/amp.dat" "$RES/db_bench_amplification.svg" \
        "write and space amplification (lower is better)" "factor" 0 "$n"
fi

if [ -f "$RES/db_bench_open.tsv" ]; then
    e=$(engines_of "$RES/db_bench_open.tsv")
    sizes=$(awk -F'\t' '/^#/ || $1 == "engine" { next } $2 ~ /open_clean_s$/ { split($2, p, "."); if (!(p[1] in s)) { s[p[1]] = 1; printf "%s ", p[1] } }' "$RES/db_bench_open.tsv")
    rows=""
    for s in $sizes; do rows="$rows $s.open_clean_s=${s#n}-keys-clean $s.open_crash_s=${s#n}-keys-after-kill"; done
    pivot_db "$RES/db_bench_open.tsv" "$e" $rows > "$TMP/open.dat"
    histogram "$TMP/open.dat" "$RES/db_bench_open.svg" \
        "time to open a store (median seconds, lower is better)" "seconds" 0 \
        "$(echo "$e" | tr ',' '\n' | wc -l)"
fi

if [ -f "$RES/fs_bench.tsv" ]; then
    awk -F'\t' '
        /^#/ || $1 == "target" || $2 == "daemon_fds" { next }
        {
            if (!($1 in ts)) { ts[$1] = 1; T[++nt] = $1 }
            if (!($2 in ps)) { ps[$2] = 1; P[++np] = $2 }
            big = ($2 == "bigwrite" || $2 == "bigread")
            r = ($5 > 0 ? (big ? $4 / 1048576 / $5 : $3 / $5) : 0)
            k = $1 SUBSEP $2; n[k]++; val[k, n[k]] = r
        }
        function median(k, c,   i, j, t, v) {
            for (i = 1; i <= c; i++) v[i] = val[k, i]
            for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
            return c % 2 ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2
        }
        END {
            printf "row"; for (t = 1; t <= nt; t++) printf "\t%s", T[t]; printf "\n"
            for (p = 1; p <= np; p++) {
                label = P[p]; if (label == "bigwrite" || label == "bigread") label = label "(MB/s)"
                printf "%s", label
                for (t = 1; t <= nt; t++) { k = T[t] SUBSEP P[p]; printf "\t%s", (n[k] ? median(k, n[k]) : "-") }
                printf "\n"
            }
        }' "$RES/fs_bench.tsv" > "$TMP/fs.dat"
    histogram "$TMP/fs.dat" "$RES/fs_bench.svg" \
        "filesystem phases: lsmfs vs libfuse passthrough vs native (median ops/s; MB/s for big file)" \
        "per second (log)" 1 "$(head -1 "$TMP/fs.dat" | awk -F'\t' '{ print NF - 1 }')"
fi
