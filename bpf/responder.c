//go:build ignore

// hb-responder's packet program: answers HBQ1 probes (ICMP echo, ICMPv6
// echo, UDP to the configured port) addressed to this host with the current
// health blob, in place, and passes everything else untouched. One parser
// serves both attach points: hb_xdp (native or generic XDP, reply by
// XDP_TX) and hb_tc (TCX or clsact ingress, reply by bpf_redirect to the
// same interface's egress). docs/responder.md describes the design;
// docs/wire.md the payload layouts.

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

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
	__u8 _pad0;
	__u16 udp_port;    /* host order; 0: UDP probes are not answered */
	__u16 _pad1;
	__u32 _pad2;
	__u64 interval_ns; /* token bucket: ns per reply, per CPU; 0 = no limit */
	__u64 burst_ns;    /* bucket depth: (burst-1) * interval_ns */
};

struct token {
	__u8 t[16];
};

/* An address of this host: IPv6, or IPv4-mapped (::ffff:a.b.c.d). */
struct addr {
	__u8 a[16];
};

/* Per-CPU counters; each packet the program sees increments exactly one. */
struct counters {
	__u64 answered;     /* HBQ1 request answered with a health blob */
	__u64 hbm2;         /* empty echo request answered with HBM v2 */
	__u64 passed;       /* everything else: not a probe, not for us, … */
	__u64 denied;       /* HBQ1 request with a wrong key id or token */
	__u64 too_small;    /* HBQ1 request whose room cannot hold the blob */
	__u64 rate_limited; /* valid request over the token bucket's rate */
};

struct bucket {
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
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct token);
} hb_tokens SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct addr);
	__type(value, __u8);
} hb_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counters);
} hb_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bucket);
} hb_bucket SEC(".maps");

enum verdict { V_PASS, V_TX, V_HBM2 };

enum counter { C_ANSWERED, C_HBM2, C_PASSED, C_DENIED, C_TOO_SMALL, C_RATE };

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
	}
}

static __always_inline enum verdict pass(void)
{
	count(C_PASSED);
	return V_PASS;
}

/* GCRA token bucket, per CPU. */
static __always_inline int rate_ok(const struct ctl *c)
{
	if (!c->interval_ns)
		return 1;
	__u32 k = 0;
	struct bucket *b = bpf_map_lookup_elem(&hb_bucket, &k);
	if (!b)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 tat = b->tat;
	if (tat < now)
		tat = now;
	if (tat - now > c->burst_ns)
		return 0;
	b->tat = tat + c->interval_ns;
	return 1;
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

static __always_inline int is_local(const struct addr *a)
{
	return bpf_map_lookup_elem(&hb_addrs, a) != 0;
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
static __always_inline enum verdict handle(void *data, void *end, struct meta *m)
{
	__u8 *eth = data;
	if ((void *)(eth + 14) > end)
		return pass();
	/* Group (multicast/broadcast) destination or source MAC: not ours. */
	if ((eth[0] & 1) || (eth[6] & 1))
		return pass();
	__u16 proto = *(__u16 *)(eth + 12);
	__u32 off = 14;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
			if ((void *)(eth + off + 4) > end)
				return pass();
			proto = *(__u16 *)(eth + off + 2);
			off += 4;
		}
	}

	__u8 *ip = eth + off;
	__u8 *l4;
	__u32 plen; /* L4 payload length */
	__u8 l4proto;
	int is6;
	struct addr dst = {};

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
		__u8 s0 = ip[12];
		if (s0 == 0 || s0 >= 224) /* unspecified, multicast, class E, broadcast */
			return pass();
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
		__u64 s0 = *(__u64 *)(ip + 8), s1 = *(__u64 *)(ip + 16);
		if (s0 == 0 && s1 == 0) /* unspecified source */
			return pass();
		__builtin_memcpy(dst.a, ip + 24, 16);
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

	if (!is_local(&dst))
		return pass();

	__u8 *pl = l4 + 8;
	if (plen == 0) {
		/* Legacy HBM v2 client: an empty echo request. */
		if (udp || !c->hbm2 || !c->have_blob)
			return pass();
		if (!rate_ok(c)) {
			count(C_RATE);
			return V_PASS;
		}
		m->l3off = off;
		m->is6 = is6;
		m->slot = c->active & 1;
		return V_HBM2;
	}
	if (plen < 4 || (void *)(pl + 4) > end)
		return pass();
	if (pl[0] != 'H' || pl[1] != 'B' || pl[2] != 'Q' || pl[3] != '1')
		return pass();
	if (plen < HDR_LEN || (void *)(pl + HDR_LEN) > end) {
		count(C_TOO_SMALL);
		return V_PASS;
	}
	if (!(pl[4] & 1)) /* health not wanted: an ordinary echo */
		return pass();
	__u32 room = bpf_ntohs(*(__u16 *)(pl + 6));
	if (room < BLOB_SIZE || HDR_LEN + room > plen) {
		count(C_TOO_SMALL);
		return V_PASS;
	}
	if (c->key_id) {
		if (pl[5] != c->key_id) {
			count(C_DENIED);
			return V_PASS;
		}
		__u32 k1 = 1;
		struct token *t0 = bpf_map_lookup_elem(&hb_tokens, &k0);
		struct token *t1 = bpf_map_lookup_elem(&hb_tokens, &k1);
		if (!t0 || !t1)
			return pass();
		__u64 a0 = *(__u64 *)(pl + 24), a1 = *(__u64 *)(pl + 32);
		int ok0 = a0 == *(__u64 *)&t0->t[0] && a1 == *(__u64 *)&t0->t[8];
		int ok1 = a0 == *(__u64 *)&t1->t[0] && a1 == *(__u64 *)&t1->t[8];
		if (!ok0 && !ok1) {
			count(C_DENIED);
			return V_PASS;
		}
	}
	if (!c->have_blob)
		return pass();
	__u32 si = c->active & 1;
	struct slot *s = bpf_map_lookup_elem(&hb_slots, &si);
	if (!s)
		return pass();
	if ((void *)(pl + HDR_LEN + BLOB_SIZE) > end)
		return pass();
	if (!rate_ok(c)) {
		count(C_RATE);
		return V_PASS;
	}

	/* Checksum difference of everything that changes in the L4 message. */
	__u32 magic;
	__builtin_memcpy(&magic, "HBR1", 4);
	__u8 zero[16] = {};
	__s64 d = bpf_csum_diff((__be32 *)pl, 4, (__be32 *)&magic, 4, 0);
	if (d < 0)
		return pass();
	d = bpf_csum_diff((__be32 *)(pl + 24), 16, (__be32 *)zero, 16, (__u32)d);
	if (d < 0)
		return pass();
	d = bpf_csum_diff((__be32 *)(pl + HDR_LEN), BLOB_SIZE, (__be32 *)s->blob, BLOB_SIZE, (__u32)d);
	if (d < 0)
		return pass();
	__u64 acc = (__u32)d;

	*(__u32 *)pl = magic;
	__builtin_memset(pl + 24, 0, 16);
	__builtin_memcpy(pl + HDR_LEN, s->blob, BLOB_SIZE);
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
	count(C_ANSWERED);
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
	enum verdict v = handle((void *)(long)ctx->data, (void *)(long)ctx->data_end, &m);
	if (v == V_TX)
		return XDP_TX;
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
	enum verdict v = handle((void *)(long)skb->data, (void *)(long)skb->data_end, &m);
	if (v == V_TX)
		return bpf_redirect(skb->ifindex, 0);
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
