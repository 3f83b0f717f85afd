// Package externalgrpc holds the generated Go code of the cluster-autoscaler externalgrpc
// protocol, from externalgrpc.proto. Regenerate with `make generate-proto`.
package externalgrpc

//go:generate ../../hack/protoc.sh
