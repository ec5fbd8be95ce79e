#!/usr/bin/env bash
# Runs pochta side by side with Postfix (SMTP, relaying) and Dovecot (POP3)
# on this machine and prints the figures and the pochta/other ratio for
# each.
#
#   scripts/bench.sh [smtp|pop3|queue|imap|all]      (default all)
#
# Environment: DURATION (per SMTP run, default 10s), POP3_DURATION (per
# POP3 run, default 5s), DOVECOT_SCHEME (Dovecot's password scheme,
# default ARGON2ID like pochta's; CRYPT is Dovecot's own default),
# QUEUE_MSGS (messages with 1 recipient in the relay run, default 300),
# QUEUE_MSGS100 (messages with 100 recipients, default 20), IMAP_DURATION
# (per IMAP mix run, default 30s), IMAP_SEARCH_COUNT (messages SEARCH TEXT
# runs over, default 100000), IMAP_IDLE_CONNS (idle IDLE connections,
# default 10000), KEEP=1 keeps the temporary folder.
#
# Everything runs from a temporary folder on loopback ports: pochta built
# from cmd/pochta with its own data folder; a private Postfix instance
# (its own config_directory, queue and Maildir, virtual(8) delivery to a
# Maildir, no DNS); a private Dovecot (its own base_dir and config,
# passwd-file, Maildir). Both share pochta's self-signed certificate, so
# every client verifies the same certificate. Needs root for Postfix and
# Dovecot (they drop privileges themselves) and installs the Debian
# packages postfix and dovecot-pop3d when they are missing.
#
# When Dovecot's imaptest is on PATH (it is not packaged; bench/README.md
# says how to build it), the imap part also runs imaptest's stress mode
# against both servers (10 and 50 clients, IMAP_DURATION each, sessions
# kept and with logins). Nothing is downloaded at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
case $what in smtp | pop3 | queue | imap | all) ;; *) echo "usage: $0 [smtp|pop3|queue|imap|all]" >&2; exit 2 ;; esac
DURATION=${DURATION:-10s}
POP3_DURATION=${POP3_DURATION:-5s}
DOVECOT_SCHEME=${DOVECOT_SCHEME:-ARGON2ID}
QUEUE_MSGS=${QUEUE_MSGS:-300}
QUEUE_MSGS100=${QUEUE_MSGS100:-20}
IMAP_DURATION=${IMAP_DURATION:-30s}
IMAP_SEARCH_COUNT=${IMAP_SEARCH_COUNT:-100000}
IMAP_IDLE_CONNS=${IMAP_IDLE_CONNS:-10000}

if [ "$(id -u)" -ne 0 ]; then
	echo "bench.sh must run as root (Postfix and Dovecot start as root and drop privileges)" >&2
	exit 1
fi
need=()
for p in postfix dovecot-pop3d dovecot-imapd python3; do
	dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "== apt-get install ${need[*]}"
	# "No configuration": the package must not set up or start a system
	# Postfix; the benchmark runs its own instance.
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

