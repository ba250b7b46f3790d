//! The tokenizer shared by indexing and queries.
//!
//! Latin letters and digits form words (lower-cased; full-width forms are
//! read as their ASCII twins). Japanese, Chinese and Korean text has no
//! spaces between words, so runs of such characters are cut into
//! overlapping pairs (bigrams): `認証失敗` → `認証 証失 失敗`. A query for
//! `認証失敗` becomes the phrase of those pairs, which finds the word inside
//! any longer run, without a dictionary. A GUID (`8-4-4-4-12` hex digits,
//! as Windows writes process, logon and provider ids) is one word, hyphens
//! and all: it is looked up whole, and as five words it would put five
//! nearly unique terms into the index instead of one. Everything else
//! separates tokens.

/// Tokens longer than this (bytes) are not indexed.
pub const MAX_TOKEN_BYTES: usize = 128;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Word,
    Cjk,
    Sep,
}

fn fold(c: char) -> char {
    // Full-width ASCII (U+FF01–U+FF5E) to ASCII.
    if ('\u{FF01}'..='\u{FF5E}').contains(&c) {
        char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
    } else {
        c
    }
}

fn class(c: char) -> Class {
    if c.is_ascii_alphanumeric() {
        return Class::Word;
    }
    if c.is_ascii() {
        return Class::Sep;
    }
    let u = c as u32;
    let cjk = matches!(u,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK Extension A
        | 0x4E00..=0x9FFF    // CJK Unified Ideographs
        | 0xF900..=0xFAFF    // CJK Compatibility Ideographs
        | 0xFF66..=0xFF9F    // Half-width Katakana
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0x20000..=0x2FA1F  // CJK Extensions B–F, compatibility supplement
        | 0x3005 | 0x3006    // 々 〆
    );
    if cjk {
        Class::Cjk
    } else if c.is_alphanumeric() {
        Class::Word
    } else {
        Class::Sep
    }
}

/// Calls `emit(token, position)` for each token of `text`, positions
/// counting from `start`; returns the next free position.
pub fn tokenize<F: FnMut(&str, usize)>(text: &str, start: usize, emit: &mut F) -> usize {
    if text.is_ascii() {
        tokenize_ascii(text, start, emit)
    } else {
        tokenize_any(text, start, emit)
    }
}

/// [`tokenize`] for ASCII text, the common case (Windows and device
/// logs): words are runs of letters and digits, found byte by byte and
/// handed out as slices of `text` unless they need lower-casing.
fn tokenize_ascii<F: FnMut(&str, usize)>(text: &str, start: usize, emit: &mut F) -> usize {
    let bytes = text.as_bytes();
    let mut pos = start;
    let mut lower = String::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        if let Some(n) = guid_len(&text[i..]) {
            lower.clear();
            lower.push_str(&text[i..i + n]);
            lower.make_ascii_lowercase();
            emit(&lower, pos);
            pos += 1;
            i += n;
            continue;
        }
        let from = i;
        let mut upper = false;
        while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
            upper |= bytes[i].is_ascii_uppercase();
            i += 1;
        }
        if i - from > MAX_TOKEN_BYTES {
            continue;
        }
        // ASCII throughout, so every byte is a character boundary.
        let word = &text[from..i];
        if upper {
            lower.clear();
            lower.push_str(word);
            lower.make_ascii_lowercase();
            emit(&lower, pos);
        } else {
            emit(word, pos);
        }
        pos += 1;
    }
    pos
}

/// Whether `b` may stand at `i` in a GUID: a hyphen between the groups of
/// `8-4-4-4-12` hex digits, a hex digit elsewhere.
fn in_guid(i: usize, b: u8) -> bool {
    if matches!(i, 8 | 13 | 18 | 23) {
        b == b'-'
    } else {
        b.is_ascii_hexdigit()
    }
}

/// The length of the GUID (`8-4-4-4-12` hex digits) `rest` starts with,
/// if it does and no letter or digit follows it.
fn guid_len(rest: &str) -> Option<usize> {
    const LEN: usize = 36;
    let head = rest.as_bytes().get(..LEN)?;
    if !head.iter().enumerate().all(|(i, &b)| in_guid(i, b)) {
        return None;
    }
    match rest[LEN..].chars().next() {
        Some(c) if class(fold(c)) == Class::Word => None,
        _ => Some(LEN),
    }
}

/// Whether `s` is a GUID (`8-4-4-4-12` hex digits) and nothing else.
pub(crate) fn is_guid(s: &str) -> bool {
    guid_len(s) == Some(s.len())
}

/// The words of the text of a prefix query (`a98268c1-9c2e*`): as
/// [`tokens`] gives them, except that the start of a GUID, up to a hyphen
/// or past one, stays one word, since the GUID's own word starts with it.
pub(crate) fn prefix_tokens(p: &str) -> Vec<String> {
    let t = p.strip_prefix('{').unwrap_or(p);
    let start_of_guid =
        t.len() < 36 && t.contains('-') && t.bytes().enumerate().all(|(i, b)| in_guid(i, b));
    if start_of_guid {
        vec![t.to_ascii_lowercase()]
    } else {
        tokens(p)
    }
}

