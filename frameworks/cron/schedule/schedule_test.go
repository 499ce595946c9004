package schedule

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

func zone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load zone %s: %v", name, err)
	}
	return loc
}

func mustParse(t testing.TB, expr, tz string) Schedule {
	t.Helper()
	s, err := Parse(expr, tz)
	if err != nil {
		t.Fatalf("Parse(%q, %q): %v", expr, tz, err)
	}
	return s
}

// rfc parses an RFC 3339 time; the offset in the text is the instant.
func rfc(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func format(ts []time.Time) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Format(time.RFC3339)
	}
	return out
}

type nextCase struct {
	name     string
	expr, tz string
	from     string // RFC 3339
	want     []string
}

// runNext checks NextN from `from` against want; the wanted strings carry
// the zone's offset, so they pin both the instant and the wall time.
func runNext(t *testing.T, cases []nextCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := mustParse(t, c.expr, c.tz)
			got := format(NextN(s, rfc(t, c.from), len(c.want)))
			if strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Errorf("%s in %s after %s:\n got  %v\n want %v", c.expr, c.tz, c.from, got, c.want)
			}
		})
	}
}

func TestNextSpringForward(t *testing.T) {
	runNext(t, []nextCase{
		// New York, 2024-03-10: 02:00 EST jumps to 03:00 EDT.
		{"daily 02:30 runs at 03:00 on the gap day", "30 2 * * *", "America/New_York", "2024-03-09T12:00:00-05:00",
			[]string{"2024-03-10T03:00:00-04:00", "2024-03-11T02:30:00-04:00"}},
		{"daily 02:00 runs at 03:00", "0 2 * * *", "America/New_York", "2024-03-09T12:00:00-05:00",
			[]string{"2024-03-10T03:00:00-04:00", "2024-03-11T02:00:00-04:00"}},
		{"several fires in the gap run once", "*/15 2 * * *", "America/New_York", "2024-03-10T00:00:00-05:00",
			[]string{"2024-03-10T03:00:00-04:00", "2024-03-11T02:00:00-04:00"}},
		{"a gap fire and a 03:00 fire are one run", "0 2,3 * * *", "America/New_York", "2024-03-10T00:00:00-05:00",
			[]string{"2024-03-10T03:00:00-04:00", "2024-03-11T02:00:00-04:00"}},
		{"hourly skips the missing hour", "0 * * * *", "America/New_York", "2024-03-10T00:30:00-05:00",
			[]string{"2024-03-10T01:00:00-05:00", "2024-03-10T03:00:00-04:00", "2024-03-10T04:00:00-04:00"}},
		{"every 15 minutes keeps its cadence", "*/15 * * * *", "America/New_York", "2024-03-10T01:40:00-05:00",
			[]string{"2024-03-10T01:45:00-05:00", "2024-03-10T03:00:00-04:00", "2024-03-10T03:15:00-04:00"}},
		{"asked after the gap, no late fire", "30 2 * * *", "America/New_York", "2024-03-10T03:00:00-04:00",
			[]string{"2024-03-11T02:30:00-04:00"}},
		// Berlin, 2024-03-31: 02:00 CET jumps to 03:00 CEST.
		{"Berlin daily 02:30", "30 2 * * *", "Europe/Berlin", "2024-03-30T12:00:00+01:00",
			[]string{"2024-03-31T03:00:00+02:00", "2024-04-01T02:30:00+02:00"}},
		{"Berlin hourly", "0 * * * *", "Europe/Berlin", "2024-03-31T01:30:00+01:00",
			[]string{"2024-03-31T03:00:00+02:00", "2024-03-31T04:00:00+02:00"}},
		// Lord Howe, 2024-10-06: 02:00 (+10:30) jumps to 02:30 (+11:00).
		{"Lord Howe daily 02:15 runs at 02:30", "15 2 * * *", "Australia/Lord_Howe", "2024-10-05T12:00:00+10:30",
			[]string{"2024-10-06T02:30:00+11:00", "2024-10-07T02:15:00+11:00"}},
		{"Lord Howe daily 02:45 is untouched", "45 2 * * *", "Australia/Lord_Howe", "2024-10-05T12:00:00+10:30",
			[]string{"2024-10-06T02:45:00+11:00", "2024-10-07T02:45:00+11:00"}},
		{"Lord Howe every 15 minutes", "*/15 * * * *", "Australia/Lord_Howe", "2024-10-06T01:50:00+10:30",
			[]string{"2024-10-06T02:30:00+11:00", "2024-10-06T02:45:00+11:00"}},
		{"Lord Howe hourly", "0 * * * *", "Australia/Lord_Howe", "2024-10-06T00:30:00+10:30",
			[]string{"2024-10-06T01:00:00+10:30", "2024-10-06T03:00:00+11:00"}},
	})
}

