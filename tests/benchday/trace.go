// Package benchday holds the pure, cluster-free parts of the "lecture day" benchmark: the
// trace format and its parser, the default university-day trace, the ramp that says how
// students join a conference, the perfect-foresight oracle, the timeline a runner fills while
// it plays a trace on a control plane, the metrics computed from that timeline, and the
// report (summary.json, day.svg, a Markdown table). docs/bench-day.md defines every figure.
package benchday

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// DayMinutes is the length of a trace: one day, minute 0 is midnight.
const DayMinutes = 24 * 60

// TraceHeader is the first line every trace file must have, field for field.
const TraceHeader = "start_minute,duration_minutes,participants,region"

// MaxParticipants bounds one conference. It is not a Jitsi limit: the runner emulates every
// participant, and a typing slip such as 30000 for 300 would otherwise start a day of
// hundreds of bridges. The default trace's largest conference has 300.
const MaxParticipants = 10000

// traceFields are the header's fields, in order.
var traceFields = strings.Split(TraceHeader, ",")

// regionPattern is the claim's spec.region pattern (apis/v1alpha1): a DNS label.
var regionPattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// traceNamePattern: a trace name names the output directory _output/bench-day/<name>/.
var traceNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Conference is one line of a trace: a conference that starts at StartMinute (minutes after
// midnight), lasts DurationMinutes and gathers Participants, who join over its first minutes
// (Joined) and leave at its end, in Region.
type Conference struct {
	StartMinute, DurationMinutes, Participants int
	Region                                     string
}

// EndMinute is the minute the conference ends: its participants leave at that instant.
func (c Conference) EndMinute() int { return c.StartMinute + c.DurationMinutes }

// Trace is a named day of conferences. The name names the output directory.
type Trace struct {
	Name        string
	Conferences []Conference
}

// ParseTrace reads a trace in the CSV format of docs/bench-day.md:
//
//   - the first line that is neither blank nor a comment is the header TraceHeader, its four
//     fields exactly, in that order;
//   - then one conference per line: start_minute (0 to 1439), duration_minutes (at least 1,
//     and the conference ends by midnight: start + duration ≤ 1440), participants (1 to
//     MaxParticipants), region (a DNS label, like the claim's spec.region);
//   - blank lines, and lines whose first non-space character is '#', are ignored anywhere;
//   - spaces around a field are ignored; there is no quoting (no field needs a comma); a
//     trailing CR (CRLF line ends) and a leading UTF-8 byte order mark are accepted.
//
// Conferences keep the file's order, which need not be sorted. A trace with a header and no
// conference is valid: an empty day. The first malformed line stops the parse with an error
// that names its line number (1-based, counting every line) and the field.
func ParseTrace(r io.Reader) ([]Conference, error) {
	scanner := bufio.NewScanner(r)
	// A trace line is a few dozen bytes; a megabyte leaves room for anything sane.
	scanner.Buffer(make([]byte, 0, 64*1024), 1<<20)
	var (
		confs      []Conference
		lineNo     int
		sawHeader  bool
		conference Conference
	)
	for scanner.Scan() {
		lineNo++
		line := scanner.Text()
		if lineNo == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, ",")
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
		if !sawHeader {
			if !equalFields(fields, traceFields) {
				return nil, fmt.Errorf("line %d: header: must be exactly %q, not %q", lineNo, TraceHeader, line)
			}
			sawHeader = true
			continue
		}
		if len(fields) != len(traceFields) {
			return nil, fmt.Errorf("line %d: must have %d comma-separated fields (%s), not %d",
				lineNo, len(traceFields), TraceHeader, len(fields))
		}
		var err error
		if conference, err = parseConference(fields); err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, err)
		}
		confs = append(confs, conference)
	}
	if err := scanner.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("line %d: longer than 1 MiB: not a trace line", lineNo+1)
		}
		return nil, fmt.Errorf("reading the trace after line %d: %w", lineNo, err)
	}
	if !sawHeader {
		return nil, fmt.Errorf("trace is empty: it must start with the header %q", TraceHeader)
	}
	return confs, nil
}

