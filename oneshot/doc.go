// SPDX-License-Identifier: MIT

// Package oneshot is hb-probe's one-shot mode (--once) and its fping
// personality: resolve a target list (an unresolvable name is reported and
// the rest probed, as fping does), run the prober engine's Once, and print
// the summaries as hb's table, JSON Lines, or fping's formats. The writers
// are buffered and format without reflection, so printing 65,536 summaries
// costs about what probing them does.
package oneshot
