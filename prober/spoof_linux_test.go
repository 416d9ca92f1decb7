// SPDX-License-Identifier: MIT

package prober

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hbmon/hb/internal/testutil"
	"github.com/hbmon/hb/wire"
)

// forger stands in the hosts namespace where the kernel's own echo
// replies are turned off (icmp_echo_ignore_all): it reads each echo
// request with a raw socket and answers it with what forge returns for
// its destination (nil: no answer), from that destination's address. It
// plays both an attacker who guessed the ICMP id and sequence (payloads
// without our cookie) and, for control targets, a genuine responder.
type forger struct {
	fd    int
	out   map[netip.Addr]int // destination → raw socket bound to it
	forge func(dst netip.Addr, req []byte) []byte
}

func newForger(t *testing.T, f *testutil.Fleet, dsts []netip.Addr, forge func(netip.Addr, []byte) []byte) *forger {
	t.Helper()
	f.Hosts.Sysctl(t, "net.ipv4.icmp_echo_ignore_all", "1")
	fg := &forger{out: map[netip.Addr]int{}, forge: forge}
	err := f.Hosts.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
		if err != nil {
			return err
		}
		fg.fd = fd
		tv := unix.Timeval{Usec: 50_000}
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		for _, d := range dsts {
			o, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
			if err != nil {
				return err
			}
			if err := unix.Bind(o, &unix.SockaddrInet4{Addr: d.As4()}); err != nil {
				return err
			}
			fg.out[d] = o
		}
		return nil
	})
	if err != nil {
		testutil.SkipIfPermission(t, "open raw sockets in the hosts namespace", err)
	}
	t.Cleanup(func() {
		unix.Close(fg.fd)
		for _, o := range fg.out {
			unix.Close(o)
		}
	})
	return fg
}

// run answers echo requests until ctx ends.
func (fg *forger) run(ctx context.Context) {
	buf := make([]byte, 2048)
	for ctx.Err() == nil {
		n, from, err := unix.Recvfrom(fg.fd, buf, 0)
		if err != nil || n < 28 {
			continue
		}
		ip := buf[:n]
		ihl := int(ip[0]&0xf) * 4
		if len(ip) < ihl+8 || ip[ihl] != icmp4Echo {
			continue
		}
		dst := netip.AddrFrom4([4]byte(ip[16:20]))
		o, ok := fg.out[dst]
		if !ok {
			continue
		}
		icmp := ip[ihl:]
		payload := fg.forge(dst, bytes.Clone(icmp[icmpHdrLen:]))
		if payload == nil {
			continue
		}
		rep := make([]byte, icmpHdrLen+len(payload))
		rep[0] = icmp4EchoReply
		copy(rep[4:8], icmp[4:8]) // id and sequence: the attacker guessed them
		copy(rep[icmpHdrLen:], payload)
		binary.BigEndian.PutUint16(rep[2:], wire.Checksum(rep, 0))
		_ = unix.Sendto(o, rep, 0, from)
	}
}

// TestFleetRefusesSpoofedReplies: echo replies that do not carry the
// probe's cookie (empty, foreign, HBM v2 for a target not configured
// legacy=hbm2) and, with a key, replies carrying a clear blob do not mark a
// host up; each refusal is counted. The same forger's genuine answers
// (the kernel-style echo of our request, a sealed blob, HBM v2 for a
// legacy=hbm2 target) still do. With accept_clear the clear blob passes.
func TestFleetRefusesSpoofedReplies(t *testing.T) {
	f := testutil.NewFleet(t, testutil.DefaultFleet)
	key, err := wire.NewKey(4, bytes.Repeat([]byte{0x42}, wire.KeyLen))
	if err != nil {
		t.Fatal(err)
	}
	addrs := testutil.FleetAddrs(t, testutil.DefaultFleet.Local[0], 8)
	const (
		empty = iota
		foreign
		hbm2Plain
		hbm2Legacy
		clearBlob
		sealedBlob
		echo
		reach
	)
	sealer, err := wire.NewSealer(key, bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	clearSealer, _ := wire.NewSealer(nil, bytes.NewReader(bytes.Repeat([]byte{8}, 64)))
	var mu sync.Mutex
	blobReply := func(s *wire.Sealer, req []byte) []byte {
		mu.Lock()
		defer mu.Unlock()
		h := wire.Health{CollectedAt: time.Now().UnixNano(), CPUBusy: 321}
		h.SetHostname("forged")
		b := make([]byte, wire.BlobSize)
		if err := s.Encode(b, &h); err != nil || wire.MakeReply(req, b) != nil {
			return nil
		}
		return req
	}
	hbm2 := wire.AppendHBM2(nil, wire.HBM2{Timestamp: float64(time.Now().Unix()), CPUPercent: 99, MemPercent: 1, MemAvailMB: 1, DiskPercent: 1})
	fg := newForger(t, f, addrs, func(dst netip.Addr, req []byte) []byte {
		switch i := int(dst.As4()[3]) - 1; i {
		case empty:
			return []byte{}
		case foreign:
			return []byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
		case hbm2Plain, hbm2Legacy:
			return hbm2
		case clearBlob:
			return blobReply(clearSealer, req)
		case sealedBlob:
			return blobReply(sealer, req)
		case echo:
			return req // what the kernel would send
		case reach:
			if wire.MakeReachReply(req) != nil {
				return nil
			}
			return req
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); fg.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	ts := targetsOf(addrs)
	ts[hbm2Legacy].Legacy = true
	const count = 2
	for _, acceptClear := range []bool{false, true} {
		e := newEngineIn(t, f, Config{Socket: SocketRaw, Key: key, AcceptClear: acceptClear, Timeout: 300 * time.Millisecond, IPv4: true})
		sums, err := e.Once(ctx, ts, OnceOptions{Count: count, Period: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		st := e.Stats()
		t.Logf("accept_clear=%v stats: %+v", acceptClear, st)
		up := map[int]HealthKind{hbm2Legacy: HealthHBM2, sealedBlob: HealthHBH1, echo: HealthNone, reach: HealthNone}
		if acceptClear {
			up[clearBlob] = HealthHBH1
		}
		for i, s := range sums {
			kind, wantUp := up[i]
			switch {
			case wantUp && (s.Received != count || s.Last().HealthKind != kind || s.Last().BlobErr != nil):
				t.Errorf("target %d (%v): received %d, health %v (%v); want up with %v", i, s.Target.Addr, s.Received, s.Last().HealthKind, s.Last().BlobErr, kind)
			case !wantUp && s.Received != 0:
				t.Errorf("target %d (%v): a refused reply counted as an answer (%d received, health %v)", i, s.Target.Addr, s.Received, s.Last().HealthKind)
			}
		}
		wantDown := uint64(0)
		if !acceptClear {
			wantDown = count
		}
		if st.NoCookie != 2*count || st.HBM2Refused != count || st.Downgrades != wantDown {
			t.Errorf("refusals: no cookie %d (want %d), hbm2 %d (want %d), downgrades %d (want %d)",
				st.NoCookie, 2*count, st.HBM2Refused, count, st.Downgrades, wantDown)
		}
		if want := uint64(len(up) * count); st.Matched != want {
			t.Errorf("matched %d, want %d", st.Matched, want)
		}
	}
}
