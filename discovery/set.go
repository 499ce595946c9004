package discovery

import (
	"maps"
	"slices"
	"strings"
)

// Normalize returns a deep copy of services in a canonical order (services
// by name, endpoints by task id, then host and port), so two sets that hold
// the same things compare equal whatever order they were built in, and the
// caller may keep the copy while the original is changed.
func Normalize(services []Service) []Service {
	out := make([]Service, len(services))
	for i, s := range services {
		out[i] = s
		if s.Labels != nil {
			out[i].Labels = maps.Clone(s.Labels)
		}
		if s.Endpoints != nil {
			out[i].Endpoints = slices.Clone(s.Endpoints)
			slices.SortFunc(out[i].Endpoints, compareEndpoints)
		}
	}
	slices.SortFunc(out, func(a, b Service) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func compareEndpoints(a, b Endpoint) int {
	if c := strings.Compare(a.TaskID, b.TaskID); c != 0 {
		return c
	}
	if c := strings.Compare(a.Host, b.Host); c != 0 {
		return c
	}
	return a.Port - b.Port
}

// Equal reports whether two normalized sets hold the same services. A nil
// and an empty label map or endpoint list count as the same.
func Equal(a, b []Service) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !serviceEqual(&a[i], &b[i]) {
			return false
		}
	}
	return true
}

func serviceEqual(a, b *Service) bool {
	return a.Name == b.Name && a.AppID == b.AppID && a.PortIndex == b.PortIndex &&
		a.PortName == b.PortName && a.ServicePort == b.ServicePort &&
		a.Protocol == b.Protocol && maps.Equal(a.Labels, b.Labels) &&
		slices.Equal(a.Endpoints, b.Endpoints)
}
