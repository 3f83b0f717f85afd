package jitsiemu

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Defaults of the emulated bridge, from jitsi-videobridge's jvb/src/main/resources/reference.conf
// at stable/jitsi-meet_11146 unless said otherwise.
const (
	// DefaultCapacity is how many local participants make a bridge's stress_level 1.0. It
	// follows jicofo's own load model: jicofo-selector/src/main/resources/reference.conf
	// (jicofo.bridge.average-participant-stress = 0.01) adds 0.01 of stress per participant,
	// so 100 participants are a full bridge; the bridge's reference.conf has the same figure
	// (videobridge.load-management.average-participant-stress = 0.01).
	DefaultCapacity = 100
	// DefaultGracefulShutdownMaxDuration is videobridge.shutdown.graceful-shutdown-max-duration.
	DefaultGracefulShutdownMaxDuration = 24 * time.Hour
	// DefaultShuttingDownDelay is videobridge.shutdown.shutting-down-delay.
	DefaultShuttingDownDelay = time.Minute
	// DefaultPresenceInterval is videobridge.stats.interval, which is also the interval of the
	// bridge's presence in the brewery MUC (apis.xmpp-client.presence-interval).
	DefaultPresenceInterval = 5 * time.Second
	// RESTPort is the port of the bridge's private HTTP server (/colibri, /about).
	RESTPort = 8080
)

// ShutdownState is the bridge's shutdown state machine
// (jvb/src/main/kotlin/org/jitsi/videobridge/shutdown/ShutdownState.kt).
type ShutdownState string

// The shutdown states.
const (
	StateRunning          ShutdownState = "RUNNING"
	StateGracefulShutdown ShutdownState = "GRACEFUL_SHUTDOWN"
	StateShuttingDown     ShutdownState = "SHUTTING_DOWN"
)

// Errors a bridge answers jicofo's allocation requests with.
var (
	// ErrGracefulShutdown is the colibri2 error with reason GRACEFUL_SHUTDOWN: a bridge in
	// graceful shutdown creates no conference (Videobridge.java, getOrCreateConference).
	ErrGracefulShutdown = errors.New("the bridge is in graceful shutdown and creates no conference")
	// ErrBridgeStopped: the process is gone; nothing answers.
	ErrBridgeStopped = errors.New("the bridge is not running")
)

// BridgeConfig is what a bridge reads from its configuration at start.
type BridgeConfig struct {
	// Name names the bridge in logs; the Fleet uses the pod name.
	Name string
	// Region is videobridge.relay.region (JVB_OCTO_REGION), reported as "region".
	Region string
	// RelayID is videobridge.relay.relay-id (JVB_OCTO_RELAY_ID), reported as "relay_id";
	// jicofo uses only bridges with one for relays. Defaults to Name.
	RelayID string
	// Version is reported as "version"; jicofo never mixes versions in one conference.
	Version string
	// Capacity is the number of local participants at stress_level 1.0 (DefaultCapacity).
	Capacity int
	// GracefulShutdownMaxDuration bounds the graceful shutdown (DefaultGracefulShutdownMaxDuration).
	GracefulShutdownMaxDuration time.Duration
	// GracefulShutdownMinParticipants: at or below it a bridge in graceful shutdown goes on
	// to SHUTTING_DOWN (default 0).
	GracefulShutdownMinParticipants int
	// ShuttingDownDelay is how long the process lives on in SHUTTING_DOWN (DefaultShuttingDownDelay).
	ShuttingDownDelay time.Duration
	// PresenceInterval is how often the bridge publishes its stats in the brewery
	// (DefaultPresenceInterval).
	PresenceInterval time.Duration
	// Clock is the bridge's time source (RealClock).
	Clock Clock
	// Logf, when set, reports state changes.
	Logf func(format string, args ...any)
}

