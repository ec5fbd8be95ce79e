package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in the config file as a Go duration
// string such as "90s", "15m" or "720h". Bare integers are rejected so that
// "10" cannot be mistaken for seconds or minutes.
type Duration time.Duration

// Duration returns d as a time.Duration.
func (d Duration) Duration() time.Duration { return time.Duration(d) }

// String formats d like time.Duration.String ("15m0s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler, parsing a Go duration
// string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// UnmarshalTOML implements toml.Unmarshaler; only strings are accepted.
func (d *Duration) UnmarshalTOML(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("expected a duration string such as \"15m\", got %s", describe(v))
	}
	return d.UnmarshalText([]byte(s))
}

func parseDuration(s string) (Duration, error) {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("bad duration %q (use Go duration syntax such as \"90s\", \"15m\" or \"720h\")", s)
	}
	return Duration(v), nil
}

// Size is a number of bytes. In the config file it is an integer (bytes) or
// a string with a unit: "512KiB", "30MiB", "10 GiB", "1.5GB". Binary units
// (KiB, MiB, GiB, TiB) are powers of 1024, decimal units (KB, MB, GB, TB)
// powers of 1000; "B" or no unit means bytes.
type Size int64

// Size units.
const (
	B   Size = 1
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
	TiB Size = 1 << 40
)

// Bytes returns s as an int64.
func (s Size) Bytes() int64 { return int64(s) }

// String formats s with the largest binary unit that divides it exactly,
// e.g. "30MiB" or "1000B".
func (s Size) String() string {
	for _, u := range []struct {
		n    Size
		name string
	}{{TiB, "TiB"}, {GiB, "GiB"}, {MiB, "MiB"}, {KiB, "KiB"}} {
		if s != 0 && s%u.n == 0 {
			return strconv.FormatInt(int64(s/u.n), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

// MarshalText implements encoding.TextMarshaler.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := parseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// UnmarshalTOML implements toml.Unmarshaler; integers and strings with a
// unit are accepted.
func (s *Size) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case int64:
		*s = Size(v)
		return nil
	case string:
		return s.UnmarshalText([]byte(v))
	}
	return fmt.Errorf("expected a size in bytes (integer) or a string such as \"30MiB\", got %s", describe(v))
}

var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

func parseSize(str string) (Size, error) {
	bad := func(why string) (Size, error) {
		return 0, fmt.Errorf("bad size %q: %s (use bytes or a unit such as \"512KiB\", \"30MiB\", \"10GiB\")", str, why)
	}
	s := strings.TrimSpace(str)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.' || s[i] == '_' || (i == 0 && s[i] == '-')) {
		i++
	}
	num, unit := strings.ReplaceAll(s[:i], "_", ""), strings.ToLower(strings.TrimSpace(s[i:]))
	if num == "" {
		return bad("no number")
	}
	mult, ok := sizeUnits[unit]
	if !ok {
		return bad(fmt.Sprintf("unknown unit %q", strings.TrimSpace(s[i:])))
	}
	if n, err := strconv.ParseInt(num, 10, 64); err == nil {
		if mult == 1 {
			return Size(n), nil
		}
		m := int64(mult)
		if n > math.MaxInt64/m || n < math.MinInt64/m {
			return bad("too large")
		}
		return Size(n * m), nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return bad("too large")
		}
		return bad("not a number")
	}
	v := math.Round(f * mult)
	if v >= math.MaxInt64 || v <= math.MinInt64 {
		return bad("too large")
	}
	return Size(v), nil
}

// describe names the TOML type of a decoded value for error messages.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("a string (%q)", v)
	case int64:
		return fmt.Sprintf("an integer (%d)", v)
	case float64:
		return fmt.Sprintf("a float (%v)", v)
	case bool:
		return fmt.Sprintf("a boolean (%v)", v)
	case time.Time:
		return "a date/time"
	case []any:
		return "an array"
	case []map[string]any:
		return "an array of tables"
	case map[string]any:
		return "a table"
	case nil:
		return "nothing"
	}
	return fmt.Sprintf("a %T", v)
}
