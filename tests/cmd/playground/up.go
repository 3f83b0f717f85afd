package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
)

// up makes sure a playground runs and prints what to do with it. A running one that answers
// is kept; one that is starting is waited for; one whose processes died or that no longer
// answers is cleaned up and started again.
func up(s stateDir, tools *harness.Tools, timeout time.Duration) error {
	start := time.Now()
	pid, err := readPID(s.pidFile())
	if err != nil {
		return err
	}
	if pid > 0 && s.ours(pid, tools) {
		info, err := s.readReady()
		switch {
		case err == nil:
			if err := answers(info); err != nil {
				fmt.Printf("The playground (pid %d) does not answer: %v\nStopping it to start a new one.\n", pid, err)
				if err := stop(s, tools); err != nil {
					return err
				}
				return startServe(s, tools, start, timeout)
			}
			fmt.Printf("The playground is already running (pid %d, state in %s).\n", pid, s)
			printInstructions(s, tools, info)
			return nil
		case errors.Is(err, fs.ErrNotExist) && !exists(s.errorFile()):
			fmt.Printf("The playground (pid %d) is starting; waiting for it.\n", pid)
			return waitReady(s, tools, pid, nil, start, timeout)
		default:
			fmt.Printf("The playground (pid %d) failed or is stopping; starting a new one.\n", pid)
			if err := stop(s, tools); err != nil {
				return err
			}
			return startServe(s, tools, start, timeout)
		}
	}
	if exists(string(s)) {
		fmt.Printf("Cleaning up a playground that is no longer running (%s).\n", s)
		if err := stop(s, tools); err != nil {
			return err
		}
	}
	return startServe(s, tools, start, timeout)
}

// startServe starts `playground serve` detached, in a session of its own with its output in
// the log, and waits until it is ready.
func startServe(s stateDir, tools *harness.Tools, start time.Time, timeout time.Duration) error {
	if err := os.MkdirAll(string(s), 0o755); err != nil {
		return err
	}
	log, err := os.Create(s.logFile())
	if err != nil {
		return err
	}
	defer log.Close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "serve", "--dir="+string(s))
	cmd.Dir = tools.Root
	cmd.Stdout, cmd.Stderr = log, log
	// Its own session: it outlives this process and the terminal's signals.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot start %s serve: %w", self, err)
	}
	fmt.Printf("Starting the playground (pid %d; log %s)...\n", cmd.Process.Pid, relative(s.logFile()))
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return waitReady(s, tools, cmd.Process.Pid, exited, start, timeout)
}

// waitReady waits until serve (pid) is ready, echoing its log. exited, when not nil, reports
// serve's exit. If serve fails, exits, or takes longer than timeout, or this process is
// interrupted, it stops serve and returns an error after the log's tail.
func waitReady(s stateDir, tools *harness.Tools, pid int, exited <-chan error, start time.Time, timeout time.Duration) error {
	interrupted := make(chan os.Signal, 1)
	signal.Notify(interrupted, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(interrupted)
	follow := &logFollower{path: s.logFile()}
	deadline := time.After(timeout)
	fail := func(why string) error {
		follow.echo()
		fmt.Fprintf(os.Stderr, "\n%s. The end of %s:\n\n%s\n", why, relative(s.logFile()), tail(s.logFile(), 30))
		// Stop what is left, and keep the logs: make down removes them.
		if err := stopProcesses(s, tools); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		return fmt.Errorf("%s; the logs stay in %s until make down", why, s)
	}
	for {
		follow.echo()
		if info, err := s.readReady(); err == nil {
			fmt.Printf("\nThe playground is ready (%s; serve took %s).\n", time.Since(start).Round(100*time.Millisecond), info.ReadyIn)
			printInstructions(s, tools, info)
			return nil
		}
		if exists(s.errorFile()) {
			// serve stops everything itself before it exits.
			waitExit(pid, exited, 2*time.Minute)
			return fail("The playground failed to start")
		}
		select {
		case err := <-exited:
			return fail(fmt.Sprintf("The playground exited (%v)", err))
		case <-interrupted:
			return fail("Interrupted")
		case <-deadline:
			return fail(fmt.Sprintf("The playground was not ready after %s", timeout))
		case <-time.After(200 * time.Millisecond):
		}
		if exited == nil && !running(pid) {
			return fail("The playground exited")
		}
	}
}

// waitExit waits until pid is gone, at most timeout: exited reports it for a child of this
// process, which it reaps; for another process, waitGone waits for init to reap it.
func waitExit(pid int, exited <-chan error, timeout time.Duration) {
	if exited == nil {
		waitGone([]int{pid}, timeout)
		return
	}
	select {
	case <-exited:
	case <-time.After(timeout):
	}
}

// down stops the playground and removes its state directory.
func down(s stateDir, tools *harness.Tools) error {
	if !exists(string(s)) {
		fmt.Printf("No playground in %s.\n", s)
		return nil
	}
	if err := stop(s, tools); err != nil {
		return err
	}
	fmt.Printf("The playground is stopped; %s is removed.\n", relative(string(s)))
	return nil
}

// stop stops every process of the playground and removes its state directory.
func stop(s stateDir, tools *harness.Tools) error {
	if err := stopProcesses(s, tools); err != nil {
		return err
	}
	return os.RemoveAll(string(s))
}

// stopProcesses stops serve with SIGTERM, which stops everything it started, then whatever
// its PID files still name, by PID; and checks that none of them is left (kill(pid, 0)).
func stopProcesses(s stateDir, tools *harness.Tools) error {
	// Read every PID first: serve removes the PID files of what it stops.
	files, err := s.pidFiles()
	if err != nil {
		return err
	}
	var pids []int
	for _, pid := range files {
		if s.ours(pid, tools) {
			pids = append(pids, pid)
		}
	}
	servePID, err := readPID(s.pidFile())
	if err != nil {
		return err
	}
	if servePID > 0 && s.ours(servePID, tools) {
		_ = syscall.Kill(servePID, syscall.SIGTERM)
		waitExit(servePID, nil, 2*time.Minute)
	}
	left := s.stopProcesses(tools, pids, 10*time.Second)
	var alive []string
	for _, pid := range pids {
		if s.ours(pid, tools) {
			alive = append(alive, strconv.Itoa(pid))
		}
	}
	if len(left) > 0 || len(alive) > 0 {
		return fmt.Errorf("processes of the playground still alive after SIGKILL: %s", strings.Join(alive, ", "))
	}
	if len(pids) > 0 {
		fmt.Printf("Stopped %d processes of the playground; none is left.\n", len(pids))
	}
	return nil
}

// answers checks that the playground's API server and jicofo answer.
func answers(info readyInfo) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", info.Kubeconfig)
	if err != nil {
		return err
	}
	cfg.Timeout = 5 * time.Second
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
		return fmt.Errorf("the API server: %w", err)
	}
	rsp, err := (&http.Client{Timeout: 5 * time.Second}).Get(info.Jicofo + "/healthz")
	if err != nil {
		return fmt.Errorf("jicofo: %w", err)
	}
	_ = rsp.Body.Close()
	if rsp.StatusCode != http.StatusOK {
		return fmt.Errorf("jicofo: %s", rsp.Status)
	}
	return nil
}

