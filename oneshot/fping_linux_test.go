// SPDX-License-Identifier: MIT

package oneshot

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hbmon/hb/internal/testutil"
)

var (
	reMs      = regexp.MustCompile(`\b(\d+\.\d+|NaN)\b`)
	reBytes   = regexp.MustCompile(`\d+ bytes`)
	reUnknown = regexp.MustCompile(`^(\S+): .*$`)
	// reOtherICMP finds -s's count of ICMP errors (before normalize).
	reOtherICMP = regexp.MustCompile(`(?m)^ +(\d+) other ICMP received$`)
)

// normalize keeps an output's structure and drops what differs by nature
// between two probers: RTT and time figures, packet sizes (hb's probe
// carries its HBQ1 request, fping's 56 bytes of data), the resolver's
// wording, and the order of lines written as replies arrived.
func normalize(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		l = reMs.ReplaceAllString(l, "N")
		l = reBytes.ReplaceAllString(l, "N bytes")
		l = strings.TrimPrefix(strings.TrimPrefix(l, "hb-fping: "), "fping: ")
		if strings.Contains(l, "nope.invalid") {
			l = reUnknown.ReplaceAllString(l, "$1: (resolver error)")
		}
		out = append(out, l)
	}
	slices.Sort(out)
	return out
}

// TestFPingMatchesFping runs each flag set through Debian's fping and
// through hb's personality on the same namespace fleet and compares
// stdout, stderr and the exit code.
func TestFPingMatchesFping(t *testing.T) {
	if testing.Short() {
		t.Skip("namespace fleet and real fping: not with -short")
	}
	fping, err := exec.LookPath("fping")
	if err != nil {
		t.Skip("fping is not installed (scripts/install-deps.sh installs it)")
	}
	f := testutil.NewFleet(t, testutil.DefaultFleet)
	dir := t.TempDir()
	list := filepath.Join(dir, "targets.txt")
	os.WriteFile(list, []byte("# fleet\n198.18.0.1\n198.18.0.2  trailing words\n\n198.18.48.1\n"), 0o644)
	alive4 := []string{"198.18.0.1", "198.18.0.2"}
	mixed := []string{"198.18.0.1", "198.18.0.2", "198.18.32.1", "198.18.48.1"}
	v6 := []string{"2001:2::1", "2001:2::2", "2001:2:0:2::1"}
	tm := []string{"-t", "200", "-r", "0"}
	cases := []struct {
		name string
		args []string
	}{
		{"default", append(slices.Clone(tm), mixed...)},
		{"all alive", append(slices.Clone(tm), alive4...)},
		{"-e", append([]string{"-e"}, append(slices.Clone(tm), mixed...)...)},
		{"-a", append([]string{"-a"}, append(slices.Clone(tm), mixed...)...)},
		{"-u", append([]string{"-u"}, append(slices.Clone(tm), mixed...)...)},
		{"-q", append([]string{"-q"}, append(slices.Clone(tm), mixed...)...)},
		{"-s", append([]string{"-s"}, append(slices.Clone(tm), mixed...)...)},
		{"-c2", append([]string{"-c2", "-p", "100"}, append(slices.Clone(tm), mixed...)...)},
		{"-C 2", append([]string{"-C", "2", "-p", "100"}, append(slices.Clone(tm), mixed...)...)},
		{"-c -q", append([]string{"-qc", "2", "-p", "100"}, append(slices.Clone(tm), mixed...)...)},
		{"-C -q", append([]string{"-q", "-C2", "-p100"}, append(slices.Clone(tm), mixed...)...)},
		{"-c -s", append([]string{"-s", "-c1"}, append(slices.Clone(tm), mixed...)...)},
		{"-g CIDR", []string{"-g", "-t", "200", "-r", "0", "198.18.0.0/29"}},
		{"-g range -a", []string{"-ga", "-t", "200", "-r", "0", "198.18.0.250", "198.18.1.3"}},
		{"-f", []string{"-t", "200", "-r", "0", "-f", list}},
		{"-i and -r", []string{"-i", "1", "-r", "1", "-t", "100", "198.18.0.1", "198.18.48.1"}},
		{"-6", append([]string{"-6", "-e"}, append(slices.Clone(tm), v6...)...)},
		{"-4 with IPv6", []string{"-4", "-t", "200", "-r", "0", "198.18.0.1", "2001:2::1"}},
		{"name not found", []string{"-t", "200", "-r", "0", "198.18.0.1", "nope.invalid"}},
	}
	lookup := func(context.Context, string) ([]netip.Addr, error) {
		return nil, errors.New("Name or service not known")
	}
	// The ICMP error lines each tool printed, over all cases (the cases
	// within the router's burst get their errors): hb's must be fping's.
	hbICMP, fpingICMP := map[string]bool{}, map[string]bool{}
	defer func() {
		if len(hbICMP) == 0 || len(fpingICMP) == 0 {
			t.Errorf("ICMP error lines: hb %v, fping %v; want some from both", hbICMP, fpingICMP)
		}
		for l := range hbICMP {
			if !fpingICMP[l] {
				t.Errorf("hb printed %q, which fping never did (%v)", l, fpingICMP)
			}
		}
	}()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := f.Prober.Command(fping, tc.args...)
			var fo, fe bytes.Buffer
			cmd.Stdout, cmd.Stderr = &fo, &fe
			fcode := 0
			if err := cmd.Run(); err != nil {
				var ee *exec.ExitError
				if !errors.As(err, &ee) {
					t.Fatal(err)
				}
				fcode = ee.ExitCode()
			}
			var ho, he bytes.Buffer
			var hcode int
			if err := f.Prober.Do(func() error {
				hcode = FPing(context.Background(), tc.args, nil, &ho, &he, lookup)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if hcode == FPingError {
				testutil.SkipIfPermission(t, "open ICMP sockets", errors.New(he.String()))
			}
			if hcode != fcode {
				t.Errorf("exit %d, fping %d", hcode, fcode)
			}
			if g, w := normalize(ho.String()), normalize(fo.String()); !slices.Equal(g, w) {
				t.Errorf("stdout differs\nhb:\n%s\nfping:\n%s", ho.String(), fo.String())
			}
			ge, we := normalize(he.String()), normalize(fe.String())
			{
				// Whether an ICMP error comes back at all depends on
				// timing: the hosts namespace's router sends "host
				// unreachable" through ip_error, whose rate limit
				// (net.ipv4.route.error_burst/error_cost: 5, then one a
				// second per source; global sysctls a namespace cannot
				// change) the cases here exhaust, so from about the fifth
				// case on either tool may get no error for its probe (the
				// prober namespace's InDestUnreachs shows it never
				// arrived). In count modes fping also reports an error only
				// while it still holds the request's slot. Compare the rest.
				// The "other ICMP received" figure of -s counts those same
				// reports, so each output must agree with itself (a report
				// line per error counted) instead of with the other.
				icmp := func(l string) bool { return strings.HasPrefix(l, "ICMP ") }
				quiet := slices.ContainsFunc(tc.args, func(a string) bool { return strings.HasPrefix(a, "-q") })
				for _, o := range []struct{ who, text string }{{"hb", he.String()}, {"fping", fe.String()}} {
					if m := reOtherICMP.FindStringSubmatch(o.text); m != nil && !quiet {
						if n := strings.Count("\n"+o.text, "\nICMP "); m[1] != strconv.Itoa(n) {
							t.Errorf("%s: %s other ICMP received, but %d ICMP error lines:\n%s", o.who, m[1], n, o.text)
						}
					}
				}
				for _, l := range ge {
					if icmp(l) {
						hbICMP[l] = true
					}
				}
				for _, l := range we {
					if icmp(l) {
						fpingICMP[l] = true
					}
				}
				other := func(l string) bool { return reOtherICMP.MatchString(l) }
				ge, we = slices.DeleteFunc(ge, icmp), slices.DeleteFunc(we, icmp)
				ge, we = slices.DeleteFunc(ge, other), slices.DeleteFunc(we, other)
			}
			if g, w := ge, we; !slices.Equal(g, w) {
				t.Errorf("stderr differs\nhb:\n%s\nfping:\n%s", he.String(), fe.String())
			}
		})
	}
}

