package jitsiemu

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Defaults of jicofo's bridge selection, from jicofo-selector/src/main/resources/reference.conf
// (jicofo.bridge.*) at stable/jitsi-meet_11146.
const (
	DefaultMaxBridgeParticipants     = 80
	DefaultStressThreshold           = 0.8
	DefaultAverageParticipantStress  = 0.01
	DefaultParticipantRampupInterval = 20 * time.Second
	DefaultFailureResetThreshold     = time.Minute
)

// ErrNoBridge is jicofo's BridgeSelectionFailedException: no bridge could take the participant.
var ErrNoBridge = errors.New("no bridge available")

// JicofoConfig is jicofo's bridge configuration as this project renders it
// (fn/jicofo.go: ENABLE_OCTO=1, OCTO_BRIDGE_SELECTION_STRATEGY=RegionBasedBridgeSelectionStrategy,
// JICOFO_OCTO_REGION = the claim's region).
type JicofoConfig struct {
	// LocalRegion is jicofo.local-region (JICOFO_OCTO_REGION).
	LocalRegion string
	// MaxBridgeParticipants is jicofo.bridge.max-bridge-participants: the most participants of
	// one conference on one bridge. 0 means the default (80); negative means no maximum.
	MaxBridgeParticipants int
	// StressThreshold is jicofo.bridge.stress-threshold: at or above it a bridge is overloaded.
	StressThreshold float64
	// AverageParticipantStress is jicofo.bridge.average-participant-stress, used for bridges
	// that do not report their own.
	AverageParticipantStress float64
	// ParticipantRampupInterval is jicofo.bridge.participant-rampup-interval.
	ParticipantRampupInterval time.Duration
	// FailureResetThreshold is jicofo.bridge.failure-reset-threshold.
	FailureResetThreshold time.Duration
	// Clock is jicofo's time source (RealClock).
	Clock Clock
	// Logf, when set, reports moves and failures.
	Logf func(format string, args ...any)
}

