#!/usr/bin/env bash
# Real Dovecot (IMAP + LMTP) and Postfix (SMTP) on loopback for the e-mail integration
# tests. Installs the Debian packages if missing, runs both without systemd or syslog,
# as root, with everything (config, queue, mail, logs) under one base directory.
# Idempotent: rerun freely; a service that is up and answering is left alone.
#
#   scripts/mail-services.sh [start]   # install if needed, start what is down, self-test
#   scripts/mail-services.sh stop      # stop both
#   scripts/mail-services.sh restart   # stop, then start
#   scripts/mail-services.sh status    # report; exit 0 only if both are up and answering
#   scripts/mail-services.sh env       # print the settings as shell `export` lines
#
# Environment (defaults):
#   ADUAN_MAIL_DIR=/tmp/aduan-mail   ADUAN_IMAP_PORT=14143   ADUAN_LMTP_PORT=14024
#   ADUAN_SMTP_PORT=2525             ADUAN_MAIL_PASSWORD=rahasia (every test user)
#   ADUAN_SUBMISSION_PORT=2587       ADUAN_MAIL_TOKEN=bearer-rahasia (every test user's
#                                    OAuth2 bearer token, for SASL XOAUTH2)
#
# Port 2525 accepts mail from loopback without login (as an MTA does); port 2587 is a
# submission port that requires SMTP AUTH (PLAIN, LOGIN or XOAUTH2, checked by Dovecot).
#
# Outside the base directory it touches only the packages (dovecot-imapd, dovecot-lmtpd,
# postfix) and one line of /etc/postfix/main.cf (`alternate_config_directories`, which
# Postfix requires before it runs with a private config directory).
set -euo pipefail

BASE="${ADUAN_MAIL_DIR:-/tmp/aduan-mail}"
IMAP_PORT="${ADUAN_IMAP_PORT:-14143}"
LMTP_PORT="${ADUAN_LMTP_PORT:-14024}"
SMTP_PORT="${ADUAN_SMTP_PORT:-2525}"
SUBMISSION_PORT="${ADUAN_SUBMISSION_PORT:-2587}"
PASSWORD="${ADUAN_MAIL_PASSWORD:-rahasia}"
TOKEN="${ADUAN_MAIL_TOKEN:-bearer-rahasia}"
WAIT_SECS="${ADUAN_MAIL_WAIT:-10}"

DOMAINS=(aduan.test warga.test)
USERS=(pengaduan@aduan.test pengaduan2@aduan.test kanal1@aduan.test kanal2@aduan.test warga@warga.test warga2@warga.test
  bounce@aduan.test)
SELFTEST_USER=selftest@aduan.test # the start-up self-test mails only this one

DOVECOT_DIR="$BASE/dovecot"        # dovecot.conf, users (passwd-file)
DOVECOT_RUN="$DOVECOT_DIR/run"     # base_dir: sockets, master.pid
DOVECOT_CONF="$DOVECOT_DIR/dovecot.conf"
POSTFIX_ETC="$BASE/postfix/etc"    # Postfix's private config directory
POSTFIX_SPOOL="$BASE/postfix/spool"
POSTFIX_DATA="$BASE/postfix/data"
MAIL_ROOT="$BASE/mail"             # <domain>/<user>/Maildir, owned by dovecot
LOG_DIR="$BASE/log"
DOVECOT_LOG="$LOG_DIR/dovecot.log"
POSTFIX_LOG="$LOG_DIR/postfix.log"

