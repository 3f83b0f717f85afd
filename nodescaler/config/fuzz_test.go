package config

import "testing"

// FuzzParse: any file is either a valid config or an error, never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(validConfig))
	f.Add([]byte("nodeGroups: [{id: a, maxSize: 1, template: {capacity: {cpu: 1, memory: 1, pods: 1}}, driver: {crossplane: {spec: null}}}]"))
	f.Add([]byte("nodeGroups: [{scaleDown: {unneededTime: 1x}}]"))
	f.Fuzz(func(t *testing.T, body []byte) {
		cfg, err := Parse(body)
		if err == nil && len(cfg.NodeGroups) == 0 {
			t.Fatalf("Parse accepted a config without groups: %q", body)
		}
	})
}
