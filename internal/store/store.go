// Package store defines pochta's mail store: domains, accounts, aliases, app
// passwords, folders, messages with their flags, UIDs and mod-sequences, the
// outbound queue, and the change events that let every protocol session see
// what the others did.
//
// The store is the centre of the server. SMTP, POP3, IMAP and the web pages
// are thin views over the Store interface and never talk to each other
// directly. Backends (store/sqlite, later store/postgres) implement Store and
// pass the conformance suite in store/storetest.
package store

import (
	"context"
	"errors"
	"io"
	"iter"
	"slices"
	"time"

	"github.com/pochta-mail/pochta/internal/mimeparse"
)

// Errors returned by every backend. Callers test them with errors.Is.
var (
	// ErrNotFound reports that the named domain, account, alias, folder or
	// message does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists reports that a domain, account, alias or folder with that
	// name exists already.
	ErrExists = errors.New("already exists")
	// ErrQuotaExceeded reports that storing a message would take the
	// account over its byte or message quota.
	ErrQuotaExceeded = errors.New("quota exceeded")
	// ErrInvalid reports an argument the store refuses (bad name, bad
	// address, an operation not allowed on a special folder, …).
	ErrInvalid = errors.New("invalid argument")
	// ErrClosed reports a call on a store that was closed.
	ErrClosed = errors.New("store closed")
)

// Store is the interface every backend implements. All methods are safe for
// concurrent use. Every method that changes a folder publishes an Event after
// its change is committed.
type Store interface {
	DomainStore
	AccountStore
	FolderStore
	MessageStore
	WebStore
	QueueStore
	MaildropLocker
	CounterStore
	DKIMKeyStore
	MTASTSStore

	// Subscribe returns a subscription to the change events of one account
	// (every folder in it). Events made by this process and, for shared
	// backends, by other nodes are delivered. Close the subscription when
	// done.
	Subscribe(accountID int64) *Subscription

	// Close releases the store. Pending group commits are finished first,
	// subscriptions are closed, and later calls return ErrClosed. Closing
	// twice is harmless.
	Close() error
}

// DomainStore manages the mail domains served.
type DomainStore interface {
	// CreateDomain adds a domain. The name is stored in canonical form
	// (CanonicalDomain): lowercase, an internationalised name in IDNA
	// A-labels, so "пример.рф" and "xn--e1afmkfd.xn--p1ai" are one domain.
	CreateDomain(ctx context.Context, name string) (Domain, error)
	// Domain returns one domain by name (any case, U-labels or A-labels).
	Domain(ctx context.Context, name string) (Domain, error)
	// Domains lists all domains sorted by name.
	Domains(ctx context.Context) ([]Domain, error)
	// UpdateDomain saves the changeable fields of d (catch-all, local
	// part case sensitivity). Turning LocalPartCaseSensitive off
	// lowercases the addresses of the domain's accounts and aliases; it
	// fails with ErrExists, changing nothing, when two of them differ only
	// in case.
	UpdateDomain(ctx context.Context, d Domain) error
	// DeleteDomain removes a domain. It fails with ErrInvalid while the
	// domain still has accounts or aliases.
	DeleteDomain(ctx context.Context, name string) error
}

