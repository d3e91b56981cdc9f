package gen

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"runtime"
	"sync"
	"unsafe"
)

// Dataset is a generated pair of tables.
type Dataset struct {
	Options  Options
	Profiles *Profiles
	Events   *Events
}

// Generate generates the profiles and the events of opts, and makes them
// agree: each person's first_seen is at or before their first event and
// last_seen at or after their last one (so an engine that derives these
// columns from events holds the same data as the generator).
func Generate(ctx context.Context, opts Options) (*Dataset, error) {
	p, err := GenerateProfiles(ctx, opts)
	if err != nil {
		return nil, err
	}
	e, err := GenerateEvents(ctx, opts)
	if err != nil {
		return nil, err
	}
	if err := reconcile(ctx, p, e); err != nil {
		return nil, err
	}
	return &Dataset{Options: opts, Profiles: p, Events: e}, nil
}

// reconcile widens first_seen/last_seen to the persons' events. Each worker
// owns a range of persons and scans all events once backwards (the first
// event of a person seen is their last) and once forwards, touching the
// big columns only once per person thanks to a small "seen" bitmap.
func reconcile(ctx context.Context, p *Profiles, e *Events) error {
	if e.N == 0 || p.N == 0 {
		return nil
	}
	workers := runtime.GOMAXPROCS(0)
	per := (p.N + workers - 1) / workers
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := uint32(w*per+1), uint32(min(p.N, (w+1)*per)+1) // person ids [lo, hi)
		if lo >= hi {
			continue
		}
		wg.Go(func() {
			seen := NewBitmap(int(hi - lo))
			for i := e.N - 1; i >= 0; i-- {
				if i&0xffff == 0 && ctx.Err() != nil {
					return
				}
				if id := e.PersonID[i]; id >= lo && id < hi && !seen.Get(int(id-lo)) {
					seen.Set(int(id - lo))
					p.LastSeen[id-1] = max(p.LastSeen[id-1], e.TS[i])
				}
			}
			clear(seen)
			for i := range e.N {
				if i&0xffff == 0 && ctx.Err() != nil {
					return
				}
				if id := e.PersonID[i]; id >= lo && id < hi && !seen.Get(int(id-lo)) {
					seen.Set(int(id - lo))
					p.FirstSeen[id-1] = min(p.FirstSeen[id-1], e.TS[i])
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cannot reconcile profiles with events: %w", err)
	}
	return nil
}

// Fingerprint returns a hash of every column: equal data sets have equal
// fingerprints.
func (p *Profiles) Fingerprint() uint64 {
	return fingerprint(p.N,
		bytesOf(p.UserID.Offsets), p.UserID.Data, bytesOf(p.Email.Offsets), p.Email.Data, bytesOf(p.Email.Valid),
		bytesOf(p.FirstName), bytesOf(p.LastName), p.Country, bytesOf(p.City), p.Plan, p.Gender, p.Language,
		p.Age, bytesOf(p.LTV), bytesOf(p.SignupAt), bytesOf(p.CreatedAt), bytesOf(p.FirstSeen), bytesOf(p.LastSeen),
		bytesOf(p.EmailOptIn), bytesOf(p.PushEnabled), bytesOf(p.IsVIP), bytesOf(p.SessionsCount),
		bytesOf(p.OrdersCount), bytesOf(p.ReferralCode), bytesOf(p.Company), bytesOf(p.NPSScore))
}

// Fingerprint returns a hash of every column: equal data sets have equal
// fingerprints.
func (e *Events) Fingerprint() uint64 {
	return fingerprint(e.N, bytesOf(e.PersonID), e.Name, bytesOf(e.TS), e.Platform, e.AppVersion,
		bytesOf(e.Purchases), bytesOf(e.Amount), e.Currency)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func fingerprint(n int, cols ...[]byte) uint64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(n))
	h.Write(b[:])
	for _, c := range cols {
		binary.LittleEndian.PutUint32(b[:4], crc32.Checksum(c, castagnoli))
		binary.LittleEndian.PutUint32(b[4:], uint32(len(c)))
		h.Write(b[:])
	}
	return h.Sum64()
}

func bytesOf[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(z)))
}
