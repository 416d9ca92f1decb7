// SPDX-License-Identifier: MIT

// Package bench holds hb's reproducible benchmarks: a simulated fleet in
// network namespaces and side-by-side comparisons with peer tools. It needs
// root (network namespaces, raw sockets); see docs/benchmarks.md.
package bench
