// SPDX-License-Identifier: MIT

// Package cron parses five-field cron schedules (minute hour day-of-month
// month day-of-week, UTC) and evaluates them: whether a minute matches,
// whether a window that opens at a match is active, and when the schedule
// next fires. The alert engine's maintenance windows (alert/match) and
// the pulse receiver's schedules (push) share it. A pure leaf: no clock
// (times are passed in), no I/O.
package cron
