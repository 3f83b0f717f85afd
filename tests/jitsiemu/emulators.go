package jitsiemu

import (
	"context"
	"errors"

	"k8s.io/client-go/kubernetes"
)

// EmulatorsOptions configure StartEmulators.
type EmulatorsOptions struct {
	Client kubernetes.Interface
	// Namespace limits the bridges and the kubelet double to one namespace; empty watches all.
	Namespace string
	// Region is jicofo's local region (JICOFO_OCTO_REGION, the claim's spec.region).
	Region string
	// Bridge is the template of every bridge (FleetOptions.Bridge); its Logf defaults to Logf.
	Bridge BridgeConfig
	// KubeletEnv is added to every preStop hook's environment (KubeletOptions.Env).
	KubeletEnv []string
	// Logf reports bridges, hooks and jicofo's moves.
	Logf func(format string, args ...any)
}

// Emulators are the doubles that carry participants: a bridge on each videobridge pod (Fleet),
// the kubelet's preStop step (Kubelet, which needs a cluster started with
// harness.Options.HoldTerminatingBridges), and jicofo placing participants on the bridges
// that announce themselves in the Brewery, all on one Network.
type Emulators struct {
	Network *Network
	Brewery *Brewery
	Fleet   *Fleet
	Kubelet *Kubelet
	Jicofo  *Jicofo
}

// StartEmulators starts the fleet and the kubelet double and makes jicofo. Close stops them.
func StartEmulators(ctx context.Context, opts EmulatorsOptions) (*Emulators, error) {
	if opts.Client == nil {
		return nil, errors.New("EmulatorsOptions.Client: must be set")
	}
	if opts.Bridge.Logf == nil {
		opts.Bridge.Logf = opts.Logf
	}
	e := &Emulators{Brewery: NewBrewery(), Network: NewNetwork()}
	var err error
	e.Fleet, err = StartFleet(ctx, FleetOptions{Client: opts.Client, Namespace: opts.Namespace,
		Brewery: e.Brewery, Network: e.Network, Bridge: opts.Bridge, Logf: opts.Logf})
	if err != nil {
		return nil, err
	}
	e.Kubelet, err = StartKubelet(ctx, KubeletOptions{Client: opts.Client, Namespace: opts.Namespace,
		Network: e.Network, Env: opts.KubeletEnv, Logf: opts.Logf})
	if err != nil {
		e.Fleet.Close()
		return nil, err
	}
	e.Jicofo = NewJicofo(e.Brewery, JicofoConfig{LocalRegion: opts.Region, Logf: opts.Logf})
	return e, nil
}

// Close stops the kubelet double, then the fleet: hooks end while their bridges still answer.
func (e *Emulators) Close() {
	e.Kubelet.Close()
	e.Fleet.Close()
}
