#!/bin/sh
# bench/plot.sh BUILD_DIR [OUT_DIR]: the two plots of bench/README.md.
#   w1_latency.png  W1's send-to-receipt latency distribution (CDF, log x)
#   w2_drain.png    W2's drain time against the queue length M
# Runs courier-load from BUILD_DIR (W1 once at the default sizes, W2 once per
# queue length) and draws with gnuplot (Debian: gnuplot-nox). The data files
# stay beside the PNGs (w1_latency.txt, w2_drain.txt).
set -eu
build=${1:?usage: bench/plot.sh BUILD_DIR [OUT_DIR]}
out=${2:-$(dirname "$0")}
load="$build/bench/courier-load"
command -v gnuplot >/dev/null || { echo "plot.sh: needs gnuplot (bash cmake/install-deps.sh bench)" >&2; exit 1; }
mkdir -p "$out"

"$load" --workloads W1 --latency-out "$out/w1_latency.txt" > "$out/w1_figures.txt"
sort -g "$out/w1_latency.txt" | awk '{ v[NR] = $1 } END { for (i = 1; i <= NR; i++) print v[i], i / NR }' \
  > "$out/w1_latency_cdf.txt"
p50=$(awk '$3 == "p50_ms" { print $4 }' "$out/w1_figures.txt")
p99=$(awk '$3 == "p99_ms" { print $4 }' "$out/w1_figures.txt")
rate=$(awk '$3 == "msgs_per_s" { print $4 }' "$out/w1_figures.txt")

: > "$out/w2_drain.txt"
for m in 10000 25000 50000 100000 200000; do
  "$load" --workloads W2 --messages "$m" > "$out/w2_$m.txt"
  awk -v m="$m" '$3 == "drain_msgs_per_s" { printf "%d %.4f %s\n", m, m / $4, $4 }' "$out/w2_$m.txt" \
    >> "$out/w2_drain.txt"
  rm -f "$out/w2_$m.txt"
done

gnuplot <<GP
set terminal pngcairo size 900,560 noenhanced
set output "$out/w1_latency.png"
set title "W1: send-to-receipt latency, 200 pairs x 500 messages ($rate msgs/s, p50 $p50 ms, p99 $p99 ms)"
set xlabel "latency (ms, log scale)"
set ylabel "fraction of messages"
set logscale x
set grid
set key bottom right
plot "$out/w1_latency_cdf.txt" using 1:2 with lines linewidth 2 title "CDF"
set output "$out/w2_drain.png"
unset logscale x
set title "W2: drain time of one offline device against its queue length"
set xlabel "queued messages M"
set ylabel "drain time (s): hello to the last message received and acked"
set key top left
plot "$out/w2_drain.txt" using 1:2 with linespoints linewidth 2 pointtype 7 title "measured", \
     "$out/w2_drain.txt" using 1:(\$1/300000.0) with lines dashtype 2 title "target: 300,000 msgs/s"
GP
rm -f "$out/w1_latency_cdf.txt" "$out/w1_latency.txt"
echo "plot.sh: wrote $out/w1_latency.png and $out/w2_drain.png" >&2
