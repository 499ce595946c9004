package health

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"agora/core/mesos"
)

func TestFromMesosAppliesMesosDefaults(t *testing.T) {
	got, err := FromMesos(&mesos.HealthCheck{Type: "TCP", TCP: &mesos.TCPCheckInfo{Port: 8080}})
	if err != nil {
		t.Fatal(err)
	}
	want := Spec{
		Delay: 15 * time.Second, Interval: 10 * time.Second, Timeout: 20 * time.Second,
		Grace: 10 * time.Second, ConsecutiveFailures: 3,
		Type: "TCP", Protocol: "IPv4", Port: 8080,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestFromMesosKeepsGivenValues(t *testing.T) {
	got, err := FromMesos(&mesos.HealthCheck{
		DelaySeconds: 0.5, IntervalSeconds: 2, TimeoutSeconds: 1.25, GracePeriodSeconds: 300,
		ConsecutiveFailures: 5, Type: "HTTP",
		HTTP: &mesos.HTTPCheckInfo{Scheme: "https", Port: 31000, Path: "/health", Statuses: []uint32{200, 204}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Spec{
		Delay: 500 * time.Millisecond, Interval: 2 * time.Second, Timeout: 1250 * time.Millisecond,
		Grace: 300 * time.Second, ConsecutiveFailures: 5,
		Type: "HTTP", Protocol: "IPv4", Port: 31000, Scheme: "https", Path: "/health", Statuses: []uint32{200, 204},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestFromMesosHTTPDefaults(t *testing.T) {
	got, err := FromMesos(&mesos.HealthCheck{Type: "HTTP", HTTP: &mesos.HTTPCheckInfo{Port: 80, Protocol: "IPv6"}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Scheme != "http" || got.Path != "/" || got.Protocol != "IPv6" || got.Statuses != nil {
		t.Fatalf("got scheme %q path %q protocol %q statuses %v", got.Scheme, got.Path, got.Protocol, got.Statuses)
	}
}

func TestFromMesosCommandIsCopied(t *testing.T) {
	cmd := &mesos.CommandInfo{Value: "true"}
	got, err := FromMesos(&mesos.HealthCheck{Type: "COMMAND", Command: cmd})
	if err != nil {
		t.Fatal(err)
	}
	cmd.Value = "false"
	if got.Command.Value != "true" {
		t.Fatalf("spec shares the caller's CommandInfo: value became %q", got.Command.Value)
	}
}

func TestFromMesosInfersTypeFromTheOnlyBody(t *testing.T) {
	got, err := FromMesos(&mesos.HealthCheck{Command: &mesos.CommandInfo{Value: "true"}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != TypeCommand {
		t.Fatalf("type = %q, want COMMAND", got.Type)
	}
}

func TestFromMesosErrorsNameTheField(t *testing.T) {
	tcp := &mesos.TCPCheckInfo{Port: 80}
	cases := []struct {
		name string
		hc   *mesos.HealthCheck
		want string
	}{
		{"nil", nil, "health_check: missing"},
		{"negative interval", &mesos.HealthCheck{IntervalSeconds: -1, Type: "TCP", TCP: tcp}, "health_check.interval_seconds: must be positive"},
		{"negative timeout", &mesos.HealthCheck{TimeoutSeconds: -2, Type: "TCP", TCP: tcp}, "health_check.timeout_seconds: must be positive"},
		{"tiny timeout", &mesos.HealthCheck{TimeoutSeconds: 1e-6, Type: "TCP", TCP: tcp}, "health_check.timeout_seconds: 1e-06 is below the minimum"},
		{"negative delay", &mesos.HealthCheck{DelaySeconds: -1, Type: "TCP", TCP: tcp}, "health_check.delay_seconds: must not be negative"},
		{"negative grace", &mesos.HealthCheck{GracePeriodSeconds: -3, Type: "TCP", TCP: tcp}, "health_check.grace_period_seconds: must not be negative"},
		{"huge delay", &mesos.HealthCheck{DelaySeconds: 1e12, Type: "TCP", TCP: tcp}, "health_check.delay_seconds: 1e+12 is too large"},
		{"unknown type", &mesos.HealthCheck{Type: "UDP", TCP: tcp}, `health_check.type: unknown type "UDP"`},
		{"no type no body", &mesos.HealthCheck{}, "health_check.type: required"},
		{"no type two bodies", &mesos.HealthCheck{TCP: tcp, Command: &mesos.CommandInfo{Value: "true"}}, "health_check.type: required"},
		{"http without body", &mesos.HealthCheck{Type: "HTTP", TCP: tcp}, "health_check.http: required for type HTTP"},
		{"tcp without body", &mesos.HealthCheck{Type: "TCP"}, "health_check.tcp: required for type TCP"},
		{"command without body", &mesos.HealthCheck{Type: "COMMAND"}, "health_check.command: required for type COMMAND"},
		{"command without value", &mesos.HealthCheck{Type: "COMMAND", Command: &mesos.CommandInfo{}}, "health_check.command.value: required"},
		{"http port 0", &mesos.HealthCheck{Type: "HTTP", HTTP: &mesos.HTTPCheckInfo{Path: "/"}}, "health_check.http.port: required"},
		{"tcp port 0", &mesos.HealthCheck{Type: "TCP", TCP: &mesos.TCPCheckInfo{}}, "health_check.tcp.port: required"},
		{"tcp port too big", &mesos.HealthCheck{Type: "TCP", TCP: &mesos.TCPCheckInfo{Port: 70000}}, "health_check.tcp.port: 70000 is out of range"},
		{"bad scheme", &mesos.HealthCheck{Type: "HTTP", HTTP: &mesos.HTTPCheckInfo{Port: 80, Scheme: "ftp"}}, "health_check.http.scheme"},
		{"relative path", &mesos.HealthCheck{Type: "HTTP", HTTP: &mesos.HTTPCheckInfo{Port: 80, Path: "health"}}, "health_check.http.path: \"health\" must start with /"},
		{"bad status", &mesos.HealthCheck{Type: "HTTP", HTTP: &mesos.HTTPCheckInfo{Port: 80, Statuses: []uint32{200, 42}}}, "health_check.http.statuses[1]: 42"},
		{"bad protocol", &mesos.HealthCheck{Type: "TCP", TCP: &mesos.TCPCheckInfo{Port: 80, Protocol: "IPX"}}, "health_check.tcp.protocol"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromMesos(tc.hc)
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}