func TestNextFallBack(t *testing.T) {
	runNext(t, []nextCase{
		// New York, 2024-11-03: 02:00 EDT falls back to 01:00 EST.
		{"daily 01:30 runs at the first 01:30 only", "30 1 * * *", "America/New_York", "2024-11-02T12:00:00-04:00",
			[]string{"2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"}},
		{"asked during the repeated hour", "30 1 * * *", "America/New_York", "2024-11-03T01:10:00-05:00",
			[]string{"2024-11-04T01:30:00-05:00"}},
		{"every 15 minutes in hour 1 only in the first hour 1", "*/15 1 * * *", "America/New_York", "2024-11-03T01:40:00-04:00",
			[]string{"2024-11-03T01:45:00-04:00", "2024-11-04T01:00:00-05:00"}},
		{"hourly fires at both 01:00", "0 * * * *", "America/New_York", "2024-11-03T00:30:00-04:00",
			[]string{"2024-11-03T01:00:00-04:00", "2024-11-03T01:00:00-05:00", "2024-11-03T02:00:00-05:00"}},
		{"every 15 minutes across the repeat", "*/15 * * * *", "America/New_York", "2024-11-03T01:40:00-04:00",
			[]string{"2024-11-03T01:45:00-04:00", "2024-11-03T01:00:00-05:00", "2024-11-03T01:15:00-05:00"}},
		{"every 15 minutes asked in the second hour", "*/15 * * * *", "America/New_York", "2024-11-03T01:20:00-05:00",
			[]string{"2024-11-03T01:30:00-05:00"}},
		{"daily 02:00 once", "0 2 * * *", "America/New_York", "2024-11-03T00:00:00-04:00",
			[]string{"2024-11-03T02:00:00-05:00", "2024-11-04T02:00:00-05:00"}},
		// Berlin, 2024-10-27: 03:00 CEST falls back to 02:00 CET.
		{"Berlin daily 02:30", "30 2 * * *", "Europe/Berlin", "2024-10-26T12:00:00+02:00",
			[]string{"2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00"}},
		{"Berlin hourly", "0 * * * *", "Europe/Berlin", "2024-10-27T01:30:00+02:00",
			[]string{"2024-10-27T02:00:00+02:00", "2024-10-27T02:00:00+01:00", "2024-10-27T03:00:00+01:00"}},
		// Lord Howe, 2025-04-06: 02:00 (+11:00) falls back to 01:30 (+10:30).
		{"Lord Howe daily 01:45 once", "45 1 * * *", "Australia/Lord_Howe", "2025-04-05T12:00:00+11:00",
			[]string{"2025-04-06T01:45:00+11:00", "2025-04-07T01:45:00+10:30"}},
		{"Lord Howe every 15 minutes", "*/15 * * * *", "Australia/Lord_Howe", "2025-04-06T01:40:00+11:00",
			[]string{"2025-04-06T01:45:00+11:00", "2025-04-06T01:30:00+10:30", "2025-04-06T01:45:00+10:30", "2025-04-06T02:00:00+10:30"}},
	})
}

// TestDSTYear checks whole years of fires against what a user counts on:
// a daily job runs once every day, and an every-15-minutes job is always
// 15 real minutes apart.
func TestDSTYear(t *testing.T) {
	for _, tz := range []string{"America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "UTC"} {
		loc := zone(t, tz)
		from := time.Date(2024, 1, 1, 0, 0, 0, 0, loc)
		until := time.Date(2025, 1, 1, 0, 0, 0, 0, loc)
		for _, expr := range []string{"30 2 * * *", "30 1 * * *", "0 2 * * *", "15 2 * * *", "45 1 * * *"} {
			fires, total := Fires(mustParse(t, expr, tz), from, until, 1000)
			if total != 366 {
				t.Errorf("%s in %s: %d fires in 2024, want one a day (366)", expr, tz, total)
			}
			for i := 1; i < len(fires); i++ {
				if y1, m1, d1 := fires[i-1].Date(); fires[i].YearDay() != fires[i-1].YearDay()+1 {
					t.Errorf("%s in %s: %d-%02d-%02d then %s", expr, tz, y1, m1, d1, fires[i])
				}
			}
		}
		fires, _ := Fires(mustParse(t, "*/15 * * * *", tz), from, until, 100000)
		for i := 1; i < len(fires); i++ {
			if d := fires[i].Sub(fires[i-1]); d != 15*time.Minute {
				t.Fatalf("*/15 in %s: %s then %s, %s apart", tz, fires[i-1], fires[i], d)
			}
		}
	}
}

