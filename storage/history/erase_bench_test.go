//go:build unix

package history

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// BenchmarkErase: one profile_history file of 1M rows (100k persons); an
// erasure of one person in it (a full rewrite), of an id inside the
// file's person range but absent (the person_id column is read), and of an
// id outside it (ruled out by the statistics).
func BenchmarkErase(b *testing.B) {
	src := b.TempDir()
	w, err := NewWriter(src, Options{})
	if err != nil {
		b.Fatal(err)
	}
	const rows, persons = 1 << 20, 100_000
	recs := synthetic(rows, persons, 1)
	for i := range recs {
		recs[i].Person *= 2 // even ids only: an odd one is absent
	}
	start := time.Now()
	writeRecords(b, w, recs)
	files, _ := list(src)
	fi, _ := os.Stat(filepath.Join(src, files[0].name))
	b.Logf("history file: %d rows, %d bytes, written in %s", rows, fi.Size(), time.Since(start))
	for _, bc := range []struct {
		name   string
		person uint32
	}{{"rewrite-1M-rows", 4242}, {"scan-person-column", persons + 1}, {"pruned-by-stats", 2*persons + 10}} {
		b.Run(bc.name, func(b *testing.B) {
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				dir := b.TempDir()
				if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				cpu0 := cpuTime()
				st, err := EraseDir(context.Background(), dir, []uint32{bc.person})
				if err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime() - cpu0
				b.ReportMetric(float64(st.Rows), "rows-removed")
			}
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op") // the wall time depends on the machine's load
		})
	}
}

// cpuTime returns the process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
