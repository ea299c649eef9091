//! Units (Satker / OPD), the people who work the queue, and their credentials.
//!
//! Passwords are hashed with argon2id (a slow, salted hash, because people choose
//! them). API tokens are 256 random bits shown once and stored as their SHA-256: a
//! random secret of that size cannot be guessed, so a fast hash loses nothing and keeps
//! every API call cheap.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::workflow::{Actor, Role};
use super::Queue;
use crate::store::{now_micros, Store, StoreError};

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Unit {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    /// `operator`, `coordinator`, `unit_admin` or `liaison`.
    pub role: String,
    pub unit: Option<String>,
    pub active: bool,
}

pub struct NewUser<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub email: Option<&'a str>,
    pub role: Role,
    pub unit: Option<&'a str>,
    pub password: Option<&'a str>,
}

/// A new API token: the secret is returned once, only its hash is stored.
pub struct IssuedToken {
    pub user_id: i64,
    pub token: String,
}

/// How long a token's user, once read, answers for the token without a read: every API
/// request needs it, and it was one of the three reads a claim-next made. Disabling a
/// user here forgets them all at once; a user disabled by another daemon or by the CLI
/// loses access here within this time.
pub(crate) const TOKEN_TTL: Duration = Duration::from_secs(1);

/// Token (its hash) to its user, when that was read, and the store's count of changes to
/// users then (`Store::users_changed`): a change through any clone of the store leaves
/// every user read before it unused.
pub(crate) struct ActorCache(quick_cache::sync::Cache<String, (Actor, Instant, u64)>);

impl Default for ActorCache {
    fn default() -> Self {
        Self(quick_cache::sync::Cache::new(10_000))
    }
}

impl Queue {
    /// The active user a bearer token belongs to.
    pub async fn actor_for_token(&self, token: &str) -> Result<Option<Actor>, StoreError> {
        // Every API request makes this read: through the back end's own driver, and
        // then not again for a moment.
        const SQL: &str = "SELECT u.id, u.username, u.role, u.unit, u.active FROM api_tokens t
             JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL";
        let store = self.store();
        let hash = token_hash(token);
        let changes = store.users_changed.load(Ordering::Acquire);
        if let Some((actor, at, seen)) = self.actors.0.get(&hash) {
            if seen == changes && at.elapsed() < TOKEN_TTL {
                return Ok(Some(actor));
            }
        }
        let read_at = Instant::now();
        let actor = crate::store::on_reads!(&store.reads, pool => {
            match sqlx::query(SQL).bind(&hash).fetch_optional(pool).await? {
                Some(r) => active_actor(&r)?,
                None => None,
            }
        });
        // Unknown tokens are not kept: guessing must not fill the cache. Neither is a
        // user read while this daemon was disabling someone: the read may be older.
        if let Some(a) = &actor {
            if store.users_changed.load(Ordering::Acquire) == changes {
                self.actors.0.insert(hash, (a.clone(), read_at, changes));
            }
        }
        Ok(actor)
    }
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn hash_password(password: &str) -> Result<String, StoreError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Invalid(format!("password hashing: {e}")))
}

/// The longest password checked; a longer one is wrong without being hashed.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Password checks that may run at once. Each is a deliberately slow hash with its own
/// memory; unbounded, a burst of logins would take every core and much memory.
const CONCURRENT_PASSWORD_CHECKS: usize = 2;