func TestNextCalendar(t *testing.T) {
	runNext(t, []nextCase{
		{"31st skips short months", "0 0 31 * *", "UTC", "2024-01-31T00:00:00Z",
			[]string{"2024-03-31T00:00:00Z", "2024-05-31T00:00:00Z", "2024-07-31T00:00:00Z", "2024-08-31T00:00:00Z"}},
		{"30th skips February", "0 12 30 * *", "UTC", "2024-01-31T00:00:00Z",
			[]string{"2024-03-30T12:00:00Z", "2024-04-30T12:00:00Z"}},
		{"leap day every four years", "0 0 29 2 *", "UTC", "2024-03-01T00:00:00Z",
			[]string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
		{"leap day across 2100", "0 0 29 2 *", "UTC", "2096-03-01T00:00:00Z",
			[]string{"2104-02-29T00:00:00Z"}},
		{"leap day in Berlin", "30 6 29 2 *", "Europe/Berlin", "2023-01-01T00:00:00Z",
			[]string{"2024-02-29T06:30:00+01:00"}},
		{"day of month or day of week", "0 0 13 * 5", "UTC", "2024-09-01T00:00:00Z",
			[]string{"2024-09-06T00:00:00Z", "2024-09-13T00:00:00Z", "2024-09-20T00:00:00Z", "2024-09-27T00:00:00Z", "2024-10-04T00:00:00Z", "2024-10-11T00:00:00Z", "2024-10-13T00:00:00Z"}},
		{"day of week alone", "0 9 * * mon-fri", "UTC", "2024-09-06T10:00:00Z",
			[]string{"2024-09-09T09:00:00Z", "2024-09-10T09:00:00Z"}},
		{"month names", "0 0 1 jan,jul *", "UTC", "2024-02-01T00:00:00Z",
			[]string{"2024-07-01T00:00:00Z", "2025-01-01T00:00:00Z"}},
		{"strictly after", "0 2 * * *", "UTC", "2024-01-01T02:00:00Z",
			[]string{"2024-01-02T02:00:00Z"}},
		{"seconds field", "*/20 * * * * *", "UTC", "2024-01-01T00:00:05Z",
			[]string{"2024-01-01T00:00:20Z", "2024-01-01T00:00:40Z", "2024-01-01T00:01:00Z"}},
		{"fractional start", "*/20 * * * * *", "UTC", "2024-01-01T00:00:19.5Z",
			[]string{"2024-01-01T00:00:20Z"}},
		{"five fields fire at second 0", "* * * * *", "UTC", "2024-01-01T00:00:00.25Z",
			[]string{"2024-01-01T00:01:00Z"}},
		{"year wrap", "59 23 31 12 *", "UTC", "2024-12-31T23:59:00Z",
			[]string{"2025-12-31T23:59:00Z"}},
		{"@yearly", "@yearly", "UTC", "2024-06-01T00:00:00Z", []string{"2025-01-01T00:00:00Z"}},
		{"@annually", "@annually", "Europe/Berlin", "2024-06-01T00:00:00Z", []string{"2025-01-01T00:00:00+01:00"}},
		{"@monthly", "@monthly", "UTC", "2024-06-01T00:00:00Z", []string{"2024-07-01T00:00:00Z"}},
		{"@weekly is Sunday midnight", "@weekly", "UTC", "2024-06-01T00:00:00Z", []string{"2024-06-02T00:00:00Z", "2024-06-09T00:00:00Z"}},
		{"@daily", "@daily", "America/New_York", "2024-06-01T00:00:00-04:00", []string{"2024-06-02T00:00:00-04:00"}},
		{"@midnight", "@midnight", "UTC", "2024-06-01T00:00:00Z", []string{"2024-06-02T00:00:00Z"}},
		{"@hourly keeps cadence over fall back", "@hourly", "America/New_York", "2024-11-03T00:30:00-04:00",
			[]string{"2024-11-03T01:00:00-04:00", "2024-11-03T01:00:00-05:00"}},
		{"@every rounds down to whole seconds", "@every 1500ms", "UTC", "2024-06-01T00:00:00Z",
			[]string{"2024-06-01T00:00:01Z"}},
		{"@every", "@every 90m", "Europe/Berlin", "2024-06-01T00:00:00Z",
			[]string{"2024-06-01T03:30:00+02:00", "2024-06-01T05:00:00+02:00"}},
	})
}

func TestNextResultZone(t *testing.T) {
	s := mustParse(t, "0 9 * * *", "Europe/Berlin")
	got, ok := s.Next(rfc(t, "2024-06-01T00:00:00Z"))
	if !ok || got.Location().String() != "Europe/Berlin" || got.Hour() != 9 {
		t.Fatalf("Next = %v, %v; want 09:00 in Europe/Berlin", got, ok)
	}
	if s := mustParse(t, "@daily", ""); mustNext(t, s, rfc(t, "2024-06-01T00:00:00+02:00")).Location() != time.UTC {
		t.Fatal(`tz "" is not UTC`)
	}
}

func mustNext(t *testing.T, s Schedule, from time.Time) time.Time {
	t.Helper()
	n, ok := s.Next(from)
	if !ok {
		t.Fatalf("no fire after %s", from)
	}
	return n
}

// TestNextMatchesRobfigInUTC cross-checks the field search against
// robfig/cron's own Next where DST cannot differ: in UTC.
func TestNextMatchesRobfigInUTC(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	field := func(lo, hi int) string {
		switch rng.IntN(5) {
		case 0:
			return "*"
		case 1:
			return "*/" + strconv.Itoa(1+rng.IntN(hi-lo))
		case 2:
			a := lo + rng.IntN(hi-lo+1)
			b := a + rng.IntN(hi-a+1)
			return strconv.Itoa(a) + "-" + strconv.Itoa(b)
		case 3:
			return strconv.Itoa(lo+rng.IntN(hi-lo+1)) + "," + strconv.Itoa(lo+rng.IntN(hi-lo+1))
		}
		return strconv.Itoa(lo + rng.IntN(hi-lo+1))
	}
	ref := cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)
	checked := 0
	for i := 0; i < 400; i++ {
		expr := strings.Join([]string{field(0, 59), field(0, 59), field(0, 23), field(1, 31), field(1, 12), field(0, 6)}, " ")
		s, err := Parse(expr, "UTC")
		if err != nil {
			continue // never fires (e.g. 31 in a 30-day month only)
		}
		r, err := ref.Parse(expr)
		if err != nil {
			t.Fatalf("robfig refuses %q: %v", expr, err)
		}
		r.(*cron.SpecSchedule).Location = time.UTC
		from := time.Date(2020+rng.IntN(10), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60), 0, time.UTC)
		for k := 0; k < 5; k++ {
			want := r.Next(from)
			got, ok := s.Next(from)
			if want.IsZero() {
				break
			}
			if !ok || !got.Equal(want) {
				t.Fatalf("%q after %s: got %s %v, robfig %s", expr, from, got, ok, want)
			}
			from = got
			checked++
		}
	}
	if checked < 500 {
		t.Fatalf("only %d comparisons", checked)
	}
}

