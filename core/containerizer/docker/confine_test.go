package docker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"agora/core/mesos"
)

func TestPlanIsUnprivilegedAndRunsAsCommandUser(t *testing.T) {
	s := baseSpec()
	p, err := buildPlan(Config{}, s)
	if err != nil {
		t.Fatal(err)
	}
	if p.host.Privileged || len(p.host.SecurityOpt) != 1 || p.host.SecurityOpt[0] != "no-new-privileges" {
		t.Errorf("privileged %v, security options %q; want unprivileged with no-new-privileges", p.host.Privileged, p.host.SecurityOpt)
	}
	if p.config.User != "" {
		t.Errorf("user %q without command.user, want the image's (empty)", p.config.User)
	}
	s.Task.Command.User = "nobody"
	s.User = "framework-user" // the agent's host user: not for containers
	s.Task.Container.Docker.Privileged = true
	p, err = buildPlan(Config{AllowPrivileged: true}, s)
	if err != nil {
		t.Fatal(err)
	}
	if p.config.User != "nobody" || p.host.SecurityOpt[0] != "no-new-privileges" {
		t.Errorf("user %q, security options %q; want nobody with no-new-privileges", p.config.User, p.host.SecurityOpt)
	}
}

// hostTree is a sandbox and some host directories with the links a task or
// an operator could leave.
func hostTree(t *testing.T) (root, sandbox string) {
	t.Helper()
	root = t.TempDir()
	sandbox = filepath.Join(root, "work", "sandbox")
	for _, d := range []string{sandbox, filepath.Join(sandbox, "cache"), filepath.Join(root, "srv", "data"), filepath.Join(root, "etc"), filepath.Join(root, "work", "other")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range map[string]string{
		filepath.Join(root, "srv", "escape"): filepath.Join(root, "etc"),
		filepath.Join(root, "alias"):         filepath.Join(root, "srv"),
		filepath.Join(sandbox, "out"):        filepath.Join(root, "etc"),
		filepath.Join(sandbox, "up"):         "../other",
		filepath.Join(sandbox, "inside"):     "cache",
		filepath.Join(sandbox, "dangling"):   filepath.Join(root, "etc", "missing"),
	} {
		if err := os.Symlink(target, name); err != nil {
			t.Fatal(err)
		}
	}
	return root, sandbox
}

func TestConfineBinds(t *testing.T) {
	root, sandbox := hostTree(t)
	allowed := []string{filepath.Join(root, "alias")} // a link to srv: resolved too
	for _, tc := range []struct {
		host    string
		ok      bool
		source  string // the resolved path bound, when ok
		message string
	}{
		{host: filepath.Join(root, "srv"), ok: true, source: filepath.Join(root, "srv")},
		{host: filepath.Join(root, "srv", "data"), ok: true, source: filepath.Join(root, "srv", "data")},
		{host: filepath.Join(root, "srv", "new", "dir"), ok: true, source: filepath.Join(root, "srv", "new", "dir")},
		{host: filepath.Join(root, "alias", "data"), ok: true, source: filepath.Join(root, "srv", "data")},
		{host: "data", ok: true, source: filepath.Join(sandbox, "data")},
		{host: "inside/x", ok: true, source: filepath.Join(sandbox, "cache", "x")},
		{host: filepath.Join(root, "etc"), message: "is not under an allowed host path"},
		{host: filepath.Join(root, "srv", "..", "etc"), message: "is not under an allowed host path"},
		{host: filepath.Join(root, "srv", "escape"), message: "(really " + filepath.Join(root, "etc") + ")"},
		{host: filepath.Join(root, "srv2"), message: "is not under an allowed host path"},
		{host: "/", message: "is not under an allowed host path"},
		{host: "out", message: "leads out of the sandbox"},
		{host: "out/sub", message: "leads out of the sandbox"},
		{host: "up", message: "leads out of the sandbox"},
		{host: "dangling/x", message: "holds a link to a missing path"},
	} {
		s := baseSpec()
		s.Sandbox = sandbox
		s.Task.Container.Volumes = []mesos.Volume{{ContainerPath: "/ok", HostPath: "fine"}, {ContainerPath: "/v", HostPath: tc.host}}
		p, err := buildPlan(Config{}, s)
		if err != nil {
			t.Fatalf("%s: %v", tc.host, err)
		}
		err = confineBinds(p, sandbox, allowed, resolveExisting)
		if tc.ok {
			if err != nil {
				t.Errorf("%s: %v", tc.host, err)
			} else if got := p.host.Mounts[2].Source; got != tc.source {
				t.Errorf("%s: bound %s, want %s", tc.host, got, tc.source)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "container.volumes[1].host_path") || !strings.Contains(err.Error(), tc.message) {
			t.Errorf("%s: error %v, want one naming container.volumes[1].host_path and %q", tc.host, err, tc.message)
		}
		if !tc.ok && filepath.IsAbs(tc.host) && err != nil && !strings.Contains(err.Error(), AllowedHostPathsFlag) {
			t.Errorf("%s: error %v does not name %s", tc.host, err, AllowedHostPathsFlag)
		}
	}
	// Nothing allowed: only the sandbox.
	s := baseSpec()
	s.Sandbox = sandbox
	s.Task.Container.Volumes = []mesos.Volume{{ContainerPath: "/v", HostPath: filepath.Join(root, "srv")}}
	p, _ := buildPlan(Config{}, s)
	if err := confineBinds(p, sandbox, nil, resolveExisting); err == nil || !strings.Contains(err.Error(), "allows no host paths") {
		t.Errorf("empty allowlist: %v", err)
	}
}

func TestConfigRejectsRelativeAllowedHostPaths(t *testing.T) {
	err := Config{AllowedHostPaths: []string{"/srv", "data"}}.Validate()
	if err == nil || !strings.Contains(err.Error(), "allowed_host_paths[1]") {
		t.Fatalf("Validate = %v", err)
	}
}
