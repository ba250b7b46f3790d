//! Console users, their sessions and the one-time setup link, kept in
//! `<data>/users.db` (SQLite).
//!
//! - Passwords are stored as Argon2id PHC strings (the argon2 crate's
//!   defaults: 19 MiB, 2 passes).
//! - Every user has TOTP two-factor login. A user without a TOTP secret yet
//!   (made by `mamori user add`, by an administrator, or by the setup link)
//!   enrols at the first login: the password step answers with a new secret,
//!   and the login completes only when a code from it is given. A code is
//!   accepted once (no replay within its 30 s).
//! - Five failed logins in a row lock the account for 15 minutes; the right
//!   password does not open a locked account.
//! - Sessions are random 256-bit tokens; only their BLAKE3 hash is stored.
//!   Each session has its own CSRF token. Sessions end after 30 minutes
//!   without use or 12 hours after login.
//! - While no user exists, a one-time setup token (valid 24 hours) lets the
//!   first administrator be made from the browser.

use crate::totp;
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Failed logins in a row that lock an account.
pub const MAX_FAILURES: i64 = 5;
/// How long a locked account stays locked, seconds.
pub const LOCK_SECS: i64 = 15 * 60;
/// A session ends after this long without a request, seconds.
pub const IDLE_SECS: i64 = 30 * 60;
/// A session ends this long after login, seconds.
pub const MAX_SESSION_SECS: i64 = 12 * 3600;
/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 10;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything, changes nothing (management, inspectors).
    Viewer,
    /// Also acts on alerts, suppresses, searches, tests rules.
    Analyst,
    /// Also manages users, rules and settings.
    Admin,
}

impl Role {
    /// `admin`, `analyst`, `viewer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::Viewer => "viewer",
        }
    }

    /// Parses a role name.
    pub fn parse(s: &str) -> Option<Role> {
        match s.to_ascii_lowercase().as_str() {
            "admin" => Some(Role::Admin),
            "analyst" => Some(Role::Analyst),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

/// A user as listed.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Whether two-factor login is set up.
    pub totp_enrolled: bool,
    /// When made, unix seconds.
    pub created: i64,
    /// Locked until, unix seconds (0: not locked).
    pub locked_until: i64,
}

/// Errors of user management and login.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// SQLite failed.
    #[error("user database: {0}")]
    Db(#[from] rusqlite::Error),
    /// Wrong name, password or code (deliberately not saying which).
    #[error("wrong user name, password or code")]
    BadCredentials,
    /// Too many failures.
    #[error("the account is locked until {until} (unix time) after {MAX_FAILURES} failed logins")]
    Locked {
        /// Unix seconds.
        until: i64,
    },
    /// The password was right; a TOTP code is needed too.
    #[error("a one-time code from the authenticator app is needed")]
    TotpRequired,
    /// A value that cannot be used.
    #[error("{0}")]
    Invalid(String),
    /// No such user.
    #[error("no user {0}")]
    NotFound(String),
    /// The setup link or enrolment is not (or no longer) valid.
    #[error("this link has expired or was already used")]
    Expired,
}

/// A logged-in session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The cookie value (shown once, stored hashed).
    pub token: String,
    /// The CSRF token for this session.
    pub csrf: String,
    /// The user.
    pub user: String,
    /// Their role.
    pub role: Role,
}

/// What the password step of a login gives.
#[derive(Debug, Clone)]
pub enum LoginStep {
    /// Logged in.
    Session(Session),
    /// Password right, two-factor not set up yet: show this secret, then
    /// call [`UserStore::enroll`] with the token and a code.
    Enroll {
        /// Token for the enrolment step (valid 10 minutes).
        token: String,
        /// The new TOTP secret, base32.
        secret: String,
        /// `otpauth://` URI of the secret.
        uri: String,
    },
}

/// role, password hash, TOTP secret, last TOTP step, locked until.
type LoginRow = (String, String, Option<Vec<u8>>, i64, i64);

/// The user database. Cheap to clone.
#[derive(Clone)]
pub struct UserStore {
    conn: Arc<Mutex<Connection>>,
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    // getrandom only fails when the OS has no randomness at all.
    if getrandom::fill(&mut b).is_err() {
        b = *blake3::hash(format!("{:?}", std::time::SystemTime::now()).as_bytes()).as_bytes();
    }
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, b)
}

fn hash_token(t: &str) -> String {
    blake3::hash(t.as_bytes()).to_hex().to_string()
}

