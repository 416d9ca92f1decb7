#!/usr/bin/env bash
# bench/run.sh — hb's simulated-fleet benchmarks against fping, oping, the
# kernel's echo path and a userspace raw-socket responder. Needs root and
# fping, oping, tcpdump, wrk, iproute2 (scripts/install-deps.sh installs
# them). Writes docs/benchmarks.md; takes about 15 minutes on 2 cores (the
# 1M-target monitor row alone 3-4 minutes and ~5 GiB of memory).
#
#   bench/run.sh                      # everything (make bench runs this)
#   bench/run.sh -quick -runs 2       # small sizes, for working on the harness
#   bench/run.sh -only sweep,rtt -out -
#   bench/run.sh -only monitor1m -update   # redo one section of docs/benchmarks.md
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	echo "bench/run.sh: needs root (network namespaces, raw sockets, eBPF); skipping" >&2
	exit 0
fi
missing=()
for t in ip fping oping tcpdump wrk; do
	command -v "$t" >/dev/null || missing+=("$t")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "bench/run.sh: missing ${missing[*]} (apt-get install iproute2 fping oping tcpdump wrk, or make tools)" >&2
	exit 1
fi

prefix="hbb$$"
work=$(mktemp -d -t hbbench-run.XXXXXX) # the report prints TMP/ for hbbench-* paths
cleanup() {
	for ns in $(ip netns list | awk '{print $1}' | grep "^$prefix-" || true); do
		ip netns del "$ns" || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ulimit -n 65536 2>/dev/null || true
go build -o "$work/hbbench" ./bench/cmd/hbbench
# Always this tree's hb, built like `make build` (a stale bin/ would be measured otherwise).
version=$(git describe --tags --always --dirty 2>/dev/null || echo 0.0.0-dev)
hb=()
if CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$work/" ./cmd/...; then
	hb=(-hb-probe "$work/hb-probe" -hb-responder "$work/hb-responder")
else
	echo "bench/run.sh: cmd/ does not build; using bin/ if present, else the hb rows say so" >&2
fi
"$work/hbbench" run -prefix "$prefix" "${hb[@]}" "$@"
# HTTP checks at scale, hb-probe against blackbox_exporter + Prometheus
# (bench/cmd/checksbench); appended to the report when a whole report went
# to docs/ (not with -out, -only or -update).
if [[ " $* " != *" -out "* && " $* " != *" -only "* && " $* " != *" -update "* ]] && [ ${#hb[@]} -gt 0 ]; then
	go run ./bench/cmd/checksbench -hb-probe "$work/hb-probe" >>docs/benchmarks.md
fi