func TestISO(t *testing.T) {
	runNext(t, []nextCase{
		{"R3 fires three times", "R3/2024-01-01T00:00:00Z/PT1H", "UTC", "2023-12-31T00:00:00Z",
			[]string{"2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z", "2024-01-01T02:00:00Z"}},
		{"R1 fires once, at the start", "R1/2024-01-01T00:00:00Z/PT1H", "UTC", "2023-12-31T00:00:00Z",
			[]string{"2024-01-01T00:00:00Z"}},
		{"R0 never fires", "R0/2024-01-01T00:00:00Z/PT1H", "UTC", "2023-12-31T00:00:00Z", nil},
		{"R3 started in the past", "R3/2024-01-01T00:00:00Z/PT1H", "UTC", "2024-01-01T01:30:00Z",
			[]string{"2024-01-01T02:00:00Z"}},
		{"R3 finished", "R3/2024-01-01T00:00:00Z/PT1H", "UTC", "2024-01-01T02:00:00Z", nil},
		{"R forever, asked years later", "R/2024-01-01T00:00:00Z/P1D", "UTC", "2030-05-05T12:00:00Z",
			[]string{"2030-05-06T00:00:00Z", "2030-05-07T00:00:00Z"}},
		{"seconds period from the past", "R/2024-01-01T00:00:00Z/PT30S", "UTC", "2024-01-01T00:10:10Z",
			[]string{"2024-01-01T00:10:30Z", "2024-01-01T00:11:00Z"}},
		{"strictly after a fire", "R/2024-01-01T00:00:00Z/PT30S", "UTC", "2024-01-01T00:00:30Z",
			[]string{"2024-01-01T00:01:00Z"}},
		{"months clamp to the month's end", "R/2024-01-31T10:00:00Z/P1M", "UTC", "2024-01-01T00:00:00Z",
			[]string{"2024-01-31T10:00:00Z", "2024-02-29T10:00:00Z", "2024-03-31T10:00:00Z", "2024-04-30T10:00:00Z"}},
		{"years from a leap day", "R/2024-02-29T00:00:00Z/P1Y", "UTC", "2024-03-01T00:00:00Z",
			[]string{"2025-02-28T00:00:00Z", "2026-02-28T00:00:00Z", "2027-02-28T00:00:00Z", "2028-02-29T00:00:00Z"}},
		{"weeks", "R/2024-01-01T08:00:00Z/P2W", "UTC", "2024-01-01T08:00:00Z",
			[]string{"2024-01-15T08:00:00Z", "2024-01-29T08:00:00Z"}},
		{"days and hours", "R/2024-01-01T00:00:00Z/P1DT12H", "UTC", "2024-01-01T00:00:00Z",
			[]string{"2024-01-02T12:00:00Z", "2024-01-04T00:00:00Z"}},
		{"minutes", "R4/2024-01-01T00:00:00Z/PT45M", "UTC", "2024-01-01T00:00:00Z",
			[]string{"2024-01-01T00:45:00Z", "2024-01-01T01:30:00Z", "2024-01-01T02:15:00Z"}},
		{"P1D keeps the wall time over spring forward", "R/2024-03-09T09:00:00-05:00/P1D", "America/New_York", "2024-03-09T00:00:00-05:00",
			[]string{"2024-03-09T09:00:00-05:00", "2024-03-10T09:00:00-04:00", "2024-03-11T09:00:00-04:00"}},
		{"PT24H keeps real time", "R/2024-03-09T09:00:00-05:00/PT24H", "America/New_York", "2024-03-09T00:00:00-05:00",
			[]string{"2024-03-09T09:00:00-05:00", "2024-03-10T10:00:00-04:00"}},
		{"P1D in the gap runs after it", "R/2024-03-09T02:30:00-05:00/P1D", "America/New_York", "2024-03-09T12:00:00-05:00",
			[]string{"2024-03-10T03:00:00-04:00", "2024-03-11T02:30:00-04:00"}},
		{"P1D in the repeat runs at the first", "R/2024-11-02T01:30:00-04:00/P1D", "America/New_York", "2024-11-02T12:00:00-04:00",
			[]string{"2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"}},
		{"P1D in Lord Howe's gap", "R/2024-10-05T02:10:00+10:30/P1D", "Australia/Lord_Howe", "2024-10-05T12:00:00+10:30",
			[]string{"2024-10-06T02:30:00+11:00", "2024-10-07T02:10:00+11:00"}},
		{"P1M in Berlin keeps 09:00", "R/2024-01-15T09:00:00+01:00/P1M", "Europe/Berlin", "2024-03-01T00:00:00Z",
			[]string{"2024-03-15T09:00:00+01:00", "2024-04-15T09:00:00+02:00"}},
		{"far ahead", "R/2024-01-01T00:00:00Z/PT1S", "UTC", "9000-06-01T12:00:00Z",
			[]string{"9000-06-01T12:00:01Z"}},
		{"beyond ten thousand years", "R/2024-01-01T00:00:00Z/P1000000Y", "UTC", "2024-01-01T00:00:00Z", nil},
		{"Chronos's millisecond start", "R/2014-03-08T20:00:00.000Z/P1D", "UTC", "2014-03-08T20:00:00Z",
			[]string{"2014-03-09T20:00:00Z"}},
	})
}

