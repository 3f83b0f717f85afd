package harness

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Renderer renders examples with the real Crossplane CLI and render engine against
// function-jitsi, built from this repository and running on loopback.
type Renderer struct {
	tools   *Tools
	address string
}

// StartFunction builds function-jitsi and starts it among procs.
func StartFunction(ctx context.Context, tools *Tools, procs *Processes) (*Renderer, error) {
	bin, err := tools.Build("fn", procs.Dir)
	if err != nil {
		return nil, err
	}
	return StartFunctionBinary(ctx, tools, procs, bin)
}

// StartFunctionBinary starts a function-jitsi binary among procs, on a free loopback port.
func StartFunctionBinary(ctx context.Context, tools *Tools, procs *Processes, bin string) (*Renderer, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := procs.Start("function-jitsi", bin, "--insecure", "--address="+addr, "--metrics-address="); err != nil {
		return nil, err
	}
	err = Poll(ctx, 30*time.Second, func() (bool, error) {
		if err := procs.Exited(); err != nil {
			return false, err
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false, nil
		}
		return true, c.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("function-jitsi never listened on %s: %w", addr, err)
	}
	return &Renderer{tools: tools, address: addr}, nil
}

// Rendered is what a render produced.
type Rendered struct {
	XR       *unstructured.Unstructured
	Composed []*unstructured.Unstructured
	Results  []map[string]any
}

// Render runs `crossplane composition render` on an XR file, with the repository's
// composition and functions, and extra render flags.
func (r *Renderer) Render(ctx context.Context, xrFile string, extra ...string) (*Rendered, error) {
	args := append([]string{
		"composition", "render", xrFile,
		filepath.Join(r.tools.Root, "examples", "composition.yaml"),
		filepath.Join(r.tools.Root, "examples", "functions.yaml"),
		"--crossplane-binary=" + r.tools.Path("crossplane-core"),
		"-a", "render.crossplane.io/runtime-development-target=" + r.address,
		"--timeout=60s",
	}, extra...)
	cmd := exec.CommandContext(ctx, r.tools.Path("crossplane"), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("render of %s failed: %v: %s", xrFile, err, stderr.String())
	}
	docs, err := SplitYAML(stdout.Bytes())
	if err != nil {
		return nil, err
	}
	out := &Rendered{}
	for _, d := range docs {
		switch {
		case d.GetKind() == "Result":
			out.Results = append(out.Results, d.Object)
		case out.XR == nil:
			out.XR = d
		default:
			out.Composed = append(out.Composed, d)
		}
	}
	if out.XR == nil {
		return nil, fmt.Errorf("render of %s produced no XR", xrFile)
	}
	return out, nil
}

// XRD is the repository's generated XRD.
func (t *Tools) XRD() string {
	return filepath.Join(t.Root, "package", "configuration", "xrd.yaml")
}

// ConvertXRD turns the XRD into the CRDs Crossplane would make of it: the XR's and the claim's.
func (t *Tools) ConvertXRD(ctx context.Context) ([]*unstructured.Unstructured, error) {
	out, err := exec.CommandContext(ctx, t.Path("crossplane"), "xrd", "convert", t.XRD()).Output()
	if err != nil {
		return nil, fmt.Errorf("crossplane xrd convert: %w", err)
	}
	return SplitYAML(out)
}

// SplitYAML parses a YAML stream into objects, skipping empty documents.
func SplitYAML(stream []byte) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, part := range strings.Split(string(stream), "\n---") {
		part = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(part), "---"))
		if part == "" || strings.Trim(part, "# \n") == "" {
			continue
		}
		obj := map[string]any{}
		if err := yaml.Unmarshal([]byte(part), &obj); err != nil {
			return nil, fmt.Errorf("cannot parse YAML document: %w\n%s", err, part)
		}
		if len(obj) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: obj})
	}
	return out, nil
}