/// [`tokenize`] for any text.
fn tokenize_any(text: &str, start: usize, emit: &mut dyn FnMut(&str, usize)) -> usize {
    let mut pos = start;
    let mut word = String::new();
    let mut prev_cjk: Option<char> = None;
    let mut cjk_run = 0usize;
    let flush_word = |word: &mut String, pos: &mut usize, emit: &mut dyn FnMut(&str, usize)| {
        if !word.is_empty() {
            if word.len() <= MAX_TOKEN_BYTES {
                emit(word, *pos);
                *pos += 1;
            }
            word.clear();
        }
    };
    let end_cjk = |prev: &mut Option<char>,
                   run: &mut usize,
                   pos: &mut usize,
                   emit: &mut dyn FnMut(&str, usize)| {
        if *run == 1
            && let Some(p) = *prev
        {
            // A lone character is a token of its own.
            let mut b = [0u8; 4];
            emit(p.encode_utf8(&mut b), *pos);
            *pos += 1;
        }
        *prev = None;
        *run = 0;
    };
    // Where a GUID taken whole ends.
    let mut skip_to = 0;
    for (at, c) in text.char_indices() {
        if at < skip_to {
            continue;
        }
        let c = fold(c);
        match class(c) {
            Class::Word => {
                end_cjk(&mut prev_cjk, &mut cjk_run, &mut pos, emit);
                if word.is_empty()
                    && let Some(n) = guid_len(&text[at..])
                {
                    emit(&text[at..at + n].to_ascii_lowercase(), pos);
                    pos += 1;
                    skip_to = at + n;
                    continue;
                }
                for l in c.to_lowercase() {
                    word.push(l);
                }
            }
            Class::Cjk => {
                flush_word(&mut word, &mut pos, emit);
                if let Some(p) = prev_cjk {
                    let mut pair = String::with_capacity(8);
                    pair.push(p);
                    pair.push(c);
                    emit(&pair, pos);
                    pos += 1;
                }
                prev_cjk = Some(c);
                cjk_run += 1;
            }
            Class::Sep => {
                flush_word(&mut word, &mut pos, emit);
                end_cjk(&mut prev_cjk, &mut cjk_run, &mut pos, emit);
            }
        }
    }
    flush_word(&mut word, &mut pos, emit);
    end_cjk(&mut prev_cjk, &mut cjk_run, &mut pos, emit);
    pos
}

/// The tokens of `text`, in order.
pub fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    tokenize(text, 0, &mut |t, _| out.push(t.to_owned()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn words_and_bigrams() {
        assert_eq!(
            tokens("VPN認証失敗 user=Yamada 10.1.2.3"),
            [
                "vpn", "認証", "証失", "失敗", "user", "yamada", "10", "1", "2", "3"
            ]
        );
        assert_eq!(tokens("ログイン"), ["ログ", "グイ", "イン"]);
        assert_eq!(tokens("の a"), ["の", "a"]);
        assert_eq!(tokens("ＵＳＥＲ１"), ["user1"]);
    }

    #[test]
    fn a_guid_is_one_word() {
        let g = "{A98268C1-9C2E-5ACD-0000-0010396CAB00}";
        assert_eq!(tokens(g), ["a98268c1-9c2e-5acd-0000-0010396cab00"]);
        assert_eq!(
            tokens(&format!("ParentProcessGuid={g} 認証")),
            [
                "parentprocessguid",
                "a98268c1-9c2e-5acd-0000-0010396cab00",
                "認証"
            ]
        );
        assert_eq!(
            tokens("失敗a98268c1-9c2e-5acd-0000-0010396cab00"),
            ["失敗", "a98268c1-9c2e-5acd-0000-0010396cab00"]
        );
        // Not a GUID: a letter or digit around it, or the wrong shape.
        assert_eq!(
            tokens("xa98268c1-9c2e-5acd-0000-0010396cab00"),
            ["xa98268c1", "9c2e", "5acd", "0000", "0010396cab00"]
        );
        assert_eq!(
            tokens("a98268c1-9c2e-5acd-0000-0010396cab00f"),
            ["a98268c1", "9c2e", "5acd", "0000", "0010396cab00f"]
        );
        assert_eq!(
            tokens("a98268c1-9c2e-5acd-0000"),
            ["a98268c1", "9c2e", "5acd", "0000"]
        );
    }

    #[test]
    fn positions_are_consecutive() {
        let mut got = Vec::new();
        tokenize("接続 に 失敗しました", 5, &mut |t, p| {
            got.push((t.to_owned(), p))
        });
        let pos: Vec<usize> = got.iter().map(|g| g.1).collect();
        assert_eq!(pos, (5..5 + got.len()).collect::<Vec<_>>());
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}") {
            let _ = tokens(&s);
        }

        #[test]
        fn the_ascii_path_tokenizes_as_the_general_one(
            s in "[ -~]{0,300}",
            long in "[a-zA-Z0-9]{120,140}",
            guid in "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
            around in "[ -~]{0,2}",
        ) {
            for text in [s.clone(), format!("{s} {long} {s}"), format!("{s}{around}{guid}{around}{s}")] {
                let mut fast = Vec::new();
                let end_fast = tokenize_ascii(&text, 3, &mut |t, p| fast.push((t.to_owned(), p)));
                let mut general = Vec::new();
                let end_general = tokenize_any(&text, 3, &mut |t, p| general.push((t.to_owned(), p)));
                prop_assert_eq!(fast, general);
                prop_assert_eq!(end_fast, end_general);
            }
        }
    }
}
