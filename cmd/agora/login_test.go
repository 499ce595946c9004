package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"agora/core/authn"
)

// cliWith is a cli whose environment is env, with its config in a temp dir.
func cliWith(t *testing.T, env map[string]string) *cli {
	c, _, _ := testCLI(context.Background(), "")
	c.getenv = func(k string) string { return env[k] }
	return c
}

func TestCLICredentialsPrecedenceAndConfigMode(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.json")
	// A master that echoes who it authenticated.
	creds, _ := authn.ParseCredentials([]byte(`{"credentials": []}`))
	toks := map[string]string{}
	for _, p := range []string{"from-config", "from-env"} {
		tok, hash, _ := authn.NewToken()
		creds.Set(p, "", hash)
		toks[p] = tok
	}
	srv := httptest.NewServer(authn.NewAuthenticator(creds).Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := authn.PrincipalFrom(r.Context())
		w.Write([]byte(p))
	})))
	defer srv.Close()
	whoami := func(c *cli) string {
		v := c.newFlags("x", "x", "x")
		if _, _, err := c.parse(v, nil); err != nil {
			t.Fatalf("parse: %v", err)
		}
		resp, err := c.hc.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := make([]byte, 100)
		n, _ := resp.Body.Read(b)
		return string(b[:n])
	}
	os.WriteFile(cfgPath, []byte(`{"master": "`+srv.URL+`", "principal": "from-config", "token": "`+toks["from-config"]+`"}`), 0o600)

	if got := whoami(cliWith(t, map[string]string{"AGORA_CONFIG": cfgPath})); got != "from-config" {
		t.Fatalf("with the config file only, the master saw %q", got)
	}
	env := map[string]string{"AGORA_CONFIG": cfgPath, "AGORA_PRINCIPAL": "from-env", "AGORA_TOKEN": toks["from-env"]}
	if got := whoami(cliWith(t, env)); got != "from-env" {
		t.Fatalf("with AGORA_* set, the master saw %q, want the environment to win over the config file", got)
	}

	// A config others can read is refused, naming the fix.
	os.Chmod(cfgPath, 0o644)
	c := cliWith(t, map[string]string{"AGORA_CONFIG": cfgPath})
	v := c.newFlags("x", "x", "x")
	_, _, err := c.parse(v, nil)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a 0644 config: %v, want a refusal naming chmod 600", err)
	}
}
