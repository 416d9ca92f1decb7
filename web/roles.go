// SPDX-License-Identifier: MIT

package web

import (
	"strings"

	"github.com/hbmon/hb/state"
)

// Role is what a user may do on one host, hbd's roles in increasing
// order of power. The zero value is no role: the host is invisible.
type Role uint8

const (
	RoleNone    Role = iota
	RoleMonitor      // sees the host
	RoleManager      // and acknowledges and silences its alerts
	RoleOwner        // the same, and is named as the host's owner
	RoleAdmin        // every host, the settings, the machine API
)

var roleNames = [...]string{"none", "monitor", "manager", "owner", "admin"}

func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return "invalid"
}

// The host labels that name users.
const (
	LabelOwner    = "owner"
	LabelManagers = "managers"
	LabelMonitors = "monitors"
)

// Principal is who makes a request.
type Principal struct {
	Name  string // "" when the dashboard is open (no users configured)
	Admin bool   // admin, or the dashboard is open
	Open  bool   // no users configured: everyone is admin (loopback only)
	Token bool   // authenticated by an API token, not a session
	// Machine: the API's own bearer token (api.token_file), not a user.
	Machine bool
}

// RoleOn returns p's role on a host with labels ls; defaultOwner owns
// hosts without an owner label.
func RoleOn(p Principal, ls state.Labels, defaultOwner string) Role {
	if p.Admin || p.Open {
		return RoleAdmin
	}
	if p.Name == "" {
		return RoleNone
	}
	owner, ok := ls.Get(LabelOwner)
	if !ok {
		owner = defaultOwner
	}
	if owner == p.Name {
		return RoleOwner
	}
	if v, ok := ls.Get(LabelManagers); ok && listHas(v, p.Name) {
		return RoleManager
	}
	if v, ok := ls.Get(LabelMonitors); ok && listHas(v, p.Name) {
		return RoleMonitor
	}
	return RoleNone
}

// listHas reports whether the comma- or space-separated list holds name.
func listHas(list, name string) bool {
	for list != "" {
		var item string
		i := strings.IndexAny(list, ", ")
		if i < 0 {
			item, list = list, ""
		} else {
			item, list = list[:i], list[i+1:]
		}
		if item == name {
			return true
		}
	}
	return false
}

// Can is the permission matrix: whether role r may do a.
func (r Role) Can(a Action) bool {
	switch a {
	case ActView:
		return r >= RoleMonitor
	case ActAck, ActSilence:
		return r >= RoleManager
	case ActSettings, ActMachineAPI:
		return r >= RoleAdmin
	}
	return false
}

// Action is something a user may be allowed to do.
type Action uint8

const (
	ActView       Action = iota + 1 // see a host, its history, alerts, events
	ActAck                          // acknowledge an alert of a host
	ActSilence                      // silence a host's alerts
	ActSettings                     // read the effective configuration
	ActMachineAPI                   // use /api/v1 and /metrics with a session or user token
)
