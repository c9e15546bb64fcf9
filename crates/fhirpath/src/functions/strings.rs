//! String functions: indexOf, lastIndexOf, substring, startsWith, endsWith, contains, upper,
//! lower, replace, matches, matchesFull, replaceMatches, length, toChars, trim, split, join,
//! encode/decode (base64, urlbase64, hex) and escape/unescape (html, json).

use std::borrow::Cow;

use super::Ctx;
use crate::ast::Func;
use crate::error::EvalError;
use crate::eval::Items;
use crate::item::Item;
use crate::parser::compile_regex;

fn s<'a>(v: impl Into<String>) -> Items<'a> {
    vec![Item::String(v.into())]
}

pub(super) fn call<'a>(cx: &Ctx<'_, 'a, '_>) -> Result<Items<'a>, EvalError> {
    let func = cx.call.func;
    if func == Func::Join {
        let sep = cx.arg_string(0)?.unwrap_or_default();
        let mut parts = Vec::with_capacity(cx.input.len());
        for item in cx.input {
            match item.as_str() {
                Some(p) => parts.push(p.to_owned()),
                None => match item.to_system().as_deref() {
                    Some(Item::String(p)) => parts.push(p.clone()),
                    None => {}
                    Some(_) => return Err(EvalError::type_error("join() needs strings")),
                },
            }
        }
        return Ok(s(parts.join(&sep)));
    }
    let Some(input) = cx.input_string()? else {
        return Ok(Vec::new());
    };
    let input: &str = &input;
    Ok(match func {
        Func::IndexOf | Func::LastIndexOf => match cx.arg_string(0)? {
            None => Vec::new(),
            Some(needle) => {
                let found = if func == Func::IndexOf { input.find(&needle) } else { input.rfind(&needle) };
                let idx = found.map(|b| input[..b].chars().count() as i64).unwrap_or(-1);
                vec![Item::Integer(idx)]
            }
        },
        Func::Substring => {
            let Some(start) = cx.arg_integer(0)? else {
                return Ok(Vec::new());
            };
            let len = if cx.call.args.len() > 1 { cx.arg_integer(1)? } else { None };
            let count = input.chars().count() as i64;
            if start < 0 || start >= count {
                return Ok(Vec::new());
            }
            let take = match len {
                Some(l) if l <= 0 => 0,
                Some(l) => l as usize,
                None => usize::MAX,
            };
            s(input.chars().skip(start as usize).take(take).collect::<String>())
        }
        Func::StartsWith | Func::EndsWith | Func::Contains => match cx.arg_string(0)? {
            None => Vec::new(),
            Some(p) => vec![Item::Boolean(match func {
                Func::StartsWith => input.starts_with(&p),
                Func::EndsWith => input.ends_with(&p),
                _ => input.contains(&p),
            })],
        },
        Func::Upper => s(input.to_uppercase()),
        Func::Lower => s(input.to_lowercase()),
        Func::Replace => match (cx.arg_string(0)?, cx.arg_string(1)?) {
            (Some(pat), Some(rep)) => s(input.replace(&pat, &rep)),
            _ => Vec::new(),
        },
        Func::Matches | Func::MatchesFull => {
            let Some(re) = regex(cx, 0, func == Func::MatchesFull)? else {
                return Ok(Vec::new());
            };
            vec![Item::Boolean(re.is_match(input))]
        }
        Func::ReplaceMatches => {
            let Some(pat) = cx.arg_string(0)? else {
                return Ok(Vec::new());
            };
            let Some(rep) = cx.arg_string(1)? else {
                return Ok(Vec::new());
            };
            if pat.is_empty() {
                return Ok(s(input));
            }
            let Some(re) = regex(cx, 0, false)? else {
                return Ok(Vec::new());
            };
            s(re.replace_all(input, rep.as_str()).into_owned())
        }
        Func::Length => vec![Item::Integer(input.chars().count() as i64)],
        Func::ToChars => input.chars().map(|c| Item::String(c.to_string())).collect(),
        Func::Trim => s(input.trim()),
        Func::Split => match cx.arg_string(0)? {
            None => Vec::new(),
            Some(sep) if sep.is_empty() => input.chars().map(|c| Item::String(c.to_string())).collect(),
            Some(sep) => input.split(sep.as_str()).map(|p| Item::String(p.to_owned())).collect(),
        },
        Func::Encode | Func::Decode => {
            let Some(format) = cx.arg_string(0)? else {
                return Ok(Vec::new());
            };
            let out = if func == Func::Encode { encode(input.as_bytes(), &format)? } else { decode(input, &format)? };
            out.map(s).unwrap_or_default()
        }
        Func::Escape | Func::Unescape => {
            let Some(target) = cx.arg_string(0)? else {
                return Ok(Vec::new());
            };
            let out = match (func, target.as_str()) {
                (Func::Escape, "html") => escape_html(input),
                (Func::Escape, "json") => escape_json(input),
                (Func::Unescape, "html") => unescape_html(input),
                (Func::Unescape, "json") => unescape_json(input),
                (_, other) => return Err(EvalError::type_error(format!("unknown escape target '{other}'"))),
            };
            s(out)
        }
        other => return Err(EvalError::Unsupported(format!("{}() is not a string function", other.name()))),
    })
}

