package web

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/pochta-mail/pochta/internal/msgauth"
	"github.com/pochta-mail/pochta/internal/store"
)

// mtaSTS serves the MTA-STS policy (RFC 8461 §3.3) of a local domain to
// requests for https://mta-sts.<domain>/.well-known/mta-sts.txt, when
// [queue] mta_sts_policy publishes one.
func (s *Server) mtaSTS(w http.ResponseWriter, r *http.Request) {
	mode := s.o.Config.Queue.MTASTSPolicy
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	domain, ok := strings.CutPrefix(strings.ToLower(strings.TrimSuffix(host, ".")), "mta-sts.")
	if mode == "" || !ok || domain == "" {
		http.NotFound(w, r)
		return
	}
	_, err := s.o.Store.Domain(r.Context(), domain)
	if errors.Is(err, store.ErrNotFound) {
		http.NotFound(w, r)
		return
	} else if err != nil {
		s.internal(w, r, fmt.Errorf("MTA-STS policy of %s: %w", domain, err))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, msgauth.OwnSTSPolicy(mode, s.o.Config.Hostname).String())
}
