package main

// These tests run the real Crossplane CLI (crossplane composition render and crossplane
// resource validate) against the function running as its own binary, the way users render
// the examples. They need the pinned CLI and render engine in .cache/bin (make tools). They
// skip without them, unless JITSI_REQUIRE_TOOLS=1 (set by make test), where they fail.
//
// Update the golden files with: go test ./fn -run TestRender -update

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files from the current render")

const (
	examplesDir = "../examples"
	xrdFile     = "../package/configuration/xrd.yaml"
	// generatedSecret replaces generated passwords in golden files: they differ on every run.
	generatedSecret = "<generated: 32 random hex characters>"
)

// tool returns the path of a pinned tool in .cache/bin, or skips the test without it.
func tool(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("JITSI_TOOLS_BIN")
	if dir == "" {
		dir = "../.cache/bin"
	}
	path, err := filepath.Abs(filepath.Join(dir, name))
	require.NoError(t, err)
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("JITSI_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s is missing: run `make tools` (JITSI_REQUIRE_TOOLS=1 forbids skipping)", path)
		}
		t.Skipf("%s is missing: run `make tools` to build the pinned Crossplane CLI", path)
	}
	return path
}

var (
	functionOnce sync.Once
	functionAddr string
	functionErr  error
)

// runningFunction builds function-jitsi and runs it once for the whole package, on a free
// loopback port, the way `make render` does.
func runningFunction(t *testing.T) string {
	t.Helper()
	functionOnce.Do(func() {
		dir, err := os.MkdirTemp("", "function-jitsi-")
		if err != nil {
			functionErr = err
			return
		}
		bin := filepath.Join(dir, "function-jitsi")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			functionErr = fmt.Errorf("cannot build the function: %v\n%s", err, out)
			return
		}
		addr, err := freeLoopbackAddr()
		if err != nil {
			functionErr = err
			return
		}
		cmd := exec.Command(bin, "--insecure", "--address="+addr, "--metrics-address=")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			functionErr = err
			return
		}
		functionProcess = cmd
		functionErr = waitForListener(addr, 30*time.Second)
		functionAddr = addr
	})
	require.NoError(t, functionErr)
	return functionAddr
}

var functionProcess *exec.Cmd

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if functionProcess != nil {
		_ = functionProcess.Process.Kill()
		_ = functionProcess.Wait()
	}
	os.Exit(code)
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitForListener(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the function did not listen on %s within %s: %w", addr, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// render runs crossplane composition render and returns its stdout, stderr and error.
func render(t *testing.T, xr string, extra ...string) ([]byte, string, error) {
	t.Helper()
	addr := runningFunction(t)
	args := append([]string{
		"composition", "render",
		filepath.Join(examplesDir, xr) + "",
		filepath.Join(examplesDir, "composition.yaml"),
		filepath.Join(examplesDir, "functions.yaml"),
		"--crossplane-binary=" + tool(t, "crossplane-core"),
		"-a", "render.crossplane.io/runtime-development-target=" + addr,
		"--timeout=30s",
	}, extra...)
	if filepath.IsAbs(xr) || strings.HasPrefix(xr, ".") {
		args[2] = xr
	}
	cmd := exec.Command(tool(t, "crossplane"), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.Bytes(), stderr.String(), err
}

// splitDocuments parses a YAML stream into documents.
func splitDocuments(t testing.TB, stream []byte) []map[string]any {
	t.Helper()
	var docs []map[string]any
	for _, part := range strings.Split(string(stream), "\n---") {
		part = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(part), "---"))
		if part == "" {
			continue
		}
		doc := map[string]any{}
		require.NoError(t, yaml.Unmarshal([]byte(part), &doc), "document:\n%s", part)
		docs = append(docs, doc)
	}
	return docs
}

// normalize makes a render comparable with a golden file: Result documents, whose order is
// not stable, are sorted after the objects, and generated passwords are masked once checked.
func normalize(t testing.TB, docs []map[string]any, maskSecrets bool) []byte {
	t.Helper()
	var objects, results []map[string]any
	for _, d := range docs {
		if d["kind"] == "Result" {
			results = append(results, d)
			continue
		}
		if d["kind"] == "Secret" && maskSecrets {
			data, _ := d["data"].(map[string]any)
			for k, v := range data {
				raw, err := base64.StdEncoding.DecodeString(v.(string))
				require.NoError(t, err)
				_, err = hex.DecodeString(string(raw))
				require.NoError(t, err, "generated %s is hex", k)
				require.Len(t, raw, 32, "generated %s", k)
				data[k] = generatedSecret
			}
		}
		objects = append(objects, d)
	}
	slices.SortFunc(results, func(a, b map[string]any) int {
		return strings.Compare(fmt.Sprint(a["message"]), fmt.Sprint(b["message"]))
	})
	var out bytes.Buffer
	for _, d := range append(objects, results...) {
		b, err := yaml.Marshal(d)
		require.NoError(t, err)
		out.WriteString("---\n")
		out.Write(b)
	}
	return out.Bytes()
}

func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "render", name+".golden.yaml")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "no golden file: run go test ./fn -run TestRender -update")
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("render of %s differs from %s (-want +got):\n%s", name, path, diff)
	}
}

