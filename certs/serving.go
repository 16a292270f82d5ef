package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
)

// Serving is the webhook server's certificate: the pair of files at
// CertPath and KeyPath, loaded and reloaded on change by controller-
// runtime's certwatcher. Unlike the server's own watcher, it does not need
// the files to exist when the server starts: until they do, TLS handshakes
// fail and ReadyCheck reports not ready.
//
// It is a controller-runtime Runnable; set its GetCertificate on the
// server's tls.Config (TLSOption).
type Serving struct {
	CertPath, KeyPath string
	Log               logr.Logger

	mu      sync.Mutex
	watcher *certwatcher.CertWatcher
	// wake makes Start look for the files again at once.
	wake chan struct{}
	// writeMu serialises Write.
	writeMu sync.Mutex
}

// NewServing returns the Serving of the certificate and key files.
func NewServing(certPath, keyPath string, log logr.Logger) *Serving {
	return &Serving{CertPath: certPath, KeyPath: keyPath, Log: log, wake: make(chan struct{}, 1)}
}

var errNoCertificate = errors.New("no serving certificate loaded yet")

// GetCertificate is the tls.Config callback.
func (s *Serving) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	w := s.current()
	if w == nil {
		return nil, errNoCertificate
	}
	return w.GetCertificate(hello)
}

// TLSOption sets GetCertificate on a server's tls.Config.
func (s *Serving) TLSOption(c *tls.Config) { c.GetCertificate = s.GetCertificate }

func (s *Serving) current() *certwatcher.CertWatcher {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.watcher
}

// NeedLeaderElection is false: every replica serves.
func (s *Serving) NeedLeaderElection() bool { return false }

// Start waits for the files, then watches them until ctx ends.
func (s *Serving) Start(ctx context.Context) error {
	logged := false
	for {
		w, err := certwatcher.New(s.CertPath, s.KeyPath)
		if err == nil {
			w.RegisterCallback(observe)
			if c, _ := w.GetCertificate(nil); c != nil {
				observe(*c)
			}
			s.mu.Lock()
			s.watcher = w
			s.mu.Unlock()
			s.Log.Info("serving certificate loaded", "cert", s.CertPath)
			return w.Start(ctx)
		}
		if !logged {
			s.Log.Info("waiting for the serving certificate", "cert", s.CertPath, "key", s.KeyPath, "reason", err.Error())
			logged = true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-time.After(time.Second):
		}
	}
}

// observe records a newly loaded certificate in the expiry gauge.
func observe(c tls.Certificate) {
	if c.Leaf != nil {
		ExpiryTimestamp.Set(float64(c.Leaf.NotAfter.Unix()))
	}
}

// ReadyCheck fails while no certificate is loaded or the loaded one has
// expired.
func (s *Serving) ReadyCheck(*http.Request) error {
	w := s.current()
	if w == nil {
		return fmt.Errorf("%w (%s)", errNoCertificate, s.CertPath)
	}
	c, _ := w.GetCertificate(nil)
	if c == nil || c.Leaf == nil {
		return fmt.Errorf("%w (%s)", errNoCertificate, s.CertPath)
	}
	if time.Now().After(c.Leaf.NotAfter) {
		return fmt.Errorf("the serving certificate %s expired at %s", s.CertPath, c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// Write replaces the files with certPEM and keyPEM, when they differ, and
// loads them at once. Each file is replaced atomically (a rename), the two
// back to back; a watcher event between the two renames sees a mismatched
// pair, which certwatcher rejects, keeping the previous certificate until
// the reload here.
func (s *Serving) Write(certPEM, keyPEM []byte) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if sameContent(s.CertPath, certPEM) && sameContent(s.KeyPath, keyPEM) {
		return nil
	}
	var tmps []string
	defer func() {
		for _, t := range tmps {
			os.Remove(t)
		}
	}()
	stage := func(path string, data []byte) (string, error) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", err
		}
		f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-")
		if err != nil {
			return "", err
		}
		tmps = append(tmps, f.Name())
		if _, err := f.Write(data); err != nil {
			f.Close()
			return "", err
		}
		return f.Name(), f.Close()
	}
	keyTmp, err := stage(s.KeyPath, keyPEM)
	if err != nil {
		return fmt.Errorf("writing the serving key: %w", err)
	}
	certTmp, err := stage(s.CertPath, certPEM)
	if err != nil {
		return fmt.Errorf("writing the serving certificate: %w", err)
	}
	if err := os.Rename(keyTmp, s.KeyPath); err != nil {
		return err
	}
	if err := os.Rename(certTmp, s.CertPath); err != nil {
		return err
	}
	if w := s.current(); w != nil {
		return w.ReadCertificate()
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

func sameContent(path string, data []byte) bool {
	cur, err := os.ReadFile(path)
	return err == nil && bytes.Equal(cur, data)
}
