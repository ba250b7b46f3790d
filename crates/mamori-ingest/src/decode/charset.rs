//! Character sets: Japanese devices may send Shift_JIS or EUC-JP.

use super::Encoding;
use std::borrow::Cow;

/// The bytes as UTF-8 text, and whether they had to be converted.
pub fn to_utf8(bytes: &[u8], enc: Encoding) -> (Cow<'_, str>, bool) {
    match enc {
        Encoding::Utf8 => (String::from_utf8_lossy(bytes), false),
        Encoding::ShiftJis => convert(bytes, encoding_rs::SHIFT_JIS),
        Encoding::EucJp => convert(bytes, encoding_rs::EUC_JP),
        Encoding::Auto => match std::str::from_utf8(bytes) {
            Ok(s) => (Cow::Borrowed(s), false),
            Err(_) => detect(bytes),
        },
    }
}

fn convert<'a>(bytes: &'a [u8], enc: &'static encoding_rs::Encoding) -> (Cow<'a, str>, bool) {
    let (s, _, _) = enc.decode(bytes);
    let changed = matches!(s, Cow::Owned(_));
    (s, changed)
}

/// Chooses between Shift_JIS and EUC-JP: the one that decodes without
/// errors, and if both do, the one that yields more Japanese characters.
fn detect(bytes: &[u8]) -> (Cow<'_, str>, bool) {
    // Hiragana, katakana, kanji and Japanese punctuation count for a
    // reading; half-width katakana and private-use characters (what the
    // wrong one of the two usually yields) count against it.
    let score = |s: &str| {
        s.chars()
            .map(|c| match c as u32 {
                0x3040..=0x30FF | 0x4E00..=0x9FFF | 0x3000..=0x303F => 2i64,
                0xFF61..=0xFF9F | 0xE000..=0xF8FF => -3,
                _ => 0,
            })
            .sum::<i64>()
    };
    let (sj, _, sj_err) = encoding_rs::SHIFT_JIS.decode(bytes);
    let (euc, _, euc_err) = encoding_rs::EUC_JP.decode(bytes);
    let pick_sj = match (sj_err, euc_err) {
        (false, true) => true,
        (true, false) => false,
        _ => score(&sj) >= score(&euc),
    };
    if pick_sj && (!sj_err || euc_err) {
        (Cow::Owned(sj.into_owned()), true)
    } else if !euc_err {
        (Cow::Owned(euc.into_owned()), true)
    } else {
        (
            Cow::Owned(String::from_utf8_lossy(bytes).into_owned()),
            true,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_jis_and_euc_jp_are_detected() {
        let text = "ログイン失敗 ユーザー 山田";
        let (sj, _, _) = encoding_rs::SHIFT_JIS.encode(text);
        let (euc, _, _) = encoding_rs::EUC_JP.encode(text);
        assert_eq!(
            to_utf8(&sj, Encoding::Auto),
            (Cow::Owned::<str>(text.into()), true)
        );
        assert_eq!(to_utf8(&euc, Encoding::Auto).0, text);
        assert_eq!(to_utf8(&sj, Encoding::ShiftJis).0, text);
        assert_eq!(
            to_utf8(text.as_bytes(), Encoding::Auto),
            (Cow::Borrowed(text), false)
        );
    }
}
