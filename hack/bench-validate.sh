#!/usr/bin/env bash
# Measures `bkctl validate`: one call on a generated corpus of 1,000 builders files
# (goal ≤ 1 s on 2 cores) and one small file, process start included (goal ≤ 30 ms wall).
# Prints medians of several runs; asserts nothing.
set -euo pipefail
BIN=${1:-bin/bkctl}
RUNS=${RUNS:-7}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

for i in $(seq 0 999); do
  cat > "$dir/builders-$i.yaml" <<YAML
apiVersion: bkctl/v1alpha1
kind: Builders
metadata: {name: fleet-$i, namespace: buildkit-$((i % 10))}
builders:
  - name: kube$i
    defaults:
      image: moby/buildkit:v0.34.2
      loadbalance: sticky
      resources:
        requests: {cpu: 500m, memory: 1Gi, ephemeral-storage: 10Gi}
        limits: {cpu: "2", memory: 4Gi}
      labels: {team: platform, cost-center: ci}
      tolerations: [{key: dedicated, operator: Equal, value: builds, effect: NoSchedule}]
    nodes:
      - name: amd64-$i
        platforms: [linux/amd64, linux/386]
        replicas: $((i % 4 + 1))
        nodeSelector: {kubernetes.io/arch: amd64}
      - name: arm64-$i
        platforms: [linux/arm64]
        nodeSelector: {kubernetes.io/arch: arm64}
        rootless: true
        storage: {persistentVolume: {size: 50Gi, storageClassName: fast}}
        buildkitd:
          flags: [--debug]
          config: |
            [worker.oci]
              gc = true
              gckeepstorage = 20000
        timeout: 90s
YAML
done
cp "$dir/builders-0.yaml" "$dir/small.yaml"

now_ms() { date +%s%N | awk '{printf "%.3f", $1/1e6}'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

time_cmd() { # runs "$@" RUNS times, prints the median wall time in ms
  for _ in $(seq "$RUNS"); do
    t0=$(now_ms); "$@" >/dev/null; t1=$(now_ms)
    echo "$t0 $t1" | awk '{print $2-$1}'
  done | median
}

"$BIN" validate "$dir"/builders-*.yaml >/dev/null # warm the page cache
many=$(time_cmd "$BIN" validate "$dir"/builders-*.yaml)
RUNS=$((RUNS * 3))
one=$(time_cmd "$BIN" validate "$dir/small.yaml")
peak=$( { /usr/bin/time -f '%M' "$BIN" validate "$dir"/builders-*.yaml >/dev/null; } 2>&1 | tail -1 )
printf 'validate 1000 files, one call: median %8.1f ms  (goal ≤ 1000 ms)  peak RSS %s KiB\n' "$many" "$peak"
printf 'validate one small file:       median %8.1f ms  (goal ≤ 30 ms, process start included)\n' "$one"
