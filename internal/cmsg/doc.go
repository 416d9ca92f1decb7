// SPDX-License-Identifier: MIT

// Package cmsg reads the kernel receive timestamp (SCM_TIMESTAMPNS) out of
// the control-message bytes recvmsg returns, for the UDP sockets that ask
// for one: the push receiver (heartbeats) and the responder's ACK reader.
// Pure: bytes in, a time out; no I/O. The prober's engine, which also needs
// error-queue messages, has its own fuller parser (prober/cmsg.go).
package cmsg
