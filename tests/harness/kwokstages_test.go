package harness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

func TestWriteHoldingStagesReplacesPodDelete(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.yaml")
	require.NoError(t, os.WriteFile(in, []byte(`---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-ready
spec: {}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-delete
spec: {}
`), 0o644))
	out, err := writeHoldingStages(in, dir)
	require.NoError(t, err)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	var names []string
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var stage struct {
			Metadata struct{ Name string }
		}
		require.NoError(t, yaml.Unmarshal([]byte(doc), &stage), doc)
		names = append(names, stage.Metadata.Name)
	}
	assert.Equal(t, []string{"pod-ready", "pod-delete-now", "pod-delete-after-prestop"}, names)
	assert.Contains(t, string(b), `.metadata.annotations["e2e.jit.si/prestop-done"]`)

	_, err = writeHoldingStages(out, dir)
	assert.ErrorContains(t, err, "has no stage named pod-delete")
}
