package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"time"
)

// serverFlags registers a flag under Mesos's underscore spelling and the
// dashed one users type, so --offer_timeout and --offer-timeout both work.
type serverFlags struct{ *flag.FlagSet }

func newServerFlags(name string) serverFlags {
	return serverFlags{flag.NewFlagSet("agora "+name, flag.ContinueOnError)}
}

func (f serverFlags) str(p *string, name, def, usage string) {
	f.StringVar(p, name, def, usage)
	if alt := strings.ReplaceAll(name, "_", "-"); alt != name {
		f.StringVar(p, alt, def, "alias of --"+name)
	}
}

func (f serverFlags) dur(p *time.Duration, name string, def time.Duration, usage string) {
	f.DurationVar(p, name, def, usage)
	if alt := strings.ReplaceAll(name, "_", "-"); alt != name {
		f.DurationVar(p, alt, def, "alias of --"+name)
	}
}

func (f serverFlags) int(p *int, name string, def int, usage string) {
	f.IntVar(p, name, def, usage)
	if alt := strings.ReplaceAll(name, "_", "-"); alt != name {
		f.IntVar(p, alt, def, "alias of --"+name)
	}
}

// parseWeights reads Mesos's --weights form "role1=2,role2=0.5".
func parseWeights(s string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		role, w, ok := strings.Cut(part, "=")
		v, err := strconv.ParseFloat(strings.TrimSpace(w), 64)
		if !ok || err != nil || v <= 0 || strings.TrimSpace(role) == "" {
			return nil, fmt.Errorf("--weights: %q: want role=weight with a positive weight, e.g. --weights web=2,batch=1", part)
		}
		out[strings.TrimSpace(role)] = v
	}
	return out, nil
}

func newLogger(prefix string) func(string, ...any) {
	l := log.New(os.Stderr, prefix, log.LstdFlags)
	return l.Printf
}

// defaultDataDir is where state lives unless a flag says otherwise: root's
// under /var/lib/agora (tasks run as other users must reach their
// sandboxes, which /root would forbid), anybody else's under ~/.agora.
func defaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/agora"
	}
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		return home + "/.agora"
	}
	return ".agora"
}
