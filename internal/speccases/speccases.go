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
	// FunctionField is the field the function's error names.
	FunctionField string
	// FunctionRule is a part of the function's message: what the field must be.
	FunctionRule string
	// SchemaField is the field the API server's error names, or "" when the schema cannot
	// express the rule and only the function catches it.
	SchemaField string
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

// Invalid returns one case per rule.
func Invalid() []Case {
	return []Case{
		{Name: "domain missing", Override: map[string]any{"domain": nil},
			FunctionField: "spec.domain", FunctionRule: "Required value", SchemaField: "spec.domain"},
		{Name: "domain with upper case", Override: map[string]any{"domain": "Meet.Example.org"},
			FunctionField: "spec.domain", FunctionRule: "must be a DNS name", SchemaField: "spec.domain"},
		{Name: "domain without a dot", Override: map[string]any{"domain": "localhost"},
			FunctionField: "spec.domain", FunctionRule: "must be a DNS name", SchemaField: "spec.domain"},
		{Name: "domain label over 63 characters", Override: map[string]any{"domain": "a234567890123456789012345678901234567890123456789012345678901234.example.org"},
			FunctionField: "spec.domain", FunctionRule: "each at most 63 characters", SchemaField: "spec.domain"},
		{Name: "region with upper case", Override: map[string]any{"region": "Europe"},
			FunctionField: "spec.region", FunctionRule: "lower case letters", SchemaField: "spec.region"},
		{Name: "region empty", Override: map[string]any{"region": ""},
			FunctionField: "spec.region", FunctionRule: "lower case letters", SchemaField: "spec.region"},
		{Name: "timezone malformed", Override: map[string]any{"timezone": "Paris, France"},
			FunctionField: "spec.timezone", FunctionRule: "IANA time zone", SchemaField: "spec.timezone"},
		{Name: "timezone unknown", Override: map[string]any{"timezone": "Europe/Atlantis"},
			FunctionField: "spec.timezone", FunctionRule: "not in the time zone database"},
		{Name: "image registry empty", Override: map[string]any{"image": map[string]any{"registry": ""}},
			FunctionField: "spec.image.registry", FunctionRule: "must not be empty", SchemaField: "spec.image.registry"},
		{Name: "image tag empty", Override: map[string]any{"image": map[string]any{"tag": ""}},
			FunctionField: "spec.image.tag", FunctionRule: "must not be empty", SchemaField: "spec.image.tag"},
		{Name: "image tag with a slash", Override: map[string]any{"image": map[string]any{"tag": "stable/11146"}},
			FunctionField: "spec.image.tag", FunctionRule: "must be an image tag", SchemaField: "spec.image.tag"},
		{Name: "pull policy unknown", Override: map[string]any{"image": map[string]any{"pullPolicy": "Sometimes"}},
			FunctionField: "spec.image.pullPolicy", FunctionRule: "Unsupported value", SchemaField: "spec.image.pullPolicy"},
		{Name: "web replicas zero", Override: map[string]any{"web": map[string]any{"replicas": 0}},
			FunctionField: "spec.web.replicas", FunctionRule: "must be between 1 and 100", SchemaField: "spec.web.replicas"},
		{Name: "strategy type unknown", Override: strategy(map[string]any{"type": "daemonset"}),
			FunctionField: "spec.jvb.strategy.type", FunctionRule: "Unsupported value", SchemaField: "spec.jvb.strategy.type"},
		{Name: "static replicas zero", Override: strategy(map[string]any{"type": "static", "replicas": 0}),
			FunctionField: "spec.jvb.strategy.replicas", FunctionRule: "must be between 1 and 1000", SchemaField: "spec.jvb.strategy.replicas"},
		{Name: "min replicas zero", Override: strategy(map[string]any{"minReplicas": 0}),
			FunctionField: "spec.jvb.strategy.minReplicas", FunctionRule: "must be between 1 and 1000", SchemaField: "spec.jvb.strategy.minReplicas"},
		{Name: "min replicas above max replicas", Override: strategy(map[string]any{"minReplicas": 5, "maxReplicas": 3}),
			FunctionField: "spec.jvb.strategy.minReplicas", FunctionRule: "must be less than or equal to spec.jvb.strategy.maxReplicas",
			SchemaField: "spec.jvb.strategy"},
		{Name: "replicas not a number", Override: strategy(map[string]any{"maxReplicas": "ten"}),
			FunctionField: "spec.jvb.strategy.maxReplicas", FunctionRule: "must be an integer", SchemaField: "spec.jvb.strategy.maxReplicas"},
		{Name: "target stress level zero", Override: jvb(map[string]any{"autoscaling": map[string]any{"targetStressLevel": 0}}),
			FunctionField: "spec.jvb.autoscaling.targetStressLevel", FunctionRule: "must be between 0.01 and 1", SchemaField: "spec.jvb.autoscaling.targetStressLevel"},
		{Name: "target stress level above one", Override: jvb(map[string]any{"autoscaling": map[string]any{"targetStressLevel": 1.5}}),
			FunctionField: "spec.jvb.autoscaling.targetStressLevel", FunctionRule: "must be between 0.01 and 1", SchemaField: "spec.jvb.autoscaling.targetStressLevel"},
		{Name: "scale-down window over an hour", Override: jvb(map[string]any{"autoscaling": map[string]any{"scaleDownStabilizationSeconds": 7200}}),
			FunctionField: "spec.jvb.autoscaling.scaleDownStabilizationSeconds", FunctionRule: "must be between 60 and 3600",
			SchemaField: "spec.jvb.autoscaling.scaleDownStabilizationSeconds"},
		{Name: "scale-down window under a minute", Override: jvb(map[string]any{"autoscaling": map[string]any{"scaleDownStabilizationSeconds": 30}}),
			FunctionField: "spec.jvb.autoscaling.scaleDownStabilizationSeconds", FunctionRule: "must be between 60 and 3600",
			SchemaField: "spec.jvb.autoscaling.scaleDownStabilizationSeconds"},
		{Name: "udp port privileged", Override: jvb(map[string]any{"udpPort": 443}),
			FunctionField: "spec.jvb.udpPort", FunctionRule: "must be between 1024 and 65535", SchemaField: "spec.jvb.udpPort"},
		{Name: "advertise IP not an address", Override: jvb(map[string]any{"advertiseIPs": []any{"meet.example.org"}}),
			FunctionField: "spec.jvb.advertiseIPs[0]", FunctionRule: "must be an IP address", SchemaField: "spec.jvb.advertiseIPs[0]"},
		{Name: "advertise IP with a bad port", Override: jvb(map[string]any{"advertiseIPs": []any{"203.0.113.7#99999"}}),
			FunctionField: "spec.jvb.advertiseIPs[0]", FunctionRule: "must be an IP address"},
		{Name: "stun server without a port", Override: jvb(map[string]any{"stunServers": []any{"stun.example.org"}}),
			FunctionField: "spec.jvb.stunServers[0]", FunctionRule: "must be host:port", SchemaField: "spec.jvb.stunServers[0]"},
		{Name: "graceful shutdown too short", Override: jvb(map[string]any{"gracefulShutdown": map[string]any{"maxDuration": "30s"}}),
			FunctionField: "spec.jvb.gracefulShutdown.maxDuration", FunctionRule: "must be between 1m and 24h",
			SchemaField: "spec.jvb.gracefulShutdown.maxDuration"},
		{Name: "graceful shutdown not a duration", Override: jvb(map[string]any{"gracefulShutdown": map[string]any{"maxDuration": "one hour"}}),
			FunctionField: "spec.jvb.gracefulShutdown.maxDuration", FunctionRule: "must be a duration",
			SchemaField: "spec.jvb.gracefulShutdown.maxDuration"},
		{Name: "node selector key invalid", Override: jvb(map[string]any{"nodeSelector": map[string]any{"jitsi.org/role/x": "jvb"}}),
			FunctionField: "spec.jvb.nodeSelector[jitsi.org/role/x]", FunctionRule: "a valid label key"},
		{Name: "toleration operator unknown", Override: jvb(map[string]any{"tolerations": []any{map[string]any{"key": "dedicated", "operator": "Maybe"}}}),
			FunctionField: "spec.jvb.tolerations[0].operator", FunctionRule: "Unsupported value"},
		{Name: "resources not a quantity", Override: jvb(map[string]any{"resources": map[string]any{"requests": map[string]any{"cpu": "lots"}}}),
			FunctionField: "spec.jvb.resources.requests[cpu]", FunctionRule: "must be a quantity", SchemaField: "spec.jvb.resources.requests.cpu"},
		{Name: "jibri replicas zero", Override: map[string]any{"jibri": map[string]any{"replicas": 0}},
			FunctionField: "spec.jibri.replicas", FunctionRule: "must be between 1 and 100", SchemaField: "spec.jibri.replicas"},
		{Name: "jibri enabled not a boolean", Override: map[string]any{"jibri": map[string]any{"enabled": "yes"}},
			FunctionField: "spec.jibri.enabled", FunctionRule: "must be a boolean", SchemaField: "spec.jibri.enabled"},
		{Name: "ingress class empty", Override: map[string]any{"ingress": map[string]any{"className": ""}},
			FunctionField: "spec.ingress.className", FunctionRule: "must not be empty", SchemaField: "spec.ingress.className"},
		{Name: "tls secret name invalid", Override: map[string]any{"ingress": map[string]any{"tls": map[string]any{"secretName": "My_Cert"}}},
			FunctionField: "spec.ingress.tls.secretName", FunctionRule: "RFC 1123 subdomain", SchemaField: "spec.ingress.tls.secretName"},
		{Name: "turn without host", Override: map[string]any{"turn": map[string]any{"secretRef": map[string]any{"name": "turn"}}},
			FunctionField: "spec.turn.host", FunctionRule: "Required value", SchemaField: "spec.turn.host"},
		{Name: "turn without secret", Override: map[string]any{"turn": map[string]any{"host": "turn.example.org"}},
			FunctionField: "spec.turn.secretRef.name", FunctionRule: "Required value", SchemaField: "spec.turn.secretRef"},
		{Name: "turn port zero", Override: map[string]any{"turn": map[string]any{"host": "turn.example.org", "port": 0, "secretRef": map[string]any{"name": "turn"}}},
			FunctionField: "spec.turn.port", FunctionRule: "must be between 1 and 65535", SchemaField: "spec.turn.port"},
	}
}
