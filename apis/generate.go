// Package apis holds the Jitsi API. Run `go generate ./apis` (or `make generate`) after
// changing the types in v1alpha1 to regenerate the XRD.
package apis

//go:generate go run ./xrdgen -out ../package/configuration/xrd.yaml
