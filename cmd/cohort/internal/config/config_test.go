package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func defaults() Config {
	return Config{
		DataDir:               "./cohort-data",
		HTTPAddr:              "127.0.0.1:8080",
		MySQLAddr:             "127.0.0.1:3306",
		Demo:                  true,
		DemoProfiles:          1000000,
		DemoEvents:            10000000,
		DemoSeed:              1,
		LogLevel:              "info",
		LogFormat:             "text",
		ShutdownTimeout:       10 * time.Second,
		SegmentSampleInterval: time.Minute,
		IngestPartitions:      4,
		GRPCAddr:              "127.0.0.1:9090",
		MaxConnections:        1000,
	}
}

// load writes file (if not empty) as cohort.yaml in a temporary directory,
// points --config at it unless args or env already name a config, parses
// args and loads. "$DIR" in args and env is replaced by that directory.
func load(t *testing.T, file string, env, args []string) (*Result, string, error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "cohort.yaml")
	if file != "" {
		if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sub := func(in []string) []string {
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = strings.ReplaceAll(s, "$DIR", dir)
		}
		return out
	}
	args, env = sub(args), sub(env)
	named := false
	for _, s := range append(append([]string(nil), args...), env...) {
		if strings.Contains(s, "config") || strings.Contains(s, ConfigEnv) {
			named = true
		}
	}
	if file != "" && !named {
		args = append([]string{"--config", path}, args...)
	}
	fs := NewFlagSet("serve")
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	r, err := Load(fs, env)
	return r, path, err
}

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		env    []string
		args   []string
		want   func(*Config)
		origin map[string]Source
	}{
		{
			name:   "defaults",
			want:   func(*Config) {},
			origin: map[string]Source{"data_dir": "default", "demo": "default"},
		},
		{
			name: "file over defaults",
			file: "data_dir: /var/lib/cohort\ndemo: false\ndemo_profiles: 5\nlog_level: debug\nshutdown_timeout: 3s\ndemo_seed: 42\n",
			want: func(c *Config) {
				c.DataDir, c.Demo, c.DemoProfiles, c.LogLevel, c.ShutdownTimeout, c.DemoSeed = "/var/lib/cohort", false, 5, "debug", 3*time.Second, 42
			},
			origin: map[string]Source{"data_dir": "file $FILE:1", "demo_seed": "file $FILE:6", "http_addr": "default"},
		},
		{
			name: "env over file",
			file: "demo_profiles: 5\nlog_format: json\n",
			env:  []string{"COHORT_DEMO_PROFILES=7", "PATH=/bin"},
			want: func(c *Config) { c.DemoProfiles, c.LogFormat = 7, "json" },
			origin: map[string]Source{
				"demo_profiles": "env COHORT_DEMO_PROFILES",
				"log_format":    "file $FILE:2",
			},
		},
		{
			name:   "flag over env over file",
			file:   "demo_profiles: 5\nhttp_addr: 0.0.0.0:1\n",
			env:    []string{"COHORT_DEMO_PROFILES=7", "COHORT_HTTP_ADDR=0.0.0.0:2"},
			args:   []string{"--demo-profiles=9"},
			want:   func(c *Config) { c.DemoProfiles, c.HTTPAddr = 9, "0.0.0.0:2" },
			origin: map[string]Source{"demo_profiles": "flag --demo-profiles", "http_addr": "env COHORT_HTTP_ADDR"},
		},
		{
			name: "bool flag without value, single dash",
			env:  []string{"COHORT_DEMO=false"},
			args: []string{"-demo"},
			want: func(c *Config) { c.Demo = true },
		},
		{
			name: "bool flag false",
			args: []string{"--demo=false", "--log-level", "warn"},
			want: func(c *Config) { c.Demo, c.LogLevel = false, "warn" },
		},
		{
			name:   "COHORT_CONFIG names the file",
			file:   "mysql_addr: 127.0.0.1:3307\n",
			env:    []string{"COHORT_CONFIG=$DIR/cohort.yaml"},
			want:   func(c *Config) { c.MySQLAddr = "127.0.0.1:3307" },
			origin: map[string]Source{"mysql_addr": "file $FILE:1"},
		},
		{
			name: "--config over COHORT_CONFIG",
			file: "demo_events: 3\n",
			env:  []string{"COHORT_CONFIG=$DIR/missing.yaml"},
			args: []string{"--config=$DIR/cohort.yaml"},
			want: func(c *Config) { c.DemoEvents = 3 },
		},
		{
			name: "empty file",
			file: "# nothing here\n",
			want: func(*Config) {},
		},
		{
			name: "empty string is a value",
			file: "data_dir: \"\"\n",
			want: func(c *Config) { c.DataDir = "" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, path, err := load(t, tt.file, tt.env, tt.args)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := defaults()
			tt.want(&want)
			if !reflect.DeepEqual(r.Config, want) {
				t.Errorf("config\n got %+v\nwant %+v", r.Config, want)
			}
			for k, v := range tt.origin {
				v = Source(strings.ReplaceAll(string(v), "$FILE", path))
				if r.Origin[k] != v {
					t.Errorf("origin of %s = %q, want %q", k, r.Origin[k], v)
				}
			}
			if tt.file != "" && r.File != path {
				t.Errorf("File = %q, want %q", r.File, path)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  []string
		args []string
		want []string // substrings of the message; "$FILE" is the file path
	}{
		{"flag bad int", "", nil, []string{"--demo-profiles=lots"},
			[]string{"flag --demo-profiles", `"lots"`, "demo_profiles", "not an integer"}},
		{"flag negative int", "", nil, []string{"--demo-events=-1"},
			[]string{"flag --demo-events", "demo_events", "at least 0"}},
		{"flag bad bool", "", nil, []string{"--demo=maybe"},
			[]string{"flag --demo", `"maybe"`, "not a boolean"}},
		{"flag bad uint", "", nil, []string{"--demo-seed=-3"},
			[]string{"flag --demo-seed", "demo_seed", "non-negative integer"}},
		{"flag bad duration", "", nil, []string{"--shutdown-timeout=10"},
			[]string{"flag --shutdown-timeout", "shutdown_timeout", "not a duration"}},
		{"flag zero duration", "", nil, []string{"--shutdown-timeout=0s"},
			[]string{"flag --shutdown-timeout", "at least 1ns"}},
		{"flag bad level", "", nil, []string{"--log-level=loud"},
			[]string{"flag --log-level", `"loud"`, "log_level", "debug, info, warn, error"}},
		{"env bad bool", "", []string{"COHORT_DEMO=yes please"}, nil,
			[]string{"env COHORT_DEMO", `"yes please"`, "demo", "not a boolean"}},
		{"env bad format", "", []string{"COHORT_LOG_FORMAT=xml"}, nil,
			[]string{"env COHORT_LOG_FORMAT", "log_format", "text, json"}},
		{"env bad duration", "", []string{"COHORT_SHUTDOWN_TIMEOUT=soon"}, nil,
			[]string{"env COHORT_SHUTDOWN_TIMEOUT", "not a duration"}},
		{"bad file value fails even when env overrides it", "demo_profiles: x\n", []string{"COHORT_DEMO_PROFILES=3"}, nil,
			[]string{"$FILE:1", "demo_profiles", "not an integer"}},
		{"file bad int with line", "demo: true\n\ndemo_events: 1e6\n", nil, nil,
			[]string{"$FILE:3", `"1e6"`, "demo_events", "not an integer"}},
		{"file bad level", "log_level: trace\n", nil, nil,
			[]string{"$FILE:1", "log_level", "must be one of"}},
		{"file bad duration", "shutdown_timeout: 10\n", nil, nil,
			[]string{"$FILE:1", "shutdown_timeout", "not a duration"}},
		{"file unknown key", "data_dir: x\nhttp_adr: y\n", nil, nil,
			[]string{"$FILE:2", `unknown setting "http_adr"`, "http_addr"}},
		{"file parse error", "data_dir: x\n  http_addr: : y\n", nil, nil,
			[]string{"$FILE:2", "cannot parse YAML"}},
		{"file tab indentation", "data_dir: x\n\tdemo: true\n", nil, nil,
			[]string{"$FILE:2", "cannot parse YAML", "tab character"}},
		{"file not a mapping", "- data_dir\n- demo\n", nil, nil,
			[]string{"$FILE:1", "expected a mapping"}},
		{"file list value", "data_dir:\n  - a\n  - b\n", nil, nil,
			[]string{"$FILE:2", "data_dir", "not a list or mapping"}},
		{"file null value", "demo_seed:\n", nil, nil,
			[]string{"$FILE:1", "demo_seed", "no value"}},
		{"file duplicate key", "demo: true\ndemo: false\n", nil, nil,
			[]string{"$FILE:2", "demo", "set twice (first on line 1)"}},
		{"missing file from flag", "", nil, []string{"--config=$DIR/nope.yaml"},
			[]string{"flag --config", "cannot read config file", "nope.yaml"}},
		{"missing file from env", "", []string{"COHORT_CONFIG=$DIR/nope.yaml"}, nil,
			[]string{"env COHORT_CONFIG", "cannot read config file"}},
		{"empty config path", "", []string{"COHORT_CONFIG="}, nil,
			[]string{"env COHORT_CONFIG", "empty config file path"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, path, err := load(t, tt.file, tt.env, tt.args)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not a *config.Error", err, err)
			}
			msg := err.Error()
			for _, w := range tt.want {
				w = strings.ReplaceAll(w, "$FILE", path)
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestUnknownFlag(t *testing.T) {
	fs := NewFlagSet("serve")
	if err := fs.Parse([]string{"--data-dri=x"}); err == nil || !strings.Contains(err.Error(), "data-dri") {
		t.Fatalf("Parse = %v, want an error naming the flag", err)
	}
}

func TestUnknownEnv(t *testing.T) {
	r, err := Load(nil, []string{"COHORT_DEMO_PROFILE=5", "COHORT_CONFIG_X=1", "COHORT_DEMO=false", "HOME=/root"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"COHORT_CONFIG_X", "COHORT_DEMO_PROFILE"}; !reflect.DeepEqual(r.UnknownEnv, want) {
		t.Errorf("UnknownEnv = %q, want %q", r.UnknownEnv, want)
	}
	if r.Config.Demo {
		t.Error("COHORT_DEMO=false ignored")
	}
}

// TestHelpDocumentsEverySetting checks that help names each setting's flag,
// environment variable, YAML key and default.
func TestHelpDocumentsEverySetting(t *testing.T) {
	var b strings.Builder
	WriteHelp(&b)
	help := b.String()
	settings := Settings()
	if len(settings) != reflect.TypeFor[Config]().NumField() {
		t.Errorf("%d settings for %d fields: every field needs a cfg tag", len(settings), reflect.TypeFor[Config]().NumField())
	}
	for _, s := range settings {
		if s.Help == "" {
			t.Errorf("%s has no help", s.Name)
		}
		for _, w := range []string{"--" + s.Flag, s.Env, "yaml: " + s.Name, "default: " + quoteDefault(s.Default)} {
			if !strings.Contains(help, w) {
				t.Errorf("help does not contain %q", w)
			}
		}
	}
	if !strings.Contains(help, ConfigEnv) {
		t.Errorf("help does not mention %s", ConfigEnv)
	}
}

func TestSlogLevel(t *testing.T) {
	for _, l := range []string{"debug", "info", "warn", "error"} {
		c := Config{LogLevel: l}
		if got := strings.ToLower(c.SlogLevel().String()); got != l {
			t.Errorf("SlogLevel(%s) = %s", l, got)
		}
	}
}

// FuzzLoadYAML checks that any file either loads or fails with an *Error,
// never panics.
func FuzzLoadYAML(f *testing.F) {
	f.Add([]byte("data_dir: /x\ndemo: false\ndemo_profiles: 10\nshutdown_timeout: 1s\n"))
	f.Add([]byte("a: &x 1\ndemo_seed: *x\n"))
	f.Add([]byte("- 1\n"))
	f.Add([]byte("log_level: [1\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &Result{Origin: map[string]Source{}}
		var c Config
		err := r.loadYAML(reflect.ValueOf(&c).Elem(), Settings(), "f.yaml", data)
		var ce *Error
		if err != nil && !errors.As(err, &ce) {
			t.Fatalf("error %v (%T) is not a *Error", err, err)
		}
	})
}
