package authn

import (
	"bytes"
	"testing"
)

// FuzzParseCredentials checks that ParseCredentials never panics and that
// an accepted file survives Marshal -> Parse unchanged (same bytes on the
// second Marshal, same principals).
func FuzzParseCredentials(f *testing.F) {
	for _, s := range []string{
		`{"credentials": []}`,
		`{"credentials": [{"principal": "ops", "secret_hash": "pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg$3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}`,
		`{"credentials": [{"principal": "ci", "token_hash": "sha256$2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"}]}`,
		`{"credentials": [{"principal": "agent", "secret_hash": "pbkdf2-sha256$200000$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", "token_hash": "sha256$2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824"}]}`,
		`{"credentials": [{"principal": "ops", "secret": "hunter2"}]}`,
		`{"credentials": [{"principal": "a"}, {"principal": "a"}]}`,
		`{"credentials": null}`,
		`{}`,
		`[]`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCredentials(data)
		if err != nil {
			if c != nil {
				t.Fatalf("ParseCredentials returned credentials and an error %v", err)
			}
			return
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("Marshal of accepted credentials: %v", err)
		}
		c2, err := ParseCredentials(out)
		if err != nil {
			t.Fatalf("ParseCredentials(Marshal()) = %v\n%s", err, out)
		}
		again, err := c2.Marshal()
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("round trip changed the credentials (%v):\n%s\nthen\n%s", err, out, again)
		}
		if len(c2.Principals()) != len(c.Principals()) {
			t.Fatalf("round trip changed the principals: %v then %v", c.Principals(), c2.Principals())
		}
	})
}
