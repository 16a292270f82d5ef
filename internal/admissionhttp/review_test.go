package admissionhttp

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The handler gets three quarters of the timeout the API server passes;
// without a usable one, of the API server's default of 10s.
func TestAnswerWithin(t *testing.T) {
	for q, want := range map[string]time.Duration{
		"?timeout=2s": 1500 * time.Millisecond, "?timeout=1s": 750 * time.Millisecond,
		"": 7500 * time.Millisecond, "?timeout=bogus": 7500 * time.Millisecond,
		"?timeout=-1s": 7500 * time.Millisecond, "?timeout=1h": 7500 * time.Millisecond,
	} {
		r := httptest.NewRequest(http.MethodPost, "/validate/statefulsets"+q, nil)
		if got := answerWithin(r); got != want {
			t.Errorf("%q: answerWithin = %v, want %v", q, got, want)
		}
	}
}
