package serve

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// Metrics authentication and authorization, as controller-runtime's
// filters.WithAuthenticationAndAuthorization does them (a TokenReview for
// the bearer token, a SubjectAccessReview for the request's verb and
// non-resource path, answers cached 1 minute / 5 minutes allowed / 30
// seconds denied, the same status codes and messages), without linking
// k8s.io/apiserver: that package's delegating authenticator and authorizer
// bring OpenTelemetry, gRPC and CEL, 20 MB of the 57 MB binary, and every
// page of it the process touches counts in its RSS.
const (
	tokenCacheTTL    = time.Minute
	allowCacheTTL    = 5 * time.Minute
	denyCacheTTL     = 30 * time.Second
	reviewTimeout    = 10 * time.Second
	maxCachedReviews = 1024
)

// reviewBackoff is controller-runtime's (from k8s.io/apiserver's
// DefaultAuthWebhookRetryBackoff): 5 tries, from 500ms, factor 1.5.
var reviewBackoff = []time.Duration{500 * time.Millisecond, 750 * time.Millisecond, 1125 * time.Millisecond, 1688 * time.Millisecond}

// metricsAuthFilterProvider is the metrics server's FilterProvider: the
// filter of metricsAuthFilter with a client of the manager's config.
func metricsAuthFilterProvider(cfg *rest.Config, hc *http.Client, audiences []string) (metricsserver.Filter, error) {
	s, err := reviewScheme()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: s, HTTPClient: hc})
	if err != nil {
		return nil, fmt.Errorf("creating the metrics authentication client: %w", err)
	}
	return metricsAuthFilter(c, audiences), nil
}

// metricsAuthFilter returns the filter of the secure metrics endpoint. c
// creates TokenReviews and SubjectAccessReviews (the RBAC of deploy/
// grants both). With audiences, a token is accepted only when the API
// server confirms it was issued for one of them.
func metricsAuthFilter(c client.Client, audiences []string) metricsserver.Filter {
	a := &metricsAuth{c: c, audiences: audiences, tokens: newTTLCache[authenticationv1.UserInfo](), decisions: newTTLCache[bool]()}
	return func(log logr.Logger, handler http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			user, ok, err := a.authenticate(req)
			if err != nil {
				log.Error(err, "Authentication failed")
				http.Error(w, "Authentication failed", http.StatusInternalServerError)
				return
			}
			if !ok {
				log.V(4).Info("Authentication failed")
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			allowed, reason, err := a.authorize(req, user)
			if err != nil {
				msg := fmt.Sprintf("Authorization for user %s failed", user.Username)
				log.Error(err, msg)
				http.Error(w, msg, http.StatusInternalServerError)
				return
			}
			if !allowed {
				msg := fmt.Sprintf("Authorization denied for user %s", user.Username)
				log.V(4).Info(fmt.Sprintf("%s: %s", msg, reason))
				http.Error(w, msg, http.StatusForbidden)
				return
			}
			// The token is the caller's credential, not the handler's.
			req.Header.Del("Authorization")
			handler.ServeHTTP(w, req)
		}), nil
	}
}

type metricsAuth struct {
	c         client.Client
	audiences []string
	tokens    *ttlCache[authenticationv1.UserInfo]
	decisions *ttlCache[bool]
}

// authenticate reviews the request's bearer token; a request without one
// is not authenticated (anonymous access is off).
func (a *metricsAuth) authenticate(req *http.Request) (authenticationv1.UserInfo, bool, error) {
	auth := strings.TrimSpace(req.Header.Get("Authorization"))
	scheme, token, found := strings.Cut(auth, " ")
	token = strings.TrimSpace(token)
	if !found || !strings.EqualFold(scheme, "bearer") || token == "" {
		return authenticationv1.UserInfo{}, false, nil
	}
	key := fmt.Sprintf("%x", sha256.Sum256([]byte(token)))
	if user, ok := a.tokens.get(key); ok {
		return user, user.Username != "", nil
	}
	tr := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: a.audiences}}
	if err := a.create(req.Context(), tr); err != nil {
		return authenticationv1.UserInfo{}, false, err
	}
	user := authenticationv1.UserInfo{}
	// The API server answers with the requested audiences the token is
	// valid for; an authenticator that ignores audiences answers none.
	if tr.Status.Authenticated && (len(a.audiences) == 0 || slices.ContainsFunc(tr.Status.Audiences, func(s string) bool { return slices.Contains(a.audiences, s) })) {
		user = tr.Status.User
	}
	a.tokens.put(key, user, tokenCacheTTL)
	return user, user.Username != "", nil
}

// authorize asks whether user may use the request's method on its path.
func (a *metricsAuth) authorize(req *http.Request, user authenticationv1.UserInfo) (bool, string, error) {
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user.Username, UID: user.UID, Groups: user.Groups,
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: req.URL.Path, Verb: strings.ToLower(req.Method)},
	}}
	if len(user.Extra) > 0 {
		sar.Spec.Extra = map[string]authorizationv1.ExtraValue{}
		for k, v := range user.Extra {
			sar.Spec.Extra[k] = authorizationv1.ExtraValue(v)
		}
	}
	key := fmt.Sprintf("%q %q %q %q %v %v", user.Username, user.UID, req.URL.Path, sar.Spec.NonResourceAttributes.Verb, user.Groups, user.Extra)
	if allowed, ok := a.decisions.get(key); ok {
		return allowed, "cached", nil
	}
	if err := a.create(req.Context(), sar); err != nil {
		return false, "", err
	}
	ttl := denyCacheTTL
	if sar.Status.Allowed {
		ttl = allowCacheTTL
	}
	a.decisions.put(key, sar.Status.Allowed, ttl)
	return sar.Status.Allowed, sar.Status.Reason, nil
}

// create sends a review, retried with reviewBackoff on errors.
func (a *metricsAuth) create(ctx context.Context, obj client.Object) error {
	var err error
	for try := 0; ; try++ {
		rctx, cancel := context.WithTimeout(ctx, reviewTimeout)
		err = a.c.Create(rctx, obj)
		cancel()
		if err == nil || try == len(reviewBackoff) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(reviewBackoff[try]):
		}
	}
}

// ttlCache is a small map of answers that expire; at maxCachedReviews
// entries it is cleared, so that a flood of distinct tokens cannot grow
// it without bound.
type ttlCache[V any] struct {
	mu sync.Mutex
	m  map[string]ttlEntry[V]
}

type ttlEntry[V any] struct {
	v       V
	expires time.Time
}

func newTTLCache[V any]() *ttlCache[V] { return &ttlCache[V]{m: map[string]ttlEntry[V]{}} }

func (c *ttlCache[V]) get(k string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || time.Now().After(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

func (c *ttlCache[V]) put(k string, v V, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedReviews {
		clear(c.m)
	}
	c.m[k] = ttlEntry[V]{v, time.Now().Add(ttl)}
}

// reviewScheme holds the two review kinds, for the filter's client.
func reviewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := authenticationv1.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := authorizationv1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}
