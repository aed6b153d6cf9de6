#!/usr/bin/env bash
# make bench: runs the benchmarks in one sitting and prints each figure beside
# the bare chi baseline measured in the same run (this machine is shared and
# noisy: compare ratios, not absolute numbers). Raw output: bench.out.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${BENCH_OUT:-bench.out}
time=${BENCHTIME:-2s}
count=${BENCHCOUNT:-1}
{
  go test -run '^$' -bench 'BenchmarkChiBaseline' -benchtime "$time" -count "$count" ./bench/
  go test -run '^$' -bench 'BenchmarkStore' -benchtime "$time" -count "$count" ./store/sqlite/ ./store/mongo/
  go test -run '^$' -bench 'BenchmarkAuthedGet|BenchmarkLogin' -benchtime "$time" -count "$count" ./bench/
  go test -run '^$' -bench 'BenchmarkObjects' -benchtime "${OBJECT_REQUESTS:-20000}x" -count "$count" ./bench/
  go test -run '^$' -bench 'BenchmarkGet' -benchtime "$time" -count "$count" ./cache/
  go test -run '^$' -bench 'BenchmarkObjectCache' -benchtime "${OBJECT_REQUESTS:-20000}x" -count "$count" ./bench/
  go test -run '^$' -bench 'BenchmarkSync' -benchtime "${SYNC_RUNS:-3}x" -count "$count" ./bench/
  go test -run '^$' -bench 'BenchmarkFlows' -benchtime "${FLOW_REQUESTS:-20000}x" -count "$count" ./bench/
  go test -run '^$' -bench 'BenchmarkAnalytics' -benchtime "${ANALYTICS_BATCHES:-2000}x" -count "$count" ./bench/
  go test -run '^$' -bench 'BenchmarkAuditOverhead' -benchtime "${AUDIT_REQUESTS:-40000}x" -count "$count" ./bench/
  go test -run '^$' -bench 'BenchmarkChiBaseline' -benchtime "$time" -count "$count" ./bench/
} 2>&1 | tee "$out"
echo
echo "== summary (ops/s; ratio = figure / mean chi baseline of this run) =="
awk '
  /^pkg:/ { pkg=$2; sub(/.*skybridge\//, "", pkg) }
  /^BenchmarkFlows/ {
    name=$1; sub(/-[0-9]+$/, "", name); sub(/^BenchmarkFlows\/flow=/, "", name)
    for (i=2;i<=NF;i++) {
      if ($(i+1)=="flow/chi") fr[name]=fr[name] sprintf(" %s", $i)
      if ($(i+1)=="flow-ops/s") fo[name]=fo[name] sprintf(" %.0f", $i)
      if ($(i+1)=="chi-ops/s") fc[name]=fc[name] sprintf(" %.0f", $i)
      if ($(i+1)=="cpu-chi/flow") fcpu[name]=fcpu[name] sprintf(" %s", $i)
    }
    next
  }
  /^BenchmarkAuditOverhead/ {
    for (i=2;i<=NF;i++) {
      if ($(i+1)=="on/off") ratios=ratios sprintf(" %s", $i)
      if ($(i+1)=="cpu-off/on") cpus=cpus sprintf(" %s", $i)
    }
    next
  }
  /^BenchmarkAnalytics/ {
    an=$1; sub(/-[0-9]+$/, "", an); sub(/^BenchmarkAnalytics\//, "", an)
    for (i=2;i<=NF;i++) if ($(i+1)=="events/s") aev[an]=aev[an] sprintf(" %.0f", $i)
  }
  /^Benchmark/ {
    name=$1; sub(/-[0-9]+$/, "", name)
    p99=""
    for (i=2;i<=NF;i++) { if ($(i+1)=="p99-ms") p99=$i; if ($(i+1)=="ops/s") v=$i }
    if (name ~ /ChiBaseline/) { base+=v; nb++ ; next }
    rows[++n]=sprintf("%s %s", pkg, name); vals[n]=v; p99s[n]=p99
  }
  END {
    if (nb==0) { print "no baseline measured"; exit 1 }
    b=base/nb
    printf "%-60s %12.0f ops/s\n", "bench BenchmarkChiBaseline (bare chi over loopback, 32 clients)", b
    for (i=1;i<=n;i++) {
      printf "%-60s %12.0f ops/s  %8.4fx baseline%s\n", rows[i], vals[i], vals[i]/b, (p99s[i] != "" ? "  p99 " p99s[i] " ms" : "")
      if (rows[i] ~ /AuthedGet\/audit=true/) on=vals[i]
      if (rows[i] ~ /AuthedGet\/audit=false/) off=vals[i]
      if (rows[i] ~ /ObjectCache\/cache=on/) con=vals[i]
      if (rows[i] ~ /ObjectCache\/cache=off/) coff=vals[i]
      if (rows[i] ~ /cache BenchmarkGet\/impl=memory/) gmem=vals[i]
      if (rows[i] ~ /cache BenchmarkGet\/impl=redis/) gred=vals[i]
    }
    if (con && coff) printf "%-60s %12.2f (same run)\n", "object GET by id, cached / uncached (BenchmarkObjectCache)", con/coff
    if (gmem && gred) printf "%-60s %12.1f (same run)\n", "cache get, in-process / Redis over loopback (BenchmarkGet)", gmem/gred
    if (on && off) printf "%-60s %12.2f (separate runs)\n", "authenticated GET, audit on / audit off", on/off
    if (fr["three-calls"] != "") printf "%-60s %s (goal >= 0.5; flow%s vs chi%s ops/s, alternating rounds)\n", "3-call flow / chi proxy of the same calls (BenchmarkFlows)", fr["three-calls"], fo["three-calls"], fc["three-calls"]
    if (fr["cached"] != "") printf "%-60s %s (goal >= 0.7; flow%s vs chi%s ops/s, alternating rounds)\n", "cached flow / chi handler with the same JSON (BenchmarkFlows)", fr["cached"], fo["cached"], fc["cached"]
    if (fcpu["three-calls"] != "") printf "%-60s %s (process CPU per request, chi / flow)\n", "3-call flow in CPU (BenchmarkFlows)", fcpu["three-calls"]
    if (fcpu["cached"] != "") printf "%-60s %s (process CPU per request, chi / flow)\n", "cached flow in CPU (BenchmarkFlows)", fcpu["cached"]
    for (k in aev) printf "%-60s %s events/s (32 clients; ratio above is batches/s)\n", "analytics ingestion, " k " (BenchmarkAnalytics)", aev[k]
    if (ratios != "") printf "%-60s %s (goal >= 0.9; two nodes, alternating rounds, writer work charged)\n", "audit overhead on/off (BenchmarkAuditOverhead)", ratios
    if (cpus != "") printf "%-60s %s (CPU per request, off / on, same rounds)\n", "audit overhead in CPU (BenchmarkAuditOverhead)", cpus
  }' "$out"
