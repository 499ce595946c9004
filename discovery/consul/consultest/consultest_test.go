package consultest_test

import (
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"agora/discovery/consul/consultest"
)

func TestBinaryRunsConsul(t *testing.T) {
	bin, err := consultest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "Consul v") {
		t.Fatalf("%s version: %q, %v", bin, out, err)
	}
}

func TestStartStopRestart(t *testing.T) {
	srv := consultest.Start(t)
	get := func() error {
		resp, err := http.Get("http://" + srv.Addr + "/v1/status/leader")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(); err != nil {
		t.Fatalf("started agent does not answer: %v", err)
	}
	srv.Restart(t)
	if err := get(); err != nil {
		t.Fatalf("restarted agent does not answer on the same port: %v", err)
	}
	srv.Stop()
	if err := get(); err == nil {
		t.Fatal("stopped agent still answers")
	}
}
