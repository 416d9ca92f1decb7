// SPDX-License-Identifier: (MIT OR GPL-2.0-only)
//go:build ignore

// hb-responder's packet program: answers HBQ1 probes (ICMP echo, ICMPv6
// echo, UDP to the configured port) addressed to this host with the current
// health blob, in place, and passes everything else untouched. It answers
// only frames the kernel itself would accept (this interface's MAC, no
// VLAN tag, no martian source, no loopback or IPv4-mapped destination from
// the wire) and, when an allow-list is set, only its sources. One parser
// serves both attach points: hb_xdp (native or generic XDP, reply by
// XDP_TX) and hb_tc (TCX or clsact ingress, reply by bpf_redirect to the
// same interface's egress). docs/responder.md describes the design;
// docs/wire.md the payload layouts.

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define bpf_htonll(x) __builtin_bswap64(x)
#else
#define bpf_htonll(x) (x)
#endif

#define BLOB_SIZE 180 /* wire.BlobSize */
#define HDR_LEN 40    /* wire.HeaderLen */
#define HBM2_LEN 28   /* wire.HBM2Len */
#define REPLY_TTL 64
#define PULL_LEN 512

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define PROTO_ICMP 1
#define PROTO_UDP 17
#define PROTO_ICMPV6 58

/* A published sample: the HBH1 blob and the HBM v2 payload derived from the
 * same sample. Two slots; ctl.active names the one to serve. */
struct slot {
	__u8 blob[BLOB_SIZE];
	__u8 hbm2[HBM2_LEN];
};

/* Configuration and publication state, written only by the agent. */
struct ctl {
	__u32 active;      /* slot to serve (0 or 1) */
	__u8 have_blob;    /* 0 until the first sample is published */
	__u8 key_id;       /* 0: no key, tokens are not checked */
	__u8 hbm2;         /* answer empty echo requests with HBM v2 */
	__u8 allow_on;     /* 1: answer only sources in hb_allow */
	__u16 udp_port;    /* host order; 0: UDP probes are not answered */
	__u16 _pad1;
	__u32 _pad2;
	__u64 interval_ns; /* token bucket: ns per reply, whole host; 0 = no limit */
	__u64 burst_ns;    /* bucket depth: (burst-1) * interval_ns */
};

struct token {
	__u8 t[16];
};

/* An address: IPv6, or IPv4-mapped (::ffff:a.b.c.d). */
struct addr {
	__u8 a[16];
};

#define LOCAL_ADDR 1  /* an address of this host: answered for */
#define LOCAL_BCAST 2 /* a broadcast address of this host's subnets */

/* What hb_addrs knows about an address. For a LOCAL_ADDR with a key the
 * tokens valid for requests to it: previous, current and next minute. */
struct local {
	__u8 kind;
	__u8 _pad[7];
	struct token tok[3];
};

/* An interface the program may run on: its MAC and whether it is a
 * loopback device (where 127/8, ::1 and own sources are normal). */
struct iface {
	__u8 mac[6];
	__u8 loopback;
	__u8 _pad;
};

/* An allow_from prefix (LPM trie key; IPv4 mapped, prefix length + 96). */
struct prefix {
	__u32 len;
	__u8 a[16];
};

/* Per-CPU counters; each packet the program sees increments exactly one. */
struct counters {
	__u64 answered;     /* HBQ1 request answered with a health blob */
	__u64 hbm2;         /* empty echo request answered with HBM v2 */
	__u64 passed;       /* everything else: not a probe, not for us, … */
	__u64 denied;       /* HBQ1 request with a wrong key id or token */
	__u64 too_small;    /* HBQ1 request whose room cannot hold the blob */
	__u64 rate_limited; /* valid request over the rate (UDP: dropped) */
	__u64 reach;        /* UDP request answered without health (health not asked, no blob yet) */
};

/* One token bucket for the whole host, shared by every CPU. */
struct bucket {
	struct bpf_spin_lock lock;
	__u32 _pad;
	__u64 tat; /* theoretical arrival time of the next reply (GCRA) */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct slot);
} hb_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ctl);
} hb_ctl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct addr);
	__type(value, struct local);
} hb_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32); /* ifindex */
	__type(value, struct iface);
} hb_ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct prefix);
	__type(value, __u8);
} hb_allow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counters);
} hb_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bucket);
} hb_bucket SEC(".maps");

