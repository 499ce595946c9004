package app

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func mustParse(t *testing.T, data string) *App {
	t.Helper()
	a, err := Parse([]byte(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return a
}

func validFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/valid/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no valid apps in testdata: %v", err)
	}
	return files
}

// Apps shaped like the examples in Marathon's documentation are accepted as
// they are.
func TestDocumentedAppsParseAndValidate(t *testing.T) {
	for _, f := range validFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			a := mustParse(t, string(data))
			if errs := a.Validate(); errs != nil {
				t.Fatalf("Validate: %v", errs)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	a := mustParse(t, `{"id": "web", "cmd": "sleep 1000"}`)
	if errs := a.Validate(); errs != nil {
		t.Fatalf("Validate: %v", errs)
	}
	want := &App{
		AppID:                 "/web",
		Cmd:                   "sleep 1000",
		Instances:             1,
		CPUs:                  1,
		Mem:                   128,
		PortDefinitions:       []PortDefinition{{Port: 0, Protocol: "tcp"}},
		BackoffSeconds:        1,
		BackoffFactor:         1.15,
		MaxLaunchDelaySeconds: 3600,
		Networks:              []Network{{Mode: NetworkHost}},
		UpgradeStrategy:       UpgradeStrategy{MinimumHealthCapacity: 1, MaximumOverCapacity: 1},
		KillSelection:         KillYoungestFirst,
		UnreachableStrategy:   UnreachableStrategy{InactiveAfterSeconds: 0, ExpungeAfterSeconds: 0},
	}
	if !reflect.DeepEqual(a, want) {
		got, _ := json.Marshal(a)
		exp, _ := json.Marshal(want)
		t.Fatalf("defaults:\n got  %s\n want %s", got, exp)
	}
}

func TestNestedDefaults(t *testing.T) {
	a := mustParse(t, `{
		"id": "/a", "cmd": "x",
		"portDefinitions": [{"port": 0, "name": "http-api"}],
		"healthChecks": [{"path": "/h"}, {"command": {"value": "true"}}],
		"readinessChecks": [{}],
		"upgradeStrategy": {"minimumHealthCapacity": 0.25},
		"unreachableStrategy": {"inactiveAfterSeconds": 10},
		"fetch": [{"uri": "http://x/y.tgz"}],
		"container": {"docker": {"image": "busybox"}, "portMappings": []}
	}`)
	hc := a.HealthChecks[0]
	if hc.Protocol != ProtoHTTP || hc.GracePeriodSeconds != 300 || hc.IntervalSeconds != 60 ||
		hc.TimeoutSeconds != 20 || hc.MaxConsecutiveFailures != 3 || hc.DelaySeconds != 15 ||
		hc.PortIndex == nil || *hc.PortIndex != 0 || hc.IPProtocol != "IPv4" {
		t.Errorf("health check defaults: %+v", hc)
	}
	if a.HealthChecks[1].Protocol != ProtoCommand || a.HealthChecks[1].PortIndex != nil {
		t.Errorf("a check with a command defaults to COMMAND: %+v", a.HealthChecks[1])
	}
	rc := a.ReadinessChecks[0]
	if rc.Name != "readinessCheck" || rc.Protocol != "HTTP" || rc.Path != "/" || rc.PortName != "http-api" ||
		rc.IntervalSeconds != 30 || rc.TimeoutSeconds != 10 || !reflect.DeepEqual(rc.HTTPStatusCodesForReady, []int{200}) {
		t.Errorf("readiness defaults: %+v", rc)
	}
	if a.UpgradeStrategy != (UpgradeStrategy{0.25, 1}) {
		t.Errorf("upgradeStrategy: %+v", a.UpgradeStrategy)
	}
	if a.UnreachableStrategy != (UnreachableStrategy{InactiveAfterSeconds: 10, ExpungeAfterSeconds: 600}) {
		t.Errorf("unreachableStrategy: %+v", a.UnreachableStrategy)
	}
	if !a.Fetch[0].Extract || a.Fetch[0].Executable || a.Fetch[0].Cache {
		t.Errorf("fetch defaults: %+v", a.Fetch[0])
	}
	if a.Container.Type != ContainerDocker {
		t.Errorf("container type defaults to DOCKER, got %q", a.Container.Type)
	}
	if errs := a.Validate(); errs != nil {
		t.Errorf("Validate: %v", errs)
	}
}

func TestBridgeGetsDefaultPortMapping(t *testing.T) {
	a := mustParse(t, `{"id": "/b", "container": {"docker": {"image": "nginx"}}, "networks": [{"mode": "container/bridge"}]}`)
	pms := a.Container.PortMappings
	if len(pms) != 1 || pms[0].HostPort == nil || *pms[0].HostPort != 0 || pms[0].Protocol != "tcp" {
		t.Fatalf("default port mapping: %+v", pms)
	}
	if len(a.PortDefinitions) != 0 {
		t.Fatalf("no port definitions in bridge mode: %+v", a.PortDefinitions)
	}
	// An explicit empty list means no ports at all.
	b := mustParse(t, `{"id": "/b", "container": {"docker": {"image": "nginx"}, "portMappings": []}, "networks": [{"mode": "container/bridge"}]}`)
	if b.NumPorts() != 0 {
		t.Fatalf("explicit [] kept no ports, got %d", b.NumPorts())
	}
}

func TestLegacyFieldsFolded(t *testing.T) {
	a := mustParse(t, `{
		"id": "/l", "cmd": "x", "ports": [8080, 0], "uris": ["http://x/a.tgz"],
		"container": {"type": "DOCKER", "docker": {"image": "busybox", "network": "BRIDGE",
			"portMappings": [{"containerPort": 80}]}}
	}`)
	if a.Ports != nil || a.Uris != nil || a.Container.Docker.Network != "" || a.Container.Docker.PortMappings != nil {
		t.Fatalf("legacy fields left in place: %+v", a)
	}
	if !reflect.DeepEqual(a.Networks, []Network{{Mode: NetworkBridge}}) {
		t.Errorf("networks: %+v", a.Networks)
	}
	if len(a.Container.PortMappings) != 1 || a.Container.PortMappings[0].ContainerPort != 80 || *a.Container.PortMappings[0].HostPort != 0 {
		t.Errorf("port mappings: %+v", a.Container.PortMappings)
	}
	if len(a.Fetch) != 1 || a.Fetch[0].URI != "http://x/a.tgz" || !a.Fetch[0].Extract {
		t.Errorf("fetch: %+v", a.Fetch)
	}
	// Ports move to portDefinitions (and then fail validation here, since
	// the app uses bridge networking).
	if len(a.PortDefinitions) != 2 || a.PortDefinitions[0].Port != 8080 {
		t.Errorf("portDefinitions: %+v", a.PortDefinitions)
	}
	if !a.Validate().Has("portDefinitions") {
		t.Errorf("port definitions with bridge networking must be refused")
	}
}

func TestYAMLEqualsJSON(t *testing.T) {
	j, err := os.ReadFile("testdata/valid/docker-bridge.json")
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile("testdata/docker-bridge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, fromYAML := mustParse(t, string(j)), mustParse(t, string(y))
	if !reflect.DeepEqual(fromJSON, fromYAML) {
		a, _ := json.Marshal(fromJSON)
		b, _ := json.Marshal(fromYAML)
		t.Fatalf("YAML differs from JSON:\n json %s\n yaml %s", a, b)
	}
}

func TestYAMLUnknownFieldAndTypes(t *testing.T) {
	_, err := Parse([]byte("id: /y\ncmd: x\ncontainer:\n  docker:\n    image: b\n    imagee: c\n"))
	var fe FieldErrors
	if !errors.As(err, &fe) || !fe.Has("container.docker.imagee") {
		t.Fatalf("want unknown field container.docker.imagee, got %v", err)
	}
	_, err = Parse([]byte("id: /y\ncmd: x\nenv:\n  PORT: 8080\n"))
	if !errors.As(err, &fe) || !fe.Has("env.PORT") {
		t.Fatalf("an unquoted number in env must be refused by name, got %v", err)
	}
}

// Marshalling a parsed app and parsing it again gives the same app and the
// same bytes.
func TestJSONRoundTripStable(t *testing.T) {
	for _, f := range validFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, _ := os.ReadFile(f)
			a := mustParse(t, string(data))
			first, err := json.Marshal(a)
			if err != nil {
				t.Fatal(err)
			}
			b := mustParse(t, string(first))
			if !reflect.DeepEqual(a, b) {
				second, _ := json.Marshal(b)
				t.Fatalf("round trip changed the app:\n %s\n %s", first, second)
			}
			second, _ := json.Marshal(b)
			if string(first) != string(second) {
				t.Fatalf("round trip changed the JSON:\n %s\n %s", first, second)
			}
		})
	}
}

