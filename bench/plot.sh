#!/usr/bin/env bash
# bench/plot.sh [DATA_DIR [PLOT_DIR]]
#
# Draws the benchmark figures as PNG files from the raw samples bench/run.sh and
# bench/cluster.sh wrote (default: bench/plots/data into bench/plots):
#
#   convergence.png   ms until every node showed a write, per cluster size:
#                     fakts-node (secure and --insecure-gossip) against Serf     cluster-convergence.tsv
#   detection.png     ms from a kill -9 until every other node listed it failed   cluster-detection.tsv
#   bandwidth.png     gossip bytes/s per node, idle and under registrations        cluster-bandwidth.tsv
#   http-rates.png    requests/s of discovery and refresh against nginx's static file  http.tsv
#   http-cpu.png      server CPU µs per request, the same runs                          http.tsv
#
# A figure whose data file is missing is skipped (said on stderr), so run.sh alone or
# cluster.sh alone can be redrawn. Distributions are box plots: the box from the first to
# the third quartile, the line at the median, whiskers at the least and largest sample,
# and every sample as a dot beside its box.
#
# Needs gnuplot with the pngcairo terminal (Debian: gnuplot-nox) and /usr/bin/python3
# (standard library: the quartiles). Exit status: 0 drawn (or nothing to draw), 1 a
# drawing failed, 2 usage or gnuplot missing.

set -euo pipefail

