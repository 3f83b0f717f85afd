package jitsiemu

import (
	"sort"
	"sync"
)

// Brewery stands in for the XMPP MUC in which bridges announce themselves (JVB_BREWERY_MUC,
// "jvbbrewery"): a bridge joins it with a presence that carries its colibri stats, repeats the
// presence every videobridge.stats.interval, and leaves when its process stops. Jicofo learns
// of bridges only this way (jicofo-selector BridgeMucDetector.kt → BridgeSelector.addJvbAddress
// and removeJvbAddress), so a bridge's state reaches jicofo up to one presence interval late.
type Brewery struct {
	mu       sync.Mutex
	members  map[*Bridge]Stats
	watchers []BreweryWatcher
}

// BreweryWatcher is told of every presence and departure, in order.
type BreweryWatcher interface {
	BridgePresence(b *Bridge, stats Stats)
	BridgeLeft(b *Bridge)
}

// NewBrewery makes an empty brewery.
func NewBrewery() *Brewery { return &Brewery{members: map[*Bridge]Stats{}} }

// Watch adds a watcher and replays the current members' last presence to it.
func (br *Brewery) Watch(w BreweryWatcher) {
	br.mu.Lock()
	defer br.mu.Unlock()
	br.watchers = append(br.watchers, w)
	for _, b := range br.sortedMembersLocked() {
		w.BridgePresence(b, br.members[b])
	}
}

// Members lists the bridges in the brewery, by name.
func (br *Brewery) Members() []*Bridge {
	br.mu.Lock()
	defer br.mu.Unlock()
	return br.sortedMembersLocked()
}

func (br *Brewery) sortedMembersLocked() []*Bridge {
	out := make([]*Bridge, 0, len(br.members))
	for b := range br.members {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// presence delivers a bridge's presence. Watchers run under the brewery's lock, so that every
// watcher sees one bridge's presences and its departure in the order they happened.
func (br *Brewery) presence(b *Bridge, stats Stats) {
	br.mu.Lock()
	defer br.mu.Unlock()
	if _, stopped := b.State(); stopped {
		return // a presence that lost the race with the bridge's departure
	}
	br.members[b] = stats
	for _, w := range br.watchers {
		w.BridgePresence(b, stats)
	}
}

func (br *Brewery) leave(b *Bridge) {
	br.mu.Lock()
	defer br.mu.Unlock()
	if _, ok := br.members[b]; !ok {
		return
	}
	delete(br.members, b)
	for _, w := range br.watchers {
		w.BridgeLeft(b)
	}
}
