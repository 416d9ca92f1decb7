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
// commit how many events the commit made durable. Events are queued in
// order — problem i, then a probe — so "committed T" means events 0..T-1
// are in the file.
func crashChild(db string) {
	s, err := Open(db, &Options{OnCommit: func(c CommitInfo) {
		fmt.Printf("committed %d\n", c.Total)
	}, Retention: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	deadline := time.Now().Add(30 * time.Second) // never outlive a broken parent
	for i := 0; time.Now().Before(deadline); i++ {
		at := base.Add(time.Duration(i) * time.Millisecond)
		s.RecordProblem(Problem{Host: "h", At: at, Kind: KindTimeout, Detail: strconv.Itoa(i)})
		s.RecordProbe(Probe{Host: "h", At: at, OK: true, RTT: time.Millisecond})
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
	var last uint64
	commits := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || f[0] != "committed" {
			continue
		}
		last, _ = strconv.ParseUint(f[1], 10, 64)
		commits++
		if commits == 3 {
			break
		}
	}
	if commits < 3 {
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
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "committed" {
			last, _ = strconv.ParseUint(f[1], 10, 64)
		}
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v", err)
	}

	s := openTest(t, db, nil)
	var problems, maxSeq, probes int64
	if err := s.r.QueryRow(`SELECT count(*), coalesce(max(CAST(detail AS INTEGER)), -1) FROM problems`).Scan(&problems, &maxSeq); err != nil {
		t.Fatal(err)
	}
	if err := s.r.QueryRow(`SELECT coalesce(sum(probes), 0) FROM rollups`).Scan(&probes); err != nil {
		t.Fatal(err)
	}
	var ok string
	if err := s.r.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check = %q, %v", ok, err)
	}
	// Event 2i is problem i, event 2i+1 its probe.
	wantProblems, wantProbes := int64(last+1)/2, int64(last)/2
	if problems < wantProblems || probes < wantProbes {
		t.Fatalf("after SIGKILL: %d problems, %d probes in the file; the child had reported %d events committed (%d problems, %d probes)",
			problems, probes, last, wantProblems, wantProbes)
	}
	// Commits are whole: the problems present are exactly 0..n-1.
	if maxSeq != problems-1 {
		t.Fatalf("problems are not a prefix: %d rows, highest sequence %d", problems, maxSeq)
	}
	t.Logf("child reported %d events committed; the file holds %d problems and %d probes after SIGKILL", last, problems, probes)

	// The reopened store keeps working.
	s.RecordProblem(Problem{Host: "h", At: base, Kind: KindTimeout})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}
