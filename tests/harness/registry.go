package harness

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Registry is an OCI registry on loopback: `crane registry serve`, in memory. Its host is
// 127.0.0.1:<port>: Crossplane's package CRDs want a registry host with a dot (they refuse
// localhost:5000), and go-containerregistry, in crane and in Crossplane alike, speaks plain
// HTTP to a loopback address.
type Registry struct {
	// Host is 127.0.0.1:<port>, the registry part of a package reference.
	Host  string
	tools *Tools
}

// StartRegistry starts a registry among procs, under the process name "registry".
func StartRegistry(ctx context.Context, tools *Tools, procs *Processes) (*Registry, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	host := fmt.Sprintf("127.0.0.1:%d", port)
	if err := procs.Start("registry", tools.Path("crane"), "registry", "serve", "--address="+host); err != nil {
		return nil, err
	}
	if err := procs.waitHTTP(ctx, "registry", "http://"+host+"/v2/", nil, 30*time.Second); err != nil {
		return nil, err
	}
	return &Registry{Host: host, tools: tools}, nil
}

// PushProjectPackages builds this repository's packages with hack/package.sh, as
// `PUSH=1 XPKG_REGISTRY=<host> make package` does, into out, and pushes them here: the
// Function and the Configuration under crossplane-jitsi/, the node scaler's image.
func (r *Registry) PushProjectPackages(ctx context.Context, out string) error {
	build := exec.CommandContext(ctx, filepath.Join(r.tools.Root, "hack", "package.sh"))
	build.Env = append(os.Environ(), "PUSH=1", "XPKG_REGISTRY="+r.Host, "OUT="+out)
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("hack/package.sh: %w\n%s", err, b)
	}
	return nil
}

// FunctionPackage is a function to package: a static linux/amd64 binary and the package
// metadata directory (crossplane.yaml, and the input CRDs if any).
type FunctionPackage struct {
	// Repository is the path under the registry, for example crossplane-contrib/function-x.
	Repository string
	Version    string
	Binary     string
	PackageDir string
}

// PushFunction packages a function as its project's image would be built: the binary as
// /function on an empty base, run as 65532, port 9443; the package layer added by
// `crossplane xpkg build`; pushed with `crossplane xpkg push`. It returns the package
// reference. Work files go to dir.
func (r *Registry) PushFunction(ctx context.Context, dir string, fn FunctionPackage) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	layer := filepath.Join(dir, "layer.tar")
	if err := writeBinaryLayer(layer, fn.Binary, "function"); err != nil {
		return "", err
	}
	runtimeRef := fmt.Sprintf("%s/%s-runtime:%s", r.Host, fn.Repository, fn.Version)
	runtimeTar := filepath.Join(dir, "runtime.tar")
	xpkgFile := filepath.Join(dir, "function.xpkg")
	noExamples := filepath.Join(dir, "no-examples")
	if err := os.MkdirAll(noExamples, 0o755); err != nil {
		return "", err
	}
	ref := fmt.Sprintf("%s/%s:%s", r.Host, fn.Repository, fn.Version)
	steps := [][]string{
		{r.tools.Path("crane"), "append", "--oci-empty-base", "-f", layer, "-t", runtimeRef + "-base"},
		// --set-platform: without it the config names no os/architecture.
		{r.tools.Path("crane"), "mutate", runtimeRef + "-base", "--entrypoint=/function", "--user=65532:65532",
			"--exposed-ports=9443/tcp", "--set-platform=linux/amd64", "-t", runtimeRef},
		{r.tools.Path("crane"), "pull", "--format=tarball", runtimeRef, runtimeTar},
		{r.tools.Path("crossplane"), "xpkg", "build", "--package-root=" + fn.PackageDir, "--examples-root=" + noExamples,
			"--embed-runtime-image-tarball=" + runtimeTar, "-o", xpkgFile},
		{r.tools.Path("crossplane"), "xpkg", "push", "-f", xpkgFile, ref},
	}
	for _, s := range steps {
		if b, err := exec.CommandContext(ctx, s[0], s[1:]...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("%s %s: %w\n%s", filepath.Base(s[0]), strings.Join(s[1:3], " "), err, b)
		}
	}
	return ref, nil
}

// writeBinaryLayer writes a one-file image layer: binary as /name, owned by 65532.
func writeBinaryLayer(path, binary, name string) error {
	b, err := os.ReadFile(binary)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{
		Name: name, Mode: 0o755, Size: int64(len(b)), Uid: 65532, Gid: 65532,
		ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg,
	}); err != nil {
		return err
	}
	if _, err := tw.Write(b); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// imageConfig is the part of an OCI image config a runtime needs to run the image.
type imageConfig struct {
	Config struct {
		Entrypoint []string `json:"Entrypoint"`
		Cmd        []string `json:"Cmd"`
		Env        []string `json:"Env"`
	} `json:"config"`
}

// pullImage reads an image's config and extracts its file system into dir, with crane.
func pullImage(ctx context.Context, tools *Tools, ref, dir string) (*imageConfig, error) {
	out, err := exec.CommandContext(ctx, tools.Path("crane"), "config", ref).Output()
	if err != nil {
		return nil, fmt.Errorf("cannot read the config of image %s: %w", ref, exitDetail(err))
	}
	cfg := &imageConfig{}
	if err := json.Unmarshal(out, cfg); err != nil {
		return nil, fmt.Errorf("cannot parse the config of image %s: %w", ref, err)
	}
	if len(cfg.Config.Entrypoint) == 0 {
		return nil, fmt.Errorf("image %s has no entrypoint in its config", ref)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	export := exec.CommandContext(ctx, tools.Path("crane"), "export", ref, "-")
	var fs, stderr bytes.Buffer
	export.Stdout, export.Stderr = &fs, &stderr
	if err := export.Run(); err != nil {
		return nil, fmt.Errorf("cannot export image %s: %w: %s", ref, err, stderr.String())
	}
	if err := untar(&fs, dir); err != nil {
		return nil, fmt.Errorf("cannot extract image %s: %w", ref, err)
	}
	return cfg, nil
}

// untar extracts the regular files and directories of a tar stream under dir.
func untar(r *bytes.Buffer, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o755|0o600)
			if err != nil {
				return err
			}
			if _, err := f.ReadFrom(tr); err != nil {
				_ = f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		}
	}
}

// exitDetail adds a failed command's stderr to its error.
func exitDetail(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
	}
	return err
}

// dialable reports whether something accepts TCP connections at addr.
func dialable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}
