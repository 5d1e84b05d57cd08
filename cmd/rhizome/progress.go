package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
)

// progress is a bar with rate and ETA on stderr for long work. It is shown
// only when stdout and stderr are terminals and neither --quiet nor --json
// was given; a nil *progress does nothing, so callers need no checks.
type progress struct{ bar *progressbar.ProgressBar }

// bytesBar returns a progress for a byte count.
func (g *globals) bytesBar(desc string) *progress {
	return g.newProgress(desc, progressbar.OptionShowBytes(true), progressbar.OptionShowTotalBytes(true))
}

// countBar returns a progress for a count of things.
func (g *globals) countBar(desc string) *progress {
	return g.newProgress(desc, progressbar.OptionShowCount())
}

func (g *globals) newProgress(desc string, opts ...progressbar.Option) *progress {
	if g.quiet || g.json || !isTerminal(os.Stdout) || !isTerminal(os.Stderr) {
		return nil
	}
	opts = append(opts,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetWidth(20),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionFullWidth(),
	)
	return &progress{bar: progressbar.NewOptions64(-1, opts...)}
}

func isTerminal(f *os.File) bool {
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// Set shows done of total (total <= 0: unknown).
func (p *progress) Set(done, total int64) {
	if p == nil {
		return
	}
	if total > 0 {
		p.bar.ChangeMax64(total)
	}
	p.bar.Set64(done)
}

// Add counts n more.
func (p *progress) Add(n int) {
	if p != nil {
		p.bar.Add(n)
	}
}

// Println prints a line to stdout above the bar.
func (p *progress) Println(w io.Writer, a ...any) {
	if p != nil {
		p.bar.Clear()
	}
	fmt.Fprintln(w, a...)
}

// Done removes the bar.
func (p *progress) Done() {
	if p != nil {
		p.bar.Finish()
		p.bar.Clear()
	}
}

// Write counts len(b) bytes of progress, so a progress can sit in an
// io.TeeReader or io.MultiWriter.
func (p *progress) Write(b []byte) (int, error) {
	p.Add(len(b))
	return len(b), nil
}