func TestFires(t *testing.T) {
	hourly := mustParse(t, "0 * * * *", "UTC")
	after, until := rfc(t, "2024-01-01T00:00:00Z"), rfc(t, "2024-01-01T10:00:00Z")
	cases := []struct {
		name      string
		s         Schedule
		max       int
		want      []string
		wantTotal int
	}{
		{"newest max of many", hourly, 3, []string{"2024-01-01T08:00:00Z", "2024-01-01T09:00:00Z", "2024-01-01T10:00:00Z"}, 10},
		{"all when fewer than max", hourly, 20, []string{"2024-01-01T01:00:00Z", "2024-01-01T02:00:00Z", "2024-01-01T03:00:00Z", "2024-01-01T04:00:00Z", "2024-01-01T05:00:00Z", "2024-01-01T06:00:00Z", "2024-01-01T07:00:00Z", "2024-01-01T08:00:00Z", "2024-01-01T09:00:00Z", "2024-01-01T10:00:00Z"}, 10},
		{"max 0 only counts", hourly, 0, nil, 10},
		{"max 1", hourly, 1, []string{"2024-01-01T10:00:00Z"}, 10},
		{"finished repetition", mustParse(t, "R3/2024-01-01T04:00:00Z/PT1H", "UTC"), 5, []string{"2024-01-01T04:00:00Z", "2024-01-01T05:00:00Z", "2024-01-01T06:00:00Z"}, 3},
		{"none in the window", mustParse(t, "0 12 * * *", "UTC"), 5, nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fires, total := Fires(c.s, after, until, c.max)
			if strings.Join(format(fires), " ") != strings.Join(c.want, " ") || total != c.wantTotal {
				t.Errorf("got %v total %d; want %v total %d", format(fires), total, c.want, c.wantTotal)
			}
		})
	}
	if fires, total := Fires(hourly, until, until, 5); fires != nil || total != 0 {
		t.Errorf("empty window: %v %d", fires, total)
	}
}