func TestUnknownFieldsNamedByPath(t *testing.T) {
	_, err := Parse([]byte(`{"id": "/u", "cmd": "x", "instance": 2, "Mem": 3,
		"container": {"docker": {"image": "b"}, "portMappings": [{"containerPort": 1}, {"containerport": 2}]},
		"healthChecks": [{"protocol": "TCP", "timeout": 3}],
		"unreachableStrategy": {"inactiveAfter": 1}}`))
	var fe FieldErrors
	if !errors.As(err, &fe) {
		t.Fatalf("want FieldErrors, got %v", err)
	}
	for _, p := range []string{"instance", "Mem", "container.portMappings[1].containerport", "healthChecks[0].timeout", "unreachableStrategy.inactiveAfter"} {
		if !fe.Has(p) {
			t.Errorf("unknown field %s not reported; got %v", p, fe)
		}
	}
	body, _ := json.Marshal(fe)
	if !strings.Contains(string(body), `"path":"/container/portMappings(1)/containerport"`) {
		t.Errorf("422 body does not use Marathon's path notation: %s", body)
	}
}

func TestWrongTypeNamesField(t *testing.T) {
	_, err := Parse([]byte(`{"id": "/t", "cmd": "x", "instances": "three"}`))
	var fe FieldErrors
	if !errors.As(err, &fe) || !fe.Has("instances") {
		t.Fatalf("want an error naming instances, got %v", err)
	}
	_, err = Parse([]byte(`{"id": "/t", "cmd": "x", "env": {"TOKEN": {"secrte": "s1"}}}`))
	if !errors.As(err, &fe) || !fe.Has("env.TOKEN.secrte") {
		t.Fatalf("want the misspelt secret reference refused by name, got %v", err)
	}
	_, err = Parse([]byte(`{"id": "/t", "cmd": "x", "env": {"TOKEN": 3}}`))
	if !errors.As(err, &fe) || !fe.Has("env.TOKEN") {
		t.Fatalf("want the number refused by name, got %v", err)
	}
	_, err = Parse([]byte(`{"id": "/t", "cmd": "x", "unreachableStrategy": "sometimes"}`))
	if err == nil || !strings.Contains(err.Error(), "unreachableStrategy") {
		t.Fatalf("want unreachableStrategy named, got %v", err)
	}
}

