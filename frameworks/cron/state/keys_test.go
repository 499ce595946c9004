package state

import (
	"testing"

	"agora/core/store"
)

// Every id maps to one valid key segment and back, distinct ids never
// share a segment, and Metronome ids stay readable.
func TestSegmentsRoundTripAndStayDistinct(t *testing.T) {
	inputs := []string{
		"a", "a.b", "ab", "a-b", "a_b", "team-a.nightly", ".", "..", "...", ".a", "a.",
		"a/b", "a%2Fb", "%", "x:y", "a b", "ü", "20240101T000000Z-manual-1", "20240101T000000Z-sched/1",
	}
	seen := map[string]string{}
	for _, in := range inputs {
		seg := escapeSegment(in)
		if err := store.ValidKey("/r/" + seg); err != nil {
			t.Fatalf("escape(%q) = %q: not one valid segment: %v", in, seg, err)
		}
		if prev, dup := seen[seg]; dup {
			t.Fatalf("%q and %q share segment %q", prev, in, seg)
		}
		seen[seg] = in
		back, err := unescapeSegment(seg)
		if err != nil || back != in {
			t.Fatalf("unescape(escape(%q)) = %q, %v", in, back, err)
		}
	}
	for _, readable := range []string{"team-a.nightly", "a.b.c", "20240101T000000Z-nightly"} {
		if got := escapeSegment(readable); got != readable {
			t.Fatalf("escape(%q) = %q, want it kept as is", readable, got)
		}
	}
	for _, bad := range []string{"%", "%4", "%zz", "a%"} {
		if _, err := unescapeSegment(bad); err == nil {
			t.Fatalf("unescape(%q) accepted", bad)
		}
	}
}

func TestLastPerKeyKeepsTheLaterWrite(t *testing.T) {
	ops := []op{{key: "/a", what: "1"}, {key: "/b", what: "2"}, {key: "/a", what: "3"}, {key: "/c", what: "4"}}
	got := lastPerKey(ops)
	var whats []string
	for _, w := range got {
		whats = append(whats, w.what)
	}
	if len(whats) != 3 || whats[0] != "2" || whats[1] != "3" || whats[2] != "4" {
		t.Fatalf("lastPerKey = %v, want [2 3 4]", whats)
	}
}
