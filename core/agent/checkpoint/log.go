package checkpoint

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"strconv"
)

// The framing of updates.log: one record a line, "<crc32c of json, 8 hex
// digits> <json>\n". JSON never holds a raw newline, so a line is a record;
// the checksum tells a record cut short or garbled by a crash from a whole
// one.

// maxLogSize is how long an updates log grows before it is rewritten as
// its last record alone. A task that flaps its health for months keeps
// appending; this bounds both its disk use and what a restart reads.
const maxLogSize = 64 << 10

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeRecord frames one record.
func encodeRecord(js []byte) []byte {
	b := make([]byte, 0, len(js)+10)
	b = fmt.Appendf(b, "%08x ", crc32.Checksum(js, castagnoli))
	b = append(b, js...)
	return append(b, '\n')
}

// lastRecord returns the last intact record of a log and the length of the
// log's intact prefix, where the next record goes. A torn last line (no
// newline, or a bad checksum) ends the intact prefix. err reports a log
// whose very first complete line is damaged: corruption rather than an
// interrupted append, as an append is only ever started after a whole one.
func lastRecord(b []byte) (rec []byte, intact int, err error) {
	for intact < len(b) {
		nl := bytes.IndexByte(b[intact:], '\n')
		if nl < 0 {
			break
		}
		js, ok := checkLine(b[intact : intact+nl])
		if !ok {
			if rec == nil {
				err = fmt.Errorf("%s is corrupt: its record at byte %d fails its checksum", updatesLog, intact)
			}
			break
		}
		rec = js
		intact += nl + 1
	}
	return rec, intact, err
}

// checkLine returns a line's JSON if its checksum matches.
func checkLine(line []byte) ([]byte, bool) {
	if len(line) < 10 || line[8] != ' ' {
		return nil, false
	}
	sum, err := strconv.ParseUint(string(line[:8]), 16, 32)
	if err != nil {
		return nil, false
	}
	js := line[9:]
	return js, uint32(sum) == crc32.Checksum(js, castagnoli)
}
