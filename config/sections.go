// SPDX-License-Identifier: MIT

package config

// The sections below are owned by the packages that use them; each lives in
// its own file so that adding keys to one never touches another. Every
// section validates itself (validate returns one error per bad key, named
// "section.key") and is called from Probe.Validate.

// Alerts (alert/, notify/; docs/alerts.md) and User live in alerts.go.

// Web (the dashboard, users' logins, TLS) lives in web.go.
