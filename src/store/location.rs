//! Where the store is: a SQLite file (a path, or `sqlite:PATH`) or a PostgreSQL database
//! (`postgres://…` / `postgresql://…`). A password in a URL is never shown: `Display` and
//! `Debug` print `****` in its place.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// A store location, as given by `--db` or `SALESINGEST_DB`.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite database file (absolute).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL, kept whole (with its password) for connecting only.
    Postgres(PgUrl),
}

/// A PostgreSQL connection URL whose password never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl(String);

impl PgUrl {
    /// The URL with its password, for the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with the password (in the authority or a `password=` parameter) replaced by
    /// `****`.
    pub fn redacted(&self) -> String {
        redact(&self.0)
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgUrl({})", self.redacted())
    }
}

impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Location {
    /// Parse `--db`: `postgres://…` or `postgresql://…` selects PostgreSQL; `sqlite:PATH` or
    /// any other text is a SQLite file path, made absolute against `cwd`.
    ///
    /// # Errors
    /// An empty value, or a URL of another scheme (`mysql://…`).
    pub fn parse(text: &str, cwd: &Path) -> Result<Location> {
        let t = text.trim();
        if t.is_empty() {
            bail!("--db is empty: give a database file path or a postgres:// URL");
        }
        let lower = t.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(Location::Postgres(PgUrl(t.to_string())));
        }
        let path = if let Some(rest) = t.strip_prefix("sqlite:") {
            rest.strip_prefix("//").unwrap_or(rest)
        } else {
            if let Some((scheme, _)) = t.split_once("://") {
                if scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '+')
                {
                    bail!(
                        "--db `{}`: unknown database URL scheme `{scheme}`: give a file path \
                         (SQLite) or a postgres:// URL",
                        redact(t)
                    );
                }
            }
            t
        };
        let p = Path::new(path);
        Ok(Location::Sqlite(if p.is_absolute() {
            p.to_path_buf()
        } else {
            cwd.join(p)
        }))
    }

    /// Parse against the current directory.
    ///
    /// # Errors
    /// As `parse`, or an unreadable current directory.
    pub fn parse_here(text: &str) -> Result<Location> {
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        Location::parse(text, &cwd)
    }

    /// The SQLite file, if this is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Location::Sqlite(p) => Some(p),
            Location::Postgres(_) => None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(p) => write!(f, "{}", p.display()),
            Location::Postgres(u) => write!(f, "{u}"),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(p) => write!(f, "Sqlite({})", p.display()),
            Location::Postgres(u) => write!(f, "Postgres({})", u.redacted()),
        }
    }
}

/// Replace the password of a connection URL (`scheme://user:PASSWORD@host`, and any
/// `password=…` query parameter) with `****`.
fn redact(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(start) = out.find("://").map(|i| i + 3) {
        let auth_end = out[start..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |i| start + i);
        if let Some(at) = out[start..auth_end].rfind('@').map(|i| start + i) {
            if let Some(colon) = out[start..at].find(':').map(|i| start + i) {
                out.replace_range(colon + 1..at, "****");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let redacted: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=****"),
                _ => kv.to_string(),
            })
            .collect();
        out = format!("{head}{}", redacted.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_urls() {
        let cwd = Path::new("/home/a");
        assert_eq!(
            Location::parse("x.db", cwd).unwrap(),
            Location::Sqlite("/home/a/x.db".into())
        );
        assert_eq!(
            Location::parse("sqlite:/tmp/y.db", cwd).unwrap(),
            Location::Sqlite("/tmp/y.db".into())
        );
        assert_eq!(
            Location::parse("sqlite://rel.db", cwd).unwrap(),
            Location::Sqlite("/home/a/rel.db".into())
        );
        let pg = Location::parse("postgres://u:s3cret@db.example:5432/sales", cwd).unwrap();
        assert!(matches!(pg, Location::Postgres(_)));
        assert!(Location::parse("mysql://u@h/d", cwd).is_err());
        assert!(Location::parse("  ", cwd).is_err());
        // A file name that merely contains a colon stays a path.
        assert_eq!(
            Location::parse("a:b.db", cwd).unwrap(),
            Location::Sqlite("/home/a/a:b.db".into())
        );
    }

    #[test]
    fn the_password_never_prints() {
        let cwd = Path::new("/");
        for (url, shown) in [
            (
                "postgres://u:s3cret@db.example:5432/sales?sslmode=require",
                "postgres://u:****@db.example:5432/sales?sslmode=require",
            ),
            (
                "postgresql://u:p%40ss@h/d?password=s3cret&application_name=x",
                "postgresql://u:****@h/d?password=****&application_name=x",
            ),
            ("postgres://u@h/d", "postgres://u@h/d"),
            (
                "postgres://h/d?user=u&password=s3cret",
                "postgres://h/d?user=u&password=****",
            ),
        ] {
            let l = Location::parse(url, cwd).unwrap();
            assert_eq!(l.to_string(), shown);
            let dbg = format!("{l:?}");
            assert!(!dbg.contains("s3cret") && !dbg.contains("p%40ss"), "{dbg}");
            assert!(!format!("{}", l).contains("s3cret"));
        }
        let err = Location::parse("mysql://u:s3cret@h/d", cwd).unwrap_err();
        assert!(!format!("{err:#}").contains("s3cret"), "{err:#}");
    }
}
