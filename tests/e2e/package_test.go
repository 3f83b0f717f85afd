package e2e

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
)

// TestPackages builds the Crossplane packages as `make package` does, pushes them to a
// registry on loopback, and checks what `crossplane xpkg install` relies on: the
// Configuration resolves its Function dependency from the registry and its XRD validates the
// claims; and the Function package's runtime image runs and renders the sample.
func TestPackages(t *testing.T) {
	ctx := testContext(t, 10*time.Minute)
	dir := t.TempDir()
	procs, err := harness.NewProcesses(dir, t.Logf)
	require.NoError(t, err)
	t.Cleanup(procs.Stop)

	port, err := harness.FreePort()
	require.NoError(t, err)
	registry := fmt.Sprintf("localhost:%d", port)
	require.NoError(t, procs.Start("registry", tools.Path("crane"), "registry", "serve", fmt.Sprintf("--address=127.0.0.1:%d", port)))

	out := filepath.Join(dir, "out")
	build := exec.CommandContext(ctx, filepath.Join(tools.Root, "hack", "package.sh"))
	build.Env = append(os.Environ(), "PUSH=1", "XPKG_REGISTRY="+registry, "OUT="+out)
	b, err := build.CombinedOutput()
	require.NoError(t, err, "hack/package.sh:\n%s", b)
	for _, f := range []string{"function-jitsi-v0.1.0.xpkg", "configuration-jitsi-v0.1.0.xpkg", "jitsi-nodescaler-v0.1.0-amd64.tar"} {
		assert.FileExists(t, filepath.Join(out, f))
	}

	t.Run("ConfigurationResolvesItsFunction", func(t *testing.T) {
		conf := filepath.Join(dir, "configuration.yaml")
		require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil, `apiVersion: pkg.crossplane.io/v1
kind: Configuration
metadata:
  name: configuration-jitsi
spec:
  package: %s/crossplane-jitsi/configuration-jitsi:v0.1.0
`, registry), 0o600))
		claims := filepath.Join(tools.Root, "examples", "claim.yaml") + "," + filepath.Join(tools.Root, "examples", "claim-static.yaml")
		validate := exec.CommandContext(ctx, tools.Path("crossplane"), "resource", "validate", conf, claims,
			"--crossplane-image=", "--cache-dir="+filepath.Join(dir, "xpkg-cache"))
		b, err := validate.CombinedOutput()
		t.Logf("%s", b)
		require.NoError(t, err)
		assert.Contains(t, string(b), "downloading:  "+registry+"/crossplane-jitsi/function-jitsi", "the dependency is pulled too")
		assert.Contains(t, string(b), "Total 2 resources: 0 missing schemas, 2 success cases, 0 failure cases")
	})

	t.Run("FunctionImageRenders", func(t *testing.T) {
		export := exec.CommandContext(ctx, tools.Path("crane"), "--insecure", "export",
			registry+"/crossplane-jitsi/function-jitsi:v0.1.0", "-")
		var fs bytes.Buffer
		export.Stdout = &fs
		require.NoError(t, export.Run())
		bin := filepath.Join(dir, "function-from-image")
		entries := extract(t, &fs, "function-jitsi", bin)
		assert.Contains(t, entries, "package.yaml", "the package layer is in the image")

		renderer, err := harness.StartFunctionBinary(ctx, tools, procs, bin)
		require.NoError(t, err)
		r, err := renderer.Render(ctx, filepath.Join(tools.Root, "examples", "xr.yaml"), "--xrd="+tools.XRD())
		require.NoError(t, err)
		assert.Len(t, r.Composed, 18, "the packaged function composes the whole sample")
	})
}

// extract copies one file out of a tar stream, and lists the stream's entries.
func extract(t *testing.T, r io.Reader, name, to string) []string {
	t.Helper()
	var entries []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		entries = append(entries, h.Name)
		if filepath.Clean(h.Name) != name {
			continue
		}
		f, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
		require.NoError(t, err)
		_, err = io.Copy(f, tr) //nolint:gosec // our own image
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	require.FileExists(t, to, "%s is not in the image: %v", name, entries)
	return entries
}
