package main

import (
	"context"
	"errors"
)

// runDaemon runs hb-probe continuously (state table, history, API). The
// daemon-mode issue replaces this file.
func runDaemon(ctx context.Context, o *options) error {
	return errors.New("daemon mode is not built yet; use --once")
}
