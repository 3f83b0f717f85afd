package jitsiemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
)

// KubeletOptions configure the kubelet double.
type KubeletOptions struct {
	Client kubernetes.Interface
	// Namespace limits it to one namespace; empty watches all.
	Namespace string
	// RESTURL is the base URL of a pod's bridge, passed to the hook as JVB_REST_URL: by
	// default http://<pod IP>:8080 as Network routes it.
	RESTURL func(pod *corev1.Pod) string
	// Network is the fleet's (Fleet.Network).
	Network *Network
	// Env is added to every hook's environment, e.g. DRAIN_POLL_SECONDS=1.
	Env []string
	// Logf reports each hook's start and end.
	Logf func(format string, args ...any)
}

// Kubelet plays the part of a kubelet that kwok leaves out: for each terminating
// videobridge pod it runs the pod's own preStop exec hook (lifecycle.preStop.exec.command,
// what fn/jvb.go renders) with this host's /bin/sh, against the pod's emulated bridge, then
// marks the pod (harness.PreStopDoneAnnotation) so that kwok deletes it — the kubelet's
// SIGTERM, container exit and pod removal in one step. It follows the kubelet of Kubernetes
// v1.35.4, the version the e2e cluster runs (pkg/kubelet/kuberuntime/kuberuntime_container.go:
// killContainer and executePreStopHook). As the kubelet does, it runs the hooks
// of every container at once, and stops waiting for them when the pod's grace period
// (deletionGracePeriodSeconds) runs out. The cluster must run with
// harness.Options.HoldTerminatingBridges, or kwok deletes the pod before the hook runs.
//
// The hook runs on the host, not in the image: it needs curl and jq here, and it reaches the
// bridge through JVB_REST_URL, which the pod never sets.
type Kubelet struct {
	opts    KubeletOptions
	factory informers.SharedInformerFactory
	stop    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu   sync.Mutex
	runs map[types.UID]*HookRun
}

// HookRun is one terminating pod's preStop hook.
type HookRun struct {
	Pod         string
	GracePeriod time.Duration
	Started     time.Time
	// Ended is zero while the hook runs.
	Ended time.Time
	// TimedOut: the grace period ran out before the hook ended.
	TimedOut bool
	// Err is the hook's failure (exit status, or no hook to run), nil when it exited 0.
	Err error
	// Output is what the hook wrote (its first 64 KiB).
	Output string
}

// StartKubelet watches the videobridge pods and returns once it has seen the current ones.
func StartKubelet(ctx context.Context, opts KubeletOptions) (*Kubelet, error) {
	if opts.Client == nil {
		return nil, errors.New("KubeletOptions.Client: must be set")
	}
	if opts.RESTURL == nil {
		opts.RESTURL = func(p *corev1.Pod) string {
			return "http://" + opts.Network.Resolve(net.JoinHostPort(p.Status.PodIP, strconv.Itoa(RESTPort)))
		}
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	k := &Kubelet{opts: opts, stop: make(chan struct{}), runs: map[types.UID]*HookRun{}}
	k.ctx, k.cancel = context.WithCancel(context.Background())
	k.factory = informers.NewSharedInformerFactoryWithOptions(opts.Client, 0,
		informers.WithNamespace(opts.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = BridgeSelector }))
	informer := k.factory.Core().V1().Pods().Informer()
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    k.observe,
		UpdateFunc: func(_, obj any) { k.observe(obj) },
	}); err != nil {
		return nil, err
	}
	k.factory.Start(k.stop)
	for typ, ok := range k.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			k.Close()
			return nil, fmt.Errorf("the pod informer (%v) never synced", typ)
		}
	}
	return k, nil
}

func (k *Kubelet) observe(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.DeletionTimestamp == nil || pod.Annotations[harness.PreStopDoneAnnotation] == "true" {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, seen := k.runs[pod.UID]; seen {
		return
	}
	grace := 30 * time.Second
	switch {
	case pod.DeletionGracePeriodSeconds != nil:
		grace = time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		grace = time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	run := &HookRun{Pod: pod.Namespace + "/" + pod.Name, GracePeriod: grace, Started: time.Now()}
	k.runs[pod.UID] = run
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		k.terminate(pod.DeepCopy(), run)
	}()
}

// terminate runs the preStop hooks, then marks the pod as done.
func (k *Kubelet) terminate(pod *corev1.Pod, run *HookRun) {
	ctx, cancel := context.WithTimeout(k.ctx, run.GracePeriod)
	defer cancel()
	var (
		mu     sync.Mutex
		errs   []error
		output bytes.Buffer
		hooks  sync.WaitGroup
	)
	for _, c := range pod.Spec.Containers {
		if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
			continue
		}
		if c.Lifecycle.PreStop.Exec == nil || len(c.Lifecycle.PreStop.Exec.Command) == 0 {
			mu.Lock()
			errs = append(errs, fmt.Errorf("container %s: only exec preStop hooks are run here", c.Name))
			mu.Unlock()
			continue
		}
		k.opts.Logf("kubelet: %s is terminating: running the preStop hook of container %s (grace period %s)", run.Pod, c.Name, run.GracePeriod)
		hooks.Add(1)
		go func(name string, command []string) {
			defer hooks.Done()
			out, err := k.runHook(ctx, pod, command)
			mu.Lock()
			defer mu.Unlock()
			if output.Len() < 64<<10 {
				output.Write(out)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("container %s: %w", name, err))
			}
		}(c.Name, c.Lifecycle.PreStop.Exec.Command)
	}
	hooks.Wait()

	k.mu.Lock()
	run.Ended = time.Now()
	run.TimedOut = errors.Is(ctx.Err(), context.DeadlineExceeded)
	run.Err = errors.Join(errs...)
	run.Output = output.String()
	took := run.Ended.Sub(run.Started)
	k.mu.Unlock()
	k.opts.Logf("kubelet: preStop of %s ended after %s (timed out: %t, error: %v)", run.Pod, took.Round(10*time.Millisecond), run.TimedOut, run.Err)
	if k.ctx.Err() != nil {
		return // closing: leave the pod alone
	}

	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:"true"}}}`, harness.PreStopDoneAnnotation)
	_, err := k.opts.Client.CoreV1().Pods(pod.Namespace).Patch(k.ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		k.opts.Logf("kubelet: cannot mark %s as terminated: %v", run.Pod, err)
	}
}

// runHook runs command in its own process group, killed with the group when ctx ends.
func (k *Kubelet) runHook(ctx context.Context, pod *corev1.Pod, command []string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, command[0], command[1:]...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "JVB_REST_URL=" + k.opts.RESTURL(pod)}, k.opts.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// Runs lists the hooks run so far, oldest first.
func (k *Kubelet) Runs() []HookRun {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]HookRun, 0, len(k.runs))
	for _, r := range k.runs {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out
}

// Close stops watching, kills running hooks and waits for them.
func (k *Kubelet) Close() {
	select {
	case <-k.stop:
		return
	default:
	}
	close(k.stop)
	k.cancel()
	k.factory.Shutdown()
	k.wg.Wait()
}
