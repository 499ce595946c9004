package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"agora/core/authn"
	"agora/core/containerizer/docker/dockertest"
	"agora/discovery/consul/consultest"

	consulapi "github.com/hashicorp/consul/api"
)

const lbHTTPDApp = `{
  "id": %q,
  "cmd": "mkdir -p /www && echo \"task $MESOS_TASK_ID version $VERSION\" > /www/index.html && exec httpd -f -p 80 -h /www",
  "instances": %d,
  "cpus": 0.1,
  "mem": 32,
  "container": {
    "type": "DOCKER",
    "docker": {"image": %q, "network": "BRIDGE"},
    "portMappings": [{"containerPort": 80, "hostPort": 0, "servicePort": %d, "protocol": "tcp"}]
  },
  "labels": %s,
  "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/", "portIndex": 0, "gracePeriodSeconds": 30,
    "intervalSeconds": 1, "timeoutSeconds": 2, "maxConsecutiveFailures": 3, "delaySeconds": 0}],
  "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 0.5},
  "env": {"VERSION": %q}
}`

// loadGen sends requests one after another until stopped, counting
// failures; it is bounded to one request in flight.
type loadGen struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	lastErr    string
	stop       chan struct{}
	done       chan struct{}
}

func startLoad(url, host string) *loadGen {
	g := &loadGen{stop: make(chan struct{}), done: make(chan struct{})}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	go func() {
		defer close(g.done)
		for {
			select {
			case <-g.stop:
				return
			default:
			}
			req, _ := http.NewRequest("GET", url, nil)
			if host != "" {
				req.Host = host
			}
			resp, err := c.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != 200 {
					err = fmt.Errorf("status %s", resp.Status)
				}
			}
			if err != nil {
				g.failed.Add(1)
				g.mu.Lock()
				g.lastErr = err.Error()
				g.mu.Unlock()
			} else {
				g.ok.Add(1)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return g
}

func (g *loadGen) finish() (ok, failed int64, last string) {
	close(g.stop)
	<-g.done
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ok.Load(), g.failed.Load(), g.lastErr
}

// stopHAProxyAt stops, when the test ends, the HAProxy an lb keeps in dir:
// it outlives a killed lb by design.
func stopHAProxyAt(t testing.TB, dir string) {
	t.Cleanup(func() {
		b, err := os.ReadFile(filepath.Join(dir, "haproxy.pid"))
		if err != nil {
			return
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			syscall.Kill(pid, syscall.SIGTERM)
		}
	})
}

type lbStatus struct {
	Running     bool     `json:"running"`
	Reloads     uint64   `json:"reloads"`
	LabelErrors []string `json:"labelErrors"`
	Services    int      `json:"services"`
}

// getLBStatus reads the lb's /status with a bearer token.
func getLBStatus(url, token string) (lbStatus, error) {
	var s lbStatus
	req, _ := http.NewRequest("GET", url+"/status", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("GET %s/status: %s", url, resp.Status)
	}
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// lbCredentials writes a credentials file with one token for the lb's
// status API.
func lbCredentials(t *testing.T) (file, token string) {
	t.Helper()
	creds, err := authn.ParseCredentials([]byte(`{"credentials": []}`))
	if err != nil {
		t.Fatal(err)
	}
	token, hash, err := authn.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	creds.Set("ops", "", hash)
	data, _ := creds.Marshal()
	return writeFile(t, "lb-credentials.json", string(data)), token
}

// Services reach users through HAProxy, by service port and by virtual
// host, with no failed request while an app is scaled and upgraded; Consul
// holds exactly the running instances; the lb survives kill -9; a broken
// label on one app leaves the others served.
func TestLoadBalancerEndToEnd(t *testing.T) {
	docker := dockertest.Daemon(t)
	image := dockertest.BusyboxImage(t, docker)
	consul := consultest.Start(t)
	began := time.Now()
	phase := func(what string) { t.Logf("%6.1fs  %s", time.Since(began).Seconds(), what) }

	masterAddr := freeAddr(t)
	url := "http://" + masterAddr
	start(t, "master", "--authenticate=false", "--listen", masterAddr, "--data_dir", t.TempDir(), "--allocation_interval", "100ms", "--consul", consul.Addr)
	waitHealthy(t, url)
	var agentIDs []string
	start(t, "agent", "--authenticate=false", "--switch_user=false", "--master", masterAddr, "--listen", freeAddr(t), "--hostname", "127.0.0.1", "--docker_host_ip", "127.0.0.1",
		"--work_dir", t.TempDir(), "--containerizers", "docker", "--resources", "cpus:4;mem:2048;disk:2000;ports:[31700-31750]")
	for _, a := range waitAgents(t, url, 1) {
		agentIDs = append(agentIDs, a.AgentInfo.ID.Value)
	}
	t.Cleanup(func() { removeAgentContainers(t, docker, agentIDs) })
	cl := waitServices(t, url)

	servicePort, _ := strconv.Atoi(strings.Split(freeAddr(t), ":")[1])
	httpPort, _ := strconv.Atoi(strings.Split(freeAddr(t), ":")[1])
	statsPort, _ := strconv.Atoi(strings.Split(freeAddr(t), ":")[1])
	lbListen := freeAddr(t)
	lbDir := t.TempDir()
	credsFile, token := lbCredentials(t)
	lbArgs := []string{"lb", "--credentials", credsFile, "--consul", consul.Addr, "--work_dir", lbDir, "--bind", "127.0.0.1", "--http_port", strconv.Itoa(httpPort),
		"--stats_port", strconv.Itoa(statsPort), "--listen", lbListen}
	stopHAProxyAt(t, lbDir)
	lbProc := start(t, lbArgs...)
	lbURL := "http://" + lbListen

	web := func(instances int, version string) string {
		return writeFile(t, "web.json", fmt.Sprintf(lbHTTPDApp, "/shop/web", instances, image, servicePort, `{"HAPROXY_0_VHOST":"web.test","HAPROXY_0_MODE":"http"}`, version))
	}
	mustApp(t, url, "deploy", "-f", web(2, "v1"))
	byPort := fmt.Sprintf("http://127.0.0.1:%d/", servicePort)
	byHost := fmt.Sprintf("http://127.0.0.1:%d/", httpPort)
	waitFor(t, 60*time.Second, "the app through HAProxy by service port and by virtual host", func() bool {
		a, err1 := httpGet(byPort)
		req, _ := http.NewRequest("GET", byHost, nil)
		req.Host = "web.test"
		resp, err2 := http.DefaultClient.Do(req)
		if err2 == nil {
			resp.Body.Close()
		}
		return err1 == nil && strings.Contains(a, "version v1") && err2 == nil && resp.StatusCode == 200
	})
	phase("served through HAProxy by service port and virtual host")
	if resp, err := http.Get(lbURL + "/status"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the lb's /status without credentials: %v %v, want 401", resp, err)
	} else {
		resp.Body.Close()
	}

	// Scale and upgrade under load: not one request may fail.
	load := startLoad(byPort, "")
	vload := startLoad(byHost, "web.test")
	for _, n := range []int{6, 2} {
		mustApp(t, url, "scale", "/shop/web", strconv.Itoa(n))
		phase(fmt.Sprintf("scaled to %d", n))
	}
	for _, v := range []string{"v2", "v3"} {
		mustApp(t, url, "deploy", "-f", web(2, v))
		phase("upgraded to " + v)
	}
	waitFor(t, 30*time.Second, "HAProxy serving v3", func() bool {
		b, err := httpGet(byPort)
		return err == nil && strings.Contains(b, "version v3")
	})
	ok, failed, last := load.finish()
	vok, vfailed, vlast := vload.finish()
	t.Logf("load through the service port: %d ok, %d failed; through the virtual host: %d ok, %d failed", ok, failed, vok, vfailed)
	if failed != 0 || vfailed != 0 || ok < 100 || vok < 100 {
		t.Fatalf("requests during scaling and upgrades: service port %d ok / %d failed (last: %s); vhost %d ok / %d failed (last: %s); want none failed",
			ok, failed, last, vok, vfailed, vlast)
	}

	// Consul holds exactly the running instances.
	cc, err := consulapi.NewClient(&consulapi.Config{Address: consul.Addr})
	if err != nil {
		t.Fatal(err)
	}
	running := taskIDs(runningTasks(t, cl, "/shop/web"))
	waitFor(t, 30*time.Second, "Consul's catalog to match the running instances", func() bool {
		entries, _, err := cc.Catalog().Service("shop-web", "", nil)
		if err != nil {
			return false
		}
		var ids []string
		for _, e := range entries {
			ids = append(ids, e.ServiceMeta["task_id"])
		}
		slices.Sort(ids)
		return slices.Equal(ids, running)
	})
	phase("Consul's catalog matches the running instances")

	// kill -9 of the lb: HAProxy keeps serving, a new lb adopts it.
	load = startLoad(byPort, "")
	lbProc.cmd.Process.Kill()
	lbProc.cmd.Wait()
	time.Sleep(500 * time.Millisecond) // requests flow while no lb runs
	start(t, lbArgs...)
	waitFor(t, 30*time.Second, "the restarted lb to report HAProxy running", func() bool {
		s, err := getLBStatus(lbURL, token)
		return err == nil && s.Running
	})
	mustApp(t, url, "scale", "/shop/web", "3")
	ok, failed, last = load.finish()
	if failed != 0 || ok < 50 {
		t.Fatalf("across an lb kill -9 and restart: %d ok, %d failed (last: %s)", ok, failed, last)
	}
	phase("lb killed and restarted with no failed request")

	// A broken label on another app: reported, and /shop/web still served
	// and still updated.
	otherPort := servicePort + 1
	if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", otherPort)); err == nil {
		l.Close()
	} else {
		otherPort, _ = strconv.Atoi(strings.Split(freeAddr(t), ":")[1])
	}
	bad := writeFile(t, "bad.json", fmt.Sprintf(lbHTTPDApp, "/shop/bad", 1, image, otherPort, `{"HAPROXY_0_MODE":"carrier-pigeon"}`, "v1"))
	mustApp(t, url, "deploy", "-f", bad)
	waitFor(t, 30*time.Second, "the lb to report the bad label", func() bool {
		s, err := getLBStatus(lbURL, token)
		return err == nil && strings.Contains(strings.Join(s.LabelErrors, " "), "carrier-pigeon")
	})
	mustApp(t, url, "scale", "/shop/web", "2")
	waitFor(t, 30*time.Second, "the good app still served", func() bool {
		b, err := httpGet(byPort)
		return err == nil && strings.Contains(b, "version v3")
	})
	phase("a broken label on one app left the other served")
}

// `agora dev` with haproxy on the PATH puts a load balancer in front of
// its services, fed by the embedded registry: no Consul needed.
func TestDevLoadBalancerEndToEnd(t *testing.T) {
	masterAddr, agentAddr := freeAddr(t), freeAddr(t)
	url := "http://" + masterAddr
	port := func() int { p, _ := strconv.Atoi(strings.Split(freeAddr(t), ":")[1]); return p }
	servicePort, httpPort, statsPort := port(), port(), port()
	data := t.TempDir()
	stopHAProxyAt(t, filepath.Join(data, "lb"))
	start(t, "dev", "--listen", masterAddr, "--agent_listen", agentAddr, "--data_dir", data, "--allocation_interval", "100ms",
		"--containerizers", "process", "--resources", "cpus:2;mem:1024;disk:1000;ports:[31800-31850]",
		"--lb", "on", "--lb_http_port", strconv.Itoa(httpPort), "--lb_stats_port", strconv.Itoa(statsPort))
	waitHealthy(t, url)
	waitServices(t, url)
	app := writeFile(t, "web.json", fmt.Sprintf(`{"id":"/dev/web","instances":2,"cpus":0.1,"mem":32,
		"cmd":"echo dev-web > index.html && exec busybox httpd -f -p $PORT0 -h .",
		"portDefinitions":[{"port":%d,"name":"http"}],
		"labels":{"HAPROXY_0_VHOST":"web.dev.test"},
		"healthChecks":[{"protocol":"MESOS_HTTP","path":"/","portIndex":0,"gracePeriodSeconds":10,"intervalSeconds":1,"delaySeconds":0}]}`, servicePort))
	mustApp(t, url, "deploy", "-f", app)
	waitFor(t, 60*time.Second, "the app through the dev lb by service port and by virtual host", func() bool {
		a, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/", servicePort))
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/", httpPort), nil)
		req.Host = "web.dev.test"
		resp, err2 := http.DefaultClient.Do(req)
		if err2 != nil {
			return false
		}
		resp.Body.Close()
		return err == nil && strings.Contains(a, "dev-web") && resp.StatusCode == 200
	})
	mustApp(t, url, "delete", "/dev/web")
}