W=$(mktemp -d /tmp/pochta-bench.XXXXXX)
chmod 755 "$W"
pochta_pid=
relay_pids=()
cleanup() {
	set +e
	[ -n "$pochta_pid" ] && kill "$pochta_pid" 2>/dev/null && wait "$pochta_pid" 2>/dev/null
	for p in "${relay_pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	[ -f "$W/postfix/main.cf" ] && postfix -c "$W/postfix" stop >/dev/null 2>&1
	for d in "$W/postfix-a" "$W/postfix-b"; do [ -f "$d/main.cf" ] && postfix -c "$d" stop >/dev/null 2>&1; done
	[ -f "$W/dovecot/dovecot.conf" ] && doveadm -c "$W/dovecot/dovecot.conf" stop >/dev/null 2>&1
	[ -f "$W/dovecot-imap/dovecot.conf" ] && doveadm -c "$W/dovecot-imap/dovecot.conf" stop >/dev/null 2>&1
	sleep 0.5
	if [ "${KEEP:-}" = 1 ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== build"
go build -o "$W/pochta" ./cmd/pochta
go build -o "$W/smtpbench" ./bench/smtp
go build -o "$W/pop3bench" ./bench/pop3/load
go build -o "$W/queueload" ./bench/queue/load
go build -o "$W/imapbench" ./bench/imap

PASS="bench-password-1"
P_SUB=$(freeport) P_POP3S=$(freeport) X_SMTP=$(freeport) D_POP3S=$(freeport) P_IMAPS=$(freeport) D_IMAPS=$(freeport)

echo "== pochta (data in $W/pochta-data)"
cat >"$W/pochta.toml" <<CFG
hostname = "localhost"
data_dir = "$W/pochta-data"
[listen]
smtp = ""
submission = "127.0.0.1:$P_SUB"
submissions = ""
pop3 = ""
pop3s = "127.0.0.1:$P_POP3S"
imap = ""
imaps = "127.0.0.1:$P_IMAPS"
http = ""
[auth]
failed_login_delay = "0s"
[limits]
max_connections = 30000
max_connections_per_ip = 30000
CFG
pochta() { "$W/pochta" "$@" --config "$W/pochta.toml"; }
pochta domain add localhost >/dev/null
echo "$PASS" | pochta user add bench@localhost --password-stdin >/dev/null
for i in $(seq 0 9); do echo "$PASS" | pochta user add "pop$i@localhost" --password-stdin >/dev/null; done
for u in imapmix imapenv imapsearch imapidle imaptest; do echo "$PASS" | pochta user add "$u@localhost" --password-stdin >/dev/null; done

start_pochta() {
	# The log is appended to: wait for one more "serving" line than before.
	local started
	started=$(grep -c 'msg="pochta serving"' "$W/pochta.log" 2>/dev/null || true)
	"$W/pochta" serve --config "$W/pochta.toml" 2>>"$W/pochta.log" &
	pochta_pid=$!
	for _ in $(seq 1 100); do
		[ "$(grep -c 'msg="pochta serving"' "$W/pochta.log" 2>/dev/null || true)" -gt "${started:-0}" ] && return 0
		sleep 0.1
	done
	echo "pochta did not start:" >&2; cat "$W/pochta.log" >&2; exit 1
}
stop_pochta() {
	kill "$pochta_pid"; wait "$pochta_pid" || true; pochta_pid=
}
CERT="$W/pochta-data/tls/selfsigned.crt" KEY="$W/pochta-data/tls/selfsigned.key"

# setup_postfix makes a private Postfix instance in $W/postfix: SMTP with
# STARTTLS on 127.0.0.1:$X_SMTP, relay for loopback only, no DNS, and
# virtual(8) delivery of bench@localhost to the Maildir
# $W/postfix-mail/bench/ (fsynced before rename, like every Postfix
# delivery; the queue file is fsynced before the 250).
setup_postfix() {
	mkdir -p "$W/postfix" "$W/postfix-mail/bench"
	echo "bench@localhost bench/" >"$W/postfix/vmailbox"
	postfix_instance postfix "$X_SMTP" "$CERT" "$KEY" "virtual_mailbox_domains = localhost
virtual_mailbox_base = $W/postfix-mail
virtual_mailbox_maps = texthash:$W/postfix/vmailbox
virtual_uid_maps = static:$(id -u nobody)
virtual_gid_maps = static:$(id -g nobody)
virtual_minimum_uid = 100"
}

# postfix_instance NAME PORT CERT KEY MAIN_CF_EXTRA starts a private Postfix
# with its configuration in $W/NAME, its queue in $W/NAME-queue, mail under
# $W/NAME-mail and its log in $W/NAME.log: SMTP with STARTTLS (CERT, KEY)
# on 127.0.0.1:PORT, relay for loopback only, no DNS, no rate limits, and
# MAIN_CF_EXTRA appended to main.cf.
postfix_instance() {
	local name=$1 port=$2 cert=$3 key=$4 extra=$5 d="$W/$1"
	mkdir -p "$d" "$W/$name-queue" "$W/$name-data" "$W/$name-mail"
	chown postfix "$W/$name-data"
	chown -R nobody:nogroup "$W/$name-mail"
	cp "$cert" "$d/cert.pem"; cp "$key" "$d/key.pem"; chmod 600 "$d/key.pem"
	cat >"$d/main.cf" <<CFG
compatibility_level = 3.6
config_directory = $d
queue_directory = $W/$name-queue
data_directory = $W/$name-data
mail_owner = postfix
setgid_group = postdrop
myhostname = $name.localhost
mydomain = localhost
myorigin = localhost
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = permit_mynetworks, reject
disable_dns_lookups = yes
smtp_dns_support_level = disabled
smtp_host_lookup = native
maillog_file = $W/$name.log
maillog_file_prefixes = $W
smtpd_tls_cert_file = $d/cert.pem
smtpd_tls_key_file = $d/key.pem
smtpd_tls_security_level = may
smtp_tls_security_level = may
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_recipient_limit = 1000
default_process_limit = 200
local_recipient_maps =
biff = no
$extra
CFG
	# The packaged master.cf, with smtpd on our port and no chroot (a
	# chroot would need copies of system files in the queue folder).
	awk -v port="$port" '
		/^#/ || NF < 8 { print; next }
		$1 == "smtp" && $2 == "inet" { $1 = "127.0.0.1:" port }
		{ if ($5 == "y" || $5 == "-") $5 = "n"; print }
	' /usr/share/postfix/master.cf.dist >"$d/master.cf"
	# Postfix prints fatal errors only to a terminal or syslog; script(1)
	# gives it a terminal so that a failure is shown.
	script -qec "postfix -c '$d' check" "$W/$name-check.log" >/dev/null 2>&1 || { cat "$W/$name-check.log" >&2; exit 1; }
	script -qec "postfix -c '$d' start" "$W/$name-start.log" >/dev/null 2>&1 || { cat "$W/$name-start.log" "$W/$name.log" >&2; exit 1; }
	for _ in $(seq 1 100); do
		python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "postfix $name did not start" >&2; cat "$W/$name-check.log" "$W/$name.log" >&2; exit 1
}

# ratio_table prints, per level, pochta's figure, the other server's and
# their ratio, from RESULT lines in $1 (pochta) and $2 (the other).
ratio_table() {
	awk -v unit="$3" '
		FNR == 1 { file++ }
		/^RESULT/ {
			key = ""; val = ""
			for (i = 2; i <= NF; i++) {
				split($i, kv, "=")
				if (kv[1] == "label") label = kv[2]
				else if (kv[1] == "rate") val = kv[2]
				else if (kv[1] == "conns" || kv[1] == "sessions" || kv[1] == "clients" || kv[1] == "test" || kv[1] == "size" || kv[1] == "rcpts" || kv[1] == "count") key = key " " $i
			}
			if (file == 1) { p[key] = val; order[++n] = key } else { o[key] = val; other = label }
		}
		END {
			printf "%-32s %12s %12s %8s\n", "run", "pochta", other, "ratio"
			for (i = 1; i <= n; i++) {
				k = order[i]
				r = (o[k] > 0) ? sprintf("%.2f", p[k] / o[k]) : "-"
				printf "%-32s %12s %12s %8s   (%s)\n", k, p[k], o[k], r, unit
			}
		}' "$1" "$2"
}

start_pochta
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -r); $(date -u +%Y-%m-%d)"

if [ "$what" = smtp ] || [ "$what" = all ]; then
	echo "== SMTP: 10 KB messages, STARTTLS, accepted and durably stored (DURATION=$DURATION per run)"
	setup_postfix
	# The two servers take turns at each level, so that a change in the
	# machine's load during the run touches both alike.
	for n in 1 10 50; do
		"$W/smtpbench" -label pochta -addr "127.0.0.1:$P_SUB" -ca "$CERT" -servername localhost \
			-user bench@localhost -pass "$PASS" -to bench@localhost -conns "$n" -duration "$DURATION" | tee -a "$W/smtp-pochta.txt"
		"$W/smtpbench" -label postfix -addr "127.0.0.1:$X_SMTP" -ca "$CERT" -servername localhost \
			-from bench@localhost -to bench@localhost -maildir "$W/postfix-mail/bench" -conns "$n" -duration "$DURATION" | tee -a "$W/smtp-postfix.txt"
	done
	# Every accepted message must be in the mailboxes.
	accepted=$(awk -F'accepted=' '/^RESULT/ { split($2, a, " "); n += a[1] } END { print n }' "$W/smtp-pochta.txt")
	stored=$(pochta user show bench@localhost | sed -n 's/^usage: .* in \([0-9]*\) messages.*/\1/p')
	echo "pochta: $stored messages stored, $accepted accepted"
	[ "$stored" = "$accepted" ] || { echo "pochta lost or duplicated messages" >&2; exit 1; }
	echo
	ratio_table "$W/smtp-pochta.txt" "$W/smtp-postfix.txt" "messages/s"
	echo
fi

# setup_dovecot makes a private Dovecot in $W/dovecot: POP3 over implicit
# TLS on 127.0.0.1:$D_POP3S, users pop0…pop9@localhost in a passwd-file
# with argon2id hashes (64 MiB, 3 passes, like pochta's), Maildirs in
# $W/dovecot-mail seeded with the same messages as pochta.
setup_dovecot() {
	local d="$W/dovecot"
	mkdir -p "$d" "$W/dovecot-run" "$W/dovecot-mail"
	chmod 755 "$W/dovecot-mail"
	cp "$CERT" "$d/cert.pem"; cp "$KEY" "$d/key.pem"; chmod 600 "$d/key.pem"
	local hash
	hash=$(doveadm -O pw -s "$DOVECOT_SCHEME" -p "$PASS")
	echo "   Dovecot password hash: $(printf %s "$hash" | cut -c1-48)..."
	: >"$d/passwd"
	for i in $(seq 0 9); do echo "pop$i@localhost:$hash" >>"$d/passwd"; done
	chmod 644 "$d/passwd"
	cat >"$d/dovecot.conf" <<CFG
base_dir = $W/dovecot-run
state_dir = $W/dovecot-run/state
instance_name = pochta-bench
protocols = pop3
listen = 127.0.0.1
log_path = $W/dovecot.log
ssl = required
ssl_cert = <$d/cert.pem
ssl_key = <$d/key.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain
mail_location = maildir:$W/dovecot-mail/%n
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 1
passdb {
  driver = passwd-file
  args = $d/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$W/dovecot-mail/%n
}
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = $D_POP3S
    ssl = yes
  }
}
service stats {
  unix_listener stats-reader {
    mode = 0666
  }
  unix_listener stats-writer {
    mode = 0666
  }
}
CFG
	mkdir -p "$W/dovecot-run/state"
	dovecot -c "$d/dovecot.conf" || { cat "$W/dovecot.log" >&2; exit 1; }
	for _ in $(seq 1 100); do
		python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$D_POP3S),1)" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "dovecot did not start" >&2; cat "$W/dovecot.log" >&2; exit 1
}

