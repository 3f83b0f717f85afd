// Package v1alpha1 holds the Jitsi API: the XJitsi composite resource and its Jitsi claim.
//
// These Go types are the source of truth. The Crossplane CompositeResourceDefinition in
// package/configuration/xrd.yaml is generated from them (`make generate`), and a test fails
// when the committed file drifts from the types.
//
// +groupName=apps.jit.si
// +versionName=v1alpha1
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group, version and kinds of the Jitsi API.
const (
	Group           = "apps.jit.si"
	Version         = "v1alpha1"
	CompositeKind   = "XJitsi"
	CompositePlural = "xjitsis"
	ClaimKind       = "Jitsi"
	ClaimPlural     = "jitsis"
)

// SchemeGroupVersion is the group and version of this API.
var SchemeGroupVersion = schema.GroupVersion{Group: Group, Version: Version}
