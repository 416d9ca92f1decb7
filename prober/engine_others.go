// SPDX-License-Identifier: MIT

//go:build !linux

package prober

import (
	"context"
	"errors"
	"runtime"
)

var errUnsupported = errors.New("prober: raw and ping sockets are not supported on " + runtime.GOOS)

// Engine probes targets; it is Linux only.
type Engine struct{}

// New returns an error off Linux.
func New(cfg Config) (*Engine, error) { return nil, errUnsupported }

// Mode is empty off Linux.
func (e *Engine) Mode() Mode { return Mode{} }

// ID is 0 off Linux.
func (e *Engine) ID() uint16 { return 0 }

// Stats is empty off Linux.
func (e *Engine) Stats() Stats { return Stats{} }

// SetTargets does nothing off Linux.
func (e *Engine) SetTargets(ts []Target) {}

// SetTargetFunc does nothing off Linux.
func (e *Engine) SetTargetFunc(gen uint64, n int, at func(i int) Target) {}

// Close does nothing off Linux.
func (e *Engine) Close() error { return nil }

// Run returns an error off Linux.
func (e *Engine) Run(ctx context.Context, fn func(*Result)) error { return errUnsupported }

// RunTurns is unsupported on this platform.
func (e *Engine) RunTurns(ctx context.Context, fn func(*Result), endTurn func()) error {
	return errUnsupported
}

// Once returns an error off Linux.
func (e *Engine) Once(ctx context.Context, targets []Target, opts OnceOptions) ([]Summary, error) {
	return nil, errUnsupported
}
