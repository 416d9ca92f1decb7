// SPDX-License-Identifier: MIT

package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/nicholas-fedor/shoutrrr"
	"github.com/nicholas-fedor/shoutrrr/pkg/router"
	"github.com/nicholas-fedor/shoutrrr/pkg/types"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/internal/keyfile"
)

// Channel sends one message. Send returns nil only when the destination
// accepted it.
type Channel interface {
	Send(ctx context.Context, m *Message) error
}

// Spec is a built channel with the settings the engine and outbox use.
type Spec struct {
	Name      string
	Type      string
	MinLevel  string // warning, critical or unknown
	RateLimit int    // messages per minute; 0 unlimited
	Timeout   time.Duration
	Channel   Channel
}

// Build makes the channels of cfg. URL files are read here.
func Build(cfg []config.AlertChannel, defTimeout time.Duration) (map[string]*Spec, error) {
	out := make(map[string]*Spec, len(cfg))
	var errs []error
	for i := range cfg {
		c := &cfg[i]
		s, err := buildOne(c, defTimeout)
		if err != nil {
			errs = append(errs, fmt.Errorf("alerts.channels[%d] %q: %w", i, c.Name, err))
			continue
		}
		out[c.Name] = s
	}
	return out, errors.Join(errs...)
}

func buildOne(c *config.AlertChannel, defTimeout time.Duration) (*Spec, error) {
	s := &Spec{Name: c.Name, Type: c.ChannelType(), MinLevel: c.MinLevel, RateLimit: c.RateLimit, Timeout: c.Timeout.D()}
	if s.MinLevel == "" {
		s.MinLevel = "warning"
	}
	if s.Timeout <= 0 {
		s.Timeout = defTimeout
	}
	if s.Timeout <= 0 {
		s.Timeout = 10 * time.Second
	}
	url := c.URL
	if c.URLFile != "" {
		var err error
		if url, err = keyfile.Text(c.URLFile); err != nil {
			return nil, fmt.Errorf("url_file: %w", err)
		}
	}
	hc := &http.Client{Timeout: s.Timeout}
	switch s.Type {
	case "webhook":
		s.Channel = &Webhook{URL: url, Headers: c.Headers, Client: hc}
	case "alertmanager":
		s.Channel = &Alertmanager{URL: strings.TrimSuffix(url, "/"), Headers: c.Headers, Client: hc}
	case "exec":
		if len(c.Command) == 0 || !filepath.IsAbs(c.Command[0]) {
			return nil, errors.New("exec needs an absolute command path")
		}
		s.Channel = &Exec{Path: c.Command[0], Args: c.Command[1:], Timeout: s.Timeout}
	case "shoutrrr":
		sh, err := NewShoutrrr(url, s.Timeout)
		if err != nil {
			return nil, err
		}
		s.Channel = sh
	default:
		return nil, fmt.Errorf("unknown channel type %q", s.Type)
	}
	return s, nil
}

// Webhook POSTs the Message as JSON (schema SchemaVersion). Any 2xx
// answer is success.
type Webhook struct {
	URL     string
	Headers map[string]string
	Client  *http.Client
}

// Send implements Channel.
func (w *Webhook) Send(ctx context.Context, m *Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return post(ctx, w.Client, w.URL, w.Headers, body)
}

func post(ctx context.Context, c *http.Client, url string, hdr map[string]string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hb-probe")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return redact(err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(snippet)))
	}
	return nil
}

// redact drops the URL (which may carry a token) from an HTTP client error.
func redact(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return fmt.Errorf("request failed: %w", inner)
		}
	}
	return err
}

// Alertmanager posts alerts to Alertmanager's API v2 (POST
// /api/v2/alerts), so its routing, inhibition and silences apply. Labels:
// alertname (the rule), host, check, kind, metric, severity (lowercase
// level) and the host's labels; annotations summary and description.
// Firing alerts carry endsAt = now + ResolveAfter (default 3h); hb re-sends
// them every renotify_interval, and sends endsAt = now on recovery.
type Alertmanager struct {
	URL          string // base URL, e.g. http://127.0.0.1:9093
	Headers      map[string]string
	Client       *http.Client
	ResolveAfter time.Duration
}

