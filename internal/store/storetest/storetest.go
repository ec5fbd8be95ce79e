// Package storetest is the conformance suite every store.Store backend must
// pass. A backend's own test calls Run with a function that opens a fresh,
// empty store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := sqlite.Open(context.Background(), sqlite.Options{Dir: t.TempDir()})
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
package storetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// Run runs the whole conformance suite against a backend. Each test is a
// subtest (t.Run) with its own store made by open, which must return a new,
// empty store and register its own cleanup (t.Cleanup) to close and remove
// it. The cleanup must tolerate a store the test closed already: the
// closed-store test calls Close itself. The subtests run in parallel
// (t.Parallel, bounded by go test's -parallel): open is called from
// several goroutines at once, and the stores it returns must not share
// data (each its own folder or database).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	RunGroups(t, open)
}

// RunGroups runs the tests of the suite whose names start with one of
// groups followed by "/" ("Deliver", "Copy", ...), or every test when
// groups is empty: for a backend variant that differs from the one
// already checked in one concern only.
func RunGroups(t *testing.T, open func(t *testing.T) store.Store, groups ...string) {
	for _, tc := range slices.Concat(tests, webTests, outboundTests) {
		if len(groups) > 0 && !slices.ContainsFunc(groups, func(g string) bool { return strings.HasPrefix(tc.name, g+"/") }) {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			if s == nil {
				t.Fatal("open returned a nil store")
			}
			tc.fn(t, s)
		})
	}
}

type test struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

