package sqlfront

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"time"
)

// Files of the generated self-signed certificate in DataDir.
const (
	certFile = "mysql-cert.pem"
	keyFile  = "mysql-key.pem"
)

// tlsConfig loads the configured certificate, or the generated one.
func (s *Server) tlsConfig() (*tls.Config, error) {
	certPath, keyPath := s.opts.TLSCert, s.opts.TLSKey
	switch {
	case certPath != "" && keyPath != "":
	case certPath != "" || keyPath != "":
		return nil, errors.New("cannot configure TLS: tls_cert and tls_key go together")
	default:
		certPath, keyPath = s.dataPath(certFile), s.dataPath(keyFile)
		if certPath == "" {
			certPEM, keyPEM, err := selfSigned()
			if err != nil {
				return nil, err
			}
			return pairConfig(certPEM, keyPEM)
		}
		if _, err := os.Stat(certPath); errors.Is(err, fs.ErrNotExist) {
			certPEM, keyPEM, err := selfSigned()
			if err != nil {
				return nil, err
			}
			if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
				return nil, fmt.Errorf("cannot write TLS key: %w", err)
			}
			if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
				return nil, fmt.Errorf("cannot write TLS certificate: %w", err)
			}
			s.log.Info("generated a self-signed TLS certificate for MySQL", "cert", certPath)
		}
	}
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("cannot read TLS certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("cannot read TLS key: %w", err)
	}
	return pairConfig(certPEM, keyPEM)
}

func pairConfig(certPEM, keyPEM []byte) (*tls.Config, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("cannot load TLS certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// selfSigned returns a new self-signed ECDSA certificate for localhost.
func selfSigned() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot generate TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, nil, fmt.Errorf("cannot generate TLS serial: %w", err)
	}
	host, _ := os.Hostname()
	tpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Cohort MySQL (self-signed)", Organization: []string{"Cohort"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if host != "" {
		tpl.DNSNames = append(tpl.DNSNames, host)
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot create TLS certificate: %w", err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot encode TLS key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}
