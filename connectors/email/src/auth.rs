//! How a mailbox or an SMTP server is logged in to: a password, or an OAuth2 bearer token
//! sent with SASL `XOAUTH2` (Google Workspace, Microsoft 365 and any server whose
//! password logins are turned off).
//!
//! A token can be fixed in the configuration (`oauth2_token`, through `${VAR}` or
//! `oauth2_token_file`, read once at start) or kept in a file named by
//! `oauth2_token_path`, which is read again before every login, so that an external
//! refresher (a cron job, a sidecar) can rotate short-lived tokens without a restart.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// `LOGIN` (IMAP) or `AUTH PLAIN`/`LOGIN` (SMTP) with `password`.
    #[default]
    Password,
    /// SASL `XOAUTH2` with a bearer token.
    Xoauth2,
}

/// The secret to log in with, as configured.
#[derive(Debug)]
pub enum CredentialSource {
    Password(SecretString),
    Token(SecretString),
    TokenPath(PathBuf),
}

/// One login's secret.
pub enum Credential {
    Password(SecretString),
    Bearer(SecretString),
}

impl CredentialSource {
    /// Checks that the configured method has what it needs; the error names the key.
    pub fn new(
        method: AuthMethod,
        password: Option<&SecretString>,
        token: Option<&SecretString>,
        token_path: Option<&PathBuf>,
    ) -> Result<Self, (&'static str, &'static str)> {
        match method {
            AuthMethod::Password => match password {
                Some(p) => Ok(Self::Password(p.clone())),
                None => Err((
                    "password",
                    "the password (use ${VAR} or password_file), or auth = \"xoauth2\"",
                )),
            },
            AuthMethod::Xoauth2 => match (token, token_path) {
                (Some(t), None) => Ok(Self::Token(t.clone())),
                (None, Some(p)) => Ok(Self::TokenPath(p.clone())),
                (Some(_), Some(_)) => Err((
                    "oauth2_token_path",
                    "either oauth2_token or oauth2_token_path, not both",
                )),
                (None, None) => Err((
                    "oauth2_token",
                    "a bearer token (oauth2_token, through ${VAR} or oauth2_token_file, \
                     or oauth2_token_path, re-read before every login)",
                )),
            },
        }
    }

    /// The secret for the next login (the token file is read now). The error never
    /// carries the secret.
    pub fn current(&self) -> Result<Credential, String> {
        match self {
            Self::Password(p) => Ok(Credential::Password(p.clone())),
            Self::Token(t) => Ok(Credential::Bearer(t.clone())),
            Self::TokenPath(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("OAuth2 token file {}: {e}", path.display()))?;
                let token = text.trim();
                if token.is_empty() {
                    return Err(format!("OAuth2 token file {} is empty", path.display()));
                }
                Ok(Credential::Bearer(SecretString::from(token.to_owned())))
            }
        }
    }

    pub fn method(&self) -> AuthMethod {
        match self {
            Self::Password(_) => AuthMethod::Password,
            Self::Token(_) | Self::TokenPath(_) => AuthMethod::Xoauth2,
        }
    }
}

/// The SASL `XOAUTH2` initial response: `user=U ^A auth=Bearer T ^A ^A`.
pub fn xoauth2_response(user: &str, token: &SecretString) -> String {
    format!(
        "user={user}\x01auth=Bearer {}\x01\x01",
        token.expose_secret()
    )
}

/// IMAP `AUTHENTICATE XOAUTH2`: the response to the first (empty) challenge; a second
/// challenge is the server's JSON error, which is answered with an empty line so that
/// the server finishes with its tagged `NO`.
pub struct XOAuth2 {
    response: Option<String>,
}

impl XOAuth2 {
    pub fn new(user: &str, token: &SecretString) -> Self {
        Self {
            response: Some(xoauth2_response(user, token)),
        }
    }
}

impl async_imap::Authenticator for XOAuth2 {
    type Response = String;
    fn process(&mut self, _challenge: &[u8]) -> String {
        self.response.take().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_imap::Authenticator;

    #[test]
    fn xoauth2_answers_once_then_empty() {
        let token = SecretString::from("ya29.tok".to_owned());
        let mut a = XOAuth2::new("kanal1@aduan.test", &token);
        assert_eq!(
            a.process(b""),
            "user=kanal1@aduan.test\x01auth=Bearer ya29.tok\x01\x01"
        );
        assert_eq!(a.process(b"{\"status\":\"401\"}"), "");
    }

    #[test]
    fn token_file_is_read_at_every_login() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").unwrap();
        let src = CredentialSource::new(AuthMethod::Xoauth2, None, None, Some(&path)).unwrap();
        let Credential::Bearer(t) = src.current().unwrap() else {
            panic!("bearer expected")
        };
        assert_eq!(t.expose_secret(), "first");
        std::fs::write(&path, "second").unwrap();
        let Credential::Bearer(t) = src.current().unwrap() else {
            panic!("bearer expected")
        };
        assert_eq!(t.expose_secret(), "second");
        std::fs::write(&path, "  \n").unwrap();
        let err = src.current().err().unwrap();
        assert!(err.contains("is empty"), "{err}");
        std::fs::remove_file(&path).unwrap();
        assert!(src.current().is_err());
    }

    #[test]
    fn each_method_names_what_it_misses() {
        let p = SecretString::from("x".to_owned());
        let path = PathBuf::from("/nonexistent");
        assert_eq!(
            CredentialSource::new(AuthMethod::Password, None, Some(&p), None)
                .err()
                .map(|e| e.0),
            Some("password")
        );
        assert_eq!(
            CredentialSource::new(AuthMethod::Xoauth2, Some(&p), None, None)
                .err()
                .map(|e| e.0),
            Some("oauth2_token")
        );
        assert_eq!(
            CredentialSource::new(AuthMethod::Xoauth2, None, Some(&p), Some(&path))
                .err()
                .map(|e| e.0),
            Some("oauth2_token_path")
        );
        assert!(matches!(
            CredentialSource::new(AuthMethod::Xoauth2, None, Some(&p), None)
                .unwrap()
                .method(),
            AuthMethod::Xoauth2
        ));
    }
}
