// Package speccases holds Jitsi specs that break one rule each. The XRD schema test and the
// function test both run them, so the schema and the function are held to the same rules.
package speccases

import (
	"encoding/json"
	"maps"
)

// Case is a spec that breaks one rule.
type Case struct {
	Name string
	// Spec is the sample claim's spec with Override merged into it: a nil value deletes the
	// field, a map merges into the map beneath.
	Override map[string]any
	// Field is the field the error names.
	Field string
	// Rule is a part of the message: what the field must be.
	Rule string
	// BeyondSchema marks a rule the XRD's schema cannot express: the API server accepts the
	// spec, and only the function refuses it.
	BeyondSchema bool
}

// Spec returns the sample spec with the case's override.
func (c Case) Spec() map[string]any {
	return merge(Sample(), c.Override)
}

// Sample is the spec of the 2021 operator's sample claim.
func Sample() map[string]any {
	return map[string]any{
		"domain":   "hack.liiib.re",
		"region":   "europe",
		"timezone": "Europe/Paris",
		"jvb":      map[string]any{"strategy": map[string]any{"type": "autoscaled"}},
		"jibri":    map[string]any{"enabled": true},
	}
}

// SampleJSON is Sample as JSON.
func SampleJSON() []byte {
	b, _ := json.Marshal(Sample())
	return b
}

func merge(dst, src map[string]any) map[string]any {
	out := maps.Clone(dst)
	for k, v := range src {
		if v == nil {
			delete(out, k)
			continue
		}
		sub, isMap := v.(map[string]any)
		existing, hasMap := out[k].(map[string]any)
		if isMap && hasMap {
			out[k] = merge(existing, sub)
			continue
		}
		out[k] = v
	}
	return out
}

func jvb(m map[string]any) map[string]any      { return map[string]any{"jvb": m} }
func strategy(m map[string]any) map[string]any { return jvb(map[string]any{"strategy": m}) }
func image(m map[string]any) map[string]any    { return map[string]any{"image": m} }
func address(m map[string]any) map[string]any  { return jvb(map[string]any{"publicAddress": m}) }
func recordings(m map[string]any) map[string]any {
	return map[string]any{"jibri": map[string]any{"recordings": m}}
}
func networkPolicy(m map[string]any) map[string]any { return map[string]any{"networkPolicy": m} }
func schedule(windows ...map[string]any) map[string]any {
	w := make([]any, len(windows))
	for i, x := range windows {
		w[i] = x
	}
	return map[string]any{"windows": w}
}
func window(day, from, to string, minReplicas int) map[string]any {
	return map[string]any{"days": []any{day}, "from": from, "to": to, "minReplicas": minReplicas}
}