enum verdict { V_PASS, V_TX, V_HBM2, V_DROP };

enum counter { C_ANSWERED, C_HBM2, C_PASSED, C_DENIED, C_TOO_SMALL, C_RATE, C_REACH };

/* What the parser learned, for the HBM v2 path that must grow the frame. */
struct meta {
	__u32 l3off; /* offset of the IP header */
	__u32 ihl;   /* IPv4 header length; 40 for IPv6 */
	__u32 is6;
	__u32 slot;
};

static __always_inline void count(enum counter c)
{
	__u32 k = 0;
	struct counters *s = bpf_map_lookup_elem(&hb_counters, &k);
	if (!s)
		return;
	switch (c) {
	case C_ANSWERED: s->answered++; break;
	case C_HBM2: s->hbm2++; break;
	case C_PASSED: s->passed++; break;
	case C_DENIED: s->denied++; break;
	case C_TOO_SMALL: s->too_small++; break;
	case C_RATE: s->rate_limited++; break;
	case C_REACH: s->reach++; break;
	}
}

static __always_inline enum verdict pass(void)
{
	count(C_PASSED);
	return V_PASS;
}

/* GCRA token bucket, one for the whole host: every CPU takes from the same
 * budget under a spin lock, so the rate holds however the traffic is spread
 * over the CPUs. */
static __always_inline int rate_ok(const struct ctl *c)
{
	__u64 interval = c->interval_ns, depth = c->burst_ns;
	if (!interval)
		return 1;
	__u32 k = 0;
	struct bucket *b = bpf_map_lookup_elem(&hb_bucket, &k);
	if (!b)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	int ok = 0;
	bpf_spin_lock(&b->lock);
	__u64 tat = b->tat;
	if (tat < now)
		tat = now;
	if (tat - now <= depth) {
		b->tat = tat + interval;
		ok = 1;
	}
	bpf_spin_unlock(&b->lock);
	return ok;
}

/* One's-complement helpers (RFC 1071, RFC 1624). Words are used as they lie
 * in memory; the sum is byte-order independent. */
