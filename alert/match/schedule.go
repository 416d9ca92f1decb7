// SPDX-License-Identifier: MIT

package match

import "github.com/hbmon/hb/internal/cron"

// Schedule is a maintenance window's cron expression (internal/cron: five
// fields, UTC, the pulse receiver's schedules are the same language).
type Schedule = cron.Schedule

// ParseSchedule parses a five-field cron expression; "@daily", "@weekly",
// "@hourly" and "@monthly" are accepted too.
func ParseSchedule(s string) (*Schedule, error) { return cron.Parse(s) }
