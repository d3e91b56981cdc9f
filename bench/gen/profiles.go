package gen

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
)

// Profiles is the generated profiles table, one row per person; person_id
// of row i is i+1. See the package documentation for NULL conventions.
type Profiles struct {
	N int

	UserID Strings // "u" + person_id
	Email  Strings // ~3% NULL (Valid)

	FirstName []uint16 // FirstNameDict codes (~500 names)
	LastName  []uint16 // LastNameDict codes (~1000 names)
	Country   []uint8  // CountryDict codes (~210 ISO codes, Zipf)
	City      []uint16 // CityDict codes (~2000, correlated with country)
	Plan      []uint8  // PlanDict codes: free, basic, pro, enterprise
	Gender    []uint8  // GenderDict codes, Null8 = NULL (~4%)
	Language  []uint8  // LanguageDict codes (correlated with country)

	Age []uint8   // 18..80; 0 = NULL (~3%)
	LTV []float64 // >= 0, ~30% exactly 0, log-normal otherwise, cents

	SignupAt  []int64 // µs, up to ~5 years before Now
	CreatedAt []int64 // µs, first_seen + a few minutes
	FirstSeen []int64 // µs, before signup_at
	LastSeen  []int64 // µs, within LastSeenDays before Now

	EmailOptIn  []bool
	PushEnabled []bool
	IsVIP       []bool

	SessionsCount []int32
	OrdersCount   []int32

	ReferralCode []uint16 // ReferralCodeDict codes, Null16 = NULL (~95%)
	Company      []uint16 // CompanyDict codes, Null16 = NULL (~98%)
	NPSScore     []int8   // 0..10; -1 = NULL (~99%)

	FirstNameDict, LastNameDict, CountryDict, CityDict, PlanDict Dict
	GenderDict, LanguageDict, ReferralCodeDict, CompanyDict      Dict
}

// ProfileRow is one profile row; string fields point into the Profiles.
// A field whose Valid flag is false is NULL.
type ProfileRow struct {
	PersonID          int64
	UserID            string
	Email             string
	EmailValid        bool
	FirstName         string
	LastName          string
	Country           string
	City              string
	Plan              string
	Gender            string
	GenderValid       bool
	Language          string
	Age               int64
	AgeValid          bool
	LTV               float64
	SignupAt          int64
	CreatedAt         int64
	FirstSeen         int64
	LastSeen          int64
	EmailOptIn        bool
	PushEnabled       bool
	IsVIP             bool
	SessionsCount     int64
	OrdersCount       int64
	ReferralCode      string
	ReferralCodeValid bool
	Company           string
	CompanyValid      bool
	NPSScore          int64
	NPSScoreValid     bool
}

// PersonID returns the person_id of row i.
func (p *Profiles) PersonID(i int) int64 { return int64(i) + 1 }

// Row copies row i into r without allocating.
func (p *Profiles) Row(i int, r *ProfileRow) {
	*r = ProfileRow{
		PersonID:      int64(i) + 1,
		UserID:        p.UserID.At(i),
		Email:         p.Email.At(i),
		EmailValid:    p.Email.IsValid(i),
		FirstName:     p.FirstNameDict[p.FirstName[i]],
		LastName:      p.LastNameDict[p.LastName[i]],
		Country:       p.CountryDict[p.Country[i]],
		City:          p.CityDict[p.City[i]],
		Plan:          p.PlanDict[p.Plan[i]],
		Language:      p.LanguageDict[p.Language[i]],
		Age:           int64(p.Age[i]),
		AgeValid:      p.Age[i] != 0,
		LTV:           p.LTV[i],
		SignupAt:      p.SignupAt[i],
		CreatedAt:     p.CreatedAt[i],
		FirstSeen:     p.FirstSeen[i],
		LastSeen:      p.LastSeen[i],
		EmailOptIn:    p.EmailOptIn[i],
		PushEnabled:   p.PushEnabled[i],
		IsVIP:         p.IsVIP[i],
		SessionsCount: int64(p.SessionsCount[i]),
		OrdersCount:   int64(p.OrdersCount[i]),
		NPSScore:      int64(p.NPSScore[i]),
		NPSScoreValid: p.NPSScore[i] >= 0,
	}
	if g := p.Gender[i]; g != Null8 {
		r.Gender, r.GenderValid = p.GenderDict[g], true
	}
	if c := p.ReferralCode[i]; c != Null16 {
		r.ReferralCode, r.ReferralCodeValid = p.ReferralCodeDict[c], true
	}
	if c := p.Company[i]; c != Null16 {
		r.Company, r.CompanyValid = p.CompanyDict[c], true
	}
	if !r.AgeValid {
		r.Age = 0
	}
	if !r.NPSScoreValid {
		r.NPSScore = 0
	}
}

