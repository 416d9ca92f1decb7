// SPDX-License-Identifier: MIT

package obs

import "testing"

func TestNamesRoundTrip(t *testing.T) {
	for k := KindICMP; k < NumKinds; k++ {
		got, ok := ParseKind(k.String())
		if !ok || got != k {
			t.Errorf("kind %v round-trips to %v %v", k, got, ok)
		}
	}
	if _, ok := ParseKind("invalid"); ok {
		t.Error("invalid parses")
	}
	if k, _ := ParseKind("https"); k != KindHTTP {
		t.Error("https is not http")
	}
	for m := MethodNone; m <= MethodUser; m++ {
		got, ok := ParseMethod(m.String())
		if !ok || got != m {
			t.Errorf("method %v round-trips to %v", m, got)
		}
	}
	if !Timeout.Failed() || !Error.Failed() || OK.Failed() || OutcomeInvalid.Failed() {
		t.Error("Failed")
	}
}
