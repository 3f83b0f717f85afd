// Package driver is the narrow interface between jitsi-nodescaler and whatever makes nodes:
// create some, delete these, list them. A driver keeps its state where the nodes live (the
// Kubernetes API, a cloud), never only in memory, so that a restarted node scaler finds every
// node it made and makes none twice.
package driver

import (
	"context"
	"errors"
)

// GroupLabel is the label every node (and every object a driver makes for a node) carries,
// with the id of its node group.
const GroupLabel = "nodescaler.jit.si/node-group"

// State is the life-cycle stage of an instance.
type State int

// Instance states, as cluster-autoscaler knows them.
const (
	StateCreating State = iota + 1
	StateRunning
	StateDeleting
)

func (s State) String() string {
	switch s {
	case StateCreating:
		return "creating"
	case StateRunning:
		return "running"
	case StateDeleting:
		return "deleting"
	}
	return "unknown"
}

// ErrorClass tells cluster-autoscaler how to react to a failed instance.
type ErrorClass int32

// Error classes, with cluster-autoscaler's numbers.
const (
	// OutOfResources (quota, no capacity) makes cluster-autoscaler back off this group and
	// try another one.
	OutOfResources ErrorClass = 1
	Other          ErrorClass = 99
)

// InstanceError is why an instance failed to come up.
type InstanceError struct {
	Code    string
	Message string
	Class   ErrorClass
}

// Instance is one node, or the thing that will become one.
type Instance struct {
	// ID is the node's spec.providerID, exactly as the kubelet writes it. Before the
	// providerID is known, a driver-specific placeholder that stays stable.
	ID string
	// Name is the Node's name, when the driver knows it.
	Name  string
	State State
	Error *InstanceError
}

// Driver makes and removes the nodes of a group.
type Driver interface {
	// Create starts count new instances of the group and returns them at once, without
	// waiting for them to boot.
	Create(ctx context.Context, group string, count int) ([]Instance, error)
	// Delete removes the instances with these IDs. IDs it does not know are ignored: they
	// may be gone already.
	Delete(ctx context.Context, group string, ids []string) error
	// List returns every instance of the group that exists, deleting ones included.
	List(ctx context.Context, group string) ([]Instance, error)
}

// ErrInvalidGroup is returned for a group the driver was not set up for.
var ErrInvalidGroup = errors.New("unknown node group")
