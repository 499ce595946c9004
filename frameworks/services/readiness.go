package services

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"agora/frameworks/services/app"
	"agora/frameworks/services/core"
)

// probeReadiness starts a readiness probe for every instance that waits
// for one and has none in flight. Results come back to the loop.
func (f *Framework) probeReadiness(ctx context.Context) {
	apps := map[string]*app.App{}
	for _, a := range f.core.Apps() {
		if len(a.ReadinessChecks) > 0 {
			apps[a.ID()] = a
		}
	}
	if len(apps) == 0 {
		return
	}
	now := time.Now()
	for _, in := range f.core.Instances("") {
		a := apps[in.AppID]
		if a == nil || !in.NeedsReadiness || f.probing[in.TaskID] || now.Before(f.nextProbe[in.TaskID]) {
			continue
		}
		rc := a.ReadinessChecks[0]
		url, err := readinessURL(a, rc, in)
		if err != nil {
			f.cfg.Logf("services: readiness of %s: %v", in.TaskID, err)
			continue
		}
		f.probing[in.TaskID] = true
		f.nextProbe[in.TaskID] = now.Add(time.Duration(max(rc.IntervalSeconds, 1)) * time.Second)
		tid := in.TaskID
		go func() {
			ok := probe(ctx, url, rc)
			f.drv.Do(ctx, func() {
				delete(f.probing, tid)
				if ok {
					delete(f.nextProbe, tid)
					f.act(ctx, f.core.SetReady(tid, true, time.Now()))
				}
			})
		}()
	}
	for tid := range f.nextProbe {
		if !f.probing[tid] && now.After(f.nextProbe[tid].Add(time.Minute)) {
			delete(f.nextProbe, tid) // the instance is gone or ready
		}
	}
}

// readinessURL is where the check probes an instance: its host and the
// host port of the named app port.
func readinessURL(a *app.App, rc app.ReadinessCheck, in core.Instance) (string, error) {
	var names []string
	for _, p := range appPorts(a) {
		names = append(names, p.name)
	}
	i := slices.Index(names, rc.PortName)
	if i < 0 {
		return "", fmt.Errorf("readinessChecks[0].portName %q names none of the app's ports %v", rc.PortName, names)
	}
	if i >= len(in.Ports) {
		return "", fmt.Errorf("instance has %d host ports; port %q is number %d", len(in.Ports), rc.PortName, i)
	}
	scheme := "http"
	if rc.Protocol == "HTTPS" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(in.Host, strconv.FormatUint(in.Ports[i], 10)) + rc.Path, nil
}

// probe makes one readiness request: ready when the status is one of the
// check's ready codes.
func probe(ctx context.Context, url string, rc app.ReadinessCheck) bool {
	timeout := time.Duration(max(rc.TimeoutSeconds, 1)) * time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	codes := rc.HTTPStatusCodesForReady
	if len(codes) == 0 {
		codes = []int{http.StatusOK}
	}
	return slices.Contains(codes, resp.StatusCode)
}
