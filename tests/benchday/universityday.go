package benchday

import (
	"bytes"
	"fmt"
	"io"
)

//go:generate go run ./defaulttrace -o testdata/university-day.csv

// UniversityDayName names the default trace and its output directory.
const UniversityDayName = "university-day"

// UniversityDayRegion is the region of every conference of the default trace: a single
// region, like the sample claim (examples/claim.yaml, region europe).
const UniversityDayRegion = "europe"

// slot is the conferences that start at one minute of the default day.
type slot struct {
	minute int
	what   string
	// conferences are {duration in minutes, participants}, largest first.
	conferences [][2]int
}

// universityDay is the default "university day", written by hand so that every figure is
// deliberate and the day is the same on every machine:
//
//   - lectures start on the hour from 08:00 to 18:00 and last 60 or 90 minutes, from
//     seminars of 10 to 30 students to lectures of 200 to 300;
//   - the lectures of 10:00 gather exactly 1,000 students, and that is the day's peak: every
//     09:00 lecture ends at 10:00 as the 10:00 ones begin, and what runs after 11:00 stays
//     below 1,000 (880 at most, 11:10 to 11:30);
//   - lunch, 12:00 to 14:00, is quiet (at most 105);
//   - a few evening meetings, from 18:30, all over by 21:00;
//   - nothing from 21:00 to 08:00.
var universityDay = []slot{
	{8 * 60, "the first lectures", [][2]int{{90, 150}, {60, 80}, {60, 30}, {90, 20}, {60, 12}}},
	{9 * 60, "one-hour lectures, all over at 10:00", [][2]int{{60, 280}, {60, 180}, {60, 100}, {60, 60}, {60, 25}, {60, 15}}},
	{10 * 60, "the peak, 1,000 students at once", [][2]int{{90, 300}, {60, 250}, {90, 200}, {60, 120}, {60, 60}, {90, 30}, {60, 25}, {60, 15}}},
	{11 * 60, "the morning's last lectures", [][2]int{{60, 200}, {60, 90}, {90, 40}, {60, 20}}},
	{12 * 60, "lunch, a few seminars", [][2]int{{60, 40}, {60, 15}, {60, 10}}},
	{13 * 60, "lunch, a few seminars", [][2]int{{60, 30}, {60, 12}}},
	{14 * 60, "the afternoon's big lectures", [][2]int{{90, 250}, {60, 150}, {60, 80}, {60, 30}, {90, 20}}},
	{15 * 60, "afternoon lectures", [][2]int{{60, 200}, {60, 120}, {90, 60}, {60, 25}}},
	{16 * 60, "afternoon lectures", [][2]int{{90, 180}, {60, 100}, {60, 50}, {60, 20}}},
	{17 * 60, "the last big lecture", [][2]int{{60, 120}, {90, 60}, {60, 30}, {60, 15}}},
	{18 * 60, "the last lectures", [][2]int{{90, 40}, {60, 20}, {60, 10}}},
	{18*60 + 30, "evening meeting", [][2]int{{60, 12}}},
	{19 * 60, "evening meeting", [][2]int{{60, 8}}},
	{19*60 + 30, "evening meeting", [][2]int{{90, 15}}},
	{20 * 60, "evening meeting", [][2]int{{45, 6}}},
}

// UniversityDay is the default trace: a weekday of a university that teaches online, 1,000
// students at the 10:00 peak. testdata/university-day.csv is this trace as a file
// (UniversityDayCSV); a test keeps the two equal.
func UniversityDay() Trace {
	var confs []Conference
	for _, s := range universityDay {
		for _, c := range s.conferences {
			confs = append(confs, Conference{
				StartMinute: s.minute, DurationMinutes: c[0], Participants: c[1], Region: UniversityDayRegion,
			})
		}
	}
	return Trace{Name: UniversityDayName, Conferences: confs}
}

// UniversityDayCSV is the default trace in the trace format, with a comment per time slot.
func UniversityDayCSV() []byte {
	var b bytes.Buffer
	writeUniversityDay(&b)
	return b.Bytes()
}

func writeUniversityDay(w io.Writer) {
	fmt.Fprintf(w, `# %s: the default trace of the lecture-day benchmark (docs/bench-day.md).
# Generated from tests/benchday/universityday.go by "go generate ./benchday" in tests/;
# edit the table there, not this file.
#
# A weekday of a university that teaches online, in one region: lectures on the hour from
# 08:00 to 18:00 (60 or 90 minutes, 10 to 300 students), 1,000 students at once in the
# 10:00 lectures (the peak), a quiet lunch from 12:00 to 14:00, a few evening meetings,
# nothing from 21:00 to 08:00. Minute 0 is midnight.
%s
`, UniversityDayName, TraceHeader)
	for _, s := range universityDay {
		total := 0
		for _, c := range s.conferences {
			total += c[1]
		}
		noun := "conferences"
		if len(s.conferences) == 1 {
			noun = "conference"
		}
		fmt.Fprintf(w, "# %02d:%02d %s (%d %s, %d participants)\n", s.minute/60, s.minute%60, s.what, len(s.conferences), noun, total)
		for _, c := range s.conferences {
			fmt.Fprintf(w, "%d,%d,%d,%s\n", s.minute, c[0], c[1], UniversityDayRegion)
		}
	}
}
