package webhook

import (
	"context"

	"golang.org/x/sync/semaphore"
)

// DefaultBodyBudget is how many bytes of review bodies the server holds at
// once by default. Decoding a review allocates about as much again as its
// body (the request's strings, the objects as far as the rules read them,
// the response), so the worst case of a flood of maximal reviews is about
// twice this above the server's steady state: 64 MiB, well inside the
// 256 MiB limit of deploy/. Ordinary reviews are 2-30 KB, so the budget
// admits a thousand of them at once; the API server sends far fewer.
const DefaultBodyBudget = 32 << 20

// BodyBudget bounds the bytes of review bodies held at once across every
// webhook path. A review takes its Content-Length from the budget before
// its body is read (the limit, maxReviewBytes, when the length is not
// given) and gives it back once answered; a review that cannot get its
// share within its answer deadline is refused with 429.
type BodyBudget struct {
	sem *semaphore.Weighted
	max int64
}

// NewBodyBudget returns a budget of n bytes; n below maxReviewBytes is
// raised to it, so that one review of the largest allowed size still fits.
func NewBodyBudget(n int64) *BodyBudget {
	n = max(n, maxReviewBytes)
	return &BodyBudget{sem: semaphore.NewWeighted(n), max: n}
}

// acquire takes the share of a body of contentLength bytes (<= 0:
// unknown) and returns it, for release.
func (b *BodyBudget) acquire(ctx context.Context, contentLength int64) (int64, error) {
	if b == nil {
		return 0, nil
	}
	n := contentLength
	if n <= 0 || n > maxReviewBytes {
		n = maxReviewBytes
	}
	if err := b.sem.Acquire(ctx, n); err != nil {
		return 0, err
	}
	return n, nil
}

func (b *BodyBudget) release(n int64) {
	if b != nil && n > 0 {
		b.sem.Release(n)
	}
}
