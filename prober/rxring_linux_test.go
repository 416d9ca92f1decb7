// SPDX-License-Identifier: MIT

package prober

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hbmon/hb/internal/testutil"
	"github.com/hbmon/hb/wire"
)

var updateRing = flag.Bool("update-ring", false, "rewrite testdata/ring-block-v3.txt from a live capture")

// The ring's receive stamps are the raw socket's: a raw ICMP socket with
// SO_TIMESTAMPNS and a receive ring with the reply filter, open side by
// side, see the same echo replies (and an ICMP error) with the same
// kernel stamp to the nanosecond, because both read the skb's receive
// stamp. With -update-ring, the first block is written as the golden
// bytes TestParseRingGolden decodes.
func TestRxRingStampsMatchRawSocket(t *testing.T) {
	f := testutil.NewFleet(t, testutil.DefaultFleet)
	hosts := testutil.FleetAddrs(t, testutil.DefaultFleet.Local[0], 3)
	unreach := testutil.FleetAddrs(t, testutil.DefaultFleet.Unreachable[0], 1)
	const id = 0x4242
	var ring *rxRing
	raw := -1
	err := f.Prober.Do(func() error {
		var err error
		if ring, err = newRxRing(false, id); err != nil {
			return err
		}
		raw, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		if err != nil {
			return os.NewSyscallError("socket", err)
		}
		return unix.SetsockoptInt(raw, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	})
	if ring != nil {
		t.Cleanup(func() { ring.close() })
	}
	if raw >= 0 {
		t.Cleanup(func() { unix.Close(raw) })
	}
	if err != nil {
		testutil.SkipIfPermission(t, "open a receive ring and a raw socket", err)
	}
	targets := append(append([]netip.Addr{}, hosts...), unreach...)
	var secret wire.Secret
	for i, a := range targets {
		p := template(kindICMP4, id, 0)
		seq := uint16(i + 1)
		w := wireTime(time.Now().UnixNano(), seq)
		patchProbe(p, kindICMP4, seq, wire.Cookie(&secret, a, id, seq, w), w, &wire.Token{})
		sa := &unix.SockaddrInet4{Addr: a.As4()}
		if err := unix.Sendto(raw, p, 0, sa); err != nil {
			t.Fatal(os.NewSyscallError("sendto", err))
		}
	}
	time.Sleep(50 * time.Millisecond) // one block with every reply
	// Both readers: (source or quoted destination, seq) → stamp.
	type key struct {
		addr netip.Addr
		seq  uint16
	}
	rawTS := map[key]int64{}
	ringTS := map[key]int64{}
	deadline := time.Now().Add(5 * time.Second)
	buf, oob := make([]byte, 2048), make([]byte, 512)
	var golden []byte
	for (len(rawTS) < len(targets) || len(ringTS) < len(targets)) && time.Now().Before(deadline) {
		for {
			n, oobn, _, _, err := unix.Recvmsg(raw, buf, oob, unix.MSG_DONTWAIT)
			if err != nil {
				break
			}
			p := parseIPv4(buf[:n])
			if p.class == pktOther || p.id != id {
				continue
			}
			k := key{p.src, p.seq}
			if p.class == pktError {
				k.addr = p.dst
			}
			rawTS[k] = parseCmsgs(oob[:oobn]).ts
		}
		if golden == nil && atomicStatus(ring) {
			b := ring.mem[ring.cur*ring.bsize : (ring.cur+1)*ring.bsize]
			if blk, err := parseRingBlock(b); err == nil {
				golden = append([]byte(nil), b[:blk.length]...)
			}
		}
		ring.drain(func(fr *ringFrame) {
			b, ok := ringIPv4(fr.pkt)
			if !ok {
				t.Errorf("ring frame is no valid IPv4 packet: % x", fr.pkt)
				return
			}
			p := parseIPv4(b)
			if p.class == pktOther || p.id != id {
				t.Errorf("the filter let through %+v", p)
				return
			}
			if fr.status&tpStatusTSSoft == 0 || fr.pktType != packetHost || fr.proto != etherTypeIP4 {
				t.Errorf("frame status %#x pkttype %d proto %#x", fr.status, fr.pktType, fr.proto)
			}
			k := key{p.src, p.seq}
			if p.class == pktError {
				k.addr = p.dst
			}
			ringTS[k] = fr.ts
		})
		time.Sleep(5 * time.Millisecond)
	}
	if len(rawTS) != len(targets) || len(ringTS) != len(targets) {
		t.Fatalf("raw socket read %d, ring %d, of %d replies", len(rawTS), len(ringTS), len(targets))
	}
	for k, ts := range rawTS {
		if ts == 0 || ringTS[k] != ts {
			t.Errorf("%v seq %d: raw socket stamp %d, ring stamp %d", k.addr, k.seq, ts, ringTS[k])
		}
	}
	if *updateRing && golden != nil {
		var sb strings.Builder
		fmt.Fprintf(&sb, "# A TPACKET_V3 block as the kernel retired it (%s, %d bytes of blk_len), captured by\n", kernelRelease(), len(golden))
		fmt.Fprintf(&sb, "# go test -run TestRxRingStampsMatchRawSocket -update-ring ./prober/: echo replies (id %#x) from %v,\n", id, hosts)
		fmt.Fprintf(&sb, "# and the ICMP unreachable the router returned for %v, read through replyFilter.\n", unreach[0])
		for off := 0; off < len(golden); off += 16 {
			fmt.Fprintf(&sb, "0x%04x: ", off)
			for i := off; i < min(off+16, len(golden)); i += 2 {
				fmt.Fprintf(&sb, " %x", golden[i:min(i+2, len(golden))])
			}
			sb.WriteString("\n")
		}
		if err := os.WriteFile("testdata/ring-block-v3.txt", []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// atomicStatus reports whether the ring's next block is the user's.
func atomicStatus(r *rxRing) bool {
	return binary.NativeEndian.Uint32(r.mem[r.cur*r.bsize+blkStatusOff:])&tpStatusUser != 0
}

func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "linux"
	}
	return "linux " + unix.ByteSliceToString(u.Release[:])
}

// The receive ring end to end, for each family and with both transmit
// paths: targets behind the fleet's router, the router itself and a host
// on the prober's link (on-link, the latter's neighbour resolved by its
// first probe), the loopback address (no frame path, replies through the
// ring all the same), an on-link address that never resolves, unreachable
// targets (ICMP errors from the router) and blackholed ones. Every reply
// must come through the ring (the raw socket is muted) with kernel TX+RX
// stamps, and each target's outcome must be the one the raw socket's
// receive path reports.
func TestRxRingEndToEnd(t *testing.T) {
	f := testutil.NewFleet(t, testutil.DefaultFleet)
	f.Prober.AddAddr(t, "hbp0", netip.MustParsePrefix("198.19.254.1/24"))
	f.Hosts.AddAddr(t, "hbf0", netip.MustParsePrefix("198.19.254.2/24"))
	f.Prober.AddAddr(t, "hbp0", netip.MustParsePrefix("2001:2:fffe::1/64"))
	f.Hosts.AddAddr(t, "hbf0", netip.MustParsePrefix("2001:2:fffe::2/64"))
	c := testutil.DefaultFleet
	fams := []struct {
		name               string
		v6                 bool
		behind, onLink, un []netip.Addr
		bh                 []netip.Addr
		never              netip.Addr
		unreachType        uint8
		local              netip.Addr
	}{
		{"IPv4", false, testutil.FleetAddrs(t, c.Local[0], 2000), []netip.Addr{f.Gateway4, netip.MustParseAddr("198.19.254.2")},
			testutil.FleetAddrs(t, c.Unreachable[0], 4), testutil.FleetAddrs(t, c.Blackhole[0], 4), netip.MustParseAddr("198.19.254.9"), icmp4Unreach, netip.MustParseAddr("127.0.0.1")},
		{"IPv6", true, testutil.FleetAddrs(t, c.Local[1], 1000), []netip.Addr{f.Gateway6, netip.MustParseAddr("2001:2:fffe::2")},
			testutil.FleetAddrs(t, c.Unreachable[1], 4), testutil.FleetAddrs(t, c.Blackhole[1], 4), netip.MustParseAddr("2001:2:fffe::9"), icmp6Unreach, netip.MustParseAddr("::1")},
	}
	type outcome struct {
		got   int
		out   Outcome
		icmp  uint8
		kern  bool
		lastR time.Duration
	}
	for _, fam := range fams {
		ts := targetsOf(fam.behind, fam.onLink, []netip.Addr{fam.local, fam.never}, fam.un, fam.bh)
		run := func(t *testing.T, tx TX, rx RX) []outcome {
			e := newEngineIn(t, f, Config{Rate: -1, Timeout: 300 * time.Millisecond, Socket: SocketRaw, IPv4: !fam.v6, IPv6: fam.v6, TX: tx, RX: rx})
			if e.Mode().RX != rx {
				t.Fatalf("mode %v, want rx %v", e.Mode(), rx)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			const count = 2
			sums, err := e.Once(ctx, ts, OnceOptions{Count: count, Period: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			st := e.Stats()
			t.Logf("stats: %+v", st)
			out := make([]outcome, len(sums))
			for i, s := range sums {
				o := outcome{got: s.Received, out: s.Last().Outcome, kern: s.Received == 0 || s.Method == TSKernelTxRx, lastR: s.Last().RTT}
				if s.LastProblem != nil {
					o.out, o.icmp = s.LastProblem.Outcome, s.LastProblem.ICMPType
				}
				out[i] = o
			}
			if rx == RXRing {
				if st.RxRing == 0 || st.RxRing != st.Received || st.RxRingDrops != 0 {
					t.Errorf("ring read %d of %d packets received, %d dropped", st.RxRing, st.Received, st.RxRingDrops)
				}
			} else if st.RxRing != 0 {
				t.Errorf("rx = raw read %d packets from a ring", st.RxRing)
			}
			if st.Duplicates != 0 || st.BadCookie != 0 || st.WrongSrc != 0 || st.TxMissing != 0 {
				t.Errorf("counters: %+v", st)
			}
			return out
		}
		for _, tx := range []TX{TXPacket, TXRaw} {
			t.Run(fam.name+"/tx="+tx.String(), func(t *testing.T) {
				ring := run(t, tx, RXRing)
				raw := run(t, tx, RXRaw)
				bad := 0
				for i, tg := range ts {
					a, r, w := tg.Addr, ring[i], raw[i]
					want := 2
					switch {
					case a == fam.never || slices.Contains(fam.bh, a):
						want = 0
					case slices.Contains(fam.un, a):
						// An ICMP error per probe (the router may
						// rate-limit one away: then a timeout).
						if r.got != 0 || r.out != OutcomeICMPError && r.out != OutcomeTimeout {
							t.Errorf("%v: ring %+v, want an ICMP error", a, r)
						}
						if r.out == OutcomeICMPError && r.icmp != fam.unreachType {
							t.Errorf("%v: ICMP type %d", a, r.icmp)
						}
						continue
					}
					if r.got != want || w.got != want || !r.kern || r.out != w.out {
						if bad < 5 {
							t.Errorf("%v: ring %+v, raw socket %+v; want %d answers", a, r, w, want)
						}
						bad++
					}
					if want > 0 && (r.lastR <= 0 || r.lastR > 300*time.Millisecond) {
						t.Errorf("%v: implausible RTT %v through the ring", a, r.lastR)
					}
				}
				if bad > 0 {
					t.Errorf("%d of %d targets differ", bad, len(ts))
				}
			})
		}
	}
}

// The ring lasts ringSpan unread when replies are sparse, as on a network
// where their round trips spread them out: one echo reply every
// millisecond for 60 % of ringSpan (150 ms), read only afterwards, must
// all be in the ring, none dropped. The loop is not always scheduled
// within its nap (two lingers): with GOMAXPROCS=1 it shares its P with the writer, the
// store and the GC (a pinned 100k daemon saw Go scheduling latencies of
// 60–170 ms on a loaded machine). With the old ring (32 blocks retired
// after 1 ms, an hrtimer honouring 1 ms exactly), each millisecond that
// saw a reply took a block and this read 32 of ~150.
func TestRxRingHoldsSparseReplies(t *testing.T) {
	testutil.Privileged(t)
	f := testutil.NewFleet(t, testutil.DefaultFleet)
	hosts := testutil.FleetAddrs(t, testutil.DefaultFleet.Local[0], 1000)
	const id = 0x4343
	var ring *rxRing
	raw := -1
	err := f.Prober.Do(func() error {
		var err error
		if ring, err = newRxRing(false, id); err != nil {
			return err
		}
		raw, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		if err != nil {
			return os.NewSyscallError("socket", err)
		}
		return muteRaw(raw, false)
	})
	if ring != nil {
		t.Cleanup(func() { ring.close() })
	}
	if raw >= 0 {
		t.Cleanup(func() { unix.Close(raw) })
	}
	if err != nil {
		testutil.SkipIfPermission(t, "open a receive ring and a raw socket", err)
	}
	var secret wire.Secret
	span := ringSpan * 6 / 10
	sent := 0
	start := time.Now()
	for time.Since(start) < span && sent < len(hosts) {
		a := hosts[sent]
		p := template(kindICMP4, id, 0)
		seq := uint16(sent + 1)
		w := wireTime(time.Now().UnixNano(), seq)
		patchProbe(p, kindICMP4, seq, wire.Cookie(&secret, a, id, seq, w), w, &wire.Token{})
		// The fleet's kernel echoes inside sendto: each reply is in
		// the ring when it returns.
		if err := unix.Sendto(raw, p, 0, &unix.SockaddrInet4{Addr: a.As4()}); err != nil {
			t.Fatal(os.NewSyscallError("sendto", err))
		}
		sent++
		time.Sleep(time.Millisecond)
	}
	spent := time.Since(start)
	// Every block handed over (two retire periods and a jiffy), then one read.
	time.Sleep(2*ringRetire*time.Millisecond + 20*time.Millisecond)
	got := ring.drain(func(*ringFrame) {})
	st, err := unix.GetsockoptTpacketStatsV3(ring.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		t.Fatal(err)
	}
	drops := ring.dropped + uint64(st.Drops)
	t.Logf("%d replies over %v (%s): %d read from the ring, %d dropped", sent, spent.Round(time.Millisecond), kernelRelease(), got, drops)
	if sent < 50 {
		t.Fatalf("only %d probes sent in %v", sent, spent)
	}
	if got != sent || drops != 0 {
		t.Errorf("ring read %d of %d sparse replies and dropped %d after %v unread (ringSpan %v)", got, sent, drops, spent.Round(time.Millisecond), ringSpan)
	}
}
