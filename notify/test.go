// SPDX-License-Identifier: MIT

package notify

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"
)

// TestChannels sends a test message through every channel (or only the
// one named), directly, not through the outbox, and writes one line per
// channel: "ok" or the error. It returns how many failed; an unknown name
// is ErrNoChannel.
func TestChannels(ctx context.Context, chans map[string]*Spec, name string, w io.Writer) (int, error) {
	names := make([]string, 0, len(chans))
	for n := range chans {
		if name == "" || n == name {
			names = append(names, n)
		}
	}
	if name != "" && len(names) == 0 {
		return 0, fmt.Errorf("%w: %q", ErrNoChannel, name)
	}
	sort.Strings(names)
	failed := 0
	for _, n := range names {
		s := chans[n]
		m := &Message{Channel: n, Time: time.Now().UTC(), Test: true, Alerts: []Item{}}
		m.Finish(1)
		m.Text = fmt.Sprintf("hb test notification to channel %s (%s); if you read this, it works.", n, s.Type)
		sctx, cancel := context.WithTimeout(ctx, s.Timeout+time.Second)
		err := s.Channel.Send(sctx, m)
		cancel()
		if err != nil {
			failed++
			fmt.Fprintf(w, "%-20s %-12s FAILED: %v\n", n, s.Type, err)
		} else {
			fmt.Fprintf(w, "%-20s %-12s ok\n", n, s.Type)
		}
	}
	return failed, nil
}