// AccountStore manages accounts, their aliases and app passwords.
type AccountStore interface {
	// CreateAccount makes an account in an existing domain and its
	// standard folders (Inbox, Sent, Drafts, Trash, Spam, Archive).
	CreateAccount(ctx context.Context, a NewAccount) (Account, error)
	// Account returns an account by id.
	Account(ctx context.Context, id int64) (Account, error)
	// AccountByAddress returns the account whose primary address is addr
	// (case-insensitive domain; local part compared case-insensitively
	// unless the domain's LocalPartCaseSensitive is set).
	AccountByAddress(ctx context.Context, addr string) (Account, error)
	// Accounts lists the accounts of a domain, or of every domain when
	// domain is "", sorted by address.
	Accounts(ctx context.Context, domain string) ([]Account, error)
	// UpdateAccount saves the changeable fields of a: password hash,
	// quotas, disabled, admin and Settings.
	UpdateAccount(ctx context.Context, a Account) error
	// DeleteAccount removes an account with all its folders, messages,
	// aliases pointing only to it and app passwords.
	DeleteAccount(ctx context.Context, id int64) error

	// CreateAlias makes an alias address pointing to one or more accounts
	// (by id). The alias domain must be a local domain.
	CreateAlias(ctx context.Context, address string, targets []int64) (Alias, error)
	// Aliases lists aliases of a domain (all when domain is "").
	Aliases(ctx context.Context, domain string) ([]Alias, error)
	// DeleteAlias removes an alias.
	DeleteAlias(ctx context.Context, address string) error
	// AliasesOf lists the alias addresses that deliver to an account.
	AliasesOf(ctx context.Context, accountID int64) ([]string, error)
	// ResolveAddress maps an exact address to account ids: the account
	// with that primary address, or the targets of an alias. The local
	// part is compared as AccountByAddress does. It returns
	// ErrNotFound when the address is neither. Plus addresses and
	// catch-alls are resolved by the delivery layer on top of it.
	ResolveAddress(ctx context.Context, addr string) ([]int64, error)

	// CreateAppPassword stores an app password (hash made by the caller).
	CreateAppPassword(ctx context.Context, p AppPassword) (AppPassword, error)
	// AppPasswords lists the app passwords of an account.
	AppPasswords(ctx context.Context, accountID int64) ([]AppPassword, error)
	// DeleteAppPassword revokes one app password of an account.
	DeleteAppPassword(ctx context.Context, accountID, id int64) error
	// TouchAppPassword records that an app password was used.
	TouchAppPassword(ctx context.Context, id int64, at time.Time) error
}

// FolderStore manages the folders of accounts.
type FolderStore interface {
	// Folders lists an account's folders sorted by name.
	Folders(ctx context.Context, accountID int64) ([]Folder, error)
	// Folder returns a folder by name. The name "INBOX" matches the
	// inbox in any case.
	Folder(ctx context.Context, accountID int64, name string) (Folder, error)
	// FolderByID returns a folder by id.
	FolderByID(ctx context.Context, folderID int64) (Folder, error)
	// FolderByRole returns the folder with a special-use role.
	FolderByRole(ctx context.Context, accountID int64, role Role) (Folder, error)
	// CreateFolder makes a folder. Missing parents in the hierarchy
	// (separator '/') are not created; role may be RoleNone. The new
	// folder is not subscribed (the standard folders of a new account
	// are).
	CreateFolder(ctx context.Context, accountID int64, name string, role Role) (Folder, error)
	// RenameFolder renames a folder and every folder below it. The inbox
	// cannot be renamed by this call (IMAP's rename-INBOX semantics are a
	// move of its messages, done by the IMAP layer).
	RenameFolder(ctx context.Context, folderID int64, newName string) error
	// DeleteFolder removes a folder and its messages (updating the quota).
	// The inbox cannot be deleted. Folders below it are kept, and so is a
	// subscription to its name.
	DeleteFolder(ctx context.Context, folderID int64) error
	// SetSubscribed subscribes or unsubscribes the current name of a
	// folder (SetSubscription by folder id).
	SetSubscribed(ctx context.Context, folderID int64, subscribed bool) error
	// Subscriptions lists the names an account is subscribed to (IMAP
	// SUBSCRIBE), sorted. A subscription is a name, not a folder: it may
	// name no folder, survives the deletion of its folder and stays with
	// the old name when its folder is renamed (RFC 3501 §6.3.6, RFC 9051
	// §6.3.7).
	Subscriptions(ctx context.Context, accountID int64) ([]string, error)
	// SetSubscription subscribes or unsubscribes an account to a name,
	// whether or not a folder has it; repeating either is no error. INBOX
	// is matched in any case. Names a folder could not have are ErrInvalid.
	SetSubscription(ctx context.Context, accountID int64, name string, subscribed bool) error
	// FolderStatus counts the messages of a folder.
	FolderStatus(ctx context.Context, folderID int64) (FolderStatus, error)
	// ClaimRecent claims the folder's messages that no one has claimed
	// yet (IMAP4rev1's \Recent, RFC 3501 §2.3.2): the UIDs from..to
	// (inclusive) are recent for the caller, and for no later caller;
	// from > to means there was nothing to claim. Concurrent callers get
	// disjoint ranges. It publishes no event.
	ClaimRecent(ctx context.Context, folderID int64) (from, to uint32, err error)
}

