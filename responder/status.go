// SPDX-License-Identifier: MIT

package responder

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hbmon/hb/bpf"
)

// Status is what a running hb-responder reports about itself. The agent
// rewrites it (atomically: temporary file and rename) after every sample;
// `hb-responder status` reads it.
type Status struct {
	PID           int          `json:"pid"`
	Version       string       `json:"version"`
	Started       time.Time    `json:"started"`
	Updated       time.Time    `json:"updated"`
	LastPublish   time.Time    `json:"last_publish"`
	Generation    uint64       `json:"generation"`
	KeyID         uint8        `json:"key_id"`
	UDPPort       uint16       `json:"udp_port"`
	UserspaceOnly bool         `json:"userspace_only"`
	HBM2          bool         `json:"hbm2"`
	Interfaces    []IfaceState `json:"interfaces"`
	Counters      bpf.Counters `json:"counters"`
	// UDP counts the userspace UDP responder's replies.
	UDP UDPCounters `json:"udp"`
}

// IfaceState is one interface's attachment.
type IfaceState struct {
	Name  string `json:"name"`
	Mode  string `json:"mode"`            // "native", "generic", "tcx", "clsact" or "none"
	Error string `json:"error,omitempty"` // why nothing attached, or why better modes failed
}

// DefaultStatusPath is where the status file goes: under systemd's
// $RUNTIME_DIRECTORY when set, else /run/hb.
func DefaultStatusPath() string {
	if d := os.Getenv("RUNTIME_DIRECTORY"); d != "" {
		return filepath.Join(filepath.SplitList(d)[0], "hb-responder.json")
	}
	return "/run/hb/hb-responder.json"
}

// WriteStatus writes s to path atomically: a temporary file beside it (in
// the status file's own directory, so the rename is atomic), created with
// O_EXCL|O_NOFOLLOW so that nothing planted at the temporary path — a
// symlink to a file the daemon may write — is followed or reused, then
// renamed over path (which replaces a symlink at path, never follows it).
func WriteStatus(path string, s *Status) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	const flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL | syscall.O_NOFOLLOW | syscall.O_CLOEXEC
	f, err := os.OpenFile(tmp, flags, 0o644)
	if errors.Is(err, fs.ErrExist) {
		// Left by a crash, or planted: remove the name (a symlink itself,
		// not its target) and create afresh.
		if err := os.Remove(tmp); err != nil {
			return err
		}
		f, err = os.OpenFile(tmp, flags, 0o644)
	}
	if err != nil {
		return err
	}
	_, werr := f.Write(append(b, '\n'))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(tmp)
		return werr
	}
	return os.Rename(tmp, path)
}

// ReadStatus reads a status file.
func ReadStatus(path string) (*Status, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Status
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}
