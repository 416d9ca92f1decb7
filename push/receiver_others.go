// SPDX-License-Identifier: MIT

//go:build !linux

package push

import (
	"context"
	"fmt"
	"runtime"

	"github.com/hbmon/hb/obs"
)

// Run implements obs.Source; the UDP receiver needs Linux (recvmmsg,
// SO_TIMESTAMPNS).
func (r *Receiver) Run(ctx context.Context, sink obs.Sink) error {
	return fmt.Errorf("push: the heartbeat receiver is not supported on %s", runtime.GOOS)
}
