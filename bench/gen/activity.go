package gen

// activity maps between a person's activity rank k (0 = most active) and
// its row index p, by the bijection p = (k*a + b) mod n, so that heavy
// users are spread over the id space without storing a permutation.
type activity struct {
	n, a, b, ainv uint64
}

// Activity tiers, as fractions of persons: the top 5% ("heavy") produce
// half the events, the next 25% ("medium") 35%, the remaining 70% 15%.
const (
	heavyShare  = 0.05
	mediumShare = 0.30 // cumulative
)

func newActivity(n int, seed uint64) activity {
	if n == 0 {
		return activity{}
	}
	un := uint64(n)
	a := uint64(float64(un)*0.6180339887) | 1
	for gcd(a, un) != 1 {
		a++
	}
	a %= un
	if un == 1 {
		a = 0
	}
	b := (seed * 0x9e3779b97f4a7c15) % un
	return activity{n: un, a: a, b: b, ainv: modInverse(a, un)}
}

func (t activity) person(k uint64) uint64 { return (k*t.a + t.b) % t.n }

func (t activity) rank(p uint64) uint64 { return ((p + t.n - t.b) % t.n) * t.ainv % t.n }

// tier returns 0 (heavy), 1 (medium) or 2 (light) for rank k.
func (t activity) tier(k uint64) int {
	f := float64(k) / float64(t.n)
	switch {
	case f < heavyShare:
		return 0
	case f < mediumShare:
		return 1
	}
	return 2
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// modInverse returns x with a*x ≡ 1 (mod m), for gcd(a, m) = 1.
func modInverse(a, m uint64) uint64 {
	if m == 1 {
		return 0
	}
	t, newT := int64(0), int64(1)
	r, newR := int64(m), int64(a)
	for newR != 0 {
		q := r / newR
		t, newT = newT, t-q*newT
		r, newR = newR, r-q*newR
	}
	if t < 0 {
		t += int64(m)
	}
	return uint64(t)
}
