// Package tlsconfig builds TLS configurations for Agora's servers and clients
// from PEM files named by the --tls-cert, --tls-key and --tls-ca flags.
//
// Contract:
//   - Server needs a certificate and its key; with a CA it asks for client
//     certificates and verifies those presented against the CA
//     (tls.VerifyClientCertIfGiven), so peers may authenticate by mutual TLS
//     while others still connect. TLS 1.2 is the minimum.
//   - Client trusts the CA when given (the system pool otherwise) and
//     presents the certificate and key when given.
//   - Every error names the flag and file and says what is wrong with it:
//     missing, not PEM, no certificate, no private key, key does not match
//     the certificate, expired or not yet valid.
//   - Listen serves TLS and, optionally, plain HTTP on one port by looking
//     at the first byte each connection sends.
package tlsconfig

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Files names the PEM files; the zero value means TLS is off.
type Files struct {
	Cert string // --tls-cert: certificate chain, leaf first
	Key  string // --tls-key: private key of the leaf (PKCS#8, PKCS#1 or SEC 1)
	CA   string // --tls-ca: certificates to trust for peers
}

// Enabled reports whether any TLS flag was given.
func (f Files) Enabled() bool { return f.Cert != "" || f.Key != "" || f.CA != "" }

// Server is the configuration for a TLS server, checked against the
// current time.
func Server(f Files) (*tls.Config, error) { return ServerAt(f, time.Now()) }

// ServerAt is Server with the validity of the certificates judged at now.
func ServerAt(f Files, now time.Time) (*tls.Config, error) {
	if f.Cert == "" || f.Key == "" {
		return nil, missingPair(f, "a TLS server")
	}
	cert, err := loadPair(f, now)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
	}
	if f.CA != "" {
		pool, err := loadCA(f.CA, now)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		// Only verify when presented: principals without certificates
		// authenticate another way (HTTP basic), and are refused by the
		// ACLs if they are not allowed.
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// Client is the configuration for a TLS client, checked against the
// current time.
func Client(f Files) (*tls.Config, error) { return ClientAt(f, time.Now()) }

// ClientAt is Client with the validity of the certificates judged at now.
func ClientAt(f Files, now time.Time) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CA != "" {
		pool, err := loadCA(f.CA, now)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if f.Cert != "" || f.Key != "" {
		if f.Cert == "" || f.Key == "" {
			return nil, missingPair(f, "a TLS client certificate")
		}
		cert, err := loadPair(f, now)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// missingPair names the flag that is missing from a certificate/key pair.
func missingPair(f Files, what string) error {
	switch {
	case f.Cert == "" && f.Key != "":
		return errors.New("--tls-cert is required when --tls-key is given")
	case f.Key == "" && f.Cert != "":
		return errors.New("--tls-key is required when --tls-cert is given")
	case f.CA != "":
		return fmt.Errorf("--tls-cert and --tls-key are required for %s (only --tls-ca is given)", what)
	default:
		return fmt.Errorf("--tls-cert and --tls-key are required for %s", what)
	}
}

// loadPair reads the certificate chain and key and checks they belong
// together and that the leaf is valid at now.
func loadPair(f Files, now time.Time) (tls.Certificate, error) {
	certPEM, certs, err := readCerts("--tls-cert", f.Cert)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf := certs[0]
	if err := checkValidity("--tls-cert", f.Cert, leaf, now); err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := os.ReadFile(f.Key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("--tls-key %s: %w", f.Key, err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("--tls-key %s: %w", f.Key, err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return tls.Certificate{}, fmt.Errorf("--tls-key %s does not match the certificate in --tls-cert %s (%s)", f.Key, f.Cert, subject(leaf))
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The checks above cover the cases we can name; this is a
		// remaining inconsistency the tls package found.
		return tls.Certificate{}, fmt.Errorf("--tls-cert %s with --tls-key %s: %w", f.Cert, f.Key, err)
	}
	cert.Leaf = leaf
	return cert, nil
}

// loadCA reads the trusted certificates into a pool.
func loadCA(path string, now time.Time) (*x509.CertPool, error) {
	_, certs, err := readCerts("--tls-ca", path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	valid := 0
	var lastErr error
	for _, c := range certs {
		if err := checkValidity("--tls-ca", path, c, now); err != nil {
			lastErr = err
			continue
		}
		pool.AddCert(c)
		valid++
	}
	if valid == 0 {
		// A bundle where every CA has expired would reject every peer
		// with a confusing "unknown authority"; say why up front.
		return nil, lastErr
	}
	return pool, nil
}

// readCerts reads a PEM file holding at least one certificate.
func readCerts(flag, path string) ([]byte, []*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", flag, path, err)
	}
	var certs []*x509.Certificate
	rest := data
	blocks := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks++
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("%s %s: certificate %d: %w", flag, path, len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	switch {
	case blocks == 0:
		return nil, nil, fmt.Errorf("%s %s: not PEM (no -----BEGIN block found)", flag, path)
	case len(certs) == 0:
		return nil, nil, fmt.Errorf("%s %s: no certificate (no CERTIFICATE PEM block)", flag, path)
	}
	return data, certs, nil
}

func checkValidity(flag, path string, c *x509.Certificate, now time.Time) error {
	switch {
	case now.After(c.NotAfter):
		return fmt.Errorf("%s %s: expired certificate (%s expired %s)", flag, path, subject(c), c.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(c.NotBefore):
		return fmt.Errorf("%s %s: certificate not yet valid (%s valid from %s)", flag, path, subject(c), c.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

func subject(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return fmt.Sprintf("CN=%q", c.Subject.CommonName)
	}
	return c.Subject.String()
}

// parseKey finds the private key in a PEM file.
func parseKey(data []byte) (crypto.Signer, error) {
	rest := data
	blocks := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks++
		if !strings.HasSuffix(b.Type, "PRIVATE KEY") {
			continue
		}
		if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
			switch k := k.(type) {
			case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
				return k.(crypto.Signer), nil
			default:
				return nil, fmt.Errorf("unsupported private key type %T", k)
			}
		}
		if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
			return k, nil
		}
		if k, err := x509.ParseECPrivateKey(b.Bytes); err == nil {
			return k, nil
		}
		return nil, fmt.Errorf("%s PEM block is not a PKCS#8, PKCS#1 or EC private key", b.Type)
	}
	if blocks == 0 {
		return nil, errors.New("not PEM (no -----BEGIN block found)")
	}
	if bytes.Contains(data, []byte("CERTIFICATE")) {
		return nil, errors.New("no private key (the file holds a certificate; --tls-key wants the key)")
	}
	return nil, errors.New("no private key (no PRIVATE KEY PEM block)")
}