/// Checks a password off the async runtime (a slow hash would stall every request
/// sharing its worker thread), at most `CONCURRENT_PASSWORD_CHECKS` at a time.
async fn verify_password_blocking(password: &str, phc: String) -> bool {
    static PERMITS: tokio::sync::Semaphore =
        tokio::sync::Semaphore::const_new(CONCURRENT_PASSWORD_CHECKS);
    let Ok(_permit) = PERMITS.acquire().await else {
        return false;
    };
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .unwrap_or(false)
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

fn valid_username(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

fn valid_code(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn user_from_row(r: &sqlx::any::AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        display_name: r.try_get("display_name")?,
        email: r.try_get("email")?,
        role: r.try_get("role")?,
        unit: r.try_get("unit")?,
        active: crate::store::flag(r, "active")?,
    })
}

/// The actor a user row (`id, username, role, unit, active`) stands for, if the user
/// is active and its role known.
fn active_actor(r: &impl crate::store::Cols) -> Result<Option<Actor>, StoreError> {
    if !crate::store::flag(r, "active")? {
        return Ok(None);
    }
    let role: String = r.col("role")?;
    Ok(match Role::parse(&role) {
        Some(role) => Some(Actor {
            user_id: r.col("id")?,
            username: r.col("username")?,
            role,
            unit: r.col("unit")?,
        }),
        None => None,
    })
}

const USER_COLUMNS: &str = "id, username, display_name, email, role, unit, active";

impl Store {
    pub async fn create_unit(&self, code: &str, name: &str) -> Result<Unit, StoreError> {
        if !valid_code(code) {
            return Err(StoreError::Invalid(format!(
                "unit code {code:?}: lower-case letters, digits, '-' and '_', at most 40"
            )));
        }
        if name.trim().is_empty() {
            return Err(StoreError::Invalid("unit name is empty".into()));
        }
        let res = sqlx::query("INSERT INTO units (code, name, created_at) VALUES ($1, $2, $3)")
            .bind(code)
            .bind(name.trim())
            .bind(now_micros())
            .execute(&self.pool)
            .await;
        match res {
            Ok(_) => Ok(Unit {
                code: code.into(),
                name: name.trim().into(),
            }),
            Err(e) if is_unique_violation(&e) => {
                Err(StoreError::Invalid(format!("unit {code:?} exists already")))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn units(&self) -> Result<Vec<Unit>, StoreError> {
        let rows = sqlx::query("SELECT code, name FROM units ORDER BY code")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Unit {
                    code: r.try_get(0)?,
                    name: r.try_get(1)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    pub async fn unit_exists(&self, code: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT 1 FROM units WHERE code = $1")
            .bind(code)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    pub async fn create_user(&self, new: &NewUser<'_>) -> Result<User, StoreError> {
        if !valid_username(new.username) {
            return Err(StoreError::Invalid(format!(
                "username {:?}: letters, digits, '.', '_', '-' and '@', at most 64",
                new.username
            )));
        }
        match (new.role.needs_unit(), new.unit) {
            (true, None) => {
                return Err(StoreError::Invalid(format!(
                    "a {} belongs to a unit: give one",
                    new.role.as_str()
                )))
            }
            (false, Some(_)) => {
                return Err(StoreError::Invalid(format!(
                    "a {} works for every unit: give no unit",
                    new.role.as_str()
                )))
            }
            (true, Some(u)) if !self.unit_exists(u).await? => {
                return Err(StoreError::Invalid(format!("no unit {u:?}")))
            }
            _ => {}
        }
        if let Some(p) = new.password {
            if p.chars().count() < 12 {
                return Err(StoreError::Invalid(
                    "the password needs at least 12 characters".into(),
                ));
            }
        }
        let hash = new.password.map(hash_password).transpose()?;
        let res = sqlx::query(
            "INSERT INTO users (username, display_name, email, role, unit, password_hash, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(new.username)
        .bind(new.display_name)
        .bind(new.email)
        .bind(new.role.as_str())
        .bind(new.unit)
        .bind(hash)
        .bind(now_micros())
        .fetch_one(&self.pool)
        .await;
        let id: i64 = match res {
            Ok(r) => r.try_get(0)?,
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Invalid(format!(
                    "user {:?} exists already",
                    new.username
                )))
            }
            Err(e) => return Err(e.into()),
        };
        Ok(User {
            id,
            username: new.username.into(),
            display_name: new.display_name.into(),
            email: new.email.map(str::to_owned),
            role: new.role.as_str().into(),
            unit: new.unit.map(str::to_owned),
            active: true,
        })
    }

    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(user_from_row)
            .collect::<Result<_, _>>()
            .map_err(Into::into)
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
        let row = sqlx::query(&sql)
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref()
            .map(user_from_row)
            .transpose()
            .map_err(Into::into)
    }

    pub async fn set_user_active(&self, username: &str, active: bool) -> Result<bool, StoreError> {
        let res = sqlx::query("UPDATE users SET active = $1 WHERE username = $2")
            .bind(active)
            .bind(username)
            .execute(&self.pool)
            .await?;
        if !active {
            sqlx::query(
                "UPDATE api_tokens SET revoked_at = $1 WHERE revoked_at IS NULL
                 AND user_id = (SELECT id FROM users WHERE username = $2)",
            )
            .bind(now_micros())
            .bind(username)
            .execute(&self.pool)
            .await?;
        }
        self.forget_actors();
        Ok(res.rows_affected() > 0)
    }

    /// Issues a new API token for `username`; the secret is in the result only.
    pub async fn issue_token(
        &self,
        username: &str,
        label: &str,
    ) -> Result<IssuedToken, StoreError> {
        let user = self
            .user_by_name(username)
            .await?
            .ok_or_else(|| StoreError::Invalid(format!("no user {username:?}")))?;
        if !user.active {
            return Err(StoreError::Invalid(format!(
                "user {username:?} is disabled"
            )));
        }
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = format!("aduan_{}", hex::encode(bytes));
        sqlx::query(
            "INSERT INTO api_tokens (user_id, token_hash, label, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(user.id)
        .bind(token_hash(&token))
        .bind(label)
        .bind(now_micros())
        .execute(&self.pool)
        .await?;
        Ok(IssuedToken {
            user_id: user.id,
            token,
        })
    }

    /// Leaves every token's user the queue keeps unused. Whatever changes a user or a
    /// token (disabling now; a change of role or unit, a revoked token, when those come)
    /// calls this.
    fn forget_actors(&self) {
        self.users_changed.fetch_add(1, Ordering::AcqRel);
    }

    /// Checks a password login (argon2); `None` for an unknown user, a wrong password or
    /// a disabled account alike.
    pub async fn actor_for_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<Actor>, StoreError> {
        // No such user can exist: refused before the database or a hash is touched.
        if !valid_username(username) || password.len() > MAX_PASSWORD_BYTES {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT id, username, role, unit, active, password_hash FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else {
            // Spend the same time as a real check, so that timing does not tell which
            // usernames exist.
            let _ = verify_password_blocking(password, dummy_hash().to_owned()).await;
            return Ok(None);
        };
        let hash: Option<String> = r.try_get("password_hash")?;
        let ok = match hash {
            Some(h) => verify_password_blocking(password, h).await,
            None => false,
        };
        if !ok {
            return Ok(None);
        }
        active_actor(&r)
    }
}

/// A real argon2id hash, made once, checked against when the user does not exist.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("no such user, no such password").unwrap_or_default())
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl Store {
    pub async fn holidays(&self) -> Result<Vec<super::calendar::Holiday>, StoreError> {
        let rows = sqlx::query("SELECT day, name, kind FROM holidays ORDER BY day")
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let day: String = r.try_get(0)?;
            let kind: String = r.try_get(2)?;
            if let (Ok(date), Some(kind)) = (
                chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d"),
                super::calendar::HolidayKind::parse(&kind),
            ) {
                out.push(super::calendar::Holiday {
                    date,
                    name: r.try_get(1)?,
                    kind,
                });
            }
        }
        Ok(out)
    }

    /// Adds or renames a holiday (`kind`: `libur` or `cuti_bersama`).
    pub async fn put_holiday(&self, day: &str, name: &str, kind: &str) -> Result<(), StoreError> {
        let date = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
            .map_err(|_| StoreError::Invalid(format!("day {day:?}: expected YYYY-MM-DD")))?;
        let kind = super::calendar::HolidayKind::parse(kind)
            .ok_or_else(|| StoreError::Invalid("kind: libur or cuti_bersama".into()))?;
        if name.trim().is_empty() {
            return Err(StoreError::Invalid("name is empty".into()));
        }
        sqlx::query(
            "INSERT INTO holidays (day, name, kind) VALUES ($1, $2, $3)
             ON CONFLICT (day) DO UPDATE SET name = excluded.name, kind = excluded.kind",
        )
        .bind(date.to_string())
        .bind(name.trim())
        .bind(kind.as_str())
        .execute(&self.pool)
        .await?;
        // Deadlines not yet passed are computed again with the new calendar.
        sqlx::query(
            "UPDATE complaints SET due_at = NULL WHERE overdue_at IS NULL AND due_at IS NOT NULL",
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_holiday(&self, day: &str) -> Result<bool, StoreError> {
        let res = sqlx::query("DELETE FROM holidays WHERE day = $1")
            .bind(day)
            .execute(&self.pool)
            .await?;
        if res.rows_affected() > 0 {
            sqlx::query("UPDATE complaints SET due_at = NULL WHERE overdue_at IS NULL AND due_at IS NOT NULL")
                .execute(&self.pool)
                .await?;
        }
        Ok(res.rows_affected() > 0)
    }
}

/// A new browser session: the cookie value and the CSRF token, both shown once.
pub struct NewSession {
    pub cookie: String,
    pub csrf_token: String,
    pub actor: Actor,
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Store {
    /// Logs in with a password and opens a session lasting `ttl_secs`.
    pub async fn open_session(
        &self,
        username: &str,
        password: &str,
        ttl_secs: i64,
    ) -> Result<Option<NewSession>, StoreError> {
        let Some(actor) = self.actor_for_password(username, password).await? else {
            return Ok(None);
        };
        let cookie = random_hex();
        let csrf_token = random_hex();
        let now = now_micros();
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash(&cookie))
        .bind(actor.user_id)
        .bind(&csrf_token)
        .bind(now)
        .bind(now + ttl_secs * 1_000_000)
        .execute(&self.pool)
        .await?;
        // Expired sessions go as new ones come.
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(Some(NewSession {
            cookie,
            csrf_token,
            actor,
        }))
    }

    /// The active user of a live session, with the session's CSRF token.
    pub async fn actor_for_session(
        &self,
        cookie: &str,
    ) -> Result<Option<(Actor, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.role, u.unit, u.active, s.csrf_token FROM sessions s
             JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash(cookie))
        .bind(now_micros())
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let csrf: String = r.try_get("csrf_token")?;
        Ok(active_actor(&r)?.map(|a| (a, csrf)))
    }

    pub async fn close_session(&self, cookie: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(token_hash(cookie))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// A category of the configurable tree (`parent` is another category's code).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Category {
    pub code: String,
    pub name: String,
    pub parent: Option<String>,
}

impl Store {
    pub async fn categories(&self) -> Result<Vec<Category>, StoreError> {
        let rows = sqlx::query("SELECT code, name, parent FROM categories ORDER BY code")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Category {
                    code: r.try_get(0)?,
                    name: r.try_get(1)?,
                    parent: r.try_get(2)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Adds or renames a category; a parent must exist and no category may become its
    /// own ancestor.
    pub async fn put_category(&self, c: &Category) -> Result<(), StoreError> {
        if !valid_code(&c.code) || c.name.trim().is_empty() {
            return Err(StoreError::Invalid(
                "code: lower-case letters, digits, '-' and '_'; name: not empty".into(),
            ));
        }
        if let Some(parent) = &c.parent {
            let all = self.categories().await?;
            let mut at = Some(parent.clone());
            let mut hops = 0;
            while let Some(p) = at {
                if p == c.code || hops > 64 {
                    return Err(StoreError::Invalid(format!(
                        "parent {parent:?} would make a cycle"
                    )));
                }
                at = match all.iter().find(|x| x.code == p) {
                    Some(x) => x.parent.clone(),
                    None => return Err(StoreError::Invalid(format!("no category {p:?}"))),
                };
                hops += 1;
            }
        }
        sqlx::query(
            "INSERT INTO categories (code, name, parent) VALUES ($1, $2, $3)
             ON CONFLICT (code) DO UPDATE SET name = excluded.name, parent = excluded.parent",
        )
        .bind(&c.code)
        .bind(c.name.trim())
        .bind(c.parent.as_deref())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Seeds categories from the web form's list (existing ones are left as they are).
    pub async fn seed_categories(&self, list: &[(String, String)]) -> Result<(), StoreError> {
        for (code, name) in list {
            sqlx::query(
                "INSERT INTO categories (code, name) VALUES ($1, $2) ON CONFLICT (code) DO NOTHING",
            )
            .bind(code)
            .bind(name)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    pub async fn delete_category(&self, code: &str) -> Result<bool, StoreError> {
        let children: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM categories WHERE parent = $1")
            .bind(code)
            .fetch_one(&self.pool)
            .await?;
        if children > 0 {
            return Err(StoreError::Invalid(format!(
                "category {code:?} has sub-categories; remove or move them first"
            )));
        }
        let res = sqlx::query("DELETE FROM categories WHERE code = $1")
            .bind(code)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_and_hashes_are_salted() {
        let a = hash_password("kata sandi panjang").unwrap();
        let b = hash_password("kata sandi panjang").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$"));
        assert!(verify_password("kata sandi panjang", &a));
        assert!(!verify_password("kata sandi salah!", &a));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_username("admin.siak@pemda"));
        assert!(!valid_username("a b"));
        assert!(valid_code("dinas-pupr"));
        assert!(!valid_code("Dinas PUPR"));
    }
}
