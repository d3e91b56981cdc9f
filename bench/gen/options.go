package gen

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Options configures a generated data set. The zero value is not useful;
// start from DefaultOptions.
type Options struct {
	// Profiles is the number of persons (person_id 1..Profiles).
	// At most MaxProfiles.
	Profiles int
	// Events is the number of events (event_id 1..Events), spread over the
	// EventDays days before Now. At most MaxEvents. Events > 0 needs
	// Profiles > 0.
	Events int
	// Seed selects the data set: the same Options give identical data.
	Seed uint64
	// Now is the reference time: every timestamp is before it. The zero
	// value means DefaultNow.
	Now time.Time
}

const (
	// MaxProfiles bounds Options.Profiles (person ids fit in uint32 and
	// the email arena in 4 GiB).
	MaxProfiles = 100_000_000
	// MaxEvents bounds Options.Events (event indices fit in uint32).
	MaxEvents = math.MaxUint32 - 1
	// EventDays is the period, ending at Now, that events cover.
	EventDays = 90
	// LastSeenDays is the period, ending at Now, that last_seen covers.
	LastSeenDays = 90
)

// DefaultNow is the reference time of DefaultOptions: 2026-11-01T00:00:00Z.
var DefaultNow = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// DefaultOptions returns 1M profiles, 10M events, seed 1, Now = DefaultNow.
func DefaultOptions() Options {
	return Options{Profiles: 1_000_000, Events: 10_000_000, Seed: 1, Now: DefaultNow}
}

// NowMicros returns Now (or DefaultNow) in microseconds since the epoch,
// truncated to whole seconds.
func (o Options) NowMicros() int64 {
	now := o.Now
	if now.IsZero() {
		now = DefaultNow
	}
	return now.Unix() * 1_000_000
}

// ErrInvalidOptions is wrapped by every Options validation error.
var ErrInvalidOptions = errors.New("invalid generator options")

func (o Options) validate() error {
	switch {
	case o.Profiles < 0 || o.Profiles > MaxProfiles:
		return fmt.Errorf("%w: profiles %d not in [0, %d]", ErrInvalidOptions, o.Profiles, MaxProfiles)
	case o.Events < 0 || o.Events > MaxEvents:
		return fmt.Errorf("%w: events %d not in [0, %d]", ErrInvalidOptions, o.Events, MaxEvents)
	case o.Events > 0 && o.Profiles == 0:
		return fmt.Errorf("%w: %d events need at least one profile", ErrInvalidOptions, o.Events)
	}
	return nil
}

const (
	usPerSec  = int64(1_000_000)
	usPerHour = 3600 * usPerSec
	usPerDay  = 24 * usPerHour
)
