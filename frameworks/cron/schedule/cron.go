package schedule

import (
	"fmt"
	"math/bits"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// starBit is robfig/cron's marker for a field written as "*" or "?"; it
// matters only for the day-of-month/day-of-week rule.
const starBit = 1 << 63

const allHours = 1<<24 - 1

// cronSchedule fires at the wall-clock times its bit fields match.
type cronSchedule struct {
	second, minute, hour, dom, month, dow uint64
	loc                                   *time.Location
	// specificHour selects the DST rule for pinned hours (package doc).
	specificHour bool
}

// everySchedule is @every <d>.
type everySchedule struct {
	every time.Duration
	loc   *time.Location
}

func (e everySchedule) Next(t time.Time) (time.Time, bool) {
	return t.Add(e.every).In(e.loc), true
}

func parseCron(expr string, loc *time.Location) (s Schedule, err error) {
	// robfig/cron's parser has panicked on odd input in the past; a bad
	// expression must stay an error.
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, &FieldError{"cron", fmt.Sprintf("%q is not a valid cron expression; %s", expr, cronExample)}
		}
	}()
	if d, ok := strings.CutPrefix(expr, "@every "); ok {
		return parseEvery(expr, strings.TrimSpace(d), loc)
	}
	parsed, perr := parser.Parse(expr)
	if perr != nil {
		return nil, &FieldError{"cron", fmt.Sprintf("%q is not a valid cron expression (%v); %s", expr, perr, cronExample)}
	}
	switch p := parsed.(type) {
	case cron.ConstantDelaySchedule:
		// The parser rounds @every to whole seconds, at least one.
		return everySchedule{every: p.Delay, loc: loc}, nil
	case *cron.SpecSchedule:
		c := &cronSchedule{
			second: p.Second, minute: p.Minute, hour: p.Hour,
			dom: p.Dom, month: p.Month, dow: p.Dow,
			loc:          loc,
			specificHour: p.Hour&allHours != allHours,
		}
		// A day no month has (30 February) would make every Next search
		// its whole bound and find nothing: refuse it now.
		ref := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
		if _, ok := c.Next(ref); !ok {
			return nil, &FieldError{"cron", fmt.Sprintf("%q never fires (no month has that day); %s", expr, cronExample)}
		}
		return c, nil
	}
	return nil, &FieldError{"cron", fmt.Sprintf("%q is not a supported cron expression; %s", expr, cronExample)}
}

// Next walks the zone's offset periods from t on: within one period wall
// time and real time differ by a constant, so the first matching wall time
// there is the period's first fire. The DST rule adds a fire at a period's
// start for a gap before it, and skips the repeated wall times at the start
// of a period that follows an overlap.
// parseEvery reads @every <duration>; robfig/cron would turn a negative
// one into a second, which hides a mistake.
func parseEvery(expr, d string, loc *time.Location) (Schedule, error) {
	every, err := time.ParseDuration(d)
	if err != nil {
		return nil, &FieldError{"cron", fmt.Sprintf("%q: %q is not a duration; e.g. \"@every 10m\" or \"@every 1h30m\"", expr, d)}
	}
	// Whole seconds, as robfig/cron and every other cron field.
	every = every.Truncate(time.Second)
	if every < time.Second {
		return nil, &FieldError{"cron", fmt.Sprintf("%q: the interval must be at least one second; e.g. \"@every 10m\"", expr)}
	}
	return everySchedule{every: every, loc: loc}, nil
}

func (c *cronSchedule) Next(t time.Time) (time.Time, bool) {
	start := t.Truncate(time.Second).Add(time.Second)
	limit := start.AddDate(searchYears, 0, 0)
	cur := start
	for cur.Before(limit) {
		o, ps, pe := period(cur, c.loc)
		lo := cur.Unix() + o
		if !ps.IsZero() {
			_, prevOff := ps.Add(-time.Second).In(c.loc).Zone()
			po := int64(prevOff)
			gapStart, gapEnd := ps.Unix()+po, ps.Unix()+o
			if c.specificHour && po < o && !ps.Before(start) {
				// Wall times [gapStart, gapEnd) never happened.
				if w, ok := c.nextWall(gapStart, gapEnd); ok && w < gapEnd {
					return ps.In(c.loc), true
				}
			}
			if c.specificHour && po > o && lo < ps.Unix()+po {
				// Wall times up to ps+po already happened once in the
				// previous period.
				lo = ps.Unix() + po
			}
		}
		hi := limit.Unix() + o
		if !pe.IsZero() && pe.Unix()+o < hi {
			hi = pe.Unix() + o
		}
		if w, ok := c.nextWall(lo, hi); ok {
			return time.Unix(w-o, 0).In(c.loc), true
		}
		if pe.IsZero() {
			break
		}
		cur = pe
	}
	return time.Time{}, false
}

// nextWall returns the first wall time in [from, before) matching the
// fields. Wall times are seconds since 1970-01-01T00:00:00 read as UTC.
func (c *cronSchedule) nextWall(from, before int64) (int64, bool) {
	t := time.Unix(from, 0).UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	m := int(mo)
	lastYear := time.Unix(before, 0).UTC().Year()
	for y <= lastYear {
		if c.month&(1<<m) == 0 {
			if n := nextBit(c.month, m+1, 12); n >= 0 {
				m = n
			} else {
				y, m = y+1, 1
			}
			d, h, mi, s = 1, 0, 0, 0
			continue
		}
		if d > daysIn(y, m) {
			m++
			if m > 12 {
				y, m = y+1, 1
			}
			d, h, mi, s = 1, 0, 0, 0
			continue
		}
		if !c.dayMatches(y, m, d) {
			d++
			h, mi, s = 0, 0, 0
			continue
		}
		if c.hour&(1<<h) == 0 {
			n := nextBit(c.hour, h+1, 23)
			if n < 0 {
				d++
				h, mi, s = 0, 0, 0
				continue
			}
			h, mi, s = n, 0, 0
		}
		if c.minute&(1<<mi) == 0 {
			n := nextBit(c.minute, mi+1, 59)
			if n < 0 {
				h++
				mi, s = 0, 0
				if h > 23 {
					d, h = d+1, 0
				}
				continue
			}
			mi, s = n, 0
		}
		if c.second&(1<<s) == 0 {
			n := nextBit(c.second, s+1, 59)
			if n < 0 {
				mi++
				s = 0
				if mi > 59 {
					h, mi = h+1, 0
					if h > 23 {
						d, h = d+1, 0
					}
				}
				continue
			}
			s = n
		}
		w := time.Date(y, time.Month(m), d, h, mi, s, 0, time.UTC).Unix()
		if w >= before {
			return 0, false
		}
		return w, true
	}
	return 0, false
}

// dayMatches is standard cron's rule: with both day fields restricted,
// either may match; with one of them "*", the other decides.
func (c *cronSchedule) dayMatches(y, m, d int) bool {
	wd := int(time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Weekday())
	domOK := c.dom&(1<<d) != 0
	dowOK := c.dow&(1<<wd) != 0
	if c.dom&starBit != 0 || c.dow&starBit != 0 {
		return domOK && dowOK
	}
	return domOK || dowOK
}

// nextBit returns the lowest set bit in [from, max], or -1.
func nextBit(b uint64, from, max int) int {
	if from > max {
		return -1
	}
	rest := b >> uint(from) << uint(from)
	rest &= (1<<uint(max+1) - 1)
	if rest == 0 {
		return -1
	}
	return bits.TrailingZeros64(rest)
}

func daysIn(y, m int) int {
	return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
