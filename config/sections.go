package config

// The sections below are owned by the packages that use them; each lives in
// its own file so that adding keys to one never touches another. Every
// section validates itself (validate returns one error per bad key, named
// "section.key") and is called from Probe.Validate.

// Alerts configures rules, channels, routing, silences and maintenance
// (alert/, notify/; docs/alerts.md). Filled in by the alerting work.
type Alerts struct{}

func (a *Alerts) validate() []error { return nil }

// Web configures the dashboard, sessions and TLS (web/).
type Web struct{}

func (w *Web) validate() []error { return nil }

// User is one person who can log in, be notified, and own hosts
// (hbd's users; docs/alerts.md and the dashboard docs).
type User struct {
	Name string `toml:"name"`
}

func validateUsers(us []User) []error { return nil }
