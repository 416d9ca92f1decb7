// SPDX-License-Identifier: MIT

package main

// The command line: flags, their mapping onto the config (defaults < file
// < flags), and the helpers --once (once.go) uses to load targets and
// configure the engine.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/monitor"
	"github.com/hbmon/hb/prober"
)

// options are the command-line flags. Daemon mode (daemonOptions) adds its
// own fields; keep each one documented by its flag's help text.
type options struct {
	Targets      string        // --targets FILE ("-": stdin)
	Args         []string      // targets given as arguments
	Once         bool          // --once: probe, print, exit
	Count        int           // --count: probes per target per round
	Period       time.Duration // --period: between two probes of one target (--once)
	Interval     time.Duration // --interval: between rounds (daemon)
	Timeout      time.Duration // --timeout: per probe
	Rate         int           // --rate: probes/s over all targets (0: unlimited)
	Batch        int           // --batch: sendmmsg/recvmmsg batch
	Proto        string        // --proto: auto, icmp, udp
	UDPPort      int           // --udp-port
	KeyFile      string        // --key FILE
	KeyID        int           // --key-id
	AcceptClear  bool          // --accept-clear
	JSON         bool          // --json
	MaxTargets   int           // --max-targets
	NoKernelTx   bool          // --no-kernel-tx
	TX           string        // --tx: auto, packet, raw
	RX           string        // --rx: auto, ring, raw
	ResolveEvery time.Duration // --resolve-every (daemon)
	StaleAfter   time.Duration // --stale-after
	Quiet        bool          // --quiet: no mode line, warnings or progress
	Version      bool          // --version

	Daemon  daemonOptions  // daemon-only flags (below)
	visited config.Visited // flags set on the command line: they override the config file
}

