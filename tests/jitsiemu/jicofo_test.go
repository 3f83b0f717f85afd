package jitsiemu

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// jicofoWorld is a brewery with bridges in one region and jicofo watching it, on a fake clock.
type jicofoWorld struct {
	clock   *FakeClock
	brewery *Brewery
	jicofo  *Jicofo
	bridges map[string]*Bridge
}

func newJicofoWorld(t *testing.T, cfg JicofoConfig, bridgeCfg BridgeConfig, names ...string) *jicofoWorld {
	t.Helper()
	w := &jicofoWorld{clock: NewFakeClock(epoch), brewery: NewBrewery(), bridges: map[string]*Bridge{}}
	cfg.Clock, cfg.Logf = w.clock, t.Logf
	if cfg.LocalRegion == "" {
		cfg.LocalRegion = "europe"
	}
	w.jicofo = NewJicofo(w.brewery, cfg)
	for _, n := range names {
		w.addBridge(t, n, bridgeCfg)
	}
	return w
}

func (w *jicofoWorld) addBridge(t *testing.T, name string, cfg BridgeConfig) *Bridge {
	t.Helper()
	cfg.Name = name
	if cfg.Region == "" {
		cfg.Region = "europe"
	}
	b := newTestBridge(t, w.clock, cfg)
	b.JoinBrewery(w.brewery)
	w.bridges[name] = b
	return b
}

func (w *jicofoWorld) join(t *testing.T, conference string, n int) []Placement {
	t.Helper()
	var out []Placement
	for range n {
		p, err := w.jicofo.Join(conference, "europe")
		require.NoError(t, err)
		out = append(out, p)
	}
	return out
}

func TestJicofoKeepsAConferenceOnTheLeastLoadedBridge(t *testing.T) {
	w := newJicofoWorld(t, JicofoConfig{}, BridgeConfig{}, "jvb-a", "jvb-b")
	// Load jvb-a with another conference and let the presence report it.
	w.join(t, "warm-up", 30)
	w.clock.Advance(DefaultParticipantRampupInterval)

	placed := w.join(t, "lecture", 12)
	for _, p := range placed {
		assert.Equal(t, "jvb-b", p.Bridge.Name(), "the least loaded bridge")
		assert.Equal(t, 1, p.Bridges)
		assert.False(t, p.Overloaded)
	}
	assert.Equal(t, map[string]int{"jvb-b": 12}, w.jicofo.ConferenceBridges("lecture"))
	assert.Equal(t, map[string]int{"jvb-a": 30}, w.jicofo.ConferenceBridges("warm-up"))
	assert.Equal(t, 12, w.bridges["jvb-b"].Stats().LocalEndpoints)
	assert.Zero(t, w.bridges["jvb-b"].Stats().OctoEndpoints)

	// A latecomer of warm-up stays with its conference while jvb-a is not overloaded.
	p, err := w.jicofo.Join("warm-up", "")
	require.NoError(t, err)
	assert.Equal(t, "jvb-a", p.Bridge.Name())

	snap := w.jicofo.Snapshot()
	assert.Equal(t, JicofoSnapshot{Bridges: 2, Available: 2, Serving: 2, Conferences: 2, Participants: 43,
		ParticipantsByBridge: map[string]int{"jvb-a": 31, "jvb-b": 12}}, snap)
}

// TestJicofoSpansAConferenceOverMaxBridgeParticipants: the 81st participant of a conference
// lands on a second bridge, and each bridge relays the other's participants.
func TestJicofoSpansAConferenceOverMaxBridgeParticipants(t *testing.T) {
	// A large capacity keeps the stress below the threshold: only the participant limit acts.
	w := newJicofoWorld(t, JicofoConfig{}, BridgeConfig{Capacity: 1000}, "jvb-a", "jvb-b")
	placed := w.join(t, "lecture", 90)
	assert.Equal(t, "jvb-a", placed[79].Bridge.Name())
	assert.Equal(t, "jvb-b", placed[80].Bridge.Name(), "max-bridge-participants is 80")
	assert.Equal(t, 2, placed[80].Bridges)
	assert.Equal(t, map[string]int{"jvb-a": 80, "jvb-b": 10}, w.jicofo.ConferenceBridges("lecture"))
	a, b := w.bridges["jvb-a"].Stats(), w.bridges["jvb-b"].Stats()
	assert.Equal(t, 80, a.LocalEndpoints)
	assert.Equal(t, 10, a.OctoEndpoints, "jvb-a relays jvb-b's participants")
	assert.Equal(t, 10, b.LocalEndpoints)
	assert.Equal(t, 80, b.OctoEndpoints)
	assert.Equal(t, 90, b.LargestConference)
	assert.Equal(t, 1, w.jicofo.Counters().ConferencesSplit)

	// Participants leaving jvb-b: the relays follow; the last one ends the session there.
	for _, p := range placed[80:] {
		require.NoError(t, w.jicofo.Leave("lecture", p.Participant))
	}
	assert.Equal(t, 0, w.bridges["jvb-a"].Stats().OctoEndpoints)
	assert.Equal(t, 0, w.bridges["jvb-b"].Stats().Conferences)
}

