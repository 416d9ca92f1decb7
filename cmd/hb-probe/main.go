// Command hb-probe watches many hosts with batched ICMP/UDP probes and
// serves their state. See README.md.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "hb-probe: not built yet (issues 4 and 5)")
	os.Exit(2)
}
