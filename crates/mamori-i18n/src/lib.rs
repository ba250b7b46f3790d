//! The message catalogue: every text mamori shows a person, in Japanese and
//! English, kept in one file (`messages.toml`) that the CLI and the console
//! share.
//!
//! The catalogue is embedded in the binary and parsed once. A message is
//! looked up by key; `{name}` placeholders are filled from arguments. A key
//! missing from the catalogue comes back as the key itself, and a test checks
//! that every key has both languages, so a gap is found before release.
//!
//! ```
//! use mamori_i18n::{Lang, t, tf};
//!
//! assert_eq!(t(Lang::En, "verify.ok"), "The store is intact: every block and seal checks out.");
//! let s = tf(Lang::Ja, "serve.listening", &[("what", "syslog/udp"), ("addr", "0.0.0.0:5514")]);
//! assert!(s.contains("0.0.0.0:5514"));
//! ```

use std::collections::HashMap;
use std::sync::OnceLock;

/// A language of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// 日本語 (the default).
    #[default]
    Ja,
    /// English.
    En,
}

impl Lang {
    /// Parses `ja`, `en`, or a locale such as `ja_JP.UTF-8` / `en_US`.
    pub fn parse(s: &str) -> Option<Lang> {
        let s = s.trim().to_ascii_lowercase();
        if s.starts_with("ja") {
            Some(Lang::Ja)
        } else if s.starts_with("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The language for this process: `MAMORI_LANG`, else `LANG` if it names
    /// English or Japanese, else Japanese.
    pub fn from_env() -> Lang {
        for var in ["MAMORI_LANG", "LC_ALL", "LANG"] {
            if let Ok(v) = std::env::var(var)
                && let Some(l) = Lang::parse(&v)
            {
                return l;
            }
        }
        Lang::Ja
    }

    /// The short code, `ja` or `en`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }
}

const CATALOGUE: &str = include_str!("../messages.toml");

struct Entry {
    ja: String,
    en: String,
}

fn catalogue() -> &'static HashMap<String, Entry> {
    static CAT: OnceLock<HashMap<String, Entry>> = OnceLock::new();
    CAT.get_or_init(|| {
        let mut map = HashMap::new();
        // The catalogue is compiled in and checked by a test, so a parse
        // failure here can only come from a broken build: fall back to keys.
        if let Ok(t) = toml::from_str::<toml::Table>(CATALOGUE) {
            flatten("", &t, &mut map);
        }
        map
    })
}

fn flatten(prefix: &str, t: &toml::value::Table, out: &mut HashMap<String, Entry>) {
    for (k, v) in t {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        if let toml::Value::Table(inner) = v {
            if let (Some(ja), Some(en)) = (
                inner.get("ja").and_then(toml::Value::as_str),
                inner.get("en").and_then(toml::Value::as_str),
            ) {
                out.insert(
                    key,
                    Entry {
                        ja: ja.to_owned(),
                        en: en.to_owned(),
                    },
                );
            } else {
                flatten(&key, inner, out);
            }
        }
    }
}

/// The message `key` in `lang` (the key itself when the catalogue lacks it).
pub fn t(lang: Lang, key: &'static str) -> &'static str {
    get(lang, key).unwrap_or(key)
}

/// The message `key` in `lang`, if the catalogue has it.
pub fn get(lang: Lang, key: &str) -> Option<&'static str> {
    catalogue().get(key).map(|e| match lang {
        Lang::Ja => e.ja.as_str(),
        Lang::En => e.en.as_str(),
    })
}

/// The message `key` in `lang` with `{name}` placeholders filled from `args`.
pub fn tf(lang: Lang, key: &'static str, args: &[(&str, &str)]) -> String {
    let mut s = t(lang, key).to_owned();
    for (name, value) in args {
        s = s.replace(&format!("{{{name}}}"), value);
    }
    s
}

/// Every key in the catalogue (for completeness checks and the console).
pub fn keys() -> Vec<&'static str> {
    let mut k: Vec<&'static str> = catalogue().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_parses_and_every_entry_has_both_languages() {
        let parsed = toml::Value::Table(toml::from_str(CATALOGUE).expect("messages.toml parses"));
        fn walk(prefix: &str, v: &toml::Value, n: &mut usize) {
            if let toml::Value::Table(t) = v {
                let has_ja = t.get("ja").is_some();
                let has_en = t.get("en").is_some();
                assert_eq!(has_ja, has_en, "{prefix}: needs both ja and en");
                if has_ja {
                    *n += 1;
                    assert!(
                        !t["ja"].as_str().unwrap_or("").is_empty(),
                        "{prefix}.ja is empty"
                    );
                    assert!(
                        !t["en"].as_str().unwrap_or("").is_empty(),
                        "{prefix}.en is empty"
                    );
                    return;
                }
                for (k, v) in t {
                    walk(&format!("{prefix}.{k}"), v, n);
                }
            }
        }
        let mut n = 0;
        walk("", &parsed, &mut n);
        assert_eq!(n, keys().len());
        assert!(n > 10);
    }

    #[test]
    fn placeholders_are_filled_in_both_languages() {
        for l in [Lang::Ja, Lang::En] {
            let s = tf(l, "import.done", &[("events", "12"), ("files", "3")]);
            assert!(s.contains("12") && s.contains('3'), "{s}");
            assert!(!s.contains('{'), "{s}");
        }
    }

    #[test]
    fn missing_key_comes_back_as_itself() {
        assert_eq!(t(Lang::En, "no.such.key"), "no.such.key");
    }

    #[test]
    fn lang_parse() {
        assert_eq!(Lang::parse("ja_JP.UTF-8"), Some(Lang::Ja));
        assert_eq!(Lang::parse("en_US"), Some(Lang::En));
        assert_eq!(Lang::parse("C.UTF-8"), None);
    }
}
