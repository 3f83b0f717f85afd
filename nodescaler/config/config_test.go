package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

const validConfig = `
nodeGroups:
- id: jvb
  minSize: 0
  maxSize: 20
  template:
    labels:
      jitsi.org/role: jvb
    taints:
    - key: jitsi.org/role
      value: jvb
      effect: NoSchedule
    capacity: {cpu: "4", memory: 8Gi, pods: "110"}
  driver:
    kwok: {}
  scaleDown:
    unneededTime: 5m
    ignoreDaemonSetsUtilization: true
- id: jvb-cloud
  maxSize: 50
  template:
    capacity: {cpu: "8", memory: 16Gi, pods: "110"}
    allocatable: {cpu: 7800m, memory: 15Gi, pods: "110"}
  driver:
    crossplane:
      apiVersion: nodes.jit.si/v1alpha1
      kind: XJitsiNode
      spec:
        size: large
`

func TestParseValid(t *testing.T) {
	cfg, err := Parse([]byte(validConfig))
	require.NoError(t, err)
	require.Len(t, cfg.NodeGroups, 2)
	jvb := cfg.NodeGroups[0]
	assert.Equal(t, "jvb", jvb.ID)
	assert.Equal(t, resource.MustParse("4"), jvb.Template.Allocatable[corev1.ResourceCPU], "allocatable defaults to capacity")
	assert.Equal(t, 5*time.Minute, jvb.ScaleDown.UnneededTime.Duration)
	cp := cfg.NodeGroups[1].Driver.Crossplane
	require.NotNil(t, cp)
	assert.Equal(t, DefaultProviderIDFieldPath, cp.ProviderIDFieldPath)
	assert.Equal(t, DefaultOutOfResourcesPattern, cp.OutOfResourcesPattern)
	assert.Equal(t, "large", cp.Spec["size"])
}

