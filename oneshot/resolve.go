// SPDX-License-Identifier: MIT

package oneshot

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hbmon/hb/prober"
)

// Unresolved is a hostname that did not resolve.
type Unresolved struct {
	Spec prober.Spec
	Err  error
}

func (u Unresolved) Error() string {
	return fmt.Sprintf("%s: resolving %s: %v", u.Spec.Pos, u.Spec.Host, u.Err)
}

// Resolve expands specs like prober.Resolve, except that a hostname which
// does not resolve is left out and returned in bad instead of failing the
// whole list. Hostnames are looked up concurrently (at most 32 at a time).
func Resolve(ctx context.Context, specs []prober.Spec, lookup prober.LookupFunc) (ts []prober.Target, warnings []string, bad []Unresolved, err error) {
	type answer struct {
		addrs []netip.Addr
		err   error
	}
	answers := map[string]*answer{}
	for _, s := range specs {
		if !s.Addr.IsValid() && !s.Prefix.IsValid() && s.Host != "" {
			answers[s.Host] = nil
		}
	}
	if len(answers) > 0 && lookup != nil {
		hosts := make([]string, 0, len(answers))
		for h := range answers {
			hosts = append(hosts, h)
		}
		got := make([]answer, len(hosts))
		var wg sync.WaitGroup
		sem := make(chan struct{}, 32)
		for i, h := range hosts {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				a, err := lookup(ctx, h)
				if err == nil && !hasUsable(a) {
					err = fmt.Errorf("no address")
				}
				got[i] = answer{a, err}
			}()
		}
		wg.Wait()
		for i, h := range hosts {
			answers[h] = &got[i]
		}
	}
	// keep is specs without the names that did not resolve: a copy only
	// when there are such names (a list of 65,536 addresses is not copied).
	keep := specs
	for i, s := range specs {
		if !s.Addr.IsValid() && !s.Prefix.IsValid() && s.Host != "" && lookup != nil {
			if a := answers[s.Host]; a.err != nil {
				if len(bad) == 0 {
					keep = append(make([]prober.Spec, 0, len(specs)-1), specs[:i]...)
				}
				bad = append(bad, Unresolved{Spec: s, Err: a.err})
				continue
			}
		}
		if len(bad) > 0 {
			keep = append(keep, s)
		}
	}
	cached := func(_ context.Context, h string) ([]netip.Addr, error) {
		a := answers[h]
		return a.addrs, a.err
	}
	var lk prober.LookupFunc
	if lookup != nil {
		lk = cached
	}
	ts, warnings, err = prober.Resolve(ctx, keep, lk, nil)
	return ts, warnings, bad, err
}

func hasUsable(as []netip.Addr) bool {
	for _, a := range as {
		if a.IsValid() {
			return true
		}
	}
	return false
}

// Source says where a one-shot run's targets come from.
type Source struct {
	File       string    // a targets file ("-": Stdin); "" for none
	Stdin      io.Reader // read when File is "-"
	Args       []string  // targets given on the command line, one spec each
	MaxTargets int       // the list may not expand past this (0: no limit)
	Lookup     prober.LookupFunc
}

// Load parses and resolves the targets of src. A line that does not
// parse, or a list past MaxTargets, is an error; a hostname that does not
// resolve is returned in bad and the rest are probed.
func Load(ctx context.Context, src Source) (ts []prober.Target, warnings []string, bad []Unresolved, err error) {
	max := src.MaxTargets
	if max <= 0 {
		max = math.MaxInt32
	}
	var specs []prober.Spec
	if src.File != "" {
		r, name := src.Stdin, "-"
		if src.File != "-" {
			f, err := os.Open(src.File)
			if err != nil {
				return nil, nil, nil, err
			}
			defer f.Close()
			r, name = f, src.File
		}
		s, err := prober.ParseSpecs(r, name, max)
		if err != nil {
			return nil, nil, nil, err
		}
		specs = s
	}
	if len(src.Args) > 0 {
		s, err := prober.ParseSpecs(strings.NewReader(strings.Join(src.Args, "\n")), "args", max)
		if err != nil {
			return nil, nil, nil, err
		}
		specs = append(specs, s...)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ts, warnings, bad, err = Resolve(ctx, specs, src.Lookup)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(ts) > max {
		return nil, nil, nil, fmt.Errorf("%d targets: past the limit of %d", len(ts), max)
	}
	return ts, warnings, bad, nil
}
