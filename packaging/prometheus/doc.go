// SPDX-License-Identifier: MIT

// Package prometheus holds no code: it is hb's Prometheus integration as
// shipped files (hb-rules.yml: recording and alerting rules including the
// K-of-N host-down rule; hb-rules.test.yml: their promtool unit tests;
// hb-dashboard.json: a Grafana dashboard) and the Go test that runs
// `promtool check rules` and `promtool test rules` on them and checks
// every dashboard query parses, and (without -short) starts a real
// Prometheus with hb-rules.yml scraping a live hb /metrics to check the RTT
// quantile rules and the heatmap queries with native histograms on and off.
// It needs promtool and prometheus (Debian prometheus).
package prometheus