// TestJicofoSplitsAConferenceOnStress: with the ramp-up correction a bridge counts as
// overloaded at the stress threshold, and the conference spans another bridge.
func TestJicofoSplitsAConferenceOnStress(t *testing.T) {
	// 10 participants per bridge: each adds 0.1; at 0.8 jicofo calls the bridge overloaded.
	w := newJicofoWorld(t, JicofoConfig{}, BridgeConfig{Capacity: 10}, "jvb-a", "jvb-b")
	placed := w.join(t, "lecture", 9)
	assert.Equal(t, "jvb-a", placed[7].Bridge.Name())
	assert.Equal(t, "jvb-b", placed[8].Bridge.Name(), "8 recent participants × 0.1 = 0.8: overloaded")
	assert.Zero(t, w.jicofo.Counters().PlacedOnOverloaded)
}

// TestJicofoCountsParticipantsWithOnlyOverloadedBridges: when every bridge is overloaded the
// least loaded still takes the participant, and it is counted.
func TestJicofoCountsParticipantsWithOnlyOverloadedBridges(t *testing.T) {
	w := newJicofoWorld(t, JicofoConfig{}, BridgeConfig{Capacity: 10}, "jvb-a")
	placed := w.join(t, "lecture", 12)
	for i, p := range placed {
		assert.Equal(t, i >= 8, p.Overloaded, "participant %d", i)
	}
	assert.Equal(t, 4, w.jicofo.Counters().PlacedOnOverloaded)
	assert.Equal(t, 2, w.bridges["jvb-a"].Counters().EndpointsOverCapacity, "the bridge itself is above 1 after 10")
}

// TestJicofoAvoidsBridgesInGracefulShutdown: once its presence says so, a bridge in graceful
// shutdown gets no new conference, and even its running conference's newcomers go to another
// bridge (jicofo prefers running bridges), through a relay. The conference ends on the
// bridge without a cut.
func TestJicofoAvoidsBridgesInGracefulShutdown(t *testing.T) {
	w := newJicofoWorld(t, JicofoConfig{}, BridgeConfig{}, "jvb-a", "jvb-b")
	lecture := w.join(t, "lecture", 12)
	require.Equal(t, map[string]int{"jvb-a": 12}, w.jicofo.ConferenceBridges("lecture"))
	require.NoError(t, w.bridges["jvb-a"].Shutdown(true))
	w.clock.Advance(DefaultPresenceInterval)

	p, err := w.jicofo.Join("seminar", "")
	require.NoError(t, err)
	assert.Equal(t, "jvb-b", p.Bridge.Name())
	latecomer, err := w.jicofo.Join("lecture", "")
	require.NoError(t, err)
	assert.Equal(t, "jvb-b", latecomer.Bridge.Name(), "running bridges are preferred, even over the conference's own")
	assert.Equal(t, 2, latecomer.Bridges)
	assert.Equal(t, 1, w.bridges["jvb-a"].Stats().OctoEndpoints)
	assert.Equal(t, 12, w.bridges["jvb-b"].Stats().OctoEndpoints)

	for _, p := range lecture {
		require.NoError(t, w.jicofo.Leave("lecture", p.Participant))
	}
	state, _ := w.bridges["jvb-a"].State()
	assert.Equal(t, StateShuttingDown, state, "its last local participant left")
	w.clock.Advance(DefaultShuttingDownDelay)
	_, stopped := w.bridges["jvb-a"].State()
	assert.True(t, stopped)
	assert.Zero(t, w.jicofo.Counters().ConferencesCut)
	assert.Zero(t, w.bridges["jvb-a"].Counters().ParticipantsCut)
	assert.Equal(t, map[string]int{"jvb-b": 1}, w.jicofo.ConferenceBridges("lecture"))
	assert.Equal(t, JicofoSnapshot{Bridges: 1, Available: 1, Serving: 1, Conferences: 2, Participants: 2,
		ParticipantsByBridge: map[string]int{"jvb-b": 2}}, w.jicofo.Snapshot())
}

// TestJicofoRetriesABridgeThatRefuses: before its next presence jicofo still sees a bridge in
// graceful shutdown as running; the bridge refuses the new conference and jicofo invites
// the participant again, elsewhere.
func TestJicofoRetriesABridgeThatRefuses(t *testing.T) {
	w := newJicofoWorld(t, JicofoConfig{}, BridgeConfig{}, "jvb-a", "jvb-b")
	w.join(t, "lecture", 5)
	w.clock.Advance(time.Second) // jvb-b takes the next conference: jvb-a has 5 recent participants
	w.join(t, "seminar", 20)
	w.clock.Advance(DefaultParticipantRampupInterval)
	require.Equal(t, map[string]int{"jvb-b": 20}, w.jicofo.ConferenceBridges("seminar"))

	require.NoError(t, w.bridges["jvb-a"].Shutdown(true))
	p, err := w.jicofo.Join("office-hours", "")
	require.NoError(t, err)
	assert.Equal(t, "jvb-b", p.Bridge.Name())
	assert.Equal(t, 1, w.jicofo.Counters().Retried, "jvb-a (0.05) looked best and refused")
	assert.Equal(t, 1, w.bridges["jvb-a"].Stats().Conferences)
}

