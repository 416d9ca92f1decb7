// SPDX-License-Identifier: MIT

// Package notify delivers alert notifications: the channels (shoutrrr
// service URLs, Alertmanager's v2 API, a generic JSON webhook with a
// versioned schema, an exec hook) and a persistent outbox in SQLite that
// retries with exponential backoff and delivers at least once across
// restarts. Message is the one payload every channel renders.
//
// It needs no privileges; channels reach whatever their URLs name.
package notify