func equalFields(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// parseConference parses the four fields of a data line and validates the conference.
func parseConference(fields []string) (Conference, error) {
	start, err := strconv.Atoi(fields[0])
	if err != nil {
		return Conference{}, fmt.Errorf("start_minute: must be an integer from 0 to %d (minutes after midnight), not %q", DayMinutes-1, fields[0])
	}
	duration, err := strconv.Atoi(fields[1])
	if err != nil {
		return Conference{}, fmt.Errorf("duration_minutes: must be a positive integer, not %q", fields[1])
	}
	participants, err := strconv.Atoi(fields[2])
	if err != nil {
		return Conference{}, fmt.Errorf("participants: must be a positive integer, not %q", fields[2])
	}
	c := Conference{StartMinute: start, DurationMinutes: duration, Participants: participants, Region: fields[3]}
	return c, ValidateConference(c)
}

// ValidateConference checks a conference as ParseTrace does, for traces built in Go. The
// error names the field and what it must be.
func ValidateConference(c Conference) error {
	switch {
	case c.StartMinute < 0 || c.StartMinute >= DayMinutes:
		return fmt.Errorf("start_minute: must be an integer from 0 to %d (minutes after midnight), not %q",
			DayMinutes-1, strconv.Itoa(c.StartMinute))
	case c.DurationMinutes < 1:
		return fmt.Errorf("duration_minutes: must be a positive integer, not %q", strconv.Itoa(c.DurationMinutes))
	case c.EndMinute() > DayMinutes:
		// A trace is one day: the metrics and the oracle integrate over [0, 1440). A conference
		// past midnight would have to be cut (hiding load) or wrapped onto the same day's
		// morning (inventing load), so it is refused.
		return fmt.Errorf("duration_minutes: must end by midnight (start_minute + duration_minutes ≤ %d), not %d + %d = %d",
			DayMinutes, c.StartMinute, c.DurationMinutes, c.EndMinute())
	case c.Participants < 1 || c.Participants > MaxParticipants:
		return fmt.Errorf("participants: must be a positive integer of at most %d, not %q", MaxParticipants, strconv.Itoa(c.Participants))
	case len(c.Region) > 63 || !regionPattern.MatchString(c.Region):
		return fmt.Errorf("region: must be a DNS label (1 to 63 lowercase letters, digits or '-', starting and ending with a letter or digit), not %q", c.Region)
	}
	return nil
}

// Validate checks the trace's name and every conference; an error names the conference by
// its index in Conferences (from 0).
func (t Trace) Validate() error {
	if err := ValidateTraceName(t.Name); err != nil {
		return err
	}
	for i, c := range t.Conferences {
		if err := ValidateConference(c); err != nil {
			return fmt.Errorf("trace %s: conference %d: %w", t.Name, i, err)
		}
	}
	return nil
}

// ValidateTraceName checks that a trace name can name its output directory.
func ValidateTraceName(name string) error {
	if len(name) > 100 || !traceNamePattern.MatchString(name) {
		return fmt.Errorf("trace name: must be 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit (it names the directory _output/bench-day/<name>/), not %q", name)
	}
	return nil
}

// LoadTrace reads a trace file. Its name is the file's base name without the ".csv"
// extension: testdata/university-day.csv is the trace "university-day".
func LoadTrace(path string) (Trace, error) {
	name := strings.TrimSuffix(filepath.Base(path), ".csv")
	if err := ValidateTraceName(name); err != nil {
		return Trace{}, fmt.Errorf("%s: %w", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return Trace{}, fmt.Errorf("opening the trace: %w", err)
	}
	defer f.Close()
	confs, err := ParseTrace(f)
	if err != nil {
		return Trace{}, fmt.Errorf("%s: %w", path, err)
	}
	return Trace{Name: name, Conferences: confs}, nil
}