// MessageStore stores and changes messages.
type MessageStore interface {
	// Deliver stores one message durably: when it returns nil the body is
	// on stable storage and the message is visible in its folder.
	// Concurrent calls share disk flushes (group commit). The body is
	// stored with CRLF line endings, parsed once, and its structure and
	// search text cached.
	Deliver(ctx context.Context, d Delivery) (Message, error)
	// DeliverBatch stores several messages atomically: when it returns
	// nil every one is stored, otherwise none is (a quota failure on the
	// last leaves nothing). It pulls the deliveries one at a time from
	// deliveries and reads each body to its end before asking for the
	// next, so bodies can be streamed one after the other from a
	// connection without holding them in memory; an error yielded by
	// deliveries stops the batch with that error. The quota is checked
	// for the whole batch. The messages are returned in order; in each
	// folder their UIDs ascend in the order given.
	DeliverBatch(ctx context.Context, deliveries iter.Seq2[Delivery, error]) ([]Message, error)

	// Messages iterates over the messages of a folder in UID order.
	Messages(ctx context.Context, folderID int64) iter.Seq2[Message, error]
	// MessagesByUID returns the messages of a folder whose UIDs are in
	// uids (missing ones are skipped), in UID order.
	MessagesByUID(ctx context.Context, folderID int64, uids []uint32) ([]Message, error)
	// MessageByID returns a message by its stable id.
	MessageByID(ctx context.Context, id int64) (Message, error)
	// OpenBody opens the stored bytes of a message for reading.
	OpenBody(ctx context.Context, m Message) (Body, error)
	// Structure returns the structure cached at delivery.
	Structure(ctx context.Context, m Message) (*mimeparse.Message, error)
	// Structures returns the structures cached at delivery of many
	// messages with one read, keyed by their BodyID. A message whose body
	// is gone is missing from the map.
	Structures(ctx context.Context, msgs []Message) (map[int64]*mimeparse.Message, error)

	// SetFlags changes flags of messages in a folder and gives the
	// changed messages one new mod-sequence. Flags compare
	// case-insensitively (adding `\seen` to `\Seen` changes nothing).
	// Results are in UID order; an event is published only if something
	// changed. With UnchangedSince > 0
	// (CONDSTORE), messages whose mod-sequence is higher are not changed
	// and are reported in FlagResult.Failed.
	SetFlags(ctx context.Context, folderID int64, uids []uint32, ch FlagChange) (FlagResult, error)
	// Expunge removes messages from a folder for good and returns the UIDs
	// removed, in UID order. The quota is updated in the same
	// transaction.
	Expunge(ctx context.Context, folderID int64, uids []uint32) ([]uint32, error)
	// Copy copies messages to another folder of the same account, with
	// their flags and internal dates; it fails with ErrQuotaExceeded if
	// the copies do not fit. The result maps source UIDs to new UIDs; new
	// UIDs ascend with the source UIDs (as IMAP's COPYUID needs).
	Copy(ctx context.Context, srcFolderID int64, uids []uint32, dstFolderID int64) ([]UIDPair, error)
	// Move moves messages to another folder of the same account. Moved
	// messages keep their id (and so their POP3 unique id) and flags, and
	// get new UIDs in the destination.
	Move(ctx context.Context, srcFolderID int64, uids []uint32, dstFolderID int64) ([]UIDPair, error)
	// Changes reports what happened in a folder after a mod-sequence:
	// messages whose mod-sequence is higher (new or with changed flags),
	// and UIDs expunged after it, both in UID order. Expunge records are
	// kept for the life of the folder, so Changes(0) lists every UID ever
	// expunged.
	Changes(ctx context.Context, folderID int64, sinceModSeq uint64) (Changes, error)
	// Search returns, in UID order, the UIDs of messages in a folder whose
	// headers (field SearchHeaders), text (SearchBody) or both
	// (SearchText) contain s, case-insensitively, as a substring.
	Search(ctx context.Context, folderID int64, field SearchField, s string) ([]uint32, error)
	// Usage returns the bytes and messages an account stores.
	Usage(ctx context.Context, accountID int64) (Usage, error)
	// HideFromPOP3 marks messages as deleted for POP3 only (the account's
	// "keep" delete action): POP3 stops offering them, IMAP still shows
	// them. It does not change mod-sequences or flags.
	HideFromPOP3(ctx context.Context, folderID int64, uids []uint32) error
}

