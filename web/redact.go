// SPDX-License-Identifier: MIT

package web

import (
	"strings"

	toml "github.com/pelletier/go-toml/v2"
)

// Redacted returns cfg (a config struct) as a tree of maps with the
// values of secret keys replaced by "<redacted>": passwords, tokens,
// notification URLs (shoutrrr URLs carry credentials), headers, commands'
// environment. Paths of secret files (*_file) are shown: they are not the
// secrets.
func Redacted(cfg any) (map[string]any, error) {
	b, err := toml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := toml.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	redactTree(m)
	return m, nil
}

// secretKey reports whether a key's value is a secret.
func secretKey(k string) bool {
	k = strings.ToLower(k)
	if strings.HasSuffix(k, "_file") {
		return false
	}
	for _, s := range []string{"password", "secret", "token", "headers", "env", "auth", "psk"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return k == "url" || k == "key" || strings.HasSuffix(k, "_url")
}

func redactTree(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if secretKey(k) {
				if x != nil && x != "" {
					t[k] = "<redacted>"
				}
				continue
			}
			redactTree(x)
		}
	case []any:
		for _, x := range t {
			redactTree(x)
		}
	}
}
