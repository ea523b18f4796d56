// Package devtls keeps the local stack's certificates: a development certificate
// authority and a server certificate for localhost signed by it, as PEM files under one
// directory (.dev/tls). Clients of the local stack trust ca.pem and nothing else changes
// on the machine: the CA is never added to a system trust store.
//
// Ensure reuses what exists and reissues only what must be: the server certificate when
// it nears expiry, was not signed by the current CA, or does not match its key.
package devtls

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// File names under the directory given to Ensure.
const (
	CACertFile = "ca.pem"
	CAKeyFile  = "ca-key.pem"
	CertFile   = "localhost.pem"
	KeyFile    = "localhost-key.pem"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	// renewBefore is how close to expiry a certificate is reissued.
	renewBefore = 30 * 24 * time.Hour
)

// hostNames are the DNS names the server certificate is valid for.
func hostNames() []string { return []string{"localhost"} }

// hostIPs are the addresses the server certificate is valid for.
func hostIPs() []net.IP { return []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback} }

// Paths are the absolute paths of the PEM files.
type Paths struct {
	// CACert is the CA certificate: what clients trust.
	CACert string
	// CAKey is the CA's private key (mode 0600).
	CAKey string
	// Cert is the server certificate for localhost, 127.0.0.1 and ::1.
	Cert string
	// Key is the server certificate's private key (mode 0600).
	Key string
}

// Ensure makes sure dir holds a CA and a valid server certificate signed by it,
// creating or reissuing what is missing or stale, and returns their paths.
func Ensure(dir string) (Paths, error) {
	return ensure(dir, time.Now())
}

func ensure(dir string, now time.Time) (Paths, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Paths{}, fmt.Errorf("dev TLS: %w", err)
	}
	p := Paths{
		CACert: filepath.Join(abs, CACertFile),
		CAKey:  filepath.Join(abs, CAKeyFile),
		Cert:   filepath.Join(abs, CertFile),
		Key:    filepath.Join(abs, KeyFile),
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return Paths{}, fmt.Errorf("dev TLS: create %s: %w", abs, err)
	}
	ca, caKey, err := loadPair(p.CACert, p.CAKey)
	switch {
	case errors.Is(err, fs.ErrNotExist) || (err == nil && now.Add(renewBefore).After(ca.NotAfter)):
		if ca, caKey, err = newCA(p, now); err != nil {
			return Paths{}, err
		}
	case err != nil:
		return Paths{}, fmt.Errorf("dev TLS: the CA in %s is unusable (%w); delete the directory to make a new one", abs, err)
	}
	leaf, _, err := loadPair(p.Cert, p.Key)
	if err != nil || !leafOK(leaf, ca, now) {
		if err := newLeaf(p, ca, caKey, now); err != nil {
			return Paths{}, err
		}
	}
	return p, nil
}

// leafOK reports whether leaf can be kept: signed by ca, valid for every host, and not
// expiring within renewBefore.
func leafOK(leaf, ca *x509.Certificate, now time.Time) bool {
	if leaf.CheckSignatureFrom(ca) != nil {
		return false
	}
	if now.Before(leaf.NotBefore) || now.Add(renewBefore).After(leaf.NotAfter) {
		return false
	}
	for _, h := range hostNames() {
		if leaf.VerifyHostname(h) != nil {
			return false
		}
	}
	for _, ip := range hostIPs() {
		if leaf.VerifyHostname(ip.String()) != nil {
			return false
		}
	}
	return true
}

// loadPair reads a certificate and its key and checks that they belong together. The
// error wraps fs.ErrNotExist when either file is missing.
func loadPair(certPath, keyPath string) (*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", certPath, err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, nil, fmt.Errorf("%s does not match %s", keyPath, certPath)
	}
	// Keep private keys private even if something loosened their mode.
	if err := os.Chmod(keyPath, 0o600); err != nil {
		return nil, nil, fmt.Errorf("restrict %s: %w", keyPath, err)
	}
	return cert, key, nil
}

func parseCert(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return x509.ParseCertificate(block.Bytes)
}

func parseKey(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("no PEM PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key of type %T cannot sign", k)
	}
	return s, nil
}

func newCA(p Paths, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("dev TLS: generate CA key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "serverless-architect local development CA", Organization: []string{"serverless-architect (development only)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("dev TLS: create CA certificate: %w", err)
	}
	if err := writePair(p.CACert, p.CAKey, der, key); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("dev TLS: parse new CA certificate: %w", err)
	}
	return cert, key, nil
}

func newLeaf(p Paths, ca *x509.Certificate, caKey crypto.Signer, now time.Time) error {
	return issueLeaf(p, ca, caKey, now.Add(-time.Hour), now.Add(leafValidity))
}

// issueLeaf writes a server certificate for hostNames and hostIPs, valid from notBefore to notAfter.
func issueLeaf(p Paths, ca *x509.Certificate, caKey crypto.Signer, notBefore, notAfter time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("dev TLS: generate server key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     hostNames(),
		IPAddresses:  hostIPs(),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return fmt.Errorf("dev TLS: sign server certificate: %w", err)
	}
	return writePair(p.Cert, p.Key, der, key)
}

func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("dev TLS: serial number: %w", err)
	}
	return n, nil
}

// writePair writes the key (0600) then the certificate (0644), each atomically.
func writePair(certPath, keyPath string, der []byte, key crypto.Signer) error {
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("dev TLS: encode key: %w", err)
	}
	if err := writeFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		return err
	}
	return writeFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// writeFile replaces path with b, mode perm, through a temporary file and a rename.
func writeFile(path string, b []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("dev TLS: write %s: %w", path, err)
	}
	tmp := f.Name()
	_, werr := f.Write(b)
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp, perm)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("dev TLS: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("dev TLS: write %s: %w", path, err)
	}
	return nil
}
