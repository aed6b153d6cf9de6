#!/usr/bin/env bash
# make bench: runs the benchmarks in one sitting and prints each figure beside
# the bare chi baseline measured in the same run (this machine is shared and
# noisy: compare ratios, not absolute numbers). Raw output: bench.out.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${BENCH_OUT:-bench.out}
time=${BENCHTIME:-2s}
count=${BENCHCOUNT:-1}
# mosquitto is BenchmarkMQTT's baseline, run in the same sitting; without it
# the benchmark reports Skybridge alone.
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ] && [ -z "${MOSQUITTO:-}" ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
  ($sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mosquitto) >/dev/null 2>&1 ||
    echo "# mosquitto could not be installed (apt-get install mosquitto, or set MOSQUITTO=<binary>): BenchmarkMQTT runs without its mosquitto baseline and ratios" >&2
fi
{
  go test -run '^$' -bench 'BenchmarkChiBaseline' -benchtime "$time" -count "$count" ./bench/
  go test -run '^$' -bench 'BenchmarkStore' -benchtime "$time" -count "$count" ./store/sqlite/ ./store/mongo/
  go test -run '^$' -bench 'BenchmarkAuthedGet|BenchmarkLogin' -benchtime "$time" -count "$count" ./bench/
  go test -run '^$' -bench 'BenchmarkObjects' -benchtime "${OBJECT_REQUESTS:-20000}x" -count "$count" ./bench/
  go test -run '^$' -bench 'BenchmarkGet' -benchtime "$time" -count "$count" ./cache/
  go test -run '^$' -bench 'BenchmarkObjectCache' -benchtime "${OBJECT_REQUESTS:-20000}x" -count "$count" ./bench/
  go test -run '^$' -bench 'BenchmarkSync' -benchtime "${SYNC_RUNS:-3}x" -count "$count" ./bench/
  go test -run '^$' -bench 'BenchmarkFlows' -benchtime "${FLOW_REQUESTS:-20000}x" -count "$count" ./bench/
  go test -run '^$' -bench 'BenchmarkRequest' -benchtime "$time" -count "$count" ./dashboard/
  go test -run '^$' -bench 'BenchmarkShadowRoundTrip' -benchtime "${SHADOW_UPDATES:-5000}x" -count "$count" ./bench/
  go test -run '^$' -bench 'BenchmarkTelemetry' -benchtime "${TELEMETRY_ROUNDS:-2}x" -count "$count" ./bench/
  go test -run '^$' -bench 'BenchmarkAnalytics' -benchtime "${ANALYTICS_BATCHES:-2000}x" -count "$count" ./bench/
  go test -run '^$' -bench 'BenchmarkAuditOverhead' -benchtime "${AUDIT_REQUESTS:-40000}x" -count "$count" ./bench/
  go test -run '^$' -bench 'BenchmarkMQTT$' -benchtime 1x -count "$count" -timeout 30m ./bench/
  # 10,000 idle devices (MQTT_IDLE_DEVICES): raises RLIMIT_NOFILE to the hard limit, reports the server's RSS.
  go test -run '^$' -bench 'BenchmarkMQTTIdleDevices' -benchtime 1x -count "$count" -timeout 30m ./bench/
  go test -run '^$' -bench 'BenchmarkPushTopicSend' -benchtime 1x -count "$count" -timeout 30m ./bench/
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
  /^BenchmarkPushTopicSend/ {
    for (i=2;i<=NF;i++) {
      if ($(i+1)=="notifications/s") pn=pn sprintf(" %.0f", $i)
      if ($(i+1)=="send-s") ps=ps sprintf(" %.1f", $i)
      if ($(i+1)=="peak-rss-MiB") pr=pr sprintf(" %.0f", $i)
      if ($(i+1)=="get-p99-ratio") pg=pg sprintf(" %.2f", $i)
    }
    next
  }
  /^BenchmarkTelemetry/ {
    for (i=2;i<=NF;i++) {
      if ($(i+1)=="stored-msg/s") tst=tst sprintf(" %.0f", $i)
      if ($(i+1)=="raw-msg/s") traw=traw sprintf(" %.0f", $i)
      if ($(i+1)=="stored/raw") tratio=tratio sprintf(" %s", $i)
      if ($(i+1)=="dropped") tdrop=tdrop sprintf(" %.0f", $i)
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
  /^BenchmarkMQTTIdleDevices/ {
    for (i=2;i<=NF;i++) {
      if ($(i+1)=="KiB/device") idk=idk sprintf(" %.1f", $i)
      if ($(i+1)=="rss-connected-MiB") idr=idr sprintf(" %.0f", $i)
      if ($(i+1)=="rss-before-MiB") idb=idb sprintf(" %.0f", $i)
      if ($(i+1)=="rss-reconnected-MiB") idc=idc sprintf(" %.0f", $i)
      if ($(i+1)=="devices") idn=$i
    }
    next
  }
  /^BenchmarkMQTT\// {
    name=$1; sub(/-[0-9]+$/, "", name); sub(/^BenchmarkMQTT\//, "", name)
    for (i=2;i<=NF;i++) {
      if ($(i+1)=="msg/s") mq_sky[name]=mq_sky[name] sprintf(" %.0f", $i)
      if ($(i+1)=="mosquitto-msg/s") mq_mos[name]=mq_mos[name] sprintf(" %.0f", $i)
      if ($(i+1)=="sky/mosquitto") mq_ratio[name]=mq_ratio[name] sprintf(" %s", $i)
      if ($(i+1)=="cpu-mosquitto/sky") mq_cpu[name]=mq_cpu[name] sprintf(" %s", $i)
      if ($(i+1)=="p50-ms") mq_p50[name]=mq_p50[name] sprintf(" %s", $i)
      if ($(i+1)=="p99-ms" && name=="shadow") mq_p99[name]=mq_p99[name] sprintf(" %s", $i)
      if ($(i+1)=="echo-p50-ms") mq_ep50=mq_ep50 sprintf(" %s", $i)
      if ($(i+1)=="echo-p99-ms") mq_ep99=mq_ep99 sprintf(" %s", $i)
    }
    next
  }
  /^BenchmarkRequest\// {
    dn=$1; sub(/-[0-9]+$/, "", dn); sub(/^BenchmarkRequest\//, "", dn)
    for (i=2;i<=NF;i++) {
      if ($(i+1)=="ns/op") dns[dn]=dns[dn] sprintf(" %s", $i)
      if ($(i+1)=="allocs/op") dal[dn]=dal[dn] sprintf(" %s", $i)
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
    for (k in dns) printf "%-60s %s ns/op,%s allocs/op (in process, no network)\n", "dashboard recorder per /v1 request, " k " (BenchmarkRequest)", dns[k], dal[k]
    for (k in aev) printf "%-60s %s events/s (32 clients; ratio above is batches/s)\n", "analytics ingestion, " k " (BenchmarkAnalytics)", aev[k]
    if (ratios != "") printf "%-60s %s (goal >= 0.9; two nodes, alternating rounds, writer work charged)\n", "audit overhead on/off (BenchmarkAuditOverhead)", ratios
    for (q=0;q<=1;q++) { k="qos=" q; if (mq_sky[k] != "") printf "%-60s %s (goal >= 1.0; skybridge%s vs mosquitto%s msg/s, same load, same run)\n", "MQTT QoS " q " delivered, Skybridge / mosquitto (BenchmarkMQTT)", (mq_ratio[k] != "" ? mq_ratio[k] : " n/a (no mosquitto)"), mq_sky[k], (mq_mos[k] != "" ? mq_mos[k] : " -"); if (mq_cpu[k] != "") printf "%-60s %s (broker CPU per delivered message, mosquitto / Skybridge)\n", "MQTT QoS " q " in CPU (BenchmarkMQTT)", mq_cpu[k] }
    if (mq_p50["shadow"] != "") printf "%-60s %s /%s ms (plain MQTT echo%s /%s ms, same run)\n", "shadow update round trip over MQTT p50 / p99 (BenchmarkMQTT)", mq_p50["shadow"], mq_p99["shadow"], mq_ep50, mq_ep99
    if (idk != "") printf "%-60s %s KiB/device (server RSS%s ->%s MiB,%s MiB after all reconnected)\n", idn " idle MQTT devices, server RSS per device (BenchmarkMQTTIdleDevices)", idk, idb, idr, idc
    if (tst != "") printf "%-60s %s msg/s stored (raw MQTT%s msg/s, stored/raw%s, dropped%s)\n", "telemetry over MQTT into the store (BenchmarkTelemetry)", tst, traw, tratio, tdrop
    if (pn != "") printf "%-60s %s notifications/s, %s s (goal < 60 s), peak RSS%s MiB\n", "push: 100,000-installation topic send to the fakes", pn, ps, pr
    if (pg != "") printf "%-60s %s (goal < 1.5; object GETs during the send / idle)\n", "push: GET p99 during the send / idle (BenchmarkPushTopicSend)", pg
    if (cpus != "") printf "%-60s %s (CPU per request, off / on, same rounds)\n", "audit overhead in CPU (BenchmarkAuditOverhead)", cpus
  }' "$out"
