package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Processes are the processes a test started. Each logs to LogDir/<name>.log, and its PID is
// written to Dir/<name>.pid while it runs, so that hack/e2e-cleanup.sh can stop what a
// killed test run left behind.
type Processes struct {
	Dir    string
	LogDir string
	mu     sync.Mutex // the list: Crossplane's runtime double starts and stops processes from its own goroutine
	list   []*process
	logf   func(format string, args ...any)
}

type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// NewProcesses keeps processes' files in dir.
func NewProcesses(dir string, logf func(format string, args ...any)) (*Processes, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	p := &Processes{Dir: dir, LogDir: filepath.Join(dir, "logs"), logf: logf}
	return p, os.MkdirAll(p.LogDir, 0o755)
}

// Start starts a process.
func (ps *Processes) Start(name, binary string, args ...string) error {
	return ps.StartEnv(name, nil, binary, args...)
}

// StartEnv starts a process with the environment env, as exec.Cmd.Env takes it: nil
// inherits the test's environment.
func (ps *Processes) StartEnv(name string, env []string, binary string, args ...string) error {
	// Append: a process restarted under the same name keeps its earlier log.
	log, err := os.OpenFile(filepath.Join(ps.LogDir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = env
	// A process group of its own, so Stop can signal it and its children; and SIGKILL if
	// the test process dies without running Stop (a test timeout, say).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return fmt.Errorf("cannot start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = log.Close()
		close(p.done)
	}()
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.mu.Unlock()
	if err := os.WriteFile(filepath.Join(ps.Dir, name+".pid"), fmt.Appendf(nil, "%d\n", cmd.Process.Pid), 0o644); err != nil {
		return err
	}
	ps.logf("started %s (pid %d)", name, cmd.Process.Pid)
	return nil
}

// Stop stops every process, newest first: SIGTERM to its process group, then SIGKILL after
// ten seconds. It is safe to call twice.
func (ps *Processes) Stop() {
	ps.mu.Lock()
	list := ps.list
	ps.list = nil
	ps.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		ps.stop(list[i])
	}
}

// StopProcess stops the processes called name, as Stop does, and forgets them.
func (ps *Processes) StopProcess(name string) {
	ps.mu.Lock()
	var stop, keep []*process
	for _, p := range ps.list {
		if p.name == name {
			stop = append(stop, p)
		} else {
			keep = append(keep, p)
		}
	}
	ps.list = keep
	ps.mu.Unlock()
	for _, p := range stop {
		ps.stop(p)
	}
}

func (ps *Processes) stop(p *process) {
	select {
	case <-p.done:
	default:
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
	_ = os.Remove(filepath.Join(ps.Dir, p.name+".pid"))
}

// processes is a snapshot of the list.
func (ps *Processes) processes() []*process {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return append([]*process(nil), ps.list...)
}

// Exited returns an error for every process that stopped on its own.
func (ps *Processes) Exited() error {
	var errs []error
	for _, p := range ps.processes() {
		select {
		case <-p.done:
			errs = append(errs, fmt.Errorf("%s exited: %v (see %s)", p.name, p.err, filepath.Join(ps.LogDir, p.name+".log")))
		default:
		}
	}
	return errors.Join(errs...)
}

// Running lists the PIDs of the processes still running.
func (ps *Processes) Running() []int {
	var pids []int
	for _, p := range ps.processes() {
		select {
		case <-p.done:
		default:
			pids = append(pids, p.cmd.Process.Pid)
		}
	}
	return pids
}

// PIDs maps the names of the processes still running to their PIDs.
func (ps *Processes) PIDs() map[string]int {
	out := map[string]int{}
	for _, p := range ps.processes() {
		select {
		case <-p.done:
		default:
			out[p.name] = p.cmd.Process.Pid
		}
	}
	return out
}

// IsRunning reports whether a process called name was started and has not exited.
func (ps *Processes) IsRunning(name string) bool {
	for _, p := range ps.processes() {
		if p.name != name {
			continue
		}
		select {
		case <-p.done:
		default:
			return true
		}
	}
	return false
}

// Alive returns those of pids that are still processes.
func Alive(pids []int) []int {
	var out []int
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil || !errors.Is(err, syscall.ESRCH) {
			out = append(out, pid)
		}
	}
	return out
}