if [ "$what" = pop3 ] || [ "$what" = all ]; then
	echo "== POP3 over TLS (pop3s): logins/s and RETR MB/s, 1 and 10 sessions (POP3_DURATION=$POP3_DURATION per run)"
	echo "   seeding 10 mailboxes of 20 x 10 KB + 5 x 1 MB into pochta and into Maildirs"
	stop_pochta
	"$W/pop3bench" seed -pochta-data "$W/pochta-data" -maildir "$W/dovecot-mail" -users 10 -domain localhost -uid "$(id -u nobody)"
	start_pochta
	setup_dovecot
	"$W/pop3bench" run -label pochta -addr "127.0.0.1:$P_POP3S" -ca "$CERT" -pass "$PASS" -duration "$POP3_DURATION" | tee "$W/pop3-pochta.txt"
	"$W/pop3bench" run -label dovecot -addr "127.0.0.1:$D_POP3S" -ca "$CERT" -pass "$PASS" -duration "$POP3_DURATION" | tee "$W/pop3-dovecot.txt"
	echo
	echo "logins/s (TLS connect, USER/PASS, QUIT; pochta argon2id, Dovecot $DOVECOT_SCHEME):"
	ratio_table <(grep 'test=login' "$W/pop3-pochta.txt") <(grep 'test=login' "$W/pop3-dovecot.txt") "logins/s"
	echo "RETR throughput:"
	ratio_table <(grep 'test=retr' "$W/pop3-pochta.txt") <(grep 'test=retr' "$W/pop3-dovecot.txt") "MB/s"
	echo
