#!/usr/bin/env bash
# E-mail ingest: loads N mixed messages (about 20% with a 20 KB attachment) into a
# Dovecot mailbox on loopback, then, in the same run, measures the wall time of:
#   - aduan's complete ingest (IMAP fetch, MIME parse, store on SQLite, durable commit);
#   - mbsync (isync) pulling the same folder into a Maildir;
#   - fetchmail fetching the same folder (delivered to /dev/null).
# Then delivery-to-queue latency under IDLE: LAT messages sent one at a time through
# Postfix, each timed from the end of the SMTP transaction until its complaint is stored.
#
#   bench/email.sh              # N=10000, LAT=50
#   N=2000 LAT=20 bench/email.sh
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-10000}
LAT=${LAT:-50}
USER_=pengaduan2@aduan.test
PASS=${ADUAN_MAIL_PASSWORD:-rahasia}
IMAP_PORT=${ADUAN_IMAP_PORT:-14143}
SMTP_PORT=${ADUAN_SMTP_PORT:-2525}
PY=/usr/bin/python3

need() { command -v "$1" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need mbsync isync
need fetchmail fetchmail
need sqlite3 sqlite3
scripts/mail-services.sh start >/dev/null
cargo build --release --locked --quiet
BIN=$PWD/target/release/aduan
WORK=$(mktemp -d)
FOLDER="bench$(date +%s)"
cleanup() {
  pkill -f "$WORK/" 2>/dev/null || true
  $PY -c "import imaplib; m = imaplib.IMAP4('127.0.0.1', $IMAP_PORT); m.login('$USER_', '$PASS'); m.delete('$FOLDER'); m.logout()" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "loading $N messages into $USER_/$FOLDER ..." >&2
$PY - "$IMAP_PORT" "$USER_" "$PASS" "$FOLDER" "$N" <<'PYEOF'
import base64, imaplib, os, sys
port, user, pw, folder, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
m = imaplib.IMAP4("127.0.0.1", port); m.login(user, pw); m.create(folder)
blob = base64.encodebytes(os.urandom(20000)).decode()
for i in range(n):
    head = (f"From: Warga {i} <warga{i}@warga.test>\r\nTo: {user}\r\nSubject: Laporan {i}: air tidak mengalir\r\n"
            f"Message-ID: <bench-{folder}-{i}@warga.test>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0700\r\nMIME-Version: 1.0\r\n")
    text = "Sudah tiga hari air PDAM tidak mengalir di RT 02, mohon segera ditindaklanjuti.\r\n" * 8
    if i % 5 == 0:
        msg = (head + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n'
               + text + '--b\r\nContent-Type: image/jpeg; name="foto.jpg"\r\nContent-Disposition: attachment; filename="foto.jpg"\r\n'
               + 'Content-Transfer-Encoding: base64\r\n\r\n' + blob.replace("\n", "\r\n") + '--b--\r\n')
    else:
        msg = head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text
    m.append(folder, None, None, msg.encode())
m.logout()
PYEOF

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc -l; }

# --- aduan ----------------------------------------------------------------------------
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/aduan"
cat > "$WORK/aduan/aduan.toml" <<TOML
data_dir = "$WORK/aduan/data"
public_url = "http://127.0.0.1:$port"
[http]
listen = "127.0.0.1:$port"
[log]
level = "warn"
[[channels]]
kind = "email"
name = "bench"
host = "127.0.0.1"
port = $IMAP_PORT
tls = "plain"
user = "$USER_"
password = "$PASS"
folders = ["$FOLDER"]
after_ingest = "none"
batch_size = 200
TOML
start=$(now)
"$BIN" run --config "$WORK/aduan/aduan.toml" 2>"$WORK/aduan/log" &
pid=$!
until [ -f "$WORK/aduan/data/aduan.db" ] && [ "$(sqlite3 "$WORK/aduan/data/aduan.db" 'SELECT count(*) FROM complaints' 2>/dev/null || echo 0)" -ge "$N" ]; do sleep 0.1; done
t_aduan=$(elapsed "$start")
kill -TERM $pid; wait $pid || true

# --- mbsync -----------------------------------------------------------------------------
mkdir -p "$WORK/mbsync/mail"
cat > "$WORK/mbsync/rc" <<RC
IMAPAccount bench
Host 127.0.0.1
Port $IMAP_PORT
User $USER_
Pass $PASS
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account bench

MaildirStore local
Path $WORK/mbsync/mail/
Inbox $WORK/mbsync/mail/INBOX

Channel bench
Far :remote:"$FOLDER"
Near :local:bench
Sync Pull
Create Near
RC
start=$(now)
mbsync -q -c "$WORK/mbsync/rc" bench 2>"$WORK/mbsync/log" || { echo "mbsync failed:" >&2; cat "$WORK/mbsync/log" >&2; exit 1; }
t_mbsync=$(elapsed "$start")
got_mbsync=$(find "$WORK/mbsync/mail/bench" -type f | wc -l)

# --- fetchmail ----------------------------------------------------------------------------
cat > "$WORK/fetchmailrc" <<RC
set no bouncemail
poll 127.0.0.1 service $IMAP_PORT protocol IMAP auth password
  user "$USER_" password "$PASS" folder "$FOLDER"
  keep fetchall no rewrite mda "/bin/sh -c 'cat >/dev/null'" sslproto ''
RC
chmod 600 "$WORK/fetchmailrc"
start=$(now)
fetchmail -f "$WORK/fetchmailrc" --pidfile "$WORK/fetchmail.pid" >"$WORK/fetchmail.log" 2>&1 || true
t_fetchmail=$(elapsed "$start")
got_fetchmail=$(grep -c "reading message" "$WORK/fetchmail.log" 2>/dev/null || true)

# --- latency under IDLE --------------------------------------------------------------------
mkdir -p "$WORK/lat"
sed -e "s|$WORK/aduan/data|$WORK/lat/data|" -e "s|folders = \[\"$FOLDER\"\]|folders = [\"INBOX\"]|" "$WORK/aduan/aduan.toml" > "$WORK/lat/aduan.toml"
"$BIN" run --config "$WORK/lat/aduan.toml" 2>"$WORK/lat/log" &
pid=$!
until [ -f "$WORK/lat/data/aduan.db" ]; do sleep 0.1; done
sleep 3 # read what is already in the INBOX, settle into IDLE
lat=$($PY - "$SMTP_PORT" "$USER_" "$WORK/lat/data/aduan.db" "$LAT" <<'PYEOF'
import smtplib, sqlite3, sys, time, uuid
port, user, db, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
out = []
for i in range(n):
    tag = uuid.uuid4().hex
    msg = (f"From: warga@warga.test\r\nTo: {user}\r\nSubject: Latensi {tag}\r\nMessage-ID: <lat-{tag}@warga.test>\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n\r\nLampu jalan mati.\r\n")
    with smtplib.SMTP("127.0.0.1", port) as s:
        s.sendmail("warga@warga.test", [user], msg)
    t0 = time.monotonic()
    while True:
        c = sqlite3.connect(db, timeout=5)
        hit = c.execute("SELECT 1 FROM complaints WHERE title = ?", (f"Latensi {tag}",)).fetchone()
        c.close()
        if hit or time.monotonic() - t0 > 30:
            break
        time.sleep(0.01)
    out.append(time.monotonic() - t0)
out.sort()
print(f"{out[len(out)//2]*1000:.0f} {out[int(len(out)*0.9)]*1000:.0f} {out[-1]*1000:.0f}")
PYEOF
)
kill -TERM $pid; wait $pid || true
read -r p50 p90 pmax <<<"$lat"

ratio() { echo "scale=2; $1 / $2" | bc -l; }
printf '\n%-10s %12s %10s %22s\n' "tool" "wall (s)" "messages" "aduan / tool (time)"
printf '%-10s %12.2f %10s %22s\n' aduan "$t_aduan" "$N" "1.00"
printf '%-10s %12.2f %10s %22s\n' mbsync "$t_mbsync" "$got_mbsync" "$(ratio "$t_aduan" "$t_mbsync")"
printf '%-10s %12.2f %10s %22s\n' fetchmail "$t_fetchmail" "$got_fetchmail" "$(ratio "$t_aduan" "$t_fetchmail")"
echo
echo "delivery-to-queue under IDLE ($LAT messages through Postfix): p50 ${p50} ms, p90 ${p90} ms, max ${pmax} ms"
echo "aduan: fetch, MIME parse, store on SQLite with durable commits; mbsync: Maildir; fetchmail: to /dev/null; $(nproc) cores"