func TestParseInvalid(t *testing.T) {
	cases := map[string]struct {
		yaml string
		want []string
	}{
		"NoGroups":     {yaml: "nodeGroups: []", want: []string{"nodeGroups: Required value"}},
		"UnknownField": {yaml: strings.Replace(validConfig, "maxSize: 20", "maxsize: 20", 1), want: []string{`unknown field "nodeGroups[0].maxsize"`}},
		"WrongType":    {yaml: strings.Replace(validConfig, "maxSize: 20", "maxSize: twenty", 1), want: []string{"maxSize"}},
		"MaxBelowMin":  {yaml: strings.Replace(validConfig, "minSize: 0", "minSize: 30", 1), want: []string{"nodeGroups[0].maxSize: Invalid value: 20: must be at least minSize (30)"}},
		"NegativeMin":  {yaml: strings.Replace(validConfig, "minSize: 0", "minSize: -1", 1), want: []string{"nodeGroups[0].minSize: Invalid value: -1: must be 0 or more"}},
		"BadID":        {yaml: strings.Replace(validConfig, "id: jvb\n", "id: JVB_Pool\n", 1), want: []string{`nodeGroups[0].id: Invalid value: "JVB_Pool": must be a DNS label`}},
		"DuplicateID":  {yaml: strings.Replace(validConfig, "id: jvb-cloud", "id: jvb", 1), want: []string{`nodeGroups[1].id: Duplicate value: "jvb"`}},
		"NoCapacity": {yaml: strings.Replace(validConfig, `capacity: {cpu: "4", memory: 8Gi, pods: "110"}`, `capacity: {cpu: "4"}`, 1),
			want: []string{"nodeGroups[0].template.capacity[memory]: Required value", "nodeGroups[0].template.capacity[pods]: Required value"}},
		"AllocatableAboveCapacity": {yaml: strings.Replace(validConfig, "allocatable: {cpu: 7800m", "allocatable: {cpu: 9", 1),
			want: []string{"nodeGroups[1].template.allocatable[cpu]: Invalid value: \"9\": must not exceed capacity (8)"}},
		"BadTaintEffect": {yaml: strings.Replace(validConfig, "effect: NoSchedule", "effect: Never", 1),
			want: []string{`nodeGroups[0].template.taints[0].effect: Unsupported value: "Never"`}},
		"BadLabel": {yaml: strings.Replace(validConfig, "jitsi.org/role: jvb", "jitsi.org/role: jvb pool", 1),
			want: []string{"nodeGroups[0].template.labels[jitsi.org/role]"}},
		"TwoDrivers": {yaml: strings.Replace(validConfig, "kwok: {}", "kwok: {}\n    crossplane: {apiVersion: a/v1, kind: K}", 1),
			want: []string{"nodeGroups[0].driver: Invalid value: \"2 drivers\": must set exactly one of kwok or crossplane"}},
		"NoDriver": {yaml: strings.Replace(validConfig, "kwok: {}", "{}", 1),
			want: []string{"nodeGroups[0].driver: Invalid value: \"0 drivers\""}},
		"CrossplaneWithoutKind": {yaml: strings.Replace(validConfig, "kind: XJitsiNode", "kind: \"\"", 1),
			want: []string{"nodeGroups[1].driver.crossplane.kind: Required value"}},
		"CrossplaneBadAPIVersion": {yaml: strings.Replace(validConfig, "apiVersion: nodes.jit.si/v1alpha1", "apiVersion: XJitsiNode", 1),
			want: []string{`nodeGroups[1].driver.crossplane.apiVersion: Invalid value: "XJitsiNode": must be group/version`}},
		"CrossplaneReservedSpec": {yaml: strings.Replace(validConfig, "size: large", "nodeGroup: mine", 1),
			want: []string{"nodeGroups[1].driver.crossplane.spec.nodeGroup: Forbidden"}},
		"CrossplaneBadPattern": {yaml: strings.Replace(validConfig, "kind: XJitsiNode", "kind: XJitsiNode\n      outOfResourcesPattern: \"quota(\"", 1),
			want: []string{"nodeGroups[1].driver.crossplane.outOfResourcesPattern"}},
		"ShortProvisionTime": {yaml: strings.Replace(validConfig, "unneededTime: 5m", "maxNodeProvisionTime: 10s", 1),
			want: []string{`nodeGroups[0].scaleDown.maxNodeProvisionTime: Invalid value: "10s": must be at least 1m`}},
		"ThresholdOverOne": {yaml: strings.Replace(validConfig, "unneededTime: 5m", "utilizationThreshold: 1.5", 1),
			want: []string{"nodeGroups[0].scaleDown.utilizationThreshold: Invalid value: 1.5: must be between 0 and 1"}},
		"NotYAML": {yaml: "nodeGroups: [", want: []string{"cannot decode"}},
		"NegativeBootDelay": {yaml: strings.Replace(validConfig, "kwok: {}", "kwok: {bootDelay: -1s}", 1),
			want: []string{`nodeGroups[0].driver.kwok.bootDelay: Invalid value: "-1s": must be a duration from 0 to 1h0m0s, such as 90s`}},
		"DayLongBootDelay": {yaml: strings.Replace(validConfig, "kwok: {}", "kwok: {bootDelay: 24h}", 1),
			want: []string{`nodeGroups[0].driver.kwok.bootDelay: Invalid value: "24h0m0s": must be a duration from 0 to 1h0m0s`}},
		"BootDelayNotADuration": {yaml: strings.Replace(validConfig, "kwok: {}", "kwok: {bootDelay: ninety}", 1),
			want: []string{"cannot decode", "ninety"}},
		"BadBootNamespace": {yaml: strings.Replace(validConfig, "kwok: {}", "kwok: {bootDelay: 90s, bootNamespace: Kube_System}", 1),
			want: []string{`nodeGroups[0].driver.kwok.bootNamespace: Invalid value: "Kube_System": must be a namespace name`}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			require.Error(t, err)
			for _, want := range tc.want {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}

func TestParseKwokBootDelay(t *testing.T) {
	cfg, err := Parse([]byte(strings.Replace(validConfig, "kwok: {}", "kwok: {bootDelay: 90s}", 1)))
	require.NoError(t, err)
	k := cfg.NodeGroups[0].Driver.Kwok
	require.NotNil(t, k.BootDelay)
	assert.Equal(t, 90*time.Second, k.BootDelay.Duration)
	assert.Equal(t, DefaultBootNamespace, k.BootNamespace, "booting instances are recorded in kube-system by default")

	cfg, err = Parse([]byte(validConfig))
	require.NoError(t, err)
	assert.Nil(t, cfg.NodeGroups[0].Driver.Kwok.BootDelay, "no delay unless asked: the Node at once")
}

func TestLoad(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"))
	require.ErrorContains(t, err, "cannot read the config file")

	path := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(path, []byte("nodeGroups: []"), 0o600))
	_, err = Load(path)
	require.ErrorContains(t, err, "invalid config file "+path+": nodeGroups: Required value")
}

// TestExampleConfigs: the configs shipped in examples/nodescaler are valid.
func TestExampleConfigs(t *testing.T) {
	files, err := filepath.Glob("../../examples/nodescaler/config-*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		_, err := Load(f)
		assert.NoError(t, err, f)
	}
}
