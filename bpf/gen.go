// SPDX-License-Identifier: MIT

package bpf

// Regenerate with `make generate` (clang and libbpf-dev needed). The output,
// hb_bpfel.go and hb_bpfel.o, is committed so building needs no clang.
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target bpfel -type slot -type ctl -type counters -type addr -type token -type local -type iface -type prefix -type bucket hb responder.c -- -I/usr/include/x86_64-linux-gnu
