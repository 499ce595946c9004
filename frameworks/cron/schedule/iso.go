package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// isoSchedule is a Chronos repeating interval R[n]/start/period.
type isoSchedule struct {
	start time.Time // in loc
	count int64     // fires in all; -1 forever
	// The period: a calendar part added to the wall-clock date, then an
	// exact duration.
	years, months, days int
	exactSecs           int64
	loc                 *time.Location
}

const isoExample = `e.g. "R/2024-01-01T02:00:00Z/P1D" (daily, forever) or "R5/2024-01-01T00:00:00+01:00/PT1H" (5 hourly fires)`

func parseISO(expr string, loc *time.Location) (Schedule, error) {
	bad := func(why string) error {
		return &FieldError{"cron", fmt.Sprintf("%q: %s; an ISO 8601 repeating interval is R[n]/<RFC 3339 start>/<period>, %s", expr, why, isoExample)}
	}
	parts := strings.Split(expr, "/")
	if len(parts) != 3 {
		return nil, bad("want three parts separated by '/'")
	}
	s := &isoSchedule{count: -1, loc: loc}
	if n := parts[0][1:]; n != "" {
		c, err := strconv.ParseInt(n, 10, 64)
		if err != nil || c < 0 || n[0] == '+' {
			return nil, bad(fmt.Sprintf("repetition count %q is not a non-negative integer", n))
		}
		s.count = c
	}
	start, err := time.Parse(time.RFC3339Nano, parts[1])
	if err != nil {
		return nil, bad(fmt.Sprintf("start %q is not an RFC 3339 time with an offset", parts[1]))
	}
	if start.Year() < 1 || start.Year() > 9999 {
		return nil, bad("start is out of range")
	}
	s.start = start.In(loc)
	if err := s.parsePeriod(parts[2]); err != nil {
		return nil, bad(err.Error())
	}
	return s, nil
}

// parsePeriod reads PnYnMnWnDTnHnMnS, whole numbers each.
func (s *isoSchedule) parsePeriod(p string) error {
	orig := p
	if !strings.HasPrefix(p, "P") || len(p) < 3 {
		return fmt.Errorf("period %q is not an ISO 8601 duration such as P1D or PT30M", orig)
	}
	p = p[1:]
	inTime := false
	seen := ""
	const limit = 1_000_000 // keeps the arithmetic far from overflow
	for p != "" {
		if p[0] == 'T' {
			if inTime {
				return fmt.Errorf("period %q has two T", orig)
			}
			inTime = true
			p = p[1:]
			if p == "" {
				return fmt.Errorf("period %q has nothing after T", orig)
			}
			continue
		}
		i := 0
		for i < len(p) && p[i] >= '0' && p[i] <= '9' {
			i++
		}
		if i == 0 || i == len(p) {
			return fmt.Errorf("period %q is not an ISO 8601 duration such as P1D or PT30M", orig)
		}
		num, unit := p[:i], p[i]
		p = p[i+1:]
		key := string(unit)
		if inTime {
			key = "T" + key
		}
		if strings.Contains(seen, key+",") {
			return fmt.Errorf("period %q repeats %c", orig, unit)
		}
		seen += key + ","
		n, err := strconv.Atoi(num)
		if err != nil || n > limit {
			return fmt.Errorf("period %q: %q is not a whole number in range", orig, num)
		}
		switch {
		case !inTime && unit == 'Y':
			s.years = n
		case !inTime && unit == 'M':
			s.months = n
		case !inTime && unit == 'W':
			s.days += 7 * n
		case !inTime && unit == 'D':
			s.days += n
		case inTime && unit == 'H':
			s.exactSecs += int64(n) * 3600
		case inTime && unit == 'M':
			s.exactSecs += int64(n) * 60
		case inTime && unit == 'S':
			s.exactSecs += int64(n)
		default:
			return fmt.Errorf("period %q: unknown unit %c", orig, unit)
		}
	}
	if s.years == 0 && s.months == 0 && s.days == 0 && s.exactSecs == 0 {
		return fmt.Errorf("period %q must be at least one second", orig)
	}
	return nil
}

