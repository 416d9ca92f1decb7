// SPDX-License-Identifier: MIT

package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ProcStat is the part of /proc/PID/stat the benchmarks use.
type ProcStat struct {
	UTime, STime uint64 // clock ticks
}

// ParseProcStat parses /proc/PID/stat. The command name may contain spaces
// and parentheses, so fields are counted after the last ')'.
func ParseProcStat(b []byte) (ProcStat, error) {
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ProcStat{}, fmt.Errorf("proc stat: no ')' in %q", s)
	}
	f := strings.Fields(s[i+1:])
	// After ')': state(3) ppid(4) … utime(14) stime(15): indexes 11 and 12.
	if len(f) < 13 {
		return ProcStat{}, fmt.Errorf("proc stat: %d fields", len(f))
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return ProcStat{}, fmt.Errorf("proc stat: bad utime/stime %q %q", f[11], f[12])
	}
	return ProcStat{UTime: u, STime: st}, nil
}

// ParseStatusKB returns the value in bytes of a "Key:   N kB" line of
// /proc/PID/status (VmRSS, VmHWM, …).
func ParseStatusKB(r io.Reader, key string) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != key {
			continue
		}
		f := strings.Fields(v)
		if len(f) < 1 {
			break
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("status %s: %w", key, err)
		}
		return n * 1024, nil
	}
	return 0, fmt.Errorf("status: no %s line", key)
}

// CPUTimes is one cpuN line of /proc/stat, in clock ticks.
type CPUTimes struct {
	CPU                                                   string // "cpu" (all) or "cpu0", "cpu1", …
	User, Nice, System, Idle, IOWait, IRQ, SoftIRQ, Steal uint64
}

// Busy is every tick that was not idle or iowait.
func (c CPUTimes) Busy() uint64 {
	return c.User + c.Nice + c.System + c.IRQ + c.SoftIRQ + c.Steal
}

// ParseProcStatCPU parses the cpu lines of /proc/stat (the total first,
// then one per CPU, as the file lists them).
func ParseProcStatCPU(r io.Reader) ([]CPUTimes, error) {
	var out []CPUTimes
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if len(f) < 9 {
			return nil, fmt.Errorf("proc stat: %q: %d fields", f[0], len(f))
		}
		var v [8]uint64
		for i := range v {
			n, err := strconv.ParseUint(f[i+1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("proc stat: %s field %d: %w", f[0], i+1, err)
			}
			v[i] = n
		}
		out = append(out, CPUTimes{CPU: f[0], User: v[0], Nice: v[1], System: v[2], Idle: v[3], IOWait: v[4], IRQ: v[5], SoftIRQ: v[6], Steal: v[7]})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("proc stat: no cpu lines")
	}
	return out, nil
}

// ParseSNMP parses /proc/net/snmp (pairs of "Proto: Name …" and
// "Proto: value …" lines) and /proc/net/snmp6 ("Name value" lines) into
// counters keyed "Proto.Name" (snmp: "Icmp.OutErrors") or by their own
// name (snmp6: "Icmp6OutErrors"). Each file is read in the namespace of
// the process reading it.
func ParseSNMP(r io.Reader) (map[string]uint64, error) {
	out := map[string]uint64{}
	sc := bufio.NewScanner(r)
	var names []string // the header line waiting for its values
	var proto string
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if !strings.HasSuffix(f[0], ":") { // snmp6
			if len(f) != 2 {
				return nil, fmt.Errorf("snmp6: %q", sc.Text())
			}
			v, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("snmp6 %s: %w", f[0], err)
			}
			out[f[0]] = v
			continue
		}
		p := strings.TrimSuffix(f[0], ":")
		if names == nil || p != proto {
			names, proto = f[1:], p
			continue
		}
		if len(f)-1 != len(names) {
			return nil, fmt.Errorf("snmp %s: %d names, %d values", p, len(names), len(f)-1)
		}
		for i, s := range f[1:] {
			v, err := strconv.ParseInt(s, 10, 64) // Tcp MaxConn is -1
			if err != nil {
				return nil, fmt.Errorf("snmp %s.%s: %w", p, names[i], err)
			}
			out[p+"."+names[i]] = uint64(v)
		}
		names = nil
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("snmp: no counters")
	}
	return out, nil
}

// ParseSoftnetDrops sums the dropped column (the second) of
// /proc/net/softnet_stat over the CPUs: packets the kernel dropped because
// a CPU's input backlog held net.core.netdev_max_backlog already (RPS
// and veth enqueue there).
func ParseSoftnetDrops(r io.Reader) (uint64, error) {
	var sum uint64
	lines := 0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			return 0, fmt.Errorf("softnet_stat: %q", sc.Text())
		}
		v, err := strconv.ParseUint(f[1], 16, 32)
		if err != nil {
			return 0, fmt.Errorf("softnet_stat: %w", err)
		}
		sum += v
		lines++
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if lines == 0 {
		return 0, fmt.Errorf("softnet_stat: no CPU lines")
	}
	return sum, nil
}

// napiComm is the name prefix of interface ifname's NAPI kernel threads
// (threaded NAPI: "napi/IFNAME-NAPI_ID", cut to 15 bytes).
func napiComm(ifname string) string { return "napi/" + ifname + "-" }

// NAPIThreads returns the pids, ascending, of the NAPI kernel threads of
// interface ifname found under procDir ("/proc"). Interface names are per
// namespace but kernel threads are not, so another namespace's device of
// the same name matches too: compare with the threads before the device
// was made threaded (NewPIDs).
func NAPIThreads(procDir, ifname string) ([]int, error) {
	ents, err := os.ReadDir(procDir)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join(procDir, e.Name(), "comm"))
		if err == nil && strings.HasPrefix(string(comm), napiComm(ifname)) {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids, nil
}

// NewPIDs returns the pids of after that are not in before, in after's
// order.
func NewPIDs(before, after []int) []int {
	var n []int
	for _, p := range after {
		if !slices.Contains(before, p) {
			n = append(n, p)
		}
	}
	return n
}

// NAPIThreadsCPU returns the CPU time (utime + stime) the NAPI kernel
// threads pids of interface ifname have used, read under procDir
// ("/proc"). It fails if one of them is gone or is no longer ifname's
// NAPI thread (the kernel re-creates them when the device's NAPI is
// re-added, e.g. when its XDP program is re-attached): its time would be
// lost from the sum.
func NAPIThreadsCPU(procDir, ifname string, pids []int) (time.Duration, error) {
	if len(pids) == 0 {
		return 0, fmt.Errorf("no napi/%s-* thread to read", ifname)
	}
	var ticks uint64
	for _, pid := range pids {
		dir := filepath.Join(procDir, strconv.Itoa(pid))
		comm, err := os.ReadFile(filepath.Join(dir, "comm"))
		if err != nil {
			return 0, fmt.Errorf("napi thread %d of %s: %w", pid, ifname, err)
		}
		if !strings.HasPrefix(string(comm), napiComm(ifname)) {
			return 0, fmt.Errorf("pid %d is %q now, not a napi/%s-* thread", pid, strings.TrimSpace(string(comm)), ifname)
		}
		b, err := os.ReadFile(filepath.Join(dir, "stat"))
		if err != nil {
			return 0, fmt.Errorf("napi thread %d of %s: %w", pid, ifname, err)
		}
		st, err := ParseProcStat(b)
		if err != nil {
			return 0, fmt.Errorf("napi thread %d of %s: %w", pid, ifname, err)
		}
		ticks += st.UTime + st.STime
	}
	return time.Duration(ticks) * time.Second / 100, nil // USER_HZ
}