func (c JicofoConfig) withDefaults() JicofoConfig {
	if c.MaxBridgeParticipants == 0 {
		c.MaxBridgeParticipants = DefaultMaxBridgeParticipants
	}
	if c.StressThreshold <= 0 {
		c.StressThreshold = DefaultStressThreshold
	}
	if c.AverageParticipantStress <= 0 {
		c.AverageParticipantStress = DefaultAverageParticipantStress
	}
	if c.ParticipantRampupInterval <= 0 {
		c.ParticipantRampupInterval = DefaultParticipantRampupInterval
	}
	if c.FailureResetThreshold <= 0 {
		c.FailureResetThreshold = DefaultFailureResetThreshold
	}
	if c.Clock == nil {
		c.Clock = RealClock{}
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c
}

// Jicofo places participants on bridges as jicofo does at stable/jitsi-meet_11146 with
// RegionBasedBridgeSelectionStrategy, octo (relays) enabled and no region groups:
//
//   - It knows the bridges in its Brewery and their state as of their last presence
//     (jicofo-selector bridge/Bridge.kt setStats): stress, graceful shutdown, shutting down,
//     drain, region, relay id.
//   - BridgeSelector.selectBridge (bridge/BridgeSelector.kt): bridges sorted by priority
//     (operational, then not in graceful shutdown) and corrected stress = last reported stress
//   - participants added in the last participant-rampup-interval × average participant
//     stress (Bridge.kt correctedStress; ties broken by name here); keep operational ones, drop
//     those SHUTTING_DOWN, prefer those not draining, prefer those not in graceful shutdown.
//   - RegionBasedBridgeSelectionStrategy.doSelect (bridge/RegionBasedBridgeSelectionStrategy.kt
//     and BridgeSelectionStrategy.kt), first match wins: a conference bridge in the region
//     that is not overloaded; a bridge in the region that is not overloaded; a conference
//     bridge that is not overloaded; any bridge under the stress threshold; the least loaded
//     conference bridge below max-bridge-participants; the least loaded bridge. "Overloaded"
//     for a conference means corrected stress ≥ stress-threshold, or max-bridge-participants of
//     this conference on that bridge already. A conference that outgrows its bridge thus spans
//     a second one, and the bridges relay each other's participants (octo_endpoints).
//   - A bridge that answers an allocation with GRACEFUL_SHUTDOWN is marked so and the
//     participant is invited again (bridge/colibri/ColibriV2SessionManager.kt handleResponse);
//     a bridge that does not answer is marked non-operational for failure-reset-threshold.
//   - When a bridge goes SHUTTING_DOWN or leaves the brewery, its participants are invited
//     again elsewhere (jicofo conference/JitsiMeetConferenceImpl.java bridgeIsShuttingDown,
//     bridgeRemoved): the conference was cut on that bridge.
//
// Not emulated: bridge health checks, ICE-failure detection, load redistribution (off by
// default), visitors, version pinning (all bridges share one version), region groups.
type Jicofo struct {
	cfg JicofoConfig

	mu          sync.Mutex
	bridges     map[*Bridge]*bridgeView
	conferences map[string]*jicofoConference
	counters    JicofoCounters
	cuts        []Cut
}

// Cut is one conference losing a bridge it still had participants on: what
// JicofoCounters.ConferencesCut counts, with the details a report needs.
type Cut struct {
	// At is when jicofo learned of it, on its clock.
	At time.Time
	// Conference lost Bridge (a pod name) with Participants on it.
	Conference, Bridge string
	Participants       int
	// Why: the bridge "is shutting down" or "was removed".
	Why string
}

// bridgeView is what jicofo knows of a bridge (Bridge.kt).
type bridgeView struct {
	bridge                   *Bridge
	lastReportedStress       float64
	averageParticipantStress float64
	gracefulShutdown         bool
	shuttingDown             bool
	draining                 bool
	region, relayID          string
	operational              bool
	failedAt                 time.Time
	recentEndpoints          []time.Time
}

type jicofoConference struct {
	id           string
	participants map[string]*participant
	// sessions are the conference's bridges in the order they joined it, with their participants.
	sessions []*session
	nextID   int
}

type participant struct {
	id, region string
	session    *session
}

type session struct {
	view         *bridgeView
	participants int
}

// JicofoCounters count placements and disruptions since the start.
type JicofoCounters struct {
	// Placed counts participants placed on a bridge (joins and moves).
	Placed int
	// PlacedOnOverloaded counts placements on a bridge that was overloaded for the
	// conference: every candidate was, so the participant could only land there.
	PlacedOnOverloaded int
	// NoBridge counts joins that found no bridge at all.
	NoBridge int
	// Retried counts allocations a bridge refused (graceful shutdown, gone) and that jicofo
	// retried elsewhere.
	Retried int
	// ConferencesSplit counts the times a conference took on another bridge (a relay).
	ConferencesSplit int
	// ConferencesCut and ParticipantsCut count conferences (and their participants) that
	// lost a bridge they still had participants on: it went SHUTTING_DOWN or vanished.
	ConferencesCut  int
	ParticipantsCut int
	// ParticipantsMoved were cut and placed again; ParticipantsDropped found no bridge.
	ParticipantsMoved   int
	ParticipantsDropped int
}

// Placement is where a participant landed.
type Placement struct {
	Conference  string
	Participant string
	Bridge      *Bridge
	// Overloaded: every candidate bridge was overloaded for the conference.
	Overloaded bool
	// Bridges is how many bridges the conference spans after this join.
	Bridges int
}

// NewJicofo watches brewery and places participants on its bridges.
func NewJicofo(brewery *Brewery, cfg JicofoConfig) *Jicofo {
	j := &Jicofo{cfg: cfg.withDefaults(), bridges: map[*Bridge]*bridgeView{}, conferences: map[string]*jicofoConference{}}
	brewery.Watch(j)
	return j
}

// Join places a new participant of conference, from region ("" = jicofo's local region).
func (j *Jicofo) Join(conference, region string) (Placement, error) {
	if conference == "" {
		return Placement{}, errors.New("conference: must not be empty")
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	c := j.conferences[conference]
	if c == nil {
		c = &jicofoConference{id: conference, participants: map[string]*participant{}}
		j.conferences[conference] = c
	}
	c.nextID++
	p := &participant{id: fmt.Sprintf("%s/%d", conference, c.nextID), region: region}
	pl, err := j.placeLocked(c, p)
	if err != nil {
		if len(c.participants) == 0 {
			delete(j.conferences, conference)
		}
		return Placement{}, fmt.Errorf("cannot place a participant of conference %q: %w", conference, err)
	}
	return pl, nil
}

// Leave removes a participant.
func (j *Jicofo) Leave(conference, participantID string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	c := j.conferences[conference]
	if c == nil {
		return fmt.Errorf("conference %q: no such conference", conference)
	}
	p := c.participants[participantID]
	if p == nil {
		return fmt.Errorf("participant %q: not in conference %q", participantID, conference)
	}
	j.removeParticipantLocked(c, p)
	if len(c.participants) == 0 {
		delete(j.conferences, conference)
	}
	return nil
}

// EndConference removes every participant of conference and returns how many there were.
func (j *Jicofo) EndConference(conference string) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	c := j.conferences[conference]
	if c == nil {
		return 0, fmt.Errorf("conference %q: no such conference", conference)
	}
	n := len(c.participants)
	for _, s := range c.sessions {
		s.view.bridge.ExpireConference(c.id)
	}
	delete(j.conferences, conference)
	return n, nil
}

// Cuts lists the conferences cut so far, oldest first.
func (j *Jicofo) Cuts() []Cut {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]Cut(nil), j.cuts...)
}

