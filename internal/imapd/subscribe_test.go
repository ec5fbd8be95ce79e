package imapd

import (
	"strings"
	"testing"
)

// listed reports whether a LIST or LSUB response names exactly name.
func listed(u []string, name string) bool {
	for _, l := range u {
		if strings.HasSuffix(l, `"/" "`+name+`"`) || strings.Contains(l, `"/" "`+name+`" (`) {
			return true
		}
	}
	return false
}

// A subscription is a name: SUBSCRIBE takes a name no folder has, CREATE
// does not subscribe, DELETE keeps the subscription and RENAME leaves it
// with the old name (RFC 3501 §6.3.6, RFC 9051 §6.3.6-6.3.7). The name
// shows in LSUB and, marked \NonExistent, in LIST (SUBSCRIBED). Found by
// imaptest's subscribe and listext scripts.
func TestSubscriptionsAreNames(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login()
	c.ok("SUBSCRIBE Later/Maybe")
	mustHave(t, c.ok(`LSUB "" "Later/*"`), `* LSUB () "/" "Later/Maybe"`)
	u := c.ok(`LIST (SUBSCRIBED) "" "Later/*"`)
	mustHave(t, u, `"Later/Maybe"`, `\Subscribed`, `\NonExistent`)
	if has(u, `\Noselect`) {
		t.Errorf("a subscription without a folder is listed \\Noselect: %q", u)
	}
	if has(c.ok(`LIST "" "Later*"`), "Later") {
		t.Error("plain LIST shows a subscribed name that is no folder")
	}

	c.ok("CREATE Work")
	if has(c.ok(`LSUB "" "*"`), `"Work"`) {
		t.Error("CREATE subscribed the new folder")
	}
	c.ok("SUBSCRIBE Work")
	c.ok("RENAME Work Jobs")
	u = c.ok(`LSUB "" "*"`)
	mustHave(t, u, `* LSUB () "/" "Work"`)
	if has(u, `"Jobs"`) {
		t.Errorf("RENAME moved the subscription: %q", u)
	}
	mustHave(t, c.ok(`LIST (SUBSCRIBED) "" "Work"`), `\NonExistent`)

	c.ok("SUBSCRIBE Jobs")
	c.ok("DELETE Jobs")
	mustHave(t, c.ok(`LSUB "" "Jobs"`), `* LSUB () "/" "Jobs"`)
	c.ok("UNSUBSCRIBE Jobs")
	c.ok("UNSUBSCRIBE Jobs") // not subscribed: still fine
	if has(c.ok(`LSUB "" "*"`), `"Jobs"`) {
		t.Error("UNSUBSCRIBE of a deleted folder's name did not remove it")
	}
	c.expect(`SUBSCRIBE "a*b"`, "NO")
	// INBOX in any case.
	c.ok("UNSUBSCRIBE inbox")
	if has(c.ok(`LSUB "" "*"`), "INBOX") {
		t.Error(`UNSUBSCRIBE inbox left INBOX subscribed`)
	}
	c.ok("SUBSCRIBE Inbox")
	mustHave(t, c.ok(`LSUB "" "*"`), `* LSUB () "/" "INBOX"`)
}

// LSUB with "%" shows an unsubscribed parent of a subscribed child as
// \Noselect (RFC 3501 §6.3.9), and not once the child is unsubscribed.
func TestLsubParentOfSubscribedChild(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login()
	c.ok("CREATE Work/Reports")
	c.ok("SUBSCRIBE Work/Reports")
	c.ok("SUBSCRIBE Ideas/Someday")
	u := c.ok(`LSUB "" "%"`)
	mustHave(t, u, `* LSUB (\Noselect) "/" "Work"`, `* LSUB (\Noselect) "/" "Ideas"`)
	if has(u, "Work/Reports") || has(u, "Ideas/Someday") {
		t.Errorf(`LSUB "%%" shows a second level: %q`, u)
	}
	c.ok("SUBSCRIBE Work")
	mustHave(t, c.ok(`LSUB "" "%"`), `* LSUB () "/" "Work"`)
	c.ok("UNSUBSCRIBE Work")
	c.ok("UNSUBSCRIBE Work/Reports")
	if has(c.ok(`LSUB "" "%"`), `"Work"`) {
		t.Error("LSUB shows Work with no subscription below it")
	}
	u = c.ok(`LSUB "" "*"`)
	mustHave(t, u, `* LSUB () "/" "Ideas/Someday"`)
	if has(u, `"Ideas"`) {
		t.Errorf(`LSUB "*" shows the parent of a matched child: %q`, u)
	}
}

// LIST (SUBSCRIBED RECURSIVEMATCH) names a parent with CHILDINFO only when
// a subscribed descendant is not matched itself (RFC 5258 §3.5), and
// RETURN (SUBSCRIBED) marks exactly the subscribed folders.
func TestListRecursiveMatchChildInfo(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login()
	for _, n := range []string{"A", "A/One", "A/Two", "B", "B/B", "C"} {
		c.ok("CREATE " + n)
	}
	c.ok("SUBSCRIBE A/Two")
	c.ok("SUBSCRIBE B/B")
	u := c.ok(`LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (CHILDREN)`)
	mustHave(t, u, `* LIST (\HasChildren) "/" "A" ("CHILDINFO" ("SUBSCRIBED"))`, `"B" ("CHILDINFO" ("SUBSCRIBED"))`)
	if listed(u, "C") || listed(u, "A/Two") {
		t.Errorf("LIST (SUBSCRIBED RECURSIVEMATCH) %%: %q", u)
	}
	u = c.ok(`LIST (SUBSCRIBED RECURSIVEMATCH) "" "*B"`)
	mustHave(t, u, `\Subscribed \HasNoChildren) "/" "B/B"`)
	if listed(u, "B") {
		t.Errorf("a parent whose subscribed child matches is listed too: %q", u)
	}
	if has(c.ok(`LIST (SUBSCRIBED) "" "%"`), `"A"`) {
		t.Error("LIST (SUBSCRIBED) without RECURSIVEMATCH lists an unsubscribed parent")
	}
	u = c.ok(`LIST "" "%" RETURN (SUBSCRIBED)`)
	mustHave(t, u, `* LIST (\Subscribed \HasNoChildren) "/" "INBOX"`, `* LIST (\HasChildren) "/" "A"`, `* LIST (\HasNoChildren) "/" "C"`)
}
