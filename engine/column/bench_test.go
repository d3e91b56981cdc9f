package column

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
)

func BenchmarkDictionaryIntern(b *testing.B) {
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = "user-" + strconv.Itoa(i*7919)
	}
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(keys[len(keys)/2])))
		d := NewDictionary()
		for i := 0; b.Loop(); i++ {
			if i%len(keys) == 0 && i > 0 {
				d = NewDictionary() // keep strings new without a growing key set
			}
			d.Intern(keys[i%len(keys)])
		}
	})
	b.Run("existing", func(b *testing.B) {
		d := NewDictionary()
		for _, k := range keys {
			d.Intern(k)
		}
		b.ReportAllocs()
		b.SetBytes(int64(len(keys[len(keys)/2])))
		for i := 0; b.Loop(); i++ {
			d.Intern(keys[i%len(keys)])
		}
	})
}

var bigDicts sync.Map // entries → *Dictionary, built once per process

func bigDict(n int) *Dictionary {
	if d, ok := bigDicts.Load(n); ok {
		return d.(*Dictionary)
	}
	d := NewDictionary()
	for i := 0; i < n; i++ {
		d.Intern("id-" + strconv.Itoa(i))
	}
	bigDicts.Store(n, d)
	return d
}

func BenchmarkDictionaryCode(b *testing.B) {
	for _, n := range []int{1_000_000, 10_000_000} {
		b.Run(fmt.Sprintf("entries=%dM", n/1_000_000), func(b *testing.B) {
			d := bigDict(n)
			r := rand.New(rand.NewPCG(1, 1))
			probes := make([]string, 4096)
			for i := range probes {
				if i%4 == 0 {
					probes[i] = "absent-" + strconv.Itoa(i)
				} else {
					probes[i] = "id-" + strconv.Itoa(r.IntN(n))
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				d.Code(probes[i%len(probes)])
			}
		})
	}
}

func benchBuilder(typ Type, nullEvery int) (*Builder, *ColumnDef) {
	r := rand.New(rand.NewPCG(2, uint64(typ)))
	def := newDef(typ)
	bl := NewBuilder(typ)
	for i := 0; i < ChunkRows; i++ {
		if nullEvery > 0 && i%nullEvery == 0 {
			bl.AppendNull()
			continue
		}
		switch typ {
		case TypeInt:
			bl.AppendInt(int64(r.IntN(100_000)))
		case TypeTimestamp:
			bl.AppendInt(t0 + int64(i)*1_000_000 + int64(r.IntN(60))*1000)
		case TypeString:
			bl.AppendCode(def.Dict.Intern("e" + strconv.Itoa(r.IntN(300))))
		case TypeFloat:
			bl.AppendFloat(r.NormFloat64())
		}
	}
	return bl, def
}

func BenchmarkSealVec(b *testing.B) {
	for _, typ := range []Type{TypeInt, TypeTimestamp, TypeString, TypeFloat} {
		for _, nulls := range []struct {
			name  string
			every int
		}{{"dense", 0}, {"nulls", 3}, {"sparse", 1}} {
			b.Run(typ.String()+"/"+nulls.name, func(b *testing.B) {
				every := nulls.every
				bl, _ := benchBuilder(typ, every)
				if nulls.name == "sparse" { // 1 value in 16
					bl = NewBuilder(typ)
					for i := 0; i < ChunkRows; i++ {
						if i%16 == 0 {
							if typ == TypeFloat {
								bl.AppendFloat(float64(i))
							} else if typ == TypeString {
								bl.AppendCode(uint32(i % 300))
							} else {
								bl.AppendInt(int64(i))
							}
						} else {
							bl.AppendNull()
						}
					}
				}
				v := bl.View(ChunkRows)
				b.ReportAllocs()
				b.SetBytes(ChunkRows * 8)
				for b.Loop() {
					SealVec(v)
				}
			})
		}
	}
}

func BenchmarkBuilderAppend(b *testing.B) {
	b.Run("int", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(ChunkRows * 8)
		for b.Loop() {
			bl := NewBuilder(TypeInt)
			for i := 0; i < ChunkRows; i++ {
				bl.AppendInt(int64(i))
			}
		}
	})
	b.Run("int/nulls", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(ChunkRows * 8)
		for b.Loop() {
			bl := NewBuilder(TypeInt)
			for i := 0; i < ChunkRows; i++ {
				if i%3 == 0 {
					bl.AppendNull()
				} else {
					bl.AppendInt(int64(i))
				}
			}
		}
	})
	b.Run("bool", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(ChunkRows / 8)
		for b.Loop() {
			bl := NewBuilder(TypeBool)
			for i := 0; i < ChunkRows; i++ {
				bl.AppendBool(i&1 == 0)
			}
		}
	})
	b.Run("string/Append", func(b *testing.B) {
		def := newDef(TypeString)
		vals := make([]Value, 1024)
		for i := range vals {
			vals[i] = String("e" + strconv.Itoa(i%300))
		}
		b.ReportAllocs()
		b.SetBytes(ChunkRows * 4)
		for b.Loop() {
			bl := NewBuilder(TypeString)
			for i := 0; i < ChunkRows; i++ {
				bl.Append(vals[i&1023], def.Dict)
			}
		}
	})
}

func BenchmarkBitmap(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 3))
	x, y := NewBitmap(ChunkRows), NewBitmap(ChunkRows)
	for i := range x {
		x[i], y[i] = r.Uint64(), r.Uint64()
	}
	b.Run("And", func(b *testing.B) {
		dst := x.Clone(ChunkRows)
		b.ReportAllocs()
		b.SetBytes(ChunkRows / 8)
		for b.Loop() {
			dst.And(y)
		}
	})
	b.Run("Count", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(ChunkRows / 8)
		n := 0
		for b.Loop() {
			n += x.Count()
		}
		if n == 0 {
			b.Fatal("empty")
		}
	})
}