fi

# relay_pochta NAME PORTS... starts a pochta instance for the relay run
# from $W/NAME.toml, logging to $W/NAME.log.
relay_pochta() {
	local name=$1
	"$W/pochta" serve --config "$W/$name.toml" 2>>"$W/$name.log" &
	relay_pids+=($!)
	for _ in $(seq 1 300); do
		grep -q 'msg="pochta serving"' "$W/$name.log" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "pochta $name did not start:" >&2; cat "$W/$name.log" >&2; exit 1
}

# relay_postfix NAME PORT MAIN_CF_EXTRA starts a private Postfix for the
# relay benchmark, with the certificate of the qa pochta instance.
relay_postfix() {
	postfix_instance "$1" "$2" "$W/qa-data/tls/selfsigned.crt" "$W/qa-data/tls/selfsigned.key" "$3"
}

if [ "$what" = queue ] || [ "$what" = all ]; then
	echo "== Relay A -> B: 10 KB messages over one connection to A, until B stored every copy"
	echo "   ($QUEUE_MSGS messages with 1 recipient, $QUEUE_MSGS100 with 100)"
	relay_conf() { # name hostname smtp-address submission-address extra
		cat >"$W/$1.toml" <<CFG
hostname = "$2"
data_dir = "$W/$1-data"
[listen]
smtp = "$3"
submission = "$4"
submissions = ""
pop3 = ""
pop3s = ""
imap = ""
imaps = ""
http = ""
[smtp]
max_recipients = 1000
[auth]
failed_login_delay = "0s"
[dns]
resolver = "127.0.0.1:1"
$5
CFG
	}
	# B: r0..r99@b.example. A: bench@a.example, b.example routed to B,
	# as in bench/queue. Each DKIM-signs (A) and checks (B).
	# Ports are taken just before each server starts (adding 100 users
	# takes a while, and other programs take ports meanwhile).
	relay_conf qb mail.b.example "" "" ""
	relay_conf qa mail.a.example "" "" ""
	"$W/pochta" domain add b.example --config "$W/qb.toml" >/dev/null
	for i in $(seq 0 99); do echo "$PASS" | "$W/pochta" user add "r$i@b.example" --password-stdin --config "$W/qb.toml" >/dev/null; done
	"$W/pochta" domain add a.example --config "$W/qa.toml" >/dev/null
	echo "$PASS" | "$W/pochta" user add bench@a.example --password-stdin --config "$W/qa.toml" >/dev/null
	QB_SMTP=$(freeport)
	relay_conf qb mail.b.example "127.0.0.1:$QB_SMTP" "" ""
	relay_pochta qb
	QA_SUB=$(freeport)
	relay_conf qa mail.a.example "" "127.0.0.1:$QA_SUB" \
		"$(printf '[queue]\nconcurrency = 20\nconcurrency_per_domain = 10\n[queue.routes]\n"b.example" = "127.0.0.1:%s"\n' "$QB_SMTP")"
	relay_pochta qa
	# Postfix B delivers r0..r99@b.example to Maildirs; Postfix A relays
	# b.example to B (opportunistic STARTTLS, like pochta).
	: >"$W/vmailbox-b"
	for i in $(seq 0 99); do echo "r$i@b.example r$i/" >>"$W/vmailbox-b"; done
	XB_SMTP=$(freeport)
	relay_postfix postfix-b "$XB_SMTP" "virtual_mailbox_domains = b.example
