// Package config loads the settings of `cohort serve` from flags, the
// environment (COHORT_*) and an optional YAML file, in that order of
// precedence, over built-in defaults.
//
// One struct, Config, drives everything: each field's `cfg` tag is its
// setting name, which is also its YAML key; the flag is the name with
// dashes (data_dir → --data-dir) and the environment variable is COHORT_
// plus the name in upper case (COHORT_DATA_DIR). The `default`, `help`,
// `enum` and `min` tags give the default, the help text and the checks.
// Adding a setting is adding a field.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix prefixes every environment variable.
const EnvPrefix = "COHORT_"

// ConfigEnv names the environment variable that points at the YAML file;
// the flag --config takes precedence over it.
const ConfigEnv = EnvPrefix + "CONFIG"

// Config holds the settings of `cohort serve`.
type Config struct {
	DataDir         string        `cfg:"data_dir" default:"./cohort-data" help:"Directory for Cohort's data; created if missing. Relative paths are relative to the working directory."`
	HTTPAddr        string        `cfg:"http_addr" default:"127.0.0.1:8080" help:"Listen address of the HTTP server (health, stats, metrics). Port 0 picks a free port."`
	MySQLAddr       string        `cfg:"mysql_addr" default:"127.0.0.1:3306" help:"Listen address of the MySQL endpoint (every workspace is a database). Port 0 picks a free port; empty disables it."`
	Demo            bool          `cfg:"demo" default:"true" help:"Fill the demo workspace with generated data in the background (GET /readyz is 503 until done)."`
	DemoProfiles    int           `cfg:"demo_profiles" default:"1000000" min:"0" help:"Number of generated demo profiles."`
	DemoEvents      int           `cfg:"demo_events" default:"10000000" min:"0" help:"Number of generated demo events."`
	DemoSeed        uint64        `cfg:"demo_seed" default:"1" help:"Seed of the demo data generator: the same seed gives the same data."`
	LogLevel        string        `cfg:"log_level" default:"info" enum:"debug,info,warn,error" help:"Minimum level of log records."`
	LogFormat       string        `cfg:"log_format" default:"text" enum:"text,json" help:"Format of log records on stderr."`
	ShutdownTimeout time.Duration `cfg:"shutdown_timeout" default:"10s" min:"1ns" help:"How long a graceful shutdown (SIGINT, SIGTERM) may take before connections are closed."`
	DebugAddr       string        `cfg:"debug_addr" default:"" help:"Listen address of Go's profiling endpoints (/debug/pprof/), without authentication: keep it on loopback. Empty disables them."`
	// Storage (storage/).
	EventWindow time.Duration `cfg:"event_window" default:"0s" min:"0s" help:"How many recent events stay in memory: events of UTC days that ended more than event_window ago are sealed into Parquet day partitions under <data_dir>/events and dropped from memory at each snapshot (every 5 minutes); SQL still reads them from disk, slower. 0: every event stays in memory."`
	// Segments (engine/segment).
	SegmentSampleInterval time.Duration `cfg:"segment_sample_interval" default:"1m" min:"0s" help:"Interval of the recorded segment sizes (SQL table segment_sizes); 0 records none."`
	// Ingest (ingest/).
	NATSURL          string `cfg:"nats_url" default:"" help:"URL of an external NATS JetStream cluster for the ingest log. Empty: run an embedded NATS server storing in <data_dir>/nats, fsyncing every write."`
	IngestPartitions int    `cfg:"ingest_partitions" default:"4" min:"1" help:"Partitions per workspace in the ingest log (subjects cohort.<workspace>.<partition>)."`
	AdminToken       string `cfg:"admin_token" default:"" help:"Bearer token of the admin API (/v1/admin/...). Empty: read <data_dir>/admin_token, creating it with a random token."`
	GRPCAddr         string `cfg:"grpc_addr" default:"127.0.0.1:9090" help:"Listen address of the gRPC IngestService (its REST mapping is served on the HTTP port under /api/v1/). Port 0 picks a free port; empty disables gRPC."`
	// SQL frontend (sqlfront/).
	RootPassword      string        `cfg:"root_password" default:"" help:"Password of the MySQL superuser root. Empty: read <data_dir>/mysql_root_password, creating it with a random password (printed in the banner)."`
	InsecureNoAuth    bool          `cfg:"insecure_no_auth" default:"false" help:"Accept every MySQL user and password, without privileges (CREATE USER/GRANT then fail). Local experiments only."`
	TLSCert           string        `cfg:"tls_cert" default:"" help:"PEM certificate of the MySQL endpoint (with tls_key). Empty: a self-signed certificate generated into <data_dir> once."`
	TLSKey            string        `cfg:"tls_key" default:"" help:"PEM private key of tls_cert."`
	MaxConnections    int           `cfg:"max_connections" default:"1000" min:"0" help:"Maximum concurrent MySQL connections; 0 is unlimited."`
	MySQLReadTimeout  time.Duration `cfg:"mysql_read_timeout" default:"0s" help:"Network read timeout of a MySQL connection (an idle client is disconnected after it); 0 is none."`
	MySQLWriteTimeout time.Duration `cfg:"mysql_write_timeout" default:"0s" help:"Network write timeout of a MySQL connection; 0 is none."`
}

