package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
)

// TestPlayground runs the playground (tests/cmd/playground, make up / make down) the way a
// newcomer does, as processes: up; up again, which finds it running; examples/claim.yaml
// applied with kubectl and the claim Ready; a few participants through the playground's
// jicofo; down, after which none of its processes is left.
func TestPlayground(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 15*time.Minute)
	bin, err := tools.BuildTestProgram("cmd/playground", t.TempDir())
	require.NoError(t, err)
	// Under .cache/e2e, where hack/e2e-cleanup.sh finds the PID files of a killed run.
	require.NoError(t, os.MkdirAll(filepath.Join(tools.Root, ".cache", "e2e"), 0o755))
	dir, err := os.MkdirTemp(filepath.Join(tools.Root, ".cache", "e2e"), "playground-")
	require.NoError(t, err)
	playground := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, append(args, "--dir="+dir)...)
		cmd.Dir = tools.Root
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "playground.log"))
			t.Logf("playground.log:\n%s", b)
		}
		// Stops whatever is left when the test failed half-way; a no-op after down.
		if out, err := playground("down"); err != nil {
			t.Errorf("playground down: %v\n%s", err, out)
		}
	})

	start := time.Now()
	first, err := playground("up")
	require.NoError(t, err, first)
	t.Logf("playground up: ready after %s", time.Since(start).Round(100*time.Millisecond))
	kubeconfig := filepath.Join(dir, "kubeconfig")
	rel, err := filepath.Rel(tools.Root, kubeconfig)
	require.NoError(t, err)
	assert.Contains(t, first, "export KUBECONFIG=$PWD/"+rel+"\n", "the instructions name the kubeconfig")
	pids := playgroundPIDs(t, dir)
	require.NotEmpty(t, pids)

	start = time.Now()
	second, err := playground("up")
	require.NoError(t, err, second)
	t.Logf("second playground up: %s", time.Since(start).Round(10*time.Millisecond))
	assert.Contains(t, second, "already running")
	assert.Equal(t, instructions(first), instructions(second), "the second up prints the same instructions")
	assert.ElementsMatch(t, pids, playgroundPIDs(t, dir), "the second up started nothing")

	kubectl := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, tools.Path("kubectl"), args...)
		cmd.Dir = tools.Root
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "kubectl %s: %s", strings.Join(args, " "), out)
		return string(out)
	}
	t.Log(strings.TrimSpace(kubectl("apply", "-f", "examples/claim.yaml")))
	synced, ready := waitForClaim(t, ctx, kubeconfig)
	t.Logf("claim applied -> Synced after %s, Ready after %s", synced.Round(10*time.Millisecond), ready.Round(10*time.Millisecond))
	got := kubectl("get", "jitsi", "jitsi-sample", "-n", sampleNamespace)
	t.Logf("kubectl get jitsi jitsi-sample -n %s:\n%s", sampleNamespace, got)
	require.Len(t, strings.Split(strings.TrimSpace(got), "\n"), 2, "a header and the claim")
	assert.Regexp(t, `(?m)^jitsi-sample\s.*\bTrue\s+True\b`, got, "Synced and Ready")

	participants, err := playground("participants", "--conference", "seminar", "--count", "5")
	require.NoError(t, err, participants)
	t.Log(strings.TrimSpace(participants))
	assert.Regexp(t, `"seminar": 5 participants on jitsi-sample-jvb-\S+ \(5\)`, participants, "jicofo put them on the emulated bridge")

	start = time.Now()
	out, err := playground("down")
	require.NoError(t, err, out)
	t.Logf("playground down: %s in %s", strings.TrimSpace(out), time.Since(start).Round(10*time.Millisecond))
	assert.NoDirExists(t, dir)
	// kill(pid, 0) fails for every process it ran: the playground's own processes were reaped
	// by it, and it by init.
	require.NoError(t, harness.Poll(ctx, 10*time.Second, func() (bool, error) { return len(harness.Alive(pids)) == 0, nil }),
		"processes still alive after down: %v", harness.Alive(pids))
}

// playgroundPIDs are the PIDs in the PID files of the playground's state directory: the
// playground's and those of every process it runs.
func playgroundPIDs(t *testing.T, dir string) []int {
	t.Helper()
	var pids []int
	require.NoError(t, filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".pid") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var pid int
		if _, err := fmt.Sscan(string(b), &pid); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		pids = append(pids, pid)
		return nil
	}))
	return pids
}

// instructions is what up prints from "Try it:" on.
func instructions(out string) string {
	_, after, _ := strings.Cut(out, "Try it:")
	return after
}

// waitForClaim waits until the sample claim is Synced and Ready, and returns how long each
// took from now.
func waitForClaim(t *testing.T, ctx context.Context, kubeconfig string) (synced, ready time.Duration) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	require.NoError(t, err)
	client, err := harness.NewApplier(cfg, "e2e")
	require.NoError(t, err)
	start := time.Now()
	conditions := "the claim does not exist"
	err = harness.Poll(ctx, 3*time.Minute, func() (bool, error) {
		claim, err := client.Get(ctx, "apps.jit.si/v1alpha1", "Jitsi", sampleNamespace, "jitsi-sample")
		if err != nil {
			conditions = err.Error()
			return false, nil
		}
		conditions = harness.DescribeConditions(claim)
		if synced == 0 && harness.ConditionStatus(claim, "Synced") == "True" {
			synced = time.Since(start)
		}
		if ready == 0 && harness.ConditionStatus(claim, "Ready") == "True" {
			ready = time.Since(start)
		}
		return synced > 0 && ready > 0, nil
	})
	require.NoError(t, err, "the claim never became Synced and Ready: %s", conditions)
	return synced, ready
}
