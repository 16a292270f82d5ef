package admissionhttp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"time"

	"golang.org/x/sync/semaphore"
)

// DefaultBodyBudget is how many bytes of review bodies past their first
// smallReviewBytes the server holds at once by default (the large lane).
// Decoding a review allocates about as much again as its body (the
// request's strings, the objects as far as the rules read them, the
// response), so the worst case of a flood of maximal reviews is about
// twice both lanes above the server's steady state: 96 MiB, inside the
// 256 MiB limit of deploy/.
const DefaultBodyBudget = 32 << 20

// The small lane: the first smallReviewBytes of every body are charged to
// a budget of their own, which bodies larger than that cannot drain. Every
// review the API server sends for an ordinary StatefulSet or Service
// (2-30 KB) fits in it whole, so a flood of huge or stalled reviews never
// holds up the small ones.
const (
	smallReviewBytes  = 256 << 10
	defaultSmallLane  = 16 << 20
	budgetChunk       = 16 << 10
	defaultBudgetWait = 2 * time.Second
)

// errBusy is a body that could not be charged within the server's wait.
var errBusy = errors.New("too many review bytes in flight")

// BodyBudget has no counterpart upstream: admission.Webhook reads up to
// MaxReviewBytes per request, however many arrive at once.
//
// BodyBudget bounds the bytes of review bodies held at once across every
// webhook path, in two lanes. Nothing is charged for a declared
// Content-Length: a peer that announces 7 MiB and sends nothing holds
// nothing. The first smallReviewBytes of a body are charged to the small
// lane as they arrive (at most budgetChunk read ahead of the charge per
// connection). A body that has sent all of those has shown it is really
// sending: it then reserves the rest of its declared length (the limit,
// when it declares none) from the large lane at once, first come first
// served, so that large reviews arriving together are served one after
// the other instead of each holding a part and all waiting. A body that
// cannot get its share within the server's own wait (MaxWait, whatever
// timeout the caller asked for) is refused with 429.
type BodyBudget struct {
	small, large *semaphore.Weighted
	// MaxWait bounds how long one review waits for its share in total.
	MaxWait time.Duration
}

// NewBodyBudget returns a budget whose large lane holds n bytes; n below
// MaxReviewBytes is raised to it, so that one review of the largest
// allowed size still fits.
func NewBodyBudget(n int64) *BodyBudget {
	n = max(n, MaxReviewBytes)
	return &BodyBudget{small: semaphore.NewWeighted(defaultSmallLane), large: semaphore.NewWeighted(n), MaxWait: defaultBudgetWait}
}

// charge is what one body holds of the budget.
type charge struct {
	b *BodyBudget
	// declared is the body's Content-Length, <= 0 when unknown.
	declared int64
	// read is the bytes charged so far; small and large what each lane
	// holds for them (large is reserved ahead).
	read, small, large int64
	// waitUntil ends the time the body may spend waiting for the budget.
	waitUntil time.Time
}

// add charges n more bytes of the body.
func (c *charge) add(ctx context.Context, n int64) error {
	if c.b == nil || n <= 0 {
		return nil
	}
	ctx, cancel := context.WithDeadline(ctx, c.waitUntil)
	defer cancel()
	if toSmall := min(n, max(smallReviewBytes-c.read, 0)); toSmall > 0 {
		if !c.b.small.TryAcquire(toSmall) {
			if err := c.b.small.Acquire(ctx, toSmall); err != nil {
				return errBusy
			}
		}
		c.small += toSmall
	}
	c.read += n
	if beyond := c.read - smallReviewBytes; beyond > c.large {
		// The first time: the rest of the declared length, capped by the
		// largest body read (limit+1, so that one byte too many is seen).
		want := int64(MaxReviewBytes+1) - smallReviewBytes
		if c.declared > 0 {
			want = min(want, c.declared-smallReviewBytes)
		}
		want = max(want, beyond) - c.large
		if !c.b.large.TryAcquire(want) {
			if err := c.b.large.Acquire(ctx, want); err != nil {
				return errBusy
			}
		}
		c.large += want
	}
	return nil
}

func (c *charge) release() {
	if c.b == nil {
		return
	}
	if c.small > 0 {
		c.b.small.Release(c.small)
	}
	if c.large > 0 {
		c.b.large.Release(c.large)
	}
	c.small, c.large = 0, 0
}

// readBody reads r into buf, up to limit+1 bytes, charging each chunk to
// the budget once it has arrived. The caller releases the charge once the
// body and what was decoded from it are gone.
//
// The buffer grows with what arrives while the body is in the small lane;
// once its large share is reserved it grows to the declared length at
// once, which the reservation covers, instead of doubling its way there
// (two copies and garbage of about twice the body).
func (b *BodyBudget) readBody(ctx context.Context, r io.Reader, buf *bytes.Buffer, declared, limit int64) (*charge, error) {
	c := &charge{b: b, declared: declared}
	if b != nil {
		c.waitUntil = time.Now().Add(b.MaxWait)
	}
	r = io.LimitReader(r, limit+1)
	for {
		if buf.Available() < budgetChunk {
			want := budgetChunk
			if c.large > 0 && declared > int64(buf.Len()) {
				want = max(want, int(declared-int64(buf.Len()))+1)
			}
			buf.Grow(want)
		}
		p := buf.AvailableBuffer()
		p = p[:min(cap(p), budgetChunk)]
		n, err := r.Read(p)
		buf.Write(p[:n])
		if cerr := c.add(ctx, int64(n)); cerr != nil {
			return c, cerr
		}
		if err == io.EOF {
			return c, nil
		}
		if err != nil {
			return c, err
		}
	}
}
