package mesos

import "testing"

func TestParseAttributes(t *testing.T) {
	as, err := ParseAttributes("rack:r1; zone:a ;level:3")
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 3 || as[0].Text.Value != "r1" || as[1].String() != "a" || as[2].Type != Scalar || as[2].Scalar.Value != 3 {
		t.Fatalf("ParseAttributes = %+v", as)
	}
	for _, bad := range []string{"rack", "rack:", "rack:a;rack:b"} {
		if _, err := ParseAttributes(bad); err == nil {
			t.Errorf("ParseAttributes(%q) succeeded", bad)
		}
	}
}