// tests lists every test of the suite, in the order Run runs them.
var tests = []test{
	// Domains.
	{"Domain/CreateLowercase", testDomainCreateLowercase},
	{"Domain/CreateInternational", testDomainCreateInternational},
	{"Domain/CreateInvalid", testDomainCreateInvalid},
	{"Domain/Duplicate", testDomainDuplicate},
	{"Domain/ListSorted", testDomainListSorted},
	{"Domain/NotFound", testDomainNotFound},
	{"Domain/Delete", testDomainDelete},
	{"Domain/DeleteWithAccounts", testDomainDeleteWithAccounts},
	{"Domain/DeleteWithAliases", testDomainDeleteWithAliases},
	{"Domain/CatchAll", testDomainCatchAll},
	{"Domain/LocalPartCaseSensitive", testDomainCaseSensitive},
	{"Domain/CaseInsensitiveAgain", testDomainCaseInsensitiveAgain},

	// Accounts.
	{"Account/CreateInMissingDomain", testAccountCreateInMissingDomain},
	{"Account/CreateInvalidAddress", testAccountCreateInvalidAddress},
	{"Account/Create", testAccountCreate},
	{"Account/StandardFolders", testAccountStandardFolders},
	{"Account/Duplicate", testAccountDuplicate},
	{"Account/ByAddressAnyCase", testAccountByAddressAnyCase},
	{"Account/NotFound", testAccountNotFound},
	{"Account/SettingsRoundTrip", testAccountSettingsRoundTrip},
	{"Account/UpdateFields", testAccountUpdateFields},
	{"Account/ListSorted", testAccountListSorted},
	{"Account/Delete", testAccountDelete},
	{"Account/DeleteKeepsSharedAlias", testAccountDeleteKeepsSharedAlias},

	// Aliases.
	{"Alias/OneTarget", testAliasOneTarget},
	{"Alias/SeveralTargets", testAliasSeveralTargets},
	{"Alias/OtherLocalDomain", testAliasOtherLocalDomain},
	{"Alias/NonLocalDomain", testAliasNonLocalDomain},
	{"Alias/UnknownTarget", testAliasUnknownTarget},
	{"Alias/EqualsAccount", testAliasEqualsAccount},
	{"Alias/Duplicate", testAliasDuplicate},
	{"Alias/Resolve", testAliasResolve},
	{"Alias/AliasesOf", testAliasAliasesOf},
	{"Alias/List", testAliasList},
	{"Alias/Delete", testAliasDelete},

	// App passwords.
	{"AppPassword/CreateList", testAppPasswordCreateList},
	{"AppPassword/Delete", testAppPasswordDelete},
	{"AppPassword/DeleteOtherAccount", testAppPasswordDeleteOtherAccount},
	{"AppPassword/Touch", testAppPasswordTouch},

	// Folders.
	{"Folder/CreateHierarchy", testFolderCreateHierarchy},
	{"Folder/CreateDuplicate", testFolderCreateDuplicate},
	{"Folder/CreateInboxAnyCase", testFolderCreateInboxAnyCase},
	{"Folder/InboxAnyCase", testFolderInboxAnyCase},
	{"Folder/NotFound", testFolderNotFound},
	{"Folder/CreateWithRole", testFolderCreateWithRole},
	{"Folder/Rename", testFolderRename},
	{"Folder/RenameChildren", testFolderRenameChildren},
	{"Folder/RenameChildrenUTF8", testFolderRenameChildrenUTF8},
	{"Folder/RenameUIDValidity", testFolderRenameUIDValidity},
	{"Folder/RenameOntoExisting", testFolderRenameOntoExisting},
	{"Folder/RenameInbox", testFolderRenameInbox},
	{"Folder/RenameIntoItself", testFolderRenameIntoItself},
	{"Folder/DeleteInbox", testFolderDeleteInbox},
	{"Folder/Delete", testFolderDelete},
	{"Folder/DeleteKeepsChildren", testFolderDeleteKeepsChildren},
	{"Folder/RecreateNewUIDValidity", testFolderRecreateNewUIDValidity},
	{"Folder/Subscribe", testFolderSubscribe},
	{"Subscription/StandardFolders", testSubscriptionStandardFolders},
	{"Subscription/WithoutFolder", testSubscriptionWithoutFolder},
	{"Subscription/SurvivesDelete", testSubscriptionSurvivesDelete},
	{"Subscription/StaysOnRename", testSubscriptionStaysOnRename},
	{"Subscription/DeleteAccount", testSubscriptionDeleteAccount},
	{"Folder/Status", testFolderStatus},
	{"Folder/OtherAccount", testFolderOtherAccount},

	// Deliver and reading messages.
	{"Deliver/BodyCRLF", testDeliverBodyCRLF},
	{"Deliver/BodyCRLFKept", testDeliverBodyCRLFKept},
	{"Deliver/BodyBareCR", testDeliverBareCR},
	{"Deliver/BodyReadAt", testDeliverBodyReadAt},
	{"Deliver/BinaryBody", testDeliverBinaryBody},
	{"Deliver/LargeBody", testDeliverLargeBody},
	{"Deliver/EndsWithNewline", testDeliverEndsWithNewline},
	{"Deliver/HeaderBytes", testDeliverHeaderBytes},
	{"Deliver/DefaultInbox", testDeliverDefaultInbox},
	{"Deliver/UIDsIncrease", testDeliverUIDsIncrease},
	{"Deliver/UIDsNotReused", testDeliverUIDsNotReused},
	{"Deliver/ModSeqIncreases", testDeliverModSeqIncreases},
	{"Deliver/InternalDate", testDeliverInternalDate},
	{"Deliver/InternalDateDefault", testDeliverInternalDateDefault},
	{"Deliver/InternalDateZone", testInternalDateZone},
	{"Deliver/InternalDateZoneOddOffset", testInternalDateZoneOddOffset},
	{"Deliver/InternalDateZoneBatch", testInternalDateZoneBatch},
	{"Deliver/InternalDateZoneCopyMove", testInternalDateZoneCopyMove},
	{"Deliver/InternalDateZoneDefault", testInternalDateZoneDefault},
	{"Deliver/FlagsSorted", testDeliverFlagsSorted},
	{"Deliver/IDsUnique", testDeliverIDsUnique},
	{"Deliver/OtherAccountFolder", testDeliverOtherAccountFolder},
	{"Deliver/UnknownAccount", testDeliverUnknownAccount},
	{"Deliver/Structure", testDeliverStructure},
	{"Deliver/StructureMultipart", testDeliverStructureMultipart},
	{"Deliver/StructuresBatch", testStructuresBatch},
	{"Deliver/BrokenMIME", testDeliverBrokenMIME},
	{"Deliver/QuotaMessages", testDeliverQuotaMessages},
	{"Deliver/QuotaBytes", testDeliverQuotaBytes},
	{"Deliver/IgnoreQuota", testDeliverIgnoreQuota},
	{"Deliver/Concurrent", testDeliverConcurrent},
	{"DeliverBatch/Basic", testDeliverBatch},
	{"DeliverBatch/Quota", testDeliverBatchQuota},
	{"DeliverBatch/Abort", testDeliverBatchAbort},
	{"Recent/Claim", testRecentClaim},
	{"Recent/ConcurrentClaims", testRecentConcurrentClaims},
	{"Usage/Mix", testUsageMix},
	{"Messages/Iterate", testMessagesIterate},
	{"Messages/ByUID", testMessagesByUID},
	{"Messages/ByUIDMany", testMessagesByUIDMany},
	{"Messages/ByID", testMessagesByID},

	// Flags.
	{"SetFlags/Add", testSetFlagsAdd},
	{"SetFlags/AddUnchanged", testSetFlagsAddUnchanged},
	{"SetFlags/Remove", testSetFlagsRemove},
	{"SetFlags/Replace", testSetFlagsReplace},
	{"SetFlags/Keywords", testSetFlagsKeywords},
	{"SetFlags/CaseInsensitive", testSetFlagsCaseInsensitive},
	{"SetFlags/UnchangedSince", testSetFlagsUnchangedSince},
	{"SetFlags/MissingUIDs", testSetFlagsMissingUIDs},
	{"SetFlags/OtherFolderUntouched", testSetFlagsOtherFolderUntouched},

	// Expunge, copy, move, changes.
	{"Expunge/Existing", testExpungeExisting},
	{"Expunge/ModSeq", testExpungeModSeq},
	{"Copy/Basic", testCopyBasic},
	{"Copy/Quota", testCopyQuota},
	{"Copy/OtherAccount", testCopyOtherAccount},
	{"Move/Basic", testMoveBasic},
	{"Move/AtQuota", testMoveAtQuota},
	{"Move/OtherAccount", testMoveOtherAccount},
	{"Changes/Basic", testChangesBasic},
	{"Changes/Empty", testChangesEmpty},
	{"Changes/FromZero", testChangesFromZero},

	// Search.
	{"Search/HeadersBodyText", testSearchHeadersBodyText},
	{"Search/CaseInsensitive", testSearchCaseInsensitive},
	{"Search/UTF8", testSearchUTF8},
	{"Search/Base64", testSearchBase64},
	{"Search/QuotedPrintable", testSearchQuotedPrintable},
	{"Search/EncodedWordSubject", testSearchEncodedWordSubject},
	{"Search/Short", testSearchShort},
	{"Search/Wildcards", testSearchWildcards},
	{"Search/OrderAndFolder", testSearchOrderAndFolder},
	{"Search/AfterExpungeAndMove", testSearchAfterExpungeAndMove},
	{"Search/Copy", testSearchCopy},

	// Events.
	{"Events/Deliver", testEventsDeliver},
	{"Events/Flags", testEventsFlags},
	{"Events/Expunge", testEventsExpunge},
	{"Events/Move", testEventsMove},
	{"Events/Copy", testEventsCopy},
	{"Events/Folders", testEventsFolders},
	{"Events/Subscription", testEventsSubscription},
	{"Events/OtherAccount", testEventsOtherAccount},
	{"Events/Close", testEventsClose},

	// Closed store.
	{"Closed", testClosed},
}

