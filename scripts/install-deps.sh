#!/usr/bin/env bash
# Installs what hb's tests, benchmarks and packaging need on a fresh Debian
# machine. Idempotent; run as root. --check only lists what is missing.
# HB_WITH_CLANG=1 adds clang/libbpf-dev (make generate), HB_WITH_PACKAGING=1
# what make package-test needs, HB_WITH_BENCH=1 what make bench needs;
# HB_DEPS_EXTRA more packages; HB_APT_UPDATED=1 skips apt-get update.
set -euo pipefail
pkgs=(iproute2 iputils-ping procps fping oping tcpdump libcap2-bin ca-certificates git make prometheus)
# push: curl (watchtower script test), python3 (hbc-style sender), bind9 and
# bind9-dnsutils (dynamic DNS against a real BIND)
pkgs+=(curl python3 bind9 bind9-dnsutils)
# web: the dashboard's browser tests (headless, driven by chromedp)
pkgs+=(chromium)
# alerts: a real Alertmanager and SMTP server receive notifications
pkgs+=(prometheus-alertmanager python3-aiosmtpd)
# security: tx/rx against real netfilter rules (oneshot TestNetfilterTxRx)
pkgs+=(nftables)
[ "${HB_WITH_CLANG:-0}" = 1 ] && pkgs+=(clang llvm libbpf-dev)
[ "${HB_WITH_PACKAGING:-0}" = 1 ] && pkgs+=(debootstrap lintian rpm systemd)
[ "${HB_WITH_BENCH:-0}" = 1 ] && pkgs+=(wrk prometheus-blackbox-exporter zmap masscan)
missing=()
for p in "${pkgs[@]}" ${HB_DEPS_EXTRA:-}; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${1:-}" = --check ]; then
  [ ${#missing[@]} -eq 0 ] || echo "note: not installed: ${missing[*]} (tests that need them skip; as root, make deps installs them)" >&2
  exit 0
fi
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # HB_APT_UPDATED=1: the caller (.ci/run) has just run apt-get update.
  [ "${HB_APT_UPDATED:-0}" = 1 ] || apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
