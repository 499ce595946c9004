// Package tlstest makes a throwaway certificate authority for tests: a CA
// and certificates it signs, written as PEM files under t.TempDir(), ready
// to pass to tlsconfig as --tls-cert, --tls-key and --tls-ca.
//
// Keys are ECDSA P-256 (fast to generate); certificates are valid from an
// hour ago for a day unless IssueValid says otherwise, and usable for both
// server and client authentication.
package tlstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"agora/core/tlsconfig"
)

// CA is a test certificate authority.
type CA struct {
	CertFile string            // the CA certificate as PEM: pass as --tls-ca
	Pool     *x509.CertPool    // a pool trusting only this CA
	Cert     *x509.Certificate // the CA certificate
	Key      crypto.Signer     // the CA's private key
	dir      string
}

// NewCA makes a CA whose files live in a fresh t.TempDir().
func NewCA(t testing.TB) *CA {
	t.Helper()
	key := newKey(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "agora test CA", Organization: []string{"agora tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("tlstest: create CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("tlstest: parse CA certificate: %v", err)
	}
	dir := t.TempDir()
	ca := &CA{
		CertFile: filepath.Join(dir, "ca.pem"),
		Pool:     x509.NewCertPool(),
		Cert:     cert,
		Key:      key,
		dir:      dir,
	}
	ca.Pool.AddCert(cert)
	writePEM(t, ca.CertFile, "CERTIFICATE", der)
	return ca
}

// Issue writes a certificate for commonName signed by the CA and its key,
// valid for hosts ("127.0.0.1" and other IPs become IP SANs, names DNS
// SANs) for both server and client auth. It returns Files{Cert, Key, CA}.
func (ca *CA) Issue(t testing.TB, commonName string, hosts ...string) tlsconfig.Files {
	t.Helper()
	now := time.Now()
	return ca.IssueValid(t, commonName, now.Add(-time.Hour), now.Add(24*time.Hour), hosts...)
}

// IssueValid is Issue with an explicit validity period, for testing
// expired and not-yet-valid certificates.
func (ca *CA) IssueValid(t testing.TB, commonName string, notBefore, notAfter time.Time, hosts ...string) tlsconfig.Files {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatalf("tlstest: issue %q: %v", commonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("tlstest: marshal key for %q: %v", commonName, err)
	}
	base := filepath.Join(ca.dir, fileName(commonName)+"-"+tmpl.SerialNumber.Text(16))
	f := tlsconfig.Files{Cert: base + ".crt", Key: base + ".key", CA: ca.CertFile}
	writePEM(t, f.Cert, "CERTIFICATE", der)
	writePEM(t, f.Key, "PRIVATE KEY", keyDER)
	return f
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("tlstest: generate key: %v", err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatalf("tlstest: serial number: %v", err)
	}
	return n
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("tlstest: %v", err)
	}
}

// fileName keeps a common name usable as part of a file name.
func fileName(cn string) string {
	if cn == "" {
		return "cert"
	}
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 || r == ':' {
			return '_'
		}
		return r
	}, cn)
}
