package loadgen

import "slices"

// Quantile returns the q-quantile (0…1) of v by nearest rank, 0 for no
// values. Nearest rank rather than interpolation, so that every figure a
// report prints (p99, max = Quantile(v, 1)) is one that was measured.
// v is left unsorted: callers keep appending to it between reports.
func Quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(int(q*float64(len(s)-1)+0.5), len(s)-1)]
}
