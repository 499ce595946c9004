// Package authn answers "who is calling?" for Agora's HTTP APIs.
//
// Contract:
//   - Credentials are read from a strict JSON file that holds hashes only:
//     a principal's secret as pbkdf2-sha256$<iterations>$<salt>$<key> (for
//     HTTP Basic, the principal being the user name) and/or its bearer
//     token as sha256$<hex>. Plaintext secrets, unknown or repeated fields,
//     duplicate principals and malformed hashes are errors that name the
//     field and say how to fix it. Marshal's output parses back unchanged.
//   - Authenticator.Authenticate returns the caller's principal from, in
//     this order, an Authorization header (Basic or Bearer) or, when there is
//     no header, a verified TLS client certificate's subject CommonName. A
//     header that is present but wrong fails even when a good certificate is
//     also present. An unknown principal and a wrong secret give the same
//     error, "invalid credentials", and cost about the same time, so callers
//     cannot learn which principals exist.
//   - Secret checks compare in constant time. Successful secret checks are
//     cached (bounded, per credentials set, dropped when Set swaps them), so
//     a busy framework pays PBKDF2 once rather than on every call; failures
//     are never cached. Uncached PBKDF2 runs are limited to half the CPUs, so
//     a flood of wrong secrets slows new logins but cannot starve the
//     process; cached secrets, tokens and certificates are not held up.
//   - Middleware answers 401 with WWW-Authenticate and a plain-text hint, and
//     otherwise passes the principal to the handler in the request context
//     (PrincipalFrom).
//   - Transport is the client side: it adds Basic or Bearer credentials to
//     every request without modifying the caller's request.
package authn

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"agora/core/jsonobj"
)

// HashIterations is the PBKDF2-HMAC-SHA256 work factor HashSecret uses.
// 200,000 costs about 35 ms per check on the 2-core hosts Agora is tested
// on (600,000, OWASP's 2023 figure, costs about 100 ms there). Successful
// checks are cached, so this is paid once per principal and secret, but
// wrong secrets are paid every time; 35 ms keeps that cost in the tens of
// milliseconds. Each hash records its own count, so raising this later
// does not invalidate existing files.
const HashIterations = 200_000

// Limits on what a credentials file may claim, so that a hostile or
// mistaken file cannot turn one login into seconds of CPU.
const (
	minIterations = 1_000
	maxIterations = 10_000_000
	minSaltLen    = 8
	maxSaltLen    = 64
	minKeyLen     = 16
	maxKeyLen     = 64
	maxPrincipal  = 256
)

const (
	secretScheme = "pbkdf2-sha256"
	tokenScheme  = "sha256"
	tokenPrefix  = "agt_"
	hashHint     = "make one with HashSecret / agora credentials add"
)

// secretHash is a parsed pbkdf2-sha256 hash.
type secretHash struct {
	iterations int
	salt, key  []byte
}

// entry is one principal's credentials; hashes are kept in their
// canonical text form for Marshal.
type entry struct {
	secretText string
	secret     *secretHash
	tokenHash  string
}

// Credentials is a set of principals with hashed secrets and tokens. It is
// not safe for concurrent mutation; an Authenticator takes its own copy.
type Credentials struct {
	entries map[string]*entry
	tokens  map[string]string // token hash -> principal
}

func newCredentials() *Credentials {
	return &Credentials{entries: map[string]*entry{}, tokens: map[string]string{}}
}

// LoadCredentials reads and parses a credentials file; errors name the path.
func LoadCredentials(path string) (*Credentials, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	c, err := ParseCredentials(data)
	if err != nil {
		return nil, fmt.Errorf("credentials file %s: %w", path, err)
	}
	return c, nil
}