func TestMalformedDocuments(t *testing.T) {
	for _, in := range []string{"", "{", `{"id": "/a"} {}`, "[1, 2]", "id: [unclosed"} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%q) accepted a malformed document", in)
		}
	}
}

// Each rule has a failing case whose error names the field.
func TestValidationRules(t *testing.T) {
	cases := []struct {
		name, app, path string
	}{
		{"id required", `{"cmd": "x"}`, "id"},
		{"id uppercase", `{"id": "/Web", "cmd": "x"}`, "id"},
		{"id dotdot", `{"id": "/a/../b", "cmd": "x"}`, "id"},
		{"id root", `{"id": "/", "cmd": "x"}`, "id"},
		{"id trailing hyphen", `{"id": "/web-", "cmd": "x"}`, "id"},
		{"nothing to run", `{"id": "/a"}`, ""},
		{"mesos container without image and no cmd", `{"id": "/a", "container": {"type": "MESOS"}}`, ""},
		{"cmd and args", `{"id": "/a", "cmd": "x", "args": ["y"]}`, "args"},
		{"negative instances", `{"id": "/a", "cmd": "x", "instances": -1}`, "instances"},
		{"zero cpus", `{"id": "/a", "cmd": "x", "cpus": 0}`, "cpus"},
		{"negative mem", `{"id": "/a", "cmd": "x", "mem": -5}`, "mem"},
		{"negative disk", `{"id": "/a", "cmd": "x", "disk": -1}`, "disk"},
		{"gpus with docker", `{"id": "/a", "gpus": 1, "container": {"docker": {"image": "b"}}}`, "gpus"},
		{"bad executor", `{"id": "/a", "cmd": "x", "executor": "/a//b"}`, "executor"},
		{"constraint arity", `{"id": "/a", "cmd": "x", "constraints": [["hostname"]]}`, "constraints[0]"},
		{"constraint operator", `{"id": "/a", "cmd": "x", "constraints": [["hostname", "SOMETIMES"]]}`, "constraints[0]"},
		{"unique with value", `{"id": "/a", "cmd": "x", "constraints": [["hostname", "UNIQUE", "x"]]}`, "constraints[0]"},
		{"cluster with bad second", `{"id": "/a", "cmd": "x", "constraints": [["rack", "CLUSTER"], ["rack", "MAX_PER", "0"]]}`, "constraints[1]"},
		{"group by not int", `{"id": "/a", "cmd": "x", "constraints": [["rack", "GROUP_BY", "three"]]}`, "constraints[0]"},
		{"max per without value", `{"id": "/a", "cmd": "x", "constraints": [["rack", "MAX_PER"]]}`, "constraints[0]"},
		{"max per not int", `{"id": "/a", "cmd": "x", "constraints": [["rack", "MAX_PER", "2.5"]]}`, "constraints[0]"},
		{"like bad regexp", `{"id": "/a", "cmd": "x", "constraints": [["zone", "LIKE", "us-(.*"]]}`, "constraints[0]"},
		{"unlike without value", `{"id": "/a", "cmd": "x", "constraints": [["zone", "UNLIKE"]]}`, "constraints[0]"},
		{"port definition range", `{"id": "/a", "cmd": "x", "portDefinitions": [{"port": 70000}]}`, "portDefinitions[0].port"},
		{"port definition duplicate", `{"id": "/a", "cmd": "x", "portDefinitions": [{"port": 80}, {"port": 80}]}`, "portDefinitions[1].port"},
		{"port definition name duplicate", `{"id": "/a", "cmd": "x", "portDefinitions": [{"name": "h"}, {"name": "h"}]}`, "portDefinitions[1].name"},
		{"port definition protocol", `{"id": "/a", "cmd": "x", "portDefinitions": [{"protocol": "sctp"}]}`, "portDefinitions[0].protocol"},
		{"container port range", `{"id": "/a", "networks": [{"mode": "container/bridge"}], "container": {"docker": {"image": "b"}, "portMappings": [{"containerPort": 80}, {"containerPort": 65536}]}}`, "container.portMappings[1].containerPort"},
		{"host port range", `{"id": "/a", "networks": [{"mode": "container/bridge"}], "container": {"docker": {"image": "b"}, "portMappings": [{"containerPort": 80, "hostPort": -1}]}}`, "container.portMappings[0].hostPort"},
		{"service port range", `{"id": "/a", "networks": [{"mode": "container/bridge"}], "container": {"docker": {"image": "b"}, "portMappings": [{"containerPort": 80, "servicePort": 99999}]}}`, "container.portMappings[0].servicePort"},
		{"service port unique", `{"id": "/a", "networks": [{"mode": "container/bridge"}], "container": {"docker": {"image": "b"}, "portMappings": [{"containerPort": 80, "servicePort": 10001}, {"containerPort": 81, "servicePort": 10001}]}}`, "container.portMappings[1].servicePort"},
		{"port mapping names unique", `{"id": "/a", "networks": [{"mode": "container/bridge"}], "container": {"docker": {"image": "b"}, "portMappings": [{"name": "h"}, {"name": "h"}]}}`, "container.portMappings[1].name"},
		{"port mappings with host networking", `{"id": "/a", "container": {"docker": {"image": "b"}, "portMappings": [{"containerPort": 80}]}}`, "container.portMappings"},
		{"docker without image", `{"id": "/a", "cmd": "x", "container": {"type": "DOCKER", "docker": {"image": ""}}}`, "container.docker.image"},
		{"docker section missing", `{"id": "/a", "cmd": "x", "container": {"type": "DOCKER"}}`, "container.docker"},
		{"container type", `{"id": "/a", "cmd": "x", "container": {"type": "RKT"}}`, "container.type"},
		{"mesos privileged", `{"id": "/a", "container": {"type": "MESOS", "docker": {"image": "b", "privileged": true}}}`, "container.docker.privileged"},
		{"docker parameter key", `{"id": "/a", "container": {"docker": {"image": "b", "parameters": [{"key": "", "value": "v"}]}}}`, "container.docker.parameters[0].key"},
		{"volume mode", `{"id": "/a", "container": {"docker": {"image": "b"}, "volumes": [{"containerPath": "/d", "hostPath": "/h", "mode": "RX"}]}}`, "container.volumes[0].mode"},
		{"volume host path", `{"id": "/a", "container": {"docker": {"image": "b"}, "volumes": [{"containerPath": "/d", "mode": "RW"}]}}`, "container.volumes[0].hostPath"},
		{"network mode", `{"id": "/a", "cmd": "x", "networks": [{"mode": "overlay"}]}`, "networks[0].mode"},
		{"unknown network name", `{"id": "/a", "container": {"docker": {"image": "b"}, "portMappings": [{"containerPort": 80, "networkNames": ["n2"]}]}, "networks": [{"mode": "container", "name": "n1"}]}`, "container.portMappings[0].networkNames[0]"},
		{"host mixed", `{"id": "/a", "container": {"docker": {"image": "b"}}, "networks": [{"mode": "host"}, {"mode": "container", "name": "n"}]}`, "networks"},
		{"container network without container", `{"id": "/a", "cmd": "x", "networks": [{"mode": "container/bridge"}]}`, "networks"},
		{"network name on bridge", `{"id": "/a", "container": {"docker": {"image": "b"}}, "networks": [{"mode": "container/bridge", "name": "n"}]}`, "networks[0].name"},
		{"health port index range", `{"id": "/a", "cmd": "x", "portDefinitions": [{"port": 0}], "healthChecks": [{"protocol": "HTTP", "portIndex": 1}]}`, "healthChecks[0].portIndex"},
		{"health no ports", `{"id": "/a", "cmd": "x", "portDefinitions": [], "healthChecks": [{"protocol": "TCP"}]}`, "healthChecks[0].portIndex"},
		{"health protocol", `{"id": "/a", "cmd": "x", "healthChecks": [{"protocol": "UDP"}]}`, "healthChecks[0].protocol"},
		{"health command missing", `{"id": "/a", "cmd": "x", "healthChecks": [{"protocol": "COMMAND"}]}`, "healthChecks[0].command.value"},
		{"health port range", `{"id": "/a", "cmd": "x", "healthChecks": [{"protocol": "TCP", "port": 77777}]}`, "healthChecks[0].port"},
		{"health negative interval", `{"id": "/a", "cmd": "x", "healthChecks": [{"intervalSeconds": -1}]}`, "healthChecks[0].intervalSeconds"},
		{"health path", `{"id": "/a", "cmd": "x", "healthChecks": [{"path": "health"}]}`, "healthChecks[0].path"},
		{"two mesos health checks", `{"id": "/a", "cmd": "x", "healthChecks": [{"protocol": "MESOS_TCP"}, {"protocol": "MESOS_HTTP"}]}`, "healthChecks"},
		{"readiness port name", `{"id": "/a", "cmd": "x", "readinessChecks": [{"portName": "nope"}]}`, "readinessChecks[0].portName"},
		{"readiness timeout", `{"id": "/a", "cmd": "x", "portDefinitions": [{"name": "http-api"}], "readinessChecks": [{"intervalSeconds": 5, "timeoutSeconds": 5}]}`, "readinessChecks[0].timeoutSeconds"},
		{"readiness status code", `{"id": "/a", "cmd": "x", "portDefinitions": [{"name": "http-api"}], "readinessChecks": [{"httpStatusCodesForReady": [42]}]}`, "readinessChecks[0].httpStatusCodesForReady[0]"},
		{"two readiness checks", `{"id": "/a", "cmd": "x", "portDefinitions": [{"name": "http-api"}], "readinessChecks": [{}, {}]}`, "readinessChecks"},
		{"min health capacity", `{"id": "/a", "cmd": "x", "upgradeStrategy": {"minimumHealthCapacity": 1.5}}`, "upgradeStrategy.minimumHealthCapacity"},
		{"max over capacity", `{"id": "/a", "cmd": "x", "upgradeStrategy": {"maximumOverCapacity": -0.1}}`, "upgradeStrategy.maximumOverCapacity"},
		{"backoff factor", `{"id": "/a", "cmd": "x", "backoffFactor": 0.5}`, "backoffFactor"},
		{"backoff seconds", `{"id": "/a", "cmd": "x", "backoffSeconds": -1}`, "backoffSeconds"},
		{"max launch delay", `{"id": "/a", "cmd": "x", "maxLaunchDelaySeconds": -1}`, "maxLaunchDelaySeconds"},
		{"kill grace", `{"id": "/a", "cmd": "x", "taskKillGracePeriodSeconds": -3}`, "taskKillGracePeriodSeconds"},
		{"kill selection", `{"id": "/a", "cmd": "x", "killSelection": "RANDOM"}`, "killSelection"},
		{"unreachable order", `{"id": "/a", "cmd": "x", "unreachableStrategy": {"inactiveAfterSeconds": 60, "expungeAfterSeconds": 30}}`, "unreachableStrategy.inactiveAfterSeconds"},
		{"unreachable negative", `{"id": "/a", "cmd": "x", "unreachableStrategy": {"inactiveAfterSeconds": -1}}`, "unreachableStrategy.inactiveAfterSeconds"},
		{"roles empty", `{"id": "/a", "cmd": "x", "acceptedResourceRoles": []}`, "acceptedResourceRoles"},
		{"roles bad name", `{"id": "/a", "cmd": "x", "acceptedResourceRoles": ["-x"]}`, "acceptedResourceRoles[0]"},
		{"role bad name", `{"id": "/a", "cmd": "x", "role": ".."}`, "role"},
		{"dependency", `{"id": "/a", "cmd": "x", "dependencies": ["/Bad"]}`, "dependencies[0]"},
		{"secret source", `{"id": "/a", "cmd": "x", "secrets": {"s": {"source": "db"}}}`, "secrets.s.source"},
		{"version", `{"id": "/a", "cmd": "x", "version": "yesterday"}`, "version"},
		{"fetch uri", `{"id": "/a", "cmd": "x", "fetch": [{"uri": ""}]}`, "fetch[0].uri"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := mustParse(t, tc.app)
			errs := a.Validate()
			if !errs.Has(tc.path) {
				t.Fatalf("want an error at %q, got %v", tc.path, errs)
			}
		})
	}
}

