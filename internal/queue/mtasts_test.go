package queue

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
)

const enforcePolicy = "version: STSv1\r\nmode: enforce\r\nmx: mx.remote.example\r\nmx: *.backup.example\r\nmax_age: 86400\r\n"

// stsSetup is remote.example with one MX host (mx.remote.example, the
// fake MX with cert), an MTA-STS record with id and a policy server.
type stsSetup struct {
	ca     *testCA
	mx     *fakeMX
	zone   *zone
	policy *policyServer
	env    *testEnv
}

func newSTSSetup(t *testing.T, mxCert func(*testCA) tls.Certificate, policy string) *stsSetup {
	t.Helper()
	s := &stsSetup{ca: newTestCA(t)}
	s.mx = startTLSMX(t, mxCert(s.ca))
	s.zone = startZone(t,
		"remote.example. 300 IN MX 10 mx.remote.example.",
		"mx.remote.example. 300 IN A 127.0.0.1",
		`_mta-sts.remote.example. 300 IN TXT "v=STSv1; id=20260101"`,
	)
	s.policy = startPolicyServer(t, s.ca, "remote.example")
	s.policy.set("remote.example", policy)
	s.env = newTestEnv(t, s.zone.addr, port(t, s.mx.addr), func(o *Options) {
		o.MTASTS = true
		o.HTTPClient = s.policy.client(s.ca)
		o.RootCAs = s.ca.pool
	})
	return s
}

// lastError waits for a failed attempt and returns its reason.
func (e *testEnv) lastError(t *testing.T) string {
	t.Helper()
	var last string
	eventually(t, "a failed attempt", func() bool {
		envs, _ := e.q.List(context.Background())
		if len(envs) == 1 && envs[0].LastError != "" {
			last = envs[0].LastError
			return true
		}
		return false
	})
	return last
}

func TestMTASTSEnforceDeliversOverVerifiedTLS(t *testing.T) {
	s := newSTSSetup(t, func(ca *testCA) tls.Certificate { return ca.issue(t, "mx.remote.example") }, enforcePolicy)
	s.env.enqueue(t, "sender@local.example", "a@remote.example")
	eventually(t, "delivery", func() bool { return len(s.mx.received()) == 1 })
	s.mx.mu.Lock()
	defer s.mx.mu.Unlock()
	if s.mx.gotTLS != 1 {
		t.Errorf("delivered without TLS")
	}
}

func TestMTASTSEnforceRefusesBadCertificate(t *testing.T) {
	for name, cert := range map[string]func(*testCA) tls.Certificate{
		"self-signed": func(*testCA) tls.Certificate { return (*testCA)(nil).issue(t, "mx.remote.example") },
		"wrong name":  func(ca *testCA) tls.Certificate { return ca.issue(t, "other.example") },
	} {
		t.Run(name, func(t *testing.T) {
			s := newSTSSetup(t, cert, enforcePolicy)
			s.env.enqueue(t, "sender@local.example", "a@remote.example")
			got := s.env.lastError(t)
			if !strings.Contains(got, "MTA-STS policy of remote.example requires TLS") || !strings.Contains(got, "certificate") {
				t.Errorf("last error = %q", got)
			}
			if n := len(s.mx.received()); n != 0 {
				t.Errorf("%d copies delivered despite the policy", n)
			}
			if n := len(s.env.inbox(t)); n != 0 {
				t.Errorf("a temporary failure bounced")
			}
		})
	}
}

func TestMTASTSEnforceMXNotInPolicy(t *testing.T) {
	s := newSTSSetup(t, func(ca *testCA) tls.Certificate { return ca.issue(t, "mx.remote.example") },
		"version: STSv1\nmode: enforce\nmx: mail.remote.example\nmax_age: 86400\n")
	s.env.enqueue(t, "sender@local.example", "a@remote.example")
	got := s.env.lastError(t)
	if !strings.Contains(got, "matches its MTA-STS policy") || !strings.Contains(got, "mail.remote.example") {
		t.Errorf("last error = %q", got)
	}
	if n := len(s.mx.received()); n != 0 {
		t.Errorf("delivered to an MX host the policy does not name")
	}
}

func TestMTASTSTestingModeDelivers(t *testing.T) {
	s := newSTSSetup(t, func(*testCA) tls.Certificate { return (*testCA)(nil).issue(t, "mx.remote.example") },
		"version: STSv1\nmode: testing\nmx: elsewhere.example\nmax_age: 86400\n")
	s.env.enqueue(t, "sender@local.example", "a@remote.example")
	eventually(t, "delivery", func() bool { return len(s.mx.received()) == 1 })
}