type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Send implements Channel.
func (a *Alertmanager) Send(ctx context.Context, m *Message) error {
	ra := a.ResolveAfter
	if ra <= 0 {
		ra = 3 * time.Hour
	}
	now := m.Time
	if now.IsZero() {
		now = time.Now().UTC()
	}
	var out []amAlert
	for _, it := range m.Alerts {
		ls := map[string]string{}
		for k, v := range it.Labels {
			if validAMLabel(k) {
				ls[k] = v
			}
		}
		ls["alertname"] = it.Rule
		ls["host"] = it.Host
		setIf(ls, "check", it.Check)
		setIf(ls, "kind", it.Kind)
		setIf(ls, "metric", it.Metric)
		ls["severity"] = strings.ToLower(it.Level)
		x := amAlert{Labels: ls, Annotations: map[string]string{"summary": it.Text}, StartsAt: it.StartsAt, EndsAt: now.Add(ra)}
		if it.Status == "resolved" {
			x.EndsAt = now
			x.Labels["severity"] = strings.ToLower(it.Prev)
			if x.Labels["severity"] == "" {
				delete(x.Labels, "severity")
			}
		}
		if x.StartsAt.IsZero() || x.StartsAt.After(now) {
			x.StartsAt = now
		}
		out = append(out, x)
	}
	if m.Test {
		out = append(out, amAlert{Labels: map[string]string{"alertname": "HbTest", "channel": m.Channel}, Annotations: map[string]string{"summary": m.Text}, StartsAt: now, EndsAt: now.Add(5 * time.Minute)})
	}
	body, err := json.Marshal(out)
	if err != nil {
		return err
	}
	return post(ctx, a.Client, a.URL+"/api/v2/alerts", a.Headers, body)
}

func setIf(m map[string]string, k, v string) {
	if v != "" {
		m[k] = v
	}
}

func validAMLabel(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Exec runs Path with Args, the Message as JSON on stdin, and HB_TITLE and
// HB_CHANNEL in the environment. Exit status 0 is success; the process is
// killed at Timeout.
type Exec struct {
	Path    string
	Args    []string
	Timeout time.Duration
}

// Send implements Channel.
func (e *Exec) Send(ctx context.Context, m *Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, e.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.Path, e.Args...)
	cmd.Stdin = bytes.NewReader(body)
	cmd.Env = append(os.Environ(), "HB_TITLE="+m.Title, "HB_CHANNEL="+m.Channel, "HB_SCHEMA="+SchemaVersion)
	var stderr bytes.Buffer
	cmd.Stderr = &limited{w: &stderr, n: 512}
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: timed out after %v", e.Path, e.Timeout)
		}
		return fmt.Errorf("%s: %w: %s", e.Path, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}

// Shoutrrr sends the message's text through a shoutrrr service URL
// (pushover, smtp, mattermost, matrix, signal, slack, discord, telegram,
// ntfy, gotify, teams, generic, …), with the title as the title param.
type Shoutrrr struct {
	r    *router.ServiceRouter
	name string // the service scheme, for errors (the URL may hold secrets)
}

// NewShoutrrr parses url; a bad URL is an error here, not at send time.
func NewShoutrrr(url string, timeout time.Duration) (*Shoutrrr, error) {
	r, err := shoutrrr.CreateSender(url)
	if err != nil {
		scheme, _, _ := strings.Cut(url, ":")
		return nil, fmt.Errorf("shoutrrr %s URL: %s", scheme, strings.ReplaceAll(err.Error(), url, "URL"))
	}
	r.Timeout = timeout
	scheme, _, _ := strings.Cut(url, ":")
	return &Shoutrrr{r: r, name: scheme}, nil
}

// Send implements Channel.
func (s *Shoutrrr) Send(ctx context.Context, m *Message) error {
	params := types.Params{"title": m.Title}
	errs := s.r.Send(m.Text, &params)
	var out []error
	for _, e := range errs {
		if e != nil {
			out = append(out, e)
		}
	}
	if len(out) > 0 {
		return fmt.Errorf("%s: %w", s.name, errors.Join(out...))
	}
	return ctx.Err()
}
