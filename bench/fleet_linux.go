// SPDX-License-Identifier: MIT

package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/hbmon/hb/internal/testutil"
)

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// NewFleet builds the fleet. On error, whatever was built is deleted.
func NewFleet(c FleetConfig) (f *Fleet, err error) {
	if !testutil.SimPrefix.Contains(c.Block.Addr()) || c.Block.Bits() < testutil.SimPrefix.Bits() {
		return nil, fmt.Errorf("fleet block %v is not inside %v", c.Block, testutil.SimPrefix)
	}
	if c.Block6.IsValid() && (!Bench6.Contains(c.Block6.Addr()) || c.Block6.Bits() < Bench6.Bits() || c.Block6.Overlaps(Link6)) {
		return nil, fmt.Errorf("fleet block %v is not inside %v or overlaps %v", c.Block6, Bench6, Link6)
	}
	f = &Fleet{Prober: c.Prefix + "-p", Hosts: c.Prefix + "-h", Block: c.Block, Block6: c.Block6}
	defer func() {
		if err != nil {
			err = errors.Join(err, f.Close())
			f = nil
		}
	}()
	steps := [][]string{
		{"netns", "add", f.Prober},
		{"netns", "add", f.Hosts},
		{"-n", f.Prober, "link", "set", "lo", "up"},
		{"-n", f.Hosts, "link", "set", "lo", "up"},
		{"link", "add", ProberIf, "netns", f.Prober, "type", "veth", "peer", "name", HostsIf, "netns", f.Hosts},
		{"-n", f.Prober, "addr", "add", fmt.Sprintf("%s/%d", ProberAddr, linkPrefix), "dev", ProberIf},
		{"-n", f.Hosts, "addr", "add", fmt.Sprintf("%s/%d", HostsAddr, linkPrefix), "dev", HostsIf},
		{"-n", f.Prober, "link", "set", ProberIf, "up"},
		{"-n", f.Hosts, "link", "set", HostsIf, "up"},
		{"-n", f.Hosts, "route", "add", "local", c.Block.String(), "dev", "lo"},
		{"-n", f.Prober, "route", "add", c.Block.String(), "via", HostsAddr.String()},
	}
	if c.Block6.IsValid() {
		steps = append(steps,
			[]string{"-n", f.Prober, "addr", "add", ProberAddr6.String() + "/64", "dev", ProberIf, "nodad"},
			[]string{"-n", f.Hosts, "addr", "add", HostsAddr6.String() + "/64", "dev", HostsIf, "nodad"},
			[]string{"-n", f.Hosts, "-6", "route", "add", "local", c.Block6.String(), "dev", "lo"},
			[]string{"-n", f.Prober, "-6", "route", "add", c.Block6.String(), "via", HostsAddr6.String()},
		)
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			return f, err
		}
	}
	// The kernel rate-limits some ICMP; echo replies are not in the mask,
	// but make sure nothing caps a simulated fleet.
	for _, kv := range [][2]string{
		{"net.ipv4.icmp_ratelimit", "0"},
		{"net.ipv4.icmp_msgs_per_sec", "100000000"},
		{"net.ipv4.icmp_msgs_burst", "100000000"},
		{"net.ipv6.icmp.ratelimit", "0"},
	} {
		if err := f.Sysctl(f.Hosts, kv[0], kv[1]); err != nil {
			return f, err
		}
	}
	for _, kv := range [][2]string{
		{"net.ipv4.ping_group_range", "0 2147483647"},
	} {
		if err := f.Sysctl(f.Prober, kv[0], kv[1]); err != nil {
			return f, err
		}
	}
	return f, nil
}

// Sysctl sets key=value inside namespace ns.
func (f *Fleet) Sysctl(ns, key, value string) error {
	out, err := exec.Command("ip", "netns", "exec", ns, "sysctl", "-qw", key+"="+value).CombinedOutput()
	if err != nil {
		return fmt.Errorf("sysctl %s=%s in %s: %v: %s", key, value, ns, err, out)
	}
	return nil
}