// Counters returns the counters.
func (j *Jicofo) Counters() JicofoCounters {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.counters
}

// JicofoSnapshot is jicofo's view now.
type JicofoSnapshot struct {
	// Bridges are in the brewery; Available of them are operational and neither in graceful
	// shutdown nor shutting down (BridgeSelector.operationalBridgeCount); Serving carry
	// participants.
	Bridges, Available, Serving int
	Conferences, Participants   int
	// ParticipantsByBridge maps bridge names to their participants.
	ParticipantsByBridge map[string]int
}

// Snapshot describes the bridges and conferences now.
func (j *Jicofo) Snapshot() JicofoSnapshot {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := j.cfg.Clock.Now()
	s := JicofoSnapshot{Bridges: len(j.bridges), Conferences: len(j.conferences), ParticipantsByBridge: map[string]int{}}
	for _, v := range j.bridges {
		if j.isOperational(v, now) && !v.gracefulShutdown && !v.shuttingDown {
			s.Available++
		}
	}
	for _, c := range j.conferences {
		s.Participants += len(c.participants)
		for _, sess := range c.sessions {
			s.ParticipantsByBridge[sess.view.bridge.Name()] += sess.participants
		}
	}
	s.Serving = len(s.ParticipantsByBridge)
	return s
}

// ConferenceBridges maps the bridges of a conference to its participants on each.
func (j *Jicofo) ConferenceBridges(conference string) map[string]int {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := map[string]int{}
	if c := j.conferences[conference]; c != nil {
		for _, s := range c.sessions {
			out[s.view.bridge.Name()] = s.participants
		}
	}
	return out
}