// printInstructions says what to do with the playground.
func printInstructions(s stateDir, tools *harness.Tools, info readyInfo) {
	kubeconfig := info.Kubeconfig
	if r := relative(kubeconfig); r != kubeconfig {
		kubeconfig = "$PWD/" + r
	}
	kubectl := relative(info.Kubectl)
	claim := relative(filepath.Join(tools.Root, "examples", "claim.yaml"))
	self, err := os.Executable()
	if err != nil {
		self = "playground"
	}
	participants := relative(self) + " participants"
	if string(s) != filepath.Join(tools.Root, ".cache", "up") {
		participants += " --dir=" + relative(string(s))
	}
	fmt.Printf(`
Try it:

  export KUBECONFIG=%[1]s
  %[2]s apply -f %[3]s
  %[2]s get jitsi -A                               # Synced at once, Ready within a minute
  %[2]s get jitsi jitsi-sample -n university
  %[2]s get pods -n university -w                  # the bridges: jitsi-sample-jvb-...
  %[2]s get nodes -w                               # a JVB node for each bridge no node takes

Add load: 40 participants put the bridge's stress at 0.4, above the HPA's target of 0.3, so
the HPA adds a bridge and cluster-autoscaler a node for it, through jitsi-nodescaler:

  %[4]s --conference lecture --count 40
  %[2]s get hpa -n university -w
  %[4]s --conference lecture --count 0     # the lecture ends; a bridge goes after the HPA's 10-minute window

Logs: %[5]s, and each component's in %[6]s/*/logs
Stop it: make down
`, kubeconfig, kubectl, claim, participants, relative(s.logFile()), relative(string(s)))
}

// relative is path relative to the working directory when it is below it.
func relative(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	r, err := filepath.Rel(wd, path)
	if err != nil || r == ".." || strings.HasPrefix(r, "../") {
		return path
	}
	return r
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// logFollower echoes the lines serve logs, briefly.
type logFollower struct {
	path   string
	offset int64
	rest   string
}

// echo prints the complete lines added since the last call.
func (f *logFollower) echo() {
	file, err := os.Open(f.path)
	if err != nil {
		return
	}
	defer file.Close()
	if _, err := file.Seek(f.offset, io.SeekStart); err != nil {
		return
	}
	b, err := io.ReadAll(file)
	if err != nil {
		return
	}
	f.offset += int64(len(b))
	text := f.rest + string(b)
	lines := strings.Split(text, "\n")
	f.rest = lines[len(lines)-1]
	for _, line := range lines[:len(lines)-1] {
		if msg, ok := brief(line); ok {
			fmt.Println("  " + msg)
		}
	}
}

// brief turns serve's log line (slog's text format) into its message and attributes, with
// the level when it is not INFO; other output (klog's) is left for the log.
func brief(line string) (string, bool) {
	if !strings.HasPrefix(line, "time=") {
		return "", false
	}
	_, rest, ok := strings.Cut(line, " level=")
	if !ok {
		return "", false
	}
	level, rest, _ := strings.Cut(rest, " ")
	msg, ok := strings.CutPrefix(rest, "msg=")
	if !ok {
		return "", false
	}
	if strings.HasPrefix(msg, `"`) {
		if quoted, err := strconv.QuotedPrefix(msg); err == nil {
			unquoted, _ := strconv.Unquote(quoted)
			msg = unquoted + msg[len(quoted):]
		}
	}
	if level != "INFO" {
		msg = level + ": " + msg
	}
	return msg, true
}

// tail is the last n lines of a file.
func tail(path string, n int) string {
	file, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer file.Close()
	var lines []string
	scanner := bufio.NewScanner(file)
	scanner.Buffer(make([]byte, 1024*1024), 1024*1024)
	for scanner.Scan() {
		lines = append(lines, scanner.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
