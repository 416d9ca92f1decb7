// SPDX-License-Identifier: MIT

// Package testutil holds test helpers: network namespaces and veth pairs
// that are always removed, running code inside a namespace on a locked OS
// thread, and skipping a test with a reason when a capability is missing.
// Simulated hosts use addresses from 198.18.0.0/15 (RFC 2544) only.
package testutil
