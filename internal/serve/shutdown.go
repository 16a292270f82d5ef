package serve

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
)

// drain turns the first SIGTERM or SIGINT into a graceful shutdown that
// takes the replica out of rotation before it stops serving: readiness
// fails at once (Draining), the webhook keeps answering for delay while the
// endpoints drop the pod, then ctx ends and the manager stops, letting
// in-flight requests finish. A second signal exits at once.
type drain struct {
	draining atomic.Bool
}

func (d *drain) start(parent context.Context, delay time.Duration, log logr.Logger) context.Context {
	ctx, cancel := context.WithCancel(parent)
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		sig := <-signals
		d.draining.Store(true)
		log.Info("shutting down: not ready, still serving", "signal", sig.String(), "delay", delay)
		go func() {
			<-signals
			os.Exit(1)
		}()
		time.Sleep(delay)
		cancel()
	}()
	return ctx
}

// readyCheck fails once draining has begun.
func (d *drain) readyCheck(*http.Request) error {
	if d.draining.Load() {
		return errors.New("shutting down")
	}
	return nil
}
