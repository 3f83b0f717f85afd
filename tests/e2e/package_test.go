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
// registry on loopback, and installs the Configuration in a real Crossplane as users do:
// Crossplane's package manager pulls it, resolves its Function dependency from the
// registry by itself, and the runtime runs the function from the package's image. Then the
// claims validate offline against the pushed Configuration, and the Function package's
// runtime image renders the sample.
func TestPackages(t *testing.T) {
	t.Parallel()
	s := startCrossplaneSuite(t)
	ctx := testContext(t, 10*time.Minute)
	out := s.pushPackages(t, ctx)
	for _, f := range []string{"function-jitsi-v0.1.0.xpkg", "configuration-jitsi-v0.1.0.xpkg", "jitsi-nodescaler-v0.1.0-amd64.tar"} {
		assert.FileExists(t, filepath.Join(out, f))
	}
	registry := s.registry.Host

	t.Run("ConfigurationInstallsItsFunction", func(t *testing.T) {
		s.installJitsi(t, ctx)
	})

	t.Run("ClaimsValidateOffline", func(t *testing.T) {
		conf := filepath.Join(s.procs.Dir, "configuration.yaml")
		require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil, `apiVersion: pkg.crossplane.io/v1
kind: Configuration
metadata:
  name: configuration-jitsi
spec:
  package: %s/crossplane-jitsi/configuration-jitsi:v0.1.0
`, registry), 0o600))
		claims := filepath.Join(tools.Root, "examples", "claim.yaml") + "," + filepath.Join(tools.Root, "examples", "claim-static.yaml")
		validate := exec.CommandContext(ctx, tools.Path("crossplane"), "resource", "validate", conf, claims,
			"--crossplane-image=", "--cache-dir="+filepath.Join(s.procs.Dir, "validate-cache"))
		b, err := validate.CombinedOutput()
		t.Logf("%s", b)
		require.NoError(t, err)
		assert.Contains(t, string(b), "downloading:  "+registry+"/crossplane-jitsi/function-jitsi", "the dependency is pulled too")
		assert.Contains(t, string(b), "Total 2 resources: 0 missing schemas, 2 success cases, 0 failure cases")
	})

	t.Run("FunctionImageRenders", func(t *testing.T) {
		export := exec.CommandContext(ctx, tools.Path("crane"), "export",
			registry+"/crossplane-jitsi/function-jitsi:v0.1.0", "-")
		var fs bytes.Buffer
		export.Stdout = &fs
		require.NoError(t, export.Run())
		bin := filepath.Join(s.procs.Dir, "function-from-image")
		entries := extract(t, &fs, "function-jitsi", bin)
		assert.Contains(t, entries, "package.yaml", "the package layer is in the image")

		renderer, err := harness.StartFunctionBinary(ctx, tools, s.procs, bin)
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
