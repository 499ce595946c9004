package services

import (
	"context"
	"reflect"
	"strconv"
	"strings"
	"time"

	"agora/core/mesos"
	"agora/discovery"
	"agora/frameworks/services/app"
	"agora/frameworks/services/core"
)

// resyncInterval: the published set is handed to the registry again this
// often even when unchanged, so a registry that lost it (a restarted
// Consul) is repopulated.
const resyncInterval = 30 * time.Second

// appPort is one app port that instances expose on their host.
type appPort struct {
	name        string
	servicePort int
	protocol    string
}

// appPorts lists the app's ports in the order of an instance's host ports:
// port mappings with a host port, else port definitions.
func appPorts(a *app.App) []appPort {
	var out []appPort
	if a.Container != nil && len(a.Container.PortMappings) > 0 {
		for _, pm := range a.Container.PortMappings {
			if pm.HostPort != nil {
				out = append(out, appPort{pm.Name, pm.ServicePort, pm.Protocol})
			}
		}
		return out
	}
	for _, pd := range a.PortDefinitions {
		out = append(out, appPort{pd.Name, pd.Port, pd.Protocol})
	}
	return out
}

// published is what discovery should hold: one Service per app port, with
// the running instances behind it. An instance takes traffic (Healthy) when
// it is healthy and ready and no kill is coming; a planned kill drains it.
func published(apps []*app.App, insts []core.Instance) []discovery.Service {
	byApp := map[string][]core.Instance{}
	for _, in := range insts {
		byApp[in.AppID] = append(byApp[in.AppID], in)
	}
	var out []discovery.Service
	for _, a := range apps {
		for i, p := range appPorts(a) {
			name := a.ServiceName()
			if i > 0 {
				name += "-" + strconv.Itoa(i)
			}
			proto := strings.ToLower(p.protocol)
			if proto == "" {
				proto = "tcp"
			}
			svc := discovery.Service{Name: name, AppID: a.ID(), PortIndex: i, PortName: p.name, ServicePort: p.servicePort,
				Protocol: proto, Labels: a.Labels, Endpoints: []discovery.Endpoint{}}
			for _, in := range byApp[a.ID()] {
				if in.State != mesos.TaskRunning || i >= len(in.Ports) {
					continue
				}
				svc.Endpoints = append(svc.Endpoints, discovery.Endpoint{
					TaskID: in.TaskID, AppID: in.AppID, AgentID: in.AgentID, Version: in.Version,
					Host: in.Host, Port: int(in.Ports[i]), Healthy: in.Ready && !in.Killing, Draining: in.Killing,
				})
			}
			out = append(out, svc)
		}
	}
	return out
}

// publisher hands the latest published set to the registry from its own
// goroutine, so a slow or absent registry never holds the framework up.
type publisher struct {
	reg    discovery.Registry
	logf   func(string, ...any)
	latest chan []discovery.Service // capacity 1: only the newest set waits
	last   []discovery.Service      // owned by the loop goroutine
}

func newPublisher(reg discovery.Registry, logf func(string, ...any)) *publisher {
	return &publisher{reg: reg, logf: logf, latest: make(chan []discovery.Service, 1)}
}

// offer queues set if it differs from the last one queued.
func (p *publisher) offer(set []discovery.Service, force bool) {
	if !force && reflect.DeepEqual(set, p.last) {
		return
	}
	p.last = set
	select {
	case <-p.latest: // replaced by the newer set
	default:
	}
	p.latest <- set
}

// run syncs queued sets until ctx ends, retrying a failed sync with the
// newest set.
func (p *publisher) run(ctx context.Context) {
	var pending []discovery.Service
	have := false // an empty set is a set: it removes everything
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case pending = <-p.latest:
			have = true
		case <-retry.C:
		}
		if !have {
			continue
		}
		if err := p.reg.Sync(ctx, pending); err != nil {
			if ctx.Err() == nil {
				p.logf("services: publishing %d services: %v; retrying", len(pending), err)
			}
			retry.Reset(2 * time.Second)
			continue
		}
		have = false
	}
}
