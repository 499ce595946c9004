package store

import "testing"

func TestUnder(t *testing.T) {
	cases := []struct {
		key, prefix string
		want        bool
	}{
		{"/a/x", "/a", true},
		{"/a/x/y", "/a", true},
		{"/a", "/a", false},
		{"/ab", "/a", false},
		{"/a-", "/a", false},
		{"/b/a/x", "/a", false},
		{"/anything", "/", true},
	}
	for _, c := range cases {
		if got := Under(c.key, c.prefix); got != c.want {
			t.Errorf("Under(%q, %q) = %v, want %v", c.key, c.prefix, got, c.want)
		}
	}
}

func TestValidKey(t *testing.T) {
	for _, k := range []string{"/a", "/a/b-c", "/registry/tasks/fw/t%3A1"} {
		if err := ValidKey(k); err != nil {
			t.Errorf("ValidKey(%q) = %v", k, err)
		}
	}
	for _, k := range []string{"", "a", "/", "/a/", "/a//b", "/a/./b", "/a/../b", "/a\x00b", "/a\x01"} {
		if err := ValidKey(k); err == nil {
			t.Errorf("ValidKey(%q) accepted a bad key", k)
		}
	}
	if err := ValidPrefix("/"); err != nil {
		t.Errorf(`ValidPrefix("/") = %v`, err)
	}
}
