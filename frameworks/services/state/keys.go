package state

import (
	"errors"
	"fmt"
	"strings"
)

// Key layout under the root (one record per object, so no value grows with
// the number of apps and every record stays far below ZooKeeper's 1 MB):
//
//	<root>/framework-id
//	<root>/apps/<app>
//	<root>/versions/<app>/<version>
//	<root>/deployments/<app>
//	<root>/instances/<app>/<task>
//
// <app> is the app id as ONE key segment ("/team/web" -> "team.web"), so
// that an app and the apps of a group under its name ("/team" and
// "/team/web") never share a key or a prefix, and listing "apps" needs one
// level only.
const (
	frameworkIDKey = "framework-id"
	appsDir        = "apps"
	versionsDir    = "versions"
	deploymentsDir = "deployments"
	instancesDir   = "instances"
)

// safeByte is kept as is in a segment; everything else is %XX-escaped.
// App id segments are [a-z0-9-], so real ids stay readable for an operator
// browsing ZooKeeper.
func safeByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

const hexDigits = "0123456789ABCDEF"

// escapeSegment turns s into one valid key segment. With slashAsDot, "/"
// becomes "." (app ids); "." itself is always escaped, so the mapping is
// reversible and never yields the segments "." or "..".
func escapeSegment(s string, slashAsDot bool) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case safeByte(c):
			b.WriteByte(c)
		case c == '/' && slashAsDot:
			b.WriteByte('.')
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xf])
		}
	}
	return b.String()
}

// unescapeSegment reverses escapeSegment.
func unescapeSegment(seg string, slashAsDot bool) (string, error) {
	var b strings.Builder
	b.Grow(len(seg))
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		switch {
		case c == '.' && slashAsDot:
			b.WriteByte('/')
		case c == '%':
			if i+2 >= len(seg) {
				return "", fmt.Errorf("segment %q: truncated escape at byte %d", seg, i)
			}
			hi, lo := unhex(seg[i+1]), unhex(seg[i+2])
			if hi < 0 || lo < 0 {
				return "", fmt.Errorf("segment %q: bad escape at byte %d", seg, i)
			}
			b.WriteByte(byte(hi<<4 | lo))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	}
	return -1
}

// normalizeID makes "team/web" and "/team/web" the same app; ids are
// absolute in Marathon's API.
func normalizeID(id string) (string, error) {
	id = strings.TrimSpace(id)
	if id == "" || id == "/" {
		return "", errors.New("app id: must not be empty")
	}
	if !strings.HasPrefix(id, "/") {
		id = "/" + id
	}
	return id, nil
}

// appSegment is the key segment of an absolute app id.
func appSegment(id string) string { return escapeSegment(strings.TrimPrefix(id, "/"), true) }

// appIDOfSegment is the app id of a key segment.
func appIDOfSegment(seg string) (string, error) {
	s, err := unescapeSegment(seg, true)
	if err != nil {
		return "", err
	}
	return "/" + s, nil
}

// lastSegment is the part of key after its last "/".
func lastSegment(key string) string { return key[strings.LastIndexByte(key, '/')+1:] }
