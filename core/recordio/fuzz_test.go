package recordio

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzRead feeds arbitrary bytes to a Reader: it must never panic, never
// return a record larger than MaxRecord, and must stop within the input
// (every successful Read consumes at least its length line).
func FuzzRead(f *testing.F) {
	f.Add([]byte("20\n{\"type\":\"HEARTBEAT\"}"))
	f.Add([]byte("0\n"))
	f.Add([]byte("3\nx\ny"))
	f.Add([]byte("abc\n"))
	f.Add([]byte("5\nab"))
	f.Add([]byte("99999999999\n"))
	f.Add([]byte("67108865\n"))
	f.Add([]byte("-1\n"))
	f.Add([]byte("+3\nabc"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := NewReader(bytes.NewReader(data))
		total := 0
		for i := 0; ; i++ {
			if i > len(data) {
				t.Fatalf("%d records from %d bytes: the reader does not make progress", i, len(data))
			}
			rec, err := rd.Read()
			if err != nil {
				if err != io.EOF && !strings.HasPrefix(err.Error(), "recordio: ") {
					t.Fatalf("error %q does not say it is a framing error", err)
				}
				return
			}
			if len(rec) > MaxRecord {
				t.Fatalf("record of %d bytes exceeds MaxRecord", len(rec))
			}
			total += len(rec)
			if total > len(data) {
				t.Fatalf("read %d record bytes from %d input bytes", total, len(data))
			}
		}
	})
}

// FuzzRoundTrip writes records cut from arbitrary bytes and checks that
// Read returns exactly them, then a clean io.EOF.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte(`{"type":"HEARTBEAT"}`), uint8(1))
	f.Add([]byte("x\ny\n\n12\n"), uint8(3))
	f.Add([]byte{}, uint8(0))
	f.Add([]byte("\x00\xff\n"), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		// Split data into records of length cut (0 means one record), so
		// empty and multi-record streams are both covered.
		var recs [][]byte
		if cut == 0 || len(data) == 0 {
			recs = [][]byte{data}
		} else {
			for len(data) > 0 {
				n := min(int(cut), len(data))
				recs = append(recs, data[:n])
				data = data[n:]
			}
		}
		var buf bytes.Buffer
		for _, r := range recs {
			if err := Write(&buf, r); err != nil {
				t.Fatal(err)
			}
		}
		rd := NewReader(&buf)
		for i, want := range recs {
			got, err := rd.Read()
			if err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("record %d = %q, want %q", i, got, want)
			}
		}
		if _, err := rd.Read(); !errors.Is(err, io.EOF) {
			t.Fatalf("after the last record: %v, want io.EOF", err)
		}
	})
}

// TestHugeLengthWithoutData checks that a length near MaxRecord with no
// data behind it fails cleanly rather than hanging or succeeding.
func TestHugeLengthWithoutData(t *testing.T) {
	_, err := NewReader(strings.NewReader("67108864\nabc")).Read()
	if err == nil || err == io.EOF {
		t.Fatalf("err = %v, want a truncated-record error", err)
	}
}

// TestLargeRecordRoundTrip covers records above the eager-allocation size.
func TestLargeRecordRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789"), 50_000)
	var buf bytes.Buffer
	if err := Write(&buf, big); err != nil {
		t.Fatal(err)
	}
	got, err := NewReader(&buf).Read()
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("Read = %d bytes, %v; want %d bytes", len(got), err, len(big))
	}
}
