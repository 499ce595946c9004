package jsonobj

import (
	"errors"
	"strings"
	"testing"
)

func TestFields(t *testing.T) {
	fs, err := Fields([]byte(`{"b": 1, "a": {"x": null}}`), "", "top")
	if err != nil || len(fs) != 2 || fs[0].Name != "b" || fs[1].Name != "a" || string(fs[1].Value) != `{"x": null}` {
		t.Fatalf("Fields = %+v, %v; want b then a, in order", fs, err)
	}
	for _, c := range []struct{ in, where, want string }{
		{`{"a": 1, "a": 2}`, "rules[0]", "rules[0].a: given twice"},
		{`{"a": 1} {}`, "", "top: unexpected data after the object"},
		{`{"a": `, "x", "x: invalid JSON"},
	} {
		if _, err := Fields([]byte(c.in), c.where, "top"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Fields(%s) error = %v, want %q", c.in, err, c.want)
		}
	}
	if _, err := Fields([]byte(`[1]`), "", "top"); !errors.Is(err, ErrNotObject) {
		t.Fatalf("an array: %v, want ErrNotObject", err)
	}
	if !IsNull([]byte(" null ")) || IsNull([]byte(`"null"`)) {
		t.Fatal("IsNull")
	}
}