virtual_mailbox_base = $W/postfix-b-mail
virtual_mailbox_maps = texthash:$W/vmailbox-b
virtual_uid_maps = static:$(id -u nobody)
virtual_gid_maps = static:$(id -g nobody)
virtual_minimum_uid = 100"
	echo "b.example smtp:[127.0.0.1]:$XB_SMTP" >"$W/transport-a"
	XA_SMTP=$(freeport)
	relay_postfix postfix-a "$XA_SMTP" "transport_maps = texthash:$W/transport-a
default_destination_recipient_limit = 1000
default_destination_concurrency_limit = 10"
	QCERT="$W/qa-data/tls/selfsigned.crt"
	for r in 1 100; do
		n=$QUEUE_MSGS; [ "$r" = 100 ] && n=$QUEUE_MSGS100
		"$W/queueload" -label pochta -addr "127.0.0.1:$QA_SUB" -starttls -ca "$QCERT" -servername mail.a.example \
			-user bench@a.example -pass "$PASS" -from bench@a.example -domain b.example -rcpts "$r" -n "$n" \
			-log "$W/qb.log" -match "msg=delivered service=delivery" | tee -a "$W/queue-pochta.txt"
		"$W/queueload" -label postfix -addr "127.0.0.1:$XA_SMTP" -starttls -ca "$QCERT" -servername mail.a.example \
			-from bench@a.example -domain b.example -rcpts "$r" -n "$n" \
			-maildirs "$W/postfix-b-mail/r*/new" | tee -a "$W/queue-postfix.txt"
	done
	echo
	ratio_table "$W/queue-pochta.txt" "$W/queue-postfix.txt" "messages/s"
fi

