package main

import (
	"testing"

	"github.com/alecthomas/kong"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func parseFlags(t *testing.T, args ...string) *CLI {
	t.Helper()
	cli := &CLI{}
	parser, err := kong.New(cli)
	require.NoError(t, err)
	_, err = parser.Parse(args)
	require.NoError(t, err)
	return cli
}

// TestFlags: the function takes function-template-go's flags, so it runs like every other
// Crossplane function.
func TestFlags(t *testing.T) {
	cli := parseFlags(t)
	assert.Equal(t, ":9443", cli.Address)
	assert.Equal(t, "tcp", cli.Network)
	assert.False(t, cli.Insecure)
	assert.Equal(t, 4, cli.MaxRecvMessageSize)

	cli = parseFlags(t, "--insecure", "--debug", "--address=127.0.0.1:9444", "--tls-server-certs-dir=/tls", "--metrics-address=")
	assert.True(t, cli.Insecure)
	assert.True(t, cli.Debug)
	assert.Equal(t, "127.0.0.1:9444", cli.Address)
	assert.Equal(t, "/tls", cli.TLSCertsDir)
	assert.Empty(t, cli.MetricsAddress)

	assert.Equal(t, "/certs", parseFlags(t, "--tls-certs-dir=/certs").TLSCertsDir, "function-template-go's older spelling")
	t.Setenv("TLS_SERVER_CERTS_DIR", "/from-env")
	assert.Equal(t, "/from-env", parseFlags(t).TLSCertsDir, "Crossplane sets the directory through the environment")
}