func TestNextN(t *testing.T) {
	s := mustParse(t, "R2/2024-01-01T00:00:00Z/PT1H", "UTC")
	if got := NextN(s, rfc(t, "2023-01-01T00:00:00Z"), 5); len(got) != 2 {
		t.Fatalf("R2 gave %d fires, want 2", len(got))
	}
	if got := NextN(mustParse(t, "@hourly", ""), rfc(t, "2023-01-01T00:00:00Z"), 0); len(got) != 0 {
		t.Fatalf("n=0 gave %v", got)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		expr, tz, field, mentions string
	}{
		{"", "", "cron", "empty"},
		{"bad", "", "cron", "bad"},
		{"* * * *", "", "cron", "fields"},
		{"* * * * * * *", "", "cron", "fields"},
		{"60 * * * *", "", "cron", "60"},
		{"0 24 * * *", "", "cron", "24"},
		{"*/0 * * * *", "", "cron", "*/0"},
		{"@fortnightly", "", "cron", "@fortnightly"},
		{"@every -5m", "", "cron", "at least one second"},
		{"@every 500ms", "", "cron", "at least one second"},
		{"@every soon", "", "cron", "duration"},
		{"0 0 30 2 *", "", "cron", "never fires"},
		{"0 0 31 4,6 *", "", "cron", "never fires"},
		{"TZ=Europe/Berlin 0 0 * * *", "", "cron", "timezone field"},
		{"CRON_TZ=UTC", "", "cron", "timezone field"},
		{"R5/2024/P1D", "", "cron", "start"},
		{"R-1/2024-01-01T00:00:00Z/P1D", "", "cron", "count"},
		{"Rx/2024-01-01T00:00:00Z/P1D", "", "cron", "count"},
		{"R/2024-01-01T00:00:00Z", "", "cron", "three parts"},
		{"R/2024-01-01T00:00:00/P1D", "", "cron", "offset"},
		{"R/2024-01-01T00:00:00Z/P", "", "cron", "period"},
		{"R/2024-01-01T00:00:00Z/1D", "", "cron", "period"},
		{"R/2024-01-01T00:00:00Z/PT0S", "", "cron", "at least one second"},
		{"R/2024-01-01T00:00:00Z/P1H", "", "cron", "unit"},
		{"R/2024-01-01T00:00:00Z/P1DT", "", "cron", "after T"},
		{"R/2024-01-01T00:00:00Z/P1D1D", "", "cron", "repeats"},
		{"R/2024-01-01T00:00:00Z/PT1.5S", "", "cron", "unit"},
		{"R/2024-01-01T00:00:00Z/P99999999D", "", "cron", "range"},
		{"@daily", "Mars/Base", "timezone", "Mars/Base"},
		{"@daily", "/etc/localtime", "timezone", "/etc/localtime"},
		{"@daily", "Local", "timezone", "Local"},
		{"@daily", "../../etc/passwd", "timezone", "passwd"},
	}
	for _, c := range cases {
		_, err := Parse(c.expr, c.tz)
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("Parse(%q, %q) = %v, want a *FieldError", c.expr, c.tz, err)
			continue
		}
		if fe.Field != c.field || !strings.Contains(fe.Msg, c.mentions) {
			t.Errorf("Parse(%q, %q): %v; want field %s mentioning %q", c.expr, c.tz, err, c.field, c.mentions)
		}
		// Every message shows a valid example.
		if !strings.Contains(fe.Msg, "e.g.") && !strings.Contains(fe.Msg, "example") && !strings.Contains(fe.Msg, "such as") {
			t.Errorf("Parse(%q, %q): %q shows no example", c.expr, c.tz, fe.Msg)
		}
		if err.Error() != fe.Field+": "+fe.Msg {
			t.Errorf("Error() = %q", err.Error())
		}
	}
}

