package harness

import (
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Ports handed to one suite are never handed to another, and none comes from the range the
// kernel gives outgoing connections, where any client could take it before the component binds.
func TestFreePortsAreDistinctAndOutsideTheEphemeralRange(t *testing.T) {
	low, high := belowEphemeralRange()
	first, err := freePorts(40)
	require.NoError(t, err)
	second, err := freePorts(40)
	require.NoError(t, err)
	seen := map[int]bool{}
	for _, port := range append(first, second...) {
		assert.False(t, seen[port], "port %d handed out twice", port)
		seen[port] = true
		assert.GreaterOrEqual(t, port, low)
		assert.LessOrEqual(t, port, high, "port %d is in the ephemeral range", port)
	}
	assert.Len(t, seen, 80)
}

// A port another process (here: this test) is listening on is never handed out.
func TestFreePortsSkipsPortsInUse(t *testing.T) {
	// A range of 100 of which this test holds every port it can bind at an even number: a
	// pick that ignored the listen check would land on one about half the time.
	low, _ := belowEphemeralRange()
	low -= low % 2
	high := low + 99
	busy := map[int]bool{}
	for port := low; port <= high; port += 2 {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // another process holds it: busy too, and not ours to mark
		}
		t.Cleanup(func() { _ = l.Close() })
		busy[port] = true
	}
	require.Greater(t, len(busy), 40, "the test needs most even ports of %d-%d", low, high)
	ports, err := freePortsIn(20, low, high)
	require.NoError(t, err)
	for _, port := range ports {
		assert.False(t, busy[port], "port %d is held by a listener", port)
		assert.True(t, port >= low && port <= high, "port %d outside %d-%d", port, low, high)
	}
}
