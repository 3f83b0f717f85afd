package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Tools are the pinned binaries, built by hack/tools.sh into the repository's .cache/bin.
type Tools struct {
	// Root is the repository root.
	Root string
	bin  string
}

// rootModule is the first line of the repository root's go.mod.
const rootModule = "module github.com/crossplane-jitsi/crossplane-jitsi\n"

// FindTools locates the repository from the working directory and builds whichever of the
// named tools are missing (a cold build takes minutes; a warm one nothing).
func FindTools(names ...string) (*Tools, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	t := &Tools{Root: root, bin: filepath.Join(root, ".cache", "bin")}
	if dir := os.Getenv("CACHE_DIR"); dir != "" {
		t.bin = filepath.Join(dir, "bin")
	}
	var missing []string
	for _, n := range names {
		if _, err := os.Stat(t.Path(n)); err != nil && !slices.Contains(missing, toolsScriptName(n)) {
			missing = append(missing, toolsScriptName(n))
		}
	}
	if len(missing) > 0 {
		cmd := exec.Command(filepath.Join(root, "hack", "tools.sh"), missing...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("cannot build %s with hack/tools.sh: %w", strings.Join(missing, ", "), err)
		}
	}
	return t, nil
}

// toolsScriptName is the name hack/tools.sh builds a tool by: one name builds the four
// Kubernetes binaries.
func toolsScriptName(tool string) string {
	switch tool {
	case "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl":
		return "kube"
	case "kwok-stages.yaml":
		return "kwok"
	case "function-patch-and-transform-package":
		return "function-patch-and-transform"
	}
	return tool
}

// Path is the path of a tool, or of a file next to the tools (kwok-stages.yaml).
func (t *Tools) Path(name string) string {
	// kwok's stages live next to kwok; the Kubernetes tools all in one directory.
	return filepath.Join(t.bin, name)
}

// Build builds a command of the root module into dir and returns its path. The root module
// is built on its own (GOWORK=off): it pins newer Kubernetes libraries than this one.
func (t *Tools) Build(pkg, dir string) (string, error) {
	return goBuild(t.Root, pkg, dir)
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), rootModule) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no crossplane-jitsi repository above %s", dir)
		}
		dir = parent
	}
}

// BuildTestProgram builds a command of the tests module (with build tags) into dir.
func (t *Tools) BuildTestProgram(pkg, dir string, tags ...string) (string, error) {
	return goBuild(filepath.Join(t.Root, "tests"), pkg, dir, tags...)
}

// goBuild builds the package pkg of the module in moduleDir into dir, on the module's own
// requirements (GOWORK=off), and returns the binary's path.
func goBuild(moduleDir, pkg, dir string, tags ...string) (string, error) {
	out := filepath.Join(dir, filepath.Base(pkg))
	args := []string{"build", "-o", out}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.Command("go", append(args, "./"+pkg)...)
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("cannot build %s: %v\n%s", pkg, err, b)
	}
	return out, nil
}
