// SPDX-License-Identifier: MIT

package wire

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestDocsAgree reads the layout tables in docs/wire.md and checks them
// against the code: every row naming a Go constant has that constant's
// offset, rows of a table follow one another without gaps or overlaps, and
// the stated totals match.
func TestDocsAgree(t *testing.T) {
	raw, err := os.ReadFile("../docs/wire.md")
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]int{
		"OffMagic": OffMagic, "OffFlags": OffFlags, "OffKeyID": OffKeyID, "OffRoom": OffRoom,
		"OffCookie": OffCookie, "OffTxTime": OffTxTime, "OffToken": OffToken, "HeaderLen": HeaderLen,
		"offBMagic": offBMagic, "offBVersion": offBVersion, "offBFlags": offBFlags, "offBKeyID": offBKeyID,
		"offBReserved": offBReserved, "offBBootID": offBBootID, "offBGeneration": offBGeneration, "offBCollected": offBCollected,
		"offBBootTime": offBBootTime, "offBUptime": offBUptime, "offBCPU": offBCPU, "offBNumCPU": offBNumCPU,
		"offBFullest": offBFullest, "offBReserved2": offBReserved2, "offBLoad1": offBLoad1, "offBLoad5": offBLoad5, "offBLoad15": offBLoad15,
		"offBProcs": offBProcs, "offBMemTotal": offBMemTotal, "offBMemAvail": offBMemAvail,
		"offBSwapTotal": offBSwapTotal, "offBSwapUsed": offBSwapUsed, "offBRootTotal": offBRootTotal,
		"offBRootUsed": offBRootUsed, "offBNetRx": offBNetRx, "offBNetTx": offBNetTx,
		"offBHostname": offBHostname, "offBTag": offBTag, "offBCRC": offBCRC,
	}
	// Constants whose value is where their row ends rather than starts.
	ends := map[string]int{"EchoedLen": EchoedLen}
	ident := regexp.MustCompile("^`([A-Za-z][A-Za-z0-9]*)`$")
	seen := map[string]bool{}
	checked := 0
	for _, table := range strings.Split(string(raw), "\n\n") {
		prevEnd := -1
		for _, line := range strings.Split(table, "\n") {
			if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| off") {
				continue
			}
			cells := strings.Split(strings.Trim(line, "|"), "|")
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			off, err1 := strconv.Atoi(cells[0])
			n, err2 := strconv.Atoi(cells[1])
			if err1 != nil {
				continue
			}
			if prevEnd >= 0 && err2 == nil && off != prevEnd && !strings.Contains(table, "| clear blob |") {
				t.Errorf("docs/wire.md: row at offset %d does not follow the previous row ending at %d: %q", off, prevEnd, line)
			}
			if err2 == nil {
				prevEnd = off + n
			} else {
				prevEnd = -1 // variable length ("room")
			}
			m := ident.FindStringSubmatch(cells[len(cells)-1])
			if m == nil {
				continue
			}
			name := m[1]
			seen[name] = true
			if v, ok := consts[name]; ok {
				checked++
				if v != off {
					t.Errorf("docs/wire.md says %s is at %d, the code says %d", name, off, v)
				}
			} else if v, ok := ends[name]; ok {
				checked++
				if v != off+n {
					t.Errorf("docs/wire.md says %s ends at %d, the code says %d", name, off+n, v)
				}
			} else {
				t.Errorf("docs/wire.md names %s, which the test does not know", name)
			}
		}
	}
	for name := range consts {
		if !seen[name] {
			t.Errorf("%s is not in docs/wire.md's tables", name)
		}
	}
	if checked < 30 {
		t.Fatalf("only %d rows checked: did the tables change shape?", checked)
	}
	for _, want := range []string{
		"180 bytes (`BlobSize`", "`HeaderLen + BlobSize` = 220", "Total: 28 bytes (`HBM2Len`)",
		"36-byte header, a\n128-byte metrics body", "| version = 2 |",
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("docs/wire.md lacks %q", want)
		}
	}
	if BlobSize != 180 || HeaderLen+BlobSize != 220 || HBM2Len != 28 || BlobHeaderLen != 36 || BlobBodyLen != 128 || BlobVersion != 2 || BlobSize%4 != 0 {
		t.Error("sizes in the code differ from the ones docs/wire.md states")
	}
}