func TestLegacyConflictsRefusedByParse(t *testing.T) {
	cases := map[string]string{
		"ports":                         `{"id": "/a", "cmd": "x", "ports": [1], "portDefinitions": [{"port": 2}]}`,
		"uris":                          `{"id": "/a", "cmd": "x", "uris": ["http://a"], "fetch": [{"uri": "http://b"}]}`,
		"container.docker.network":      `{"id": "/a", "container": {"docker": {"image": "b", "network": "BRIDGE"}}, "networks": [{"mode": "host"}]}`,
		"container.docker.portMappings": `{"id": "/a", "container": {"docker": {"image": "b", "portMappings": []}, "portMappings": []}}`,
	}
	for path, in := range cases {
		_, err := Parse([]byte(in))
		var fe FieldErrors
		if !errors.As(err, &fe) || !fe.Has(path) {
			t.Errorf("%s: want an error at %q, got %v", in, path, err)
		}
	}
}

func TestLegacyNetworkNoneRefused(t *testing.T) {
	_, err := Parse([]byte(`{"id": "/a", "container": {"docker": {"image": "b", "network": "NONE"}}}`))
	var fe FieldErrors
	if !errors.As(err, &fe) || !fe.Has("container.docker.network") {
		t.Fatalf("want an error at container.docker.network, got %v", err)
	}
}

