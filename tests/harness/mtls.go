package harness

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"os"
	"path/filepath"
)

// MTLS is a private CA with a server certificate for 127.0.0.1 and a client certificate, as
// cert-manager issues them for cluster-autoscaler and jitsi-nodescaler in a cluster.
type MTLS struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
}

// NewMTLS writes the CA and both certificates under dir.
func NewMTLS(dir string) (*MTLS, error) {
	p := &pki{dir: dir}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ca, err := p.authority("ca", "jitsi-nodescaler-ca")
	if err != nil {
		return nil, err
	}
	if err := p.sign("server", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "jitsi-nodescaler"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:    []string{"localhost"},
	}, ca); err != nil {
		return nil, err
	}
	if err := p.sign("client", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "cluster-autoscaler"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca); err != nil {
		return nil, err
	}
	f := func(n string) string { return filepath.Join(dir, n) }
	return &MTLS{CA: f("ca.crt"), ServerCert: f("server.crt"), ServerKey: f("server.key"), ClientCert: f("client.crt"), ClientKey: f("client.key")}, nil
}