// Command returns a command running name inside namespace ns. The child is
// killed if this process dies first.
func (f *Fleet) Command(ns, name string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// Close deletes both namespaces (and with them the veth pair and routes).
func (f *Fleet) Close() error {
	var errs []error
	for _, ns := range []string{f.Prober, f.Hosts} {
		if _, err := os.Stat("/run/netns/" + ns); err != nil {
			continue
		}
		if err := ipCmd("netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// DeleteStale deletes every namespace whose name starts with prefix+"-"
// (left behind by a run that was killed).
func DeleteStale(prefix string) error {
	ents, err := os.ReadDir("/run/netns")
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	var errs []error
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix+"-") {
			errs = append(errs, ipCmd("netns", "del", e.Name()))
		}
	}
	return errors.Join(errs...)
}

// SteerRx sets the receive packet steering CPU mask of interface ifname
// inside namespace ns (hex, as in rps_cpus; "0" turns steering off). sysfs
// shows the namespace of whoever mounted it, so the write runs under
// `ip netns exec`, which mounts a fresh /sys for the namespace. It reads
// the mask back and fails if the kernel did not take it.
func (f *Fleet) SteerRx(ns, ifname, mask string) error {
	path := "/sys/class/net/" + ifname + "/queues/rx-0/rps_cpus"
	out, err := f.Command(ns, "sh", "-c", fmt.Sprintf("echo %s > %s && cat %s", mask, path, path)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("rps_cpus=%s on %s in %s: %v: %s", mask, ifname, ns, err, bytes.TrimSpace(out))
	}
	got := strings.TrimLeft(strings.ReplaceAll(strings.TrimSpace(string(out)), ",", ""), "0")
	if want := strings.TrimLeft(mask, "0"); got != want {
		return fmt.Errorf("rps_cpus on %s in %s reads %q after writing %s", ifname, ns, strings.TrimSpace(string(out)), mask)
	}
	return nil
}

// ThreadedNAPI turns threaded NAPI on or off for interface ifname inside
// namespace ns (its sysfs "threaded"; see SteerRx for why under `ip netns
// exec`) and returns the pids of the NAPI kernel threads ("napi/IFNAME-…")
// that turning it on created. A veth with an XDP program runs its receive
// in NAPI; threaded, that runs in those kernel threads instead of in the
// softirq of whoever sent to it. The device must have its NAPI already
// (a veth: an XDP program attached): the kernel creates the threads when
// the flag is set, and again whenever the device's NAPI is re-added.
func (f *Fleet) ThreadedNAPI(ns, ifname string, on bool) ([]int, error) {
	v := "0"
	if on {
		v = "1"
	}
	before, err := NAPIThreads("/proc", ifname)
	if err != nil {
		return nil, err
	}
	path := "/sys/class/net/" + ifname + "/threaded"
	out, err := f.Command(ns, "sh", "-c", fmt.Sprintf("echo %s > %s && cat %s", v, path, path)).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("threaded=%s on %s in %s: %v: %s", v, ifname, ns, err, bytes.TrimSpace(out))
	}
	if got := strings.TrimSpace(string(out)); got != v {
		return nil, fmt.Errorf("threaded on %s in %s reads %q after writing %s", ifname, ns, got, v)
	}
	if !on {
		return nil, nil
	}
	after, err := NAPIThreads("/proc", ifname)
	if err != nil {
		return nil, err
	}
	pids := NewPIDs(before, after)
	if len(pids) == 0 {
		return nil, fmt.Errorf("threaded NAPI on %s in %s: no new napi/%s-* thread (%d before, %d after; no NAPI without XDP, or already threaded?)", ifname, ns, ifname, len(before), len(after))
	}
	return pids, nil
}

// NAPIPriority is the SCHED_FIFO priority PromptNAPI gives NAPI threads
// (the kernel's default for threaded IRQ handlers).
const NAPIPriority = 50

// PromptNAPI makes NAPI kernel threads run as soon as they are woken, as a
// softirq would: SCHED_FIFO at NAPIPriority. Under the default policy a
// veth's NAPI thread can wait for a CPU while its sender fills the veth's
// 256-frame ring, and the rest is dropped (the monitor rows lost ~0.2 % of
// the replies that way; a real network has the hosts' own CPUs and NIC
// rings of thousands of frames).
func PromptNAPI(pids []int) error {
	for _, pid := range pids {
		attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: NAPIPriority}
		if err := unix.SchedSetAttr(pid, &attr, 0); err != nil {
			return fmt.Errorf("SCHED_FIFO %d for napi thread %d: %w", NAPIPriority, pid, err)
		}
	}
	return nil
}
