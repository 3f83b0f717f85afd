package benchday

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseTraceAcceptsTheFormat(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []Conference
	}{{
		name:  "header and two conferences",
		input: "start_minute,duration_minutes,participants,region\n600,60,300,europe\n0,1440,1,a\n",
		want: []Conference{
			{StartMinute: 600, DurationMinutes: 60, Participants: 300, Region: "europe"},
			{StartMinute: 0, DurationMinutes: 1440, Participants: 1, Region: "a"},
		},
	}, {
		name:  "comments and blank lines anywhere, spaces around fields, CRLF, a byte order mark",
		input: "\ufeff# a day\r\n\r\n  start_minute, duration_minutes ,participants,region \r\n# 10:00\r\n 600 , 90, 25 ,us-east-1\r\n\r\n",
		want:  []Conference{{StartMinute: 600, DurationMinutes: 90, Participants: 25, Region: "us-east-1"}},
	}, {
		name:  "unsorted lines keep the file's order",
		input: TraceHeader + "\n900,60,10,europe\n480,60,20,europe\n",
		want: []Conference{
			{StartMinute: 900, DurationMinutes: 60, Participants: 10, Region: "europe"},
			{StartMinute: 480, DurationMinutes: 60, Participants: 20, Region: "europe"},
		},
	}, {
		name:  "a header alone is an empty day",
		input: TraceHeader,
		want:  nil,
	}, {
		name:  "ends exactly at midnight",
		input: TraceHeader + "\n1439,1,5,europe\n",
		want:  []Conference{{StartMinute: 1439, DurationMinutes: 1, Participants: 5, Region: "europe"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTrace(strings.NewReader(tt.input))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseTraceRefusesMalformedLinesByNumber(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		wantErr string
	}{{
		name:    "empty input",
		input:   "",
		wantErr: `trace is empty: it must start with the header "start_minute,duration_minutes,participants,region"`,
	}, {
		name:    "only comments",
		input:   "# nothing\n\n",
		wantErr: `trace is empty: it must start with the header`,
	}, {
		name:    "a wrong header",
		input:   "# comment\nstart,duration,participants,region\n600,60,10,europe\n",
		wantErr: `line 2: header: must be exactly "start_minute,duration_minutes,participants,region", not "start,duration,participants,region"`,
	}, {
		name:    "header columns in another order",
		input:   "duration_minutes,start_minute,participants,region\n",
		wantErr: `line 1: header: must be exactly`,
	}, {
		name:    "header with an extra column",
		input:   TraceHeader + ",room\n",
		wantErr: `line 1: header: must be exactly`,
	}, {
		name:    "no header: data first",
		input:   "600,60,10,europe\n",
		wantErr: `line 1: header: must be exactly`,
	}, {
		name:    "participants not a number",
		input:   TraceHeader + "\n# 08:00\n480,60,20,europe\n\n540,60,20,europe\n# 10:00\n600,60,abc,europe\n",
		wantErr: `line 7: participants: must be a positive integer, not "abc"`,
	}, {
		name:    "participants zero",
		input:   TraceHeader + "\n600,60,0,europe\n",
		wantErr: `line 2: participants: must be a positive integer of at most 10000, not "0"`,
	}, {
		name:    "participants negative",
		input:   TraceHeader + "\n600,60,-3,europe\n",
		wantErr: `line 2: participants: must be a positive integer of at most 10000, not "-3"`,
	}, {
		name:    "participants beyond the bound",
		input:   TraceHeader + "\n600,60,30000,europe\n",
		wantErr: `line 2: participants: must be a positive integer of at most 10000, not "30000"`,
	}, {
		name:    "participants a fraction",
		input:   TraceHeader + "\n600,60,12.5,europe\n",
		wantErr: `line 2: participants: must be a positive integer, not "12.5"`,
	}, {
		name:    "start before midnight",
		input:   TraceHeader + "\n-1,60,10,europe\n",
		wantErr: `line 2: start_minute: must be an integer from 0 to 1439 (minutes after midnight), not "-1"`,
	}, {
		name:    "start past the day",
		input:   TraceHeader + "\n1440,1,10,europe\n",
		wantErr: `line 2: start_minute: must be an integer from 0 to 1439 (minutes after midnight), not "1440"`,
	}, {
		name:    "start as a clock time",
		input:   TraceHeader + "\n10:00,60,10,europe\n",
		wantErr: `line 2: start_minute: must be an integer from 0 to 1439 (minutes after midnight), not "10:00"`,
	}, {
		name:    "duration zero",
		input:   TraceHeader + "\n600,0,10,europe\n",
		wantErr: `line 2: duration_minutes: must be a positive integer, not "0"`,
	}, {
		name:    "duration empty",
		input:   TraceHeader + "\n600,,10,europe\n",
		wantErr: `line 2: duration_minutes: must be a positive integer, not ""`,
	}, {
		name:    "past midnight",
		input:   TraceHeader + "\n1400,60,10,europe\n",
		wantErr: `line 2: duration_minutes: must end by midnight (start_minute + duration_minutes ≤ 1440), not 1400 + 60 = 1460`,
	}, {
		name:    "region empty",
		input:   TraceHeader + "\n600,60,10,\n",
		wantErr: `line 2: region: must be a DNS label (1 to 63 lowercase letters, digits or '-', starting and ending with a letter or digit), not ""`,
	}, {
		name:    "region with capitals",
		input:   TraceHeader + "\n600,60,10,Europe\n",
		wantErr: `line 2: region: must be a DNS label`,
	}, {
		name:    "region ending with a dash",
		input:   TraceHeader + "\n600,60,10,eu-\n",
		wantErr: `line 2: region: must be a DNS label`,
	}, {
		name:    "region too long",
		input:   TraceHeader + "\n600,60,10," + strings.Repeat("a", 64) + "\n",
		wantErr: `line 2: region: must be a DNS label`,
	}, {
		name:    "an inline comment is not a comment",
		input:   TraceHeader + "\n600,60,10,europe # big lecture\n",
		wantErr: `line 2: region: must be a DNS label`,
	}, {
		name:    "too few fields",
		input:   TraceHeader + "\n600,60,10\n",
		wantErr: `line 2: must have 4 comma-separated fields (start_minute,duration_minutes,participants,region), not 3`,
	}, {
		name:    "too many fields",
		input:   TraceHeader + "\n600,60,10,europe,extra\n",
		wantErr: `line 2: must have 4 comma-separated fields (start_minute,duration_minutes,participants,region), not 5`,
	}, {
		name:    "a quoted field",
		input:   TraceHeader + "\n\"600\",60,10,europe\n",
		wantErr: `line 2: start_minute: must be an integer from 0 to 1439 (minutes after midnight), not "\"600\""`,
	}, {
		name:    "a line that is too long",
		input:   TraceHeader + "\n" + strings.Repeat("9", 2<<20) + "\n",
		wantErr: `line 2: longer than 1 MiB: not a trace line`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTrace(strings.NewReader(tt.input))
			require.Error(t, err)
			assert.ErrorContains(t, err, tt.wantErr)
			assert.Nil(t, got)
		})
	}
}

func TestValidateConference(t *testing.T) {
	tests := []struct {
		name    string
		c       Conference
		wantErr string
	}{
		{"valid", Conference{StartMinute: 600, DurationMinutes: 60, Participants: 10, Region: "europe"}, ""},
		{"whole day", Conference{StartMinute: 0, DurationMinutes: DayMinutes, Participants: 1, Region: "x"}, ""},
		{"negative start", Conference{StartMinute: -5, DurationMinutes: 60, Participants: 10, Region: "europe"}, `start_minute: must be an integer from 0 to 1439`},
		{"negative duration", Conference{StartMinute: 5, DurationMinutes: -60, Participants: 10, Region: "europe"}, `duration_minutes: must be a positive integer, not "-60"`},
		{"past midnight", Conference{StartMinute: 1439, DurationMinutes: 2, Participants: 10, Region: "europe"}, `duration_minutes: must end by midnight`},
		{"no participant", Conference{StartMinute: 5, DurationMinutes: 60, Region: "europe"}, `participants: must be a positive integer`},
		{"no region", Conference{StartMinute: 5, DurationMinutes: 60, Participants: 10}, `region: must be a DNS label`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateConference(tt.c)
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestTraceValidateNamesTheConference(t *testing.T) {
	trace := Trace{Name: "day", Conferences: []Conference{
		{StartMinute: 600, DurationMinutes: 60, Participants: 10, Region: "europe"},
		{StartMinute: 600, DurationMinutes: 60, Participants: 10, Region: "Europe"},
	}}
	assert.ErrorContains(t, trace.Validate(), `trace day: conference 1: region: must be a DNS label`)

	for _, name := range []string{"", ".hidden", "a/b", "../up", "day one"} {
		assert.ErrorContains(t, Trace{Name: name}.Validate(), "trace name: must be 1 to 100 letters", "name %q", name)
	}
	assert.NoError(t, Trace{Name: "university-day_v2.1"}.Validate())
}

func TestLoadTraceNamesTheTraceAfterItsFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "small-day.csv")
	require.NoError(t, os.WriteFile(path, []byte(TraceHeader+"\n600,60,10,europe\n"), 0o600))
	trace, err := LoadTrace(path)
	require.NoError(t, err)
	assert.Equal(t, Trace{Name: "small-day", Conferences: []Conference{
		{StartMinute: 600, DurationMinutes: 60, Participants: 10, Region: "europe"},
	}}, trace)

	bad := filepath.Join(dir, "bad.csv")
	require.NoError(t, os.WriteFile(bad, []byte(TraceHeader+"\n600,60,10,europe\n600,60,x,europe\n"), 0o600))
	_, err = LoadTrace(bad)
	assert.EqualError(t, err, bad+`: line 3: participants: must be a positive integer, not "x"`)

	_, err = LoadTrace(filepath.Join(dir, "missing.csv"))
	assert.ErrorContains(t, err, "opening the trace")

	_, err = LoadTrace(filepath.Join(dir, "a day.csv"))
	assert.ErrorContains(t, err, `trace name: must be`)
}

func TestJoinedFollowsTheRamp(t *testing.T) {
	lecture := Conference{StartMinute: 600, DurationMinutes: 60, Participants: 100, Region: "europe"}
	tests := []struct {
		minute float64
		want   int
	}{
		{599.99, 0},  // before the start
		{600, 0},     // the instant it starts
		{600.5, 20},  // 80% over 2 minutes: 40 a minute
		{601, 40},    //
		{602, 80},    // the early 80% are in
		{606, 90},    // the late 20% over minutes 2 to 10: 2.5 a minute
		{609.99, 99}, //
		{610, 100},   // everyone from minute 10
		{659.99, 100},
		{660, 0}, // everyone leaves at the end, at once
		{700, 0},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Joined(lecture, tt.minute), "minute %v", tt.minute)
	}

	// Counts round down, so a small seminar fills later than its share says.
	seminar := Conference{StartMinute: 0, DurationMinutes: 30, Participants: 7, Region: "europe"}
	assert.Equal(t, 2, Joined(seminar, 1))  // 2.8
	assert.Equal(t, 5, Joined(seminar, 2))  // 5.6
	assert.Equal(t, 6, Joined(seminar, 7))  // 6.3
	assert.Equal(t, 7, Joined(seminar, 10)) // 7

	// A conference shorter than the ramp ends before its late joiners come.
	short := Conference{StartMinute: 100, DurationMinutes: 5, Participants: 100, Region: "europe"}
	assert.Equal(t, 87, Joined(short, 104.99))
	assert.Equal(t, 0, Joined(short, 105))
}

func TestJoinedNeverDecreasesWhileTheConferenceRuns(t *testing.T) {
	c := Conference{StartMinute: 10, DurationMinutes: 90, Participants: 273, Region: "europe"}
	previous := 0
	for minute := 10.0; minute < 100; minute += 0.01 {
		n := Joined(c, minute)
		require.GreaterOrEqual(t, n, previous, "minute %v", minute)
		require.LessOrEqual(t, n, c.Participants)
		previous = n
	}
	assert.Equal(t, c.Participants, previous)
}

func TestJoinedFraction(t *testing.T) {
	for _, tt := range []struct{ elapsed, want float64 }{
		{-1, 0}, {0, 0}, {1, 0.4}, {2, 0.8}, {4, 0.85}, {10, 1}, {1000, 1},
	} {
		assert.InDelta(t, tt.want, JoinedFraction(tt.elapsed), 1e-12, "elapsed %v", tt.elapsed)
	}
}

func TestParticipantsAtSumsTheConferences(t *testing.T) {
	confs := []Conference{
		{StartMinute: 540, DurationMinutes: 60, Participants: 50, Region: "europe"},
		{StartMinute: 600, DurationMinutes: 60, Participants: 100, Region: "europe"},
		{StartMinute: 600, DurationMinutes: 90, Participants: 10, Region: "europe"},
	}
	assert.Equal(t, 50, ParticipantsAt(confs, 599.5))
	assert.Equal(t, 0, ParticipantsAt(confs, 600)) // the 9:00 lecture left, the 10:00 ones not yet in
	assert.Equal(t, 40+4, ParticipantsAt(confs, 601))
	assert.Equal(t, 10, ParticipantsAt(confs, 665))
}
