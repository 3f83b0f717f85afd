package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path"
	"runtime/debug"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	pb "github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/externalgrpc"
)

// TLSFiles are the files of the server's mTLS identity.
type TLSFiles struct {
	Cert, Key string // the server's certificate and key
	ClientCA  string // the CA that signs cluster-autoscaler's client certificate
}

// NewGRPCServer returns a gRPC server with the service registered, and with interceptors that
// count and log every call and turn a panic into an Internal error. tlsFiles nil means
// plaintext, for local tests only.
func NewGRPCServer(s *Server, tlsFiles *TLSFiles) (*grpc.Server, error) {
	opts := []grpc.ServerOption{grpc.ChainUnaryInterceptor(s.observe, s.recover)}
	if tlsFiles != nil {
		cfg, err := mutualTLSConfig(*tlsFiles)
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg)))
	}
	g := grpc.NewServer(opts...)
	pb.RegisterCloudProviderServer(g, s)
	return g, nil
}

func (s *Server) observe(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	start := time.Now()
	rsp, err := next(ctx, req)
	method := path.Base(info.FullMethod)
	s.metrics.observeCall(method, start, err)
	if err != nil {
		s.log.Warn("Call failed", "method", method, "code", status.Code(err).String(), "error", status.Convert(err).Message())
	} else {
		s.log.Debug("Call", "method", method, "duration", time.Since(start))
	}
	return rsp, err
}

func (s *Server) recover(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (rsp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("Panic in a call", "method", info.FullMethod, "panic", r, "stack", string(debug.Stack()))
			rsp, err = nil, status.Errorf(codes.Internal, "internal error in %s", path.Base(info.FullMethod))
		}
	}()
	return next(ctx, req)
}

// mutualTLSConfig requires and verifies a client certificate signed by the client CA.
// cert-manager renews certificates in place, so the files are read again when they change.
func mutualTLSConfig(f TLSFiles) (*tls.Config, error) {
	r := &certReloader{files: f}
	if _, err := r.config(); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Each handshake gets the current files' configuration.
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return r.config() },
	}, nil
}

type certReloader struct {
	files TLSFiles

	mu      sync.Mutex
	modTime time.Time
	cached  *tls.Config
}

func (r *certReloader) config() (*tls.Config, error) {
	latest, err := latestModTime(r.files.Cert, r.files.Key, r.files.ClientCA)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cached != nil && !latest.After(r.modTime) {
		return r.cached, nil
	}
	cert, err := tls.LoadX509KeyPair(r.files.Cert, r.files.Key)
	if err != nil {
		return nil, fmt.Errorf("cannot load the server certificate %s and key %s: %w", r.files.Cert, r.files.Key, err)
	}
	caPEM, err := os.ReadFile(r.files.ClientCA)
	if err != nil {
		return nil, fmt.Errorf("cannot read the client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("the client CA %s holds no PEM certificate", r.files.ClientCA)
	}
	r.cached = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}
	r.modTime = latest
	return r.cached, nil
}

func latestModTime(files ...string) (time.Time, error) {
	var latest time.Time
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return time.Time{}, fmt.Errorf("cannot read %s: %w", f, err)
		}
		if st.ModTime().After(latest) {
			latest = st.ModTime()
		}
	}
	return latest, nil
}