// ParseCredentials parses a credentials file (see the package comment).
func ParseCredentials(data []byte) (*Credentials, error) {
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("credentials: invalid JSON at byte %d: %w", se.Offset, err)
		}
		return nil, fmt.Errorf("credentials: invalid JSON: %w", err)
	}
	top, err := jsonobj.Fields(data, "", "credentials")
	if err == jsonobj.ErrNotObject {
		return nil, errors.New(`credentials: want a JSON object like {"credentials": [{"principal": ..., "secret_hash": ...}]}`)
	}
	if err != nil {
		return nil, err
	}
	c := newCredentials()
	for _, f := range top {
		if f.Name != "credentials" {
			return nil, fmt.Errorf("%s: unknown field; the file holds only \"credentials\"", f.Name)
		}
		var items []json.RawMessage
		if err := json.Unmarshal(f.Value, &items); err != nil {
			return nil, errors.New(`credentials: want a list of {"principal": ..., "secret_hash": ..., "token_hash": ...}`)
		}
		firstAt := map[string]int{}
		for i, item := range items {
			if err := c.parseEntry(item, i, firstAt); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

func (c *Credentials) parseEntry(item []byte, i int, firstAt map[string]int) error {
	where := fmt.Sprintf("credentials[%d]", i)
	fields, err := jsonobj.Fields(item, where, "credentials")
	if err == jsonobj.ErrNotObject {
		return fmt.Errorf(`%s: want an object like {"principal": ..., "secret_hash": ...}`, where)
	}
	if err != nil {
		return err
	}
	var principal, secretText, tokenHash string
	var hasPrincipal bool
	for _, f := range fields {
		var s string
		if f.Name != "secret" {
			if err := json.Unmarshal(f.Value, &s); err != nil || jsonobj.IsNull(f.Value) {
				return fmt.Errorf("%s.%s: want a string", where, f.Name)
			}
		}
		switch f.Name {
		case "principal":
			principal, hasPrincipal = s, true
		case "secret_hash":
			secretText = s
		case "token_hash":
			tokenHash = s
		case "secret":
			return fmt.Errorf("%s.secret: plaintext secrets are not accepted; hash it with HashSecret / agora credentials add and store the result as secret_hash", where)
		default:
			return fmt.Errorf("%s.%s: unknown field; an entry takes principal, secret_hash and token_hash", where, f.Name)
		}
	}
	if !hasPrincipal {
		return fmt.Errorf("%s.principal: missing; give the principal's name", where)
	}
	if err := checkPrincipal(principal); err != nil {
		return fmt.Errorf("%s.principal: %w", where, err)
	}
	if j, dup := firstAt[principal]; dup {
		return fmt.Errorf("%s.principal: %q is already given by credentials[%d]; merge the two entries", where, principal, j)
	}
	firstAt[principal] = i
	if secretText == "" && tokenHash == "" {
		return fmt.Errorf("%s: %q has neither secret_hash nor token_hash; give at least one (%s, or NewToken)", where, principal, hashHint)
	}
	if err := c.set(principal, secretText, tokenHash, where+"."); err != nil {
		return err
	}
	return nil
}

// Set adds principal or replaces its secret and/or token hash; an empty
// hash leaves that part as it was. A new principal needs at least one.
func (c *Credentials) Set(principal, secretHash, tokenHash string) error {
	if err := checkPrincipal(principal); err != nil {
		return fmt.Errorf("principal: %w", err)
	}
	if _, ok := c.entries[principal]; !ok && secretHash == "" && tokenHash == "" {
		return fmt.Errorf("%q is a new principal; give a secret hash (%s) or a token hash (NewToken)", principal, hashHint)
	}
	return c.set(principal, secretHash, tokenHash, "")
}

// set validates and stores; prefix names the fields in errors.
func (c *Credentials) set(principal, secretText, tokenHash, prefix string) error {
	var sh *secretHash
	if secretText != "" {
		var err error
		if sh, err = parseSecretHash(secretText); err != nil {
			return fmt.Errorf("%ssecret_hash: %w", prefix, err)
		}
	}
	if tokenHash != "" {
		canon, err := canonicalTokenHash(tokenHash)
		if err != nil {
			return fmt.Errorf("%stoken_hash: %w", prefix, err)
		}
		if owner, taken := c.tokens[canon]; taken && owner != principal {
			return fmt.Errorf("%stoken_hash: already belongs to %q; give each principal its own token (NewToken)", prefix, owner)
		}
		tokenHash = canon
	}
	e := c.entries[principal]
	if e == nil {
		e = &entry{}
		c.entries[principal] = e
	}
	if sh != nil {
		e.secretText, e.secret = secretText, sh
	}
	if tokenHash != "" {
		delete(c.tokens, e.tokenHash)
		e.tokenHash = tokenHash
		c.tokens[tokenHash] = principal
	}
	return nil
}

// Remove drops a principal; it reports whether there was one.
func (c *Credentials) Remove(principal string) bool {
	e, ok := c.entries[principal]
	if ok {
		delete(c.tokens, e.tokenHash)
		delete(c.entries, principal)
	}
	return ok
}

// Principals returns the principals, sorted.
func (c *Credentials) Principals() []string {
	out := make([]string, 0, len(c.entries))
	for p := range c.entries {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

type fileEntry struct {
	Principal  string `json:"principal"`
	SecretHash string `json:"secret_hash,omitempty"`
	TokenHash  string `json:"token_hash,omitempty"`
}

// Marshal writes the credentials as indented JSON, principals sorted, so
// that the same set always gives the same bytes.
func (c *Credentials) Marshal() ([]byte, error) {
	file := struct {
		Credentials []fileEntry `json:"credentials"`
	}{Credentials: []fileEntry{}}
	for _, p := range c.Principals() {
		e := c.entries[p]
		file.Credentials = append(file.Credentials, fileEntry{p, e.secretText, e.tokenHash})
	}
	out, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("credentials: marshal: %w", err)
	}
	return append(out, '\n'), nil
}

// clone copies c so that later changes to c do not reach the copy.
func (c *Credentials) clone() *Credentials {
	n := newCredentials()
	if c == nil {
		return n
	}
	for p, e := range c.entries {
		cp := *e
		n.entries[p] = &cp
	}
	for h, p := range c.tokens {
		n.tokens[h] = p
	}
	return n
}

// checkPrincipal refuses names HTTP Basic cannot carry or that would be
// confusing in logs and ACLs.
func checkPrincipal(p string) error {
	switch {
	case p == "":
		return errors.New("empty; give the principal's name")
	case len(p) > maxPrincipal:
		return fmt.Errorf("longer than %d bytes", maxPrincipal)
	case !utf8.ValidString(p):
		return fmt.Errorf("%q is not valid UTF-8", p)
	case strings.Contains(p, ":"):
		return fmt.Errorf("%q contains \":\", which HTTP Basic cannot carry in a user name", p)
	case strings.TrimSpace(p) != p:
		return fmt.Errorf("%q has leading or trailing space", p)
	case strings.IndexFunc(p, unicode.IsControl) >= 0:
		return fmt.Errorf("%q contains a control character", p)
	}
	return nil
}

// HashSecret hashes a secret for a credentials file's secret_hash, with a
// fresh 16-byte random salt and HashIterations.
func HashSecret(secret string) (string, error) {
	if secret == "" {
		return "", errors.New("hash secret: the secret is empty")
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash secret: salt: %w", err)
	}
	return hashSecretWith(secret, salt, HashIterations)
}

func hashSecretWith(secret string, salt []byte, iterations int) (string, error) {
	key, err := pbkdf2.Key(sha256.New, secret, salt, iterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("hash secret: %w", err)
	}
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("%s$%d$%s$%s", secretScheme, iterations, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifySecret reports whether secret matches a secret_hash. It costs a
// full PBKDF2 run; servers should use an Authenticator, which caches.
func VerifySecret(secretHash, secret string) (bool, error) {
	sh, err := parseSecretHash(secretHash)
	if err != nil {
		return false, fmt.Errorf("secret_hash: %w", err)
	}
	return sh.verify(secret), nil
}

func (sh *secretHash) verify(secret string) bool {
	key, err := pbkdf2.Key(sha256.New, secret, sh.salt, sh.iterations, len(sh.key))
	return err == nil && subtle.ConstantTimeCompare(key, sh.key) == 1
}

// parseSecretHash accepts only the canonical form HashSecret writes, so
// that a file's text and its meaning cannot differ.
func parseSecretHash(s string) (*secretHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 4 || parts[0] != secretScheme {
		return nil, fmt.Errorf("%s is not %s$<iterations>$<salt>$<key>; %s", quoteShort(s), secretScheme, hashHint)
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil || strconv.Itoa(n) != parts[1] || n < minIterations || n > maxIterations {
		return nil, fmt.Errorf("iterations %s is not a whole number from %d to %d; %s", quoteShort(parts[1]), minIterations, maxIterations, hashHint)
	}
	salt, err := decodeB64(parts[2])
	if err != nil || len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return nil, fmt.Errorf("salt %s is not %d to %d bytes in unpadded standard base64; %s", quoteShort(parts[2]), minSaltLen, maxSaltLen, hashHint)
	}
	key, err := decodeB64(parts[3])
	if err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return nil, fmt.Errorf("key %s is not %d to %d bytes in unpadded standard base64; %s", quoteShort(parts[3]), minKeyLen, maxKeyLen, hashHint)
	}
	return &secretHash{iterations: n, salt: salt, key: key}, nil
}

// decodeB64 decodes unpadded standard base64 and insists on the canonical
// spelling (the decoder alone would skip newlines and ignore stray bits).
func decodeB64(s string) ([]byte, error) {
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if base64.RawStdEncoding.EncodeToString(b) != s {
		return nil, errors.New("not canonical base64")
	}
	return b, nil
}

// NewToken returns a fresh bearer token (32 random bytes, base64url,
// prefixed "agt_" so that it is recognisable in a leak scan) and the hash
// to store as token_hash.
func NewToken() (token, tokenHash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("new token: %w", err)
	}
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token), nil
}

// HashToken returns the token_hash of a token. Tokens are high-entropy,
// so one SHA-256 suffices where a secret needs PBKDF2.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return tokenScheme + "$" + hex.EncodeToString(sum[:])
}

// canonicalTokenHash checks a token_hash and lower-cases its hex.
func canonicalTokenHash(s string) (string, error) {
	hexPart, ok := strings.CutPrefix(s, tokenScheme+"$")
	b, err := hex.DecodeString(hexPart)
	if !ok || err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("%s is not %s$<64 hex digits>; make one with NewToken / agora credentials add, or HashToken", quoteShort(s), tokenScheme)
	}
	return tokenScheme + "$" + hex.EncodeToString(b), nil
}

// quoteShort quotes a value for an error, cut short: a mistaken file may
// hold anything, and errors end up in logs.
func quoteShort(s string) string {
	const max = 24
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut] + "...")
	}
	return strconv.Quote(s)
}
