package state

import (
	"testing"

	"agora/core/store"
)

// Every id or task id maps to one valid key segment and back, and distinct
// ids never share a segment.
func TestSegmentsRoundTripAndStayDistinct(t *testing.T) {
	inputs := []string{"web", "team/web", "team-web", "team.web", "team%2Fweb", "a/b/c", "x:y", "ü/..", ".", "..", "a b", "%", "t_1.2-3"}
	seen := map[string]string{}
	for _, slashAsDot := range []bool{true, false} {
		clear(seen)
		for _, in := range inputs {
			seg := escapeSegment(in, slashAsDot)
			if err := store.ValidKey("/r/" + seg); err != nil || seg == "." || seg == ".." {
				t.Fatalf("escape(%q) = %q: not one valid segment: %v", in, seg, err)
			}
			if prev, dup := seen[seg]; dup {
				t.Fatalf("%q and %q share segment %q", prev, in, seg)
			}
			seen[seg] = in
			back, err := unescapeSegment(seg, slashAsDot)
			if err != nil || back != in {
				t.Fatalf("unescape(escape(%q)) = %q, %v", in, back, err)
			}
		}
	}
	if got := appSegment("/team/web"); got != "team.web" {
		t.Fatalf("appSegment(/team/web) = %q, want the readable team.web", got)
	}
	for _, bad := range []string{"%", "%4", "%zz"} {
		if _, err := unescapeSegment(bad, true); err == nil {
			t.Fatalf("unescape(%q) accepted", bad)
		}
	}
}

func TestCompareVersionsByTime(t *testing.T) {
	// As text "…:01.5Z" sorts before "…:01Z" ('.' < 'Z'); by time it is later.
	a, b := "2024-01-01T00:00:01Z", "2024-01-01T00:00:01.5Z"
	if compareVersions(a, b) >= 0 || compareVersions(b, a) <= 0 {
		t.Fatalf("%s should sort before %s", a, b)
	}
	if compareVersions("not-a-time", a) >= 0 {
		t.Fatal("unparseable versions should sort first (pruned first)")
	}
}