// TestJicofoMovesParticipantsOffAShuttingDownBridge: when graceful-shutdown-max-duration
// passes, the bridge goes SHUTTING_DOWN; its presence makes jicofo invite the participants
// again on another bridge. Both count the cut.
func TestJicofoMovesParticipantsOffAShuttingDownBridge(t *testing.T) {
	w := newJicofoWorld(t, JicofoConfig{}, BridgeConfig{GracefulShutdownMaxDuration: time.Hour}, "jvb-a", "jvb-b")
	w.join(t, "lecture", 12)
	require.NoError(t, w.bridges["jvb-a"].Shutdown(true))
	w.clock.Advance(time.Hour)
	state, _ := w.bridges["jvb-a"].State()
	require.Equal(t, StateShuttingDown, state)
	assert.Equal(t, 12, w.bridges["jvb-a"].Counters().ParticipantsCut)

	w.clock.Advance(DefaultPresenceInterval)
	assert.Equal(t, map[string]int{"jvb-b": 12}, w.jicofo.ConferenceBridges("lecture"))
	c := w.jicofo.Counters()
	assert.Equal(t, 1, c.ConferencesCut)
	assert.Equal(t, 12, c.ParticipantsCut)
	assert.Equal(t, 12, c.ParticipantsMoved)
	assert.Zero(t, c.ParticipantsDropped)
	require.Len(t, w.jicofo.Cuts(), 1)
	cut := w.jicofo.Cuts()[0]
	assert.WithinDuration(t, w.clock.Now(), cut.At, DefaultPresenceInterval, "when the presence told jicofo")
	cut.At = time.Time{}
	assert.Equal(t, Cut{Conference: "lecture", Bridge: "jvb-a", Participants: 12, Why: "is shutting down"}, cut)
	assert.Zero(t, w.bridges["jvb-a"].Stats().LocalEndpoints, "jicofo expired them there")

	w.clock.Advance(DefaultShuttingDownDelay)
	_, stopped := w.bridges["jvb-a"].State()
	assert.True(t, stopped)
	assert.Equal(t, 12, w.bridges["jvb-a"].Counters().ParticipantsCut, "counted once")
	assert.Equal(t, 1, w.jicofo.Counters().ConferencesCut, "leaving the brewery empty cuts nothing more")
}

// TestJicofoCountsAVanishedBridge: a bridge that disappears with participants cuts their
// conference; with no other bridge they are dropped.
func TestJicofoCountsAVanishedBridge(t *testing.T) {
	w := newJicofoWorld(t, JicofoConfig{}, BridgeConfig{}, "jvb-a", "jvb-b")
	w.join(t, "lecture", 7)
	w.bridges["jvb-a"].Stop("SIGKILL")
	assert.Equal(t, map[string]int{"jvb-b": 7}, w.jicofo.ConferenceBridges("lecture"))
	w.bridges["jvb-b"].Stop("SIGKILL")
	c := w.jicofo.Counters()
	assert.Equal(t, 2, c.ConferencesCut)
	assert.Equal(t, 14, c.ParticipantsCut)
	assert.Equal(t, 7, c.ParticipantsMoved)
	assert.Equal(t, 7, c.ParticipantsDropped)
	assert.Equal(t, JicofoSnapshot{ParticipantsByBridge: map[string]int{}}, w.jicofo.Snapshot())
	now := w.clock.Now()
	assert.Equal(t, []Cut{
		{At: now, Conference: "lecture", Bridge: "jvb-a", Participants: 7, Why: "was removed"},
		{At: now, Conference: "lecture", Bridge: "jvb-b", Participants: 7, Why: "was removed"},
	}, w.jicofo.Cuts(), "each cut, with its conference and bridge")

	_, err := w.jicofo.Join("lecture", "")
	assert.ErrorIs(t, err, ErrNoBridge)
}

func TestJicofoRejectsBadInput(t *testing.T) {
	w := newJicofoWorld(t, JicofoConfig{}, BridgeConfig{}, "jvb-a")
	_, err := w.jicofo.Join("", "europe")
	assert.EqualError(t, err, "conference: must not be empty")
	assert.ErrorContains(t, w.jicofo.Leave("nope", "nope/1"), `conference "nope": no such conference`)
	p := w.join(t, "lecture", 1)[0]
	assert.ErrorContains(t, w.jicofo.Leave("lecture", "lecture/9"), `participant "lecture/9": not in conference "lecture"`)
	require.NoError(t, w.jicofo.Leave("lecture", p.Participant))
	_, err = w.jicofo.EndConference("lecture")
	assert.ErrorContains(t, err, "no such conference", "the last participant ended it")
}
