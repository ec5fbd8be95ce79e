package pop3

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// BenchmarkLogin measures a POP3 login on a 5,000-message maildrop:
// connect, USER, PASS (argon2id with cheap test parameters), STAT, QUIT.
// Login lists the maildrop and sizes every message as RETR will send it;
// one message in ten lacks a final line break (RETR adds one) and one in
// fifty is large enough to be kept in a file.
func BenchmarkLogin(b *testing.B) {
	const n = 5000
	e := newEnv(b, envConfig{allowPlaintext: true})
	var want int64
	var ds []store.Delivery
	for i := range n {
		body := fmt.Sprintf("From: a@example.org\r\nSubject: message %d\r\n\r\n%s", i, strings.Repeat("some text of the message\r\n", 40))
		if i%50 == 0 {
			body += strings.Repeat(strings.Repeat("y", 76)+"\r\n", 200<<10/78)
		}
		if i%10 == 3 {
			body += "no final line break"
			want += 2
		}
		want += int64(len(body))
		ds = append(ds, store.Delivery{AccountID: e.acct.ID, Body: strings.NewReader(body)})
	}
	for chunk := range slices.Chunk(ds, 500) {
		if _, err := e.st.DeliverBatch(context.Background(), func(yield func(store.Delivery, error) bool) {
			for _, d := range chunk {
				if !yield(d, nil) {
					return
				}
			}
		}); err != nil {
			b.Fatal(err)
		}
	}
	wantStat := "+OK " + strconv.Itoa(n) + " " + strconv.FormatInt(want, 10)
	for b.Loop() {
		c := e.dial()
		c.login()
		if got := c.cmd("STAT"); got != wantStat {
			b.Fatalf("STAT = %q, want %q", got, wantStat)
		}
		if got := c.cmd("QUIT"); !strings.HasPrefix(got, "+OK") {
			b.Fatalf("QUIT = %q", got)
		}
		c.conn.Close()
	}
}