func (c BridgeConfig) withDefaults() BridgeConfig {
	if c.RelayID == "" {
		c.RelayID = c.Name
	}
	if c.Version == "" {
		c.Version = "2.3.0-emulated"
	}
	if c.Capacity <= 0 {
		c.Capacity = DefaultCapacity
	}
	if c.GracefulShutdownMaxDuration <= 0 {
		c.GracefulShutdownMaxDuration = DefaultGracefulShutdownMaxDuration
	}
	if c.ShuttingDownDelay <= 0 {
		c.ShuttingDownDelay = DefaultShuttingDownDelay
	}
	if c.PresenceInterval <= 0 {
		c.PresenceInterval = DefaultPresenceInterval
	}
	if c.Clock == nil {
		c.Clock = RealClock{}
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c
}

// Bridge emulates one jitsi-videobridge process at stable/jitsi-meet_11146: its conferences
// and endpoints, its load, its graceful shutdown, and its private REST API.
//
// Load. A real bridge measures CPU (videobridge.load-management, load-measurement
// "cpu-usage") and divides by a threshold; here stress_level = local participants ÷
// Capacity, jicofo's own model of a participant's load (see DefaultCapacity). Above 1 the
// bridge is overloaded.
//
// Shutdown follows jvb/src/main/kotlin/org/jitsi/videobridge/shutdown/ShutdownManager.kt:
// POST /colibri/shutdown {"graceful-shutdown": true} moves RUNNING to GRACEFUL_SHUTDOWN, in
// which the bridge creates no conference (Videobridge.java getOrCreateConference) but its
// conferences go on and still take participants. When its local endpoints fall to
// GracefulShutdownMinParticipants, or GracefulShutdownMaxDuration has passed, it goes
// SHUTTING_DOWN; after ShuttingDownDelay the process exits. {"graceful-shutdown": false}
// goes SHUTTING_DOWN at once. Participants still on the bridge when it goes SHUTTING_DOWN
// are cut: jicofo moves them to another bridge (they reconnect); those still there when the
// process stops are cut too. Counters says how many.
//
// Not emulated: drain mode (/colibri/drain; "drain" is always false), health-check failures
// unless SetHealthy says so, /metrics, /about/version, the debug APIs.
type Bridge struct {
	cfg BridgeConfig

	mu          sync.Mutex
	state       ShutdownState
	stopped     bool
	healthy     bool
	healthError string
	conferences map[string]*bridgeConference
	counters    BridgeCounters
	timers      []Timer
	presence    Timer
	server      *http.Server
	addr        string
	brewery     *Brewery
	done        chan struct{}
}

type bridgeConference struct {
	local, relayed int
	// cut is set once the conference's participants were cut, so that they count once.
	cut bool
}

// BridgeCounters count what happened to a bridge's participants, and when its shutdown
// advanced (zero times: not yet).
type BridgeCounters struct {
	ConferencesCreated   int // total_conferences_created
	ConferencesCompleted int // total_conferences_completed
	EndpointsCreated     int // total_participants: local endpoints ever allocated
	// EndpointsOverCapacity counts local endpoints allocated that left the bridge above
	// capacity (stress_level > 1).
	EndpointsOverCapacity int
	// ConferencesCut and ParticipantsCut count the conferences, and their local participants,
	// that the bridge still served when it went SHUTTING_DOWN or stopped.
	ConferencesCut  int
	ParticipantsCut int

	ShutdownRequests    int
	GracefulShutdownAt  time.Time
	ShuttingDownAt      time.Time
	StoppedAt           time.Time
	StopReason          string
	MaxDurationExceeded bool
}

// NewBridge makes a bridge in state RUNNING. It serves nothing until Serve, and appears to
// jicofo once it joins a Brewery.
func NewBridge(cfg BridgeConfig) *Bridge {
	return &Bridge{
		cfg:         cfg.withDefaults(),
		state:       StateRunning,
		healthy:     true,
		conferences: map[string]*bridgeConference{},
		done:        make(chan struct{}),
	}
}

// Name is the bridge's name.
func (b *Bridge) Name() string { return b.cfg.Name }

// Config is the configuration the bridge started with.
func (b *Bridge) Config() BridgeConfig { return b.cfg }

// Serve starts the private REST API on addr (host:port) and returns once it listens.
func (b *Bridge) Serve(addr string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("bridge %s cannot listen on %s: %w", b.cfg.Name, addr, err)
	}
	return b.ServeListener(lis)
}

// ServeListener serves the private REST API on lis.
func (b *Bridge) ServeListener(lis net.Listener) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		_ = lis.Close()
		return ErrBridgeStopped
	}
	b.addr = lis.Addr().String()
	b.server = &http.Server{Handler: b.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func(s *http.Server) { _ = s.Serve(lis) }(b.server)
	return nil
}

// URL is the base URL of the REST API, empty before Serve.
func (b *Bridge) URL() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.addr == "" {
		return ""
	}
	return "http://" + b.addr
}

// Done is closed when the bridge process has stopped.
func (b *Bridge) Done() <-chan struct{} { return b.done }