// eventTimeout bounds every wait for an event.
const eventTimeout = 5 * time.Second

// ---------------------------------------------------------------------------
// Helpers.

// ctx is the context of every store call in a test.
func ctx(t *testing.T) context.Context { return t.Context() }

// mustDomain makes a domain, tolerating one that exists already.
func mustDomain(t *testing.T, s store.Store, name string) store.Domain {
	t.Helper()
	d, err := s.CreateDomain(ctx(t), name)
	if errors.Is(err, store.ErrExists) {
		d, err = s.Domain(ctx(t), name)
	}
	if err != nil {
		t.Fatalf("CreateDomain(%q): %v", name, err)
	}
	return d
}

// mustAccount makes an account (and its domain when missing) with default
// settings and no quota.
func mustAccount(t *testing.T, s store.Store, addr string) store.Account {
	t.Helper()
	return mustAccountQuota(t, s, addr, 0, 0)
}

// mustAccountQuota makes an account with quotas.
func mustAccountQuota(t *testing.T, s store.Store, addr string, quotaBytes, quotaMessages int64) store.Account {
	t.Helper()
	mustDomain(t, s, addr[strings.LastIndexByte(addr, '@')+1:])
	a, err := s.CreateAccount(ctx(t), store.NewAccount{
		Address:       addr,
		PasswordHash:  "hash-of-" + addr,
		QuotaBytes:    quotaBytes,
		QuotaMessages: quotaMessages,
		Settings:      store.DefaultSettings(),
	})
	if err != nil {
		t.Fatalf("CreateAccount(%q): %v", addr, err)
	}
	return a
}

