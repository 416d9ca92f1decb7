// SPDX-License-Identifier: MIT

// Package match holds the two small languages of the alerting config that
// both config validation and the alert engine parse: label selectors
// ("env=prod,role!=db,site=~fra.*") and cron-like schedules for
// maintenance windows ("0 2 * * 0"). It is a pure leaf: no clock, no I/O.
package match