func TestTypeErrorsNamedWithIndices(t *testing.T) {
	_, err := Parse([]byte(`{"id": "/a", "cmd": "x",
		"healthChecks": [{}, {"intervalSeconds": "10"}],
		"constraints": [["rack", "GROUP_BY", 3]],
		"labels": {"tier": 1},
		"container": {"docker": {"image": "b", "privileged": "yes"}, "portMappings": [{"containerPort": 80.5}]},
		"cpus": "1"}`))
	var fe FieldErrors
	if !errors.As(err, &fe) {
		t.Fatalf("want FieldErrors, got %v", err)
	}
	for _, p := range []string{"healthChecks[1].intervalSeconds", "constraints[0][2]", "labels.tier",
		"container.docker.privileged", "container.portMappings[0].containerPort", "cpus"} {
		if !fe.Has(p) {
			t.Errorf("no error at %s in %v", p, fe)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	a := mustParse(t, `{"id": "/Bad", "cmd": "x", "args": ["y"], "instances": -1, "backoffFactor": 0}`)
	errs := a.Validate()
	for _, p := range []string{"id", "args", "instances", "backoffFactor"} {
		if !errs.Has(p) {
			t.Errorf("missing error at %s in %v", p, errs)
		}
	}
}

func TestErrorBodyShape(t *testing.T) {
	errs := FieldErrors{
		{Path: "container.portMappings[1].containerPort", Message: "must be between 0 and 65535"},
		{Path: "", Message: "the app must have cmd, args or a container with an image"},
		{Path: "container.portMappings[1].containerPort", Message: "second"},
	}
	got, err := json.Marshal(errs)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"message":"Object is not valid","details":[` +
		`{"path":"/container/portMappings(1)/containerPort","errors":["must be between 0 and 65535","second"]},` +
		`{"path":"/","errors":["the app must have cmd, args or a container with an image"]}]}`
	if string(got) != want {
		t.Fatalf("422 body:\n got  %s\n want %s", got, want)
	}
	if !strings.Contains(errs.Error(), "container.portMappings[1].containerPort: must be between 0 and 65535") {
		t.Errorf("Error() does not name the field: %s", errs.Error())
	}
}

func TestIDsAndServiceNames(t *testing.T) {
	cases := []struct{ in, id, service, group string }{
		{"/team/web", "/team/web", "team-web", "/team"},
		{"team/web/", "/team/web", "team-web", "/team"},
		{"web", "/web", "web", "/"},
		{"/a/./b", "/a/b", "a-b", "/a"},
	}
	for _, tc := range cases {
		a := mustParse(t, `{"id": "`+tc.in+`", "cmd": "x"}`)
		if a.ID() != tc.id || a.AppID != tc.id || a.ServiceName() != tc.service || a.Group() != tc.group {
			t.Errorf("%q: id %q service %q group %q", tc.in, a.ID(), a.ServiceName(), a.Group())
		}
	}
	a := mustParse(t, `{"id": "/shop/frontend", "cmd": "x", "dependencies": ["/shop/api", "cache", "../infra/db"]}`)
	want := []string{"/shop/api", "/shop/cache", "/infra/db"}
	if !reflect.DeepEqual(a.Dependencies, want) {
		t.Errorf("dependencies resolve against the app's group: got %v want %v", a.Dependencies, want)
	}
}

func TestConstraintsValidatedAsPlacementParsesThem(t *testing.T) {
	// Marathon documents CLUSTER's value as optional (all instances follow
	// the first) and IS as an operator; both are accepted.
	a := mustParse(t, `{"id": "/a", "cmd": "x", "constraints": [["hostname", "CLUSTER"], ["rack", "IS", "r1"], ["zone", "LIKE", "us-.*"], ["rack", "GROUP_BY", "3"], ["hostname", "MAX_PER", "2"]]}`)
	if errs := a.Validate(); errs != nil {
		t.Fatalf("valid constraints refused: %v", errs)
	}
	// MAX_PER 0 could never place an instance.
	a = mustParse(t, `{"id": "/a", "cmd": "x", "constraints": [["hostname", "UNIQUE"], ["rack", "MAX_PER", "0"]]}`)
	errs := a.Validate()
	if !errs.Has("constraints[1]") || errs.Has("constraints[0]") || !strings.Contains(errs.Error(), "MAX_PER") {
		t.Fatalf("MAX_PER 0: %v, want an error at constraints[1]", errs)
	}
}

func TestDiff(t *testing.T) {
	base := `{"id": "/d", "cmd": "x", "instances": 2, "labels": {"a": "1"}, "version": "2024-01-01T00:00:00Z"}`
	old := mustParse(t, base)
	cases := []struct {
		name          string
		app           string
		scale, resart bool
		fields        []string
	}{
		{"same", base, false, false, nil},
		{"only version", strings.Replace(base, "2024-01-01", "2024-02-02", 1), false, false, nil},
		{"scale", strings.Replace(base, `"instances": 2`, `"instances": 5`, 1), true, false, []string{"instances"}},
		{"cmd", strings.Replace(base, `"cmd": "x"`, `"cmd": "y"`, 1), false, true, []string{"cmd"}},
		{"labels", strings.Replace(base, `"1"`, `"2"`, 1), false, true, []string{"labels"}},
		{"scale and mem", strings.Replace(base, `"instances": 2`, `"instances": 3, "mem": 64`, 1), true, true, []string{"instances", "mem"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Diff(old, mustParse(t, tc.app))
			if c.Scale != tc.scale || c.Restart != tc.resart || !reflect.DeepEqual(c.Fields, tc.fields) {
				t.Fatalf("Diff = %+v, want scale=%v restart=%v fields=%v", c, tc.scale, tc.resart, tc.fields)
			}
			if c.None() != (len(tc.fields) == 0) {
				t.Fatalf("None() = %v", c.None())
			}
		})
	}
}

func BenchmarkParseValidate(b *testing.B) {
	data, err := os.ReadFile("testdata/valid/docker-bridge.json")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		a, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		if errs := a.Validate(); errs != nil {
			b.Fatal(errs)
		}
	}
}