// BridgePresence is BridgeSelector.addJvbAddress: a new bridge, or new stats of a known one.
func (j *Jicofo) BridgePresence(b *Bridge, stats Stats) {
	j.mu.Lock()
	defer j.mu.Unlock()
	v := j.bridges[b]
	if v == nil {
		// Draining until a presence says otherwise (Bridge.kt isDraining).
		v = &bridgeView{bridge: b, operational: true, draining: true, averageParticipantStress: j.cfg.AverageParticipantStress}
		j.bridges[b] = v
		j.cfg.Logf("jicofo: new bridge %s (region %q, stress %.2f)", b.Name(), stats.Region, stats.StressLevel)
	}
	wasShuttingDown := v.shuttingDown
	v.lastReportedStress = stats.StressLevel
	if stats.AverageParticipantStress > 0 {
		v.averageParticipantStress = stats.AverageParticipantStress
	}
	if stats.GracefulShutdown {
		v.gracefulShutdown = true
	}
	if stats.ShuttingDown {
		v.shuttingDown = true
	}
	v.draining = stats.Drain
	if stats.Region != "" {
		v.region = stats.Region
	}
	if stats.RelayID != "" {
		v.relayID = stats.RelayID
	}
	if !wasShuttingDown && v.shuttingDown {
		j.cfg.Logf("jicofo: bridge %s entered SHUTTING_DOWN", b.Name())
		j.removeBridgeLocked(v, "is shutting down")
	}
}

// BridgeLeft is BridgeSelector.removeJvbAddress.
func (j *Jicofo) BridgeLeft(b *Bridge) {
	j.mu.Lock()
	defer j.mu.Unlock()
	v := j.bridges[b]
	if v == nil {
		return
	}
	delete(j.bridges, b)
	j.cfg.Logf("jicofo: bridge %s left", b.Name())
	j.removeBridgeLocked(v, "was removed")
}

// removeBridgeLocked takes a bridge out of every conference and invites its participants again.
func (j *Jicofo) removeBridgeLocked(v *bridgeView, why string) {
	for _, id := range sortedKeys(j.conferences) {
		c := j.conferences[id]
		var moved []*participant
		for _, p := range c.participants {
			if p.session.view == v {
				moved = append(moved, p)
			}
		}
		if len(moved) == 0 {
			continue
		}
		sort.Slice(moved, func(a, b int) bool { return moved[a].id < moved[b].id })
		j.counters.ConferencesCut++
		j.counters.ParticipantsCut += len(moved)
		j.cuts = append(j.cuts, Cut{At: j.cfg.Clock.Now(), Conference: c.id, Bridge: v.bridge.Name(), Participants: len(moved), Why: why})
		s := moved[0].session
		j.dropSessionLocked(c, s)
		for _, p := range moved {
			delete(c.participants, p.id)
		}
		j.updateRelaysLocked(c)
		j.cfg.Logf("jicofo: bridge %s %s; re-inviting %d participants of %s", v.bridge.Name(), why, len(moved), c.id)
		dropped := 0
		for _, p := range moved {
			if _, err := j.placeLocked(c, p); err != nil {
				dropped++
				continue
			}
			j.counters.ParticipantsMoved++
		}
		if dropped > 0 {
			j.counters.ParticipantsDropped += dropped
			j.cfg.Logf("jicofo: %d participants of %s found no bridge", dropped, c.id)
		}
		if len(c.participants) == 0 {
			delete(j.conferences, id)
		}
	}
}

// placeLocked selects a bridge for p and allocates it there, retrying on bridges that refuse.
func (j *Jicofo) placeLocked(c *jicofoConference, p *participant) (Placement, error) {
	for attempt := 0; attempt <= len(j.bridges); attempt++ {
		now := j.cfg.Clock.Now()
		v, overloaded := j.selectBridgeLocked(c, p.region, now)
		if v == nil {
			j.counters.NoBridge++
			return Placement{}, ErrNoBridge
		}
		v.recentEndpoints = append(v.recentEndpoints, now) // Bridge.endpointAdded, before the request
		err := v.bridge.AllocateEndpoint(c.id)
		switch {
		case errors.Is(err, ErrGracefulShutdown):
			// Its presence has not told us yet; never select it again.
			v.gracefulShutdown = true
			j.counters.Retried++
			continue
		case err != nil:
			v.operational, v.failedAt = false, now
			j.counters.Retried++
			continue
		}
		s := c.session(v)
		if s == nil {
			s = &session{view: v}
			if len(c.sessions) > 0 {
				j.counters.ConferencesSplit++
			}
			c.sessions = append(c.sessions, s)
		}
		s.participants++
		p.session = s
		c.participants[p.id] = p
		j.updateRelaysLocked(c)
		j.counters.Placed++
		if overloaded {
			j.counters.PlacedOnOverloaded++
		}
		return Placement{Conference: c.id, Participant: p.id, Bridge: v.bridge, Overloaded: overloaded, Bridges: len(c.sessions)}, nil
	}
	j.counters.NoBridge++
	return Placement{}, ErrNoBridge
}

