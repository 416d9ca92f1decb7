// SPDX-License-Identifier: MIT

package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
)

// Remote is a running daemon's alert API, as hb-probe alerts uses it.
type Remote struct {
	// Base is the API's base URL: "https://127.0.0.1:8787".
	Base string
	// Token is the bearer token ("" none).
	Token string
	// HTTP is the client (its TLS settings: the CA); nil is
	// http.DefaultClient.
	HTTP *http.Client
}

// ConnectError is a request that reached no answer from the daemon: the
// connection, or the TLS handshake, failed.
type ConnectError struct {
	URL string
	Err error
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("cannot connect to %s: %v", e.URL, e.Err)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// do sends req, with the token; a transport failure is a *ConnectError.
func (r Remote) do(req *http.Request) (*http.Response, error) {
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	c := r.HTTP
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, &ConnectError{URL: req.URL.String(), Err: err}
	}
	return resp, nil
}

// Fetch reads the active alerts (query: the filters of GET /api/v1/alerts).
func (r Remote) Fetch(ctx context.Context, query string) ([]Alert, error) {
	u := strings.TrimSuffix(r.Base, "/") + "/api/v1/alerts"
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %d: %s", u, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var out struct {
		Alerts []Alert `json:"alerts"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	return out.Alerts, nil
}

// FormatTable writes alerts as an aligned table.
func FormatTable(w io.Writer, alerts []Alert, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tLEVEL\tHOST\tCHECK\tRULE\tSINCE\tSTATUS\tTEXT")
	for _, a := range alerts {
		var st []string
		if a.Acked {
			st = append(st, "acked by "+a.AckedBy)
		}
		if a.Held != "" {
			st = append(st, a.Held)
		}
		if s := a.Silenced; s != nil {
			st = append(st, s.Describe(now))
		} else if a.Muted != "" {
			st = append(st, a.Muted)
		}
		if a.Flapping {
			st = append(st, "flapping")
		}
		if len(st) == 0 {
			st = append(st, "-")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Level, a.Host, a.Check, a.Rule,
			now.Sub(a.Since).Truncate(time.Second), strings.Join(st, "; "), a.Text)
	}
	tw.Flush()
}

// Ack acknowledges alert id.
func (r Remote) Ack(ctx context.Context, id uint64, by, comment string) (Alert, error) {
	u := fmt.Sprintf("%s/api/v1/alerts/%d/ack", strings.TrimSuffix(r.Base, "/"), id)
	body, _ := json.Marshal(map[string]string{"by": by, "comment": comment})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(string(body)))
	if err != nil {
		return Alert{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.do(req)
	if err != nil {
		return Alert{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return Alert{}, fmt.Errorf("%s: HTTP %d: %s", u, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var a Alert
	return a, json.Unmarshal(b, &a)
}

// send makes a JSON request and decodes a 2xx answer into out.
func (r Remote) send(ctx context.Context, method, path string, in, out any) error {
	u := strings.TrimSuffix(r.Base, "/") + path
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, u, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	return nil
}

// AddSilence creates a silence of matchers for d (POST /api/v1/silences).
func (r Remote) AddSilence(ctx context.Context, matchers string, d time.Duration, author, comment string) (Silence, error) {
	var s Silence
	err := r.send(ctx, http.MethodPost, "/api/v1/silences", map[string]string{"matchers": matchers, "for": d.String(), "author": author, "comment": comment}, &s)
	return s, err
}

// ExtendSilence moves silence id's end by d (PATCH, "extend").
func (r Remote) ExtendSilence(ctx context.Context, id int64, d time.Duration, by string) (Silence, error) {
	var s Silence
	err := r.send(ctx, http.MethodPatch, fmt.Sprintf("/api/v1/silences/%d", id), map[string]string{"extend": d.String(), "by": by}, &s)
	return s, err
}

// LiftSilence deletes silence id.
func (r Remote) LiftSilence(ctx context.Context, id int64) error {
	return r.send(ctx, http.MethodDelete, fmt.Sprintf("/api/v1/silences/%d", id), nil, nil)
}
