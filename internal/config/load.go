package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Error is one problem in a configuration. Load, Parse and Validate return
// a single *Error, or several joined with errors.Join; use errors.As to get
// at them.
type Error struct {
	// File is the file name given to Load or Parse; "" for configurations
	// built in code.
	File string
	// Line is the 1-based line of the offending key (or of its table when
	// the key itself is missing); 0 when unknown.
	Line int
	// Key is the dotted key the problem is about, e.g. "listen.imap" or
	// "listen.submission_extra[1]"; "" for syntax errors.
	Key string
	// Msg describes the problem.
	Msg string
	// Err is the underlying error, if any (for syntax errors a
	// toml.ParseError).
	Err error

	unknown bool // Msg already names Key ("unknown key ...")
}

// Error formats the problem as "file:line: key: message".
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		fmt.Fprintf(&b, "%s: ", e.File)
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Key != "" && !e.unknown {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Load reads, parses and validates the configuration file at path. See
// Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	return Parse(data, path)
}

// Parse parses and validates a TOML configuration. Values not in data keep
// their Default. name is used in error messages (normally the file path).
// Syntax errors, unknown keys, values of the wrong type and values that
// fail Validate are all reported as *Error with the line of the key.
func Parse(data []byte, name string) (*Config, error) {
	doc := string(data)

	// 1. Syntax, into a generic tree.
	var raw map[string]any
	if _, err := toml.Decode(doc, &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{File: name, Line: syntaxLine(doc, pe), Msg: "syntax error: " + pe.Message, Err: err}
		}
		return nil, &Error{File: name, Msg: err.Error(), Err: err}
	}

	src := &source{name: name, lines: keyLines(doc)}

	// 2. Unknown keys and wrong types, all of them at once.
	var errs []*Error
	checkTable(rootSchema(), raw, nil, func(key toml.Key, unknown bool, msg string) {
		errs = append(errs, &Error{File: name, Line: src.line(key.String()), Key: key.String(), Msg: msg, unknown: unknown})
	})
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}

	// 3. Decode onto the defaults. The checks above make errors here
	// unlikely; report any that remain with the best position we have.
	cfg := Default()
	if _, err := toml.Decode(doc, cfg); err != nil {
		return nil, decodeError(name, src, err)
	}
	cfg.src = src

	// 4. Values.
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// syntaxLine returns the line of a syntax error. toml reports the line
// after the lexer consumed a newline ("but got '\n'"), so the line is
// recomputed from the byte offset, which points at the offending byte.
func syntaxLine(doc string, pe toml.ParseError) int {
	start := pe.Position.Start
	if start >= len(doc) {
		start = len(doc) - 1 // unexpected EOF: the last line
	}
	if start < 0 || pe.Position.Line == 0 {
		return pe.Position.Line
	}
	return 1 + strings.Count(doc[:start], "\n")
}

// line returns the line of key, of the nearest enclosing table that appears
// in the file, or 0. Index suffixes ("[2]") are ignored.
func (s *source) line(key string) int {
	if s == nil {
		return 0
	}
	if i := strings.IndexByte(key, '['); i >= 0 {
		key = key[:i]
	}
	for key != "" {
		if l, ok := s.lines[key]; ok {
			return l
		}
		i := strings.LastIndexByte(key, '.')
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

var lastKeyRE = regexp.MustCompile(`^toml: (?:line (\d+) )?\(last key "([^"]*)"\): (.*)$`)

func decodeError(name string, src *source, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		line := src.line(pe.LastKey)
		if line == 0 {
			line = pe.Position.Line
		}
		return &Error{File: name, Line: line, Key: pe.LastKey, Msg: pe.Message, Err: err}
	}
	if m := lastKeyRE.FindStringSubmatch(err.Error()); m != nil {
		line := src.line(m[2])
		if line == 0 {
			line, _ = strconv.Atoi(m[1])
		}
		return &Error{File: name, Line: line, Key: m[2], Msg: m[3], Err: err}
	}
	return &Error{File: name, Msg: err.Error(), Err: err}
}

// joinErrors sorts errs by line and joins them; a single error is returned
// as is so that callers can type-assert it directly.
func joinErrors(errs []*Error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	sort.SliceStable(errs, func(i, j int) bool {
		li, lj := errs[i].Line, errs[j].Line
		if li == 0 || lj == 0 {
			return li != 0 && lj == 0 // known lines first
		}
		return li < lj
	})
	es := make([]error, len(errs))
	for i, e := range errs {
		es[i] = e
	}
	return errors.Join(es...)
}

// schema describes the expected shape of the TOML document, derived from
// the toml tags of Config.
type schema struct {
	typ      reflect.Type       // leaf type; nil for tables
	children map[string]*schema // for tables
}

var (
	durationType = reflect.TypeFor[Duration]()
	sizeType     = reflect.TypeFor[Size]()
	routesType   = reflect.TypeFor[Routes]()
)

func rootSchema() *schema { return schemaOf(reflect.TypeFor[Config]()) }

func schemaOf(t reflect.Type) *schema {
	s := &schema{children: make(map[string]*schema)}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			s.children[name] = schemaOf(f.Type)
		} else {
			s.children[name] = &schema{typ: f.Type}
		}
	}
	return s
}