/// The regular expression of argument `i`: the one compiled at parse time for a literal, or
/// compiled now.
fn regex<'r>(cx: &'r Ctx<'_, '_, '_>, i: usize, full: bool) -> Result<Option<Cow<'r, regex::Regex>>, EvalError> {
    if let Some(re) = &cx.call.regex {
        return Ok(Some(Cow::Borrowed(re)));
    }
    match cx.arg_string(i)? {
        None => Ok(None),
        Some(p) => compile_regex(&p, full).map(|r| Some(Cow::Owned(r))).map_err(EvalError::Regex),
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn encode(bytes: &[u8], format: &str) -> Result<Option<String>, EvalError> {
    let table = match format {
        "hex" => return Ok(Some(bytes.iter().map(|b| format!("{b:02x}")).collect())),
        "base64" => B64,
        "urlbase64" => B64URL,
        other => return Err(EvalError::type_error(format!("unknown encoding '{other}'"))),
    };
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(table[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    Ok(Some(out))
}

fn decode(text: &str, format: &str) -> Result<Option<String>, EvalError> {
    let bytes = match format {
        "hex" => {
            if !text.len().is_multiple_of(2) {
                return Ok(None);
            }
            let mut out = Vec::with_capacity(text.len() / 2);
            for i in (0..text.len()).step_by(2) {
                match text.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => out.push(b),
                    None => return Ok(None),
                }
            }
            out
        }
        "base64" | "urlbase64" => {
            let table = if format == "base64" { B64 } else { B64URL };
            let mut out = Vec::with_capacity(text.len() * 3 / 4);
            let mut acc = 0u32;
            let mut bits = 0;
            for c in text.bytes() {
                if c == b'=' {
                    break;
                }
                let Some(v) = table.iter().position(|t| *t == c) else {
                    return Ok(None);
                };
                acc = (acc << 6) | v as u32;
                bits += 6;
                if bits >= 8 {
                    bits -= 8;
                    out.push((acc >> bits) as u8);
                    acc &= (1 << bits) - 1;
                }
            }
            out
        }
        other => return Err(EvalError::type_error(format!("unknown encoding '{other}'"))),
    };
    Ok(String::from_utf8(bytes).ok())
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn unescape_html(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&apos;", "'").replace("&amp;", "&")
}

fn escape_json(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn unescape_json(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => out.push_str(&hex),
                }
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        assert_eq!(encode(b"test", "base64").ok().flatten().as_deref(), Some("dGVzdA=="));
        assert_eq!(encode(b"subjects?_d", "urlbase64").ok().flatten().as_deref(), Some("c3ViamVjdHM_X2Q="));
        assert_eq!(decode("c3ViamVjdHM/X2Q=", "base64").ok().flatten().as_deref(), Some("subjects?_d"));
        assert_eq!(decode("74657374", "hex").ok().flatten().as_deref(), Some("test"));
    }
}
