// Package discovery holds what Agora publishes about running services: one
// Service per app port, with the endpoints (instances) behind it, and the
// Registry interface that publishes and watches them — Consul
// (discovery/consul) or an embedded registry for a cluster without one.
//
// Contract: the services framework computes the whole desired set of
// services from its state and hands it to Registry.Sync; the load balancer
// watches the set with Registry.Watch. A Registry touches only entries
// Agora made, and a Sync of the same set is free.
package discovery

import "context"

// Endpoint is one instance behind a service port.
type Endpoint struct {
	TaskID  string `json:"taskId"`
	AppID   string `json:"appId"`
	AgentID string `json:"agentId"`
	Version string `json:"version"`
	// Host and Port are where the instance answers for this service port.
	Host string `json:"host"`
	Port int    `json:"port"`
	// Healthy: running, healthy and ready, so it may take traffic.
	Healthy bool `json:"healthy"`
	// Draining: a planned kill is coming; no new traffic, existing
	// connections finish.
	Draining bool `json:"draining,omitempty"`
}

// Service is one port of one app.
type Service struct {
	// Name is the app id as a DNS-friendly name (/team/web -> team-web),
	// with "-<port index>" added for ports after the first.
	Name      string `json:"name"`
	AppID     string `json:"appId"`
	PortIndex int    `json:"portIndex"`
	// PortName is the port's name in the app, if any.
	PortName string `json:"portName,omitempty"`
	// ServicePort is the load balancer's port for it.
	ServicePort int `json:"servicePort"`
	// Protocol is "tcp" or "udp".
	Protocol string `json:"protocol"`
	// Labels are the app's labels (the load balancer reads HAPROXY_* ones).
	Labels    map[string]string `json:"labels,omitempty"`
	Endpoints []Endpoint        `json:"endpoints"`
}

// Registry publishes services and lets others watch them.
type Registry interface {
	// Sync makes the registry hold exactly services (among Agora's own
	// entries): missing ones are added, changed ones updated, others
	// removed.
	Sync(ctx context.Context, services []Service) error
	// Watch sends the whole current set of services at once and again
	// after each change, until ctx ends; then the channel is closed.
	Watch(ctx context.Context) (<-chan []Service, error)
}