# setup_dovecot_imap makes a second private Dovecot in $W/dovecot-imap:
# IMAP over implicit TLS on 127.0.0.1:$D_IMAPS, the imap* users in a
# passwd-file with the same bcrypt hashes pochta got from `imapbench seed`,
# Maildirs in $W/dovecot-imap-mail. Otherwise the packaged defaults (one
# imap process per connection, mail_fsync = optimized), with limits raised
# for many connections: login processes in high-performance mode
# (service_count = 0), no per-user connection limit. For the idle test the
# imap service later takes up to 100 clients per process (see below).
setup_dovecot_imap() { # clients per imap process, connections per imap process's life (0: no limit)
	local d="$W/dovecot-imap"
	mkdir -p "$d" "$W/dovecot-imap-run/state"
	cp "$CERT" "$d/cert.pem"; cp "$KEY" "$d/key.pem"; chmod 600 "$d/key.pem"
	chmod 644 "$d/passwd"
	cat >"$d/dovecot.conf" <<CFG
base_dir = $W/dovecot-imap-run
state_dir = $W/dovecot-imap-run/state
instance_name = pochta-bench-imap
protocols = imap
listen = 127.0.0.1
log_path = $W/dovecot-imap.log
ssl = required
ssl_cert = <$d/cert.pem
ssl_key = <$d/key.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain
mail_location = maildir:$W/dovecot-imap-mail/%n
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 1
default_client_limit = 15000
default_process_limit = 1000
default_vsz_limit = 2G
passdb {
  driver = passwd-file
  args = $d/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$W/dovecot-imap-mail/%n
}
protocol imap {
  mail_max_userip_connections = 100000
}
service imap-login {
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $D_IMAPS
    ssl = yes
  }
  service_count = 0
  client_limit = 15000
  process_min_avail = 2
}
service imap {
  client_limit = $1
  service_count = $2
  process_limit = 1000
}
service anvil {
  client_limit = 15000
}
service auth {
  client_limit = 15000
}
service stats {
  client_limit = 15000
  unix_listener stats-reader {
    mode = 0666
  }
  unix_listener stats-writer {
    mode = 0666
  }
}
CFG
	dovecot -c "$d/dovecot.conf" || { cat "$W/dovecot-imap.log" >&2; exit 1; }
	for _ in $(seq 1 100); do
		python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$D_IMAPS),1)" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "dovecot (imap) did not start" >&2; cat "$W/dovecot-imap.log" >&2; exit 1
}

