package app

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// segmentRE is one path segment: a lowercase DNS-label-like name, so that
// ids make valid service names and host names.
var segmentRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// normalizePath resolves p against the absolute group base and returns an
// absolute path. "." segments and empty segments are dropped; ".." is
// resolved only when allowed (dependencies), never in app ids.
func normalizePath(p, base string, allowDotDot bool) (string, error) {
	if p == "" {
		return "", errors.New("must not be empty")
	}
	var segs []string
	if !strings.HasPrefix(p, "/") {
		segs = splitPath(base)
	}
	for _, s := range strings.Split(p, "/") {
		switch {
		case s == "" || s == ".":
		case s == "..":
			if !allowDotDot {
				return "", errors.New("must not contain '..'")
			}
			if len(segs) == 0 {
				return "", errors.New("'..' goes above the root")
			}
			segs = segs[:len(segs)-1]
		case !segmentRE.MatchString(s):
			return "", fmt.Errorf("segment %q must be lowercase letters, digits and hyphens, starting and ending with a letter or digit", s)
		default:
			segs = append(segs, s)
		}
	}
	if len(segs) == 0 {
		return "", errors.New("must not be the root group")
	}
	return "/" + strings.Join(segs, "/"), nil
}

func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// parentPath is the group an id lives in ("/team/web" -> "/team").
func parentPath(id string) string {
	segs := splitPath(id)
	if len(segs) <= 1 {
		return "/"
	}
	return "/" + strings.Join(segs[:len(segs)-1], "/")
}

// ID is the app's absolute path ("/team/web"); a relative id is taken as
// relative to the root group. An invalid id is returned as given.
func (a *App) ID() string {
	id, err := normalizePath(a.AppID, "/", false)
	if err != nil {
		return a.AppID
	}
	return id
}

// ServiceName is the id as one DNS-friendly name for discovery and the load
// balancer: "/team/web" -> "team-web".
func (a *App) ServiceName() string {
	return strings.ReplaceAll(strings.Trim(a.ID(), "/"), "/", "-")
}

// Group is the path of the group holding the app ("/team/web" -> "/team").
func (a *App) Group() string { return parentPath(a.ID()) }
