package storetest

import (
	"slices"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// subscriptions lists an account's subscriptions, failing the test on error.
func subscriptions(t *testing.T, s store.Store, accountID int64) []string {
	t.Helper()
	subs, err := s.Subscriptions(ctx(t), accountID)
	if err != nil {
		t.Fatalf("Subscriptions(%d): %v", accountID, err)
	}
	return subs
}

// mustSubscribe sets one subscription.
func mustSubscribe(t *testing.T, s store.Store, accountID int64, name string, on bool) {
	t.Helper()
	if err := s.SetSubscription(ctx(t), accountID, name, on); err != nil {
		t.Fatalf("SetSubscription(%q, %v): %v", name, on, err)
	}
}

// testSubscriptionStandardFolders: a new account is subscribed to its
// standard folders, listed sorted, and a folder made later is not
// subscribed until asked.
func testSubscriptionStandardFolders(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	var want []string
	for _, sf := range store.StandardFolders {
		want = append(want, sf.Name)
	}
	slices.Sort(want)
	if got := subscriptions(t, s, a.ID); !slices.Equal(got, want) {
		t.Errorf("Subscriptions of a new account = %q, want %q", got, want)
	}
	w := mustCreateFolder(t, s, a.ID, "Work")
	if w.Subscribed || folderByID(t, s, w.ID).Subscribed {
		t.Error("a created folder is subscribed")
	}
	if slices.Contains(subscriptions(t, s, a.ID), "Work") {
		t.Error("CreateFolder added a subscription")
	}
}

// testSubscriptionWithoutFolder: any name a folder could have can be
// subscribed, twice without error, and unsubscribed, twice without error.
func testSubscriptionWithoutFolder(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	b := mustAccount(t, s, "maria@example.org")
	before := subscriptions(t, s, a.ID)
	for range 2 {
		mustSubscribe(t, s, a.ID, "Gone/Away", true)
	}
	mustSubscribe(t, s, a.ID, "Работа", true)
	got := subscriptions(t, s, a.ID)
	if !slices.Contains(got, "Gone/Away") || !slices.Contains(got, "Работа") || len(got) != len(before)+2 {
		t.Errorf("Subscriptions = %q, want %q plus Gone/Away and Работа", got, before)
	}
	if !slices.IsSorted(got) {
		t.Errorf("Subscriptions not sorted: %q", got)
	}
	if _, err := s.Folder(ctx(t), a.ID, "Gone/Away"); err == nil {
		t.Error("SetSubscription made a folder")
	}
	if slices.Contains(subscriptions(t, s, b.ID), "Gone/Away") {
		t.Error("another account got the subscription")
	}
	for range 2 {
		mustSubscribe(t, s, a.ID, "Gone/Away", false)
	}
	if slices.Contains(subscriptions(t, s, a.ID), "Gone/Away") {
		t.Error("unsubscribed name still listed")
	}
	// INBOX in any case is the inbox.
	mustSubscribe(t, s, a.ID, "inbox", false)
	if slices.Contains(subscriptions(t, s, a.ID), "INBOX") || inbox(t, s, a.ID).Subscribed {
		t.Error(`unsubscribing "inbox" left INBOX subscribed`)
	}
	mustSubscribe(t, s, a.ID, "Inbox", true)
	if got := subscriptions(t, s, a.ID); !slices.Contains(got, "INBOX") || slices.Contains(got, "Inbox") {
		t.Errorf(`after subscribing "Inbox": %q, want INBOX`, got)
	}
	for _, bad := range []string{"", "a//b", "/a", "x*", "x%", "a\nb"} {
		err := s.SetSubscription(ctx(t), a.ID, bad, true)
		wantErr(t, err, store.ErrInvalid, "SetSubscription("+bad+")")
	}
	err := s.SetSubscription(ctx(t), a.ID+b.ID+1000, "Work", true)
	wantErr(t, err, store.ErrNotFound, "SetSubscription(unknown account)")
}

// testSubscriptionSurvivesDelete: deleting a folder keeps its
// subscription; a folder made again under the name is subscribed.
func testSubscriptionSurvivesDelete(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	w := mustCreateFolder(t, s, a.ID, "Work")
	mustSubscribe(t, s, a.ID, "Work", true)
	if !folderByID(t, s, w.ID).Subscribed {
		t.Fatal("Folder.Subscribed false after SetSubscription")
	}
	if err := s.DeleteFolder(ctx(t), w.ID); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(subscriptions(t, s, a.ID), "Work") {
		t.Error("DeleteFolder removed the subscription")
	}
	if again := mustCreateFolder(t, s, a.ID, "Work"); !folderByID(t, s, again.ID).Subscribed {
		t.Error("a folder re-created under a subscribed name is not subscribed")
	}
}

// testSubscriptionStaysOnRename: a subscription is a name; renaming its
// folder (and the folders below) does not move it.
func testSubscriptionStaysOnRename(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	w := mustCreateFolder(t, s, a.ID, "Work")
	c := mustCreateFolder(t, s, a.ID, "Work/2026")
	mustSubscribe(t, s, a.ID, "Work", true)
	mustSubscribe(t, s, a.ID, "Work/2026", true)
	if err := s.RenameFolder(ctx(t), w.ID, "Jobs"); err != nil {
		t.Fatal(err)
	}
	got := subscriptions(t, s, a.ID)
	if !slices.Contains(got, "Work") || !slices.Contains(got, "Work/2026") || slices.Contains(got, "Jobs") || slices.Contains(got, "Jobs/2026") {
		t.Errorf("Subscriptions after renaming Work to Jobs = %q, want Work and Work/2026 only", got)
	}
	if folderByID(t, s, w.ID).Subscribed || folderByID(t, s, c.ID).Subscribed {
		t.Error("renamed folders are subscribed under their new names")
	}
	// SetSubscribed works on the folder's current name.
	if err := s.SetSubscribed(ctx(t), c.ID, true); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(subscriptions(t, s, a.ID), "Jobs/2026") || !folderByID(t, s, c.ID).Subscribed {
		t.Error("SetSubscribed did not subscribe the folder's current name")
	}
}

// testSubscriptionDeleteAccount: subscriptions go with their account.
func testSubscriptionDeleteAccount(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	mustSubscribe(t, s, a.ID, "Gone/Away", true)
	if err := s.DeleteAccount(ctx(t), a.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Subscriptions(ctx(t), a.ID); err != nil || len(got) != 0 {
		t.Errorf("Subscriptions of a deleted account = %q, %v; want none", got, err)
	}
	b := mustAccount(t, s, "ivan@example.org")
	if slices.Contains(subscriptions(t, s, b.ID), "Gone/Away") {
		t.Error("a new account under the old address inherited a subscription")
	}
}

// testEventsSubscription: a subscription change is a folders event.
func testEventsSubscription(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	sub := subscribe(t, s, a.ID)
	isFolders := func(ev store.Event) bool { return ev.AccountID == a.ID && ev.Kind&store.EventFolders != 0 }
	mustSubscribe(t, s, a.ID, "Gone/Away", true)
	waitEvent(t, sub, "subscribe", isFolders)
	mustSubscribe(t, s, a.ID, "Gone/Away", false)
	waitEvent(t, sub, "unsubscribe", isFolders)
}
