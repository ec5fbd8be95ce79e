package web

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/store"
)

type queueRow struct {
	delivery.QueueEnvelope
	// Leased is set while a delivery engine works on the message.
	Leased bool
}

type queueData struct {
	// Off is set when this server has no queue to show.
	Off  bool
	Rows []queueRow
}

func (s *Server) adminQueue(w http.ResponseWriter, r *http.Request, q *req) {
	p := page{}
	switch r.URL.Query().Get("m") {
	case "retry":
		p.Flash = q.lang.T("queue.retried")
	case "drop":
		p.Flash = q.lang.T("queue.dropped")
	}
	s.showQueue(w, r, q, http.StatusOK, p)
}

func (s *Server) showQueue(w http.ResponseWriter, r *http.Request, q *req, status int, p page) {
	d := queueData{Off: s.o.Queue == nil}
	if s.o.Queue != nil {
		envs, err := s.o.Queue.List(r.Context())
		if err != nil {
			s.internal(w, r, fmt.Errorf("list queue: %w", err))
			return
		}
		now := s.o.Now()
		for _, e := range envs {
			d.Rows = append(d.Rows, queueRow{QueueEnvelope: e, Leased: e.LeaseOwner != "" && e.LeaseUntil.After(now)})
		}
	}
	p.Data = d
	s.render(w, r, q, status, "admin_queue", "queue.title", p)
}

// queued finds a queued message by its id.
func (s *Server) queued(r *http.Request, id string) (delivery.QueueEnvelope, error) {
	envs, err := s.o.Queue.List(r.Context())
	if err != nil {
		return delivery.QueueEnvelope{}, fmt.Errorf("list queue: %w", err)
	}
	for _, e := range envs {
		if e.ID == id {
			return e, nil
		}
	}
	return delivery.QueueEnvelope{}, store.ErrNotFound
}

// adminQueueRetry makes one queued message (or, with all=1, every one) due
// now, as "pochta queue retry" does.
func (s *Server) adminQueueRetry(w http.ResponseWriter, r *http.Request, q *req) {
	if s.o.Queue == nil {
		s.fail(w, r, http.StatusNotFound, "err.notfound")
		return
	}
	var envs []delivery.QueueEnvelope
	if r.PostFormValue("all") == "1" {
		all, err := s.o.Queue.List(r.Context())
		if err != nil {
			s.internal(w, r, fmt.Errorf("list queue: %w", err))
			return
		}
		envs = all
	} else {
		e, err := s.queued(r, r.PostFormValue("id"))
		if errors.Is(err, store.ErrNotFound) {
			s.fail(w, r, http.StatusNotFound, "err.notfound")
			return
		} else if err != nil {
			s.internal(w, r, err)
			return
		}
		envs = []delivery.QueueEnvelope{e}
	}
	now := s.o.Now().UTC()
	for _, e := range envs {
		e.NextAttempt = now
		if err := s.o.Queue.Update(r.Context(), e); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.internal(w, r, fmt.Errorf("retry %s: %w", e.ID, err))
			return
		}
	}
	if s.o.WakeQueue != nil {
		s.o.WakeQueue()
	}
	s.o.Logger.Info("queue retry on the web", "messages", len(envs), "by", q.account.Address)
	http.Redirect(w, r, "/admin/queue?m=retry", http.StatusSeeOther)
}

// adminQueueDrop removes a queued message without telling its sender, as
// "pochta queue drop" does.
func (s *Server) adminQueueDrop(w http.ResponseWriter, r *http.Request, q *req) {
	if s.o.Queue == nil {
		s.fail(w, r, http.StatusNotFound, "err.notfound")
		return
	}
	e, err := s.queued(r, r.PostFormValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, http.StatusNotFound, "err.notfound")
		return
	} else if err != nil {
		s.internal(w, r, err)
		return
	}
	if err := s.o.Queue.Remove(r.Context(), e.ID); err != nil {
		s.internal(w, r, fmt.Errorf("drop %s: %w", e.ID, err))
		return
	}
	s.o.Logger.Info("queued message dropped on the web", "queue_id", e.ID, "from", e.From, "to", strings.Join(e.To, ","), "by", q.account.Address)
	http.Redirect(w, r, "/admin/queue?m=drop", http.StatusSeeOther)
}

type serverSettingsData struct {
	// Policy is "" (the configuration's), "secure" or "plaintext".
	Policy           string
	ConfigPlaintext  bool
	NewPOP3, NewIMAP bool
	Admins           []string
}

func (s *Server) adminSettings(w http.ResponseWriter, r *http.Request, q *req) {
	m, err := s.o.Store.ServerSettings(r.Context())
	if err != nil {
		s.internal(w, r, fmt.Errorf("server settings: %w", err))
		return
	}
	d := serverSettingsData{ConfigPlaintext: s.o.Config.Auth.AllowPlaintext, Admins: s.o.Config.Web.Admins,
		NewPOP3: store.BoolSetting(m, store.SettingNewPOP3, true), NewIMAP: store.BoolSetting(m, store.SettingNewIMAP, true)}
	switch m[store.SettingAllowPlaintext] {
	case "true":
		d.Policy = string(store.PolicyPlaintext)
	case "false":
		d.Policy = string(store.PolicySecure)
	}
	p := page{Data: d}
	if r.URL.Query().Get("m") == "done" {
		p.Flash = q.lang.T("admin.done")
	}
	s.render(w, r, q, http.StatusOK, "admin_settings", "srv.title", p)
}

// adminSettingsPost saves the server-wide switches; they override the
// configuration file from the next login (policy) or the next account
// made (protocols).
func (s *Server) adminSettingsPost(w http.ResponseWriter, r *http.Request, q *req) {
	policy := ""
	switch r.PostFormValue("policy") {
	case "":
	case string(store.PolicySecure):
		policy = store.FormatBool(false)
	case string(store.PolicyPlaintext):
		policy = store.FormatBool(true)
	default:
		s.fail(w, r, http.StatusBadRequest, "err.badrequest")
		return
	}
	for _, kv := range [][2]string{
		{store.SettingAllowPlaintext, policy},
		{store.SettingNewPOP3, store.FormatBool(r.PostFormValue("new_pop3") == "on")},
		{store.SettingNewIMAP, store.FormatBool(r.PostFormValue("new_imap") == "on")},
	} {
		if err := s.o.Store.SetServerSetting(r.Context(), kv[0], kv[1]); err != nil {
			s.internal(w, r, fmt.Errorf("save server settings: %w", err))
			return
		}
	}
	s.o.Logger.Info("server settings changed on the web", "allow_plaintext", policy, "new_pop3", r.PostFormValue("new_pop3") == "on",
		"new_imap", r.PostFormValue("new_imap") == "on", "by", q.account.Address)
	http.Redirect(w, r, "/admin/settings?m=done", http.StatusSeeOther)
}
