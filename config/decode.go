// SPDX-License-Identifier: MIT

package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	toml "github.com/pelletier/go-toml/v2"
)

// DecodeStrict reads the TOML file at path into v (a pointer to a struct
// holding the defaults: keys absent from the file keep them). Keys that v has
// no field for are rejected. Errors name the position as FILE:LINE:COLUMN so
// editors can jump to it; with several unknown keys all of them are listed.
func DecodeStrict(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return decodeStrict(path, b, v)
}

func decodeStrict(path string, b []byte, v any) error {
	err := toml.NewDecoder(bytes.NewReader(b)).DisallowUnknownFields().Decode(v)
	if err == nil {
		return nil
	}
	var sm *toml.StrictMissingError
	if errors.As(err, &sm) {
		errs := make([]error, 0, len(sm.Errors))
		for i := range sm.Errors {
			e := &sm.Errors[i]
			line, col := e.Position()
			errs = append(errs, &PosError{File: path, Line: line, Column: col, Key: keyString(e.Key()), Msg: "unknown key"})
		}
		return errors.Join(errs...)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, col := de.Position()
		return &PosError{File: path, Line: line, Column: col, Key: keyString(de.Key()), Msg: strings.TrimPrefix(de.Error(), "toml: ")}
	}
	return fmt.Errorf("%s: %w", path, err)
}

func keyString(k toml.Key) string { return strings.Join(k, ".") }

// PosError is a problem at a place in a config file.
type PosError struct {
	File   string
	Line   int // 1-based
	Column int // 1-based
	Key    string
	Msg    string
}

func (e *PosError) Error() string {
	if e.Key != "" {
		return fmt.Sprintf("%s:%d:%d: %s %q", e.File, e.Line, e.Column, e.Msg, e.Key)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// Duration is a time.Duration written in TOML as a Go duration string
// ("500ms", "5s", "720h").
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	x, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(x)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// String returns the duration in Go syntax.
func (d Duration) String() string { return time.Duration(d).String() }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