func TestRenderExamples(t *testing.T) {
	cases := map[string]struct {
		reason      string
		xr          string
		args        []string
		maskSecrets bool
		wantKinds   int
	}{
		"claim": {
			reason:      "The sample claim: every component, autoscaled bridges and jibri.",
			xr:          "xr.yaml",
			args:        []string{"--xrd=" + xrdFile, "-r"},
			maskSecrets: true,
		},
		"claim-observed": {
			reason: "The sample claim mid-lecture: passwords read back unchanged, status filled, XR Ready.",
			xr:     "xr.yaml",
			args:   []string{"--xrd=" + xrdFile, "-r", "-o", filepath.Join(examplesDir, "observed.yaml")},
		},
		"claim-static": {
			reason:      "Static bridges without jibri: no HPA, no jibri.",
			xr:          "xr-static.yaml",
			args:        []string{"--xrd=" + xrdFile, "-r"},
			maskSecrets: true,
		},
		"claim-timetable": {
			reason: "A timetable and warm spares, previewed on a Monday at 09:55 in Paris: the morning window's floor, " +
				"and a TTL that calls again before its end.",
			xr:          "xr-timetable.yaml",
			args:        []string{"--xrd=" + xrdFile, "-r", `--context-values=apps.jit.si/now="2026-12-07T09:55:00+01:00"`},
			maskSecrets: true,
		},
		"namespaced-xr": {
			reason:      "A namespaced v2 XR without a claim.",
			xr:          "xr-namespaced.yaml",
			args:        []string{"-r"},
			maskSecrets: true,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			stdout, stderr, err := render(t, tc.xr, tc.args...)
			require.NoError(t, err, "%s\nrender failed: %s", tc.reason, stderr)
			compareGolden(t, name, normalize(t, splitDocuments(t, stdout), tc.maskSecrets))
		})
	}
}

// TestRenderIsStableWithObservedState: two renders from the same observed state give the
// same objects, passwords included.
func TestRenderIsStableWithObservedState(t *testing.T) {
	args := []string{"--xrd=" + xrdFile, "-o", filepath.Join(examplesDir, "observed.yaml")}
	first, stderr, err := render(t, "xr.yaml", args...)
	require.NoError(t, err, stderr)
	second, stderr, err := render(t, "xr.yaml", args...)
	require.NoError(t, err, stderr)
	assert.Equal(t, string(first), string(second))
	assert.Contains(t, string(first), base64.StdEncoding.EncodeToString([]byte("c9f0f895fb98ab9159f51fd0297e236d")),
		"the JVB password comes from examples/observed.yaml")
}

func TestRenderRejectsInvalidXR(t *testing.T) {
	_, stderr, err := render(t, "../fn/testdata/invalid/xr-bad-timezone.yaml", "--xrd="+xrdFile)
	require.Error(t, err, "render must fail on a fatal result")
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr)
	assert.Equal(t, 1, exitErr.ExitCode())
	assert.Contains(t, stderr, `pipeline step "compose-jitsi" returned a fatal result: invalid XJitsi bad-timezone: `+
		`spec.timezone: Invalid value: "Europe/Atlantis": must be an IANA time zone name`)
}

// validate runs crossplane resource validate offline against the XRD and the native schemas.
func validate(t *testing.T, resources string) (string, error) {
	t.Helper()
	cmd := exec.Command(tool(t, "crossplane"), "resource", "validate", xrdFile, resources,
		"--crossplane-image=", "--cache-dir="+filepath.Join(t.TempDir(), "xpkg"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestValidateExamples(t *testing.T) {
	t.Run("claims", func(t *testing.T) {
		out, err := validate(t, filepath.Join(examplesDir, "claim.yaml")+","+filepath.Join(examplesDir, "claim-static.yaml"))
		require.NoError(t, err, out)
		assert.Contains(t, out, "Total 2 resources: 0 missing schemas, 2 success cases, 0 failure cases")
	})
	for _, xr := range []string{"xr.yaml", "xr-static.yaml"} {
		t.Run(xr, func(t *testing.T) {
			rendered, stderr, err := render(t, xr, "--xrd="+xrdFile, "-x")
			require.NoError(t, err, stderr)
			file := filepath.Join(t.TempDir(), "rendered.yaml")
			require.NoError(t, os.WriteFile(file, rendered, 0o644))
			out, err := validate(t, file)
			require.NoError(t, err, out)
			assert.Contains(t, out, "0 missing schemas")
			assert.Contains(t, out, " 0 failure cases")
			t.Log(lastLine(out))
		})
	}
}

func TestValidateRejectsInvalidClaim(t *testing.T) {
	out, err := validate(t, filepath.Join("testdata", "invalid", "claim-bad-strategy.yaml"))
	require.Error(t, err, "validate must fail:\n%s", out)
	for _, want := range []string{
		`spec.domain: Invalid value: "Hack"`,
		"spec.jvb.strategy.minReplicas: Invalid value: must be less than or equal to maxReplicas",
		"spec.jvb.autoscaling.targetStressLevel: Invalid value: 0: targetStressLevel must be between 0.01 and 1",
	} {
		assert.Contains(t, out, want)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestPackagedCompositionIsTheExample: the Configuration package ships the Composition that
// the examples render with.
func TestPackagedCompositionIsTheExample(t *testing.T) {
	example, err := os.ReadFile(filepath.Join(examplesDir, "composition.yaml"))
	require.NoError(t, err)
	packaged, err := os.ReadFile("../package/configuration/composition.yaml")
	require.NoError(t, err)
	assert.Equal(t, string(example), string(packaged), "copy examples/composition.yaml to package/configuration/")
}
