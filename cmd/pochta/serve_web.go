package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/web"
)

// webShared is the state of the web pages that exists before the
// listeners: the sign-in recorder fed by the Authenticator, the metrics,
// and the listeners as they really listen. Sessions and the sign-in log
// live in the store.
type webShared struct {
	metrics  *web.Metrics
	recorder *web.SignInRecorder
	srv      *web.Server

	mu      sync.Mutex
	serving []config.Listener
	// queueSize is set once the SMTP state (and its queue) exists.
	queueSize func(ctx context.Context) (int, error)
}

// newWebShared makes the web state. openConns counts the mail
// connections for /metrics.
func newWebShared(st store.Store, primary string, openConns func() int, log *slog.Logger) *webShared {
	w := &webShared{}
	w.metrics = web.NewMetrics(web.MetricsOptions{
		OpenConnections: openConns,
		QueueSize: func() int {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			n, err := w.queueLen(ctx)
			if err != nil {
				return -1
			}
			return n
		},
	})
	w.recorder = &web.SignInRecorder{Store: st, PrimaryDomain: primary, Metrics: w.metrics, Logger: log}
	return w
}

// setServing records the listeners that serve, with their real addresses.
func (w *webShared) setServing(ls []config.Listener) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.serving = append([]config.Listener(nil), ls...)
}

func (w *webShared) listeners() []config.Listener {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]config.Listener(nil), w.serving...)
}

func (w *webShared) queueLen(ctx context.Context) (int, error) {
	w.mu.Lock()
	f := w.queueSize
	w.mu.Unlock()
	if f == nil {
		return 0, nil
	}
	return f(ctx)
}

// webServer returns the server for the http, https and metrics listeners;
// all share one web.Server.
func (s *services) webServer(l config.Listener) protocolServer {
	w := s.web
	if w.srv == nil {
		var q delivery.Queue
		var wake func()
		if st, err := s.smtpState(); err == nil {
			w.mu.Lock()
			w.queueSize = func(ctx context.Context) (int, error) {
				env, err := st.queue.List(ctx)
				return len(env), err
			}
			w.mu.Unlock()
			q, wake = st.queue, st.runner.Wake
		}
		srv, err := web.New(web.Options{
			Config: s.cfg, Store: s.store, Auth: s.auth,
			HashParams: hashParams(s.cfg),
			Metrics:    w.metrics,
			Listeners:  w.listeners,
			TLSConfig:  s.tls.TLSConfig(),
			Certificate: func() (time.Time, bool) {
				if leaf := s.tls.Leaf(); leaf != nil {
					return leaf.NotAfter, s.tls.SelfSigned()
				}
				return time.Time{}, s.tls.SelfSigned()
			},
			QueueSize:       w.queueLen,
			Queue:           q,
			WakeQueue:       wake,
			OpenConnections: s.limiter.Open,
			DKIM:            s.dkim,
			MetricsOnWeb:    s.cfg.Listen.Metrics == "",
			Logger:          s.log.With("service", "web"),
		})
		if err != nil {
			s.log.Error("web pages not served", "err", err)
			return nil
		}
		w.srv = srv
	}
	h := w.srv.Handler()
	if l.Name == "metrics" {
		h = w.srv.MetricsHandler()
	}
	return &webListener{srv: w.srv, h: h, implicitTLS: l.ImplicitTLS}
}

// webListener serves one web listener.
type webListener struct {
	srv         *web.Server
	h           http.Handler
	implicitTLS bool
}

// Serve implements protocolServer.
func (p *webListener) Serve(ctx context.Context, ln net.Listener) error {
	return p.srv.Serve(ctx, ln, p.implicitTLS, p.h)
}