// JoinBrewery makes the bridge publish its presence in brewery now and every
// PresenceInterval, as MucPublisher does, until it stops.
func (b *Bridge) JoinBrewery(brewery *Brewery) {
	b.mu.Lock()
	if b.stopped || b.brewery != nil {
		b.mu.Unlock()
		return
	}
	b.brewery = brewery
	b.mu.Unlock()
	b.publishPresence()
}

func (b *Bridge) publishPresence() {
	b.mu.Lock()
	if b.stopped || b.brewery == nil {
		b.mu.Unlock()
		return
	}
	brewery := b.brewery
	stats := b.statsLocked()
	b.presence = b.cfg.Clock.AfterFunc(b.cfg.PresenceInterval, b.publishPresence)
	b.mu.Unlock()
	brewery.presence(b, stats)
}

// AllocateEndpoint adds a local endpoint of conference, creating the conference on this
// bridge unless it exists: what jicofo's colibri2 conference-modify request does.
func (b *Bridge) AllocateEndpoint(conference string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return ErrBridgeStopped
	}
	c, ok := b.conferences[conference]
	if !ok {
		if b.state == StateGracefulShutdown {
			return ErrGracefulShutdown
		}
		c = &bridgeConference{}
		b.conferences[conference] = c
		b.counters.ConferencesCreated++
	}
	c.local++
	b.counters.EndpointsCreated++
	if b.localEndpointsLocked() > b.cfg.Capacity {
		b.counters.EndpointsOverCapacity++
	}
	return nil
}

// ExpireEndpoint removes a local endpoint of conference (a participant left or was moved).
func (b *Bridge) ExpireEndpoint(conference string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return ErrBridgeStopped
	}
	c, ok := b.conferences[conference]
	if !ok || c.local == 0 {
		return fmt.Errorf("bridge %s has no local endpoint in conference %q", b.cfg.Name, conference)
	}
	c.local--
	b.maybeShutdownLocked()
	return nil
}

// SetRelayedEndpoints sets how many endpoints of conference this bridge relays from the
// conference's other bridges (they count as octo_endpoints).
func (b *Bridge) SetRelayedEndpoints(conference string, n int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return ErrBridgeStopped
	}
	c, ok := b.conferences[conference]
	if !ok {
		return fmt.Errorf("bridge %s has no conference %q", b.cfg.Name, conference)
	}
	c.relayed = max(n, 0)
	return nil
}

// ExpireConference ends conference on this bridge with its endpoints and relays.
func (b *Bridge) ExpireConference(conference string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return
	}
	if _, ok := b.conferences[conference]; !ok {
		return
	}
	delete(b.conferences, conference)
	b.counters.ConferencesCompleted++
	b.maybeShutdownLocked()
}

// Shutdown is what POST /colibri/shutdown does (Videobridge.java shutdown).
func (b *Bridge) Shutdown(graceful bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return ErrBridgeStopped
	}
	b.counters.ShutdownRequests++
	if !graceful {
		b.changeToShuttingDownLocked("non-graceful shutdown requested")
		return nil
	}
	if b.state == StateRunning {
		b.state = StateGracefulShutdown
		b.counters.GracefulShutdownAt = b.cfg.Clock.Now()
		b.cfg.Logf("bridge %s: entered graceful shutdown, for up to %s", b.cfg.Name, b.cfg.GracefulShutdownMaxDuration)
		b.timers = append(b.timers, b.cfg.Clock.AfterFunc(b.cfg.GracefulShutdownMaxDuration, func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.state == StateGracefulShutdown && !b.stopped {
				b.counters.MaxDurationExceeded = true
				b.changeToShuttingDownLocked("graceful-shutdown-max-duration passed")
			}
		}))
	}
	b.maybeShutdownLocked()
	return nil
}

// maybeShutdownLocked is ShutdownManager.maybeShutdown with the current local endpoints.
func (b *Bridge) maybeShutdownLocked() {
	if b.state == StateGracefulShutdown && b.localEndpointsLocked() <= b.cfg.GracefulShutdownMinParticipants {
		b.changeToShuttingDownLocked(fmt.Sprintf("%d local participants left", b.localEndpointsLocked()))
	}
}

