//! `key=value key="quoted value"` lists, as FortiGate and others write them.

/// Splits `s` into key/value pairs. Values may be double-quoted with `\"`
/// escapes. Stops (returning what it has) at anything that is not a pair.
pub fn parse(s: &str) -> Vec<(&str, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = &rest[..eq];
        if key.is_empty()
            || !key
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"_-.".contains(&c))
        {
            break;
        }
        let v = &rest[eq + 1..];
        if let Some(q) = v.strip_prefix('"') {
            let mut val = String::new();
            let mut end = None;
            let mut it = q.char_indices();
            while let Some((i, c)) = it.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = it.next() {
                            if n != '"' && n != '\\' {
                                val.push('\\');
                            }
                            val.push(n);
                        }
                    }
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => val.push(c),
                }
            }
            match end {
                Some(e) => {
                    out.push((key, val));
                    rest = q[e + 1..].trim_start();
                }
                None => {
                    out.push((key, val));
                    break;
                }
            }
        } else {
            let end = v.find(' ').unwrap_or(v.len());
            out.push((key, v[..end].to_owned()));
            rest = v[end..].trim_start();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_and_bare() {
        let p = parse(r#"a=1 b="two words" c="say \"hi\"" d="""#);
        assert_eq!(
            p,
            vec![
                ("a", "1".to_string()),
                ("b", "two words".into()),
                ("c", "say \"hi\"".into()),
                ("d", "".into())
            ]
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".*") { let _ = parse(&s); }

        #[test]
        fn quoted_values_round_trip(v in "[^\"\\\\]*") {
            let line = format!("k=\"{v}\" n=1");
            let p = parse(&line);
            proptest::prop_assert_eq!(&p[0].1, &v);
            proptest::prop_assert_eq!(p.len(), 2);
        }
    }
}