// leafKeys lists the dotted keys of every leaf, in no particular order.
func (s *schema) leafKeys(prefix string) []string {
	var out []string
	for name, c := range s.children {
		k := name
		if prefix != "" {
			k = prefix + "." + name
		}
		if c.typ != nil {
			out = append(out, k)
		} else {
			out = append(out, c.leafKeys(k)...)
		}
	}
	return out
}

type reportFunc func(key toml.Key, unknown bool, msg string)

func checkTable(s *schema, tbl map[string]any, path toml.Key, report reportFunc) {
	names := make([]string, 0, len(tbl))
	for name := range tbl {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v := tbl[name]
		key := append(append(toml.Key{}, path...), name)
		c, ok := s.children[name]
		if !ok {
			msg := fmt.Sprintf("unknown key %q", key.String())
			if alt := suggest(name, s.children); alt != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", append(append(toml.Key{}, path...), alt).String())
			}
			report(key, true, msg)
			continue
		}
		if c.typ == nil {
			sub, ok := v.(map[string]any)
			if !ok {
				report(key, false, "expected a table, got "+describe(v))
				continue
			}
			checkTable(c, sub, key, report)
			continue
		}
		if msg := checkValue(c.typ, v); msg != "" {
			report(key, false, msg)
		}
	}
}

// checkValue checks that v, as decoded by toml into a generic tree, fits
// the Go type t. It returns "" or a message.
func checkValue(t reflect.Type, v any) string {
	switch t {
	case durationType:
		var d Duration
		if err := d.UnmarshalTOML(v); err != nil {
			return err.Error()
		}
		return ""
	case routesType:
		var r Routes
		if err := r.UnmarshalTOML(v); err != nil {
			return err.Error()
		}
		return ""
	case sizeType:
		var s Size
		if err := s.UnmarshalTOML(v); err != nil {
			return err.Error()
		}
		return ""
	}
	switch t.Kind() {
	case reflect.String:
		if _, ok := v.(string); !ok {
			return "expected a string, got " + describe(v)
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return "expected true or false, got " + describe(v)
		}
	case reflect.Int:
		n, ok := v.(int64)
		if !ok {
			return "expected an integer, got " + describe(v)
		}
		if n > math.MaxInt || n < math.MinInt {
			return fmt.Sprintf("integer %d out of range", n)
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			return "expected an array, got " + describe(v)
		}
		for i, e := range arr {
			if msg := checkValue(t.Elem(), e); msg != "" {
				return fmt.Sprintf("element %d: %s", i, msg)
			}
		}
	default:
		return fmt.Sprintf("internal error: unsupported config type %s", t)
	}
	return ""
}

// suggest returns the known key closest to name, if it is close enough to
// be a likely typo.
func suggest(name string, known map[string]*schema) string {
	best, bestDist := "", 3
	for k := range known {
		if strings.EqualFold(k, name) {
			return k
		}
		if d := editDistance(k, name); d < bestDist || (d == bestDist && best != "" && k < best) {
			best, bestDist = k, d
		}
	}
	if bestDist > 2 || bestDist*3 > len(name) {
		return ""
	}
	return best
}

// editDistance is the Damerau-Levenshtein (optimal string alignment)
// distance between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
