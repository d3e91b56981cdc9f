package importer

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Bar draws import progress on a terminal with \r, or (Interactive false)
// prints a line every 10 seconds, as logs should. It is hand-rolled: forty
// lines do not justify a dependency.
type Bar struct {
	W           io.Writer
	Interactive bool
	Label       string

	mu   sync.Mutex
	last time.Time
	p    Progress
	drew bool
}

// Update records p and redraws at most 10 times a second.
func (b *Bar) Update(p Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.p = p
	every := 100 * time.Millisecond
	if !b.Interactive {
		every = 10 * time.Second
	}
	if time.Since(b.last) < every {
		return
	}
	b.last = time.Now()
	b.draw()
}

// Finish draws the final state and ends the line.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drew || b.Interactive {
		b.draw()
	}
	if b.Interactive && b.drew {
		fmt.Fprintln(b.W)
	}
}

func (b *Bar) draw() {
	p := b.p
	frac := 0.0
	if p.Total > 0 {
		frac = min(float64(p.Done)/float64(p.Total), 1)
	}
	rate := 0.0
	if s := p.Elapsed.Seconds(); s > 0 {
		rate = float64(p.Rows) / s
	}
	eta := "?"
	if frac > 0 && frac < 1 {
		eta = (time.Duration(float64(p.Elapsed) * (1 - frac) / frac)).Round(time.Second).String()
	} else if frac >= 1 {
		eta = "0s"
	}
	stats := fmt.Sprintf("%5.1f%% %d rows (%d imported, %d rejected) %.0f rows/s ETA %s",
		100*frac, p.Rows, p.Imported, p.Rejected, rate, eta)
	if !b.Interactive {
		fmt.Fprintf(b.W, "%s %s\n", b.Label, stats)
		b.drew = true
		return
	}
	const width = 30
	n := int(frac * width)
	fmt.Fprintf(b.W, "\r%s [%s%s] %s\x1b[K", b.Label, strings.Repeat("=", n), strings.Repeat(" ", width-n), stats)
	b.drew = true
}
