// SPDX-License-Identifier: MIT

// Package pingstate is hb-probe's pingstate personality: pingstate's
// command line (--protocol tcp|http|https --address --port --path --check
// --timeout --no-verify-tls --interval --api-host --api-port) watching one
// target with the checks package's prober and pingstate's state machine
// (unknown → up → degraded → down, state.Step with its defaults), served
// on pingstate's endpoints: / and /status (the status object with the
// last 20 results), /state (the state word) and /healthz (200 only when
// up). It runs as `hb-probe pingstate …`, or as `pingstate …` when
// hb-probe is invoked under that name (a symlink). No privileges needed.
package pingstate