// maxSeconds bounds a repetition at about ten thousand years after its
// start, so that no arithmetic below can overflow.
const maxSeconds = 3.2e11

// approxSeconds is the period's mean length.
func (s *isoSchedule) approxSeconds() float64 {
	return float64(s.years)*365.2425*86400 + float64(s.months)*30.436875*86400 + float64(s.days)*86400 + float64(s.exactSecs)
}

// fire returns the k-th fire (k = 0 is the start); false beyond the bound.
func (s *isoSchedule) fire(k int64) (time.Time, bool) {
	if float64(k)*s.approxSeconds() > maxSeconds {
		return time.Time{}, false
	}
	base := s.start
	if s.years != 0 || s.months != 0 || s.days != 0 {
		y, mo, d := s.start.Date()
		h, mi, sec := s.start.Clock()
		totalMonths := int64(mo-1) + k*int64(s.years*12+s.months)
		ny := int(int64(y) + totalMonths/12)
		nm := int(totalMonths%12) + 1
		// Clamp a day the month lacks to its last day, then add whole days.
		nd := min(d, daysIn(ny, nm))
		date := time.Date(ny, time.Month(nm), nd, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(k)*s.days)
		wall := time.Date(date.Year(), date.Month(), date.Day(), h, mi, sec, s.start.Nanosecond(), time.UTC)
		base = resolveWall(wall, s.loc)
	}
	return time.Unix(base.Unix()+k*s.exactSecs, int64(base.Nanosecond())).In(s.loc), true
}

// after reports whether fire k is after t (a fire beyond the bound is).
func (s *isoSchedule) after(k int64, t time.Time) bool {
	f, ok := s.fire(k)
	return !ok || f.After(t)
}

// Next finds the smallest k whose fire is after t. Fires grow with k: a
// binary search around the estimate from the mean period.
func (s *isoSchedule) Next(t time.Time) (time.Time, bool) {
	if s.count == 0 {
		return time.Time{}, false
	}
	if s.start.After(t) {
		return s.start, true
	}
	est := float64(t.Unix()-s.start.Unix()) / s.approxSeconds()
	if est > maxSeconds {
		return time.Time{}, false
	}
	margin := int64(2)
	if s.years != 0 || s.months != 0 || s.days != 0 {
		margin += int64(est / 10) // months and DST make the mean inexact
	}
	// Invariant: fire(lo) <= t < fire(hi).
	lo, hi := max(0, int64(est)-margin), int64(est)+margin
	if s.after(lo, t) {
		lo = 0
	}
	for !s.after(hi, t) {
		lo, hi = hi, hi*2
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if s.after(mid, t) {
			hi = mid
		} else {
			lo = mid
		}
	}
	if s.count >= 0 && hi >= s.count {
		return time.Time{}, false
	}
	return s.fire(hi)
}

// resolveWall turns a wall-clock reading (given in UTC fields) into an
// instant in loc by the package's DST rule: the first occurrence of a
// repeated time, the first instant after a gap for a missing one.
func resolveWall(wall time.Time, loc *time.Location) time.Time {
	w := wall.Unix()
	ns := time.Duration(wall.Nanosecond())
	// Offsets lie within [-12h, +14h]: every period that may hold w-offset
	// lies in this window.
	cur := time.Unix(w-15*3600, 0)
	end := time.Unix(w+13*3600, 0)
	var gap time.Time
	for {
		off, ps, pe := period(cur, loc)
		inst := w - off
		if (ps.IsZero() || inst >= ps.Unix()) && (pe.IsZero() || inst < pe.Unix()) {
			return time.Unix(inst, 0).Add(ns).In(loc)
		}
		if gap.IsZero() && !ps.IsZero() && inst < ps.Unix() && ps.After(time.Unix(w-15*3600, 0)) {
			// The wall time lies before this period starts yet after the
			// previous one ended: a gap, ending at ps.
			gap = ps
		}
		if pe.IsZero() || pe.After(end) {
			break
		}
		cur = pe
	}
	if !gap.IsZero() {
		return gap.In(loc)
	}
	// Unreachable for real zones; keep Go's own resolution.
	return time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), wall.Nanosecond(), loc)
}
