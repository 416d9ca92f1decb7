// SPDX-License-Identifier: MIT

// Package bucket is hb's one token bucket: the responder's per-host reply
// limit, the prober's global send pacer (--rate) and the parameters the XDP
// program's per-CPU GCRA bucket is loaded with all come from here, so a
// rate and a burst mean the same thing everywhere.
//
// It is pure: the caller passes the time in, nothing reads the clock.
package bucket