if [ $# -gt 2 ]; then
    echo "usage: bench/plot.sh [DATA_DIR [PLOT_DIR]]" >&2
    exit 2
fi
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DATA=${1:-$BENCH_DIR/plots/data}
PLOTS=${2:-$BENCH_DIR/plots}
PY=/usr/bin/python3

log() { printf '[plot] %s\n' "$*" >&2; }
command -v gnuplot >/dev/null || { log "gnuplot is missing (apt-get install gnuplot-nox)"; exit 2; }
gnuplot -e 'set terminal pngcairo' 2>/dev/null ||
    { log "this gnuplot has no pngcairo terminal (Debian's gnuplot-nox has)"; exit 2; }
mkdir -p "$PLOTS"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/fakts-plot.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# The look every figure shares: 1150x600, one font, a light grid, the legend outside the
# data. fakts-node is blue, its insecure mode light blue, the peer (Serf, nginx) orange.
COMMON='set terminal pngcairo size 1150,600 font "DejaVu Sans,11" noenhanced
set datafile separator "\t"
set datafile missing "-"
set grid ytics lc rgb "#dddddd"
set key below center horizontal
set border 3
set tics nomirror
C_FK = "#1f5fa8"; C_FKI = "#7fb0e0"; C_PEER = "#e07b1f"; C_REFRESH = "#2c9c5a"
'

# boxdata IN OUT: per (N, system) the quartiles of the samples, and every sample, at the
# x position of its box: cluster sizes at 0, 1, 2... and the systems side by side.
# OUT.box: x q1 min max q3 median n system; OUT.pts: x ms system; OUT.tics: x "N = n".
boxdata() {
    "$PY" - "$1" "$2" <<'EOF'
import collections, statistics, sys
src, out = sys.argv[1], sys.argv[2]
rows = collections.OrderedDict()
sizes, systems = [], []
for line in open(src):
    if line.startswith("#") or line.startswith("n\t"):
        continue
    f = line.rstrip("\n").split("\t")
    if len(f) < 4:
        continue
    n, system, v = int(f[0]), f[1], float(f[3])
    rows.setdefault((n, system), []).append(v)
    if n not in sizes:
        sizes.append(n)
    if system not in systems:
        systems.append(system)
sizes.sort()
order = [s for s in ("fakts-node", "fakts-node-insecure", "serf") if s in systems]
order += [s for s in systems if s not in order]
width = 0.8 / max(1, len(order))
def quart(xs):
    xs = sorted(xs)
    if len(xs) == 1:
        return xs[0], xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[1], q[2]
with open(out + ".box", "w") as box, open(out + ".pts", "w") as pts:
    for j, n in enumerate(sizes):
        for k, s in enumerate(order):
            xs = rows.get((n, s))
            if not xs:
                continue
            x = j + (k - (len(order) - 1) / 2) * width
            q1, med, q3 = quart(xs)
            box.write("%.3f\t%g\t%g\t%g\t%g\t%g\t%d\t%s\n" % (x, q1, min(xs), max(xs), q3, med, len(xs), s))
            for i, v in enumerate(sorted(xs)):
                # the dots spread over the right third of the box, in sample order
                dx = width * 0.3 * (i / max(1, len(xs) - 1) - 0.5) + width * 0.28
                pts.write("%.4f\t%g\t%s\n" % (x + dx, v, s))
with open(out + ".tics", "w") as t:
    t.write(", ".join('"N = %d" %d' % (n, j) for j, n in enumerate(sizes)))
print("%.3f %d" % (width, len(sizes)))
EOF
}

# boxplot NAME DATAFILE TITLE YLABEL: a box plot per cluster size and system
boxplot() {
    local name=$1 src=$DATA/$2 title=$3 ylabel=$4 w k
    if [ ! -s "$src" ]; then log "no $src: $name.png not drawn"; return 0; fi
    read -r w k < <(boxdata "$src" "$TMP/$name")
    [ -s "$TMP/$name.box" ] || { log "$src holds no samples: $name.png not drawn"; return 0; }
    gnuplot <<EOF
$COMMON
set output "$PLOTS/$name.png"
set title "$title"
set ylabel "$ylabel"
set xlabel "cluster size (agents on one 2-CPU machine, loopback)"
set logscale y
set format y "%g"
set xrange [-0.6:$k - 0.4]
set xtics ($(cat "$TMP/$name.tics"))
set boxwidth $w * 0.8 absolute
set style fill solid 0.35 border -1
sys(s, name) = (strcol(8) eq name) ? s : NaN
pts(s, name) = (strcol(3) eq name) ? s : NaN
plot \
  "$TMP/$name.box" using 1:(sys(\$2,"fakts-node")):3:4:5 with candlesticks whiskerbars 0.5 lc rgb C_FK title "fakts-node", \
  "" using 1:(sys(\$6,"fakts-node")):6:6:6 with candlesticks lc rgb "black" lw 2 notitle, \
  "$TMP/$name.pts" using 1:(pts(\$2,"fakts-node")) with points pt 7 ps 0.5 lc rgb C_FK notitle, \
  "$TMP/$name.box" using 1:(sys(\$2,"fakts-node-insecure")):3:4:5 with candlesticks whiskerbars 0.5 lc rgb C_FKI title "fakts-node --insecure-gossip", \
  "" using 1:(sys(\$6,"fakts-node-insecure")):6:6:6 with candlesticks lc rgb "black" lw 2 notitle, \
  "$TMP/$name.pts" using 1:(pts(\$2,"fakts-node-insecure")) with points pt 7 ps 0.5 lc rgb C_FKI notitle, \
  "$TMP/$name.box" using 1:(sys(\$2,"serf")):3:4:5 with candlesticks whiskerbars 0.5 lc rgb C_PEER title "Serf (Debian, LAN profile)", \
  "" using 1:(sys(\$6,"serf")):6:6:6 with candlesticks lc rgb "black" lw 2 notitle, \
  "$TMP/$name.pts" using 1:(pts(\$2,"serf")) with points pt 7 ps 0.5 lc rgb C_PEER notitle
EOF
    log "drew $PLOTS/$name.png"
}

boxplot convergence cluster-convergence.tsv \
    "Convergence: a write on one node until every node shows it (box: quartiles, line: median, dots: samples; a round not done in 30 s counts as 30 s)" \
    "ms until the last node showed it (log scale)"
boxplot detection cluster-detection.tsv \
    "Failure detection: kill -9 of one node until every other node lists it failed" \
    "ms after the kill -9 (log scale)"

# ---- bandwidth: bars per cluster size, whiskers from the least to the busiest node ----------
src=$DATA/cluster-bandwidth.tsv
if [ -s "$src" ]; then
    # one row per cluster size: mean, min, max of each series (missing: -)
    "$PY" - "$src" "$TMP/bw" <<'EOF'
import sys
series = [("fakts-node", "idle"), ("fakts-node", "load"), ("serf", "idle")]
rows, loadname = {}, "under registrations"
for line in open(sys.argv[1]):
    if line.startswith("#") or line.startswith("n\t"):
        continue
    f = line.rstrip("\n").split("\t")
    if len(f) < 6:
        continue
    n, system, window = int(f[0]), f[1], f[2]
    key = (system, "idle" if window == "idle" else "load")
    if window != "idle":
        loadname = window.replace("-", " ").replace(" per s", "/s")
    if key in series:
        rows.setdefault(n, {})[key] = [x if x != "n/a" else "-" for x in f[3:6]]
with open(sys.argv[2], "w") as out:
    for n in sorted(rows):
        cols = []
        for key in series:
            cols += rows[n].get(key, ["-", "-", "-"])
        out.write("N = %d\t%s\n" % (n, "\t".join(cols)))
with open(sys.argv[2] + ".load", "w") as out:
    out.write(loadname)
EOF
    gnuplot <<EOF
$COMMON
set output "$PLOTS/bandwidth.png"
set title "Gossip traffic per node (bar: total / N; whiskers: the least and the busiest node)"
set ylabel "bytes/s per node, IP + TCP/UDP headers included (log scale)"
set xlabel "cluster size"
set logscale y
set format y "%g"
set style data histograms
set style histogram errorbars gap 1 lw 1
set style fill solid 0.7 border -1
set boxwidth 0.9
plot "$TMP/bw" using 2:3:4:xtic(1) lc rgb C_FK title "fakts-node, idle", \
     "" using 5:6:7 lc rgb C_REFRESH title "fakts-node, $(cat "$TMP/bw.load")", \
     "" using 8:9:10 lc rgb C_PEER title "Serf, idle"
EOF
    log "drew $PLOTS/bandwidth.png"
else
    log "no $src: bandwidth.png not drawn"
fi

# ---- HTTP: fakts-node against nginx serving the same bytes --------------------------------
src=$DATA/http.tsv
if [ -s "$src" ]; then
    # The two HTTP plots: bars per client kind, log scale.
    HTTP_BARS='set xlabel "client: x8, x1 keep-alive connections; new conn.: a new connection per request"
set logscale y
set format y "%g"
set style data histograms
set style histogram clustered gap 1
set datafile columnheaders
set style fill solid 0.7 border -1
set boxwidth 0.9
set xtics scale 0'
    gnuplot <<EOF
$COMMON
set output "$PLOTS/http-rates.png"
set title "Requests per second on loopback (wrk): discovery (GET /.well-known/fakts), refresh (POST /lok/o/token/), nginx serving the same bytes"
set ylabel "requests per second (log scale, higher is better)"
$HTTP_BARS
plot "$src" using 2:xtic(1) lc rgb C_FK title "fakts-node discovery", \
     "" using 3 lc rgb C_REFRESH title "fakts-node refresh", \
     "" using 4 lc rgb C_PEER title "nginx static file, same bytes"
EOF
    log "drew $PLOTS/http-rates.png"
    gnuplot <<EOF
$COMMON
set output "$PLOTS/http-cpu.png"
set title "Server CPU time per request, the same runs (utime + stime of the server's processes)"
set ylabel "µs of server CPU per request (log scale, lower is better)"
$HTTP_BARS
plot "$src" using 5:xtic(1) lc rgb C_FK title "fakts-node discovery", \
     "" using 6 lc rgb C_REFRESH title "fakts-node refresh", \
     "" using 7 lc rgb C_PEER title "nginx static file, same bytes"
EOF
    log "drew $PLOTS/http-cpu.png"
else
    log "no $src: http-rates.png and http-cpu.png not drawn"
fi
