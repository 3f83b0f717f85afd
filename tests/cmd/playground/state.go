package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
)

// stateDir is the playground's directory. serve writes its PID (playground.pid), its
// readiness (ready.json) or its failure (error); up sends serve's output to playground.log.
// The harness keeps each process's <name>.pid and logs/<name>.log below it: the control
// plane's in cluster-*/, the others' in procs/.
type stateDir string

func (s stateDir) path(name string) string { return filepath.Join(string(s), name) }

func (s stateDir) pidFile() string     { return s.path("playground.pid") }
func (s stateDir) logFile() string     { return s.path("playground.log") }
func (s stateDir) readyFile() string   { return s.path("ready.json") }
func (s stateDir) errorFile() string   { return s.path("error") }
func (s stateDir) kubeconfig() string  { return s.path("kubeconfig") }
func (s stateDir) processes() string   { return s.path("procs") }
func (s stateDir) volumes() string     { return s.path("volumes") }
func (s stateDir) packagesDir() string { return s.path("packages") }

// readyInfo is what serve writes once everything is ready, and up and participants read.
type readyInfo struct {
	PID        int    `json:"pid"`
	Kubeconfig string `json:"kubeconfig"`
	Kubectl    string `json:"kubectl"`
	// Jicofo is the base URL of the emulated jicofo's participants endpoint.
	Jicofo string `json:"jicofo"`
	// Registry is the loopback registry the packages were pushed to.
	Registry string `json:"registry"`
	// ReadyIn is how long serve took to be ready.
	ReadyIn string `json:"readyIn"`
}

func (s stateDir) writeReady(info readyInfo) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	// Written whole, then renamed: a reader never sees half of it.
	tmp := s.readyFile() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, s.readyFile())
}

// readReady reads ready.json; os.ErrNotExist means the playground is not ready (yet).
func (s stateDir) readReady() (readyInfo, error) {
	var info readyInfo
	b, err := os.ReadFile(s.readyFile())
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("%s: %w", s.readyFile(), err)
	}
	return info, nil
}

// readPID reads a PID file; 0 when there is none.
func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s holds no PID: %q", path, b)
	}
	return pid, nil
}

// pidFiles maps every *.pid file below the state directory to its PID.
func (s stateDir) pidFiles() (map[string]int, error) {
	out := map[string]int{}
	err := filepath.WalkDir(string(s), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".pid") {
			return nil
		}
		pid, err := readPID(path)
		if err != nil {
			return err
		}
		if pid > 0 {
			out[path] = pid
		}
		return nil
	})
	return out, err
}

// ours reports whether pid is a live process this playground started: PIDs are reused, so
// a PID file alone is no proof. A process of ours names the state directory on its command
// line (serve's --dir, the control plane's certificates and data, Crossplane's directories)
// or runs a binary from it (the node scaler, cluster-autoscaler, the functions) or from the
// pinned tools (the registry).
func (s stateDir) ours(pid int, tools *harness.Tools) bool {
	if !running(pid) {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	if strings.Contains(string(cmdline), string(s)) {
		return true
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return false
	}
	for _, dir := range []string{string(s), filepath.Dir(tools.Path("kubectl"))} {
		if strings.HasPrefix(exe, dir+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// stopProcesses stops the processes of pids that are ours, as the harness does: SIGTERM to
// the process group, SIGKILL after grace. It returns the PIDs still alive afterwards.
func (s stateDir) stopProcesses(tools *harness.Tools, pids []int, grace time.Duration) []int {
	var ours []int
	for _, pid := range pids {
		if s.ours(pid, tools) {
			ours = append(ours, pid)
			signalGroup(pid, syscall.SIGTERM)
		}
	}
	waitGone(ours, grace)
	for _, pid := range runningOf(ours) {
		signalGroup(pid, syscall.SIGKILL)
	}
	waitGone(ours, 5*time.Second)
	return runningOf(ours)
}

// running reports whether pid is a process that has not exited: kill(pid, 0) succeeds and it
// is no zombie. A process whose parent died is reaped by init, a moment later.
func running(pid int) bool {
	if len(harness.Alive([]int{pid})) == 0 {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...: comm may hold spaces and parentheses, the state follows the last ')'.
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

func runningOf(pids []int) []int {
	var out []int
	for _, pid := range pids {
		if running(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// waitGone waits until none of pids runs, at most timeout, then a little longer (at most 10
// s) for init to reap them, so that kill(pid, 0) fails for each afterwards.
func waitGone(pids []int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for len(runningOf(pids)) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if len(runningOf(pids)) > 0 {
		return
	}
	deadline = time.Now().Add(10 * time.Second)
	for len(harness.Alive(pids)) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
}

// signalGroup signals pid's process group, which it leads (the harness starts every process
// with a group of its own, up starts serve in a session of its own), or pid alone.
func signalGroup(pid int, sig syscall.Signal) {
	if err := syscall.Kill(-pid, sig); err != nil {
		_ = syscall.Kill(pid, sig)
	}
}