// folder returns a folder of an account by name.
func folder(t *testing.T, s store.Store, accountID int64, name string) store.Folder {
	t.Helper()
	f, err := s.Folder(ctx(t), accountID, name)
	if err != nil {
		t.Fatalf("Folder(%d, %q): %v", accountID, name, err)
	}
	return f
}

// folderByID re-reads a folder.
func folderByID(t *testing.T, s store.Store, id int64) store.Folder {
	t.Helper()
	f, err := s.FolderByID(ctx(t), id)
	if err != nil {
		t.Fatalf("FolderByID(%d): %v", id, err)
	}
	return f
}

// inbox returns an account's inbox.
func inbox(t *testing.T, s store.Store, accountID int64) store.Folder {
	t.Helper()
	return folder(t, s, accountID, "INBOX")
}

// mustCreateFolder makes a folder without a role.
func mustCreateFolder(t *testing.T, s store.Store, accountID int64, name string) store.Folder {
	t.Helper()
	f, err := s.CreateFolder(ctx(t), accountID, name, store.RoleNone)
	if err != nil {
		t.Fatalf("CreateFolder(%q): %v", name, err)
	}
	return f
}

var msgCounter atomic.Int64

// textMsg builds a plain-text message with LF line endings. The headers
// use only words no search test looks for.
func textMsg(subject, body string) string {
	n := msgCounter.Add(1)
	return "From: Ivan Petrov <ivan@example.org>\n" +
		"To: Maria <maria@example.org>\n" +
		"Subject: " + subject + "\n" +
		"Date: Mon, 02 Mar 2026 10:00:00 +0300\n" +
		fmt.Sprintf("Message-ID: <m%d@example.org>\n", n) +
		"MIME-Version: 1.0\n" +
		"Content-Type: text/plain; charset=utf-8\n" +
		"Content-Transfer-Encoding: 8bit\n" +
		"\n" +
		body + "\n"
}

// crlf turns every line ending of s into CRLF, as the store must.
func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

// deliverTo stores body in a folder with flags.
func deliverTo(t *testing.T, s store.Store, f store.Folder, body string, flags ...string) store.Message {
	t.Helper()
	return deliverD(t, s, store.Delivery{
		AccountID: f.AccountID,
		FolderID:  f.ID,
		Flags:     flags,
		Body:      strings.NewReader(body),
	})
}

// deliverN stores n small messages in a folder and returns them.
func deliverN(t *testing.T, s store.Store, f store.Folder, n int) []store.Message {
	t.Helper()
	var ms []store.Message
	for i := range n {
		ms = append(ms, deliverTo(t, s, f, textMsg(fmt.Sprintf("message %d", i+1), strings.Repeat("line\n", i+1))))
	}
	return ms
}

// deliverD stores one delivery and fails the test on error.
func deliverD(t *testing.T, s store.Store, d store.Delivery) store.Message {
	t.Helper()
	m, err := s.Deliver(ctx(t), d)
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	return m
}

// readBody reads a stored message whole, checking that Size agrees.
func readBody(t *testing.T, s store.Store, m store.Message) string {
	t.Helper()
	b, err := s.OpenBody(ctx(t), m)
	if err != nil {
		t.Fatalf("OpenBody(uid %d): %v", m.UID, err)
	}
	defer b.Close()
	data, err := io.ReadAll(b)
	if err != nil {
		t.Fatalf("reading body of uid %d: %v", m.UID, err)
	}
	if b.Size() != int64(len(data)) {
		t.Errorf("uid %d: Body.Size() = %d, read %d bytes", m.UID, b.Size(), len(data))
	}
	return string(data)
}

// message returns one message of a folder by UID.
func message(t *testing.T, s store.Store, folderID int64, uid uint32) store.Message {
	t.Helper()
	ms, err := s.MessagesByUID(ctx(t), folderID, []uint32{uid})
	if err != nil {
		t.Fatalf("MessagesByUID(%d, %d): %v", folderID, uid, err)
	}
	if len(ms) != 1 {
		t.Fatalf("MessagesByUID(%d, %d) returned %d messages, want 1", folderID, uid, len(ms))
	}
	return ms[0]
}