log() { printf '[mail-services] %s\n' "$*" >&2; }
die() { printf '[mail-services] ERROR: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }

check_settings() {
  local p
  for p in "$IMAP_PORT" "$LMTP_PORT" "$SMTP_PORT" "$SUBMISSION_PORT"; do
    [[ "$p" =~ ^[0-9]+$ ]] && [ "$p" -ge 1 ] && [ "$p" -le 65535 ] ||
      die "bad port '$p' (ADUAN_IMAP_PORT / ADUAN_LMTP_PORT / ADUAN_SMTP_PORT / ADUAN_SUBMISSION_PORT)"
  done
  [ "$(printf '%s\n' "$IMAP_PORT" "$LMTP_PORT" "$SMTP_PORT" "$SUBMISSION_PORT" | sort -u | wc -l)" -eq 4 ] ||
    die "IMAP, LMTP, SMTP and submission ports must differ"
  case "$BASE" in
    /*) ;;
    *) die "ADUAN_MAIL_DIR must be an absolute path (got '$BASE')" ;;
  esac
  case "$BASE" in *[[:space:],]*) die "ADUAN_MAIL_DIR must not contain spaces or commas" ;; esac
  case "$PASSWORD" in *[:[:space:]]*) die "ADUAN_MAIL_PASSWORD must not contain ':' or spaces" ;; esac
  [ -n "$PASSWORD" ] || die "ADUAN_MAIL_PASSWORD must not be empty"
  case "$TOKEN" in *[:[:space:]]*) die "ADUAN_MAIL_TOKEN must not contain ':' or spaces" ;; esac
  [ -n "$TOKEN" ] || die "ADUAN_MAIL_TOKEN must not be empty"
}

password_note() {
  if [ -n "${ADUAN_MAIL_PASSWORD:-}" ] && [ "$ADUAN_MAIL_PASSWORD" != rahasia ]; then
    echo "password from ADUAN_MAIL_PASSWORD"
  else
    echo "password rahasia"
  fi
}

pick_python() { # Debian's own python3 first (no pyenv shim in the way), else PATH's
  if [ -x /usr/bin/python3 ]; then echo /usr/bin/python3; else command -v python3; fi
}

# --- packages -------------------------------------------------------------------------
have_packages() {
  local p
  for p in dovecot-imapd dovecot-lmtpd postfix; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || return 1
  done
  [ -x /usr/sbin/dovecot ] && [ -x /usr/sbin/postfix ]
}

install_packages() {
  have_packages && return 0
  [ "$(id -u)" -eq 0 ] || die "dovecot/postfix are not installed and installing needs root"
  log "installing dovecot-imapd dovecot-lmtpd postfix (apt-get)"
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  # Keep the packages' own init scripts from starting a system-wide Dovecot/Postfix
  # (the standard Debian policy-rc.d hook); only if no policy is in place already.
  local own_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  local apt_log="/tmp/aduan-mail-apt.$$.log" rc=0
  local install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold
    dovecot-imapd dovecot-lmtpd postfix)
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    apt-get update -q >"$apt_log" 2>&1 || rc=$?
  fi
  if [ "$rc" -eq 0 ] && ! "${install[@]}" >>"$apt_log" 2>&1; then
    log "install failed; running apt-get update and retrying"
    rc=0
    apt-get update -q >>"$apt_log" 2>&1 || rc=$?
    [ "$rc" -ne 0 ] || "${install[@]}" >>"$apt_log" 2>&1 || rc=$?
  fi
  [ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
  if [ "$rc" -ne 0 ] || ! have_packages; then
    tail -n 20 "$apt_log" >&2 || true
    die "could not install dovecot-imapd dovecot-lmtpd postfix (full log: $apt_log)"
  fi
  rm -f "$apt_log"
}

# --- configuration --------------------------------------------------------------------
# Writes stdin to FILE only when the content differs; returns 0 if it changed.
write_if_changed() {
  local file="$1" tmp
  tmp="$(mktemp "$file.XXXXXX")"
  cat >"$tmp"
  if [ -f "$file" ] && cmp -s "$tmp" "$file"; then rm -f "$tmp"; return 1; fi
  chmod 644 "$tmp"
  mv -f "$tmp" "$file"
  return 0
}

DOVECOT_CHANGED=""
POSTFIX_CHANGED=""

write_dovecot_config() {
  install -d -m 755 "$DOVECOT_DIR" "$DOVECOT_DIR/state" "$LOG_DIR"
  install -d -m 750 -o dovecot -g dovecot "$MAIL_ROOT"
  local u
  for u in "${USERS[@]}" "$SELFTEST_USER"; do
    install -d -m 750 -o dovecot -g dovecot "$MAIL_ROOT/${u#*@}" "$MAIL_ROOT/${u#*@}/${u%@*}"
  done
  {
    for u in "${USERS[@]}" "$SELFTEST_USER"; do printf '%s:{PLAIN}%s\n' "$u" "$PASSWORD"; done
  } | write_if_changed "$DOVECOT_DIR/users" && DOVECOT_CHANGED=1
  chown root:dovecot "$DOVECOT_DIR/users"
  chmod 640 "$DOVECOT_DIR/users"
  # Dovecot 2.3's XOAUTH2/OAUTHBEARER mechanisms verify the bearer token through the
  # passdb as if it were a password; a deployment points an oauth2 passdb at its
  # identity provider instead, which makes no difference to the client.
  {
    for u in "${USERS[@]}" "$SELFTEST_USER"; do printf '%s:{PLAIN}%s\n' "$u" "$TOKEN"; done
  } | write_if_changed "$DOVECOT_DIR/tokens" && DOVECOT_CHANGED=1
  chown root:dovecot "$DOVECOT_DIR/tokens"
  chmod 640 "$DOVECOT_DIR/tokens"

  write_if_changed "$DOVECOT_CONF" <<EOF && DOVECOT_CHANGED=1 || true
# Generated by scripts/mail-services.sh; rewritten on every run.
base_dir = $DOVECOT_RUN
state_dir = $DOVECOT_DIR/state
instance_name = aduan-dovecot
protocols = imap lmtp
listen = 127.0.0.1
log_path = $DOVECOT_LOG
info_log_path = $DOVECOT_LOG

# Login processes refuse to run as root.
default_login_user = dovenull
default_internal_user = dovecot
default_internal_group = dovecot
first_valid_uid = 100

ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2 oauthbearer
auth_failure_delay = 0
# Tests open many connections (IDLE watchers, pollers) from the same address.
mail_max_userip_connections = 200

passdb {
  driver = passwd-file
  mechanisms = plain login none
  args = scheme=PLAIN username_format=%u $DOVECOT_DIR/users
}
passdb {
  driver = passwd-file
  mechanisms = xoauth2 oauthbearer
  args = scheme=PLAIN username_format=%u $DOVECOT_DIR/tokens
}
userdb {
  driver = static
  args = uid=dovecot gid=dovecot home=$MAIL_ROOT/%d/%n
}
mail_location = maildir:~/Maildir
mail_plugins =
namespace inbox {
  inbox = yes
}
# IDLE, UIDPLUS, MOVE, CONDSTORE, QRESYNC are in Dovecot's default capability list;
# imap_capability is deliberately not set.
protocol imap {
  mail_plugins =
}
protocol lmtp {
  mail_plugins =
}
recipient_delimiter = +

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
# Postfix's submission port asks Dovecot to check SMTP AUTH.
service auth {
  unix_listener auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
}
EOF
}

ensure_alternate_config_dir() {
  # Postfix runs with `-c DIR` only if the default main.cf lists DIR.
  if [ ! -f /etc/postfix/main.cf ]; then
    log "creating a minimal /etc/postfix/main.cf"
    install -d -m 755 /etc/postfix
    cat >/etc/postfix/main.cf <<'EOF'
# Minimal main.cf created by aduan's scripts/mail-services.sh (Postfix was installed with
# "No configuration"). It exists so that Postfix accepts the private config directory
# listed below; the test Postfix's own settings live in that directory.
compatibility_level = 3.6
EOF
  fi
  local current dirs d
  current="$(postconf -c /etc/postfix -h alternate_config_directories 2>/dev/null || true)"
  for d in $(tr ',' ' ' <<<"$current"); do [ "$d" = "$POSTFIX_ETC" ] && return 0; done
  dirs="$(tr ',' ' ' <<<"$current" | xargs)"
  dirs="${dirs:+$dirs }$POSTFIX_ETC"
  log "adding $POSTFIX_ETC to alternate_config_directories in /etc/postfix/main.cf"
  postconf -c /etc/postfix -e "alternate_config_directories = $dirs"
}

write_postfix_config() {
  ensure_alternate_config_dir
  install -d -m 755 "$BASE/postfix" "$POSTFIX_ETC" "$POSTFIX_SPOOL" "$LOG_DIR"
  local domains="${DOMAINS[*]}"
  write_if_changed "$POSTFIX_ETC/main.cf" <<EOF && POSTFIX_CHANGED=1 || true
# Generated by scripts/mail-services.sh; rewritten on every run.
compatibility_level = 3.6
queue_directory = $POSTFIX_SPOOL
data_directory = $POSTFIX_DATA
mail_owner = postfix
setgid_group = postdrop

# No syslog here: Postfix logs to a file through its postlogd service (master.cf).
maillog_file = $POSTFIX_LOG
maillog_file_prefixes = $LOG_DIR

myhostname = mail.aduan.test
mydomain = aduan.test
myorigin = \$mydomain
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_banner = \$myhostname ESMTP
biff = no
append_dot_mydomain = no
readme_directory = no

# Every test domain is a virtual mailbox domain delivered over LMTP into Dovecot.
# virtual_mailbox_maps stays empty, so Postfix accepts any address of these domains and
# Dovecot's LMTP rejects unknown users: Postfix then returns a real DSN to the sender.
virtual_mailbox_domains = $domains
virtual_transport = lmtp:inet:127.0.0.1:$LMTP_PORT
recipient_delimiter = +
alias_maps =
alias_database =
local_recipient_maps =
local_transport = error:local delivery is disabled in the aduan test set-up
default_transport = error:outside mail is disabled in the aduan test set-up
relay_transport = error:outside mail is disabled in the aduan test set-up
smtpd_relay_restrictions = permit_mynetworks, reject

# Retry soon after Dovecot comes back, rather than after minutes.
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 30s
EOF

  write_if_changed "$POSTFIX_ETC/master.cf" <<EOF && POSTFIX_CHANGED=1 || true
# Generated by scripts/mail-services.sh; rewritten on every run. Nothing is chrooted.
# service type  private unpriv  chroot  wakeup  maxproc command
127.0.0.1:$SMTP_PORT inet n -   n       -       -       smtpd
127.0.0.1:$SUBMISSION_PORT inet n - n     -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_sasl_type=dovecot
  -o smtpd_sasl_path=$DOVECOT_RUN/auth-postfix
  -o smtpd_sasl_security_options=noanonymous
  -o smtpd_tls_security_level=none
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

# --- probes ---------------------------------------------------------------------------
# First line that a server on 127.0.0.1:PORT greets with (empty if none), sending BYE.
greeting() {
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    IFS= read -r -t 2 line <&3 || exit 1
    printf "%s\r\n" "$2" >&3 || true
    printf "%s\n" "$line"
  ' _ "$1" "$2" 2>/dev/null | tr -d '\r' || true
}
imap_up() { [[ "$(greeting "$IMAP_PORT" 'a LOGOUT')" == "* OK"* ]]; }
lmtp_up() { [[ "$(greeting "$LMTP_PORT" 'QUIT')" == 220* ]]; }
smtp_up() {
  [[ "$(greeting "$SMTP_PORT" 'QUIT')" == 220* ]] &&
    [[ "$(greeting "$SUBMISSION_PORT" 'QUIT')" == 220* ]]
}
port_busy() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null; }

# True if PID is a live (not zombie) process named NAME.
alive_as() {
  [[ "$1" =~ ^[0-9]+$ ]] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] &&
    [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}
pid_gone() {
  [ ! -e "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]
}
dovecot_pid() {
  local pid
  pid="$(cat "$DOVECOT_RUN/master.pid" 2>/dev/null || true)"
  alive_as "$pid" dovecot && echo "$pid"
}
postfix_pid() {
  local pid
  pid="$(tr -d ' ' 2>/dev/null <"$POSTFIX_SPOOL/pid/master.pid" || true)"
  alive_as "$pid" master && echo "$pid"
}
dovecot_running() { [ -n "$(dovecot_pid)" ]; }
postfix_running() { [ -n "$(postfix_pid)" ]; }
dovecot_ok() { dovecot_running && imap_up && lmtp_up; }
postfix_ok() { postfix_running && smtp_up; }

wait_for() { # SECONDS CMD...
  local secs="$1" deadline
  shift
  deadline=$((SECONDS + secs))
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# --- start / stop ---------------------------------------------------------------------
# Each stop_* signals its service and sets STOP_PIDS; wait_stopped then waits for all
# of them (Postfix takes ~2 s and Dovecot ~3 s to exit, so `stop` signals both first).
STOP_PIDS=()

stop_dovecot() {
  local pid
  pid="$(dovecot_pid || true)"
  [ -n "$pid" ] || return 0
  log "stopping Dovecot (pid $pid)"
  kill "$pid" 2>/dev/null || true
  STOP_PIDS+=("$pid")
}

stop_postfix() {
  local pid
  pid="$(postfix_pid || true)"
  [ -n "$pid" ] || return 0
  log "stopping Postfix (pid $pid)"
  postfix -c "$POSTFIX_ETC" stop </dev/null >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
  STOP_PIDS+=("$pid")
}

wait_stopped() {
  local pid
  for pid in "${STOP_PIDS[@]}"; do
    if ! wait_for 10 pid_gone "$pid"; then
      log "pid $pid did not stop in 10 s; killing it"
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  STOP_PIDS=()
}

fail_start() { # NAME LOG WHAT
  log "last lines of $2:"
  tail -n 15 "$2" 2>/dev/null | sed 's/^/    /' >&2 || true
  die "$1 did not come up ($3); see $2"
}

start_dovecot() {
  local err
  if ! err="$(doveconf -c "$DOVECOT_CONF" -n 2>&1 >/dev/null)"; then
    die "Dovecot rejects $DOVECOT_CONF: $err"
  fi
  log "starting Dovecot (IMAP 127.0.0.1:$IMAP_PORT, LMTP 127.0.0.1:$LMTP_PORT)"
  if ! dovecot -c "$DOVECOT_CONF" </dev/null >>"$DOVECOT_LOG" 2>&1 9>&-; then
    fail_start Dovecot "$DOVECOT_LOG" "dovecot -c $DOVECOT_CONF failed"
  fi
  wait_for "$WAIT_SECS" dovecot_ok ||
    fail_start Dovecot "$DOVECOT_LOG" "ports $IMAP_PORT/$LMTP_PORT not answering after ${WAIT_SECS}s"
}

start_postfix() {
  log "starting Postfix (SMTP 127.0.0.1:$SMTP_PORT, submission 127.0.0.1:$SUBMISSION_PORT)"
  touch "$POSTFIX_LOG"
  if ! postfix -c "$POSTFIX_ETC" start </dev/null >>"$POSTFIX_LOG" 2>&1 9>&-; then
    fail_start Postfix "$POSTFIX_LOG" "postfix -c $POSTFIX_ETC start failed"
  fi
  wait_for "$WAIT_SECS" postfix_ok ||
    fail_start Postfix "$POSTFIX_LOG" "ports $SMTP_PORT/$SUBMISSION_PORT not answering after ${WAIT_SECS}s"
}

# --- self-test ------------------------------------------------------------------------
# Mails selftest@aduan.test from warga@warga.test through Postfix, waits for it in the
# INBOX over IMAP, deletes it, and checks that every test user can log in.
self_test() {
  local py
  py="$(pick_python)" || die "python3 is needed for the self-test"
  local out
  if ! out="$(MS_PASSWORD="$PASSWORD" MS_TOKEN="$TOKEN" MS_SUBMISSION="$SUBMISSION_PORT" MS_USERS="${USERS[*]}" "$py" - \
    "$SMTP_PORT" "$IMAP_PORT" "$SELFTEST_USER" 2>&1 <<'PY'
import imaplib, os, smtplib, sys, time, uuid
from email.message import EmailMessage

smtp_port, imap_port, selftest = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
password = os.environ["MS_PASSWORD"]
token = "aduan-selftest-" + uuid.uuid4().hex

msg = EmailMessage()
msg["From"] = "warga@warga.test"
msg["To"] = selftest
msg["Subject"] = token
msg["Message-ID"] = "<%s@warga.test>" % token
msg.set_content("mail-services.sh self-test\n")
try:
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as s:
        s.send_message(msg, from_addr="warga@warga.test", to_addrs=[selftest])
except Exception as e:
    sys.exit("SMTP to 127.0.0.1:%d failed: %s" % (smtp_port, e))

try:
    imap = imaplib.IMAP4("127.0.0.1", imap_port, timeout=10)
    imap.login(selftest, password)
except Exception as e:
    sys.exit("IMAP login as %s on 127.0.0.1:%d failed: %s" % (selftest, imap_port, e))
found = []
deadline = time.time() + 5
while time.time() < deadline:
    imap.select("INBOX")
    typ, data = imap.uid("SEARCH", None, "HEADER", "Subject", token)
    found = data[0].split() if typ == "OK" and data and data[0] else []
    if found:
        break
    time.sleep(0.1)
if not found:
    sys.exit("the self-test message did not reach %s's INBOX within 5 s" % selftest)
# Leave the self-test mailbox empty again (also clears leftovers of earlier runs).
imap.uid("STORE", "1:*", "+FLAGS.SILENT", r"(\Deleted)")
imap.expunge()
imap.logout()

for user in os.environ["MS_USERS"].split():
    try:
        c = imaplib.IMAP4("127.0.0.1", imap_port, timeout=10)
        c.login(user, password)
        c.logout()
    except Exception as e:
        sys.exit("IMAP login as %s failed: %s" % (user, e))

# Bearer-token logins (SASL XOAUTH2) on IMAP and on the submission port.
xoauth2 = "user=%s\x01auth=Bearer %s\x01\x01" % (selftest, os.environ["MS_TOKEN"])
try:
    c = imaplib.IMAP4("127.0.0.1", imap_port, timeout=10)
    c.authenticate("XOAUTH2", lambda _: xoauth2.encode())
    c.logout()
except Exception as e:
    sys.exit("IMAP XOAUTH2 login as %s failed: %s" % (selftest, e))
for how in ("XOAUTH2", "PLAIN"):
    try:
        with smtplib.SMTP("127.0.0.1", int(os.environ["MS_SUBMISSION"]), timeout=10) as s:
            s.ehlo()
            if how == "XOAUTH2":
                s.auth("XOAUTH2", lambda challenge=None: xoauth2, initial_response_ok=True)
            else:
                s.login(selftest, password)
    except Exception as e:
        sys.exit("SMTP AUTH %s on the submission port failed: %s" % (how, e))
PY
  )"; then
    log "self-test failed: $out"
    log "logs: $POSTFIX_LOG, $DOVECOT_LOG"
    tail -n 10 "$POSTFIX_LOG" 2>/dev/null | sed 's/^/    postfix: /' >&2 || true
    tail -n 10 "$DOVECOT_LOG" 2>/dev/null | sed 's/^/    dovecot: /' >&2 || true
    exit 1
  fi
}

summary() {
  echo "mail services up: IMAP 127.0.0.1:$IMAP_PORT, SMTP 127.0.0.1:$SMTP_PORT (submission with AUTH $SUBMISSION_PORT), LMTP 127.0.0.1:$LMTP_PORT; users ${USERS[*]} ($(password_note)); dir $BASE"
}

# --- commands -------------------------------------------------------------------------
cmd_start() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (Dovecot and Postfix start as root and drop privileges)"
  install_packages
  install -d -m 755 "$BASE"
  # One run at a time for this base directory.
  exec 9>"$BASE/.lock"
  flock -w 60 9 || die "another mail-services.sh run holds $BASE/.lock"

  write_dovecot_config
  write_postfix_config

  local need_dovecot="" need_postfix=""
  dovecot_ok && [ -z "$DOVECOT_CHANGED" ] || need_dovecot=1
  postfix_ok && [ -z "$POSTFIX_CHANGED" ] || need_postfix=1

  if [ -n "$need_dovecot" ] && dovecot_running; then
    if [ -n "$DOVECOT_CHANGED" ]; then log "Dovecot config changed: restarting"
    else log "Dovecot is running but not answering: restarting"; fi
    stop_dovecot
  fi
  if [ -n "$need_postfix" ] && postfix_running; then
    if [ -n "$POSTFIX_CHANGED" ]; then log "Postfix config changed: restarting"
    else log "Postfix is running but not answering: restarting"; fi
    stop_postfix
  fi
  wait_stopped

  # Refuse before starting anything if another program holds one of our ports.
  local p
  if [ -n "$need_dovecot" ]; then
    for p in "$IMAP_PORT" "$LMTP_PORT"; do
      if port_busy "$p"; then
        die "port $p is already in use by another program (not this Dovecot); choose another with ADUAN_IMAP_PORT / ADUAN_LMTP_PORT"
      fi
    done
  fi
  if [ -n "$need_postfix" ]; then
    for p in "$SMTP_PORT" "$SUBMISSION_PORT"; do
      if port_busy "$p"; then
        die "port $p is already in use by another program (not this Postfix); choose another with ADUAN_SMTP_PORT / ADUAN_SUBMISSION_PORT"
      fi
    done
  fi

  if [ -n "$need_dovecot" ]; then start_dovecot; fi
  if [ -n "$need_postfix" ]; then
    start_postfix
  elif [ -n "$need_dovecot" ]; then
    # Mail deferred while Dovecot was down goes out now rather than after the backoff.
    postqueue -c "$POSTFIX_ETC" -f >/dev/null 2>&1 9>&- || true
  fi

  self_test
  summary
}

cmd_stop() {
  stop_postfix
  stop_dovecot
  wait_stopped
  log "stopped"
}

cmd_status() {
  local rc=0 pid
  if pid="$(dovecot_pid)"; then
    if imap_up && lmtp_up; then
      echo "dovecot: up (pid $pid), IMAP 127.0.0.1:$IMAP_PORT, LMTP 127.0.0.1:$LMTP_PORT, log $DOVECOT_LOG"
    else
      echo "dovecot: running (pid $pid) but not answering on $IMAP_PORT/$LMTP_PORT, log $DOVECOT_LOG"
      rc=1
    fi
  else
    echo "dovecot: down"; rc=1
  fi
  if pid="$(postfix_pid)"; then
    if smtp_up; then
      echo "postfix: up (pid $pid), SMTP 127.0.0.1:$SMTP_PORT, submission 127.0.0.1:$SUBMISSION_PORT, log $POSTFIX_LOG"
    else
      echo "postfix: running (pid $pid) but not answering on $SMTP_PORT/$SUBMISSION_PORT, log $POSTFIX_LOG"
      rc=1
    fi
  else
    echo "postfix: down"; rc=1
  fi
  echo "users: ${USERS[*]} ($(password_note)); dir $BASE"
  return "$rc"
}

cmd_env() {
  printf 'export ADUAN_MAIL_DIR=%q\n' "$BASE"
  printf 'export ADUAN_IMAP_PORT=%q\n' "$IMAP_PORT"
  printf 'export ADUAN_LMTP_PORT=%q\n' "$LMTP_PORT"
  printf 'export ADUAN_SMTP_PORT=%q\n' "$SMTP_PORT"
  printf 'export ADUAN_SUBMISSION_PORT=%q\n' "$SUBMISSION_PORT"
}

check_settings
case "${1:-start}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_stop; cmd_start ;;
  status) cmd_status ;;
  env) cmd_env ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
