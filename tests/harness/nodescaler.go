package harness

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// NodeScaler is jitsi-nodescaler running against a test cluster, over mTLS.
type NodeScaler struct {
	Address     string // gRPC, 127.0.0.1:<port>
	MetricsURL  string // http://127.0.0.1:<port>
	CloudConfig string // cluster-autoscaler's cloud-config for it
	TLS         *MTLS
}

// StartNodeScaler builds jitsi-nodescaler and starts it with config (YAML) against the
// cluster, among procs under the name "jitsi-nodescaler" (or name, to run a second one).
func StartNodeScaler(ctx context.Context, tools *Tools, c *Cluster, procs *Processes, config []byte, tlsFiles *MTLS, name string) (*NodeScaler, error) {
	bin := filepath.Join(procs.Dir, "jitsi-nodescaler")
	if _, err := os.Stat(bin); err != nil {
		if bin, err = tools.Build("nodescaler/cmd/jitsi-nodescaler", procs.Dir); err != nil {
			return nil, err
		}
	}
	cfg := filepath.Join(procs.Dir, name+".yaml")
	if err := os.WriteFile(cfg, config, 0o600); err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	ns := &NodeScaler{
		Address:    fmt.Sprintf("127.0.0.1:%d", ports[0]),
		MetricsURL: fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		TLS:        tlsFiles,
	}
	if err := procs.Start(name, bin, "--config="+cfg, "--address="+ns.Address,
		"--tls-cert-file="+tlsFiles.ServerCert, "--tls-key-file="+tlsFiles.ServerKey, "--tls-client-ca-file="+tlsFiles.CA,
		"--metrics-address=127.0.0.1:"+fmt.Sprint(ports[1]), "--kubeconfig="+c.Kubeconfig, "--debug"); err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: time.Second}
	err = poll(ctx, 60*time.Second, func() (bool, error) {
		if err := procs.Exited(); err != nil {
			return false, err
		}
		rsp, err := client.Get(ns.MetricsURL + "/readyz")
		if err != nil {
			return false, nil
		}
		_ = rsp.Body.Close()
		return rsp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return nil, fmt.Errorf("jitsi-nodescaler never became ready: %w", err)
	}
	// The cloud-config a cluster-autoscaler uses to reach it.
	ns.CloudConfig = filepath.Join(procs.Dir, name+"-cloud-config.yaml")
	body := fmt.Sprintf("address: %s\ncert: %s\nkey: %s\ncacert: %s\ngrpc_timeout: 10s\n",
		ns.Address, tlsFiles.ClientCert, tlsFiles.ClientKey, tlsFiles.CA)
	return ns, os.WriteFile(ns.CloudConfig, []byte(body), 0o600)
}