func (c *jicofoConference) session(v *bridgeView) *session {
	for _, s := range c.sessions {
		if s.view == v {
			return s
		}
	}
	return nil
}

func (j *Jicofo) removeParticipantLocked(c *jicofoConference, p *participant) {
	delete(c.participants, p.id)
	s := p.session
	s.participants--
	if s.participants <= 0 {
		// ColibriV2SessionManager removes a session with no participant left, which expires
		// the conference on that bridge.
		j.dropSessionLocked(c, s)
	} else if err := s.view.bridge.ExpireEndpoint(c.id); err != nil {
		j.cfg.Logf("jicofo: expiring %s on %s: %v", p.id, s.view.bridge.Name(), err)
	}
	j.updateRelaysLocked(c)
}

func (j *Jicofo) dropSessionLocked(c *jicofoConference, s *session) {
	s.view.bridge.ExpireConference(c.id)
	for i, other := range c.sessions {
		if other == s {
			c.sessions = append(c.sessions[:i], c.sessions[i+1:]...)
			break
		}
	}
}

// updateRelaysLocked tells each bridge of a conference how many endpoints it relays from the
// others: with SingleMeshTopologyStrategy every bridge relays every other bridge's endpoints.
func (j *Jicofo) updateRelaysLocked(c *jicofoConference) {
	total := len(c.participants)
	for _, s := range c.sessions {
		_ = s.view.bridge.SetRelayedEndpoints(c.id, total-s.participants)
	}
}

func (j *Jicofo) isOperational(v *bridgeView, now time.Time) bool {
	if !v.failedAt.IsZero() && now.Sub(v.failedAt) < j.cfg.FailureResetThreshold {
		return false
	}
	return true
}

// correctedStress is Bridge.kt correctedStress (without ICE-failure detection).
func (j *Jicofo) correctedStress(v *bridgeView, now time.Time) float64 {
	recent := v.recentEndpoints[:0]
	for _, t := range v.recentEndpoints {
		if now.Sub(t) < j.cfg.ParticipantRampupInterval {
			recent = append(recent, t)
		}
	}
	v.recentEndpoints = recent
	return v.lastReportedStress + float64(len(recent))*v.averageParticipantStress
}

func (j *Jicofo) isOverloaded(v *bridgeView, now time.Time) bool {
	return j.correctedStress(v, now) >= j.cfg.StressThreshold
}

