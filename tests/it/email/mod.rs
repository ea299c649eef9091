//! The e-mail channel against real Dovecot and Postfix on loopback
//! (`scripts/mail-services.sh`, which `scripts/test.sh` runs first): mail filed from a
//! mailbox ([`intake`]), receipts to the citizen ([`receipts`]), the queue's answers
//! ([`answers`]) and logging in ([`credentials`]). The servers' side is in
//! [`mail_server`].

mod answers;
mod credentials;
mod intake;
pub(crate) mod mail_server;
mod receipts;
