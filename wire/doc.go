// SPDX-License-Identifier: MIT

// Package wire holds hb's byte formats: the HBQ1 probe request and its HBR1
// reply, the HBH1 health blob (clear with a CRC32, or sealed with
// XChaCha20-Poly1305 under a per-run subkey; Sealer numbers a run's blobs so
// no sealing nonce repeats), the access token, the probe cookie, the legacy
// HBM v2 heartbeat payload, the HBP1 push heartbeat with its HBA1 ack, and
// the legacy hbd datagrams.
//
// Everything here is pure: functions take bytes and return values, or write
// into a buffer the caller owns. Nothing reads the clock or touches a socket;
// times are passed in. The hot decoders (ParseRequest, ParseReply,
// DecodeBlob, DecodeHBM2) allocate nothing.
//
// docs/wire.md is the normative description of every layout; the constants in
// this package follow it and a test checks that the two agree.
//
// All multi-byte integers are big-endian (network order).
package wire
