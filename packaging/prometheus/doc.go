// SPDX-License-Identifier: MIT

// Package prometheus holds no code: it is hb's Prometheus integration as
// shipped files (hb-rules.yml: recording and alerting rules including the
// K-of-N host-down rule; hb-rules.test.yml: their promtool unit tests;
// hb-dashboard.json: a Grafana dashboard) and the Go test that runs
// `promtool check rules` and `promtool test rules` on them and checks
// every dashboard query parses. It needs promtool (Debian prometheus).
package prometheus
