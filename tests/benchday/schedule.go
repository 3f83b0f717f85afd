package benchday

import (
	"fmt"
	"slices"
)

// ScheduleWindow is one window of a claim's spec.jvb.schedule, on every weekday.
type ScheduleWindow struct {
	From, To    string
	MinReplicas int
}

// ScheduleDays are the days of the windows ScheduleFromTrace writes: a trace is a weekday.
var ScheduleDays = []string{"Mon", "Tue", "Wed", "Thu", "Fri"}

// ScheduleFromTrace writes the timetable a university would give its claim for the trace:
// for every hour of the day in which conferences run, a window over that hour whose
// minReplicas is the most bridges the hour's conferences need at the target (the oracle's
// largest count in the hour: the enrolments, known in advance, not the moment-to-moment
// load). Hours that need no more than one bridge (the autoscaler's own floor) get no
// window, and consecutive hours that need the same count share one. The claim's leadTime
// then raises each floor before its hour begins.
func ScheduleFromTrace(confs []Conference, capacity int, target float64) ([]ScheduleWindow, error) {
	bridges, err := OracleBridgesPerMinute(confs, capacity, target)
	if err != nil {
		return nil, err
	}
	var windows []ScheduleWindow
	lastEnd := -1 // the hour the last window ends at
	for hour := range DayMinutes / 60 {
		need := slices.Max(bridges[hour*60 : hour*60+60])
		if need <= 1 {
			continue
		}
		if n := len(windows); n > 0 && lastEnd == hour && windows[n-1].MinReplicas == need {
			windows[n-1].To = clock(hour + 1)
		} else {
			windows = append(windows, ScheduleWindow{From: clock(hour), To: clock(hour + 1), MinReplicas: need})
		}
		lastEnd = hour + 1
	}
	return windows, nil
}

// clock writes an hour as HH:MM; the day's end, 24, as 00:00 (a window that ends at
// midnight closes the next day).
func clock(hour int) string { return fmt.Sprintf("%02d:00", hour%24) }
