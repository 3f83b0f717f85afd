// Command function-jitsi is a Crossplane composition function that turns a Jitsi claim into
// a complete, autoscaling Jitsi Meet.
package main

import (
	"time"

	// The function checks spec.timezone against the time zone database; embed it so that
	// the check works in an image without /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/alecthomas/kong"
	"github.com/crossplane/function-sdk-go"
)

// CLI are the flags of function-template-go, so the function runs like every other
// Crossplane function.
type CLI struct {
	Debug bool `help:"Emit debug logs in addition to info logs." short:"d"`

	Network            string `default:"tcp"   help:"Network on which to listen for gRPC connections."`
	Address            string `default:":9443" help:"Address at which to listen for gRPC connections."`
	TLSCertsDir        string `name:"tls-server-certs-dir" aliases:"tls-certs-dir" env:"TLS_SERVER_CERTS_DIR" help:"Directory containing server certs (tls.key, tls.crt) and the CA used to verify client certificates (ca.crt)."`
	Insecure           bool   `help:"Run without mTLS credentials. If you supply this flag --tls-certs-dir will be ignored."`
	MaxRecvMessageSize int    `default:"4" help:"Maximum size of received messages in MB."`
	MetricsAddress     string `default:":8080" help:"Address of the Prometheus metrics server. Empty disables it."`
}

// Run starts the function's gRPC server.
func (c *CLI) Run() error {
	log, err := function.NewLogger(c.Debug)
	if err != nil {
		return err
	}
	// Compile the schema's CEL rules once, before the first request, and refuse to start
	// with a broken one.
	start := time.Now()
	if _, err := jitsiSchema(); err != nil {
		return err
	}
	log.Debug("Compiled the Jitsi schema", "duration", time.Since(start).String())
	return function.Serve(NewFunction(log),
		function.Listen(c.Network, c.Address),
		function.MTLSCertificates(c.TLSCertsDir),
		function.Insecure(c.Insecure),
		function.MaxRecvMessageSize(c.MaxRecvMessageSize*1024*1024),
		function.WithMetricsServer(c.MetricsAddress),
	)
}

func main() {
	ctx := kong.Parse(&CLI{}, kong.Description("A Crossplane composition function that composes Jitsi Meet."))
	ctx.FatalIfErrorf(ctx.Run())
}
