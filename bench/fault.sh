#!/usr/bin/env bash
# Fault tolerance of several instances on one PostgreSQL: the full form of the fault
# test (tests/it/fault.rs). Three daemons poll a fake X API and an IMAP mailbox (Dovecot
# on loopback) while posts and mails keep arriving; the instance holding the most
# channel leases is killed with SIGKILL and a fresh one started, KILLS times. Prints
# each take-over time (from the kill until another instance holds the channel's lease),
# their minimum, median and maximum, and the exactly-once result: every post and every
# mail one complaint with one receipt (the test fails otherwise).
#
# The daemons are the debug build the test suite uses: a take-over is paced by the
# lease's timings (10 s expiry, a retry every 2 s), not by the CPU.
#
#   bench/fault.sh             # 5 kills, about two minutes
#   KILLS=2 bench/fault.sh
set -euo pipefail
cd "$(dirname "$0")/.."

KILLS=${KILLS:-5}
export ADUAN_TEST_PG=${ADUAN_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}

pg_isready -q -h 127.0.0.1 || pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start
scripts/mail-services.sh start >/dev/null

ADUAN_FAULT_KILLS=$KILLS cargo test --locked --quiet --test it -- \
  fault::killing_the_lease_holder_loses_and_doubles_nothing --exact --nocapture 2>&1 | grep -E '^fault test:|panicked|FAILED|test result'