func TestFPingBadOption(t *testing.T) {
	for _, args := range [][]string{{"-Z", "198.18.0.1"}, {"-c", "abc", "198.18.0.1"}, {"--bogus"}, {"-4", "-6", "198.18.0.1"}, {}, {"-g", "198.18.0.9", "198.18.0.1"}} {
		var o, e bytes.Buffer
		// fping's manual gives 3 for a bad option (Debian's fping 5.1 exits 1).
		if code := FPing(context.Background(), args, nil, &o, &e, nil); code != FPingBadOption || e.Len() == 0 {
			t.Errorf("%q: exit %d, stderr %q", args, code, e.String())
		}
	}
}

func TestParseFPing(t *testing.T) {
	o, err := ParseFPing([]string{"-qsC3", "-p", "250", "-t50", "--retry=2", "--interval", "0.5", "-g", "198.18.0.0/30"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.Quiet || !o.Stats || o.Count != 3 || !o.Verbose || o.Period != 250 || o.Timeout != 50 || o.Retry != 2 || o.Interval != 0.5 || !o.Generate || len(o.Targets) != 1 {
		t.Fatalf("%+v", o)
	}
	if o, _ := ParseFPing([]string{"-c", "2", "198.18.0.1"}); o.Timeout != 1000 {
		t.Fatalf("count mode timeout %v, want the period", o.Timeout)
	}
	names, err := fpingTargets(&FPingOptions{Generate: true, Targets: []string{"198.18.0.254", "198.18.1.1"}}, nil)
	if err != nil || strings.Join(names, " ") != "198.18.0.254 198.18.0.255 198.18.1.0 198.18.1.1" {
		t.Fatalf("%v %v", names, err)
	}
	names, _ = fpingTargets(&FPingOptions{Generate: true, Targets: []string{"2001:db8::/126"}}, nil)
	if strings.Join(names, " ") != "2001:db8:: 2001:db8::1 2001:db8::2 2001:db8::3" {
		t.Fatalf("%v", names)
	}
}
