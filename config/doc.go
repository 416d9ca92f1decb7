// SPDX-License-Identifier: MIT

// Package config loads hb's TOML configuration: discovery order
// (--config, $HB_CONFIG, $XDG_CONFIG_HOME/hb, ~/.config/hb, ./, /etc/hb),
// precedence (command line over file over defaults) and validation, with
// errors that name the file and line.
package config
