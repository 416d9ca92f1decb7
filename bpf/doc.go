// SPDX-License-Identifier: MIT

// Package bpf holds hb-responder's eBPF program (responder.c), the Go
// bindings bpf2go generates from it (committed, so building needs no clang),
// and helpers to load it. Loading needs CAP_BPF and CAP_NET_ADMIN (or root);
// attaching needs a kernel with XDP (4.8+), TCX (6.6+) or clsact TC.
package bpf