// Body is the stored bytes of one message.
type Body interface {
	io.Reader
	io.ReaderAt
	io.Closer
	// Size is the length in octets.
	Size() int64
}

// Domain is a mail domain served by this installation.
type Domain struct {
	Name string
	// CatchAll, when not empty, is the address of the account that gets
	// mail for unknown local parts of the domain.
	CatchAll string
	// LocalPartCaseSensitive makes the local parts of the domain's
	// addresses case-sensitive: User@domain and user@domain are then
	// different addresses (RFC 5321 §2.4 allows it). Off by default:
	// local parts compare case-insensitively and are stored lowercase.
	LocalPartCaseSensitive bool
	CreatedAt              time.Time
}

// LoginPolicy says whether passwords may travel without TLS.
type LoginPolicy string

// Login policies. PolicyDefault means "use the server-wide setting".
const (
	PolicyDefault   LoginPolicy = ""
	PolicySecure    LoginPolicy = "secure"
	PolicyPlaintext LoginPolicy = "plaintext"
)

// POP3DeleteAction is what a POP3 DELE does to a message when the session
// ends with QUIT.
type POP3DeleteAction string

// POP3 delete actions.
const (
	// POP3DeleteTrash moves the message to Trash (the default).
	POP3DeleteTrash POP3DeleteAction = "trash"
	// POP3DeleteKeep leaves the message on the server; POP3 stops
	// offering it.
	POP3DeleteKeep POP3DeleteAction = "keep"
	// POP3DeleteExpunge deletes the message for good.
	POP3DeleteExpunge POP3DeleteAction = "delete"
)

// Settings are an account's protocol settings («Почтовые программы»).
type Settings struct {
	POP3Enabled bool `json:"pop3"`
	// POP3Folders names the folders POP3 serves; empty means the inbox.
	POP3Folders []string `json:"pop3_folders,omitempty"`
	// POP3MarkSeen sets \Seen on messages a POP3 client downloads.
	POP3MarkSeen bool `json:"pop3_mark_seen,omitempty"`
	// POP3Since, when not zero, limits POP3 to mail that arrived after it.
	POP3Since time.Time `json:"pop3_since,omitzero"`
	// POP3Delete is what DELE does; "" means POP3DeleteTrash.
	POP3Delete  POP3DeleteAction `json:"pop3_delete,omitempty"`
	IMAPEnabled bool             `json:"imap"`
	// LoginPolicy overrides the server-wide login policy for this account.
	LoginPolicy LoginPolicy `json:"login_policy,omitempty"`
	// APOPSecret is the account's APOP secret (RFC 1939 §7), encrypted
	// with the server key (auth.SecretKey); "" means APOP is off for the
	// account. Never the login password.
	APOPSecret string `json:"apop_secret,omitempty"`
	// Forward lists addresses that get every message delivered to the
	// account; empty means no forwarding.
	Forward []string `json:"forward,omitempty"`
	// ForwardKeep keeps a copy in the account when it forwards.
	ForwardKeep bool `json:"forward_keep,omitempty"`
	// SendPerHour and SendPerDay override the server-wide [smtp]
	// max_messages_per_hour and max_messages_per_day for this account:
	// 0 means the server's limit, Unlimited (-1) means no limit.
	SendPerHour int `json:"send_per_hour,omitempty"`
	SendPerDay  int `json:"send_per_day,omitempty"`
	// MaxRecipients overrides [smtp] max_recipients for the messages this
	// account submits: 0 means the server's limit, Unlimited (-1) none.
	MaxRecipients int `json:"max_recipients,omitempty"`
}

// Unlimited in a per-account limit of Settings means "no limit", as
// opposed to 0, "the server-wide limit".
const Unlimited = -1