func TestMTASTSCacheAndRefresh(t *testing.T) {
	s := newSTSSetup(t, func(ca *testCA) tls.Certificate { return ca.issue(t, "mx.remote.example") }, enforcePolicy)
	s.env.enqueue(t, "sender@local.example", "a@remote.example")
	eventually(t, "delivery", func() bool { return len(s.mx.received()) == 1 })
	s.env.enqueue(t, "sender@local.example", "b@remote.example")
	eventually(t, "delivery", func() bool { return len(s.mx.received()) == 2 })
	if n := s.policy.count(); n != 1 {
		t.Errorf("policy fetched %d times with an unchanged id, want 1", n)
	}

	// A new policy that no longer names the MX host, under a new id:
	// fetched again and enforced.
	s.policy.set("remote.example", "version: STSv1\nmode: enforce\nmx: new.remote.example\nmax_age: 86400\n")
	s.zone.set(t, `_mta-sts.remote.example. 300 IN TXT "v=STSv1; id=20260202"`)
	s.env.enqueue(t, "sender@local.example", "c@remote.example")
	got := s.env.lastError(t)
	if !strings.Contains(got, "new.remote.example") {
		t.Errorf("last error = %q", got)
	}
	if n := s.policy.count(); n != 2 {
		t.Errorf("policy fetched %d times, want 2", n)
	}

	// The record disappears: the cached policy still holds until its
	// max_age runs out.
	s.zone.set(t, `_mta-sts.remote.example. 300 IN TXT "unrelated"`)
	envs, _ := s.env.q.List(context.Background())
	before := envs[0].Attempts
	eventually(t, "two more attempts", func() bool {
		envs, _ := s.env.q.List(context.Background())
		return len(envs) == 1 && envs[0].Attempts >= before+2 && envs[0].LeaseOwner == ""
	})
	if n := len(s.mx.received()); n != 2 {
		t.Errorf("delivered against the cached policy")
	}
}

func TestMTASTSUnreachablePolicyMeansNoPolicy(t *testing.T) {
	// A record but no policy file (404): deliver as without MTA-STS,
	// even to a host with a self-signed certificate.
	s := newSTSSetup(t, func(*testCA) tls.Certificate { return (*testCA)(nil).issue(t, "mx.remote.example") }, "")
	s.policy.mu.Lock()
	delete(s.policy.policy, "remote.example")
	s.policy.mu.Unlock()
	s.env.enqueue(t, "sender@local.example", "a@remote.example")
	eventually(t, "delivery", func() bool { return len(s.mx.received()) == 1 })
}

// restart stops the runner and starts a new one (a new process: nothing
// in memory) on the same store, as node.
func (e *testEnv) restart(t *testing.T, node string) {
	t.Helper()
	e.cancel()
	<-e.done
	opts := e.runner.opts
	opts.Node = node
	e.runner = New(opts)
	rctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan struct{})
	done := e.done
	go func() { e.runner.Run(rctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestMTASTSPolicyKeptAcrossRestart: a process started after the one
// that fetched the policy (on this node or another) uses the stored
// policy instead of fetching it again, and enforces it.
func TestMTASTSPolicyKeptAcrossRestart(t *testing.T) {
	s := newSTSSetup(t, func(ca *testCA) tls.Certificate { return ca.issue(t, "mx.remote.example") }, enforcePolicy)
	s.env.enqueue(t, "sender@local.example", "a@remote.example")
	eventually(t, "delivery", func() bool { return len(s.mx.received()) == 1 })
	stored, err := s.env.st.MTASTSPolicy(context.Background(), "remote.example")
	if err != nil || stored.ID != "20260101" || stored.Policy != enforcePolicy {
		t.Fatalf("stored policy = %+v, %v", stored, err)
	}

	for _, node := range []string{"same-node", "other-node"} {
		s.env.restart(t, node)
		s.env.enqueue(t, "sender@local.example", node+"@remote.example")
		eventually(t, "delivery after a restart", func() bool { return strings.Contains(strings.Join(s.mx.received(), "\n"), node+"@remote.example") })
	}
	if n := s.policy.count(); n != 1 {
		t.Errorf("policy fetched %d times over three processes, want 1", n)
	}

	// The stored policy is enforced by a new process: with the policy
	// server gone (no policy could be fetched), an MX host the policy
	// does not name is refused.
	s.policy.srv.Close()
	s.zone.set(t, "remote.example. 300 IN MX 10 mx2.remote.example.", "mx2.remote.example. 300 IN A 127.0.0.1")
	s.env.restart(t, "third")
	s.env.enqueue(t, "sender@local.example", "d@remote.example")
	if got := s.env.lastError(t); !strings.Contains(got, "matches its MTA-STS policy") {
		t.Errorf("last error = %q, want the stored policy enforced", got)
	}
}

// TestMTASTSPolicyFetchedByOtherNode: a node that has an older policy in
// memory, seeing a new id, uses the new policy another node fetched.
func TestMTASTSPolicyFetchedByOtherNode(t *testing.T) {
	s := newSTSSetup(t, func(ca *testCA) tls.Certificate { return ca.issue(t, "mx.remote.example") }, enforcePolicy)
	s.env.enqueue(t, "sender@local.example", "a@remote.example")
	eventually(t, "delivery", func() bool { return len(s.mx.received()) == 1 })

	s.policy.set("remote.example", "version: STSv1\nmode: enforce\nmx: new.remote.example\nmax_age: 86400\n")
	s.zone.set(t, `_mta-sts.remote.example. 300 IN TXT "v=STSv1; id=20260202"`)
	opts := s.env.runner.opts
	opts.Node = "node-b"
	nodeB := New(opts)
	if p := nodeB.stsPolicy(context.Background(), "remote.example"); p == nil || len(p.MX) != 1 || p.MX[0] != "new.remote.example" {
		t.Fatalf("node B's policy = %+v", p)
	}
	if n := s.policy.count(); n != 2 {
		t.Fatalf("policy fetched %d times, want 2", n)
	}

	// Node A (the running engine) still has the old policy in memory.
	s.env.enqueue(t, "sender@local.example", "c@remote.example")
	if got := s.env.lastError(t); !strings.Contains(got, "new.remote.example") {
		t.Errorf("node A's last error = %q, want the new policy's MX host", got)
	}
	if n := s.policy.count(); n != 2 {
		t.Errorf("policy fetched %d times, want 2 (node A used node B's)", n)
	}
}
