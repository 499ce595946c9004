package recordio

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var b bytes.Buffer
	recs := []string{`{"type":"HEARTBEAT"}`, "", "x\ny"}
	for _, r := range recs {
		if err := Write(&b, []byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.HasPrefix(b.String(), "20\n{\"type\"") {
		t.Fatalf("framing = %q", b.String())
	}
	rd := NewReader(&b)
	for _, want := range recs {
		got, err := rd.Read()
		if err != nil || string(got) != want {
			t.Fatalf("Read = %q, %v; want %q", got, err, want)
		}
	}
	if _, err := rd.Read(); err != io.EOF {
		t.Fatalf("end: %v, want EOF", err)
	}
}

func TestBadInput(t *testing.T) {
	for _, in := range []string{"abc\n", "5\nab", "99999999999\n"} {
		if _, err := NewReader(strings.NewReader(in)).Read(); err == nil || err == io.EOF {
			t.Errorf("%q: err = %v, want a framing error", in, err)
		}
	}
}
