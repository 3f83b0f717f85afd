// Package configuration holds the Configuration package's files. It embeds the generated XRD
// so that function-jitsi defaults and validates a spec with the very schema the API server
// applies to claims: one source for the claim's rules.
package configuration

import _ "embed"

// XRD is package/configuration/xrd.yaml, generated from apis/v1alpha1 (make generate).
//
//go:embed xrd.yaml
var XRD []byte