func (b *Bridge) changeToShuttingDownLocked(why string) {
	if b.state == StateShuttingDown {
		return
	}
	b.state = StateShuttingDown
	b.counters.ShuttingDownAt = b.cfg.Clock.Now()
	cutConfs, cutParts := b.cutLocked()
	b.cfg.Logf("bridge %s: SHUTTING_DOWN (%s); cut %d conferences, %d participants; exits in %s",
		b.cfg.Name, why, cutConfs, cutParts, b.cfg.ShuttingDownDelay)
	b.timers = append(b.timers, b.cfg.Clock.AfterFunc(b.cfg.ShuttingDownDelay, func() {
		b.Stop("the process exited after shutting-down-delay")
	}))
}

// cutLocked counts the participants still on the bridge as cut, once per conference.
func (b *Bridge) cutLocked() (conferences, participants int) {
	for _, c := range b.conferences {
		if c.local > 0 && !c.cut {
			c.cut = true
			conferences++
			participants += c.local
		}
	}
	b.counters.ConferencesCut += conferences
	b.counters.ParticipantsCut += participants
	return conferences, participants
}

// Stop ends the bridge process (SIGTERM, a crash, or its own exit): the REST API stops
// answering, the bridge leaves the brewery, and whoever is still on it is cut.
func (b *Bridge) Stop(reason string) {
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return
	}
	b.stopped = true
	b.counters.StoppedAt = b.cfg.Clock.Now()
	b.counters.StopReason = reason
	for _, t := range b.timers {
		t.Stop()
	}
	b.timers = nil
	if b.presence != nil {
		b.presence.Stop()
	}
	cutConfs, cutParts := b.cutLocked()
	server, brewery := b.server, b.brewery
	b.mu.Unlock()
	b.cfg.Logf("bridge %s: stopped (%s); cut %d conferences, %d participants", b.cfg.Name, reason, cutConfs, cutParts)
	if server != nil {
		_ = server.Close()
	}
	if brewery != nil {
		brewery.leave(b)
	}
	close(b.done)
}

// SetHealthy sets what /about/health and "healthy" report; message explains a failure.
func (b *Bridge) SetHealthy(healthy bool, message string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.healthy, b.healthError = healthy, message
}

// State is the shutdown state, and whether the process has stopped.
func (b *Bridge) State() (ShutdownState, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state, b.stopped
}

// Counters returns the bridge's counters.
func (b *Bridge) Counters() BridgeCounters {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.counters
}

// Stats is what GET /colibri/stats answers now.
func (b *Bridge) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.statsLocked()
}

func (b *Bridge) localEndpointsLocked() int {
	n := 0
	for _, c := range b.conferences {
		n += c.local
	}
	return n
}

// Stats are the fields of /colibri/stats this project reads, with their names and meaning
// at stable/jitsi-meet_11146 (jvb/src/main/kotlin/org/jitsi/videobridge/stats/
// VideobridgeStatisticsShim.kt, metrics/VideobridgePeriodicMetrics.kt). The real bridge
// refreshes the per-conference sums (participants, endpoints, octo_endpoints,
// largest_conference, octo_conferences) every videobridge.stats.interval (5 s); the emulator
// computes every field when asked.
type Stats struct {
	StressLevel              float64 `json:"stress_level"`
	AverageParticipantStress float64 `json:"average_participant_stress"`
	Conferences              int     `json:"conferences"`
	// Participants equals Endpoints (local and relayed); deprecated upstream.
	Participants      int `json:"participants"`
	Endpoints         int `json:"endpoints"`
	LocalEndpoints    int `json:"local_endpoints"`
	OctoEndpoints     int `json:"octo_endpoints"`
	OctoConferences   int `json:"octo_conferences"`
	LargestConference int `json:"largest_conference"`

	TotalConferencesCreated   int `json:"total_conferences_created"`
	TotalConferencesCompleted int `json:"total_conferences_completed"`
	TotalParticipants         int `json:"total_participants"`

	GracefulShutdown bool   `json:"graceful_shutdown"`
	ShuttingDown     bool   `json:"shutting_down"`
	Drain            bool   `json:"drain"`
	Healthy          bool   `json:"healthy"`
	Version          string `json:"version"`
	RelayID          string `json:"relay_id,omitempty"`
	Region           string `json:"region,omitempty"`
	Timestamp        string `json:"current_timestamp"`
}

