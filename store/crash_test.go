// SPDX-License-Identifier: MIT

package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/obs"
)

const crashEnv = "HB_STORE_CRASH_CHILD_DB"

// TestMain lets the test binary act as the writer process that
// TestCrashLosesNothingCommitted kills.
func TestMain(m *testing.M) {
	if db := os.Getenv(crashEnv); db != "" {
		crashChild(db)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashChild writes events until it is killed, printing after every
// commit how many events (problems) and results (in rollup rows) are
// durable. Problems are queued in order, so "committed T" means problems
// 0..T-1 are in the file. Results are stamped 1 ms apart from base, so a
// minute of them ends every 60,000 results and its rollup rows are
// written at the next commit.
func crashChild(db string) {
	var results uint64
	s, err := Open(db, &Options{OnCommit: func(c CommitInfo) {
		results += c.Results
		fmt.Printf("committed %d %d\n", c.Total, results)
	}, Retention: -1, Now: func() time.Time { return base }}) // minutes end by the results' clock
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	deadline := time.Now().Add(30 * time.Second) // never outlive a broken parent
	for i := 0; time.Now().Before(deadline); i++ {
		at := base.Add(time.Duration(i) * time.Millisecond)
		s.Record(event.Event{Type: event.Problem, At: at, Host: "h", Check: "icmp", Kind: obs.KindICMP,
			Text: strconv.Itoa(i), Obs: &obs.Observation{Outcome: obs.Timeout}})
		s.Record(result(fmt.Sprintf("h%d", i%50), at, true, time.Millisecond, nil))
		if i%10 == 0 {
			// At most ~20k events a second: the queue never overflows, so
			// the committed events are a prefix of the queued ones.
			time.Sleep(time.Millisecond)
			if d := s.Stats().Dropped; d > 0 {
				fmt.Fprintf(os.Stderr, "dropped %d events\n", d)
				os.Exit(4)
			}
		}
	}
	os.Exit(3)
}

// TestCrashLosesNothingCommitted is the crash promise (docs/operations.md):
// a kill -9 loses only what was not committed yet: at most a commit
// interval (1 s) of state changes, problems and messages, and the rollups
// of minutes not yet written (the current one).
func TestCrashLosesNothingCommitted(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary and waits for real one-second commits")
	}
	db := filepath.Join(t.TempDir(), "hb.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+db)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	var last, lastResults uint64
	commits := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "committed" {
			continue
		}
		last, _ = strconv.ParseUint(f[1], 10, 64)
		lastResults, _ = strconv.ParseUint(f[2], 10, 64)
		commits++
		if commits >= 3 && lastResults > 0 {
			break
		}
	}
	if commits < 3 || lastResults == 0 {
		t.Fatalf("child stopped after %d commits", commits)
	}
	// Kill it in the middle of the next second's batch.
	time.Sleep(400 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed = true
	// Commits reported between our last read and the kill are durable too.
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "committed" {
			last, _ = strconv.ParseUint(f[1], 10, 64)
			lastResults, _ = strconv.ParseUint(f[2], 10, 64)
		}
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v", err)
	}

	s := openTest(t, db, nil)
	var problems, maxSeq, probes, rows int64
	if err := s.r.QueryRow(`SELECT count(*), coalesce(max(CAST(detail AS INTEGER)), -1) FROM problems`).Scan(&problems, &maxSeq); err != nil {
		t.Fatal(err)
	}
	if err := s.r.QueryRow(`SELECT coalesce(sum(probes), 0), count(*) FROM rollups`).Scan(&probes, &rows); err != nil {
		t.Fatal(err)
	}
	var ok string
	if err := s.r.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check = %q, %v", ok, err)
	}
	if problems < int64(last) || probes < int64(lastResults) {
		t.Fatalf("after SIGKILL: %d problems, %d results in the file; the child had reported %d problems and %d results committed",
			problems, probes, last, lastResults)
	}
	// Rollup rows are whole minutes of 50 checks: 60,000 results each.
	if probes%60000 != 0 || rows%50 != 0 {
		t.Fatalf("rollups hold %d results in %d rows: a partial minute was written", probes, rows)
	}
	// Commits are whole: the problems present are exactly 0..n-1.
	if maxSeq != problems-1 {
		t.Fatalf("problems are not a prefix: %d rows, highest sequence %d", problems, maxSeq)
	}
	t.Logf("child reported %d problems and %d results committed; the file holds %d problems and %d results after SIGKILL", last, lastResults, problems, probes)

	// The reopened store keeps working.
	s.Record(problem("h", base, &obs.Observation{Outcome: obs.Timeout}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}