fn now() -> i64 {
    mamori_event::now_ns() / 1_000_000_000
}

fn hash_password(pw: &str) -> Result<String, UserError> {
    Argon2::default()
        .hash_password(pw.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| UserError::Invalid(format!("password could not be hashed: {e}")))
}

fn verify_password(pw: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .ok()
        .is_some_and(|h| Argon2::default().verify_password(pw.as_bytes(), &h).is_ok())
}

/// Checks a login name: 1–64 of letters, digits, `.`, `_`, `-`, `@`.
pub fn check_name(name: &str) -> Result<(), UserError> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(UserError::Invalid(
            "a user name is 1 to 64 letters, digits, '.', '_', '-' or '@'".into(),
        ));
    }
    Ok(())
}

/// Checks a new password: at least [`MIN_PASSWORD`] characters.
pub fn check_password(pw: &str) -> Result<(), UserError> {
    if pw.chars().count() < MIN_PASSWORD {
        return Err(UserError::Invalid(format!(
            "a password needs at least {MIN_PASSWORD} characters"
        )));
    }
    Ok(())
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password TEXT NOT NULL,
    totp_secret BLOB,
    totp_last_step INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
    hash TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pending (
    hash TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    user TEXT NOT NULL,
    secret BLOB,
    expires INTEGER NOT NULL
);
"#;

impl UserStore {
    /// Opens (creating if needed) `<data_dir>/users.db`.
    pub fn open(data_dir: &Path) -> Result<UserStore, UserError> {
        let conn = Connection::open(data_dir.join("users.db"))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch(SCHEMA)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(
                data_dir.join("users.db"),
                std::fs::Permissions::from_mode(0o600),
            );
        }
        Ok(UserStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, UserError>,
    ) -> Result<T, UserError> {
        let mut c = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut c)
    }

    /// Number of users.
    pub fn count(&self) -> Result<u64, UserError> {
        self.with(|c| {
            Ok(c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get::<_, i64>(0))? as u64)
        })
    }

    /// Adds a user (two-factor enrolment happens at their first login).
    pub fn add(&self, name: &str, role: Role, password: &str) -> Result<(), UserError> {
        check_name(name)?;
        check_password(password)?;
        let phc = hash_password(password)?;
        self.with(|c| {
            let n = c.execute(
                "INSERT OR IGNORE INTO users(name, role, password, created) VALUES (?1, ?2, ?3, ?4)",
                params![name, role.as_str(), phc, now()],
            )?;
            if n == 0 {
                return Err(UserError::Invalid(format!("user {name} already exists")));
            }
            Ok(())
        })
    }

    /// Removes a user and ends their sessions. The last administrator
    /// cannot be removed.
    pub fn remove(&self, name: &str) -> Result<(), UserError> {
        self.with(|c| {
            let tx = c.transaction()?;
            let role: Option<String> = tx
                .query_row("SELECT role FROM users WHERE name = ?1", [name], |r| {
                    r.get(0)
                })
                .optional()?;
            let Some(role) = role else {
                return Err(UserError::NotFound(name.to_owned()));
            };
            if role == "admin" {
                let admins: i64 =
                    tx.query_row("SELECT COUNT(*) FROM users WHERE role = 'admin'", [], |r| {
                        r.get(0)
                    })?;
                if admins <= 1 {
                    return Err(UserError::Invalid(
                        "the last administrator cannot be removed".into(),
                    ));
                }
            }
            tx.execute("DELETE FROM users WHERE name = ?1", [name])?;
            tx.execute("DELETE FROM sessions WHERE user = ?1", [name])?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Sets a new password (and unlocks the account).
    pub fn set_password(&self, name: &str, password: &str) -> Result<(), UserError> {
        check_password(password)?;
        let phc = hash_password(password)?;
        self.with(|c| {
            let n = c.execute(
                "UPDATE users SET password = ?2, failures = 0, locked_until = 0 WHERE name = ?1",
                params![name, phc],
            )?;
            if n == 0 {
                return Err(UserError::NotFound(name.to_owned()));
            }
            Ok(())
        })
    }

    /// A user changes their own password, giving the current one.
    pub fn change_own_password(
        &self,
        name: &str,
        current: &str,
        new: &str,
    ) -> Result<(), UserError> {
        check_password(new)?;
        let phc: Option<String> = self.with(|c| {
            Ok(
                c.query_row("SELECT password FROM users WHERE name = ?1", [name], |r| {
                    r.get(0)
                })
                .optional()?,
            )
        })?;
        match phc {
            Some(phc) if verify_password(current, &phc) => self.set_password(name, new),
            Some(_) => Err(self.fail(name, now())),
            None => Err(UserError::NotFound(name.to_owned())),
        }
    }

    /// Forgets a user's TOTP secret: they enrol again at the next login.
    pub fn reset_totp(&self, name: &str) -> Result<(), UserError> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE users SET totp_secret = NULL, totp_last_step = 0 WHERE name = ?1",
                [name],
            )?;
            if n == 0 {
                return Err(UserError::NotFound(name.to_owned()));
            }
            c.execute("DELETE FROM sessions WHERE user = ?1", [name])?;
            Ok(())
        })
    }

    /// Every user.
    pub fn list(&self) -> Result<Vec<User>, UserError> {
        self.with(|c| {
            let mut s = c.prepare(
                "SELECT name, role, totp_secret IS NOT NULL, created, locked_until FROM users ORDER BY name",
            )?;
            let rows = s.query_map([], |r| {
                let role: String = r.get(1)?;
                Ok(User {
                    name: r.get(0)?,
                    role: Role::parse(&role).unwrap_or(Role::Viewer),
                    totp_enrolled: r.get(2)?,
                    created: r.get(3)?,
                    locked_until: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// The password step of a login, with the TOTP code when the user has
    /// two-factor set up.
    pub fn login(
        &self,
        name: &str,
        password: &str,
        code: Option<&str>,
    ) -> Result<LoginStep, UserError> {
        let t = now();
        let row: Option<LoginRow> = self.with(|c| {
            Ok(c.query_row(
                "SELECT role, password, totp_secret, totp_last_step, locked_until FROM users WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?)
        })?;
        let Some((role, phc, secret, last_step, locked_until)) = row else {
            // The same work as for a real user, so timing does not tell.
            verify_password(password, dummy_phc());
            return Err(UserError::BadCredentials);
        };
        if locked_until > t {
            return Err(UserError::Locked {
                until: locked_until,
            });
        }
        if !verify_password(password, &phc) {
            return Err(self.fail(name, t));
        }
        let role = Role::parse(&role).unwrap_or(Role::Viewer);
        let Some(secret) = secret else {
            // First login: enrol two-factor.
            let mut s = [0u8; 20];
            getrandom::fill(&mut s).map_err(|e| UserError::Invalid(e.to_string()))?;
            let token = random_token();
            self.with(|c| {
                c.execute(
                    "INSERT INTO pending(hash, purpose, user, secret, expires) VALUES (?1, 'enroll', ?2, ?3, ?4)",
                    params![hash_token(&token), name, s.to_vec(), t + 600],
                )?;
                Ok(())
            })?;
            return Ok(LoginStep::Enroll {
                token,
                secret: totp::base32(&s),
                uri: totp::uri("mamori", name, &s),
            });
        };
        let Some(code) = code.filter(|c| !c.trim().is_empty()) else {
            return Err(UserError::TotpRequired);
        };
        match totp::matching_step(&secret, code, t as u64) {
            Some(step) if step as i64 > last_step => {
                // Claim the step: of two logins racing with one code, one wins.
                let claimed = self.with(|c| {
                    Ok(c.execute(
                        "UPDATE users SET totp_last_step = ?2, failures = 0
                         WHERE name = ?1 AND totp_last_step < ?2",
                        params![name, step as i64],
                    )?)
                })?;
                if claimed != 1 {
                    return Err(UserError::BadCredentials);
                }
                self.new_session(name, role).map(LoginStep::Session)
            }
            _ => Err(self.fail(name, t)),
        }
    }

    /// Completes two-factor enrolment with a code from the new secret.
    pub fn enroll(&self, token: &str, code: &str) -> Result<Session, UserError> {
        let t = now();
        let row: Option<(String, Vec<u8>)> = self.with(|c| {
            Ok(c.query_row(
                "SELECT user, secret FROM pending WHERE hash = ?1 AND purpose = 'enroll' AND expires > ?2",
                params![hash_token(token), t],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
        })?;
        let Some((name, secret)) = row else {
            return Err(UserError::Expired);
        };
        let Some(step) = totp::matching_step(&secret, code, t as u64) else {
            return Err(UserError::BadCredentials);
        };
        let role = self.with(|c| {
            let tx = c.transaction()?;
            tx.execute("DELETE FROM pending WHERE hash = ?1", [hash_token(token)])?;
            tx.execute(
                "UPDATE users SET totp_secret = ?2, totp_last_step = ?3, failures = 0 WHERE name = ?1",
                params![name, secret, step as i64],
            )?;
            let role: String =
                tx.query_row("SELECT role FROM users WHERE name = ?1", [&name], |r| r.get(0))?;
            tx.commit()?;
            Ok(Role::parse(&role).unwrap_or(Role::Viewer))
        })?;
        self.new_session(&name, role)
    }

    fn fail(&self, name: &str, t: i64) -> UserError {
        let r = self.with(|c| {
            c.execute(
                "UPDATE users SET
                   locked_until = CASE WHEN failures + 1 >= ?2 THEN ?3 ELSE locked_until END,
                   failures = CASE WHEN failures + 1 >= ?2 THEN 0 ELSE failures + 1 END
                 WHERE name = ?1",
                params![name, MAX_FAILURES, t + LOCK_SECS],
            )?;
            Ok(c.query_row(
                "SELECT locked_until FROM users WHERE name = ?1",
                [name],
                |r| r.get::<_, i64>(0),
            )?)
        });
        match r {
            Ok(until) if until > t => UserError::Locked { until },
            Ok(_) => UserError::BadCredentials,
            Err(e) => e,
        }
    }

    fn new_session(&self, name: &str, role: Role) -> Result<Session, UserError> {
        let token = random_token();
        let csrf = random_token();
        let t = now();
        self.with(|c| {
            c.execute(
                "DELETE FROM sessions WHERE last_seen < ?1 OR created < ?2",
                params![t - IDLE_SECS, t - MAX_SESSION_SECS],
            )?;
            c.execute(
                "INSERT INTO sessions(hash, user, csrf, created, last_seen) VALUES (?1, ?2, ?3, ?4, ?4)",
                params![hash_token(&token), name, csrf, t],
            )?;
            Ok(())
        })?;
        Ok(Session {
            token,
            csrf,
            user: name.to_owned(),
            role,
        })
    }

    /// The live session of a cookie value, refreshing its idle timer.
    pub fn session(&self, token: &str) -> Result<Option<Session>, UserError> {
        let t = now();
        self.with(|c| {
            let row: Option<(String, String, String)> = c
                .query_row(
                    "SELECT s.user, s.csrf, u.role FROM sessions s JOIN users u ON u.name = s.user
                     WHERE s.hash = ?1 AND s.last_seen >= ?2 AND s.created >= ?3",
                    params![hash_token(token), t - IDLE_SECS, t - MAX_SESSION_SECS],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((user, csrf, role)) = row else {
                return Ok(None);
            };
            c.execute(
                "UPDATE sessions SET last_seen = ?2 WHERE hash = ?1 AND last_seen < ?2",
                params![hash_token(token), t],
            )?;
            Ok(Some(Session {
                token: token.to_owned(),
                csrf,
                user,
                role: Role::parse(&role).unwrap_or(Role::Viewer),
            }))
        })
    }

    /// Ends a session.
    pub fn logout(&self, token: &str) -> Result<(), UserError> {
        self.with(|c| {
            c.execute("DELETE FROM sessions WHERE hash = ?1", [hash_token(token)])?;
            Ok(())
        })
    }

    /// While no user exists: a new one-time setup token (valid 24 hours)
    /// for making the first administrator. `None` once a user exists.
    pub fn setup_token(&self) -> Result<Option<String>, UserError> {
        if self.count()? > 0 {
            return Ok(None);
        }
        let token = random_token();
        self.with(|c| {
            c.execute("DELETE FROM pending WHERE purpose = 'setup'", [])?;
            c.execute(
                "INSERT INTO pending(hash, purpose, user, expires) VALUES (?1, 'setup', '', ?2)",
                params![hash_token(&token), now() + 24 * 3600],
            )?;
            Ok(())
        })?;
        Ok(Some(token))
    }

    /// Makes the first administrator with a setup token.
    pub fn setup(&self, token: &str, name: &str, password: &str) -> Result<(), UserError> {
        check_name(name)?;
        check_password(password)?;
        let phc = hash_password(password)?;
        self.with(|c| {
            let tx = c.transaction()?;
            let users: i64 = tx.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
            let n = tx.execute(
                "DELETE FROM pending WHERE hash = ?1 AND purpose = 'setup' AND expires > ?2",
                params![hash_token(token), now()],
            )?;
            if n == 0 || users > 0 {
                return Err(UserError::Expired);
            }
            tx.execute(
                "INSERT INTO users(name, role, password, created) VALUES (?1, 'admin', ?2, ?3)",
                params![name, phc, now()],
            )?;
            tx.commit()?;
            Ok(())
        })
    }
}

/// A real Argon2id hash of a random password, verified against when the
/// user does not exist.
fn dummy_phc() -> &'static str {
    static PHC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PHC.get_or_init(|| hash_password(&random_token()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_for(secret_b32: &str) -> String {
        let s = totp::from_base32(secret_b32).unwrap();
        totp::code(&s, now() as u64)
    }

    #[test]
    fn first_login_enrols_totp_then_logins_need_a_fresh_code() {
        let dir = tempfile::tempdir().unwrap();
        let u = UserStore::open(dir.path()).unwrap();
        u.add("tanaka", Role::Admin, "correct horse battery")
            .unwrap();
        let LoginStep::Enroll { token, secret, uri } =
            u.login("tanaka", "correct horse battery", None).unwrap()
        else {
            panic!("expected enrolment");
        };
        assert!(uri.starts_with("otpauth://totp/mamori:tanaka?secret="));
        let wrong = totp::code(&totp::from_base32(&secret).unwrap(), now() as u64 + 300);
        assert!(matches!(
            u.enroll(&token, &wrong),
            Err(UserError::BadCredentials)
        ));
        let s = u.enroll(&token, &code_for(&secret)).unwrap();
        assert_eq!(s.role, Role::Admin);
        assert!(u.session(&s.token).unwrap().is_some());
        // The enrolment token is used up.
        assert!(matches!(
            u.enroll(&token, &code_for(&secret)),
            Err(UserError::Expired)
        ));
        // Now the password alone is not enough, and a code is good once.
        assert!(matches!(
            u.login("tanaka", "correct horse battery", None),
            Err(UserError::TotpRequired)
        ));
        let code = code_for(&secret);
        assert!(
            matches!(
                u.login("tanaka", "correct horse battery", Some(&code)),
                Err(UserError::BadCredentials)
            ),
            "the code used for enrolment cannot be replayed"
        );
        u.logout(&s.token).unwrap();
        assert!(u.session(&s.token).unwrap().is_none());
    }

    #[test]
    fn five_failures_lock_even_the_right_password_out() {
        let dir = tempfile::tempdir().unwrap();
        let u = UserStore::open(dir.path()).unwrap();
        u.add("sato", Role::Viewer, "another long password")
            .unwrap();
        for _ in 0..4 {
            assert!(matches!(
                u.login("sato", "wrong password!", None),
                Err(UserError::BadCredentials)
            ));
        }
        assert!(matches!(
            u.login("sato", "wrong password!", None),
            Err(UserError::Locked { .. })
        ));
        assert!(matches!(
            u.login("sato", "another long password", None),
            Err(UserError::Locked { .. })
        ));
        // An administrator's password reset unlocks.
        u.set_password("sato", "a brand new password").unwrap();
        assert!(matches!(
            u.change_own_password("sato", "not it at all", "another new one!"),
            Err(UserError::BadCredentials)
        ));
        u.change_own_password("sato", "a brand new password", "another new one!")
            .unwrap();
        u.set_password("sato", "a brand new password").unwrap();
        assert!(u.login("sato", "a brand new password", None).is_ok());
        assert!(matches!(
            u.login("nobody", "whatever pw", None),
            Err(UserError::BadCredentials)
        ));
    }

    #[test]
    fn setup_token_makes_one_admin_once() {
        let dir = tempfile::tempdir().unwrap();
        let u = UserStore::open(dir.path()).unwrap();
        let t = u.setup_token().unwrap().unwrap();
        assert!(matches!(
            u.setup("bad", "x", "short"),
            Err(UserError::Invalid(_))
        ));
        assert!(matches!(
            u.setup("wrong-token", "admin", "long enough pw"),
            Err(UserError::Expired)
        ));
        u.setup(&t, "admin", "long enough pw").unwrap();
        assert!(matches!(
            u.setup(&t, "admin2", "long enough pw"),
            Err(UserError::Expired)
        ));
        assert!(u.setup_token().unwrap().is_none());
        assert_eq!(u.list().unwrap()[0].role, Role::Admin);
        assert!(matches!(u.remove("admin"), Err(UserError::Invalid(_))));
    }
}
