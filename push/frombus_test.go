// SPDX-License-Identifier: MIT

package push

import (
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/state"
)

// TestFromBusStateChanges: a check's state change is logged under the
// check; a host-only change (a reload changed the host's checks: Old ==
// New) under the host, with the core's text and the host's level.
func TestFromBusStateChanges(t *testing.T) {
	at := time.Unix(1700000000, 0)
	ev, ok := FromBus(event.Event{Type: event.StateChange, At: at, Host: "db", Check: "tcp:22",
		Old: state.Up, New: state.Down, HostOld: state.Up, HostNew: state.Degraded})
	if !ok || ev.Check != "tcp:22" || ev.Level != "error" || ev.Message != "db tcp:22: up -> down" || ev.Type != "state_change" {
		t.Fatalf("check change: %+v", ev)
	}
	ev, ok = FromBus(event.Event{Type: event.StateChange, At: at, Host: "db", Check: "tcp:22",
		Old: state.Up, New: state.Up, HostOld: state.Up, HostNew: state.Degraded,
		Text: "host db: up -> degraded (targets applied, SIGHUP: its checks changed)"})
	if !ok || ev.Check != "" || ev.Level != "warning" || !strings.HasPrefix(ev.Message, "host db: up -> degraded") || ev.Source != "hb" {
		t.Fatalf("host-only change: %+v", ev)
	}
}
