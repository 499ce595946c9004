package lb

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"agora/discovery"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func loadServices(t testing.TB, path string) []discovery.Service {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var svcs []discovery.Service
	if err := json.Unmarshal(data, &svcs); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return svcs
}

// TestRenderGolden renders each testdata/render/NAME.json and compares the
// config with NAME.cfg and the label errors with NAME.errors.
func TestRenderGolden(t *testing.T) {
	inputs, _ := filepath.Glob("testdata/render/*.json")
	if len(inputs) == 0 {
		t.Fatal("no inputs")
	}
	cfg := DefaultConfig("/run/agora-lb/stats.sock")
	for _, in := range inputs {
		name := strings.TrimSuffix(in, ".json")
		t.Run(filepath.Base(name), func(t *testing.T) {
			text, _, errs := Render(loadServices(t, in), cfg)
			var lines []string
			for _, e := range errs {
				lines = append(lines, e.Error())
			}
			golden(t, name+".cfg", text)
			golden(t, name+".errors", strings.Join(lines, "\n")+"\n")
			again, _, _ := Render(loadServices(t, in), cfg)
			if again != text {
				t.Fatal("render is not deterministic")
			}
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestRenderOrderDoesNotMatter(t *testing.T) {
	svcs := loadServices(t, "testdata/render/mixed.json")
	cfg := DefaultConfig("/tmp/s.sock")
	a, _, _ := Render(svcs, cfg)
	for i, j := 0, len(svcs)-1; i < j; i, j = i+1, j-1 {
		svcs[i], svcs[j] = svcs[j], svcs[i]
	}
	for i := range svcs {
		eps := svcs[i].Endpoints
		for k, l := 0, len(eps)-1; k < l; k, l = k+1, l-1 {
			eps[k], eps[l] = eps[l], eps[k]
		}
	}
	b, _, _ := Render(svcs, cfg)
	if a != b {
		t.Fatalf("input order changed the config:\n%s\n---\n%s", a, b)
	}
}

func TestConfigValidateNamesField(t *testing.T) {
	good := DefaultConfig("/tmp/s.sock")
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(*Config){
		"bindAddr":      func(c *Config) { c.BindAddr = "localhost" },
		"httpPort":      func(c *Config) { c.HTTPPort = 70000 },
		"statsSocket":   func(c *Config) { c.StatsSocket = "" },
		"hardStopAfter": func(c *Config) { c.HardStopAfter = 0 },
		"minSlots":      func(c *Config) { c.MinSlots = 0 },
		"group":         func(c *Config) { c.Group = "" },
	}
	for field, mutate := range cases {
		c := good
		mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: got %v, want an error naming it", field, err)
		}
	}
}
