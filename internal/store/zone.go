package store

import "time"

// maxZoneMinutes is the largest zone offset kept, ±99:59: the most an
// IMAP date-time ("+HHMM") can carry.
const maxZoneMinutes = 99*60 + 59

// ZoneMinutes returns the offset east of UTC, in whole minutes, of the
// zone t is in: what the backends store beside an internal date. Seconds
// of an offset are dropped; an offset IMAP cannot express counts as 0.
func ZoneMinutes(t time.Time) int {
	_, off := t.Zone()
	m := off / 60
	if m > maxZoneMinutes || m < -maxZoneMinutes {
		return 0
	}
	return m
}

// InZone returns t in the fixed zone minutes east of UTC (UTC itself for
// 0), the inverse of ZoneMinutes for a stored internal date. An offset
// out of range gives UTC.
func InZone(t time.Time, minutes int) time.Time {
	if minutes == 0 || minutes > maxZoneMinutes || minutes < -maxZoneMinutes {
		return t.UTC()
	}
	// An unnamed zone of whole hours is shared by the time package, so
	// the common case allocates nothing.
	return t.In(time.FixedZone("", minutes*60))
}
