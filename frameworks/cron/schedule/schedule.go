// Package schedule computes when a cron job fires. It is pure: no clock, no
// goroutines, no I/O; every answer is a function of the expression, the time
// zone and the time passed in.
//
// Two notations are accepted (Parse):
//
//   - cron expressions: five fields (minute hour day-of-month month
//     day-of-week), six with seconds first, or a descriptor (@yearly,
//     @annually, @monthly, @weekly, @daily, @midnight, @hourly, @every
//     <duration>). Parsing is done by github.com/robfig/cron/v3; the fire
//     times are computed here, in wall-clock time of the schedule's zone.
//     Day-of-month and day-of-week follow standard cron: when both are
//     restricted a day matching either fires. A day that a month lacks
//     (the 31st in April) never fires; 29 February fires in leap years only.
//     Next searches at most 8 years ahead and reports false beyond.
//   - Chronos's ISO 8601 repeating intervals "R[n]/<start>/<period>"; see
//     below.
//
// Daylight saving time follows the rule vixie cron documents in crontab(5):
// a schedule pinned to particular hours keeps its promise once, while a
// schedule that runs every hour keeps its real-time cadence. Precisely,
// call a schedule's hour field specific when it does not cover all 24 hours
// (so "*", "*/1" and "0-23" are wildcards, "2", "*/2" and "9-17" specific):
//
//   - spring forward (wall times that do not exist): a specific-hour
//     schedule whose fire times fall in the gap fires once, at the first
//     instant after the gap — a daily 02:30 job in New York runs at 03:00
//     EDT on the day clocks jump from 02:00 to 03:00. A wildcard-hour
//     schedule has no fires at the missing times.
//   - fall back (wall times that happen twice): a specific-hour schedule
//     fires at the first occurrence only; a wildcard-hour schedule fires at
//     both, as they are distinct instants of its normal cadence.
//
// @every <d> fires every d of real time after the time it is asked about
// (Next(t) = t + d), so its cadence is anchored on the caller's cursor.
//
// ISO 8601 repeating intervals: "R5/2024-01-31T02:30:00Z/P1M" fires at the
// start and then every period after it. Rn means n fires in all, the start
// included (R1 fires once, at the start; R0 never); R without n repeats
// forever. The start is RFC 3339 (with an offset; it is an instant) and the
// period is PnYnMnWnDTnHnMnS in whole numbers. The k-th fire is computed from the start, not
// from the previous fire: the calendar part (years, months, weeks, days) is
// added k times to the start's wall-clock date in the schedule's zone, a day
// missing from a month clamps to the month's last day (31 January + P1M is
// 29 February in a leap year, then 31 March), and a wall time that does not
// exist or exists twice is resolved as for cron's specific hours (first
// instant after the gap; first occurrence). The time part (hours, minutes,
// seconds) is then added as an exact duration. So P1D keeps the wall time
// across a DST change and PT24H keeps the real-time spacing. A repetition
// ends about ten thousand years after its start.
//
// Errors are *FieldError whose Field is "cron" or "timezone", with a message
// that says what is wrong and shows an example that is valid.
package schedule

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule answers when a job fires next.
type Schedule interface {
	// Next returns the first fire time strictly after t, in t's instant
	// (the result's Location is the schedule's zone), and false when there
	// are no more (a finished ISO 8601 repetition R5/...), or none within
	// the search bound (8 years for cron expressions).
	Next(t time.Time) (time.Time, bool)
}

// FieldError is a problem with one field of a schedule: "cron" (the
// expression) or "timezone".
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// searchYears bounds how far ahead a cron expression's next fire is looked
// for. Eight years covers 29 February across a century's skipped leap year
// (2096 -> 2104).
const searchYears = 8

const (
	cronExample = `examples: "30 2 * * *" (02:30 daily), "0 */15 * * * *" (with seconds), "@hourly", "@every 10m", "R/2024-01-01T00:00:00Z/P1D"`
	tzExample   = `an IANA zone name such as "Europe/Berlin", "America/New_York" or "UTC"`
)

var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Parse reads a cron expression or a Chronos ISO 8601 repeating interval in
// the IANA zone tz ("" means UTC). See the package doc for the notations.
func Parse(expr, tz string) (Schedule, error) {
	loc, err := loadZone(tz)
	if err != nil {
		return nil, err
	}
	expr = strings.TrimSpace(expr)
	switch {
	case expr == "":
		return nil, &FieldError{"cron", "is empty; " + cronExample}
	case strings.HasPrefix(expr, "R"):
		return parseISO(expr, loc)
	case strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ="):
		return nil, &FieldError{"cron", fmt.Sprintf("%q: give the zone in the timezone field, not in the expression; %s", expr, cronExample)}
	}
	return parseCron(expr, loc)
}

func loadZone(tz string) (*time.Location, error) {
	if tz == "" || tz == "UTC" {
		return time.UTC, nil
	}
	// LoadLocation also reads paths and "Local"; a zone name is all a job
	// may give.
	if tz == "Local" || strings.HasPrefix(tz, "/") || strings.Contains(tz, "..") || strings.ContainsAny(tz, "\\\x00") {
		return nil, &FieldError{"timezone", fmt.Sprintf("%q is not a time zone name; use %s", tz, tzExample)}
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, &FieldError{"timezone", fmt.Sprintf("unknown time zone %q; use %s", tz, tzExample)}
	}
	return loc, nil
}

// NextN returns up to n fire times after t, oldest first.
func NextN(s Schedule, t time.Time, n int) []time.Time {
	var out []time.Time
	for len(out) < n {
		next, ok := s.Next(t)
		if !ok {
			break
		}
		out = append(out, next)
		t = next
	}
	return out
}

// Fires returns the fire times in (after, until], at most max of them (the
// newest max when there are more), oldest first, and how many there were in
// all. A catching-up caller runs or records the returned ones and counts the
// rest as missed.
func Fires(s Schedule, after, until time.Time, max int) (fires []time.Time, total int) {
	if max < 0 {
		max = 0
	}
	// ring keeps the newest max fires; start is the oldest's index once full.
	ring := make([]time.Time, 0, min(max, 64))
	start := 0
	t := after
	for {
		next, ok := s.Next(t)
		if !ok || next.After(until) {
			break
		}
		total++
		t = next
		if max == 0 {
			continue
		}
		if len(ring) < max {
			ring = append(ring, next)
			continue
		}
		ring[start] = next
		start = (start + 1) % max
	}
	if len(ring) == 0 {
		return nil, total
	}
	fires = make([]time.Time, 0, len(ring))
	fires = append(fires, ring[start:]...)
	fires = append(fires, ring[:start]...)
	return fires, total
}