// allMessages lists a folder with Messages.
func allMessages(t *testing.T, s store.Store, folderID int64) []store.Message {
	t.Helper()
	var ms []store.Message
	for m, err := range s.Messages(ctx(t), folderID) {
		if err != nil {
			t.Fatalf("Messages(%d): %v", folderID, err)
		}
		ms = append(ms, m)
	}
	return ms
}

// folderUIDs lists the UIDs of a folder.
func folderUIDs(t *testing.T, s store.Store, folderID int64) []uint32 {
	t.Helper()
	return uidsOf(allMessages(t, s, folderID))
}

func uidsOf(ms []store.Message) []uint32 {
	uids := []uint32{}
	for _, m := range ms {
		uids = append(uids, m.UID)
	}
	return uids
}

// usage returns an account's usage.
func usage(t *testing.T, s store.Store, accountID int64) store.Usage {
	t.Helper()
	u, err := s.Usage(ctx(t), accountID)
	if err != nil {
		t.Fatalf("Usage(%d): %v", accountID, err)
	}
	return u
}

// wantUsage checks an account's usage.
func wantUsage(t *testing.T, s store.Store, accountID int64, bytes, messages int64, when string) {
	t.Helper()
	u := usage(t, s, accountID)
	if u.Bytes != bytes || u.Messages != messages {
		t.Errorf("%s: Usage = %d bytes, %d messages; want %d bytes, %d messages", when, u.Bytes, u.Messages, bytes, messages)
	}
}

// wantErr checks that err wraps target.
func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error = %v, want %v", what, err, target)
	}
}

// wantSomeErr checks that err is one of targets.
func wantSomeErr(t *testing.T, err error, what string, targets ...error) {
	t.Helper()
	for _, target := range targets {
		if errors.Is(err, target) {
			return
		}
	}
	t.Errorf("%s: error = %v, want one of %v", what, err, targets)
}

// wantUIDs compares UID lists, treating nil and empty as equal.
func wantUIDs(t *testing.T, got, want []uint32, what string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: UIDs = %v, want %v", what, got, want)
	}
}

// wantFlags compares a message's flags with want (any order in want); the
// stored flags must be sorted.
func wantFlags(t *testing.T, m store.Message, want []string, what string) {
	t.Helper()
	w := slices.Clone(want)
	slices.Sort(w)
	if len(m.Flags) == 0 && len(w) == 0 {
		return
	}
	if !slices.Equal(m.Flags, w) {
		t.Errorf("%s: uid %d flags = %q, want %q", what, m.UID, m.Flags, w)
	}
}

// sameSecond reports whether two times name the same second.
func sameSecond(a, b time.Time) bool {
	return a.Truncate(time.Second).Equal(b.Truncate(time.Second))
}

// subscribe subscribes to an account's events and closes the subscription
// at the end of the test.
func subscribe(t *testing.T, s store.Store, accountID int64) *store.Subscription {
	t.Helper()
	sub := s.Subscribe(accountID)
	if sub == nil {
		t.Fatal("Subscribe returned nil")
	}
	t.Cleanup(sub.Close)
	return sub
}

// waitEvent reads events until one satisfies match and returns it; it fails
// the test after eventTimeout or if the channel closes. Events that do not
// match are returned in skipped.
func waitEvent(t *testing.T, sub *store.Subscription, what string, match func(store.Event) bool) (ev store.Event, skipped []store.Event) {
	t.Helper()
	timer := time.NewTimer(eventTimeout)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-sub.C:
			if !ok {
				t.Fatalf("waiting for %s: subscription closed", what)
			}
			if match(ev) {
				return ev, skipped
			}
			skipped = append(skipped, ev)
		case <-timer.C:
			t.Fatalf("no %s event within %v (got %v)", what, eventTimeout, skipped)
		}
	}
}

// isEvent matches an event of a kind in a folder.
func isEvent(accountID, folderID int64, kind store.EventKind) func(store.Event) bool {
	return func(ev store.Event) bool {
		return ev.AccountID == accountID && ev.FolderID == folderID && ev.Kind&kind != 0
	}
}
