package state

import (
	"fmt"
	"strings"
)

// Key layout under the root (one small record per object, so nothing grows
// with the number of jobs or runs and every record fits a znode):
//
//	<root>/framework
//	<root>/jobs/<jobId>
//	<root>/cursors/<jobId>
//	<root>/runs/<jobId>/<runId>
//
// Ids are one key segment each. Metronome job ids ("team-a.nightly") are
// kept as they are, so an operator browsing ZooKeeper reads them; anything
// else is %XX-escaped, reversibly. Because a job's runs sit under their own
// segment, listing job "a" never sees the runs of "a.b" or "ab".
const (
	frameworkKey = "framework"
	jobsDir      = "jobs"
	cursorsDir   = "cursors"
	runsDir      = "runs"
)

// safeByte is kept as is in a segment; everything else is %XX-escaped.
func safeByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}

const hexDigits = "0123456789ABCDEF"

// escapeSegment turns a non-empty id into one valid key segment. '%' is
// always escaped, so unescapeSegment reverses it and distinct ids never
// share a segment. Dots are escaped too when the segment would otherwise be
// "." or "..", which the store refuses.
func escapeSegment(s string) string {
	allDots := strings.Trim(s, ".") == ""
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if safeByte(c) && !(c == '.' && allDots) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xf])
	}
	return b.String()
}

// unescapeSegment reverses escapeSegment.
func unescapeSegment(seg string) (string, error) {
	if !strings.Contains(seg, "%") {
		return seg, nil
	}
	var b strings.Builder
	b.Grow(len(seg))
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(seg) {
			return "", fmt.Errorf("segment %q: truncated escape at byte %d", seg, i)
		}
		hi, lo := unhex(seg[i+1]), unhex(seg[i+2])
		if hi < 0 || lo < 0 {
			return "", fmt.Errorf("segment %q: bad escape at byte %d", seg, i)
		}
		b.WriteByte(byte(hi<<4 | lo))
		i += 2
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

func (s *Store) key(parts ...string) string {
	return s.root + "/" + strings.Join(parts, "/")
}

func (s *Store) jobKey(id string) string    { return s.key(jobsDir, escapeSegment(id)) }
func (s *Store) cursorKey(id string) string { return s.key(cursorsDir, escapeSegment(id)) }
func (s *Store) runsKey(jobID string) string {
	return s.key(runsDir, escapeSegment(jobID))
}
func (s *Store) runKey(jobID, runID string) string {
	return s.key(runsDir, escapeSegment(jobID), escapeSegment(runID))
}

// lastSegment is the part of key after its last "/".
func lastSegment(key string) string { return key[strings.LastIndexByte(key, '/')+1:] }

// runKeyIDs returns the job and run ids a run key names, given the runs
// directory prefix ("<root>/runs").
func runKeyIDs(key, dir string) (jobID, runID string, err error) {
	rest := strings.TrimPrefix(key, dir+"/")
	jobSeg, runSeg, ok := strings.Cut(rest, "/")
	if !ok || strings.Contains(runSeg, "/") {
		return "", "", fmt.Errorf("not a <jobId>/<runId> key")
	}
	if jobID, err = unescapeSegment(jobSeg); err != nil {
		return "", "", err
	}
	if runID, err = unescapeSegment(runSeg); err != nil {
		return "", "", err
	}
	return jobID, runID, nil
}
