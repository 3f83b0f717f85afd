package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/resource"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// imageEnv is fn/testdata/images/<tag>/env.yaml: the environment variables each
// docker-jitsi-meet image reads at that tag, extracted by hack/envvars (docs/images.md says how
// to refresh it when the default tag moves).
type imageEnv struct {
	Source struct {
		Repository, Tag, Commit string
	} `json:"source"`
	Components map[string]map[string]struct {
		Files    []string `json:"files"`
		Required bool     `json:"required"`
		Reason   string   `json:"reason"`
	} `json:"components"`
}

// readByTheProcess are names no template reads but the container does: TZ by glibc and the
// JVM; NODE_NAME by the bridge's own public address lookup (jvbaddress.go), which runs before
// the image's entrypoint.
var readByTheProcess = map[string]map[string]string{
	componentProsody: {envTZ: "glibc"},
	componentJicofo:  {envTZ: "the JVM"},
	componentWeb:     {envTZ: "glibc"},
	componentJVB:     {envTZ: "the JVM", "NODE_NAME": "nodeExternalIPLookup"},
	componentJibri:   {envTZ: "the JVM and Chrome"},
}

// defaultImageTag is the tag the schema defaults to: the images the composition is written for.
func defaultImageTag(t *testing.T) string {
	t.Helper()
	schema, err := jitsiSchema()
	require.NoError(t, err)
	spec := map[string]any{"domain": "meet.example.org"}
	require.Empty(t, schema.Admit(context.Background(), field.NewPath("spec"), spec))
	return spec["image"].(map[string]any)["tag"].(string)
}

func loadImageEnv(t *testing.T, tag string) imageEnv {
	t.Helper()
	path := filepath.Join("testdata", "images", tag, "env.yaml")
	b, err := os.ReadFile(path)
	require.NoError(t, err, "no env var list for the default image tag %s: extract one with hack/envvars (docs/images.md)", tag)
	var env imageEnv
	require.NoError(t, yaml.Unmarshal(b, &env))
	require.Equal(t, tag, env.Source.Tag, "%s describes another tag", path)
	return env
}

// composedEnv collects, per component, the names of the environment variables the function
// sets, over specs that between them turn every option on.
func composedEnv(t *testing.T) map[string]map[string]bool {
	t.Helper()
	variants := map[string]map[string]any{
		"sample":         sampleSpec(),
		"static, STUN":   {"jvb": map[string]any{"strategy": map[string]any{"type": "static"}, "publicAddress": map[string]any{"source": "STUN"}, "stunServers": []any{"stun.example.org:3478"}}},
		"internal IP":    {"jvb": map[string]any{"publicAddress": map[string]any{"source": "NodeInternalIP"}}},
		"static address": {"jvb": map[string]any{"strategy": map[string]any{"type": "static"}, "publicAddress": map[string]any{"source": "Static", "ips": []any{"203.0.113.7"}}}},
		"turn":           {"turn": map[string]any{"host": "turn.example.org", "secretRef": map[string]any{"name": "turn"}}},
		"finalize":       {"jibri": map[string]any{"enabled": true, "recordings": map[string]any{"finalizeScript": map[string]any{"configMapName": "upload"}}}},
		"no jibri":       {"jibri": map[string]any{"enabled": false}},
	}
	out := map[string]map[string]bool{}
	for name, overrides := range variants {
		spec := sampleSpec()
		for k, v := range overrides {
			spec[k] = v
		}
		rsp := mustCompose(t, claimXR(spec), nil)
		for component, c := range containersByComponent(t, rsp) {
			if out[component] == nil {
				out[component] = map[string]bool{}
			}
			for _, e := range c.Env {
				out[component][e.Name] = true
			}
		}
		t.Logf("%s: composed", name)
	}
	return out
}

func containersByComponent(t *testing.T, rsp *fnv1.RunFunctionResponse) map[string]corev1.Container {
	t.Helper()
	out := map[string]corev1.Container{}
	for name, component := range map[resource.Name]string{
		resourceProsody: componentProsody, resourceJicofo: componentJicofo, resourceWeb: componentWeb, resourceJVB: componentJVB,
	} {
		out[component] = container(t, desired[appsv1.Deployment](t, rsp, name))
	}
	if _, ok := rsp.GetDesired().GetResources()[string(resourceJibri)]; ok {
		out[componentJibri] = jibriContainer(t, rsp)
	}
	return out
}

// TestEnvMatchesTheImages is the guard against the next image bump: every environment
// variable the function sets must be one the component's image reads at the default tag, and
// every variable the image needs must be set.
func TestEnvMatchesTheImages(t *testing.T) {
	tag := defaultImageTag(t)
	images := loadImageEnv(t, tag)
	composed := composedEnv(t)
	sample := containersByComponent(t, mustCompose(t, claimXR(sampleSpec()), nil))

	for _, component := range []string{componentProsody, componentJicofo, componentWeb, componentJVB, componentJibri} {
		t.Run(component, func(t *testing.T) {
			read, ok := images.Components[component]
			require.True(t, ok, "env.yaml has no %s", component)
			var unread []string
			for name := range composed[component] {
				if _, ok := read[name]; ok {
					continue
				}
				if _, ok := readByTheProcess[component][name]; ok {
					continue
				}
				unread = append(unread, name)
			}
			sort.Strings(unread)
			assert.Empty(t, unread, "%s sets variables no file of the %s image at %s reads", component, component, tag)

			var missing []string
			for name, v := range read {
				if v.Required && !slices.ContainsFunc(sample[component].Env, func(e corev1.EnvVar) bool { return e.Name == name }) {
					missing = append(missing, fmt.Sprintf("%s (%s)", name, v.Reason))
				}
			}
			sort.Strings(missing)
			assert.Empty(t, missing, "the sample's %s lacks variables its image needs", component)
		})
	}
}
