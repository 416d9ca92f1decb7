// SPDX-License-Identifier: MIT

package push

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/wire"
)

type nopSink struct{}

func (nopSink) Observe(uint64, int, obs.Observation) {}

// BenchmarkHandle is the receive path of one keyed heartbeat (the load
// generator's body: blob, 4 cores, 2 mounts, an interface, swap, procs)
// from 1000 configured hosts: verify, replay window, decode, metrics,
// observation, ACK. No socket.
func BenchmarkHandle(b *testing.B) {
	for _, seal := range []bool{false, true} {
		b.Run(fmt.Sprintf("seal=%v", seal), func(b *testing.B) {
			key := testKey(b)
			c := config.DefaultPush()
			c.AckRate = 1e12 // measure the path, not the ACK budget
			r, _ := NewReceiver(ReceiverConfig{Push: c, Key: key})
			var sk obs.Sink = nopSink{}
			r.sink.Store(&sk)
			const hosts = 1000
			var cs []obs.Check
			for i := range hosts {
				cs = append(cs, obs.Check{ID: i, Spec: obs.CheckSpec{Host: fmt.Sprintf("h%06d", i), Kind: obs.KindHeartbeat}})
			}
			r.SetChecks(1, cs)
			blob := make([]byte, wire.BlobSize)
			h := wire.Health{Generation: 1, NumCPU: 4}
			if err := wire.EncodeBlob(blob, &h, nil); err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			dgs := make([][]byte, hosts)
			for i := range dgs {
				body := wire.AppendHost(nil, fmt.Sprintf("h%06d", i))
				body = wire.AppendSection(body, wire.SecHealth, blob)
				body = wire.AppendCPU(body, []uint16{100, 200, 300, 400})
				body = wire.AppendMount(body, 100<<30, 40<<30, "/")
				body = wire.AppendMount(body, 1<<40, 1<<39, "/srv")
				body = wire.AppendIface(body, wire.Iface{RxRate: 125000}, "eth0")
				body = wire.AppendSwap(body, 2<<30, 1<<20)
				body = wire.AppendProcs(body, 321, 1024)
				dgs[i], _ = wire.EncodePush(nil, wire.PushHeader{BootID: wire.BootID{1}}, body, key, seal)
			}
			buf := make([]byte, wire.PushMaxLen)
			ack := make([]byte, 64)
			src := src
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d := dgs[i%hosts]
				// A fresh sequence each round (the header is authenticated:
				// re-encode outside the timer would cost more than this).
				b.StopTimer()
				seq := uint64(i/hosts + 1)
				var p wire.Push
				copy(buf, d)
				wire.DecodePush(buf[:len(d)], key, &p)
				p.Seq = seq
				p.SentAt = now.UnixNano()
				out, _ := wire.EncodePush(buf[:0], p.PushHeader, append([]byte(nil), p.Body...), key, seal)
				b.StartTimer()
				if r.Handle(ctx, out, src, now, true, ack) == 0 {
					b.Fatalf("dropped: %+v", r.Stats().Dropped)
				}
			}
		})
	}
}
