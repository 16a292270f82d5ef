package admissionhttp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// stalled is a body that sends prefix and then nothing until closed.
func stalled(t *testing.T, prefix int) (io.Reader, func()) {
	t.Helper()
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write(bytes.Repeat([]byte{'x'}, prefix))
	}()
	return pr, func() { pw.Close() }
}

func TestBodyBudgetChargesWhatArrives(t *testing.T) {
	b := NewBodyBudget(DefaultBodyBudget)
	b.MaxWait = 200 * time.Millisecond
	ctx := t.Context()
	var stops []func()
	defer func() {
		for _, s := range stops {
			s()
		}
	}()
	hold := func(prefix int, declared int64) {
		r, stop := stalled(t, prefix)
		stops = append(stops, stop)
		go func() {
			var buf bytes.Buffer
			c, _ := b.readBody(ctx, r, &buf, declared, MaxReviewBytes)
			c.release()
		}()
	}
	// 200 bodies that declare the largest size and send nothing: before,
	// each reserved its Content-Length and 4 of them filled the budget.
	for range 200 {
		hold(0, MaxReviewBytes)
	}
	// Some that sent past the small lane and stalled: each reserves its
	// declared rest of the large lane, until it is full.
	for range DefaultBodyBudget / MaxReviewBytes {
		hold(smallReviewBytes+1, MaxReviewBytes)
	}
	time.Sleep(200 * time.Millisecond)

	small := []byte(strings.Repeat("y", 20<<10))
	for i := range 20 {
		var buf bytes.Buffer
		c, err := b.readBody(ctx, bytes.NewReader(small), &buf, int64(len(small)), MaxReviewBytes)
		if err != nil || buf.Len() != len(small) {
			t.Fatalf("small review %d: %v, read %d bytes", i, err, buf.Len())
		}
		c.release()
	}
	// A large one has to wait, and its wait is the server's, not ctx's.
	long, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	start := time.Now()
	var buf bytes.Buffer
	c, err := b.readBody(long, bytes.NewReader(make([]byte, MaxReviewBytes)), &buf, MaxReviewBytes, MaxReviewBytes)
	c.release()
	if !errors.Is(err, errBusy) {
		t.Errorf("a review of the largest size with the large lane full: %v, want errBusy", err)
	}
	if waited := time.Since(start); waited > 5*b.MaxWait {
		t.Errorf("waited %v for the budget, want about MaxWait (%v)", waited, b.MaxWait)
	}
}

func TestBodyBudgetServesLargeReviewsInTurn(t *testing.T) {
	b := NewBodyBudget(DefaultBodyBudget)
	body := make([]byte, 4<<20)
	errs := make(chan error, 40)
	for range 40 {
		go func() {
			var buf bytes.Buffer
			c, err := b.readBody(t.Context(), bytes.NewReader(body), &buf, int64(len(body)), MaxReviewBytes)
			// What decoding it would hold, for a moment.
			time.Sleep(5 * time.Millisecond)
			c.release()
			errs <- err
		}()
	}
	for range 40 {
		if err := <-errs; err != nil {
			t.Errorf("40 reviews of 4 MiB arriving together: %v; want each served in turn", err)
		}
	}
}
