package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/jitsiemu"
)

// participantsHandler is the playground's loopback endpoint to the emulated jicofo: it adds
// participants to a conference, or removes its latest ones, as clients joining and leaving
// do, and jicofo places them on the emulated bridges. Each participant adds 0.01 to its
// bridge's stress_level (jitsiemu.DefaultCapacity), which the metrics adapter passes to the
// HPA.
//
//	GET /healthz
//	GET /conferences/{name}
//	PUT /conferences/{name}?participants=N
type participantsHandler struct {
	jicofo *jitsiemu.Jicofo
	mu     sync.Mutex
	ids    map[string][]string // conference -> its participants' IDs, oldest first
}

// conferenceState is a conference as the endpoint answers.
type conferenceState struct {
	Conference string `json:"conference"`
	// Participants are on a bridge now.
	Participants int `json:"participants"`
	// Bridges maps bridges to the conference's participants on each.
	Bridges map[string]int `json:"bridges"`
	// BridgesKnown are in jicofo's brewery; BridgesAvailable of them take new conferences.
	BridgesKnown     int `json:"bridgesKnown"`
	BridgesAvailable int `json:"bridgesAvailable"`
	// Error says why the conference has fewer participants than asked.
	Error string `json:"error,omitempty"`
}

func newParticipantsHandler(jicofo *jitsiemu.Jicofo) http.Handler {
	h := &participantsHandler{jicofo: jicofo, ids: map[string][]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /conferences/{name}", func(w http.ResponseWriter, r *http.Request) {
		writeState(w, http.StatusOK, h.state(r.PathValue("name"), nil))
	})
	mux.HandleFunc("PUT /conferences/{name}", h.set)
	return mux
}

func (h *participantsHandler) set(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	n, err := strconv.Atoi(r.URL.Query().Get("participants"))
	if err != nil || n < 0 {
		http.Error(w, "participants: must be a number of participants, 0 or more", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := h.ids[name]
	var joinErr error
	for len(ids) < n {
		placement, err := h.jicofo.Join(name, "")
		if err != nil {
			joinErr = fmt.Errorf("%d of %d participants placed: %w", len(ids), n, err)
			break
		}
		ids = append(ids, placement.Participant)
	}
	for len(ids) > n {
		last := ids[len(ids)-1]
		// A participant jicofo dropped (its bridge went, and no other took it) left already.
		_ = h.jicofo.Leave(name, last)
		ids = ids[:len(ids)-1]
	}
	h.ids[name] = ids
	if joinErr != nil {
		writeState(w, http.StatusServiceUnavailable, h.state(name, joinErr))
		return
	}
	writeState(w, http.StatusOK, h.state(name, nil))
}

func (h *participantsHandler) state(name string, err error) conferenceState {
	snapshot := h.jicofo.Snapshot()
	s := conferenceState{Conference: name, Bridges: h.jicofo.ConferenceBridges(name),
		BridgesKnown: snapshot.Bridges, BridgesAvailable: snapshot.Available}
	for _, n := range s.Bridges {
		s.Participants += n
	}
	if err != nil {
		s.Error = err.Error()
	}
	return s
}

func writeState(w http.ResponseWriter, code int, s conferenceState) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(s)
}

// setParticipants asks the running playground's jicofo for count participants in
// conference, and prints where they are.
func setParticipants(s stateDir, conference string, count int) error {
	info, err := s.readReady()
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("the playground is not running (no %s): start it with make up", s.readyFile())
	}
	if err != nil {
		return err
	}
	u := fmt.Sprintf("%s/conferences/%s?participants=%d", info.Jicofo, url.PathEscape(conference), count)
	req, err := http.NewRequest(http.MethodPut, u, nil)
	if err != nil {
		return err
	}
	rsp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("the playground's jicofo does not answer (is it still running? make up restarts it): %w", err)
	}
	defer rsp.Body.Close()
	var state conferenceState
	if err := json.NewDecoder(rsp.Body).Decode(&state); err != nil {
		return fmt.Errorf("the playground's jicofo answered %s, not a conference: %w", rsp.Status, err)
	}
	var on []string
	for bridge, n := range state.Bridges {
		on = append(on, fmt.Sprintf("%s (%d)", bridge, n))
	}
	sort.Strings(on)
	where := ""
	if len(on) > 0 {
		where = " on " + strings.Join(on, ", ")
	}
	fmt.Printf("conference %q: %d participants%s\n", conference, state.Participants, where)
	fmt.Printf("jicofo knows %d bridge(s), %d taking new conferences; each participant adds 0.01 to its bridge's stress,\n"+
		"and the HPA wants ceil(sum of the stress / 0.3) bridges (the claim's default target).\n", state.BridgesKnown, state.BridgesAvailable)
	if state.Error != "" {
		fmt.Fprintf(os.Stderr, "not all participants found a bridge: %s\n", state.Error)
		return errors.New("some participants found no bridge")
	}
	return nil
}