// EffectiveLimit applies a per-account override to a server-wide limit
// where 0 means no limit: an override of 0 keeps the server's value,
// Unlimited (or any negative value) gives 0 (no limit), a positive one
// replaces it.
func EffectiveLimit(server, override int) int {
	switch {
	case override == 0:
		return server
	case override < 0:
		return 0
	}
	return override
}

// DefaultSettings are the settings of a new account: POP3 and IMAP on, DELE
// moves to Trash, the server-wide login policy.
func DefaultSettings() Settings {
	return Settings{POP3Enabled: true, IMAPEnabled: true, POP3Delete: POP3DeleteTrash}
}

// NewAccount holds what CreateAccount needs.
type NewAccount struct {
	Address       string
	PasswordHash  string
	QuotaBytes    int64 // 0 = unlimited
	QuotaMessages int64 // 0 = unlimited
	Admin         bool
	Settings      Settings
}

// Account is a mailbox with a primary address.
type Account struct {
	ID int64
	// Address is the primary address, local@domain, domain lowercase;
	// the local part is lowercase unless the domain is case-sensitive.
	Address       string
	Domain        string
	PasswordHash  string
	QuotaBytes    int64 // 0 = unlimited
	QuotaMessages int64 // 0 = unlimited
	Disabled      bool
	Admin         bool
	Settings      Settings
	CreatedAt     time.Time
}

// Usage is what an account stores.
type Usage struct {
	Bytes    int64
	Messages int64
}

// Alias is an address that delivers to one or more accounts.
type Alias struct {
	Address string
	// Targets are the ids of the accounts the alias delivers to.
	Targets []int64
	// TargetAddresses are their primary addresses, in the same order.
	TargetAddresses []string
}

// AppPassword is a separate, revocable password for one mail program.
type AppPassword struct {
	ID        int64
	AccountID int64
	Name      string
	Hash      string
	// Protocols limits the password to some protocols ("imap", "pop3",
	// "smtp"); empty means all.
	Protocols []string
	CreatedAt time.Time
	LastUsed  time.Time
}

// Role is a folder's special use (RFC 6154).
type Role string

// Folder roles.
const (
	RoleNone    Role = ""
	RoleInbox   Role = "inbox"
	RoleSent    Role = "sent"
	RoleDrafts  Role = "drafts"
	RoleTrash   Role = "trash"
	RoleJunk    Role = "junk"
	RoleArchive Role = "archive"
)

// StandardFolders are made for every new account, in this order.
var StandardFolders = []struct {
	Name string
	Role Role
}{
	{"INBOX", RoleInbox},
	{"Sent", RoleSent},
	{"Drafts", RoleDrafts},
	{"Trash", RoleTrash},
	{"Spam", RoleJunk},
	{"Archive", RoleArchive},
}

// HierarchySeparator separates the levels of folder names.
const HierarchySeparator = '/'

// Folder is a mailbox folder of an account.
type Folder struct {
	ID            int64
	AccountID     int64
	Name          string
	Role          Role
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	// Subscribed tells whether the folder's name is among the account's
	// subscriptions.
	Subscribed bool
	// RecentUID is where IMAP's \Recent starts: messages with a UID at
	// or above it have not been claimed (ClaimRecent) by any session.
	RecentUID uint32
}

// FolderStatus counts the messages of a folder.
type FolderStatus struct {
	Messages int64
	Unseen   int64
	Deleted  int64
	Size     int64
	// Recent counts the messages no session has claimed as \Recent yet
	// (UID at or above Folder.RecentUID).
	Recent int64
	Folder Folder
}

// System flags.
const (
	FlagSeen     = `\Seen`
	FlagAnswered = `\Answered`
	FlagFlagged  = `\Flagged`
	FlagDeleted  = `\Deleted`
	FlagDraft    = `\Draft`
)