// Invalid returns one case per rule.
func Invalid() []Case {
	return []Case{
		{Name: "domain missing", Override: map[string]any{"domain": nil}, Field: "spec.domain", Rule: "Required value"},
		{Name: "domain with upper case", Override: map[string]any{"domain": "Meet.Example.org"}, Field: "spec.domain", Rule: "should match"},
		{Name: "domain without a dot", Override: map[string]any{"domain": "localhost"}, Field: "spec.domain", Rule: "should match"},
		{Name: "domain label over 63 characters", Override: map[string]any{"domain": "a234567890123456789012345678901234567890123456789012345678901234.example.org"},
			Field: "spec.domain", Rule: "labels are at most 63 characters"},
		{Name: "region with upper case", Override: map[string]any{"region": "Europe"}, Field: "spec.region", Rule: "should match"},
		{Name: "region empty", Override: map[string]any{"region": ""}, Field: "spec.region", Rule: "at least 1 chars long"},
		{Name: "timezone malformed", Override: map[string]any{"timezone": "Paris, France"}, Field: "spec.timezone", Rule: "should match"},
		{Name: "timezone unknown", Override: map[string]any{"timezone": "Europe/Atlantis"}, Field: "spec.timezone",
			Rule: "not in the time zone database", BeyondSchema: true},
		{Name: "cluster domain with upper case", Override: map[string]any{"clusterDomain": "Cluster.Local"}, Field: "spec.clusterDomain", Rule: "should match"},
		{Name: "image registry empty", Override: image(map[string]any{"registry": ""}), Field: "spec.image.registry", Rule: "at least 1 chars long"},
		{Name: "image tag empty", Override: image(map[string]any{"tag": ""}), Field: "spec.image.tag", Rule: "at least 1 chars long"},
		{Name: "image tag with a slash", Override: image(map[string]any{"tag": "stable/11146"}), Field: "spec.image.tag", Rule: "should match"},
		{Name: "image tag before rootless", Override: image(map[string]any{"tag": "stable-10590"}), Field: "spec.image.tag",
			Rule: "must be stable-11146 or newer"},
		{Name: "image tag before rootless, patch release", Override: image(map[string]any{"tag": "stable-9584-1"}), Field: "spec.image.tag",
			Rule: "must be stable-11146 or newer"},
		{Name: "unstable tag before rootless", Override: image(map[string]any{"tag": "unstable-2026-05-04"}), Field: "spec.image.tag",
			Rule: "must be an unstable tag from"},
		{Name: "pull policy unknown", Override: image(map[string]any{"pullPolicy": "Sometimes"}), Field: "spec.image.pullPolicy", Rule: "Unsupported value"},
		{Name: "web replicas zero", Override: map[string]any{"web": map[string]any{"replicas": 0}}, Field: "spec.web.replicas",
			Rule: "should be greater than or equal to 1"},
		{Name: "strategy type unknown", Override: strategy(map[string]any{"type": "daemonset"}), Field: "spec.jvb.strategy.type", Rule: "Unsupported value"},
		{Name: "static replicas zero", Override: strategy(map[string]any{"type": "static", "replicas": 0}), Field: "spec.jvb.strategy.replicas",
			Rule: "should be greater than or equal to 1"},
		{Name: "min replicas zero", Override: strategy(map[string]any{"minReplicas": 0}), Field: "spec.jvb.strategy.minReplicas",
			Rule: "should be greater than or equal to 1"},
		{Name: "min replicas above max replicas", Override: strategy(map[string]any{"minReplicas": 5, "maxReplicas": 3}),
			Field: "spec.jvb.strategy.minReplicas", Rule: "must be less than or equal to maxReplicas"},
		{Name: "replicas not a number", Override: strategy(map[string]any{"maxReplicas": "ten"}), Field: "spec.jvb.strategy.maxReplicas",
			Rule: "must be of type integer"},
		{Name: "target stress level zero", Override: jvb(map[string]any{"autoscaling": map[string]any{"targetStressLevel": 0}}),
			Field: "spec.jvb.autoscaling.targetStressLevel", Rule: "must be between 0.01 and 1"},
		{Name: "target stress level above one", Override: jvb(map[string]any{"autoscaling": map[string]any{"targetStressLevel": 1.5}}),
			Field: "spec.jvb.autoscaling.targetStressLevel", Rule: "should be less than or equal to 1"},
		{Name: "scale-down window over an hour", Override: jvb(map[string]any{"autoscaling": map[string]any{"scaleDownStabilizationSeconds": 7200}}),
			Field: "spec.jvb.autoscaling.scaleDownStabilizationSeconds", Rule: "should be less than or equal to 3600"},
		{Name: "scale-down window under a minute", Override: jvb(map[string]any{"autoscaling": map[string]any{"scaleDownStabilizationSeconds": 30}}),
			Field: "spec.jvb.autoscaling.scaleDownStabilizationSeconds", Rule: "should be greater than or equal to 60"},
		{Name: "udp port privileged", Override: jvb(map[string]any{"udpPort": 443}), Field: "spec.jvb.udpPort", Rule: "should be greater than or equal to 1024"},
		{Name: "public address source unknown", Override: address(map[string]any{"source": "NodeName"}), Field: "spec.jvb.publicAddress.source",
			Rule: "Unsupported value"},
		{Name: "static public address with the autoscaled strategy", Override: address(map[string]any{"source": "Static", "ips": []any{"203.0.113.7"}}),
			Field: "spec.jvb.publicAddress.source", Rule: "Static addresses cannot follow an autoscaled set of bridges"},
		{Name: "static public address without ips",
			Override: jvb(map[string]any{"strategy": map[string]any{"type": "static"}, "publicAddress": map[string]any{"source": "Static"}}),
			Field:    "spec.jvb.publicAddress.ips", Rule: "ips must be given with source Static, and only then"},
		{Name: "public address ips without Static", Override: address(map[string]any{"ips": []any{"203.0.113.7"}}),
			Field: "spec.jvb.publicAddress.ips", Rule: "ips must be given with source Static, and only then"},
		{Name: "public address not an IP",
			Override: jvb(map[string]any{"strategy": map[string]any{"type": "static"}, "publicAddress": map[string]any{"source": "Static", "ips": []any{"meet.example.org"}}}),
			Field:    "spec.jvb.publicAddress.ips[0]", Rule: "should match"},
		{Name: "public address with a bad port",
			Override: jvb(map[string]any{"strategy": map[string]any{"type": "static"}, "publicAddress": map[string]any{"source": "Static", "ips": []any{"203.0.113.7#99999"}}}),
			Field:    "spec.jvb.publicAddress.ips[0]", Rule: "must be an IP address, optionally followed by #port"},
		{Name: "public address dotted but not an IP",
			Override: jvb(map[string]any{"strategy": map[string]any{"type": "static"}, "publicAddress": map[string]any{"source": "Static", "ips": []any{"999.1.1.1"}}}),
			Field:    "spec.jvb.publicAddress.ips[0]", Rule: "must be an IP address, optionally followed by #port"},
		{Name: "schedule with the static strategy",
			Override: jvb(map[string]any{"strategy": map[string]any{"type": "static"}, "schedule": schedule(window("Mon", "08:00", "12:00", 2))}),
			Field:    "spec.jvb.schedule", Rule: "the static strategy has no autoscaler"},
		{Name: "schedule without windows", Override: jvb(map[string]any{"schedule": map[string]any{"windows": []any{}}}),
			Field: "spec.jvb.schedule.windows", Rule: "should have at least 1 items"},
		{Name: "schedule window day unknown", Override: jvb(map[string]any{"schedule": schedule(window("Monday", "08:00", "12:00", 2))}),
			Field: "spec.jvb.schedule.windows[0].days[0]", Rule: "Unsupported value"},
		{Name: "schedule window time not HH:MM", Override: jvb(map[string]any{"schedule": schedule(window("Mon", "8:00", "12:00", 2))}),
			Field: "spec.jvb.schedule.windows[0].from", Rule: "should match"},
		{Name: "schedule window of no length", Override: jvb(map[string]any{"schedule": schedule(window("Mon", "08:00", "12:00", 2), window("Tue", "09:00", "09:00", 2))}),
			Field: "spec.jvb.schedule.windows[1].to", Rule: "must differ from from"},
		{Name: "schedule window above maxReplicas",
			Override: jvb(map[string]any{"strategy": map[string]any{"maxReplicas": 8}, "schedule": schedule(window("Mon", "08:00", "12:00", 2), window("Tue", "08:00", "12:00", 9))}),
			Field:    "spec.jvb.schedule.windows[1].minReplicas", Rule: "must be between spec.jvb.strategy.minReplicas (1) and spec.jvb.strategy.maxReplicas (8)",
			BeyondSchema: true},
		{Name: "schedule lead time too long", Override: jvb(map[string]any{"schedule": map[string]any{"leadTime": "12h", "windows": []any{window("Mon", "08:00", "12:00", 2)}}}),
			Field: "spec.jvb.schedule.leadTime", Rule: "leadTime must be between 0s and 6h"},
		{Name: "headroom negative", Override: jvb(map[string]any{"headroom": map[string]any{"spareNodes": -1}}),
			Field: "spec.jvb.headroom.spareNodes", Rule: "should be greater than or equal to 0"},
		{Name: "stun server without a port", Override: jvb(map[string]any{"stunServers": []any{"stun.example.org"}}), Field: "spec.jvb.stunServers[0]",
			Rule: "should match"},
		{Name: "graceful shutdown too short", Override: jvb(map[string]any{"gracefulShutdown": map[string]any{"maxDuration": "30s"}}),
			Field: "spec.jvb.gracefulShutdown.maxDuration", Rule: "maxDuration must be between 1m and 24h"},
		{Name: "graceful shutdown not a duration", Override: jvb(map[string]any{"gracefulShutdown": map[string]any{"maxDuration": "one hour"}}),
			Field: "spec.jvb.gracefulShutdown.maxDuration", Rule: "should match"},
		{Name: "node selector key invalid", Override: jvb(map[string]any{"nodeSelector": map[string]any{"jitsi.org/role/x": "jvb"}}),
			Field: "spec.jvb.nodeSelector[jitsi.org/role/x]", Rule: "a valid label key", BeyondSchema: true},
		{Name: "toleration operator unknown", Override: jvb(map[string]any{"tolerations": []any{map[string]any{"key": "dedicated", "operator": "Maybe"}}}),
			Field: "spec.jvb.tolerations[0].operator", Rule: "Unsupported value", BeyondSchema: true},
		{Name: "resources not a quantity", Override: jvb(map[string]any{"resources": map[string]any{"requests": map[string]any{"cpu": "lots"}}}),
			Field: "spec.jvb.resources.requests.cpu", Rule: "should match"},
		{Name: "jibri replicas zero", Override: map[string]any{"jibri": map[string]any{"replicas": 0}}, Field: "spec.jibri.replicas",
			Rule: "should be greater than or equal to 1"},
		{Name: "jibri enabled not a boolean", Override: map[string]any{"jibri": map[string]any{"enabled": "yes"}}, Field: "spec.jibri.enabled",
			Rule: "must be of type boolean"},
		{Name: "recordings volume unknown", Override: recordings(map[string]any{"volume": "HostPath"}), Field: "spec.jibri.recordings.volume",
			Rule: "Unsupported value"},
		{Name: "recordings size not a quantity", Override: recordings(map[string]any{"size": "big"}), Field: "spec.jibri.recordings.size",
			Rule: "should match"},
		{Name: "recordings storage class empty", Override: recordings(map[string]any{"storageClassName": ""}), Field: "spec.jibri.recordings.storageClassName",
			Rule: "at least 1 chars long"},
		{Name: "finalize script without its ConfigMap", Override: recordings(map[string]any{"finalizeScript": map[string]any{"key": "upload.sh"}}),
			Field: "spec.jibri.recordings.finalizeScript.configMapName", Rule: "Required value"},
		{Name: "finalize script key with a slash", Override: recordings(map[string]any{"finalizeScript": map[string]any{"configMapName": "upload", "key": "a/b"}}),
			Field: "spec.jibri.recordings.finalizeScript.key", Rule: "should match"},
		{Name: "ingress class empty", Override: map[string]any{"ingress": map[string]any{"className": ""}}, Field: "spec.ingress.className",
			Rule: "at least 1 chars long"},
		{Name: "ingress annotation key invalid", Override: map[string]any{"ingress": map[string]any{"annotations": map[string]any{"bad key": "x"}}},
			Field: "spec.ingress.annotations[bad key]", Rule: "name part must consist of", BeyondSchema: true},
		{Name: "tls secret name invalid", Override: map[string]any{"ingress": map[string]any{"tls": map[string]any{"secretName": "My_Cert"}}},
			Field: "spec.ingress.tls.secretName", Rule: "should match"},
		{Name: "network policy peer without a selector", Override: networkPolicy(map[string]any{"ingressController": map[string]any{}}),
			Field: "spec.networkPolicy.ingressController", Rule: "give a namespaceSelector, a podSelector or both"},
		{Name: "network policy enabled not a boolean", Override: networkPolicy(map[string]any{"enabled": "no"}),
			Field: "spec.networkPolicy.enabled", Rule: "must be of type boolean"},
		{Name: "turn without host", Override: map[string]any{"turn": map[string]any{"secretRef": map[string]any{"name": "turn"}}},
			Field: "spec.turn.host", Rule: "Required value"},
		{Name: "turn without secret", Override: map[string]any{"turn": map[string]any{"host": "turn.example.org"}},
			Field: "spec.turn.secretRef", Rule: "Required value"},
		{Name: "turn port zero", Override: map[string]any{"turn": map[string]any{"host": "turn.example.org", "port": 0, "secretRef": map[string]any{"name": "turn"}}},
			Field: "spec.turn.port", Rule: "should be greater than or equal to 1"},
	}
}
