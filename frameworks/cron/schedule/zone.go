package schedule

import "time"

// period returns the offset (seconds east of UTC) in force at x and the
// bounds [start, end) of the span around x during which it stays in force
// (zero times: unbounded). A bound may be a point where nothing changes;
// callers compare offsets, so that only costs a step.
func period(x time.Time, loc *time.Location) (off int64, start, end time.Time) {
	lt := x.In(loc)
	_, o := lt.Zone()
	start, end = lt.ZoneBounds()
	if !end.IsZero() && !end.After(x) {
		// Beyond a zone's last listed transition Go derives periods from
		// the zone's rule string one year at a time and ends the last
		// period of a leap year a day early (at start of year + 365 days);
		// asked at that instant it answers the same end. The offset there
		// is still the year's last one, and it lasts until the next year's
		// first period begins.
		_, next := x.Add(48 * time.Hour).In(loc).ZoneBounds()
		switch {
		case next.After(x):
			end = next
		default:
			end = x.Add(48 * time.Hour)
		}
	}
	return int64(o), start, end
}