func newFlagSet(o *options, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("hb-probe", flag.ContinueOnError)
	fs.SetOutput(out)
	def := config.DefaultProbe() // the one home of the defaults
	fs.StringVar(&o.Targets, "targets", "", "read targets from `FILE` ('-' for stdin): one per line, an IPv4/IPv6 address, hostname or CIDR (daemon: also tcp://HOST:PORT, http(s)://HOST/PATH, heartbeat://NAME, pulse://NAME checks), then optional name=NAME, the check's options and key=value labels; lines with the same name= are one host; '#' comments (docs/prober.md)")
	fs.BoolVar(&o.Once, "once", false, "probe every target --count times, print a table (or --json) and exit: 0 all answered, 1 some did not, 2 usage/setup error")
	fs.IntVar(&o.Count, "count", def.Count, "probes per target per round (loss and jitter need more than 1)")
	fs.DurationVar(&o.Period, "period", time.Second, "with --once: time between two probes of the same target")
	fs.DurationVar(&o.Interval, "interval", def.Interval.D(), "daemon: how often each target is probed (spread evenly over the interval)")
	fs.DurationVar(&o.Timeout, "timeout", def.Timeout.D(), "how long a probe waits for its reply")
	fs.IntVar(&o.Rate, "rate", def.Rate, "global limit in probes per second, released in whole batches (0: unlimited)")
	fs.IntVar(&o.Batch, "batch", def.Batch, "probes per sendmmsg / replies per recvmmsg call")
	fs.StringVar(&o.Proto, "proto", def.Proto, "auto (raw ICMP with CAP_NET_RAW, else ping sockets, else UDP), icmp, or udp (HBQ1 datagrams to --udp-port, answered by hb-responder)")
	fs.IntVar(&o.UDPPort, "udp-port", def.UDPPort, "responder UDP port for --proto udp")
	fs.StringVar(&o.KeyFile, "key", "", "shared key `FILE` (32 raw bytes or 64 hex digits): sends access tokens and opens sealed health blobs")
	fs.IntVar(&o.KeyID, "key-id", def.KeyID, "id (1-255) of the --key, as configured on the responders")
	fs.BoolVar(&o.AcceptClear, "accept-clear", def.AcceptClear, "with --key, still accept replies carrying clear (unsealed) health blobs; without it they are refused as a downgrade and the host counts as not answering")
	fs.BoolVar(&o.JSON, "json", false, "with --once: print one JSON object per target (JSON Lines) instead of the table")
	fs.IntVar(&o.MaxTargets, "max-targets", def.MaxTargets, "refuse target lists (after CIDR expansion) larger than this")
	fs.StringVar(&o.TX, "tx", "auto", "raw ICMP and ICMPv6 transmit path: packet (Ethernet frames on an AF_PACKET socket, PACKET_QDISC_BYPASS, next hop from the kernel's route and neighbour tables; raw socket for targets it cannot reach), raw (the raw socket's IP output path), auto (packet when it opens)")
	fs.StringVar(&o.RX, "rx", "auto", "raw ICMP and ICMPv6 receive path: ring (a TPACKET_V3 ring per family on an AF_PACKET socket: kernel BPF reply filter, receive stamps in the frame headers, no system call per packet), raw (recvmmsg on the raw socket), auto (ring when it opens)")
	fs.BoolVar(&o.NoKernelTx, "no-kernel-tx", false, "do not use SO_TIMESTAMPING; measure RTT from SO_TIMESTAMPNS receive stamps and the send clock")
	fs.DurationVar(&o.ResolveEvery, "resolve-every", def.ResolveEvery.D(), "daemon: re-resolve hostnames this often (0: never)")
	fs.DurationVar(&o.StaleAfter, "stale-after", def.StaleAfter.D(), "flag health blobs collected longer ago than this as stale")
	fs.BoolVar(&o.Quiet, "quiet", false, "no mode line, warnings or progress on stderr")
	fs.BoolVar(&o.Version, "version", false, "print the version and exit")
	addDaemonFlags(fs, &o.Daemon)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: hb-probe [flags] [TARGET ...]\n\n"+
			"Probes hosts with batched ICMP echo (or UDP) requests carrying an HBQ1 tag; hosts running\n"+
			"hb-responder answer with their health (CPU, load, memory, disk, uptime), others with a plain echo.\n"+
			"TARGETs (or --targets FILE) are addresses, hostnames or CIDRs.\n\n"+
			"  hb-probe --once 198.18.0.0/24          probe once, print a table, exit 0/1/2 like fping\n"+
			"  hb-probe --once --json --targets FILE  one JSON object per target\n"+
			"  hb-probe --targets FILE                daemon mode (state, history, API on 127.0.0.1:8787)\n"+
			"  hb-probe check-config [--config FILE]  print the effective config and where it came from\n"+
			"  hb-probe notify --test [CHANNEL]       send a test message through the alert channels\n"+
			"  hb-probe alerts [--ack ID] [--ca FILE] the running daemon's active alerts (over https with TLS); ack one\n"+
			"  hb-probe backup [--db FILE] OUT.db     online copy of the history database\n"+
			"  hb-probe passwd [--token] USER         [[users]] lines: a password hash or an API token (docs/web.md)\n"+
			"  hb-probe fping [fping flags] TARGET... fping's command line and output (also as hb-fping; fping -h)\n"+
			"  hb-probe pingstate --protocol tcp|http|https --address HOST [--port N] ...\n"+
			"                                         pingstate's command line and API (also as pingstate; docs/checks.md)\n"+
			"\nTargets may also be tcp://HOST:PORT and http(s)://HOST[:PORT]/PATH checks (docs/checks.md).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses the command line; a usage error is returned as such.
func parseArgs(args []string, out io.Writer) (*options, error) {
	o := &options{}
	fs := newFlagSet(o, out)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.Args = fs.Args()
	o.visited = config.VisitedFlags(fs)
	if o.Version {
		return o, nil
	}
	switch {
	case o.Once && o.Targets == "" && len(o.Args) == 0: // the daemon may take them from its config file
		return nil, errors.New("no targets: give --targets FILE or addresses as arguments")
	case o.Count < 1:
		return nil, errors.New("--count must be at least 1")
	case o.Timeout <= 0 || o.Period <= 0 || o.Interval <= 0:
		return nil, errors.New("--timeout, --period and --interval must be positive")
	case o.Rate < 0:
		return nil, errors.New("--rate must be >= 0")
	case o.Batch < 1 || o.Batch > 1024:
		return nil, errors.New("--batch must be 1-1024")
	case o.KeyID < 1 || o.KeyID > 255:
		return nil, errors.New("--key-id must be 1-255")
	case o.UDPPort < 1 || o.UDPPort > 65535:
		return nil, errors.New("--udp-port must be 1-65535")
	}
	if _, err := parseProto(o.Proto); err != nil {
		return nil, err
	}
	return o, nil
}

func parseProto(s string) (prober.Proto, error) {
	switch s {
	case "auto", "":
		return prober.ProtoAuto, nil
	case "icmp":
		return prober.ProtoICMP, nil
	case "udp":
		return prober.ProtoUDP, nil
	}
	return 0, fmt.Errorf("--proto %q: want auto, icmp or udp", s)
}

// engineConfig turns the flags into the engine's configuration.
func engineConfig(o *options) (prober.Config, error) {
	proto, err := parseProto(o.Proto)
	if err != nil {
		return prober.Config{}, err
	}
	tx, err := prober.ParseTX(o.TX)
	if err != nil {
		return prober.Config{}, fmt.Errorf("--%w", err)
	}
	rx, err := prober.ParseRX(o.RX)
	if err != nil {
		return prober.Config{}, fmt.Errorf("--%w", err)
	}
	key, err := monitor.LoadKey(o.KeyFile, o.KeyID)
	if err != nil {
		return prober.Config{}, err
	}
	return prober.Config{
		Proto: proto, Interval: o.Interval, Timeout: o.Timeout, Rate: o.Rate, Batch: o.Batch,
		Key: key, AcceptClear: o.AcceptClear, StaleAfter: o.StaleAfter, UDPPort: o.UDPPort, NoKernelTx: o.NoKernelTx,
		TX: tx, RX: rx,
	}, nil
}

// lookup resolves hostnames with the system resolver.
func lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// loadTargets reads --targets and the arguments, expands and resolves
// them; warnings (merged duplicates) go to warn.
func loadTargets(ctx context.Context, o *options, stdin io.Reader, warn func(string)) ([]prober.Spec, []prober.Target, error) {
	var specs []prober.Spec
	if o.Targets != "" {
		var r io.Reader = stdin
		name := "-"
		if o.Targets != "-" {
			f, err := os.Open(o.Targets)
			if err != nil {
				return nil, nil, err
			}
			defer f.Close()
			r, name = f, o.Targets
		}
		s, err := prober.ParseSpecs(r, name, o.MaxTargets)
		if err != nil {
			return nil, nil, err
		}
		specs = s
	}
	if len(o.Args) > 0 {
		s, err := prober.ParseSpecs(strings.NewReader(strings.Join(o.Args, "\n")), "args", o.MaxTargets)
		if err != nil {
			return nil, nil, err
		}
		specs = append(specs, s...)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ts, warns, err := prober.Resolve(ctx, specs, lookup, nil)
	if err != nil {
		return nil, nil, err
	}
	if len(ts) > o.MaxTargets {
		return nil, nil, fmt.Errorf("%d targets: past --max-targets %d", len(ts), o.MaxTargets)
	}
	for _, w := range warns {
		warn(w)
	}
	if len(ts) == 0 {
		return nil, nil, errors.New("the target list is empty")
	}
	return specs, ts, nil
}

// daemonOptions are the flags only daemon mode (and check-config) use.
type daemonOptions struct {
	Config    string        // --config FILE
	DB        string        // --db FILE
	Listen    string        // --listen host:port
	TokenFile string        // --token-file FILE
	Retention time.Duration // --retention
	LogLevel  string        // --log-level
	Shard     string        // --shard k/n
	GCPercent int           // --gc-percent
}

func addDaemonFlags(fs *flag.FlagSet, d *daemonOptions) {
	def := config.DefaultProbe()
	fs.StringVar(&d.Config, "config", "", "daemon: config `FILE` (default: $HB_CONFIG, $XDG_CONFIG_HOME/hb, ~/.config/hb, ./, /etc/hb; see docs/operations.md)")
	fs.StringVar(&d.DB, "db", "", "daemon: history database `FILE` (default $STATE_DIRECTORY/hb-probe.db, else $XDG_DATA_HOME/hb/hb-probe.db)")
	fs.StringVar(&d.Listen, "listen", def.API.Listen, "daemon: API and /metrics address host:port ('off': no API)")
	fs.StringVar(&d.TokenFile, "token-file", "", "daemon: bearer token `FILE` the API requires (except /healthz)")
	fs.DurationVar(&d.Retention, "retention", def.Store.Retention.D(), "daemon: keep history this long (0: forever)")
	fs.StringVar(&d.LogLevel, "log-level", def.LogLevel, "daemon: debug, info, warn or error")
	fs.StringVar(&d.Shard, "shard", "", "daemon: probe only shard `k/n` of the targets (stable hash of the name)")
	fs.IntVar(&d.GCPercent, "gc-percent", def.GCPercent, "daemon: let the Go heap grow this many `percent` past its live size before collecting (10-1000; GOGC in the environment wins; docs/operations.md \"Memory\")")
}

// effectiveConfig is defaults < config file < the flags the user set. It
// returns the config and the file it came from ("" = defaults only).
func effectiveConfig(o *options) (config.Probe, string, error) {
	c, path, err := config.LoadProbe(o.Daemon.Config)
	if err != nil {
		return c, path, err
	}
	v := o.visited
	config.Override(v, "targets", &c.Targets, o.Targets)
	config.Override(v, "interval", &c.Interval, config.Duration(o.Interval))
	config.Override(v, "timeout", &c.Timeout, config.Duration(o.Timeout))
	config.Override(v, "count", &c.Count, o.Count)
	config.Override(v, "rate", &c.Rate, o.Rate)
	config.Override(v, "batch", &c.Batch, o.Batch)
	config.Override(v, "proto", &c.Proto, o.Proto)
	config.Override(v, "udp-port", &c.UDPPort, o.UDPPort)
	config.Override(v, "key", &c.KeyFile, o.KeyFile)
	config.Override(v, "key-id", &c.KeyID, o.KeyID)
	config.Override(v, "accept-clear", &c.AcceptClear, o.AcceptClear)
	config.Override(v, "no-kernel-tx", &c.NoKernelTx, o.NoKernelTx)
	config.Override(v, "tx", &c.TX, o.TX)
	config.Override(v, "rx", &c.RX, o.RX)
	config.Override(v, "max-targets", &c.MaxTargets, o.MaxTargets)
	config.Override(v, "resolve-every", &c.ResolveEvery, config.Duration(o.ResolveEvery))
	config.Override(v, "stale-after", &c.StaleAfter, config.Duration(o.StaleAfter))
	config.Override(v, "shard", &c.Shard, o.Daemon.Shard)
	config.Override(v, "log-level", &c.LogLevel, o.Daemon.LogLevel)
	config.Override(v, "gc-percent", &c.GCPercent, o.Daemon.GCPercent)
	config.Override(v, "db", &c.Store.DB, o.Daemon.DB)
	config.Override(v, "retention", &c.Store.Retention, config.Duration(o.Daemon.Retention))
	config.Override(v, "listen", &c.API.Listen, o.Daemon.Listen)
	config.Override(v, "token-file", &c.API.TokenFile, o.Daemon.TokenFile)
	return c, path, c.Validate()
}