// SlogLevel returns LogLevel as a slog.Level.
func (c *Config) SlogLevel() slog.Level {
	switch c.LogLevel {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Setting describes one field of Config.
type Setting struct {
	Name    string // YAML key: data_dir
	Flag    string // flag name without dashes: data-dir
	Env     string // COHORT_DATA_DIR
	Default string
	Help    string
	Enum    []string
	Min     string
	index   int
	kind    reflect.Type
}

// TypeName is the placeholder shown in help: string, int, bool, duration…
func (s *Setting) TypeName() string {
	switch {
	case s.kind == durationType:
		return "duration"
	case len(s.Enum) > 0:
		return strings.Join(s.Enum, "|")
	}
	return s.kind.Kind().String()
}

var durationType = reflect.TypeFor[time.Duration]()

// Settings returns the settings in declaration order.
func Settings() []Setting {
	t := reflect.TypeFor[Config]()
	out := make([]Setting, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("cfg")
		if name == "" || name == "-" {
			continue
		}
		s := Setting{
			Name:    name,
			Flag:    strings.ReplaceAll(name, "_", "-"),
			Env:     EnvPrefix + strings.ToUpper(name),
			Default: f.Tag.Get("default"),
			Help:    f.Tag.Get("help"),
			Min:     f.Tag.Get("min"),
			index:   i,
			kind:    f.Type,
		}
		if e := f.Tag.Get("enum"); e != "" {
			s.Enum = strings.Split(e, ",")
		}
		out = append(out, s)
	}
	return out
}

// Source says where a setting's value came from: "default", "file
// cohort.yaml:3", "env COHORT_DEMO", "flag --demo".
type Source string

// Result is a loaded configuration.
type Result struct {
	Config Config
	// File is the YAML file read, or "".
	File string
	// Origin maps each setting name to the source of its value.
	Origin map[string]Source
	// UnknownEnv lists COHORT_* variables that name no setting (typos).
	UnknownEnv []string
}

// Error is an invalid setting value or an unreadable configuration. Every
// error Load returns is an *Error, so callers can exit with a usage status.
type Error struct {
	Source  Source // where the bad input is: flag --x, env COHORT_X, file:line
	Setting string // the setting, if known
	Value   string // the offending value, if any
	Err     error
}

func (e *Error) Error() string {
	switch {
	case e.Setting != "" && e.Value != "":
		return fmt.Sprintf("%s: invalid value %q for %s: %v", e.Source, e.Value, e.Setting, e.Err)
	case e.Setting != "":
		return fmt.Sprintf("%s: invalid value for %s: %v", e.Source, e.Setting, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Source, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// rawFlag records a flag's text; values are parsed after all sources are
// known, so every source reports errors the same way.
type rawFlag struct {
	val    string
	set    bool
	isBool bool
}

func (f *rawFlag) String() string { return f.val }

func (f *rawFlag) Set(s string) error {
	f.val, f.set = s, true
	return nil
}

func (f *rawFlag) IsBoolFlag() bool { return f.isBool }

// FlagSet holds the flags of `cohort serve`; Parse them, then Load.
type FlagSet struct {
	*flag.FlagSet
	config *rawFlag
	byName map[string]*rawFlag
}

// NewFlagSet returns a flag set with one flag per setting plus --config.
// Errors are returned, not printed: the caller prints them and the usage.
func NewFlagSet(name string) *FlagSet {
	fs := &FlagSet{
		FlagSet: flag.NewFlagSet(name, flag.ContinueOnError),
		config:  &rawFlag{},
		byName:  make(map[string]*rawFlag),
	}
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.Var(fs.config, "config", "YAML configuration file (env "+ConfigEnv+")")
	for _, s := range Settings() {
		f := &rawFlag{isBool: s.kind.Kind() == reflect.Bool}
		fs.byName[s.Name] = f
		fs.Var(f, s.Flag, s.Help)
	}
	return fs
}

// Load builds the configuration from defaults, the YAML file (from
// --config or COHORT_CONFIG), the environment env (KEY=VALUE pairs, as
// os.Environ returns) and the parsed flags, each overriding the previous.
// fs must have been parsed; it may be nil (no flags).
func Load(fs *FlagSet, env []string) (*Result, error) {
	envMap := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			envMap[k] = v
		}
	}
	settings := Settings()
	r := &Result{Origin: make(map[string]Source, len(settings))}
	cv := reflect.ValueOf(&r.Config).Elem()

	for i := range settings {
		s := &settings[i]
		if err := s.set(cv, s.Default); err != nil {
			return nil, fmt.Errorf("BUG: bad default for %s: %w", s.Name, err)
		}
		r.Origin[s.Name] = "default"
	}

	// The file.
	var path string
	var pathSrc Source
	if fs != nil && fs.config.set {
		path, pathSrc = fs.config.val, "flag --config"
	} else if v, ok := envMap[ConfigEnv]; ok {
		path, pathSrc = v, Source("env "+ConfigEnv)
	}
	if pathSrc != "" {
		if path == "" {
			return nil, &Error{Source: pathSrc, Err: errors.New("empty config file path")}
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, &Error{Source: pathSrc, Err: fmt.Errorf("cannot read config file: %w", err)}
		}
		if err := r.loadYAML(cv, settings, path, data); err != nil {
			return nil, err
		}
		r.File = path
	}

	// The environment.
	known := map[string]bool{ConfigEnv: true}
	for i := range settings {
		s := &settings[i]
		known[s.Env] = true
		v, ok := envMap[s.Env]
		if !ok {
			continue
		}
		src := Source("env " + s.Env)
		if err := s.set(cv, v); err != nil {
			return nil, &Error{Source: src, Setting: s.Name, Value: v, Err: err}
		}
		r.Origin[s.Name] = src
	}
	for k := range envMap {
		if strings.HasPrefix(k, EnvPrefix) && !known[k] {
			r.UnknownEnv = append(r.UnknownEnv, k)
		}
	}
	slices.Sort(r.UnknownEnv)

	// The flags.
	if fs != nil {
		for i := range settings {
			s := &settings[i]
			f := fs.byName[s.Name]
			if !f.set {
				continue
			}
			src := Source("flag --" + s.Flag)
			if err := s.set(cv, f.val); err != nil {
				return nil, &Error{Source: src, Setting: s.Name, Value: f.val, Err: err}
			}
			r.Origin[s.Name] = src
		}
	}
	return r, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (r *Result) loadYAML(cv reflect.Value, settings []Setting, path string, data []byte) error {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) { // empty file
			return nil
		}
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			return &Error{Source: Source(path + ":" + m[1]), Err: fmt.Errorf("cannot parse YAML: %s", m[2])}
		}
		return &Error{Source: Source(path), Err: fmt.Errorf("cannot parse YAML: %w", err)}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	at := func(n *yaml.Node) Source { return Source(fmt.Sprintf("%s:%d", path, n.Line)) }
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil // only comments
	}
	if root.Kind != yaml.MappingNode {
		return &Error{Source: at(root), Err: errors.New("expected a mapping of setting: value")}
	}
	byName := make(map[string]*Setting, len(settings))
	for i := range settings {
		byName[settings[i].Name] = &settings[i]
	}
	seen := make(map[string]int)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		s, ok := byName[k.Value]
		if !ok || k.Kind != yaml.ScalarNode {
			return &Error{Source: at(k), Err: fmt.Errorf("unknown setting %q (known: %s)", k.Value, names(settings))}
		}
		if line, dup := seen[k.Value]; dup {
			return &Error{Source: at(k), Setting: s.Name, Err: fmt.Errorf("set twice (first on line %d)", line)}
		}
		seen[k.Value] = k.Line
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		if v.Kind != yaml.ScalarNode {
			return &Error{Source: at(v), Setting: s.Name, Err: errors.New("expected a single value, not a list or mapping")}
		}
		if v.ShortTag() == "!!null" {
			return &Error{Source: at(v), Setting: s.Name, Err: errors.New("no value (remove the key to use the default)")}
		}
		if err := s.set(cv, v.Value); err != nil {
			return &Error{Source: at(v), Setting: s.Name, Value: v.Value, Err: err}
		}
		r.Origin[s.Name] = Source("file " + string(at(v)))
	}
	return nil
}