static __always_inline __u16 fold(__u64 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

static __always_inline __u64 add16(__u64 acc, __u16 oldw, __u16 neww)
{
	return acc + (__u16)~oldw + neww;
}

/* Apply a partial-sum difference to a checksum field. */
static __always_inline __u16 csum_apply(__u16 cs, __u64 acc)
{
	return ~fold((__u64)(__u16)~cs + acc);
}

static __always_inline int mac_eq(const __u8 *a, const __u8 *b)
{
	return *(__u32 *)a == *(__u32 *)b && *(__u16 *)(a + 4) == *(__u16 *)(b + 4);
}

static __always_inline int token_eq(const __u8 *p, const struct token *t)
{
	return *(__u64 *)p == *(__u64 *)&t->t[0] && *(__u64 *)(p + 8) == *(__u64 *)&t->t[8];
}

/* Swap Ethernet and IP addresses and reset the TTL / hop limit. */
static __always_inline void turn_around(__u8 *eth, __u8 *ip, int is6, void *end)
{
	__u8 tmp[16];
	/* Checked again: the verifier need not follow is6 back to the parse. */
	if ((void *)(ip + (is6 ? 40 : 20)) > end)
		return;
	__builtin_memcpy(tmp, eth, 6);
	__builtin_memcpy(eth, eth + 6, 6);
	__builtin_memcpy(eth + 6, tmp, 6);
	if (is6) {
		__builtin_memcpy(tmp, ip + 8, 16);
		__builtin_memcpy(ip + 8, ip + 24, 16);
		__builtin_memcpy(ip + 24, tmp, 16);
		ip[7] = REPLY_TTL;
	} else {
		__u32 a = *(__u32 *)(ip + 12);
		*(__u32 *)(ip + 12) = *(__u32 *)(ip + 16);
		*(__u32 *)(ip + 16) = a;
		__u16 oldw = *(__u16 *)(ip + 8);
		ip[8] = REPLY_TTL;
		__u16 neww = *(__u16 *)(ip + 8);
		*(__u16 *)(ip + 10) = csum_apply(*(__u16 *)(ip + 10), add16(0, oldw, neww));
	}
}

/* handle parses a frame and, for a valid HBQ1 request, rewrites it in place
 * into the reply (V_TX). V_HBM2 means: an empty echo request to answer with
 * HBM v2, which needs the frame grown first (see hbm2_finish). */
static __always_inline enum verdict handle(void *data, void *end, struct meta *m, __u32 ifindex, __u32 vlan_present)
{
	__u8 *eth = data;
	if ((void *)(eth + 14) > end)
		return pass();
	/* Group destination or source MAC: never ours to answer (the exact
	 * MAC check needs a map lookup: it comes once the frame is a probe). */
	if ((eth[0] & 1) || (eth[6] & 1))
		return pass();
	/* A VLAN tag (in the frame, or taken off by the NIC: TC only sees
	 * that) belongs to a VLAN interface: the program attached there
	 * answers, never the one on the parent. */
	__u16 proto = *(__u16 *)(eth + 12);
	__u32 off = 14;
	if (vlan_present || proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))
		return pass();

	__u8 *ip = eth + off;
	__u8 *l4;
	__u32 plen; /* L4 payload length */
	__u8 l4proto;
	int is6;
	int loopish = 0; /* a loopback source or destination: only on lo */
	struct addr src = {}, dst = {};

	if (proto == bpf_htons(ETH_P_IP)) {
		if ((void *)(ip + 20) > end)
			return pass();
		if ((ip[0] >> 4) != 4)
			return pass();
		__u32 ihl = (ip[0] & 0xf) * 4;
		if (ihl < 20)
			return pass();
		__u32 tot = bpf_ntohs(*(__u16 *)(ip + 2));
		if (tot < ihl + 8 || (void *)(ip + tot) > end)
			return pass();
		if (*(__u16 *)(ip + 6) & bpf_htons(0x3fff)) /* MF or offset: fragment */
			return pass();
		__u8 s0 = ip[12], d0 = ip[16];
		if (s0 == 0 || s0 >= 224) /* this network, multicast, class E, broadcast */
			return pass();
		loopish = s0 == 127 || d0 == 127;
		src.a[10] = 0xff;
		src.a[11] = 0xff;
		__builtin_memcpy(&src.a[12], ip + 12, 4);
		dst.a[10] = 0xff;
		dst.a[11] = 0xff;
		__builtin_memcpy(&dst.a[12], ip + 16, 4);
		l4proto = ip[9];
		l4 = ip + ihl;
		plen = tot - ihl - 8;
		is6 = 0;
		m->ihl = ihl;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		if ((void *)(ip + 40) > end)
			return pass();
		if ((ip[0] >> 4) != 6)
			return pass();
		__u32 pl = bpf_ntohs(*(__u16 *)(ip + 4));
		if (pl < 8 || (void *)(ip + 40 + pl) > end)
			return pass();
		if (ip[8] == 0xff) /* multicast source */
			return pass();
		__builtin_memcpy(src.a, ip + 8, 16);
		__builtin_memcpy(dst.a, ip + 24, 16);
		__u64 s0 = *(__u64 *)&src.a[0], s1 = *(__u64 *)&src.a[8];
		__u64 d0 = *(__u64 *)&dst.a[0], d1 = *(__u64 *)&dst.a[8];
		if (s0 == 0 && s1 == 0) /* unspecified source */
			return pass();
		/* ::1 from the wire; IPv4-mapped source or destination (the
		 * kernel drops those; a mapped destination would otherwise match
		 * one of our IPv4 addresses in hb_addrs). */
		loopish = (s0 == 0 && s1 == bpf_htonll(1)) || (d0 == 0 && d1 == bpf_htonll(1));
		if ((s0 == 0 && (__u32)s1 == bpf_htonl(0xffff)) || (d0 == 0 && (__u32)d1 == bpf_htonl(0xffff)))
			return pass();
		l4proto = ip[6];
		l4 = ip + 40;
		plen = pl - 8;
		is6 = 1;
		m->ihl = 40;
	} else {
		return pass();
	}
	/* Keep the compiler from re-deriving is6 from proto later on: the
	 * verifier would not follow that correlation. */
	asm volatile("" : "+r"(is6));
	if ((void *)(l4 + 8) > end)
		return pass();

	__u32 k0 = 0;
	struct ctl *c = bpf_map_lookup_elem(&hb_ctl, &k0);
	if (!c)
		return pass();

	__u16 *csum;
	int udp = 0;
	if (l4proto == (is6 ? PROTO_ICMPV6 : PROTO_ICMP)) {
		if (l4[0] != (is6 ? 128 : 8) || l4[1] != 0) /* echo request only */
			return pass();
		csum = (__u16 *)(l4 + 2);
	} else if (l4proto == PROTO_UDP) {
		if (!c->udp_port || *(__u16 *)(l4 + 2) != bpf_htons(c->udp_port))
			return pass();
		/* Never from port 0 or from our own port: two responders must
		 * not answer each other (one spoofed datagram would loop). */
		__u16 sport = *(__u16 *)l4;
		if (sport == 0 || sport == bpf_htons(c->udp_port))
			return pass();
		__u32 ulen = bpf_ntohs(*(__u16 *)(l4 + 4));
		if (ulen < 8 || ulen > plen + 8)
			return pass();
		plen = ulen - 8;
		csum = (__u16 *)(l4 + 6);
		if (is6 && *csum == 0) /* mandatory for IPv6 */
			return pass();
		udp = 1;
	} else {
		return pass();
	}

	/* The payload first (cheap), then the checks that need map lookups. */
	__u8 *pl = l4 + 8;
	if (plen == 0) {
		if (udp || !c->hbm2 || !c->have_blob)
			return pass();
	} else {
		if (plen < HDR_LEN || (void *)(pl + HDR_LEN) > end)
			return pass();
		if (pl[0] != 'H' || pl[1] != 'B' || pl[2] != 'Q' || pl[3] != '1')
			return pass();
	}

	/* Only frames for this interface: its own unicast MAC (another
	 * host's destination is the kernel's business), on an interface the
	 * agent registered. */
	struct iface *ifc = bpf_map_lookup_elem(&hb_ifaces, &ifindex);
	if (!ifc || !mac_eq(eth, ifc->mac))
		return pass();
	int lo = ifc->loopback;
	if (loopish && !lo) /* loopback source or destination from the wire */
		return pass();
	/* Our own address (or a subnet broadcast) as the source: spoofed,
	 * except over loopback, where the host talks to itself. */
	struct local *sl = bpf_map_lookup_elem(&hb_addrs, &src);
	if (sl && (sl->kind == LOCAL_BCAST || !lo))
		return pass();
	struct local *dl = bpf_map_lookup_elem(&hb_addrs, &dst);
	if (!dl || dl->kind != LOCAL_ADDR)
		return pass();
	if (c->allow_on) {
		struct prefix pk = {.len = 128};
		__builtin_memcpy(pk.a, src.a, 16);
		if (!bpf_map_lookup_elem(&hb_allow, &pk))
			return pass();
	}

	if (plen == 0) {
		/* Legacy HBM v2 client: an empty echo request. */
		if (!rate_ok(c)) {
			count(C_RATE);
			return V_PASS;
		}
		m->l3off = off;
		m->is6 = is6;
		m->slot = c->active & 1;
		return V_HBM2;
	}
	if ((void *)(pl + HDR_LEN) > end)
		return pass();
	__u32 room = bpf_ntohs(*(__u16 *)(pl + 6));
	if (udp) {
		/* UDP has no kernel echo to fall back on: every valid request
		 * is answered here, with health or without, within the rate;
		 * over it the datagram is dropped, not passed up (one budget). */
		if (HDR_LEN + room > plen)
			return pass(); /* not a valid request */
		if (!rate_ok(c)) {
			count(C_RATE);
			return V_DROP;
		}
	}

	/* Health: asked for, room for it, key id and token right, a blob. */
	enum counter why = C_ANSWERED;
	if (!(pl[4] & 1)) {
		if (!udp) /* health not wanted: an ordinary echo */
			return pass();
		why = C_REACH;
	} else if (room < BLOB_SIZE || HDR_LEN + room > plen) {
		why = C_TOO_SMALL;
	} else if (c->key_id) {
		if (pl[5] != c->key_id) {
			why = C_DENIED;
		} else {
			int ok = token_eq(pl + 24, &dl->tok[0]) | token_eq(pl + 24, &dl->tok[1]) | token_eq(pl + 24, &dl->tok[2]);
			if (!ok)
				why = C_DENIED;
		}
	}
	if (why == C_ANSWERED && !c->have_blob)
		why = C_REACH;
	struct slot *s = 0;
	if (why == C_ANSWERED) {
		__u32 si = c->active & 1;
		s = bpf_map_lookup_elem(&hb_slots, &si);
		if (!s || (void *)(pl + HDR_LEN + BLOB_SIZE) > end)
			why = C_REACH;
	}
	if (why != C_ANSWERED && !udp) {
		count(why); /* ICMP: the kernel's ordinary echo answers */
		return V_PASS;
	}
	if (why == C_ANSWERED && !udp && !rate_ok(c)) {
		count(C_RATE);
		return V_PASS;
	}

	/* Checksum difference of everything that changes in the L4 message:
	 * magic and flags (the health flag is cleared in a reply without
	 * health), the token (zeroed), and the blob. */
	__u32 hdr[2];
	__builtin_memcpy(hdr, "HBR1", 4);
	__builtin_memcpy(&hdr[1], pl + 4, 4);
	if (why != C_ANSWERED)
		((__u8 *)hdr)[4] &= ~1;
	__u8 zero[16] = {};
	__s64 d = bpf_csum_diff((__be32 *)pl, 8, (__be32 *)hdr, 8, 0);
	if (d < 0)
		return pass();
	d = bpf_csum_diff((__be32 *)(pl + 24), 16, (__be32 *)zero, 16, (__u32)d);
	if (d < 0)
		return pass();
	if (s) {
		if ((void *)(pl + HDR_LEN + BLOB_SIZE) > end)
			return pass();
		d = bpf_csum_diff((__be32 *)(pl + HDR_LEN), BLOB_SIZE, (__be32 *)s->blob, BLOB_SIZE, (__u32)d);
		if (d < 0)
			return pass();
	}
	__u64 acc = (__u32)d;

	__builtin_memcpy(pl, hdr, 8);
	__builtin_memset(pl + 24, 0, 16);
	if (s) {
		if ((void *)(pl + HDR_LEN + BLOB_SIZE) > end)
			return pass();
		__builtin_memcpy(pl + HDR_LEN, s->blob, BLOB_SIZE);
	}
	if (!udp) {
		__u16 oldw = *(__u16 *)l4;
		l4[0] = is6 ? 129 : 0;
		acc = add16(acc, oldw, *(__u16 *)l4);
		*csum = csum_apply(*csum, acc);
	} else {
		__u16 p = *(__u16 *)l4;
		*(__u16 *)l4 = *(__u16 *)(l4 + 2);
		*(__u16 *)(l4 + 2) = p;
		if (*csum != 0 || is6) { /* IPv4 UDP checksum 0: none, keep it so */
			__u16 n = csum_apply(*csum, acc);
			*csum = n ? n : 0xffff;
		}
	}
	turn_around(eth, ip, is6, end);
	count(why);
	return V_TX;
}

