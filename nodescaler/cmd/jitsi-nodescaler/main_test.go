package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStartRefusals: the server refuses to start without mTLS unless told --insecure, and
// with a bad config names the bad field.
func TestStartRefusals(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	require.NoError(t, os.WriteFile(good, []byte(`nodeGroups:
- id: jvb
  maxSize: 3
  template: {capacity: {cpu: "4", memory: 8Gi, pods: "110"}}
  driver: {kwok: {}}
`), 0o600))
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(`nodeGroups:
- id: jvb
  maxSize: 0
  template: {capacity: {cpu: "4", memory: 8Gi, pods: "110"}}
  driver: {kwok: {}}
`), 0o600))

	err := run(&CLI{Config: good, Address: "127.0.0.1:0"}, log)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "mTLS is required: set --tls-cert-file, --tls-key-file and --tls-client-ca-file, or --insecure")

	err = run(&CLI{Config: bad, Address: "127.0.0.1:0", Insecure: true}, log)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nodeGroups[0].maxSize: Invalid value: 0: must be 1 or more")

	err = run(&CLI{Config: good, Address: "127.0.0.1:0", Insecure: true, Kubeconfig: filepath.Join(dir, "missing")}, log)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot load kubeconfig")
}
