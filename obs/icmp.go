// SPDX-License-Identifier: MIT

package obs

import "strconv"

// ICMP and ICMPv6 error types this package names (RFC 792, RFC 4443).
const (
	icmp4Unreach     = 3
	icmp4SourceQu    = 4
	icmp4TimeExc     = 11
	icmp4ParamProb   = 12
	icmp6Unreach     = 1
	icmp6TooBig      = 2
	icmp6TimeExc     = 3
	icmp6ParamProb   = 4
	icmp4UnreachMax  = 15
	icmp6UnreachMax  = 7
	icmpUnreachCodes = "destination unreachable (code "
)

var icmp4UnreachText = [icmp4UnreachMax + 1]string{
	0: "network unreachable", 1: "host unreachable", 2: "protocol unreachable", 3: "port unreachable",
	4: "fragmentation needed", 5: "source route failed", 6: "destination network unknown",
	7: "destination host unknown", 8: "source host isolated", 9: "network administratively prohibited",
	10: "host administratively prohibited", 11: "network unreachable for TOS", 12: "host unreachable for TOS",
	13: "communication administratively prohibited", 14: "host precedence violation", 15: "precedence cutoff in effect",
}

var icmp6UnreachText = [icmp6UnreachMax + 1]string{
	0: "no route to destination", 1: "administratively prohibited", 2: "beyond scope of source address",
	3: "address unreachable", 4: "port unreachable", 5: "source address failed policy",
	6: "reject route to destination", 7: "error in source routing header",
}

// ICMPText names an ICMP error for people, the one wording hb uses
// everywhere (state, store, API, CLI): "host unreachable", "TTL exceeded
// in transit", "packet too big", … (RFC 792, RFC 1812, RFC 4443). v6
// selects the ICMPv6 numbering. The common errors return constants
// (nothing allocated).
func ICMPText(v6 bool, typ, code uint8) string {
	if v6 {
		switch typ {
		case icmp6Unreach:
			if code <= icmp6UnreachMax {
				return icmp6UnreachText[code]
			}
			return icmpUnreachCodes + strconv.Itoa(int(code)) + ")"
		case icmp6TooBig:
			return "packet too big"
		case icmp6TimeExc:
			if code == 1 {
				return "fragment reassembly time exceeded"
			}
			return "hop limit exceeded in transit"
		case icmp6ParamProb:
			return "parameter problem (code " + strconv.Itoa(int(code)) + ")"
		}
		return "ICMPv6 type " + strconv.Itoa(int(typ)) + " code " + strconv.Itoa(int(code))
	}
	switch typ {
	case icmp4Unreach:
		if code <= icmp4UnreachMax {
			return icmp4UnreachText[code]
		}
		return icmpUnreachCodes + strconv.Itoa(int(code)) + ")"
	case icmp4TimeExc:
		if code == 1 {
			return "fragment reassembly time exceeded"
		}
		return "TTL exceeded in transit"
	case icmp4ParamProb:
		return "parameter problem (code " + strconv.Itoa(int(code)) + ")"
	case icmp4SourceQu:
		return "source quench"
	}
	return "ICMP type " + strconv.Itoa(int(typ)) + " code " + strconv.Itoa(int(code))
}