/* hbm2_finish writes the HBM v2 reply into a frame already grown to hold
 * the 28 bytes after the ICMP header. */
static __always_inline int hbm2_finish(void *data, void *end, const struct meta *m)
{
	__u8 *eth = data;
	__u32 l3off = m->l3off, ihl = m->ihl;
	if (l3off > 22 || ihl > 60)
		return 0;
	__u8 *ip = eth + l3off;
	if ((void *)(ip + 40) > end)
		return 0;
	__u8 *l4 = ip + ihl;
	if ((void *)(l4 + 8 + HBM2_LEN) > end)
		return 0;
	__u32 si = m->slot & 1;
	struct slot *s = bpf_map_lookup_elem(&hb_slots, &si);
	if (!s)
		return 0;
	__s64 d = bpf_csum_diff(0, 0, (__be32 *)s->hbm2, HBM2_LEN, 0);
	if (d < 0)
		return 0;
	__u64 acc = (__u32)d;
	__builtin_memcpy(l4 + 8, s->hbm2, HBM2_LEN);
	__u16 oldw = *(__u16 *)l4;
	l4[0] = m->is6 ? 129 : 0;
	acc = add16(acc, oldw, *(__u16 *)l4);
	if (m->is6) {
		/* Payload length grows; so does the pseudo-header's length. */
		__u16 oldl = *(__u16 *)(ip + 4);
		__u16 newl = bpf_htons(8 + HBM2_LEN);
		*(__u16 *)(ip + 4) = newl;
		acc = add16(acc, oldl, newl);
	} else {
		__u16 oldl = *(__u16 *)(ip + 2);
		__u16 newl = bpf_htons(ihl + 8 + HBM2_LEN);
		*(__u16 *)(ip + 2) = newl;
		*(__u16 *)(ip + 10) = csum_apply(*(__u16 *)(ip + 10), add16(0, oldl, newl));
	}
	*(__u16 *)(l4 + 2) = csum_apply(*(__u16 *)(l4 + 2), acc);
	turn_around(eth, ip, m->is6, end);
	return 1;
}

