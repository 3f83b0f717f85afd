package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crossplane/function-sdk-go/response"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/crossplane-jitsi/crossplane-jitsi/apis/v1alpha1"
)

// scheduleHorizon is how far ahead the next change of the floor is looked for: a timetable
// repeats every week, and a window may run past midnight.
const scheduleHorizon = 8 * 24 * time.Hour

// floor is the autoscaler's minReplicas at an instant, and why.
type floor struct {
	// minReplicas is the HPA's minReplicas: the strategy's, or the largest of the windows
	// that hold it.
	minReplicas int32
	// windows are the indexes of the windows that hold the floor: open, or opening within
	// the lead time.
	windows []int
	// next is the next instant the floor changes; zero if it does not within the horizon.
	next time.Time
}

func (f floor) same(o floor) bool {
	return f.minReplicas == o.minReplicas && slices.Equal(f.windows, o.windows)
}

// scheduledFloor works out the floor at now. Windows are read on the wall clock of
// spec.timezone: a window is open while the local weekday is one of its days and the local
// time is in [from, to); a window whose to is before its from closes the next day. So on the
// day clocks go forward a window from 02:30 opens at 03:00, when the wall clock passes 02:30,
// and on the day they go back a window in the repeated hour is open twice.
func (in *instance) scheduledFloor(now time.Time) floor {
	base := *in.spec.JVB.Strategy.MinReplicas
	s := in.spec.JVB.Schedule
	if s == nil || !in.autoscaled() {
		return floor{minReplicas: base}
	}
	loc, err := loadZone(*in.spec.Timezone)
	if err != nil {
		// Validated already; without a zone there is no timetable to read.
		return floor{minReplicas: base}
	}
	lead := s.LeadTime.Duration
	at := func(t time.Time) floor {
		f := floor{minReplicas: base}
		for i, w := range s.Windows {
			if windowOpen(w, t.In(loc)) || windowOpen(w, t.Add(lead).In(loc)) {
				f.windows = append(f.windows, i)
				f.minReplicas = max(f.minReplicas, w.MinReplicas)
			}
		}
		f.minReplicas = min(f.minReplicas, *in.spec.JVB.Strategy.MaxReplicas)
		return f
	}
	current := at(now)
	for _, c := range changeCandidates(s, now, loc) {
		if !at(c).same(current) {
			current.next = c
			break
		}
	}
	return current
}

// windowOpen says whether w is open at the local time t.
func windowOpen(w v1alpha1.ScheduleWindow, t time.Time) bool {
	from, to := clockSeconds(w.From), clockSeconds(w.To)
	now := t.Hour()*3600 + t.Minute()*60 + t.Second()
	if from < to {
		return onDay(w, t.Weekday()) && now >= from && now < to
	}
	// Past midnight: opened today, or yesterday and not closed yet.
	return (onDay(w, t.Weekday()) && now >= from) || (onDay(w, (t.Weekday()+6)%7) && now < to)
}

func onDay(w v1alpha1.ScheduleWindow, d time.Weekday) bool {
	return slices.Contains(w.Days, v1alpha1.Weekday(d.String()[:3]))
}

// clockSeconds reads HH:MM, which the schema has checked.
func clockSeconds(hhmm string) int {
	h, m, _ := strings.Cut(hhmm, ":")
	hours, _ := strconv.Atoi(h)
	minutes, _ := strconv.Atoi(m)
	return hours*3600 + minutes*60
}