// selectBridgeLocked is BridgeSelector.selectBridge followed by the strategy's select. It
// returns the bridge and whether it is overloaded for the conference.
func (j *Jicofo) selectBridgeLocked(c *jicofoConference, region string, now time.Time) (*bridgeView, bool) {
	priority := func(v *bridgeView) int {
		switch {
		case !j.isOperational(v, now):
			return 3
		case v.gracefulShutdown:
			return 2
		default:
			return 1
		}
	}
	all := make([]*bridgeView, 0, len(j.bridges))
	stress := map[*bridgeView]float64{}
	for _, v := range j.bridges {
		all = append(all, v)
		stress[v] = j.correctedStress(v, now)
	}
	sort.SliceStable(all, func(a, b int) bool {
		pa, pb := priority(all[a]), priority(all[b])
		if pa != pb {
			return pa < pb
		}
		if stress[all[a]] != stress[all[b]] {
			return stress[all[a]] < stress[all[b]]
		}
		return all[a].bridge.Name() < all[b].bridge.Name()
	})
	candidates := filter(all, func(v *bridgeView) bool { return j.isOperational(v, now) })
	candidates = filter(candidates, func(v *bridgeView) bool { return !v.shuttingDown })
	if active := filter(candidates, func(v *bridgeView) bool { return !v.draining }); len(active) > 0 {
		candidates = active
	}
	if running := filter(candidates, func(v *bridgeView) bool { return !v.gracefulShutdown }); len(running) > 0 {
		candidates = running
	}
	if len(candidates) == 0 {
		return nil, false
	}

	// The conference's bridges (ColibriV2SessionManager.getBridges keeps operational ones).
	inConference := map[*bridgeView]int{}
	var first *bridgeView
	for _, s := range c.sessions {
		if j.isOperational(s.view, now) {
			inConference[s.view] = s.participants
			if first == nil {
				first = s.view
			}
		}
	}
	// BridgeSelectionStrategy.select: an existing bridge without a relay keeps the conference.
	if first != nil && first.relayID == "" {
		return first, j.overloadedFor(first, inConference, now)
	}

	chosen := j.regionBasedLocked(candidates, inConference, region, now)
	if chosen == nil {
		return nil, false
	}
	return chosen, j.overloadedFor(chosen, inConference, now)
}

func (j *Jicofo) hasMaxParticipants(v *bridgeView, inConference map[*bridgeView]int) bool {
	n, ok := inConference[v]
	return j.cfg.MaxBridgeParticipants > 0 && ok && n >= j.cfg.MaxBridgeParticipants
}

func (j *Jicofo) overloadedFor(v *bridgeView, inConference map[*bridgeView]int, now time.Time) bool {
	return j.isOverloaded(v, now) || j.hasMaxParticipants(v, inConference)
}

// regionBasedLocked is RegionBasedBridgeSelectionStrategy.doSelect with no region groups
// (each region is its own group, so the "region group" steps repeat the region steps).
func (j *Jicofo) regionBasedLocked(bridges []*bridgeView, inConference map[*bridgeView]int, participantRegion string, now time.Time) *bridgeView {
	region := participantRegion
	if region == "" {
		region = j.cfg.LocalRegion
	}
	if j.cfg.LocalRegion != "" {
		// No bridge in the participant's region: select from the local region instead.
		if len(filter(bridges, func(v *bridgeView) bool { return v.region == region })) == 0 {
			region = j.cfg.LocalRegion
		}
	}
	notOverloaded := filter(bridges, func(v *bridgeView) bool { return !j.overloadedFor(v, inConference, now) })
	isIn := func(v *bridgeView) bool { _, ok := inConference[v]; return ok }
	inRegion := func(v *bridgeView) bool { return region != "" && v.region == region }
	steps := [][]*bridgeView{
		filter(notOverloaded, func(v *bridgeView) bool { return isIn(v) && inRegion(v) }), // notLoadedAlreadyInConferenceInRegion
		filter(notOverloaded, inRegion), // notLoadedInRegion
		filter(notOverloaded, isIn),     // notLoadedAlreadyInConference
		filter(bridges, func(v *bridgeView) bool { return !j.isOverloaded(v, now) }),                           // notLoaded
		filter(bridges, func(v *bridgeView) bool { return isIn(v) && !j.hasMaxParticipants(v, inConference) }), // leastLoadedNotMaxedAlreadyInConference
		bridges, // leastLoaded
	}
	for _, step := range steps {
		if len(step) > 0 {
			return step[0]
		}
	}
	return nil
}

func filter(in []*bridgeView, keep func(*bridgeView) bool) []*bridgeView {
	var out []*bridgeView
	for _, v := range in {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
