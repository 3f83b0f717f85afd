package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/config"
	"github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/driver/kwok"
	pb "github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/externalgrpc"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM certificate and key signed by the CA.
func (ca *testCA) issue(t *testing.T, cn string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

func writeFile(t *testing.T, dir, name string, body []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, body, 0o600))
	return p
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	serverCA, clientCA, strangerCA := newTestCA(t, "server-ca"), newTestCA(t, "client-ca"), newTestCA(t, "stranger")
	serverCert, serverKey := serverCA.issue(t, "jitsi-nodescaler", x509.ExtKeyUsageServerAuth)
	files := &TLSFiles{
		Cert:     writeFile(t, dir, "tls.crt", serverCert),
		Key:      writeFile(t, dir, "tls.key", serverKey),
		ClientCA: writeFile(t, dir, "ca.crt", clientCA.pem),
	}

	g := jvbGroup("jvb", 0, 10)
	s, err := New(slog.New(slog.NewTextHandler(io.Discard, nil)), NewMetrics(prometheus.NewRegistry()),
		[]Group{{Config: g, Driver: kwok.New(fake.NewClientset(), map[string]config.Template{"jvb": g.Template})}})
	require.NoError(t, err)
	gs, err := NewGRPCServer(s, files)
	require.NoError(t, err)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)

	call := func(clientCert, clientKey []byte) error {
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(serverCA.pem)
		cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
		if clientCert != nil {
			pair, err := tls.X509KeyPair(clientCert, clientKey)
			require.NoError(t, err)
			cfg.Certificates = []tls.Certificate{pair}
		}
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		require.NoError(t, err)
		defer conn.Close()
		_, err = pb.NewCloudProviderClient(conn).NodeGroups(ctx(t), &pb.NodeGroupsRequest{})
		return err
	}

	require.Error(t, call(nil, nil), "a client without a certificate is refused")
	strangerCert, strangerKey := strangerCA.issue(t, "stranger", x509.ExtKeyUsageClientAuth)
	require.Error(t, call(strangerCert, strangerKey), "a certificate from another CA is refused")
	clientCert, clientKey := clientCA.issue(t, "cluster-autoscaler", x509.ExtKeyUsageClientAuth)
	require.NoError(t, call(clientCert, clientKey), "cluster-autoscaler's certificate is accepted")
}
