// SPDX-License-Identifier: MIT

package alert

import (
	"time"

	"github.com/hbmon/hb/event"
)

// Value is one named number of an observation that threshold rules test.
type Value struct {
	Name string
	V    float64
}

// The fields threshold rules can name. Health fields use the API's names
// (docs/api.md); ratios are 0..1, times seconds, rates bytes per second.
// Pushed metrics (obs.Metric) keep their own names.
const (
	FieldRTT          = "rtt_seconds"
	FieldLoss         = "loss_ratio"
	FieldCPU          = "cpu_busy_ratio"
	FieldLoad1        = "load1"
	FieldLoad5        = "load5"
	FieldLoad15       = "load15"
	FieldMemUsed      = "memory_used_ratio"
	FieldSwapUsed     = "swap_used_ratio"
	FieldRootUsed     = "root_used_ratio"
	FieldFullestMount = "fullest_mount_used_ratio"
	FieldNetRx        = "net_rx_bytes_per_second"
	FieldNetTx        = "net_tx_bytes_per_second"
	FieldProcs        = "procs"
	FieldHealthAge    = "health_age_seconds"
	FieldUptime       = "uptime_seconds"
)

// AppendValues appends the numbers e carries to dst: its RTT (successes),
// the check's loss over the window, the health blob's fields and their
// age at e.At, and the observation's metrics.
func AppendValues(dst []Value, e *event.Event) []Value {
	o := e.Obs
	if o != nil && !o.Outcome.Failed() && o.RTT > 0 {
		dst = append(dst, Value{FieldRTT, o.RTT.Seconds()})
	}
	if s := e.Snap; s != nil {
		if st := s.Stats(); st.Results > 0 {
			dst = append(dst, Value{FieldLoss, st.Loss})
		}
	}
	if o == nil {
		return dst
	}
	if o.HasHealth {
		h := &o.Health
		dst = append(dst,
			Value{FieldCPU, float64(h.CPUBusy) / 1000},
			Value{FieldLoad1, float64(h.Load1) / 1000},
			Value{FieldLoad5, float64(h.Load5) / 1000},
			Value{FieldLoad15, float64(h.Load15) / 1000},
			Value{FieldFullestMount, float64(h.FullestMount) / 1000},
			Value{FieldNetRx, float64(h.NetRxRate)},
			Value{FieldNetTx, float64(h.NetTxRate)},
			Value{FieldProcs, float64(h.Procs)},
			Value{FieldUptime, float64(h.Uptime)},
			Value{FieldHealthAge, e.At.Sub(time.Unix(0, h.CollectedAt)).Seconds()},
		)
		if h.MemTotal > 0 {
			dst = append(dst, Value{FieldMemUsed, 1 - float64(h.MemAvailable)/float64(h.MemTotal)})
		}
		if h.SwapTotal > 0 {
			dst = append(dst, Value{FieldSwapUsed, float64(h.SwapUsed) / float64(h.SwapTotal)})
		}
		if h.RootTotal > 0 {
			dst = append(dst, Value{FieldRootUsed, float64(h.RootUsed) / float64(h.RootTotal)})
		}
	} else if m := o.HBM2; m != nil {
		dst = append(dst,
			Value{FieldCPU, float64(m.CPUPercent) / 100},
			Value{FieldMemUsed, float64(m.MemPercent) / 100},
			Value{FieldRootUsed, float64(m.DiskPercent) / 100},
		)
	}
	for _, m := range o.Metrics {
		dst = append(dst, Value{m.Name, m.Value})
		if m.Name == FieldCertExpiry {
			dst = append(dst, Value{FieldCertExpiresIn, m.Value - float64(e.At.UnixNano())/1e9})
		}
	}
	return dst
}

// A certificate's expiry arrives as a timestamp (checks' metric); rules
// want the time left, which the engine derives at the result's time.
const (
	FieldCertExpiry    = "tls_cert_expiry_timestamp_seconds"
	FieldCertExpiresIn = "tls_cert_expires_in_seconds"
)
