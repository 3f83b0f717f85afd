// Command playground runs a local Jitsi platform to try the project on: a control plane on
// 127.0.0.1, Crossplane with the Jitsi Configuration installed through its package manager
// from a loopback registry, jitsi-nodescaler with cluster-autoscaler's core loop, emulated
// videobridges with a metrics adapter, and stand-ins for an ingress controller and storage,
// so that examples/claim.yaml becomes Ready and its bridges scale. It reuses the e2e
// harness (tests/harness, tests/jitsiemu).
//
//	playground up            start it in the background and return once it is ready
//	playground down          stop every process it started and remove its state
//	playground serve         run it in the foreground until SIGTERM (what up starts)
//	playground participants --conference lecture --count 40
//	                         set a conference's participants on the emulated jicofo
//
// Everything lives in one state directory, <repository>/.cache/up unless --dir says
// otherwise: the kubeconfig, the log, the processes' PID files and logs.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
)

const usage = `usage: playground <command> [flags]

commands:
  up            start the playground in the background, wait until it is ready, print what to do next
  down          stop the playground and remove its state directory
  serve         run the playground in the foreground until SIGTERM or SIGINT (up starts it)
  participants  set the participants of a conference: --conference NAME --count N

flags:
  --dir DIR     the state directory (default <repository>/.cache/up)
  --timeout D   up: how long to wait for the playground (default 30m: a cold start builds tools)
`

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	command := os.Args[1]
	if err := run(command, os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "playground %s: %v\n", command, err)
		os.Exit(1)
	}
}

func run(command string, args []string) error {
	fs := flag.NewFlagSet(command, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	dir := fs.String("dir", "", "the state directory")
	timeout := fs.Duration("timeout", 30*time.Minute, "up: how long to wait for the playground")
	conference := fs.String("conference", "", "participants: the conference")
	count := fs.Int("count", -1, "participants: how many participants the conference has afterwards")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	// No tool names: nothing is built here; serve builds what it misses.
	tools, err := harness.FindTools()
	if err != nil {
		return err
	}
	if *dir == "" {
		*dir = filepath.Join(tools.Root, ".cache", "up")
	}
	if *dir, err = filepath.Abs(*dir); err != nil {
		return err
	}
	s := stateDir(*dir)
	switch command {
	case "up":
		return up(s, tools, *timeout)
	case "down":
		return down(s, tools)
	case "serve":
		return serve(s)
	case "participants":
		if *conference == "" {
			return errors.New("--conference: must name the conference, for example --conference lecture")
		}
		if *count < 0 {
			return errors.New("--count: must be the number of participants the conference has afterwards, 0 or more")
		}
		return setParticipants(s, *conference, *count)
	default:
		fmt.Fprint(os.Stderr, usage)
		return fmt.Errorf("unknown command %q: must be up, down, serve or participants", command)
	}
}
