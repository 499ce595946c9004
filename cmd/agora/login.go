package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"agora/core/authn"
	"agora/core/client"
	"agora/core/mesos"
	"agora/core/tlsconfig"
)

// cliConfig is ~/.agora/config.json: where the CLI's verbs go and who they
// are there, written by `agora login`. It holds a secret, so it must not be
// readable by anybody else.
type cliConfig struct {
	Master    string `json:"master,omitempty"`
	Principal string `json:"principal,omitempty"`
	Secret    string `json:"secret,omitempty"`
	Token     string `json:"token,omitempty"`
	TLSCA     string `json:"tls_ca,omitempty"`
}

// configPath is the CLI's config file ($AGORA_CONFIG overrides it).
func (c *cli) configPath() string {
	if p := c.getenv("AGORA_CONFIG"); p != "" {
		return p
	}
	home := c.getenv("HOME")
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".agora", "config.json")
}

// loadConfig reads the config file; a missing one is empty. A file others
// can read is refused: it would leak the secret it holds.
func (c *cli) loadConfig() (cliConfig, error) {
	var cfg cliConfig
	path := c.configPath()
	if path == "" {
		return cfg, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return cfg, fmt.Errorf("config %s: mode %v lets others read the secret in it; run chmod 600 %s", path, st.Mode().Perm(), path)
	}
	dec := json.NewDecoder(io.LimitReader(f, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("config %s: %v", path, err)
	}
	return cfg, nil
}

// credentials are what one verb authenticates with; flags win over the
// environment, which wins over the config file.
type credentials struct {
	principal, secret, token, tlsCA string
}

func (c *cli) credentials(v *verbFlags, cfg cliConfig) (credentials, error) {
	cr := credentials{
		principal: firstNonEmpty(v.principal, c.getenv("AGORA_PRINCIPAL"), cfg.Principal),
		tlsCA:     firstNonEmpty(v.tlsCA, c.getenv("AGORA_TLS_CA"), cfg.TLSCA),
	}
	var err error
	if cr.secret, err = readSecret("--secret_file", v.secretFile, c.getenv("AGORA_SECRET")); err != nil {
		return cr, err
	}
	if cr.token, err = readSecret("--token_file", v.tokenFile, c.getenv("AGORA_TOKEN")); err != nil {
		return cr, err
	}
	if cr.secret == "" && cr.token == "" {
		cr.secret, cr.token = cfg.Secret, cfg.Token
	}
	if cr.secret != "" && cr.principal == "" {
		return cr, usagef("a secret was given without a principal: use --principal, AGORA_PRINCIPAL or `agora login`")
	}
	return cr, nil
}

// authenticate points c.hc at the verb's master with its credentials and
// TLS trust. It runs once flags are parsed.
func (c *cli) authenticate(v *verbFlags) error {
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	if v.master == "" {
		v.master = firstNonEmpty(cfg.Master, defaultMaster)
	}
	cr, err := c.credentials(v, cfg)
	if err != nil {
		return err
	}
	c.hc, err = cr.client(c.hc)
	return err
}

// client returns a copy of hc that trusts the CA and sends the credentials.
func (cr credentials) client(hc *http.Client) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if t, ok := hc.Transport.(*http.Transport); ok {
		tr = t.Clone()
	}
	if cr.tlsCA != "" {
		tc, err := tlsconfig.Client(tlsconfig.Files{CA: cr.tlsCA})
		if err != nil {
			return nil, fmt.Errorf("--tls_ca: %w", err)
		}
		tr.TLSClientConfig = tc
	}
	out := *hc
	out.Transport = tr
	if cr.secret != "" || cr.token != "" {
		out.Transport = &authn.Transport{Base: tr, Principal: cr.principal, Secret: cr.secret, Token: cr.token}
	}
	return &out, nil
}

// runLogin is `agora login`: it asks for the principal's secret without
// echoing it, checks it against the master and keeps it in the config file.
func runLogin(args []string) error { return withCLI((*cli).login)(args) }

func (c *cli) login(args []string) error {
	v := c.newFlags("login", "agora login --principal NAME [--master URL] [--tls_ca FILE]",
		"Ask for the principal's secret (not echoed; or read from stdin when it is not a terminal),\n"+
			"check it against the master and keep master, principal, secret and CA in "+c.configPath()+" (mode 0600).\n"+
			"Later verbs use them unless flags or AGORA_* variables say otherwise.")
	pos, help, err := c.parse(v, args)
	if help || err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("login: unexpected argument %q", pos[0])
	}
	principal := firstNonEmpty(v.principal, c.getenv("AGORA_PRINCIPAL"))
	if principal == "" {
		return usagef("login: --principal is required")
	}
	secret := c.getenv("AGORA_SECRET")
	if secret == "" {
		if secret, err = readHidden(c.stderr, fmt.Sprintf("secret for %s: ", principal)); err != nil {
			return err
		}
	}
	cr := credentials{principal: principal, secret: secret, tlsCA: firstNonEmpty(v.tlsCA, c.getenv("AGORA_TLS_CA"))}
	hc, err := cr.client(c.hc)
	if err != nil {
		return err
	}
	op := client.NewOperator(v.master, hc)
	if _, err := op.Raw(c.ctx, mesos.GetVersion); err != nil {
		return explain(op, err)
	}
	path := c.configPath()
	if path == "" {
		return errors.New("login: no home directory to keep the config in; set AGORA_CONFIG")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	data, _ := json.MarshalIndent(cliConfig{Master: v.master, Principal: principal, Secret: secret, TLSCA: cr.tlsCA}, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	fmt.Fprintf(c.stdout, "logged in to %s as %s (kept in %s)\n", op.Master(), principal, path)
	return nil
}

// readHidden reads a line from the terminal with echo off, or from stdin
// when stdin is not a terminal (scripts pipe secrets in).
func readHidden(prompt io.Writer, msg string) (string, error) {
	fd := int(os.Stdin.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return "", fmt.Errorf("reading the secret from stdin: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	fmt.Fprint(prompt, msg)
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return "", fmt.Errorf("turning echo off: %w", err)
	}
	defer func() {
		unix.IoctlSetTermios(fd, unix.TCSETS, old)
		fmt.Fprintln(prompt)
	}()
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("reading the secret: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
