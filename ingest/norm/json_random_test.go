package norm

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseJSONRandom(t *testing.T) {
	toks := []string{"{", "}", "[", "]", ",", ":", `"`, `\`, "u", "d8", "00", "dc", "1", "0", "-", ".", "e", "+", "true", "null", "f", " ", "\xff", "\x01", "a", `"a"`, `\u`, `\ud800`, `\udc00`}
	rng := rand.New(rand.NewPCG(1, 1))
	var cur atomic.Pointer[string]
	var done atomic.Int64
	go func() {
		last := int64(-1)
		for {
			time.Sleep(2 * time.Second)
			n := done.Load()
			if n == last {
				panic("hang on " + *cur.Load())
			}
			last = n
		}
	}()
	for i := 0; i < 300000; i++ {
		var s string
		for range rng.IntN(20) {
			s += toks[rng.IntN(len(toks))]
		}
		cur.Store(&s)
		compareJSON(t, []byte(s))
		compareDoc(t, []byte(s))
		done.Add(1)
	}
}