SEC("xdp")
int hb_xdp(struct xdp_md *ctx)
{
	struct meta m = {};
	enum verdict v = handle((void *)(long)ctx->data, (void *)(long)ctx->data_end, &m, ctx->ingress_ifindex, 0);
	if (v == V_TX)
		return XDP_TX;
	if (v == V_DROP)
		return XDP_DROP;
	if (v != V_HBM2)
		return XDP_PASS;
	/* The only reply longer than its request: HBM2_LEN bytes more (see
	 * docs/responder.md). The frame may carry Ethernet padding. */
	int want = m.l3off + m.ihl + 8 + HBM2_LEN;
	int have = bpf_xdp_get_buff_len(ctx);
	if (want != have && bpf_xdp_adjust_tail(ctx, want - have) != 0) {
		count(C_PASSED);
		return XDP_PASS;
	}
	if (!hbm2_finish((void *)(long)ctx->data, (void *)(long)ctx->data_end, &m)) {
		count(C_PASSED);
		return XDP_PASS; /* frame may be half grown: kernel drops the bad checksum */
	}
	count(C_HBM2);
	return XDP_TX;
}

SEC("tc")
int hb_tc(struct __sk_buff *skb)
{
	/* Make the headers and a probe's payload linear and writable; cheap for
	 * the small frames probes are, bounded for everything else. */
	if ((void *)(long)skb->data + PULL_LEN > (void *)(long)skb->data_end)
		bpf_skb_pull_data(skb, skb->len < PULL_LEN ? skb->len : PULL_LEN);
	struct meta m = {};
	enum verdict v = handle((void *)(long)skb->data, (void *)(long)skb->data_end, &m, skb->ifindex, skb->vlan_present);
	if (v == V_TX)
		return bpf_redirect(skb->ifindex, 0);
	if (v == V_DROP)
		return TC_ACT_SHOT;
	if (v != V_HBM2)
		return TC_ACT_UNSPEC; /* let the next program, or the stack, have it */
	__u32 want = m.l3off + m.ihl + 8 + HBM2_LEN;
	if (bpf_skb_change_tail(skb, want, 0) != 0) {
		count(C_PASSED);
		return TC_ACT_UNSPEC;
	}
	if (!hbm2_finish((void *)(long)skb->data, (void *)(long)skb->data_end, &m)) {
		count(C_PASSED);
		return TC_ACT_UNSPEC;
	}
	count(C_HBM2);
	return bpf_redirect(skb->ifindex, 0);
}

/* hb_xdp_pass passes everything. Native XDP_TX on a veth delivers only when
 * the peer has an XDP program; this is that program (tests, and hosts whose
 * probes arrive over a veth). */
SEC("xdp")
int hb_xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char __license[] SEC("license") = "Dual MIT/GPL";