// Message is one message in a folder.
type Message struct {
	// ID is stable for the life of the message in the account, kept when
	// it moves between folders, and never reused: POP3's unique id.
	ID        int64
	AccountID int64
	FolderID  int64
	UID       uint32
	ModSeq    uint64
	// Flags holds system flags (`\Seen`, …) and keywords, sorted.
	Flags []string
	// InternalDate is when the message arrived (or the date APPEND gave),
	// in the zone it was given in: a fixed zone of its offset (UTC for
	// +0000). IMAP prints it in that zone and SEARCH BEFORE/ON/SINCE
	// compare its calendar date there; COPY and MOVE keep it.
	InternalDate time.Time
	// Size is the exact size in octets, as served.
	Size int64
	// BodyID names the stored body; copies share it.
	BodyID int64
	// POP3Hidden is set by HideFromPOP3: POP3 no longer offers the
	// message.
	POP3Hidden bool
	// EndsWithNewline reports that the stored message is empty or its
	// last byte is a line feed, recorded when the body is stored so
	// readers (POP3 sizes) need not open it. Copies and moves keep it.
	EndsWithNewline bool
	// HeaderBytes records, from the parse at delivery, whether some
	// header of the message has 8-bit bytes (RFC 6532 UTF-8 headers), so
	// that sessions without UTF-8 know which messages to downgrade
	// (RFC 6856, RFC 6857) without reading structures. Messages stored
	// before it was recorded have mimeparse.HeadersUnknown: their cached
	// structure decides. Copies and moves keep it.
	HeaderBytes mimeparse.HeaderBytes
}

// BodyIDs returns the distinct BodyIDs of msgs, in first-seen order.
func BodyIDs(msgs []Message) []int64 {
	seen := make(map[int64]bool, len(msgs))
	ids := make([]int64, 0, len(msgs))
	for _, m := range msgs {
		if !seen[m.BodyID] {
			seen[m.BodyID] = true
			ids = append(ids, m.BodyID)
		}
	}
	return ids
}

// HasFlag reports whether m has the flag f (system flags compare
// case-insensitively, as IMAP requires for all flags).
func (m Message) HasFlag(f string) bool {
	for _, g := range m.Flags {
		if equalFold(g, f) {
			return true
		}
	}
	return false
}

// Delivery is a message to store.
type Delivery struct {
	AccountID int64
	// FolderID is the destination; 0 means the inbox.
	FolderID int64
	Flags    []string
	// InternalDate is kept to the second with the offset of its zone
	// (whole minutes); zero means now, in the server's local zone.
	InternalDate time.Time
	// Body is the message. Any line endings are accepted; the stored
	// message has CRLF line endings.
	Body io.Reader
	// IgnoreQuota stores the message even over quota (for moves the
	// system makes itself, never for mail from outside).
	IgnoreQuota bool
}

// FlagOp says how SetFlags combines flags.
type FlagOp int

// Flag operations.
const (
	FlagsAdd FlagOp = iota
	FlagsRemove
	FlagsReplace
)

// FlagChange is one SetFlags request.
type FlagChange struct {
	Op    FlagOp
	Flags []string
	// UnchangedSince, when > 0, skips messages with a higher mod-sequence
	// (CONDSTORE's UNCHANGEDSINCE).
	UnchangedSince uint64
}

// FlagResult is the outcome of SetFlags.
type FlagResult struct {
	// Changed are the messages as they are after the change, with their
	// new mod-sequence; messages whose flags were already as asked are
	// included with an unchanged mod-sequence.
	Changed []Message
	// Failed are the UIDs skipped because of UnchangedSince.
	Failed []uint32
}

// UIDPair maps a source UID to the UID a copy or move got.
type UIDPair struct {
	Src, Dst uint32
}

// Changes is what Changes returns.
type Changes struct {
	Updated  []Message
	Expunged []uint32
}

// SearchField selects what Search looks at.
type SearchField int

// Search fields.
const (
	SearchText    SearchField = iota // headers and body
	SearchHeaders                    // header fields only
	SearchBody                       // body text only
)

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}

// NormalizeFlags returns flags with system flags in their canonical case
// (`\seen` → `\Seen`), duplicates (compared case-insensitively) removed,
// empty entries and `\Recent` (a session property, never stored) dropped,
// sorted.
func NormalizeFlags(flags []string) []string {
	out := make([]string, 0, len(flags))
	for _, f := range flags {
		if f == "" || equalFold(f, `\Recent`) {
			continue
		}
		for _, sys := range []string{FlagSeen, FlagAnswered, FlagFlagged, FlagDeleted, FlagDraft} {
			if equalFold(f, sys) {
				f = sys
				break
			}
		}
		dup := false
		for _, g := range out {
			if equalFold(f, g) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}
