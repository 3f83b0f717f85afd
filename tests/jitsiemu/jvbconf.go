package jitsiemu

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// CustomJVBConfigFile is the file in the JVB ConfigMap that the image includes at the end of
// its jvb.conf (fn/jvb.go; docker-jitsi-meet jvb/rootfs/defaults/jvb.conf).
const CustomJVBConfigFile = "custom-jvb.conf"

// The keys of custom-jvb.conf the emulated bridge reads, as ShutdownConfig.kt does.
const (
	keyGracefulShutdownMaxDuration     = "videobridge.shutdown.graceful-shutdown-max-duration"
	keyGracefulShutdownMinParticipants = "videobridge.shutdown.graceful-shutdown-min-participants"
	keyShuttingDownDelay               = "videobridge.shutdown.shutting-down-delay"
)

// applyJVBConfig reads the shutdown settings of a custom-jvb.conf into cfg, as the bridge
// reads its HOCON configuration at start. Settings the file does not name keep cfg's values.
func applyJVBConfig(cfg *BridgeConfig, file string) error {
	values, err := parseHOCON(file)
	if err != nil {
		return err
	}
	if v, ok := values[keyGracefulShutdownMaxDuration]; ok {
		if cfg.GracefulShutdownMaxDuration, err = parseHOCONDuration(v); err != nil {
			return fmt.Errorf("%s: %w", keyGracefulShutdownMaxDuration, err)
		}
	}
	if v, ok := values[keyShuttingDownDelay]; ok {
		if cfg.ShuttingDownDelay, err = parseHOCONDuration(v); err != nil {
			return fmt.Errorf("%s: %w", keyShuttingDownDelay, err)
		}
	}
	if v, ok := values[keyGracefulShutdownMinParticipants]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%s: %q must be an integer", keyGracefulShutdownMinParticipants, v)
		}
		cfg.GracefulShutdownMinParticipants = n
	}
	return nil
}

// parseHOCON reads the simple HOCON this project writes: "a.b.c = value" or "a.b.c: value"
// lines, "a { ... }" blocks, comments with # or //, include lines (ignored). It returns the
// values by their full dotted path; a later value wins, as in HOCON. Arrays, objects as
// values and substitutions are not supported and fail with the line's number.
func parseHOCON(text string) (map[string]string, error) {
	values := map[string]string{}
	var path []string
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		line = stripHOCONComment(line)
		if line == "" || strings.HasPrefix(line, "include ") {
			continue
		}
		for strings.HasPrefix(line, "}") {
			if len(path) == 0 {
				return nil, fmt.Errorf("line %d: unbalanced }", n)
			}
			path = path[:len(path)-1]
			line = strings.TrimSpace(line[1:])
		}
		if line == "" {
			continue
		}
		if strings.HasSuffix(line, "{") {
			key := strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(line, "{"), "="))
			if key == "" {
				return nil, fmt.Errorf("line %d: a block needs a key", n)
			}
			path = append(path, key)
			continue
		}
		sep := strings.IndexAny(line, "=:")
		if sep <= 0 {
			return nil, fmt.Errorf("line %d: want key = value, got %q", n, line)
		}
		key := strings.TrimSpace(line[:sep])
		value := strings.TrimSpace(line[sep+1:])
		if strings.HasPrefix(value, "[") || strings.HasPrefix(value, "{") || strings.Contains(value, "${") {
			return nil, fmt.Errorf("line %d: %s: arrays, objects and substitutions are not supported here", n, key)
		}
		value = strings.Trim(value, `"`)
		values[strings.Join(append(append([]string{}, path...), key), ".")] = value
	}
	if len(path) > 0 {
		return nil, fmt.Errorf("block %q is not closed", strings.Join(path, "."))
	}
	return values, nil
}

func stripHOCONComment(line string) string {
	if i := strings.Index(line, "#"); i >= 0 {
		line = line[:i]
	}
	if i := strings.Index(line, "//"); i >= 0 {
		line = line[:i]
	}
	return strings.TrimSpace(line)
}

// parseHOCONDuration reads a HOCON duration: a number and an optional unit; a bare number
// is milliseconds (the HOCON spec, as Config.getDuration reads it).
func parseHOCONDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] == '.' || s[i] == '-' || s[i] == '+' || (s[i] >= '0' && s[i] <= '9')) {
		i++
	}
	number, unit := s[:i], strings.TrimSpace(s[i:])
	f, err := strconv.ParseFloat(number, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: want a number and a unit such as \"3600 seconds\"", s)
	}
	units := map[string]time.Duration{
		"": time.Millisecond, "ns": time.Nanosecond, "nano": time.Nanosecond, "nanos": time.Nanosecond,
		"nanosecond": time.Nanosecond, "nanoseconds": time.Nanosecond,
		"us": time.Microsecond, "micro": time.Microsecond, "micros": time.Microsecond,
		"microsecond": time.Microsecond, "microseconds": time.Microsecond,
		"ms": time.Millisecond, "milli": time.Millisecond, "millis": time.Millisecond,
		"millisecond": time.Millisecond, "milliseconds": time.Millisecond,
		"s": time.Second, "second": time.Second, "seconds": time.Second,
		"m": time.Minute, "minute": time.Minute, "minutes": time.Minute,
		"h": time.Hour, "hour": time.Hour, "hours": time.Hour,
		"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	}
	u, ok := units[unit]
	if !ok {
		return 0, fmt.Errorf("%q has an unknown time unit %q", s, unit)
	}
	if f < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return time.Duration(f * float64(u)), nil
}
