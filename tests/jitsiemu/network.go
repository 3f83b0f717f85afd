package jitsiemu

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
)

// Network stands for the pods' own network namespaces. In a cluster every pod has its own,
// so every bridge listens on port 8080 of its pod IP; here all emulated bridges share the
// host's, where a process listening on *:8080 takes port 8080 on every loopback address. So a
// bridge listens on its pod IP and port 8080 when it can, on its pod IP and a free port when
// not, and the Network routes the pod address (podIP:8080) to wherever the bridge listens.
// The metrics adapter dials through it and the kubelet double resolves the hook's URL with
// it, so both still address the pod as production does.
type Network struct {
	mu     sync.Mutex
	routes map[string]string
}

// NewNetwork makes an empty network.
func NewNetwork() *Network { return &Network{routes: map[string]string{}} }

// Listen listens on addr (podIP:port), or on the pod IP and a free port when another
// process holds the port, and routes addr there.
func (n *Network) Listen(addr string) (net.Listener, error) {
	lis, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		host, _, splitErr := net.SplitHostPort(addr)
		if splitErr != nil {
			return nil, err
		}
		lis, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
	}
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.routes[addr] = lis.Addr().String()
	return lis, nil
}

// Resolve returns where addr (podIP:port) listens: the routed address, or addr itself.
func (n *Network) Resolve(addr string) string {
	if n == nil {
		return addr
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if to, ok := n.routes[addr]; ok {
		return to
	}
	return addr
}

// DialContext dials the routed address of addr.
func (n *Network) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, n.Resolve(addr))
}
