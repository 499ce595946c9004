package authn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fastHash hashes with the minimum iterations so tests stay quick; the
// format is the same as HashSecret's.
func fastHash(t testing.TB, secret string) string {
	t.Helper()
	h, err := hashSecretWith(secret, []byte("0123456789abcdef"), minIterations)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashSecretVerifies(t *testing.T) {
	h, err := HashSecret("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "pbkdf2-sha256$200000$") {
		t.Errorf("HashSecret = %q, want pbkdf2-sha256 with %d iterations", h, HashIterations)
	}
	if ok, err := VerifySecret(h, "s3cret"); !ok || err != nil {
		t.Errorf("VerifySecret(right) = %v, %v", ok, err)
	}
	if ok, err := VerifySecret(h, "s3cret!"); ok || err != nil {
		t.Errorf("VerifySecret(wrong) = %v, %v", ok, err)
	}
	h2, _ := HashSecret("s3cret")
	if h2 == h {
		t.Error("two hashes of one secret are equal; the salt is not random")
	}
	if _, err := HashSecret(""); err == nil {
		t.Error("HashSecret accepted an empty secret")
	}
}

func TestNewToken(t *testing.T) {
	tok, hash, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "agt_") || len(tok) != 4+43 {
		t.Errorf("token %q: want agt_ and 43 base64url characters", tok)
	}
	if hash != HashToken(tok) || !strings.HasPrefix(hash, "sha256$") || len(hash) != 7+64 {
		t.Errorf("token hash %q", hash)
	}
	tok2, _, _ := NewToken()
	if tok2 == tok {
		t.Error("two tokens are equal")
	}
}

