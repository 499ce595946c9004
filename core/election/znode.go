package election

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// NodePrefix names candidate znodes, as Mesos names its masters':
// json.info_0000000001, json.info_0000000002, ... ZooKeeper appends the
// sequence; the lowest is the leader.
const NodePrefix = "json.info_"

// Candidate is one master contending for leadership.
type Candidate struct {
	ID      string // unique per master process
	Address string // the master's base URL, "http://host:port"
	Data    []byte // anything else the master publishes; opaque here
}

// info is a candidate znode's content, a small MasterInfo-like JSON object
// so that operators and other tools can read who leads.
type info struct {
	ID       string `json:"id"`
	Hostname string `json:"hostname,omitempty"`
	Port     int    `json:"port,omitempty"`
	Address  string `json:"address"`
	Data     []byte `json:"data,omitempty"`
}

// validate checks a candidate before it is published.
func (c Candidate) validate() error {
	if c.ID == "" {
		return fmt.Errorf("candidate ID is empty")
	}
	u, err := url.Parse(c.Address)
	if err != nil {
		return fmt.Errorf("candidate %s: address %q: %w", c.ID, c.Address, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("candidate %s: address %q is not an http(s)://host:port URL", c.ID, c.Address)
	}
	return nil
}

func encodeInfo(c Candidate) ([]byte, error) {
	in := info{ID: c.ID, Address: c.Address, Data: c.Data}
	if u, err := url.Parse(c.Address); err == nil {
		in.Hostname = u.Hostname()
		in.Port, _ = strconv.Atoi(u.Port())
	}
	return json.Marshal(in)
}

func decodeInfo(node string, data []byte) (Candidate, error) {
	var in info
	if err := json.Unmarshal(data, &in); err != nil {
		return Candidate{}, fmt.Errorf("candidate znode %s: %w", node, err)
	}
	if in.Address == "" && in.Hostname != "" && in.Port != 0 {
		in.Address = "http://" + net.JoinHostPort(in.Hostname, strconv.Itoa(in.Port))
	}
	if in.ID == "" || in.Address == "" {
		return Candidate{}, fmt.Errorf("candidate znode %s: id or address missing in %q", node, data)
	}
	return Candidate{ID: in.ID, Address: in.Address, Data: in.Data}, nil
}

// candidates returns the candidate znode names among children, lowest
// sequence (the leader) first. Other children are ignored.
func candidates(children []string) []string {
	type node struct {
		name string
		seq  int64
	}
	var nodes []node
	for _, c := range children {
		digits, ok := strings.CutPrefix(c, NodePrefix)
		if !ok {
			continue
		}
		seq, err := strconv.ParseInt(digits, 10, 64)
		if err != nil {
			continue
		}
		nodes = append(nodes, node{c, seq})
	}
	slices.SortFunc(nodes, func(a, b node) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.name
	}
	return out
}

// validPath checks a ZooKeeper path for an election: absolute, not the
// root, no empty, "." or ".." elements, no trailing slash.
func validPath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("path is empty")
	case p[0] != '/':
		return fmt.Errorf("path %q must start with /", p)
	case p == "/":
		return fmt.Errorf("path %q is the root; name a znode, e.g. /agora", p)
	case strings.HasSuffix(p, "/"):
		return fmt.Errorf("path %q must not end with /", p)
	}
	for _, part := range strings.Split(p[1:], "/") {
		switch part {
		case "":
			return fmt.Errorf("path %q has an empty element", p)
		case ".", "..":
			return fmt.Errorf("path %q has a %q element", p, part)
		}
	}
	for _, r := range p {
		if r <= 0x1f || (r >= 0x7f && r <= 0x9f) {
			return fmt.Errorf("path %q has a control character", p)
		}
	}
	return nil
}

// splitPath returns a valid path's elements.
func splitPath(p string) []string { return strings.Split(p[1:], "/") }
