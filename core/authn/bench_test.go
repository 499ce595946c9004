package authn

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkAuthenticateBasicCached is the steady state of a framework
// calling with HTTP Basic: the secret was checked once and is cached.
func BenchmarkAuthenticateBasicCached(b *testing.B) {
	c := newCredentials()
	h, err := HashSecret("pw") // the real work factor: it must not show here
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Set("ops", h, ""); err != nil {
		b.Fatal(err)
	}
	a := NewAuthenticator(c)
	r := httptest.NewRequest(http.MethodPost, "/api/v1/scheduler", nil)
	r.SetBasicAuth("ops", "pw")
	if _, err := a.Authenticate(r); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := a.Authenticate(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthenticateBearer(b *testing.B) {
	c := newCredentials()
	tok, hash, err := NewToken()
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Set("ci", "", hash); err != nil {
		b.Fatal(err)
	}
	a := NewAuthenticator(c)
	r := httptest.NewRequest(http.MethodPost, "/api/v1/scheduler", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	for b.Loop() {
		if _, err := a.Authenticate(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHashSecret is the cost of one uncached secret check (HashSecret
// and a verify both run PBKDF2 with HashIterations).
func BenchmarkHashSecret(b *testing.B) {
	for b.Loop() {
		if _, err := HashSecret("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