// changeCandidates are, in order, every instant after now within the horizon at which the
// floor can change: each window's edges on each day, and those minus the lead time, in local
// time. A local time can map to no instant or to two around a change of clocks, so each
// candidate also comes an hour either side, and the zone's transitions are candidates too;
// the floor is then read at each, so a wrong guess costs nothing.
func changeCandidates(s *v1alpha1.JVBSchedule, now time.Time, loc *time.Location) []time.Time {
	end := now.Add(scheduleHorizon)
	local := now.In(loc)
	var out []time.Time
	add := func(t time.Time) {
		for _, c := range []time.Time{t, t.Add(-time.Hour), t.Add(time.Hour)} {
			if c.After(now) && !c.After(end) {
				out = append(out, c)
			}
		}
	}
	lead := s.LeadTime.Duration
	for day := -1; day <= 8; day++ {
		for _, w := range s.Windows {
			for _, edge := range []string{w.From, w.To} {
				sec := clockSeconds(edge)
				t := time.Date(local.Year(), local.Month(), local.Day()+day, sec/3600, sec%3600/60, 0, 0, loc)
				add(t)
				add(t.Add(-lead))
			}
		}
	}
	for t := local; t.Before(end); {
		_, next := t.ZoneBounds()
		if next.IsZero() || !next.After(t) {
			break
		}
		add(next)
		add(next.Add(-lead))
		t = next
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return slices.CompactFunc(out, func(a, b time.Time) bool { return a.Equal(b) })
}

// scheduleTTL is how soon Crossplane should call the function again for the schedule: at the
// next change of the floor. Crossplane v2.4 requeues an XR after the pipeline's smallest TTL
// jittered by ±10% (realtime compositions, its default), so a TTL of until/0.9 calls no
// earlier than the change and at most a ninth of the wait after it. Beyond a minute the
// default TTL stands: the function is called again within a minute anyway.
func scheduleTTL(now, next time.Time) time.Duration {
	if next.IsZero() {
		return response.DefaultTTL
	}
	until := next.Sub(now)
	if until >= response.DefaultTTL {
		return response.DefaultTTL
	}
	return max(time.Second, time.Duration(float64(until)/0.9))
}

// describe says which windows hold the floor and when it changes next, for the tenant.
func (in *instance) describeFloor(f floor) string {
	s := in.spec.JVB.Schedule
	loc, _ := loadZone(*in.spec.Timezone)
	var b strings.Builder
	if len(f.windows) == 0 {
		fmt.Fprintf(&b, "no window of the schedule is open: the autoscaler keeps at least %s", bridges(f.minReplicas))
	} else {
		names := make([]string, 0, len(f.windows))
		for _, i := range f.windows {
			w := s.Windows[i]
			names = append(names, fmt.Sprintf("windows[%d] (%s %s-%s, %s)", i, joinDays(w.Days), w.From, w.To, bridges(w.MinReplicas)))
		}
		fmt.Fprintf(&b, "%s: the autoscaler keeps at least %s", strings.Join(names, ", "), bridges(f.minReplicas))
	}
	if !f.next.IsZero() {
		fmt.Fprintf(&b, " until %s", f.next.In(loc).Format("Mon 2006-01-02 15:04 MST"))
	}
	return b.String()
}

func joinDays(days []v1alpha1.Weekday) string {
	out := make([]string, len(days))
	for i, d := range days {
		out[i] = string(d)
	}
	return strings.Join(out, ",")
}

// validateSchedule checks what the schema cannot say with an index: each window's floor lies
// within the strategy's bounds.
func validateSchedule(j *v1alpha1.JVBSpec, path *field.Path) field.ErrorList {
	if j.Schedule == nil {
		return nil
	}
	var errs field.ErrorList
	lo, hi := *j.Strategy.MinReplicas, *j.Strategy.MaxReplicas
	for i, w := range j.Schedule.Windows {
		if w.MinReplicas < lo || w.MinReplicas > hi {
			errs = append(errs, field.Invalid(path.Child("windows").Index(i).Child("minReplicas"), w.MinReplicas,
				fmt.Sprintf("must be between spec.jvb.strategy.minReplicas (%d) and spec.jvb.strategy.maxReplicas (%d)", lo, hi)))
		}
	}
	return errs
}

func bridges(n int32) string {
	if n == 1 {
		return "1 bridge"
	}
	return fmt.Sprintf("%d bridges", n)
}
