package prober

import "fmt"

// ProblemText names an ICMP error for people: "host unreachable",
// "TTL exceeded in transit", … (RFC 792, RFC 1812, RFC 4443). v6 selects
// the ICMPv6 numbering.
func ProblemText(v6 bool, typ, code uint8) string {
	if v6 {
		switch typ {
		case icmp6Unreach:
			if s, ok := map[uint8]string{0: "no route to destination", 1: "administratively prohibited", 2: "beyond scope of source address",
				3: "address unreachable", 4: "port unreachable", 5: "source address failed policy", 6: "reject route to destination"}[code]; ok {
				return s
			}
			return fmt.Sprintf("destination unreachable (code %d)", code)
		case icmp6TooBig:
			return "packet too big"
		case icmp6TimeExc:
			if code == 1 {
				return "fragment reassembly time exceeded"
			}
			return "hop limit exceeded in transit"
		case icmp6ParamProb:
			return fmt.Sprintf("parameter problem (code %d)", code)
		}
		return fmt.Sprintf("ICMPv6 type %d code %d", typ, code)
	}
	switch typ {
	case icmp4Unreach:
		if s, ok := map[uint8]string{0: "network unreachable", 1: "host unreachable", 2: "protocol unreachable", 3: "port unreachable",
			4: "fragmentation needed", 5: "source route failed", 6: "destination network unknown", 7: "destination host unknown",
			9: "network administratively prohibited", 10: "host administratively prohibited", 13: "communication administratively prohibited"}[code]; ok {
			return s
		}
		return fmt.Sprintf("destination unreachable (code %d)", code)
	case icmp4TimeExc:
		if code == 1 {
			return "fragment reassembly time exceeded"
		}
		return "TTL exceeded in transit"
	case icmp4ParamProb:
		return fmt.Sprintf("parameter problem (code %d)", code)
	case icmp4SourceQu:
		return "source quench"
	}
	return fmt.Sprintf("ICMP type %d code %d", typ, code)
}

// Problem describes a result's problem in one line ("" for an OK one).
func (r *Result) Problem() string {
	switch r.Outcome {
	case OutcomeICMPError:
		s := ProblemText(r.Addr.Is6(), r.ICMPType, r.ICMPCode)
		if r.From.IsValid() {
			s += " from " + r.From.String()
		}
		return s
	case OutcomeSendError:
		if r.Err != nil {
			return "send failed: " + r.Err.Error()
		}
		return "send failed"
	case OutcomeTimeout:
		return "timeout"
	}
	return ""
}