func TestParseAndMarshalRoundTrip(t *testing.T) {
	sec := fastHash(t, "pw")
	_, tokHash, _ := NewToken()
	in := `{"credentials": [
		{"principal": "ops", "secret_hash": "` + sec + `"},
		{"principal": "ci", "token_hash": "` + strings.ToUpper(tokHash[:7]) + strings.ToUpper(tokHash[7:]) + `"},
		{"principal": "agent", "secret_hash": "` + sec + `", "token_hash": "` + HashToken("x") + `"}
	]}`
	// The scheme must be lower case; only the hex may be upper case.
	if _, err := ParseCredentials([]byte(in)); err == nil || !strings.Contains(err.Error(), "credentials[1].token_hash") {
		t.Fatalf("upper-case scheme accepted or wrong error: %v", err)
	}
	in = strings.Replace(in, "SHA256$", "sha256$", 1)
	c, err := ParseCredentials([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Principals(), ","); got != "agent,ci,ops" {
		t.Errorf("Principals = %s", got)
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "credentials": [
    {
      "principal": "agent",
      "secret_hash": "` + sec + `",
      "token_hash": "` + HashToken("x") + `"
    },
    {
      "principal": "ci",
      "token_hash": "` + tokHash + `"
    },
    {
      "principal": "ops",
      "secret_hash": "` + sec + `"
    }
  ]
}
`
	if string(out) != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", out, want)
	}
	c2, err := ParseCredentials(out)
	if err != nil {
		t.Fatal(err)
	}
	out2, _ := c2.Marshal()
	if string(out2) != string(out) {
		t.Errorf("second Marshal differs:\n%s", out2)
	}
	empty, err := ParseCredentials([]byte(`{}`))
	if err != nil || len(empty.Principals()) != 0 {
		t.Fatalf("empty file: %v", err)
	}
	if b, _ := empty.Marshal(); string(b) != "{\n  \"credentials\": []\n}\n" {
		t.Errorf("empty Marshal = %q", b)
	}
}

func TestParseErrorsNameTheField(t *testing.T) {
	sec := fastHash(t, "pw")
	tok := HashToken("t")
	cases := []struct {
		in, want string
	}{
		{`[]`, `credentials: want a JSON object`},
		{`{"credentials": [}`, `credentials: invalid JSON at byte`},
		{`{"creds": []}`, `creds: unknown field`},
		{`{"credentials": {}}`, `credentials: want a list`},
		{`{"credentials": [], "credentials": []}`, `credentials: given twice`},
		{`{"credentials": [3]}`, `credentials[0]: want an object`},
		{`{"credentials": [{"secret_hash": "` + sec + `"}]}`, `credentials[0].principal: missing`},
		{`{"credentials": [{"principal": "", "secret_hash": "` + sec + `"}]}`, `credentials[0].principal: empty`},
		{`{"credentials": [{"principal": 7, "secret_hash": "` + sec + `"}]}`, `credentials[0].principal: want a string`},
		{`{"credentials": [{"principal": "a:b", "secret_hash": "` + sec + `"}]}`, `credentials[0].principal: "a:b" contains ":"`},
		{`{"credentials": [{"principal": " a", "secret_hash": "` + sec + `"}]}`, `credentials[0].principal: " a" has leading or trailing space`},
		{`{"credentials": [{"principal": "a\u0007", "secret_hash": "` + sec + `"}]}`, `credentials[0].principal: "a\a" contains a control character`},
		{`{"credentials": [{"principal": "ops", "secret": "hunter2"}]}`, `credentials[0].secret: plaintext secrets are not accepted; hash it with HashSecret / agora credentials add`},
		{`{"credentials": [{"principal": "ops", "password": "x"}]}`, `credentials[0].password: unknown field`},
		{`{"credentials": [{"principal": "ops", "principal": "x"}]}`, `credentials[0].principal: given twice`},
		{`{"credentials": [{"principal": "ops"}]}`, `credentials[0]: "ops" has neither secret_hash nor token_hash`},
		{`{"credentials": [{"principal": "a", "token_hash": "` + tok + `"}, {"principal": "ops", "token_hash": "` + HashToken("u") + `"}, {"principal": "ops", "secret_hash": "` + sec + `"}]}`, `credentials[2].principal: "ops" is already given by credentials[1]`},
		{`{"credentials": [{"principal": "a", "token_hash": "` + tok + `"}, {"principal": "b", "token_hash": "` + tok + `"}]}`, `credentials[1].token_hash: already belongs to "a"`},
		{`{"credentials": [{"principal": "a", "token_hash": "` + tok + `"}, {"principal": "b", "token_hash": 1}]}`, `credentials[1].token_hash: want a string`},
		{`{"credentials": [{}, {}, {"principal": "ops", "secret_hash": "md5$abcdef"}]}`, `credentials[0].principal: missing`},
		{`{"credentials": [{"principal": "a", "token_hash": "` + tok + `"}, {"principal": "b", "token_hash": "` + tok + `"}, {"principal": "ops", "secret_hash": "md5$abcdef"}]}`, `credentials[1].token_hash`},
		{`{"credentials": [{"principal": "x", "token_hash": "` + tok + `"}, {"principal": "y", "token_hash": "` + HashToken("y") + `"}, {"principal": "ops", "secret_hash": "md5$abcdef"}]}`, `credentials[2].secret_hash: "md5$abcdef" is not pbkdf2-sha256$<iterations>$<salt>$<key>; make one with HashSecret / agora credentials add`},
		{`{"credentials": [{"principal": "ops", "secret_hash": "pbkdf2-sha256$100$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5"}]}`, `credentials[0].secret_hash: iterations "100" is not a whole number from 1000 to 10000000`},
		{`{"credentials": [{"principal": "ops", "secret_hash": "pbkdf2-sha256$0200000$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5"}]}`, `credentials[0].secret_hash: iterations "0200000"`},
		{`{"credentials": [{"principal": "ops", "secret_hash": "pbkdf2-sha256$200000$c2Fsd$a2V5a2V5a2V5a2V5a2V5a2V5"}]}`, `credentials[0].secret_hash: salt "c2Fsd" is not 8 to 64 bytes`},
		{`{"credentials": [{"principal": "ops", "secret_hash": "pbkdf2-sha256$200000$c2FsdHNhbHQ=$a2V5a2V5a2V5a2V5a2V5a2V5"}]}`, `credentials[0].secret_hash: salt`},
		{`{"credentials": [{"principal": "ops", "secret_hash": "pbkdf2-sha256$200000$c2FsdHNhbHQ$a2V5"}]}`, `credentials[0].secret_hash: key "a2V5" is not 16 to 64 bytes`},
		{`{"credentials": [{"principal": "ops", "token_hash": "sha256$abc"}]}`, `credentials[0].token_hash: "sha256$abc" is not sha256$<64 hex digits>`},
		{`{"credentials": [{"principal": "ops", "token_hash": "agt_plaintexttoken"}]}`, `credentials[0].token_hash: "agt_plaintexttoken" is not sha256$`},
	}
	for _, c := range cases {
		_, err := ParseCredentials([]byte(c.in))
		if err == nil {
			t.Errorf("ParseCredentials(%s) accepted it; want %q", c.in, c.want)
			continue
		}
		if !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("ParseCredentials(%s) error\n  %v\nwant prefix\n  %s", c.in, err, c.want)
		}
	}
}

func TestSet(t *testing.T) {
	c, err := ParseCredentials([]byte(`{"credentials": []}`))
	if err != nil {
		t.Fatal(err)
	}
	sec := fastHash(t, "pw")
	if err := c.Set("ops", "", ""); err == nil || !strings.Contains(err.Error(), "new principal") {
		t.Errorf("Set with no hashes for a new principal: %v", err)
	}
	if err := c.Set("ops", sec, ""); err != nil {
		t.Fatal(err)
	}
	if err := c.Set("ops", "", HashToken("t1")); err != nil {
		t.Fatal(err)
	}
	if err := c.Set("ci", "", HashToken("t1")); err == nil || !strings.Contains(err.Error(), `token_hash: already belongs to "ops"`) {
		t.Errorf("Set reusing a token: %v", err)
	}
	if err := c.Set("ops", "plain", ""); err == nil || !strings.HasPrefix(err.Error(), "secret_hash: ") {
		t.Errorf("Set with a bad secret hash: %v", err)
	}
	if err := c.Set("bad:name", sec, ""); err == nil || !strings.HasPrefix(err.Error(), "principal: ") {
		t.Errorf("Set with a bad principal: %v", err)
	}
	// Replacing the token frees the old one.
	if err := c.Set("ops", "", HashToken("t2")); err != nil {
		t.Fatal(err)
	}
	if err := c.Set("ci", "", HashToken("t1")); err != nil {
		t.Errorf("old token still taken: %v", err)
	}
	out, _ := c.Marshal()
	if !strings.Contains(string(out), sec) || !strings.Contains(string(out), HashToken("t2")) || strings.Contains(string(out), `"ops",`+"\n      \"token_hash\": \""+HashToken("t1")) {
		t.Errorf("after Set:\n%s", out)
	}
	if !c.Remove("ci") || c.Remove("ci") {
		t.Error("Remove does not report what it removed")
	}
	if got := strings.Join(c.Principals(), ","); got != "ops" {
		t.Errorf("Principals after Remove = %s", got)
	}
}

func TestLoadCredentialsNamesThePath(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "creds.json")
	if err := os.WriteFile(p, []byte(`{"credentials": [{"principal": "ops", "secret": "x"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCredentials(p); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "credentials[0].secret") {
		t.Errorf("LoadCredentials: %v", err)
	}
	if _, err := LoadCredentials(filepath.Join(dir, "nope.json")); err == nil || !strings.Contains(err.Error(), "nope.json") {
		t.Errorf("LoadCredentials of a missing file: %v", err)
	}
}
