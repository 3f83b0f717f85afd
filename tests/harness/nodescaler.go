package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"sigs.k8s.io/yaml"
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
	if err := procs.waitHTTP(ctx, name, ns.MetricsURL+"/readyz", nil, 60*time.Second); err != nil {
		return nil, err
	}
	// The cloud-config a cluster-autoscaler uses to reach it.
	ns.CloudConfig = filepath.Join(procs.Dir, name+"-cloud-config.yaml")
	body, err := yaml.Marshal(map[string]string{
		"address": ns.Address, "cert": tlsFiles.ClientCert, "key": tlsFiles.ClientKey, "cacert": tlsFiles.CA,
		"grpc_timeout": "10s",
	})
	if err != nil {
		return nil, err
	}
	return ns, os.WriteFile(ns.CloudConfig, body, 0o600)
}
