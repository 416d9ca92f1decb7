// SPDX-License-Identifier: MIT

package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"
)

// Fetch reads the active alerts from a running daemon's API at base
// ("http://127.0.0.1:8787"), with the bearer token if not empty.
func Fetch(ctx context.Context, base, token, query string) ([]Alert, error) {
	u := strings.TrimSuffix(base, "/") + "/api/v1/alerts"
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
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
		if a.Muted != "" {
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

// AckRemote acknowledges alert id on a running daemon's API.
func AckRemote(ctx context.Context, base, token string, id uint64, by, comment string) (Alert, error) {
	u := fmt.Sprintf("%s/api/v1/alerts/%d/ack", strings.TrimSuffix(base, "/"), id)
	body, _ := json.Marshal(map[string]string{"by": by, "comment": comment})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(string(body)))
	if err != nil {
		return Alert{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
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
