// SPDX-License-Identifier: MIT

// Package license holds no code: its test checks that hb is MIT-licensed
// consistently — LICENSE, the packages' copyright file and nfpm metadata,
// an SPDX line on every hand-written Go and C source file, and the eBPF
// program's "Dual MIT/GPL" declaration to the kernel.
package license