# pss_kib prints the proportional set size (KiB) of a process and all its
# descendants: shared pages are counted once, so many Dovecot processes
# are not over-counted.
pss_kib() {
	local pids=$1 all=$1 next
	while [ -n "$pids" ]; do
		next=$(for p in $pids; do cat /proc/$p/task/*/children 2>/dev/null; done | tr '\n' ' ')
		all="$all $next"; pids=$(echo $next)
	done
	for p in $all; do awk '/^Pss:/ {print $2}' /proc/$p/smaps_rollup 2>/dev/null; done | awk '{s += $1} END {print s+0}'
}

# imaptest_mbox writes $W/imaptest.mbox, the messages imaptest APPENDs:
# the first 50 of imapmix's Maildir (the ~4 KB messages bench/imap seeds),
# each after a From_ line, with LF line ends (imaptest sends CRLF) and
# body lines starting with "From " quoted as mboxrd does.
imaptest_mbox() {
	local f
	for f in $(ls "$W/dovecot-imap-mail/imapmix/cur" | sort -n | head -50); do
		echo "From imaptest@localhost  Tue Nov 24 12:00:00 2026"
		tr -d '\r' <"$W/dovecot-imap-mail/imapmix/cur/$f" | sed 's/^>*From />&/'
		echo
	done >"$W/imaptest.mbox"
}

# imaptest_seconds prints IMAP_DURATION (a Go duration: 30s, 2m, 1m30s)
# in whole seconds, at least 1, for imaptest's secs=.
imaptest_seconds() {
	python3 - "$IMAP_DURATION" <<'PY'
import re, sys
d = sys.argv[1]
unit = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
parts = re.findall(r"([0-9.]+)(h|ms|m|s|us|µs|ns)", d)
if not parts or "".join(n + u for n, u in parts) != d:
    sys.exit("IMAP_DURATION=%s is not a duration like 30s or 1m30s" % d)
print(max(1, int(sum(float(n) * unit[u] for n, u in parts))))
PY
}

# imaptest_run LABEL PORT MODE CLIENTS runs Dovecot's imaptest in stress
# mode against one server over imaps (the certificate verified) for
# IMAP_DURATION, as imaptest@localhost, all clients in its INBOX. MODE
# "keep": sessions are kept (logout=0: each client logs in once, then runs
# imaptest's default command mix); "login": imaptest's default mix, with
# LOGOUT and a new LOGIN in it. imaptest's own output goes to
# $W/imaptest-LABEL-MODE-CLIENTS.log; from its "Totals" (commands of each
# kind completed) a RESULT line with commands per second is appended to
# $W/imaptest-LABEL.txt. imaptest also checks the server's answers
# against the state it tracks: its "Error:" lines are counted and shown.
imaptest_run() {
	local label=$1 port=$2 mode=$3 n=$4 secs log extra=()
	secs=$(imaptest_seconds)
	log="$W/imaptest-$label-$mode-$n.log"
	[ "$mode" = keep ] && extra=(logout=0)
	# secs=N,10: stop after N seconds, give the clients 10 more to finish.
	imaptest host=127.0.0.1 port="$port" ssl ssl_ca_file="$CERT" user=imaptest@localhost pass="$PASS" \
		mbox="$W/imaptest.mbox" clients="$n" secs="$secs,10" "${extra[@]}" >"$log" 2>&1 </dev/null ||
		echo "   imaptest exited with status $? (see $log)"
	awk -v label="$label" -v mode="$mode" -v n="$n" -v secs="$secs" -v logf="$log" '
		/^Error:/ { errors++; if (errors <= 3) print "   " label ": " $0 }
		/^Totals:/ { totals = 1; next }
		totals && /^[A-Z][a-z]/ { split($0, names); next }
		totals && /^ *[0-9]+ / && $0 !~ /%/ { for (i = 1; i <= NF; i++) { sum += $i; line = line " " names[i] "=" $i } }
		END {
			if (sum == 0) { print "imaptest " label " " mode " " n ": no Totals in " logf > "/dev/stderr"; exit 1 }
			printf "RESULT label=%s test=imaptest-%s clients=%d commands=%d errors=%d rate=%.0f\n", label, mode, n, sum, errors, sum / secs
			print "   totals:" line
		}' "$log" | tee -a "$W/imaptest-$label.txt"
}

# imaptest_runs runs imaptest_run at 10 and 50 clients, sessions kept and
# with logins, against pochta and Dovecot in turn.
imaptest_runs() {
	imaptest_mbox
	local mode n
	for mode in keep login; do
		for n in 10 50; do
			imaptest_run pochta "$P_IMAPS" "$mode" "$n"
			imaptest_run dovecot "$D_IMAPS" "$mode" "$n"
		done
	done
}

if [ "$what" = imap ] || [ "$what" = all ]; then
	echo "== IMAP over TLS (imaps): mixed load, FETCH ENVELOPE, SEARCH TEXT, idle connections (IMAP_DURATION=$IMAP_DURATION per run)"
	if command -v imaptest >/dev/null; then
		echo "   imaptest is on PATH ($(command -v imaptest)): its stress mode runs as well, after bench/imap's mix"
	fi
	echo "   seeding imapmix (200), imapenv (10000), imapsearch ($IMAP_SEARCH_COUNT) into pochta and into Maildirs"
	# Each side of IMAP_IDLE_CONNS connections needs a descriptor per
	# connection: raise the soft limit as far as the hard one allows.
	ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
	if [ "$(ulimit -n)" -lt $((IMAP_IDLE_CONNS + 1000)) ]; then
		echo "open file limit $(ulimit -n) is too low for IMAP_IDLE_CONNS=$IMAP_IDLE_CONNS" >&2; exit 1
	fi
	stop_pochta
	mkdir -p "$W/dovecot-imap" "$W/dovecot-imap-mail"
	chmod 755 "$W/dovecot-imap-mail"
	: >"$W/dovecot-imap/passwd"
	seed_imap() { # user count [needle]
		local hash
		hash=$("$W/imapbench" seed -pochta-data "$W/pochta-data" -maildir "$W/dovecot-imap-mail" -user "$1@localhost" \
			-count "$2" -needle "${3:-0}" -password "$PASS" -uid "$(id -u nobody)")
		echo "$1@localhost:{BLF-CRYPT}$hash" >>"$W/dovecot-imap/passwd"
	}
	seed_imap imapmix 200
	seed_imap imapenv 10000
	seed_imap imapsearch "$IMAP_SEARCH_COUNT" $((IMAP_SEARCH_COUNT / 2))
	seed_imap imapidle 0
	seed_imap imaptest 0
	start_pochta
	setup_dovecot_imap 1 1
	common=(-ca "$CERT" -pass "$PASS")
	for n in 10 50; do
		"$W/imapbench" mix -label pochta -addr "127.0.0.1:$P_IMAPS" "${common[@]}" -user imapmix@localhost -count 200 -clients "$n" -duration "$IMAP_DURATION" | tee -a "$W/imap-pochta.txt"
		"$W/imapbench" mix -label dovecot -addr "127.0.0.1:$D_IMAPS" "${common[@]}" -user imapmix@localhost -count 200 -clients "$n" -duration "$IMAP_DURATION" | tee -a "$W/imap-dovecot.txt"
	done
	if command -v imaptest >/dev/null; then
		imaptest_runs
	fi
	for side in "pochta $P_IMAPS" "dovecot $D_IMAPS"; do
		set -- $side
		"$W/imapbench" envelope -label "$1" -addr "127.0.0.1:$2" "${common[@]}" -user imapenv@localhost -count 10000 | tee -a "$W/imap-$1.txt"
		"$W/imapbench" search -label "$1" -addr "127.0.0.1:$2" "${common[@]}" -user imapsearch@localhost -count "$IMAP_SEARCH_COUNT" \
			-needle "needle$((IMAP_SEARCH_COUNT / 2))" | tee -a "$W/imap-$1.txt"
	done
	# Idle connections: memory of the whole server (PSS of every process)
	# before and with IMAP_IDLE_CONNS connections in IDLE. Dovecot's
	# default of one imap process per connection would mean 10,000
	# processes (and ~0.6 MiB each); it is allowed 100 clients per imap
	# process here instead, the setting a large installation would use.
	# That needs service_count = 0 as well: the packaged service_count = 1
	# ends a process after its first client, so client_limit has no effect
	# and logins fail at process_limit (1000 connections; the log says
	# "service(imap): process_limit (1000) reached").
	# (A reload does not apply a new client_limit: restart.)
	doveadm -c "$W/dovecot-imap/dovecot.conf" stop
	for _ in $(seq 1 100); do
		python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$D_IMAPS),1)" 2>/dev/null || break
		sleep 0.1
	done
	setup_dovecot_imap 100 0
	for side in "pochta $P_IMAPS $pochta_pid" "dovecot $D_IMAPS $(cat "$W/dovecot-imap-run/master.pid")"; do
		set -- $side
		before=$(pss_kib "$3")
		fifo="$W/idle-$1.fifo"; mkfifo "$fifo"
		"$W/imapbench" idle -label "$1" -addr "127.0.0.1:$2" "${common[@]}" -user imapidle@localhost -conns "$IMAP_IDLE_CONNS" <"$fifo" >"$W/idle-$1.out" 2>&1 &
		idle_pid=$!
		exec 9>"$fifo"
		for _ in $(seq 1 1800); do
			grep -q '^READY' "$W/idle-$1.out" 2>/dev/null && break
			kill -0 "$idle_pid" 2>/dev/null || break
			sleep 1
		done
		sleep 5
		with=$(pss_kib "$3")
		exec 9>&-
		wait "$idle_pid" || { cat "$W/idle-$1.out" >&2; exit 1; }
		cat "$W/idle-$1.out"
		echo "RESULT label=$1 test=idle-memory conns=$IMAP_IDLE_CONNS rate=$(( (with - before) / 1024 ))" | tee -a "$W/imap-$1.txt"
		echo "   $1: $((before / 1024)) MiB before, $((with / 1024)) MiB with $IMAP_IDLE_CONNS connections in IDLE"
	done
	echo
	echo "mixed load (commands/s; higher is better):"
	ratio_table <(grep 'test=mix' "$W/imap-pochta.txt") <(grep 'test=mix' "$W/imap-dovecot.txt") "commands/s"
	if [ -f "$W/imaptest-pochta.txt" ]; then
		echo "imaptest stress mode, default command mix (commands/s; keep: sessions kept, logout=0, the main comparison; login: with LOGOUT/LOGIN):"
		ratio_table <(grep '^RESULT' "$W/imaptest-pochta.txt") <(grep '^RESULT' "$W/imaptest-dovecot.txt") "commands/s"
	fi
	echo "FETCH 1:* (ENVELOPE) over 10,000 and SEARCH TEXT over $IMAP_SEARCH_COUNT (ms, best of 3 after a warm-up; ratio above 1: pochta slower):"
	ratio_table <(grep -E 'test=(envelope|search)' "$W/imap-pochta.txt") <(grep -E 'test=(envelope|search)' "$W/imap-dovecot.txt") "ms"
	echo "memory added by $IMAP_IDLE_CONNS idle IDLE connections (MiB; ratio above 1: pochta uses more):"
	ratio_table <(grep 'test=idle-memory' "$W/imap-pochta.txt") <(grep 'test=idle-memory' "$W/imap-dovecot.txt") "MiB"
	echo
fi