func BenchmarkNext(b *testing.B) {
	for _, c := range []struct{ name, expr, tz string }{
		{"daily-NewYork", "30 2 * * *", "America/New_York"},
		{"every15m-Berlin", "*/15 * * * *", "Europe/Berlin"},
		{"weekdays-UTC", "0 9 * * mon-fri", "UTC"},
		{"leapday-UTC", "0 0 29 2 *", "UTC"},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := mustParse(b, c.expr, c.tz)
			t := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
			for b.Loop() {
				next, _ := s.Next(t)
				t = next
				if t.Year() > 2090 {
					t = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
				}
			}
		})
	}
}

// BenchmarkFires1000 is a catch-up over a window of 1000 fires, keeping 5.
func BenchmarkFires1000(b *testing.B) {
	for _, c := range []struct{ name, expr, tz string }{
		{"minutely-NewYork", "* * * * *", "America/New_York"},
		{"iso-PT1M", "R/2024-01-01T00:00:00Z/PT1M", "UTC"},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := mustParse(b, c.expr, c.tz)
			after := time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC)
			until := after.Add(1000 * time.Minute)
			for b.Loop() {
				if _, total := Fires(s, after, until, 5); total != 1000 {
					b.Fatalf("total %d", total)
				}
			}
		})
	}
}

// TestDSTFarFuture runs past the zones' listed transitions (2037), where
// Go derives them from each zone's rule, through several leap years.
func TestDSTFarFuture(t *testing.T) {
	for _, tz := range []string{"America/New_York", "Europe/Berlin", "Australia/Lord_Howe"} {
		loc := zone(t, tz)
		from := time.Date(2036, 1, 1, 0, 0, 0, 0, loc)
		until := time.Date(2061, 1, 1, 0, 0, 0, 0, loc)
		days := int(until.Sub(from).Hours()/24 + 0.5)
		for _, expr := range []string{"30 2 * * *", "45 1 * * *", "59 23 * * *"} {
			fires, total := Fires(mustParse(t, expr, tz), from, until, days+10)
			if total != days {
				t.Errorf("%s in %s: %d fires in 2036-2060, want one a day (%d)", expr, tz, total, days)
			}
			for i := 1; i < len(fires); i++ {
				if fires[i].Sub(fires[i-1]) < 22*time.Hour || fires[i].Sub(fires[i-1]) > 26*time.Hour {
					t.Fatalf("%s in %s: %s then %s", expr, tz, fires[i-1], fires[i])
				}
			}
		}
		fires, _ := Fires(mustParse(t, "0 * * * *", tz), from, until, 1<<30)
		for i := 1; i < len(fires); i++ {
			if d := fires[i].Sub(fires[i-1]); d != time.Hour && !(tz == "Australia/Lord_Howe" && (d == 30*time.Minute || d == 90*time.Minute)) {
				t.Fatalf("hourly in %s: %s then %s, %s apart", tz, fires[i-1], fires[i], d)
			}
		}
	}
}