func names(settings []Setting) string {
	n := make([]string, len(settings))
	for i := range settings {
		n[i] = settings[i].Name
	}
	return strings.Join(n, ", ")
}

// set parses text into the setting's field of cv.
func (s *Setting) set(cv reflect.Value, text string) error {
	f := cv.Field(s.index)
	switch {
	case s.kind == durationType:
		d, err := time.ParseDuration(text)
		if err != nil {
			return errors.New("not a duration (examples: 500ms, 10s, 2m)")
		}
		if s.Min != "" {
			lo, err := time.ParseDuration(s.Min)
			if err != nil {
				return fmt.Errorf("BUG: bad min tag %q: %w", s.Min, err)
			}
			if d < lo {
				return fmt.Errorf("must be at least %s", lo)
			}
		}
		f.SetInt(int64(d))
	case s.kind.Kind() == reflect.String:
		if len(s.Enum) > 0 && !slices.Contains(s.Enum, text) {
			return fmt.Errorf("must be one of %s", strings.Join(s.Enum, ", "))
		}
		f.SetString(text)
	case s.kind.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return errors.New("not a boolean (true or false)")
		}
		f.SetBool(b)
	case s.kind.Kind() == reflect.Int:
		n, err := strconv.ParseInt(text, 10, strconv.IntSize)
		if err != nil {
			return errors.New("not an integer")
		}
		if s.Min != "" {
			lo, err := strconv.ParseInt(s.Min, 10, 64)
			if err != nil {
				return fmt.Errorf("BUG: bad min tag %q: %w", s.Min, err)
			}
			if n < lo {
				return fmt.Errorf("must be at least %d", lo)
			}
		}
		f.SetInt(n)
	case s.kind.Kind() == reflect.Uint64:
		n, err := strconv.ParseUint(text, 10, 64)
		if err != nil {
			return errors.New("not a non-negative integer")
		}
		f.SetUint(n)
	default:
		return fmt.Errorf("BUG: setting %s has unsupported type %s", s.Name, s.kind)
	}
	return nil
}

// WriteHelp writes the documentation of every setting: flag, type, help,
// default, environment variable and YAML key.
func WriteHelp(w io.Writer) {
	fmt.Fprintf(w, "Settings (precedence: flags > environment > config file > defaults):\n\n")
	fmt.Fprintf(w, "  --config path\n        YAML configuration file whose keys are the setting names below.\n        env: %s\n", ConfigEnv)
	for _, s := range Settings() {
		if s.kind.Kind() == reflect.Bool {
			fmt.Fprintf(w, "  --%s[=%s]\n", s.Flag, s.TypeName())
		} else {
			fmt.Fprintf(w, "  --%s %s\n", s.Flag, s.TypeName())
		}
		fmt.Fprintf(w, "        %s\n", s.Help)
		fmt.Fprintf(w, "        default: %s   env: %s   yaml: %s\n", quoteDefault(s.Default), s.Env, s.Name)
	}
}

func quoteDefault(d string) string {
	if d == "" || strings.ContainsAny(d, " \t") {
		return strconv.Quote(d)
	}
	return d
}
