// SPDX-License-Identifier: MIT

package oneshot

import (
	"strconv"
	"time"
)

// fping's per-probe and per-target lines, appended to a buffer without
// fmt (65,536 of each in a one-probe sweep of a /16); TestFPingLinesMatchFmt
// holds them to the fmt formats they replaced.

// appendTm appends an RTT the way fping prints it: three significant
// decimals below 1 ms, fewer above.
func appendTm(b []byte, d time.Duration) []byte {
	t := float64(d) / 1e6
	prec := 0
	switch {
	case t < 1:
		prec = 3
	case t < 10:
		prec = 2
	case t < 100:
		prec = 1
	}
	return strconv.AppendFloat(b, t, 'f', prec, 64)
}

// sprintTm is appendTm as a string.
func sprintTm(d time.Duration) string { return string(appendTm(make([]byte, 0, 16), d)) }

// appendPadded appends name left-aligned in width columns.
func appendPadded(b []byte, name string, width int) []byte {
	b = append(b, name...)
	for range width - len(name) {
		b = append(b, ' ')
	}
	return b
}

// appendReply appends the count mode's line for probe k of one target
// (`NAME : [k], SIZE bytes, RTT ms (AVG avg, LOSS% loss)`, or `timed out`
// when ok is false); avg < 0 prints fping's NaN.
func appendReply(b []byte, name string, width, k, size int, ok bool, rtt, avg time.Duration, loss int) []byte {
	b = appendPadded(b, name, width)
	b = append(b, " : ["...)
	b = strconv.AppendInt(b, int64(k), 10)
	if ok {
		b = append(b, "], "...)
		b = strconv.AppendInt(b, int64(size), 10)
		b = append(b, " bytes, "...)
		b = appendTm(b, rtt)
		b = append(b, " ms ("...)
	} else {
		b = append(b, "], timed out ("...)
	}
	if avg >= 0 {
		b = appendTm(b, avg)
	} else {
		b = append(b, "NaN"...)
	}
	b = append(b, " avg, "...)
	b = strconv.AppendInt(b, int64(loss), 10)
	return append(b, "% loss)\n"...)
}

// appendSummary appends the count mode's per-target summary
// (`NAME : xmt/rcv/%loss = S/R/L%, min/avg/max = MIN/AVG/MAX`).
func appendSummary(b []byte, h *fpingHost, width int) []byte {
	loss := 0
	if h.sent > 0 {
		loss = (h.sent - h.recv) * 100 / h.sent
	}
	b = appendPadded(b, h.name, width)
	b = append(b, " : xmt/rcv/%loss = "...)
	b = strconv.AppendInt(b, int64(h.sent), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(h.recv), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(loss), 10)
	b = append(b, '%')
	if h.recv > 0 {
		b = append(b, ", min/avg/max = "...)
		b = appendTm(b, h.min)
		b = append(b, '/')
		b = appendTm(b, h.sum/time.Duration(h.recv))
		b = append(b, '/')
		b = appendTm(b, h.max)
	}
	return append(b, '\n')
}