// Bytes returns the memory held by the columns (dictionaries excluded).
func (p *Profiles) Bytes() int64 {
	n := int64(p.N)
	strs := int64(len(p.UserID.Data) + len(p.Email.Data) + 4*len(p.UserID.Offsets) + 4*len(p.Email.Offsets) + 8*len(p.Email.Valid))
	// 2+2+1+2+1+1+1 codes, 1 age, 8 ltv, 32 ts, 3 bools, 8 counts, 2+2+1 sparse
	return strs + n*(10+1+8+32+3+8+5)
}

// profileChunk is the unit of parallel profile generation; each chunk has
// its own random stream, so the data does not depend on the worker count.
const profileChunk = 1 << 16

const streamProfiles = 0x70726f66696c6573 // "profiles"

// GenerateProfiles generates opts.Profiles profiles.
func GenerateProfiles(ctx context.Context, opts Options) (*Profiles, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("cannot generate profiles: %w", err)
	}
	d := theDicts
	n := opts.Profiles
	p := &Profiles{
		N:             n,
		UserID:        Strings{Offsets: make([]uint32, n+1)},
		Email:         Strings{Offsets: make([]uint32, n+1), Valid: NewBitmap(n)},
		FirstName:     make([]uint16, n),
		LastName:      make([]uint16, n),
		Country:       make([]uint8, n),
		City:          make([]uint16, n),
		Plan:          make([]uint8, n),
		Gender:        make([]uint8, n),
		Language:      make([]uint8, n),
		Age:           make([]uint8, n),
		LTV:           make([]float64, n),
		SignupAt:      make([]int64, n),
		CreatedAt:     make([]int64, n),
		FirstSeen:     make([]int64, n),
		LastSeen:      make([]int64, n),
		EmailOptIn:    make([]bool, n),
		PushEnabled:   make([]bool, n),
		IsVIP:         make([]bool, n),
		SessionsCount: make([]int32, n),
		OrdersCount:   make([]int32, n),
		ReferralCode:  make([]uint16, n),
		Company:       make([]uint16, n),
		NPSScore:      make([]int8, n),

		FirstNameDict: d.firstName, LastNameDict: d.lastName, CountryDict: d.country, CityDict: d.city,
		PlanDict: d.plan, GenderDict: d.gender, LanguageDict: d.language, ReferralCodeDict: d.referral,
		CompanyDict: d.company,
	}
	nChunks := (n + profileChunk - 1) / profileChunk
	userData := make([][]byte, nChunks)
	emailData := make([][]byte, nChunks)
	act := newActivity(n, opts.Seed)
	now := opts.NowMicros()

	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(nChunks, 1)) {
		wg.Go(func() {
			for {
				c := int(next.Add(1) - 1)
				if c >= nChunks || ctx.Err() != nil {
					return
				}
				lo, hi := c*profileChunk, min(n, (c+1)*profileChunk)
				userData[c], emailData[c] = p.fillChunk(opts.Seed, c, lo, hi, now, act)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cannot generate profiles: %w", err)
	}
	var err error
	if p.UserID.Data, err = joinArena(p.UserID.Offsets, userData, profileChunk); err != nil {
		return nil, fmt.Errorf("cannot generate profiles: user_id: %w", err)
	}
	if p.Email.Data, err = joinArena(p.Email.Offsets, emailData, profileChunk); err != nil {
		return nil, fmt.Errorf("cannot generate profiles: email: %w", err)
	}
	return p, nil
}

// joinArena concatenates per-chunk arenas whose offsets (offs[lo+1:hi+1])
// are relative to the chunk, making them absolute.
func joinArena(offs []uint32, parts [][]byte, chunk int) ([]byte, error) {
	total := 0
	for _, b := range parts {
		total += len(b)
	}
	if total > math.MaxUint32 {
		return nil, fmt.Errorf("arena of %d bytes exceeds 4 GiB", total)
	}
	data := make([]byte, 0, total)
	n := len(offs) - 1
	for c, b := range parts {
		base := uint32(len(data))
		for i := c*chunk + 1; i <= min(n, (c+1)*chunk); i++ {
			offs[i] += base
		}
		data = append(data, b...)
	}
	return data, nil
}

// fillChunk generates rows [lo, hi) and returns their user_id and email
// arenas (offsets relative to the chunk are written into the columns).
func (p *Profiles) fillChunk(seed uint64, chunk, lo, hi int, now int64, act activity) (userData, emailData []byte) {
	d := theDicts
	r := rand.New(rand.NewPCG(seed^streamProfiles, uint64(chunk)))
	userData = make([]byte, 0, (hi-lo)*9)
	emailData = make([]byte, 0, (hi-lo)*28)
	const day = float64(usPerDay)
	for i := lo; i < hi; i++ {
		tier := act.tier(act.rank(uint64(i)))

		userData = append(userData, 'u')
		userData = strconv.AppendInt(userData, int64(i)+1, 10)
		p.UserID.Offsets[i+1] = uint32(len(userData))

		u := r.Uint64()
		country := uint8(d.countryS.pick(u))
		p.Country[i] = country
		p.City[i] = d.cityOf[country].pick(u >> 16)
		fn, ln := d.firstS.pick(u>>32), d.lastS.pick(u>>48)
		p.FirstName[i], p.LastName[i] = fn, ln

		u = r.Uint64()
		switch x := u & 0xff; { // language
		case x < 218:
			p.Language[i] = d.countryLang[country]
		case x < 243:
			p.Language[i] = 0 // en
		default:
			p.Language[i] = uint8((u >> 8) % uint64(len(d.language)))
		}
		plan := uint8(d.planS.pick(u >> 16))
		p.Plan[i] = plan
		if (u>>32)&0x3ff < 41 { // ~4%
			p.Gender[i] = Null8
		} else {
			p.Gender[i] = uint8(d.genderS.pick(u >> 42))
		}

		// email: ~3% NULL
		u = r.Uint64()
		if u&0x3ff >= 31 {
			p.Email.Valid.Set(i)
			f, l := d.firstLower[fn], d.lastLower[ln]
			switch (u >> 10) & 7 {
			case 0, 1, 2:
				emailData = append(emailData, f...)
				emailData = append(emailData, '.')
				emailData = append(emailData, l...)
			case 3:
				emailData = append(emailData, f...)
				emailData = append(emailData, l...)
			case 4:
				emailData = append(emailData, f[0])
				emailData = append(emailData, l...)
			case 5:
				emailData = append(emailData, f...)
				emailData = append(emailData, '_')
				emailData = append(emailData, l...)
			default:
				emailData = append(emailData, f...)
			}
			if (u>>13)&3 != 0 { // 75% with a number
				emailData = strconv.AppendUint(emailData, (u>>16)%10000, 10)
			}
			emailData = append(emailData, '@')
			emailData = append(emailData, d.emailDomain[d.domainS.pick(u>>32)]...)
		}
		p.Email.Offsets[i+1] = uint32(len(emailData))

		// age: ~3% NULL, else ~N(36, 13) in [18, 80]
		if r.IntN(100) < 3 {
			p.Age[i] = 0
		} else {
			p.Age[i] = uint8(min(80, max(18, int(math.Round(36+13*r.NormFloat64())))))
		}

		// ltv: 0 for ~30% (more for free), else log-normal by plan.
		zeroP := [4]float64{0.38, 0.15, 0.08, 0.05}[plan]
		if r.Float64() < zeroP {
			p.LTV[i] = 0
		} else {
			v := math.Exp(3.4+1.3*r.NormFloat64()) * planLTVFactor[plan]
			p.LTV[i] = math.Round(v*100) / 100
		}

		// times: signup up to ~5 years ago (recent more likely), first seen
		// a few days before, created a few minutes after first seen.
		signupAgo := min(5*365*day, r.ExpFloat64()*500*day) + float64(r.IntN(86400))*float64(usPerSec)
		signup := now - int64(signupAgo)
		first := signup - int64(r.ExpFloat64()*3*day)
		created := first + int64(r.IntN(600))*usPerSec
		meanAgo := [3]float64{1.5, 8, 30}[tier]
		seenAgo := r.ExpFloat64() * meanAgo * day
		if seenAgo >= LastSeenDays*day {
			seenAgo = r.Float64() * LastSeenDays * day
		}
		last := now - int64(seenAgo)
		if last < signup {
			last = signup + int64(r.Float64()*float64(now-signup))
		}
		p.SignupAt[i] = sec(signup)
		p.FirstSeen[i] = sec(first)
		p.CreatedAt[i] = sec(created)
		p.LastSeen[i] = sec(last)

		u = r.Uint64()
		p.EmailOptIn[i] = p.Email.Valid.Get(i) && u&0xff < 160
		p.PushEnabled[i] = (u>>8)&0xff < 115
		vip := (u>>16)&0xff < 4
		if p.LTV[i] > 1000 {
			vip = (u>>16)&0xff < 128
		}
		p.IsVIP[i] = vip
		meanSessions := [3]float64{250, 40, 6}[tier]
		p.SessionsCount[i] = int32(1 + r.ExpFloat64()*meanSessions)
		if p.LTV[i] > 0 {
			p.OrdersCount[i] = int32(1 + r.ExpFloat64()*[3]float64{12, 4, 1.5}[tier])
		}

		p.ReferralCode[i], p.Company[i], p.NPSScore[i] = Null16, Null16, -1
		if (u>>24)&0x3ff < 51 { // ~5%
			p.ReferralCode[i] = d.referralS.pick(u >> 34)
		}
		if (u>>50)&0x3ff < 20 { // ~2%
			p.Company[i] = d.companyS.pick(r.Uint64())
		}
		if (u>>60) == 0 && r.IntN(6) == 0 { // ~1%
			p.NPSScore[i] = int8(min(10, int(11*math.Sqrt(r.Float64()))))
		}
	}
	return userData, emailData
}

// sec truncates microseconds to whole seconds.
func sec(us int64) int64 { return us - ((us%usPerSec)+usPerSec)%usPerSec }
