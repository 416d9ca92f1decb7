#!/usr/bin/env bash
# make run: hb-responder on loopback, hb-probe watching 127.0.0.1 and ::1 with
# the API on 127.0.0.1:8787 and the history in the default SQLite file.
# Ctrl-C stops both. `make build` has already built bin/hb-probe and
# bin/hb-responder.
#
# As root: the responder answers in the kernel (XDP/TC on lo) and hb-probe
# uses raw ICMP sockets with kernel timestamps. Without privileges: the
# responder answers UDP probes from userspace and hb-probe probes over UDP.
#
# Environment: HB_LISTEN (API address, default 127.0.0.1:8787),
# HB_INTERVAL (default 2s), BIN (default bin).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin}
LISTEN=${HB_LISTEN:-127.0.0.1:8787}
INTERVAL=${HB_INTERVAL:-2s}

if [[ ! -x $BIN/hb-probe ]]; then
	echo "run-local: $BIN/hb-probe is missing; run 'make build' (or just 'make run')" >&2
	exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/hb-run.XXXXXX")
pids=()
cleanup() {
	trap - EXIT INT TERM
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'echo; echo "run-local: stopping"; exit 0' INT TERM

cat >"$work/targets" <<'TARGETS'
127.0.0.1 name=localhost-v4 env=local
::1       name=localhost-v6 env=local
TARGETS

probe_args=(--targets "$work/targets" --interval "$INTERVAL" --listen "$LISTEN")
if [[ $(id -u) -eq 0 ]]; then
	mode="root: kernel responder (XDP/TC on lo), raw ICMP probes with kernel timestamps"
	responder_args=(--interfaces lo --include-lo)
else
	mode="not root: no CAP_NET_RAW/CAP_BPF, so the responder answers UDP in userspace and hb-probe probes over UDP (--proto udp). For raw ICMP with kernel timestamps: sudo make run"
	responder_args=(--userspace-only)
	probe_args+=(--proto udp)
fi
echo "run-local: $mode"

if [[ -x $BIN/hb-responder ]]; then
	"$BIN/hb-responder" "${responder_args[@]}" --status-file "$work/hb-responder.json" \
		2> >(sed -u 's/^/[hb-responder] /' >&2) &
	pids+=($!)
	sleep 1
	if ! kill -0 "${pids[0]}" 2>/dev/null; then
		echo "run-local: hb-responder exited; hb-probe will see plain echoes (no health)" >&2
		pids=()
	fi
else
	echo "run-local: $BIN/hb-responder is not built; probing without it (plain echoes, no health)" >&2
fi

"$BIN/hb-probe" "${probe_args[@]}" 2> >(tee "$work/probe.log" | sed -u 's/^/[hb-probe] /' >&2) &
probe_pid=$!
pids+=($probe_pid)

# hb-probe binds the API first and exits non-zero when it cannot (port in
# use, address not local): say so instead of printing curl lines that
# would reach whatever holds the port. Wait until it is up or gone.
up=
for _ in $(seq 50); do
	if ! kill -0 "$probe_pid" 2>/dev/null; then
		break
	fi
	if grep -q 'msg=monitoring' "$work/probe.log" 2>/dev/null; then
		up=1
		break
	fi
	sleep 0.2
done
if ! kill -0 "$probe_pid" 2>/dev/null; then
	status=0
	wait "$probe_pid" || status=$?
	echo "run-local: hb-probe failed to start (exit status $status); see its log above." >&2
	if grep -q 'cannot listen' "$work/probe.log" 2>/dev/null; then
		echo "run-local: the API address $LISTEN is in use or not local; pick another with HB_LISTEN=127.0.0.1:PORT make run" >&2
	fi
	exit 1
fi
if [[ -z $up ]]; then
	echo "run-local: hb-probe is still starting; the API may not answer yet" >&2
fi

db=$("$BIN/hb-probe" check-config "${probe_args[@]}" 2>/dev/null | sed -n 's/^# database: //p' || true)
cat <<MSG

run-local: hb-probe is watching 127.0.0.1 and ::1 every $INTERVAL; history in ${db:-the default database}.
Dashboard: http://$LISTEN/ui/   (open on loopback while no users are configured)
Try:
  curl -s http://$LISTEN/healthz
  curl -s http://$LISTEN/state
  curl -s http://$LISTEN/api/v1/hosts
  curl -s http://$LISTEN/api/v1/hosts/localhost-v4
  curl -s http://$LISTEN/api/v1/hosts/localhost-v4/history
  curl -s http://$LISTEN/api/v1/summary
  curl -s http://$LISTEN/metrics | grep ^hb_
  $BIN/hb-probe backup /tmp/hb-backup.db      # online copy of the history
Ctrl-C stops both.

MSG

# Stop when either process exits, or on Ctrl-C.
set +e
wait -n "${pids[@]}"
echo "run-local: a process exited; stopping" >&2