func (b *Bridge) statsLocked() Stats {
	s := Stats{
		AverageParticipantStress:  1 / float64(b.cfg.Capacity),
		Conferences:               len(b.conferences),
		TotalConferencesCreated:   b.counters.ConferencesCreated,
		TotalConferencesCompleted: b.counters.ConferencesCompleted,
		TotalParticipants:         b.counters.EndpointsCreated,
		// VideobridgeMetrics.gracefulShutdown: set on entering GRACEFUL_SHUTDOWN, never reset;
		// a non-graceful shutdown sets only shutting_down.
		GracefulShutdown: !b.counters.GracefulShutdownAt.IsZero(),
		ShuttingDown:     b.state == StateShuttingDown,
		Healthy:          b.healthy,
		Version:          b.cfg.Version,
		RelayID:          b.cfg.RelayID,
		Region:           b.cfg.Region,
		Timestamp:        b.cfg.Clock.Now().UTC().Format("2006-01-02 15:04:05.000"),
	}
	for _, c := range b.conferences {
		size := c.local + c.relayed
		s.LocalEndpoints += c.local
		s.OctoEndpoints += c.relayed
		s.Endpoints += size
		s.LargestConference = max(s.LargestConference, size)
		if c.relayed > 0 {
			s.OctoConferences++
		}
	}
	s.Participants = s.Endpoints
	s.StressLevel = float64(s.LocalEndpoints) / float64(b.cfg.Capacity)
	return s
}

// Handler serves the bridge's private REST API:
//
//   - GET /colibri/stats: the Stats as JSON (Stats.java).
//   - POST /colibri/shutdown: Shutdown.java. The body must be JSON (else 415) with the
//     required boolean "graceful-shutdown" (missing, unknown fields or malformed JSON: 400,
//     as Jackson's mapping errors through Jersey; null or an empty body: 500, the resource's
//     catch-all); 200 with an empty body once the shutdown started.
//   - GET /about/health: 200 and no body when healthy, else 500 with the reason (jicoco
//     org.jitsi.rest.Health, hard failure).
//
// Other methods get 405, other paths 404, as from Jersey.
func (b *Bridge) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/colibri/stats":
			if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(b.Stats())
		case "/colibri/shutdown":
			if !allowMethods(w, r, http.MethodPost) {
				return
			}
			b.serveShutdown(w, r)
		case "/about/health":
			if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
				return
			}
			b.mu.Lock()
			healthy, message := b.healthy, b.healthError
			b.mu.Unlock()
			if !healthy {
				http.Error(w, message, http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusOK)
		default:
			http.NotFound(w, r)
		}
	})
}

func allowMethods(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	allow := strings.Join(append(methods, http.MethodOptions), ", ")
	w.Header().Set("Allow", allow)
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusOK)
		return false
	}
	http.Error(w, "HTTP 405 Method Not Allowed", http.StatusMethodNotAllowed)
	return false
}

func (b *Bridge) serveShutdown(w http.ResponseWriter, r *http.Request) {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "application/json" {
		http.Error(w, "HTTP 415 Unsupported Media Type", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	graceful, status, msg := parseShutdownBody(body)
	if status != http.StatusOK {
		http.Error(w, msg, status)
		return
	}
	if err := b.Shutdown(graceful); err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// parseShutdownBody reads Shutdown.ShutdownJson as Jackson would: one required property
// "graceful-shutdown", no other property, a boolean (or the strings "true"/"false", which
// Jackson coerces). It returns the HTTP status the bridge answers with when it is not 200.
func parseShutdownBody(body []byte) (graceful bool, status int, message string) {
	if len(bytes.TrimSpace(body)) == 0 {
		// Jersey hands the resource a null entity; dereferencing it fails inside the
		// resource's try block, which answers 500.
		return false, http.StatusInternalServerError, ""
	}
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&fields); err != nil {
		return false, http.StatusBadRequest, fmt.Sprintf("cannot parse the shutdown request: %v", err)
	}
	if fields == nil {
		return false, http.StatusInternalServerError, ""
	}
	var unknown []string
	for k := range fields {
		if k != "graceful-shutdown" {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return false, http.StatusBadRequest, fmt.Sprintf("Unrecognized field %q (class ShutdownJson), known property: \"graceful-shutdown\"", unknown[0])
	}
	raw, ok := fields["graceful-shutdown"]
	if !ok {
		return false, http.StatusBadRequest, `Missing required creator property 'graceful-shutdown'`
	}
	switch v := strings.TrimSpace(string(raw)); v {
	case "true", `"true"`:
		return true, http.StatusOK, ""
	case "false", `"false"`:
		return false, http.StatusOK, ""
	case "null":
		return false, http.StatusInternalServerError, ""
	default:
		return false, http.StatusBadRequest, fmt.Sprintf("Cannot deserialize value of type `java.lang.Boolean` from %s", v)
	}
}
